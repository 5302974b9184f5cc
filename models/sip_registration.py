"""Registration with a digest challenge and its refreshes, sans-IO, on non-INVITE transactions.

The phone sends REGISTER (a non-INVITE client transaction: Timer E retransmissions
over UDP, Timer F timeout); the registrar challenges it with 401 and a digest nonce
(RFC 3261 22.4; 10.3 for the registrar); the phone sends REGISTER again with an
Authorization header, in a new transaction with the next CSeq; the registrar answers
200 with the granted expiry, ``min(expires_s, max_expires_s)`` (RFC 3261 10.2.1.1 and
10.3 step 7 let it shorten the lifetime).

The refresh is baresip's, from libre's registration client (src/sipreg/reg.c, libre
1.1.0 as baresip 1.0.0 uses it): the next REGISTER goes out ``refresh_fraction`` of the
granted expiry after the 200 arrived (``rwait``, 90 % unless the account sets 5-95 %),
with the credentials it already holds. The registrar accepts them while its nonce is
fresh and challenges again (a stale nonce) once ``nonce_lifetime_s`` has passed since it
issued it (Kamailio's auth module: ``nonce_expire``, 300 s by default), so with the
defaults every hourly refresh is REGISTER, 401, REGISTER, 200 again. A registration that
fails (Timer F, or a final response other than 2xx and a first 401) is retried after
libre's ``failwait``: min(1800, 30 * 2**min(failures, 6)) s times a factor drawn in [0.5,
1.0] (its midpoint, 0.75, without a random generator).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from voipbed.models.sip_messages import SipMessageKind, SipProfile, sip_message_sizes
from voipbed.models.sip_timers import SipTimers
from voipbed.models.sip_transaction import (
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    Outbox,
    SipMessage,
)

__all__ = ["Registration", "RegistrationAttempt", "RegistrationConfig", "RegistrationResult"]

INF = math.inf
FAILWAIT_BASE_S = 30.0  # libre src/sipreg/reg.c failwait: 30 * 2**min(failc, 6) s
FAILWAIT_MAX_S = 1800.0  # libre failwait: at most 1800 s
FAILWAIT_MAX_DOUBLINGS = 6


@dataclass(frozen=True)
class RegistrationConfig:
    """Registration lifetimes and the registrar's behaviour; times in seconds.

    - ``expires_s`` 3600: the lifetime asked for (baresip src/account.c REG_INTERVAL;
      baresip adds 0-255 s at random, left out here).
    - ``refresh_fraction`` 0.9: refresh after this fraction of the granted expiry (libre
      ``rwait`` = 90).
    - ``max_expires_s`` 3600: the registrar's cap (Kamailio registrar ``max_expires``,
      as emulation/stacks/kamailio.py sets it).
    - ``challenge`` True: the registrar asks for digest credentials.
    - ``nonce_lifetime_s`` 300: how long a nonce is accepted (Kamailio auth
      ``nonce_expire`` default).
    - ``registrar_delay_s`` 0: the registrar's processing time before it answers.
    - ``max_registrations`` None: stop refreshing after this many successful
      registrations (None: refresh until the run stops).
    """

    expires_s: float = 3600.0
    refresh_fraction: float = 0.9
    max_expires_s: float = 3600.0
    challenge: bool = True
    nonce_lifetime_s: float = 300.0
    registrar_delay_s: float = 0.0
    max_registrations: int | None = None

    def __post_init__(self) -> None:
        for name in ("expires_s", "max_expires_s", "nonce_lifetime_s", "registrar_delay_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be finite and >= 0, got {value}")
        if not 0.0 < self.refresh_fraction <= 1.0:
            raise ValueError(f"refresh_fraction must be in (0, 1], got {self.refresh_fraction}")
        if min(self.expires_s, self.max_expires_s) <= 0.0 and self.max_registrations != 1:
            raise ValueError("a zero expiry cannot be refreshed: set max_registrations=1")
        if self.max_registrations is not None and self.max_registrations < 1:
            raise ValueError(f"max_registrations must be >= 1, got {self.max_registrations}")

    @property
    def granted_s(self) -> float:
        """The expiry the registrar grants."""
        return min(self.expires_s, self.max_expires_s)


@dataclass(frozen=True, slots=True)
class RegistrationAttempt:
    """One registration: from its first REGISTER to its 200 or its failure."""

    started_s: float
    ended_s: float
    success: bool
    challenged: bool
    final_status: int | None  # None: the transaction timed out


@dataclass(frozen=True)
class RegistrationResult:
    """The registrations of a run, and until when the registrar holds the binding."""

    attempts: tuple[RegistrationAttempt, ...]
    bound_until_s: float | None

    @property
    def successes(self) -> int:
        """How many registrations succeeded."""
        return sum(attempt.success for attempt in self.attempts)

    @property
    def failures(self) -> int:
        """How many registrations failed."""
        return len(self.attempts) - self.successes


class _Client:
    """The phone's registration client."""

    def __init__(
        self,
        config: RegistrationConfig,
        sizes: Mapping[SipMessageKind, int],
        timers: SipTimers,
        reliable: bool,
        rng: np.random.Generator | None,
        prefix: str,
    ) -> None:
        self.outbox: Outbox = []
        self._config = config
        self._size_plain = sizes[SipMessageKind.REGISTER]
        self._size_auth = sizes[SipMessageKind.REGISTER_AUTH]
        self._timers = timers
        self._reliable = reliable
        self._rng = rng
        self._prefix = prefix
        self._tx: NonInviteClientTransaction | None = None
        self._cseq = 0
        self._credentials = False
        self._next_at = INF
        self._started_s = math.nan
        self._challenged = False
        self._failures = 0
        self._successes = 0
        self.attempts: list[RegistrationAttempt] = []

    def start(self, now: float) -> None:
        self._begin(now)

    def deadline(self) -> float:
        tx = self._tx
        return self._next_at if tx is None else min(tx.deadline, self._next_at)

    def on_timer(self, now: float) -> None:
        tx = self._tx
        if tx is not None and tx.deadline <= now and tx.on_timer(now):
            self._end(now, None)
        if now >= self._next_at:
            self._begin(now)

    def on_message(self, now: float, message: SipMessage) -> None:
        tx = self._tx
        if tx is None or message.branch != tx.branch or not tx.on_response(now, message):
            return
        status = message.status
        if status < 200:
            return
        if status == 401 and not self._challenged:
            self._challenged = True
            self._credentials = True
            self._send(now)
        else:
            self._end(now, status)

    def _begin(self, now: float) -> None:
        self._next_at = INF
        self._started_s = now
        self._challenged = False
        self._send(now)

    def _send(self, now: float) -> None:
        self._cseq += 1
        auth = self._credentials
        size = self._size_auth if auth else self._size_plain
        branch = f"{self._prefix}{self._cseq}"
        request = SipMessage("REGISTER", "REGISTER", 0, self._cseq, branch, size, auth)
        self._tx = NonInviteClientTransaction(
            request, now=now, outbox=self.outbox, timers=self._timers, reliable=self._reliable
        )

    def _end(self, now: float, status: int | None) -> None:
        success = status is not None and 200 <= status < 300
        attempt = RegistrationAttempt(self._started_s, now, success, self._challenged, status)
        self.attempts.append(attempt)
        config = self._config
        if success:
            self._failures = 0
            self._successes += 1
            limit = config.max_registrations
            done = limit is not None and self._successes >= limit
            self._next_at = INF if done else now + config.refresh_fraction * config.granted_s
        else:
            self._failures += 1
            self._next_at = now + self._failwait()

    def _failwait(self) -> float:
        doublings = min(self._failures, FAILWAIT_MAX_DOUBLINGS)
        base = min(FAILWAIT_MAX_S, FAILWAIT_BASE_S * 2.0**doublings)
        factor = 0.75 if self._rng is None else float(self._rng.uniform(0.5, 1.0))
        return base * factor


