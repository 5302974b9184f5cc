"""One direction of one path segment, deciding real packets' fates with the simulator's models.

:class:`DirectionChain` drives a segment's stages in one direction
(``voipbed.segment_stages``: the simulator's stages, in its order, with its
random streams) one real packet at a time, or a few together: DSCP bleaching,
the queue and link (constant rate or Mahimahi trace, counting the segment's
ROHC and link framing), HARQ, loss, then one-way delay and jitter (in
sequence per flow). A packet sequence thus gets the same departures and drop
reasons in both engines.

A drop-tail FIFO queue decides each packet's departure when it arrives. A
queue with an AQM (CoDel, PIE), DSCP scheduling or cross traffic decides as
time passes (``models.queue_stepper``): unresponsive cross traffic is drawn as
the simulator draws it, and greedy bulk (TCP-like) flows run inside the
queue's event loop on the link's clock, their segments and feedback simulated
(no frames). The forwarder in ``link`` feeds it frames; this module knows no
sockets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from voipbed.emulation.frames import FlowKey, IpPacket, parse_frame
from voipbed.metric_names import DropReason
from voipbed.models.overhead import IpVersion, Overhead
from voipbed.models.queue import Fate as QueueFate
from voipbed.models.queue import dscp_class
from voipbed.models.queue_stepper import QueueStepper
from voipbed.scenario import Segment
from voipbed.segment_stages import SegmentStages
from voipbed.trace import DIRECTIONS

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

DEFAULT_RUN_END_S = 3600.0  # cross traffic's end when the run's is not given
# RTP/UDP/IP headers end to end, by IP version: what an RTP packet's size counts
_IP_HEADERS: dict[int, Overhead] = {int(v): Overhead(ip_version=v) for v in IpVersion}


class UnsupportedSegment(NotImplementedError):
    """A segment feature the one-packet-at-a-time link cannot run yet; names both."""


class Fate(NamedTuple):
    """What the link does to one packet: when it leaves (NaN if dropped), and why it is lost."""

    depart_s: float
    reason: str | None


@dataclass(frozen=True)
class Fates:
    """Per packet: leave time (NaN when dropped) and drop reason (a DropReason code, -1)."""

    depart_s: FloatArray
    reason: IntArray


class Release(NamedTuple):
    """A packet the queue let go of (``DirectionChain.release``), with its fate after the
    stages behind the queue: when it leaves the segment (NaN if lost), and why it is lost."""

    handle: int  # what ``offer`` returned
    depart_s: float
    reason: int  # a DropReason code, -1 when delivered
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
        check_supported(segment, direction)
        end_s = DEFAULT_RUN_END_S if run_end_s is None else run_end_s
        self.stages = SegmentStages.build(segment, direction, seed, end_s)
        self.name = segment.name
        self.direction = direction
        queueing = self.stages.queueing
        self.stepper: QueueStepper | None = None
        if queueing is not None:
            self.stepper = QueueStepper(
                queueing, self.stages.queue_rng, self.stages.cross, bulk=self.stages.bulk
            )
        self.flows: dict[FlowKey, int] = {}
        self._flow_of: dict[int, int] = {}  # flow of each packet in the queue, by handle

    def carried_bytes(self, packet: IpPacket) -> int:
        """What the hop's link and queue count for ``packet``: its IP size, or with the
        segment's ROHC (RTP packets only: profile 1) and link framing, as the simulator."""
        return self.stages.carried_bytes_one(
            packet.wire_bytes, _IP_HEADERS[packet.version], rtp=packet.rtp is not None
        )

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

    def process(self, arrive_s: FloatArray, wire_bytes: IntArray, flow: IntArray) -> Fates:
        """Fates of packets reaching the segment at ``arrive_s`` (in that order)."""
        self._refuse_queued("process")
        depart_s = np.array(arrive_s, dtype=np.float64)
        reason = np.full(arrive_s.size, -1, dtype=np.int64)
        alive = np.arange(arrive_s.size)
        link = self.stages.link
        if link is not None:
            served = link.process(depart_s, wire_bytes)
            depart_s = served.depart_s
            reason[served.dropped] = DropReason.QUEUE
            alive = alive[~served.dropped]
        behind = self.stages.behind_queue(depart_s[alive], flow[alive])
        reason[alive[behind.lost]] = behind.reason
        depart_s[np.delete(alive, behind.lost)] = behind.depart_s
        depart_s[reason >= 0] = np.nan
        return Fates(depart_s, reason)

    def decide(self, arrive_s: float, wire_bytes: int, flow: int) -> tuple[float, int]:
        """``process`` for one packet, with fewer array operations (the idle link's path):
        (leave time, -1) or (NaN, drop reason code)."""
        self._refuse_queued("decide")
        depart_s = arrive_s
        link = self.stages.link
        if link is not None:
            served = link.process(np.array([arrive_s]), np.array([wire_bytes]))
            if served.dropped[0]:
                return math.nan, DropReason.QUEUE
            depart_s = float(served.depart_s[0])
        return self.stages.behind_queue_one(depart_s, flow)

    def admit(self, arrive_s: float, frame: bytes) -> Fate:
        """The fate of one frame's IP packet arriving at ``arrive_s``."""
        packet = parse_frame(frame)
        if packet is None:
            raise ValueError("the frame carries no IP packet the models carry (ARP, ND)")
        depart_s, code = self.decide(
            arrive_s, self.carried_bytes(packet), self.flow_id(packet.flow_key)
        )
        return Fate(depart_s, None if code < 0 else DropReason(code).label)

    def offer(self, arrive_s: float, wire_bytes: int, flow: int, dscp: int, ecn: int) -> int:
        """Put a packet (its DSCP and ECN field as it arrived) in the queue; its handle.

        Its class is that of its DSCP after bleaching (``models.queue.dscp_class``); it is
        ECN-capable unless its ECN field is not-ECT (RFC 3168 section 5).
        """
        stepper = self._stepper("offer")
        klass = int(dscp_class(np.array([0 if self.stages.bleach_dscp else dscp]))[0])
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
                depart_s, code = self.stages.behind_queue_one(departure.depart_s, flow)
            else:
                depart_s = math.nan
                overflow = departure.fate == QueueFate.OVERFLOW
                code = DropReason.QUEUE if overflow else DropReason.AQM
            released.append(Release(departure.handle, depart_s, code, departure.ce))
        return released

    def next_event_s(self) -> float:
        """When ``release`` may next let a packet go (inf: not before the next ``offer``):
        the queue's next service event (``QueueStepper.next_service_s``). Cross traffic's
        arrivals and the bulk flows' events need no wake of their own: the next ``release``
        or ``offer`` runs them in time order first, with the same outcomes."""
        return math.inf if self.stepper is None else self.stepper.next_service_s()

    def cross_traffic_totals(self) -> dict[str, int]:
        """The cross traffic through this direction's queue so far: background packets
        offered and dropped, and the bulk flows' segments sent, delivered (and their bytes),
        dropped and marked CE (the simulator's ``queue_stats`` names); empty without a queue
        that decides later."""
        if self.stepper is None:
            return {}
        bulk = self.stepper.bulk_stats()
        return {
            "offered": self.stepper.background_offered,
            "dropped": self.stepper.background_dropped,
            "bulk_flows": int(bulk.sent.size),
            "bulk_sent": int(bulk.sent.sum()),
            "bulk_delivered_bytes": int(bulk.delivered_bytes.sum()),
            "bulk_dropped": int(bulk.dropped.sum()),
            "bulk_marked": int(bulk.marked.sum()),
        }

    def _stepper(self, what: str) -> QueueStepper:
        if self.stepper is None:
            raise TypeError(f"{what}: this segment's queue decides at arrival; use decide")
        return self.stepper

    def _refuse_queued(self, what: str) -> None:
        if self.stepper is not None:
            raise TypeError(f"{what}: this segment's queue decides later; use offer and release")


def check_supported(segment: Segment, direction: str) -> None:
    """Refuse what the one-packet-at-a-time link cannot run, raising ``UnsupportedSegment``
    with the segment, the direction and the feature; the engine asks it of every segment
    and direction before it builds anything.

    It refuses nothing: every segment feature runs in the link (queues deciding at arrival
    or as time passes, unresponsive and bulk cross traffic, traces and rate steps, HARQ,
    loss, delay and jitter).
    """
    del segment, direction
