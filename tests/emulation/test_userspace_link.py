"""The userspace link for real: RTP-like UDP through a trace-driven segment between namespaces.

The network is the emulation engine's, from a one-segment scenario: the UE host sends, the
far-end host receives, and the single link node runs the userspace link as the engine starts
it, between its two veth ends (no controller, no host-wide setting changed). How late the
link sends is judged against a real-time probe through a kernel bridge beside it, under the
same load (tests/emulation/timing.py). Needs root, mnexec, ethtool and ping (``require``
skips, saying why).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.emulation.conftest import require
from tests.emulation.helpers import new_run_id, pin_neighbour
from tests.emulation.timing import (
    RECEIVER,
    Lateness,
    NotAsPlanned,
    Probe,
    Timed,
    kernel_baseline,
    on_time_or_once_more,
)
from voipbed.emulation.cleanup import find_leftovers
from voipbed.emulation.engine import link_starter
from voipbed.emulation.link import RECORD_SCHEMA
from voipbed.emulation.network import EmulatedNetwork, NetNode
from voipbed.emulation.process import LogLine, ManagedProcess
from voipbed.emulation.topology import HostSpec, LinkNodeSpec, Topology, describe
from voipbed.scenario import Scenario, Segment
from voipbed.sim.path import DirectionPackets, carry
from voipbed.sim.segment_link import SegmentLink
from voipbed.trace import DROP_REASONS

pytestmark = pytest.mark.emulation

PORT = 40000
SEED = 11  # the scenario's seed: the link's random streams
SETUP_S = 6.0  # from choosing t0 to the network being up, with room to spare

# A trace-driven radio hop: the UMTS uplink trace opens only at 637 ms and carries ~0.95
# Mbit/s, so 0.8 Mbit/s from the start builds a queue that the 30-packet limit cuts.
RADIO: dict[str, Any] = {
    "name": "radio",
    "uplink_trace": "TMobile-UMTS-driving.up",
    "downlink_trace": "TMobile-UMTS-driving.down",
    "queue": {"packets": 30},
    "harq": {"bler": "10%"},
    "loss": {"model": "gilbert_elliott", "rate": "2%", "burst": 2},
    "one_way_delay": "5ms",
    "jitter": {"distribution": "exponential", "scale": "2ms"},
}
# In a measurement as planned the first packet reaches the link by then (s after t0): 0.8
# Mbit/s until the trace opens brings at least 150 packets, five times the queue limit.
LATE_START_S = 0.3

# Run inside the sender's namespace: COUNT RTP-like packets (12-byte header, 160-byte
# payload: 200-byte IP packets, as G.711 at 20 ms) at START + i * GAP on the monotonic clock.
SENDER = """
import socket, struct, sys, time
dst, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
gap, start = float(sys.argv[4]), float(sys.argv[5])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for seq in range(count):
    due = start + seq * gap
    while time.monotonic() < due:
        time.sleep(max(0.0, due - time.monotonic() - 0.0002))
    sock.sendto(struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x5EED) + bytes(160), (dst, port))
"""


@dataclass
class OneHop:
    """A running one-segment network: UE -- B0 -- L0 (the userspace link) -- B1 -- far end."""

    net: EmulatedNetwork
    topology: Topology
    link: ManagedProcess

    @property
    def ue(self) -> HostSpec:
        """The sender's host."""
        return self.topology.ues[0]

    @property
    def far_end(self) -> HostSpec:
        """The receiver's host."""
        return self.topology.far_end


@contextlib.contextmanager
def one_hop(segment: dict[str, Any], t0: float, work: Path) -> Iterator[OneHop]:
    """The network of a one-call scenario whose path is ``segment``, its link node running
    the userspace link as ``voipbed run --engine emulation`` starts it (clock at ``t0``,
    records in ``work/link-<segment>.parquet``), the UE's ARP entry for the far end set;
    torn down on exit."""
    require("mnexec", "ethtool", "ping")
    scenario = Scenario.model_validate(
        {"name": "link-test", "seed": SEED, "calls": {"count": 1}, "path": [segment]}
    )
    topology = describe(scenario, new_run_id("linktest"))
    links: list[ManagedProcess] = []
    start = link_starter(scenario, work, t0)

    def start_link(node: NetNode, spec: LinkNodeSpec) -> ManagedProcess:
        links.append(start(node, spec))
        return links[-1]

    with EmulatedNetwork(topology, start_link=start_link, state_dir=work / "state") as net:
        pin_neighbour(net, topology, topology.ues[0], topology.far_end)
        yield OneHop(net, topology, links[0])
    assert not find_leftovers(topology.tag, topology.run_id)


def _predicted(records: Any, t0_offset: float = 0.0) -> tuple[np.ndarray, list[str | None]]:
    """The simulator's fates for the packets the link recorded, at their recorded arrivals."""
    segment = Segment.model_validate(RADIO)
    arrive = records["arrive_s"].to_numpy() + t0_offset
    n = arrive.size
    result = carry(
        DirectionPackets(
            arrive,
            np.zeros(n, dtype=np.int64),
            records["wire_bytes"].to_numpy().astype(np.int64),
            np.zeros(n, dtype=np.int64),
            np.zeros(n, dtype=np.bool_),
        ),
        [SegmentLink(segment, "uplink", SEED, run_end_s=float(arrive[-1]) + 1)],
    )
    return result.recv_s, [None if c < 0 else DROP_REASONS[c] for c in result.drop_reason]


