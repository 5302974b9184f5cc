"""The four SIP transaction state machines of RFC 3261 section 17, sans-IO.

A transaction is created with the clock (``now``) and an ``outbox`` list; whatever it
transmits it appends to the outbox as ``(SipMessage, retransmission)``. The caller (the
transaction user, TU) feeds it what arrives (``on_response``, ``on_request``), what the
TU answers (``respond``), and its timer expiries (``on_timer`` at ``deadline``, the
earliest of its running timers, ``inf`` when none runs). Return values tell the TU what
RFC 3261 makes the transaction pass up: a response for the TU, or a timeout.

- :class:`InviteClientTransaction` (17.1.1, Figure 5), with RFC 6026: Calling ->
  Proceeding -> Completed or Accepted -> Terminated. Timer A retransmits the INVITE in
  Calling, starting at T1 and doubling with no cap (17.1.1.2); Timer B (64*T1) times the
  transaction out, in Calling only. A 300-699 response is acknowledged by the transaction
  itself (the ACK has the INVITE's branch, 17.1.1.3), again for each retransmission of
  it, until Timer D. A 2xx goes to the TU, and under RFC 6026 (section 7) the
  transaction moves to Accepted for Timer M (64*T1) and passes every further 2xx to the
  TU, which acknowledges each (the ACK for a 2xx is the TU's, RFC 3261 13.2.2.4). RFC
  3261's own Figure 5 would terminate at the first 2xx and leave the retransmitted 2xx
  to the core: the messages on the wire are the same.
- :class:`NonInviteClientTransaction` (17.1.2, Figure 6): Trying -> Proceeding ->
  Completed -> Terminated. Timer E retransmits at T1, doubling up to T2 in Trying and
  every T2 in Proceeding (17.1.2.2); Timer F (64*T1) times out; Timer K absorbs
  response retransmissions.
- :class:`InviteServerTransaction` (17.2.1, Figure 7), with RFC 6026: Proceeding ->
  Completed -> Confirmed -> Terminated for a 300-699 answer (Timer G retransmits it from
  T1, doubling up to T2, until the ACK; Timer H gives up at 64*T1; Timer I absorbs ACK
  retransmissions), Proceeding -> Accepted -> Terminated for a 2xx (Timer L). A
  retransmitted INVITE makes it resend its latest response (in Accepted it is absorbed:
  the 2xx is retransmitted by the UAS core, RFC 3261 13.3.1.4). With ``trying`` it sends
  100 Trying at once (17.2.1: when the TU will not answer within 200 ms; a proxy always,
  16.2 and 16.7).
- :class:`NonInviteServerTransaction` (17.2.2, Figure 8): Trying -> Proceeding ->
  Completed -> Terminated; a retransmitted request gets the latest response again;
  Timer J absorbs request retransmissions.

``reliable`` is the transport: over TCP or TLS Timers A, E and G are not started
(17.1.1.2, 17.1.2.2, 17.2.1) and D, I, J and K are zero, so those states end at once.
"""

from __future__ import annotations

import math
from enum import IntEnum
from typing import NamedTuple

from voipbed.models.sip_timers import SipTimers

__all__ = [
    "InviteClientState",
    "InviteClientTransaction",
    "InviteServerState",
    "InviteServerTransaction",
    "NonInviteClientTransaction",
    "NonInviteServerTransaction",
    "NonInviteState",
    "Outbox",
    "SipMessage",
]

INF = math.inf


class SipMessage(NamedTuple):
    """One message on the wire, as much of it as timing and a ladder diagram need (an
    immutable named tuple: one is made for every message sent).

    ``label`` is what a ladder shows ("INVITE", "100", "CRLFCRLF", ...); ``method`` is
    the request's method or the CSeq method of a response; ``status`` is 0 for a request;
    ``branch`` is the Via branch of its transaction ("" where there is none);
    ``authorization`` says whether the request carries digest credentials.
    """

    label: str
    method: str
    status: int
    cseq: int
    branch: str
    size_bytes: int
    authorization: bool = False

    @property
    def is_request(self) -> bool:
        """Whether this is a request (no status code)."""
        return self.status == 0


Outbox = list[tuple[SipMessage, bool]]
"""Messages to transmit, in order, each with its retransmission flag."""


