"""The batch stages agree with their per-packet references and keep their invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.sim.reference import (
    ReferenceBernoulliLoss,
    ReferenceDelay,
    ReferenceFifoLink,
    ReferenceGilbertElliott,
    ReferenceHarq,
)
from voipbed.models.delay import DelayStage, JitterSpec
from voipbed.models.link import RateLink
from voipbed.models.loss import Bernoulli, GilbertElliott, Harq
from voipbed.scenario import Jitter, JitterDistribution

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
def test_rate_link_matches_fifo_recursion(
    rows: list[tuple[float, int, int]], rate: float, split: int
) -> None:
    """The rate link kernel equals the packet-by-packet FIFO recursion, across two batches."""
    arrive, size, _ = _columns(rows)
    link = RateLink(rate)
    cut = min(split, arrive.size)
    batch = np.concatenate(
        [
            link.process(arrive[:cut], size[:cut]).depart_s,
            link.process(arrive[cut:], size[cut:]).depart_s,
        ]
    )
    reference = ReferenceFifoLink(rate)
    expected = np.array([reference.send(a, int(b)) for a, b in zip(arrive, size, strict=True)])
    np.testing.assert_allclose(batch, expected, rtol=0, atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(rows=arrivals, rate=st.floats(1e4, 1e8))
def test_rate_link_delay_bounded_by_backlog(
    rows: list[tuple[float, int, int]], rate: float
) -> None:
    """A packet waits at most for the bytes that arrived before it, and leaves in arrival order."""
    arrive, size, _ = _columns(rows)
    depart = RateLink(rate).process(arrive, size).depart_s
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
    batch = Bernoulli(ratio).lost(n, np.random.default_rng(seed))
    reference = ReferenceBernoulliLoss(ratio, np.random.default_rng(seed))
    assert batch.tolist() == [reference.lost() for _ in range(n)]


def test_no_loss_configured_loses_nothing() -> None:
    """A zero loss ratio never drops a packet."""
    lost = Bernoulli(0.0).lost(100_000, np.random.default_rng(1))
    assert not lost.any()


def _spec(jitter: Jitter) -> JitterSpec:
    """The model's jitter config, built from the scenario's as the sim does."""
    return JitterSpec(jitter.distribution.value, jitter.scale_s, jitter.reorder)


jitters = st.builds(
    lambda distribution, scale_ms, reorder: _spec(
        Jitter.model_validate(
            {
                "distribution": distribution,
                "scale": f"{scale_ms if distribution != 'none' else 0}ms",
                "reorder": reorder,
            }
        )
    ),
    st.sampled_from([d.value for d in JitterDistribution]),
    st.floats(0.0, 50.0),
    st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(rows=arrivals, jitter=jitters, delay_ms=st.floats(0, 200), seed=st.integers(0, 2**32 - 1))
def test_delay_stage_matches_reference(
    rows: list[tuple[float, int, int]], jitter: JitterSpec, delay_ms: float, seed: int
) -> None:
    """Delay plus jitter, and in-sequence delivery per flow, equal the per-packet reference."""
    arrive, _, flow = _columns(rows)
    half = arrive.size // 2
    stage = DelayStage(delay_ms / 1e3, jitter, np.random.default_rng(seed))
    batch = np.concatenate(
        [
            stage.process(arrive[:half], flow[:half]),
            stage.process(arrive[half:], flow[half:]),
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
    jitter = _spec(Jitter.model_validate({"distribution": "exponential", "scale": "30ms"}))
    leave = DelayStage(0.01, jitter, np.random.default_rng(seed)).process(arrive, flow)
    for flow_id in np.unique(flow):
        assert np.all(np.diff(leave[flow == flow_id]) >= 0)
    assert np.all(leave >= arrive + 0.01)


def test_reordering_happens_when_allowed() -> None:
    """With reorder on and jitter larger than the packet spacing, some packets overtake."""
    jitter = JitterSpec("uniform", 0.1, reorder=True)
    arrive = np.arange(1000) * 0.02
    leave = DelayStage(0.0, jitter, np.random.default_rng(3)).process(
        arrive, np.zeros(1000, dtype=np.int64)
    )
    assert (np.diff(leave) < 0).any()


def test_rate_link_rejects_nonpositive_rate() -> None:
    """A link with no capacity is a configuration error, not a silent stall."""
    with pytest.raises(ValueError, match="rate_bps"):
        RateLink(0.0)


@settings(max_examples=100, deadline=None)
@given(
    flows=st.lists(st.integers(0, 4), max_size=300),
    p=st.floats(0, 1),
    r=st.floats(0, 1),
    good=st.floats(0, 1),
    bad=st.floats(0, 1),
    seed=st.integers(0, 2**32 - 1),
)
def test_gilbert_elliott_matches_reference(
    flows: list[int], p: float, r: float, good: float, bad: float, seed: int
) -> None:
    """The per-flow Markov kernel equals a per-packet chain on the same draws, across batches."""
    model = GilbertElliott(p, r, good, bad)
    flow = np.array(flows, dtype=np.int64)
    state = np.full(5, -1, dtype=np.int8)
    rng = np.random.default_rng(seed)
    half = flow.size // 2
    batch = np.concatenate(
        [model.lost(flow[:half], rng, state), model.lost(flow[half:], rng, state)]
    )
    reference = ReferenceGilbertElliott(p, r, good, bad, np.random.default_rng(seed))
    assert batch.tolist() == [reference.lost(int(f)) for f in flow]


def test_gilbert_from_rate_and_burst_gives_that_rate_and_burst() -> None:
    """Gilbert loss built from 3 % in bursts of 4 packets shows about 3 % in runs of about 4."""
    model = GilbertElliott.from_rate_and_burst(0.03, 4.0)
    assert model.mean_loss == pytest.approx(0.03)
    lost = model.lost(
        np.zeros(400_000, dtype=np.int64), np.random.default_rng(2), np.full(1, -1, np.int8)
    )
    assert lost.mean() == pytest.approx(0.03, rel=0.1)
    starts = np.flatnonzero(np.diff(lost.astype(np.int8)) == 1)
    assert lost.sum() / starts.size == pytest.approx(4.0, rel=0.1)


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(0, 300),
    bler=st.floats(0, 1),
    max_tx=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
)
def test_harq_matches_reference(n: int, bler: float, max_tx: int, seed: int) -> None:
    """Batch HARQ outcomes equal drawing transmissions packet by packet."""
    harq = Harq(bler, max_tx, 0.008)
    outcome = harq.outcome(n, np.random.default_rng(seed))
    reference = ReferenceHarq(bler, max_tx, np.random.default_rng(seed))
    expected = [reference.transmissions() for _ in range(n)]
    assert (
        list(zip(outcome.transmissions.tolist(), outcome.failed.tolist(), strict=True)) == expected
    )


def test_harq_delay_and_residual_loss() -> None:
    """With 10 % BLER and 5 transmissions: 10 % of packets wait 8 ms or more, 1e-5 are lost."""
    harq = Harq(0.1, 5, 0.008)
    outcome = harq.outcome(2_000_000, np.random.default_rng(4))
    delay = harq.extra_delay_s(outcome)
    assert (delay >= 0.008).mean() == pytest.approx(0.1, rel=0.02)
    assert (delay >= 0.016).mean() == pytest.approx(0.01, rel=0.1)
    assert outcome.failed.sum() == pytest.approx(20, abs=15)