class _Registrar:
    """The core's registrar (with digest authentication)."""

    def __init__(
        self,
        config: RegistrationConfig,
        sizes: Mapping[SipMessageKind, int],
        timers: SipTimers,
        reliable: bool,
    ) -> None:
        self.outbox: Outbox = []
        self._config = config
        self._size_401 = sizes[SipMessageKind.UNAUTHORIZED]
        self._size_200 = sizes[SipMessageKind.OK_REGISTER]
        self._timers = timers
        self._reliable = reliable
        self._current: NonInviteServerTransaction | None = None
        self._previous: NonInviteServerTransaction | None = None
        self._pending: list[tuple[float, NonInviteServerTransaction]] = []
        self._nonce_issued_s = -INF
        self.bound_until_s: float | None = None

    def deadline(self) -> float:
        at = self._pending[0][0] if self._pending else INF
        for tx in (self._current, self._previous):
            if tx is not None and tx.deadline < at:
                at = tx.deadline
        return at

    def on_timer(self, now: float) -> None:
        pending = self._pending
        while pending and pending[0][0] <= now:
            self._answer(now, pending.pop(0)[1])
        for tx in (self._current, self._previous):
            if tx is not None and tx.deadline <= now:
                tx.on_timer(now)

    def on_message(self, now: float, message: SipMessage) -> None:
        if message.method != "REGISTER":
            return
        for tx in (self._current, self._previous):
            if tx is not None and tx.branch == message.branch:
                tx.on_request(now, message)
                return
        tx = NonInviteServerTransaction(
            message, now=now, outbox=self.outbox, timers=self._timers, reliable=self._reliable
        )
        self._previous, self._current = self._current, tx
        if self._config.registrar_delay_s > 0.0:
            self._pending.append((now + self._config.registrar_delay_s, tx))
        else:
            self._answer(now, tx)

    def _answer(self, now: float, tx: NonInviteServerTransaction) -> None:
        request = tx.request
        config = self._config
        stale = now - self._nonce_issued_s > config.nonce_lifetime_s
        if config.challenge and (not request.authorization or stale):
            self._nonce_issued_s = now
            tx.respond(now, _reply(request, 401, self._size_401))
            return
        self.bound_until_s = now + config.granted_s
        tx.respond(now, _reply(request, 200, self._size_200))


