"""The emulated network's pure description: names, shape, addresses (emulation.topology)."""

from __future__ import annotations

import ipaddress
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest

from voipbed.emulation.names import (
    MAX_INTERFACE_NAME,
    Role,
    interface_name,
    node_name,
    run_tag,
)
from voipbed.emulation.topology import MAX_UE_HOSTS, Topology, describe
from voipbed.loader import load_scenario
from voipbed.scenario import MAX_SEGMENTS, Scenario

ROOT = Path(__file__).resolve().parents[2]
RUN_ID = "default-20261201T130000Z-1a2b3c4d"


def scenario(calls: int = 1, segments: int = 2) -> Scenario:
    path = [{"name": f"seg{i}", "one_way_delay": "5ms"} for i in range(segments)]
    return Scenario.model_validate({"name": "t", "calls": {"count": calls}, "path": path})


def default_topology() -> Topology:
    return describe(load_scenario(ROOT / "scenarios" / "default.yaml"), RUN_ID)


def test_tag_is_short_stable_and_distinct() -> None:
    """A run's tag is vb + 6 hex digits, the same for the same run id, different otherwise."""
    tag = run_tag(RUN_ID)
    assert len(tag) == 8 and tag.startswith("vb")
    int(tag[2:], 16)
    assert run_tag(RUN_ID) == tag
    assert run_tag(RUN_ID + "x") != tag


def test_bad_run_id_and_index_rejected() -> None:
    """Run ids that are not folder names, and node indexes beyond base 36, raise."""
    with pytest.raises(ValueError, match="run id"):
        run_tag("a b")
    with pytest.raises(ValueError, match="index"):
        node_name(run_tag(RUN_ID), Role.UE, 36)
    with pytest.raises(ValueError, match="not a run tag"):
        node_name("eth", Role.UE, 0)


def test_node_and_interface_names_fit_linux_limits() -> None:
    """Node names are 10 characters; every interface name fits IFNAMSIZ and carries the tag."""
    topo = describe(scenario(calls=MAX_UE_HOSTS, segments=MAX_SEGMENTS), RUN_ID)
    assert all(len(name) == 10 and name.startswith(topo.tag) for name in topo.node_names)
    names = [name for veth in topo.veths for name in (veth.iface_a, veth.iface_b)]
    names += [bridge.device for bridge in topo.bridges]
    assert all(len(name) <= MAX_INTERFACE_NAME for name in names)
    assert all(name.startswith(topo.tag) for name in names)
    assert len(set(names)) == len(names)
    assert len(set(topo.node_names)) == len(topo.node_names)
    with pytest.raises(ValueError, match="no valid name"):
        interface_name(node_name(topo.tag, Role.BRIDGE, 0), 1000)


def test_default_scenario_shape() -> None:
    """Default scenario: 10 UEs on the access bridge, L0 (radio), L1 (core), core bridge."""
    topo = default_topology()
    tag = topo.tag
    assert [ue.name for ue in topo.ues] == [f"{tag}U{i}" for i in range(10)]
    assert [(n.name, n.segment_name) for n in topo.link_nodes] == [
        (f"{tag}L0", "radio"),
        (f"{tag}L1", "core"),
    ]
    assert topo.sip_core.name == f"{tag}S0" and topo.sip_core.role is Role.SIP_CORE
    assert topo.far_end.name == f"{tag}F0" and topo.far_end.role is Role.FAR_END
    assert len(topo.access_bridge.ports) == 11
    assert len(topo.core_bridge.ports) == 3


def _neighbours(topo: Topology) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in topo.node_names}
    for veth in topo.veths:
        graph[veth.node_a].add(veth.node_b)
        graph[veth.node_b].add(veth.node_a)
    return graph


@pytest.mark.parametrize("segments", [1, 2, 5])
def test_every_path_crosses_every_link_node_in_order(segments: int) -> None:
    """The UE side reaches the far side only through L0, L1, ... in path order, a chain."""
    topo = describe(scenario(calls=3, segments=segments), RUN_ID)
    graph = _neighbours(topo)
    chain = [topo.access_bridge.name, *(n.name for n in topo.link_nodes), topo.core_bridge.name]
    for left, right in pairwise(chain):
        assert right in graph[left]
    for node in topo.link_nodes:
        assert len(graph[node.name]) == 2  # a link node only joins its two neighbours
    assert all(graph[ue.name] == {topo.access_bridge.name} for ue in topo.ues)
    assert graph[topo.sip_core.name] == graph[topo.far_end.name] == {topo.core_bridge.name}


