"""Locating a SIP server (RFC 3263) and connecting to it with Happy Eyeballs (RFC 8305).

:func:`locate_sip_server` follows RFC 3263 section 4 for a SIP domain: a NAPTR query
picks the transport (the lowest order, then preference, among the services the client
supports); its replacement is queried for SRV; without NAPTR records the client queries
SRV for its transports in its own order (``_sips._tcp``, ``_sip._tcp``, ``_sip._udp``)
and takes the first that exists; without SRV records it uses the domain itself on the
transport's default port (UDP for a SIP URI when the client has it, TLS for SIPS, RFC 3263
section 4.1). The SRV target with the lowest priority (then the highest weight) is
resolved to addresses and connected to. :func:`connect_host` does the last step alone.

Each query is a UDP exchange over a :class:`MessageChannel` (query ``UPLINK`` to the
recursive resolver, answer ``DOWNLINK``), sized by :mod:`voipbed.models.dns_records` plus
UDP and IP headers. The stub resolver waits ``timeout_s`` for an answer, then sends again,
``attempts`` times per name server (glibc ``res_send``: RES_TIMEOUT 5 s, RES_DFLRETRY 2,
resolv.conf(5) ``options timeout:5 attempts:2``; Android's DnsResolver has the same
defaults, RES_TIMEOUT 5000 ms and RES_DFLRETRY 2 in resolv_private.h, which the network's
ResolverParamsParcel may override). With several name servers both take them in turn and
wait timeout * 2^i / n for server i > 0 (glibc ``send_dg``, Android ``get_timeout``; both
floor it at 1 s, which is not applied here). An answer to any copy of the query is
taken. A fresh answer in the :class:`~voipbed.models.dns_records.DnsCache` costs no round
trip; answers are cached for their TTL, negative ones for the zone's negative TTL.

Happy Eyeballs v2 (RFC 8305): with both families the AAAA query goes first and the A query
right after it (section 3). A positive AAAA answer starts the connection attempts at
once; an A answer first waits up to the Resolution Delay (50 ms, section 3) for the AAAA
answer. Addresses are sorted IPv6 first and the families interleaved (section 4, First
Address Family Count 1); attempts start one Connection Attempt Delay apart (250 ms,
section 5) or as soon as the previous one fails; addresses that arrive late join the
list. The first attempt to connect wins and the others are aborted (section 5). Answers
already on their way then are still carried (after the attempts' traffic up to that
moment) and cached; no query is sent again. What
"connect" means is the ``connector``'s: a :class:`~voipbed.models.tcp_conn.TcpConnection`
handshake, or :func:`udp_connector` (UDP has nothing to set up: ready at once).

The :class:`LookupOutcome` gives the family that won, the time spent in DNS (until the
first connection attempt starts) and connecting (from there to the winner's connection),
and every DNS message, query and connection attempt.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from voipbed.models.dns_records import (
    DnsCache,
    DnsZone,
    Naptr,
    RecordSet,
    RecordType,
    SipTransport,
    Srv,
    query_bytes,
    response_bytes,
)
from voipbed.models.message_channel import DOWNLINK, UPLINK, MessageChannel
from voipbed.models.overhead import UDP_HEADER_BYTES, IpVersion

__all__ = [
    "Address",
    "AttemptRecord",
    "ConnectAttempt",
    "Connectionless",
    "Connector",
    "DnsMessage",
    "Families",
    "HappyEyeballsConfig",
    "LookupOutcome",
    "QueryRecord",
    "ResolverConfig",
    "SipServerLookup",
    "connect_host",
    "locate_sip_server",
    "udp_connector",
]


class Families(StrEnum):
    """The address families the phone has."""

    DUAL = "dual"
    IPV4 = "ipv4"
    IPV6 = "ipv6"


@dataclass(frozen=True)
class ResolverConfig:
    """The stub resolver; the source of each default is in its comment."""

    timeout_s: float = 5.0  # glibc and Android RES_TIMEOUT
    attempts: int = 2  # glibc and Android RES_DFLRETRY
    nameservers: int = 1
    ip_version: IpVersion = IpVersion.V4  # the family the resolver is reached over
    edns0: bool = False  # glibc adds OPT only with "options edns0"
    server_delay_s: float = 0.0  # the recursive resolver's time to answer (0: cached there)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.timeout_s) and self.timeout_s > 0):
            raise ValueError(f"timeout_s must be finite and > 0, got {self.timeout_s}")
        if self.attempts < 1 or self.nameservers < 1:
            raise ValueError("attempts and nameservers must be >= 1")
        if not (math.isfinite(self.server_delay_s) and self.server_delay_s >= 0):
            raise ValueError(f"server_delay_s must be finite and >= 0, got {self.server_delay_s}")

    def timeout_for(self, server: int) -> float:
        """Seconds to wait for name server ``server`` (glibc send_dg, Android get_timeout)."""
        if server == 0:
            return self.timeout_s
        return self.timeout_s * (1 << server) / self.nameservers


@dataclass(frozen=True)
class HappyEyeballsConfig:
    """RFC 8305 settings; the source of each default is in its comment."""

    families: Families = Families.DUAL
    resolution_delay_s: float = 0.05  # RFC 8305 section 3
    connection_attempt_delay_s: float = 0.25  # RFC 8305 section 5 (at least 10 ms)
    prefer_ipv6: bool = True  # RFC 8305 section 4, RFC 6724 default policy
    first_address_family_count: int = 1  # RFC 8305 section 4

    def __post_init__(self) -> None:
        if not 0 <= self.resolution_delay_s < math.inf:
            raise ValueError(f"resolution_delay_s must be >= 0, got {self.resolution_delay_s}")
        if not 0.01 <= self.connection_attempt_delay_s < math.inf:
            raise ValueError("connection_attempt_delay_s must be >= 10 ms (RFC 8305 section 5)")
        if self.first_address_family_count < 1:
            raise ValueError("first_address_family_count must be >= 1")


@dataclass(frozen=True)
class Address:
    """A server address to connect to."""

    family: IpVersion
    address: str
    port: int


class ConnectAttempt(Protocol):
    """A connection attempt the lookup can step in time with its DNS traffic."""

    @property
    def next_event_s(self) -> float | None:
        """Its next event, None when it has nothing left to do."""
        ...

    @property
    def connected_at_s(self) -> float | None:
        """When it connected, None until then."""
        ...

    @property
    def failed_at_s(self) -> float | None:
        """When it gave up, None until then."""
        ...

    def run(self, until_s: float = math.inf) -> None:
        """Process its events up to and including ``until_s``."""
        ...

    def abort(self, at_s: float) -> None:
        """Stop it at ``at_s`` (another attempt won)."""
        ...


Connector = Callable[[Address, SipTransport, float], ConnectAttempt]


class Connectionless:
    """UDP's "connection": nothing to set up, ready when started."""

    def __init__(self, at_s: float) -> None:
        self.connected_at_s: float | None = at_s
        self.failed_at_s: float | None = None
        self.next_event_s: float | None = None

    def run(self, until_s: float = math.inf) -> None:
        """Nothing to do."""

    def abort(self, at_s: float) -> None:
        """Nothing to stop."""


