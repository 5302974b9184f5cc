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
