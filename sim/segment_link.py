"""One segment in one direction as the simulator drives it, window after window.

A ``SegmentLink`` holds a segment's stages (``voipbed.segment_stages``) and
serves the calls' packets through its queue stage a window at a time:
``enter`` gives the packets that reach the queue before the window's end, in
arrival order, and returns those whose fate became known (``Left``), which may
include packets that came in an earlier window and may leave after the
window's end. ``finish`` gives the queue's ``queue_stats`` fields and, for a
configured queue (a limit, an AQM, DSCP scheduling or cross traffic), its
samples on the run's ``SampleGrid``: the backlog at each instant and the bytes
of media, cross traffic and bulk flows that left the link in each interval
(``QueueSamples.event``). Every figure is the same however the run is cut
into windows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from voipbed.metric_names import DropReason
from voipbed.models._jit import kernel
from voipbed.models.link import RateLink, TraceLink
from voipbed.models.overhead import Overhead
from voipbed.models.queue import N_CLASSES, Fate, dscp_class
from voipbed.models.queue_samples import Occupancy, SampleGrid
from voipbed.models.queue_window import QueueRun
from voipbed.scenario import Segment
from voipbed.segment_stages import SegmentStages
from voipbed.sim.stages import BoolArray, FloatArray, IntArray

__all__ = ["Left", "QueueSamples", "SegmentLink"]

_IP_PACKETS = Overhead()  # RTP/UDP/IPv4 end to end, no SRTP
_SAMPLE_FIELDS = (  # series of a queue_samples event, in the order of QueueSamples.event's
    "packets",
    "bytes",
    "packets_by_class",
    "bytes_by_class",
    "media_bytes",
    "cross_bytes",
    "bulk_bytes",
)
_CROSS_TOTALS = (
    "cross_packets",
    "cross_dropped",
    "bulk_flows",
    "bulk_sent",
    "bulk_delivered_bytes",
    "bulk_dropped",
    "bulk_marked",
)
_EMPTY_IDS: IntArray = np.empty(0, dtype=np.int64)
_QUEUE = int(DropReason.QUEUE)
_REASON_OF_FATE = np.full(max(int(f) for f in Fate) + 1, -1, dtype=np.int64)
_REASON_OF_FATE[Fate.OVERFLOW] = DropReason.QUEUE
_REASON_OF_FATE[Fate.AQM] = DropReason.AQM


@dataclass(frozen=True)
class QueueSamples:
    """One queue's samples: backlog at each instant, bytes that left its link per interval."""

    grid: SampleGrid
    occupancy: Occupancy
    media_bytes: IntArray
    cross_bytes: IntArray
    bulk_bytes: IntArray

    def event(self, segment: str, direction: str) -> tuple[float, dict[str, Any]]:
        """``(time_s, fields)`` of the queue's ``queue_samples`` event: every series of the
        grid in one event, at its last instant; sample k is at ``(k + 1) * interval_s``."""
        occupancy = self.occupancy
        columns = (
            occupancy.total_packets,
            occupancy.total_bytes,
            occupancy.packets,
            occupancy.bytes,
            self.media_bytes,
            self.cross_bytes,
            self.bulk_bytes,
        )
        fields = {"segment": segment, "direction": direction, "interval_s": self.grid.period_s}
        fields |= {name: col.tolist() for name, col in zip(_SAMPLE_FIELDS, columns, strict=True)}
        return self.grid.count * self.grid.period_s, fields


@dataclass(frozen=True)
class Left:
    """The packets whose fate at the queue became known: their ids, their place in the order
    they entered (0 for the link's first packet of the run; None from a FIFO, whose packets
    leave in the order they entered), when each left the link (NaN if dropped), its drop
    reason (-1 if it left), and whether it was marked CE."""

    ids: IntArray
    entered: IntArray | None
    depart_s: FloatArray
    reason: IntArray
    ce: BoolArray