def udp_connector(address: Address, transport: SipTransport, at_s: float) -> Connectionless:
    """A connector for UDP: ready at once."""
    return Connectionless(at_s)


@dataclass(frozen=True, slots=True)
class DnsMessage:
    """One DNS query or answer on the channel."""

    sent_at_s: float
    direction: int  # UPLINK: query
    name: str
    rtype: RecordType
    size_bytes: int  # IP packet
    arrival_s: float | None  # None: lost
    try_number: int  # 0 for the first copy of the query


@dataclass(frozen=True, slots=True)
class QueryRecord:
    """One name lookup: from the cache or the network."""

    name: str
    rtype: RecordType
    started_at_s: float
    answered_at_s: float | None  # None: no answer after every try
    tries: int  # queries sent; 0 when cached
    cached: bool
    positive: bool


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One connection attempt."""

    address: Address
    started_at_s: float
    connected_at_s: float | None
    failed_at_s: float | None
    aborted: bool  # another attempt won first


@dataclass(frozen=True)
class LookupOutcome:
    """Where the client connected, how long DNS and connecting took, and what was sent."""

    started_at_s: float
    transport: SipTransport | None
    target: str | None
    port: int | None
    dns_done_at_s: float | None  # the first connection attempt's start
    connected_at_s: float | None  # None: no attempt connected
    address: Address | None
    connection: ConnectAttempt | None  # the winner, to carry on with
    queries: tuple[QueryRecord, ...]
    messages: tuple[DnsMessage, ...]
    attempts: tuple[AttemptRecord, ...]
    failed_at_s: float | None

    @property
    def succeeded(self) -> bool:
        """True when a connection was made."""
        return self.connected_at_s is not None

    @property
    def family(self) -> IpVersion | None:
        """The family of the winning address."""
        return None if self.address is None else self.address.family

    @property
    def dns_s(self) -> float | None:
        """Time in DNS: from the start to the first connection attempt."""
        return None if self.dns_done_at_s is None else self.dns_done_at_s - self.started_at_s

    @property
    def connect_s(self) -> float | None:
        """Time connecting: from the first attempt to the winner's connection."""
        if self.connected_at_s is None or self.dns_done_at_s is None:
            return None
        return self.connected_at_s - self.dns_done_at_s


