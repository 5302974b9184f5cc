"""GccBank against one GccFlow per flow: random report streams and a closed capacity-drop loop."""

from __future__ import annotations

import itertools
import math
import sys
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from voipbed.models.gcc import DelayFilter, GccConfig
from voipbed.models.gcc_bank import RATE_CAPACITY, GccBank
from voipbed.models.gcc_detector import DetectorConfig
from voipbed.models.gcc_ecn import EcnConfig
from voipbed.models.gcc_flow import GccFlow
from voipbed.models.gcc_rtt import RTT_WINDOW

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

MIN_BPS = 30_000.0
MAX_BPS = 2_500_000.0


def _config(kalman: bool, ecn: bool, pushback: bool) -> GccConfig:
    base = GccConfig.draft() if kalman else GccConfig()
    return GccConfig(
        delay_filter=base.delay_filter,
        detector=base.detector,
        ecn=(EcnConfig() if kalman else EcnConfig.scalable()) if ecn else None,
        pushback=base.pushback if pushback else None,
    )


CONFIGS = [
    pytest.param(_config(kalman, ecn, pushback), id=f"{name}-ecn{ecn:d}-pushback{pushback:d}")
    for kalman, name in ((False, "trendline"), (True, "kalman"))
    for ecn in (False, True)
    for pushback in (False, True)
]


class Reports(NamedTuple):
    """A batch of reports as ``GccBank.on_reports`` takes them."""

    flow: IntArray
    time_s: FloatArray
    in_flight: IntArray
    expected: IntArray
    lost: IntArray
    ce: IntArray
    packet_report: IntArray
    send_s: FloatArray
    arrival_s: FloatArray
    size: IntArray


class _FlowReports(NamedTuple):
    time_s: FloatArray
    expected: IntArray
    lost: IntArray
    ce: IntArray
    report: IntArray  # per received packet, in arrival order
    send_s: FloatArray
    arrival_s: FloatArray
    size: IntArray


def _one_flow(
    rng: np.random.Generator, duration_s: float, loss: float, ce: float, overuse: float
) -> _FlowReports:
    """One flow's packets (bursts, jitter, over-use episodes, losses, CE) cut into reports."""
    spacing_s = rng.uniform(0.005, 0.03)
    count = int(duration_s / spacing_s)
    send_s = np.cumsum(rng.uniform(0.2, 1.8, count) * spacing_s)
    burst = rng.random(count) < 0.2  # sent 0.1 ms after the previous one: one group
    send_s[1:][burst[1:]] = send_s[:-1][burst[1:]] + 1e-4
    send_s = np.maximum.accumulate(send_s)
    episode = np.sin(send_s / rng.uniform(1.0, 4.0) + rng.uniform(0.0, 6.0)) > 1.0 - overuse
    step_s = np.where(episode, rng.uniform(0.5, 6.0) * 1e-3, -rng.uniform(0.5, 4.0) * 1e-3)
    queue_s = np.zeros(count)
    for k in range(1, count):  # a queue that grows in episodes and drains between them
        queue_s[k] = max(0.0, queue_s[k - 1] + step_s[k] + rng.normal(0.0, 5e-4))
    jitter_s = rng.exponential(rng.uniform(1e-4, 8e-3), count)
    jitter_s += np.where(rng.random(count) < 0.02, rng.uniform(0.02, 0.3, count), 0.0)  # spikes
    arrival_s = send_s + rng.uniform(0.01, 0.1) + queue_s + jitter_s
    for stall_s in rng.uniform(0.0, duration_s, rng.poisson(duration_s / 10.0)):
        # a radio stall: what was sent in it arrives back to back when it ends
        held = (send_s >= stall_s) & (send_s < stall_s + rng.uniform(0.1, 1.5))
        gap_s = rng.uniform(2e-4, 2e-3)
        release_s = arrival_s[held].max(initial=0.0) + np.arange(held.sum()) * gap_s
        arrival_s[held] = np.maximum(arrival_s[held], release_s)
    lost = rng.random(count) < loss
    marked = ~lost & (rng.random(count) < ce * (0.2 + episode))
    interval_s = rng.uniform(0.05, 0.2)
    offset_s = rng.uniform(0.0, interval_s)
    report = np.maximum(np.ceil((arrival_s - offset_s) / interval_s).astype(np.int64) - 1, 0)
    reports = int(report.max()) + 1
    keep = ~lost
    # Mostly arrival order; some flows list each report's packets in sequence order instead.
    within = np.arange(count)[keep] if rng.random() < 0.3 else arrival_s[keep]
    order = np.lexsort((np.arange(count)[keep], within, report[keep]))
    return _FlowReports(
        offset_s + (np.arange(reports) + 1) * interval_s + rng.uniform(0.005, 0.05),
        np.bincount(report, minlength=reports),
        np.bincount(report[lost], minlength=reports),
        np.bincount(report[marked], minlength=reports),
        report[keep][order],
        send_s[keep][order],
        arrival_s[keep][order],
        rng.integers(60, 1300, count)[keep][order],
    )


