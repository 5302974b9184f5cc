"""Unit tests for the windowed E-model rating in voipbed.models.quality_windows."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from voipbed.models import emodel, emodel_wb
from voipbed.models.codecs import Bandwidth
from voipbed.models.quality_windows import QualityWindows, window_quality, window_quality_flows

PTIME_S = 0.02


def call(duration_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Media times of a call with one packet every 20 ms, and every packet played."""
    media = np.arange(round(duration_s / PTIME_S)) * PTIME_S
    return media, np.ones(media.size, dtype=bool)


def test_loss_in_one_window_lowers_r_only_there() -> None:
    """A call with losses only in 10-15 s has a lower R in window 2 and the clean R elsewhere."""
    media, played = call(60.0)
    in_third = (media >= 10.0) & (media < 15.0)
    played[np.flatnonzero(in_third)[::10]] = False
    windows = window_quality(media, played, 0.15, ie=0.0, bpl=25.1)
    clean = emodel.evaluate(emodel.for_mouth_to_ear(0.15, ie=0.0, bpl=25.1)).r
    assert windows.ppl_percent[2] == pytest.approx(10.0)
    assert windows.r[2] < clean - 5.0
    others = np.delete(windows.r, 2)
    np.testing.assert_allclose(others, clean, rtol=1e-12)
    assert windows.mos[2] < np.delete(windows.mos, 2).min()


@pytest.mark.parametrize("bandwidth", [Bandwidth.NARROW, Bandwidth.WIDE])
def test_no_loss_gives_the_whole_call_r_in_every_window(bandwidth: Bandwidth) -> None:
    """Without loss and with a constant delay every window has the whole-call R and MOS."""
    media, played = call(30.0)
    if bandwidth is Bandwidth.WIDE:
        wide = emodel_wb.evaluate(emodel_wb.for_mouth_to_ear(0.12, ie_wb=13.0))
        whole_r, whole_mos = wide.r, wide.mos
        windows = window_quality(media, played, 0.12, bandwidth=bandwidth, ie_wb=13.0)
    else:
        narrow = emodel.evaluate(emodel.for_mouth_to_ear(0.12, ie=11.0, bpl=19.0))
        whole_r, whole_mos = narrow.r, narrow.mos
        windows = window_quality(media, played, 0.12, ie=11.0, bpl=19.0)
    assert windows.r.size == 6
    np.testing.assert_allclose(windows.r, whole_r, rtol=1e-12)
    np.testing.assert_allclose(windows.mos, whole_mos, rtol=1e-12)
    assert np.all(windows.ppl_percent == 0.0)
    assert np.all(windows.burst_r == 1.0)


def test_wideband_rates_on_the_129_scale() -> None:
    """A clean wideband flow rates above 100, a narrowband one below."""
    media, played = call(10.0)
    assert np.all(window_quality(media, played, 0.05, bandwidth=Bandwidth.WIDE).r > 100.0)
    assert np.all(window_quality(media, played, 0.05).r < 100.0)


@pytest.mark.parametrize(
    ("duration_s", "window_s"),
    [(60.0, 5.0), (61.0, 5.0), (7.3, 5.0), (4.0, 5.0), (5.0, 5.0), (60.0, 1.0), (9.98, 2.5)],
)
def test_window_count_is_ceil_duration_over_window(duration_s: float, window_s: float) -> None:
    """Packets every 20 ms over D seconds give ceil(D / window) windows."""
    media, played = call(duration_s)
    windows = window_quality(media, played, 0.1, window_s=window_s)
    assert windows.r.size == math.ceil(round(duration_s / window_s, 9))
    assert windows.packets.sum() == media.size


def test_window_bounds_are_contiguous() -> None:
    """Windows start at the first packet, are window_s long and follow one another."""
    media, played = call(12.0)
    windows = window_quality(media + 3.0, played, 0.1, window_s=5.0)
    np.testing.assert_allclose(windows.start_s, [3.0, 8.0, 13.0])
    np.testing.assert_allclose(windows.end_s, [8.0, 13.0, 18.0])
    assert list(windows.packets) == [250, 250, 100]


