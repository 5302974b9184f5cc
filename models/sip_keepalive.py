"""RFC 5626 keep-alives between the phone and the core, sans-IO.

Over TCP and TLS the phone pings with CRLFCRLF and the core answers each ping with a
CRLF pong (RFC 5626 3.5.1, 4.4.1); over UDP the phone sends a STUN Binding request and
the core answers it with a Binding response (RFC 5626 3.5.2, 4.4.2; RFC 5389). A ping
whose pong has not arrived ``pong_timeout_s`` (10 s, RFC 5626 4.4.1; libre's
TCP_KEEPALIVE_TIMEOUT) after it was sent counts as a flow failure. A STUN request is
retransmitted while it waits, as RFC 5389 7.2.1 has UDP clients do: after RTO (500 ms),
then doubling, at most Rc = 7 requests; the 10 s deadline of the CRLF technique is
applied to it too (RFC 5389's own would be 39.5 s).

Pings go every ``interval_s``: by default libre's (baresip's SIP stack, libre 1.1.0):
29 s over UDP (src/sip/keepalive_udp.c UDP_KEEPALIVE_INTVAL) and 120 s over TCP and TLS
(src/sip/transp.c TCP_KEEPALIVE_INTVAL), the first one ``interval_s`` after the start.
With a random generator each interval is drawn between 80 % and 100 % of it (RFC 5626
4.4.1; libre's sip_keepalive_wait); without one it is the interval itself. What a
failure does to the flow (RFC 5626 4.5 recovery, a new registration) is left to the
caller; the pings go on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from voipbed.models.sip_messages import SipMessageKind, SipProfile, sip_message_sizes
from voipbed.models.sip_transaction import Outbox, SipMessage

__all__ = [
    "KeepAlive",
    "KeepAliveConfig",
    "KeepAliveCounts",
    "KeepAlivePing",
    "KeepAliveResult",
]

INF = math.inf
UDP_INTERVAL_S = 29.0  # libre src/sip/keepalive_udp.c UDP_KEEPALIVE_INTVAL
TCP_INTERVAL_S = 120.0  # libre src/sip/transp.c TCP_KEEPALIVE_INTVAL
PONG_TIMEOUT_S = 10.0  # RFC 5626 4.4.1: no pong within 10 s: the flow has failed
STUN_RTO_S = 0.5  # RFC 5389 7.2.1: initial RTO 500 ms, doubled per retransmission
STUN_MAX_REQUESTS = 7  # RFC 5389 7.2.1: Rc = 7
MIN_INTERVAL_FRACTION = 0.8  # RFC 5626 4.4.1: intervals between 80 % and 100 %


@dataclass(frozen=True)
class KeepAliveConfig:
    """Keep-alive timing; times in seconds. ``count`` None: ping until the run stops.

    ``interval_s`` None takes libre's default for the transport (29 s UDP, 120 s
    TCP/TLS); it must exceed ``pong_timeout_s`` so that one ping is out at a time
    (libre keeps its TCP interval at least twice the timeout).
    """

    interval_s: float | None = None
    pong_timeout_s: float = PONG_TIMEOUT_S
    stun_rto_s: float = STUN_RTO_S
    stun_max_requests: int = STUN_MAX_REQUESTS
    count: int | None = None

    def __post_init__(self) -> None:
        for name in ("pong_timeout_s", "stun_rto_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"{name} must be finite and > 0, got {value}")
        interval = self.interval_s
        if interval is not None and not (
            math.isfinite(interval) and interval * MIN_INTERVAL_FRACTION > self.pong_timeout_s
        ):
            raise ValueError(
                f"interval_s ({interval}) times {MIN_INTERVAL_FRACTION} must exceed"
                f" pong_timeout_s ({self.pong_timeout_s})"
            )
        if self.stun_max_requests < 1:
            raise ValueError(f"stun_max_requests must be >= 1, got {self.stun_max_requests}")
        if self.count is not None and self.count < 0:
            raise ValueError(f"count must be >= 0, got {self.count}")

    def interval_for(self, reliable: bool) -> float:
        """The ping interval on this transport."""
        if self.interval_s is not None:
            return self.interval_s
        return TCP_INTERVAL_S if reliable else UDP_INTERVAL_S


@dataclass(frozen=True, slots=True)
class KeepAlivePing:
    """One ping: when it was sent, when its pong arrived (None: the flow failed)."""

    sent_s: float
    pong_s: float | None


class KeepAliveCounts(NamedTuple):
    """``KeepAliveResult``'s pings counted: ``pings`` answered or failed, ``failures``."""

    pings: int
    failures: int


@dataclass(frozen=True)
class KeepAliveResult:
    """Every ping of a run (those still waiting for their pong are left out)."""

    pings: tuple[KeepAlivePing, ...]

    @property
    def failures(self) -> int:
        """Pings without a pong within the timeout."""
        return sum(ping.pong_s is None for ping in self.pings)


