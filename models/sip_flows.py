"""SIP call flows between the phone and the core, sans-IO, on the RFC 3261 transactions.

Two flows, each two endpoints for :func:`voipbed.models.sip_driver.run_flow`:

- :class:`OutgoingCall`: the phone calls. Its INVITE goes to the proxy, whose INVITE
  server transaction answers 100 Trying at once (RFC 3261 16.2, 17.2.1; Kamailio's tm
  does); the far end rings ``ring_delay_s`` after the INVITE reached the core and
  answers ``answer_delay_s`` after it (a 200, or ``answer_status`` 300-699 to refuse);
  the phone acknowledges the 2xx, and with ``hangup_after_s`` hangs up with a BYE that
  long after its ACK. The core side is the proxy and the far end together, with no time
  between them (their hop is not on the radio path).
- :class:`IncomingCall`: the core sends the INVITE down to the phone (the proxy's INVITE
  client transaction; ``invite_timeout_s`` can stand for a proxy's own timer, such as
  Kamailio's ``fr_timer``, in place of Timer B); the phone rings and answers as
  configured, without 100 Trying (baresip 1.0 answers 180 at once and sends no 100,
  src/call.c and libre's sipsess), and the far end hangs up with ``hangup_after_s``.
  Whether the INVITE reaches the phone at all is the driver's ``reachable`` predicate
  (a NAT binding) or the channel's loss.

The callee's UAS core retransmits its 2xx until the ACK arrives (RFC 3261 13.3.1.4):
after T1, then doubling up to T2, giving up 64*T1 after the first 2xx (the call then
counts ``ack_timed_out``; the BYE RFC 3261 asks for then is not modelled). RFC 3261 makes
no exception for reliable transports there, and libre (src/sipsess/reply.c) retransmits
over TCP and TLS too: ``retransmit_2xx_reliable`` False turns that off. The caller
acknowledges every 2xx it gets (13.2.2.4), its INVITE transaction being in RFC 6026's
Accepted state. A caller that gives up (``no_answer_timeout_s``, baresip's
``call_local_timeout``) stops there: the CANCEL it would send is not modelled.

Results (:class:`CallResult`) are measured at the caller: post-dial delay (INVITE sent
to the first 18x arriving), set-up time (INVITE sent to the first 2xx arriving), the
outcome, and the retransmissions per message label from the run's records.

Registration and RFC 5626 keep-alives live in :mod:`voipbed.models.sip_registration`
and :mod:`voipbed.models.sip_keepalive`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from voipbed.models.sip_driver import MessageRecord, count_retransmissions
from voipbed.models.sip_messages import SipMessageKind, SipProfile, sip_message_sizes
from voipbed.models.sip_timers import SipTimers
from voipbed.models.sip_transaction import (
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    Outbox,
    SipMessage,
)

__all__ = [
    "CallConfig",
    "CallOutcome",
    "CallResult",
    "IncomingCall",
    "OutgoingCall",
]

INF = math.inf
K = SipMessageKind


class CallOutcome(StrEnum):
    """How a call set-up ended, seen from the caller."""

    PENDING = "pending"  # still running when the run stopped
    ANSWERED = "answered"  # a 2xx arrived
    REJECTED = "rejected"  # a 300-699 final response arrived
    TIMEOUT = "timeout"  # the INVITE transaction timed out (Timer B, or its replacement)
    NO_ANSWER = "no_answer"  # no final response within no_answer_timeout_s


@dataclass(frozen=True)
class CallConfig:
    """How the callee and the caller behave; times in seconds.

    ``ring_delay_s`` and ``answer_delay_s`` run from the INVITE's arrival at the callee
    (180 is sent when ``ring_delay_s <= answer_delay_s``); ``answer_status`` 200 answers,
    300-699 refuses; ``no_answer_timeout_s`` (baresip's ``call_local_timeout``, 120 s in
    the emulation's config) ends the caller's wait; ``hangup_after_s`` (None: never)
    makes the caller send BYE that long after its ACK; ``invite_timeout_s`` replaces
    Timer B of the caller's INVITE transaction (None: 64*T1).
    """

    ring_delay_s: float = 0.0
    answer_delay_s: float = 0.0
    answer_status: int = 200
    no_answer_timeout_s: float = 120.0
    hangup_after_s: float | None = None
    invite_timeout_s: float | None = None
    retransmit_2xx_reliable: bool = True

    def __post_init__(self) -> None:
        for name in ("ring_delay_s", "answer_delay_s", "no_answer_timeout_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be finite and >= 0, got {value}")
        for name in ("hangup_after_s", "invite_timeout_s"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be None or finite and >= 0, got {value}")
        if not (200 <= self.answer_status <= 299 or 300 <= self.answer_status <= 699):
            raise ValueError(f"answer_status must be in 200..699, got {self.answer_status}")


@dataclass(frozen=True)
class CallResult:
    """What a call set-up did; times in seconds on the run's clock, None if it did not happen."""

    outcome: CallOutcome
    final_status: int | None
    invite_sent_s: float
    first_provisional_s: float | None
    ringing_s: float | None
    answered_s: float | None
    ended_s: float | None
    invite_arrived_s: float | None
    ack_arrived_s: float | None
    ack_timed_out: bool
    bye_completed_s: float | None
    retransmissions: Mapping[str, int]

    @property
    def success(self) -> bool:
        """Whether the call was answered."""
        return self.outcome is CallOutcome.ANSWERED

    @property
    def post_dial_delay_s(self) -> float | None:
        """From the INVITE sent to the first 18x arriving at the caller."""
        return None if self.ringing_s is None else self.ringing_s - self.invite_sent_s

    @property
    def setup_time_s(self) -> float | None:
        """From the INVITE sent to the first 2xx arriving at the caller."""
        return None if self.answered_s is None else self.answered_s - self.invite_sent_s


@dataclass(frozen=True)
class _CallerKinds:
    invite: SipMessageKind
    ack: SipMessageKind
    ack_error: SipMessageKind
    bye: SipMessageKind


@dataclass(frozen=True)
class _CalleeKinds:
    trying: SipMessageKind | None
    ringing: SipMessageKind
    ok: SipMessageKind
    reject: SipMessageKind
    ok_bye: SipMessageKind


def _response(size: int, status: int, request: SipMessage) -> SipMessage:
    return SipMessage(str(status), request.method, status, request.cseq, request.branch, size)


class _Caller:
    """The UAC: INVITE, ACK for each 2xx, optional BYE."""

    def __init__(
        self,
        kinds: _CallerKinds,
        sizes: Mapping[SipMessageKind, int],
        timers: SipTimers,
        reliable: bool,
        config: CallConfig,
        prefix: str,
    ) -> None:
        self.outbox: Outbox = []
        self._timers = timers
        self._reliable = reliable
        self._config = config
        self._invite = SipMessage("INVITE", "INVITE", 0, 1, f"{prefix}1", sizes[kinds.invite])
        self._ack_error = SipMessage("ACK", "ACK", 0, 1, f"{prefix}1", sizes[kinds.ack_error])
        self._ack = SipMessage("ACK", "ACK", 0, 1, f"{prefix}2", sizes[kinds.ack])
        self._bye = SipMessage("BYE", "BYE", 0, 2, f"{prefix}3", sizes[kinds.bye])
        self._invite_tx: InviteClientTransaction | None = None
        self._bye_tx: NonInviteClientTransaction | None = None
        self._give_up_at = INF
        self._hangup_at = INF
        self.outcome = CallOutcome.PENDING
        self.final_status: int | None = None
        self.invite_sent_s = math.nan
        self.first_provisional_s: float | None = None
        self.ringing_s: float | None = None
        self.answered_s: float | None = None
        self.ended_s: float | None = None
        self.bye_completed_s: float | None = None

    def start(self, now: float) -> None:
        self.invite_sent_s = now
        self._invite_tx = InviteClientTransaction(
            self._invite,
            self._ack_error,
            now=now,
            outbox=self.outbox,
            timers=self._timers,
            reliable=self._reliable,
            timeout_s=self._config.invite_timeout_s,
        )
        self._give_up_at = now + self._config.no_answer_timeout_s

    def deadline(self) -> float:
        invite_tx, bye_tx = self._invite_tx, self._bye_tx
        at = self._hangup_at if invite_tx is None else min(invite_tx.deadline, self._hangup_at)
        if self.outcome is CallOutcome.PENDING:
            at = min(at, self._give_up_at)
        return at if bye_tx is None else min(at, bye_tx.deadline)

    def on_timer(self, now: float) -> None:
        invite_tx = self._invite_tx
        if invite_tx is not None and invite_tx.deadline <= now and invite_tx.on_timer(now):
            self._end(now, CallOutcome.TIMEOUT)
        if self.outcome is CallOutcome.PENDING and now >= self._give_up_at:
            self._end(now, CallOutcome.NO_ANSWER)
        if now >= self._hangup_at:
            self._hangup_at = INF
            self._bye_tx = NonInviteClientTransaction(
                self._bye, now=now, outbox=self.outbox, timers=self._timers, reliable=self._reliable
            )
        bye_tx = self._bye_tx
        if bye_tx is not None and bye_tx.deadline <= now:
            bye_tx.on_timer(now)

    def on_message(self, now: float, message: SipMessage) -> None:
        invite_tx, bye_tx = self._invite_tx, self._bye_tx
        if invite_tx is not None and message.branch == invite_tx.branch:
            if invite_tx.on_response(now, message):
                self._on_invite_response(now, message.status)
        elif (
            bye_tx is not None
            and message.branch == bye_tx.branch
            and bye_tx.on_response(now, message)
            and message.status >= 200
        ):
            self.bye_completed_s = now

    def _on_invite_response(self, now: float, status: int) -> None:
        if status < 200:
            if self.first_provisional_s is None:
                self.first_provisional_s = now
            if status != 100 and self.ringing_s is None:
                self.ringing_s = now
            return
        if self.outcome is not CallOutcome.PENDING and self.outcome is not CallOutcome.ANSWERED:
            return  # given up, or already refused
        if status < 300:
            first = self.answered_s is None
            if first:
                self.answered_s = now
                self.outcome = CallOutcome.ANSWERED
                self.final_status = status
                if self._config.hangup_after_s is not None:
                    self._hangup_at = now + self._config.hangup_after_s
            self.outbox.append((self._ack, not first))  # RFC 3261 13.2.2.4: ACK every 2xx
            return
        self.final_status = status
        self._end(now, CallOutcome.REJECTED)

    def _end(self, now: float, outcome: CallOutcome) -> None:
        if self.outcome is CallOutcome.PENDING:
            self.outcome = outcome
            self.ended_s = now


class _Callee:
    """The UAS (and, for a call from the phone, the proxy's 100 Trying)."""

    def __init__(
        self,
        kinds: _CalleeKinds,
        sizes: Mapping[SipMessageKind, int],
        timers: SipTimers,
        reliable: bool,
        config: CallConfig,
    ) -> None:
        self.outbox: Outbox = []
        self._kinds = kinds
        self._sizes = sizes
        self._timers = timers
        self._reliable = reliable
        self._config = config
        self._invite_tx: InviteServerTransaction | None = None
        self._bye_tx: NonInviteServerTransaction | None = None
        self._ok: SipMessage | None = None
        self._ring_at = self._answer_at = self._resend_at = self._stop_at = INF
        self._resend_interval = timers.t1_s
        self.invite_arrived_s: float | None = None
        self.ack_arrived_s: float | None = None
        self.ack_timed_out = False

    def deadline(self) -> float:
        at = min(self._ring_at, self._answer_at, self._resend_at, self._stop_at)
        if self._invite_tx is not None:
            at = min(at, self._invite_tx.deadline)
        return at if self._bye_tx is None else min(at, self._bye_tx.deadline)

    def on_message(self, now: float, message: SipMessage) -> None:
        method = message.method
        invite_tx = self._invite_tx
        if method == "INVITE":
            if invite_tx is not None:
                invite_tx.on_request(now, message)
                return
            self.invite_arrived_s = now
            kind = self._kinds.trying
            self._invite_tx = InviteServerTransaction(
                message,
                now=now,
                outbox=self.outbox,
                timers=self._timers,
                reliable=self._reliable,
                trying=None if kind is None else _response(self._sizes[kind], 100, message),
            )
            config = self._config
            if config.ring_delay_s <= config.answer_delay_s:
                self._ring_at = now + config.ring_delay_s
            self._answer_at = now + config.answer_delay_s
        elif method == "ACK":
            if invite_tx is not None and message.branch == invite_tx.branch:
                invite_tx.on_request(now, message)  # the ACK of a 300-699
            elif self.ack_arrived_s is None:
                self.ack_arrived_s = now  # the ACK of the 2xx: stop resending it
                self._resend_at = self._stop_at = INF
        elif method == "BYE":
            bye_tx = self._bye_tx
            if bye_tx is not None and bye_tx.branch == message.branch:
                bye_tx.on_request(now, message)
                return
            self._bye_tx = NonInviteServerTransaction(
                message, now=now, outbox=self.outbox, timers=self._timers, reliable=self._reliable
            )
            self._bye_tx.respond(now, _response(self._sizes[self._kinds.ok_bye], 200, message))

    def on_timer(self, now: float) -> None:
        invite_tx = self._invite_tx
        if invite_tx is None:
            return
        if now >= self._ring_at:
            self._ring_at = INF
            ringing = _response(self._sizes[self._kinds.ringing], 180, invite_tx.request)
            invite_tx.respond(now, ringing)
        if now >= self._answer_at:
            self._answer_at = INF
            self._answer(now, invite_tx)
        if now >= self._stop_at:
            self.ack_timed_out = True  # RFC 3261 13.3.1.4: no ACK within 64*T1
            self._resend_at = self._stop_at = INF
        if now >= self._resend_at and self._ok is not None:
            self.outbox.append((self._ok, True))
            self._resend_interval = min(2.0 * self._resend_interval, self._timers.t2_s)
            self._resend_at += self._resend_interval
        if invite_tx.deadline <= now and invite_tx.on_timer(now):
            self.ack_timed_out = True  # Timer H: no ACK for the 300-699
        bye_tx = self._bye_tx
        if bye_tx is not None and bye_tx.deadline <= now:
            bye_tx.on_timer(now)

    def _answer(self, now: float, invite_tx: InviteServerTransaction) -> None:
        status = self._config.answer_status
        invite = invite_tx.request
        if status >= 300:
            invite_tx.respond(now, _response(self._sizes[self._kinds.reject], status, invite))
            return
        self._ok = _response(self._sizes[self._kinds.ok], status, invite)
        invite_tx.respond(now, self._ok)
        if not self._reliable or self._config.retransmit_2xx_reliable:
            # RFC 3261 13.3.1.4: resend from T1, doubling to T2, until 64*T1
            self._resend_interval = self._timers.t1_s
            self._resend_at = now + self._resend_interval
            self._stop_at = now + 64.0 * self._timers.t1_s


class _Call:
    """A caller and a callee; which is the phone is the subclass's choice."""

    _caller_kinds: _CallerKinds
    _callee_kinds: _CalleeKinds

    def __init__(
        self,
        config: CallConfig | None = None,
        *,
        sizes: Mapping[SipMessageKind, int] | None = None,
        timers: SipTimers | None = None,
        reliable: bool = False,
        prefix: str = "call",
    ) -> None:
        config = config or CallConfig()
        sizes = sizes if sizes is not None else sip_message_sizes(SipProfile())
        timers = timers or SipTimers()
        self._caller = _Caller(self._caller_kinds, sizes, timers, reliable, config, prefix)
        self._callee = _Callee(self._callee_kinds, sizes, timers, reliable, config)

    def start(self, now: float) -> None:
        """Send the INVITE at ``now``."""
        self._caller.start(now)

    def result(self, records: Sequence[MessageRecord] = ()) -> CallResult:
        """The call's figures; ``records`` (the run's) give the retransmission counts."""
        caller, callee = self._caller, self._callee
        return CallResult(
            outcome=caller.outcome,
            final_status=caller.final_status,
            invite_sent_s=caller.invite_sent_s,
            first_provisional_s=caller.first_provisional_s,
            ringing_s=caller.ringing_s,
            answered_s=caller.answered_s,
            ended_s=caller.ended_s,
            invite_arrived_s=callee.invite_arrived_s,
            ack_arrived_s=callee.ack_arrived_s,
            ack_timed_out=callee.ack_timed_out,
            bye_completed_s=caller.bye_completed_s,
            retransmissions=count_retransmissions(records),
        )


class OutgoingCall(_Call):
    """The phone calls through the proxy (phone: caller, core: proxy and callee)."""

    _caller_kinds = _CallerKinds(K.INVITE_UP, K.ACK_UP, K.ACK_ERROR_UP, K.BYE_UP)
    _callee_kinds = _CalleeKinds(
        K.TRYING_DOWN, K.RINGING_DOWN, K.OK_INVITE_DOWN, K.REJECT_DOWN, K.OK_BYE_DOWN
    )

    @property
    def phone(self) -> _Caller:
        """The calling phone."""
        return self._caller

    @property
    def core(self) -> _Callee:
        """The proxy and the called far end."""
        return self._callee


class IncomingCall(_Call):
    """The core brings a call to the phone (core: proxy and caller, phone: callee)."""

    _caller_kinds = _CallerKinds(K.INVITE_DOWN, K.ACK_DOWN, K.ACK_ERROR_DOWN, K.BYE_DOWN)
    _callee_kinds = _CalleeKinds(None, K.RINGING_UP, K.OK_INVITE_UP, K.REJECT_UP, K.OK_BYE_UP)

    @property
    def phone(self) -> _Callee:
        """The called phone."""
        return self._callee

    @property
    def core(self) -> _Caller:
        """The proxy and the calling far end."""
        return self._caller
