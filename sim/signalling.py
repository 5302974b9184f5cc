"""Call set-up on the path: each call's INVITE transaction before its media.

With ``signalling.setup`` on, every call dials at its start: its phone (UE c
for call c) sends an INVITE through the proxy to the far end, which rings
and answers after ``signalling.far_end``'s delays (``models.sip_flows``),
over the scenario's transport:

- udp: each SIP message is one datagram, RFC 3261's timers retransmit;
- tcp: the phone opens a connection at the dial and writes its INVITE to it
  (``models.tcp_conn``: RFC 6298 retransmission, head-of-line blocking);
- tls: the same with a TLS 1.2 or 1.3 handshake on the connection first
  (``models.tls_handshake``).

Every message, and every TCP segment, crosses the path one at a time
(``sim.message_path``): the segments' links, HARQ, loss, delay and jitter,
and at the radio the UE's RRC/DRX machine, which starts in
``radio.rrc.initial_state`` at the dial. All calls run in one event loop in
time order (``models.sip_driver.run_flows``). A call is up when its caller
gets the 200 OK (its media start then); a call whose set-up fails (Timer B, a
refusal, a connection that never opens) carries no media.

With ``signalling.ice`` each call's media first need an ICE pair
(``sim.call_ice``): the phone gathers its candidates before it sends the
INVITE, and checks after the 200 OK reaches it; its media start at the
nomination, and a call whose checks fail carries none. Pre-established media
(``ice.pre_established``) leave ICE out of the set-up.

Each call's set-up, from the dial to its media, is split into its parts: the
RRC's hold on the first message, ICE gathering, the TCP and TLS handshakes,
the SIP exchange, and ICE's checks; the post-dial delay runs from the dial to
the first 180 Ringing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from voipbed.metric_names import EventKind
from voipbed.models.message_channel import DOWNLINK, UPLINK, ScriptedChannel
from voipbed.models.overhead import UDP_HEADER_BYTES
from voipbed.models.rrc_cursor import RrcCursors
from voipbed.models.sip_driver import FlowRun, MessageRecord, StreamTransport, run_flows
from voipbed.models.sip_flows import CallConfig, CallResult, OutgoingCall
from voipbed.models.sip_messages import SipProfile, sip_message_sizes
from voipbed.models.sip_messages import SipTransport as MessageTransport
from voipbed.models.tcp_conn import TcpConnection
from voipbed.models.tcp_endpoint import TcpConfig
from voipbed.models.tls_flights import TlsConfig, TlsVersion
from voipbed.models.tls_handshake import TlsConnection
from voipbed.rng import component_rng
from voipbed.scenario import Scenario, SipTransport
from voipbed.sim.call_ice import CallIce, IceCalls
from voipbed.sim.control_plane import Event
from voipbed.sim.message_path import MessagePath, RadioHold, UeChannel
from voipbed.sim.stages import FloatArray

__all__ = ["CallSetup", "SetupRun", "radio_hold", "set_up_calls"]

_DIRECTIONS = {UPLINK: "uplink", DOWNLINK: "downlink"}
_KEPT_BEFORE_S = 60.0  # a kept connection opened this long before the dial


@dataclass(frozen=True)
class CallSetup:
    """One call's set-up: its SIP figures, its ICE, its parts, and every message."""

    call: int
    dial_s: float
    result: CallResult
    radio_s: float  # the RRC's hold on the call's first message
    tcp_s: float | None  # the TCP handshake (None: not over TCP)
    tls_s: float | None  # the TLS handshake (None: not over TLS)
    records: tuple[MessageRecord, ...]
    ice: CallIce | None = None  # None: no ICE
    gather_s: float | None = None  # ICE gathering before the INVITE (None: none in the set-up)

    @property
    def media_s(self) -> float | None:
        """When the call's media start: the 200 OK reaching the caller, or with ICE in the
        set-up its nomination; None if the set-up failed."""
        if not self.result.success:
            return None
        ice = self.ice
        if ice is None:
            return self.result.answered_s
        if not ice.succeeded:
            return None
        return self.result.answered_s if ice.nominated_s is None else ice.nominated_s

    @property
    def setup_s(self) -> float | None:
        """From the dial to the media's start (None: the set-up failed)."""
        media = self.media_s
        return None if media is None else media - self.dial_s

    @property
    def post_dial_delay_s(self) -> float | None:
        """From the dial to the first 180 Ringing reaching the caller (ITU-T E.721)."""
        ringing = self.result.ringing_s
        return None if ringing is None else ringing - self.dial_s

    @property
    def checks_s(self) -> float | None:
        """ICE's checks, from the 200 OK to the nomination (None: none in the set-up)."""
        return None if self.ice is None else self.ice.checks_s

    @property
    def sip_s(self) -> float | None:
        """The set-up time left after the radio's hold, ICE and the handshakes."""
        total = self.setup_s
        if total is None:
            return None
        parts = (self.radio_s, self.gather_s, self.tcp_s, self.tls_s, self.checks_s)
        return total - sum(part or 0.0 for part in parts)

    @property
    def outcome(self) -> str:
        """The SIP outcome, or ``ice_failed`` for an answered call whose ICE failed."""
        if self.result.success and self.ice is not None and not self.ice.succeeded:
            return "ice_failed"
        return self.result.outcome.value

    def events(self) -> list[Event]:
        """The call's ``call_dial``, one ``sip_message`` per message sent, one
        ``ice_message`` per STUN message of its ICE, and its ``call_setup`` summary (its
        ``call_start`` is the media's)."""
        events: list[Event] = [(self.dial_s, EventKind.CALL_DIAL, self.call, {})]
        for record in self.records:
            fields: dict[str, Any] = {
                "direction": _DIRECTIONS[record.direction],
                "label": record.label,
                "method": record.method,
                "cseq": record.cseq,
                "branch": record.branch,
                "retransmission": record.retransmission,
                "bytes": record.size_bytes,
                "arrival_s": record.arrival_s,
            }
            events.append((record.sent_s, EventKind.SIP_MESSAGE, self.call, fields))
        if self.ice is not None:
            events += self.ice.events(self.call)
        result = self.result
        summary: dict[str, Any] = {
            "outcome": self.outcome,
            "final_status": result.final_status,
            "setup_s": self.setup_s,
            "post_dial_delay_s": self.post_dial_delay_s,
            "radio_s": self.radio_s,
            "tcp_s": self.tcp_s,
            "tls_s": self.tls_s,
            "sip_s": self.sip_s,
            "retransmissions": dict(result.retransmissions),
        }
        if self.ice is not None:
            summary |= {
                "gather_s": self.gather_s,
                "ice_checks_s": self.checks_s,
                "ice_pair": self.ice.pair,
                "relayed": self.ice.relayed,
            }
        media = self.media_s
        end_s = media if media is not None else self._last_s()
        events.append((end_s, EventKind.CALL_SETUP, self.call, summary))
        return events

    def _last_s(self) -> float:
        times = [r.sent_s for r in self.records] + [
            r.arrival_s for r in self.records if r.arrival_s is not None
        ]
        if self.ice is not None:
            times.append(self.ice.result.end_s)
        return max(times, default=self.dial_s)


