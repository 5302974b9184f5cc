"""The light calls' agent: many SIP calls and their RTP streams in one process.

``python -m voipbed.emulation.light_agent PLAN.json`` plays a ``light_plan.LightAgentPlan``
until every call of it is over or ``t0 + stop_s``, then exits 0; SIGTERM or SIGINT end
it early, also with 0. SIP is real text on UDP through the registrar (Kamailio), one SIP
socket for every call of the agent; RTP is one socket per call, on the call's address
and port. The plan's addresses are IPv4 or IPv6 (``calls.ip_version``): each socket is of
its address's family, URIs, Contacts and Via sent-bys write an IPv6 address in brackets
(RFC 3261 25.1, RFC 5118 4), the SDP ``c=IN IP6`` (RFC 4566 5.7), and the peer's SDP
is read for either.

Why a light agent of the project's own rather than SIPp's ``rtp_stream``, measured on this
2-core machine. SIPp (100 calls a side on loopback, 10 s, one process a side) sent its
streams for 0.6 s of CPU a side, 6 % of a core per 100 streams, without reading what
came back; but its packets' gaps reached 43 ms at p99 and 207 ms at worst, it binds every
call's media to one address (``-mi``), so the capture, which tells calls apart by their
UE's address, could not tell its calls apart, and it places calls at a constant rate
where the scenario's schedule has its own instants. This agent (``bench/light_agent.py``)
takes 4.5 to 7 % of a core per 100 calls (two runs), each call sending one stream and
reading the other, plus 0.5 to 1 s of CPU to start; it dials each call at its instant in
the schedule (as the baresip calls and the simulator do), gives each call its own
address, and sends each packet within 1.1 ms of its instant at p99 (200 calls a side,
``pacing`` below).

Role ``callers`` (the light calls' UE host), per call: at ``start_s`` an INVITE with an
SDP offer of the plan's payload type (its ``a=rtpmap`` and ``a=fmtp``) for the call's
address and port (Timer A retransmissions from T1 doubling, Timer B at 64*T1, RFC 3261
17.1.1.2); a 2xx is acknowledged (each 2xx again, as the
answerer retransmits it until its ACK arrives) and the stream starts to the answer's
address and port; at ``end_s`` the stream stops and a BYE follows the Record-Route
(Timer E from T1 doubling to T2, Timer F at 64*T1, 17.1.2.2).

Role ``answerers`` (the far-end host): first registers every callee's user with the
registrar, and says it is ready once all are bound; an INVITE is answered with 180 and a
200 whose SDP names the call's far-side port, retransmitted from T1 doubling to T2 until
its ACK (13.3.1.4); the ACK starts the stream to the offer's address and port, a BYE
stops it and is answered 200.

Each stream sends a packet every ``ptime`` from its start (``rtp_stream.Pacer``), the
payloads of the plan's payload file in a loop (G.711: companded speech; other codecs:
synthesized frames, ``light_codecs``), its timestamps on the codec's RTP clock; each
side counts the RTP it receives per call. The agent writes JSON lines (``log_path``), one
per thing it did, ``t`` in seconds from ``t0``: ``registered`` (``users``), ``invite``
(``call``), ``ringing``, ``answered`` (``setup_s``), ``failed`` (``reason``, ``status``),
``acked``, ``bye``, ``ended`` (``status``, None when the BYE went unanswered); at the end
``media`` per call (``sent``, ``received``, ``received_bytes``), ``pacing`` (how late
packets left after their planned instant) and ``cpu`` (the process's user and system
seconds).
"""

from __future__ import annotations

import itertools
import os
import socket
import sys
from array import array
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any

from voipbed.emulation.agent_loop import (
    MAX_DATAGRAM,
    AgentLoop,
    Stopped,
    Timer,
    raise_stopped_on_signals,
    udp_socket,
)
from voipbed.emulation.light_plan import LightAgentPlan, LightCall, audio_sdp
from voipbed.emulation.rtp_stream import Pacer, RtpSender
from voipbed.emulation.sip_text import (
    BRANCH_MAGIC,
    SipText,
    host_port,
    parse_sip,
    request_text,
    response_text,
    uri_of,
)
from voipbed.sdp import parse_sdp

__all__ = ["READY_LINE", "main", "run_agent", "with_sdp_body"]

