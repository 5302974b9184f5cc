"""Queue occupancy sampled over time: by the queue's event loop, by the drop-tail links, in
the simulator's events and in the report; sampling never changes a packet's fate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.queue_strategies import links
from voipbed.columns import Columns
from voipbed.loader import load_scenario
from voipbed.models.link import QueueLimit, RateLink, TraceLink
from voipbed.models.mahimahi import DeliverySchedule
from voipbed.models.queue import (
    N_CLASSES,
    BulkFlow,
    CoDel,
    QueueingLink,
)
from voipbed.models.queue_samples import SampleGrid
from voipbed.models.queue_stepper import Background, QueueStepper
from voipbed.reports.queues import queue_samples
from voipbed.runner import run_scenario
from voipbed.sim.engine import simulate

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@st.composite
def offered(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    """Random arrival times (never on a sampling instant), sizes, classes and ECT flags."""
    n = draw(st.integers(1, 250))
    gaps = draw(st.lists(st.floats(0.0001, 0.004), min_size=n, max_size=n))
    arrive = np.cumsum(np.array(gaps, dtype=np.float64)) + 0.0000123
    size = np.array(draw(st.lists(st.integers(40, 1500), min_size=n, max_size=n)), dtype=np.int64)
    klass = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), dtype=np.int64)
    ect = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=np.bool_)
    return arrive, size, klass, ect


def _cbr(rate_bps: float, packet_bytes: int, seconds: float) -> tuple[np.ndarray, ...]:
    arrive = np.arange(0.0, seconds, packet_bytes * 8.0 / rate_bps)
    n = arrive.size
    return (
        arrive,
        np.full(n, packet_bytes, dtype=np.int64),
        np.full(n, 2, dtype=np.int64),
        np.zeros(n, dtype=np.bool_),
    )


def test_overloaded_droptail_queue_fills_to_its_limit() -> None:
    """2 Mbit/s of 1000-byte packets into a 1 Mbit/s link: the backlog grows by 125 packets/s
    (250 in, 125 out) until it holds the limit of 100 packets, and stays there."""
    link = QueueingLink(rate_bps=1e6, limit_packets=100)
    grid = SampleGrid.for_run(4.0)
    outcome, _ = link.serve(*_cbr(2e6, 1000, 4.0), np.random.default_rng(0), grid=grid)
    assert outcome.occupancy is not None
    packets = outcome.occupancy.total_packets
    before_full = grid.times_s < 100 / 125 - 0.05
    growth = 125 * grid.times_s[before_full]
    assert np.all(np.abs(packets[before_full] - growth) <= 2)
    full = (grid.times_s > 100 / 125 + 0.05) & (grid.times_s < 3.9)
    assert np.all(packets[full] >= 99) and packets.max() == 100
    np.testing.assert_array_equal(outcome.occupancy.total_bytes, packets * 1000)
    assert not outcome.occupancy.packets[:, :2].any()  # all best effort


def test_overloaded_droptail_rate_link_fills_to_its_limit() -> None:
    """The plain drop-tail link's backlog, from its service starts, fills to the same limit."""
    arrive, size, klass, _ = _cbr(2e6, 1000, 4.0)
    served = RateLink(1e6, QueueLimit(packets=100)).process(arrive, size)
    sent = ~served.dropped
    grid = SampleGrid.for_run(4.0)
    occupancy = grid.backlog(arrive[sent], served.start_s[sent], size[sent], klass[sent], 3)
    assert occupancy.total_packets.max() == 100
    assert occupancy.total_packets[3] == pytest.approx(125 * grid.times_s[3], abs=2)  # 0.4 s


def test_idle_queue_samples_are_zero() -> None:
    """No packets: every sample is zero. Packets that never wait (1 Mbit/s of 100-byte packets
    every 10 ms): zero backlog, and the link carries 10 kB per 100 ms interval."""
    link = QueueingLink(discipline=CoDel(), rate_bps=1e6, limit_bytes=100_000)
    grid = SampleGrid.for_run(5.0)
    empty = np.zeros(0, dtype=np.int64)
    nothing, _ = link.serve(
        np.zeros(0), empty, empty, np.zeros(0, np.bool_), np.random.default_rng(0), grid=grid
    )
    assert nothing.occupancy is not None
    assert nothing.occupancy.packets.shape == (grid.count, N_CLASSES)
    assert not nothing.occupancy.packets.any() and not nothing.occupancy.bytes.any()
    arrive = np.arange(0.005, 5.0, 0.01)
    n = arrive.size
    size = np.full(n, 125, dtype=np.int64)
    quiet, _ = link.serve(
        arrive, size, np.full(n, 0, np.int64), np.zeros(n, np.bool_), np.random.default_rng(0),
        grid=grid,
    )  # fmt: skip
    assert quiet.occupancy is not None
    assert not quiet.occupancy.packets.any()
    np.testing.assert_array_equal(grid.per_interval(quiet.depart_s, size), np.full(50, 1250))


