"""Mahimahi delivery-opportunity traces: when a cellular link could deliver a packet.

Format (Winstein et al., NSDI 2013; Mahimahi's ``traces/``): one integer per
line, a non-decreasing time in ms from the start of the link; each line is
one opportunity for ``OPPORTUNITY_BYTES`` to leave the queue. The schedule
repeats when it reaches its end, shifted by its last timestamp. A file
holding just ``1`` is a fixed link of one MTU per ms (about 12 Mbit/s).

mm-link charges each packet ``TUN_HEADER_BYTES`` more than its IP size
against an opportunity; ``models.link`` and ``models.queue`` charge the same.
Reading a file is ``voipbed.traces``'s job; this module parses its bytes, and
builds the schedule of a link whose rate steps through a run (``step_schedule``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "MAX_TIME_MS",
    "OPPORTUNITY_BYTES",
    "TUN_HEADER_BYTES",
    "DeliverySchedule",
    "RateStep",
    "TraceError",
    "parse_schedule",
    "step_opportunities",
    "step_schedule",
]

# Mahimahi's LinkQueue::PACKET_SIZE (src/frontend/link_queue.hh): a 1500-byte MTU plus
# the 4-byte TUN header.
OPPORTUNITY_BYTES = 1504
# struct tun_pi (linux/if_tun.h): mm-link opens its TUN device with IFF_TUN and without
# IFF_NO_PI (src/util/netdevice.cc), so each packet it queues is 4 bytes longer than its IP
# packet, and LinkQueue::rationalize (link_queue.cc) charges that size.
TUN_HEADER_BYTES = 4
_BITS_PER_OPPORTUNITY = OPPORTUNITY_BYTES * 8
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


class RateStep(NamedTuple):
    """From ``start_s`` on (until the next step), the link delivers ``rate_bps``."""

    start_s: float
    rate_bps: float


def _carried(
    steps: Sequence[RateStep], until_s: float, source: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Each step's start and then ``until_s``, in ms and cut at ``until_s``; and the bits
    the link could carry from 0 to each of them. The steps are checked here."""
    if not steps:
        raise TraceError(f"{source}: give at least one step")
    if steps[0].start_s != 0.0:
        raise TraceError(f"{source}: the first step starts at 0 s")
    if any(b.start_s <= a.start_s for a, b in itertools.pairwise(steps)):
        raise TraceError(f"{source}: step times must increase")
    if not all(step.rate_bps > 0.0 for step in steps) or not until_s > 0.0:
        raise TraceError(f"{source}: rates and the end must be > 0")
    ends_s = [*(step.start_s for step in steps), until_s]
    bounds_ms = np.minimum(np.array(ends_s, dtype=np.float64), until_s) * 1000.0
    rates = np.array([step.rate_bps for step in steps], dtype=np.float64)
    carried = np.concatenate(([0.0], np.cumsum(rates * np.diff(bounds_ms) / 1000.0)))
    return bounds_ms, carried


def step_opportunities(steps: Sequence[RateStep], until_s: float) -> int:
    """How many opportunities ``step_schedule(steps, until_s)`` holds, without building it."""
    _, carried = _carried(steps, until_s, "<capacity steps>")
    return max(1, int(carried[-1] // _BITS_PER_OPPORTUNITY))


def step_schedule(
    steps: Sequence[RateStep], until_s: float, source: str = "<capacity steps>"
) -> DeliverySchedule:
    """The delivery opportunities of a link whose rate steps as ``steps`` say, up to ``until_s``.

    An opportunity is due each time the link has had ``OPPORTUNITY_BYTES`` of
    capacity since the one before, as in Mahimahi's own constant-rate traces:
    the k-th falls at the first whole millisecond by which the rates have
    carried k x 1504 bytes, so a step's opportunities come at its rate, and
    capacity left over at the end of one step counts in the next. Steps that
    start at or after ``until_s`` are left out; past its last opportunity the
    schedule repeats from its first step, as every schedule does. It holds at
    least one opportunity (the first, however long the rate takes to reach it).
    """
    bounds_ms, carried = _carried(steps, until_s, source)
    count = step_opportunities(steps, until_s)
    due_bits = np.arange(1, count + 1, dtype=np.float64) * _BITS_PER_OPPORTUNITY
    # The step during which each opportunity's bits are reached: the first bound whose
    # carried bits reach them ends it. The one opportunity of a schedule too short to
    # hold it comes after the end, at the rate of the last step that began before it.
    last = int(np.flatnonzero(np.diff(bounds_ms) > 0.0)[-1])  # step 0 always spans > 0
    step = np.minimum(np.searchsorted(carried[1:], due_bits, side="left"), last)
    rates = np.array([s.rate_bps for s in steps], dtype=np.float64)
    exact_ms = bounds_ms[step] + (due_bits - carried[step]) * 1000.0 / rates[step]
    # 1e-6 ms of slack: a time the arithmetic puts a hair past a whole ms is that ms.
    times_ms = np.maximum(np.ceil(exact_ms - 1e-6), 1.0)
    if times_ms[-1] > MAX_TIME_MS:
        raise TraceError(f"{source}: opportunity times must be at most {MAX_TIME_MS} ms")
    return DeliverySchedule(times_ms.astype(np.int64), source)
