"""Call set-up on the path: each call's INVITE transaction before its media.

With ``signalling.setup`` on, every call dials at its start: its phone (UE c
for call c) sends an INVITE through the proxy to the far end, which rings
and answers after ``signalling.far_end``'s delays (``models.sip_flows``),
over the scenario's transport (``sim.sip_attempt``):

- udp: each SIP message is one datagram, RFC 3261's timers retransmit;
- tcp: the phone writes its INVITE to a connection, kept from its
  registration or opened at the dial (``models.tcp_conn``: RFC 6298
  retransmission, head-of-line blocking);
- tls: the same with a TLS 1.2 or 1.3 handshake on the connection first
  (``models.tls_handshake``).

With ``signalling.fallback`` an INVITE that gets no response by the deadline
gives way to one over the next transport. With ``signalling.ice`` each call's
media first need an ICE pair (``sim.call_ice``): the phone gathers its
candidates before it sends the INVITE, and checks after the 200 OK reaches
it; its media start at the nomination, and a call whose checks fail carries
none (unless ``fallback.relay`` restarts ICE with a relay). Pre-established
media (``ice.pre_established``) leave ICE out of the set-up.

With ``calls.srtp_keying: dtls`` each answered call's SRTP is keyed by a DTLS
handshake on the media path (``models.dtls_handshake``), the far end (the
answerer) the DTLS client: its first ClientHello leaves with its 200 OK (or,
with ICE, at the nomination) and is dropped when it reaches the phone no later
than the 200 OK, as baresip's is. Its flights cross a path of their own
(random streams ``dtls/...``) with the UE's radio taken as connected (its SIP
exchange just used it) and without the UE's handovers or a relay's detour.
The caller's media start when its side is keyed, the far end's when its own
is; a handshake not done by the run's end leaves the call without media.

Every message, every TCP segment and every STUN message crosses the path one
at a time (``sim.message_path``): the segments' links, HARQ, loss, delay and
jitter, and at the radio the UE's RRC/DRX machine, which starts in
``radio.rrc.initial_state`` at the dial, and the UE's handovers (a message in
an interruption held or lost as a media packet would be). All calls' set-ups
run in one loop in time order (``sim.setup_loop``). A call is up when its media can start; a
call whose set-up fails (Timer B, a refusal, a connection that never opens,
ICE without a pair) carries no media.

Each call's set-up, from the dial to its media, is split into its parts: the
RRC's hold on the first message, ICE gathering, attempts that timed out, the
TCP and TLS handshakes, the SIP exchange, and ICE's checks; the post-dial
delay runs from the dial to the first 180 Ringing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from voipbed.handover_recovery import handover_configs
from voipbed.metric_names import EventKind
from voipbed.models.dns_lookup import DnsMessage, LookupOutcome
from voipbed.models.dtls_handshake import DtlsResult, dtls_handshake
from voipbed.models.handover import HandoverRun
from voipbed.models.message_channel import DOWNLINK, UPLINK
from voipbed.models.rrc_cursor import RrcCursors
from voipbed.models.sip_driver import MessageRecord
from voipbed.models.sip_flows import CallResult
from voipbed.radio_draws import call_radios
from voipbed.scenario import Scenario, SrtpKeying
from voipbed.schedule import handover_schedule
from voipbed.sim.call_ice import CallIce, IceCalls
from voipbed.sim.control_plane import Event
from voipbed.sim.message_path import MessagePath, RadioHold
from voipbed.sim.setup_loop import CallProcess, run_setups
from voipbed.sim.sip_attempt import handshakes
from voipbed.sim.stages import FloatArray

__all__ = ["CallSetup", "SetupRun", "radio_hold", "set_up_calls"]

_DIRECTIONS = {UPLINK: "uplink", DOWNLINK: "downlink"}
_KEPT_BEFORE_S = 60.0  # a kept connection opened this long before the dial


@dataclass(frozen=True)
class CallSetup:
    """One call's set-up: its SIP figures, its ICE, its parts, and every message."""

    call: int
    dial_s: float
    result: CallResult | None  # the last INVITE's (None: none was sent, DNS failed)
    radio_s: float  # the RRC's hold on the call's first message
    tcp_s: float | None  # the TCP handshake (None: not over TCP)
    tls_s: float | None  # the TLS handshake (None: not over TLS)
    records: tuple[MessageRecord, ...]
    transport: str | None  # the transport of the call's last attempt (None: no attempt)
    fallback_s: float | None = None  # in attempts that timed out (None: no fallback set)
    ice: CallIce | None = None  # None: no ICE
    gather_s: float | None = None  # ICE gathering before the INVITE (None: none in the set-up)
    dns: LookupOutcome | None = None  # None: no lookup
    dns_s: float | None = None  # locating the proxy, its radio hold apart (None: no lookup)
    dtls: DtlsResult | None = None  # the DTLS-SRTP handshake (None: SRTP keyed otherwise)

    @property
    def media_s(self) -> float | None:
        """When the caller's media start: the 200 OK reaching it, or with ICE in the set-up
        its nomination, then with DTLS-SRTP its side of the handshake done; None if the
        set-up failed."""
        if self.dtls is None:
            return self.answer_media_s
        return None if self.answer_media_s is None else self.dtls.server_secure_s

    @property
    def answer_media_s(self) -> float | None:
        """When the media could start without a DTLS handshake: the 200 OK reaching the
        caller, or with ICE in the set-up its nomination; None if the set-up failed."""
        result = self.result
        if result is None or not result.success:
            return None
        ice = self.ice
        if ice is None:
            return result.answered_s
        if not ice.succeeded:
            return None
        return result.answered_s if ice.nominated_s is None else ice.nominated_s

    @property
    def setup_s(self) -> float | None:
        """From the dial to the media's start (None: the set-up failed)."""
        media = self.media_s
        return None if media is None else media - self.dial_s

    @property
    def post_dial_delay_s(self) -> float | None:
        """From the dial to the first 180 Ringing reaching the caller (ITU-T E.721)."""
        ringing = None if self.result is None else self.result.ringing_s
        return None if ringing is None else ringing - self.dial_s

    @property
    def dtls_s(self) -> float | None:
        """The DTLS-SRTP handshake's wait, from ``answer_media_s`` to the caller's keys
        (None: no handshake, or one that did not end)."""
        media, answer = self.media_s, self.answer_media_s
        if self.dtls is None or media is None or answer is None:
            return None
        return media - answer

    @property
    def downlink_wait_s(self) -> float:
        """How much later than the caller's the far end's media start (its keys come last
        in a DTLS handshake); 0 without one."""
        dtls = self.dtls
        if dtls is None or dtls.client_secure_s is None or dtls.server_secure_s is None:
            return 0.0
        return max(dtls.client_secure_s - dtls.server_secure_s, 0.0)

    @property
    def checks_s(self) -> float | None:
        """ICE's checks, from the 200 OK to the nomination (None: none in the set-up)."""
        return None if self.ice is None else self.ice.checks_s

    @property
    def sip_s(self) -> float | None:
        """The set-up time left after the radio's hold, ICE, attempts that timed out and the
        handshakes."""
        total = self.setup_s
        if total is None:
            return None
        parts = (
            self.radio_s,
            self.gather_s,
            self.dns_s,
            self.fallback_s,
            self.tcp_s,
            self.tls_s,
            self.checks_s,
            self.dtls_s,
        )
        return total - sum(part or 0.0 for part in parts)

    @property
    def outcome(self) -> str:
        """The SIP outcome; ``dns_failed`` for a call whose proxy was not found,
        ``ice_failed`` for an answered call whose ICE failed, and ``dtls_failed`` for one
        whose DTLS handshake did not end."""
        result = self.result
        if result is None:
            return "dns_failed"
        if result.success and self.ice is not None and not self.ice.succeeded:
            return "ice_failed"
        if self.answer_media_s is not None and self.media_s is None:
            return "dtls_failed"
        return result.outcome.value

    def events(self) -> list[Event]:
        """The call's ``call_dial``, one ``sip_message`` per message sent, one
        ``ice_message`` per STUN message of its ICE, one ``dns_message`` per DNS query or
        answer, and its ``call_setup`` summary (its ``call_start`` is the media's)."""
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
        if self.dns is not None:
            events += [_dns_event(self.call, message) for message in self.dns.messages]
        result = self.result
        summary: dict[str, Any] = {
            "outcome": self.outcome,
            "final_status": None if result is None else result.final_status,
            "setup_s": self.setup_s,
            "post_dial_delay_s": self.post_dial_delay_s,
            "radio_s": self.radio_s,
            "tcp_s": self.tcp_s,
            "tls_s": self.tls_s,
            "sip_s": self.sip_s,
            "retransmissions": {} if result is None else dict(result.retransmissions),
            "transport": self.transport,
        }
        if self.dns is not None:
            summary["dns_s"] = self.dns_s
        if self.fallback_s is not None:
            summary["fallback_s"] = self.fallback_s
        if self.dtls is not None:
            summary["dtls_s"] = self.dtls_s
            events += self._dtls_events(self.dtls)
        if self.ice is not None:
            summary |= {
                "gather_s": self.gather_s,
                "ice_checks_s": self.checks_s,
                "ice_pair": self.ice.pair,
                "relayed": self.ice.relayed,
                "relay_fallback": self.ice.relay_fallback_s is not None,
            }
        media = self.media_s
        end_s = media if media is not None else self._last_s()
        events.append((end_s, EventKind.CALL_SETUP, self.call, summary))
        return events

    def _dtls_events(self, dtls: DtlsResult) -> list[Event]:
        """The ``media_secure`` event at the caller's keys (none if the handshake did not
        end): both sides' times, the wait after the answer and the flights resent."""
        if dtls.server_secure_s is None:
            return []
        fields: dict[str, Any] = {
            "keying": "dtls",
            "caller_secure_s": dtls.server_secure_s,
            "callee_secure_s": dtls.client_secure_s,
            "dtls_s": self.dtls_s,
            "retransmissions": dtls.retransmissions,
            "dropped_client_hellos": sum(f.dropped for f in dtls.flights),
        }
        return [(dtls.server_secure_s, EventKind.MEDIA_SECURE, self.call, fields)]

    def _last_s(self) -> float:
        times = [r.sent_s for r in self.records] + [
            r.arrival_s for r in self.records if r.arrival_s is not None
        ]
        if self.ice is not None:
            times.append(self.ice.result.end_s)
        if self.dns is not None and self.dns.failed_at_s is not None:
            times.append(self.dns.failed_at_s)
        if self.dtls is not None:
            times += [f.sent_s for f in self.dtls.flights]
        return max(times, default=self.dial_s)


