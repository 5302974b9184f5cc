"""Fixed, adaptive (Ramjee et al. 1994) and NetEq-like jitter buffers."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voipbed.models.jitter_buffer import (
    TIMING_TOLERANCE_S,
    AdaptiveJitterBuffer,
    FixedJitterBuffer,
    JitterBuffer,
    NetEqJitterBuffer,
    Playout,
    StretchKind,
)

PTIME = 0.02
BUFFERS: list[JitterBuffer] = [
    FixedJitterBuffer(0.06),
    AdaptiveJitterBuffer(),
    NetEqJitterBuffer(),
]
Trace = tuple[np.ndarray, np.ndarray]


def _spike_trace() -> Trace:
    """30 s at a constant 50 ms, a 250 ms spike at 10 s, the packets queued behind 1 ms apart."""
    media = np.arange(1500) * PTIME
    delay = np.full(media.size, 0.050)
    spike = np.arange(500, 515)
    delay[spike] += np.maximum(0.250 - (spike - 500) * (PTIME - 0.001), 0.0)
    return media, media + delay


def test_buffers_differ_on_a_delay_spike() -> None:
    """The three jitter buffers differ as expected on a trace with a delay spike (fixed: late loss; adaptive: larger delay after the spike; NetEQ-like: stretch events)."""  # noqa: E501
    media, recv = _spike_trace()
    fixed = FixedJitterBuffer(0.06).playout(media, recv)
    assert fixed.summary().late_discards > 0
    assert set(np.flatnonzero(fixed.late)) <= set(range(500, 515))

    adaptive = AdaptiveJitterBuffer().playout(media, recv)
    delay = adaptive.playout_s - media
    assert delay[600] > delay[499] + 0.005  # the spike raised d and v, hence d + 4 v
    np.testing.assert_allclose(delay[:500], 0.050)  # no jitter before it: n exactly

    neteq = NetEqJitterBuffer().playout(media, recv)
    stretch = neteq.stretch
    kinds = stretch.kind.tolist()
    assert kinds[0] == StretchKind.EXPAND and stretch.time_s[0] == pytest.approx(10.07)
    assert stretch.amount_ms[0] == pytest.approx(230.0)  # waited for the spiked packet
    assert StretchKind.ACCELERATE in kinds[1:]  # then drained back towards the target
    summary = neteq.summary()
    assert summary.late_discards == 0 and summary.stretch_ratio > 0
    assert summary.accelerate_ms == pytest.approx(15.0 * kinds.count(StretchKind.ACCELERATE))
    assert (neteq.playout_s - media)[-1] < (neteq.playout_s - media)[520]


def test_neteq_target_follows_the_jitter() -> None:
    """With jitter the NetEq-like buffer holds more than its 20 ms start; without, exactly that."""
    rng = np.random.default_rng(7)
    media = np.arange(3000) * PTIME
    jittery = NetEqJitterBuffer().playout(media, media + 0.05 + rng.exponential(0.02, media.size))
    steady = NetEqJitterBuffer().playout(media, media + 0.05)
    assert jittery.summary().mean_buffer_delay_s > 0.04
    np.testing.assert_allclose(steady.buffer_delay_s, 0.02)
    assert StretchKind.PREEMPTIVE in jittery.stretch.kind.tolist()


def test_playout_built_the_old_way_still_works() -> None:
    """Playout(playout_s, late) still builds, with unknown buffer delays and no stretching."""
    playout = Playout(np.array([0.1, np.nan, 0.3]), np.array([False, False, True]))
    assert playout.played.tolist() == [True, False, False]
    assert np.isnan(playout.buffer_delay_s).all()
    summary = playout.summary()
    assert (summary.packets, summary.played, summary.late_discards) == (3, 1, 1)
    assert summary.stretch_events == 0 and summary.stretch_ratio == 0.0


def test_fixed_buffer_reports_buffer_delay() -> None:
    """The fixed buffer's buffer delay is playout minus arrival for what it played."""
    media = np.arange(4) * PTIME
    recv = np.array([0.10, 0.13, np.nan, 0.20])
    playout = FixedJitterBuffer(0.04).playout(media, recv)
    np.testing.assert_allclose(playout.buffer_delay_s, [0.04, 0.03, np.nan, 0.0], atol=1e-12)
    assert playout.summary().mean_buffer_delay_s == pytest.approx(0.07 / 3)