class SegmentLink:
    """One segment in one direction: its stages (``SegmentStages``), its queue stage served a
    window at a time, and its configured queue sampled on the run's grid. ``end_to_end``
    describes the media's headers end to end (what ``carried_bytes`` starts from)."""

    def __init__(
        self,
        segment: Segment,
        direction: str,
        seed: int,
        run_end_s: float,
        end_to_end: Overhead = _IP_PACKETS,
    ) -> None:
        self.stages = SegmentStages.build(segment, direction, seed, run_end_s)
        self.name = segment.name
        self.direction = direction
        self.end_to_end = end_to_end
        self.grid = SampleGrid.for_run(run_end_s) if self.stages.configured_queue else None
        self._carried = {  # no reference back to the link: its arrays go with it
            rtp: _BySize(partial(self.stages.carried_bytes, end_to_end=end_to_end, rtp=rtp))
            for rtp in (False, True)
        }
        self._entered = 0  # packets given to the queue stage so far
        self._queue: _FifoStage | _QueueingStage | None = None
        stages = self.stages
        if stages.link is not None:
            self._queue = _FifoStage(stages.link, self.grid)
        elif stages.queueing is not None:
            run = QueueRun(
                stages.queueing,
                stages.queue_rng,
                stages.bulk,
                stages.cross,
                self.grid,
                end_s=run_end_s,
            )
            self._queue = _QueueingStage(
                run, self.grid, int(stages.cross.time_s.size), len(stages.bulk)
            )

    def carried_bytes(self, ip_bytes: IntArray, *, rtp: bool = True) -> IntArray:
        """What this segment's link and queue carry for IP packets of ``ip_bytes`` with the
        media's headers (RTP ones, or others such as RTCP: no header compression)."""
        return self._carried[rtp].of(ip_bytes)

    def carried_bytes_mixed(self, ids: IntArray, ip_bytes: IntArray, rtp: BoolArray) -> IntArray:
        """``carried_bytes`` of packets ``ids`` of the columns ``ip_bytes`` and ``rtp`` (by
        packet id), each as RTP or not."""
        other, media = self._carried[False], self._carried[True]
        ranges = _size_ranges(ids, ip_bytes, rtp)
        other.cover(int(ranges[0]), int(ranges[1]))
        media.cover(int(ranges[2]), int(ranges[3]))
        return _carried_mixed(ids, ip_bytes, rtp, other.table, other.low, media.table, media.low)

    @property
    def holds_packets(self) -> bool:
        """Whether packets may wait in the queue from one window to the next."""
        return isinstance(self._queue, _QueueingStage)

    def enter(
        self,
        ids: IntArray,
        arrive_s: FloatArray,
        size: IntArray,
        dscp: IntArray,
        ect: BoolArray,
        horizon_s: float,
    ) -> Left:
        """Offer the packets ``ids`` that reach the queue before ``horizon_s`` (in arrival
        order, none before an earlier window's horizon) and serve the queue up to then."""
        queue = self._queue
        assert queue is not None  # callers check has_queue
        left = queue.enter(self._entered, ids, arrive_s, size, dscp, ect, horizon_s)
        self._entered += arrive_s.size
        return left

    def finish(self) -> tuple[dict[str, Any] | None, tuple[float, dict[str, Any]] | None]:
        """The queue's ``queue_stats`` fields (None without a configured queue) and its
        ``queue_samples`` event (None without a grid), once the run's last window is in."""
        if self._queue is None or not self.stages.configured_queue:
            return None, None
        totals, samples = self._queue.finish()
        counts = dict.fromkeys(_CROSS_TOTALS, 0) | totals
        stats = {
            "segment": self.name,
            "direction": self.direction,
            **self.stages.facts.fields(),
            "sample_interval_s": None if self.grid is None else self.grid.period_s,
            **counts,
        }
        event = None if samples is None else samples.event(self.name, self.direction)
        return stats, event


class _BySize:
    """A function of a packet's size, applied to many packets through a table of its values
    over the range of sizes seen so far."""

    def __init__(self, of_sizes: Callable[[IntArray], IntArray]) -> None:
        self.of_sizes = of_sizes
        self.low = 0  # the size at the table's first entry
        self.table = _EMPTY_IDS

    def of(self, sizes: IntArray) -> IntArray:
        """The function at each of ``sizes``."""
        if not sizes.size:
            return self.of_sizes(sizes)
        self.cover(int(sizes.min()), int(sizes.max()))
        values: IntArray = self.table[sizes - self.low]
        return values

    def cover(self, low: int, high: int) -> None:
        """Make the table hold the sizes ``low`` to ``high`` (none when ``low > high``)."""
        if low > high or (self.low <= low and high < self.low + self.table.size):
            return
        if self.table.size:
            low, high = min(low, self.low), max(high, self.low + self.table.size - 1)
        self.table = self.of_sizes(np.arange(low, high + 1, dtype=np.int64))
        self.low = low


class _FifoStage:
    """A drop-tail FIFO deciding each packet's departure when it arrives: its backlog follows
    from when each packet's service began."""

    def __init__(self, link: TraceLink | RateLink, grid: SampleGrid | None) -> None:
        self.link = link
        self.grid = grid
        self.occupancy = grid.empty_occupancy(N_CLASSES) if grid is not None else None
        self.media = np.zeros(grid.count if grid is not None else 0, dtype=np.int64)

    def enter(
        self,
        first: int,
        ids: IntArray,
        arrive_s: FloatArray,
        size: IntArray,
        dscp: IntArray,
        ect: BoolArray,
        horizon_s: float,
    ) -> Left:
        del first, ect, horizon_s  # a drop-tail FIFO never marks; departures known at arrival
        served = self.link.process(arrive_s, size)
        reason = np.where(served.dropped, _QUEUE, -1)
        no_ce = np.zeros(arrive_s.size, dtype=np.bool_)
        grid = self.grid
        if grid is not None and self.occupancy is not None:
            if served.dropped.any():
                sent = ~served.dropped
                arrive_s, size, dscp = arrive_s[sent], size[sent], dscp[sent]
                start_s, depart_s = served.start_s[sent], served.depart_s[sent]
            else:
                start_s, depart_s = served.start_s, served.depart_s
            grid.add_backlog(self.occupancy, arrive_s, start_s, size, dscp_class(dscp))
            grid.add_per_interval(self.media, depart_s, size)
        return Left(ids, None, served.depart_s, reason, no_ce)

    def finish(self) -> tuple[dict[str, int], QueueSamples | None]:
        if self.grid is None or self.occupancy is None:
            return {}, None
        none = np.zeros(self.grid.count, dtype=np.int64)
        return {}, QueueSamples(self.grid, self.occupancy, self.media, none, none.copy())


