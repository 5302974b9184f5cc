"""The NAT node for real: nftables masquerade and conntrack timeouts inside its namespace only.

Needs root, mnexec, ethtool, nsenter, nft, sysctl and conntrack (``require`` skips, saying why,
otherwise). Each test builds the default scenario's network behind a NAT under its own run
id; UDP sockets are plain Python sockets created inside the UE and core namespaces
(``socket_in_namespace``), so all traffic stays inside the test's namespaces.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.emulation.conftest import require
from tests.emulation.helpers import DEFAULT, default_topology, new_run_id
from voipbed.emulation.cleanup import find_leftovers
from voipbed.emulation.nat_box import (
    CONNTRACK_SYSCTLS,
    NatNode,
    NatSpec,
    TimeoutMethod,
    configured,
)
from voipbed.emulation.netns import socket_in_namespace
from voipbed.emulation.network import EmulatedNetwork, NetNode
from voipbed.emulation.process import run_command
from voipbed.emulation.topology import LinkNodeSpec, Topology, describe
from voipbed.loader import load_scenario
from voipbed.models.nat import FilteringBehaviour, MappingBehaviour

pytestmark = pytest.mark.emulation
RUN_PREFIX = "nattest"

SHORT_S = 3  # the binding timeout under test: short, so a test waits seconds, not minutes
IDLE_S = SHORT_S + 1.5  # idle time that outlives the binding, with margin for a busy machine
KEEPALIVE_S = 1.0  # keep-alive interval well inside the timeout
ARRIVE_S = 3.0  # how long a packet that must arrive may take
ABSENT_S = 1.0  # how long to wait for a packet that must not arrive
UE_PORT, CORE_PORT = 40_000, 45_060

HOST_FORWARDING = ("net/ipv4/ip_forward", "net/ipv4/conf/all/forwarding")
VOLATILE = {"nf_conntrack_count"}  # changes with the host's own traffic


def host_settings() -> dict[str, str]:
    """This namespace's forwarding switches and every netfilter sysctl but the entry count."""
    paths = [Path("/proc/sys", name) for name in HOST_FORWARDING]
    paths += sorted(p for p in Path("/proc/sys/net/netfilter").iterdir() if p.name not in VOLATILE)
    values = {}
    for path in paths:
        with contextlib.suppress(OSError):
            values[str(path)] = path.read_text()
    return values


def nat_topology(spec: NatSpec) -> Topology:
    """The default scenario's network (one UE) behind ``spec``, under a fresh run id."""
    return describe(load_scenario(DEFAULT), new_run_id(RUN_PREFIX), max_ue_hosts=1, nat=spec)


def short_nat(
    timeouts: TimeoutMethod = TimeoutMethod.SYSCTL,
    mapping: MappingBehaviour = MappingBehaviour.ENDPOINT_INDEPENDENT,
    filtering: FilteringBehaviour = FilteringBehaviour.ADDRESS_AND_PORT_DEPENDENT,
) -> NatSpec:
    """A NAT whose UDP bindings live SHORT_S seconds, replied or not."""
    return NatSpec(
        mapping=mapping,
        filtering=filtering,
        udp_timeout_s=SHORT_S,
        udp_stream_timeout_s=SHORT_S,
        tcp_established_timeout_s=SHORT_S + 2,
        timeouts=timeouts,
    )


def sysctl_in(node: NetNode, key: str) -> str:
    """``key`` as the node's namespace sees it."""
    return node.run(["sysctl", "-n", key]).stdout.strip()


def nft_tables(node: NetNode | None = None) -> str:
    """``nft list tables`` in ``node``'s namespace, or in this one."""
    argv = ["nft", "list", "tables"]
    if node is None:
        return run_command(argv, timeout_s=5).stdout
    return node.run(argv).stdout


@contextlib.contextmanager
def udp_socket(node: NetNode, address: str, port: int) -> Iterator[socket.socket]:
    """A UDP socket bound to ``address:port`` inside ``node``'s namespace."""
    sock = socket_in_namespace(node.pid, socket.AF_INET, socket.SOCK_DGRAM)
    with sock:
        sock.bind((address, port))
        yield sock


