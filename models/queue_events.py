"""The queue's event loop: arrivals, service events and bulk-flow events in time order.

``run_events`` runs a ``QueueState`` (``models.queue_state``) from where it
was left: each arriving packet waits in the queue of its class or is dropped
by the discipline, the scheduler picks which class the link serves at each
service event, and the bulk flows send as their windows allow. It stops where
an unknown later arrival could come first, or before a bulk flow's event that
could send more segments than there are free slots (PIE draws, feedback
entries) for, so a later call resumes there. ``read_log`` reads what settled.

The parts are numba kernels of their own modules, inlined here. numba keys a
cached kernel on its own file only, so ``run_events`` also carries a digest of
the parts' source: an edit to any of them compiles it again.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from voipbed.models import (
    link,
    mahimahi,
    queue_bulk,
    queue_codes,
    queue_discipline,
    queue_sampling,
    queue_scheduler,
    queue_service,
    queue_state,
)
from voipbed.models._jit import inline_kernel, kernel
from voipbed.models.queue_bulk import (
    DELIVERED,
    DELIVERED_BYTES,
    DROPPED,
    MARKED,
    hear,
    most_sent,
    next_bulk_event,
    send_allowed,
    tell,
)
from voipbed.models.queue_codes import Discipline, Event, Fate, Feedback, Owner, Verdict
from voipbed.models.queue_discipline import (
    CoDelParams,
    PieParams,
    codel_verdict,
    over_limit,
    pie_update,
    pie_verdict,
)
from voipbed.models.queue_sampling import flush_out, next_instant, record_backlog, tally
from voipbed.models.queue_scheduler import (
    WAITING_BYTES,
    WAITING_PACKETS,
    pick_class,
    pop,
    push,
    queue_of,
)
from voipbed.models.queue_service import (
    OPPORTUNITY_BYTES,
    carried_s,
    charged_bytes,
    next_opportunity,
    opportunity_s,
)
from voipbed.models.queue_state import (
    ARRIVED,
    BUSY_UNTIL,
    DONE,
    IN_SERVICE,
    NEXT_DRAW,
    NEXT_OPP,
    NEXT_SLOT,
    NEXT_UPDATE,
    NOW,
    RATE_STEP,
    TRANSIT_LEFT,
    QueueState,
    Slots,
)

__all__ = ["read_log", "run_events"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

_PARTS: tuple[ModuleType, ...] = (
    link,
    mahimahi,
    queue_bulk,
    queue_codes,
    queue_discipline,
    queue_sampling,
    queue_scheduler,
    queue_service,
    queue_state,
)


@inline_kernel
def _next_event(t_arrival: float, t_server: float, t_bulk: float) -> int:
    """Which event comes first; on a tie, in ``Event``'s order."""
    if t_server <= t_arrival and t_server <= t_bulk:
        return Event.SERVICE
    if t_bulk < t_arrival:
        return Event.BULK
    return Event.ARRIVAL


@inline_kernel
def _depart(
    k: int,
    now: float,
    depart: FloatArray,
    owner: IntArray,
    size: IntArray,
    ce: NDArray[np.bool_],
    rtt_s: FloatArray,
    fb_time: FloatArray,
    fb_kind: NDArray[np.int8],
    fb_tail: IntArray,
    done: IntArray,
    n_done: int,
    out_given: int,
    out_bulk: int,
    out_background: int,
) -> tuple[int, int, int, int]:
    """Slot ``k`` leaves the link at ``now``: its departure, the bytes out, the log and, for a
    bulk segment, its acknowledgement (CE-marked or not) an RTT later. The counters after."""
    depart[k] = now
    out_given, out_bulk, out_background = tally(
        owner[k], size[k], out_given, out_bulk, out_background
    )
    n_done = _log(k, done, n_done)
    b = owner[k]
    if b >= 0:
        fb = Feedback.CE if ce[k] else Feedback.ACK
        tell(b, now + rtt_s[b], fb, fb_time, fb_kind, fb_tail)
    return out_given, out_bulk, out_background, n_done


