"""The path as a chain of stateful stages, one link per segment and direction.

Uplink crosses ``scenario.path`` in order, downlink in reverse. Within a
segment a packet meets the segment's stages (``voipbed.segment_stages``, as
the emulation's userspace link does), driven here with one batch per segment:
DSCP bleaching, the queue and link (a packet later lost on the medium still
used the link; AQM, DSCP scheduling and cross traffic share the queue with the
calls' packets), then HARQ, loss, and the one-way delay and jitter.

A configured queue (a limit, an AQM, DSCP scheduling or cross traffic) is
sampled on the run's ``SampleGrid``: its backlog at each instant and the
bytes of media, cross traffic and bulk flows that left its link in each
interval, in one ``queue_samples`` event per queue and direction
(``QueueSamples.event``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voipbed.metric_names import DropReason
from voipbed.models.link import RateLink, TraceLink
from voipbed.models.overhead import Overhead
from voipbed.models.queue import N_CLASSES, Fate, QueueingLink, dscp_class
from voipbed.models.queue_samples import Occupancy, SampleGrid
from voipbed.scenario import Segment
from voipbed.segment_stages import SegmentStages
from voipbed.sim.stages import BoolArray, FloatArray, IntArray

__all__ = [
    "DirectionPackets",
    "DirectionResult",
    "Enqueued",
    "PathWalk",
    "QueueSamples",
    "SegmentLink",
]

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
class Enqueued:
    """The calls' packets after a segment's queue and link, in arrival order: when each left
    (NaN if dropped), the drop reason (-1 if sent), CE marks; and for a configured queue its
    ``queue_stats`` fields and samples."""

    depart_s: FloatArray
    reason: IntArray
    ce: BoolArray
    stats: dict[str, Any] | None = None
    samples: QueueSamples | None = None


class SegmentLink:
    """One segment in one direction as the simulator drives it: its stages
    (``SegmentStages``), served a batch of packets at a time, and its configured queue
    sampled on the run's grid. ``end_to_end`` describes the media's headers end to end
    (what ``carried_bytes`` starts from)."""

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

    def carried_bytes(self, ip_bytes: IntArray) -> IntArray:
        """What this segment's link and queue carry for the media's IP packets of ``ip_bytes``."""
        return self.stages.carried_bytes(ip_bytes, self.end_to_end)

    def enqueue(
        self, arrive_s: FloatArray, size: IntArray, dscp: IntArray, ect: BoolArray
    ) -> Enqueued:
        """Serve the calls' packets with the cross traffic: leave times, drop reason, CE marks."""
        stages = self.stages
        if stages.link is not None:
            return self._through_link(stages.link, arrive_s, size, dscp)
        assert stages.queueing is not None  # a segment without either carries no queue stage
        return self._through_queue(stages.queueing, arrive_s, size, dscp, ect)

    def _through_link(
        self, link: TraceLink | RateLink, arrive_s: FloatArray, size: IntArray, dscp: IntArray
    ) -> Enqueued:
        """A plain drop-tail FIFO: its backlog follows from when each packet's service began."""
        served = link.process(arrive_s, size)
        reason = np.where(served.dropped, DropReason.QUEUE, -1)
        no_ce = np.zeros(arrive_s.size, dtype=np.bool_)
        grid = self.grid
        if grid is None:
            return Enqueued(served.depart_s, reason, no_ce)
        sent = ~served.dropped
        klass = dscp_class(dscp)[sent]
        occupancy = grid.backlog(arrive_s[sent], served.start_s[sent], size[sent], klass, N_CLASSES)
        media = grid.per_interval(served.depart_s[sent], size[sent])
        none = np.zeros(grid.count, dtype=np.int64)
        samples = QueueSamples(grid, occupancy, media, none, none.copy())
        return Enqueued(served.depart_s, reason, no_ce, self._stats(), samples)

    def _through_queue(
        self,
        queueing: QueueingLink,
        arrive_s: FloatArray,
        size: IntArray,
        dscp: IntArray,
        ect: BoolArray,
    ) -> Enqueued:
        """The event-loop queue, shared with the cross traffic and bulk flows."""
        cross, flows = self.stages.cross, self.stages.bulk
        times = np.concatenate([arrive_s, cross.time_s])
        order = np.argsort(times, kind="stable")  # calls' packets first on ties
        is_cross = order >= arrive_s.size
        outcome, bulk = queueing.serve(
            times[order],
            np.concatenate([size, cross.size_bytes])[order],
            np.concatenate([dscp_class(dscp), cross.klass])[order],
            np.concatenate([ect, cross.ect])[order],
            self.stages.queue_rng,
            flows,
            self.grid,
            background=is_cross,
        )
        mine = np.empty(times.size, dtype=np.int64)
        mine[order] = np.arange(times.size)
        mine = mine[: arrive_s.size]  # where each call packet went in the merged batch
        fate = outcome.fate[mine]
        reason = np.select(
            [fate == Fate.OVERFLOW, fate == Fate.AQM], [DropReason.QUEUE, DropReason.AQM], -1
        )
        stats = self._stats(
            cross_packets=int(cross.time_s.size),
            cross_dropped=int(outcome.dropped[is_cross].sum()),
            bulk_flows=len(flows),
            bulk_sent=int(bulk.sent.sum()),
            bulk_delivered_bytes=int(bulk.delivered_bytes.sum()),
            bulk_dropped=int(bulk.dropped.sum()),
            bulk_marked=int(bulk.marked.sum()),
        )
        samples: QueueSamples | None = None
        media = outcome.delivered_bytes_per_interval
        cross_out = outcome.background_bytes_per_interval
        if self.grid is not None and outcome.occupancy is not None:
            assert media is not None and cross_out is not None  # sampled with the grid
            samples = QueueSamples(
                self.grid, outcome.occupancy, media, cross_out, bulk.delivered_bytes_per_interval
            )
        return Enqueued(outcome.depart_s[mine], reason, outcome.ce[mine], stats, samples)

    def _stats(self, **totals: int) -> dict[str, Any]:
        """The ``queue_stats`` fields: which queue, how it is configured, its cross traffic's
        totals over the run (zero where ``totals`` does not say)."""
        counts = dict.fromkeys(_CROSS_TOTALS, 0) | totals
        interval = None if self.grid is None else self.grid.period_s
        return {
            "segment": self.name,
            "direction": self.direction,
            **self.stages.facts.fields(),
            "sample_interval_s": interval,
            **counts,
        }