class _Query:
    __slots__ = ("done", "name", "on_done", "rtype", "sent", "started")

    def __init__(self, name: str, rtype: RecordType, started: float, on_done: _Answered) -> None:
        self.name = name
        self.rtype = rtype
        self.started = started
        self.on_done = on_done
        self.sent = 0
        self.done = False


_Answered = Callable[[float, RecordSet | None], None]


class _Lookup:
    """The event loop: DNS exchanges, Happy Eyeballs timers, connection attempts."""

    def __init__(
        self,
        channel: MessageChannel,
        zone: DnsZone,
        connector: Connector,
        cache: DnsCache | None,
        resolver: ResolverConfig,
        eyeballs: HappyEyeballsConfig,
        started_at: float,
    ) -> None:
        self.channel = channel
        self.zone = zone
        self.connector = connector
        self.cache = cache if cache is not None else DnsCache()
        self.resolver = resolver
        self.eyeballs = eyeballs
        self.started_at = started_at
        self._now = started_at
        self._finished = False
        self._heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._order = 0
        self._headers = UDP_HEADER_BYTES + resolver.ip_version.header_bytes
        self.queries: list[QueryRecord] = []
        self.messages: list[DnsMessage] = []
        self.transport: SipTransport | None = None
        self.target: str | None = None
        self.port: int | None = None
        self.transports: tuple[SipTransport, ...] = ()
        self._transport = SipTransport.UDP
        self._port = 0
        # Happy Eyeballs
        self._v6: list[Address] | None = None
        self._v4: list[Address] | None = None
        self._connecting = False
        self._candidates: list[Address] = []
        self._tried: set[Address] = set()
        self._active: list[tuple[Address, float, ConnectAttempt]] = []
        self._finished_attempts: list[AttemptRecord] = []
        self._timer_token = 0
        self._timer_pending = False
        self.dns_done_at: float | None = None
        self.winner: tuple[Address, ConnectAttempt] | None = None
        self.connected_at: float | None = None
        self.failed_at: float | None = None

    # --- loop --------------------------------------------------------------------------

    def at(self, time: float, action: Callable[..., None], *args: Any) -> None:
        self._order += 1
        heapq.heappush(self._heap, (time, self._order, action, args))

    def run(self) -> None:
        while self.next_event_s() < math.inf:
            self.step()

    @property
    def done(self) -> bool:
        """Whether a connection won or every way failed."""
        return self.connected_at is not None or self.failed_at is not None

    def next_event_s(self) -> float:
        """When the next event is due: infinity when nothing is left, answers still on
        their way after the lookup is done included."""
        next_heap = self._heap[0][0] if self._heap else math.inf
        if self.done:
            return next_heap
        attempt = self._next_attempt_event()[0]
        return min(attempt, next_heap) if self._heap or attempt < math.inf else self._now

    def step(self) -> None:
        """Take the next event: a connection attempt's, the loop's own, or (with nothing
        left that could connect) the failure; once done, an answer still on its way."""
        if self.done:
            time, _, action, args = heapq.heappop(self._heap)
            if action == self._serve or action == self._answered:
                action(time, *args)  # answers already on their way are carried and cached
            return
        next_heap = self._heap[0][0] if self._heap else math.inf
        next_attempt, attempt = self._next_attempt_event()
        if attempt is not None and next_attempt <= next_heap:
            self._now = next_attempt
            attempt.run(next_attempt)
            self._check_attempts(next_attempt)
        elif self._heap:
            time, _, action, args = heapq.heappop(self._heap)
            self._now = time
            action(time, *args)
        else:
            self._fail(self._now)  # nothing left that could connect
        if self.done:
            self._close_attempts()

    def _next_attempt_event(self) -> tuple[float, ConnectAttempt | None]:
        attempt: ConnectAttempt | None = None
        next_attempt = math.inf
        for _, _, candidate in self._active:
            when = candidate.next_event_s
            if when is not None and when < next_attempt:
                next_attempt, attempt = when, candidate
        return next_attempt, attempt

    def _close_attempts(self) -> None:
        self._finished = True
        for address, started, attempt in self._active:
            aborted = attempt.connected_at_s is None and attempt.failed_at_s is None
            if aborted:
                attempt.abort(self.connected_at if self.connected_at is not None else started)
            self._finished_attempts.append(
                AttemptRecord(
                    address,
                    started,
                    attempt.connected_at_s if not aborted else None,
                    attempt.failed_at_s if not aborted else None,
                    aborted,
                )
            )
        self._active = []

    def _fail(self, time: float) -> None:
        if self.failed_at is None and self.connected_at is None:
            self.failed_at = time

    # --- queries -----------------------------------------------------------------------

    def query(self, time: float, name: str, rtype: RecordType, on_done: _Answered) -> None:
        hit, answer = self.cache.get(name, rtype, time)
        if hit:
            self.queries.append(QueryRecord(name, rtype, time, time, 0, True, answer is not None))
            self.at(time, lambda t: on_done(t, answer))
            return
        self._send(time, _Query(name, rtype, time, on_done))

    def _send(self, time: float, query: _Query) -> None:
        try_number = query.sent
        query.sent += 1
        size = query_bytes(query.name, edns0=self.resolver.edns0) + self._headers
        arrival = self.channel.carry(time, size, UPLINK)
        self.messages.append(
            DnsMessage(time, UPLINK, query.name, query.rtype, size, arrival, try_number)
        )
        if arrival is not None:
            self.at(arrival + self.resolver.server_delay_s, self._serve, query, try_number)
        server = try_number % self.resolver.nameservers
        self.at(time + self.resolver.timeout_for(server), self._timeout, query, try_number)

    def _serve(self, time: float, query: _Query, try_number: int) -> None:
        answer = self.zone.answer(query.name, query.rtype)
        size = response_bytes(query.name, answer, edns0=self.resolver.edns0) + self._headers
        arrival = self.channel.carry(time, size, DOWNLINK)
        self.messages.append(
            DnsMessage(time, DOWNLINK, query.name, query.rtype, size, arrival, try_number)
        )
        if arrival is not None:
            self.at(arrival, self._answered, query, answer)

    def _answered(self, time: float, query: _Query, answer: RecordSet | None) -> None:
        if query.done:
            return
        query.done = True
        ttl = answer.ttl_s if answer is not None else self.zone.negative_ttl_s
        self.cache.put(query.name, query.rtype, answer, time, ttl)
        self.queries.append(
            QueryRecord(
                query.name, query.rtype, query.started, time, query.sent, False, answer is not None
            )
        )
        if not self._finished:
            query.on_done(time, answer)

    def _timeout(self, time: float, query: _Query, try_number: int) -> None:
        if query.done or try_number != query.sent - 1:
            return
        if query.sent < self.resolver.attempts * self.resolver.nameservers:
            self._send(time, query)
            return
        query.done = True
        self.queries.append(
            QueryRecord(query.name, query.rtype, query.started, None, query.sent, False, False)
        )
        query.on_done(time, None)

    # --- RFC 3263 ----------------------------------------------------------------------

    def locate(self, domain: str, transports: tuple[SipTransport, ...], sips: bool) -> None:
        self.transports = tuple(t for t in transports if t is SipTransport.TLS or not sips)
        if not self.transports:
            raise ValueError("a SIPS URI needs the TLS transport")
        self.at(
            self.started_at,
            lambda t: self.query(
                t, domain, RecordType.NAPTR, lambda u, a: self._naptr(u, a, domain)
            ),
        )

    def _naptr(self, time: float, answer: RecordSet | None, domain: str) -> None:
        by_service = {t.naptr_service: t for t in self.transports}
        usable = sorted(
            (
                r
                for r in (answer.records if answer is not None else ())
                if isinstance(r, Naptr) and r.service.upper() in by_service
            ),
            key=lambda r: (r.order, r.preference),
        )
        if usable:
            chosen = usable[0]
            transport = by_service[chosen.service.upper()]
            self.query(
                time,
                chosen.replacement,
                RecordType.SRV,
                lambda t, a: self._srv(t, a, transport, domain, None),
            )
            return
        self._srv_fallback(time, domain, 0)

    def _srv_fallback(self, time: float, domain: str, index: int) -> None:
        transport = self.transports[index]
        self.query(
            time,
            f"{transport.srv_prefix}.{domain}",
            RecordType.SRV,
            lambda t, a: self._srv(t, a, transport, domain, index),
        )

    def _srv(
        self,
        time: float,
        answer: RecordSet | None,
        transport: SipTransport,
        domain: str,
        fallback_index: int | None,
    ) -> None:
        records = [r for r in (answer.records if answer is not None else ()) if isinstance(r, Srv)]
        if records:
            best = min(records, key=lambda r: (r.priority, -r.weight))
            self.resolve(time, best.target, best.port, transport)
            return
        if fallback_index is not None and fallback_index + 1 < len(self.transports):
            self._srv_fallback(time, domain, fallback_index + 1)
            return
        if fallback_index is not None:  # no NAPTR and no SRV: RFC 3263 section 4.1
            if SipTransport.UDP in self.transports:
                transport = SipTransport.UDP
            else:
                transport = self.transports[0]
        self.resolve(time, domain, transport.default_port, transport)

    # --- Happy Eyeballs ----------------------------------------------------------------

    def resolve(self, time: float, host: str, port: int, transport: SipTransport) -> None:
        self.transport, self.target, self.port = transport, host, port
        self._transport, self._port = transport, port
        families = self.eyeballs.families
        if families is Families.IPV4:
            self._v6 = []
        else:
            self.query(time, host, RecordType.AAAA, lambda t, a: self._addresses(t, a, True))
        if families is Families.IPV6:
            self._v4 = []
        else:
            self.query(time, host, RecordType.A, lambda t, a: self._addresses(t, a, False))

    def _addresses(self, time: float, answer: RecordSet | None, v6: bool) -> None:
        family = IpVersion.V6 if v6 else IpVersion.V4
        found = [
            Address(family, r, self._port)
            for r in (answer.records if answer is not None else ())
            if isinstance(r, str)
        ]
        if v6:
            self._v6 = found
        else:
            self._v4 = found
        if self._connecting:
            self._candidates = self._sorted(self._candidates + found)
            if not self._timer_pending:
                self._next_attempt(time)
            return
        if self._v6:
            self._start(time)
        elif self._v4 and self._v6 is None:
            self.at(time + self.eyeballs.resolution_delay_s, self._resolution_delay_over)
        elif self._v6 is not None and self._v4 is not None:
            if self._v4:
                self._start(time)
            else:
                self._fail(time)

    def _resolution_delay_over(self, time: float) -> None:
        if not self._connecting and self._v4:
            self._start(time)

    def _sorted(self, addresses: list[Address]) -> list[Address]:
        v6 = [a for a in addresses if a.family is IpVersion.V6]
        v4 = [a for a in addresses if a.family is IpVersion.V4]
        first, second = (v6, v4) if self.eyeballs.prefer_ipv6 else (v4, v6)
        if not first:
            first, second = second, first
        count = self.eyeballs.first_address_family_count
        ordered = first[:count]
        rest_first, rest_second = first[count:], second
        while rest_first or rest_second:
            if rest_second:
                ordered.append(rest_second.pop(0))
            if rest_first:
                ordered.append(rest_first.pop(0))
        return ordered

    def _start(self, time: float) -> None:
        self._connecting = True
        self.dns_done_at = time
        self._candidates = self._sorted((self._v6 or []) + (self._v4 or []))
        self._next_attempt(time)

    def _next_attempt(self, time: float) -> None:
        """Start the next candidate now (an attempt that fails at once makes way at once)."""
        while True:
            while self._candidates and self._candidates[0] in self._tried:
                self._candidates.pop(0)
            if not self._candidates:
                self._timer_pending = False
                self._maybe_give_up(time)
                return
            address = self._candidates.pop(0)
            self._tried.add(address)
            attempt = self.connector(address, self._transport, time)
            if attempt.connected_at_s is not None:
                self._active.append((address, time, attempt))
                self._won(address, attempt)
                return
            if attempt.failed_at_s is None:
                break
            self._finished_attempts.append(
                AttemptRecord(address, time, None, attempt.failed_at_s, False)
            )
        self._active.append((address, time, attempt))
        self._timer_token += 1
        self._timer_pending = True
        self.at(
            time + self.eyeballs.connection_attempt_delay_s,
            self._attempt_delay_over,
            self._timer_token,
        )

    def _attempt_delay_over(self, time: float, token: int) -> None:
        if token == self._timer_token:
            self._timer_pending = False
            self._next_attempt(time)

    def _won(self, address: Address, attempt: ConnectAttempt) -> None:
        if self.connected_at is None:
            self.connected_at = attempt.connected_at_s
            self.winner = (address, attempt)

    def _check_attempts(self, time: float) -> None:
        failed = False
        for entry in list(self._active):
            address, started, attempt = entry
            if attempt.connected_at_s is not None:
                self._won(address, attempt)
                return
            if attempt.failed_at_s is not None:
                self._active.remove(entry)
                self._finished_attempts.append(
                    AttemptRecord(address, started, None, attempt.failed_at_s, False)
                )
                failed = True
        if failed:
            self._next_attempt(time)  # RFC 8305 section 5: a failure starts the next one

    def _maybe_give_up(self, time: float) -> None:
        dns_pending = self._v6 is None or self._v4 is None
        if not self._active and not dns_pending:
            self._fail(time)

    def outcome(self) -> LookupOutcome:
        winner = self.winner
        return LookupOutcome(
            started_at_s=self.started_at,
            transport=self.transport,
            target=self.target,
            port=self.port,
            dns_done_at_s=self.dns_done_at,
            connected_at_s=self.connected_at,
            address=None if winner is None else winner[0],
            connection=None if winner is None else winner[1],
            queries=tuple(self.queries),
            messages=tuple(self.messages),
            attempts=tuple(sorted(self._finished_attempts, key=lambda a: a.started_at_s)),
            failed_at_s=self.failed_at,
        )


