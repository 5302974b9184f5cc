"""The parts of the queue's event loop, each on its own: scheduler, disciplines, service, bulk
flows, and the state set up once for the batch and the stepper."""

from __future__ import annotations

import math
from types import ModuleType

import numba
import numpy as np
import pytest

from voipbed.models import queue_events
from voipbed.models.mahimahi import DeliverySchedule
from voipbed.models.queue import CoDel, Fate, Pie, QueueingLink, Scheduling
from voipbed.models.queue_bulk import (
    INITIAL_WINDOW,
    BulkFlow,
    hear,
    new_flows,
    next_bulk_event,
    send_allowed,
    tell,
)
from voipbed.models.queue_codes import MTU_BYTES, N_CLASSES, Feedback, Verdict
from voipbed.models.queue_discipline import (
    DisciplineState,
    codel_verdict,
    new_discipline,
    pie_update,
    pie_verdict,
)
from voipbed.models.queue_sampling import Sampling, new_sampling
from voipbed.models.queue_scheduler import new_scheduler, pick_class, pop, push
from voipbed.models.queue_service import next_opportunity, opportunity_s
from voipbed.models.queue_state import IN_SERVICE, NEXT_UPDATE, new_slots, new_state, plain_state


def _served_classes(scheduling: Scheduling, weights: tuple[float, ...], picks: int) -> list[int]:
    """The classes ``pick_class`` serves from three backlogged queues of MTU-sized packets."""
    scheduler = new_scheduler(scheduling, weights)
    per_class = 3 * picks
    size = np.full(N_CLASSES * per_class, MTU_BYTES, dtype=np.int64)
    link = np.full(size.size, -1, dtype=np.int64)
    for k in range(size.size):
        push(k, k % N_CLASSES, scheduler.head, scheduler.tail, link)
    served = []
    for _ in range(picks):
        c = pick_class(
            scheduler.scheduling,
            scheduler.head,
            size,
            scheduler.quantum,
            scheduler.deficit,
            scheduler.turn,
        )
        pop(c, scheduler.head, scheduler.tail, link)
        served.append(c)
    return served


def test_strict_priority_serves_the_lowest_class_first() -> None:
    """Strict priority keeps serving class 0 while it has packets."""
    assert set(_served_classes(Scheduling.STRICT, (1.0, 1.0, 1.0), 12)) == {0}


def test_deficit_round_robin_shares_by_weight() -> None:
    """DRR with weights 3:2:1 serves MTU packets in that proportion."""
    served = _served_classes(Scheduling.WEIGHTED, (3.0, 2.0, 1.0), 60)
    assert [served.count(c) for c in range(N_CLASSES)] == [30, 20, 10]


def _codel(ecn: bool = False) -> DisciplineState:
    """CoDel's default target (5 ms) and interval (100 ms)."""
    return new_discipline(CoDel(ecn=ecn), None, None)


def test_codel_drops_after_an_interval_above_target_then_faster() -> None:
    """CoDel passes while the sojourn is short, drops once it stayed above target for an
    interval, and spaces the next drops by interval / sqrt(count) (RFC 8289)."""
    codel = _codel()
    _, drop_next, count, _, dropping = codel.codel
    backlog = 10 * MTU_BYTES

    def verdict(now: float, sojourn: float) -> int:
        return int(codel_verdict(0, now, sojourn, backlog, False, codel.codel_params, *codel.codel))

    assert verdict(0.0, 0.001) == Verdict.PASS
    assert verdict(0.0, 0.010) == Verdict.PASS  # above target: the interval starts
    assert verdict(0.05, 0.010) == Verdict.PASS
    assert verdict(0.1, 0.010) == Verdict.DROP
    assert drop_next[0] == pytest.approx(0.1 + 0.1 / math.sqrt(1))
    assert verdict(0.15, 0.010) == Verdict.PASS  # before drop_next
    assert verdict(0.2, 0.010) == Verdict.DROP
    assert count[0] == 2 and drop_next[0] == pytest.approx(0.2 + 0.1 / math.sqrt(2))
    assert verdict(0.25, 0.001) == Verdict.PASS and not dropping[0]