def random_reports(
    seed: int, flows: int, duration_s: float, loss: float, ce: float, overuse: float
) -> Reports:
    """Reports of ``flows`` random flows merged in time order, with random bytes in flight."""
    rng = np.random.default_rng(seed)
    parts = [_one_flow(rng, duration_s, loss, ce, overuse) for _ in range(flows)]
    time_s = np.concatenate([p.time_s for p in parts])
    flow = np.concatenate([np.full(p.time_s.size, i) for i, p in enumerate(parts)])
    order = np.lexsort((flow, time_s))
    first = np.cumsum([0] + [p.time_s.size for p in parts[:-1]])
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)  # global report index of each flow's report
    packet_report = np.concatenate([rank[first[i] + p.report] for i, p in enumerate(parts)])
    packets = np.argsort(packet_report, kind="stable")  # each report's packets stay in order
    count = order.size
    in_flight_bytes = np.exp(rng.uniform(math.log(100.0), math.log(60_000.0), count))
    in_flight = np.where(rng.random(count) < 0.1, -1, in_flight_bytes.astype(np.int64))
    return Reports(
        flow[order],
        time_s[order],
        in_flight,
        np.concatenate([p.expected for p in parts])[order],
        np.concatenate([p.lost for p in parts])[order],
        np.concatenate([p.ce for p in parts])[order],
        packet_report[packets],
        np.concatenate([p.send_s for p in parts])[packets],
        np.concatenate([p.arrival_s for p in parts])[packets],
        np.concatenate([p.size for p in parts])[packets],
    )


def reference_targets(flows: list[GccFlow], reports: Reports) -> FloatArray:
    """Each report's target from one GccFlow per flow, fed one report at a time."""
    bounds = np.searchsorted(reports.packet_report, np.arange(reports.flow.size + 1))
    targets = np.empty(reports.flow.size)
    for r, flow in enumerate(reports.flow):
        packets = slice(bounds[r], bounds[r + 1])
        in_flight = int(reports.in_flight[r])
        update = flows[flow].on_report(
            float(reports.time_s[r]),
            in_flight if in_flight >= 0 else None,
            int(reports.expected[r]),
            int(reports.lost[r]),
            int(reports.ce[r]),
            reports.send_s[packets].tolist(),
            reports.arrival_s[packets].tolist(),
            reports.size[packets].tolist(),
        )
        targets[r] = update.target_bps
    return targets


def assert_same(actual: FloatArray, expected: FloatArray) -> None:
    """Equal; within 1e-9 where CPython's sum() is compensated (3.12 on) and the slope may
    differ from the kernel's plain left-to-right sum in its last bit."""
    if sys.version_info < (3, 12):
        np.testing.assert_array_equal(actual, expected)
    else:
        np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=0.0)


def _assert_flows(bank: GccBank, flows: list[GccFlow]) -> None:
    """Every flow's target, estimates, detector threshold and hypothesis, AIMD RTT and
    congestion window agree."""
    assert_same(bank.target_bps, np.array([f.target_bps for f in flows]))
    np.testing.assert_array_equal(bank.rtt_s, [f.rtt_s for f in flows])
    windows = [math.nan if f.window_bytes is None else f.window_bytes for f in flows]
    assert_same(bank.window_bytes, np.array(windows))
    assert_same(bank.loss_based_bps, np.array([f.loss_based_bps for f in flows]))
    assert_same(bank.delay_based_bps, np.array([f.delay_based_bps for f in flows]))
    assert_same(bank.threshold_ms, np.array([f.threshold_ms for f in flows]))
    np.testing.assert_array_equal(bank.usage, [int(f.usage) for f in flows])


