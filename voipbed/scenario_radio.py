"""The UE's radio control plane in a scenario: RRC/DRX states and handovers.

Both act on one path segment, the UE's radio hop (``radio.segment``, by
default the first segment): uplink packets as they leave the handset,
downlink packets as they reach the base station. Every call is its own UE.
Defaults and their sources are those of ``voipbed.models.rrc`` and
``voipbed.models.handover``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, StrictInt, model_validator

from voipbed.models import handover as ho
from voipbed.models import rrc
from voipbed.schema_types import Duration, Section

__all__ = ["Handovers", "Radio", "Rrc", "ScheduledHandover"]

_RRC = rrc.RrcConfig()
_X2 = ho.X2Config()
_TO_WIFI = ho.VerticalConfig.lte_to_wifi()
_TO_LTE = ho.VerticalConfig.wifi_to_lte()
_RECOVERY = ho.RecoveryConfig()


class Rrc(Section):
    """LTE RRC and DRX of each call's UE (timers: Huang et al., MobiSys 2012, Table 3).

    A call starts its UE in ``initial_state`` at the call's start: ``connected``,
    because the call's signalling has just used the radio.
    """

    promotion_delay_s: Duration = Field(_RRC.promotion_delay_s, alias="promotion_delay")
    drx_inactivity_s: Duration = Field(_RRC.drx_inactivity_s, alias="drx_inactivity")
    short_drx_cycle_s: Duration = Field(_RRC.short_drx_cycle_s, alias="short_drx_cycle")
    short_drx_timer_s: Duration = Field(_RRC.short_drx_timer_s, alias="short_drx_timer")
    long_drx_cycle_s: Duration = Field(_RRC.long_drx_cycle_s, alias="long_drx_cycle")
    on_duration_s: Duration = Field(_RRC.on_duration_s, alias="on_duration")
    rrc_inactivity_s: Duration = Field(_RRC.rrc_inactivity_s, alias="rrc_inactivity")
    paging_cycle_s: Duration = Field(_RRC.paging_cycle_s, alias="paging_cycle")
    paging_on_duration_s: Duration = Field(_RRC.paging_on_duration_s, alias="paging_on_duration")
    uplink_sr_delay_s: Duration = Field(_RRC.uplink_sr_delay_s, alias="uplink_sr_delay")
    idle_sleep_mw: float = Field(_RRC.idle_sleep_mw, ge=0)
    paging_on_mw: float = Field(_RRC.paging_on_mw, ge=0)
    promotion_mw: float = Field(_RRC.promotion_mw, ge=0)
    connected_mw: float = Field(_RRC.connected_mw, ge=0)
    drx_sleep_mw: float = Field(_RRC.drx_sleep_mw, ge=0)
    drx_on_mw: float = Field(_RRC.drx_on_mw, ge=0)
    initial_state: Literal["idle", "connected", "short_drx", "long_drx"] = "connected"

    @model_validator(mode="after")
    def _valid_machine(self) -> Rrc:
        self.to_model()  # the model's own checks, e.g. the tail outlasting the DRX timers
        return self

    def to_model(self) -> rrc.RrcConfig:
        values = self.model_dump(exclude={"initial_state"})
        state = rrc.RrcState[self.initial_state.upper()]
        return rrc.RrcConfig(**values, initial_state=state)


class HandoverKindName(StrEnum):
    X2 = "x2"
    LTE_TO_WIFI = "lte_to_wifi"
    WIFI_TO_LTE = "wifi_to_lte"


class ScheduledHandover(Section):
    """One handover at a time in the run; of every call's UE, or of one call's."""

    time_s: Duration = Field(alias="time")
    kind: HandoverKindName
    call: StrictInt | None = Field(None, ge=0, description="null: every call.")


class X2(Section):
    """LTE X2 intra-frequency handover (models.handover.X2Config: TS 36.133 5.1.2.1)."""

    interruption_s: Duration = Field(_X2.interruption_s, alias="interruption")
    forwarding: bool = _X2.forwarding
    forwarding_delay_s: Duration = Field(_X2.forwarding_delay_s, alias="forwarding_delay")
    uplink_buffering: bool = _X2.uplink_buffering


class Vertical(Section):
    """Interruption of a vertical handover: detection + link set-up + IP configuration."""

    detection_s: Duration = Field(alias="detection")
    link_setup_s: Duration = Field(alias="link_setup")
    ip_config_s: Duration = Field(alias="ip_config")

    def to_model(self) -> ho.VerticalConfig:
        return ho.VerticalConfig(self.detection_s, self.link_setup_s, self.ip_config_s)


def _vertical(config: ho.VerticalConfig) -> Vertical:
    return Vertical.model_validate(
        {
            "detection": f"{config.detection_s!r}s",
            "link_setup": f"{config.link_setup_s!r}s",
            "ip_config": f"{config.ip_config_s!r}s",
        }
    )


class Recovery(Section):
    """How the call gets its media back after a vertical handover changes the address."""

    mode: Literal["reinvite", "ice_restart", "none"] = "reinvite"
    reinvite_s: Duration = Field(_RECOVERY.reinvite_s, alias="reinvite")
    ice_restart_s: Duration = Field(_RECOVERY.ice_restart_s, alias="ice_restart")


class Handovers(Section):
    """Handovers of each call's UE: a fixed schedule, Poisson mobility, or both."""

    schedule: tuple[ScheduledHandover, ...] = ()
    rate_per_min: float = Field(0.0, ge=0, description="Poisson handovers per UE per minute.")
    kinds: tuple[HandoverKindName, ...] = Field(
        (HandoverKindName.X2,), min_length=1, description="Kinds of the Poisson ones, in turn."
    )
    x2: X2 = X2()
    lte_to_wifi: Vertical = _vertical(_TO_WIFI)
    wifi_to_lte: Vertical = _vertical(_TO_LTE)
    recovery: Recovery = Recovery()

    def configs(self) -> ho.HandoverConfigs:
        return ho.HandoverConfigs(
            x2=ho.X2Config(
                self.x2.interruption_s,
                self.x2.forwarding,
                self.x2.forwarding_delay_s,
                self.x2.uplink_buffering,
            ),
            lte_to_wifi=self.lte_to_wifi.to_model(),
            wifi_to_lte=self.wifi_to_lte.to_model(),
            recovery=ho.RecoveryConfig(
                ho.Recovery(self.recovery.mode),
                self.recovery.reinvite_s,
                self.recovery.ice_restart_s,
            ),
        )


class Radio(Section):
    """The UE's radio hop and its control plane."""

    segment: str | None = Field(None, description="Path segment of the radio; null: the first.")
    rrc: Rrc | None = Rrc()
    keepalive_interval_s: Duration = Field(
        30.0,
        alias="keepalive_interval",
        description=(
            "Keep-alive period whose radio energy the summary prices (e.g. SIP/NAT "
            "keep-alives; RFC 5626 clause 4.4 discusses their timing)."
        ),
    )
    handovers: Handovers = Handovers()