class InviteClientState(IntEnum):
    """States of the INVITE client transaction (RFC 3261 Figure 5, RFC 6026 Accepted)."""

    CALLING = 0
    PROCEEDING = 1
    COMPLETED = 2
    ACCEPTED = 3
    TERMINATED = 4


class NonInviteState(IntEnum):
    """States of the non-INVITE transactions (RFC 3261 Figures 6 and 8)."""

    TRYING = 0
    PROCEEDING = 1
    COMPLETED = 2
    TERMINATED = 3


class InviteServerState(IntEnum):
    """States of the INVITE server transaction (RFC 3261 Figure 7, RFC 6026 Accepted)."""

    PROCEEDING = 0
    COMPLETED = 1
    CONFIRMED = 2
    ACCEPTED = 3
    TERMINATED = 4


class InviteClientTransaction:
    """RFC 3261 17.1.1 with RFC 6026: sends ``invite`` at ``now``; ``ack`` answers 300-699."""

    __slots__ = (
        "_a_at",
        "_a_interval",
        "_ack",
        "_b_at",
        "_end_at",
        "_invite",
        "_outbox",
        "_reliable",
        "_timers",
        "deadline",
        "state",
    )

    def __init__(
        self,
        invite: SipMessage,
        ack: SipMessage,
        *,
        now: float,
        outbox: Outbox,
        timers: SipTimers,
        reliable: bool,
        timeout_s: float | None = None,
    ) -> None:
        """``timeout_s`` replaces Timer B (e.g. a proxy's own fr_timer); None: 64*T1."""
        self._invite = invite
        self._ack = ack
        self._outbox = outbox
        self._timers = timers
        self._reliable = reliable
        self.state = InviteClientState.CALLING
        outbox.append((invite, False))
        self._a_interval = timers.a_s
        # RFC 3261 17.1.1.2: Timer A only for an unreliable transport.
        self._a_at = INF if reliable else now + self._a_interval
        self._b_at = now + (timers.b_s if timeout_s is None else timeout_s)
        self._end_at = INF  # Timer D in Completed, Timer M in Accepted
        self.deadline = min(self._a_at, self._b_at)

    @property
    def branch(self) -> str:
        """The transaction's Via branch."""
        return self._invite.branch

    def on_timer(self, now: float) -> bool:
        """Fire the timers due at ``now``; True when Timer B timed the transaction out."""
        state = self.state
        if state is InviteClientState.CALLING:
            if now >= self._b_at:
                self._terminate()
                return True
            if now >= self._a_at:
                self._outbox.append((self._invite, True))
                self._a_interval *= 2.0  # RFC 3261 17.1.1.2: Timer A doubles, no cap
                self._a_at += self._a_interval
            self.deadline = min(self._a_at, self._b_at)
        elif now >= self._end_at:
            self._terminate()
        return False

    def on_response(self, now: float, response: SipMessage) -> bool:
        """Take a response to this INVITE; True when it goes up to the TU."""
        state = self.state
        status = response.status
        if state is InviteClientState.CALLING or state is InviteClientState.PROCEEDING:
            if status < 200:
                self.state = InviteClientState.PROCEEDING
                self._a_at = self._b_at = INF  # 17.1.1.2: no retransmission, no Timer B
                self.deadline = INF
                return True
            if status < 300:
                self.state = InviteClientState.ACCEPTED  # RFC 6026 section 7
                self._end_at = now + self._timers.m_s
                self.deadline = self._end_at
                return True
            self.state = InviteClientState.COMPLETED
            self._outbox.append((self._ack, False))  # 17.1.1.3: the transaction's ACK
            self._end_at = now + self._timers.d_s(self._reliable)
            self.deadline = self._end_at
            return True
        if state is InviteClientState.COMPLETED:
            if status >= 300:
                self._outbox.append((self._ack, True))  # 17.1.1.2: ACK each retransmission
            return False
        if state is InviteClientState.ACCEPTED:
            return 200 <= status < 300  # RFC 6026: further 2xx go to the TU
        return False

    def _terminate(self) -> None:
        self.state = InviteClientState.TERMINATED
        self._a_at = self._b_at = self._end_at = INF
        self.deadline = INF


