"""Linear-time grouping of packets by a small integer key (flow, UE), keeping their order."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from voipbed.models._jit import kernel

__all__ = ["group_order"]


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
