"""GCC delay filter: the draft's scalar Kalman filter (draft-ietf-rmcat-gcc-02 section 5.3).

The state m(i) is the queuing-delay variation per group; each group delta
d(i) (ms) updates it:

    z(i)  = d(i) - m_hat(i-1)
    k(i)  = (e(i-1) + q) / (var_v_hat(i) + e(i-1) + q)
    m_hat(i) = m_hat(i-1) + k(i) z(i),   e(i) = (1 - k(i)) (e(i-1) + q)

with the noise variance var_v_hat(i) = max(alpha var_v_hat(i-1) + (1 - alpha)
z(i)^2, 1), alpha = (1 - chi)^(30 / (1000 f_max)), f_max the highest group
rate (1/ms) over the last 60 groups, and z clipped to 3 sqrt(var_v_hat) in
that update (the draft's outlier filter). The detector's signal is m_hat
times min(deltas, 60), as libwebrtc's overuse_detector.cc scales it.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from voipbed.models.gcc_arrival import GroupDelta
from voipbed.models.gcc_detector import DelaySignal

__all__ = ["KalmanConfig", "KalmanDelayFilter"]

MIN_NUM_DELTAS = 60  # libwebrtc overuse_detector.cc kMinNumDeltas
DELTA_COUNTER_MAX = 1000  # libwebrtc overuse_estimator.cc kDeltaCounterMax


@dataclass(frozen=True)
class KalmanConfig:
    """Tunables; the source of each default is in its comment."""

    process_noise: float = 1e-3  # draft 5.3: q(i) = 10^-3
    initial_error: float = 0.1  # draft 5.3: e(0) = 0.1
    initial_noise_var: float = 50.0  # libwebrtc overuse_estimator.cc var_noise_ initial
    chi: float = 0.01  # draft 5.3: chi in [0.001, 0.1]; libwebrtc's first-300-deltas alpha
    rate_history: int = 60  # libwebrtc overuse_estimator.cc kMinFramePeriodHistoryLength
    scale_by_deltas: bool = True  # libwebrtc overuse_detector.cc: T = min(n, 60) * offset

    def __post_init__(self) -> None:
        if self.process_noise <= 0.0 or self.initial_error < 0.0:
            raise ValueError("process noise must be positive and initial error not negative")
        if not 0.0 < self.chi < 1.0:
            raise ValueError("chi must be in (0, 1)")
        if self.initial_noise_var < 1.0 or self.rate_history < 1:
            raise ValueError("initial noise variance must be >= 1 and rate history >= 1")


class KalmanDelayFilter:
    """m_hat(i), the filtered delay variation (ms per group), from group deltas."""

    def __init__(self, config: KalmanConfig | None = None) -> None:
        self.config = config or KalmanConfig()
        self._estimate_ms = 0.0
        self._error = self.config.initial_error
        self._noise_var = self.config.initial_noise_var
        self._send_deltas_ms: deque[float] = deque(maxlen=self.config.rate_history)
        self._deltas = 0

    @property
    def estimate_ms(self) -> float:
        """m_hat: the current estimate."""
        return self._estimate_ms

    @property
    def noise_var(self) -> float:
        """var_v_hat: the measurement-noise variance (ms^2)."""
        return self._noise_var

    def update(self, delta: GroupDelta) -> DelaySignal:
        """Take one group delta and return the signal for the detector."""
        config = self.config
        self._deltas = min(self._deltas + 1, DELTA_COUNTER_MAX)
        send_delta_ms = delta.send_delta_s * 1000.0
        self._send_deltas_ms.append(send_delta_ms)
        min_period_ms = max(min(self._send_deltas_ms), 0.0)
        z = delta.delay_variation_s * 1000.0 - self._estimate_ms
        # alpha = (1 - chi)^(30 / (1000 f_max)), f_max = 1 / min period in 1/ms
        alpha = (1.0 - config.chi) ** (30.0 * min_period_ms / 1000.0)
        bound = 3.0 * math.sqrt(self._noise_var)
        clipped = min(max(z, -bound), bound)
        self._noise_var = max(alpha * self._noise_var + (1.0 - alpha) * clipped * clipped, 1.0)
        prior = self._error + config.process_noise
        gain = prior / (self._noise_var + prior)
        self._estimate_ms += gain * z
        self._error = (1.0 - gain) * prior
        scale = min(self._deltas, MIN_NUM_DELTAS) if config.scale_by_deltas else 1
        return DelaySignal(
            scale * self._estimate_ms,
            self._estimate_ms,
            send_delta_ms,
            self._deltas,
            delta.arrival_s,
        )
