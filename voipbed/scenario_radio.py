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

from pydantic import Field, StrictInt, field_validator, model_validator

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

    promotion_delay_s: Duration = Field(
        _RRC.promotion_delay_s,
        alias="promotion_delay",
        description="IDLE to CONNECTED (random access, RRC set-up), a duration; Huang et al. 2012.",
    )
    drx_inactivity_s: Duration = Field(
        _RRC.drx_inactivity_s,
        alias="drx_inactivity",
        description="drx-InactivityTimer: awake after a packet, a duration; Huang et al. 2012.",
    )
    short_drx_cycle_s: Duration = Field(
        _RRC.short_drx_cycle_s,
        alias="short_drx_cycle",
        description="shortDRX-Cycle, a duration; Huang et al. 2012.",
    )
    short_drx_timer_s: Duration = Field(
        _RRC.short_drx_timer_s,
        alias="short_drx_timer",
        description="Time spent in short DRX, a duration; Huang et al. 2012; 0: no short DRX.",
    )
    long_drx_cycle_s: Duration = Field(
        _RRC.long_drx_cycle_s,
        alias="long_drx_cycle",
        description=(
            "longDRX-Cycle, a multiple of the short cycle (TS 36.331), a duration; "
            "Huang et al. 2012."
        ),
    )
    on_duration_s: Duration = Field(
        _RRC.on_duration_s,
        alias="on_duration",
        description="onDurationTimer: awake at each DRX cycle, a duration; Huang et al. 2012.",
    )
    rrc_inactivity_s: Duration = Field(
        _RRC.rrc_inactivity_s,
        alias="rrc_inactivity",
        description="Tail from the last activity to RRC release, a duration; Huang et al. 2012.",
    )
    paging_cycle_s: Duration = Field(
        _RRC.paging_cycle_s,
        alias="paging_cycle",
        description="IDLE paging cycle, a duration; Huang et al. 2012 (TS 36.331's rf128).",
    )
    paging_on_duration_s: Duration = Field(
        _RRC.paging_on_duration_s,
        alias="paging_on_duration",
        description="Awake per paging occasion (IDLE power only), a duration; Huang et al. 2012.",
    )
    uplink_sr_delay_s: Duration = Field(
        _RRC.uplink_sr_delay_s,
        alias="uplink_sr_delay",
        description="Extra delay of an uplink packet arriving in DRX, a duration; 0: none.",
    )
    idle_sleep_mw: float = Field(
        _RRC.idle_sleep_mw,
        ge=0,
        description="Power in IDLE between paging occasions, mW; Huang et al. 2012, Table 3.",
    )
    paging_on_mw: float = Field(
        _RRC.paging_on_mw,
        ge=0,
        description="Power at a paging occasion in IDLE, mW; Huang et al. 2012, Table 3.",
    )
    promotion_mw: float = Field(
        _RRC.promotion_mw,
        ge=0,
        description="Power during a promotion, mW; Huang et al. 2012, Table 3.",
    )
    connected_mw: float = Field(
        _RRC.connected_mw,
        ge=0,
        description="Power in continuous reception, little data, mW; Huang et al. 2012, Table 4.",
    )
    drx_sleep_mw: float = Field(
        _RRC.drx_sleep_mw,
        ge=0,
        description="Power between DRX on-durations, mW; Huang et al. 2012, Table 3.",
    )
    drx_on_mw: float = Field(
        _RRC.drx_on_mw,
        ge=0,
        description="Power during a DRX on-duration, mW; Huang et al. 2012, Table 3.",
    )
    initial_state: Literal["idle", "connected", "short_drx", "long_drx"] = Field(
        "connected",
        description="The UE's state as its call starts (its signalling has just used the radio).",
    )

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

    time_s: Duration = Field(
        alias="time", description="When the handover starts, a duration into the run."
    )
    kind: HandoverKindName = Field(description="x2, lte_to_wifi or wifi_to_lte.")
    call: StrictInt | None = Field(
        None, ge=0, description="The call (from 0) whose UE hands over; null: every call."
    )


class X2(Section):
    """LTE X2 intra-frequency handover (models.handover.X2Config: TS 36.133 5.1.2.1)."""

    interruption_s: Duration = Field(
        _X2.interruption_s,
        alias="interruption",
        description="User-plane interruption, a duration; TS 36.133 clause 5.1.2.1's bound.",
    )
    forwarding: bool = Field(
        _X2.forwarding,
        description=(
            "The source eNodeB forwards downlink packets to the target over X2 "
            "(TS 36.300 clause 10.1.2.3); false: they are lost."
        ),
    )
    forwarding_delay_s: Duration = Field(
        _X2.forwarding_delay_s,
        alias="forwarding_delay",
        description="One-way X2 latency, a duration; a fibre backhaul's (TR 36.932 Table 6.1-1).",
    )
    uplink_buffering: bool = Field(
        _X2.uplink_buffering,
        description=(
            "The UE keeps its uplink packets through the interruption and sends them in the "
            "target cell (TS 36.300 clause 10.1.2.2); false: they are lost."
        ),
    )