@pytest.mark.parametrize(
    "make",
    [
        lambda: AdaptiveJitterBuffer(alpha=1.0),
        lambda: AdaptiveJitterBuffer(frame_s=0.0),
        lambda: AdaptiveJitterBuffer(max_spurt_s=-1.0),
        lambda: NetEqJitterBuffer(quantile=1.0),
        lambda: NetEqJitterBuffer(buckets=0),
        lambda: NetEqJitterBuffer(stretch_step_s=-0.01),
    ],
)
def test_bad_configuration_raises(make: object) -> None:
    """Out-of-range tunables are configuration errors."""
    with pytest.raises(ValueError):
        make()  # type: ignore[operator]


def test_inputs_are_checked() -> None:
    """Mismatched arrays, bad bounds and media time going back raise ValueError."""
    media = np.arange(4) * PTIME
    with pytest.raises(ValueError, match="one element per packet"):
        NetEqJitterBuffer().playout(media, media[:3])
    with pytest.raises(ValueError, match="bounds"):
        AdaptiveJitterBuffer().playout_flows(media, media, [0, 2])
    with pytest.raises(ValueError, match="increase"):
        AdaptiveJitterBuffer().playout(media[::-1].copy(), media)
    # Across flows media time may start again.
    two = FixedJitterBuffer(0.0).playout_flows(np.r_[media, media], np.r_[media, media], [0, 4, 8])
    assert two.summary.played.tolist() == [4, 4]


# Plain per-packet references ------------------------------------------------


def _adaptive_reference(media: np.ndarray, recv: np.ndarray, jb: AdaptiveJitterBuffer) -> Trace:
    """Ramjee et al. algorithm 1 with talk spurts, one packet at a time."""
    max_spurt = math.inf if jb.max_spurt_s is None else jb.max_spurt_s
    playout = [math.nan] * len(media)
    late = [False] * len(media)
    d = v = 0.0
    started, delay, spurt, pending = False, math.nan, 0, True
    for i, (m, r) in enumerate(zip(media.tolist(), recv.tolist(), strict=True)):
        gap = i > spurt and media[i] - media[i - 1] > 1.5 * jb.frame_s
        if gap or (i > spurt and m - media[spurt] >= max_spurt - TIMING_TOLERANCE_S):
            spurt, pending = i, True
        if math.isnan(r):
            continue
        n = r - m
        if not started:
            d, v, started = n, jb.initial_variation_s, True
        else:
            d = jb.alpha * d + (1 - jb.alpha) * n
            v = jb.alpha * v + (1 - jb.alpha) * abs(d - n)
        if pending:
            wanted = d + jb.beta * v
            if not math.isnan(delay):
                wanted = max(wanted, delay - (media[spurt] - media[spurt - 1]))
            delay, pending = wanted, False
        playout[i] = m + delay
        late[i] = r > playout[i] + TIMING_TOLERANCE_S
    return np.array(playout), np.array(late)


def _quantile_target(hist: list[float], jb: NetEqJitterBuffer) -> float:
    index, tail = 0, 1.0 - hist[0]
    while tail > 1.0 - jb.quantile and index < jb.buckets - 1:
        index += 1
        tail -= hist[index]
    return (index + 1) * jb.bucket_s


