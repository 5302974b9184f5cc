"""A link whose rate steps serializes each packet at the rates in force, in both queue models
and in the simulator."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.sim.reference import ReferenceSteppedRateLink
from voipbed.loader import parse_scenario
from voipbed.models.link import QueueLimit, RateLink
from voipbed.models.queue import BulkFlow, CoDel, DropTail, Pie, QueueingLink, Scheduling
from voipbed.models.queue_stepper import Departure, QueueStepper
from voipbed.models.queue_window import QueueRun
from voipbed.models.rate_steps import RateStep, RateSteps
from voipbed.sim.engine import simulate

RFC8867_5_1 = RateSteps.of(  # RFC 8867 section 5.1's capacity pattern (s, bit/s), 100 s
    [RateStep(0.0, 1.0e6), RateStep(40.0, 2.5e6), RateStep(60.0, 0.6e6), RateStep(80.0, 1.0e6)]
)


@st.composite
def rate_steps(draw: st.DrawFn) -> RateSteps:
    """1 to 8 steps a few ms apart, at rates from voice to broadband: packets straddle them."""
    n = draw(st.integers(1, 8))
    gaps = draw(st.lists(st.floats(0.0005, 0.05), min_size=n - 1, max_size=n - 1))
    rates = draw(st.lists(st.floats(30e3, 5e6), min_size=n, max_size=n))
    return RateSteps(np.concatenate(([0.0], np.cumsum(gaps))), np.array(rates))


@st.composite
def packets(draw: st.DrawFn, max_size: int = 150) -> tuple[np.ndarray, np.ndarray]:
    """Arrival times from 0 (some equal) and sizes."""
    n = draw(st.integers(1, max_size))
    gaps = draw(st.lists(st.sampled_from([0.0]) | st.floats(0, 0.004), min_size=n, max_size=n))
    size = draw(st.lists(st.integers(40, 1500), min_size=n, max_size=n))
    return np.cumsum(np.array(gaps)), np.array(size, dtype=np.int64)


limits = st.sampled_from([QueueLimit(), QueueLimit(packets=4), QueueLimit(bytes=4000)])


@settings(max_examples=150, deadline=None)
@given(
    steps=rate_steps(),
    sent=packets(),
    limit=limits,
    cuts=st.lists(st.integers(0, 150), max_size=4),
)
def test_stepped_rate_link_matches_the_reference(
    steps: RateSteps, sent: tuple[np.ndarray, np.ndarray], limit: QueueLimit, cuts: list[int]
) -> None:
    """In batches of any size, a stepped RateLink drops and delivers as the per-packet
    reference, which finds each departure from the bits the steps carry since service began."""
    arrive, size = sent
    link = RateLink(steps, limit)
    bounds = [0, *sorted(min(cut, arrive.size) for cut in cuts), arrive.size]
    depart = np.concatenate(
        [link.process(arrive[lo:hi], size[lo:hi]).depart_s for lo, hi in itertools.pairwise(bounds)]
    )
    reference = ReferenceSteppedRateLink(list(steps.steps), limit.packets, limit.bytes)
    expected = [reference.arrive(float(a), int(b)) for a, b in zip(arrive, size, strict=True)]
    expected_s = np.array([np.nan if e is None else e for e in expected])
    np.testing.assert_allclose(depart, expected_s, rtol=0, atol=1e-9)


def test_packets_straddling_steps_match_the_reference() -> None:
    """Back-to-back packets over 5 ms steps: many straddle one boundary, some several, and
    each leaves when the reference says."""
    steps = RateSteps(np.arange(0.0, 2.0, 0.005), np.tile([0.3e6, 2e6, 0.9e6, 4e6], 100))
    size = np.random.default_rng(8).integers(200, 1500, 200)
    depart = RateLink(steps).process(np.zeros(200), size).depart_s
    reference = ReferenceSteppedRateLink(list(steps.steps))
    expected = np.array([reference.arrive(0.0, int(b)) for b in size], dtype=np.float64)
    np.testing.assert_allclose(depart, expected, rtol=0, atol=1e-9)
    begun = np.concatenate(([0.0], depart[:-1]))
    crossed = np.searchsorted(steps.start_s, depart) - np.searchsorted(steps.start_s, begun)
    assert np.count_nonzero(crossed == 1) > 50 and np.count_nonzero(crossed >= 2) > 10


def test_equal_steps_are_one_rate() -> None:
    """A rate given as one step is the constant link exactly; several steps at the same rate
    serve as it does, to rounding."""
    rng = np.random.default_rng(4)
    arrive = np.cumsum(rng.exponential(0.001, 3000))
    size = rng.integers(40, 1500, 3000)
    constant = RateLink(2e6, QueueLimit(packets=10)).process(arrive, size)
    one = RateLink(RateSteps.constant(2e6), QueueLimit(packets=10)).process(arrive, size)
    many = RateSteps(np.arange(0.0, 3.0, 0.0107), np.full(281, 2e6))
    split = RateLink(many, QueueLimit(packets=10)).process(arrive, size)
    assert constant.depart_s.tobytes() == one.depart_s.tobytes()
    assert np.array_equal(split.dropped, constant.dropped)
    np.testing.assert_allclose(split.depart_s, constant.depart_s, rtol=0, atol=1e-12)


def _delivered_bits(depart_s: np.ndarray, size: np.ndarray, start_s: float, end_s: float) -> int:
    inside = (depart_s > start_s) & (depart_s <= end_s)
    return int(size[inside].sum()) * 8


def _saturating(packet_bytes: int, rate_bps: float, duration_s: float) -> np.ndarray:
    """Arrivals of ``packet_bytes`` packets at ``rate_bps`` from 0 until ``duration_s``."""
    return np.arange(0.0, duration_s, packet_bytes * 8 / rate_bps)


def test_a_saturated_stepped_rate_link_delivers_each_steps_rate() -> None:
    """Offered 3 Mbit/s, a RateLink on RFC 8867 5.1's steps delivers in each step its rate x
    its span, within one packet."""
    arrive = _saturating(1000, 3e6, 100.0)
    size = np.full(arrive.size, 1000, dtype=np.int64)
    out = RateLink(RFC8867_5_1, QueueLimit(packets=50)).process(arrive, size)
    assert out.dropped.any()
    ends = [*RFC8867_5_1.start_s[1:], 100.0]
    for start_s, end_s, rate in zip(RFC8867_5_1.start_s, ends, RFC8867_5_1.rate_bps, strict=True):
        delivered = _delivered_bits(out.depart_s, size, start_s, end_s)
        assert abs(delivered - rate * (end_s - start_s)) <= 1000 * 8


@pytest.mark.parametrize(
    "discipline", [DropTail(), CoDel(), Pie()], ids=["droptail", "codel", "pie"]
)
def test_a_saturated_stepped_queueing_link_delivers_each_steps_rate(
    discipline: DropTail | CoDel | Pie,
) -> None:
    """Offered 3 Mbit/s, the AQM queue on RFC 8867 5.1's steps keeps its link busy and
    delivers in each step its rate x its span, within one packet."""
    arrive = _saturating(1000, 3e6, 100.0)
    n = arrive.size
    size = np.full(n, 1000, dtype=np.int64)
    link = QueueingLink(discipline=discipline, limit_packets=100, rate_bps=RFC8867_5_1)
    out, _ = link.serve(
        arrive, size, np.zeros(n, np.int64), np.zeros(n, np.bool_), np.random.default_rng(3)
    )
    assert out.dropped.any()
    ends = [*RFC8867_5_1.start_s[1:], 100.0]
    for start_s, end_s, rate in zip(RFC8867_5_1.start_s, ends, RFC8867_5_1.rate_bps, strict=True):
        delivered = _delivered_bits(out.depart_s, size, start_s, end_s)
        assert abs(delivered - rate * (end_s - start_s)) <= 1000 * 8


@settings(max_examples=100, deadline=None)
@given(steps=rate_steps(), sent=packets(), limit=limits)
def test_a_droptail_fifo_queueing_link_departs_as_the_rate_link(
    steps: RateSteps, sent: tuple[np.ndarray, np.ndarray], limit: QueueLimit
) -> None:
    """With one class and drop-tail, the AQM queue on steps gives the stepped RateLink's
    drops and departures."""
    arrive, size = sent
    n = arrive.size
    expected = RateLink(steps, limit).process(arrive, size)
    link = QueueingLink(limit_packets=limit.packets, limit_bytes=limit.bytes, rate_bps=steps)
    out, _ = link.serve(
        arrive, size, np.zeros(n, np.int64), np.zeros(n, np.bool_), np.random.default_rng(0)
    )
    assert np.array_equal(out.dropped, expected.dropped)
    np.testing.assert_allclose(out.depart_s, expected.depart_s, rtol=0, atol=1e-12)


queueing = st.builds(
    QueueingLink,
    discipline=st.sampled_from(
        [DropTail(), CoDel(target_s=0.002, interval_s=0.02), Pie(target_s=0.003, update_s=0.004)]
    ),
    scheduling=st.sampled_from(list(Scheduling)),
    limit_packets=st.none() | st.integers(1, 30),
    rate_bps=rate_steps(),
)


@settings(max_examples=80, deadline=None)
@given(
    link=queueing,
    sent=packets(),
    classes=st.lists(st.integers(0, 2), min_size=150, max_size=150),
    cuts=st.lists(st.floats(0.0, 0.7), max_size=5),
    with_bulk=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_windows_and_steppers_on_steps_decide_as_one_batch(
    link: QueueingLink,
    sent: tuple[np.ndarray, np.ndarray],
    classes: list[int],
    cuts: list[float],
    with_bulk: bool,
    seed: int,
) -> None:
    """On a stepped link, a run fed in windows cut anywhere (with or without a bulk flow)
    gives one batch's fates and departures, and so does a stepper fed one packet at a time:
    the step in force carries over from one call to the next."""
    arrive, size = sent
    n = arrive.size
    klass = np.array(classes[:n], dtype=np.int64)
    ect = klass == 0
    bulk = (BulkFlow(0.02, stop_s=0.3),) if with_bulk else ()
    whole, _ = link.serve(arrive, size, klass, ect, np.random.default_rng(seed), bulk, end_s=0.8)
    run = QueueRun(link, np.random.default_rng(seed), bulk, end_s=0.8)
    depart = np.full(n, np.nan)
    fate = np.zeros(n, dtype=np.int8)
    lo = 0
    for horizon in [*sorted(set(cuts)), math.inf]:
        hi = int(np.searchsorted(arrive, horizon, side="left"))
        settled = run.feed(arrive[lo:hi], size[lo:hi], klass[lo:hi], ect[lo:hi], horizon)
        depart[settled.index], fate[settled.index] = settled.depart_s, settled.fate
        lo = hi
    assert np.array_equal(fate, whole.fate)
    assert depart.tobytes() == whole.depart_s.tobytes()
    if with_bulk:
        return  # the stepper runs no bulk flows
    stepper = QueueStepper(link, np.random.default_rng(seed))
    got: dict[int, Departure] = {}
    for a, b, c, e in zip(arrive, size, klass, ect, strict=True):
        got.update((d.handle, d) for d in stepper.serve_until(float(a)))
        stepper.arrive(float(a), int(b), int(c), bool(e))
    while (t := stepper.next_event_s()) < math.inf:
        got.update((d.handle, d) for d in stepper.serve_until(t))
    assert [int(got[h].fate) for h in range(n)] == whole.fate.tolist()
    assert np.array_equal([got[h].depart_s for h in range(n)], whole.depart_s, equal_nan=True)


# 20 G.711 calls offer 20 x 80 kbit/s (200-byte IP packets every 20 ms) each way: more than
# either step, so the link runs saturated and delivers its capacity.
STEPPED = """\
name: steps
duration: 4s
calls: {count: 20, codec: PCMU, ptime: 20ms}
path:
  - name: hop
    capacity_steps: [{at: 0s, capacity: 1Mbps}, {at: 2s, capacity: 400kbps}]
    queue: {packets: 20}
radio: {rrc: null}
"""


@pytest.mark.parametrize("direction", ["uplink", "downlink"])
def test_a_saturated_stepped_link_delivers_each_steps_rate(direction: str) -> None:
    """Received bits per second match 1 Mbit/s before the step at 2 s and 400 kbit/s after
    it, within a packet, in both directions; the excess is queue loss."""
    packets = simulate(parse_scenario(STEPPED)).packets.to_pandas()
    flow = packets[packets.direction == direction]
    received = flow[flow.recv_s.notna()]
    packet_bits = 8 * int(flow.wire_bytes.max())
    for start_s, end_s, rate_bps in [(0.5, 2.0, 1.0e6), (2.5, 4.0, 0.4e6)]:
        inside = received[(received.recv_s > start_s) & (received.recv_s <= end_s)]
        delivered = inside.wire_bytes.sum() * 8
        assert abs(delivered - rate_bps * (end_s - start_s)) <= packet_bits
    lost = flow[flow.recv_s.isna()]
    assert (lost.drop_reason.astype(str) == "queue").all()
    assert np.count_nonzero(lost.send_s > 2.0) > np.count_nonzero(lost.send_s <= 2.0)
