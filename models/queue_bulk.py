"""Greedy TCP-like bulk flows that the queue's event loop runs beside the given packets.

Each flow is Reno AIMD (RFC 5681): it starts with a window of 10 segments
(RFC 6928), grows by one segment per ACK in slow start and by 1/cwnd per ACK
after, and halves at most once per round trip when a segment it sent is
dropped or comes back marked CE. What it hears about a segment (``Feedback``)
waits in the flow's ring until ``rtt_s`` (the round trip outside the queue)
after the segment left the link or was dropped. A flow sends until its
``stop_s`` or the run's end. Its segments take the next free packet slots; the
event loop stops before a flow's event that could need more slots, draws or
ring entries than there are, and its caller makes room (``wider_ring`` for the
ring). What became of the segments is tallied as they settle (``new_tally``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from voipbed.models._jit import inline_kernel
from voipbed.models.queue_codes import (
    BULK_ROOM_EXTRA,
    BULK_ROOM_FACTOR,
    MTU_BYTES,
    Fate,
    Feedback,
    TrafficClass,
)

__all__ = [
    "DELIVERED",
    "DELIVERED_BYTES",
    "DROPPED",
    "MARKED",
    "BulkFlow",
    "BulkStats",
    "Flows",
    "bulk_room",
    "bulk_stats",
    "hear",
    "most_sent",
    "new_flows",
    "new_tally",
    "next_bulk_event",
    "send_allowed",
    "tally_slots",
    "tell",
    "wider_ring",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

INITIAL_WINDOW = 10.0  # segments, RFC 6928
_MIN_SSTHRESH = 2.0  # segments, RFC 5681 equation (4)
_NO_SSTHRESH = 1e9  # slow start until the first loss

# Rows of a tally (``new_tally``): per flow, segments settled delivered, dropped, marked CE,
# and the bytes delivered.
DELIVERED, DROPPED, MARKED, DELIVERED_BYTES = range(4)


@dataclass(frozen=True)
class BulkFlow:
    """A greedy TCP-like flow through the queue: Reno AIMD (RFC 5681) on drops and CE marks.

    It starts with 10 segments (RFC 6928), grows by one segment per ACK in
    slow start and by 1/cwnd per ACK after, and halves at most once per round
    trip when a segment it sent is dropped or comes back marked. Feedback
    arrives ``rtt_s`` (the round trip outside this queue) after the segment
    left the link or was dropped; it is what builds a standing queue in a
    drop-tail buffer, and what an AQM controls.
    """

    rtt_s: float
    start_s: float = 0.0
    stop_s: float = math.inf
    size_bytes: int = MTU_BYTES
    klass: int = int(TrafficClass.BEST_EFFORT)
    ecn: bool = False


@dataclass(frozen=True)
class BulkStats:
    """Per bulk flow: segments sent, delivered, dropped, marked; and bytes delivered. With a
    sampling grid, the bytes all bulk flows delivered in each of its intervals."""

    sent: IntArray
    delivered: IntArray
    dropped: IntArray
    marked: IntArray
    delivered_bytes: IntArray
    delivered_bytes_per_interval: IntArray = field(
        default_factory=lambda: np.zeros(0, dtype=np.int64)
    )


class Flows(NamedTuple):
    """The bulk flows in the event loop: what each is, its feedback ring and its window
    (the kernels take the arrays one by one, as ``DisciplineState`` says why)."""

    rtt_s: FloatArray
    start_s: FloatArray
    stop_s: FloatArray  # at the latest the run's end
    size_bytes: IntArray
    klass: IntArray
    ect: BoolArray
    fb_time: FloatArray  # (flow, ring): when each feedback arrives
    fb_kind: NDArray[np.int8]  # (flow, ring): ``Feedback``
    fb_head: IntArray  # feedback heard so far
    fb_tail: IntArray  # feedback told so far
    cwnd: FloatArray  # segments
    ssthresh: FloatArray
    inflight: IntArray
    recover_until: FloatArray  # no other halving before this (once per round trip)
    started: BoolArray


def new_flows(flows: tuple[BulkFlow, ...], end_s: float, ring: int) -> Flows:
    """``flows`` before they start, each sending until its ``stop_s`` or ``end_s``; each
    holds up to ``ring`` feedback events not yet heard."""
    n = len(flows)
    return Flows(
        np.array([f.rtt_s for f in flows], dtype=np.float64),
        np.array([f.start_s for f in flows], dtype=np.float64),
        np.array([min(f.stop_s, end_s) for f in flows], dtype=np.float64),
        np.array([f.size_bytes for f in flows], dtype=np.int64),
        np.array([f.klass for f in flows], dtype=np.int64),
        np.array([f.ecn for f in flows], dtype=np.bool_),
        np.zeros((n, ring)),
        np.zeros((n, ring), dtype=np.int8),
        np.zeros(n, dtype=np.int64),
        np.zeros(n, dtype=np.int64),
        np.full(n, INITIAL_WINDOW),
        np.full(n, _NO_SSTHRESH),
        np.zeros(n, dtype=np.int64),
        np.full(n, -math.inf),
        np.zeros(n, dtype=np.bool_),
    )


def bulk_room(end_s: float, flows: tuple[BulkFlow, ...], rate_bps: float) -> int:
    """Slots to start with for the segments of ``flows`` in a run ending at ``end_s``
    (finite): what a link of ``rate_bps`` can carry over their lifetime, with margin."""
    room = 0
    for flow in flows:
        lifetime = max(min(flow.stop_s, end_s) - flow.start_s, 0.0) + flow.rtt_s
        room += int(BULK_ROOM_FACTOR * lifetime * rate_bps / (8 * flow.size_bytes))
        room += BULK_ROOM_EXTRA
    return room


@inline_kernel
def tell(
    b: int, at: float, kind: int, fb_time: FloatArray, fb_kind: NDArray[np.int8], fb_tail: IntArray
) -> None:
    """Queue feedback of ``kind`` (``Feedback``) for flow ``b``, heard at ``at``."""
    ring = fb_time.shape[1]
    fb_time[b, fb_tail[b] % ring] = at
    fb_kind[b, fb_tail[b] % ring] = kind
    fb_tail[b] += 1


@inline_kernel
def next_bulk_event(
    start_s: FloatArray,
    started: BoolArray,
    fb_time: FloatArray,
    fb_head: IntArray,
    fb_tail: IntArray,
) -> tuple[float, int]:
    """The next bulk event: a flow's start or the oldest feedback of a flow; its time and
    flow (inf and -1 if none; the lowest flow on a tie)."""
    ring = fb_time.shape[1]
    t_next = math.inf
    b_next = -1
    for b in range(start_s.size):
        t_b = start_s[b] if not started[b] else math.inf
        if fb_head[b] < fb_tail[b]:
            t_b = min(t_b, fb_time[b, fb_head[b] % ring])
        if t_b < t_next:
            t_next = t_b
            b_next = b
    return t_next, b_next


@inline_kernel
def hear(
    b: int,
    now: float,
    rtt_s: FloatArray,
    fb_kind: NDArray[np.int8],
    fb_head: IntArray,
    cwnd: FloatArray,
    ssthresh: FloatArray,
    inflight: IntArray,
    recover_until: FloatArray,
    started: BoolArray,
) -> None:
    """Flow ``b``'s event at ``now``: it starts, or hears its oldest feedback and moves its
    window (RFC 5681: slow start, congestion avoidance, halving on loss or CE)."""
    if not started[b]:
        started[b] = True
        return
    kind = fb_kind[b, fb_head[b] % fb_kind.shape[1]]
    fb_head[b] += 1
    inflight[b] -= 1
    if kind == Feedback.ACK:
        if cwnd[b] < ssthresh[b]:
            cwnd[b] += 1.0  # slow start
        else:
            cwnd[b] += 1.0 / cwnd[b]  # congestion avoidance
    elif now >= recover_until[b]:  # loss or CE: halve once per round trip
        ssthresh[b] = max(cwnd[b] / 2.0, _MIN_SSTHRESH)
        cwnd[b] = ssthresh[b]
        recover_until[b] = now + rtt_s[b]


@inline_kernel
def send_allowed(
    b: int, now: float, inflight: IntArray, cwnd: FloatArray, stop_s: FloatArray
) -> bool:
    """Whether flow ``b``'s window lets it send another segment at ``now``."""
    allowed: bool = inflight[b] < math.floor(cwnd[b]) and now < stop_s[b]
    return allowed


