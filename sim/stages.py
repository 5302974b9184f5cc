"""Sim-only batch stages of the packet path (links and loss models live in ``voipbed.models``).

A stage sees the packets still in flight, in the order they reach it, and
returns their new times. It keeps its state (its random stream, each flow's
last delivery) from one batch to the next, so a run may be cut into batches
between control events. Each stage has a plain per-packet twin in
``tests/sim/reference.py``; the tests check that both agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from voipbed.models._jit import kernel
from voipbed.scenario import Jitter, JitterDistribution

__all__ = ["DelayStage", "StageOutput"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class StageOutput:
    """What a stage did to a batch: times on leaving it, and which packets it dropped."""

    time_s: FloatArray  # leave time; meaningless where ``lost``
    lost: BoolArray


class DelayStage:
    """A fixed one-way delay plus random jitter; in sequence per flow unless reordering is allowed.

    In-sequence delivery means a packet never leaves before the previous
    packet of its flow that entered the stage: d_i = max(a_i + delay + X_i, d_prev).
    It also undoes reordering from earlier in the hop (HARQ retransmissions),
    as LTE's RLC reordering does (3GPP TS 36.322 clause 5.1.2.2).
    """

    def __init__(self, delay_s: float, jitter: Jitter, rng: np.random.Generator) -> None:
        self.delay_s = delay_s
        self.jitter = jitter
        self.rng = rng
        self._last_leave_s = np.full(0, -np.inf)  # per flow id, carried across batches

    def draw_jitter(self, count: int) -> FloatArray:
        """``count`` jitter samples, in arrival order (the references draw them one by one)."""
        scale = self.jitter.scale_s
        match self.jitter.distribution:
            case JitterDistribution.NONE:
                return np.zeros(count)
            case JitterDistribution.UNIFORM:
                return self.rng.uniform(0.0, scale, count)
            case JitterDistribution.EXPONENTIAL:
                return self.rng.exponential(scale, count)
            case JitterDistribution.HALF_NORMAL:
                return np.abs(self.rng.normal(0.0, scale, count))

    def process(self, arrive_s: FloatArray, flow: IntArray) -> StageOutput:
        leave_s = arrive_s + self.delay_s + self.draw_jitter(arrive_s.size)
        if leave_s.size and not self.jitter.reorder:
            needed = int(flow.max()) + 1
            if needed > self._last_leave_s.size:
                grown = np.full(needed, -np.inf)
                grown[: self._last_leave_s.size] = self._last_leave_s
                self._last_leave_s = grown
            _keep_in_sequence(leave_s, np.asarray(flow, dtype=np.int64), self._last_leave_s)
        return StageOutput(leave_s, np.zeros(leave_s.size, dtype=np.bool_))


@kernel
def _keep_in_sequence(leave_s: FloatArray, flow: IntArray, last_leave_s: FloatArray) -> None:
    """No packet leaves before the one of its flow that came in before it (in place)."""
    for i in range(leave_s.size):
        f = flow[i]
        if leave_s[i] < last_leave_s[f]:
            leave_s[i] = last_leave_s[f]
        else:
            last_leave_s[f] = leave_s[i]
