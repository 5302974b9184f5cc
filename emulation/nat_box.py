"""A namespace node configured as a NAT: forwarding, nftables masquerade, conntrack timeouts.

:class:`NatSpec` says what NAT a run wants; :class:`NatNode` places it in a topology (its
node, its inside and outside interfaces and addresses); :func:`configured` turns a running
node into that NAT and undoes it on exit. Everything happens inside the node's own network
namespace: ``net.ipv4.ip_forward``, ``net.ipv4.conf.all.arp_*`` and the conntrack timeouts
are per-namespace sysctls, and the nftables table (named after the node, so it carries the
run's tag) lives in that namespace only. Nothing is written outside that namespace:
:func:`configured` refuses a node that shares the caller's namespace, and checks after
writing that the caller's own values of the sysctls it wrote did not move.

What netfilter does, and so what this NAT is (RFC 4787 terms):

- Mapping: ``masquerade`` keeps an internal endpoint's source port when the translated
  tuple is unique, so one internal endpoint keeps its external port towards every remote:
  endpoint-independent mapping, with port preservation, unless two internal endpoints
  collide on a port towards the same remote. ``masquerade fully-random`` draws a fresh port
  for every new conntrack entry, so each remote endpoint sees its own external port:
  address-and-port-dependent mapping (a "symmetric" NAT).
- Filtering: an inbound packet passes only when it matches the reply tuple of a live
  conntrack entry, i.e. address-and-port-dependent filtering. Unsolicited inbound TCP and
  UDP (to the NAT itself or forwarded) is dropped silently, as a carrier-grade NAT does;
  the dropped packet creates no conntrack entry, so it cannot take the port of a later
  binding. Endpoint-independent filtering (full cone) for UDP is added with two rules: a
  dynamic map learns, after masquerade, external port -> internal endpoint (refreshed by
  outbound packets, kept for the UDP stream timeout), and new inbound UDP to a learnt port
  is DNATed to its internal endpoint. TCP keeps address-and-port-dependent filtering.
  Address-dependent filtering is not offered.
- Lifetime: a UDP entry that has seen no reply lives ``nf_conntrack_udp_timeout``; one that
  has seen a reply and is still active two seconds after it was created lives
  ``nf_conntrack_udp_timeout_stream`` (the kernel's ``nf_conntrack_proto_udp.c``); an
  established TCP connection ``nf_conntrack_tcp_timeout_established``. Packets of either
  direction refresh an entry.
  On kernels where these sysctls are not per-namespace (absent or read-only inside a
  namespace), the same values go into an nftables ``ct timeout`` object attached to every
  new flow from the inside, in the NAT's own table (:class:`TimeoutMethod`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import math
import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from voipbed.emulation.process import ProcessError
from voipbed.models.nat import FilteringBehaviour, MappingBehaviour, NatConfig

__all__ = [
    "CONNTRACK_SYSCTLS",
    "DEFAULT_INSIDE_SUBNET",
    "NAT_INSIDE_HOST",
    "NatBox",
    "NatNode",
    "NatSpec",
    "NatSpecError",
    "TimeoutMethod",
    "configured",
    "nft_ruleset",
    "route_via_nat_argv",
    "timeout_settings",
]

log = logging.getLogger(__name__)

DEFAULT_INSIDE_SUBNET = ipaddress.IPv4Network("100.64.0.0/24")
"""The UE side of the NAT: RFC 6598 shared address space, meant for carrier-grade NAT."""

NAT_INSIDE_HOST = 1  # the NAT's inside address, the UEs' gateway: 100.64.0.1

NF_UDP_TIMEOUT_S = 30  # nf_conntrack-sysctl.rst: nf_conntrack_udp_timeout default
NF_UDP_STREAM_TIMEOUT_S = 120  # nf_conntrack-sysctl.rst: nf_conntrack_udp_timeout_stream
NF_TCP_ESTABLISHED_S = 432_000  # nf_conntrack-sysctl.rst: tcp_timeout_established, 5 days

CONNTRACK_SYSCTLS: Mapping[str, str] = {
    "udp_timeout_s": "net.netfilter.nf_conntrack_udp_timeout",
    "udp_stream_timeout_s": "net.netfilter.nf_conntrack_udp_timeout_stream",
    "tcp_established_timeout_s": "net.netfilter.nf_conntrack_tcp_timeout_established",
}
"""Each NatSpec timeout and the per-namespace sysctl that holds it."""

IP_FORWARD = "net.ipv4.ip_forward"
ARP_BY_INTERFACE: Mapping[str, str] = {
    "net.ipv4.conf.all.arp_ignore": "1",  # ip-sysctl.rst: reply only for the asked interface's
    "net.ipv4.conf.all.arp_announce": "2",  # addresses, asking from the outgoing one's
}
"""The NAT answers ARP for an address on that address's interface only: its inside and
outside interfaces may share one bridge (``topology``, the phones' NAT), and an ARP reply
from the wrong one would let traffic in past the outside interface's rules."""
COMMAND_TIMEOUT_S = 5.0


class NatSpecError(ValueError):
    """A NAT behaviour netfilter cannot give, or a timeout it cannot hold."""


class TimeoutMethod(StrEnum):
    """Where the conntrack timeouts are set, all inside the NAT's namespace."""

    AUTO = "auto"  # the sysctls where they are per-namespace, else a ct timeout object
    SYSCTL = "sysctl"  # the namespace's own net.netfilter.* sysctls
    CT_TIMEOUT = "ct_timeout"  # an nftables ct timeout object in the NAT's table


@dataclass(frozen=True)
class NatSpec:
    """What NAT sits between the UEs and the core; defaults: Linux netfilter's own.

    Timeouts are whole seconds (sysctls and ct timeout policies hold integers):
    ``udp_timeout_s`` for a UDP flow without a reply, ``udp_stream_timeout_s`` once it
    has one, ``tcp_established_timeout_s`` for an established TCP connection.
    """

    mapping: MappingBehaviour = MappingBehaviour.ENDPOINT_INDEPENDENT
    filtering: FilteringBehaviour = FilteringBehaviour.ADDRESS_AND_PORT_DEPENDENT
    udp_timeout_s: float = NF_UDP_TIMEOUT_S
    udp_stream_timeout_s: float = NF_UDP_STREAM_TIMEOUT_S
    tcp_established_timeout_s: float = NF_TCP_ESTABLISHED_S
    inside_subnet: ipaddress.IPv4Network = DEFAULT_INSIDE_SUBNET
    timeouts: TimeoutMethod = TimeoutMethod.AUTO

    def __post_init__(self) -> None:
        if self.mapping == MappingBehaviour.ADDRESS_DEPENDENT:
            raise NatSpecError(
                "netfilter masquerade maps endpoint-independently or, fully random, "
                "per remote endpoint; address-dependent mapping is not available"
            )
        if self.filtering == FilteringBehaviour.ADDRESS_DEPENDENT:
            raise NatSpecError(
                "address-dependent filtering is not available; use endpoint-independent "
                "or address-and-port-dependent filtering"
            )
        for name in CONNTRACK_SYSCTLS:
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 1 and value == int(value)):
                raise NatSpecError(f"{name} must be a whole number of seconds >= 1, not {value}")
        if self.inside_subnet.prefixlen > 30:
            raise NatSpecError(f"inside_subnet {self.inside_subnet} has no room for hosts")

    @classmethod
    def from_config(
        cls,
        config: NatConfig,
        *,
        inside_subnet: ipaddress.IPv4Network = DEFAULT_INSIDE_SUBNET,
        timeouts: TimeoutMethod = TimeoutMethod.AUTO,
    ) -> NatSpec:
        """The NatSpec closest to the pure model's ``config``, timeouts rounded up to whole
        seconds: the model's timeout before the first inbound packet
        (``udp_initial_timeout_s``, or ``udp_timeout_s`` without one) becomes the unreplied
        timeout, ``udp_timeout_s`` the stream timeout. Raises NatSpecError for behaviours
        netfilter cannot give. (The model's pooling, port range, external addresses,
        transitory TCP timeout and inbound refresh have no counterpart here: netfilter
        refreshes on packets of both directions.)"""
        initial = config.udp_initial_timeout_s
        return cls(
            mapping=config.mapping,
            filtering=config.filtering,
            udp_timeout_s=math.ceil(config.udp_timeout_s if initial is None else initial),
            udp_stream_timeout_s=math.ceil(config.udp_timeout_s),
            tcp_established_timeout_s=math.ceil(config.tcp_established_timeout_s),
            inside_subnet=inside_subnet,
            timeouts=timeouts,
        )


