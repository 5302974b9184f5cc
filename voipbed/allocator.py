"""Keep freed large arrays in the process heap instead of handing them back to the OS.

glibc serves every allocation above its mmap threshold (at most 32 MB by
default) with a fresh mmap and unmaps it on free, so each new array of a few
million packets page-faults all its memory in again. A simulation makes many
such short-lived arrays; on this project's 2-core VM keeping them in the heap
made ``simulate`` about 30 % faster for 6 M packets (bench/vs_ns3.py). The
cost: the process keeps its peak heap until it exits. The CLI and the
benchmarks call this once at start; library users may too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

__all__ = ["keep_large_arrays_in_heap"]

logger = logging.getLogger(__name__)

# mallopt parameters, glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def keep_large_arrays_in_heap() -> bool:
    """Raise glibc's mmap and trim thresholds; False (and nothing changed) off glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): leave the allocator alone
        return False
    mmap_ok = mallopt(_M_MMAP_THRESHOLD, 1 << 30) == 1
    trim_ok = mallopt(_M_TRIM_THRESHOLD, (1 << 31) - 1) == 1
    logger.debug("mallopt mmap threshold: %s, trim threshold: %s", mmap_ok, trim_ok)
    return bool(mmap_ok and trim_ok)
