"""GCC over-use detector with its adaptive threshold (draft-ietf-rmcat-gcc-02 section 5.4).

A delay filter (``gcc_trendline`` or ``gcc_kalman``) turns each group delta
into a ``DelaySignal``; ``OveruseDetector.detect`` compares its ``modified_ms``
with the threshold del_var_th and returns the hypothesis:

- over-use when the signal has stayed above the threshold for more than
  10 ms (overuse_time_th), over at least two groups, and is not falling;
- under-use when it is below minus the threshold; normal otherwise.

The threshold follows the signal: del_var_th += dt * K * (|m| - del_var_th),
K = K_u when |m| is above it, K_d below, dt in ms capped at 100 ms, clamped
to [6, 600] ms, and frozen while |m| is more than 15 ms above it (a sudden
capacity drop must not raise it). ``DetectorConfig()`` holds the draft's
gains (K_u = 0.01, K_d = 0.00018); ``DetectorConfig.libwebrtc()`` those of
libwebrtc's ``TrendlineEstimator`` (0.0087, 0.039).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

__all__ = ["BandwidthUsage", "DelaySignal", "DetectorConfig", "OveruseDetector"]


class BandwidthUsage(IntEnum):
    """The detector's hypothesis (draft 5.4)."""

    NORMAL = 0
    UNDERUSING = 1
    OVERUSING = 2


class DelaySignal(NamedTuple):
    """One delay-filter output: what the detector compares with its threshold.

    ``modified_ms``: the filter's estimate scaled as libwebrtc scales it
    (compared with the threshold); ``estimate``: the unscaled estimate (whose
    rise or fall gates an over-use); ``send_delta_ms``: the send spacing of
    the group; ``deltas``: group deltas seen so far; ``now_s``: arrival time.
    """

    modified_ms: float
    estimate: float
    send_delta_ms: float
    deltas: int
    now_s: float


@dataclass(frozen=True)
class DetectorConfig:
    """Tunables of the adaptive threshold; defaults from draft-ietf-rmcat-gcc-02 5.4."""

    k_up: float = 0.01  # draft 5.4: K_u, per ms
    k_down: float = 0.00018  # draft 5.4: K_d, per ms
    initial_threshold_ms: float = 12.5  # draft 5.4: del_var_th(0)
    min_threshold_ms: float = 6.0  # draft 5.4: clamp [6, 600] ms
    max_threshold_ms: float = 600.0
    overuse_time_ms: float = 10.0  # draft 5.4: overuse_time_th
    max_adapt_offset_ms: float = 15.0  # draft 5.4; libwebrtc kMaxAdaptOffsetMs
    max_time_delta_ms: float = 100.0  # libwebrtc UpdateThreshold kMaxTimeDeltaMs

    def __post_init__(self) -> None:
        if self.k_up <= 0.0 or self.k_down <= 0.0:
            raise ValueError("threshold gains must be positive")
        if not 0.0 < self.min_threshold_ms <= self.max_threshold_ms:
            raise ValueError("threshold clamp must satisfy 0 < min <= max")
        if not self.min_threshold_ms <= self.initial_threshold_ms <= self.max_threshold_ms:
            raise ValueError("initial threshold must lie within the clamp")

    @staticmethod
    def libwebrtc() -> DetectorConfig:
        """The gains of libwebrtc's trendline_estimator.cc (k_up_ 0.0087, k_down_ 0.039)."""
        return DetectorConfig(k_up=0.0087, k_down=0.039)


class OveruseDetector:
    """Over-use hypothesis from a delay signal, with the adaptive threshold of draft 5.4."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        self._threshold_ms = self.config.initial_threshold_ms
        self._last_update_s = math.nan
        self._previous_estimate = 0.0
        self._time_over_ms = -1.0  # -1: not over the threshold
        self._over_count = 0
        self._usage = BandwidthUsage.NORMAL

    @property
    def threshold_ms(self) -> float:
        """del_var_th: the current threshold."""
        return self._threshold_ms

    @property
    def usage(self) -> BandwidthUsage:
        """The latest hypothesis."""
        return self._usage

    def detect(self, signal: DelaySignal) -> BandwidthUsage:
        """Update the hypothesis and the threshold with one signal."""
        if signal.deltas < 2:
            self._usage = BandwidthUsage.NORMAL
            return self._usage
        modified = signal.modified_ms
        if modified > self._threshold_ms:
            if self._time_over_ms < 0.0:
                self._time_over_ms = signal.send_delta_ms / 2.0  # over for half the last gap
            else:
                self._time_over_ms += signal.send_delta_ms
            self._over_count += 1
            if (
                self._time_over_ms > self.config.overuse_time_ms
                and self._over_count > 1
                and signal.estimate >= self._previous_estimate  # draft 5.4: m(i) >= m(i-1)
            ):
                self._time_over_ms = 0.0
                self._over_count = 0
                self._usage = BandwidthUsage.OVERUSING
        else:
            self._time_over_ms = -1.0
            self._over_count = 0
            under = modified < -self._threshold_ms
            self._usage = BandwidthUsage.UNDERUSING if under else BandwidthUsage.NORMAL
        self._previous_estimate = signal.estimate
        self._adapt(abs(modified), signal.now_s)
        return self._usage

    def _adapt(self, magnitude_ms: float, now_s: float) -> None:
        config = self.config
        if math.isnan(self._last_update_s):
            self._last_update_s = now_s
        if magnitude_ms > self._threshold_ms + config.max_adapt_offset_ms:
            self._last_update_s = now_s  # a latency spike: do not adapt to it
            return
        k = config.k_down if magnitude_ms < self._threshold_ms else config.k_up
        dt_ms = min((now_s - self._last_update_s) * 1000.0, config.max_time_delta_ms)
        threshold = self._threshold_ms + k * (magnitude_ms - self._threshold_ms) * dt_ms
        self._threshold_ms = min(max(threshold, config.min_threshold_ms), config.max_threshold_ms)
        self._last_update_s = now_s
