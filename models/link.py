"""Bottleneck links with a drop-tail queue in front: a rate (constant or in steps), or a
Mahimahi trace.

Both serve their queue head first and hand back, per packet, when it left the
link or that the queue dropped it. A link keeps its state (how far service
has got, which packets still wait) between calls, so packets may come in
batches, or one at a time as in the emulator's userspace link; within and
across calls they must come in arrival order.

Trace-driven service follows Mahimahi's ``LinkQueue`` (link_queue.cc): at an
opportunity of ``OPPORTUNITY_BYTES`` the queue is served head first, one
opportunity may finish several small packets or part of a large one, a packet
is dequeued when an opportunity first serves it, and an opportunity finding
the queue empty is lost. A packet arriving at time t is queued after the
opportunities at or before t have been used, so it leaves at the earliest at
the first opportunity after t. In byte space this is a Lindley recursion:
finish_i = max(OPPORTUNITY_BYTES * O(a_i), finish_{i-1}) + charge_i, with O(t)
the opportunities up to t, and packet i leaves at opportunity
ceil(finish_i / OPPORTUNITY_BYTES).

A packet's charge_i is mm-link's: the bytes the link is given for it plus
``TUN_HEADER_BYTES``, the TUN packet-information header that
mm-link's packets carry (``models.mahimahi``). The bytes given are the
segment's: the IP packet, or with the segment's ROHC and link framing the
framed packet (``sim.path.SegmentLink.carried_bytes``); the TUN header comes on
top either way, as the trace's opportunities are sized for it. The queue's
packet and byte limits count the bytes given, without the TUN header, as on
every link (mm-link's own byte limit would count it).

A rate link serializes each packet at the rate in force (``models.rate_steps``):
a packet whose service begins at b leaves when the bits carried since b, at
each step's rate for the part of the time in that step, add up to its size
(``carried_s``); at one rate, b + 8 size / rate.

A drop-tail queue (Mahimahi's ``DropTailQueue``, ns-3's ``DropTailQueue``)
refuses an arriving packet when the packets already waiting, plus it, would
exceed the packet or byte limit; the packet in service is not waiting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from voipbed.models._jit import inline_kernel, kernel
from voipbed.models.mahimahi import OPPORTUNITY_BYTES, TUN_HEADER_BYTES, DeliverySchedule
from voipbed.models.rate_steps import RateSteps

__all__ = ["LinkOutput", "QueueLimit", "RateLink", "TraceLink", "carried_s"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

_NO_LIMIT = -1


@dataclass(frozen=True)
class QueueLimit:
    """Drop-tail limits of a link's queue; None is unlimited."""

    packets: int | None = None
    bytes: int | None = None

    def __post_init__(self) -> None:
        for name, value in (("packets", self.packets), ("bytes", self.bytes)):
            if value is not None and value < 1:
                raise ValueError(f"a queue limit of {value} {name} cannot hold a packet")


@dataclass(frozen=True)
class LinkOutput:
    """Per packet: when it left the link (NaN if dropped), whether the queue dropped it, and
    when its service began (NaN if dropped): it waited in the queue from its arrival until
    then (``models.queue_samples.SampleGrid.backlog``)."""

    depart_s: FloatArray
    dropped: BoolArray
    start_s: FloatArray


@inline_kernel
def _advance_queue(
    now: float,
    start: FloatArray,
    size: IntArray,
    head: int,
    count: int,
    queued_bytes: int,
) -> tuple[int, int]:
    """Forget the waiting packets whose service started at or before ``now``."""
    while head < count and start[head] <= now:
        queued_bytes -= size[head]
        head += 1
    return head, queued_bytes


@inline_kernel
def _drop_tail(
    queued_packets: int, queued_bytes: int, size: int, limit_packets: int, limit_bytes: int
) -> bool:
    if limit_packets != _NO_LIMIT and queued_packets + 1 > limit_packets:
        return True
    return limit_bytes != _NO_LIMIT and queued_bytes + size > limit_bytes


@inline_kernel
def carried_s(
    begin: float, size: int, start_s: FloatArray, seconds_per_byte: FloatArray, step: int
) -> tuple[float, int]:
    """When a packet of ``size`` bytes whose service begins at ``begin`` has been carried by
    a link whose steps start at ``start_s`` with ``seconds_per_byte`` each (at the rates in
    force, each for its span), and the step in force then. ``step`` is a step that began
    at or before ``begin``; the search goes on from it, so a caller whose times never go
    back passes the step returned last."""
    last = start_s.size - 1
    while step < last and start_s[step + 1] <= begin:
        step += 1
    t = begin
    left = size * 1.0  # bytes still to carry
    while True:
        finish = t + left * seconds_per_byte[step]
        if step == last or finish <= start_s[step + 1]:
            return finish, step
        # The step ends first: what it carries until then, the rest at the next rate.
        left = max(left - (start_s[step + 1] - t) / seconds_per_byte[step], 0.0)
        t = start_s[step + 1]
        step += 1


