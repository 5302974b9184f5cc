"""One path segment in one direction as its stages, built once for both engines.

``SegmentStages.build`` turns a ``Segment`` into the stages a packet meets on
it, in this order: DSCP bleaching (if the segment remarks), the queue and
link, HARQ (retransmissions delay a packet, exhausting them loses it), loss
on the medium, then the one-way delay and jitter, which also keep each flow
in sequence unless the jitter may reorder. Each stage draws from its own
random stream, ``path/{segment}/{direction}/{stage}``, so one stage's draws
never depend on another's.

The queue stage is one of three:

- none: a segment with neither a capacity (constant or in steps) nor a trace
  has no queue;
- ``link``: a drop-tail FIFO (``RateLink`` at a constant rate or at the rates
  of ``capacity_steps``, or ``TraceLink`` on a Mahimahi trace, with its
  ``QueueLimit``) that decides each packet's departure when it arrives;
- ``queueing``: a ``QueueingLink`` (an AQM, DSCP scheduling or cross traffic)
  that decides as time passes, shared with the cross traffic's arrivals
  (``cross``) and greedy bulk flows (``bulk``).

The simulator's batch path (``sim.path``) and the emulation's per-frame chain
(``emulation.link_chain``) drive the same stages: each serves its packets
through the queue stage its own way, then hands what left the queue to
``behind_queue`` (a batch) or ``behind_queue_one`` (one packet), which draw
the same numbers in the same order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from voipbed.cross_traffic import bulk_flows, unresponsive_arrivals
from voipbed.metric_names import DropReason
from voipbed.models.delay import DelayStage
from voipbed.models.link import QueueLimit, RateLink, TraceLink
from voipbed.models.loss import Bernoulli, GilbertElliott, Harq
from voipbed.models.overhead import (
    Link,
    Overhead,
    Rohc,
    bytes_on_segment,
    header_bytes,
    wire_bytes_per_packet,
)
from voipbed.models.queue import BulkFlow, QueueingLink, Scheduling
from voipbed.models.queue_stepper import Background
from voipbed.models.rate_steps import RateSteps
from voipbed.rng import component_rng
from voipbed.scenario import Segment

__all__ = ["BehindQueue", "QueueFacts", "SegmentStages"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

_NONE: IntArray = np.empty(0, dtype=np.int64)  # no packet lost
_NONE.setflags(write=False)


class BehindQueue(NamedTuple):
    """What the stages behind the queue did to a batch of packets: the positions in the
    batch of those lost, with the ``DropReason`` code of each, and when each of the others
    leaves the segment, in their order."""

    lost: IntArray
    reason: IntArray
    depart_s: FloatArray  # of the packets not lost


@dataclass(frozen=True)
class QueueFacts:
    """How a segment's queue is configured, as its ``queue_stats`` event tells it."""

    rate_bps: float | None  # the constant rate; None on a trace-driven or stepped link
    limit_packets: int | None
    limit_bytes: int | None
    aqm: str
    scheduling: str

    def fields(self) -> dict[str, Any]:
        """The facts as event fields."""
        return {
            "rate_bps": self.rate_bps,
            "limit_packets": self.limit_packets,
            "limit_bytes": self.limit_bytes,
            "aqm": self.aqm,
            "scheduling": self.scheduling,
        }


