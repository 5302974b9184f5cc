"""The path as a chain of stateful stages, one link per segment and direction.

Uplink crosses ``scenario.path`` in order, downlink in reverse. Within a
segment a packet meets, in this order: the queue and link (capacity or
trace; a packet later lost on the medium still used the link), HARQ
(retransmissions delay it, exhausting them loses it), loss, then the
one-way delay and jitter, which also keeps each flow in sequence so that
HARQ and jitter reorder only where the scenario allows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from voipbed.models.link import QueueLimit, RateLink, TraceLink
from voipbed.models.loss import GilbertElliott
from voipbed.rng import component_rng
from voipbed.scenario import Segment
from voipbed.sim.stages import BoolArray, DelayStage, FloatArray, IntArray
from voipbed.traces import read_schedule

__all__ = ["DROP_REASONS", "DirectionResult", "SegmentLink", "run_direction"]

# Why a packet was lost: the trace's ``drop_reason`` category, in this order.
DROP_REASONS = ("queue", "harq", "channel")
_QUEUE, _HARQ, _CHANNEL = range(len(DROP_REASONS))


class SegmentLink:
    """One segment in one direction: its stages, each with its own random stream."""

    def __init__(self, segment: Segment, direction: str, seed: int) -> None:
        def rng(stage: str) -> np.random.Generator:
            return component_rng(seed, f"path/{segment.name}/{direction}/{stage}")

        self.name = segment.name
        limit = QueueLimit(
            segment.queue.limit_packets,
            None if segment.queue.limit_bytes is None else int(segment.queue.limit_bytes),
        )
        trace = segment.trace_for(direction)
        self.link: TraceLink | RateLink | None = None
        if trace is not None:
            self.link = TraceLink(read_schedule(Path(trace)), limit)
        elif segment.capacity_bps is not None:
            self.link = RateLink(segment.capacity_bps, limit)
        self.harq = segment.harq.to_model() if segment.harq is not None else None
        self.harq_rng = rng("harq")
        self.loss = segment.loss.to_model()
        self.loss_rng = rng("loss")
        self.channel_state = np.full(0, -1, dtype=np.int8)  # Gilbert-Elliott state per flow
        self.delay = DelayStage(segment.one_way_delay_s, segment.jitter, rng("jitter"))

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


@dataclass(frozen=True)
class DirectionResult:
    """Per packet, in the caller's order: receive time (NaN if lost), losing hop and reason."""

    recv_s: FloatArray
    lost_at: IntArray  # hop index, -1 when delivered
    drop_reason: IntArray  # index into DROP_REASONS, -1 when delivered


def run_direction(
    links: list[SegmentLink], send_s: FloatArray, flow: IntArray, wire_bytes: IntArray
) -> DirectionResult:
    """Carry one direction's packets (by send time, ties in sender order) across ``links``."""
    time_s = send_s.astype(np.float64, copy=True)
    lost_at = np.full(send_s.size, -1, dtype=np.int64)
    reason = np.full(send_s.size, -1, dtype=np.int64)
    alive = np.arange(send_s.size)  # indices in flight, in order of arrival at the next stage

    def drop(mask: NDArray[np.bool_], hop: int, why: int) -> NDArray[np.int64]:
        lost_at[alive[mask]] = hop
        reason[alive[mask]] = why
        return alive[~mask]

    for hop, segment in enumerate(links):
        alive = alive[np.argsort(time_s[alive], kind="stable")]
        if segment.link is not None:
            served = segment.link.process(time_s[alive], wire_bytes[alive])
            time_s[alive] = served.depart_s
            alive = drop(served.dropped, hop, _QUEUE)
        extra_s = np.zeros(alive.size)
        if segment.harq is not None:
            outcome = segment.harq.outcome(alive.size, segment.harq_rng)
            extra_s = segment.harq.extra_delay_s(outcome)[~outcome.failed]
            alive = drop(outcome.failed, hop, _HARQ)
        lost = segment.lost_on_medium(flow[alive])
        extra_s = extra_s[~lost]
        alive = drop(lost, hop, _CHANNEL)
        time_s[alive] = segment.delay.process(time_s[alive] + extra_s, flow[alive]).time_s
    recv_s = np.full(send_s.size, np.nan)
    recv_s[alive] = time_s[alive]
    return DirectionResult(recv_s, lost_at, reason)
