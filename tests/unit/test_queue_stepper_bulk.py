"""Bulk (Reno AIMD) flows in the queue driven one packet at a time: the batch queue's outcomes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.queue_strategies import links
from voipbed.emulation.link_chain import DirectionChain, Release
from voipbed.loader import load_scenario
from voipbed.models.queue import BulkFlow, BulkStats, Fate, QueueingLink
from voipbed.models.queue_stepper import Background, Departure, QueueStepper
from voipbed.scenario import Segment
from voipbed.segment_stages import SegmentStages
from voipbed.sim.path import DirectionPackets, carry
from voipbed.sim.segment_link import SegmentLink
from voipbed.trace import DROP_REASONS

AGREEMENT = Path(__file__).resolve().parents[2] / "scenarios" / "agreement"
_STATS = ("sent", "delivered", "dropped", "marked", "delivered_bytes")

Packets = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@st.composite
def packets(draw: st.DrawFn, max_size: int = 150) -> Packets:
    """Arrival times (some equal), sizes, classes and ECT flags."""
    n = draw(st.integers(0, max_size))
    gaps = draw(
        st.lists(st.sampled_from([0.0, 0.0005]) | st.floats(0, 0.006), min_size=n, max_size=n)
    )
    arrive = np.cumsum(np.array(gaps, dtype=np.float64))
    size = np.array(draw(st.lists(st.integers(40, 1500), min_size=n, max_size=n)), dtype=np.int64)
    klass = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), dtype=np.int64)
    ect = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=np.bool_)
    return arrive, size, klass, ect


@st.composite
def bulk_flows(draw: st.DrawFn, end_s: float) -> tuple[BulkFlow, ...]:
    """One to three flows, each stopping by ``end_s`` (as ``cross_traffic.bulk_flows`` caps
    them at the run's end)."""
    flows = []
    for _ in range(draw(st.integers(1, 3))):
        start = draw(st.floats(0.0, 0.3))
        stop = min(start + draw(st.floats(0.01, 1.0)), end_s)
        flows.append(
            BulkFlow(
                rtt_s=draw(st.floats(0.002, 0.08)),
                start_s=start,
                stop_s=max(stop, start),
                size_bytes=draw(st.sampled_from([300, 1000, 1500])),
                klass=draw(st.integers(0, 2)),
                ecn=draw(st.booleans()),
            )
        )
    return tuple(flows)


def _batch(
    link: QueueingLink,
    mine: Packets,
    background: Background | None,
    bulk: tuple[BulkFlow, ...],
    seed: int,
    end_s: float,
) -> tuple[tuple[np.ndarray, ...], BulkStats]:
    """One ``serve`` of the caller's packets merged with the background ones (the caller's
    first on ties) and the bulk flows: the caller's outcomes and the flows' statistics."""
    arrive, size, klass, ect = mine
    if background is None:
        background = Background(
            np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.bool_)
        )
    times = np.concatenate([arrive, background.time_s])
    order = np.argsort(times, kind="stable")
    merged = (
        times[order],
        np.concatenate([size, background.size_bytes])[order],
        np.concatenate([klass, background.klass])[order],
        np.concatenate([ect, background.ect])[order],
    )
    outcome, stats = link.serve(*merged, np.random.default_rng(seed), bulk, end_s=end_s)
    where = np.empty(order.size, dtype=np.int64)
    where[order] = np.arange(order.size)
    where = where[: arrive.size]
    return (outcome.depart_s[where], outcome.fate[where], outcome.ce[where]), stats


def _check(
    out: dict[int, Departure],
    n: int,
    stepper: QueueStepper,
    expected: tuple[tuple[np.ndarray, ...], BulkStats],
) -> None:
    (depart, fate, ce), stats = expected
    got = [out[h] for h in range(n)]
    assert [int(d.fate) for d in got] == fate.tolist()
    assert [d.ce for d in got] == ce.tolist()
    np.testing.assert_array_equal([d.depart_s for d in got], depart)
    mine = stepper.bulk_stats()
    for name in _STATS:
        np.testing.assert_array_equal(getattr(mine, name), getattr(stats, name), err_msg=name)


@st.composite
def backgrounds(draw: st.DrawFn) -> Background | None:
    if not draw(st.booleans()):
        return None
    time_s, size, klass, ect = draw(packets(max_size=80))
    return Background(time_s + draw(st.sampled_from([0.0, 0.0005, 0.0013])), size, klass, ect)


@st.composite
def cases(draw: st.DrawFn) -> tuple[QueueingLink, Packets, Background | None, tuple[BulkFlow, ...]]:
    """A link, the caller's packets, maybe background ones, and bulk flows within the run."""
    mine = draw(packets())
    background = draw(backgrounds())
    end_s = float(mine[0][-1]) if mine[0].size else 0.0
    if background is not None and background.time_s.size:
        end_s = max(end_s, float(background.time_s[-1]))
    return draw(links()), mine, background, draw(bulk_flows(end_s + 0.2))


