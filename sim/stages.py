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
    """

    def __init__(self, delay_s: float, jitter: Jitter, rng: np.random.Generator) -> None:
        self.delay_s = delay_s
        self.jitter = jitter
        self.rng = rng
        self._last_leave_s: dict[int, float] = {}  # per flow, carried across batches

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
        # A constant delay cannot reorder; random jitter can, unless delivery is in sequence.
        varies = self.jitter.distribution is not JitterDistribution.NONE
        if leave_s.size and varies and not self.jitter.reorder:
            leave_s = self._in_sequence(leave_s, flow)
        return StageOutput(leave_s, np.zeros(leave_s.size, dtype=np.bool_))

    def _in_sequence(self, leave_s: FloatArray, flow: IntArray) -> FloatArray:
        order = np.argsort(flow, kind="stable")  # arrival order kept within each flow
        sorted_flow = flow[order]
        sorted_leave = leave_s[order]
        starts = np.flatnonzero(np.r_[True, sorted_flow[1:] != sorted_flow[:-1]])
        ends = np.r_[starts[1:], sorted_flow.size]
        for start, end in zip(starts, ends, strict=True):
            flow_id = int(sorted_flow[start])
            run = sorted_leave[start:end]
            run[0] = max(run[0], self._last_leave_s.get(flow_id, -np.inf))
            np.maximum.accumulate(run, out=run)
            self._last_leave_s[flow_id] = float(run[-1])
        result = np.empty_like(leave_s)
        result[order] = sorted_leave
        return result