def _neteq_reference(
    media: np.ndarray, recv: np.ndarray, jb: NetEqJitterBuffer
) -> tuple[np.ndarray, np.ndarray, list[tuple[float, int, float]]]:
    """The NetEq-like model frame by frame, with a plain list for the arrival history."""
    n = len(media)
    m = media.tolist()
    arrival = [math.inf if math.isnan(r) else r for r in recv.tolist()]
    playout, late = [math.nan] * n, [False] * n
    events: list[tuple[float, int, float]] = []
    waiting = deque(sorted((a, i) for i, a in enumerate(arrival) if a < math.inf))
    if not waiting:
        return np.array(playout), np.array(late), events
    history: list[tuple[float, float]] = []  # (media, recv - media) in arrival order
    hist = [0.5 ** (b + 1) for b in range(jb.buckets)]
    forget, updates, watch, interval_max = 0.0, 0, math.nan, 0.0
    target = jb.start_delay_s
    first = waiting[0][1]
    t = arrival[first] + jb.start_delay_s
    last_stretch, after_expand = t, False
    for k in range(first):
        if arrival[k] < math.inf:
            playout[k], late[k] = t - (m[first] - m[k]), True
    k = first
    while k < n:
        while waiting and waiting[0][0] <= t + TIMING_TOLERANCE_S:
            a, j = waiting.popleft()
            history.append((m[j], a - m[j]))
            newest = max(media_s for media_s, _ in history)
            while history[0][0] + jb.history_s < newest:
                history.pop(0)
            if len(history) < 2:
                continue
            relative = max(a - m[j] - min(tr for _, tr in history), 0.0)
            if math.isnan(watch):
                watch = a
            elif a - watch > jb.resample_s:
                bucket = int(interval_max / jb.bucket_s)
                if bucket < jb.buckets:
                    hist = [h * forget for h in hist]
                    hist[bucket] += 1.0 - forget
                    updates += 1
                    if forget != jb.forget_factor:
                        ramp = 1.0 - jb.start_forget_weight / (updates + 1)
                        forget = max(0.0, min(jb.forget_factor, ramp))
                target = _quantile_target(hist, jb)
                watch, interval_max = a, 0.0
            interval_max = max(interval_max, relative)
        step = m[k + 1] - m[k] if k + 1 < n else jb.frame_s
        if arrival[k] <= t + TIMING_TOLERANCE_S:
            playout[k] = t
            change = 0.0
            if not after_expand and t - last_stretch >= jb.min_stretch_interval_s - 1e-12:
                fastest = min(tr for _, tr in history)
                level = t - m[k] - fastest
                high = max(target, max(tr for _, tr in history) - fastest) + jb.adjustment_s
                low = max(0.75 * target, target - jb.deceleration_offset_s)
                if level >= high:
                    change = -min(jb.stretch_step_s, level - target, step)
                    events.append((t, StretchKind.ACCELERATE, -change * 1000))
                elif level < low:
                    change = min(jb.stretch_step_s, target - level)
                    events.append((t, StretchKind.PREEMPTIVE, change * 1000))
                if change:
                    last_stretch = t
            t += step + change
            after_expand = False
            k += 1
        elif arrival[k] <= min(arrival[k + 1 :], default=math.inf):
            if arrival[k] == math.inf:
                break
            events.append((t, StretchKind.EXPAND, (arrival[k] - t) * 1000))
            t, after_expand = arrival[k], True
        else:
            if arrival[k] < math.inf:
                playout[k], late[k] = t, True
            t += step
            after_expand = True
            k += 1
    return np.array(playout), np.array(late), events


# Random traces ---------------------------------------------------------------


@st.composite
def traces(draw: st.DrawFn, max_packets: int = 300) -> Trace:
    """Media times (20 ms frames, some silence gaps) and arrivals: jitter, spikes, loss."""
    n = draw(st.integers(1, max_packets))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    frames = np.cumsum(np.where(rng.random(n) < draw(st.sampled_from([0.0, 0.05])), 10, 1))
    media = (frames - frames[0]) * PTIME + draw(st.floats(0.0, 100.0))
    jitter = rng.exponential(draw(st.sampled_from([0.0, 0.002, 0.02, 0.08])), n)
    spikes = np.where(rng.random(n) < draw(st.sampled_from([0.0, 0.01])), 0.3, 0.0)
    queued = np.maximum.accumulate(spikes + media) - media
    recv = media + draw(st.floats(-1.0, 1.0)) + jitter + queued  # any clock offset
    recv[rng.random(n) < draw(st.sampled_from([0.0, 0.02, 0.3]))] = np.nan
    return media, recv


adaptive_buffers = st.builds(
    AdaptiveJitterBuffer,
    alpha=st.sampled_from([0.998002, 0.9, 0.5]),
    beta=st.sampled_from([4.0, 1.0]),
    max_spurt_s=st.sampled_from([1.0, 0.1, None]),
    initial_variation_s=st.sampled_from([0.0, 0.01]),
)
neteq_buffers = st.builds(
    NetEqJitterBuffer,
    quantile=st.sampled_from([0.95, 0.5]),
    resample_s=st.sampled_from([0.5, 0.1]),
    history_s=st.sampled_from([2.0, 0.3]),
    start_delay_s=st.sampled_from([0.02, 0.0, 0.1]),
    min_stretch_interval_s=st.sampled_from([0.06, 0.0]),
)


@settings(max_examples=150, deadline=None)
@given(trace=traces(), jb=adaptive_buffers)
def test_adaptive_matches_reference(trace: Trace, jb: AdaptiveJitterBuffer) -> None:
    """The adaptive kernel equals the per-packet reference on random traces."""
    media, recv = trace
    expected_playout, expected_late = _adaptive_reference(media, recv, jb)
    playout = jb.playout(media, recv)
    np.testing.assert_allclose(playout.playout_s, expected_playout, rtol=0, atol=1e-12)
    assert playout.late.tolist() == expected_late.tolist()


