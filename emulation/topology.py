"""The emulated network of a scenario, as a pure description (no Mininet, no I/O).

Shape, UE side first (uplink goes left to right, downlink back)::

    UE 0 ─┐
    UE 1 ─┼─ B0 ── L0 ── L1 ── ... ── L(n-1) ── B1 ─┬─ S0 (SIP core)
    ...  ─┘  (access bridge)          (core bridge) └─ F0 (far end)

There is one link node ``L<i>`` per path segment, in path order; each has two interfaces
and no address, ``a`` facing the UEs and ``b`` facing the far side, and forwards between
them (the userspace link, or a kernel bridge in pass-through mode). Every packet between a
UE and the core or the far end crosses every link node. The whole path is one subnet that
exists only inside the run's namespaces: IPv4 10.0.0.0/24 by default, or, for a scenario
with ``calls.ip_version: 6``, the IPv6 /64 of :func:`ula_subnet`, a unique local prefix
(RFC 4193) drawn from the run id, never a global address. Hosts are numbered alike in
both: the SIP core is host 1 (``10.0.0.1``, ``fdxx:xxxx:xxxx::1``), UE 0 host 11 (``...::b``).

With a :class:`~voipbed.emulation.nat_box.NatSpec` (IPv4 only), a NAT node ``N0`` sits
between the last link node and the core bridge (where a carrier-grade NAT sits, after radio
and backhaul):
the UEs and the link nodes are on the NAT's inside subnet (``NatSpec.inside_subnet``, the
UEs' default route via the NAT), and the core and far end see the NAT's outside address
(host 3 of the subnet, ``10.0.0.3``).

With ``phones`` (a NatSpec) instead, a host for the idle phones ``Uz`` joins the access
bridge like a UE, on the NAT's inside subnet with one address per phone (phone i's is
host ``FIRST_UE_HOST + i`` of it), and the NAT node sits at the core's edge, where the
simulator puts it (``sim/phones.py``): its inside and outside interfaces both join the
core bridge. The phones' messages cross every link node, as their own addresses (so the
radio link tells each phone's packets apart), and then the NAT; the UEs stay on the
path's subnet and their calls meet no NAT::

    Uz (phones) ─┐                         ┌─ N0 (inside and outside)
    UE 0 ────────┼─ B0 ── L0 ── ... ── B1 ─┼─ S0 ...

One UE host per call up to ``MAX_UE_HOSTS``; with more calls, call ``i`` uses UE host
``i % n`` (:meth:`Topology.ue_for_call`).

:func:`describe` builds this from a :class:`voipbed.scenario.Scenario`; ``network.py``
builds it with Mininet.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from itertools import pairwise

from voipbed.emulation.names import (
    MAX_INDEX,
    Role,
    bridge_device_name,
    interface_name,
    node_name,
    run_tag,
)
from voipbed.emulation.nat_box import NAT_INSIDE_HOST, NatNode, NatSpec
from voipbed.emulation.sip_text import uri_host
from voipbed.scenario import Scenario

__all__ = [
    "DEFAULT_SUBNET",
    "MAX_UE_HOSTS",
    "BridgeSpec",
    "HostSpec",
    "LinkNodeSpec",
    "Topology",
    "VethSpec",
    "describe",
    "ula_subnet",
]

DEFAULT_SUBNET = ipaddress.IPv4Network("10.0.0.0/24")
ULA_PREFIX = 0xFD  # RFC 4193 3.1: fc00::/7 with the L bit set, a locally assigned prefix
ULA_GLOBAL_ID_BITS = 40  # RFC 4193 3.1; 3.2.2 draws it from SHA-1 of time and an EUI-64

Subnet = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Interface | ipaddress.IPv6Interface

MAX_UE_HOSTS = 16
"""Emulation runs few calls; more calls than this share UE hosts (SIPp can place many)."""

SIP_CORE_HOST = 1  # host numbers inside the subnet: 10.0.0.1
FAR_END_HOST = 2  # 10.0.0.2
NAT_HOST = 3  # the NAT's outside address: 10.0.0.3
FIRST_UE_HOST = 11  # UE i is 10.0.0.(11 + i)
PHONES_INDEX = MAX_INDEX  # the phones' host is the UE node of the last index (``Uz``)


@dataclass(frozen=True)
class HostSpec:
    """An addressed endpoint: a UE, the SIP core or the far end; one interface."""

    name: str
    role: Role
    index: int
    interface: str
    address: Address

    @property
    def ip(self) -> str:
        """The host's address as text (``10.0.0.11``, ``fd12:3456:789a::b``), written as
        the links' records write addresses (RFC 5952)."""
        return str(self.address.ip)

    @property
    def uri_host(self) -> str:
        """The address as the host part of a SIP URI or host:port: an IPv6 address in
        brackets (``sip_text.uri_host``)."""
        return uri_host(self.ip)


