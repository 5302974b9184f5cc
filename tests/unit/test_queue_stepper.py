"""The queue driven one packet at a time decides what the batch queue decides."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.queue_strategies import links
from voipbed.models.queue import Fate, QueueingLink, Scheduling
from voipbed.models.queue_stepper import Background, Departure, QueueStepper


@st.composite
def packets(draw: st.DrawFn, max_size: int = 200) -> tuple[np.ndarray, ...]:
    """Arrival times (some equal), sizes, classes and ECT flags."""
    n = draw(st.integers(0, max_size))
    gaps = draw(
        st.lists(st.sampled_from([0.0, 0.0005]) | st.floats(0, 0.004), min_size=n, max_size=n)
    )
    arrive = np.cumsum(np.array(gaps, dtype=np.float64))
    size = np.array(draw(st.lists(st.integers(40, 1500), min_size=n, max_size=n)), dtype=np.int64)
    klass = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), dtype=np.int64)
    ect = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=np.bool_)
    return arrive, size, klass, ect


def _batch(
    link: QueueingLink, mine: tuple[np.ndarray, ...], background: Background | None, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One ``serve`` of the caller's packets merged with the background ones (the caller's
    first on ties, as the simulator's segment merges them): the caller's outcomes."""
    arrive, size, klass, ect = mine
    if background is not None:
        times = np.concatenate([arrive, background.time_s])
        order = np.argsort(times, kind="stable")
        merged = (
            times[order],
            np.concatenate([size, background.size_bytes])[order],
            np.concatenate([klass, background.klass])[order],
            np.concatenate([ect, background.ect])[order],
        )
    else:
        order = np.arange(arrive.size)
        merged = (arrive, size, klass, ect)
    outcome, _ = link.serve(*merged, np.random.default_rng(seed))
    where = np.empty(order.size, dtype=np.int64)
    where[order] = np.arange(order.size)
    where = where[: arrive.size]
    return outcome.depart_s[where], outcome.fate[where], outcome.ce[where]


def _collect(
    settled: list[Departure], handles: list[int], now_s: float, out: dict[int, Departure]
) -> None:
    for departure in settled:
        assert departure.handle in handles and departure.handle not in out
        if departure.fate == Fate.SENT:
            assert departure.depart_s <= now_s
        out[departure.handle] = departure


def _check(out: dict[int, Departure], handles: list[int], expected: tuple[np.ndarray, ...]) -> None:
    depart, fate, ce = expected
    assert len(out) == len(handles)
    got = [out[h] for h in handles]
    assert [int(d.fate) for d in got] == fate.tolist()
    assert [d.ce for d in got] == ce.tolist()
    np.testing.assert_array_equal([d.depart_s for d in got], depart)


@st.composite
def backgrounds(draw: st.DrawFn) -> Background | None:
    if not draw(st.booleans()):
        return None
    time_s, size, klass, ect = draw(packets(max_size=120))
    return Background(time_s + draw(st.sampled_from([0.0, 0.0005, 0.0013])), size, klass, ect)


@settings(max_examples=300, deadline=None)
@given(
    link=links(),
    mine=packets(),
    background=backgrounds(),
    pauses=st.lists(st.floats(0.0, 1.0), max_size=400),
    slots=st.sampled_from([2, 3, 8, 1024]),
    seed=st.integers(0, 2**32 - 1),
)
def test_interleaved_calls_match_one_batch(
    link: QueueingLink,
    mine: tuple[np.ndarray, ...],
    background: Background | None,
    pauses: list[float],
    slots: int,
    seed: int,
) -> None:
    """Packets offered one by one, with ``serve_until`` at any times in between (also at the
    arrival instants), leave, are dropped and are marked exactly as in one ``serve``."""
    arrive, size, klass, ect = mine
    stepper = QueueStepper(link, np.random.default_rng(seed), background, slots=slots)
    handles: list[int] = []
    out: dict[int, Departure] = {}
    last = 0.0
    pause = iter(pauses)
    for a, b, c, e in zip(
        arrive.tolist(), size.tolist(), klass.tolist(), ect.tolist(), strict=True
    ):
        # Some calls between the previous arrival and this one (0.0: at the previous one,
        # 1.0: at this one), then the packet.
        for fraction in sorted(p for p in (next(pause, None), next(pause, None)) if p is not None):
            now = min(last + fraction * (a - last), a)
            _collect(stepper.serve_until(now), handles, now, out)
        handles.append(stepper.arrive(a, b, c, e))
        last = a
    _collect(stepper.serve_until(math.inf), handles, math.inf, out)
    assert stepper.queued == 0
    _check(out, handles, _batch(link, mine, background, seed))