def test_start_s_sets_the_window_origin() -> None:
    """With start_s = 0 a call whose media starts at 2 s has its first window at 0-5 s."""
    media, played = call(8.0)
    windows = window_quality(media + 2.0, played, 0.1, start_s=0.0)
    np.testing.assert_allclose(windows.start_s, [0.0, 5.0])
    assert list(windows.packets) == [150, 250]


@given(
    lost=st.lists(st.booleans(), min_size=1, max_size=300),
    per_window=st.integers(min_value=1, max_value=60),
)
def test_burst_ratio_per_window_equals_burst_ratio(lost: list[bool], per_window: int) -> None:
    """Each window's BurstR and Ppl equal burst_ratio and the loss share of its own packets."""
    lost_a = np.array(lost, dtype=bool)
    media = np.arange(lost_a.size, dtype=np.float64)
    windows = window_quality(media, ~lost_a, 0.1, window_s=float(per_window))
    for k in range(windows.r.size):
        part = lost_a[k * per_window : (k + 1) * per_window]
        assert windows.burst_r[k] == pytest.approx(emodel.burst_ratio(part), rel=1e-12)
        assert windows.ppl_percent[k] == pytest.approx(100.0 * part.mean(), rel=1e-12)


def test_bursty_window_rates_worse_than_scattered_window() -> None:
    """Equal loss in two windows, scattered in one and one run in the other: the run rates worse."""
    media, played = call(10.0)
    played[np.arange(0, 250, 10)] = False  # 25 isolated losses in 0-5 s
    played[300:325] = False  # one run of 25 in 5-10 s
    windows = window_quality(media, played, 0.1, ie=0.0, bpl=25.1)
    assert windows.ppl_percent[0] == windows.ppl_percent[1] == pytest.approx(10.0)
    assert windows.burst_r[0] == 1.0
    assert windows.burst_r[1] > 5.0
    assert windows.r[1] < windows.r[0]


def test_per_packet_delay_is_averaged_over_played_packets() -> None:
    """Window Ta is the mean over its played packets; a window with none takes the call's mean."""
    media, played = call(15.0)
    ta = np.where(media < 5.0, 0.1, 0.3)
    played[500:] = False  # nothing played in 10-15 s
    ta[~played] = np.nan
    windows = window_quality(media, played, ta)
    np.testing.assert_allclose(windows.ta_s, [0.1, 0.3, 0.2])
    assert windows.r[1] < windows.r[0]
    assert windows.ppl_percent[2] == 100.0


def test_per_packet_delay_with_nothing_played_raises() -> None:
    """If no packet was played a per-packet delay gives no Ta, and ValueError asks for one."""
    media, played = call(6.0)
    with pytest.raises(ValueError, match="constant"):
        window_quality(media, ~played, np.full(media.size, np.nan))
    assert window_quality(media, ~played, 0.1).ppl_percent.tolist() == [100.0, 100.0]


def test_window_without_packets_is_nan() -> None:
    """A gap in media time leaves an empty window with NaN loss, delay, R and MOS."""
    media = np.concatenate([np.arange(0.0, 5.0, PTIME_S), np.arange(10.0, 15.0, PTIME_S)])
    windows = window_quality(media, np.ones(media.size, dtype=bool), 0.1)
    assert windows.packets.tolist() == [250, 0, 250]
    for values in (windows.ppl_percent, windows.burst_r, windows.ta_s, windows.r, windows.mos):
        assert math.isnan(values[1])
        assert not math.isnan(values[0]) and not math.isnan(values[2])


