"""The two ICE agents of a scenario's call, and how long an ICE restart takes on its path.

The phone (the controlling agent) reaches the far end over the scenario's
path, behind ``signalling.nat`` (none: a public address); the far end sits at
the path's end, behind ``signalling.ice.far_end_nat`` or on a public address.
The STUN and TURN servers sit ``signalling.ice.servers_delay`` beyond the path's
end (``Wan``: the NATs at the hub, the servers that far from it), so a relayed
pair's media go twice that further one way. Without ``signalling.ice`` the
defaults of ``IceSettings`` hold (both servers, 10 ms, a public far end).
"""

from __future__ import annotations

from dataclasses import replace

from voipbed.models.ice import IceConfig, IceResult, ice_restart, run_ice
from voipbed.models.ice_net import IceAgentSpec, Wan
from voipbed.models.message_channel import MessageChannel, ScriptedChannel
from voipbed.models.nat import Nat
from voipbed.scenario import Scenario
from voipbed.scenario_signalling import IceSettings, NatSettings

__all__ = ["IceAgents", "ice_restart_s"]

_PHONE_HOST = ("10.0.0.2", 4000)  # behind the phone's NAT (or its public address without one)
_MOVED_HOST = ("10.0.1.2", 4002)  # the phone's address after a vertical handover
_PHONE_NAT = "203.0.113.1"
_MOVED_NAT = "203.0.113.2"
_FAR_HOST = ("192.168.1.2", 6000)
_FAR_PUBLIC = "198.51.100.1"  # the far end's NAT, or its own address without one
_STUN = ("192.0.2.1", 3478)
_TURN = ("192.0.2.2", 3478)
_RESTART_AFTER_S = 60.0  # the restart runs this long after the call's first ICE


class IceAgents:
    """Builds a call's phone and far-end agents, and their network, from a scenario."""

    def __init__(self, scenario: Scenario) -> None:
        signalling = scenario.signalling
        self.settings = signalling.ice if signalling.ice is not None else IceSettings()
        self._phone_nat = signalling.nat
        delay = self.settings.servers_delay_s
        self.wan = Wan(hub_delay_s={_STUN[0]: delay, _TURN[0]: delay}, default_hub_s=0.0)

    def pair(
        self, channel: MessageChannel, *, moved: bool = False, relay: bool = True
    ) -> tuple[IceAgentSpec, IceAgentSpec]:
        """A new phone over ``channel`` (``moved``: at its address after a vertical handover,
        behind a NAT of the same behaviour) and a new far end, each behind a NAT of its own;
        ``relay`` False leaves the TURN server out."""
        settings = self.settings
        stun = _STUN if settings.stun else None
        turn = _TURN if settings.turn and relay else None
        host, external = (_MOVED_HOST, _MOVED_NAT) if moved else (_PHONE_HOST, _PHONE_NAT)
        phone = IceAgentSpec(
            "phone",
            host,
            channel,
            _nat(self._phone_nat, external),
            stun_server=stun,
            turn_server=turn,
        )
        far_nat = settings.far_end_nat
        far_host = _FAR_HOST if far_nat is not None else (_FAR_PUBLIC, _FAR_HOST[1])
        far = IceAgentSpec(
            "far_end",
            far_host,
            ScriptedChannel(0.0, 0.0),
            _nat(far_nat, _FAR_PUBLIC),
            stun_server=stun,
            turn_server=turn,
        )
        return phone, far

    def relay_delay_s(self, result: IceResult) -> float:
        """The extra one-way delay of the media on ``result``'s pair (0 unless relayed)."""
        selected = result.selected
        if selected is None or not selected.relayed:
            return 0.0
        return 2.0 * self.settings.servers_delay_s


def ice_restart_s(scenario: Scenario) -> float:
    """How long an ICE restart (RFC 8445 section 9) takes after a vertical handover on
    ``scenario``'s path: from the phone's new gathering to the nomination, its new
    offer/answer a re-INVITE (``radio.handovers.recovery.reinvite``, as the re-INVITE
    recovery takes), over the path's base one-way delays without loss;
    the far end keeps its NAT's bindings from the call's first ICE. Infinite if the
    restart fails (no pair connects)."""
    agents = IceAgents(scenario)
    one_way = sum(segment.one_way_delay_s for segment in scenario.path)
    phone, far = agents.pair(ScriptedChannel(one_way, one_way))
    run_ice(phone, far, wan=agents.wan)
    moved, _ = agents.pair(ScriptedChannel(one_way, one_way), moved=True)
    reinvite = IceConfig(signalling_s=scenario.radio.handovers.recovery.reinvite_s)
    restart = ice_restart(moved, far, wan=agents.wan, config=reinvite, start_s=_RESTART_AFTER_S)
    return restart.duration_s


def _nat(settings: NatSettings | None, address: str) -> Nat | None:
    if settings is None:
        return None
    return Nat(replace(settings.to_model(), external_addresses=(address,)))