@inline_kernel
def most_sent(b: int, cwnd: FloatArray, inflight: IntArray) -> int:
    """The most segments flow ``b`` can send at its next event: hearing an ACK frees one
    and opens the window by at most one (RFC 5681 slow start)."""
    most: int = math.floor(cwnd[b]) + 2 - inflight[b]
    return most


def wider_ring(flows: Flows, ring: int) -> Flows:
    """``flows`` with room for ``ring`` feedback events per flow, the ones not heard yet
    kept in their place (a feedback's entry is its number modulo the ring)."""
    old = flows.fb_time.shape[1]
    fb_time = np.zeros((flows.fb_time.shape[0], ring))
    fb_kind = np.zeros(fb_time.shape, dtype=np.int8)
    for b, (head, tail) in enumerate(zip(flows.fb_head, flows.fb_tail, strict=True)):
        held = np.arange(head, tail)
        fb_time[b, held % ring] = flows.fb_time[b, held % old]
        fb_kind[b, held % ring] = flows.fb_kind[b, held % old]
    return flows._replace(fb_time=fb_time, fb_kind=fb_kind)


def new_tally(flows: int) -> IntArray:
    """Nothing settled yet: one row per ``DELIVERED``..., one column per flow."""
    return np.zeros((4, flows), dtype=np.int64)


def tally_slots(
    tally: IntArray, owner: IntArray, fate: NDArray[np.int8], ce: BoolArray, size: IntArray
) -> None:
    """Add settled segments to the ``tally``: each slot's flow (``owner``) and outcome."""
    flows = tally.shape[1]
    sent = fate == Fate.SENT

    def per_flow(mask: BoolArray, weights: IntArray | None = None) -> IntArray:
        w = None if weights is None else weights[mask]
        return np.bincount(owner[mask], weights=w, minlength=flows).astype(np.int64)

    tally[DELIVERED] += per_flow(sent)
    tally[DROPPED] += per_flow(~sent)
    tally[MARKED] += per_flow(ce)
    tally[DELIVERED_BYTES] += per_flow(sent, size)


def bulk_stats(tally: IntArray, unsettled: IntArray) -> BulkStats:
    """Per flow, from the ``tally`` of its settled segments and the count not settled."""
    delivered, dropped = tally[DELIVERED].copy(), tally[DROPPED].copy()
    return BulkStats(
        sent=delivered + dropped + unsettled,
        delivered=delivered,
        dropped=dropped,
        marked=tally[MARKED].copy(),
        delivered_bytes=tally[DELIVERED_BYTES].copy(),
    )
