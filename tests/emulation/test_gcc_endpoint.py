"""The GCC endpoints for real: RTP and feedback over UDP, on loopback and through a bottleneck.

On 127.0.0.1 the sender and receiver run as subprocesses with nothing between
them: feedback flows and GCC's target climbs from the codec's lowest mode to
its ceiling. Between two network namespaces joined by the project's userspace
link (the engine's network of a one-segment scenario, its link started as the
engine starts it) whose capacity is below the codec's top rate, the sender
starting at that top rate is brought under the capacity. Each test runs with
both feedback formats. The namespace test needs root, mnexec and ethtool
(``require`` skips, saying why); everything is torn down by the network's and
the processes' own context managers, also on failure.
"""

from __future__ import annotations

import contextlib
import csv
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.emulation.conftest import require
from tests.emulation.helpers import LOOPBACK, free_ports, new_run_id, pin_neighbour
from voipbed.emulation.cleanup import find_leftovers
from voipbed.emulation.engine import link_starter
from voipbed.emulation.gcc_arrivals import FeedbackFormat
from voipbed.emulation.gcc_endpoint import DONE_LINE, READY_LINE, receiver_argv, sender_argv
from voipbed.emulation.gcc_receiver import ReceiverSettings
from voipbed.emulation.gcc_sender import SenderSettings
from voipbed.emulation.network import EmulatedNetwork
from voipbed.emulation.process import LogLine, ManagedProcess
from voipbed.emulation.topology import Topology, describe
from voipbed.scenario import Scenario

pytestmark = pytest.mark.emulation

READY_TIMEOUT_S = 30.0  # a cold interpreter importing numpy and the models on a busy machine
EXIT_GRACE_S = 30.0  # past a process's planned end before it counts as stuck
PORT = 40000
SETUP_S = 6.0  # from choosing t0 to the network being up (the links load their kernels)
CAPACITY_BPS = 36_000.0  # below AMR-WB 23.85's 43.6 kbit/s of IP packets, above 12.65's
BOTTLENECK: dict[str, Any] = {
    "name": "bottleneck",
    "capacity": f"{CAPACITY_BPS:g}bps",
    "one_way_delay": "20ms",
    "queue": {"packets": 25},
}