@dataclass(frozen=True)
class SetupRun:
    """Every call's set-up, in call order."""

    calls: tuple[CallSetup, ...]

    def media_start_s(self, end_s: FloatArray) -> FloatArray:
        """Each call's media start (``CallSetup.media_s``), or its end (no media) if its
        set-up failed."""
        starts = end_s.copy()
        for setup in self.calls:
            if setup.media_s is not None:
                starts[setup.call] = min(setup.media_s, float(end_s[setup.call]))
        return starts

    def relay_delay_s(self) -> FloatArray:
        """Each call's media's extra one-way delay through a TURN relay (0: none)."""
        delays = np.zeros(len(self.calls))
        for setup in self.calls:
            if setup.ice is not None:
                delays[setup.call] = setup.ice.relay_delay_s
        return delays

    def events(self) -> list[Event]:
        """Every call's events (``CallSetup.events``)."""
        return [event for setup in self.calls for event in setup.events()]


class _DialledRadio:
    """The UEs' RRC/DRX machines (``models.rrc_cursor``), each on a clock that starts at its
    dial in ``radio.rrc.initial_state``; DRX and paging offsets drawn as the media's radio
    gate draws them, so a UE's signalling and media meet the same radio."""

    def __init__(self, cursors: RrcCursors, dial_s: FloatArray) -> None:
        self._cursors = cursors
        self._dial_s = dial_s

    def release(self, ue: int, time_s: float, downlink: bool) -> float:
        dial = float(self._dial_s[ue])
        return self._cursors.release(ue, max(time_s - dial, 0.0), downlink) + dial