@settings(max_examples=150, deadline=None)
@given(trace=traces(), jb=neteq_buffers)
def test_neteq_matches_reference(trace: Trace, jb: NetEqJitterBuffer) -> None:
    """The NetEq-like kernel equals the frame-by-frame reference on random traces."""
    media, recv = trace
    expected_playout, expected_late, expected_events = _neteq_reference(media, recv, jb)
    playout = jb.playout(media, recv)
    np.testing.assert_allclose(playout.playout_s, expected_playout, rtol=0, atol=1e-12)
    assert playout.late.tolist() == expected_late.tolist()
    events = list(
        zip(
            playout.stretch.time_s,
            playout.stretch.kind.tolist(),
            playout.stretch.amount_ms,
            strict=True,
        )
    )
    assert len(events) == len(expected_events)
    for got, want in zip(events, expected_events, strict=True):
        assert got[1] == want[1]
        assert got[0] == pytest.approx(want[0], abs=1e-12)
        assert got[2] == pytest.approx(want[2], abs=1e-9)


@settings(max_examples=50, deadline=None)
@given(flows=st.lists(traces(max_packets=80), min_size=1, max_size=5), which=st.integers(0, 2))
def test_many_flows_equal_one_at_a_time(flows: list[Trace], which: int) -> None:
    """playout_flows over flows end to end gives each flow's playout and summary."""
    buffer = BUFFERS[which]
    media = np.concatenate([m for m, _ in flows])
    recv = np.concatenate([r for _, r in flows])
    bounds = np.cumsum([0] + [m.size for m, _ in flows])
    together = buffer.playout_flows(media, recv, bounds)
    for index, (m, r) in enumerate(flows):
        alone = buffer.playout(m, r)
        part = together.flow(index)
        np.testing.assert_array_equal(part.playout_s, alone.playout_s)
        np.testing.assert_array_equal(part.late, alone.late)
        np.testing.assert_array_equal(part.buffer_delay_s, alone.buffer_delay_s)
        np.testing.assert_array_equal(part.stretch.amount_ms, alone.stretch.amount_ms)
        assert part.summary() == pytest.approx(alone.summary(), nan_ok=True)
        row = [float(column[index]) for column in together.summary]
        assert row == pytest.approx(list(alone.summary()), nan_ok=True)


# Properties ------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(1, 400),
    delay=st.floats(-1.0, 1.0),
    start=st.floats(0.0, 1000.0),
    silences=st.booleans(),
    which=st.integers(0, 2),
)
def test_no_jitter_no_loss_means_no_late_and_no_stretching(
    n: int, delay: float, start: float, silences: bool, which: int
) -> None:
    """A constant network delay and no loss: every buffer plays everything and stretches nothing."""
    frames = np.arange(n) + (np.arange(n) // 37) * 20 * silences  # DTX gaps if silences
    media = start + frames * PTIME
    summary = BUFFERS[which].playout(media, media + delay).summary()
    assert summary.late_discards == 0 and summary.played == n
    assert summary.stretch_events == 0 and summary.stretch_ratio == 0.0


@settings(max_examples=150, deadline=None)
@given(trace=traces(), which=st.integers(0, 2))
def test_played_packets_play_in_order_after_arrival(trace: Trace, which: int) -> None:
    """Played packets have non-decreasing playout times and a buffer delay >= 0."""
    media, recv = trace
    playout = BUFFERS[which].playout(media, recv)
    played = playout.played
    assert np.all(np.diff(playout.playout_s[played]) >= 0)
    assert np.all(playout.buffer_delay_s[played] >= -TIMING_TOLERANCE_S)
    assert np.isnan(playout.buffer_delay_s[~played]).all()
    assert not (playout.late & np.isnan(recv)).any()  # only received packets can be late


@settings(max_examples=100, deadline=None)
@given(trace=traces(), jb=neteq_buffers)
def test_stretch_ratio_is_stretched_over_total_audio(trace: Trace, jb: NetEqJitterBuffer) -> None:
    """The NetEq-like stretch ratio is the stretched audio over the flow's audio, by kind."""
    media, recv = trace
    playout = jb.playout(media, recv)
    summary = playout.summary()
    stretch = playout.stretch
    for kind, total in (
        (StretchKind.ACCELERATE, summary.accelerate_ms),
        (StretchKind.PREEMPTIVE, summary.preemptive_ms),
        (StretchKind.EXPAND, summary.expand_ms),
    ):
        assert stretch.amount_ms[stretch.kind == kind].sum() == pytest.approx(total)
    audio_ms = 1000 * media.size * jb.frame_s
    assert summary.stretch_ratio == pytest.approx(stretch.amount_ms.sum() / audio_ms)
    assert np.all(stretch.amount_ms > 0)
    assert np.all(
        stretch.amount_ms[stretch.kind != StretchKind.EXPAND] <= 1000 * jb.stretch_step_s + 1e-9
    )
