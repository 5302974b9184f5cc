"""Linear-time orders (models.grouping): the same permutations as numpy's stable sorts."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from voipbed.models.grouping import group_order, in_time_order, time_order

_TIMES = st.one_of(
    st.floats(0.0, 10.0),
    st.sampled_from([0.0, 0.5, 1.0, np.inf, -np.inf, np.nan]),
)


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.integers(0, 400), elements=_TIMES))
def test_time_order_is_a_stable_argsort(time_s: np.ndarray) -> None:
    """Any times, ties, infinities and NaN included: the stable argsort's permutation."""
    assert np.array_equal(time_order(time_s), np.argsort(time_s, kind="stable"))


@given(st.integers(0, 5000), st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_time_order_of_jittered_and_bunched_times(count: int, seed: int) -> None:
    """Sorted times plus jitter, and many times in one instant: the stable argsort's."""
    rng = np.random.default_rng(seed)
    jittered = np.sort(rng.uniform(0.0, 0.1, count)) + rng.exponential(0.002, count)
    assert np.array_equal(time_order(jittered), np.argsort(jittered, kind="stable"))
    bunched = np.concatenate([rng.uniform(0.0, 1.0, count // 2), np.full(count - count // 2, 0.5)])
    assert np.array_equal(time_order(bunched), np.argsort(bunched, kind="stable"))


@given(st.lists(st.integers(0, 9), max_size=200))
def test_group_order_is_a_stable_argsort_by_key(keys: list[int]) -> None:
    """Keys in any order: the stable argsort by key."""
    key = np.array(keys, dtype=np.int64)
    assert np.array_equal(group_order(key), np.argsort(key, kind="stable"))


@given(
    st.lists(st.sampled_from([0.0, 0.5, 1.0, np.nan]), max_size=30),
    st.lists(st.integers(0, 3), max_size=30),
)
def test_in_time_order_is_the_stable_sorts_fixed_point(times: list[float], keys: list[int]) -> None:
    """Ordered exactly when no time falls (NaN aside) and, with a tie-break, no tie does."""
    time_s = np.array(times)
    step = np.diff(time_s)
    assert in_time_order(time_s, np.empty(0, dtype=np.int64)) == (not np.any(step < 0))
    entered = np.array(((keys or [0]) * 30)[: time_s.size], dtype=np.int64)
    if time_s.size:
        falls = (step < 0) | ((step == 0) & (np.diff(entered) < 0))
        assert in_time_order(time_s, entered) == (not np.any(falls))
