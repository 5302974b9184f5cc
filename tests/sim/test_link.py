"""Trace-driven and constant-rate links agree with per-packet references on every project trace."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tests.sim.reference import ReferenceMahimahiLink, ReferenceRateLink
from voipbed.models.link import QueueLimit, RateLink, TraceLink
from voipbed.models.mahimahi import TUN_HEADER_BYTES, DeliverySchedule, TraceError
from voipbed.models.queue import QueueingLink
from voipbed.traces import builtin_trace_dir, load_schedule

TRACE_FILES = sorted(builtin_trace_dir().glob("*.up")) + sorted(builtin_trace_dir().glob("*.down"))
ONE_PER_MS = DeliverySchedule(np.array([1], dtype=np.int64))  # one opportunity each ms


def _offered(schedule: DeliverySchedule, load: float, seconds: float, seed: int) -> tuple:
    """Poisson arrivals of mixed sizes at ``load`` times the trace's mean capacity."""
    rng = np.random.default_rng(seed)
    sizes = rng.choice([60, 200, 576, 1000, 1500], p=[0.2, 0.4, 0.1, 0.1, 0.2], size=10**6)
    mean_bits = sizes.mean() * 8
    rate_pps = load * schedule.mean_rate_bps / mean_bits
    gaps = rng.exponential(1 / rate_pps, size=sizes.size)
    arrive = np.cumsum(gaps)
    keep = arrive < seconds
    return arrive[keep], sizes[keep].astype(np.int64)


def _reference_departures(schedule, arrive, sizes, limit: QueueLimit):
    link = ReferenceMahimahiLink(list(schedule.times_ms), limit.packets, limit.bytes)
    accepted = [
        link.arrive(i, math.floor(a * 1000.0), int(b))
        for i, (a, b) in enumerate(zip(arrive, sizes, strict=True))
    ]
    link.drain()
    depart = np.array([link.departures.get(i, np.nan) for i in range(arrive.size)]) / 1000.0
    return depart, ~np.array(accepted)


def test_the_project_ships_eight_traces() -> None:
    """The link tests run on the project's own eight traces, not on an empty folder."""
    assert len(TRACE_FILES) == 8


@pytest.mark.parametrize("trace", TRACE_FILES, ids=lambda path: path.name)
def test_trace_link_matches_mahimahi_on_real_trace(trace: Path) -> None:
    """Per-packet departures and drops equal mm-link's, overloaded, in two batches; so do the
    loss ratio and the median and 99th-percentile delays."""
    schedule = load_schedule(trace)
    seconds = min(40.0, 1.5 * schedule.period_ms / 1000.0)  # includes a wrap of the trace
    arrive, sizes = _offered(schedule, load=1.1, seconds=seconds, seed=len(trace.name))
    limit = QueueLimit(packets=100, bytes=100_000)
    link = TraceLink(schedule, limit)
    half = arrive.size // 2
    first, second = (
        link.process(arrive[:half], sizes[:half]),
        link.process(arrive[half:], sizes[half:]),
    )
    depart = np.concatenate([first.depart_s, second.depart_s])
    dropped = np.concatenate([first.dropped, second.dropped])
    expected_depart, expected_dropped = _reference_departures(schedule, arrive, sizes, limit)
    assert dropped.tolist() == expected_dropped.tolist()
    np.testing.assert_array_equal(depart, expected_depart)
    assert dropped.any() and (~dropped).sum() > 1000  # overload exercised both fates
    delay, expected_delay = depart - arrive, expected_depart - arrive
    for q in (50, 99):
        assert np.nanpercentile(delay, q) == pytest.approx(
            np.nanpercentile(expected_delay, q), abs=1e-3
        )


def test_trace_link_unloaded_waits_for_next_opportunity() -> None:
    """A lone small packet leaves at the first opportunity strictly after its arrival."""
    schedule = DeliverySchedule(np.array([5, 5, 9, 20], dtype=np.int64))
    link = TraceLink(schedule)
    out = link.process(np.array([0.0, 0.005, 0.0091, 0.021]), np.array([100, 100, 100, 100]))
    np.testing.assert_allclose(out.depart_s, [0.005, 0.009, 0.020, 0.025])


def test_one_opportunity_carries_several_small_packets_or_part_of_a_big_one() -> None:
    """1504 bytes per opportunity: seven 200-byte packets fit in one; a 1500 B one spills over."""
    sizes = np.array([200] * 7 + [1500], dtype=np.int64)
    out = TraceLink(ONE_PER_MS).process(np.full(8, 0.0), sizes)
    np.testing.assert_allclose(out.depart_s * 1000, [1] * 7 + [2])


