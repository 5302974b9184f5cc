"""The sampling grid: a bounded number of instants, and sums and backlogs on it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from voipbed.models.queue_samples import MAX_SAMPLES, MIN_PERIOD_S, SampleGrid


def test_a_minute_is_sampled_every_100_ms() -> None:
    """A 60 s run gets the finest period, 100 ms: 600 instants, the last at the run's end."""
    grid = SampleGrid.for_run(60.0)
    assert grid.period_s == pytest.approx(MIN_PERIOD_S)
    assert grid.count == 600
    assert grid.times_s[-1] == pytest.approx(60.0)


def test_an_hour_is_sampled_at_most_max_samples_times() -> None:
    """A 1 h run is sampled every 2 s (1,800 instants), not 36,000 times."""
    grid = SampleGrid.for_run(3600.0)
    assert grid.period_s == pytest.approx(2.0)
    assert grid.count == 1800


@given(st.floats(0.001, 7 * 86400.0))
def test_grid_covers_the_run_with_bounded_samples(duration_s: float) -> None:
    """Any run length: period at least the floor, at most MAX_SAMPLES instants, the last one
    at or after the run's end."""
    grid = SampleGrid.for_run(duration_s)
    assert grid.period_s >= MIN_PERIOD_S * (1 - 1e-12)
    assert 1 <= grid.count <= MAX_SAMPLES
    assert grid.count * grid.period_s >= duration_s * (1 - 1e-9)


def test_per_interval_sums_what_falls_in_each_interval() -> None:
    """Amounts go to the interval (t[j-1], t[j]] that holds their time; later ones are left out."""
    grid = SampleGrid(period_s=1.0, count=3)
    time_s = np.array([0.2, 1.0, 1.5, 2.9, 3.0, 3.5, np.nan])
    amount = np.array([1, 10, 100, 1000, 10000, 99999, 7], dtype=np.int64)
    np.testing.assert_array_equal(grid.per_interval(time_s, amount), [11, 100, 11000])


def test_backlog_counts_what_waits_at_each_instant() -> None:
    """A packet waits from its arrival (included) to its service start (excluded), per class."""
    grid = SampleGrid(period_s=1.0, count=4)
    enter = np.array([0.5, 0.9, 1.0, 2.5])
    leave = np.array([2.0, 1.0, 3.5, 2.5])  # the last one never waits
    size = np.array([100, 200, 300, 400], dtype=np.int64)
    klass = np.array([2, 0, 2, 1], dtype=np.int64)
    occupancy = grid.backlog(enter, leave, size, klass, 3)
    np.testing.assert_array_equal(occupancy.total_packets, [2, 1, 1, 0])  # at 1, 2, 3, 4 s
    np.testing.assert_array_equal(occupancy.total_bytes, [400, 300, 300, 0])
    np.testing.assert_array_equal(occupancy.bytes[:, 2], [400, 300, 300, 0])
    assert not occupancy.packets[:, 0].any()  # the EF packet left at 1 s, before the sample


def test_an_empty_run_has_no_samples() -> None:
    """No duration, no instants; a period that is not positive is refused."""
    assert SampleGrid.for_run(0.0).count == 0
    with pytest.raises(ValueError, match="period"):
        SampleGrid(0.0, 3)


@given(
    st.lists(st.floats(0.0, 3.0, allow_nan=False), max_size=60),
    st.integers(0, 2**20),
)
def test_per_interval_sums_match_a_running_total(times: list[float], seed: int) -> None:
    """Sums up to each instant equal those of a full running total, empty intervals included."""
    grid = SampleGrid(period_s=0.25, count=10)
    time_s = np.sort(np.asarray(times, dtype=np.float64))
    amount = np.random.default_rng(seed).integers(0, 1500, time_s.size).astype(np.int64)
    sums = grid.per_interval(time_s, amount)
    upto = np.searchsorted(time_s, grid.times_s, side="right")
    expected = np.concatenate([[0], np.cumsum(amount)])[upto]
    np.testing.assert_array_equal(sums, np.diff(expected, prepend=0))


@given(
    st.lists(st.floats(0.0, 3.0, allow_nan=False), max_size=60),
    st.lists(st.floats(0.0, 2.0, allow_nan=False), max_size=60),
    st.integers(0, 2**20),
)
def test_backlog_of_times_in_any_order_matches_a_direct_count(
    enters: list[float], waits: list[float], seed: int
) -> None:
    """Times in any order (the search walks from the previous packet's instant) are counted as a
    direct check of enter <= t < leave at every instant counts them."""
    n = min(len(enters), len(waits))
    grid = SampleGrid(period_s=0.25, count=10)
    enter = np.asarray(enters[:n], dtype=np.float64)
    leave = enter + np.asarray(waits[:n], dtype=np.float64)
    rng = np.random.default_rng(seed)
    leave[rng.random(n) < 0.2] = np.nan  # never served
    size = rng.integers(40, 1500, n).astype(np.int64)
    klass = rng.integers(0, 3, n).astype(np.int64)
    occupancy = grid.backlog(enter, leave, size, klass, 3)
    at = grid.times_s[:, None]
    waiting = (enter[None, :] <= at) & ((at < leave[None, :]) | np.isnan(leave)[None, :])
    for c in range(3):
        mine = waiting & (klass == c)[None, :]
        np.testing.assert_array_equal(occupancy.packets[:, c], mine.sum(axis=1))
        np.testing.assert_array_equal(occupancy.bytes[:, c], (mine * size[None, :]).sum(axis=1))
    amount = rng.integers(0, 1500, n).astype(np.int64)
    sums = grid.per_interval(leave, amount)
    place = np.searchsorted(grid.times_s, leave)
    counted = ~np.isnan(leave) & (place < grid.count)
    expected = np.bincount(place[counted], amount[counted], minlength=grid.count)
    np.testing.assert_array_equal(sums, expected)


def test_adding_in_place_accumulates_windows() -> None:
    """add_backlog and add_per_interval over two batches give what one batch gives."""
    grid = SampleGrid(period_s=1.0, count=4)
    enter = np.array([0.5, 0.9, 1.0, 2.5, 3.2])
    leave = np.array([2.0, 1.0, 3.5, 2.5, 3.9])
    size = np.array([100, 200, 300, 400, 500], dtype=np.int64)
    klass = np.array([2, 0, 2, 1, 1], dtype=np.int64)
    whole = grid.backlog(enter, leave, size, klass, 3)
    parts = grid.empty_occupancy(3)
    sums = np.zeros(grid.count, dtype=np.int64)
    for cut in (slice(0, 2), slice(2, 5)):
        grid.add_backlog(parts, enter[cut], leave[cut], size[cut], klass[cut])
        grid.add_per_interval(sums, leave[cut], size[cut])
    np.testing.assert_array_equal(parts.packets, whole.packets)
    np.testing.assert_array_equal(parts.bytes, whole.bytes)
    np.testing.assert_array_equal(sums, grid.per_interval(leave, size))