class NonInviteClientTransaction:
    """RFC 3261 17.1.2: sends ``request`` at ``now``, retransmits on Timer E, ends on F or K."""

    __slots__ = (
        "_e_at",
        "_e_interval",
        "_f_at",
        "_k_at",
        "_outbox",
        "_reliable",
        "_request",
        "_timers",
        "deadline",
        "state",
    )

    def __init__(
        self,
        request: SipMessage,
        *,
        now: float,
        outbox: Outbox,
        timers: SipTimers,
        reliable: bool,
    ) -> None:
        self._request = request
        self._outbox = outbox
        self._timers = timers
        self._reliable = reliable
        self.state = NonInviteState.TRYING
        outbox.append((request, False))
        self._e_interval = timers.e_s
        # RFC 3261 17.1.2.2: Timer E only for an unreliable transport.
        self._e_at = INF if reliable else now + self._e_interval
        self._f_at = now + timers.f_s
        self._k_at = INF
        self.deadline = min(self._e_at, self._f_at)

    @property
    def branch(self) -> str:
        """The transaction's Via branch."""
        return self._request.branch

    def on_timer(self, now: float) -> bool:
        """Fire the timers due at ``now``; True when Timer F timed the transaction out."""
        state = self.state
        if state is NonInviteState.TRYING or state is NonInviteState.PROCEEDING:
            if now >= self._f_at:
                self._terminate()
                return True
            if now >= self._e_at:
                self._outbox.append((self._request, True))
                if state is NonInviteState.TRYING:
                    # 17.1.2.2: MIN(2*interval, T2) in Trying
                    self._e_interval = min(2.0 * self._e_interval, self._timers.t2_s)
                else:
                    self._e_interval = self._timers.t2_s  # 17.1.2.2: T2 in Proceeding
                self._e_at += self._e_interval
            self.deadline = min(self._e_at, self._f_at)
        elif state is NonInviteState.COMPLETED and now >= self._k_at:
            self._terminate()
        return False

    def on_response(self, now: float, response: SipMessage) -> bool:
        """Take a response to this request; True when it goes up to the TU."""
        state = self.state
        if state is NonInviteState.TRYING or state is NonInviteState.PROCEEDING:
            if response.status < 200:
                # Timer E keeps running; once it fires in Proceeding it is reset to T2.
                self.state = NonInviteState.PROCEEDING
                return True
            self.state = NonInviteState.COMPLETED
            self._e_at = self._f_at = INF
            self._k_at = now + self._timers.k_s(self._reliable)
            self.deadline = self._k_at
            return True
        return False  # Completed absorbs retransmitted responses

    def _terminate(self) -> None:
        self.state = NonInviteState.TERMINATED
        self._e_at = self._f_at = self._k_at = INF
        self.deadline = INF


