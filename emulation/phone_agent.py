"""The idle phones' SIP user agent, and the caller that rings them: one process per side.

``python -m voipbed.emulation.phone_agent PLAN.json`` runs the plan of
``phone_plan.AgentPlan`` until ``t0 + duration_s``, then exits 0; SIGTERM or SIGINT end
it early, also with 0. Every message is real SIP text (or an RFC 5389 STUN Binding) on
UDP, one socket per phone on its own port.

Role ``phones`` (in the phones' host, behind the NAT), per phone:

- REGISTER at its instant, in a non-INVITE client transaction (Timer E retransmissions
  from T1 doubling to T2, Timer F after 64*T1, RFC 3261 17.1.2.2); a 401/407 is answered
  once with digest credentials; a 2xx's granted expiry (the Contact's ``expires``, else
  the Expires header) schedules the refresh at ``refresh_fraction`` of it; a failure
  retries after libre's failwait without randomness (0.75 * 30 * 2**min(failures, 6) s,
  at most 1800 s), as ``models.sip_registration`` does;
- a STUN Binding request to the registrar's SIP port every ``keepalive_s`` from an
  interval after its first REGISTER, retransmitted from RTO 500 ms doubling, at most 7
  requests, failed when no response came within ``pong_timeout_s`` (RFC 5626 4.4.1,
  RFC 5389 7.2.1: ``models.sip_keepalive``);
- an INVITE is answered at once with 180 and 200 (the same 200 again for a retransmitted
  INVITE), an ACK absorbed, a BYE answered 200.

Role ``core`` (the far end): at each call's instant an INVITE for the phone's AOR goes to
the registrar (Timer A retransmissions until a provisional response, Timer B after
64*T1); a 2xx is acknowledged and the call hung up at once (BYE through the Record-Route),
a final error acknowledged. A call ends ``answered`` (2xx), ``timeout`` (408, or Timer B)
or ``rejected`` (any other final response).

Each agent writes JSON lines (``log_path``), one per thing it did, ``t`` in seconds from
``t0``: ``register``, ``registered`` (``granted_s``), ``register_failed`` (``status``),
``ping``, ``pong``, ``ping_failed``, ``invite_received``; the caller ``invite_sent`` and
``call_ended`` (``outcome``, ``status``, ``setup_s``). ``phone_logs`` reads them.
"""

from __future__ import annotations

import itertools
import math
import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voipbed.emulation.agent_loop import (
    AgentLoop,
    Stopped,
    Timer,
    raise_stopped_on_signals,
    udp_socket,
)
from voipbed.emulation.phone_plan import AgentPlan, CallSpec, PhoneSpec
from voipbed.emulation.sip_text import (
    BRANCH_MAGIC,
    SipText,
    digest_authorization,
    is_stun,
    param,
    parse_sip,
    request_text,
    response_text,
    stun_binding_request,
    stun_transaction_id,
    uri_of,
)

__all__ = ["READY_LINE", "main", "run_agent"]

READY_LINE = "voipbed phone agent ready"  # on stdout once the sockets are bound

FAILWAIT_BASE_S = 30.0  # libre src/sipreg/reg.c failwait, as models.sip_registration
FAILWAIT_MAX_S = 1800.0
FAILWAIT_MAX_DOUBLINGS = 6
FAILWAIT_FACTOR = 0.75  # the midpoint of libre's [0.5, 1.0] draw, as the model without rng


class _Sender:
    """One UDP socket and its SIP identity: sends to the registrar, builds headers."""

    def __init__(self, loop: AgentLoop, plan: AgentPlan, sock: socket.socket, user: str) -> None:
        self.loop = loop
        self.plan = plan
        self.sock = sock
        self.user = user
        address, port = sock.getsockname()
        self.sent_by = f"{address}:{port}"
        self.contact = f"<sip:{user}@{address}:{port}>"
        self._ids = itertools.count(1)

    def token(self, kind: str) -> str:
        return f"{kind}{next(self._ids)}-{os.urandom(4).hex()}"

    def via(self, branch: str) -> tuple[str, str]:
        return ("Via", f"SIP/2.0/UDP {self.sent_by};rport;branch={branch}")

    def send(self, data: bytes | str) -> None:
        payload = data.encode() if isinstance(data, str) else data
        try:
            self.sock.sendto(payload, self.plan.registrar)
        except OSError as error:  # no route yet, or a full buffer: as a lost datagram
            self.loop.record("send_error", user=self.user, error=str(error))


