"""A link's queue with an active queue management discipline and DSCP classes.

``QueueingLink`` runs an event loop over a batch of arriving packets: each
waits in the queue of its class, the scheduler picks which class the link
serves next (FIFO, strict priority, or deficit round robin with weights),
and the discipline decides drops: drop-tail on a shared packet/byte limit,
CoDel at dequeue (RFC 8289) or PIE at enqueue (RFC 8033). ECN-capable
packets are marked CE instead of dropped when the AQM says so (RFC 3168;
RFC 8289 clause 5, RFC 8033 clause 5.1). Service is a constant rate or a
Mahimahi delivery schedule (see ``models.link``: same semantics, and with a
single class and drop-tail it gives the same departures as ``models.link``).

The batch is served to the end: every accepted packet leaves before
``serve`` returns, so a later batch must start after this batch's last
departure (the simulator cuts batches where the link is idle).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

from voipbed.models._jit import inline_kernel, kernel
from voipbed.models.mahimahi import OPPORTUNITY_BYTES, DeliverySchedule

__all__ = [
    "BulkFlow",
    "BulkStats",
    "CoDel",
    "Discipline",
    "DropTail",
    "Pie",
    "QueueingLink",
    "Scheduling",
    "ServeOutcome",
    "dscp_class",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

MTU_BYTES = 1500


class Scheduling(IntEnum):
    """Which class the link serves next."""

    FIFO = 0  # one queue, DSCP ignored
    STRICT = 1  # lowest class number first (class 0: EF)
    WEIGHTED = 2  # deficit round robin, quantum = weight * MTU (Shreedhar and Varghese, 1996)


class Discipline(IntEnum):
    DROPTAIL = 0
    CODEL = 1
    PIE = 2


class Fate(IntEnum):
    """What happened to a packet in the queue (``ServeOutcome.fate``)."""

    SENT = 0
    OVERFLOW = 1  # the buffer was full
    AQM = 2  # CoDel or PIE dropped it


@dataclass(frozen=True)
class DropTail:
    """Drop an arriving packet that does not fit the buffer; nothing else."""


@dataclass(frozen=True)
class CoDel:
    """Controlled Delay, RFC 8289: target 5 ms and interval 100 ms (clause 4.3 and 4.4)."""

    target_s: float = 0.005
    interval_s: float = 0.100
    ecn: bool = True  # mark ECN-capable packets instead of dropping them (clause 5)


@dataclass(frozen=True)
class Pie:
    """Proportional Integral controller Enhanced, RFC 8033 clause 4 and its Figure defaults.

    QDELAY_REF 15 ms, T_UPDATE 15 ms, alpha 0.125 Hz, beta 1.25 Hz, MAX_BURST
    150 ms (clause 4.2 and 5.2), and ECN marking while the drop probability is
    at most 10 % (clause 5.1).
    """

    target_s: float = 0.015
    update_s: float = 0.015
    alpha: float = 0.125
    beta: float = 1.25
    max_burst_s: float = 0.150
    ecn: bool = True
    ecn_max_probability: float = 0.1


def dscp_class(dscp: IntArray) -> IntArray:
    """Scheduling class of a DSCP: 0 for EF (46, RFC 3246), 1 for CS3/AF3x signalling (24, 26,
    28, 30; RFC 4594 Figure 3), 2 for everything else (best effort)."""
    classes = np.full(dscp.shape, 2, dtype=np.int64)
    classes[np.isin(dscp, [24, 26, 28, 30])] = 1
    classes[dscp == 46] = 0
    return classes


N_CLASSES = 3


@dataclass(frozen=True)
class ServeOutcome:
    """Per packet: departure (NaN unless sent), fate (``Fate``), and whether it was marked CE."""

    depart_s: FloatArray
    fate: NDArray[np.int8]
    ce: BoolArray

    @property
    def dropped(self) -> BoolArray:
        dropped: BoolArray = self.fate != np.int8(Fate.SENT)
        return dropped


# ---- the event loop ------------------------------------------------------------------------
# State of the per-class queues: singly linked lists through ``link``.


@inline_kernel
def _push(k: int, c: int, head: IntArray, tail: IntArray, link: IntArray) -> None:
    link[k] = -1
    if tail[c] < 0:
        head[c] = k
    else:
        link[tail[c]] = k
    tail[c] = k


@inline_kernel
def _pop(c: int, head: IntArray, tail: IntArray, link: IntArray) -> int:
    k = int(head[c])
    head[c] = link[k]
    if head[c] < 0:
        tail[c] = -1
    return k


@inline_kernel
def _pick_class(
    scheduling: int,
    head: IntArray,
    size: IntArray,
    quantum: FloatArray,
    deficit: FloatArray,
    turn: IntArray,
) -> int:
    """The class to serve next, or -1 when every queue is empty."""
    n = head.size
    if scheduling != 2:  # FIFO uses class 0 only; strict takes the lowest non-empty class
        for c in range(n):
            if head[c] >= 0:
                return c
        return -1
    empty = True
    for c in range(n):
        if head[c] >= 0:
            empty = False
        else:
            deficit[c] = 0.0
    if empty:
        turn[1] = 1  # an emptied class's turn ends: its deficit is gone (DRR)
        return -1
    while True:  # deficit round robin: a class gets a quantum per turn until its head fits
        c = int(turn[0])
        if head[c] < 0:
            turn[0] = (c + 1) % n
            turn[1] = 1
            continue
        if turn[1] == 1:
            deficit[c] += quantum[c]
            turn[1] = 0
        if size[head[c]] <= deficit[c]:
            deficit[c] -= size[head[c]]
            return c
        turn[0] = (c + 1) % n
        turn[1] = 1


# Queue counters kept in a small array so helpers can update them in place.
_QPACKETS, _QBYTES = 0, 1


@inline_kernel
def _enqueue(
    k: int,
    now: float,
    c: int,
    size: IntArray,
    ect: BoolArray,
    draw: FloatArray,
    fate: NDArray[np.int8],
    ce: BoolArray,
    enqueued_at: FloatArray,
    head: IntArray,
    tail: IntArray,
    link: IntArray,
    counters: IntArray,
    limit_packets: int,
    limit_bytes: int,
    discipline: int,
    params: FloatArray,
    drop_prob: FloatArray,
    qdelay_old: FloatArray,
    burst: FloatArray,
) -> bool:
    """Offer packet ``k`` to class ``c``'s queue; False if it was dropped (``fate`` says why)."""
    if (limit_packets >= 0 and counters[_QPACKETS] + 1 > limit_packets) or (
        limit_bytes >= 0 and counters[_QBYTES] + size[k] > limit_bytes
    ):
        fate[k] = 1
        return False
    if discipline == 2 and burst[c] <= 0.0:
        # PIE drop_early (RFC 8033 clause 4.1).
        calm = qdelay_old[c] < params[0] / 2 and drop_prob[c] < 0.2
        if not (calm or counters[_QBYTES] <= 2 * MTU_BYTES) and draw[k] < drop_prob[c]:
            if params[5] > 0 and ect[k] and drop_prob[c] <= params[6]:
                ce[k] = True
            else:
                fate[k] = 2
                return False
    enqueued_at[k] = now
    _push(k, c, head, tail, link)
    counters[_QPACKETS] += 1
    counters[_QBYTES] += size[k]
    return True