def test_bulk_flow_backlog_and_throughput_are_sampled() -> None:
    """A greedy flow alone on 10 Mbit/s with a 50-packet drop-tail buffer (above its 42-packet
    bandwidth-delay product at 50 ms): the buffer fills near its limit, the link stays busy
    (about 125 kB per 100 ms), and the intervals' bytes and the last backlog add up to what
    the flow delivered."""
    link = QueueingLink(rate_bps=10e6, limit_packets=50)
    grid = SampleGrid.for_run(20.0)
    last = np.array([20.0])  # the bulk flow sends until the batch's last packet
    outcome, stats = link.serve(
        last, np.array([100], np.int64), np.array([0], np.int64), np.zeros(1, np.bool_),
        np.random.default_rng(0), (BulkFlow(rtt_s=0.05),), grid,
    )  # fmt: skip
    assert outcome.occupancy is not None
    packets = outcome.occupancy.total_packets
    assert 45 <= packets.max() <= 50  # full just before each loss; a sample may fall short
    assert np.all(outcome.occupancy.bytes[:, 2] == outcome.occupancy.packets[:, 2] * 1500)
    per_interval = stats.delivered_bytes_per_interval
    after_end = stats.delivered_bytes.sum() - per_interval.sum()  # left the link after 20 s
    waiting = outcome.occupancy.bytes[-1, 2]  # at 20 s, with one more segment on the wire
    assert waiting <= after_end <= waiting + 1500
    full = 10e6 / 8 * grid.period_s
    steady = per_interval[20:195]  # from 2 s to 19.5 s
    assert np.all(steady <= full + 1500) and steady.mean() >= 0.95 * full


@settings(max_examples=60, deadline=None)
@given(links(), offered(), st.integers(0, 2**32 - 1))
def test_sampling_only_observes(
    link: QueueingLink, packets: tuple[np.ndarray, ...], seed: int
) -> None:
    """With or without a sampling grid, every packet has the same fate, departure and mark."""
    grid = SampleGrid(0.01, 120)
    bulk = (BulkFlow(rtt_s=0.02, stop_s=0.5),)
    plain, plain_bulk = link.serve(*packets, np.random.default_rng(seed), bulk)
    sampled, sampled_bulk = link.serve(*packets, np.random.default_rng(seed), bulk, grid)
    np.testing.assert_array_equal(plain.fate, sampled.fate)
    np.testing.assert_array_equal(plain.depart_s, sampled.depart_s)
    np.testing.assert_array_equal(plain.ce, sampled.ce)
    np.testing.assert_array_equal(plain_bulk.delivered_bytes, sampled_bulk.delivered_bytes)
    assert plain.occupancy is None and sampled.occupancy is not None


@settings(max_examples=60, deadline=None)
@given(links(), offered(), st.integers(0, 2**32 - 1))
def test_samples_are_the_queue_state_at_each_instant(
    link: QueueingLink, packets: tuple[np.ndarray, ...], seed: int
) -> None:
    """The backlog sampled in one batch is the backlog of the same packets served one
    instant at a time (``QueueStepper.serve_until`` each sampling instant), in every
    discipline, scheduling and service; the bytes counted out per interval, of cross traffic
    and of the rest apart, are their departures binned by interval."""
    grid = SampleGrid(0.005, 200)
    arrive, size, klass, ect = packets
    background = np.arange(arrive.size) % 3 == 1  # cross traffic among them, counted apart
    outcome, _ = link.serve(*packets, np.random.default_rng(seed), grid=grid, background=background)
    assert outcome.occupancy is not None
    stepper = QueueStepper(link, np.random.default_rng(seed), Background(arrive, size, klass, ect))
    stepped = []
    for instant in grid.times_s:
        stepper.serve_until(float(np.nextafter(instant, np.inf)))
        stepped.append(stepper.queued_bytes)
    np.testing.assert_array_equal(outcome.occupancy.total_bytes, stepped)
    mine, cross = ~background, background  # their departures, binned afterwards
    sent = grid.per_interval(outcome.depart_s[mine], size[mine])
    np.testing.assert_array_equal(outcome.delivered_bytes_per_interval, sent)
    sent = grid.per_interval(outcome.depart_s[cross], size[cross])
    np.testing.assert_array_equal(outcome.background_bytes_per_interval, sent)


