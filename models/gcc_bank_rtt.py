"""``GccBank``'s feedback RTTs, one report of one flow at a time, as a numba kernel.

The same steps, in the same order and with the same arithmetic, as
``FeedbackRtt.on_report`` (``gcc_rtt``): the report's max RTT, in whole
milliseconds, goes into the flow's ring of the last ``RTT_WINDOW``, its min
RTT (pending time removed) into ``f[LATEST_MIN_RTT_S]``, and the ring's mean
into the AIMD's RTT ``f[RTT_S]``, as ``GccFlow`` hands it to
``AimdRateControl.set_rtt``. The ring's sum and least entry, the congestion
window's RTT, are kept as entries come and go (``n[MAX_RTT_SUM_MS]``,
``n[MAX_RTT_MIN_MS]``; the ring is scanned again only when its least entry
leaves): whole milliseconds are integers, so both are exact.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from voipbed.models import gcc_bank_layout as col
from voipbed.models._jit import inline_kernel

__all__ = ["report_rtt"]

FloatRow = NDArray[np.float64]
IntRow = NDArray[np.int64]


@inline_kernel
def _ring_min(ring: IntRow) -> int:
    """The least entry of a full ring."""
    least: int = ring[0]
    for k in range(1, ring.size):
        least = min(least, ring[k])
    return least


@inline_kernel
def _push(n: IntRow, ring: IntRow, max_ms: int) -> None:
    """Append ``max_ms`` to the ring (its oldest entry leaving when full), keeping its sum
    and least entry."""
    window = ring.size
    head = n[col.MAX_RTT_HEAD]
    count = n[col.MAX_RTT_COUNT]
    if count < window:
        slot = head + count
        ring[slot - window if slot >= window else slot] = max_ms
        n[col.MAX_RTT_COUNT] = count + 1
        n[col.MAX_RTT_SUM_MS] += max_ms
        n[col.MAX_RTT_MIN_MS] = max_ms if count == 0 else min(n[col.MAX_RTT_MIN_MS], max_ms)
        return
    leaving = ring[head]
    ring[head] = max_ms
    n[col.MAX_RTT_HEAD] = 0 if head + 1 == window else head + 1
    n[col.MAX_RTT_SUM_MS] += max_ms - leaving
    if max_ms <= n[col.MAX_RTT_MIN_MS]:
        n[col.MAX_RTT_MIN_MS] = max_ms
    elif leaving == n[col.MAX_RTT_MIN_MS]:
        n[col.MAX_RTT_MIN_MS] = _ring_min(ring)


@inline_kernel
def report_rtt(
    f: FloatRow,
    n: IntRow,
    ring: IntRow,
    now_s: float,
    send_s: FloatRow,
    arrival_s: FloatRow,
    start: int,
    end: int,
) -> None:
    """FeedbackRtt.on_report on packets ``start:end``, then the AIMD's RTT (the ring's mean)."""
    if end == start:
        return
    earliest_s = math.inf
    newest_s = -math.inf
    least_s = math.inf
    for k in range(start, end):
        earliest_s = min(earliest_s, send_s[k])
        newest_s = max(newest_s, arrival_s[k])
        least_s = min(least_s, arrival_s[k] - send_s[k])
    _push(n, ring, math.floor((now_s - earliest_s) * 1000.0 + 0.5))
    f[col.LATEST_MIN_RTT_S] = (now_s - newest_s) + least_s
    f[col.RTT_S] = (n[col.MAX_RTT_SUM_MS] // n[col.MAX_RTT_COUNT]) / 1000.0
