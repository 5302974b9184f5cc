"""The classful AQM queue agrees with its plain reference and shows what each policy does."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.queue_strategies import links
from tests.sim.queue_reference import reference_serve
from voipbed.models.link import QueueLimit, RateLink, TraceLink
from voipbed.models.mahimahi import DeliverySchedule
from voipbed.models.queue import (
    N_CLASSES,
    BulkFlow,
    CoDel,
    Fate,
    Pie,
    QueueingLink,
    Scheduling,
    TrafficClass,
    dscp_class,
)
from voipbed.models.queue_window import bulk_generator


@st.composite
def offered(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    n = draw(st.integers(0, 250))
    gaps = draw(st.lists(st.floats(0, 0.004), min_size=n, max_size=n))
    arrive = np.cumsum(np.array(gaps, dtype=np.float64))
    size = np.array(draw(st.lists(st.integers(40, 1500), min_size=n, max_size=n)), dtype=np.int64)
    classes = st.integers(0, N_CLASSES - 1)
    klass = np.array(draw(st.lists(classes, min_size=n, max_size=n)), dtype=np.int64)
    ect = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=np.bool_)
    return arrive, size, klass, ect


bulks = st.lists(
    st.builds(
        BulkFlow,
        rtt_s=st.floats(0.001, 0.05),
        start_s=st.floats(0, 0.2),
        size_bytes=st.integers(500, 1500),
        klass=st.integers(0, N_CLASSES - 1),
        ecn=st.booleans(),
    ),
    max_size=2,
)


@settings(max_examples=300, deadline=None)
@given(link=links(), packets=offered(), bulk=bulks, seed=st.integers(0, 2**32 - 1))
def test_queueing_link_matches_reference(
    link: QueueingLink, packets: tuple[np.ndarray, ...], bulk: list[BulkFlow], seed: int
) -> None:
    """Departures, drops, CE marks and bulk goodput equal the plain event-driven reference."""
    arrive, size, klass, ect = packets
    outcome, stats = link.serve(arrive, size, klass, ect, np.random.default_rng(seed), tuple(bulk))
    segments = int(stats.sent.sum())  # the reference fails if it sends more
    draws = np.zeros(arrive.size + segments)
    if isinstance(link.discipline, Pie):  # the packets' draws, then the segments' own stream
        rng = np.random.default_rng(seed)
        draws = np.concatenate([rng.random(arrive.size), bulk_generator(rng).random(segments)])
    depart, fate, ce, delivered = reference_serve(link, arrive, size, klass, ect, draws, bulk)
    assert outcome.fate.tolist() == fate.tolist()
    np.testing.assert_allclose(outcome.depart_s, depart, rtol=0, atol=1e-9)
    assert outcome.ce.tolist() == ce.tolist()
    assert stats.delivered_bytes.tolist() == delivered


@settings(max_examples=100, deadline=None)
@given(packets=offered(), limit=st.none() | st.integers(1, 20), by_trace=st.booleans())
def test_fifo_droptail_equals_the_simple_links(
    packets: tuple[np.ndarray, ...], limit: int | None, by_trace: bool
) -> None:
    """With one class and drop-tail, the event loop gives the simple link models' departures."""
    arrive, size, klass, ect = packets
    schedule = DeliverySchedule(np.array([2, 3, 3, 7, 9], dtype=np.int64))
    if by_trace:
        link = QueueingLink(schedule=schedule, limit_packets=limit)
        simple = TraceLink(schedule, QueueLimit(packets=limit)).process(arrive, size)
    else:
        link = QueueingLink(rate_bps=1e6, limit_packets=limit)
        simple = RateLink(1e6, QueueLimit(packets=limit)).process(arrive, size)
    outcome, _ = link.serve(arrive, size, klass, ect, np.random.default_rng(0))
    assert outcome.dropped.tolist() == simple.dropped.tolist()
    np.testing.assert_allclose(outcome.depart_s, simple.depart_s, rtol=0, atol=1e-12)


def _voice_beside_bulk(link: QueueingLink, seconds: float = 60.0) -> tuple[np.ndarray, float]:
    """Queueing delays of a 50 packet/s EF stream sharing ``link`` with two greedy flows."""
    voice = np.arange(0.001, seconds, 0.020)
    outcome, stats = link.serve(
        voice,
        np.full(voice.size, 200),
        np.full(voice.size, TrafficClass.EF, dtype=np.int64),
        np.zeros(voice.size, dtype=np.bool_),
        np.random.default_rng(3),
        (BulkFlow(rtt_s=0.05), BulkFlow(rtt_s=0.08, start_s=5.0)),
    )
    settled = (voice > 10.0) & ~outcome.dropped
    goodput_bps = float(stats.delivered_bytes.sum()) * 8 / seconds
    return (outcome.depart_s - voice)[settled], goodput_bps