@settings(max_examples=60, deadline=None)
@given(offered(), st.none() | st.integers(1, 30), st.none() | st.integers(1500, 40_000))
def test_droptail_links_and_queue_sample_the_same_backlog(
    packets: tuple[np.ndarray, ...], limit_packets: int | None, limit_bytes: int | None
) -> None:
    """A FIFO drop-tail queue sampled in the event loop, and the plain rate and trace links'
    backlog from their service starts, agree at every instant."""
    arrive, size, klass, ect = packets
    grid = SampleGrid(0.005, 200)
    schedule = DeliverySchedule(np.array([1, 2, 4, 5], dtype=np.int64))
    limit = QueueLimit(limit_packets, limit_bytes)
    for plain, queue in (
        (RateLink(1e6, limit), QueueingLink(rate_bps=1e6, **_limits(limit))),
        (TraceLink(schedule, limit), QueueingLink(schedule=schedule, **_limits(limit))),
    ):
        served = plain.process(arrive, size)
        sent = ~served.dropped
        derived = grid.backlog(arrive[sent], served.start_s[sent], size[sent], klass[sent], 3)
        outcome, _ = queue.serve(arrive, size, klass, ect, np.random.default_rng(0), grid=grid)
        assert outcome.occupancy is not None
        np.testing.assert_array_equal(outcome.occupancy.packets, derived.packets)
        np.testing.assert_array_equal(outcome.occupancy.bytes, derived.bytes)


def _limits(limit: QueueLimit) -> dict[str, int | None]:
    return {"limit_packets": limit.packets, "limit_bytes": limit.bytes}


def test_bufferbloat_run_records_the_standing_queue() -> None:
    """The drop-tail bufferbloat scenario records, per direction of its backhaul, one sample
    per 100 ms; the 1 MB buffer holds a standing queue of hundreds of kB and never more than
    1 MB; the link carries the bulk flows at nearly its 10 Mbit/s."""
    scenario = load_scenario(SCENARIOS / "bufferbloat-droptail.yaml", ["duration=8s"])
    samples = queue_samples(Columns.from_arrow(simulate(scenario).events))
    assert set(samples["segment"].tolist()) == {"backhaul"}
    by_direction = {d: len(rows) for d, rows in samples.group_by("direction").items()}
    assert by_direction == {"downlink": 80, "uplink": 80}
    assert samples["bytes"].max() <= 1_000_000
    late = samples.take(samples["time_s"] > 4.0)
    assert late["bytes"].min() > 300_000
    mbps = (late["bulk_bytes"] + late["cross_bytes"] + late["media_bytes"]) * 8 / 0.1 / 1e6
    assert mbps.mean() == pytest.approx(10.0, rel=0.05)


def test_report_draws_occupancy_only_where_a_queue_is_configured(tmp_path: Path) -> None:
    """bufferbloat-droptail's report has the queue figure; the default scenario, whose only
    queue is an unlimited drop-tail FIFO without cross traffic, records no samples and has none."""
    pages = {}
    for name in ("bufferbloat-droptail", "default"):
        scenario = load_scenario(
            SCENARIOS / f"{name}.yaml", ["duration=4s", "calls.count=2", "calls.start_spread=1s"]
        )
        result = run_scenario(scenario, tmp_path / name)
        events = Columns.from_arrow(pq.read_table(result.run_dir / "events.parquet"))
        pages[name] = (result.report.read_text(encoding="utf-8"), queue_samples(events))
    html, samples = pages["bufferbloat-droptail"]
    assert '<section id="queues">' in html and len(samples) == 2 * 40
    html, samples = pages["default"]
    assert '<section id="queues">' not in html and len(samples) == 0
