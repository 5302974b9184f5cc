"""Plain per-packet twins of the batch stages in ``voipbed.sim.stages``: one packet at a time.

They are written the obvious way, from the definitions, so that a test can
check the vectorized stages against them on the same inputs.
"""

from __future__ import annotations

import math

import numpy as np

from voipbed.scenario import Jitter, JitterDistribution


class ReferenceFifoLink:
    """d_i = max(a_i, d_{i-1}) + 8 b_i / rate, packet by packet."""

    def __init__(self, rate_bps: float) -> None:
        self.rate_bps = rate_bps
        self.busy_until_s = -math.inf

    def send(self, arrive_s: float, size_bytes: int) -> float:
        start = max(arrive_s, self.busy_until_s)
        self.busy_until_s = start + size_bytes * 8.0 / self.rate_bps
        return self.busy_until_s


class ReferenceBernoulliLoss:
    def __init__(self, ratio: float, rng: np.random.Generator) -> None:
        self.ratio = ratio
        self.rng = rng

    def lost(self) -> bool:
        if self.ratio == 0.0:
            return False
        return bool(self.rng.random() < self.ratio)


class ReferenceDelay:
    def __init__(self, delay_s: float, jitter: Jitter, rng: np.random.Generator) -> None:
        self.delay_s = delay_s
        self.jitter = jitter
        self.rng = rng
        self.last_leave_s: dict[int, float] = {}

    def _jitter(self) -> float:
        scale = self.jitter.scale_s
        if self.jitter.distribution is JitterDistribution.UNIFORM:
            return float(self.rng.uniform(0.0, scale))
        if self.jitter.distribution is JitterDistribution.EXPONENTIAL:
            return float(self.rng.exponential(scale))
        if self.jitter.distribution is JitterDistribution.HALF_NORMAL:
            return abs(float(self.rng.normal(0.0, scale)))
        return 0.0

    def leave(self, arrive_s: float, flow: int) -> float:
        leave_s = arrive_s + self.delay_s + self._jitter()
        keep_order = self.jitter.distribution is not JitterDistribution.NONE
        if keep_order and not self.jitter.reorder:
            leave_s = max(leave_s, self.last_leave_s.get(flow, -math.inf))
            self.last_leave_s[flow] = leave_s
        return leave_s