READY_LINE = "voipbed light agent ready"  # on stdout once bound (answerers: registered)
REGISTER_TIMEOUT_S = 10.0
LATE_MS = 5.0  # a packet this late past its instant is counted in ``pacing``


class _RegistrationFailed(Exception):
    """Not every user was registered in time."""


@dataclass
class _Stream:
    """One call's RTP socket and, once its media started, its sender; what it received."""

    sock: socket.socket
    sender: RtpSender | None = None
    received: int = 0
    received_bytes: int = 0
    send_errors: int = 0


class _MediaLoop(AgentLoop):
    """The agent loop with the calls' RTP streams: each round of due timers is followed by
    the packets due, and the loop wakes for the next packet's instant."""

    def __init__(self, plan: LightAgentPlan, log: IO[str]) -> None:
        super().__init__(plan.t0, log)
        self.pacer = Pacer(plan.ptime_s)
        self.streams: dict[int, _Stream] = {}
        self._buffer = bytearray(MAX_DATAGRAM)
        self.lateness_s = array("d")

    def add_stream(self, call: int, sock: socket.socket) -> None:
        """Count what ``sock`` receives for ``call``; it sends once ``start_media``."""
        self.streams[call] = _Stream(sock)
        self.on_readable(sock, partial(self._drain, call))

    def start_media(self, call: int, sender: RtpSender, to: tuple[str, int]) -> None:
        stream = self.streams[call]
        if stream.sender is not None:
            return
        stream.sock.connect(to)
        stream.sender = sender
        self.pacer.add(call, self.now())

    def stop_media(self, call: int) -> None:
        self.pacer.remove(call)

    def after_timers(self) -> None:
        """Send every packet due by now."""
        self._send_due(self.now())

    def next_due_s(self) -> float | None:
        """The next packet's instant, if any stream is sending."""
        return self.pacer.next_s()

    def _send_due(self, now: float) -> None:
        for call, planned in self.pacer.due(now):
            stream = self.streams[call]
            sender = stream.sender
            if sender is None:
                continue
            try:
                stream.sock.send(sender.next_packet())
            except OSError:  # a full buffer, or an ICMP error: as a packet lost by the host
                stream.send_errors += 1
            self.lateness_s.append(self.now() - planned)

    def _drain(self, call: int) -> None:
        stream = self.streams[call]
        while True:
            try:
                size = stream.sock.recv_into(self._buffer)
            except BlockingIOError:
                return
            except OSError:  # an ICMP error queued on the connected socket
                continue
            stream.received += 1
            stream.received_bytes += size

    def record_media(self) -> None:
        """The ``media`` line of every call, then ``pacing`` and ``cpu``."""
        for call, stream in sorted(self.streams.items()):
            sent = 0 if stream.sender is None else stream.sender.sent
            self.record(
                "media",
                call=call,
                sent=sent,
                received=stream.received,
                received_bytes=stream.received_bytes,
                send_errors=stream.send_errors,
            )
        late_ms = sorted(late * 1e3 for late in self.lateness_s)
        pacing: dict[str, Any] = {"packets": len(late_ms)}
        if late_ms:
            pacing.update(
                late_p50_ms=round(late_ms[len(late_ms) // 2], 3),
                late_p99_ms=round(late_ms[len(late_ms) * 99 // 100], 3),
                late_max_ms=round(late_ms[-1], 3),
                late_over_5ms=sum(1 for late in late_ms if late > LATE_MS),
            )
        self.record("pacing", **pacing)
        times = os.times()
        self.record("cpu", user_s=times.user, system_s=times.system)


def with_sdp_body(message: str, sdp: str) -> str:
    """A SIP message of ``sip_text`` without a body (``Content-Length: 0``), carrying
    ``sdp`` instead."""
    empty = "Content-Length: 0\r\n\r\n"
    if not message.endswith(empty):
        raise ValueError("the message already has a body")
    length = len(sdp.encode())
    head = message[: -len(empty)]
    return f"{head}Content-Type: application/sdp\r\nContent-Length: {length}\r\n\r\n{sdp}"


class _Sip:
    """The agent's SIP socket: sends to the registrar, makes tokens and headers."""

    def __init__(self, loop: _MediaLoop, plan: LightAgentPlan) -> None:
        self.loop = loop
        self.plan = plan
        self.sock = udp_socket(plan.sip_address, plan.sip_port)
        self.sent_by = host_port(plan.sip_address, plan.sip_port)
        self._ids = itertools.count(1)

    def token(self, kind: str) -> str:
        return f"{kind}{next(self._ids)}-{os.urandom(4).hex()}"

    def via(self, branch: str | None = None) -> tuple[str, str]:
        branch = branch or f"{BRANCH_MAGIC}{self.token('b')}"
        return ("Via", f"SIP/2.0/UDP {self.sent_by};rport;branch={branch}")

    def contact(self, user: str) -> tuple[str, str]:
        return ("Contact", f"<sip:{user}@{self.sent_by}>")

    def send(self, text: str) -> None:
        try:
            self.sock.sendto(text.encode(), self.plan.registrar)
        except OSError as error:  # a full buffer, or no route yet: as a lost datagram
            self.loop.record("send_error", error=str(error))

    def retransmit(
        self, text: str, timers: list[Timer], interval_s: float, cap_s: float | None
    ) -> None:
        """Send ``text`` again after ``interval_s``, doubling (up to ``cap_s``), keeping each
        timer in ``timers`` for the caller to cancel."""

        def again() -> None:
            self.send(text)
            following = 2 * interval_s if cap_s is None else min(2 * interval_s, cap_s)
            self.retransmit(text, timers, following, cap_s)

        timers.append(self.loop.at(self.loop.now() + interval_s, again))


def _sender(plan: LightAgentPlan, spec: LightCall, frames: list[bytes], up: bool) -> RtpSender:
    return RtpSender(
        payload_type=plan.payload_type,
        ssrc=spec.ssrc_up if up else spec.ssrc_down,
        seq=spec.seq_up if up else spec.seq_down,
        timestamp=spec.ts_up if up else spec.ts_down,
        ticks_per_packet=plan.ticks_per_packet,
        frames=frames,
    )


def _offered_media(plan: LightAgentPlan, body: str) -> tuple[str, int] | None:
    """Where the SDP ``body`` wants our payload type sent, or None if it does not take it."""
    for media in parse_sdp(body):
        if plan.payload_type in media.payload_types and media.address and media.port:
            return media.address, media.port
    return None


@dataclass
class _Outgoing:
    spec: LightCall
    call_id: str
    from_tag: str
    invite: str
    sent_s: float
    state: str = "calling"  # answered, ending, ended, failed
    retransmissions: list[Timer] = field(default_factory=list)  # Timer A, then E
    deadline: Timer | None = None  # Timer B, then F
    ok: SipText | None = None
    ringing: bool = False

    def stop_timers(self) -> None:
        for timer in self.retransmissions:
            timer.cancel()
        self.retransmissions = []
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None


class _Callers:
    """Every light call's caller: INVITE at its start, media, BYE at its end."""

    def __init__(self, loop: _MediaLoop, plan: LightAgentPlan, frames: list[bytes]) -> None:
        self.loop = loop
        self.plan = plan
        self.frames = frames
        self.sip = _Sip(loop, plan)
        loop.watch(self.sip.sock, self.on_datagram, skip_errors=True)
        self._calls: dict[str, _Outgoing] = {}
        self._by_call: dict[int, _Outgoing] = {}
        self._open = len(plan.calls)
        for spec in plan.calls:
            loop.add_stream(spec.call, udp_socket(spec.ue_address, spec.ue_port))

    def start(self) -> None:
        for spec in self.plan.calls:
            self.loop.at(spec.start_s, lambda spec=spec: self._invite(spec))  # type: ignore[misc]
            self.loop.at(spec.end_s, lambda spec=spec: self._hang_up(spec))  # type: ignore[misc]

    def finished(self) -> bool:
        return self._open == 0

    def _over(self, call: _Outgoing, state: str) -> None:
        call.stop_timers()
        call.state = state
        self._open -= 1

    def _invite(self, spec: LightCall) -> None:
        plan = self.plan
        call_id = self.sip.token(f"light{spec.call}-")
        from_tag = self.sip.token("f")
        aor = f"sip:{spec.callee_user}@{plan.domain}"
        sdp = audio_sdp(
            spec.ue_address,
            spec.ue_port,
            plan.payload_type,
            plan.encoding,
            plan.clock_hz,
            plan.ptime_s,
            plan.fmtp,
        )
        invite = request_text(
            "INVITE",
            aor,
            [
                self.sip.via(),
                ("Max-Forwards", "70"),
                ("From", f"<sip:{spec.caller_user}@{plan.domain}>;tag={from_tag}"),
                ("To", f"<{aor}>"),
                ("Call-ID", call_id),
                ("CSeq", "1 INVITE"),
                self.sip.contact(spec.caller_user),
                ("Content-Type", "application/sdp"),
            ],
            sdp,
        )
        call = _Outgoing(spec, call_id, from_tag, invite, self.loop.now())
        self._calls[call_id] = call
        self._by_call[spec.call] = call
        self.sip.send(invite)
        self.loop.record("invite", call=spec.call, call_id=call_id)
        self.sip.retransmit(invite, call.retransmissions, plan.t1_s, None)  # Timer A
        call.deadline = self.loop.at(  # Timer B
            call.sent_s + 64 * plan.t1_s, lambda: self._fail(call, "timeout", None)
        )

    def _fail(self, call: _Outgoing, reason: str, status: int | None) -> None:
        if call.state != "calling":
            return
        self._over(call, "failed")
        self.loop.record("failed", call=call.spec.call, reason=reason, status=status)

    def _hang_up(self, spec: LightCall) -> None:
        call = self._by_call.get(spec.call)
        if call is None or call.state == "calling":
            if call is not None:
                self._fail(call, "unanswered at its end", None)
            else:
                self._open -= 1
                self.loop.record("failed", call=spec.call, reason="never dialled", status=None)
            return
        if call.state != "answered" or call.ok is None:
            return
        self.loop.stop_media(spec.call)
        call.state = "ending"
        bye = request_text("BYE", self._target(call, call.ok), self._dialog(call, call.ok, "2 BYE"))
        self.sip.send(bye)
        self.loop.record("bye", call=spec.call)
        self.sip.retransmit(bye, call.retransmissions, self.plan.t1_s, self.plan.t2_s)  # Timer E
        call.deadline = self.loop.at(  # Timer F
            self.loop.now() + 64 * self.plan.t1_s, lambda: self._ended(call, None)
        )

    def _ended(self, call: _Outgoing, status: int | None) -> None:
        if call.state != "ending":
            return
        self._over(call, "ended")
        self.loop.record("ended", call=call.spec.call, status=status)

    def _target(self, call: _Outgoing, ok: SipText) -> str:
        contact = ok.get("Contact")
        return uri_of(contact) if contact else f"sip:{call.spec.callee_user}@{self.plan.domain}"

    def _dialog(self, call: _Outgoing, ok: SipText, cseq: str) -> list[tuple[str, str]]:
        routes = [("Route", route) for route in reversed(ok.all("Record-Route"))]
        return [
            self.sip.via(),
            ("Max-Forwards", "70"),
            ("From", ok.header("From")),
            ("To", ok.header("To")),
            ("Call-ID", call.call_id),
            ("CSeq", cseq),
            *routes,
        ]

    def on_datagram(self, data: bytes) -> None:
        try:
            message = parse_sip(data.decode("utf-8", errors="replace"))
            call = self._calls.get(message.header("Call-ID"))
            method = message.cseq_method
        except ValueError:
            return
        if call is None or message.status is None:
            if message.method is not None and message.method != "ACK":
                self.sip.send(response_text(message, 481))
            return
        status = message.status
        if method == "BYE":
            if status >= 200:
                self._ended(call, status)
            return
        if method != "INVITE":
            return
        if status < 200:
            for timer in call.retransmissions:  # Timer A stops; Timer B runs on
                timer.cancel()
            call.retransmissions = []
            if status == 180 and not call.ringing:
                call.ringing = True
                self.loop.record("ringing", call=call.spec.call)
            return
        if status >= 300:
            self._acknowledge_error(call, message)
            self._fail(call, "rejected", status)
            return
        ack = request_text("ACK", self._target(call, message), self._dialog(call, message, "1 ACK"))
        self.sip.send(ack)  # every 2xx, also a retransmitted one
        if call.state != "calling":
            return
        media = _offered_media(self.plan, message.body)
        if media is None:
            self._fail(call, "answer without the offered payload type", status)
            return
        call.stop_timers()
        call.state, call.ok = "answered", message
        self.loop.record("answered", call=call.spec.call, setup_s=self.loop.now() - call.sent_s)
        self.loop.start_media(
            call.spec.call, _sender(self.plan, call.spec, self.frames, True), media
        )

    def _acknowledge_error(self, call: _Outgoing, response: SipText) -> None:
        """The ACK of a non-2xx final response: the INVITE's branch and URI (17.1.1.3)."""
        invite = parse_sip(call.invite)
        headers = [
            ("Via", invite.header("Via")),
            ("Max-Forwards", "70"),
            ("From", response.header("From")),
            ("To", response.header("To")),
            ("Call-ID", call.call_id),
            ("CSeq", "1 ACK"),
        ]
        self.sip.send(request_text("ACK", invite.uri or "", headers))


@dataclass
class _Incoming:
    spec: LightCall
    ok: str
    offer: tuple[str, int]
    timers: list[Timer] = field(default_factory=list)
    acked: bool = False
    ended: bool = False


class _Answerers:
    """Every light call's answerer: registered first, then answers, media, BYE."""

    def __init__(self, loop: _MediaLoop, plan: LightAgentPlan, frames: list[bytes]) -> None:
        self.loop = loop
        self.plan = plan
        self.frames = frames
        self.sip = _Sip(loop, plan)
        loop.watch(self.sip.sock, self.on_datagram, skip_errors=True)
        self._by_user = {spec.callee_user: spec for spec in plan.calls}
        self._calls: dict[str, _Incoming] = {}
        self._open = len(plan.calls)
        self._registering: dict[str, tuple[str, list[Timer]]] = {}  # Call-ID -> user, timers
        for spec in plan.calls:
            loop.add_stream(spec.call, udp_socket(plan.media_address, spec.far_port))

    def finished(self) -> bool:
        return self._open == 0

    def registered(self) -> bool:
        return not self._registering

    def register(self) -> None:
        """REGISTER every callee's user (Timer E retransmissions until the response)."""
        plan = self.plan
        for spec in plan.calls:
            call_id = self.sip.token("reg")
            aor = f"sip:{spec.callee_user}@{plan.domain}"
            text = request_text(
                "REGISTER",
                f"sip:{plan.domain}",
                [
                    self.sip.via(),
                    ("Max-Forwards", "70"),
                    ("From", f"<{aor}>;tag={self.sip.token('t')}"),
                    ("To", f"<{aor}>"),
                    ("Call-ID", call_id),
                    ("CSeq", "1 REGISTER"),
                    self.sip.contact(spec.callee_user),
                    ("Expires", str(plan.expires_s)),
                ],
            )
            timers: list[Timer] = []
            self._registering[call_id] = (spec.callee_user, timers)
            self.sip.send(text)
            self.sip.retransmit(text, timers, plan.t1_s, plan.t2_s)

    def on_datagram(self, data: bytes) -> None:
        try:
            message = parse_sip(data.decode("utf-8", errors="replace"))
            call_id = message.header("Call-ID")
            if message.method is not None:
                self._on_request(message, call_id)
            elif message.cseq_method == "REGISTER":
                self._on_registered(message, call_id)
        except ValueError:
            return

    def _on_registered(self, message: SipText, call_id: str) -> None:
        status = message.status or 0
        if status < 200 or call_id not in self._registering:
            return
        user, timers = self._registering.pop(call_id)
        for timer in timers:
            timer.cancel()
        if status >= 300:
            self.loop.record("register_failed", user=user, status=status)
        elif self.registered():
            self.loop.record("registered", users=len(self._by_user))

    def _on_request(self, message: SipText, call_id: str) -> None:
        method = message.method
        incoming = self._calls.get(call_id)
        if method == "INVITE":
            if incoming is not None:
                self.sip.send(incoming.ok)  # a retransmitted INVITE
                return
            self._answer(message, call_id)
        elif method == "ACK":
            if incoming is not None and not incoming.acked:
                self._acked(incoming)
        elif method == "BYE":
            self.sip.send(response_text(message, 200 if incoming is not None else 481))
            if incoming is not None and not incoming.ended:
                incoming.ended = True
                self.loop.stop_media(incoming.spec.call)
                for timer in incoming.timers:
                    timer.cancel()
                self._open -= 1
                self.loop.record("bye", call=incoming.spec.call)
        else:
            self.sip.send(response_text(message, 200 if method == "OPTIONS" else 405))

    def _answer(self, invite: SipText, call_id: str) -> None:
        user = (invite.uri or "").removeprefix("sip:").split("@")[0]
        spec = self._by_user.get(user)
        if spec is None:
            self.sip.send(response_text(invite, 404))
            return
        offer = _offered_media(self.plan, invite.body)
        if offer is None:
            self.sip.send(response_text(invite, 488))
            self.loop.record("failed", call=spec.call, reason="offer without our payload type")
            return
        plan = self.plan
        tag = self.sip.token("a")
        contact = [self.sip.contact(spec.callee_user)]
        self.sip.send(response_text(invite, 180, to_tag=tag, extra=contact))
        sdp = audio_sdp(
            plan.media_address,
            spec.far_port,
            plan.payload_type,
            plan.encoding,
            plan.clock_hz,
            plan.ptime_s,
            plan.fmtp,
        )
        ok = with_sdp_body(response_text(invite, 200, to_tag=tag, extra=contact), sdp)
        incoming = _Incoming(spec, ok, offer)
        self._calls[call_id] = incoming
        self.sip.send(ok)
        self.sip.retransmit(ok, incoming.timers, plan.t1_s, plan.t2_s)  # 13.3.1.4
        incoming.timers.append(
            self.loop.at(self.loop.now() + 64 * plan.t1_s, lambda: self._no_ack(incoming))
        )

    def _no_ack(self, incoming: _Incoming) -> None:
        for timer in incoming.timers:
            timer.cancel()
        if not incoming.acked:
            self.loop.record("failed", call=incoming.spec.call, reason="no ACK")

    def _acked(self, incoming: _Incoming) -> None:
        incoming.acked = True
        for timer in incoming.timers:
            timer.cancel()
        incoming.timers = []
        if incoming.ended:
            return
        self.loop.record("acked", call=incoming.spec.call)
        sender = _sender(self.plan, incoming.spec, self.frames, False)
        self.loop.start_media(incoming.spec.call, sender, incoming.offer)


def _on_time(loop: _MediaLoop, priority: int) -> None:
    """SCHED_FIFO at ``priority`` (sched(7)) when it is > 0, so that busy processes of
    normal priority do not delay packets; said in the log when refused."""
    if priority <= 0:
        return
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except OSError as error:
        loop.record("realtime_refused", error=str(error))


def _frames(plan: LightAgentPlan) -> list[bytes]:
    """The payloads this side plays: the payload file cut into packets."""
    data = Path(plan.payload_path).read_bytes()
    size = plan.payload_bytes
    frames = [data[k : k + size] for k in range(0, len(data) - size + 1, size)]
    if not frames:
        raise ValueError(f"{plan.payload_path}: shorter than one packet of {size} bytes")
    return frames


def run_agent(plan: LightAgentPlan) -> None:
    """Play ``plan`` until every call is over, ``t0 + stop_s``, or SIGTERM/SIGINT.
    _RegistrationFailed when the answerers' users are not all registered in time."""

    raise_stopped_on_signals()
    frames = _frames(plan)
    with Path(plan.log_path).open("a", encoding="utf-8") as log:
        loop = _MediaLoop(plan, log)
        _on_time(loop, plan.realtime_priority)
        side: _Callers | _Answerers
        try:
            if plan.role == "answerers":
                side = answerers = _Answerers(loop, plan, frames)
                answerers.register()
                loop.run_until(loop.now() + REGISTER_TIMEOUT_S, answerers.registered)
                if not answerers.registered():
                    raise _RegistrationFailed("not every light callee was registered in time")
            else:
                side = callers = _Callers(loop, plan, frames)
                callers.start()
            loop.record("ready", role=plan.role)
            print(READY_LINE, flush=True)
            loop.run_until(plan.stop_s, side.finished)
            loop.record("done")
        except Stopped:
            loop.record("stopped")
        finally:
            loop.record_media()


def main(argv: list[str] | None = None) -> int:
    """``light_agent PLAN.json``: run the plan; 0 when it ran to its end or was stopped,
    1 when the answerers could not register."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m voipbed.emulation.light_agent PLAN.json", file=sys.stderr)
        return 2
    try:
        run_agent(LightAgentPlan.from_json(Path(args[0]).read_text(encoding="utf-8")))
    except _RegistrationFailed as error:
        print(f"light agent: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
