"""Mahimahi delivery-opportunity traces: when a cellular link could deliver a packet.

Format (Winstein et al., NSDI 2013; Mahimahi's ``traces/``): one integer per
line, a non-decreasing time in ms from the start of the link; each line is
one opportunity for ``OPPORTUNITY_BYTES`` to leave the queue. The schedule
repeats when it reaches its end, shifted by its last timestamp. A file
holding just ``1`` is a fixed link of one MTU per ms (about 12 Mbit/s).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["OPPORTUNITY_BYTES", "DeliverySchedule", "TraceError", "load_schedule"]

OPPORTUNITY_BYTES = 1504  # Mahimahi's PACKET_SIZE: a 1500-byte MTU plus the 4-byte TUN header


class TraceError(ValueError):
    """A trace file that is not a delivery-opportunity schedule; names the file and line."""


@dataclass(frozen=True, eq=False)
class DeliverySchedule:
    """One period of opportunity times (ms, non-decreasing, last > 0), repeated forever."""

    times_ms: NDArray[np.int64]
    source: str = "<schedule>"

    def __post_init__(self) -> None:
        times = self.times_ms
        if times.ndim != 1 or times.size == 0:
            raise TraceError(f"{self.source}: a schedule needs at least one opportunity")
        if times[0] < 0 or np.any(np.diff(times) < 0):
            raise TraceError(f"{self.source}: opportunity times must be >= 0 and non-decreasing")
        if times[-1] <= 0:
            raise TraceError(f"{self.source}: the last opportunity must be after 0 ms")

    @property
    def period_ms(self) -> int:
        """The shift applied each time the schedule repeats."""
        return int(self.times_ms[-1])

    @property
    def mean_rate_bps(self) -> float:
        """Average capacity over one period."""
        return self.times_ms.size * OPPORTUNITY_BYTES * 8 / (self.period_ms / 1000.0)


def load_schedule(path: str | Path) -> DeliverySchedule:
    """Read a Mahimahi trace file; errors name the file and line."""
    file = Path(path)
    try:
        lines = file.read_text(encoding="ascii").splitlines()
    except OSError as error:
        raise TraceError(f"{file}: cannot read: {error.strerror}") from None
    except UnicodeDecodeError:
        raise TraceError(f"{file}: not a text file of millisecond timestamps") from None
    times: list[int] = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        if not text.isdigit():
            raise TraceError(f"{file}:{number}: {text!r} is not a whole number of milliseconds")
        if times and int(text) < times[-1]:
            raise TraceError(f"{file}:{number}: {text} ms is earlier than the line before")
        times.append(int(text))
    return DeliverySchedule(np.array(times, dtype=np.int64), str(file))
