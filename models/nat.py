"""A NAT (home gateway or carrier-grade NAT) as a pure model of RFC 4787 and RFC 5382 behaviour.

``Nat.outbound`` translates a packet from an internal endpoint to a remote one,
creating or refreshing a binding, and returns the external endpoint the remote
sees. ``Nat.inbound`` takes a packet from a remote endpoint to an external one
and returns the internal endpoint it reaches, or None when it is dropped: no
binding, the binding expired, or the filter refuses it. Endpoints are
``(address, port)`` tuples; an address is an int or a string.

Behaviour (``NatConfig``):

- Mapping (RFC 4787 section 4.1): endpoint-independent mappings reuse one
  external endpoint for every remote; address-dependent ones one per remote
  address; address-and-port-dependent ones one per remote endpoint.
- Filtering (RFC 4787 section 5): endpoint-independent filtering admits any
  remote once a binding exists; address-dependent filtering only addresses
  the internal endpoint sent to through this binding; address-and-port-dependent
  filtering only those exact endpoints. Each remote contacted through a binding
  is a session with its own refresh time, so a permission lapses on its own.
- Port assignment: port preservation keeps the internal port when it is free
  on the external address (RFC 4787 section 4.2.1); otherwise ports are taken
  in order from the range, or at random when a ``numpy.random.Generator`` is
  passed. Paired pooling (RFC 4787 REQ-2) gives every mapping of one internal
  address the same external address; arbitrary pooling takes them in turn.
- Lifetime: a binding refreshed at ``t0`` lets a packet through at ``t`` iff
  ``t - t0 <= timeout`` (so it still lives at exactly the timeout). UDP: RFC
  4787 REQ-5 (at least 2 min, 5 min recommended); an optional shorter timeout
  holds until the first inbound packet passes (netfilter's unreplied entries,
  ``nf_conntrack_udp_timeout``). TCP: RFC 5382 REQ-5, established idle at least
  2 h 4 min, transitory (handshake, closing) 4 min; the caller says which.
- Refresh: outbound packets refresh the binding and their session (RFC 4787
  REQ-6); inbound packets do too when ``inbound_refresh`` is set.

Hairpinning is not modelled. Expired bindings are removed when touched (or by
``purge``), so the model stays a few dicts. ``KeepAliveBinding`` and
``binding_alive`` answer, without replaying packets, whether the binding of a
flow refreshed at known times is alive at given instants (incoming calls).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "Address",
    "Endpoint",
    "FilteringBehaviour",
    "KeepAliveBinding",
    "MappingBehaviour",
    "Nat",
    "NatBinding",
    "NatConfig",
    "NatPortsExhaustedError",
    "Pooling",
    "Transport",
    "binding_alive",
]

Address = int | str
Endpoint = tuple[Address, int]

UDP_MIN_TIMEOUT_S = 120.0  # RFC 4787 REQ-5: a UDP mapping timer MUST NOT expire in less than 2 min
UDP_RECOMMENDED_TIMEOUT_S = 300.0  # RFC 4787 REQ-5: default of 5 min or more is RECOMMENDED
TCP_ESTABLISHED_MIN_TIMEOUT_S = 7440.0  # RFC 5382 REQ-5: established idle >= 2 h 4 min
TCP_TRANSITORY_MIN_TIMEOUT_S = 240.0  # RFC 5382 REQ-5: transitory idle >= 4 min
DYNAMIC_PORT_RANGE = (1024, 65535)  # RFC 4787 REQ-3: ports >= 1024 map to 1024-65535


class Transport(IntEnum):
    """Transport protocol of a binding; bindings of different transports are independent."""

    UDP = 0
    TCP = 1


class MappingBehaviour(IntEnum):
    """RFC 4787 section 4.1: which remotes share one external endpoint."""

    ENDPOINT_INDEPENDENT = 0
    ADDRESS_DEPENDENT = 1
    ADDRESS_AND_PORT_DEPENDENT = 2


class FilteringBehaviour(IntEnum):
    """RFC 4787 section 5: which remotes may send through an existing binding."""

    ENDPOINT_INDEPENDENT = 0
    ADDRESS_DEPENDENT = 1
    ADDRESS_AND_PORT_DEPENDENT = 2


class Pooling(IntEnum):
    """RFC 4787 section 4.1: how external addresses are chosen when there are several."""

    PAIRED = 0
    ARBITRARY = 1


class NatPortsExhaustedError(RuntimeError):
    """Every port of the range on the chosen external address holds a live binding."""


@dataclass(frozen=True)
class NatConfig:
    """Behaviour and timers of one NAT; defaults: an RFC 4787 / RFC 5382 compliant NAT.

    - ``mapping`` endpoint-independent (RFC 4787 REQ-1), ``filtering``
      endpoint-independent (REQ-8, when transparency matters most).
    - ``port_preservation`` True, ``pooling`` paired (REQ-2).
    - ``udp_timeout_s`` 300 (REQ-5 recommends 5 min), ``udp_initial_timeout_s``
      None (the same timeout before any inbound packet).
    - ``tcp_established_timeout_s`` 7440 and ``tcp_transitory_timeout_s`` 240
      (RFC 5382 REQ-5 minimums).
    - ``inbound_refresh`` False: only outbound packets refresh (RFC 4787 REQ-6
      requires outbound refresh; inbound refresh is allowed).
    """

    mapping: MappingBehaviour = MappingBehaviour.ENDPOINT_INDEPENDENT
    filtering: FilteringBehaviour = FilteringBehaviour.ENDPOINT_INDEPENDENT
    port_preservation: bool = True
    pooling: Pooling = Pooling.PAIRED
    external_addresses: tuple[Address, ...] = ("203.0.113.1",)
    port_range: tuple[int, int] = DYNAMIC_PORT_RANGE
    udp_timeout_s: float = UDP_RECOMMENDED_TIMEOUT_S
    udp_initial_timeout_s: float | None = None
    tcp_established_timeout_s: float = TCP_ESTABLISHED_MIN_TIMEOUT_S
    tcp_transitory_timeout_s: float = TCP_TRANSITORY_MIN_TIMEOUT_S
    inbound_refresh: bool = False

    def __post_init__(self) -> None:
        if not self.external_addresses:
            raise ValueError("a NAT needs at least one external address")
        low, high = self.port_range
        if not 1 <= low <= high <= 65535:
            raise ValueError(f"port_range must satisfy 1 <= low <= high <= 65535, got {low, high}")
        for name in ("udp_timeout_s", "tcp_established_timeout_s", "tcp_transitory_timeout_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and > 0, got {value}")
        initial = self.udp_initial_timeout_s
        if initial is not None and not (math.isfinite(initial) and initial > 0):
            raise ValueError(f"udp_initial_timeout_s must be finite and > 0, got {initial}")


_Key = tuple[Transport, Endpoint, object]


@dataclass(slots=True)
class NatBinding:
    """One mapping: its endpoints, last refresh and the sessions (remotes) it has served."""

    transport: Transport
    internal: Endpoint
    external: Endpoint
    created_s: float
    refreshed_s: float
    transitory: bool = False
    inbound_seen: bool = False
    sessions: dict[Endpoint, float] = field(default_factory=dict)
    key: _Key | None = field(default=None, repr=False)

    def timeout_s(self, config: NatConfig) -> float:
        """The idle time this binding survives, from its transport and state."""
        if self.transport is Transport.UDP:
            initial = config.udp_initial_timeout_s
            if initial is None or self.inbound_seen:
                return config.udp_timeout_s
            return initial
        if self.transitory:
            return config.tcp_transitory_timeout_s
        return config.tcp_established_timeout_s

    def expires_s(self, config: NatConfig) -> float:
        """The last instant a packet still finds this binding."""
        return self.refreshed_s + self.timeout_s(config)


class Nat:
    """The NAT's binding table: ``outbound`` and ``inbound`` translate one packet each."""

    def __init__(self, config: NatConfig | None = None, rng: np.random.Generator | None = None):
        self.config = config if config is not None else NatConfig()
        self._mapping = MappingBehaviour(self.config.mapping)
        self._filtering = FilteringBehaviour(self.config.filtering)
        self._inbound_refresh = self.config.inbound_refresh
        self._rng = rng
        self._mappings: dict[_Key, NatBinding] = {}
        self._by_external: dict[tuple[Transport, Endpoint], NatBinding] = {}
        self._paired: dict[Address, Address] = {}
        self._next_address = 0
        self._cursor: dict[tuple[Transport, Address], int] = {}

    def outbound(
        self,
        now: float,
        transport: Transport,
        internal: Endpoint,
        remote: Endpoint,
        *,
        transitory: bool = False,
    ) -> Endpoint:
        """The external endpoint of a packet from ``internal`` to ``remote`` sent at ``now``.

        Creates the binding if none is alive, refreshes it and its session with
        ``remote``. For TCP, ``transitory`` says the connection is being set up
        or closed (RFC 5382 transitory timeout) rather than established.
        """
        key = self._key(transport, internal, remote)
        binding = self._mappings.get(key)
        if binding is not None and now - binding.refreshed_s > binding.timeout_s(self.config):
            self._remove(binding)  # expired
            binding = None
        if binding is None:
            external = self._allocate(now, transport, internal)
            binding = NatBinding(transport, internal, external, now, now, key=key)
            self._mappings[key] = binding
            self._by_external[(transport, binding.external)] = binding
        binding.refreshed_s = now
        binding.sessions[remote] = now
        binding.transitory = transitory
        return binding.external

    def inbound(
        self, now: float, transport: Transport, remote: Endpoint, external: Endpoint
    ) -> Endpoint | None:
        """The internal endpoint a packet from ``remote`` to ``external`` reaches, or None."""
        binding = self._by_external.get((transport, external))
        if binding is None:
            return None
        timeout = binding.timeout_s(self.config)
        if now - binding.refreshed_s > timeout:
            self._remove(binding)  # expired
            return None
        if not self._admits(binding, remote, now, timeout):
            return None
        binding.inbound_seen = True
        if self._inbound_refresh:
            binding.refreshed_s = now
            if remote in binding.sessions:
                binding.sessions[remote] = now
        return binding.internal

    def binding(self, transport: Transport, external: Endpoint) -> NatBinding | None:
        """The binding holding ``external`` (alive or not yet purged), or None."""
        return self._by_external.get((transport, external))

    def expires_s(self, transport: Transport, external: Endpoint) -> float | None:
        """The last instant the binding holding ``external`` admits packets, or None."""
        binding = self._by_external.get((transport, external))
        return None if binding is None else binding.expires_s(self.config)

    def bindings(self, now: float) -> Iterator[NatBinding]:
        """The bindings alive at ``now``."""
        return (b for b in self._by_external.values() if self._alive(b, now))

    def purge(self, now: float) -> int:
        """Remove every binding expired at ``now``; the number removed."""
        dead = [b for b in self._by_external.values() if not self._alive(b, now)]
        for binding in dead:
            self._remove(binding)
        return len(dead)

    # --- internals ---------------------------------------------------------------------------

    def _key(self, transport: Transport, internal: Endpoint, remote: Endpoint) -> _Key:
        mapping = self._mapping
        if mapping is MappingBehaviour.ENDPOINT_INDEPENDENT:
            return (transport, internal, None)
        if mapping is MappingBehaviour.ADDRESS_DEPENDENT:
            return (transport, internal, remote[0])
        return (transport, internal, remote)

    def _alive(self, binding: NatBinding, now: float) -> bool:
        return now - binding.refreshed_s <= binding.timeout_s(self.config)

    def _admits(self, binding: NatBinding, remote: Endpoint, now: float, timeout: float) -> bool:
        """Whether the filter lets a packet from ``remote`` through a live binding."""
        filtering = self._filtering
        if filtering is FilteringBehaviour.ENDPOINT_INDEPENDENT:
            return True
        if filtering is FilteringBehaviour.ADDRESS_AND_PORT_DEPENDENT:
            refreshed = binding.sessions.get(remote)
            return refreshed is not None and now - refreshed <= timeout
        return any(
            peer[0] == remote[0] and now - refreshed <= timeout
            for peer, refreshed in binding.sessions.items()
        )

    def _remove(self, binding: NatBinding) -> None:
        if binding.key is not None:
            del self._mappings[binding.key]
        del self._by_external[(binding.transport, binding.external)]

    def _external_address(self, internal_address: Address) -> Address:
        addresses = self.config.external_addresses
        if self.config.pooling == Pooling.PAIRED:
            paired = self._paired.get(internal_address)
            if paired is None:
                paired = addresses[self._next_address % len(addresses)]
                self._next_address += 1
                self._paired[internal_address] = paired
            return paired
        chosen = addresses[self._next_address % len(addresses)]
        self._next_address += 1
        return chosen

    def _port_free(self, now: float, transport: Transport, endpoint: Endpoint) -> bool:
        holder = self._by_external.get((transport, endpoint))
        if holder is None:
            return True
        if self._alive(holder, now):
            return False
        self._remove(holder)
        return True

    def _allocate(self, now: float, transport: Transport, internal: Endpoint) -> Endpoint:
        address = self._external_address(internal[0])
        low, high = self.config.port_range
        preserved = (address, internal[1])
        if (
            self.config.port_preservation
            and low <= internal[1] <= high
            and self._port_free(now, transport, preserved)
        ):
            return preserved
        size = high - low + 1
        if self._rng is not None:
            for _ in range(16):
                port = int(self._rng.integers(low, high + 1))
                if self._port_free(now, transport, (address, port)):
                    return (address, port)
        cursor = self._cursor.get((transport, address), 0)
        for step in range(size):
            port = low + (cursor + step) % size
            if self._port_free(now, transport, (address, port)):
                self._cursor[(transport, address)] = (cursor + step + 1) % size
                return (address, port)
        raise NatPortsExhaustedError(f"no free {transport.name} port on {address!r}")