class _Pinger:
    """The phone's side: pings, waits for pongs, counts failures."""

    __slots__ = (
        "_config",
        "_deadline",
        "_interval",
        "_label",
        "_next_at",
        "_pings",
        "_pong_deadline",
        "_prefix",
        "_reliable",
        "_requests",
        "_resend_at",
        "_rng",
        "_rto",
        "_sent",
        "_size",
        "_waiting",
        "_waiting_since",
        "failures",
        "outbox",
    )

    def __init__(
        self,
        config: KeepAliveConfig,
        sizes: Mapping[SipMessageKind, int],
        reliable: bool,
        rng: np.random.Generator | None,
        prefix: str,
    ) -> None:
        self.outbox: Outbox = []
        self._config = config
        self._reliable = reliable
        self._rng = rng
        self._prefix = prefix
        self._interval = config.interval_for(reliable)
        kind = SipMessageKind.CRLF_PING if reliable else SipMessageKind.STUN_REQUEST
        self._size = sizes[kind]
        self._label = "CRLFCRLF" if reliable else "STUN"
        self._sent = 0
        self._next_at = INF
        self._waiting: SipMessage | None = None
        self._waiting_since = math.nan
        self._pong_deadline = INF
        self._resend_at = INF
        self._deadline = INF  # the earliest of _next_at, _pong_deadline and _resend_at
        self._rto = config.stun_rto_s
        self._requests = 0
        self._pings: list[tuple[float, float | None]] = []  # (sent, pong arrived or None)
        self.failures = 0

    @property
    def pings(self) -> tuple[KeepAlivePing, ...]:
        """Every ping answered or failed so far."""
        return tuple(KeepAlivePing(sent_s, pong_s) for sent_s, pong_s in self._pings)

    def counts(self) -> KeepAliveCounts:
        """``pings`` counted."""
        return KeepAliveCounts(len(self._pings), self.failures)

    def start(self, now: float) -> None:
        self._schedule(now)
        self._deadline = self._next_at

    def deadline(self) -> float:
        return self._deadline

    def on_timer(self, now: float) -> None:
        if now >= self._pong_deadline:
            self._pings.append((self._waiting_since, None))
            self.failures += 1
            self._stop_waiting()
        if now >= self._resend_at and self._waiting is not None:
            self.outbox.append((self._waiting, True))
            self._requests += 1
            self._rto *= 2.0  # RFC 5389 7.2.1
            more = self._requests < self._config.stun_max_requests
            self._resend_at = now + self._rto if more else INF
        if now >= self._next_at:
            self._ping(now)
        self._deadline = min(self._next_at, self._pong_deadline, self._resend_at)

    def on_message(self, now: float, message: SipMessage) -> None:
        waiting = self._waiting
        if waiting is None or (not self._reliable and message.branch != waiting.branch):
            return
        self._pings.append((self._waiting_since, now))
        self._stop_waiting()
        self._deadline = self._next_at

    def _ping(self, now: float) -> None:
        self._sent += 1
        branch = "" if self._reliable else f"{self._prefix}{self._sent}"  # STUN transaction id
        ping = SipMessage(self._label, self._label, 0, 0, branch, self._size)
        self.outbox.append((ping, False))
        self._waiting = ping
        self._waiting_since = now
        self._pong_deadline = now + self._config.pong_timeout_s
        if not self._reliable:
            self._rto = self._config.stun_rto_s
            self._requests = 1
            self._resend_at = now + self._rto
        self._schedule(now)

    def _schedule(self, now: float) -> None:
        count = self._config.count
        if count is not None and self._sent >= count:
            self._next_at = INF
            return
        factor = 1.0 if self._rng is None else float(self._rng.uniform(MIN_INTERVAL_FRACTION, 1.0))
        self._next_at = now + self._interval * factor

    def _stop_waiting(self) -> None:
        self._waiting = None
        self._pong_deadline = self._resend_at = INF


class _Ponger:
    """The core's side: answers every ping at once."""

    __slots__ = ("_label", "_size", "outbox")

    def __init__(self, sizes: Mapping[SipMessageKind, int], reliable: bool) -> None:
        self.outbox: Outbox = []
        kind = SipMessageKind.CRLF_PONG if reliable else SipMessageKind.STUN_RESPONSE
        self._size = sizes[kind]
        self._label = "CRLF" if reliable else "STUN 200"

    def deadline(self) -> float:
        return INF

    def on_timer(self, now: float) -> None:
        return None

    def on_message(self, now: float, message: SipMessage) -> None:
        pong = SipMessage(self._label, message.method, 200, 0, message.branch, self._size)
        self.outbox.append((pong, False))


class KeepAlive:
    """RFC 5626 keep-alives: CRLF over TCP/TLS (``reliable``), STUN over UDP."""

    def __init__(
        self,
        config: KeepAliveConfig | None = None,
        *,
        sizes: Mapping[SipMessageKind, int] | None = None,
        reliable: bool = False,
        rng: np.random.Generator | None = None,
        prefix: str = "ka",
    ) -> None:
        config = config or KeepAliveConfig()
        sizes = sizes if sizes is not None else sip_message_sizes(SipProfile())
        self._pinger = _Pinger(config, sizes, reliable, rng, prefix)
        self._ponger = _Ponger(sizes, reliable)

    @property
    def phone(self) -> _Pinger:
        """The pinging phone."""
        return self._pinger

    @property
    def core(self) -> _Ponger:
        """The answering core (proxy or edge)."""
        return self._ponger

    def start(self, now: float) -> None:
        """Schedule the first ping one interval after ``now``."""
        self._pinger.start(now)

    def result(self) -> KeepAliveResult:
        """Every ping answered or failed so far."""
        return KeepAliveResult(self._pinger.pings)

    def counts(self) -> KeepAliveCounts:
        """How many pings were answered or failed so far, and how many of them failed."""
        return self._pinger.counts()