def radio_hold(scenario: Scenario, dial_s: FloatArray) -> RadioHold | None:
    """The radio's hold on each UE's signalling, the UE dialling at ``dial_s``; None
    without an RRC."""
    rrc = scenario.radio.rrc
    if rrc is None:
        return None
    config = rrc.to_model()
    rng = component_rng(scenario.seed, "radio/rrc")  # as sim.control_plane.RadioGate
    count = dial_s.size
    cursors = RrcCursors(
        count,
        config,
        drx_offset_s=rng.uniform(0.0, config.long_drx_cycle_s, count),
        paging_offset_s=rng.uniform(0.0, config.paging_cycle_s, count),
    )
    return _DialledRadio(cursors, dial_s)


class _MeasuredHold:
    """A ``RadioHold`` that remembers how long each UE's first message was held."""

    def __init__(self, hold: RadioHold | None, ues: int) -> None:
        self._hold = hold
        self.first_s = [math.nan] * ues

    def release(self, ue: int, time_s: float, downlink: bool) -> float:
        released = time_s if self._hold is None else self._hold.release(ue, time_s, downlink)
        if math.isnan(self.first_s[ue]):
            self.first_s[ue] = released - time_s
        return released


def set_up_calls(
    scenario: Scenario, dial_s: FloatArray, radio: RadioHold | None, *, run_end_s: float
) -> SetupRun:
    """Every call's set-up, dialled at ``dial_s`` (call c on UE c); the caller waits for an
    answer as baresip does (``CallConfig.no_answer_timeout_s``)."""
    signalling = scenario.signalling
    overhead = scenario.overhead()
    transport = signalling.transport
    profile = SipProfile(
        transport=MessageTransport(transport.value),
        ip_version=int(overhead.ip_version),
        codec=scenario.calls.codec,
        ptime_ms=round(scenario.calls.ptime_s * 1000),
    )
    sizes = sip_message_sizes(profile)
    timers = signalling.timers.to_model()
    far_end = signalling.far_end
    config = CallConfig(ring_delay_s=far_end.ring_delay_s, answer_delay_s=far_end.answer_delay_s)
    held = _MeasuredHold(radio, dial_s.size)
    path = MessagePath(scenario, run_end_s, overhead, held)
    reliable = transport is not SipTransport.UDP
    ice = None if signalling.ice is None else IceCalls(scenario)
    runs: list[FlowRun] = []
    calls: list[OutgoingCall] = []
    streams: list[StreamTransport | None] = []
    invites: list[float] = []
    for call in range(dial_s.size):
        dial = float(dial_s[call])
        channel = path.channel(call, overhead.ip_version.header_bytes + UDP_HEADER_BYTES)
        invite_s, answered_after = dial, config
        if ice is not None and not ice.pre_established:
            invite_s, far_gathering_s = ice.gather(call, dial, channel)
            if far_gathering_s > config.answer_delay_s:  # the SDP answer needs its candidates
                answered_after = replace(config, answer_delay_s=far_gathering_s)
        flow = OutgoingCall(
            answered_after, sizes=sizes, timers=timers, reliable=reliable, prefix=f"c{call}"
        )
        stream = _stream(scenario, path, call, invite_s)
        runs.append(FlowRun(flow, channel, invite_s, stream=stream))
        calls.append(flow)
        streams.append(stream)
        invites.append(invite_s)
    records = run_flows(runs)
    setups = []
    for call, (flow, stream, mine) in enumerate(zip(calls, streams, records, strict=True)):
        dial, invite_s = float(dial_s[call]), invites[call]
        tcp_s, tls_s = _handshakes(stream, invite_s)
        result = flow.result(mine)
        radio_s = 0.0 if math.isnan(held.first_s[call]) else held.first_s[call]
        call_ice, gather_s = None, None
        if ice is not None and ice.pre_established:
            call_ice = ice.before_dial(dial)
        elif ice is not None:
            call_ice = ice.check(call, result.answered_s if result.success else None)
            # the radio's hold falls on the first STUN request when gathering sends one
            gather_s = 0.0 if invite_s == dial else invite_s - dial - radio_s
        setups.append(
            CallSetup(call, dial, result, radio_s, tcp_s, tls_s, tuple(mine), call_ice, gather_s)
        )
    return SetupRun(tuple(setups))


