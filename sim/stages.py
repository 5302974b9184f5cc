"""Array types of the sim's batch packet path.

The stages themselves are pure models in ``voipbed.models`` (links and queues,
loss, the delay and jitter stage), shared with the emulator's userspace link.
A stage sees the packets still in flight, in the order they reach it, and
keeps its state (its random stream, each flow's last delivery) from one batch
to the next, so a run may be cut into batches between control events. Each
stage has a plain per-packet twin in ``tests/sim/reference.py``; the tests
check that both agree.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["BoolArray", "FloatArray", "IntArray"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
