"""A link's queue with an active queue management discipline and DSCP classes.

``QueueingLink`` runs an event loop over a batch of arriving packets: each
waits in the queue of its class, the scheduler picks which class the link
serves next (FIFO, strict priority, or deficit round robin with weights),
and the discipline decides drops: drop-tail on a shared packet/byte limit,
CoDel at dequeue (RFC 8289) or PIE at enqueue (RFC 8033). ECN-capable
packets are marked CE instead of dropped when the AQM says so (RFC 3168;
RFC 8289 clause 5, RFC 8033 clause 5.1). Service is a constant rate or a
Mahimahi delivery schedule (see ``models.link``: same semantics, the same
charge of a packet's bytes plus ``TUN_HEADER_BYTES`` against an opportunity,
and with a single class and drop-tail the same departures as ``models.link``).

The batch is served to the end: every accepted packet leaves before
``serve`` returns, so a later batch must start after this batch's last
departure (the simulator cuts batches where the link is idle). The event
loop keeps its state in a ``QueueState`` and can stop where an unknown later
arrival could come first and resume there: ``models.queue_stepper`` drives
it one packet at a time, on a clock passed in, with the same outcomes.

Given a ``SampleGrid`` (``models.queue_samples``), a batch also records the
backlog by class at the grid's instants, inside the event loop (so the bulk
flows' segments, which the loop makes, are counted), and the bytes that leave
the link per interval: one comparison per event and an addition per departure,
and a walk of the queues only at an instant. Sampling only observes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

from voipbed.models._jit import inline_kernel, kernel
from voipbed.models.mahimahi import OPPORTUNITY_BYTES, TUN_HEADER_BYTES, DeliverySchedule
from voipbed.models.queue_samples import Occupancy, SampleGrid

__all__ = [
    "BulkFlow",
    "BulkStats",
    "CoDel",
    "Discipline",
    "DropTail",
    "Pie",
    "QueueState",
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
    """Per packet: departure (NaN unless sent), fate (``Fate``), and whether it was marked CE;
    with a sampling grid, the queue's backlog at its instants (bulk segments included) and
    the bytes that left the link in each of its intervals: of the packets not marked as
    background, and of those marked."""

    depart_s: FloatArray
    fate: NDArray[np.int8]
    ce: BoolArray
    occupancy: Occupancy | None = None
    delivered_bytes_per_interval: IntArray | None = None
    background_bytes_per_interval: IntArray | None = None

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
def _record_samples(
    j: int,
    before: float,
    times: FloatArray,
    head: IntArray,
    link: IntArray,
    cls: IntArray,
    size: IntArray,
    packets: IntArray,
    size_bytes: IntArray,
) -> int:
    """Record the backlog, by class, at each instant from sample ``j`` on that comes before
    ``before`` (the next event); the number of the next sample to take."""
    n = times.size
    if j >= n or times[j] >= before:
        return j
    first = j
    for q in range(head.size):  # walk each queue; only at sample instants
        k = head[q]
        while k >= 0:
            packets[first, cls[k]] += 1
            size_bytes[first, cls[k]] += size[k]
            k = link[k]
    j += 1
    while j < n and times[j] < before:  # nothing happens until the next event
        packets[j, :] = packets[first, :]
        size_bytes[j, :] = size_bytes[first, :]
        j += 1
    return j


_BACKGROUND = -2  # ``owner`` of a given packet counted apart (cross traffic), as in the stepper
_SENT_GIVEN, _SENT_BULK, _SENT_BACKGROUND = range(3)  # columns of the bytes out per interval


@inline_kernel
def _tally(who: int, size: int, given: int, bulk: int, background: int) -> tuple[int, int, int]:
    """The bytes out since the last sampling instant, with a packet of owner ``who`` added;
    they stay in locals, which the compiler keeps in registers (an array store at each
    departure costs the loop about 10 %)."""
    if who >= 0:
        return given, bulk + size, background
    if who == _BACKGROUND:
        return given, bulk, background + size
    return given + size, bulk, background


@inline_kernel
def _flush_sent(j: int, sent: IntArray, given: int, bulk: int, background: int) -> None:
    """Add the bytes out since the last instant to interval ``j``, if the grid has it."""
    if j < sent.shape[0]:
        sent[j, _SENT_GIVEN] += given
        sent[j, _SENT_BULK] += bulk
        sent[j, _SENT_BACKGROUND] += background


# Scalars of the event loop kept between calls (``QueueState.fscalars`` and ``iscalars``).
_S_NOW, _S_BUSY_UNTIL, _S_NEXT_UPDATE = range(3)
_S_NEXT_OPP, _S_IN_SERVICE, _S_TRANSIT_LEFT, _S_ARRIVED, _S_NEXT_SLOT, _S_DONE = range(6)


_Packets = tuple[
    IntArray, IntArray, BoolArray, FloatArray, FloatArray, NDArray[np.int8], BoolArray,
    FloatArray, IntArray, IntArray, IntArray,
]  # fmt: skip
_Config = tuple[int, FloatArray, int, int, int, FloatArray, bool, float, IntArray]
_Classes = tuple[
    IntArray, IntArray, FloatArray, IntArray, IntArray, FloatArray, FloatArray, IntArray,
    IntArray, BoolArray, FloatArray, FloatArray, FloatArray,
]  # fmt: skip
_Flows = tuple[
    FloatArray, FloatArray, NDArray[np.int8], IntArray, IntArray, FloatArray, FloatArray,
    IntArray, FloatArray, BoolArray,
]  # fmt: skip
# The sampling instants, packets and bytes waiting at each by class, bytes that left the link
# in each interval (given packets, bulk segments, background packets), and the next instant.
_Sampling = tuple[FloatArray, IntArray, IntArray, IntArray, IntArray]


@inline_kernel
def _run_events(
    arrive: FloatArray,
    n_known: int,
    horizon: float,
    packets: _Packets,
    config: _Config,
    classes: _Classes,
    scalars: tuple[FloatArray, IntArray],
    flows: _Flows,
    sampling: _Sampling,
) -> None:
    """Run the link's events in time order, from the state it was left in.

    Packet ``i`` (slot ``i``) arrives at ``arrive[i]`` for ``i < n_known``;
    whatever comes later arrives at ``horizon`` or after, so the loop stops at
    the first event that such an arrival could precede (``horizon`` = inf:
    serve everything to the end). Bulk flows' segments take slots from
    ``next_slot`` on. Each packet whose fate is settled (sent or dropped) is
    appended to ``done`` (unless it has no room at all). Before each event, the
    backlog is recorded at the sampling instants it comes after (``sampling``),
    and each departure adds its bytes to the interval that holds it.
    """
    size, cls, ect, draw, depart, fate, ce, enqueued_at, owner, link, done = packets
    scheduling, quantum, limit_packets, limit_bytes, discipline, params = config[:6]
    trace_mode, seconds_per_byte, times_ms = config[6:]
    head, tail, deficit, turn, counters, first_above, drop_next = classes[:7]
    count, last_count, dropping, drop_prob, qdelay_old, burst = classes[7:]
    fscalars, iscalars = scalars
    bulk, fb_time, fb_kind, fb_head, fb_tail, cwnd, ssthresh, inflight = flows[:8]
    recover_until, started = flows[8:]
    sample_times, sample_packets, sample_bytes, sample_sent, sample_next = sampling
    n_samples = sample_times.size
    next_sample = sample_next[0]  # its instant is at or after every event run so far
    t_sample = sample_times[next_sample] if next_sample < n_samples else math.inf
    out_given, out_bulk, out_background = 0, 0, 0  # bytes out since the last instant
    total = size.size
    n_bulk = bulk.shape[0]
    ring = fb_time.shape[1]
    slots = times_ms.size
    period = times_ms[slots - 1] if slots > 0 else 1
    now = fscalars[_S_NOW]
    busy_until = fscalars[_S_BUSY_UNTIL]  # rate mode
    next_update = fscalars[_S_NEXT_UPDATE]  # PIE
    next_opp = iscalars[_S_NEXT_OPP]  # 0-based number of the next opportunity (trace mode)
    in_service = iscalars[_S_IN_SERVICE]
    transit_left = iscalars[_S_TRANSIT_LEFT]
    i = iscalars[_S_ARRIVED]
    next_slot = iscalars[_S_NEXT_SLOT]
    n_done = iscalars[_S_DONE]
    logging = done.size > 0  # the batch keeps no log: it reads every slot at the end
    while True:
        t_arrival = arrive[i] if i < n_known else horizon
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
        t_first = min(t_arrival, t_server, t_bulk)
        if t_sample < t_first:  # the state holds until the next event: sample it
            _flush_sent(next_sample, sample_sent, out_given, out_bulk, out_background)
            out_given, out_bulk, out_background = 0, 0, 0
            next_sample = _record_samples(
                next_sample, t_first, sample_times, head, link, cls, size, sample_packets,
                sample_bytes,
            )  # fmt: skip
            t_sample = sample_times[next_sample] if next_sample < n_samples else math.inf
        # PIE's periodic update runs at its own instants, between the packet events.
        while next_update <= t_first:
            _pie_update(next_update, params, enqueued_at, head, drop_prob, qdelay_old, burst)
            next_update += params[1]
        if t_server <= t_arrival and t_server <= t_bulk:
            now = t_server
            # One service event: a rate departure, or one delivery opportunity.
            budget = OPPORTUNITY_BYTES if trace_mode else 0
            if trace_mode:
                next_opp += 1
            elif in_service >= 0:
                finished = in_service
                depart[finished] = now
                out_given, out_bulk, out_background = _tally(
                    owner[finished], size[finished], out_given, out_bulk, out_background
                )
                if logging:
                    done[n_done] = finished
                    n_done += 1
                in_service = -1
                if owner[finished] >= 0:
                    kind = _FB_CE if ce[finished] else _FB_ACK
                    b = owner[finished]
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
                        if logging:
                            done[n_done] = k
                            n_done += 1
                        if owner[k] >= 0:
                            b = owner[k]
                            _feedback(b, now + bulk[b, _B_RTT], _FB_LOSS, fb_time, fb_kind, fb_tail)
                        k = -1
                    if k < 0:
                        break
                    in_service = k
                    transit_left = size[k]
                    if trace_mode:
                        transit_left += TUN_HEADER_BYTES  # mm-link's charge (models.link)
                    else:
                        busy_until = now + size[k] * seconds_per_byte
                        break
                if not trace_mode:
                    break
                amount = min(budget, transit_left)
                budget -= amount
                transit_left -= amount
                if transit_left == 0:
                    finished = in_service
                    depart[finished] = now
                    out_given, out_bulk, out_background = _tally(
                        owner[finished], size[finished], out_given, out_bulk, out_background
                    )
                    if logging:
                        done[n_done] = finished
                        n_done += 1
                    in_service = -1
                    if owner[finished] >= 0:
                        kind = _FB_CE if ce[finished] else _FB_ACK
                        b = owner[finished]
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
                    if logging:
                        done[n_done] = k
                        n_done += 1
                    _feedback(b, now + bulk[b, _B_RTT], _FB_LOSS, fb_time, fb_kind, fb_tail)
        else:
            if i >= n_known:
                break  # the next arrival is not known yet: stop before it
            now = t_arrival
            k = i
            i += 1
            c = cls[k] if scheduling != 0 else 0
            accepted = _enqueue(
                k, now, c, size, ect, draw, fate, ce, enqueued_at, head, tail, link,
                counters, limit_packets, limit_bytes, discipline, params, drop_prob,
                qdelay_old, burst,
            )  # fmt: skip
            if not accepted and logging:
                done[n_done] = k
                n_done += 1
    fscalars[_S_NOW] = now
    fscalars[_S_BUSY_UNTIL] = busy_until
    fscalars[_S_NEXT_UPDATE] = next_update
    iscalars[_S_NEXT_OPP] = next_opp
    iscalars[_S_IN_SERVICE] = in_service
    iscalars[_S_TRANSIT_LEFT] = transit_left
    iscalars[_S_ARRIVED] = i
    iscalars[_S_NEXT_SLOT] = next_slot
    iscalars[_S_DONE] = n_done
    sample_next[0] = next_sample
    _flush_sent(next_sample, sample_sent, out_given, out_bulk, out_background)


@kernel
def _step_kernel(
    arrive: FloatArray,
    n_known: int,
    horizon: float,
    packets: _Packets,
    config: _Config,
    classes: _Classes,
    scalars: tuple[FloatArray, IntArray],
    flows: _Flows,
    sampling: _Sampling,
) -> None:
    """``_run_events`` on a state kept between calls (``QueueState``)."""
    _run_events(arrive, n_known, horizon, packets, config, classes, scalars, flows, sampling)


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
    sample_times: FloatArray,
    background: BoolArray,
) -> tuple[FloatArray, NDArray[np.int8], BoolArray, IntArray, IntArray, IntArray, IntArray]:
    """Serve ``arrive[:n_media]`` and what the bulk flows send (slots after n_media) to the
    end, on a state made here (which lets the compiler keep it close); with the backlog by
    class at each of ``sample_times`` (packets, bytes) and the bytes that left the link in
    each interval (given packets, bulk segments, given packets marked ``background``)."""
    total = size.size
    depart = np.full(total, np.nan)
    fate = np.zeros(total, dtype=np.int8)
    ce = np.zeros(total, dtype=np.bool_)
    enqueued_at = np.zeros(total)
    owner = np.full(total, -1, dtype=np.int64)  # bulk flow of a slot; -1 for the given packets
    for k in range(n_media):
        if background[k]:
            owner[k] = _BACKGROUND
    link = np.full(total, -1, dtype=np.int64)
    done = np.empty(0, dtype=np.int64)
    k_classes = quantum.size
    head = np.full(k_classes, -1, dtype=np.int64)
    tail = np.full(k_classes, -1, dtype=np.int64)
    deficit = np.zeros(k_classes)
    turn = np.array([0, 1], dtype=np.int64)
    counters = np.zeros(2, dtype=np.int64)
    first_above = np.zeros(k_classes)
    drop_next = np.zeros(k_classes)
    count = np.zeros(k_classes, dtype=np.int64)
    last_count = np.zeros(k_classes, dtype=np.int64)
    dropping = np.zeros(k_classes, dtype=np.bool_)
    drop_prob = np.zeros(k_classes)
    qdelay_old = np.zeros(k_classes)
    burst = np.full(k_classes, params[4] if discipline == 2 else 0.0)
    fscalars = np.full(3, -math.inf)
    fscalars[_S_NEXT_UPDATE] = params[1] if discipline == 2 else math.inf
    iscalars = np.zeros(6, dtype=np.int64)
    iscalars[_S_IN_SERVICE] = -1
    iscalars[_S_NEXT_SLOT] = n_media
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
    sample_packets = np.zeros((sample_times.size, k_classes), dtype=np.int64)
    sample_bytes = np.zeros((sample_times.size, k_classes), dtype=np.int64)
    sample_sent = np.zeros((sample_times.size, 3), dtype=np.int64)
    _run_events(
        arrive,
        n_media,
        math.inf,
        (size, cls, ect, draw, depart, fate, ce, enqueued_at, owner, link, done),
        (scheduling, quantum, limit_packets, limit_bytes, discipline, params, trace_mode,
         seconds_per_byte, times_ms),
        (head, tail, deficit, turn, counters, first_above, drop_next, count, last_count,
         dropping, drop_prob, qdelay_old, burst),
        (fscalars, iscalars),
        (bulk, fb_time, fb_kind, fb_head, fb_tail, cwnd, ssthresh, inflight, recover_until,
         started),
        (sample_times, sample_packets, sample_bytes, sample_sent, np.zeros(1, dtype=np.int64)),
    )  # fmt: skip
    return depart, fate, ce, owner, sample_packets, sample_bytes, sample_sent


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
        grid: SampleGrid | None = None,
        background: BoolArray | None = None,
    ) -> tuple[ServeOutcome, BulkStats]:
        """Serve a batch of packets (arrival order) and the bulk flows to the end.

        Bulk flows send until their ``stop_s`` or the batch's last arrival,
        whichever is first. PIE draws one uniform per packet offered. With a
        ``grid``, the backlog is sampled at its instants (``ServeOutcome.occupancy``)
        and the bytes that left the link are summed per interval: the bulk flows',
        the ``background`` packets' (cross traffic) and the others'. The packets'
        fates are the same with or without a grid.
        """
        n = arrive_s.size
        room = self._bulk_room(np.asarray(arrive_s), bulk)
        total = n + room
        end = float(arrive_s[-1]) if n else 0.0
        table = np.array(
            [
                [f.rtt_s, f.start_s, min(f.stop_s, end), f.size_bytes, f.klass, float(f.ecn)]
                for f in bulk
            ]
        ).reshape(len(bulk), 6)
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
        sample_times = grid.times_s if grid is not None else np.zeros(0)
        depart, fate, ce, owner, sample_packets, sample_bytes, sample_sent = _serve_kernel(
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
            sample_times,
            np.zeros(n, np.bool_) if background is None else np.asarray(background, np.bool_),
        )
        stats = _bulk_stats(owner[n:], fate[n:], ce[n:], sizes[n:], len(bulk))
        if grid is None:
            return ServeOutcome(depart[:n], fate[:n], ce[:n]), stats
        sent = sample_sent.T.copy()  # given, bulk, background: one row each
        return (
            ServeOutcome(
                depart[:n],
                fate[:n],
                ce[:n],
                Occupancy(sample_packets, sample_bytes),
                sent[_SENT_GIVEN],
                sent[_SENT_BACKGROUND],
            ),
            replace(stats, delivered_bytes_per_interval=sent[_SENT_BULK]),
        )


class QueueState:
    """What the event loop keeps between calls: the packets (one slot each, in arrival
    order), the per-class queues and AQM state, the server, and the bulk flows.

    ``QueueStepper`` (``models.queue_stepper``) runs it a little further at each call;
    it starts as ``_serve_kernel`` starts a batch (which keeps its state to itself, so
    the compiler can keep it close: a state held outside costs the batch a few %).
    """

    def __init__(self, link: QueueingLink, slots: int, bulk: FloatArray, ring: int) -> None:
        self.size = np.zeros(slots, dtype=np.int64)
        self.cls = np.zeros(slots, dtype=np.int64)
        self.ect = np.zeros(slots, dtype=np.bool_)
        self.draw = np.zeros(slots)  # PIE's uniform draw for the packet in each slot
        self.depart = np.full(slots, np.nan)
        self.fate = np.zeros(slots, dtype=np.int8)
        self.ce = np.zeros(slots, dtype=np.bool_)
        self.enqueued_at = np.zeros(slots)
        self.owner = np.full(slots, -1, dtype=np.int64)  # bulk flow of a slot, else < 0
        self.link = np.full(slots, -1, dtype=np.int64)  # next slot in the same class queue
        self.done = np.zeros(slots, dtype=np.int64)  # slots settled, in the order they were
        self.discipline = {DropTail: 0, CoDel: 1, Pie: 2}[type(link.discipline)]
        self.scheduling = int(link.scheduling)
        scale = 1.0 if link.scheduling == Scheduling.WEIGHTED else 0.0
        self.quantum = np.array(link.weights) * MTU_BYTES * scale
        self.limit_packets = -1 if link.limit_packets is None else link.limit_packets
        self.limit_bytes = -1 if link.limit_bytes is None else link.limit_bytes
        self.params = link._params()
        self.trace_mode = link.schedule is not None
        self.seconds_per_byte = 8.0 / link.rate_bps if link.rate_bps is not None else 0.0
        self.times_ms = (
            link.schedule.times_ms if link.schedule is not None else np.zeros(0, np.int64)
        )
        k = N_CLASSES
        self.head = np.full(k, -1, dtype=np.int64)
        self.tail = np.full(k, -1, dtype=np.int64)
        self.deficit = np.zeros(k)
        self.turn = np.array([0, 1], dtype=np.int64)
        self.counters = np.zeros(2, dtype=np.int64)
        # CoDel state per class (RFC 8289 clause 5 names).
        self.first_above = np.zeros(k)
        self.drop_next = np.zeros(k)
        self.count = np.zeros(k, dtype=np.int64)
        self.last_count = np.zeros(k, dtype=np.int64)
        self.dropping = np.zeros(k, dtype=np.bool_)
        # PIE state per class (RFC 8033 clause 4).
        pie = self.discipline == Discipline.PIE
        self.drop_prob = np.zeros(k)
        self.qdelay_old = np.zeros(k)
        self.burst = np.full(k, self.params[4] if pie else 0.0)
        next_update = self.params[1] if pie else math.inf
        self.fscalars = np.array([-math.inf, -math.inf, next_update])
        self.iscalars = np.array([0, -1, 0, 0, 0, 0], dtype=np.int64)
        # Bulk flows: Reno-like AIMD (RFC 5681) driven by feedback one base RTT after
        # each packet leaves the link or is dropped.
        flows = bulk.shape[0]
        self.bulk = bulk
        self.fb_time = np.zeros((flows, ring))
        self.fb_kind = np.zeros((flows, ring), dtype=np.int8)
        self.fb_head = np.zeros(flows, dtype=np.int64)
        self.fb_tail = np.zeros(flows, dtype=np.int64)
        self.cwnd = np.full(flows, 10.0)  # initial window of 10 segments, RFC 6928
        self.ssthresh = np.full(flows, 1e9)
        self.inflight = np.zeros(flows, dtype=np.int64)
        self.recover_until = np.full(flows, -math.inf)
        self.started = np.zeros(flows, dtype=np.bool_)
        # No sampling instants: the stepper runs on a clock with no end known in advance.
        self.sampling = (
            np.zeros(0),
            np.zeros((0, k), dtype=np.int64),
            np.zeros((0, k), dtype=np.int64),
            np.zeros((0, 3), dtype=np.int64),
            np.zeros(1, dtype=np.int64),
        )

    def run(self, arrive: FloatArray, n_known: int, horizon: float) -> None:
        """Run events up to where an arrival at ``horizon`` would come (see ``_run_events``)."""
        _step_kernel(
            arrive,
            n_known,
            horizon,
            (self.size, self.cls, self.ect, self.draw, self.depart, self.fate, self.ce,
             self.enqueued_at, self.owner, self.link, self.done),
            (self.scheduling, self.quantum, self.limit_packets, self.limit_bytes,
             self.discipline, self.params, self.trace_mode, self.seconds_per_byte,
             self.times_ms),
            (self.head, self.tail, self.deficit, self.turn, self.counters, self.first_above,
             self.drop_next, self.count, self.last_count, self.dropping, self.drop_prob,
             self.qdelay_old, self.burst),
            (self.fscalars, self.iscalars),
            (self.bulk, self.fb_time, self.fb_kind, self.fb_head, self.fb_tail, self.cwnd,
             self.ssthresh, self.inflight, self.recover_until, self.started),
            self.sampling,
        )  # fmt: skip


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