def assert_as_predicted(
    records: Any, expected_s: np.ndarray, expected_reason: list[str | None]
) -> np.ndarray:
    """The link's records hold the model's fates, and it sent each packet it forwarded and
    no other; returns which packets it forwarded."""
    reasons = [None if isinstance(r, float) else r for r in records["drop_reason"].tolist()]
    assert reasons == expected_reason
    depart_s = records["depart_s"].to_numpy()
    np.testing.assert_allclose(depart_s, expected_s, rtol=0, atol=1e-9)
    forwarded: np.ndarray = ~np.isnan(depart_s)
    assert np.array_equal(~np.isnan(records["sent_s"].to_numpy()), forwarded)
    return forwarded


def link_lateness(records: Any, forwarded: np.ndarray, received_s: dict[int, float]) -> Lateness:
    """How late the link sent the packets it forwarded (after the model's departure), and
    how long after that the far end's kernel received each (``received_s`` by RTP seq)."""
    sent_s = records["sent_s"].to_numpy()[forwarded]
    seqs = records["rtp_seq"].to_numpy()[forwarded]
    received = np.array([received_s[int(seq)] for seq in seqs])
    return Lateness(sent_s - records["depart_s"].to_numpy()[forwarded], received - sent_s)


def send_through(
    hop: OneHop,
    work: Path,
    t0: float,
    count: int,
    gap_s: float,
    not_before_s: float,
    probe: Probe | None = None,
) -> None:
    """``count`` packets every ``gap_s`` from the UE to the far end's receiver, sent from
    ``not_before_s`` on (and the ``probe``'s over the same time through its own network);
    returns once both ends are done and the link has written its records."""
    rx = ["-c", RECEIVER, str(PORT), repr(t0), "1.0", str(work / "rx.json")]
    receiver = hop.net.start(
        hop.far_end,
        [sys.executable, *rx],
        name="receiver",
        log_dir=work,
        ready=LogLine("receiver ready", "stdout"),
    )
    start_s = max(not_before_s, time.monotonic() + 0.1)
    if probe is not None:
        probe.start(t0, start_s, count * gap_s)
    tx = ["-c", SENDER, hop.far_end.ip, str(PORT), str(count), str(gap_s), repr(start_s)]
    sender = hop.net.start(hop.ue, [sys.executable, *tx], name="sender", log_dir=work)
    assert sender.wait(timeout_s=start_s - time.monotonic() + count * gap_s + 10.0) == 0
    assert receiver.wait(timeout_s=15.0) == 0
    assert hop.link.stop(grace_s=10.0) == 0, hop.link.stderr_tail()


def _through_the_radio(work: Path, attempt: int) -> Timed[None]:
    """Send through the trace-driven hop, beside a kernel-bridge probe; check the link's
    records against the model and the packets received; the link's and the probe's
    lateness. Set-up gets ``attempt`` times SETUP_S."""
    count, gap_s = 700, 0.002
    with kernel_baseline(work / "baseline") as probe:
        t0 = time.monotonic() + attempt * SETUP_S  # the trace starts then
        with one_hop(RADIO, t0, work) as hop:
            send_through(hop, work, t0, count, gap_s, not_before_s=t0, probe=probe)
        baseline = probe.lateness(timeout_s=10.0)

    table = pq.read_table(work / "link-radio.parquet").to_pandas()
    uplink = table[(table["direction"] == "uplink") & (table["dport"] == PORT)]
    assert uplink["rtp_seq"].tolist() == list(range(count))
    assert (uplink["rtp_ssrc"] == 0x5EED).all() and (uplink["wire_bytes"] == 200).all()
    assert np.all(np.diff(uplink["arrive_s"].to_numpy()) >= 0)

    expected_s, expected_reason = _predicted(uplink)
    forwarded = assert_as_predicted(uplink, expected_s, expected_reason)

    # Queueing is visible: packets waited for the trace, and the queue limit dropped some.
    # That needs the packets to come before the trace opens: set-up must not overrun t0.
    arrive_s = uplink["arrive_s"].to_numpy()
    if arrive_s[0] > LATE_START_S:
        raise NotAsPlanned(f"the first packet reached the link {arrive_s[0]:.2f} s after t0")
    assert np.nanmax(uplink["depart_s"].to_numpy() - arrive_s) > 0.1
    assert "queue" in expected_reason
    assert forwarded.sum() > count // 4

    received = json.loads((work / "rx.json").read_text())
    assert sorted(seq for seq, _ in received) == uplink["rtp_seq"].to_numpy()[forwarded].tolist()
    return Timed(None, link_lateness(uplink, forwarded, dict(received)), baseline)


def test_trace_link_departures_match_the_model(tmp_path: Path) -> None:
    """The link forwards only the packets the model forwards, each when the model says, as
    punctually as a real-time sender through a kernel bridge beside it (timing.late_beyond)."""
    on_time_or_once_more(_through_the_radio, tmp_path)


def test_sigint_stops_the_link_and_writes_its_records(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT) ends the link process with exit code 0 and a complete records file."""
    with one_hop({"name": "wire", "one_way_delay": "1ms"}, time.monotonic(), tmp_path) as hop:
        hop.net.node(hop.ue).run(
            ["ping", "-c", "3", "-i", "0.2", "-W", "1", hop.far_end.ip], timeout_s=10.0
        )
        os.killpg(hop.link.pid, signal.SIGINT)
        assert hop.link.wait(timeout_s=10.0) == 0, hop.link.stderr_tail()
    table = pq.read_table(tmp_path / "link-wire.parquet")
    assert table.schema.equals(RECORD_SCHEMA)
    icmp = table.to_pandas().query("protocol == 1")
    assert sorted(icmp["direction"].tolist()) == ["downlink"] * 3 + ["uplink"] * 3
    assert icmp["drop_reason"].isna().all()
    assert ((icmp["depart_s"] - icmp["arrive_s"]).round(9) == 0.001).all()
