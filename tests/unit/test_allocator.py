"""The allocator setting applies on glibc and is harmless to call twice."""

from __future__ import annotations

import platform

import numpy as np

from voipbed.allocator import keep_large_arrays_in_heap


def test_keep_large_arrays_in_heap_on_glibc() -> None:
    """On glibc the thresholds are set (True); arrays still allocate and free normally."""
    applied = keep_large_arrays_in_heap()
    if platform.libc_ver()[0] == "glibc":
        assert applied
    assert keep_large_arrays_in_heap() == applied
    big = np.ones(10_000_000)
    assert big.sum() == 10_000_000