class SipServerLookup:
    """``locate_sip_server`` one event at a time, for a caller that interleaves the
    lookup's events with others in time order (``next_event_s``, ``step``)."""

    def __init__(
        self,
        domain: str,
        *,
        channel: MessageChannel,
        zone: DnsZone,
        connector: Connector = udp_connector,
        transports: tuple[SipTransport, ...] = (
            SipTransport.TLS,
            SipTransport.TCP,
            SipTransport.UDP,
        ),
        sips: bool = False,
        cache: DnsCache | None = None,
        resolver: ResolverConfig | None = None,
        eyeballs: HappyEyeballsConfig | None = None,
        started_at_s: float = 0.0,
    ) -> None:
        self._lookup = _Lookup(
            channel,
            zone,
            connector,
            cache,
            resolver or ResolverConfig(),
            eyeballs or HappyEyeballsConfig(),
            started_at_s,
        )
        self._lookup.locate(domain, transports, sips)

    @property
    def done(self) -> bool:
        """Whether a connection won or every way failed."""
        return self._lookup.done

    def next_event_s(self) -> float:
        """When the next event is due (infinity: nothing is left)."""
        return self._lookup.next_event_s()

    def step(self) -> None:
        """Take the next event."""
        self._lookup.step()

    def outcome(self) -> LookupOutcome:
        """What the lookup gave so far (all of it once ``next_event_s`` is infinite)."""
        return self._lookup.outcome()