class _Phone:
    """One idle phone: registration and its refreshes, keep-alives, answering calls."""

    def __init__(self, loop: AgentLoop, plan: AgentPlan, spec: PhoneSpec) -> None:
        self.loop = loop
        self.plan = plan
        self.spec = spec
        self.out = _Sender(loop, plan, udp_socket(spec.address, spec.port), spec.user)
        loop.watch(self.out.sock, self.on_datagram)
        self._aor = f"sip:{spec.user}@{plan.domain}"
        self._call_id = self.out.token("reg")
        self._from_tag = self.out.token("t")
        self._cseq = 0
        self._reg_branch = ""
        self._reg_text = ""
        self._reg_timers: list[Timer] = []
        self._challenged = False
        self._failures = 0
        self._pinging: bytes | None = None
        self._ping_sent_s = math.nan
        self._ping_timers: list[Timer] = []
        self._pings = 0
        self._answers: dict[str, str] = {}  # Call-ID -> the 200 sent for its INVITE

    def start(self) -> None:
        self.loop.at(self.spec.register_s, self._register)
        if self.spec.keepalive_s is not None:
            self.loop.at(self.spec.register_s + self.spec.keepalive_s, self._ping)

    # ------------------------------------------------------------- registration

    def _register(self) -> None:
        self._challenged = False
        self.loop.record("register", phone=self.spec.index)
        self._send_register(None)

    def _send_register(self, authorization: str | None) -> None:
        for timer in self._reg_timers:
            timer.cancel()
        self._cseq += 1
        self._reg_branch = f"{BRANCH_MAGIC}{self.out.token('r')}"
        uri = f"sip:{self.plan.domain}"
        headers = [
            self.out.via(self._reg_branch),
            ("Max-Forwards", "70"),
            ("From", f"<{self._aor}>;tag={self._from_tag}"),
            ("To", f"<{self._aor}>"),
            ("Call-ID", self._call_id),
            ("CSeq", f"{self._cseq} REGISTER"),
            ("Contact", self.out.contact),
            ("Expires", str(round(self.plan.expires_s))),
        ]
        if authorization is not None:
            headers.append(("Authorization", authorization))
        self._reg_text = request_text("REGISTER", uri, headers)
        self.out.send(self._reg_text)
        now = self.loop.now()
        self._reg_timers = [
            self.loop.at(now + self.plan.t1_s, lambda: self._retransmit(self.plan.t1_s)),
            self.loop.at(now + 64 * self.plan.t1_s, lambda: self._registered(None, None)),
        ]

    def _retransmit(self, interval_s: float) -> None:
        """Timer E: again, the interval doubling up to T2 (RFC 3261 17.1.2.2)."""
        self.out.send(self._reg_text)
        following = min(2 * interval_s, self.plan.t2_s)
        timer = self.loop.at(self.loop.now() + following, lambda: self._retransmit(following))
        self._reg_timers.append(timer)

    def _on_register_response(self, message: SipText) -> None:
        status = message.status or 0
        if message.branch != self._reg_branch or status < 200:
            return
        challenge = message.get("WWW-Authenticate") or message.get("Proxy-Authenticate")
        if status in (401, 407) and challenge is not None and not self._challenged:
            self._challenged = True
            uri = f"sip:{self.plan.domain}"
            authorization = digest_authorization(
                challenge,
                method="REGISTER",
                uri=uri,
                user=self.spec.user,
                password=self.plan.password,
                cnonce=os.urandom(4).hex(),
            )
            self._send_register(authorization)
            return
        self._registered(status, message if 200 <= status < 300 else None)

    def _registered(self, status: int | None, ok: SipText | None) -> None:
        for timer in self._reg_timers:
            timer.cancel()
        self._reg_branch = ""
        now = self.loop.now()
        if ok is not None:
            granted = self._granted_s(ok)
            self._failures = 0
            self.loop.record("registered", phone=self.spec.index, granted_s=granted)
            self.loop.at(now + self.plan.refresh_fraction * granted, self._register)
            return
        self._failures += 1
        self.loop.record("register_failed", phone=self.spec.index, status=status)
        doublings = min(self._failures, FAILWAIT_MAX_DOUBLINGS)
        wait = min(FAILWAIT_MAX_S, FAILWAIT_BASE_S * 2.0**doublings) * FAILWAIT_FACTOR
        self.loop.at(now + wait, self._register)

    def _granted_s(self, ok: SipText) -> float:
        """The expiry the registrar granted our contact (RFC 3261 10.2.4)."""
        mine = uri_of(self.out.contact)
        for value in ok.all("Contact"):
            for contact in value.split(","):
                expires = param(contact, "expires")
                if uri_of(contact) == mine and expires:
                    return float(expires)
        header = ok.get("Expires")
        return float(header) if header else self.plan.expires_s

    # ------------------------------------------------------------- keep-alives

    def _ping(self) -> None:
        keepalive_s = self.spec.keepalive_s
        if keepalive_s is None:
            return
        now = self.loop.now()
        self.loop.at(now + keepalive_s, self._ping)  # the next, an interval on (no jitter)
        self._pings += 1
        tid = os.urandom(12)
        self._pinging = tid
        self._ping_sent_s = now
        self.loop.record("ping", phone=self.spec.index)
        for timer in self._ping_timers:
            timer.cancel()
        request = stun_binding_request(tid)
        self.out.send(request)
        self._ping_timers = [
            self.loop.at(now + self.plan.pong_timeout_s, self._ping_failed),
            self.loop.at(now + self.plan.stun_rto_s, lambda: self._resend(request, 1)),
        ]

    def _resend(self, request: bytes, sent: int) -> None:
        """RFC 5389 7.2.1: again after RTO, doubling, at most Rc requests in all."""
        if sent >= self.plan.stun_max_requests or self._pinging is None:
            return
        self.out.send(request)
        wait = self.plan.stun_rto_s * 2.0**sent
        self._ping_timers.append(
            self.loop.at(self.loop.now() + wait, lambda: self._resend(request, sent + 1))
        )

    def _ping_failed(self) -> None:
        self._pinging = None
        self.loop.record("ping_failed", phone=self.spec.index, sent_s=self._ping_sent_s)

    def _on_stun(self, data: bytes) -> None:
        tid = stun_transaction_id(data)
        if tid is None or tid != self._pinging:
            return
        self._pinging = None
        for timer in self._ping_timers:
            timer.cancel()
        self.loop.record("pong", phone=self.spec.index, sent_s=self._ping_sent_s)

    # ------------------------------------------------------------- incoming calls

    def _on_request(self, message: SipText) -> None:
        method = message.method
        call_id = message.header("Call-ID")
        if method == "INVITE":
            answer = self._answers.get(call_id)
            if answer is None:
                self.loop.record("invite_received", phone=self.spec.index, call_id=call_id)
                tag = self.out.token("a")
                self.out.send(response_text(message, 180, to_tag=tag))
                contact = [("Contact", self.out.contact)]
                answer = response_text(message, 200, to_tag=tag, extra=contact)
                self._answers[call_id] = answer
            self.out.send(answer)
        elif method == "BYE":
            self.out.send(response_text(message, 200))
            self._answers.pop(call_id, None)
        elif method != "ACK":
            self.out.send(response_text(message, 405 if method != "OPTIONS" else 200))

    def on_datagram(self, data: bytes) -> None:
        if is_stun(data):
            self._on_stun(data)
            return
        try:
            message = parse_sip(data.decode("utf-8", errors="replace"))
        except ValueError:
            return
        if message.method is not None:
            self._on_request(message)
        elif message.cseq_method == "REGISTER":
            self._on_register_response(message)