@dataclass(frozen=True)
class DirectionPackets:
    """One direction's packets, sorted by send time (ties in sender order)."""

    send_s: FloatArray
    flow: IntArray
    wire_bytes: IntArray
    dscp: IntArray
    ect: BoolArray


@dataclass(frozen=True)
class DirectionResult:
    """Per packet, in the caller's order: receive time (NaN if lost), losing hop and reason,
    and the DSCP it arrived with."""

    recv_s: FloatArray
    lost_at: IntArray  # hop index, -1 when delivered
    drop_reason: IntArray  # a DropReason code, -1 when delivered
    ce: BoolArray  # marked Congestion Experienced on the way
    dscp: IntArray  # as received, after every bleaching hop; -1 when lost
    queue_stats: list[dict[str, Any]] = field(default_factory=list)
    queue_samples: list[tuple[float, dict[str, Any]]] = field(default_factory=list)


class PathWalk:
    """One direction's packets on their way: where each is, and what befell the lost ones.

    ``cross`` carries the packets still in flight over some hops; between two
    calls the control plane (RRC, handovers) may move or drop them with
    ``delay_to`` and ``drop``.
    """

    def __init__(self, packets: DirectionPackets) -> None:
        n = packets.send_s.size
        self.packets = packets
        self.time_s = packets.send_s.astype(np.float64, copy=True)
        self.dscp = packets.dscp.copy()
        self.lost_at = np.full(n, -1, dtype=np.int64)
        self.reason = np.full(n, -1, dtype=np.int64)
        self.ce = np.zeros(n, dtype=np.bool_)
        self.stats: list[dict[str, Any]] = []
        self.samples: list[tuple[float, dict[str, Any]]] = []
        self.alive = np.arange(n)  # in flight, in order of arrival at the next stage

    def drop(self, mask: BoolArray, hop: int, why: int | IntArray) -> None:
        """Lose the in-flight packets where ``mask`` (over ``alive``) is set."""
        if not mask.any():
            return
        lost = self.alive[mask]
        self.lost_at[lost] = hop
        self.reason[lost] = why if isinstance(why, int) else why[mask]
        self.alive = self.alive[~mask]

    def drop_at(self, positions: IntArray, hop: int, why: IntArray) -> None:
        """Lose the in-flight packets at ``positions`` (over ``alive``), each for its reason."""
        if not positions.size:
            return
        lost = self.alive[positions]
        self.lost_at[lost] = hop
        self.reason[lost] = why
        keep = np.ones(self.alive.size, dtype=np.bool_)
        keep[positions] = False
        self.alive = self.alive[keep]

    def cross(self, links: list[SegmentLink], first_hop: int) -> None:
        """Carry the packets in flight over ``links``, numbered from ``first_hop``."""
        flow = self.packets.flow
        for hop, segment in enumerate(links, start=first_hop):
            stages = segment.stages
            arrive_s = self.time_s[self.alive]
            if np.any(arrive_s[1:] < arrive_s[:-1]):  # a stage upstream reordered them
                order = np.argsort(arrive_s, kind="stable")
                self.alive, arrive_s = self.alive[order], arrive_s[order]
            alive = self.alive
            if stages.bleach_dscp:
                self.dscp[alive] = 0
            if stages.has_queue:
                served = segment.enqueue(
                    arrive_s,
                    segment.carried_bytes(self.packets.wire_bytes[alive]),
                    self.dscp[alive],
                    self.packets.ect[alive],
                )
                self.time_s[alive] = served.depart_s
                self.ce[alive[served.ce]] = True
                if served.stats is not None:
                    self.stats.append(served.stats)
                if served.samples is not None:
                    self.samples.append(served.samples.event(segment.name, segment.direction))
                self.drop(served.reason >= 0, hop, served.reason)
            alive = self.alive
            behind = stages.behind_queue(self.time_s[alive], flow[alive])
            self.drop_at(behind.lost, hop, behind.reason)
            self.time_s[self.alive] = behind.depart_s

    def result(self) -> DirectionResult:
        recv_s = np.full(self.time_s.size, np.nan)
        recv_s[self.alive] = self.time_s[self.alive]
        dscp = np.full(self.time_s.size, -1, dtype=np.int64)
        dscp[self.alive] = self.dscp[self.alive]
        return DirectionResult(
            recv_s, self.lost_at, self.reason, self.ce, dscp, self.stats, self.samples
        )