def test_echo_delays_can_be_moved_off_ta() -> None:
    """t_s and tr_s pass through to the E-model, as in for_mouth_to_ear."""
    media, played = call(5.0)
    windows = window_quality(media, played, 0.2, t_s=0.01, tr_s=0.02, telr_db=30.0)
    expected = emodel.evaluate(emodel.for_mouth_to_ear(0.2, t_s=0.01, tr_s=0.02, telr_db=30.0))
    default_echo = emodel.evaluate(emodel.for_mouth_to_ear(0.2, telr_db=30.0))
    assert windows.r[0] == pytest.approx(float(expected.r), rel=1e-12)
    assert windows.r[0] != pytest.approx(float(default_echo.r), abs=0.1)


def test_measured_inputs_cannot_be_passed() -> None:
    """Ppl and BurstR come from the packets: passing them is a TypeError."""
    media, played = call(5.0)
    with pytest.raises(TypeError):
        window_quality(media, played, 0.1, ppl_percent=1.0)


@pytest.mark.parametrize(
    ("media", "played", "ta", "window_s"),
    [
        (np.array([0.0, 0.02]), np.array([True]), 0.1, 5.0),
        (np.array([0.04, 0.02]), np.array([True, True]), 0.1, 5.0),
        (np.array([], dtype=float), np.array([], dtype=bool), 0.1, 5.0),
        (np.array([0.0, 0.02]), np.array([0, 2]), 0.1, 5.0),
        (np.array([0.0, 0.02]), np.array([True, True]), -0.1, 5.0),
        (np.array([0.0, 0.02]), np.array([True, True]), np.array([0.1]), 5.0),
        (np.array([0.0, 0.02]), np.array([True, True]), np.array([0.1, np.nan]), 5.0),
        (np.array([0.0, 0.02]), np.array([True, True]), 0.1, 0.0),
    ],
)
def test_invalid_input_raises(
    media: np.ndarray, played: np.ndarray, ta: float | np.ndarray, window_s: float
) -> None:
    """Mismatched, unordered, empty or non-0/1 packets, a bad delay or window raise ValueError."""
    with pytest.raises(ValueError):
        window_quality(media, played, ta, window_s=window_s)