@settings(max_examples=150, deadline=None)
@given(link=links(), mine=packets(), background=backgrounds(), seed=st.integers(0, 2**32 - 1))
def test_waking_at_next_event_matches_one_batch(
    link: QueueingLink, mine: tuple[np.ndarray, ...], background: Background | None, seed: int
) -> None:
    """A loop that sleeps until ``next_event_s`` (or the next arrival, then asks at once)
    learns each departure by the first call after it, and the outcomes equal one ``serve``."""
    arrive, size, klass, ect = mine
    stepper = QueueStepper(link, np.random.default_rng(seed), background, slots=4)
    handles: list[int] = []
    out: dict[int, Departure] = {}
    asked = [-math.inf]  # the times serve_until was called at

    def serve_until(now: float) -> None:
        settled = stepper.serve_until(now)
        _collect(settled, handles, now, out)
        sent = [d.depart_s for d in settled if d.fate == Fate.SENT]
        assert all(asked[-1] < d <= now for d in sent)  # none was left for a later call
        asked.append(now)

    for a, b, c, e in zip(
        arrive.tolist(), size.tolist(), klass.tolist(), ect.tolist(), strict=True
    ):
        while (wake := stepper.next_event_s()) < a:
            serve_until(wake)
        handles.append(stepper.arrive(a, b, c, e))
        serve_until(a)
    while (wake := stepper.next_event_s()) < math.inf:
        serve_until(wake)
    serve_until(math.inf)
    _check(out, handles, _batch(link, mine, background, seed))
    if background is not None:
        assert stepper.background_offered == background.time_s.size


def test_time_cannot_go_back() -> None:
    """An arrival before a time already served is refused."""
    stepper = QueueStepper(QueueingLink(rate_bps=1e6), np.random.default_rng(1))
    stepper.serve_until(1.0)
    with pytest.raises(ValueError, match="time went back"):
        stepper.arrive(0.5, 100, 0, False)


def test_strict_priority_lets_a_later_packet_pass() -> None:
    """With strict priority an EF packet arriving later leaves before a waiting best-effort
    one: the best-effort packet's departure is not known when the EF packet arrives."""
    link = QueueingLink(scheduling=Scheduling.STRICT, rate_bps=1e6)  # 1500 B: 12 ms
    stepper = QueueStepper(link, np.random.default_rng(1))
    first = stepper.arrive(0.0, 1500, 2, False)
    waiting = stepper.arrive(0.001, 1500, 2, False)
    voice = stepper.arrive(0.002, 200, 0, False)
    assert stepper.next_event_s() == pytest.approx(0.012)
    assert [d.handle for d in stepper.serve_until(0.012)] == [first]
    assert stepper.next_event_s() == pytest.approx(0.0136)
    assert [d.handle for d in stepper.serve_until(1.0)] == [voice, waiting]


def test_background_occupies_the_queue_but_is_not_returned() -> None:
    """Cross packets delay the caller's packet and are counted, never returned."""
    background = Background(
        np.zeros(3), np.full(3, 1500), np.full(3, 2), np.zeros(3, dtype=np.bool_)
    )
    link = QueueingLink(rate_bps=1e6, limit_packets=1)  # 1500 B take 12 ms
    stepper = QueueStepper(link, np.random.default_rng(1), background)
    handle = stepper.arrive(0.013, 100, 2, False)  # the second one is in service, none waits
    (departure,) = stepper.serve_until(1.0)
    assert departure.handle == handle and departure.fate == Fate.SENT
    assert departure.depart_s == pytest.approx(0.024 + 0.0008)
    assert stepper.background_offered == 3 and stepper.background_dropped == 1