class Vertical(Section):
    """Interruption of a vertical handover: detection + link set-up + IP configuration."""

    detection_s: Duration = Field(
        alias="detection",
        description="Until the UE knows it must move, a duration (0 when it moves by choice).",
    )
    link_setup_s: Duration = Field(
        alias="link_setup",
        description="Association or connection on the target network, a duration.",
    )
    ip_config_s: Duration = Field(
        alias="ip_config", description="Until the new IP address can be used, a duration."
    )

    @model_validator(mode="after")
    def _model_accepts(self) -> Vertical:
        self.to_model()  # the model's own checks
        return self

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

    mode: Literal["reinvite", "ice_restart", "none"] = Field(
        "reinvite",
        description=(
            "reinvite (SIP re-INVITE with the new address), ice_restart, or none (the media "
            "stay broken for the rest of the call)."
        ),
    )
    reinvite_s: Duration = Field(
        _RECOVERY.reinvite_s,
        alias="reinvite",
        description="A re-INVITE transaction, a duration; RFC 3261's T1 (clause 17.1.1.1).",
    )
    ice_restart_s: Duration | None = Field(
        None,
        alias="ice_restart",
        description=(
            "An ICE restart, a duration; null: the ICE model's restart on the scenario's path, "
            "NATs and servers (voipbed.handover_recovery)."
        ),
    )


class Handovers(Section):
    """Handovers of each call's UE: a fixed schedule, Poisson mobility, or both."""

    schedule: tuple[ScheduledHandover, ...] = Field(
        (), description="Handovers at given times: each a time, a kind and, optionally, a call."
    )
    rate_per_min: float = Field(0.0, ge=0, description="Poisson handovers per UE per minute.")
    kinds: tuple[HandoverKindName, ...] = Field(
        (HandoverKindName.X2,), min_length=1, description="Kinds of the Poisson ones, in turn."
    )
    x2: X2 = Field(X2(), description="X2 handovers (models.handover.X2Config).")
    lte_to_wifi: Vertical = Field(
        _vertical(_TO_WIFI),
        description=(
            "Interruption of an LTE to Wi-Fi handover; defaults and their sources: "
            "models.handover.VerticalConfig.lte_to_wifi."
        ),
    )
    wifi_to_lte: Vertical = Field(
        _vertical(_TO_LTE),
        description=(
            "Interruption of a Wi-Fi to LTE handover; defaults and their sources: "
            "models.handover.VerticalConfig.wifi_to_lte."
        ),
    )
    recovery: Recovery = Field(
        Recovery(), description="How a call gets its media back after a vertical handover."
    )

    @model_validator(mode="after")
    def _model_accepts(self) -> Handovers:
        self.configs()  # the model's own checks
        return self

    def configs(self, ice_restart_s: float | None = None) -> ho.HandoverConfigs:
        """The model's configurations; ``ice_restart_s`` is the restart's duration where
        ``recovery.ice_restart`` is null (``voipbed.handover_recovery`` runs it on the
        scenario's path), the model's estimate where neither gives one."""
        restart_s = self.recovery.ice_restart_s
        if restart_s is None:
            restart_s = ice_restart_s if ice_restart_s is not None else _RECOVERY.ice_restart_s
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
                restart_s,
            ),
        )


class Radio(Section):
    """The UE's radio hop and its control plane."""

    segment: str | None = Field(None, description="Path segment of the radio; null: the first.")
    rrc: Rrc | None = Field(
        Rrc(),
        description="RRC and DRX of each call's UE (Huang et al., MobiSys 2012); null: off.",
    )
    keepalive_interval_s: Duration = Field(
        30.0,
        alias="keepalive_interval",
        description=(
            "Keep-alive period whose radio energy the summary prices (e.g. SIP/NAT "
            "keep-alives; RFC 5626 clause 4.4 discusses their timing)."
        ),
    )
    handovers: Handovers = Field(
        Handovers(), description="Handovers of each call's UE: a schedule, Poisson mobility."
    )

    @field_validator("keepalive_interval_s")
    @classmethod
    def _keepalives_apart(cls, interval_s: float) -> float:
        if interval_s <= 0:
            raise ValueError("keepalive_interval must be > 0")
        return interval_s