class _QueueingStage:
    """The event-loop queue (``models.queue_window.QueueRun``), shared with the cross traffic
    and bulk flows, served up to each window's end."""

    def __init__(
        self, run: QueueRun, grid: SampleGrid | None, cross_packets: int, bulk_flows: int
    ) -> None:
        self.run = run
        self.grid = grid
        self.cross_packets = cross_packets
        self.bulk_flows = bulk_flows
        self._base = 0  # entered place of the oldest packet whose fate is not known
        self._ids = _EMPTY_IDS  # ids of the packets entered from _base on
        self._open = np.empty(0, dtype=np.bool_)  # which of them are still in the queue

    def enter(
        self,
        first: int,
        ids: IntArray,
        arrive_s: FloatArray,
        size: IntArray,
        dscp: IntArray,
        ect: BoolArray,
        horizon_s: float,
    ) -> Left:
        settled = self.run.feed(arrive_s, size, dscp_class(dscp), ect, horizon_s)
        reason = _REASON_OF_FATE[settled.fate]
        entered = settled.index
        if horizon_s == np.inf and first == 0 and self._ids.size == 0:
            return Left(ids[entered], entered, settled.depart_s, reason, settled.ce)
        if ids.size:
            self._ids = np.concatenate([self._ids, ids])
            self._open = np.concatenate([self._open, np.ones(ids.size, dtype=np.bool_)])
        here = entered - self._base
        left_ids = self._ids[here]
        self._open[here] = False
        still = np.flatnonzero(self._open)
        done = still[0] if still.size else self._open.size  # the settled prefix
        if done:
            self._base += int(done)
            self._ids, self._open = self._ids[done:], self._open[done:]
        return Left(left_ids, entered, settled.depart_s, reason, settled.ce)

    def finish(self) -> tuple[dict[str, int], QueueSamples | None]:
        totals = self.run.finish()
        bulk = totals.bulk
        counts = {
            "cross_packets": self.cross_packets,
            "cross_dropped": totals.background_dropped,
            "bulk_flows": self.bulk_flows,
            "bulk_sent": int(bulk.sent.sum()),
            "bulk_delivered_bytes": int(bulk.delivered_bytes.sum()),
            "bulk_dropped": int(bulk.dropped.sum()),
            "bulk_marked": int(bulk.marked.sum()),
        }
        grid = self.grid
        if grid is None or totals.occupancy is None:
            return counts, None
        media = totals.delivered_bytes_per_interval
        cross = totals.background_bytes_per_interval
        assert media is not None and cross is not None  # sampled with the grid
        assert bulk.delivered_bytes_per_interval is not None
        samples = QueueSamples(
            grid, totals.occupancy, media, cross, bulk.delivered_bytes_per_interval
        )
        return counts, samples


@kernel
def _size_ranges(ids: IntArray, ip_bytes: IntArray, rtp: BoolArray) -> IntArray:
    """(least, largest) size of the packets ``ids`` that are not RTP, then of those that are;
    least > largest when there are none."""
    ranges = np.array([1, 0, 1, 0], dtype=np.int64)
    seen = np.zeros(2, dtype=np.bool_)
    for i in ids:
        kind = 1 if rtp[i] else 0
        size = ip_bytes[i]
        if not seen[kind]:
            ranges[2 * kind] = size
            ranges[2 * kind + 1] = size
            seen[kind] = True
        else:
            ranges[2 * kind] = min(ranges[2 * kind], size)
            ranges[2 * kind + 1] = max(ranges[2 * kind + 1], size)
    return ranges


@kernel
def _carried_mixed(
    ids: IntArray,
    ip_bytes: IntArray,
    rtp: BoolArray,
    other: IntArray,
    other_low: int,
    media: IntArray,
    media_low: int,
) -> IntArray:
    """Each packet's carried bytes from the table of its kind (RTP or not)."""
    carried = np.empty(ids.size, dtype=np.int64)
    for k in range(ids.size):
        i = ids[k]
        if rtp[i]:
            carried[k] = media[ip_bytes[i] - media_low]
        else:
            carried[k] = other[ip_bytes[i] - other_low]
    return carried
