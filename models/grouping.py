"""Linear-time orders of packets: grouped by a small integer key (flow, UE), or by time.

``group_order`` regroups packets by key, keeping their order within a key.
``time_order(t)`` equals ``np.argsort(t, kind="stable")``. Packet times that
reach a stage's door are spread over a window and only locally out of order
(jitter, merged directions, held packets). Where few are out of order, numpy's
stable sort (a timsort, which merges the sorted runs) is quickest; where many
are, a bucket sort does it in linear time: each time goes to the bucket of its
place between the smallest and the largest, in the given order, and an
insertion sort puts each bucket right. Where buckets would hold too many
(times bunched together) or a time is not finite, it falls back to a merge
sort.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from voipbed.models._jit import kernel

__all__ = ["group_order", "in_time_order", "time_order"]


@kernel
def _counting_sort(
    order: NDArray[np.int64], key: NDArray[np.int64], keys: int
) -> NDArray[np.int64]:
    start = np.zeros(keys + 1, dtype=np.int64)
    for i in range(order.size):
        start[key[order[i]] + 1] += 1
    for k in range(keys):
        start[k + 1] += start[k]
    out = np.empty_like(order)
    for i in range(order.size):
        k = key[order[i]]
        out[start[k]] = order[i]
        start[k] += 1
    return out


def group_order(
    key: NDArray[np.int64], order: NDArray[np.int64] | None = None
) -> NDArray[np.int64]:
    """``order`` (default: 0..n-1) stably regrouped by ``key[order]``; keys are >= 0.

    A counting sort: linear in the number of items plus the largest key.
    """
    keys = np.ascontiguousarray(key, dtype=np.int64)
    if order is None:
        order = np.arange(keys.size, dtype=np.int64)
    if keys.size and keys.min() < 0:
        raise ValueError("group_order needs keys >= 0")
    return _counting_sort(
        order.astype(np.int64, copy=False), keys, int(keys.max()) + 1 if keys.size else 0
    )


_SMALL = 32  # below this many times a merge sort is as quick
_BUCKET_LIMIT = 64  # most times one bucket may hold before the merge sort takes over
_FEW_DESCENTS = 1 / 16  # below this share of times earlier than the one before, a timsort


def time_order(time_s: NDArray[np.float64]) -> NDArray[np.int64]:
    """``np.argsort(time_s, kind="stable")``."""
    if _descents(time_s) < _FEW_DESCENTS * time_s.size:
        order: NDArray[np.int64] = np.argsort(time_s, kind="stable")
        return order
    return _bucket_order(time_s)


@kernel
def in_time_order(time_s: NDArray[np.float64], entered: NDArray[np.int64]) -> bool:
    """Whether ``time_s`` ascend (a NaN is in order), ties in ascending ``entered`` when it
    has one value per time (pass an empty array for no tie-break)."""
    tie_break = entered.size == time_s.size
    for k in range(1, time_s.size):
        if time_s[k] < time_s[k - 1]:
            return False
        if tie_break and time_s[k] == time_s[k - 1] and entered[k] < entered[k - 1]:
            return False
    return True


@kernel
def _descents(time_s: NDArray[np.float64]) -> int:
    """How many times are earlier than the one before them."""
    count = 0
    for k in range(1, time_s.size):
        count += time_s[k] < time_s[k - 1]
    return count


@kernel
def _bucket_order(time_s: NDArray[np.float64]) -> NDArray[np.int64]:
    """``np.argsort(time_s, kind="stable")`` by buckets (module docstring)."""
    n = time_s.size
    if n < _SMALL:
        return np.argsort(time_s, kind="mergesort")
    low = time_s[0]
    high = time_s[0]
    for k in range(n):
        t = time_s[k]
        if not math.isfinite(t):
            return np.argsort(time_s, kind="mergesort")
        low = min(low, t)
        high = max(high, t)
    if high == low:
        return np.arange(n)
    scale = n / (high - low)
    bucket = np.empty(n, dtype=np.int64)
    start = np.zeros(n + 1, dtype=np.int64)
    for k in range(n):
        b = min(int((time_s[k] - low) * scale), n - 1)
        bucket[k] = b
        start[b + 1] += 1
    for b in range(n):
        if start[b + 1] > _BUCKET_LIMIT:
            return np.argsort(time_s, kind="mergesort")
        start[b + 1] += start[b]
    order = np.empty(n, dtype=np.int64)
    fill = start[:n].copy()
    for k in range(n):
        order[fill[bucket[k]]] = k
        fill[bucket[k]] += 1
    for b in range(n):
        for k in range(start[b] + 1, start[b + 1]):
            item = order[k]
            t = time_s[item]
            j = k
            while j > start[b] and time_s[order[j - 1]] > t:
                order[j] = order[j - 1]
                j -= 1
            order[j] = item
    return order