def _stream(
    scenario: Scenario, path: MessagePath, ue: int, dial_s: float
) -> StreamTransport | None:
    """The call's TCP (or TLS) connection over the path; None over UDP. A kept connection
    (``reuse_connection``) was opened before the dial: its handshakes ran over the path's
    base delays without loss, ending before the dial, so its RTO has a sample of the base
    round trip; the call's messages then take the path as it is."""
    signalling = scenario.signalling
    if signalling.transport is SipTransport.UDP:
        return None
    channel: UeChannel = path.channel(ue, 0)  # TCP counts its own headers
    config = TcpConfig(ip_version=scenario.overhead().ip_version)
    one_way = sum(segment.one_way_delay_s for segment in scenario.path)
    opened_s = dial_s
    if signalling.reuse_connection:  # long enough before for 8 round trips of handshakes
        opened_s -= _KEPT_BEFORE_S + 16 * one_way
    tcp = TcpConnection(channel, config, keep_timeline=False, start_s=opened_s)
    tls = None
    if signalling.transport is SipTransport.TLS:
        tls = TlsConnection(tcp, TlsConfig(version=TlsVersion(signalling.tls_version)))
    stream = StreamTransport(tcp, tls)
    if signalling.reuse_connection:
        tcp.channel = ScriptedChannel(one_way, one_way)
        stream.open(opened_s)
        while not _ready(tcp, tls):
            tcp.step()
        tcp.channel = channel
    return stream


def _ready(tcp: TcpConnection, tls: TlsConnection | None) -> bool:
    """Whether the connection (and its TLS session) is open at both ends."""
    if tls is not None:
        return tls.handshake_done_at_s is not None and tls.server_ready_at_s is not None
    return tcp.established_at_s is not None and tcp.server_established_at_s is not None


def _handshakes(stream: StreamTransport | None, dial_s: float) -> tuple[float | None, float | None]:
    """How long the call's TCP and TLS handshakes took (None: none, done before the dial,
    or never done)."""
    if stream is None or (stream.tcp.connect_started_at_s or 0.0) < dial_s:
        return None, None
    tcp = stream.tcp
    tcp_s = None
    if tcp.established_at_s is not None and tcp.connect_started_at_s is not None:
        tcp_s = tcp.established_at_s - tcp.connect_started_at_s
    tls_s = None if stream.tls is None else stream.tls.handshake_s
    return tcp_s, tls_s