def receive(sock: socket.socket, timeout_s: float) -> tuple[bytes, tuple[str, int]] | None:
    """The next datagram and its source, or None if none comes within ``timeout_s``."""
    sock.settimeout(timeout_s)
    try:
        data, source = sock.recvfrom(2048)
    except TimeoutError:
        return None
    return data, (str(source[0]), int(source[1]))


def send_and_take(
    sender: socket.socket, receiver: socket.socket, to: tuple[str, int], data: bytes
) -> tuple[str, int]:
    """Send ``data`` to ``to`` and return the source the receiver sees it from."""
    sender.sendto(data, to)
    got = receive(receiver, ARRIVE_S)
    assert got is not None and got[0] == data, f"{data!r} to {to} did not arrive"
    return got[1]


@pytest.fixture
def nat_tools() -> None:
    require("mnexec", "ethtool", "nsenter", "nft", "sysctl")


@pytest.mark.usefixtures("nat_tools")
@pytest.mark.parametrize("method", [TimeoutMethod.SYSCTL, TimeoutMethod.CT_TIMEOUT])
def test_host_conntrack_settings_unchanged(tmp_path: Path, method: TimeoutMethod) -> None:
    """A NAT with non-default timeouts sets them in its namespace only: the host's conntrack
    sysctls and forwarding are the same before, during and after; nothing is left."""
    spec = NatSpec(
        udp_timeout_s=7, udp_stream_timeout_s=11, tcp_established_timeout_s=13, timeouts=method
    )
    topo = nat_topology(spec)
    assert topo.nat is not None
    before = host_settings()
    tables_before = nft_tables()
    with EmulatedNetwork(topo, state_dir=tmp_path) as net:
        nat = net.node(topo.nat.name)
        assert net.nat is not None and net.nat.timeout_method == method
        assert sysctl_in(nat, "net.ipv4.ip_forward") == "1"
        inside = {key: sysctl_in(nat, key) for key in CONNTRACK_SYSCTLS.values()}
        expected = ["7", "11", "13"] if method == TimeoutMethod.SYSCTL else ["30", "120", "432000"]
        assert list(inside.values()) == expected
        ruleset = nat.run(["nft", "list", "table", "ip", topo.nat.table]).stdout
        assert ("policy = { unreplied : 7, replied : 11 }" in ruleset) == (
            method == TimeoutMethod.CT_TIMEOUT
        )
        assert host_settings() == before
    assert host_settings() == before
    assert nft_tables() == tables_before
    assert not find_leftovers(topo.tag, topo.run_id)
    assert not list(tmp_path.iterdir())


@pytest.mark.usefixtures("nat_tools")
@pytest.mark.parametrize("method", [TimeoutMethod.SYSCTL, TimeoutMethod.CT_TIMEOUT])
def test_udp_binding_lives_with_keepalives_and_expires_without(
    tmp_path: Path, method: TimeoutMethod
) -> None:
    """The core sees the NAT's outside address; replies reach the UE; keep-alives inside the
    timeout keep the binding past it; idle past the timeout, the core's packet to the
    external port is dropped; after a keep-alive, the re-created binding delivers again."""
    topo = nat_topology(short_nat(method))
    assert topo.nat is not None
    ue, core = topo.ues[0], topo.sip_core
    outside_ip = str(topo.nat.outside_address.ip)
    with (
        EmulatedNetwork(topo, state_dir=tmp_path) as net,
        udp_socket(net.node(ue), ue.ip, UE_PORT) as phone,
        udp_socket(net.node(core), core.ip, CORE_PORT) as server,
    ):
        registrar = (core.ip, CORE_PORT)
        external = send_and_take(phone, server, registrar, b"REGISTER")
        assert external[0] == outside_ip != ue.ip  # masquerade: the core sees the NAT
        assert send_and_take(server, phone, external, b"200 OK") == registrar

        kept_since = time.monotonic()
        while time.monotonic() - kept_since < SHORT_S + 1:
            time.sleep(KEEPALIVE_S)
            assert send_and_take(phone, server, registrar, b"keep-alive") == external
        send_and_take(server, phone, external, b"INVITE kept")  # older than the timeout

        time.sleep(IDLE_S)
        server.sendto(b"INVITE expired", external)
        assert receive(phone, ABSENT_S) is None  # the binding expired: dropped at the NAT

        refreshed = send_and_take(phone, server, registrar, b"keep-alive")
        # The dropped packet created no conntrack entry, so the port is preserved again.
        assert refreshed == external
        send_and_take(server, phone, refreshed, b"INVITE refreshed")
    assert not find_leftovers(topo.tag, topo.run_id)


