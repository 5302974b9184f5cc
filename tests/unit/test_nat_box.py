"""The NAT node's pure parts: its spec, its nftables ruleset, its place in the topology."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from voipbed.emulation.names import Role
from voipbed.emulation.nat_box import (
    NatNode,
    NatSpec,
    NatSpecError,
    TimeoutMethod,
    nft_ruleset,
    route_via_nat_argv,
    timeout_settings,
)
from voipbed.emulation.topology import describe
from voipbed.loader import load_scenario
from voipbed.models.nat import FilteringBehaviour, MappingBehaviour, NatConfig
from voipbed.models.nat_timeouts import CGN_SYMMETRIC, LINUX_NETFILTER

DEFAULT = Path(__file__).resolve().parents[2] / "scenarios" / "default.yaml"


def node(spec: NatSpec) -> NatNode:
    return NatNode(
        "vb000000N0",
        "vb000000N0-e0",
        "vb000000N0-e1",
        ipaddress.IPv4Interface("100.64.0.1/24"),
        ipaddress.IPv4Interface("10.0.0.3/24"),
        spec,
    )


def test_linux_netfilter_preset_maps_to_the_kernel_defaults() -> None:
    """The model's Linux netfilter preset gives the sysctl defaults 30, 120 and 432000 s."""
    spec = NatSpec.from_config(LINUX_NETFILTER.config)
    assert timeout_settings(spec) == {
        "net.netfilter.nf_conntrack_udp_timeout": "30",
        "net.netfilter.nf_conntrack_udp_timeout_stream": "120",
        "net.netfilter.nf_conntrack_tcp_timeout_established": "432000",
    }
    assert spec.filtering == FilteringBehaviour.ADDRESS_AND_PORT_DEPENDENT


def test_from_config_rounds_up_and_uses_one_udp_timeout_without_an_initial_one() -> None:
    """Without an initial timeout both UDP timeouts are the model's, rounded up."""
    spec = NatSpec.from_config(NatConfig(udp_timeout_s=2.2, tcp_established_timeout_s=7440.5))
    assert (spec.udp_timeout_s, spec.udp_stream_timeout_s) == (3, 3)
    assert spec.tcp_established_timeout_s == 7441
    assert NatSpec.from_config(CGN_SYMMETRIC.config).mapping == (
        MappingBehaviour.ADDRESS_AND_PORT_DEPENDENT
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"mapping": MappingBehaviour.ADDRESS_DEPENDENT},
        {"filtering": FilteringBehaviour.ADDRESS_DEPENDENT},
        {"udp_timeout_s": 2.5},
        {"udp_stream_timeout_s": 0},
        {"tcp_established_timeout_s": float("inf")},
        {"inside_subnet": ipaddress.IPv4Network("100.64.0.0/31")},
    ],
)
def test_spec_refuses_what_netfilter_cannot_do(changes: dict[str, object]) -> None:
    """Address-dependent behaviour, fractional or non-positive timeouts, a tiny subnet."""
    with pytest.raises(NatSpecError):
        NatSpec(**changes)  # type: ignore[arg-type]


def test_default_ruleset_masquerades_and_drops_unsolicited_inbound() -> None:
    """Plain masquerade on the outside interface, unsolicited inbound dropped, no cone map
    and no ct timeout object."""
    ruleset = nft_ruleset(node(NatSpec()))
    assert ruleset.startswith("table ip vb000000N0 {")
    assert 'oifname "vb000000N0-e1" masquerade\n' in ruleset
    assert 'iifname "vb000000N0-e1" ct state new drop' in ruleset
    assert "cone_udp" not in ruleset and "ct timeout" not in ruleset
    assert ruleset.count("{") == ruleset.count("}")


def test_symmetric_mapping_cone_filtering_and_ct_timeouts() -> None:
    """Fully random masquerade, the cone map kept for the stream timeout, and ct timeout
    policies holding the spec's values, attached on the inside interface."""
    spec = NatSpec(
        mapping=MappingBehaviour.ADDRESS_AND_PORT_DEPENDENT,
        filtering=FilteringBehaviour.ENDPOINT_INDEPENDENT,
        udp_timeout_s=4,
        udp_stream_timeout_s=9,
        tcp_established_timeout_s=60,
    )
    ruleset = nft_ruleset(node(spec), ct_timeouts=True)
    assert "masquerade fully-random" in ruleset
    assert "timeout 9s" in ruleset and "dnat ip to udp dport map @cone_udp" in ruleset
    assert "policy = { unreplied: 4, replied: 9 }" in ruleset
    assert "policy = { established: 60 }" in ruleset
    assert 'iifname "vb000000N0-e0" meta l4proto udp ct timeout set "udp_binding"' in ruleset


def test_topology_puts_the_nat_between_the_last_link_node_and_the_core() -> None:
    """With a NAT: UEs on the inside subnet, node N0 after the link nodes, its interfaces
    facing the last link node and the core bridge; the core side keeps its addresses."""
    scenario = load_scenario(DEFAULT)
    plain = describe(scenario, "nat-unit-1", max_ue_hosts=2)
    topo = describe(scenario, "nat-unit-1", max_ue_hosts=2, nat=NatSpec())
    assert plain.nat is None and topo.nat is not None
    nat = topo.nat
    assert nat.name == f"{topo.tag}{Role.NAT.value}0"
    assert topo.node_names == (*plain.node_names[:-3], nat.name, *plain.node_names[-3:])
    assert [ue.ip for ue in topo.ues] == ["100.64.0.11", "100.64.0.12"]
    assert (nat.gateway, str(nat.outside_address)) == ("100.64.0.1", "10.0.0.3/24")
    assert (topo.sip_core.ip, topo.far_end.ip) == (plain.sip_core.ip, plain.far_end.ip)
    pairs = {(v.node_a, v.node_b): (v.iface_a, v.iface_b) for v in topo.veths}
    last_link = topo.link_nodes[-1]
    assert pairs[(last_link.name, nat.name)] == (last_link.iface_b, nat.inside_interface)
    assert pairs[(nat.name, topo.core_bridge.name)][0] == nat.outside_interface
    assert route_via_nat_argv(nat, topo.ues[0].interface)[-3:] == [
        "100.64.0.1",
        "dev",
        topo.ues[0].interface,
    ]


def test_timeouts_method_passes_through_from_config() -> None:
    """from_config keeps the chosen timeout method and inside subnet."""
    subnet = ipaddress.IPv4Network("100.64.8.0/24")
    spec = NatSpec.from_config(NatConfig(), inside_subnet=subnet, timeouts=TimeoutMethod.CT_TIMEOUT)
    assert (spec.inside_subnet, spec.timeouts) == (subnet, TimeoutMethod.CT_TIMEOUT)