@settings(max_examples=200, deadline=None)
@given(
    case=cases(),
    pauses=st.lists(st.floats(0.0, 1.0), max_size=300),
    slots=st.sampled_from([2, 3, 8, 1024]),
    seed=st.integers(0, 2**32 - 1),
)
def test_bulk_flows_stepped_match_one_batch(
    case: tuple[QueueingLink, Packets, Background | None, tuple[BulkFlow, ...]],
    pauses: list[float],
    slots: int,
    seed: int,
) -> None:
    """With bulk flows, packets offered one by one and served at any times in between leave,
    are dropped and are marked exactly as in one ``serve``, PIE's draws included, and the
    flows send, deliver, lose and see marked the same segments."""
    link, mine, background, bulk = case
    arrive, size, klass, ect = mine
    stepper = QueueStepper(link, np.random.default_rng(seed), background, slots, bulk)
    out: dict[int, Departure] = {}
    last = 0.0
    pause = iter(pauses)
    for a, b, c, e in zip(
        arrive.tolist(), size.tolist(), klass.tolist(), ect.tolist(), strict=True
    ):
        for fraction in sorted(p for p in (next(pause, None), next(pause, None)) if p is not None):
            now = min(last + fraction * (a - last), a)
            out.update((d.handle, d) for d in stepper.serve_until(now))
        stepper.arrive(a, b, c, e)
        last = a
    out.update((d.handle, d) for d in stepper.serve_until(math.inf))
    assert stepper.queued == 0
    end_s = max(flow.stop_s for flow in bulk)
    _check(out, arrive.size, stepper, _batch(link, mine, background, bulk, seed, end_s))


@pytest.mark.parametrize("wake_at", ["next_event_s", "next_service_s"])
@settings(max_examples=60, deadline=None)
@given(case=cases(), seed=st.integers(0, 2**32 - 1))
def test_waking_at_next_event_with_bulk_flows_matches_one_batch(
    wake_at: str,
    case: tuple[QueueingLink, Packets, Background | None, tuple[BulkFlow, ...]],
    seed: int,
) -> None:
    """A loop that sleeps until ``next_event_s``, or only until ``next_service_s`` (or the
    next arrival), learns each departure by the first call after it, and everything equals
    one ``serve``."""
    link, mine, background, bulk = case
    arrive, size, klass, ect = mine
    stepper = QueueStepper(link, np.random.default_rng(seed), background, 4, bulk)
    next_wake = getattr(stepper, wake_at)
    out: dict[int, Departure] = {}
    asked = [-math.inf]

    def serve_until(now: float) -> None:
        settled = stepper.serve_until(now)
        sent = [d.depart_s for d in settled if d.fate == Fate.SENT]
        assert all(asked[-1] < d <= now for d in sent)  # none was left for a later call
        out.update((d.handle, d) for d in settled)
        asked.append(now)

    for a, b, c, e in zip(
        arrive.tolist(), size.tolist(), klass.tolist(), ect.tolist(), strict=True
    ):
        while (wake := next_wake()) < a:
            serve_until(wake)
        stepper.arrive(a, b, c, e)
        serve_until(a)
    while (wake := next_wake()) < math.inf:
        serve_until(wake)
    serve_until(math.inf)  # what ``next_service_s`` leaves: the flows' last feedback
    end_s = max(flow.stop_s for flow in bulk)
    _check(out, arrive.size, stepper, _batch(link, mine, background, bulk, seed, end_s))


def test_an_idle_link_wakes_for_a_bulk_flow_and_its_feedback() -> None:
    """Before a flow starts, the next event is its start; then its first window (10
    segments, RFC 6928) waits in the queue and the next event is the first departure."""
    link = QueueingLink(rate_bps=1.2e6)  # 1500 B take 10 ms
    stepper = QueueStepper(link, np.random.default_rng(1), bulk=(BulkFlow(0.05, 0.3, 2.0),))
    wake = stepper.next_event_s()
    assert 0.3 < wake == math.nextafter(0.3, math.inf)
    assert stepper.serve_until(wake) == []
    assert stepper.queued == 10 and stepper.bulk_stats().sent.tolist() == [10]
    assert stepper.next_event_s() == pytest.approx(0.31)
    stepper.serve_until(0.365)  # six segments left; the first one's ACK heard at 0.36
    stats = stepper.bulk_stats()
    assert stats.delivered.tolist() == [6]
    assert stats.sent.tolist() == [12]  # slow start: one ACK, a window of 11, 9 in flight


def test_a_flow_that_never_stops_cannot_be_served_to_the_end() -> None:
    """Serving to inf with a flow without stop would never end: refused."""
    stepper = QueueStepper(
        QueueingLink(rate_bps=1e6), np.random.default_rng(1), bulk=(BulkFlow(0.05),)
    )
    stepper.serve_until(1.0)
    with pytest.raises(ValueError, match="never stops"):
        stepper.serve_until(math.inf)


