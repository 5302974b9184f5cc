"""The queue served window by window gives exactly what one window gives, wherever cut."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.queue_strategies import links
from voipbed.models.mahimahi import DeliverySchedule
from voipbed.models.queue import N_CLASSES, BulkFlow, Fate, QueueingLink, Scheduling
from voipbed.models.queue_samples import SampleGrid
from voipbed.models.queue_stepper import Background
from voipbed.models.queue_window import QueueRun, RunTotals, Settled

Packets = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@st.composite
def packets(draw: st.DrawFn, max_size: int = 150) -> Packets:
    """Arrival times (some equal, many on a 0.5 ms lattice), sizes, classes and ECT flags."""
    n = draw(st.integers(0, max_size))
    lattice = st.sampled_from([0.0, 0.0005, 0.001, 0.0015])
    gaps = draw(st.lists(lattice | st.floats(0, 0.004), min_size=n, max_size=n))
    arrive = np.cumsum(np.array(gaps, dtype=np.float64))
    size = np.array(draw(st.lists(st.integers(40, 1500), min_size=n, max_size=n)), dtype=np.int64)
    classes = st.integers(0, N_CLASSES - 1)
    klass = np.array(draw(st.lists(classes, min_size=n, max_size=n)), dtype=np.int64)
    ect = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=np.bool_)
    return arrive, size, klass, ect


@st.composite
def backgrounds(draw: st.DrawFn) -> Background | None:
    if not draw(st.booleans()):
        return None
    time_s, size, klass, ect = draw(packets(max_size=100))
    return Background(time_s + draw(st.sampled_from([0.0, 0.0005, 0.0013])), size, klass, ect)


bulks = st.lists(
    st.builds(
        BulkFlow,
        rtt_s=st.floats(0.001, 0.05),
        start_s=st.floats(0, 0.2),
        stop_s=st.floats(0.05, 0.5) | st.just(math.inf),
        size_bytes=st.integers(500, 1500),
        klass=st.integers(0, N_CLASSES - 1),
        ecn=st.booleans(),
    ),
    max_size=2,
)


class Run(NamedTuple):
    """What a ``QueueRun`` is made with besides its link and generator."""

    bulk: tuple[BulkFlow, ...] = ()
    background: Background | None = None
    grid: SampleGrid | None = None
    end_s: float = math.inf


def _whole(link: QueueingLink, packets: Packets, seed: int, run: Run) -> tuple[Settled, RunTotals]:
    """One feed with horizon inf, and the totals."""
    queue = QueueRun(link, np.random.default_rng(seed), *run)
    settled = queue.feed(*packets, math.inf)
    return settled, queue.finish()


def _windowed(
    link: QueueingLink, packets: Packets, cuts: list[float], seed: int, slots: int, run: Run
) -> tuple[Settled, RunTotals]:
    """Feeds cut at ``cuts`` then one with horizon inf; what they settled, in the caller's
    order, and the totals. Each feed settles each packet once, departures by its horizon."""
    arrive = packets[0]
    queue = QueueRun(link, np.random.default_rng(seed), *run, slots=slots)
    parts: list[Settled] = []
    first = 0
    for horizon in [*cuts, math.inf]:
        end = int(np.searchsorted(arrive, horizon, side="left"))
        settled = queue.feed(*(column[first:end] for column in packets), horizon)
        assert np.all(np.diff(settled.index) > 0)  # ascending, each once
        assert not np.any(settled.depart_s > horizon)
        parts.append(settled)
        first = end
    index = np.concatenate([part.index for part in parts])
    order = np.argsort(index)
    columns = (
        np.concatenate([getattr(part, name) for part in parts])[order]
        for name in ("depart_s", "fate", "ce")
    )
    return Settled(index[order], *columns), queue.finish()


def _same(a: Settled, b: Settled) -> None:
    assert np.array_equal(a.index, b.index)
    assert np.array_equal(a.depart_s, b.depart_s, equal_nan=True)
    assert np.array_equal(a.fate, b.fate)
    assert np.array_equal(a.ce, b.ce)


def _same_totals(a: RunTotals, b: RunTotals) -> None:
    assert a.background_dropped == b.background_dropped
    for name in ("sent", "delivered", "dropped", "marked", "delivered_bytes"):
        assert np.array_equal(getattr(a.bulk, name), getattr(b.bulk, name)), name
    assert np.array_equal(a.bulk.delivered_bytes_per_interval, b.bulk.delivered_bytes_per_interval)
    if a.occupancy is None or b.occupancy is None:
        assert a.occupancy is b.occupancy is None
        return
    assert np.array_equal(a.occupancy.packets, b.occupancy.packets)
    assert np.array_equal(a.occupancy.bytes, b.occupancy.bytes)
    for name in ("delivered_bytes_per_interval", "background_bytes_per_interval"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


_STRICT_BY_TRACE = QueueingLink(
    scheduling=Scheduling.STRICT, schedule=DeliverySchedule(np.array([1, 6, 12, 15, 21]))
)
_BURST = (
    np.array([0.0005] * 17 + [0.001, 0.0015]),
    np.array([40] * 9 + [500, 1500, 530, 449, 1500, 644, 1180, 40, 745, 1500]),
    np.array([2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 1, 1, 2, 1, 2]),
    np.zeros(19, dtype=np.bool_),
)


@settings(max_examples=300, deadline=None)
@example(  # a window's packets settle over several reads, with earlier ones among them
    link=_STRICT_BY_TRACE,
    mine=_BURST,
    background=None,
    bulk=[BulkFlow(rtt_s=0.03, size_bytes=500, klass=0)],
    sampled=False,
    end=0.5,
    cuts=[17],
    slots=2,
    seed=0,
)
@given(
    link=links(),
    mine=packets(),
    background=backgrounds(),
    bulk=bulks,
    sampled=st.booleans(),
    end=st.floats(0.0, 0.8),
    cuts=st.lists(st.floats(0.0, 0.9) | st.integers(0, 249), max_size=12),
    slots=st.sampled_from([2, 5, 64, 4096]),
    seed=st.integers(0, 2**32 - 1),
)
def test_windows_give_what_one_window_gives(
    link: QueueingLink,
    mine: Packets,
    background: Background | None,
    bulk: list[BulkFlow],
    sampled: bool,
    end: float,
    cuts: list[float | int],
    slots: int,
    seed: int,
) -> None:
    """Fed in windows cut anywhere (also at arrival instants), with cross traffic and bulk
    flows, every packet leaves, is dropped and is marked as in one feed, and the samples,
    bytes out, bulk statistics and background drops are the same."""
    instants = np.concatenate([mine[0], background.time_s if background else np.zeros(0)])
    at = [float(instants[c]) for c in cuts if isinstance(c, int) and c < instants.size]
    horizons = sorted([c for c in cuts if isinstance(c, float)] + at)
    run = Run(tuple(bulk), background, SampleGrid(0.005, 200) if sampled else None, end)
    whole, whole_totals = _whole(link, mine, seed, run)
    assert np.array_equal(whole.index, np.arange(mine[0].size))
    windowed, windowed_totals = _windowed(link, mine, horizons, seed, slots, run)
    _same(windowed, whole)
    _same_totals(windowed_totals, whole_totals)


@settings(max_examples=100, deadline=None)
@given(link=links(), mine=packets(), background=backgrounds(), seed=st.integers(0, 2**32 - 1))
def test_background_merged_by_the_run_or_the_caller_alike(
    link: QueueingLink, mine: Packets, background: Background | None, seed: int
) -> None:
    """Cross traffic given as ``Background`` (merged by the run, the caller's first on ties)
    or merged by the caller and marked in ``serve`` meets the same fates, draws and bytes."""
    grid = SampleGrid(0.005, 200)
    cross = background or Background(np.zeros(0), *(np.zeros(0, t) for t in (int, int, bool)))
    times = np.concatenate([mine[0], cross.time_s])
    order = np.argsort(times, kind="stable")
    merged = [
        np.concatenate([a, b])[order]
        for a, b in zip(mine, (cross.time_s, cross.size_bytes, cross.klass, cross.ect), strict=True)
    ]
    is_cross = order >= mine[0].size
    outcome, _ = link.serve(
        *merged, np.random.default_rng(seed), grid=grid, background=is_cross, end_s=math.inf
    )
    settled, totals = _whole(link, mine, seed, Run(background=background, grid=grid))
    assert np.array_equal(settled.depart_s, outcome.depart_s[~is_cross], equal_nan=True)
    assert np.array_equal(settled.fate, outcome.fate[~is_cross])
    assert np.array_equal(settled.ce, outcome.ce[~is_cross])
    assert totals.background_dropped == int(outcome.dropped[is_cross].sum())
    cross_out = totals.background_bytes_per_interval
    assert cross_out is not None and np.array_equal(
        cross_out, outcome.background_bytes_per_interval
    )


def test_a_packet_settles_in_a_later_window() -> None:
    """A packet still on the wire at the horizon is settled by a later feed, with its
    departure, even a feed that brings no packet."""
    queue = QueueRun(QueueingLink(rate_bps=1e6), np.random.default_rng(1))  # 1500 B: 12 ms
    first = queue.feed(np.array([0.0]), np.array([1500]), np.array([2]), np.zeros(1, bool), 0.005)
    assert first.index.size == 0
    empty = np.zeros(0, dtype=np.int64)
    later = queue.feed(np.zeros(0), empty, empty, np.zeros(0, bool), 0.020)
    assert later.index.tolist() == [0] and later.fate.tolist() == [Fate.SENT]
    assert later.depart_s.tolist() == pytest.approx([0.012])


def test_bulk_flows_send_until_the_runs_end_not_the_last_arrival() -> None:
    """A bulk flow keeps sending after the batch's last packet until ``end_s``; by default
    ``serve`` ends the flows at the last arrival."""
    link = QueueingLink(rate_bps=10e6, limit_packets=50)
    one = (np.array([0.5]), np.array([100]), np.array([0]), np.zeros(1, bool))
    grid = SampleGrid(0.1, 30)
    flows = (BulkFlow(rtt_s=0.02),)
    _, short = link.serve(*one, np.random.default_rng(0), flows, grid)
    _, long = link.serve(*one, np.random.default_rng(0), flows, grid, end_s=2.0)
    busy = long.delivered_bytes_per_interval > 0
    assert busy[5:19].all() and not busy[22:].any()  # sending from 0.5 s to 2 s, then done
    assert not short.delivered_bytes_per_interval[7:].any()
    assert long.sent[0] > 2 * short.sent[0]


def test_feeds_refuse_time_going_back_and_packets_outside_their_window() -> None:
    """A horizon before the last, packets before the last horizon or at this one, or out of
    order, are refused; so is a feed after ``finish``."""
    queue = QueueRun(QueueingLink(rate_bps=1e6), np.random.default_rng(1))
    one = (np.array([100]), np.array([0]), np.zeros(1, bool))
    queue.feed(np.array([0.5]), *one, 1.0)
    with pytest.raises(ValueError, match="horizon went back"):
        queue.feed(np.zeros(0), *(c[:0] for c in one), 0.5)
    with pytest.raises(ValueError, match="must arrive in"):
        queue.feed(np.array([0.9]), *one, 2.0)
    with pytest.raises(ValueError, match="must arrive in"):
        queue.feed(np.array([2.0]), *one, 2.0)
    two = (np.array([100, 100]), np.array([0, 0]), np.zeros(2, bool))
    with pytest.raises(ValueError, match="sorted"):
        queue.feed(np.array([1.5, 1.2, 1.7]), *(np.append(c, c[0]) for c in two), 2.0)
    queue.finish()
    with pytest.raises(ValueError, match="finished"):
        queue.feed(np.array([2.0]), *one, 3.0)


def test_a_bulk_flow_without_end_cannot_be_served_to_the_end() -> None:
    """With a bulk flow that never stops and no run end, horizon inf is refused."""
    queue = QueueRun(QueueingLink(rate_bps=1e6), np.random.default_rng(1), (BulkFlow(0.01),))
    queue.feed(np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool), 0.1)
    with pytest.raises(ValueError, match="never stops"):
        queue.feed(
            np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool), math.inf
        )
