"""One direction of one path segment, deciding real packets' fates with the simulator's models.

:class:`DirectionChain` holds a segment's stages for one direction, each with
the random stream the simulator gives it (``path/{segment}/{direction}/{stage}``),
in the simulator's order: DSCP bleaching, the queue and link (constant rate
or Mahimahi trace, counting the segment's ROHC and link framing), HARQ, loss,
then one-way delay and jitter (in sequence per flow). A packet sequence thus
gets the same departures and drop reasons in both engines.

A drop-tail FIFO queue decides each packet's departure when it arrives. A
queue with an AQM (CoDel, PIE), DSCP scheduling or unresponsive cross traffic
decides as time passes (``models.queue_stepper``); its cross traffic is drawn
as the simulator draws it. Greedy bulk cross traffic is refused. The
forwarder in ``link`` feeds it frames; this module knows no sockets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from voipbed.cross_traffic import unresponsive_arrivals
from voipbed.emulation.frames import FlowKey, IpPacket, parse_frame
from voipbed.models.delay import DelayStage
from voipbed.models.link import QueueLimit, RateLink, TraceLink
from voipbed.models.loss import GilbertElliott
from voipbed.models.overhead import IpVersion, Overhead, header_bytes, wire_bytes_per_packet
from voipbed.models.queue import Fate as QueueFate
from voipbed.models.queue import QueueingLink, Scheduling, dscp_class
from voipbed.models.queue_stepper import QueueStepper
from voipbed.rng import component_rng
from voipbed.scenario import CrossTrafficKind, Segment
from voipbed.trace import DIRECTIONS, DROP_REASONS
from voipbed.traces import read_schedule

__all__ = [
    "DEFAULT_RUN_END_S",
    "DirectionChain",
    "Fate",
    "Fates",
    "Release",
    "UnsupportedSegment",
    "check_supported",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_QUEUE, _AQM, _HARQ, _CHANNEL, _HANDOVER = range(len(DROP_REASONS))

DEFAULT_RUN_END_S = 3600.0  # cross traffic's end when the run's is not given


class UnsupportedSegment(NotImplementedError):
    """A segment feature the one-packet-at-a-time link cannot run yet; names both."""


class Fate(NamedTuple):
    """What the link does to one packet: when it leaves (NaN if dropped), and why it is lost."""

    depart_s: float
    reason: str | None


@dataclass(frozen=True)
class Fates:
    """Per packet: leave time (NaN when dropped) and drop reason (index into DROP_REASONS, -1)."""

    depart_s: FloatArray
    reason: IntArray


class Release(NamedTuple):
    """A packet the queue let go of (``DirectionChain.release``), with its fate after the
    stages behind the queue: when it leaves the segment (NaN if lost), and why it is lost."""

    handle: int  # what ``offer`` returned
    depart_s: float
    reason: int  # index into DROP_REASONS, -1 when delivered
    ce: bool  # the queue marked it Congestion Experienced


class DirectionChain:
    """One direction of one segment: its model stages, each with its own random stream.

    A drop-tail FIFO queue (``queued`` False) decides a packet's departure when it
    arrives: ``decide``, ``process`` and ``admit`` give each packet's fate at once.
    A queue with an AQM, DSCP scheduling or cross traffic (``queued`` True) decides
    later, as time passes: ``offer`` a packet, then ``release`` at the times
    ``next_event_s`` says gives what left the queue, with its fate after the stages
    behind it. Packets must come in arrival order (``arrive_s`` non-decreasing, >= 0)
    across calls; a call may hold one packet or many, with the same fates either way.

    The stages behind the queue draw their random numbers in the order packets leave
    the queue; the simulator draws them in arrival order. The two are the same unless
    DSCP scheduling lets a packet overtake an earlier one of another class (then the two
    packets swap their draws, which come from the same distribution).
    """

    def __init__(
        self, segment: Segment, direction: str, seed: int, run_end_s: float | None = None
    ) -> None:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")

        def rng(stage: str) -> np.random.Generator:
            return component_rng(seed, f"path/{segment.name}/{direction}/{stage}")

        check_supported(segment, direction)
        self.name = segment.name
        self.direction = direction
        self.bleach_dscp = segment.bleach_dscp
        queue = segment.queue
        limit = QueueLimit(
            queue.limit_packets, None if queue.limit_bytes is None else int(queue.limit_bytes)
        )
        trace = segment.trace_for(direction)
        schedule = read_schedule(Path(trace)) if trace is not None else None
        sources = tuple(s for s in segment.cross_traffic if s.applies_to(direction))
        self.link: TraceLink | RateLink | None = None
        self.stepper: QueueStepper | None = None
        if queue.is_plain_droptail and not sources:
            if schedule is not None:
                self.link = TraceLink(schedule, limit)
            elif segment.capacity_bps is not None:
                self.link = RateLink(segment.capacity_bps, limit)
        else:  # as sim.path.SegmentLink builds it, with the same streams
            queueing = QueueingLink(
                discipline=queue.aqm.to_model(),
                scheduling=Scheduling[queue.scheduling.name],
                weights=queue.weights,
                limit_packets=queue.limit_packets,
                limit_bytes=limit.bytes,
                rate_bps=segment.capacity_bps if schedule is None else None,
                schedule=schedule,
            )
            end_s = DEFAULT_RUN_END_S if run_end_s is None else run_end_s
            cross = unresponsive_arrivals(sources, end_s, rng("cross_traffic"))
            self.stepper = QueueStepper(queueing, rng("queue"), cross)
        self.harq = segment.harq.to_model() if segment.harq is not None else None
        self.harq_rng = rng("harq")
        self.loss = segment.loss.to_model()
        self.loss_rng = rng("loss")
        self._channel_state = np.full(0, -1, dtype=np.int8)  # Gilbert-Elliott state per flow
        jitter = segment.jitter
        self.delay = DelayStage(
            segment.one_way_delay_s,
            jitter.to_model(),
            rng("jitter"),
        )
        self.flows: dict[FlowKey, int] = {}
        self._flow_of: dict[int, int] = {}  # flow of each packet in the queue, by handle
        rohc, framing = segment.framing()
        self._framing = None if rohc is None and framing is None else (rohc, framing)

    def carried_bytes(self, packet: IpPacket) -> int:
        """What the hop's link and queue count for ``packet``: its IP size, or with the
        segment's ROHC (RTP packets only: profile 1) and link framing, as the simulator."""
        if self._framing is None:
            return packet.wire_bytes
        rohc, framing = self._framing
        version = IpVersion(packet.version)
        plain = Overhead(ip_version=version)
        here = Overhead(
            ip_version=version, rohc=rohc if packet.rtp is not None else None, link=framing
        )
        return wire_bytes_per_packet(packet.wire_bytes - header_bytes(0, plain).total, here)

    @property
    def queued(self) -> bool:
        """Whether packets wait in a queue that decides later (``offer``/``release``)."""
        return self.stepper is not None

    def flow_id(self, key: FlowKey) -> int:
        """The small int naming the flow of 5-tuple ``key`` (numbered as first seen)."""
        flow = self.flows.get(key)
        if flow is None:
            flow = self.flows[key] = len(self.flows)
        return flow

    def _lost_on_medium(self, flow: IntArray) -> NDArray[np.bool_]:
        if isinstance(self.loss, GilbertElliott):
            needed = int(flow.max()) + 1 if flow.size else 0
            if needed > self._channel_state.size:
                grown = np.full(max(needed, 2 * self._channel_state.size), -1, dtype=np.int8)
                grown[: self._channel_state.size] = self._channel_state
                self._channel_state = grown
            return self.loss.lost(flow, self.loss_rng, self._channel_state)
        return self.loss.lost(flow.size, self.loss_rng)

    def process(self, arrive_s: FloatArray, wire_bytes: IntArray, flow: IntArray) -> Fates:
        """Fates of packets reaching the segment at ``arrive_s`` (in that order)."""
        self._refuse_queued("process")
        n = arrive_s.size
        depart_s = np.array(arrive_s, dtype=np.float64)
        reason = np.full(n, -1, dtype=np.int64)
        alive = np.arange(n)
        if self.link is not None:
            served = self.link.process(depart_s, wire_bytes)
            depart_s = served.depart_s
            reason[served.dropped] = _QUEUE
            alive = alive[~served.dropped]
        extra_s: FloatArray | None = None  # HARQ retransmission delay
        if self.harq is not None:
            outcome = self.harq.outcome(alive.size, self.harq_rng)
            extra_s = self.harq.extra_delay_s(outcome)[~outcome.failed]
            reason[alive[outcome.failed]] = _HARQ
            alive = alive[~outcome.failed]
        lost = self._lost_on_medium(flow[alive])
        if extra_s is not None:
            extra_s = extra_s[~lost]
        reason[alive[lost]] = _CHANNEL
        alive = alive[~lost]
        enter_s = depart_s[alive] if extra_s is None else depart_s[alive] + extra_s
        depart_s[alive] = self.delay.process(enter_s, flow[alive])
        depart_s[reason >= 0] = np.nan
        return Fates(depart_s, reason)

    def decide(self, arrive_s: float, wire_bytes: int, flow: int) -> tuple[float, int]:
        """``process`` for one packet, with fewer array operations (the idle link's path):
        (leave time, -1) or (NaN, drop reason code)."""
        self._refuse_queued("decide")
        depart_s = arrive_s
        if self.link is not None:
            served = self.link.process(np.array([arrive_s]), np.array([wire_bytes]))
            if served.dropped[0]:
                return math.nan, _QUEUE
            depart_s = float(served.depart_s[0])
        return self._behind_queue(depart_s, flow)

    def _behind_queue(self, depart_s: float, flow: int) -> tuple[float, int]:
        """HARQ, loss, then delay and jitter for a packet leaving the queue at ``depart_s``."""
        if self.harq is not None:
            outcome = self.harq.outcome(1, self.harq_rng)
            if outcome.failed[0]:
                return math.nan, _HARQ
            depart_s += float(self.harq.extra_delay_s(outcome)[0])
        if isinstance(self.loss, GilbertElliott):
            lost = bool(self._lost_on_medium(np.array([flow], dtype=np.int64))[0])
        else:
            lost = self.loss.ratio > 0.0 and bool(self.loss.lost(1, self.loss_rng)[0])
        if lost:
            return math.nan, _CHANNEL
        return self.delay.leave(depart_s, flow), -1

    def admit(self, arrive_s: float, frame: bytes) -> Fate:
        """The fate of one frame's IP packet arriving at ``arrive_s``."""
        packet = parse_frame(frame)
        if packet is None:
            raise ValueError("the frame carries no IP packet")
        depart_s, code = self.decide(
            arrive_s, self.carried_bytes(packet), self.flow_id(packet.flow_key)
        )
        return Fate(depart_s, None if code < 0 else DROP_REASONS[code])

    def offer(self, arrive_s: float, wire_bytes: int, flow: int, dscp: int, ecn: int) -> int:
        """Put a packet (its DSCP and ECN field as it arrived) in the queue; its handle.

        Its class is that of its DSCP after bleaching (``models.queue.dscp_class``); it is
        ECN-capable unless its ECN field is not-ECT (RFC 3168 section 5).
        """
        stepper = self._stepper("offer")
        klass = int(dscp_class(np.array([0 if self.bleach_dscp else dscp]))[0])
        handle = stepper.arrive(arrive_s, wire_bytes, klass, ecn != 0)
        self._flow_of[handle] = flow
        return handle

    def release(self, now_s: float) -> list[Release]:
        """Serve the queue up to ``now_s``: the packets it let go of since the last call
        (sent or dropped), each with its fate after the stages behind the queue."""
        released = []
        for departure in self._stepper("release").serve_until(now_s):
            flow = self._flow_of.pop(departure.handle)
            if departure.fate == QueueFate.SENT:
                depart_s, code = self._behind_queue(departure.depart_s, flow)
            else:
                depart_s = math.nan
                code = _QUEUE if departure.fate == QueueFate.OVERFLOW else _AQM
            released.append(Release(departure.handle, depart_s, code, departure.ce))
        return released

    def next_event_s(self) -> float:
        """When ``release`` next has something to do (inf: not before the next ``offer``)."""
        return math.inf if self.stepper is None else self.stepper.next_event_s()

    def _stepper(self, what: str) -> QueueStepper:
        if self.stepper is None:
            raise TypeError(f"{what}: this segment's queue decides at arrival; use decide")
        return self.stepper

    def _refuse_queued(self, what: str) -> None:
        if self.stepper is not None:
            raise TypeError(f"{what}: this segment's queue decides later; use offer and release")


def check_supported(segment: Segment, direction: str) -> None:
    """Refuse what the one-packet-at-a-time link cannot run: greedy bulk cross traffic.

    The simulator runs bulk flows inside one batch that ends with the segment's last
    packet of the run, and draws PIE's numbers for their segments after the calls'; a
    link deciding as packets come knows neither.
    """
    bulk = [
        source
        for source in segment.cross_traffic
        if source.applies_to(direction) and source.kind is CrossTrafficKind.BULK
    ]
    if bulk:
        raise UnsupportedSegment(
            f"segment {segment.name!r} ({direction}): the userspace link does not run "
            "bulk (TCP-like) cross traffic yet; cbr and onoff cross traffic it does"
        )