@dataclass(frozen=True)
class KeepAliveBinding:
    """The binding of a flow kept by outbound keep-alives every ``interval_s`` from ``start_s``.

    Times are as the NAT sees them (keep-alive sent time plus its uplink delay).
    After the keep-alive at ``t0`` the binding admits a packet at ``t`` iff
    ``t - t0 <= timeout_s``; with ``interval_s > timeout_s`` it expires
    ``timeout_s`` after each keep-alive and the next keep-alive creates a new
    one (with port preservation usually at the same external endpoint).
    """

    start_s: float
    interval_s: float
    timeout_s: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.interval_s) and self.interval_s > 0):
            raise ValueError(f"interval_s must be finite and > 0, got {self.interval_s}")
        if not (math.isfinite(self.timeout_s) and self.timeout_s > 0):
            raise ValueError(f"timeout_s must be finite and > 0, got {self.timeout_s}")

    def last_refresh_s(self, now: float) -> float:
        """The last keep-alive at or before ``now`` (NaN before the first)."""
        if now < self.start_s:
            return math.nan
        return self.start_s + math.floor((now - self.start_s) / self.interval_s) * self.interval_s

    def alive(self, now: float) -> bool:
        """Whether a packet addressed to the flow at ``now`` finds the binding."""
        last = self.last_refresh_s(now)
        return not math.isnan(last) and now - last <= self.timeout_s

    def expires_s(self, now: float) -> float:
        """When the binding in use at ``now`` expires; infinity if keep-alives beat the timeout."""
        if self.interval_s <= self.timeout_s:
            return math.inf
        last = self.last_refresh_s(now)
        return math.nan if math.isnan(last) else last + self.timeout_s

    def alive_mask(self, times_s: ArrayLike) -> NDArray[np.bool_]:
        """``alive`` for each of ``times_s`` (e.g. the arrival times of incoming calls)."""
        times = np.asarray(times_s, dtype=np.float64)
        since = times - self.start_s
        last = self.start_s + np.floor(since / self.interval_s) * self.interval_s
        return np.asarray((since >= 0) & (times - last <= self.timeout_s))


def binding_alive(
    times_s: ArrayLike, refresh_times_s: ArrayLike, timeout_s: float
) -> NDArray[np.bool_]:
    """For each of ``times_s``: whether a refresh at ``t0 <= t`` has ``t - t0 <= timeout_s``.

    ``refresh_times_s`` are the times the NAT saw outbound packets of the flow
    (keep-alives, re-registrations, any traffic), in any order.
    """
    times = np.asarray(times_s, dtype=np.float64)
    refreshes = np.sort(np.asarray(refresh_times_s, dtype=np.float64))
    index = np.searchsorted(refreshes, times, side="right") - 1
    has = index >= 0
    last = np.where(has, refreshes[np.clip(index, 0, None)] if refreshes.size else 0.0, np.nan)
    return np.asarray(has & (times - last <= timeout_s))
