"""The path as a chain of stateful stages, one link per segment and direction.

Uplink crosses ``scenario.path`` in order, downlink in reverse. Within a
segment a packet meets, in this order: the FIFO link (serialization at the
segment's capacity; a packet lost on the medium still used its air time),
Bernoulli loss, then the one-way delay and jitter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from voipbed.rng import component_rng
from voipbed.scenario import Segment
from voipbed.sim.stages import BernoulliLoss, BoolArray, DelayStage, FifoLink, FloatArray, IntArray

__all__ = ["DirectionResult", "SegmentLink", "run_direction"]


class SegmentLink:
    """One segment in one direction: its link, loss and delay stages with their own streams."""

    def __init__(self, segment: Segment, direction: str, seed: int) -> None:
        prefix = f"path/{segment.name}/{direction}"
        self.name = segment.name
        self.link = FifoLink(segment.capacity_bps) if segment.capacity_bps else None
        self.loss = BernoulliLoss(segment.loss_ratio, component_rng(seed, f"{prefix}/loss"))
        self.delay = DelayStage(
            segment.one_way_delay_s, segment.jitter, component_rng(seed, f"{prefix}/jitter")
        )


@dataclass(frozen=True)
class DirectionResult:
    """Per packet, in the caller's order: receive time (NaN if lost), losing hop (-1: none)."""

    recv_s: FloatArray
    lost_at: IntArray


def run_direction(
    links: list[SegmentLink], send_s: FloatArray, flow: IntArray, wire_bytes: IntArray
) -> DirectionResult:
    """Carry one direction's packets (by send time, ties in sender order) across ``links``."""
    time_s = send_s.astype(np.float64, copy=True)
    lost_at = np.full(send_s.size, -1, dtype=np.int64)
    alive = np.arange(send_s.size)  # indices in flight, in order of arrival at the next stage
    for index, segment in enumerate(links):
        alive = alive[np.argsort(time_s[alive], kind="stable")]
        if segment.link is not None:
            time_s[alive] = segment.link.process(time_s[alive], wire_bytes[alive]).time_s
        dropped: BoolArray = segment.loss.process(time_s[alive]).lost
        lost_at[alive[dropped]] = index
        alive = alive[~dropped]
        time_s[alive] = segment.delay.process(time_s[alive], flow[alive]).time_s
    recv_s = np.full(send_s.size, np.nan)
    recv_s[alive] = time_s[alive]
    return DirectionResult(recv_s, lost_at)