@kernel
def _trace_link_kernel(
    arrive_ms: FloatArray,
    seen: int,
    size: IntArray,
    times_ms: IntArray,
    limit_packets: int,
    limit_bytes: int,
    finish_byte: int,
    start: FloatArray,
    start_size: IntArray,
    waiting: int,
) -> tuple[FloatArray, BoolArray, FloatArray, int, int, int, int]:
    """Mahimahi service of one batch; ``start[:waiting]`` are packets still queued before it."""
    n = arrive_ms.size
    slots = times_ms.size
    period = times_ms[slots - 1]
    depart = np.full(n, np.nan)
    began = np.full(n, np.nan)  # service start of each accepted packet
    dropped = np.zeros(n, dtype=np.bool_)
    head = 0
    count = waiting
    queued_bytes = 0
    for k in range(waiting):
        queued_bytes += start_size[k]
    for i in range(n):
        head, queued_bytes = _advance_queue(
            arrive_ms[i], start, start_size, head, count, queued_bytes
        )
        if _drop_tail(count - head, queued_bytes, size[i], limit_packets, limit_bytes):
            dropped[i] = True
            continue
        # Opportunities at or before the arrival (arrivals come in order: count on).
        while (seen // slots) * period + times_ms[seen % slots] <= arrive_ms[i]:
            seen += 1
        begin = max(OPPORTUNITY_BYTES * seen, finish_byte)
        finish_byte = begin + size[i] + TUN_HEADER_BYTES  # mm-link's charge
        first = begin // OPPORTUNITY_BYTES  # 0-based number of the opportunity that starts it
        last = (finish_byte + OPPORTUNITY_BYTES - 1) // OPPORTUNITY_BYTES - 1
        start[count] = (first // slots) * period + times_ms[first % slots]
        began[i] = start[count]
        start_size[count] = size[i]
        count += 1
        queued_bytes += size[i]
        depart[i] = (last // slots) * period + times_ms[last % slots]
    return depart, dropped, began, finish_byte, head, count, seen


@inline_kernel
def _rate_service(
    arrive_s: FloatArray,
    size: IntArray,
    step_start_s: FloatArray,
    seconds_per_byte: FloatArray,
    step: int,
    limit_packets: int,
    limit_bytes: int,
    busy_until: float,
    start: FloatArray,
    start_size: IntArray,
    waiting: int,
    stepped: bool,
) -> tuple[FloatArray, BoolArray, FloatArray, float, int, int, int]:
    """Rate service of one batch (``carried_s``, from ``step`` on); ``start[:waiting]`` are
    packets queued before it. Its callers pass ``stepped`` as a constant, so that the
    compiler drops the branch it never takes."""
    n = arrive_s.size
    per_byte = seconds_per_byte[0]
    depart = np.full(n, np.nan)
    began = np.full(n, np.nan)  # service start of each accepted packet
    dropped = np.zeros(n, dtype=np.bool_)
    head = 0
    count = waiting
    queued_bytes = 0
    for k in range(waiting):
        queued_bytes += start_size[k]
    for i in range(n):
        head, queued_bytes = _advance_queue(
            arrive_s[i], start, start_size, head, count, queued_bytes
        )
        if _drop_tail(count - head, queued_bytes, size[i], limit_packets, limit_bytes):
            dropped[i] = True
            continue
        begin = max(arrive_s[i], busy_until)
        if stepped:
            busy_until, step = carried_s(begin, size[i], step_start_s, seconds_per_byte, step)
        else:
            busy_until = begin + size[i] * per_byte
        start[count] = began[i] = begin
        start_size[count] = size[i]
        count += 1
        queued_bytes += size[i]
        depart[i] = busy_until
    return depart, dropped, began, busy_until, head, count, step


@kernel
def _rate_link_kernel(
    arrive_s: FloatArray,
    size: IntArray,
    step_start_s: FloatArray,
    seconds_per_byte: FloatArray,
    step: int,
    limit_packets: int,
    limit_bytes: int,
    busy_until: float,
    start: FloatArray,
    start_size: IntArray,
    waiting: int,
) -> tuple[FloatArray, BoolArray, FloatArray, float, int, int, int]:
    """``_rate_service`` at one rate (the hot path of fixed-rate runs: no step to find)."""
    return _rate_service(
        arrive_s, size, step_start_s, seconds_per_byte, step, limit_packets, limit_bytes,
        busy_until, start, start_size, waiting, False,
    )  # fmt: skip


@kernel
def _stepped_link_kernel(
    arrive_s: FloatArray,
    size: IntArray,
    step_start_s: FloatArray,
    seconds_per_byte: FloatArray,
    step: int,
    limit_packets: int,
    limit_bytes: int,
    busy_until: float,
    start: FloatArray,
    start_size: IntArray,
    waiting: int,
) -> tuple[FloatArray, BoolArray, FloatArray, float, int, int, int]:
    """``_rate_service`` at rates that step."""
    return _rate_service(
        arrive_s, size, step_start_s, seconds_per_byte, step, limit_packets, limit_bytes,
        busy_until, start, start_size, waiting, True,
    )  # fmt: skip


class _QueuedLink:
    """What both links share: the limits and the packets still waiting between batches."""

    def __init__(self, limit: QueueLimit) -> None:
        self.limit = limit
        self._waiting_start = np.empty(0)
        self._waiting_size = np.empty(0, dtype=np.int64)

    def _buffers(self, n: int) -> tuple[FloatArray, IntArray, int]:
        waiting = self._waiting_start.size
        start = np.empty(waiting + n)
        size = np.empty(waiting + n, dtype=np.int64)
        start[:waiting] = self._waiting_start
        size[:waiting] = self._waiting_size
        return start, size, waiting

    def _keep_waiting(self, start: FloatArray, size: IntArray, head: int, count: int) -> None:
        self._waiting_start = start[head:count].copy()
        self._waiting_size = size[head:count].copy()

    def _limits(self) -> tuple[int, int]:
        packets = _NO_LIMIT if self.limit.packets is None else self.limit.packets
        size = _NO_LIMIT if self.limit.bytes is None else self.limit.bytes
        return packets, size


class TraceLink(_QueuedLink):
    """A link whose capacity follows a Mahimahi delivery schedule starting at time 0; each
    packet is charged its size plus ``TUN_HEADER_BYTES`` against an opportunity."""

    def __init__(self, schedule: DeliverySchedule, limit: QueueLimit | None = None) -> None:
        super().__init__(limit or QueueLimit())
        self.schedule = schedule
        self._finish_byte = 0
        self._seen = 0  # opportunities at or before the last arrival so far

    def process(self, arrive_s: FloatArray, size_bytes: IntArray) -> LinkOutput:
        """Serve packets arriving at ``arrive_s`` (non-decreasing, >= 0, after earlier batches)."""
        arrive_ms = np.asarray(arrive_s, dtype=np.float64) * 1000.0
        sizes = np.asarray(size_bytes, dtype=np.int64)
        start, start_size, waiting = self._buffers(arrive_ms.size)
        depart_ms, dropped, start_ms, self._finish_byte, head, count, self._seen = (
            _trace_link_kernel(
                arrive_ms,
                self._seen,
                sizes,
                self.schedule.times_ms,
                *self._limits(),
                self._finish_byte,
                start,
                start_size,
                waiting,
            )
        )
        self._keep_waiting(start, start_size, head, count)
        return LinkOutput(depart_ms / 1000.0, dropped, start_ms / 1000.0)


class RateLink(_QueuedLink):
    """A link that serializes packets at ``rate_bps``: one rate, or ``RateSteps`` (a packet
    on the wire across a step is carried at each rate for its span)."""

    def __init__(self, rate_bps: float | RateSteps, limit: QueueLimit | None = None) -> None:
        steps = rate_bps if isinstance(rate_bps, RateSteps) else RateSteps.constant(rate_bps)
        super().__init__(limit or QueueLimit())
        self.steps = steps
        self.rate_bps = rate_bps
        self._busy_until = -np.inf
        self._step = 0  # the step in force when the last packet's service ended

    def process(self, arrive_s: FloatArray, size_bytes: IntArray) -> LinkOutput:
        """Serve packets arriving at ``arrive_s`` (non-decreasing, after earlier batches)."""
        arrive = np.asarray(arrive_s, dtype=np.float64)
        start, start_size, waiting = self._buffers(arrive.size)
        serve = _rate_link_kernel if self.steps.is_constant else _stepped_link_kernel
        depart, dropped, start_s, self._busy_until, head, count, self._step = serve(
            arrive,
            np.asarray(size_bytes, dtype=np.int64),
            self.steps.start_s,
            self.steps.seconds_per_byte,
            self._step,
            *self._limits(),
            self._busy_until,
            start,
            start_size,
            waiting,
        )
        self._keep_waiting(start, start_size, head, count)
        return LinkOutput(depart, dropped, start_s)