def test_link_node_interfaces_face_ue_then_far_side() -> None:
    """Each link node's iface_a is on the veth toward the UEs, iface_b toward the far end."""
    topo = describe(scenario(segments=3), RUN_ID)
    by_iface = {}
    for veth in topo.veths:
        by_iface[veth.iface_a] = ("ue-side-end", veth)
        by_iface[veth.iface_b] = ("far-side-end", veth)
    previous = topo.access_bridge.name
    for node in topo.link_nodes:
        side_a, veth_a = by_iface[node.iface_a]
        side_b, veth_b = by_iface[node.iface_b]
        assert (side_a, veth_a.node_a) == ("far-side-end", previous)
        assert side_b == "ue-side-end" and veth_b.node_a == node.name
        previous = node.name
    assert by_iface[topo.link_nodes[-1].iface_b][1].node_b == topo.core_bridge.name


def test_addresses_one_subnet_distinct() -> None:
    """Every addressed host is in the one subnet, each with its own address; nodes that
    forward have none."""
    topo = default_topology()
    addresses = [host.address for host in topo.hosts]
    assert all(address.network == ipaddress.IPv4Network("10.0.0.0/24") for address in addresses)
    assert len(set(addresses)) == len(addresses)
    assert topo.sip_core.ip == "10.0.0.1" and topo.far_end.ip == "10.0.0.2"
    assert topo.ues[0].ip == "10.0.0.11"
    addressed = {host.name for host in topo.hosts}
    forwarders = {n.name for n in topo.link_nodes} | {b.name for b in topo.bridges}
    assert not addressed & forwarders


def test_other_subnet() -> None:
    """A given subnet is used for every host."""
    subnet = ipaddress.IPv4Network("192.168.7.0/24")
    topo = describe(scenario(calls=2), RUN_ID, subnet=subnet)
    assert [host.ip for host in topo.hosts] == [
        "192.168.7.11",
        "192.168.7.12",
        "192.168.7.1",
        "192.168.7.2",
    ]


def test_macs_are_distinct_and_locally_administered() -> None:
    """Every interface has its own unicast, locally administered MAC."""
    topo = default_topology()
    macs = [mac for veth in topo.veths for mac in (veth.mac_a, veth.mac_b)]
    assert not [mac for mac, n in Counter(macs).items() if n > 1]
    assert all(int(mac.split(":")[0], 16) & 0b11 == 0b10 for mac in macs)


def test_calls_beyond_the_ue_limit_share_ue_hosts() -> None:
    """With more calls than UE hosts, call i uses UE i modulo the number of UE hosts."""
    topo = describe(scenario(calls=40), RUN_ID, max_ue_hosts=4)
    assert len(topo.ues) == 4
    assert [topo.ue_for_call(i).index for i in (0, 3, 4, 39)] == [0, 3, 0, 3]
    assert describe(scenario(calls=2), RUN_ID).ue_for_call(1) is not None
    with pytest.raises(ValueError, match="negative"):
        topo.ue_for_call(-1)


def test_one_call_one_ue() -> None:
    """A one-call scenario has exactly one UE host."""
    topo = describe(scenario(calls=1), RUN_ID)
    assert [ue.name for ue in topo.ues] == [f"{topo.tag}U0"]
    assert topo.access_bridge.ports == (f"{topo.tag}B0-e0", f"{topo.tag}B0-e1")


def test_limits_raise() -> None:
    """A bad UE limit or a subnet too small raise with the reason."""
    with pytest.raises(ValueError, match="max_ue_hosts"):
        describe(scenario(), RUN_ID, max_ue_hosts=0)
    with pytest.raises(ValueError, match="too small"):
        describe(scenario(calls=8), RUN_ID, subnet=ipaddress.IPv4Network("10.0.0.0/29"))
