"""The network an ICE session runs over: access paths, NATs, the WAN, STUN and TURN servers.

``IceNetwork`` moves one packet at a time, each hop an event it schedules
through the session's ``schedule`` callback:

- An agent sends from a base: its host address, or its relayed address (the
  packet then travels to its TURN server inside a Send indication). A packet
  for the host address of an agent with the same ``site`` goes over the LAN,
  ``lan_delay_s`` later. Otherwise it crosses the agent's access path uplink
  (``MessageChannel.carry``), then its NAT (``Nat.outbound``), then the WAN.
- On the WAN, the one-way delay between two public addresses is
  ``Wan.delay_s``. A packet reaches a STUN server (which answers with the
  source it saw as mapped address), a TURN server (401 to a first Allocate,
  an allocation to an authenticated one, a Send indication relayed from the
  allocation's relayed address if a permission covers the peer), a relayed
  address (forwarded to its client in a Data indication if a permission
  covers the sender), a NAT (``Nat.inbound``: dropped or passed to the
  agent's access path downlink), or an agent with a public host address.
  Any other address is unreachable and the packet is dropped.

Every crossing of an access path is recorded as an ``AgentMessage``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from voipbed.models.ice_candidates import MAX_LOCAL_PREFERENCE
from voipbed.models.message_channel import DOWNLINK, UPLINK, MessageChannel
from voipbed.models.nat import Address, Endpoint, Nat, Transport
from voipbed.models.stun import binding_response_bytes
from voipbed.models.turn import (
    TurnCredentials,
    TurnMessage,
    send_indication_bytes,
    turn_message_bytes,
)

__all__ = [
    "AgentMessage",
    "IceAgentSpec",
    "IceNetwork",
    "Packet",
    "Purpose",
    "Receive",
    "Schedule",
    "Wan",
]

RELAY_PORT_BASE = 49152  # RFC 8656 section 7.2: relayed ports from the dynamic range
ARRIVAL = 0  # event order at equal times: packets before timers before pacing ticks


@dataclass
class IceAgentSpec:
    """One agent: its host address, access path (uplink away from it), NAT and servers."""

    name: str
    host: Endpoint
    channel: MessageChannel
    nat: Nat | None = None
    site: str | None = None
    stun_server: Endpoint | None = None
    turn_server: Endpoint | None = None
    local_preference: int = MAX_LOCAL_PREFERENCE


@dataclass(frozen=True)
class Wan:
    """One-way delays between public addresses: each sits ``hub_delay_s`` from a hub."""

    hub_delay_s: Mapping[Address, float] = field(default_factory=dict)
    default_hub_s: float = 0.01

    def delay_s(self, a: Address, b: Address) -> float:
        """One-way delay from address ``a`` to address ``b``."""
        hub = self.hub_delay_s
        return hub.get(a, self.default_hub_s) + hub.get(b, self.default_hub_s)


@dataclass(frozen=True)
class AgentMessage:
    """One message on an agent's access path (arrival None: lost on the path)."""

    agent: str
    time_s: float
    direction: int
    kind: str
    size_bytes: int
    arrival_s: float | None
    retransmission: bool


class Purpose(IntEnum):
    """What a STUN transaction of an agent is for."""

    STUN = 0
    ALLOCATE = 1
    ALLOCATE_AUTH = 2
    CHECK = 3


@dataclass(slots=True)
class Packet:
    """A STUN message in flight; ``src`` is its source as seen at its current hop."""

    kind: str
    size: int
    src: Endpoint
    dst: Endpoint
    tid: int
    purpose: Purpose
    request: bool
    mapped: Endpoint | None = None
    priority: int = 0
    use_candidate: bool = False
    retransmission: bool = False
    inner: Packet | None = None


@dataclass(slots=True)
class _Allocation:
    server: Endpoint
    client: Endpoint
    relay: Endpoint
    permissions: set[Address] = field(default_factory=set)


Schedule = Callable[..., None]
Receive = Callable[[float, int, Packet, Endpoint], None]