def read_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV log."""
    with path.open() as handle:
        return list(csv.DictReader(handle))


def column(rows: list[dict[str, str]], name: str) -> list[float]:
    """One column as floats (NaN for an empty cell)."""
    return [float(row[name]) if row[name] else float("nan") for row in rows]


@dataclass(frozen=True)
class Logs:
    """What a sender and a receiver logged."""

    sent: list[dict[str, str]]
    reports: list[dict[str, str]]
    received: list[dict[str, str]]
    feedback_sent: list[dict[str, str]]

    @classmethod
    def read(cls, work: Path) -> Logs:
        return cls(
            read_csv(work / "tx.csv"),
            read_csv(work / "tx-feedback.csv"),
            read_csv(work / "rx.csv"),
            read_csv(work / "rx-feedback.csv"),
        )

    def sent_bps(self, from_s: float, to_s: float) -> float:
        """The bit rate the sender put on the wire (IP packets) in [from_s, to_s)."""
        sizes = [
            float(row["wire_bytes"]) for row in self.sent if from_s <= float(row["send_s"]) < to_s
        ]
        return 8.0 * sum(sizes) / (to_s - from_s)

    def timeline(self) -> str:
        """Per second: target, mode and sent rate (printed to explain a failure)."""
        lines = []
        end = int(max(column(self.sent, "send_s")))
        for second in range(end + 1):
            rows = [r for r in self.sent if second <= float(r["send_s"]) < second + 1]
            if rows:
                lines.append(
                    f"{second:3d} s: target {float(rows[-1]['target_bps']):8.0f}  "
                    f"mode {rows[-1]['mode']:14s} sent {self.sent_bps(second, second + 1):8.0f}"
                )
        return "\n".join(lines)


def settings_for(
    work: Path,
    feedback: FeedbackFormat,
    receiver_at: tuple[str, int],
    sender_at: tuple[str, int],
    t0: float,
    duration_s: float,
    codec: str,
    *,
    ecn: bool = False,
) -> tuple[ReceiverSettings, SenderSettings]:
    """A receiver that stops 2 s after the last packet, and a sender of ``codec`` for
    ``duration_s`` from ``t0`` (with ``ecn``: ECN-capable, answering CE marks), both
    logging into ``work``."""
    receiver = ReceiverSettings(
        bind=receiver_at,
        t0=t0,
        ssrc=0xFEED,
        feedback=feedback,
        idle_timeout_s=2.0,
        log=work / "rx.csv",
        feedback_log=work / "rx-feedback.csv",
    )
    sender = SenderSettings(
        peer=receiver_at,
        bind=sender_at,
        codec=codec,
        t0=t0,
        duration_s=duration_s,
        ssrc=0x5EED,
        ecn=ecn,
        ce_response=ecn,
        log=work / "tx.csv",
        feedback_log=work / "tx-feedback.csv",
    )
    return receiver, sender


def finish(sender: ManagedProcess, receiver: ManagedProcess, sender_end: float) -> None:
    """Wait for the sender to send its last packet and exit, then for the receiver to
    notice the silence; both exit 0 having printed their summary."""
    remaining = sender_end - time.monotonic()
    assert sender.wait(timeout_s=max(remaining, 0.0) + EXIT_GRACE_S) == 0, sender.stderr_tail()
    assert receiver.wait(timeout_s=EXIT_GRACE_S) == 0, receiver.stderr_tail()
    for process in (sender, receiver):
        assert DONE_LINE in process.stdout_path.read_text()


@pytest.mark.parametrize("feedback", list(FeedbackFormat))
def test_on_loopback_feedback_flows_and_the_rate_climbs(
    feedback: FeedbackFormat, tmp_path: Path
) -> None:
    """With nothing between them, the receiver's reports reach the sender and GCC's target
    climbs from the lowest mode's rate to the codec's ceiling, the mode following."""
    duration_s = 6.0
    port, sender_port = free_ports(2)
    t0 = time.monotonic()
    rx, tx = settings_for(
        tmp_path, feedback, (LOOPBACK, port), (LOOPBACK, sender_port), t0, duration_s, "AMR-WB-6.6"
    )
    with contextlib.ExitStack() as stack:
        receiver = stack.enter_context(
            ManagedProcess(receiver_argv(rx), name="gcc-rx", log_dir=tmp_path)
        )
        receiver.start(LogLine(READY_LINE, "stdout"), timeout_s=READY_TIMEOUT_S)
        sender = stack.enter_context(
            ManagedProcess(sender_argv(tx), name="gcc-tx", log_dir=tmp_path)
        )
        sender.start(LogLine(READY_LINE, "stdout"), timeout_s=READY_TIMEOUT_S)
        finish(sender, receiver, time.monotonic() + duration_s)
    logs = Logs.read(tmp_path)
    print(f"\n{feedback.value}:\n{logs.timeline()}")

    assert len(logs.sent) >= 0.9 * duration_s / tx.ptime_s
    assert len(logs.received) >= 0.95 * len(logs.sent)
    assert len(logs.feedback_sent) >= 0.5 * duration_s / rx.feedback_interval_s
    assert len(logs.reports) >= 0.9 * len(logs.feedback_sent)
    assert all(row["format"] == feedback.value for row in logs.reports)
    rtts = [r for r in column(logs.reports, "rtt_s") if r == r]
    assert rtts and 0.0 <= sorted(rtts)[len(rtts) // 2] < 0.5

    bitrates = tx.bitrates()
    targets = column(logs.sent, "target_bps")
    assert targets[0] == pytest.approx(bitrates.start_bps)
    assert max(targets) == pytest.approx(bitrates.max_bps)
    payloads = column(logs.sent, "payload_bytes")
    assert payloads[-1] > payloads[0]  # the mode rose with the target
    first_s, last_s = column(logs.sent, "send_s")[0], column(logs.sent, "send_s")[-1]
    assert logs.sent_bps(last_s - 1.0, last_s) > logs.sent_bps(first_s, first_s + 1.0)


@contextlib.contextmanager
def bottleneck(
    t0: float, work: Path, segment: dict[str, Any] = BOTTLENECK
) -> Iterator[tuple[EmulatedNetwork, Topology]]:
    """The engine's network of a one-call scenario whose path is ``segment``, its
    link node running the userspace link as the engine starts it (clock at ``t0``), ARP
    entries set both ways; torn down on exit, leaving nothing behind."""
    require("mnexec", "ethtool")
    scenario = Scenario.model_validate(
        {"name": "gcc-test", "seed": 3, "calls": {"count": 1}, "path": [segment]}
    )
    topology = describe(scenario, new_run_id("gcctest"))
    start_link = link_starter(scenario, work, t0)
    with EmulatedNetwork(topology, start_link=start_link, state_dir=work / "state") as net:
        ue, far_end = topology.ues[0], topology.far_end
        pin_neighbour(net, topology, ue, far_end)
        pin_neighbour(net, topology, far_end, ue)
        yield net, topology
    assert not find_leftovers(topology.tag, topology.run_id)


def run_through(
    work: Path, feedback: FeedbackFormat, segment: dict[str, Any], *, ecn: bool = False
) -> tuple[Logs, SenderSettings]:
    """Send AMR-WB for 16 s from its top mode through the userspace link of ``segment``;
    both endpoints' logs, and the sender's settings."""
    duration_s = 16.0
    t0 = time.monotonic() + SETUP_S  # the links' clock and the endpoints' zero
    with bottleneck(t0, work, segment) as (net, topology):
        ue, far_end = topology.ues[0], topology.far_end
        rx, tx = settings_for(
            work,
            feedback,
            (far_end.ip, PORT),
            (ue.ip, PORT),
            t0,
            duration_s,
            "AMR-WB-23.85",
            ecn=ecn,
        )
        receiver = net.start(
            far_end,
            receiver_argv(rx),
            name="gcc-rx",
            log_dir=work,
            ready=LogLine(READY_LINE, "stdout"),
            timeout_s=READY_TIMEOUT_S,
        )
        sender = net.start(
            ue,
            sender_argv(tx),
            name="gcc-tx",
            log_dir=work,
            ready=LogLine(READY_LINE, "stdout"),
            timeout_s=READY_TIMEOUT_S,
        )
        finish(sender, receiver, max(t0, time.monotonic()) + duration_s)
    logs = Logs.read(work)
    print(f"\n{feedback.value}, {segment['capacity']}, {segment['queue']}:\n{logs.timeline()}")
    return logs, tx


def assert_brought_under_capacity(logs: Logs) -> None:
    """The sender started above the capacity, its target fell under it within a few seconds,
    and over the last 6 s it sent under it, its packets delivered."""
    sent_s = column(logs.sent, "send_s")
    first_s, last_s = sent_s[0], sent_s[-1]
    targets = column(logs.sent, "target_bps")
    assert targets[0] > CAPACITY_BPS  # it starts above the capacity
    assert logs.sent_bps(first_s, first_s + 1.0) > CAPACITY_BPS
    under = [s for s, target in zip(sent_s, targets, strict=True) if target < CAPACITY_BPS]
    assert under and under[0] - first_s < 8.0
    settled_from = last_s - 6.0
    assert logs.sent_bps(settled_from, last_s) < CAPACITY_BPS
    late_seqs = {row["rtp_seq"] for row in logs.sent if float(row["send_s"]) >= settled_from}
    delivered = [row for row in logs.received if row["rtp_seq"] in late_seqs]
    assert len(delivered) >= 0.9 * len(late_seqs)  # under the capacity, the queue keeps up


@pytest.mark.parametrize("feedback", list(FeedbackFormat))
def test_through_a_bottleneck_the_rate_falls_under_its_capacity(
    feedback: FeedbackFormat, tmp_path: Path
) -> None:
    """Starting at AMR-WB's top rate, above the userspace link's capacity, GCC's target falls
    under the capacity within a few seconds and the rate sent settles under it."""
    logs, tx = run_through(tmp_path, feedback, BOTTLENECK)
    assert_brought_under_capacity(logs)
    assert len(logs.reports) >= 0.5 * 16.0 / tx.feedback_interval_s


def test_ce_marks_of_the_links_codel_reach_the_sender(tmp_path: Path) -> None:
    """Behind a CoDel queue that marks ECN-capable packets and drops the others, overloaded
    by unresponsive cross traffic, the receiver reads the CE marks from the IP header, RFC
    8888 carries every one of them to the sender, and the sender backs off.

    The cross traffic's large packets keep more than an MTU queued, the least CoDel acts
    on (RFC 8289 section 5.3); one voice flow alone never queues that much."""
    segment = {
        **BOTTLENECK,
        "capacity": "200kbps",
        "queue": {"packets": 50, "aqm": {"kind": "codel", "ecn": True}},
        "cross_traffic": [
            {"kind": "cbr", "direction": "uplink", "rate": "170kbps", "packet_size": "1200B"}
        ],
    }
    logs, _ = run_through(tmp_path, FeedbackFormat.RFC8888, segment, ecn=True)
    ecn = column(logs.received, "ecn")
    assert 2.0 in ecn  # ECT(0) as sent
    assert 3.0 in ecn  # CE, marked by the link's CoDel
    assert sum(column(logs.reports, "ce_marked")) == ecn.count(3.0)
    sent_s = column(logs.sent, "send_s")
    first_s, last_s = sent_s[0], sent_s[-1]
    assert logs.sent_bps(last_s - 6.0, last_s) < logs.sent_bps(first_s, first_s + 1.0)
