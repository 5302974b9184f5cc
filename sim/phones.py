"""Idle phones on the path: registration, keep-alives through a NAT, incoming calls, energy.

``signalling.phones`` puts ``count`` phones on the scenario's path for the
whole run, apart from the calls' UEs. Each phone, over ``signalling.transport``
(over TCP or TLS, everything on one connection opened with its first REGISTER:
its RFC 5626 flow):

- registers at a random instant of the run's first 30 s (REGISTER,
  401 digest challenge, REGISTER with credentials, 200 OK) and refreshes at
  90 % of the granted expiry (``models.sip_registration``);
- sends an RFC 5626 keep-alive every ``keepalive`` (a STUN Binding over UDP, a
  CRLF ping over TCP and TLS; the first one an interval after its
  registration), counting a missing answer as a failure
  (``models.sip_keepalive``);
- is called at Poisson instants (``incoming_calls_per_hour``), from 40 s on
  (every phone has registered by then): the core
  sends an INVITE down to it (``models.sip_flows.IncomingCall``).

Those instants are ``models.phone_schedule``'s, which the emulation shares.

With ``signalling.nat`` a NAT (``models.nat``, RFC 4787) sits between the
path and the core (its UDP or TCP bindings and timeouts): each message (or TCP
segment) the phone sends refreshes its binding when it reaches the NAT, and a
message the core sends passes only through a live binding of that phone that
admits it; one that meets an expired binding, or
one whose external port another phone's binding has since taken, is lost
there, so an incoming call to a phone whose binding expired fails (its
INVITE times out).
Every message crosses the path as the calls' set-up messages do
(``sim.message_path``), from its own random streams, and wakes the phone's
radio (``models.rrc_cursor``, each phone starting IDLE), whose energy over the
run gives the energy per hour that the keep-alive interval costs.

All phones run in one event loop in time order (``models.sip_driver``). Each
incoming call that ended is an ``incoming_call`` event at its first INVITE, and a
phone's figures are one ``phone`` event at the run's end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from voipbed.metric_names import EventKind
from voipbed.models.message_channel import DOWNLINK, UPLINK, MessageChannel
from voipbed.models.nat import Nat, Transport
from voipbed.models.overhead import UDP_HEADER_BYTES
from voipbed.models.phone_schedule import phone_schedule
from voipbed.models.rrc_cursor import RrcCursors
from voipbed.models.sip_driver import FlowRun, run_flows
from voipbed.models.sip_flows import CallConfig, CallOutcome, IncomingCall
from voipbed.models.sip_keepalive import KeepAlive, KeepAliveCounts
from voipbed.models.sip_messages import SipProfile, sip_message_sizes
from voipbed.models.sip_messages import SipTransport as MessageTransport
from voipbed.models.sip_registration import Registration, RegistrationConfig
from voipbed.radio_draws import phone_radios
from voipbed.rng import component_rng
from voipbed.scenario import Scenario, SipTransport
from voipbed.sim.control_plane import Event
from voipbed.sim.message_path import MessagePath
from voipbed.sim.sip_attempt import connection

__all__ = ["IncomingCallFigures", "PhoneFigures", "phone_machines", "run_phones"]

_CORE = ("core", 5060)  # the SIP core's endpoint, as the NAT sees it
_SIP_PORT = 5060
_RING_S = 0.0  # an incoming call rings and is answered at once: only its reach matters


@dataclass(frozen=True)
class IncomingCallFigures:
    """How one call to an idle phone ended: ``call`` counts the phone's calls from 0."""

    call: int
    invite_sent_s: float
    outcome: CallOutcome
    answered_s: float | None

    def event(self, phone: int) -> Event:
        """The call's ``incoming_call`` event, at the core's first INVITE."""
        fields: dict[str, Any] = {"call": self.call, "outcome": self.outcome.value}
        if self.answered_s is not None:
            fields["setup_s"] = self.answered_s - self.invite_sent_s
        return (self.invite_sent_s, EventKind.INCOMING_CALL, phone, fields)


@dataclass(frozen=True)
class PhoneFigures:
    """What one phone did over the run."""

    phone: int
    registrations: int
    registrations_failed: int
    keepalives: int
    keepalives_failed: int
    calls: tuple[IncomingCallFigures, ...]  # those whose set-up ended before the run did
    nat_drops: int  # messages from the core lost at the NAT
    energy_j: float  # the radio's over the run (NaN without an RRC)
    promotions: int

    def events(self, end_s: float) -> list[Event]:
        """The phone's calls' ``incoming_call`` events, and its ``phone`` event at ``end_s``."""
        answered = sum(call.outcome is CallOutcome.ANSWERED for call in self.calls)
        fields: dict[str, Any] = {
            "registrations": self.registrations,
            "registrations_failed": self.registrations_failed,
            "keepalives": self.keepalives,
            "keepalives_failed": self.keepalives_failed,
            "incoming_calls": len(self.calls),
            "incoming_answered": answered,
            "nat_drops": self.nat_drops,
            "energy_j": self.energy_j,
            "promotions": self.promotions,
        }
        calls = [call.event(self.phone) for call in self.calls]
        return [*calls, (end_s, EventKind.PHONE, self.phone, fields)]