@dataclass(eq=False)
class SegmentStages:
    """One segment's stages in one direction, each with its own random stream.

    The stages keep their state (the link's backlog and trace position, each
    flow's channel state and last delivery, the random streams' positions) from
    one call to the next, so packets may come in batches of any size, in
    arrival order.
    """

    name: str
    direction: str
    bleach_dscp: bool
    link: TraceLink | RateLink | None  # drop-tail FIFO, deciding at arrival
    queueing: QueueingLink | None  # deciding as time passes (AQM, scheduling, cross traffic)
    queue_rng: np.random.Generator  # the queueing link's draws (PIE, bulk flows)
    cross: Background  # unresponsive cross traffic's arrivals, drawn up to the run's end
    bulk: tuple[BulkFlow, ...]  # greedy cross traffic, run by the queueing link
    harq: Harq | None
    harq_rng: np.random.Generator
    loss: Bernoulli | GilbertElliott
    loss_rng: np.random.Generator
    delay: DelayStage  # one-way delay and jitter, with its own stream
    facts: QueueFacts
    configured_queue: bool  # a limit, an AQM, DSCP scheduling or cross traffic
    rohc: Rohc | None  # header compression of this hop (RTP packets)
    framing: Link  # link-layer framing of this hop
    _channel_state: NDArray[np.int8] = field(
        default_factory=lambda: np.full(0, -1, dtype=np.int8), init=False, repr=False
    )  # Gilbert-Elliott state per flow: -1 before its first packet, then 0 good, 1 bad
    _headers: dict[tuple[Overhead, bool], tuple[int, Overhead]] = field(
        default_factory=dict, init=False, repr=False
    )  # by (end-to-end headers, RTP or not): their bytes, and the headers on this hop

    @classmethod
    def build(
        cls,
        segment: Segment,
        direction: str,
        seed: int,
        run_end_s: float,
        *,
        streams: str = "path",
    ) -> SegmentStages:
        """The stages of ``segment`` in ``direction`` for a run with ``seed`` that ends at
        ``run_end_s`` (the cross traffic is drawn up to then); their random streams are
        named ``{streams}/{segment}/{direction}/{stage}``."""

        def rng(stage: str) -> np.random.Generator:
            return component_rng(seed, f"{streams}/{segment.name}/{direction}/{stage}")

        queue = segment.queue
        limit = QueueLimit(
            queue.limit_packets, None if queue.limit_bytes is None else int(queue.limit_bytes)
        )
        schedule = segment.schedule_for(direction)
        steps = segment.rate_steps()
        constant = segment.capacity_bps if schedule is None and steps is None else None
        rate: float | RateSteps | None = steps if steps is not None else constant
        sources = tuple(s for s in segment.cross_traffic if s.applies_to(direction))
        link: TraceLink | RateLink | None = None
        queueing: QueueingLink | None = None
        if queue.is_plain_droptail and not sources:
            if schedule is not None:
                link = TraceLink(schedule, limit)
            elif rate is not None:
                link = RateLink(rate, limit)
        else:
            queueing = QueueingLink(
                discipline=queue.aqm.to_model(),
                scheduling=Scheduling[queue.scheduling.name],
                weights=queue.weights,
                limit_packets=limit.packets,
                limit_bytes=limit.bytes,
                rate_bps=rate,
                schedule=schedule,
            )
        limited = limit.packets is not None or limit.bytes is not None
        rohc, framing = segment.framing()
        return cls(
            name=segment.name,
            direction=direction,
            bleach_dscp=segment.bleach_dscp,
            link=link,
            queueing=queueing,
            queue_rng=rng("queue"),
            cross=unresponsive_arrivals(sources, run_end_s, rng("cross_traffic")),
            bulk=bulk_flows(sources, run_end_s),
            harq=segment.harq.to_model() if segment.harq is not None else None,
            harq_rng=rng("harq"),
            loss=segment.loss.to_model(),
            loss_rng=rng("loss"),
            delay=DelayStage(segment.one_way_delay_s, segment.jitter.to_model(), rng("jitter")),
            facts=QueueFacts(
                rate_bps=constant,
                limit_packets=limit.packets,
                limit_bytes=limit.bytes,
                aqm=queue.aqm.kind,
                scheduling=queue.scheduling.value,
            ),
            configured_queue=limited or not queue.is_plain_droptail or bool(sources),
            rohc=rohc,
            framing=framing,
        )

    @property
    def has_queue(self) -> bool:
        """Whether packets pass a queue and link (a capacity or a trace)."""
        return self.link is not None or self.queueing is not None

    def carried_bytes(
        self, ip_bytes: IntArray, end_to_end: Overhead, *, rtp: bool = True
    ) -> IntArray:
        """What the link and queue carry for IP packets of ``ip_bytes``, whose headers
        ``end_to_end`` describes: this hop's ROHC in place of RTP/UDP/IP (on RTP packets
        only: profile 1) and its link framing (on every packet)."""
        here = self._here(end_to_end, rtp)
        if here is None:
            return ip_bytes
        return bytes_on_segment(ip_bytes, end_to_end, here[1])

    def carried_bytes_one(self, ip_bytes: int, end_to_end: Overhead, *, rtp: bool) -> int:
        """``carried_bytes`` of one packet."""
        here = self._here(end_to_end, rtp)
        if here is None:
            return ip_bytes
        headers, overhead = here
        return wire_bytes_per_packet(ip_bytes - headers, overhead)

    def _here(self, end_to_end: Overhead, rtp: bool) -> tuple[int, Overhead] | None:
        """``end_to_end``'s header bytes and the headers as this hop carries them; None
        when the hop carries IP packets as they are."""
        rohc = self.rohc if rtp else None
        if rohc is None and self.framing is None:
            return None
        key = (end_to_end, rtp)
        here = self._headers.get(key)
        if here is None:
            here = (
                header_bytes(0, end_to_end).total,
                replace(end_to_end, rohc=rohc, link=self.framing),
            )
            self._headers[key] = here
        return here

    def lost_on_medium(self, flow: IntArray) -> BoolArray:
        """Loss decisions for packets of ``flow``, in the order they reach the medium."""
        if isinstance(self.loss, GilbertElliott):
            state = self._channel_state
            needed = int(flow.max()) + 1 if flow.size else 0
            if needed > state.size:
                grown = np.full(max(needed, 2 * state.size), -1, dtype=np.int8)
                grown[: state.size] = state
                self._channel_state = grown
            return self.loss.lost(flow, self.loss_rng, self._channel_state)
        return self.loss.lost(flow.size, self.loss_rng)

    def behind_queue(self, leave_s: FloatArray, flow: IntArray) -> BehindQueue:
        """HARQ, loss, then delay and jitter for packets of ``flow`` leaving the queue
        (or reaching a hop without one) at ``leave_s``, in that order."""
        enter_s = leave_s  # into the delay stage
        kept: IntArray | None = None  # the packets not lost so far; None: all of them
        lost: list[IntArray] = []
        reasons: list[IntArray] = []
        if self.harq is not None:
            outcome = self.harq.outcome(leave_s.size, self.harq_rng)
            enter_s = leave_s + self.harq.extra_delay_s(outcome)  # retransmissions
            if outcome.failed.any():
                kept = np.flatnonzero(~outcome.failed)
                lost.append(np.flatnonzero(outcome.failed))
                reasons.append(np.full(lost[-1].size, DropReason.HARQ, dtype=np.int64))
        on_medium = self.lost_on_medium(flow if kept is None else flow[kept])
        if on_medium.any():
            if kept is None:
                lost.append(np.flatnonzero(on_medium))
                kept = np.flatnonzero(~on_medium)
            else:
                lost.append(kept[on_medium])
                kept = kept[~on_medium]
            reasons.append(np.full(lost[-1].size, DropReason.CHANNEL, dtype=np.int64))
        if kept is None:
            depart_s = self.delay.process(enter_s, flow)
        else:
            depart_s = self.delay.process(enter_s[kept], flow[kept])
        if not lost:
            return BehindQueue(_NONE, _NONE, depart_s)
        return BehindQueue(np.concatenate(lost), np.concatenate(reasons), depart_s)

    def behind_queue_one(self, leave_s: float, flow: int) -> tuple[float, int]:
        """``behind_queue`` for one packet, with fewer array operations: (leave time, -1)
        or (NaN, drop reason code)."""
        if self.harq is not None:
            outcome = self.harq.outcome(1, self.harq_rng)
            if outcome.failed[0]:
                return math.nan, DropReason.HARQ
            leave_s += float(self.harq.extra_delay_s(outcome)[0])
        if isinstance(self.loss, GilbertElliott):
            lost = bool(self.lost_on_medium(np.array([flow], dtype=np.int64))[0])
        else:
            lost = self.loss.lost_one(self.loss_rng)
        if lost:
            return math.nan, DropReason.CHANNEL
        return self.delay.leave(leave_s, flow), -1