LINK_KINDS = ["TraceLink", "QueueingLink"]


def _served_ms(kind: str, arrive: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Departures (ms) of packets offered to a fresh trace link of ``kind`` on ONE_PER_MS."""
    if kind == "TraceLink":
        return np.asarray(TraceLink(ONE_PER_MS).process(arrive, sizes).depart_s * 1000.0)
    none = np.zeros(arrive.size, dtype=np.bool_)
    classes = np.zeros(arrive.size, dtype=np.int64)
    outcome, _ = QueueingLink(schedule=ONE_PER_MS).serve(
        arrive, sizes, classes, none, np.random.default_rng(0)
    )
    return np.asarray(outcome.depart_s * 1000.0)


@pytest.mark.parametrize("kind", LINK_KINDS)
def test_the_tun_header_keeps_two_750_byte_packets_out_of_one_opportunity(kind: str) -> None:
    """2 x 750 B fit 1504 bytes, but with mm-link's 4-byte TUN header each (1508 B) they do not."""
    depart_ms = _served_ms(kind, np.zeros(2), np.full(2, 750, dtype=np.int64))
    assert 2 * 750 <= 1504 < 2 * (750 + TUN_HEADER_BYTES)
    np.testing.assert_allclose(depart_ms, [1, 2])


@pytest.mark.parametrize("kind", LINK_KINDS)
def test_back_to_back_1500_byte_packets_take_one_opportunity_each(kind: str) -> None:
    """With the TUN header a 1500 B IP packet fills an opportunity: n packets need n of them
    (charging 1500 B alone, 376 would leave in 375 opportunities)."""
    n = 400
    depart_ms = _served_ms(kind, np.zeros(n), np.full(n, 1500, dtype=np.int64))
    np.testing.assert_allclose(depart_ms, np.arange(1, n + 1))


def test_rate_links_charge_no_tun_header() -> None:
    """A constant-rate link serializes the bytes it is given, with no 4 bytes added."""
    out = RateLink(8e6).process(np.zeros(2), np.array([1000, 1000], dtype=np.int64))
    np.testing.assert_allclose(out.depart_s, [1e-3, 2e-3], rtol=0, atol=1e-15)


@pytest.mark.parametrize("limit", [QueueLimit(), QueueLimit(packets=5), QueueLimit(bytes=3000)])
def test_rate_link_matches_reference(limit: QueueLimit) -> None:
    """Constant-rate service with a drop-tail queue equals the per-packet reference."""
    rng = np.random.default_rng(5)
    arrive = np.cumsum(rng.exponential(0.002, 5000))
    sizes = rng.integers(40, 1500, 5000)
    link, reference = RateLink(3e6, limit), ReferenceRateLink(3e6, limit.packets, limit.bytes)
    out = [link.process(arrive[:2500], sizes[:2500]), link.process(arrive[2500:], sizes[2500:])]
    depart = np.concatenate([o.depart_s for o in out])
    expected = [reference.arrive(a, int(b)) for a, b in zip(arrive, sizes, strict=True)]
    expected_arr = np.array([np.nan if e is None else e for e in expected])
    np.testing.assert_allclose(depart, expected_arr, rtol=0, atol=1e-12)


def test_queue_delay_never_exceeds_limit_over_rate() -> None:
    """With a byte limit B on a rate-R link, a packet waits at most (B + packet in service) / R."""
    rng = np.random.default_rng(9)
    arrive = np.sort(rng.uniform(0, 1, 20000))
    sizes = rng.integers(40, 1500, 20000)
    out = RateLink(1e6, QueueLimit(bytes=20_000)).process(arrive, sizes)
    kept = ~out.dropped
    in_service_max = sizes.max()  # the packet being sent is no longer in the queue
    assert np.all(out.depart_s[kept] - arrive[kept] <= (20_000 + in_service_max) * 8 / 1e6 + 1e-9)
    assert out.dropped.any()


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "empty trace"),
        ("5\n3\n", ":2: 3 ms is earlier"),
        ("1\nten\n", ":2: 'ten'"),
        ("0\n", "after 0"),
    ],
)
def test_bad_trace_files_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    """A malformed trace is refused with its file, line and what is wrong."""
    path = tmp_path / "bad.trace"
    path.write_text(text)
    with pytest.raises(TraceError, match=message):
        load_schedule(path)