def _run_both(config: GccConfig, reports: Reports, start_bps: FloatArray, cuts: list[int]) -> None:
    """Feed the bank in batches cut at ``cuts`` (report indices) and one GccFlow per flow;
    the targets and every flow's state agree after each batch."""
    references = [GccFlow(float(s), MIN_BPS, MAX_BPS, config) for s in start_bps]
    bank = GccBank(start_bps.size, config, start_bps, MIN_BPS, MAX_BPS)
    edges = [0, *sorted(cuts), reports.flow.size]
    for lo, hi in itertools.pairwise(edges):
        batch = _batch(reports, lo, hi)
        assert_same(bank.on_reports(*batch), reference_targets(references, batch))
        _assert_flows(bank, references)


def _batch(reports: Reports, start: int, end: int) -> Reports:
    """Reports ``start:end`` with their packets, report indices relative to ``start``."""
    lo, hi = np.searchsorted(reports.packet_report, [start, end])
    return Reports(
        *(a[start:end] for a in reports[:6]),
        reports.packet_report[lo:hi] - start,
        *(a[lo:hi] for a in reports[7:]),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    flows=st.integers(1, 4),
    duration_s=st.floats(2.0, 20.0),
    loss=st.sampled_from([0.0, 0.01, 0.05, 0.3]),
    ce=st.sampled_from([0.0, 0.05, 0.5]),
    overuse=st.floats(0.0, 0.8),
    combo=st.integers(0, len(CONFIGS) - 1),
)
def test_bank_equals_reference_on_random_reports(
    seed: int, flows: int, duration_s: float, loss: float, ce: float, overuse: float, combo: int
) -> None:
    """Random streams (over-use, loss, CE, RTTs, in-flight), in random batches: bank == GccFlow."""
    config = CONFIGS[combo].values[0]
    assert isinstance(config, GccConfig)
    reports = random_reports(seed, flows, duration_s, loss, ce, overuse)
    rng = np.random.default_rng(seed)
    start = rng.uniform(MIN_BPS, 1_000_000.0, flows)
    cuts = rng.integers(0, reports.flow.size + 1, rng.integers(0, 40)).tolist()
    _run_both(config, reports, start, cuts)


@pytest.mark.parametrize("config", CONFIGS)
def test_bank_equals_reference_on_each_config(config: GccConfig) -> None:
    """Every filter, ECN and pushback combination on one busy stream: bank == GccFlow."""
    reports = random_reports(7, 3, 20.0, 0.05, 0.2, 0.5)
    cuts = list(range(0, reports.flow.size, 7))
    _run_both(config, reports, np.array([300_000.0, 100_000.0, 800_000.0]), cuts)


# A closed loop: GccFlow paces 1200-byte packets through a FIFO whose capacity drops.

PACKET_BYTES = 1200
ONE_WAY_S = 0.04
INTERVAL_S = 0.1