class IceNetwork:
    """Routes packets between agents and servers; calls ``receive(now, agent, packet, base)``."""

    def __init__(
        self,
        agents: tuple[IceAgentSpec, ...],
        wan: Wan,
        schedule: Schedule,
        receive: Receive,
        *,
        lan_delay_s: float = 0.001,
        credentials: TurnCredentials | None = None,
    ) -> None:
        self.agents = agents
        self.wan = wan
        self.schedule = schedule
        self.receive = receive
        self.lan_delay_s = lan_delay_s
        self.timeline: list[AgentMessage] = []
        self.stun_servers = {a.stun_server for a in agents if a.stun_server is not None}
        self.turn_servers = {a.turn_server for a in agents if a.turn_server is not None}
        self.allocations: dict[tuple[Endpoint, Endpoint], _Allocation] = {}
        self.relays: dict[Endpoint, _Allocation] = {}
        self.relay_ports: dict[Address, int] = {}
        self.nat_of: dict[Address, Nat] = {}
        self.by_host: dict[Endpoint, int] = {}
        for index, spec in enumerate(agents):
            self.by_host[spec.host] = index
            if spec.nat is not None:
                for address in spec.nat.config.external_addresses:
                    self.nat_of[address] = spec.nat
        self.allocate_sizes = turn_message_bytes(TurnMessage.ALLOCATE, credentials)
        self.allocate_auth_sizes = turn_message_bytes(TurnMessage.ALLOCATE_AUTH, credentials)

    def permit(self, relay: Endpoint, addresses: set[Address]) -> None:
        """Install TURN permissions for ``addresses`` on the allocation holding ``relay``."""
        allocation = self.relays.get(relay)
        if allocation is not None:
            allocation.permissions.update(addresses)

    def send(
        self, now: float, index: int, p: Packet, base: Endpoint, relay: Endpoint | None
    ) -> None:
        """Agent ``index`` sends ``p`` from ``base``, its host or its relayed address ``relay``."""
        spec = self.agents[index]
        if base == relay and relay is not None and spec.turn_server is not None:
            p.src = relay
            p = Packet(
                "turn_send_indication",
                send_indication_bytes(p.size),
                spec.host,
                spec.turn_server,
                -1,
                p.purpose,
                p.request,
                retransmission=p.retransmission,
                inner=p,
            )
        else:
            p.src = spec.host
        peer = self.by_host.get(p.dst)
        if peer is not None and spec.site is not None and self.agents[peer].site == spec.site:
            self.schedule(now + self.lan_delay_s, ARRIVAL, self.receive, peer, p, p.dst)
            return
        arrival = spec.channel.carry(now, p.size, UPLINK)
        self._record(spec, now, UPLINK, p, arrival)
        if arrival is not None:
            self.schedule(arrival, ARRIVAL, self._edge_out, index, p)

    def _record(
        self, spec: IceAgentSpec, now: float, direction: int, p: Packet, arrival: float | None
    ) -> None:
        self.timeline.append(
            AgentMessage(spec.name, now, direction, p.kind, p.size, arrival, p.retransmission)
        )

    def _edge_out(self, now: float, index: int, p: Packet) -> None:
        spec = self.agents[index]
        if spec.nat is not None:
            p.src = spec.nat.outbound(now, Transport.UDP, spec.host, p.dst)
        self._wan_send(now, p)

    def _wan_send(self, now: float, p: Packet) -> None:
        delay = self.wan.delay_s(p.src[0], p.dst[0])
        self.schedule(now + delay, ARRIVAL, self._wan_arrive, p)

    def _wan_arrive(self, now: float, p: Packet) -> None:
        if p.dst in self.stun_servers:
            reply = Packet(
                "stun_binding_response",
                binding_response_bytes(),
                p.dst,
                p.src,
                p.tid,
                p.purpose,
                False,
                mapped=p.src,
            )
            self._wan_send(now, reply)
        elif p.dst in self.turn_servers:
            self._turn_server(now, p)
        elif p.dst in self.relays:
            self._relay_in(now, p)
        elif p.dst[0] in self.nat_of:
            internal = self.nat_of[p.dst[0]].inbound(now, Transport.UDP, p.src, p.dst)
            index = self.by_host.get(internal) if internal is not None else None
            if index is not None:
                self._deliver(now, index, p)
        elif p.dst in self.by_host and self.agents[self.by_host[p.dst]].nat is None:
            self._deliver(now, self.by_host[p.dst], p)

    def _deliver(self, now: float, index: int, p: Packet) -> None:
        spec = self.agents[index]
        arrival = spec.channel.carry(now, p.size, DOWNLINK)
        self._record(spec, now, DOWNLINK, p, arrival)
        if arrival is not None:
            self.schedule(arrival, ARRIVAL, self.receive, index, p, spec.host)

    def _turn_server(self, now: float, p: Packet) -> None:
        allocation = self.allocations.get((p.dst, p.src))
        if p.inner is not None:
            inner = p.inner
            if allocation is not None and inner.dst[0] in allocation.permissions:
                inner.src = allocation.relay
                self._wan_send(now, inner)
            return
        if p.purpose == Purpose.ALLOCATE:
            size, kind, mapped = self.allocate_sizes[1], "turn_allocate_401", None
        else:
            if allocation is None:
                port = self.relay_ports.get(p.dst[0], RELAY_PORT_BASE)
                self.relay_ports[p.dst[0]] = port + 1
                allocation = _Allocation(p.dst, p.src, (p.dst[0], port))
                self.allocations[(p.dst, p.src)] = allocation
                self.relays[allocation.relay] = allocation
            size, kind = self.allocate_auth_sizes[1], "turn_allocate_success"
            mapped = allocation.relay
        self._wan_send(now, Packet(kind, size, p.dst, p.src, p.tid, p.purpose, False, mapped))

    def _relay_in(self, now: float, p: Packet) -> None:
        allocation = self.relays[p.dst]
        if p.src[0] not in allocation.permissions:
            return
        outer = Packet(
            "turn_data_indication",
            send_indication_bytes(p.size),
            allocation.server,
            allocation.client,
            -1,
            p.purpose,
            p.request,
            retransmission=p.retransmission,
            inner=p,
        )
        self._wan_send(now, outer)