@inline_kernel
def _log(k: int, done: IntArray, n_done: int) -> int:
    """Log slot ``k`` as settled, if the state keeps a log; the entries logged."""
    if done.size == 0:
        return n_done
    done[n_done] = k
    return n_done + 1


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
    waiting: IntArray,
    limit_packets: int,
    limit_bytes: int,
    kind: int,
    pie: PieParams,
    drop_prob: FloatArray,
    qdelay_old: FloatArray,
    burst: FloatArray,
) -> bool:
    """Offer packet ``k`` to class ``c``'s queue; False if it was dropped (``fate`` says why)."""
    if over_limit(
        waiting[WAITING_PACKETS], waiting[WAITING_BYTES], size[k], limit_packets, limit_bytes
    ):
        fate[k] = Fate.OVERFLOW
        return False
    if kind == Discipline.PIE:
        verdict = pie_verdict(
            c, waiting[WAITING_BYTES], draw[k], ect[k], pie, drop_prob, qdelay_old, burst
        )
        if verdict == Verdict.MARK:
            ce[k] = True
        elif verdict == Verdict.DROP:
            fate[k] = Fate.AQM
            return False
    enqueued_at[k] = now
    push(k, c, head, tail, link)
    waiting[WAITING_PACKETS] += 1
    waiting[WAITING_BYTES] += size[k]
    return True


