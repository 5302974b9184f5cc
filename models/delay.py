"""A hop's one-way delay plus random jitter, in sequence per flow unless reordering is allowed.

The same stage serves the simulator (a batch of packets at a time) and the
emulator's userspace link (one real packet at a time): both draw one jitter
sample per packet, in arrival order, from the stream passed in, so the same
packets get the same leave times either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from voipbed.models._jit import kernel

__all__ = ["DISTRIBUTIONS", "DelayStage", "JitterSpec"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# numpy's meaning of ``scale``: none; U(0, scale); mean = scale; |N(0, scale)|.
DISTRIBUTIONS = ("none", "uniform", "exponential", "half_normal")


@dataclass(frozen=True)
class JitterSpec:
    """How the extra per-packet delay is drawn, and whether packets may overtake each other.

    ``reorder`` is off by default: LTE RLC and FIFO links deliver in sequence
    (3GPP TS 36.322 clause 5.1.2.2).
    """

    distribution: str = "none"  # one of DISTRIBUTIONS
    scale_s: float = 0.0
    reorder: bool = False

    def __post_init__(self) -> None:
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError(f"unknown jitter distribution {self.distribution!r}")
        if not self.scale_s >= 0.0:
            raise ValueError(f"jitter scale must be >= 0 s, got {self.scale_s}")


class DelayStage:
    """A fixed one-way delay plus random jitter; in sequence per flow unless reordering is allowed.

    In-sequence delivery means a packet never leaves before the previous
    packet of its flow that entered the stage: d_i = max(a_i + delay + X_i, d_prev).
    It also undoes reordering from earlier in the hop (HARQ retransmissions),
    as LTE's RLC reordering does (3GPP TS 36.322 clause 5.1.2.2).
    """

    def __init__(self, delay_s: float, jitter: JitterSpec, rng: np.random.Generator) -> None:
        self.delay_s = delay_s
        self.jitter = jitter
        self.rng = rng
        self._last_leave_s = np.full(0, -np.inf)  # per flow id, carried across calls

    def draw_jitter(self, count: int) -> FloatArray:
        """``count`` jitter samples, in arrival order (the references draw them one by one)."""
        scale = self.jitter.scale_s
        match self.jitter.distribution:
            case "uniform":
                return self.rng.uniform(0.0, scale, count)
            case "exponential":
                return self.rng.exponential(scale, count)
            case "half_normal":
                return np.abs(self.rng.normal(0.0, scale, count))
            case _:
                return np.zeros(count)

    def _grow(self, needed: int) -> None:
        if needed > self._last_leave_s.size:
            grown = np.full(max(needed, 2 * self._last_leave_s.size), -np.inf)
            grown[: self._last_leave_s.size] = self._last_leave_s
            self._last_leave_s = grown

    def process(self, arrive_s: FloatArray, flow: IntArray) -> FloatArray:
        """Leave times of packets entering at ``arrive_s`` (in the order they enter)."""
        leave_s = arrive_s + self.delay_s + self.draw_jitter(arrive_s.size)
        if leave_s.size and not self.jitter.reorder:
            self._grow(int(flow.max()) + 1)
            _keep_in_sequence(leave_s, np.asarray(flow, dtype=np.int64), self._last_leave_s)
        return leave_s

    def leave(self, arrive_s: float, flow: int) -> float:
        """Leave time of one packet: ``process`` on a batch of one, without the array overhead."""
        scale = self.jitter.scale_s
        match self.jitter.distribution:
            case "uniform":
                leave_s = arrive_s + self.delay_s + float(self.rng.uniform(0.0, scale))
            case "exponential":
                leave_s = arrive_s + self.delay_s + float(self.rng.exponential(scale))
            case "half_normal":
                leave_s = arrive_s + self.delay_s + math.fabs(float(self.rng.normal(0.0, scale)))
            case _:
                leave_s = arrive_s + self.delay_s
        if not self.jitter.reorder:
            self._grow(flow + 1)
            last_s = float(self._last_leave_s[flow])
            if leave_s < last_s:
                return last_s
            self._last_leave_s[flow] = leave_s
        return leave_s


@kernel
def _keep_in_sequence(leave_s: FloatArray, flow: IntArray, last_leave_s: FloatArray) -> None:
    """No packet leaves before the one of its flow that came in before it (in place)."""
    for i in range(leave_s.size):
        f = flow[i]
        if leave_s[i] < last_leave_s[f]:
            leave_s[i] = last_leave_s[f]
        else:
            last_leave_s[f] = leave_s[i]