@dataclass(frozen=True)
class LinkNodeSpec:
    """The node that carries one path segment: forwards between ``iface_a`` (UE side) and
    ``iface_b`` (far side); no addresses."""

    name: str
    segment_index: int
    segment_name: str
    iface_a: str
    iface_b: str


@dataclass(frozen=True)
class BridgeSpec:
    """A node whose Linux bridge device ``device`` joins its ``ports``; no addresses."""

    name: str
    index: int
    device: str
    ports: tuple[str, ...]


@dataclass(frozen=True)
class VethSpec:
    """One veth pair: ``node_a``'s ``iface_a`` (UE side) to ``node_b``'s ``iface_b``."""

    node_a: str
    iface_a: str
    mac_a: str
    node_b: str
    iface_b: str
    mac_b: str


@dataclass(frozen=True)
class Topology:
    """Everything a run's network is made of, named with the run's tag."""

    run_id: str
    tag: str
    subnet: Subnet
    ues: tuple[HostSpec, ...]
    access_bridge: BridgeSpec
    link_nodes: tuple[LinkNodeSpec, ...]
    core_bridge: BridgeSpec
    sip_core: HostSpec
    far_end: HostSpec
    veths: tuple[VethSpec, ...]
    nat: NatNode | None = None
    phones: HostSpec | None = None  # the idle phones' host, behind ``nat``
    phone_addresses: tuple[str, ...] = ()  # phone i's address on it (the host's is phone 0's)

    @property
    def ip_version(self) -> int:
        """4 or 6: the IP version of every address of the run."""
        return self.subnet.version

    @property
    def hosts(self) -> tuple[HostSpec, ...]:
        """The addressed hosts: UEs, the phones' host if any, the SIP core and the far end."""
        phones = () if self.phones is None else (self.phones,)
        return (*self.ues, *phones, self.sip_core, self.far_end)

    @property
    def behind_nat(self) -> tuple[HostSpec, ...]:
        """The hosts whose default route is the NAT: the phones' host, else the UEs (none
        without a NAT)."""
        if self.nat is None:
            return ()
        return self.ues if self.phones is None else (self.phones,)

    @property
    def bridges(self) -> tuple[BridgeSpec, ...]:
        """The access bridge (UE side) and the core bridge (far side)."""
        return (self.access_bridge, self.core_bridge)

    @property
    def node_names(self) -> tuple[str, ...]:
        """Every namespace node, in the order they are created."""
        return (
            *(ue.name for ue in self.ues),
            *(() if self.phones is None else (self.phones.name,)),
            self.access_bridge.name,
            *(node.name for node in self.link_nodes),
            *(() if self.nat is None else (self.nat.name,)),
            self.core_bridge.name,
            self.sip_core.name,
            self.far_end.name,
        )

    def ue_for_call(self, call: int) -> HostSpec:
        """The UE host that places call ``call`` (calls share UE hosts beyond MAX_UE_HOSTS)."""
        if call < 0:
            raise ValueError(f"call {call} is negative")
        return self.ues[call % len(self.ues)]