def locate_sip_server(
    domain: str,
    *,
    channel: MessageChannel,
    zone: DnsZone,
    connector: Connector = udp_connector,
    transports: tuple[SipTransport, ...] = (SipTransport.TLS, SipTransport.TCP, SipTransport.UDP),
    sips: bool = False,
    cache: DnsCache | None = None,
    resolver: ResolverConfig | None = None,
    eyeballs: HappyEyeballsConfig | None = None,
    started_at_s: float = 0.0,
) -> LookupOutcome:
    """RFC 3263 server location for ``sip:``/``sips:`` ``domain``, then the connection.

    ``transports`` are the client's, most preferred first; DNS messages go over
    ``channel``; ``cache`` (kept by the caller across lookups) saves round trips.
    """
    lookup = SipServerLookup(
        domain,
        channel=channel,
        zone=zone,
        connector=connector,
        transports=transports,
        sips=sips,
        cache=cache,
        resolver=resolver,
        eyeballs=eyeballs,
        started_at_s=started_at_s,
    )
    while lookup.next_event_s() < math.inf:
        lookup.step()
    return lookup.outcome()


def connect_host(
    host: str,
    port: int,
    *,
    channel: MessageChannel,
    zone: DnsZone,
    connector: Connector = udp_connector,
    transport: SipTransport = SipTransport.UDP,
    cache: DnsCache | None = None,
    resolver: ResolverConfig | None = None,
    eyeballs: HappyEyeballsConfig | None = None,
    started_at_s: float = 0.0,
) -> LookupOutcome:
    """A and/or AAAA for ``host``, then Happy Eyeballs connection attempts to ``port``."""
    lookup = _Lookup(
        channel,
        zone,
        connector,
        cache,
        resolver or ResolverConfig(),
        eyeballs or HappyEyeballsConfig(),
        started_at_s,
    )
    lookup.at(started_at_s, lambda t: lookup.resolve(t, host, port, transport))
    lookup.run()
    return lookup.outcome()