def _dns_event(call: int, message: DnsMessage) -> Event:
    fields: dict[str, Any] = {
        "direction": _DIRECTIONS[message.direction],
        "label": f"{message.rtype.value} {message.name}",
        "retransmission": message.try_number > 0,
        "bytes": message.size_bytes,
        "arrival_s": message.arrival_s,
    }
    return (message.sent_at_s, EventKind.DNS_MESSAGE, call, fields)


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

    def downlink_wait_s(self) -> FloatArray:
        """Each call's far-end media's start after its caller's (``CallSetup.downlink_wait_s``)."""
        return np.array([setup.downlink_wait_s for setup in self.calls])

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
    draws = call_radios(scenario, dial_s.size)  # as sim.control_plane.RadioGate's
    if draws is None:
        return None
    cursors = RrcCursors(
        dial_s.size,
        draws.config,
        drx_offset_s=draws.drx_offset_s,
        paging_offset_s=draws.paging_offset_s,
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
    """Every call's set-up, dialled at ``dial_s`` (call c on UE c), in one time-ordered loop
    (``sim.setup_loop``); the caller waits for an answer as baresip does
    (``CallConfig.no_answer_timeout_s``)."""
    signalling = scenario.signalling
    held = _MeasuredHold(radio, dial_s.size)
    schedule = handover_schedule(scenario)
    handovers = HandoverRun(schedule, handover_configs(scenario)) if len(schedule) else None
    path = MessagePath(scenario, run_end_s, scenario.overhead(), held, handovers=handovers)
    ice = None if signalling.ice is None else IceCalls(scenario)
    processes = run_setups(scenario, path, [float(t) for t in dial_s], ice)
    setups: list[CallSetup] = []
    for process in processes:
        setups.append(_call_setup(process, held, ice, fallback=signalling.fallback is not None))
    if scenario.calls.srtp_keying is SrtpKeying.DTLS:
        setups = _keyed_by_dtls(scenario, setups, run_end_s)
    return SetupRun(tuple(setups))


def _keyed_by_dtls(
    scenario: Scenario, setups: list[CallSetup], run_end_s: float
) -> list[CallSetup]:
    """``setups`` with each answered call's DTLS-SRTP handshake, over a path of its own (the
    radio connected, no handovers); the far end's ClientHello leaves with its first 200 OK
    (with ICE: at the nomination), and the phone takes it only after the 200 OK reached it."""
    path = MessagePath(scenario, run_end_s, scenario.overhead(), None, streams="dtls")
    header_bytes = 8 + (20 if scenario.calls.ip_version == 4 else 40)  # UDP, IPv4 or IPv6
    keyed: list[CallSetup] = []
    for setup in setups:
        ready_s = setup.answer_media_s
        if ready_s is None:
            keyed.append(setup)
            continue
        start_s = ready_s if setup.ice is not None else _answer_sent_s(setup, ready_s)
        dtls = dtls_handshake(
            path.channel(setup.call, header_bytes),
            client_start_s=start_s,
            server_ready_s=ready_s,
            until_s=max(run_end_s, ready_s),
        )
        keyed.append(replace(setup, dtls=dtls))
    return keyed


def _answer_sent_s(setup: CallSetup, answered_s: float) -> float:
    """When the far end sent the call's first 200 OK to its INVITE."""
    sent = [
        record.sent_s
        for record in setup.records
        if record.direction == DOWNLINK
        and record.method == "INVITE"
        and record.label.startswith("2")
        and not record.retransmission
    ]
    return sent[-1] if sent else answered_s


def _call_setup(
    process: CallProcess, held: _MeasuredHold, ice: IceCalls | None, *, fallback: bool
) -> CallSetup:
    """A call's set-up figures from how its process went. The radio's hold falls on the
    call's first message: a STUN request when gathering sends one, else a DNS query when
    the phone looks the proxy up, else the INVITE; it is taken out of that part."""
    radio_s = held.first_s[process.call]
    radio_s = 0.0 if math.isnan(radio_s) else radio_s
    hold_left = radio_s
    call_ice, gather_s = process.ice, None
    if ice is not None and ice.pre_established:
        call_ice = ice.before_dial(process.dial_s)
    elif call_ice is not None:
        gathered_s = call_ice.gathered_s if call_ice.gathered_s is not None else process.dial_s
        gather_s, hold_left = _less_hold(gathered_s - process.dial_s, hold_left)
    dns_s = None
    dns = process.dns
    if dns is not None and dns.connected_at_s is not None:
        dns_s, hold_left = _less_hold(dns.connected_at_s - dns.started_at_s, hold_left)
    attempts = process.attempts
    result, tcp_s, tls_s, transport, fallback_s = None, None, None, None, None
    if attempts:
        first, last = attempts[0], attempts[-1]
        result = last.flow.result(process.records[len(attempts) - 1])
        tcp_s, tls_s = handshakes(last)
        transport = last.transport.value
        fallback_s = last.start_s - first.start_s if fallback else None
    return CallSetup(
        process.call,
        process.dial_s,
        result,
        radio_s,
        tcp_s,
        tls_s,
        tuple(record for mine in process.records for record in mine),
        transport,
        fallback_s,
        call_ice,
        gather_s,
        dns,
        dns_s,
    )


def _less_hold(part_s: float, hold_s: float) -> tuple[float, float]:
    """A part that sent messages holds the radio's hold on the first of them: the part
    without it, and what is left of the hold for a later part."""
    if part_s <= 0.0:
        return 0.0, hold_s
    return part_s - hold_s, 0.0
