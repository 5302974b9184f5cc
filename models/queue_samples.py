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

import numpy as np
from numpy.typing import NDArray

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

    def per_interval(self, time_s: FloatArray, amount: IntArray) -> IntArray:
        """``amount`` summed per interval ``(t[j-1], t[j]]`` of ``time_s`` (the first interval
        starts at -inf); what falls after the last instant, or is NaN, is left out."""
        sums = np.zeros(self.count, dtype=np.int64)
        span = self._span(time_s)
        _, upto = self._up_to_each_instant(time_s, amount, span)
        sums[span] = np.diff(upto, prepend=0)
        return sums

    def backlog(
        self,
        enter_s: FloatArray,
        leave_s: FloatArray,
        size: IntArray,
        klass: IntArray,
        classes: int,
    ) -> Occupancy:
        """Packets and bytes waiting at each instant, each from ``enter_s`` (included) to
        ``leave_s`` (excluded), by ``klass`` in ``range(classes)``."""
        packets = np.zeros((self.count, classes), dtype=np.int64)
        size_bytes = np.zeros((self.count, classes), dtype=np.int64)
        span = self._span(np.concatenate([enter_s, leave_s]))
        present = np.flatnonzero(np.bincount(klass, minlength=classes))
        for c in present:
            mine = slice(None) if present.size == 1 else klass == c
            entered, entered_bytes = self._up_to_each_instant(enter_s[mine], size[mine], span)
            left, left_bytes = self._up_to_each_instant(leave_s[mine], size[mine], span)
            packets[span, c] = entered - left  # what left by t had entered by t
            size_bytes[span, c] = entered_bytes - left_bytes
        return Occupancy(packets, size_bytes)

    def _span(self, time_s: FloatArray) -> slice:
        """The instants from the first at or after the earliest of ``time_s`` to the first at
        or after the latest: before them none of the times has passed, after them all have
        (every instant, where a time is NaN: never)."""
        if not time_s.size:
            return slice(0, 0)
        earliest, latest = time_s.min(), time_s.max()
        if np.isnan(earliest):
            return slice(0, self.count)
        times = self.times_s
        first = int(np.searchsorted(times, earliest))
        return slice(first, min(int(np.searchsorted(times, latest)) + 1, self.count))

    def _up_to_each_instant(
        self, time_s: FloatArray, amount: IntArray, span: slice
    ) -> tuple[IntArray, IntArray]:
        """How many of ``time_s`` are at or before each instant of ``span``, and their
        ``amount`` summed (NaN is never). Linear when ``time_s`` ascends, as a FIFO's times
        do."""
        if not _ascending(time_s):
            known = ~np.isnan(time_s)
            time_s, amount = time_s[known], amount[known]
            if not _ascending(time_s):
                order = np.argsort(time_s, kind="stable")
                time_s, amount = time_s[order], amount[order]
        count = np.searchsorted(time_s, self.times_s[span], side="right").astype(np.int64)
        return count, _prefix_sums(amount, count)

    def empty_occupancy(self, classes: int) -> Occupancy:
        """Every sample zero: an idle queue."""
        zeros = np.zeros((self.count, classes), dtype=np.int64)
        return Occupancy(zeros, zeros.copy())


def _prefix_sums(amount: IntArray, ends: IntArray) -> IntArray:
    """``amount[:end].sum()`` for each of the non-decreasing ``ends``, summing each stretch
    between two ends once (no running total over every element)."""
    starts = np.concatenate([np.zeros(1, dtype=np.int64), ends[:-1]])
    stretch = np.zeros(ends.size, dtype=np.int64)
    nonempty = ends > starts
    if np.any(nonempty):
        # Consecutive non-empty stretches abut, so each runs to the next one's start.
        covered = amount[: int(ends[-1])].astype(np.int64, copy=False)
        stretch[nonempty] = np.add.reduceat(covered, starts[nonempty])
    sums: IntArray = np.cumsum(stretch)
    return sums


def _ascending(values: FloatArray) -> bool:
    """Sorted, and free of NaN (which compares false)."""
    return values.size < 2 or bool(np.all(values[1:] >= values[:-1]))