@kernel
def _pie_update(
    at: float,
    params: FloatArray,
    enqueued_at: FloatArray,
    head: IntArray,
    drop_prob: FloatArray,
    qdelay_old: FloatArray,
    burst: FloatArray,
) -> None:
    """PIE's periodic drop probability update (RFC 8033 clause 4.2 and 4.3), each class."""
    for c in range(head.size):
        qdelay = at - enqueued_at[head[c]] if head[c] >= 0 else 0.0
        p = params[2] * (qdelay - params[0]) + params[3] * (qdelay - qdelay_old[c])
        dp = drop_prob[c]
        if dp < 0.000001:  # auto-tuning of the gains
            p /= 2048.0
        elif dp < 0.00001:
            p /= 512.0
        elif dp < 0.0001:
            p /= 128.0
        elif dp < 0.001:
            p /= 32.0
        elif dp < 0.01:
            p /= 8.0
        elif dp < 0.1:
            p /= 2.0
        if dp >= 0.1 and p > 0.02:
            p = 0.02  # limit the step at high probability
        dp += p
        if qdelay == 0.0 and qdelay_old[c] == 0.0:
            dp *= 0.98  # decay while the queue stays empty
        drop_prob[c] = min(max(dp, 0.0), 1.0)
        burst[c] = max(burst[c] - params[1], 0.0)
        calm = qdelay < params[0] / 2 and qdelay_old[c] < params[0] / 2
        if drop_prob[c] == 0.0 and calm and burst[c] == 0.0:
            burst[c] = params[4]
        qdelay_old[c] = qdelay