def conntrack_timeout_s(nat: NetNode, port: int) -> int:
    """The seconds left on the NAT's UDP conntrack entry of source port ``port``."""
    listing = nat.run(["conntrack", "-L", "-p", "udp"]).stdout
    lines = [line.split() for line in listing.splitlines() if f"sport={port} " in line]
    assert len(lines) == 1, listing
    return int(lines[0][2])  # "udp 17 <seconds left> src=..."


@pytest.mark.usefixtures("nat_tools")
@pytest.mark.parametrize("method", [TimeoutMethod.SYSCTL, TimeoutMethod.CT_TIMEOUT])
def test_conntrack_entry_carries_the_configured_timeouts(
    tmp_path: Path, method: TimeoutMethod
) -> None:
    """The NAT's entry of a new UDP flow has at most the unreplied timeout left; once the
    flow has a reply and is still active after two seconds, more than that and at most the
    stream timeout (both far below netfilter's defaults, 30 and 120 s)."""
    require("conntrack")
    unreplied_s, stream_s = 8, 20
    spec = NatSpec(udp_timeout_s=unreplied_s, udp_stream_timeout_s=stream_s, timeouts=method)
    topo = nat_topology(spec)
    assert topo.nat is not None
    ue, core = topo.ues[0], topo.sip_core
    registrar = (core.ip, CORE_PORT)
    with (
        EmulatedNetwork(topo, state_dir=tmp_path) as net,
        udp_socket(net.node(ue), ue.ip, UE_PORT) as phone,
        udp_socket(net.node(core), core.ip, CORE_PORT) as server,
    ):
        nat = net.node(topo.nat.name)
        external = send_and_take(phone, server, registrar, b"REGISTER")
        assert 0 < conntrack_timeout_s(nat, UE_PORT) <= unreplied_s
        send_and_take(server, phone, external, b"200 OK")
        time.sleep(2.5)  # the kernel calls a replied flow a stream after two seconds
        send_and_take(phone, server, registrar, b"keep-alive")
        assert unreplied_s < conntrack_timeout_s(nat, UE_PORT) <= stream_s


@pytest.mark.usefixtures("nat_tools")
@pytest.mark.parametrize(
    ("mapping", "independent"),
    [
        (MappingBehaviour.ENDPOINT_INDEPENDENT, True),
        (MappingBehaviour.ADDRESS_AND_PORT_DEPENDENT, False),
    ],
)
def test_mapping_behaviour(tmp_path: Path, mapping: MappingBehaviour, independent: bool) -> None:
    """From one UE socket to three core ports: masquerade keeps one external port (the UE's
    own) for all; fully-random masquerade gives the remotes different external ports."""
    topo = nat_topology(short_nat(mapping=mapping))
    ue, core = topo.ues[0], topo.sip_core
    ports = [CORE_PORT + k for k in range(3)]
    with contextlib.ExitStack() as stack:
        net = stack.enter_context(EmulatedNetwork(topo, state_dir=tmp_path))
        phone = stack.enter_context(udp_socket(net.node(ue), ue.ip, UE_PORT))
        servers = [stack.enter_context(udp_socket(net.node(core), core.ip, p)) for p in ports]
        seen = {
            send_and_take(phone, server, (core.ip, port), b"probe")[1]
            for server, port in zip(servers, ports, strict=True)
        }
    assert (seen == {UE_PORT}) == independent
    assert (len(seen) > 1) == (not independent)


