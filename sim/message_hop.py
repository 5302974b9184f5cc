"""One path segment in one direction, for signalling messages carried one at a time.

A ``MessageHop`` wraps the ``SegmentStages`` that ``sim.message_path`` builds
for one segment and direction: a message meets the drop-tail link (when the
segment has a capacity or a trace), then the stages behind it. Where those
stages are loss on the medium without memory (``Bernoulli``) and the delay
with its jitter, the hop takes their random numbers in blocks of ``BLOCK``
from the stages' own streams (``Bernoulli.lost``, ``DelayStage.draw_jitter``)
and hands them out one message at a time: numpy's generators give the same
numbers drawn in blocks as one at a time, so each message meets the fate and
the jitter ``SegmentStages.behind_queue_one`` would give it, for a fraction
of the calls into numpy. A segment with HARQ or Gilbert-Elliott loss is
carried by ``behind_queue_one`` itself.

Each hop owns its stages: no other caller draws from their streams.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from voipbed.models.link import RateLink, TraceLink
from voipbed.models.loss import Bernoulli
from voipbed.models.overhead import Overhead
from voipbed.segment_stages import SegmentStages

__all__ = ["BLOCK", "MessageHop"]

BLOCK = 1024  # draws taken from a stream at once


def _one_by_one(draw: Callable[[int], NDArray[Any]]) -> Iterator[Any]:
    """What ``draw(BLOCK)`` gives, block after block, one number at a time."""
    blocks: Iterator[list[Any]] = iter(lambda: draw(BLOCK).tolist(), None)  # a list is not None
    return itertools.chain.from_iterable(blocks)


class MessageHop:
    """One segment in one direction for the messages of many UEs, one at a time."""

    __slots__ = (
        "_delay_s",
        "_end_to_end",
        "_fates",
        "_in_sequence",
        "_jitter",
        "_last_leave_s",
        "_link",
        "stages",
    )

    def __init__(self, stages: SegmentStages, end_to_end: Overhead) -> None:
        self.stages = stages
        self._end_to_end = end_to_end
        self._link = stages.link
        self._delay_s = stages.delay.delay_s
        self._in_sequence = not stages.delay.jitter.reorder
        self._last_leave_s: dict[int, float] = {}  # per UE, while in sequence
        self._fates: Iterator[bool] | None = None  # None: the stages draw one at a time
        self._jitter: Iterator[float] = iter(())
        loss = stages.loss
        if stages.harq is None and isinstance(loss, Bernoulli):
            rng = stages.loss_rng
            self._fates = _one_by_one(lambda count: loss.lost(count, rng))
            self._jitter = _one_by_one(stages.delay.draw_jitter)

    def carry(self, ue: int, time_s: float, ip_bytes: int) -> float:
        """When UE ``ue``'s message of ``ip_bytes`` reaching the segment at ``time_s``
        leaves it; NaN when the segment loses it."""
        link = self._link
        if link is not None:
            time_s = self._through_link(link, time_s, ip_bytes)
            if math.isnan(time_s):
                return time_s
        fates = self._fates
        if fates is None:
            leave_s, code = self.stages.behind_queue_one(time_s, ue)
            return math.nan if code >= 0 else leave_s
        # behind_queue_one from the blocks: the loss draw, then the jitter draw
        if next(fates):
            return math.nan
        leave_s = time_s + self._delay_s + next(self._jitter)
        if self._in_sequence:  # DelayStage: no message leaves before the UE's one before it
            last_s = self._last_leave_s.get(ue, -math.inf)
            if leave_s < last_s:
                return last_s
            self._last_leave_s[ue] = leave_s
        return leave_s

    def _through_link(self, link: TraceLink | RateLink, time_s: float, ip_bytes: int) -> float:
        """When the message leaves the drop-tail link; NaN when its queue drops it."""
        carried = self.stages.carried_bytes_one(ip_bytes, self._end_to_end, rtp=False)
        served = link.process(np.array([time_s]), np.array([carried], dtype=np.int64))
        return math.nan if served.dropped[0] else float(served.depart_s[0])