def test_call_packets_with_send_jitter_see_the_batch_queue_of_the_agreement_scenario() -> None:
    """On the bulk-bufferbloat agreement scenario's bottleneck, calls' packets arriving up to
    2 ms off their 20 ms grid (a real stack's sending) through the stepper see the median
    queueing delay within 2 ms and the loss within 0.5 point of the simulator's batch on the
    exact grid, and the bulk flow delivers within 1 % of the same bytes."""
    scenario = load_scenario(AGREEMENT / "bulk-bufferbloat.yaml")
    segment, end_s = scenario.path[0], scenario.duration_s
    batch = SegmentStages.build(segment, "uplink", scenario.seed, end_s)
    stepped = SegmentStages.build(segment, "uplink", scenario.seed, end_s)
    assert batch.queueing is not None and stepped.queueing is not None and batch.bulk
    n = int(end_s / 0.02)
    arrive = np.arange(n, dtype=np.float64) * 0.02
    arrive += 0.1
    size = np.full(n, 200, dtype=np.int64)
    zeros = np.zeros(n, dtype=np.int64)
    outcome, stats = batch.queueing.serve(
        arrive, size, zeros, zeros.astype(np.bool_), batch.queue_rng, batch.bulk, end_s=end_s
    )
    jittered = arrive + np.random.default_rng(3).uniform(0.0, 0.002, n)
    stepper = QueueStepper(stepped.queueing, stepped.queue_rng, bulk=stepped.bulk)
    out: dict[int, Departure] = {}
    for a in jittered.tolist():
        while (wake := stepper.next_event_s()) < a:
            out.update((d.handle, d) for d in stepper.serve_until(wake))
        stepper.arrive(a, 200, 0, False)
    out.update((d.handle, d) for d in stepper.serve_until(math.inf))
    depart = np.array([out[h].depart_s for h in range(n)])
    batch_delay = float(np.nanmedian(outcome.depart_s - arrive))
    assert batch_delay > 0.08  # the bloat: a standing queue of most of the buffer
    assert abs(float(np.nanmedian(depart - jittered)) - batch_delay) < 0.002
    assert abs(np.isnan(depart).mean() - np.isnan(outcome.depart_s).mean()) < 0.005
    delivered = int(stepper.bulk_stats().delivered_bytes.sum())
    assert delivered == pytest.approx(int(stats.delivered_bytes.sum()), rel=0.01)


BULK_SEGMENT = {
    "name": "backhaul",
    "capacity": "2Mbps",
    "queue": {"bytes": "30KB"},
    "cross_traffic": [
        {"kind": "bulk", "count": 2, "rtt": "30ms", "stop": "1s"},
        {"kind": "cbr", "rate": "200kbps", "packet_size": "1000B"},
    ],
    "loss": "2%",
    "one_way_delay": "5ms",
    "jitter": {"distribution": "exponential", "scale": "1ms"},
}


@pytest.mark.parametrize(
    "queue",
    [{"bytes": "30KB"}, {"packets": 30, "aqm": "pie"}, {"packets": 30, "aqm": "codel"}],
)
def test_chain_with_bulk_flows_matches_the_simulators_segment(queue: dict[str, object]) -> None:
    """Call packets through the userspace link's chain, with bulk and cbr cross traffic,
    leave when, are lost where and are marked as the simulator's segment says, and the
    chain's cross-traffic totals are the simulator's ``queue_stats`` counts."""
    segment = Segment.model_validate({**BULK_SEGMENT, "queue": queue})
    rng = np.random.default_rng(4)
    n = 150
    arrive = 0.01 + np.cumsum(rng.uniform(0.0, 0.02, n))
    size = rng.integers(60, 300, n)
    flow = rng.integers(0, 3, n)
    ect = rng.random(n) < 0.5
    run_end_s = float(arrive[-1]) + 0.5
    sim_link = SegmentLink(segment, "uplink", 9, run_end_s=run_end_s)
    result = carry(
        DirectionPackets(arrive, flow, size, np.zeros(n, dtype=np.int64), ect), [sim_link]
    )
    sim_stats, _ = sim_link.finish()
    assert sim_stats is not None and sim_stats["bulk_sent"] > 0
    chain = DirectionChain(segment, "uplink", 9, run_end_s=run_end_s)
    released: dict[int, Release] = {}
    for a, b, f, e in zip(arrive.tolist(), size.tolist(), flow.tolist(), ect.tolist(), strict=True):
        while (wake := chain.next_event_s()) < a:
            released.update((r.handle, r) for r in chain.release(wake))
        chain.offer(a, b, f, 0, 2 if e else 0)
    released.update((r.handle, r) for r in chain.release(math.inf))
    got = [released[h] for h in range(n)]
    expected = [None if code < 0 else DROP_REASONS[code] for code in result.drop_reason]
    assert [None if r.reason < 0 else DROP_REASONS[r.reason] for r in got] == expected
    np.testing.assert_allclose([r.depart_s for r in got], result.recv_s, rtol=0, atol=1e-9)
    assert [r.ce for r in got] == result.ce.tolist()
    totals = chain.cross_traffic_totals()
    for name in ("bulk_flows", "bulk_sent", "bulk_delivered_bytes", "bulk_dropped", "bulk_marked"):
        assert totals[name] == sim_stats[name], name
    assert totals["dropped"] == sim_stats["cross_dropped"]
    assert totals["offered"] == sim_stats["cross_packets"]