class _Interfaces:
    """Hands out each node's interfaces in order, with distinct locally administered MACs."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}
        self._macs = 0

    def take(self, node: str) -> tuple[str, str]:
        k = self._next.get(node, 0)
        self._next[node] = k + 1
        self._macs += 1
        mac = "02:76:62:00:{:02x}:{:02x}".format(*divmod(self._macs, 256))
        return interface_name(node, k), mac


def _veth(ifaces: _Interfaces, node_a: str, node_b: str) -> VethSpec:
    iface_a, mac_a = ifaces.take(node_a)
    iface_b, mac_b = ifaces.take(node_b)
    return VethSpec(node_a, iface_a, mac_a, node_b, iface_b, mac_b)


def ula_subnet(run_id: str) -> ipaddress.IPv6Network:
    """The run's IPv6 subnet: ``fd`` and a 40-bit global ID from SHA-256 of the run id
    (RFC 4193 3.1 and 3.2: pseudo-random, so two runs' prefixes differ), subnet ID 0, /64."""
    digest = hashlib.sha256(run_id.encode("utf-8")).digest()
    global_id = int.from_bytes(digest[: ULA_GLOBAL_ID_BITS // 8], "big")
    prefix = (ULA_PREFIX << ULA_GLOBAL_ID_BITS | global_id) << (128 - 8 - ULA_GLOBAL_ID_BITS)
    return ipaddress.IPv6Network((prefix, 64))


def describe(
    scenario: Scenario,
    run_id: str,
    *,
    subnet: Subnet | None = None,
    max_ue_hosts: int = MAX_UE_HOSTS,
    nat: NatSpec | None = None,
    phones: NatSpec | None = None,
) -> Topology:
    """The network that runs ``scenario`` for run ``run_id`` (see the module docstring);
    with ``nat``, the UEs behind that NAT; with ``phones``, a phones' host behind that
    NAT (not both; IPv4 only).

    ``subnet`` (None: ``DEFAULT_SUBNET``, or ``ula_subnet(run_id)`` for
    ``calls.ip_version: 6``) must be of the scenario's IP version.
    """
    if not 1 <= max_ue_hosts <= MAX_INDEX + 1:
        raise ValueError(f"max_ue_hosts must be in 1..{MAX_INDEX + 1}, not {max_ue_hosts}")
    if nat is not None and phones is not None:
        raise ValueError("one NAT a run: the UEs' (nat) or the phones' (phones)")
    version = scenario.calls.ip_version
    if subnet is None:
        subnet = DEFAULT_SUBNET if version == 4 else ula_subnet(run_id)
    if subnet.version != version:
        raise ValueError(f"subnet {subnet} is not IPv{version}, the scenario's calls.ip_version")
    if version == 6 and (nat is not None or phones is not None):
        raise ValueError("the emulated NAT is IPv4 (NAT44): no NAT on an IPv6 network")
    ue_count = min(scenario.calls.count, max_ue_hosts)
    if phones is not None and ue_count > PHONES_INDEX:
        raise ValueError(f"{ue_count} UE hosts leave no index for the phones' host")
    ue_subnet = subnet if nat is None else nat.inside_subnet
    if ue_subnet.num_addresses - 2 < FIRST_UE_HOST + ue_count - 1:
        raise ValueError(f"subnet {ue_subnet} is too small for {ue_count} UE hosts")
    tag = run_tag(run_id)
    ifaces = _Interfaces()
    veths: list[VethSpec] = []

    def address(host_number: int, net: Subnet = subnet) -> Address:
        return ipaddress.ip_interface(f"{net[host_number]}/{net.prefixlen}")

    def nat_address(host_number: int, net: Subnet = subnet) -> ipaddress.IPv4Interface:
        return ipaddress.IPv4Interface(f"{net[host_number]}/{net.prefixlen}")

    access = node_name(tag, Role.BRIDGE, 0)
    core = node_name(tag, Role.BRIDGE, 1)
    ues: list[HostSpec] = []
    for i in range(ue_count):
        ue = node_name(tag, Role.UE, i)
        veths.append(_veth(ifaces, ue, access))
        ue_address = address(FIRST_UE_HOST + i, ue_subnet)
        ues.append(HostSpec(ue, Role.UE, i, veths[-1].iface_a, ue_address))

    phones_host = None
    phone_addresses: tuple[str, ...] = ()
    if phones is not None:
        count = 1 if scenario.signalling.phones is None else scenario.signalling.phones.count
        if phones.inside_subnet.num_addresses - 2 < FIRST_UE_HOST + count - 1:
            raise ValueError(f"subnet {phones.inside_subnet} is too small for {count} phones")
        phones_name = node_name(tag, Role.UE, PHONES_INDEX)
        veths.append(_veth(ifaces, phones_name, access))
        phones_host = HostSpec(
            phones_name,
            Role.UE,
            PHONES_INDEX,
            veths[-1].iface_a,
            address(FIRST_UE_HOST, phones.inside_subnet),
        )
        phone_addresses = tuple(str(phones.inside_subnet[FIRST_UE_HOST + i]) for i in range(count))

    nat_name = [] if nat is None else [node_name(tag, Role.NAT, 0)]
    links = [node_name(tag, Role.LINK, i) for i in range(len(scenario.path))]
    chain = [access, *links, *nat_name, core]
    hops = [_veth(ifaces, left, right) for left, right in pairwise(chain)]
    veths.extend(hops)
    nat_node = None
    if nat is not None:
        inside, outside = nat_address(NAT_INSIDE_HOST, ue_subnet), nat_address(NAT_HOST)
        nat_node = NatNode(nat_name[0], hops[-2].iface_b, hops[-1].iface_a, inside, outside, nat)
    link_nodes = tuple(
        LinkNodeSpec(chain[i + 1], i, segment.name, hops[i].iface_b, hops[i + 1].iface_a)
        for i, segment in enumerate(scenario.path)
    )

    phones_nat = None
    if phones is not None:  # at the core's edge, both interfaces on the core bridge
        nat_name0 = node_name(tag, Role.NAT, 0)
        inside_veth, outside_veth = _veth(ifaces, nat_name0, core), _veth(ifaces, nat_name0, core)
        veths += [inside_veth, outside_veth]
        phones_nat = NatNode(
            nat_name0,
            inside_veth.iface_a,
            outside_veth.iface_a,
            nat_address(NAT_INSIDE_HOST, phones.inside_subnet),
            nat_address(NAT_HOST),
            phones,
        )

    endpoints: list[HostSpec] = []
    for role, host_number in ((Role.SIP_CORE, SIP_CORE_HOST), (Role.FAR_END, FAR_END_HOST)):
        name = node_name(tag, role, 0)
        veths.append(_veth(ifaces, core, name))
        endpoints.append(HostSpec(name, role, 0, veths[-1].iface_b, address(host_number)))

    def bridge(name: str, index: int) -> BridgeSpec:
        ports = tuple(
            port
            for veth in veths
            for node, port in ((veth.node_a, veth.iface_a), (veth.node_b, veth.iface_b))
            if node == name
        )
        return BridgeSpec(name, index, bridge_device_name(name), ports)

    return Topology(
        run_id=run_id,
        tag=tag,
        subnet=subnet,
        ues=tuple(ues),
        access_bridge=bridge(access, 0),
        link_nodes=link_nodes,
        core_bridge=bridge(core, 1),
        sip_core=endpoints[0],
        far_end=endpoints[1],
        veths=tuple(veths),
        nat=nat_node if phones_nat is None else phones_nat,
        phones=phones_host,
        phone_addresses=phone_addresses,
    )