@pytest.mark.usefixtures("nat_tools")
@pytest.mark.parametrize(
    ("filtering", "admits_others"),
    [
        (FilteringBehaviour.ADDRESS_AND_PORT_DEPENDENT, False),
        (FilteringBehaviour.ENDPOINT_INDEPENDENT, True),
    ],
)
def test_filtering_behaviour(
    tmp_path: Path, filtering: FilteringBehaviour, admits_others: bool
) -> None:
    """After the UE sent to the core, a packet from another port of the core and one from
    the far end reach the UE only with endpoint-independent filtering; the contacted
    endpoint's reply reaches it either way."""
    topo = nat_topology(short_nat(filtering=filtering))
    ue, core, far = topo.ues[0], topo.sip_core, topo.far_end
    with contextlib.ExitStack() as stack:
        net = stack.enter_context(EmulatedNetwork(topo, state_dir=tmp_path))
        phone = stack.enter_context(udp_socket(net.node(ue), ue.ip, UE_PORT))
        server = stack.enter_context(udp_socket(net.node(core), core.ip, CORE_PORT))
        other_port = stack.enter_context(udp_socket(net.node(core), core.ip, CORE_PORT + 1))
        stranger = stack.enter_context(udp_socket(net.node(far), far.ip, CORE_PORT))
        external = send_and_take(phone, server, (core.ip, CORE_PORT), b"hello")
        arrived = []
        for sock, source in (
            (other_port, (core.ip, CORE_PORT + 1)),
            (stranger, (far.ip, CORE_PORT)),
        ):
            sock.sendto(b"unsolicited", external)
            got = receive(phone, ARRIVE_S if admits_others else ABSENT_S)
            arrived.append(got is not None and got == (b"unsolicited", source))
        assert arrived == [admits_others, admits_others]
        if admits_others:  # the UE answers the stranger through the same external port
            assert send_and_take(phone, stranger, (far.ip, CORE_PORT), b"reply") == external
        assert send_and_take(server, phone, external, b"reply") == (core.ip, CORE_PORT)
    assert not find_leftovers(topo.tag, topo.run_id)


@pytest.mark.usefixtures("nat_tools")
def test_configured_undoes_itself_inside_the_namespace(tmp_path: Path) -> None:
    """On exit, configured() deletes the NAT's nftables table and restores the namespace's
    forwarding and conntrack timeouts, while the namespace still exists."""
    topo = default_topology(RUN_PREFIX)

    def idle_link(node: NetNode, spec: LinkNodeSpec) -> contextlib.AbstractContextManager[object]:
        return contextlib.nullcontext()

    with EmulatedNetwork(topo, start_link=idle_link, state_dir=tmp_path) as net:
        link = topo.link_nodes[0]
        node = net.node(link)
        spec = NatSpec(
            udp_timeout_s=5,
            udp_stream_timeout_s=6,
            tcp_established_timeout_s=7,
            timeouts=TimeoutMethod.SYSCTL,
        )
        keys = ["net.ipv4.ip_forward", *CONNTRACK_SYSCTLS.values()]
        before = {key: sysctl_in(node, key) for key in keys}
        nat = NatNode(
            link.name,
            link.iface_a,
            link.iface_b,
            ipaddress.IPv4Interface("100.64.0.1/24"),
            ipaddress.IPv4Interface("10.0.0.3/24"),
            spec,
        )
        with configured(node, nat) as box:
            assert box.timeout_method == TimeoutMethod.SYSCTL
            assert [sysctl_in(node, key) for key in keys] == ["1", "5", "6", "7"]
            assert f"table ip {nat.table}" in nft_tables(node)
        assert {key: sysctl_in(node, key) for key in keys} == before
        assert nat.table not in nft_tables(node)


def test_configured_refuses_the_callers_namespace() -> None:
    """configured() refuses a node in the caller's own namespace before running anything."""
    topo = nat_topology(NatSpec())
    assert topo.nat is not None
    here = NetNode("here", os.getpid())
    with (
        pytest.raises(RuntimeError, match="shares this process's network namespace"),
        configured(here, topo.nat),
    ):
        pass
