"""Delay filters: libwebrtc's trendline and the draft's Kalman filter (section 5.3)."""

from __future__ import annotations

import math
from collections import deque

import pytest

from voipbed.models.gcc_arrival import GroupDelta
from voipbed.models.gcc_kalman import KalmanConfig, KalmanDelayFilter
from voipbed.models.gcc_trendline import TrendlineConfig, TrendlineEstimator, linear_fit_slope

SPACING_S = 0.005


def _ramp(delay_step_s: float, count: int) -> list[GroupDelta]:
    """Groups every 5 ms whose queueing delay grows by ``delay_step_s`` each."""
    return [
        GroupDelta(SPACING_S, SPACING_S + delay_step_s, 0, 1.0 + i * (SPACING_S + delay_step_s))
        for i in range(count)
    ]


def test_linear_fit_slope_of_a_line_is_exact() -> None:
    """The least-squares slope of points on y = 3x + 1 is 3; equal xs give None."""
    xs = deque([0.0, 1.0, 2.0, 5.0])
    ys = deque([3.0 * x + 1.0 for x in xs])
    assert linear_fit_slope(xs, ys) == pytest.approx(3.0)
    assert linear_fit_slope(deque([2.0, 2.0]), deque([1.0, 5.0])) is None


def test_trendline_slope_on_a_known_ramp() -> None:
    """A delay growing 1 ms per 6 ms of arrival time gives a slope of 1/6 and the scaled signal."""
    trendline = TrendlineEstimator()
    signal = None
    for delta in _ramp(0.001, 300):
        signal = trendline.update(delta)
    assert signal is not None
    slope = 0.001 / (SPACING_S + 0.001)
    assert trendline.trend == pytest.approx(slope, rel=1e-6)
    assert signal.modified_ms == pytest.approx(60 * slope * 4.0, rel=1e-6)
    assert signal.send_delta_ms == pytest.approx(5.0)


def test_trendline_waits_for_a_full_window() -> None:
    """No slope is estimated before 20 group deltas."""
    trendline = TrendlineEstimator()
    for delta in _ramp(0.002, 19):
        assert trendline.update(delta).estimate == 0.0
    assert trendline.update(_ramp(0.002, 20)[-1]).estimate > 0.0


def test_trendline_config_rejects_a_tiny_window() -> None:
    """A window of one point cannot fit a line."""
    with pytest.raises(ValueError, match="window"):
        TrendlineConfig(window_size=1)


def test_kalman_estimate_converges_to_a_constant_delay_variation() -> None:
    """A steady d(i) of 2 ms per group is what m_hat settles on (draft 5.3)."""
    kalman = KalmanDelayFilter()
    for delta in _ramp(0.002, 2000):
        signal = kalman.update(delta)
    assert kalman.estimate_ms == pytest.approx(2.0, rel=1e-3)
    assert signal.modified_ms == pytest.approx(60 * kalman.estimate_ms)


def test_kalman_noise_variance_has_a_floor_and_clips_outliers() -> None:
    """var_v_hat never drops below 1; one outlier raises it by at most (1 - alpha) 9 var."""
    kalman = KalmanDelayFilter(KalmanConfig(initial_noise_var=4.0))
    for delta in _ramp(0.0, 5000):
        kalman.update(delta)
    assert kalman.noise_var == 1.0
    before = kalman.noise_var
    kalman.update(GroupDelta(SPACING_S, SPACING_S + 1.0, 0, 100.0))  # d = 1000 ms
    alpha = (1.0 - 0.01) ** (30.0 * 5.0 / 1000.0)
    bound = alpha * before + (1.0 - alpha) * 9.0 * before
    assert kalman.noise_var == pytest.approx(max(bound, 1.0))
    assert math.isfinite(kalman.estimate_ms)
