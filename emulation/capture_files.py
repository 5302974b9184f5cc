"""Packet captures at both ends of the emulated path: tcpdump writing pcap into the run folder.

Two captures cover every call of a run, each on one port of a bridge node, the
port that faces the path's link nodes:

- ``captures/ue.pcap``: the access bridge's port towards the first link node,
  where the UEs' media enter the path and the far end's leave it;
- ``captures/far_end.pcap``: the core bridge's port towards the last node of the
  chain (the last link node, or the UEs' NAT), where the far end's media enter
  and the UEs' leave.

So the UE side's capture is the phones' end (``voipbed import`` takes it first)
and the pair measures what the links measure: each packet's time into and out
of the impaired path, one veth away from the links' own records. tcpdump keeps
UDP only (media, RTCP, SIP over UDP), over IPv4 or IPv6 (pcap's ``udp`` is ``ip proto udp
or ip6 proto udp``; IPv6 neighbour discovery, being ICMPv6, is left out), takes each
packet from the kernel as it comes (``--immediate-mode``: without it, packets still in the
ring's current block when SIGTERM arrives are lost) and writes it at once (``-U``), with
nanosecond timestamps, and stays root (``-Z root``: Debian's tcpdump would
otherwise hand the file to its own ``tcpdump`` user, unlike the run's other
files). SIGTERM at teardown makes it close the file and print its counts,
which :func:`capture_counts` reads from its log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voipbed.emulation.network import EmulatedNetwork
from voipbed.emulation.process import LogLine, ManagedProcess
from voipbed.emulation.topology import Topology

__all__ = [
    "CAPTURE_DIR",
    "FILTER",
    "CapturePoint",
    "RunningCapture",
    "capture_counts",
    "capture_points",
    "captures_manifest",
    "start_captures",
    "tcpdump_argv",
]

CAPTURE_DIR = "captures"
FILTER = "udp"
READY_PATTERN = r"listening on \S+, link-type"  # tcpdump on stderr once the capture is open
READY_TIMEOUT_S = 10.0
_COUNT = re.compile(r"^(\d+) packets? (captured|received by filter|dropped by kernel)$")


@dataclass(frozen=True)
class CapturePoint:
    """Where one capture is taken: the bridge ``node`` and its ``interface``, written to
    ``file`` (relative to the run folder)."""

    name: str
    node: str
    interface: str

    @property
    def file(self) -> str:
        """The capture's path relative to the run folder (``captures/ue.pcap``)."""
        return f"{CAPTURE_DIR}/{self.name}.pcap"


def _port(topology: Topology, bridge: str, neighbour: str) -> str:
    """The interface of ``bridge`` on its veth to ``neighbour``."""
    for veth in topology.veths:
        if (veth.node_a, veth.node_b) == (bridge, neighbour):
            return veth.iface_a
        if (veth.node_a, veth.node_b) == (neighbour, bridge):
            return veth.iface_b
    raise ValueError(f"no veth joins {bridge} and {neighbour}")


def capture_points(topology: Topology) -> tuple[CapturePoint, CapturePoint]:
    """The UE side's capture point, then the far end's (see the module docstring)."""
    first = topology.link_nodes[0].name
    uplink_last = topology.link_nodes[-1].name
    if topology.nat is not None and topology.phones is None:
        uplink_last = topology.nat.name  # the UEs' NAT sits after the last link node
    access, core = topology.access_bridge.name, topology.core_bridge.name
    return (
        CapturePoint("ue", access, _port(topology, access, first)),
        CapturePoint("far_end", core, _port(topology, core, uplink_last)),
    )


def tcpdump_argv(interface: str, output: Path) -> list[str]:
    """tcpdump capturing ``interface``'s UDP into the pcap file ``output``."""
    return [
        "tcpdump",
        "-i",
        interface,
        "-n",
        "-U",  # each packet written as it comes: a killed capture keeps what it saw
        "--immediate-mode",  # else TPACKET_V3 holds packets in blocks that SIGTERM loses
        "-Z",
        "root",
        "--time-stamp-precision",
        "nano",
        "-w",
        str(output),
        FILTER,
    ]


@dataclass(frozen=True)
class RunningCapture:
    """A capture point and the tcpdump that captures there."""

    point: CapturePoint
    process: ManagedProcess


def start_captures(net: EmulatedNetwork, run_dir: Path, log_dir: Path) -> list[RunningCapture]:
    """Start a capture at each of ``net``'s capture points, writing under ``run_dir``, its
    log in ``log_dir``; returns once both are open. The network stops them at teardown,
    before the links."""
    (run_dir / CAPTURE_DIR).mkdir(parents=True, exist_ok=True)
    return [
        RunningCapture(
            point,
            net.start(
                point.node,
                tcpdump_argv(point.interface, run_dir / point.file),
                name=f"tcpdump-{point.name}",
                log_dir=log_dir,
                ready=LogLine(READY_PATTERN, "stderr"),
                timeout_s=READY_TIMEOUT_S,
            ),
        )
        for point in capture_points(net.topology)
    ]


def captures_manifest(captures: list[RunningCapture]) -> dict[str, dict[str, Any]]:
    """What the manifest says of the stopped captures: file, node and interface, and
    tcpdump's counts."""
    return {
        capture.point.name: {
            "file": capture.point.file,
            "node": capture.point.node,
            "interface": capture.point.interface,
            "filter": FILTER,
            "exit_code": capture.process.returncode,
            **capture_counts(_read(capture.process.stderr_path)),
        }
        for capture in captures
    }


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def capture_counts(stderr: str) -> dict[str, int]:
    """tcpdump's closing counts from its stderr: ``captured``, ``received_by_filter``,
    ``dropped_by_kernel`` (those it printed; none when it was killed)."""
    counts = {}
    for line in stderr.splitlines():
        match = _COUNT.match(line.strip())
        if match:
            counts[match.group(2).replace(" ", "_")] = int(match.group(1))
    return counts