@dataclass(frozen=True)
class NatNode:
    """A NAT placed in a topology: node ``name`` forwards between ``inside_interface`` (UE
    side, ``inside_address``, the UEs' gateway) and ``outside_interface`` (``outside_address``,
    the address the core sees)."""

    name: str
    inside_interface: str
    outside_interface: str
    inside_address: ipaddress.IPv4Interface
    outside_address: ipaddress.IPv4Interface
    spec: NatSpec

    @property
    def table(self) -> str:
        """The nftables table of this NAT (``ip`` family), named after the node."""
        return self.name

    @property
    def gateway(self) -> str:
        """The inside address as text: the UEs' default route."""
        return str(self.inside_address.ip)


class NodeRunner(Protocol):
    """A running namespace node (``network.NetNode``): its shell's pid and a command runner."""

    @property
    def pid(self) -> int: ...

    def run(
        self, argv: Sequence[str], *, timeout_s: float = ..., check: bool = ...
    ) -> subprocess.CompletedProcess[str]: ...


@dataclass(frozen=True)
class NatBox:
    """A configured NAT: where its timeouts went and the sysctl values it set."""

    node: NatNode
    timeout_method: TimeoutMethod
    sysctls: Mapping[str, str]


# ---------------------------------------------------------------- pure builders