def _closed_loop(
    config: GccConfig, capacity_bps: Callable[[float], float], duration_s: float
) -> tuple[list[tuple[float, int, int, int, int, FloatArray, FloatArray]], FloatArray]:
    """Run one flow; the reports it was fed (time, in flight, expected, lost, CE, send,
    arrival) and its targets."""
    flow = GccFlow(300_000.0, MIN_BPS, MAX_BPS, config)
    pending: deque[tuple[float, float, bool, bool]] = deque()  # arrival, send, lost, CE
    reports: list[tuple[float, int, int, int, int, FloatArray, FloatArray]] = []
    targets: list[float] = []
    now_s = link_free_s = 0.0
    next_report_s = INTERVAL_S
    sent = reported = 0
    while now_s < duration_s:
        while next_report_s + ONE_WAY_S <= now_s:
            batch = []
            while pending and pending[0][0] <= next_report_s:
                batch.append(pending.popleft())
            received = [(a, s) for a, s, lost, _ in batch if not lost]
            arrival = np.array([a for a, _ in received])
            send = np.array([s for _, s in received])
            reported += len(batch)
            report = (
                next_report_s + ONE_WAY_S,
                (sent - reported) * PACKET_BYTES,
                len(batch),
                sum(lost for _, _, lost, _ in batch),
                sum(ce and not lost for _, _, lost, ce in batch),
                send,
                arrival,
            )
            update = flow.on_report(*report, [PACKET_BYTES] * send.size)
            reports.append(report)
            targets.append(update.target_bps)
            next_report_s += INTERVAL_S
        wait_s = max(link_free_s - now_s, 0.0)
        if wait_s > 0.4:  # the buffer holds 400 ms
            pending.append((now_s + ONE_WAY_S, now_s, True, False))
        else:
            link_free_s = now_s + wait_s + PACKET_BYTES * 8.0 / capacity_bps(now_s + wait_s)
            pending.append((link_free_s + ONE_WAY_S, now_s, False, wait_s > 0.02))
        sent += 1
        now_s += PACKET_BYTES * 8.0 / flow.target_bps
    return reports, np.array(targets)


@pytest.mark.parametrize("config", CONFIGS)
def test_bank_follows_a_capacity_drop_as_the_reference(config: GccConfig) -> None:
    """Closed loops through capacity drops: the bank replays each flow's reports to the same
    targets, and the targets did fall under the dropped capacity."""
    drops = [(1_000_000.0, 300_000.0, 10.0), (600_000.0, 150_000.0, 8.0)]
    runs = [
        _closed_loop(config, lambda t, a=a, b=b, d=d: a if t < d else b, 20.0) for a, b, d in drops
    ]
    for (_, targets), (_, after_bps, drop_s) in zip(runs, drops, strict=True):
        assert targets[int((drop_s + 3.0) / INTERVAL_S) :].max() < after_bps * 1.2
    entries = sorted(
        (report[0], flow, k)
        for flow, (reports, _) in enumerate(runs)
        for k, report in enumerate(reports)
    )
    bank = GccBank(len(drops), config, 300_000.0, MIN_BPS, MAX_BPS)
    bank_targets = bank.on_reports(
        [flow for _, flow, _ in entries],
        [t for t, _, _ in entries],
        [runs[f][0][k][1] for _, f, k in entries],
        [runs[f][0][k][2] for _, f, k in entries],
        [runs[f][0][k][3] for _, f, k in entries],
        [runs[f][0][k][4] for _, f, k in entries],
        np.concatenate([np.full(runs[f][0][k][5].size, r) for r, (_, f, k) in enumerate(entries)]),
        np.concatenate([runs[f][0][k][5] for _, f, k in entries]),
        np.concatenate([runs[f][0][k][6] for _, f, k in entries]),
        np.full(sum(runs[f][0][k][5].size for _, f, k in entries), PACKET_BYTES),
    )
    assert_same(bank_targets, np.array([runs[f][1][k] for _, f, k in entries]))


@pytest.mark.parametrize("config", CONFIGS)
def test_rtt_ring_fills_and_wraps_as_the_reference(config: GccConfig) -> None:
    """Report by report through the max-RTT ring's filling and first wraps (stalls and queue
    episodes make the max RTTs vary): the AIMD RTT, window and target equal GccFlow's."""
    reports = random_reports(5, 2, 12.0, 0.05, 0.2, 0.6)
    with_packets = np.unique(reports.packet_report)
    last = int(with_packets[2 * (RTT_WINDOW + 8)])
    samples = np.bincount(reports.flow[with_packets[with_packets < last]], minlength=2)
    assert samples.min() > RTT_WINDOW  # both flows' rings wrapped before ``last``
    _run_both(config, reports, np.array([150_000.0, 600_000.0]), list(range(1, last)))