class _NatChannel:
    """A phone's messages (datagrams, or TCP segments) through the path and then the NAT at
    the core's edge."""

    __slots__ = ("_carry", "_external", "_internal", "_nat", "_transport", "drops")

    def __init__(self, channel: MessageChannel, nat: Nat, phone: int, transport: Transport) -> None:
        self._carry = channel.carry
        self._nat = nat
        self._transport = transport
        self._internal = (phone, _SIP_PORT)
        self._external: tuple[Any, int] | None = None
        self.drops = 0

    def carry(self, sent_at: float, size_bytes: int, direction: int) -> float | None:
        if direction == UPLINK:
            arrival = self._carry(sent_at, size_bytes, UPLINK)
            if arrival is not None:  # it reaches the NAT as it reaches the core
                self._external = self._nat.outbound(arrival, self._transport, self._internal, _CORE)
            return arrival
        external = self._external
        reached = None
        if external is not None:
            reached = self._nat.inbound(sent_at, self._transport, _CORE, external)
        if reached != self._internal:  # no live binding, or another phone's now holds it
            self.drops += 1
            return None
        return self._carry(sent_at, size_bytes, DOWNLINK)


def run_phones(scenario: Scenario) -> list[PhoneFigures]:
    """Every phone's figures over the run (``scenario.signalling.phones`` must be set)."""
    signalling = scenario.signalling
    phones = signalling.phones
    if phones is None:
        raise ValueError("the scenario has no signalling.phones")
    transport = signalling.transport
    reliable = transport is not SipTransport.UDP
    duration_s = scenario.duration_s
    overhead = scenario.overhead()
    profile = SipProfile(
        transport=MessageTransport(transport.value), ip_version=int(overhead.ip_version)
    )
    sizes = sip_message_sizes(profile)
    timers = signalling.timers.to_model()
    schedule = phone_schedule(
        component_rng(scenario.seed, "phones/schedule"),
        phones.count,
        duration_s,
        phones.incoming_calls_per_hour,
    )
    keepalive_s = phones.keepalive_s
    radio = phone_machines(scenario)
    path = MessagePath(scenario, duration_s, overhead, radio, streams="phones")
    nat = None if signalling.nat is None else Nat(signalling.nat.to_model())
    # TCP counts its own headers; a datagram carries UDP's and IP's
    header_bytes = 0 if reliable else overhead.ip_version.header_bytes + UDP_HEADER_BYTES
    nat_transport = Transport.TCP if reliable else Transport.UDP
    registration = RegistrationConfig(expires_s=phones.registration_expires_s)
    incoming = CallConfig(ring_delay_s=_RING_S, answer_delay_s=_RING_S)
    runs: list[FlowRun] = []
    channels: list[MessageChannel] = []
    registrations: list[Registration] = []
    keepalives: list[KeepAlive | None] = []
    calls: list[list[IncomingCall]] = []
    for phone in range(phones.count):
        channel: MessageChannel = path.channel(phone, header_bytes)
        if nat is not None:
            channel = _NatChannel(channel, nat, phone, nat_transport)
        channels.append(channel)
        start_s = schedule.register_s[phone]
        # a TCP (TLS) connection opened with the first REGISTER: its RFC 5626 flow
        stream = connection(scenario, channel, start_s, transport) if reliable else None
        flow = Registration(
            registration, sizes=sizes, timers=timers, reliable=reliable, prefix=f"p{phone}r"
        )
        registrations.append(flow)
        runs.append(FlowRun(flow, channel, start_s, stream=stream))
        keepalive = None
        if keepalive_s is not None:
            config = phones.keepalive_config()
            keepalive = KeepAlive(config, sizes=sizes, reliable=reliable, prefix=f"p{phone}k")
            runs.append(FlowRun(keepalive, channel, start_s, stream=stream))
        keepalives.append(keepalive)
        mine = []
        for k, at in enumerate(schedule.incoming_s[phone]):
            call = IncomingCall(
                incoming, sizes=sizes, timers=timers, reliable=reliable, prefix=f"p{phone}c{k}"
            )
            mine.append(call)
            runs.append(FlowRun(call, channel, at, stream=stream))
        calls.append(mine)
    run_flows(runs, until_s=duration_s, keep_records=False)
    energy_j = np.full(phones.count, np.nan)
    promotions = np.zeros(phones.count, dtype=np.int64)
    if radio is not None:
        usage = radio.usage(duration_s)
        energy_j, promotions = usage.energy_j, usage.promotions
    figures = []
    for phone in range(phones.count):
        registered = registrations[phone].result()
        keepalive = keepalives[phone]
        pings = keepalive.counts() if keepalive is not None else KeepAliveCounts(0, 0)
        results = [call.result() for call in calls[phone]]
        ended = tuple(
            IncomingCallFigures(k, r.invite_sent_s, r.outcome, r.answered_s)
            for k, r in enumerate(results)
            if r.outcome is not CallOutcome.PENDING
        )
        figures.append(
            PhoneFigures(
                phone=phone,
                registrations=registered.successes,
                registrations_failed=registered.failures,
                keepalives=pings.pings,
                keepalives_failed=pings.failures,
                calls=ended,
                nat_drops=_nat_drops(channels[phone]),
                energy_j=float(energy_j[phone]),
                promotions=int(promotions[phone]),
            )
        )
    return figures


def _nat_drops(channel: MessageChannel) -> int:
    """Messages from the core the NAT dropped on their way to the phone over ``channel``."""
    return channel.drops if isinstance(channel, _NatChannel) else 0


def phone_machines(scenario: Scenario) -> RrcCursors | None:
    """The phones' RRC/DRX machines (``radio_draws.phone_radios``), keeping no state
    changes; None without an RRC or without phones."""
    draws = phone_radios(scenario)
    if draws is None:
        return None
    return RrcCursors(
        draws.drx_offset_s.size,
        draws.config,
        drx_offset_s=draws.drx_offset_s,
        paging_offset_s=draws.paging_offset_s,
        keep_changes=False,
    )