BUFFER = 1_000_000  # bytes: 800 ms at 10 Mbit/s, a bloated backhaul buffer


def test_droptail_buffer_fills_codel_keeps_delay_near_target() -> None:
    """Greedy flows fill a drop-tail buffer (hundreds of ms); CoDel and PIE keep delay low."""
    droptail, _ = _voice_beside_bulk(QueueingLink(rate_bps=10e6, limit_bytes=BUFFER))
    codel, codel_goodput = _voice_beside_bulk(
        QueueingLink(discipline=CoDel(), rate_bps=10e6, limit_bytes=BUFFER)
    )
    pie, _ = _voice_beside_bulk(QueueingLink(discipline=Pie(), rate_bps=10e6, limit_bytes=BUFFER))
    assert np.percentile(droptail, 50) > 0.3
    assert np.percentile(codel, 95) < 0.020
    assert np.percentile(codel, 50) < 0.010
    assert np.percentile(pie, 50) < 0.030 and np.percentile(pie, 95) < 0.060
    assert codel_goodput > 0.8 * 10e6  # the link stays busy


def test_priority_queue_lets_ef_pass_the_bulk() -> None:
    """Strict priority serves EF first: voice waits about one bulk packet, not the whole buffer."""
    voice, _ = _voice_beside_bulk(
        QueueingLink(scheduling=Scheduling.STRICT, rate_bps=10e6, limit_bytes=BUFFER)
    )
    assert np.percentile(voice, 99) < 1500 * 8 / 10e6 + 200 * 8 / 10e6 + 1e-9


def test_dscp_classes() -> None:
    """EF is class 0, CS3 and AF3x class 1, everything else best effort."""
    ef, signalling, best_effort = TrafficClass.EF, TrafficClass.SIGNALLING, TrafficClass.BEST_EFFORT
    classes = dscp_class(np.array([46, 24, 26, 28, 30, 0, 10, 34, 48]))
    assert classes.tolist() == [ef] + [signalling] * 4 + [best_effort] * 4


def test_ecn_capable_packets_are_marked_not_dropped_by_codel() -> None:
    """Under CoDel, ECN-capable traffic is marked CE where non-capable traffic is dropped."""
    arrive = np.arange(0, 20, 1500 * 8 / 12e6)
    size = np.full(arrive.size, 1500)
    klass = np.zeros(arrive.size, dtype=np.int64)
    link = QueueingLink(discipline=CoDel(), rate_bps=10e6, limit_bytes=BUFFER)
    capable, _ = link.serve(
        arrive, size, klass, np.ones(arrive.size, bool), np.random.default_rng(1)
    )
    plain, _ = link.serve(
        arrive, size, klass, np.zeros(arrive.size, bool), np.random.default_rng(1)
    )
    assert plain.dropped.sum() > 100 and not plain.ce.any()
    assert set(plain.fate.tolist()) <= {Fate.SENT, Fate.AQM}  # the 1 MB buffer never fills
    assert capable.ce.sum() > 100
    assert capable.dropped.sum() < plain.dropped.sum()


def test_link_needs_one_kind_of_service() -> None:
    """A queueing link is either a rate or a trace, not both or neither."""
    with pytest.raises(ValueError, match="exactly one"):
        QueueingLink()


@settings(max_examples=100, deadline=None)
@given(link=links(), packets=offered(), seed=st.integers(0, 2**32 - 1))
def test_each_class_leaves_in_arrival_order(
    link: QueueingLink, packets: tuple[np.ndarray, ...], seed: int
) -> None:
    """Whatever the scheduler and AQM, packets of one class leave in the order they came."""
    arrive, size, klass, ect = packets
    outcome, _ = link.serve(arrive, size, klass, ect, np.random.default_rng(seed))
    classes = klass if link.scheduling != Scheduling.FIFO else np.zeros_like(klass)
    for c in np.unique(classes):
        sent = (classes == c) & ~outcome.dropped
        assert np.all(np.diff(outcome.depart_s[sent]) >= 0)