def test_rate_ring_grows_for_dense_reports() -> None:
    """Reports with more packets than the incoming-rate ring holds give the same targets."""
    reports = random_reports(3, 2, 3.0, 0.0, 0.0, 0.5)
    flow_of_packet = reports.flow[reports.packet_report]
    assert np.bincount(flow_of_packet).min() > RATE_CAPACITY
    order = np.argsort(flow_of_packet, kind="stable")  # one report per flow, in its order
    none = np.zeros(2, dtype=np.int64)
    whole = Reports(
        np.array([0, 1]),
        np.full(2, reports.time_s[-1]),
        np.full(2, -1),
        none,
        none,
        none,
        flow_of_packet[order],
        reports.send_s[order],
        reports.arrival_s[order],
        reports.size[order],
    )
    _run_both(GccConfig(), whole, np.array([200_000.0, 400_000.0]), [1])


def _grouping_edges() -> tuple[FloatArray, FloatArray]:
    """Steady packets, then runs of pairs whose second packet arrives before the group before
    it ended (three such groups in a row reset the grouping: kReorderedReset), then a stall
    whose packets arrive in a burst longer than kMaxBurstDuration."""
    send: list[float] = []
    arrival: list[float] = []
    now_s = 0.0
    for block in range(8):
        for _ in range(40):
            send.append(now_s)
            arrival.append(now_s + 0.05)
            now_s += 0.02
        last_s = arrival[-1]
        for _ in range(2 + block % 4):
            send.extend((now_s, now_s + 0.02))
            arrival.extend((last_s + 0.025, last_s - 0.005))
            last_s -= 0.005
            now_s += 0.04
        release_s = now_s + 2.0  # a 2 s stall, then 100 packets back to back: a 150 ms burst
        for k in range(100):
            send.append(now_s)
            arrival.append(release_s + k * 0.0015)
            now_s += 0.02
    return np.array(send), np.array(arrival)


@pytest.mark.parametrize("config", CONFIGS)
def test_bank_equals_reference_through_grouping_resets(config: GccConfig) -> None:
    """Arrival times going back group after group, and over-long bursts: bank == GccFlow."""
    send_s, arrival_s = _grouping_edges()
    packet_report = np.arange(send_s.size) // 5
    count = int(packet_report[-1]) + 1
    reports = Reports(
        np.zeros(count, dtype=np.int64),
        np.arange(1, count + 1) * 0.1,
        np.full(count, 3000),
        np.bincount(packet_report),
        np.zeros(count, dtype=np.int64),
        np.zeros(count, dtype=np.int64),
        packet_report,
        send_s,
        arrival_s,
        np.full(send_s.size, 200),
    )
    _run_both(config, reports, np.array([300_000.0]), list(range(0, count, 3)))


def test_invalid_reports_raise() -> None:
    """Unsorted reports, unknown flows, CE counts above the received and packets sent after
    their report are refused."""
    bank = GccBank(2, GccConfig(ecn=EcnConfig()), 300_000.0, MIN_BPS, MAX_BPS)
    empty_f = np.zeros(0)
    empty_i = np.zeros(0, dtype=np.int64)
    base = (
        [0, 1],
        [1.0, 2.0],
        [0, 0],
        [5, 5],
        [0, 0],
        [0, 0],
        empty_i,
        empty_f,
        empty_f,
        empty_i,
    )
    bank.on_reports(*base)
    with pytest.raises(ValueError, match="sorted"):
        bank.on_reports(*base[:1], [2.0, 1.0], *base[2:])
    with pytest.raises(ValueError, match="flow indices"):
        bank.on_reports([0, 2], *base[1:])
    with pytest.raises(ValueError, match="report_ce"):
        bank.on_reports(*base[:5], [6, 0], *base[6:])
    with pytest.raises(ValueError, match="after its report"):
        bank.on_reports(*base[:6], [1], [2.5], [2.0], [100])
    with pytest.raises(ValueError, match="min <= start <= max"):
        GccBank(2, GccConfig(), 10_000.0, MIN_BPS, MAX_BPS)


def test_detector_config_reaches_the_kernels() -> None:
    """A detector that never adapts (tiny gains) changes the targets the same way in both."""
    config = GccConfig(
        delay_filter=DelayFilter.TRENDLINE, detector=DetectorConfig(k_up=1e-9, k_down=1e-9)
    )
    reports = random_reports(11, 2, 15.0, 0.01, 0.0, 0.6)
    _run_both(config, reports, np.array([300_000.0, 500_000.0]), [reports.flow.size // 2])