def timeout_settings(spec: NatSpec) -> dict[str, str]:
    """The conntrack sysctls and the values ``spec`` gives them."""
    return {key: str(int(getattr(spec, name))) for name, key in CONNTRACK_SYSCTLS.items()}


def route_via_nat_argv(nat: NatNode, interface: str) -> list[str]:
    """The ``ip route`` argv that sends a UE's traffic off its subnet through the NAT."""
    return ["ip", "route", "replace", "default", "via", nat.gateway, "dev", interface]


def nft_ruleset(nat: NatNode, *, ct_timeouts: bool = False) -> str:
    """The nftables table of ``nat`` (one transaction); with ``ct_timeouts`` the spec's
    timeouts as ct timeout objects attached to new flows from the inside."""
    spec = nat.spec
    inside, outside = f'"{nat.inside_interface}"', f'"{nat.outside_interface}"'
    random = " fully-random" if spec.mapping == MappingBehaviour.ADDRESS_AND_PORT_DEPENDENT else ""
    cone = spec.filtering == FilteringBehaviour.ENDPOINT_INDEPENDENT
    stream_s = int(spec.udp_stream_timeout_s)
    lines = [f"table ip {nat.table} {{"]
    if ct_timeouts:
        lines += [
            "  ct timeout udp_binding {",
            "    protocol udp; l3proto ip",
            f"    policy = {{ unreplied: {int(spec.udp_timeout_s)}, replied: {stream_s} }}",
            "  }",
            "  ct timeout tcp_binding {",
            "    protocol tcp; l3proto ip",
            f"    policy = {{ established: {int(spec.tcp_established_timeout_s)} }}",
            "  }",
            "  chain set_timeouts {",
            "    type filter hook prerouting priority filter; policy accept;",
            f'    iifname {inside} meta l4proto udp ct timeout set "udp_binding"',
            f'    iifname {inside} meta l4proto tcp ct timeout set "tcp_binding"',
            "  }",
        ]
    if cone:
        lines += [
            "  map cone_udp {",
            "    type inet_service : ipv4_addr . inet_service",
            f"    flags dynamic, timeout; timeout {stream_s}s",
            "  }",
            "  chain cone_learn {",
            "    type filter hook postrouting priority srcnat + 10; policy accept;",
            f"    oifname {outside} meta l4proto udp update @cone_udp"
            f" {{ udp sport timeout {stream_s}s : ct original ip saddr . ct original proto-src }}",
            "  }",
            "  chain cone_admit {",
            "    type nat hook prerouting priority dstnat; policy accept;",
            f"    iifname {outside} meta l4proto udp dnat ip to udp dport map @cone_udp",
            "  }",
        ]
    lines += [
        "  chain snat_out {",
        "    type nat hook postrouting priority srcnat; policy accept;",
        f"    oifname {outside} masquerade{random}",
        "  }",
        "  chain drop_unsolicited_fwd {",
        "    type filter hook forward priority filter; policy accept;",
        f"    iifname {outside} ct status dnat accept",
        f"    iifname {outside} ct state new drop",
        "  }",
        "  chain drop_unsolicited_in {",
        "    type filter hook input priority filter; policy accept;",
        f"    iifname {outside} meta l4proto {{ tcp, udp }} ct state new drop",
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- in the namespace


def _own_sysctl(key: str) -> str | None:
    """``key`` as the caller's own namespace sees it (None if absent)."""
    try:
        return Path("/proc/sys", *key.split(".")).read_text().strip()
    except OSError:
        return None


def _namespace(pid: int) -> tuple[int, int]:
    info = os.stat(f"/proc/{pid}/ns/net")
    return (info.st_dev, info.st_ino)


def _sysctl_path(key: str) -> str:
    return "/".join(("/proc/sys", *key.split(".")))


def _read_in(node: NodeRunner, key: str) -> str:
    return node.run(["sysctl", "-n", key], timeout_s=COMMAND_TIMEOUT_S).stdout.strip()


def _writable_in(node: NodeRunner, keys: Sequence[str]) -> bool:
    """Whether every ``key`` exists and is writable inside the node's namespace: the kernel
    keeps a conntrack sysctl that is not per-namespace read-only (or absent) there."""
    argv = ["test", "-w", _sysctl_path(keys[0])]
    for key in keys[1:]:
        argv += ["-a", "-w", _sysctl_path(key)]
    return node.run(argv, timeout_s=COMMAND_TIMEOUT_S, check=False).returncode == 0


def _write_in(node: NodeRunner, settings: Mapping[str, str]) -> None:
    argv = ["sysctl", "-q", "-w", *(f"{key}={value}" for key, value in settings.items())]
    node.run(argv, timeout_s=COMMAND_TIMEOUT_S)


@contextlib.contextmanager
def _sysctls_set(node: NodeRunner, settings: Mapping[str, str]) -> Iterator[None]:
    """``settings`` written inside the node's namespace, the previous values back on exit;
    raises (after restoring) if the caller's own namespace saw any of them change."""
    previous = {key: _read_in(node, key) for key in settings}
    own_before = {key: _own_sysctl(key) for key in settings}
    try:
        _write_in(node, settings)
        changed = [key for key in settings if _own_sysctl(key) != own_before[key]]
        if changed:
            raise RuntimeError(f"writing {changed} in the NAT namespace changed them host-wide")
        yield
    finally:
        try:
            _write_in(node, previous)
        except ProcessError as exc:  # the namespace goes at teardown anyway: say so, go on
            log.warning("restoring %s in the NAT namespace: %s", sorted(previous), exc)


def _choose_method(node: NodeRunner, spec: NatSpec) -> TimeoutMethod:
    if spec.timeouts != TimeoutMethod.AUTO:
        return spec.timeouts
    if _writable_in(node, list(CONNTRACK_SYSCTLS.values())):
        return TimeoutMethod.SYSCTL
    log.info("conntrack timeouts are not per-namespace here: using an nftables ct timeout")
    return TimeoutMethod.CT_TIMEOUT


@contextlib.contextmanager
def _nft_table(node: NodeRunner, nat: NatNode, *, ct_timeouts: bool) -> Iterator[None]:
    """The NAT's nftables table, loaded in one transaction; deleted on exit."""
    node.run(["nft", nft_ruleset(nat, ct_timeouts=ct_timeouts)], timeout_s=COMMAND_TIMEOUT_S)
    try:
        yield
    finally:
        node.run(
            ["nft", "delete", "table", "ip", nat.table], timeout_s=COMMAND_TIMEOUT_S, check=False
        )


@contextlib.contextmanager
def configured(node: NodeRunner, nat: NatNode) -> Iterator[NatBox]:
    """Turn ``node`` into the NAT ``nat`` (addresses, forwarding, timeouts, nftables); on
    exit the table is deleted and the namespace's sysctls restored (the addresses go with
    the interfaces). The node's interfaces must exist and be up. Refuses a node in the
    caller's own network namespace."""
    if _namespace(node.pid) == _namespace(os.getpid()):
        raise RuntimeError(f"NAT node {nat.name} shares this process's network namespace")
    for interface, address in (
        (nat.inside_interface, nat.inside_address),
        (nat.outside_interface, nat.outside_address),
    ):
        node.run(
            ["ip", "address", "add", str(address), "dev", interface], timeout_s=COMMAND_TIMEOUT_S
        )
    method = _choose_method(node, nat.spec)
    settings = {IP_FORWARD: "1", **ARP_BY_INTERFACE}
    if method == TimeoutMethod.SYSCTL:
        settings.update(timeout_settings(nat.spec))
    with (
        _sysctls_set(node, settings),
        _nft_table(node, nat, ct_timeouts=method == TimeoutMethod.CT_TIMEOUT),
    ):
        log.info("NAT %s up: timeouts by %s", nat.name, method.value)
        yield NatBox(nat, method, settings)
