"""GCC delay filter: libwebrtc's TrendlineEstimator (goog_cc/trendline_estimator.cc).

Each group delta adds d(i) to an accumulated delay, which is smoothed
(exponentially, coefficient 0.9) and kept with its arrival time in a window
of the last 20 groups; the slope of the least-squares line through the window
estimates (send rate - capacity) / capacity. The signal handed to the
detector is that slope times min(deltas, 60) times a gain of 4, in the units
of the draft's threshold (ms).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from voipbed.models.gcc_arrival import GroupDelta
from voipbed.models.gcc_detector import DelaySignal

__all__ = ["TrendlineConfig", "TrendlineEstimator", "linear_fit_slope"]

MIN_NUM_DELTAS = 60  # libwebrtc trendline_estimator.cc kMinNumDeltas
DELTA_COUNTER_MAX = 1000  # libwebrtc trendline_estimator.cc kDeltaCounterMax


@dataclass(frozen=True)
class TrendlineConfig:
    """Tunables; defaults are libwebrtc's (trendline_estimator.h)."""

    window_size: int = 20  # kDefaultTrendlineWindowSize
    smoothing: float = 0.9  # kDefaultTrendlineSmoothingCoef
    threshold_gain: float = 4.0  # kDefaultTrendlineThresholdGain

    def __post_init__(self) -> None:
        if self.window_size < 2:
            raise ValueError("the trendline window needs at least 2 points")
        if not 0.0 <= self.smoothing < 1.0:
            raise ValueError("smoothing must be in [0, 1)")
        if self.threshold_gain <= 0.0:
            raise ValueError("threshold gain must be positive")


def linear_fit_slope(xs: deque[float], ys: deque[float]) -> float | None:
    """Least-squares slope of ys over xs; None when all xs are equal."""
    n = len(xs)
    x_mean = sum(xs) / n
    y_mean = sum(ys) / n
    numerator = 0.0
    denominator = 0.0
    for x, y in zip(xs, ys, strict=True):
        dx = x - x_mean
        numerator += dx * (y - y_mean)
        denominator += dx * dx
    if denominator == 0.0:
        return None
    return numerator / denominator


class TrendlineEstimator:
    """Slope of the smoothed accumulated delay over the last ``window_size`` groups."""

    def __init__(self, config: TrendlineConfig | None = None) -> None:
        self.config = config or TrendlineConfig()
        size = self.config.window_size
        self._times_ms: deque[float] = deque(maxlen=size)
        self._delays_ms: deque[float] = deque(maxlen=size)
        self._first_arrival_s: float | None = None
        self._accumulated_ms = 0.0
        self._smoothed_ms = 0.0
        self._trend = 0.0
        self._deltas = 0

    @property
    def trend(self) -> float:
        """The latest slope (ms of delay per ms of time)."""
        return self._trend

    def update(self, delta: GroupDelta) -> DelaySignal:
        """Take one group delta and return the signal for the detector."""
        self._deltas = min(self._deltas + 1, DELTA_COUNTER_MAX)
        if self._first_arrival_s is None:
            self._first_arrival_s = delta.arrival_s
        coefficient = self.config.smoothing
        self._accumulated_ms += delta.delay_variation_s * 1000.0
        self._smoothed_ms = coefficient * self._smoothed_ms + (1.0 - coefficient) * (
            self._accumulated_ms
        )
        self._times_ms.append((delta.arrival_s - self._first_arrival_s) * 1000.0)
        self._delays_ms.append(self._smoothed_ms)
        if len(self._times_ms) == self.config.window_size:
            slope = linear_fit_slope(self._times_ms, self._delays_ms)
            if slope is not None:
                self._trend = slope
        modified = min(self._deltas, MIN_NUM_DELTAS) * self._trend * self.config.threshold_gain
        return DelaySignal(
            modified, self._trend, delta.send_delta_s * 1000.0, self._deltas, delta.arrival_s
        )