@inline_kernel
def _run_events(state: QueueState, arrive: FloatArray, n_known: int, horizon: float) -> int:
    """Run the link's events in time order, from the state it was left in; 0, or the
    number of segments a bulk flow's next event may send that there is no room for.

    The packet in slot ``i`` arrives at ``arrive[i]``, for ``i`` from ``ARRIVED``
    to ``n_known``; whatever comes later arrives at ``horizon`` or after, so the
    loop stops at the first event that such an arrival could precede
    (``horizon`` = inf: serve everything to the end). Bulk flows' segments take
    slots from ``NEXT_SLOT`` on, and PIE's draws from ``NEXT_DRAW`` on; the loop
    stops before a flow's event that may send more segments than there are
    slots or draws left, or hold more feedback than its ring (``most_sent``), and
    returns how many it may send. Each packet whose fate is settled (sent or
    dropped) is appended to ``done`` (unless it has no room at all). Before each
    event, the backlog is recorded at the sampling instants it comes after, and
    each departure adds its bytes to the interval that holds it.

    ``state`` comes as plain tuples (``plain_state``), read by position; its arrays
    are taken out once, here (see ``DisciplineState``), and the parts' kernels are
    given them.
    """
    slots, scheduler, discipline, service, progress, flows, sampling, bulk_draws = state
    size, cls, ect, draw, owner, depart, fate, ce, enqueued_at, link, done, _ = slots
    scheduling, quantum, head, tail, deficit, turn, waiting = scheduler
    kind, limit_packets, limit_bytes, codel_params, codel_state, pie_params, pie_state = discipline
    codel, pie = CoDelParams(*codel_params), PieParams(*pie_params)
    first_above, drop_next, count, last_count, dropping = codel_state
    drop_prob, qdelay_old, burst = pie_state
    trace_mode, step_start_s, seconds_per_byte, times_ms = service
    rtt_s, start_s, stop_s, bulk_size, bulk_class, bulk_ect = flows[:6]
    fb_time, fb_kind, fb_head, fb_tail, cwnd, ssthresh, inflight = flows[6:13]
    recover_until, started = flows[13:]
    times, sample_packets, sample_bytes, out_bytes, sample_next = sampling
    next_sample = sample_next[0]  # its instant is at or after every event run so far
    t_sample = next_instant(next_sample, times)
    out_given, out_bulk, out_background = 0, 0, 0  # bytes out since the last instant
    total = size.size
    floats, ints = progress
    now = floats[NOW]
    busy_until = floats[BUSY_UNTIL]  # rate mode
    next_update = floats[NEXT_UPDATE]  # PIE
    next_opp = ints[NEXT_OPP]  # trace mode
    rate_step = ints[RATE_STEP]  # rate mode
    in_service = ints[IN_SERVICE]
    transit_left = ints[TRANSIT_LEFT]
    i = ints[ARRIVED]
    next_slot = ints[NEXT_SLOT]
    n_done = ints[DONE]
    next_draw = ints[NEXT_DRAW]
    ring = fb_time.shape[1]
    short = 0  # segments a bulk event may send that there is no room for
    while True:
        t_arrival = arrive[i] if i < n_known else horizon
        t_bulk, b_next = next_bulk_event(start_s, started, fb_time, fb_head, fb_tail)
        idle = in_service < 0 and waiting[WAITING_PACKETS] == 0
        if trace_mode:
            if idle:
                t_next = min(t_arrival, t_bulk)
                if t_next == math.inf:
                    break
                next_opp = next_opportunity(t_next, times_ms, next_opp)
            t_server = opportunity_s(next_opp, times_ms)
        elif in_service >= 0:
            t_server = busy_until
        elif waiting[WAITING_PACKETS] > 0:
            t_server = now  # idle with packets waiting: start at once
        else:
            t_server = math.inf
            if t_arrival == math.inf and t_bulk == math.inf:
                break
        t_first = min(t_arrival, t_server, t_bulk)
        if t_sample < t_first:  # the state holds until the next event: sample it
            flush_out(next_sample, out_bytes, out_given, out_bulk, out_background)
            out_given, out_bulk, out_background = 0, 0, 0
            next_sample = record_backlog(
                next_sample, t_first, times, head, link, cls, size, sample_packets, sample_bytes
            )
            t_sample = next_instant(next_sample, times)
        # PIE's periodic update runs at its own instants, between the packet events.
        while next_update <= t_first:
            pie_update(next_update, enqueued_at, head, pie, drop_prob, qdelay_old, burst)
            next_update += pie.update_s
        event = _next_event(t_arrival, t_server, t_bulk)
        if event == Event.SERVICE:
            now = t_server
            # One service event: a rate departure, or one delivery opportunity.
            budget = OPPORTUNITY_BYTES if trace_mode else 0
            if trace_mode:
                next_opp += 1
            elif in_service >= 0:
                out_given, out_bulk, out_background, n_done = _depart(
                    in_service, now, depart, owner, size, ce, rtt_s, fb_time, fb_kind, fb_tail,
                    done, n_done, out_given, out_bulk, out_background,
                )  # fmt: skip
                in_service = -1
            while True:
                if in_service < 0:
                    # Dequeue through the scheduler and, for CoDel, its drop loop.
                    k = -1
                    while True:
                        c = pick_class(scheduling, head, size, quantum, deficit, turn)
                        if c < 0:
                            break
                        k = pop(c, head, tail, link)
                        waiting[WAITING_PACKETS] -= 1
                        waiting[WAITING_BYTES] -= size[k]
                        if kind != Discipline.CODEL:
                            break
                        verdict = codel_verdict(
                            c, now, now - enqueued_at[k], waiting[WAITING_BYTES], ect[k], codel,
                            first_above, drop_next, count, last_count, dropping,
                        )  # fmt: skip
                        if verdict == Verdict.PASS:
                            break
                        if verdict == Verdict.MARK:
                            ce[k] = True  # it is sent
                            break
                        fate[k] = Fate.AQM
                        n_done = _log(k, done, n_done)
                        b = owner[k]
                        if b >= 0:
                            tell(b, now + rtt_s[b], Feedback.LOSS, fb_time, fb_kind, fb_tail)
                        k = -1
                    if k < 0:
                        break
                    in_service = k
                    if trace_mode:
                        transit_left = charged_bytes(size[k])
                    else:
                        transit_left = size[k]
                        busy_until, rate_step = carried_s(
                            now, size[k], step_start_s, seconds_per_byte, rate_step
                        )
                        break
                if not trace_mode:
                    break
                amount = min(budget, transit_left)
                budget -= amount
                transit_left -= amount
                if transit_left == 0:
                    out_given, out_bulk, out_background, n_done = _depart(
                        in_service, now, depart, owner, size, ce, rtt_s, fb_time, fb_kind,
                        fb_tail, done, n_done, out_given, out_bulk, out_background,
                    )  # fmt: skip
                    in_service = -1
                if budget == 0:
                    break
        elif event == Event.BULK:
            b = b_next
            most = most_sent(b, cwnd, inflight)
            if t_bulk < stop_s[b] and most > 0:
                no_draws = kind == Discipline.PIE and next_draw + most > bulk_draws.size
                if next_slot + most > total or inflight[b] + most > ring or no_draws:
                    short = most  # nothing of the event has run: the next call runs it
                    break
            now = t_bulk
            hear(b, now, rtt_s, fb_kind, fb_head, cwnd, ssthresh, inflight, recover_until, started)
            while send_allowed(b, now, inflight, cwnd, stop_s):
                k = next_slot
                next_slot += 1
                owner[k] = b
                size[k] = bulk_size[b]
                cls[k] = bulk_class[b]
                ect[k] = bulk_ect[b]
                if kind == Discipline.PIE:
                    draw[k] = bulk_draws[next_draw]
                    next_draw += 1
                inflight[b] += 1
                accepted = _enqueue(
                    k, now, queue_of(scheduling, cls[k]), size, ect, draw, fate, ce, enqueued_at,
                    head, tail, link, waiting, limit_packets, limit_bytes, kind, pie, drop_prob,
                    qdelay_old, burst,
                )  # fmt: skip
                if not accepted:
                    n_done = _log(k, done, n_done)
                    tell(b, now + rtt_s[b], Feedback.LOSS, fb_time, fb_kind, fb_tail)
        else:
            if i >= n_known:
                break  # the next arrival is not known yet: stop before it
            now = t_arrival
            k = i
            i += 1
            accepted = _enqueue(
                k, now, queue_of(scheduling, cls[k]), size, ect, draw, fate, ce, enqueued_at,
                head, tail, link, waiting, limit_packets, limit_bytes, kind, pie, drop_prob,
                qdelay_old, burst,
            )  # fmt: skip
            if not accepted:
                n_done = _log(k, done, n_done)
    floats[NOW] = now
    floats[BUSY_UNTIL] = busy_until
    floats[NEXT_UPDATE] = next_update
    ints[NEXT_OPP] = next_opp
    ints[IN_SERVICE] = in_service
    ints[TRANSIT_LEFT] = transit_left
    ints[ARRIVED] = i
    ints[NEXT_SLOT] = next_slot
    ints[DONE] = n_done
    ints[NEXT_DRAW] = next_draw
    ints[RATE_STEP] = rate_step
    sample_next[0] = next_sample
    flush_out(next_sample, out_bytes, out_given, out_bulk, out_background)
    return short


