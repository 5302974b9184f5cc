"""Where the emulation captures, how tcpdump is asked to, and what it reports (capture_files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from voipbed.emulation.capture_files import (
    CAPTURE_DIR,
    capture_counts,
    capture_points,
    tcpdump_argv,
)
from voipbed.emulation.nat_box import NatSpec
from voipbed.emulation.topology import Topology, describe
from voipbed.scenario import Scenario

RUN_ID = "capture-20261205T083000Z-1a2b3c4d"


def scenario(calls: int = 2, segments: int = 2) -> Scenario:
    path = [{"name": f"seg{i}", "one_way_delay": "5ms"} for i in range(segments)]
    return Scenario.model_validate({"name": "t", "calls": {"count": calls}, "path": path})


def peer(topology: Topology, node: str, interface: str) -> str:
    """The node at the other end of ``node``'s ``interface``."""
    for veth in topology.veths:
        if (veth.node_a, veth.iface_a) == (node, interface):
            return veth.node_b
        if (veth.node_b, veth.iface_b) == (node, interface):
            return veth.node_a
    raise AssertionError(f"{node} has no interface {interface}")


@pytest.mark.parametrize("segments", [1, 3])
def test_the_ue_capture_faces_the_first_link_and_the_far_ends_the_last(segments: int) -> None:
    """UE side: the access bridge's port to L0; far end: the core bridge's port to the last
    link node."""
    topology = describe(scenario(segments=segments), RUN_ID)
    ue, far_end = capture_points(topology)
    assert (ue.name, far_end.name) == ("ue", "far_end")
    assert ue.node == topology.access_bridge.name
    assert far_end.node == topology.core_bridge.name
    assert ue.interface in topology.access_bridge.ports
    assert far_end.interface in topology.core_bridge.ports
    assert peer(topology, ue.node, ue.interface) == topology.link_nodes[0].name
    assert peer(topology, far_end.node, far_end.interface) == topology.link_nodes[-1].name


def test_behind_a_nat_of_the_ues_the_far_end_capture_faces_the_nat() -> None:
    """With the UEs behind a NAT, the far end's capture is on the NAT's side of the core."""
    topology = describe(scenario(), RUN_ID, nat=NatSpec())
    assert topology.nat is not None
    _, far_end = capture_points(topology)
    assert peer(topology, far_end.node, far_end.interface) == topology.nat.name


def test_the_files_are_under_the_run_folders_captures() -> None:
    """Each capture's file is ``captures/<name>.pcap``."""
    points = capture_points(describe(scenario(), RUN_ID))
    assert [p.file for p in points] == [f"{CAPTURE_DIR}/ue.pcap", f"{CAPTURE_DIR}/far_end.pcap"]


def test_tcpdump_writes_udp_of_one_interface_at_once_with_nanoseconds() -> None:
    """The argv names the interface and file, keeps UDP, and asks for immediate, per-packet,
    nanosecond output."""
    argv = tcpdump_argv("vbX-e0", Path("/run/captures/ue.pcap"))
    assert argv[0] == "tcpdump"
    assert argv[argv.index("-i") + 1] == "vbX-e0"
    assert argv[argv.index("-w") + 1] == "/run/captures/ue.pcap"
    assert argv[argv.index("--time-stamp-precision") + 1] == "nano"
    assert {"-U", "--immediate-mode", "-n"} <= set(argv)
    assert argv[-1] == "udp"


def test_tcpdumps_closing_counts_are_read_from_its_stderr() -> None:
    """The three counts tcpdump prints on exit, by name; other lines are ignored."""
    stderr = (
        "tcpdump: listening on vbX-e0, link-type EN10MB (Ethernet), snapshot length 262144\n"
        "2237 packets captured\n"
        "2240 packets received by filter\n"
        "1 packet dropped by kernel\n"
    )
    assert capture_counts(stderr) == {
        "captured": 2237,
        "received_by_filter": 2240,
        "dropped_by_kernel": 1,
    }
    assert capture_counts("tcpdump: listening on vbX-e0\n") == {}