@dataclass
class _OutgoingCall:
    spec: CallSpec
    call_id: str
    branch: str
    from_tag: str
    invite: str
    sent_s: float
    retransmissions: list[Timer] = field(default_factory=list)  # Timer A
    timeout: Timer | None = None  # Timer B
    ended: bool = False


class _Caller:
    """The far end that calls the phones through the registrar."""

    def __init__(self, loop: AgentLoop, plan: AgentPlan) -> None:
        self.loop = loop
        self.plan = plan
        self.out = _Sender(loop, plan, udp_socket(plan.local_address, plan.caller_port), "core")
        loop.watch(self.out.sock, self.on_datagram)
        self._calls: dict[str, _OutgoingCall] = {}

    def start(self) -> None:
        for spec in self.plan.calls:
            self.loop.at(spec.at_s, lambda spec=spec: self._invite(spec))  # type: ignore[misc]

    def _invite(self, spec: CallSpec) -> None:
        call_id = self.out.token(f"p{spec.phone}c{spec.call}-")
        branch = f"{BRANCH_MAGIC}{self.out.token('i')}"
        from_tag = self.out.token("f")
        aor = f"sip:{spec.user}@{self.plan.domain}"
        invite = request_text(
            "INVITE",
            aor,
            [
                self.out.via(branch),
                ("Max-Forwards", "70"),
                ("From", f"<sip:core@{self.plan.domain}>;tag={from_tag}"),
                ("To", f"<{aor}>"),
                ("Call-ID", call_id),
                ("CSeq", "1 INVITE"),
                ("Contact", self.out.contact),
            ],
        )
        now = self.loop.now()
        call = _OutgoingCall(spec, call_id, branch, from_tag, invite, now)
        self._calls[call_id] = call
        self.out.send(invite)
        self.loop.record("invite_sent", phone=spec.phone, call=spec.call, call_id=call_id)
        t1 = self.plan.t1_s
        call.retransmissions = [self.loop.at(now + t1, lambda: self._retransmit(call, t1))]
        call.timeout = self.loop.at(now + 64 * t1, lambda: self._end(call, "timeout", None))

    def _retransmit(self, call: _OutgoingCall, interval_s: float) -> None:
        """Timer A: the INVITE again, the interval doubling (RFC 3261 17.1.1.2)."""
        if call.ended:
            return
        self.out.send(call.invite)
        call.retransmissions.append(
            self.loop.at(
                self.loop.now() + 2 * interval_s, lambda: self._retransmit(call, 2 * interval_s)
            )
        )

    def _end(self, call: _OutgoingCall, outcome: str, status: int | None) -> None:
        if call.ended:
            return
        call.ended = True
        for timer in (*call.retransmissions, call.timeout):
            if timer is not None:
                timer.cancel()
        fields: dict[str, Any] = {"phone": call.spec.phone, "call": call.spec.call}
        fields.update(outcome=outcome, status=status, call_id=call.call_id)
        if outcome == "answered":
            fields["setup_s"] = self.loop.now() - call.sent_s
        self.loop.record("call_ended", **fields)

    def on_datagram(self, data: bytes) -> None:
        if is_stun(data):
            return
        try:
            message = parse_sip(data.decode("utf-8", errors="replace"))
            call = self._calls.get(message.header("Call-ID"))
        except ValueError:
            return
        if call is None or message.status is None or message.cseq_method != "INVITE":
            if message.method is not None and message.method != "ACK":
                self.out.send(response_text(message, 200))  # a BYE from the phone's side
            return
        status = message.status
        if status < 200:  # provisional: Timer A stops, Timer B runs on
            for timer in call.retransmissions:
                timer.cancel()
            return
        if status < 300:
            self._acknowledge_2xx(message)
            if not call.ended:
                self._end(call, "answered", status)
                self._hang_up(call, message)
            return
        self._acknowledge_error(call, message)
        self._end(call, "timeout" if status == 408 else "rejected", status)

    def _dialog_headers(self, call: _OutgoingCall, ok: SipText, cseq: str) -> list[tuple[str, str]]:
        routes = [("Route", route) for route in reversed(ok.all("Record-Route"))]
        return [
            self.out.via(f"{BRANCH_MAGIC}{self.out.token('d')}"),
            ("Max-Forwards", "70"),
            ("From", ok.header("From")),
            ("To", ok.header("To")),
            ("Call-ID", call.call_id),
            ("CSeq", cseq),
            *routes,
        ]

    def _acknowledge_2xx(self, ok: SipText) -> None:
        call = self._calls[ok.header("Call-ID")]
        target = uri_of(ok.get("Contact") or f"<sip:{call.spec.user}@{self.plan.domain}>")
        self.out.send(request_text("ACK", target, self._dialog_headers(call, ok, "1 ACK")))

    def _hang_up(self, call: _OutgoingCall, ok: SipText) -> None:
        target = uri_of(ok.get("Contact") or f"<sip:{call.spec.user}@{self.plan.domain}>")
        self.out.send(request_text("BYE", target, self._dialog_headers(call, ok, "2 BYE")))

    def _acknowledge_error(self, call: _OutgoingCall, response: SipText) -> None:
        """The ACK of a non-2xx final response: same branch and request-URI (17.1.1.3)."""
        headers = [
            self.out.via(call.branch),
            ("Max-Forwards", "70"),
            ("From", response.header("From")),
            ("To", response.header("To")),
            ("Call-ID", call.call_id),
            ("CSeq", "1 ACK"),
        ]
        self.out.send(request_text("ACK", f"sip:{call.spec.user}@{self.plan.domain}", headers))


def run_agent(plan: AgentPlan) -> None:
    """Play ``plan`` until ``t0 + duration_s`` (or SIGTERM/SIGINT)."""

    raise_stopped_on_signals()
    with Path(plan.log_path).open("a", encoding="utf-8") as log:
        loop = AgentLoop(plan.t0, log)
        if plan.role == "phones":
            for spec in plan.phones:
                _Phone(loop, plan, spec).start()
        else:
            _Caller(loop, plan).start()
        loop.record("ready", role=plan.role)
        print(READY_LINE, flush=True)
        try:
            loop.run_until(plan.duration_s)
        except Stopped:
            loop.record("stopped")
            return
        loop.record("done")


def main(argv: list[str] | None = None) -> int:
    """``phone_agent PLAN.json``: run the plan; 0 when it ran to its end or was stopped."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m voipbed.emulation.phone_agent PLAN.json", file=sys.stderr)
        return 2
    run_agent(AgentPlan.from_json(Path(args[0]).read_text(encoding="utf-8")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
