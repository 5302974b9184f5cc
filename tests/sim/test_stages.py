"""The batch stages agree with their per-packet references and keep their invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.sim.reference import ReferenceBernoulliLoss, ReferenceDelay, ReferenceFifoLink
from voipbed.scenario import Jitter, JitterDistribution
from voipbed.sim.stages import BernoulliLoss, DelayStage, FifoLink

arrivals = st.lists(
    st.tuples(st.floats(0.0, 10.0, allow_nan=False), st.integers(40, 1500), st.integers(0, 5)),
    min_size=0,
    max_size=200,
).map(lambda rows: sorted(rows, key=lambda row: row[0]))


def _columns(rows: list[tuple[float, int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arrive = np.array([row[0] for row in rows], dtype=np.float64)
    size = np.array([row[1] for row in rows], dtype=np.int64)
    flow = np.array([row[2] for row in rows], dtype=np.int64)
    return arrive, size, flow


@settings(max_examples=200, deadline=None)
@given(rows=arrivals, rate=st.floats(1e4, 1e8), split=st.integers(0, 200))
def test_fifo_link_matches_reference(
    rows: list[tuple[float, int, int]], rate: float, split: int
) -> None:
    """The vectorized Lindley recursion equals the packet-by-packet FIFO, across two batches."""
    arrive, size, _ = _columns(rows)
    link = FifoLink(rate)
    cut = min(split, arrive.size)
    batch = np.concatenate(
        [
            link.process(arrive[:cut], size[:cut]).time_s,
            link.process(arrive[cut:], size[cut:]).time_s,
        ]
    )
    reference = ReferenceFifoLink(rate)
    expected = np.array([reference.send(a, int(b)) for a, b in zip(arrive, size, strict=True)])
    np.testing.assert_allclose(batch, expected, rtol=0, atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(rows=arrivals, rate=st.floats(1e4, 1e8))
def test_fifo_link_delay_bounded_by_backlog(
    rows: list[tuple[float, int, int]], rate: float
) -> None:
    """A packet waits at most for the bytes that arrived before it, and leaves in arrival order."""
    arrive, size, _ = _columns(rows)
    depart = FifoLink(rate).process(arrive, size).time_s
    if not rows:
        return
    backlog_s = np.cumsum(size) * 8.0 / rate  # everything up to and including this packet
    assert np.all(depart - arrive <= backlog_s + 1e-9)
    assert np.all(depart >= arrive + size * 8.0 / rate - 1e-9)
    assert np.all(np.diff(depart) >= -1e-12)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(0, 500), ratio=st.floats(0.0, 1.0), seed=st.integers(0, 2**32 - 1))
def test_bernoulli_loss_matches_reference(n: int, ratio: float, seed: int) -> None:
    """Batch loss draws the same decisions as one draw per packet from the same stream."""
    batch = BernoulliLoss(ratio, np.random.default_rng(seed)).process(np.zeros(n)).lost
    reference = ReferenceBernoulliLoss(ratio, np.random.default_rng(seed))
    assert batch.tolist() == [reference.lost() for _ in range(n)]


def test_no_loss_configured_loses_nothing() -> None:
    """A zero loss ratio never drops a packet."""
    lost = BernoulliLoss(0.0, np.random.default_rng(1)).process(np.zeros(100_000)).lost
    assert not lost.any()


jitters = st.builds(
    lambda distribution, scale_ms, reorder: Jitter.model_validate(
        {
            "distribution": distribution,
            "scale": f"{scale_ms if distribution != 'none' else 0}ms",
            "reorder": reorder,
        }
    ),
    st.sampled_from([d.value for d in JitterDistribution]),
    st.floats(0.0, 50.0),
    st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(rows=arrivals, jitter=jitters, delay_ms=st.floats(0, 200), seed=st.integers(0, 2**32 - 1))
def test_delay_stage_matches_reference(
    rows: list[tuple[float, int, int]], jitter: Jitter, delay_ms: float, seed: int
) -> None:
    """Delay plus jitter, and in-sequence delivery per flow, equal the per-packet reference."""
    arrive, _, flow = _columns(rows)
    half = arrive.size // 2
    stage = DelayStage(delay_ms / 1e3, jitter, np.random.default_rng(seed))
    batch = np.concatenate(
        [
            stage.process(arrive[:half], flow[:half]).time_s,
            stage.process(arrive[half:], flow[half:]).time_s,
        ]
    )
    reference = ReferenceDelay(delay_ms / 1e3, jitter, np.random.default_rng(seed))
    expected = np.array([reference.leave(a, int(f)) for a, f in zip(arrive, flow, strict=True)])
    np.testing.assert_allclose(batch, expected, rtol=0, atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(rows=arrivals, seed=st.integers(0, 2**32 - 1))
def test_delay_stage_keeps_flow_order_unless_told(
    rows: list[tuple[float, int, int]], seed: int
) -> None:
    """Without reordering, each flow's packets leave in the order they arrived."""
    arrive, _, flow = _columns(rows)
    jitter = Jitter.model_validate({"distribution": "exponential", "scale": "30ms"})
    leave = DelayStage(0.01, jitter, np.random.default_rng(seed)).process(arrive, flow).time_s
    for flow_id in np.unique(flow):
        assert np.all(np.diff(leave[flow == flow_id]) >= 0)
    assert np.all(leave >= arrive + 0.01)


def test_reordering_happens_when_allowed() -> None:
    """With reorder on and jitter larger than the packet spacing, some packets overtake."""
    jitter = Jitter.model_validate({"distribution": "uniform", "scale": "100ms", "reorder": True})
    arrive = np.arange(1000) * 0.02
    leave = DelayStage(0.0, jitter, np.random.default_rng(3)).process(
        arrive, np.zeros(1000, dtype=np.int64)
    )
    assert (np.diff(leave.time_s) < 0).any()


def test_fifo_rejects_nonpositive_rate() -> None:
    """A link with no capacity is a configuration error, not a silent stall."""
    with pytest.raises(ValueError, match="rate_bps"):
        FifoLink(0.0)
