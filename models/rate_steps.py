"""A link rate that is constant or steps through a run: piecewise constant, from time 0 on.

``RateSteps`` holds each step's start (ascending, the first at 0 s) and its
rate (> 0, finite): a rate holds from its start until the next step's, the
last one forever, and the first one also before 0 s. A constant rate is one
step (``RateSteps.constant``). ``models.link.RateLink`` and
``models.queue.QueueingLink`` serialize each packet at the rates in force
while it is on the wire (``models.link.carried_s``): a packet that straddles a
step is carried at each rate for the part of its bits that falls in that step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = ["RateStep", "RateSteps"]

FloatArray = NDArray[np.float64]


class RateStep(NamedTuple):
    """From ``start_s`` on (until the next step), the link carries ``rate_bps``."""

    start_s: float
    rate_bps: float


@dataclass(frozen=True, eq=False)
class RateSteps:
    """Steps of a link's rate: ``start_s[k]`` (s, ascending, the first 0) and ``rate_bps[k]``.

    The arrays are read-only copies; ``seconds_per_byte`` is each step's
    ``8 / rate_bps``, what the link kernels take.
    """

    start_s: FloatArray
    rate_bps: FloatArray
    seconds_per_byte: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        start = np.array(self.start_s, dtype=np.float64).reshape(-1)
        rate = np.array(self.rate_bps, dtype=np.float64).reshape(-1)
        if start.size == 0 or start.size != rate.size:
            raise ValueError("give at least one step, each with a start and a rate")
        if start[0] != 0.0:
            raise ValueError(f"the first step starts at 0 s, got {start[0]}")
        if not np.all(np.isfinite(start)) or np.any(np.diff(start) <= 0.0):
            raise ValueError("step starts must be finite and increase")
        if not np.all(np.isfinite(rate) & (rate > 0.0)):
            raise ValueError(f"rate_bps must be > 0 and finite, got {rate.tolist()}")
        per_byte = 8.0 / rate
        for array in (start, rate, per_byte):
            array.setflags(write=False)
        object.__setattr__(self, "start_s", start)
        object.__setattr__(self, "rate_bps", rate)
        object.__setattr__(self, "seconds_per_byte", per_byte)

    @classmethod
    def constant(cls, rate_bps: float) -> RateSteps:
        """One rate for all time."""
        if not (rate_bps > 0 and math.isfinite(rate_bps)):
            raise ValueError(f"rate_bps must be > 0 and finite, got {rate_bps}")
        return cls(np.array([0.0]), np.array([rate_bps]))

    @classmethod
    def of(cls, steps: Iterable[RateStep]) -> RateSteps:
        """The steps ``steps``, in their order."""
        listed = list(steps)
        return cls(
            np.array([step.start_s for step in listed], dtype=np.float64),
            np.array([step.rate_bps for step in listed], dtype=np.float64),
        )

    @property
    def steps(self) -> tuple[RateStep, ...]:
        """The steps as ``RateStep`` values."""
        return tuple(
            RateStep(float(s), float(r)) for s, r in zip(self.start_s, self.rate_bps, strict=True)
        )

    @property
    def is_constant(self) -> bool:
        """Whether there is one step only."""
        return self.start_s.size == 1

    def rate_at(self, time_s: float) -> float:
        """The rate in force at ``time_s`` (a step is in force from its start on)."""
        step = max(int(np.searchsorted(self.start_s, time_s, side="right")) - 1, 0)
        return float(self.rate_bps[step])

    def bits_between(self, from_s: float, to_s: float) -> float:
        """The bits the link can carry from ``from_s`` to ``to_s`` (0 unless ``to_s`` is later)."""
        if not to_s > from_s:
            return 0.0
        ends = np.append(self.start_s[1:], math.inf)
        spans = np.clip(np.minimum(ends, to_s) - np.maximum(self.start_s, from_s), 0.0, None)
        spans[0] += max(min(0.0, to_s) - from_s, 0.0)  # the first rate holds before 0 s too
        return float(np.dot(spans, self.rate_bps))

    def mean_rate_bps(self, until_s: float) -> float:
        """The link's average rate from 0 s to ``until_s`` (its first rate if that is 0 s)."""
        if not until_s > 0.0:
            return float(self.rate_bps[0])
        return self.bits_between(0.0, until_s) / until_s