def _reply(request: SipMessage, status: int, size: int) -> SipMessage:
    return SipMessage(str(status), request.method, status, request.cseq, request.branch, size)


class Registration:
    """The phone registers, answers the challenge, and refreshes before expiry."""

    def __init__(
        self,
        config: RegistrationConfig | None = None,
        *,
        sizes: Mapping[SipMessageKind, int] | None = None,
        timers: SipTimers | None = None,
        reliable: bool = False,
        rng: np.random.Generator | None = None,
        prefix: str = "reg",
    ) -> None:
        config = config or RegistrationConfig()
        sizes = sizes if sizes is not None else sip_message_sizes(SipProfile())
        timers = timers or SipTimers()
        self._client = _Client(config, sizes, timers, reliable, rng, prefix)
        self._registrar = _Registrar(config, sizes, timers, reliable)

    @property
    def phone(self) -> _Client:
        """The phone's registration client."""
        return self._client

    @property
    def core(self) -> _Registrar:
        """The registrar."""
        return self._registrar

    def start(self, now: float) -> None:
        """Send the first REGISTER at ``now``."""
        self._client.start(now)

    def result(self) -> RegistrationResult:
        """Every registration so far and the binding's expiry at the registrar."""
        return RegistrationResult(tuple(self._client.attempts), self._registrar.bound_until_s)
