"""The path as a chain of stateful stages, one link per segment and direction.

Uplink crosses ``scenario.path`` in order, downlink in reverse. Within a
segment a packet meets, in this order: DSCP bleaching (if the segment
remarks), the queue and link (capacity or trace; AQM, DSCP scheduling and
cross traffic in the queue; a packet later lost on the medium still used the
link), HARQ (retransmissions delay it, exhausting them loses it), loss, then
the one-way delay and jitter, which also keep each flow in sequence so that
HARQ and jitter reorder only where the scenario allows it.

A configured queue (a limit, an AQM, DSCP scheduling or cross traffic) is
sampled on the run's ``SampleGrid``: its backlog at each instant and the
bytes of media, cross traffic and bulk flows that left its link in each
interval, in one ``queue_samples`` event per queue and direction
(``QueueSamples.event``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from voipbed.cross_traffic import bulk_flows, unresponsive_arrivals
from voipbed.models.delay import DelayStage
from voipbed.models.link import QueueLimit, RateLink, TraceLink
from voipbed.models.loss import GilbertElliott
from voipbed.models.overhead import Overhead, bytes_on_segment
from voipbed.models.queue import N_CLASSES, QueueingLink, Scheduling, dscp_class
from voipbed.models.queue_samples import Occupancy, SampleGrid
from voipbed.rng import component_rng
from voipbed.scenario import Segment
from voipbed.sim.stages import BoolArray, FloatArray, IntArray
from voipbed.trace import DROP_REASONS
from voipbed.traces import read_schedule

__all__ = [
    "HANDOVER",
    "DirectionPackets",
    "DirectionResult",
    "Enqueued",
    "PathWalk",
    "QueueSamples",
    "SegmentLink",
]

_QUEUE, _AQM, _HARQ, _CHANNEL, HANDOVER = range(len(DROP_REASONS))
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
    """One segment in one direction: its stages, each with its own random stream."""

    def __init__(
        self,
        segment: Segment,
        direction: str,
        seed: int,
        run_end_s: float,
        headers: tuple[Overhead, Overhead] = (Overhead(), Overhead()),
    ) -> None:
        def rng(stage: str) -> np.random.Generator:
            return component_rng(seed, f"path/{segment.name}/{direction}/{stage}")

        self.name = segment.name
        self.direction = direction
        self.bleach_dscp = segment.bleach_dscp
        queue = segment.queue
        limit_bytes = None if queue.limit_bytes is None else int(queue.limit_bytes)
        trace = segment.trace_for(direction)
        schedule = read_schedule(Path(trace)) if trace is not None else None
        rate = segment.capacity_bps if schedule is None else None
        sources = tuple(s for s in segment.cross_traffic if s.applies_to(direction))
        self.link: TraceLink | RateLink | None = None
        self.queueing: QueueingLink | None = None
        limited = queue.limit_packets is not None or limit_bytes is not None
        configured = limited or not queue.is_plain_droptail or bool(sources)
        self.grid = SampleGrid.for_run(run_end_s) if configured else None
        self.queue_facts: dict[str, Any] = {
            "rate_bps": rate,  # None on a trace-driven link
            "limit_packets": queue.limit_packets,
            "limit_bytes": limit_bytes,
            "aqm": queue.aqm.kind,
            "scheduling": queue.scheduling.value,
        }
        if queue.is_plain_droptail and not sources:
            limit = QueueLimit(queue.limit_packets, limit_bytes)
            if schedule is not None:
                self.link = TraceLink(schedule, limit)
            elif rate is not None:
                self.link = RateLink(rate, limit)
        else:
            self.queueing = QueueingLink(
                discipline=queue.aqm.to_model(),
                scheduling=Scheduling[queue.scheduling.name],
                weights=queue.weights,
                limit_packets=queue.limit_packets,
                limit_bytes=limit_bytes,
                rate_bps=rate,
                schedule=schedule,
            )
        self.queue_rng = rng("queue")
        self.cross = unresponsive_arrivals(sources, run_end_s, rng("cross_traffic"))
        self.bulk = bulk_flows(sources, run_end_s)
        self.harq = segment.harq.to_model() if segment.harq is not None else None
        self.harq_rng = rng("harq")
        self.loss = segment.loss.to_model()
        self.loss_rng = rng("loss")
        self.channel_state = np.full(0, -1, dtype=np.int8)  # Gilbert-Elliott state per flow
        self.delay = DelayStage(segment.one_way_delay_s, segment.jitter.to_model(), rng("jitter"))
        self.headers = headers  # (IP packets end to end, as this segment carries them)

    def carried_bytes(self, ip_bytes: IntArray) -> IntArray:
        """What this segment's link and queue carry for IP packets of ``ip_bytes``."""
        end_to_end, here = self.headers
        if here.rohc is None and here.link is None:
            return ip_bytes
        return bytes_on_segment(ip_bytes, end_to_end, here)

    def lost_on_medium(self, flow: IntArray) -> BoolArray:
        """Loss decisions for packets of ``flow``, in arrival order."""
        if isinstance(self.loss, GilbertElliott):
            needed = int(flow.max()) + 1 if flow.size else 0
            if needed > self.channel_state.size:
                grown = np.full(needed, -1, dtype=np.int8)
                grown[: self.channel_state.size] = self.channel_state
                self.channel_state = grown
            return self.loss.lost(flow, self.loss_rng, self.channel_state)
        return self.loss.lost(flow.size, self.loss_rng)

    def enqueue(
        self, arrive_s: FloatArray, size: IntArray, dscp: IntArray, ect: BoolArray
    ) -> Enqueued:
        """Serve the calls' packets with the cross traffic: leave times, drop reason, CE marks."""
        if self.link is not None:
            return self._through_link(self.link, arrive_s, size, dscp)
        assert self.queueing is not None  # a segment without either carries no queue stage
        return self._through_queue(self.queueing, arrive_s, size, dscp, ect)

    def _through_link(
        self, link: TraceLink | RateLink, arrive_s: FloatArray, size: IntArray, dscp: IntArray
    ) -> Enqueued:
        """A plain drop-tail FIFO: its backlog follows from when each packet's service began."""
        served = link.process(arrive_s, size)
        reason = np.where(served.dropped, _QUEUE, -1)
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
        cross = self.cross
        times = np.concatenate([arrive_s, cross.time_s])
        order = np.argsort(times, kind="stable")  # calls' packets first on ties
        is_cross = order >= arrive_s.size
        outcome, bulk = queueing.serve(
            times[order],
            np.concatenate([size, cross.size_bytes])[order],
            np.concatenate([dscp_class(dscp), cross.klass])[order],
            np.concatenate([ect, cross.ect])[order],
            self.queue_rng,
            self.bulk,
            self.grid,
            background=is_cross,
        )
        mine = np.empty(times.size, dtype=np.int64)
        mine[order] = np.arange(times.size)
        mine = mine[: arrive_s.size]  # where each call packet went in the merged batch
        fate = outcome.fate[mine]
        reason = np.select([fate == 1, fate == 2], [_QUEUE, _AQM], -1)
        stats = self._stats(
            cross_packets=int(cross.time_s.size),
            cross_dropped=int(outcome.dropped[is_cross].sum()),
            bulk_flows=len(self.bulk),
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
            **self.queue_facts,
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
    drop_reason: IntArray  # index into DROP_REASONS, -1 when delivered
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

    def cross(self, links: list[SegmentLink], first_hop: int) -> None:
        """Carry the packets in flight over ``links``, numbered from ``first_hop``."""
        flow = self.packets.flow
        for hop, segment in enumerate(links, start=first_hop):
            arrive_s = self.time_s[self.alive]
            if np.any(arrive_s[1:] < arrive_s[:-1]):  # a stage upstream reordered them
                order = np.argsort(arrive_s, kind="stable")
                self.alive, arrive_s = self.alive[order], arrive_s[order]
            alive = self.alive
            if segment.bleach_dscp:
                self.dscp[alive] = 0
            if segment.link is not None or segment.queueing is not None:
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
            extra_s: FloatArray | None = None  # HARQ retransmission delay
            if segment.harq is not None:
                outcome = segment.harq.outcome(self.alive.size, segment.harq_rng)
                extra_s = segment.harq.extra_delay_s(outcome)[~outcome.failed]
                self.drop(outcome.failed, hop, _HARQ)
            lost = segment.lost_on_medium(flow[self.alive])
            if extra_s is not None:
                extra_s = extra_s[~lost]
            self.drop(lost, hop, _CHANNEL)
            alive = self.alive
            enter_s = self.time_s[alive] if extra_s is None else self.time_s[alive] + extra_s
            self.time_s[alive] = segment.delay.process(enter_s, flow[alive])

    def result(self) -> DirectionResult:
        recv_s = np.full(self.time_s.size, np.nan)
        recv_s[self.alive] = self.time_s[self.alive]
        dscp = np.full(self.time_s.size, -1, dtype=np.int64)
        dscp[self.alive] = self.dscp[self.alive]
        return DirectionResult(
            recv_s, self.lost_at, self.reason, self.ce, dscp, self.stats, self.samples
        )
