"""Queue occupancy and throughput sampled on a fixed grid of instants over a run.

A ``SampleGrid`` is the instants ``period_s, 2 * period_s, ..., count * period_s``.
Sample ``j`` is the state after every event at or before its instant: the
packets (and bytes) waiting in the queue then, by scheduling class (the
packet on the wire is not waiting, as the queue limits count it), and the
bytes that left the link in the interval ``(t[j-1], t[j]]``.

The event loop of ``models.queue`` records the backlog itself as it passes
each instant. A drop-tail FIFO (``models.link``) needs no recording: a packet
waits from its arrival until its service begins, so the backlog at ``t`` is
the accepted packets with ``enter <= t < leave`` (``SampleGrid.backlog``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from voipbed.models._jit import inline_kernel, kernel

__all__ = ["MAX_SAMPLES", "MIN_PERIOD_S", "Occupancy", "SampleGrid"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

MIN_PERIOD_S = 0.1
"""Finest sampling: CoDel's interval (RFC 8289 clause 4.4), a round trip or two of the bulk
flows; a queue's build-up, standing level and drain all show at this scale."""

MAX_SAMPLES = 2000
"""Samples per queue at most: about the pixels across a report figure, so a longer run is
sampled more coarsely instead of writing more events than a plot can show."""

_NICE_STEPS = (1.0, 2.0, 5.0)


@dataclass(frozen=True)
class Occupancy:
    """Per sample instant (rows) and scheduling class (columns): packets and bytes waiting."""

    packets: IntArray
    bytes: IntArray

    @property
    def total_packets(self) -> IntArray:
        total: IntArray = self.packets.sum(axis=1)
        return total

    @property
    def total_bytes(self) -> IntArray:
        total: IntArray = self.bytes.sum(axis=1)
        return total


@dataclass(frozen=True)
class SampleGrid:
    """The instants ``period_s * (j + 1)`` for ``j`` in ``range(count)``."""

    period_s: float
    count: int

    def __post_init__(self) -> None:
        if not self.period_s > 0 or math.isinf(self.period_s):
            raise ValueError(f"a sampling period must be > 0 and finite, got {self.period_s}")
        if self.count < 0:
            raise ValueError(f"a sample count must be >= 0, got {self.count}")

    @classmethod
    def for_run(
        cls, duration_s: float, min_period_s: float = MIN_PERIOD_S, max_samples: int = MAX_SAMPLES
    ) -> SampleGrid:
        """Samples over ``[0, duration_s]``: the period is the smallest 1, 2 or 5 times a
        power of ten that is at least ``min_period_s`` and keeps at most ``max_samples``."""
        wanted = max(min_period_s, duration_s / max_samples)
        exponent = math.floor(math.log10(wanted))
        period = math.inf
        for power in (exponent, exponent + 1):
            for step in _NICE_STEPS:
                candidate = step * 10.0**power
                if candidate >= wanted * (1 - 1e-12):
                    period = min(period, candidate)
        count = math.ceil(round(duration_s / period, 9)) if duration_s > 0 else 0
        return cls(period, count)

    @property
    def times_s(self) -> FloatArray:
        """The instants, as the event loop computes them."""
        times: FloatArray = (np.arange(self.count, dtype=np.float64) + 1.0) * self.period_s
        return times

    @cached_property
    def _instants(self) -> FloatArray:
        """``times_s``, computed once and never handed out."""
        return self.times_s

    def per_interval(self, time_s: FloatArray, amount: IntArray) -> IntArray:
        """``amount`` summed per interval ``(t[j-1], t[j]]`` of ``time_s`` (the first interval
        starts at -inf); what falls after the last instant, or is NaN, is left out."""
        sums = np.zeros(self.count, dtype=np.int64)
        self.add_per_interval(sums, time_s, amount)
        return sums

    def add_per_interval(self, sums: IntArray, time_s: FloatArray, amount: IntArray) -> None:
        """Add ``per_interval(time_s, amount)`` to ``sums``."""
        _add_per_interval(
            np.ascontiguousarray(time_s, dtype=np.float64),
            np.ascontiguousarray(amount, dtype=np.int64),
            self._instants,
            sums,
        )

    def backlog(
        self,
        enter_s: FloatArray,
        leave_s: FloatArray,
        size: IntArray,
        klass: IntArray,
        classes: int,
    ) -> Occupancy:
        """Packets and bytes waiting at each instant, each from ``enter_s`` (included) to
        ``leave_s`` (excluded; NaN: never), by ``klass`` in ``range(classes)``."""
        occupancy = self.empty_occupancy(classes)
        self.add_backlog(occupancy, enter_s, leave_s, size, klass)
        return occupancy

    def add_backlog(
        self,
        occupancy: Occupancy,
        enter_s: FloatArray,
        leave_s: FloatArray,
        size: IntArray,
        klass: IntArray,
    ) -> None:
        """Add ``backlog(enter_s, leave_s, size, klass, ...)`` to ``occupancy``, in place."""
        _add_waiting(
            np.ascontiguousarray(enter_s, dtype=np.float64),
            np.ascontiguousarray(leave_s, dtype=np.float64),
            np.ascontiguousarray(size, dtype=np.int64),
            np.ascontiguousarray(klass, dtype=np.int64),
            self._instants,
            occupancy.packets,
            occupancy.bytes,
        )

    def empty_occupancy(self, classes: int) -> Occupancy:
        """Every sample zero: an idle queue."""
        zeros = np.zeros((self.count, classes), dtype=np.int64)
        return Occupancy(zeros, zeros.copy())


@inline_kernel
def _first_at_or_after(instants: FloatArray, time_s: float, hint: int) -> int:
    """``np.searchsorted(instants, time_s)`` (the first instant at or after ``time_s``) for a
    time that is not NaN, walking from ``hint``: times that come in order move it little."""
    j = min(max(hint, 0), instants.size)
    while j > 0 and instants[j - 1] >= time_s:
        j -= 1
    while j < instants.size and instants[j] < time_s:
        j += 1
    return j


@kernel
def _add_per_interval(
    time_s: FloatArray, amount: IntArray, instants: FloatArray, sums: IntArray
) -> None:
    """Add each ``amount`` to the interval ``(t[j-1], t[j]]`` its time falls in."""
    j = 0
    for k in range(time_s.size):
        if math.isnan(time_s[k]):
            continue
        j = _first_at_or_after(instants, time_s[k], j)
        if j < instants.size:
            sums[j] += amount[k]


@kernel
def _add_waiting(
    enter_s: FloatArray,
    leave_s: FloatArray,
    size: IntArray,
    klass: IntArray,
    instants: FloatArray,
    packets: IntArray,
    size_bytes: IntArray,
) -> None:
    """Count each packet, by its class, at the instants ``t`` with ``enter <= t < leave``."""
    first = 0
    for k in range(enter_s.size):
        if math.isnan(enter_s[k]):
            continue
        first = _first_at_or_after(instants, enter_s[k], first)
        stop = instants.size
        if not math.isnan(leave_s[k]):
            stop = _first_at_or_after(instants, leave_s[k], first)
        for j in range(first, stop):
            packets[j, klass[k]] += 1
            size_bytes[j, klass[k]] += size[k]
