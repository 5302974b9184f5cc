"""What the queue's event loop records on a ``SampleGrid`` (``models.queue_samples``).

Before each event, the backlog by class is recorded at every sampling
instant the event comes after (a walk of the queues, only at an instant);
each departure adds its bytes to the interval that holds it, in three
columns: the given packets', the bulk flows' and the background packets'.
Sampling only observes.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from voipbed.models._jit import inline_kernel, kernel
from voipbed.models.queue_codes import N_CLASSES, Owner

__all__ = [
    "OUT_BACKGROUND",
    "OUT_BULK",
    "OUT_GIVEN",
    "Sampling",
    "flush_out",
    "new_sampling",
    "record_backlog",
    "tally",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

OUT_GIVEN, OUT_BULK, OUT_BACKGROUND = 0, 1, 2  # columns of ``Sampling.out_bytes``


class Sampling(NamedTuple):
    """The sampling instants, what was recorded at and between them, and the next one."""

    times: FloatArray
    packets: IntArray  # (instant, class): packets waiting
    size_bytes: IntArray  # (instant, class): bytes waiting
    out_bytes: IntArray  # (interval, OUT_*): bytes that left the link
    next: IntArray  # one entry: the next instant to record; every event run is before it


def new_sampling(times_s: FloatArray) -> Sampling:
    """Nothing recorded yet at ``times_s`` (none: the loop samples nothing)."""
    n = times_s.size
    return Sampling(
        times_s,
        np.zeros((n, N_CLASSES), dtype=np.int64),
        np.zeros((n, N_CLASSES), dtype=np.int64),
        np.zeros((n, 3), dtype=np.int64),
        np.zeros(1, dtype=np.int64),
    )


@inline_kernel
def next_instant(j: int, times: FloatArray) -> float:
    """The time of instant ``j``, or inf past the last."""
    return times[j] if j < times.size else math.inf


@kernel
def record_backlog(
    j: int,
    before: float,
    times: FloatArray,
    head: IntArray,
    link: IntArray,
    cls: IntArray,
    size: IntArray,
    packets: IntArray,
    size_bytes: IntArray,
) -> int:
    """Record the backlog, by class, at each instant from ``j`` on that comes before
    ``before`` (the next event); the number of the next instant to record."""
    n = times.size
    if j >= n or times[j] >= before:
        return j
    first = j
    for q in range(head.size):  # walk each queue; only at sample instants
        k = head[q]
        while k >= 0:
            packets[first, cls[k]] += 1
            size_bytes[first, cls[k]] += size[k]
            k = link[k]
    j += 1
    while j < n and times[j] < before:  # nothing happens until the next event
        packets[j, :] = packets[first, :]
        size_bytes[j, :] = size_bytes[first, :]
        j += 1
    return j


@inline_kernel
def tally(who: int, size: int, given: int, bulk: int, background: int) -> tuple[int, int, int]:
    """The bytes out since the last sampling instant, with a packet of owner ``who`` added;
    they stay in locals, which the compiler keeps in registers (an array store at each
    departure costs the loop about 10 %)."""
    if who >= 0:
        return given, bulk + size, background
    if who == Owner.BACKGROUND:
        return given, bulk, background + size
    return given + size, bulk, background


@inline_kernel
def flush_out(j: int, out_bytes: IntArray, given: int, bulk: int, background: int) -> None:
    """Add the bytes out since the last instant to interval ``j``, if the grid has it."""
    if j < out_bytes.shape[0]:
        out_bytes[j, OUT_GIVEN] += given
        out_bytes[j, OUT_BULK] += bulk
        out_bytes[j, OUT_BACKGROUND] += background