def test_codel_marks_ecn_capable_packets_instead() -> None:
    """Where CoDel would drop, it marks an ECN-capable packet when ECN is on."""
    codel = _codel(ecn=True)
    verdicts = [
        int(codel_verdict(0, now, 0.010, 10 * MTU_BYTES, True, codel.codel_params, *codel.codel))
        for now in (0.0, 0.1)
    ]
    assert verdicts == [Verdict.PASS, Verdict.MARK]


def _pie_verdict(
    backlog: int, draw: float, ect: bool, drop_prob: float, burst_s: float = 0.0, ecn: bool = True
) -> int:
    """PIE's verdict on a packet of class 0 when its delay was well above target."""
    state = new_discipline(Pie(ecn=ecn), None, None)
    state.pie.drop_prob[:] = drop_prob
    state.pie.qdelay_old[:] = 0.1
    state.pie.burst[:] = burst_s
    return int(pie_verdict(0, backlog, draw, ect, state.pie_params, *state.pie))


def test_pie_drops_early_with_its_probability_and_marks_below_ten_percent() -> None:
    """PIE passes during its burst allowance or below 2 MTU of backlog; otherwise a draw
    under the drop probability drops, or marks an ECN-capable packet while it is <= 10 %."""
    backlog = 10 * MTU_BYTES
    assert _pie_verdict(backlog, 0.0, False, 0.5, burst_s=0.1) == Verdict.PASS
    assert _pie_verdict(2 * MTU_BYTES, 0.0, False, 0.5) == Verdict.PASS
    assert _pie_verdict(backlog, 0.6, False, 0.5) == Verdict.PASS
    assert _pie_verdict(backlog, 0.4, False, 0.5) == Verdict.DROP
    assert _pie_verdict(backlog, 0.4, True, 0.5) == Verdict.DROP
    assert _pie_verdict(backlog, 0.05, True, 0.08) == Verdict.MARK
    assert _pie_verdict(backlog, 0.05, True, 0.08, ecn=False) == Verdict.DROP


def test_pie_update_raises_the_probability_above_target_and_decays_it_when_empty() -> None:
    """The drop probability grows while the head waits past QDELAY_REF, decays when empty."""
    state = new_discipline(Pie(), None, None)
    head = np.array([0, -1, -1], dtype=np.int64)
    enqueued_at = np.zeros(1)
    for at in np.arange(0.015, 1.5, 0.015):
        pie_update(at, enqueued_at, head, state.pie_params, *state.pie)
    grown = state.pie.drop_prob[0]
    assert grown > 0.01 and state.pie.drop_prob[1] == 0.0
    head[0] = -1
    for at in np.arange(1.5, 3.0, 0.015):
        pie_update(at, enqueued_at, head, state.pie_params, *state.pie)
    assert state.pie.drop_prob[0] < grown


def test_schedule_opportunities_repeat_and_an_idle_link_skips_past_ones() -> None:
    """Opportunity n of a schedule comes n // slots periods later; an idle link starts at
    the first one after the time given, never before the one it was at."""
    times_ms = np.array([2, 5, 10], dtype=np.int64)
    assert [opportunity_s(n, times_ms) for n in range(5)] == [0.002, 0.005, 0.010, 0.012, 0.015]
    assert next_opportunity(0.011, times_ms, 0) == 3
    assert next_opportunity(0.0125, times_ms, 0) == 4  # the one at 12 ms has passed
    assert next_opportunity(0.001, times_ms, 2) == 2


