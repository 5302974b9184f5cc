"""Mahimahi delivery-opportunity traces: when a cellular link could deliver a packet.

Format (Winstein et al., NSDI 2013; Mahimahi's ``traces/``): one integer per
line, a non-decreasing time in ms from the start of the link; each line is
one opportunity for ``OPPORTUNITY_BYTES`` to leave the queue. The schedule
repeats when it reaches its end, shifted by its last timestamp. A file
holding just ``1`` is a fixed link of one MTU per ms (about 12 Mbit/s).

mm-link charges each packet ``TUN_HEADER_BYTES`` more than its IP size
against an opportunity; ``models.link`` and ``models.queue`` charge the same.
Reading a file is ``voipbed.traces``'s job; this module parses its bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "MAX_TIME_MS",
    "OPPORTUNITY_BYTES",
    "TUN_HEADER_BYTES",
    "DeliverySchedule",
    "TraceError",
    "parse_schedule",
]

# Mahimahi's LinkQueue::PACKET_SIZE (src/frontend/link_queue.hh): a 1500-byte MTU plus
# the 4-byte TUN header.
OPPORTUNITY_BYTES = 1504
# struct tun_pi (linux/if_tun.h): mm-link opens its TUN device with IFF_TUN and without
# IFF_NO_PI (src/util/netdevice.cc), so each packet it queues is 4 bytes longer than its IP
# packet, and LinkQueue::rationalize (link_queue.cc) charges that size.
TUN_HEADER_BYTES = 4
# Times beyond this are refused: about 31.7 years, far below int64's range, so the link
# kernels' sums (period * repetitions + time) stay exact.
MAX_TIME_MS = 10**12


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
        if times[-1] > MAX_TIME_MS:
            raise TraceError(f"{self.source}: opportunity times must be at most {MAX_TIME_MS} ms")

    @property
    def period_ms(self) -> int:
        """The shift applied each time the schedule repeats."""
        return int(self.times_ms[-1])

    @property
    def mean_rate_bps(self) -> float:
        """Average capacity over one period, counting the whole opportunity."""
        return self.times_ms.size * OPPORTUNITY_BYTES * 8 / (self.period_ms / 1000.0)


def parse_schedule(data: bytes, source: str) -> DeliverySchedule:
    """The schedule in the text ``data`` of file ``source``; errors name the file and line."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as error:
        where = data.count(b"\n", 0, error.start) + 1
        raise TraceError(
            f"{source}:{where}: byte 0x{data[error.start]:02x} is not ASCII; "
            "a trace holds one whole number of milliseconds per line"
        ) from None
    times: list[int] = []
    digits = len(str(MAX_TIME_MS))
    for number, line in enumerate(text.splitlines(), start=1):
        value = line.strip()
        if not value:
            continue
        if not value.isdigit():
            shown = value if len(value) <= 40 else value[:40] + "..."
            negative = value[0] == "-" and value[1:].isdigit()
            kind = "a negative time" if negative else "not a whole number of milliseconds"
            raise TraceError(f"{source}:{number}: {shown!r} is {kind}")
        if len(value) > digits or int(value) > MAX_TIME_MS:
            raise TraceError(
                f"{source}:{number}: {value[:40]} ms is beyond {MAX_TIME_MS} ms (31 years)"
            )
        time_ms = int(value)
        if times and time_ms < times[-1]:
            raise TraceError(
                f"{source}:{number}: {time_ms} ms is earlier than the line before "
                f"({times[-1]} ms); times must not decrease"
            )
        times.append(time_ms)
    if not times:
        raise TraceError(f"{source}: no opportunity in it (an empty trace)")
    return DeliverySchedule(np.array(times, dtype=np.int64), source)