# Bulk (TCP-like) flow parameters, one row per flow, and their feedback ring buffers.
_B_RTT, _B_START, _B_STOP, _B_SIZE, _B_CLASS, _B_ECT = range(6)
_FB_ACK, _FB_LOSS, _FB_CE = 0, 1, 2


@inline_kernel
def _feedback(
    b: int,
    at: float,
    kind: int,
    fb_time: NDArray[np.float64],
    fb_kind: NDArray[np.int8],
    fb_tail: IntArray,
) -> None:
    """Queue a feedback event (ACK, loss or CE) for bulk flow ``b`` at time ``at``."""
    ring = fb_time.shape[1]
    fb_time[b, fb_tail[b] % ring] = at
    fb_kind[b, fb_tail[b] % ring] = kind
    fb_tail[b] += 1


@kernel
def _serve_kernel(
    arrive: FloatArray,
    n_media: int,
    size: IntArray,
    cls: IntArray,
    ect: BoolArray,
    draw: FloatArray,
    scheduling: int,
    quantum: FloatArray,
    limit_packets: int,
    limit_bytes: int,
    discipline: int,
    params: FloatArray,
    trace_mode: bool,
    seconds_per_byte: float,
    times_ms: IntArray,
    bulk: FloatArray,
) -> tuple[FloatArray, NDArray[np.int8], BoolArray, IntArray]:
    """Serve ``arrive[:n_media]`` and what the bulk flows send (slots after n_media)."""
    total = size.size
    depart = np.full(total, np.nan)
    fate = np.zeros(total, dtype=np.int8)
    ce = np.zeros(total, dtype=np.bool_)
    enqueued_at = np.zeros(total)
    owner = np.full(total, -1, dtype=np.int64)  # bulk flow of a slot; -1 for the given packets
    link = np.full(total, -1, dtype=np.int64)
    k_classes = quantum.size
    head = np.full(k_classes, -1, dtype=np.int64)
    tail = np.full(k_classes, -1, dtype=np.int64)
    deficit = np.zeros(k_classes)
    turn = np.array([0, 1], dtype=np.int64)
    counters = np.zeros(2, dtype=np.int64)
    # CoDel state per class (RFC 8289 clause 5 names).
    first_above = np.zeros(k_classes)
    drop_next = np.zeros(k_classes)
    count = np.zeros(k_classes, dtype=np.int64)
    last_count = np.zeros(k_classes, dtype=np.int64)
    dropping = np.zeros(k_classes, dtype=np.bool_)
    # PIE state per class (RFC 8033 clause 4).
    drop_prob = np.zeros(k_classes)
    qdelay_old = np.zeros(k_classes)
    burst = np.full(k_classes, params[4] if discipline == 2 else 0.0)
    next_update = params[1] if discipline == 2 else math.inf
    # Bulk flows: Reno-like AIMD (RFC 5681) driven by feedback one base RTT after
    # each packet leaves the link or is dropped.
    n_bulk = bulk.shape[0]
    ring = total - n_media + 1
    fb_time = np.zeros((n_bulk, ring))
    fb_kind = np.zeros((n_bulk, ring), dtype=np.int8)
    fb_head = np.zeros(n_bulk, dtype=np.int64)
    fb_tail = np.zeros(n_bulk, dtype=np.int64)
    cwnd = np.full(n_bulk, 10.0)  # initial window of 10 segments, RFC 6928
    ssthresh = np.full(n_bulk, 1e9)
    inflight = np.zeros(n_bulk, dtype=np.int64)
    recover_until = np.full(n_bulk, -math.inf)
    started = np.zeros(n_bulk, dtype=np.bool_)
    next_slot = n_media
    # Server.
    slots = times_ms.size
    period = times_ms[slots - 1] if slots > 0 else 1
    next_opp = 0  # 0-based number of the next delivery opportunity (trace mode)
    busy_until = -math.inf  # rate mode
    in_service = -1
    transit_left = 0
    now = -math.inf
    i = 0
    while True:
        t_arrival = arrive[i] if i < n_media else math.inf
        # The next bulk event: a flow's start, or the oldest feedback of a flow.
        t_bulk = math.inf
        b_next = -1
        for b in range(n_bulk):
            t_b = bulk[b, _B_START] if not started[b] else math.inf
            if fb_head[b] < fb_tail[b]:
                t_b = min(t_b, fb_time[b, fb_head[b] % ring])
            if t_b < t_bulk:
                t_bulk = t_b
                b_next = b
        idle = in_service < 0 and counters[_QPACKETS] == 0
        if trace_mode:
            if idle:
                t_next = min(t_arrival, t_bulk)
                if t_next == math.inf:
                    break
                # Nothing to send: skip the opportunities up to the next packet.
                t_ms = t_next * 1000.0
                periods = math.floor(t_ms / period)
                inside = int(np.searchsorted(times_ms, t_ms - periods * period, side="right"))
                next_opp = max(next_opp, periods * slots + inside)
            t_server = ((next_opp // slots) * period + times_ms[next_opp % slots]) / 1000.0
        elif in_service >= 0:
            t_server = busy_until
        elif counters[_QPACKETS] > 0:
            t_server = now  # idle with packets waiting: start at once
        else:
            t_server = math.inf
            if t_arrival == math.inf and t_bulk == math.inf:
                break
        # PIE's periodic update runs at its own instants, between the packet events.
        while next_update <= min(t_arrival, t_server, t_bulk):
            _pie_update(next_update, params, enqueued_at, head, drop_prob, qdelay_old, burst)
            next_update += params[1]
        if t_server <= t_arrival and t_server <= t_bulk:
            now = t_server
            # One service event: a rate departure, or one delivery opportunity.
            budget = OPPORTUNITY_BYTES if trace_mode else 0
            if trace_mode:
                next_opp += 1
            elif in_service >= 0:
                done = in_service
                depart[done] = now
                in_service = -1
                if owner[done] >= 0:
                    kind = _FB_CE if ce[done] else _FB_ACK
                    b = owner[done]
                    _feedback(b, now + bulk[b, _B_RTT], kind, fb_time, fb_kind, fb_tail)
            while True:
                if in_service < 0:
                    # Dequeue through the scheduler and, for CoDel, its drop loop.
                    k = -1
                    while True:
                        c = _pick_class(scheduling, head, size, quantum, deficit, turn)
                        if c < 0:
                            break
                        k = _pop(c, head, tail, link)
                        counters[_QPACKETS] -= 1
                        counters[_QBYTES] -= size[k]
                        if discipline != 1:
                            break
                        # CoDel dequeue (RFC 8289 clause 5.5 to 5.7).
                        sojourn = now - enqueued_at[k]
                        ok_to_drop = False
                        if sojourn < params[0] or counters[_QBYTES] <= MTU_BYTES:
                            first_above[c] = 0.0
                        elif first_above[c] == 0.0:
                            first_above[c] = now + params[1]
                        elif now >= first_above[c]:
                            ok_to_drop = True
                        if dropping[c]:
                            if not ok_to_drop:
                                dropping[c] = False
                                break
                            if now < drop_next[c]:
                                break
                            count[c] += 1
                            drop_next[c] += params[1] / math.sqrt(count[c])
                        elif ok_to_drop:
                            dropping[c] = True
                            delta = count[c] - last_count[c]
                            recent = now - drop_next[c] < 16 * params[1]
                            count[c] = delta if delta > 1 and recent else 1
                            drop_next[c] = now + params[1] / math.sqrt(count[c])
                            last_count[c] = count[c]
                        else:
                            break
                        if params[2] > 0 and ect[k]:
                            ce[k] = True  # mark instead of drop; it is sent
                            break
                        fate[k] = 2
                        if owner[k] >= 0:
                            b = owner[k]
                            _feedback(b, now + bulk[b, _B_RTT], _FB_LOSS, fb_time, fb_kind, fb_tail)
                        k = -1
                    if k < 0:
                        break
                    in_service = k
                    transit_left = size[k]
                    if not trace_mode:
                        busy_until = now + size[k] * seconds_per_byte
                        break
                if not trace_mode:
                    break
                amount = min(budget, transit_left)
                budget -= amount
                transit_left -= amount
                if transit_left == 0:
                    done = in_service
                    depart[done] = now
                    in_service = -1
                    if owner[done] >= 0:
                        kind = _FB_CE if ce[done] else _FB_ACK
                        b = owner[done]
                        _feedback(b, now + bulk[b, _B_RTT], kind, fb_time, fb_kind, fb_tail)
                if budget == 0:
                    break
        elif t_bulk < t_arrival:
            now = t_bulk
            b = b_next
            if not started[b]:
                started[b] = True
            else:
                kind = fb_kind[b, fb_head[b] % ring]
                fb_head[b] += 1
                inflight[b] -= 1
                if kind == _FB_ACK:
                    if cwnd[b] < ssthresh[b]:
                        cwnd[b] += 1.0  # slow start
                    else:
                        cwnd[b] += 1.0 / cwnd[b]  # congestion avoidance
                elif now >= recover_until[b]:  # loss or CE: halve once per round trip
                    ssthresh[b] = max(cwnd[b] / 2.0, 2.0)
                    cwnd[b] = ssthresh[b]
                    recover_until[b] = now + bulk[b, _B_RTT]
            while inflight[b] < math.floor(cwnd[b]) and now < bulk[b, _B_STOP]:
                if next_slot >= total:
                    break  # out of room for bulk packets: the flow stops sending
                k = next_slot
                next_slot += 1
                owner[k] = b
                size[k] = int(bulk[b, _B_SIZE])
                cls[k] = int(bulk[b, _B_CLASS])
                ect[k] = bulk[b, _B_ECT] > 0
                inflight[b] += 1
                c = cls[k] if scheduling != 0 else 0
                accepted = _enqueue(
                    k, now, c, size, ect, draw, fate, ce, enqueued_at, head, tail, link,
                    counters, limit_packets, limit_bytes, discipline, params, drop_prob,
                    qdelay_old, burst,
                )  # fmt: skip
                if not accepted:
                    _feedback(b, now + bulk[b, _B_RTT], _FB_LOSS, fb_time, fb_kind, fb_tail)
        else:
            now = t_arrival
            k = i
            i += 1
            c = cls[k] if scheduling != 0 else 0
            _enqueue(
                k, now, c, size, ect, draw, fate, ce, enqueued_at, head, tail, link,
                counters, limit_packets, limit_bytes, discipline, params, drop_prob,
                qdelay_old, burst,
            )  # fmt: skip
    return depart, fate, ce, owner


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
    klass: int = 2
    ecn: bool = False


@dataclass(frozen=True)
class BulkStats:
    """Per bulk flow: segments sent, delivered, dropped, marked; and bytes delivered."""

    sent: IntArray
    delivered: IntArray
    dropped: IntArray
    marked: IntArray
    delivered_bytes: IntArray


@dataclass
class QueueingLink:
    """A link (constant ``rate_bps`` or a delivery ``schedule``) behind a classful AQM queue."""

    discipline: DropTail | CoDel | Pie = field(default_factory=DropTail)
    scheduling: Scheduling = Scheduling.FIFO
    weights: tuple[float, ...] = (1.0, 1.0, 1.0)
    limit_packets: int | None = None
    limit_bytes: int | None = None
    rate_bps: float | None = None
    schedule: DeliverySchedule | None = None

    def __post_init__(self) -> None:
        if (self.rate_bps is None) == (self.schedule is None):
            raise ValueError("a link needs exactly one of rate_bps and schedule")
        if self.rate_bps is not None and not self.rate_bps > 0:
            raise ValueError(f"rate_bps must be > 0, got {self.rate_bps}")
        if len(self.weights) != N_CLASSES or min(self.weights) <= 0:
            raise ValueError(f"weights must be {N_CLASSES} positive numbers, got {self.weights}")

    @property
    def mean_rate_bps(self) -> float:
        if self.schedule is not None:
            return self.schedule.mean_rate_bps
        assert self.rate_bps is not None  # one of the two, checked at construction
        return self.rate_bps

    def _params(self) -> FloatArray:
        d = self.discipline
        if isinstance(d, CoDel):
            return np.array([d.target_s, d.interval_s, float(d.ecn), 0, 0, 0, 0])
        if isinstance(d, Pie):
            values = [d.target_s, d.update_s, d.alpha, d.beta, d.max_burst_s]
            return np.array([*values, float(d.ecn), d.ecn_max_probability])
        return np.zeros(7)

    def _bulk_room(self, arrive_s: FloatArray, bulk: tuple[BulkFlow, ...]) -> int:
        """Slots for bulk segments: what the link can carry over their lifetime, with margin."""
        if not bulk:
            return 0
        end = max(float(arrive_s[-1]) if arrive_s.size else 0.0, 0.0)
        room = 0
        for flow in bulk:
            lifetime = max(min(flow.stop_s, end) - flow.start_s, 0.0) + flow.rtt_s
            room += int(1.5 * lifetime * self.mean_rate_bps / (8 * flow.size_bytes)) + 1000
        return room

    def serve(
        self,
        arrive_s: FloatArray,
        size_bytes: IntArray,
        klass: IntArray,
        ect: BoolArray,
        rng: np.random.Generator,
        bulk: tuple[BulkFlow, ...] = (),
    ) -> tuple[ServeOutcome, BulkStats]:
        """Serve a batch of packets (arrival order) and the bulk flows to the end.

        Bulk flows send until their ``stop_s`` or the batch's last arrival,
        whichever is first. PIE draws one uniform per packet offered.
        """
        n = arrive_s.size
        room = self._bulk_room(np.asarray(arrive_s), bulk)
        total = n + room
        discipline = {DropTail: 0, CoDel: 1, Pie: 2}[type(self.discipline)]
        draw = rng.random(total) if discipline == Discipline.PIE else np.zeros(total)
        scale = 1.0 if self.scheduling == Scheduling.WEIGHTED else 0.0
        quantum = np.array(self.weights) * MTU_BYTES * scale
        trace = self.schedule.times_ms if self.schedule is not None else np.zeros(0, np.int64)
        sizes = np.zeros(total, dtype=np.int64)
        sizes[:n] = size_bytes
        classes = np.zeros(total, dtype=np.int64)
        classes[:n] = klass
        capable = np.zeros(total, dtype=np.bool_)
        capable[:n] = ect
        end = float(arrive_s[-1]) if n else 0.0
        table = np.array(
            [
                [f.rtt_s, f.start_s, min(f.stop_s, end), f.size_bytes, f.klass, float(f.ecn)]
                for f in bulk
            ]
        ).reshape(len(bulk), 6)
        depart, fate, ce, owner = _serve_kernel(
            np.asarray(arrive_s, dtype=np.float64),
            n,
            sizes,
            classes,
            capable,
            draw,
            int(self.scheduling),
            quantum,
            -1 if self.limit_packets is None else self.limit_packets,
            -1 if self.limit_bytes is None else self.limit_bytes,
            discipline,
            self._params(),
            self.schedule is not None,
            8.0 / self.rate_bps if self.rate_bps is not None else 0.0,
            trace,
            table,
        )
        return ServeOutcome(depart[:n], fate[:n], ce[:n]), _bulk_stats(
            owner[n:], fate[n:], ce[n:], sizes[n:], len(bulk)
        )


def _bulk_stats(
    owner: IntArray, fate: NDArray[np.int8], ce: BoolArray, size: IntArray, flows: int
) -> BulkStats:
    used = owner >= 0
    who = owner[used]
    sent_ok = fate[used] == Fate.SENT

    def per_flow(mask: BoolArray, weights: IntArray | None = None) -> IntArray:
        w = None if weights is None else weights[mask]
        return np.bincount(who[mask], weights=w, minlength=flows).astype(np.int64)

    everything = np.ones(who.size, dtype=np.bool_)
    return BulkStats(
        sent=per_flow(everything),
        delivered=per_flow(sent_ok),
        dropped=per_flow(~sent_ok),
        marked=per_flow(ce[used]),
        delivered_bytes=per_flow(sent_ok, size[used]),
    )