def test_bulk_flow_grows_its_window_and_halves_once_per_round_trip() -> None:
    """Each ACK adds a segment in slow start; two losses in one round trip halve once."""
    flows = new_flows((BulkFlow(rtt_s=0.1),), end_s=10.0, ring=8)
    rtt_s, _, stop_s, _, _, _, fb_time, fb_kind, fb_head, fb_tail = flows[:10]
    cwnd, ssthresh, inflight, recover_until, started = flows[10:]
    window = (rtt_s, fb_kind, fb_head, cwnd, ssthresh, inflight, recover_until, started)
    assert next_bulk_event(flows.start_s, started, fb_time, fb_head, fb_tail) == (0.0, 0)
    hear(0, 0.0, *window)  # it starts
    assert started[0] and send_allowed(0, 0.0, inflight, cwnd, stop_s)
    inflight[0] = 4
    for at, kind in ((0.2, Feedback.ACK), (0.3, Feedback.LOSS), (0.35, Feedback.LOSS)):
        tell(0, at, kind, fb_time, fb_kind, fb_tail)
    assert next_bulk_event(flows.start_s, started, fb_time, fb_head, fb_tail) == (0.2, 0)
    hear(0, 0.2, *window)
    assert cwnd[0] == INITIAL_WINDOW + 1
    hear(0, 0.3, *window)
    hear(0, 0.35, *window)
    assert cwnd[0] == ssthresh[0] == (INITIAL_WINDOW + 1) / 2
    assert inflight[0] == 1 and recover_until[0] == pytest.approx(0.4)
    assert not send_allowed(0, 10.0, inflight, cwnd, stop_s)  # past its stop


def test_new_state_starts_idle_with_pie_first_update_one_period_in() -> None:
    """Before anything arrives, nothing is in service and PIE's first update is due after
    ``update_s``; without PIE, never."""
    for discipline, first_update in ((Pie(update_s=0.02), 0.02), (CoDel(), math.inf)):
        link = QueueingLink(discipline=discipline, rate_bps=1e6)
        state = new_state(link, new_slots(4, False), new_flows((), 0.0, 1), _no_sampling(), 4)
        assert state.progress.floats[NEXT_UPDATE] == first_update
        assert state.progress.ints[IN_SERVICE] == -1
        assert state.scheduler.waiting.tolist() == [0, 0]
        assert (state.scheduler.head < 0).all()


def _no_sampling() -> Sampling:
    return new_sampling(np.zeros(0))


def test_plain_state_shares_the_arrays() -> None:
    """The plain tuples the kernel takes hold the state's own arrays, not copies."""
    link = QueueingLink(schedule=DeliverySchedule(np.array([1, 2], dtype=np.int64)))
    state = new_state(link, new_slots(3, True), new_flows((), 0.0, 1), _no_sampling(), 0)
    plain = plain_state(state)
    assert type(plain) is tuple and type(plain[0]) is tuple
    plain[0][0][1] = 1234  # slots.size
    assert state.slots.size[1] == 1234


def test_fates_are_the_codes_the_batch_reports() -> None:
    """A packet over the limit comes back as ``Fate.OVERFLOW``, the others ``Fate.SENT``."""
    link = QueueingLink(rate_bps=1e6, limit_packets=1)
    outcome, _ = link.serve(
        np.zeros(3),
        np.full(3, 1000),
        np.zeros(3, np.int64),
        np.zeros(3, bool),
        np.random.default_rng(0),
    )
    assert outcome.fate.tolist() == [Fate.SENT, Fate.SENT, Fate.OVERFLOW]


def test_the_cache_key_covers_every_part_the_loop_compiles_in() -> None:
    """Every module whose kernels ``queue_events`` calls is in the digest of its cache key."""
    parts = {module.__name__ for module in queue_events._PARTS}
    used = {
        value.py_func.__module__
        for value in vars(queue_events).values()
        if isinstance(value, numba.core.registry.CPUDispatcher)
    }
    assert used - {queue_events.__name__} <= parts
    assert all(isinstance(module, ModuleType) for module in queue_events._PARTS)