def random_flows(
    rng: np.random.Generator, count: int
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Flows of 1-300 packets with media gaps, random loss, per-packet delays and silent flows."""
    media, played, ta = [], [], []
    for _ in range(count):
        size = 1 if rng.random() < 0.2 else int(rng.integers(2, 300))
        steps = rng.choice([PTIME_S, PTIME_S, PTIME_S, 0.0, 3.0], size)
        media.append(rng.uniform(0.0, 50.0) + np.cumsum(steps))
        ok = rng.random(size) > rng.uniform(0.0, 0.6)
        if rng.random() < 0.2:
            ok[:] = False
        played.append(ok)
        ta.append(np.where(ok, rng.uniform(0.05, 0.5, size), np.nan))
    return media, played, ta


def assert_same_windows(got: QualityWindows, expected: QualityWindows) -> None:
    """Every field equal to 1e-12 (NaN where the other is NaN)."""
    np.testing.assert_array_equal(got.packets, expected.packets)
    for name in ("start_s", "end_s", "ppl_percent", "burst_r", "ta_s", "r", "mos"):
        np.testing.assert_allclose(
            getattr(got, name), getattr(expected, name), rtol=1e-12, atol=0.0, err_msg=name
        )


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("bandwidth", [Bandwidth.NARROW, Bandwidth.WIDE])
def test_flows_at_once_equal_each_flow_alone(seed: int, bandwidth: Bandwidth) -> None:
    """Rating all flows in one pass gives each flow the windows window_quality gives it alone."""
    rng = np.random.default_rng(seed)
    media, played, ta = random_flows(rng, 25)
    inputs = {"ie_wb": 10.0} if bandwidth is Bandwidth.WIDE else {"ie": 5.0, "bpl": 10.0}
    window_s = float(rng.choice([0.5, 1.3, 2.0, 5.0]))
    bounds = np.cumsum([0] + [m.size for m in media])
    rated = window_quality_flows(
        np.concatenate(media),
        np.concatenate(played),
        np.concatenate(ta),
        bounds,
        window_s=window_s,
        bandwidth=bandwidth,
        nothing_played_ta_s=0.0,
        **inputs,
    )
    assert rated.bounds[-1] == rated.windows.mos.size
    for k in range(len(media)):
        alone = window_quality(
            media[k],
            played[k],
            ta[k] if played[k].any() else 0.0,
            window_s=window_s,
            bandwidth=bandwidth,
            **inputs,
        )
        assert_same_windows(rated.flow(k), alone)
        assert rated.min_mos()[k] == pytest.approx(np.nanmin(alone.mos), rel=1e-12)


def test_flows_at_once_take_each_flow_start() -> None:
    """Each flow's windows start at its own first packet, or at its own given start_s."""
    media, played = call(7.0)
    both = np.concatenate([media + 1.0, media + 3.5])
    bounds = np.array([0, media.size, 2 * media.size])
    rated = window_quality_flows(both, np.concatenate([played, played]), 0.1, bounds)
    np.testing.assert_allclose(rated.windows.start_s, [1.0, 6.0, 3.5, 8.5])
    started = window_quality_flows(
        both, np.concatenate([played, played]), 0.1, bounds, start_s=[0.0, 2.0]
    )
    np.testing.assert_allclose(started.windows.start_s, [0.0, 5.0, 2.0, 7.0])
    assert started.bounds.tolist() == [0, 2, 4]
    assert started.flow(1).packets.tolist() == [175, 175]


def test_nothing_played_flow_takes_the_given_delay() -> None:
    """A silent flow among others takes nothing_played_ta_s, and raises without it."""
    media, played = call(4.0)
    ok = np.concatenate([played, ~played])
    ta = np.where(ok, 0.2, np.nan)
    bounds = np.array([0, media.size, 2 * media.size])
    with pytest.raises(ValueError, match=r"flow 1.*constant"):
        window_quality_flows(np.concatenate([media, media]), ok, ta, bounds)
    rated = window_quality_flows(
        np.concatenate([media, media]), ok, ta, bounds, window_s=2.0, nothing_played_ta_s=0.05
    )
    np.testing.assert_allclose(rated.flow(0).ta_s, [0.2, 0.2], rtol=1e-12)
    assert rated.flow(1).ta_s.tolist() == [0.05, 0.05]
    assert rated.flow(1).ppl_percent.tolist() == [100.0, 100.0]


def test_media_time_may_restart_between_flows_only() -> None:
    """Media time may fall from one flow to the next but not within a flow."""
    media = np.array([5.0, 6.0, 0.0, 1.0])
    played = np.ones(4, dtype=bool)
    rated = window_quality_flows(media, played, 0.1, np.array([0, 2, 4]), window_s=1.0)
    assert rated.windows.packets.tolist() == [1, 1, 1, 1]
    with pytest.raises(ValueError, match="decrease"):
        window_quality_flows(media, played, 0.1, np.array([0, 4]), window_s=1.0)


def test_no_flows_give_no_windows() -> None:
    """Zero flows give zero windows and zero per-flow minima."""
    rated = window_quality_flows(np.empty(0), np.empty(0, dtype=bool), 0.1, np.array([0]))
    assert rated.windows.mos.size == 0
    assert rated.bounds.tolist() == [0]
    assert rated.min_mos().size == 0


@pytest.mark.parametrize(
    "bounds",
    [
        np.array([1, 4]),
        np.array([0, 3]),
        np.array([0, 2, 2, 4]),
        np.array([0.0, 4.0]),
        np.array([]),
    ],
)
def test_invalid_flow_bounds_raise(bounds: np.ndarray) -> None:
    """Bounds that skip packets, leave a flow empty or are not integers raise ValueError."""
    with pytest.raises(ValueError, match="bounds"):
        window_quality_flows(np.arange(4.0), np.ones(4, dtype=bool), 0.1, bounds)