@inline_kernel
def _read_log(slots: Slots, n_done: int, found: IntArray, tally: IntArray) -> tuple[int, bool, int]:
    """Read the first ``n_done`` entries of the slots' log (``done``): the slot of each
    packet numbered for the caller (``ident`` >= 0) into ``found``, in the order settled;
    each bulk segment into the ``tally`` of its flow (``models.queue_bulk.DELIVERED``...).
    The slots found, whether they ascend, and the background packets dropped."""
    size, _, _, _, owner, _, fate, ce, _, _, done, ident = slots
    n = 0
    ascending = True
    background_dropped = 0
    for j in range(n_done):
        k = done[j]
        b = owner[k]
        sent = fate[k] == Fate.SENT
        if b >= 0:
            if sent:
                tally[DELIVERED, b] += 1
                tally[DELIVERED_BYTES, b] += size[k]
            else:
                tally[DROPPED, b] += 1
            if ce[k]:
                tally[MARKED, b] += 1
            continue
        if b == Owner.BACKGROUND and not sent:
            background_dropped += 1
        if ident[k] < 0:
            continue  # not numbered: the caller does not hear of it
        if n > 0 and k < found[n - 1]:
            ascending = False
        found[n] = k
        n += 1
    return n, ascending, background_dropped


def _parts_digest() -> str:
    """A digest of the source of every module whose kernels or constants the loop uses."""
    digest = hashlib.sha256()
    for module in _PARTS:
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()


class Kernels(NamedTuple):
    """The cached kernels of ``_run_events`` and ``_read_log`` (which see), on plain
    tuples (``plain_state``)."""

    run_events: Callable[[QueueState, FloatArray, int, float], int]
    read_log: Callable[[Slots, int, IntArray, IntArray], tuple[int, bool, int]]


def _compile(digest: str) -> Kernels:
    """The kernels, keyed also on ``digest`` (numba hashes a kernel's closure into its cache
    key)."""

    @kernel
    def run_events(state: QueueState, arrive: FloatArray, n_known: int, horizon: float) -> int:
        """``_run_events`` (which see) on ``state`` (``plain_state``), in place."""
        _ = digest
        return _run_events(state, arrive, n_known, horizon)

    @kernel
    def read_log(
        slots: Slots, n_done: int, found: IntArray, tally: IntArray
    ) -> tuple[int, bool, int]:
        """``_read_log`` (which see) on ``slots`` (a plain tuple)."""
        _ = digest
        return _read_log(slots, n_done, found, tally)

    return Kernels(run_events, read_log)


run_events, read_log = _compile(_parts_digest())