class InviteServerTransaction:
    """RFC 3261 17.2.1 with RFC 6026: created by an INVITE arriving at ``now``."""

    __slots__ = (
        "_end_at",
        "_g_at",
        "_g_interval",
        "_h_at",
        "_invite",
        "_last",
        "_outbox",
        "_reliable",
        "_timers",
        "deadline",
        "state",
    )

    def __init__(
        self,
        invite: SipMessage,
        *,
        now: float,
        outbox: Outbox,
        timers: SipTimers,
        reliable: bool,
        trying: SipMessage | None = None,
    ) -> None:
        self._invite = invite
        self._outbox = outbox
        self._timers = timers
        self._reliable = reliable
        self.state = InviteServerState.PROCEEDING
        self._last: SipMessage | None = None
        self._g_interval = timers.g_s
        self._g_at = self._h_at = self._end_at = INF
        self.deadline = INF
        if trying is not None:
            self.respond(now, trying)

    @property
    def branch(self) -> str:
        """The transaction's Via branch (the INVITE's)."""
        return self._invite.branch

    @property
    def request(self) -> SipMessage:
        """The INVITE that created the transaction."""
        return self._invite

    def respond(self, now: float, response: SipMessage) -> None:
        """Send the TU's response (ignored once a final response was sent, except a
        2xx in Accepted, which the UAS core retransmits through it)."""
        state = self.state
        if state is InviteServerState.ACCEPTED:
            if 200 <= response.status < 300:
                self._outbox.append((response, True))
            return
        if state is not InviteServerState.PROCEEDING:
            return
        self._last = response
        self._outbox.append((response, False))
        status = response.status
        if status < 200:
            return
        if status < 300:
            self.state = InviteServerState.ACCEPTED  # RFC 6026 section 7
            self._end_at = now + self._timers.l_s
            self.deadline = self._end_at
            return
        self.state = InviteServerState.COMPLETED
        if not self._reliable:  # 17.2.1: Timer G only for an unreliable transport
            self._g_at = now + self._g_interval
        self._h_at = now + self._timers.h_s
        self.deadline = min(self._g_at, self._h_at)

    def on_request(self, now: float, request: SipMessage) -> None:
        """Take a retransmitted INVITE, or the ACK of a 300-699 response."""
        state = self.state
        if request.method == "ACK":
            if state is InviteServerState.COMPLETED:
                self.state = InviteServerState.CONFIRMED
                self._g_at = self._h_at = INF
                self._end_at = now + self._timers.i_s(self._reliable)
                self.deadline = self._end_at
            return
        if self._last is not None and state in (
            InviteServerState.PROCEEDING,
            InviteServerState.COMPLETED,
        ):
            self._outbox.append((self._last, True))  # 17.2.1: resend the latest response

    def on_timer(self, now: float) -> bool:
        """Fire the timers due at ``now``; True when Timer H gave up waiting for the ACK."""
        state = self.state
        if state is InviteServerState.COMPLETED:
            if now >= self._h_at:
                self._terminate()
                return True
            if now >= self._g_at and self._last is not None:
                self._outbox.append((self._last, True))
                # 17.2.1: MIN(2*interval, T2)
                self._g_interval = min(2.0 * self._g_interval, self._timers.t2_s)
                self._g_at += self._g_interval
            self.deadline = min(self._g_at, self._h_at)
        elif now >= self._end_at:
            self._terminate()  # Timer I in Confirmed, Timer L in Accepted
        return False

    def _terminate(self) -> None:
        self.state = InviteServerState.TERMINATED
        self._g_at = self._h_at = self._end_at = INF
        self.deadline = INF


class NonInviteServerTransaction:
    """RFC 3261 17.2.2: created by a non-INVITE request arriving at ``now``."""

    __slots__ = (
        "_j_at",
        "_last",
        "_outbox",
        "_reliable",
        "_request",
        "_timers",
        "deadline",
        "state",
    )

    def __init__(
        self,
        request: SipMessage,
        *,
        now: float,
        outbox: Outbox,
        timers: SipTimers,
        reliable: bool,
    ) -> None:
        self._request = request
        self._outbox = outbox
        self._timers = timers
        self._reliable = reliable
        self.state = NonInviteState.TRYING
        self._last: SipMessage | None = None
        self._j_at = INF
        self.deadline = INF

    @property
    def branch(self) -> str:
        """The transaction's Via branch (the request's)."""
        return self._request.branch

    @property
    def request(self) -> SipMessage:
        """The request that created the transaction."""
        return self._request

    def respond(self, now: float, response: SipMessage) -> None:
        """Send the TU's response (ignored once a final response was sent)."""
        if self.state is NonInviteState.COMPLETED or self.state is NonInviteState.TERMINATED:
            return
        self._last = response
        self._outbox.append((response, False))
        if response.status < 200:
            self.state = NonInviteState.PROCEEDING
            return
        self.state = NonInviteState.COMPLETED
        self._j_at = now + self._timers.j_s(self._reliable)
        self.deadline = self._j_at

    def on_request(self, now: float, request: SipMessage) -> None:
        """Take a retransmission of the request: resend the latest response, if any."""
        state = self.state
        if self._last is not None and (
            state is NonInviteState.PROCEEDING or state is NonInviteState.COMPLETED
        ):
            self._outbox.append((self._last, True))

    def on_timer(self, now: float) -> bool:
        """Fire Timer J if due; never a timeout for the TU (returns False)."""
        if self.state is NonInviteState.COMPLETED and now >= self._j_at:
            self.state = NonInviteState.TERMINATED
            self._j_at = INF
            self.deadline = INF
        return False
