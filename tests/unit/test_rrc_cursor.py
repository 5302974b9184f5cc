"""RRC cursors: one packet at a time, the batch gate's releases, state changes and energy."""

from __future__ import annotations

import heapq
import math
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voipbed.models.rrc import RrcConfig, RrcState, keepalive_energy, rrc_gate
from voipbed.models.rrc_cursor import RrcCursors

IDLE, PROMOTION, CONNECTED, SHORT, LONG = (int(s) for s in RrcState)
DEFAULT = RrcConfig()

# --- the batch gate, packet by packet --------------------------------------------------------


@st.composite
def _configs(draw: st.DrawFn) -> RrcConfig:
    short_ms = draw(st.sampled_from([10, 20, 40]))
    inactivity_ms = draw(st.sampled_from([50, 100, 200]))
    short_timer_ms = draw(st.sampled_from([0, short_ms, 2 * short_ms]))
    return RrcConfig(
        promotion_delay_s=draw(st.sampled_from([0, 100, 260])) / 1000,
        drx_inactivity_s=inactivity_ms / 1000,
        short_drx_cycle_s=short_ms / 1000,
        short_drx_timer_s=short_timer_ms / 1000,
        long_drx_cycle_s=short_ms * draw(st.integers(1, 8)) / 1000,
        on_duration_s=draw(st.integers(1, short_ms - 1)) / 1000,
        rrc_inactivity_s=(inactivity_ms + short_timer_ms + draw(st.integers(0, 3000))) / 1000,
        paging_cycle_s=draw(st.sampled_from([320, 640, 1280])) / 1000,
        uplink_sr_delay_s=draw(st.sampled_from([0, 1, 9, 20])) / 1000,
        initial_state=draw(
            st.sampled_from(
                [RrcState.IDLE, RrcState.CONNECTED, RrcState.SHORT_DRX, RrcState.LONG_DRX]
            )
        ),
    )


_gap_s = st.one_of(
    st.integers(0, 30).map(lambda ms: ms / 1000),  # a burst
    st.integers(30, 600).map(lambda ms: ms / 1000),  # DRX
    st.integers(600, 6000).map(lambda ms: ms / 1000),  # tails and IDLE
    st.floats(0, 8, allow_nan=False),  # off any grid
)


@st.composite
def _sessions(draw: st.DrawFn) -> dict[str, object]:
    """A config and, per UE, grid offsets and packets as (gap after the previous release,
    downlink); whether to advance the cursors to each arrival and peek at their usage."""
    cfg = draw(_configs())
    users = draw(st.integers(1, 4))
    on_grid = st.integers(0, round(cfg.long_drx_cycle_s * 1000) - 1).map(lambda ms: ms / 1000)
    paging = st.integers(0, round(cfg.paging_cycle_s * 1000) - 1).map(lambda ms: ms / 1000)
    return {
        "config": cfg,
        "drx_offset_s": np.array([draw(on_grid) for _ in range(users)]),
        "paging_offset_s": np.array([draw(paging) for _ in range(users)]),
        "packets": [
            draw(st.lists(st.tuples(_gap_s, st.booleans()), max_size=30)) for _ in range(users)
        ],
        "advance": draw(st.booleans()),
        "peek": draw(st.booleans()),
    }


def _signalling(
    cursors: RrcCursors, packets: list[list[tuple[float, bool]]], advance: bool, peek: bool
) -> tuple[list[list[tuple[float, bool, float]]], float]:
    """Drive the cursors as an event loop: each UE's next packet arrives a gap after its
    previous release; all UEs in time order. Returns per UE (arrival, downlink, release)."""
    done: list[list[tuple[float, bool, float]]] = [[] for _ in packets]
    heap = [(gaps[0][0], ue, 0) for ue, gaps in enumerate(packets) if gaps]
    heapq.heapify(heap)
    last = 0.0
    while heap:
        time_s, ue, k = heapq.heappop(heap)
        last = time_s
        if advance:  # every later arrival is at or after this one
            cursors.advance(time_s)
        if peek:  # counting energy changes nothing
            cursors.usage(time_s + 3.0)
        downlink = packets[ue][k][1]
        released = cursors.release(ue, time_s, downlink)
        done[ue].append((time_s, downlink, released))
        last = max(last, released)
        if k + 1 < len(packets[ue]):
            heapq.heappush(heap, (released + packets[ue][k + 1][0], ue, k + 1))
    return done, last


@settings(max_examples=int(os.environ.get("VOIPBED_RRC_EXAMPLES", "200")), deadline=None)
@given(case=_sessions())
def test_packets_after_each_release_match_the_batch_gate(case: dict[str, object]) -> None:
    """Packets each after the previous release: everything equals the batch gate's."""
    cfg = case["config"]
    packets = case["packets"]
    assert isinstance(cfg, RrcConfig) and isinstance(packets, list)
    drx, paging = case["drx_offset_s"], case["paging_offset_s"]
    assert isinstance(drx, np.ndarray) and isinstance(paging, np.ndarray)
    cursors = RrcCursors(len(packets), cfg, drx_offset_s=drx, paging_offset_s=paging)
    done, last = _signalling(cursors, packets, bool(case["advance"]), bool(case["peek"]))

    rows = [(ue, t, dl, r) for ue, seq in enumerate(done) for t, dl, r in seq]
    end_s = math.ceil(last + cfg.rrc_inactivity_s + 1.0)  # past every UE's tail
    batch = rrc_gate(
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=np.float64),
        np.array([r[2] for r in rows], dtype=np.bool_),
        np.full(len(packets), float(end_s)),
        cfg,
        drx_offset_s=drx,
        paging_offset_s=paging,
    )
    np.testing.assert_array_equal(np.array([r[3] for r in rows]), batch.release_s)

    usage = cursors.usage(end_s)
    np.testing.assert_array_equal(usage.horizon_s, batch.horizon_s)
    np.testing.assert_array_equal(usage.state_time_s, batch.state_time_s)
    np.testing.assert_allclose(usage.energy_j, batch.energy_j, rtol=1e-12)
    np.testing.assert_array_equal(usage.promotions, batch.promotions)
    for ue in range(len(packets)):
        assert cursors.promotions(ue) == batch.promotions[ue]
        assert cursors.energy_j(ue, end_s) == pytest.approx(batch.energy_j[ue], rel=1e-12)
        np.testing.assert_array_equal(cursors.state_time_s(ue, end_s), batch.state_time_s[ue])

    cursors.advance(end_s)
    changes = cursors.changes()
    assert np.all(np.diff(changes.time_s) >= 0)
    for ue in range(len(packets)):
        mine, theirs = changes.ue == ue, batch.transition_ue == ue
        np.testing.assert_array_equal(changes.time_s[mine], batch.transition_time_s[theirs])
        np.testing.assert_array_equal(changes.from_state[mine], batch.transition_from[theirs])
        np.testing.assert_array_equal(changes.to_state[mine], batch.transition_to[theirs])
    assert cursors.late_packets == 0


# --- hand-worked timelines -----------------------------------------------------------------


def test_packet_after_20_s_idle_pays_the_promotion() -> None:
    """An uplink packet 20 s after the last activity (past the 11.576 s tail) waits 260 ms."""
    cursors = RrcCursors(1, RrcConfig(initial_state=RrcState.CONNECTED))
    assert cursors.release(0, 0.0, False) == 0.0  # CONNECTED: at once
    assert cursors.release(0, 20.0, False) == pytest.approx(20.0 + 0.260)
    assert cursors.promotions(0) == 1
    cursors.advance(30.0)
    changes = cursors.changes()
    expected = [
        (0.100, CONNECTED, SHORT),  # drx-inactivity timer
        (0.120, SHORT, LONG),  # one short cycle
        (11.576, LONG, IDLE),  # RRC release
        (20.0, IDLE, PROMOTION),
        (20.260, PROMOTION, CONNECTED),
        (20.260 + 0.100, CONNECTED, SHORT),
        (20.260 + 0.120, SHORT, LONG),  # its RRC release, at 31.836 s, is after 30 s
    ]
    assert len(changes.ue) == len(expected)
    for k, (time_s, old, new) in enumerate(expected):
        assert changes.time_s[k] == pytest.approx(time_s)
        assert (changes.from_state[k], changes.to_state[k]) == (old, new)


def test_downlink_in_idle_waits_for_paging_then_promotion() -> None:
    """A downlink packet in IDLE is carried at its next paging occasion plus the promotion."""
    cursors = RrcCursors(2, paging_offset_s=np.array([0.0, 0.3]))
    # UE 1's paging occasions: 0.3 + k * 1.28 s; the first at or after 20 s is k = 16
    assert cursors.release(1, 20.0, True) == pytest.approx(0.3 + 16 * 1.28 + 0.260)
    # UE 0's at k * 1.28 s: 5.12 is one, so a packet exactly then is paged at once
    assert cursors.release(0, 5.12, True) == pytest.approx(5.12 + 0.260)
    assert [cursors.promotions(u) for u in (0, 1)] == [1, 1]


def test_uplink_in_drx_pays_the_scheduling_request() -> None:
    """Uplink in long DRX pays uplink_sr_delay_s; downlink waits for the next on-duration."""
    cfg = RrcConfig(uplink_sr_delay_s=0.010, initial_state=RrcState.CONNECTED)
    cursors = RrcCursors(2, cfg, drx_offset_s=np.array([0.0, 0.005]))
    # last activity 0: CONNECTED to 0.1 s, short DRX to 0.12 s, long DRX to 11.576 s
    assert cursors.release(0, 0.5, False) == pytest.approx(0.510)
    # UE 1's long-DRX on-durations start at 0.005 + k * 0.040 s and last 1 ms: 0.485 ended,
    # 0.525 is the next
    assert cursors.release(1, 0.5, True) == pytest.approx(0.525)
    assert cursors.promotions(0) == cursors.promotions(1) == 0


def test_initial_state_decides_the_first_packet() -> None:
    """UEs start in the config's initial state: IDLE promotes, CONNECTED carries at once."""
    for state, expected in ((RrcState.IDLE, 1.26), (RrcState.CONNECTED, 1.0)):
        cursors = RrcCursors(1, RrcConfig(initial_state=state))
        assert cursors.release(0, 1.0, False) == pytest.approx(expected)


def test_packet_before_a_settled_wake_up_is_carried_at_it() -> None:
    """A packet arriving before the UE's settled wake-up is carried at that wake-up."""
    # (the batch gate lets this uplink start the promotion sooner, for both packets)
    cursors = RrcCursors(1)
    first = cursors.release(0, 2.0, True)  # paged at 2.56, carried at 2.82
    assert first == pytest.approx(2 * 1.28 + 0.260)
    assert cursors.release(0, 2.1, False) == first
    assert cursors.promotions(0) == 1
    assert cursors.usage(2.5, 0).horizon_s[0] == first  # counted to the settled wake-up
    batch = rrc_gate(
        np.zeros(2, dtype=np.int64), np.array([2.0, 2.1]), np.array([True, False]), np.array([30.0])
    )
    np.testing.assert_allclose(batch.release_s, [2.1 + 0.260] * 2)


def test_out_of_order_packet_is_taken_at_the_latest_arrival() -> None:
    """A packet before an earlier one of its UE is taken as arriving then, counted late."""
    cursors = RrcCursors(1)
    assert cursors.release(0, 5.0, False) == pytest.approx(5.26)  # IDLE: promotion
    assert cursors.release(0, 5.3, False) == 5.3
    assert cursors.release(0, 5.25, False) == pytest.approx(5.3)
    assert cursors.late_packets == 1
    cursors.advance(10.0)
    # taken at 10 s: long DRX, and 10 s is an on-duration start (k * 40 ms)
    assert cursors.release(0, 9.0, True) == pytest.approx(10.0)
    assert cursors.late_packets == 2


def test_counting_energy_leaves_the_machine_as_it_was() -> None:
    """usage / energy_j at any time does not change later releases or energy."""
    plain, peeked = RrcCursors(1), RrcCursors(1)
    for time_s, downlink in ((0.0, False), (3.0, True), (20.0, True), (20.5, False)):
        peeked.energy_j(0, time_s + 15.0)
        peeked.state_time_s(0, time_s)
        assert peeked.release(0, time_s, downlink) == plain.release(0, time_s, downlink)
    assert peeked.energy_j(0, 60.0) == plain.energy_j(0, 60.0)


def test_time_per_state_adds_up_and_energy_uses_the_state_powers() -> None:
    """Time per state sums to the horizon; energy is time per state times the mean powers."""
    cursors = RrcCursors(1)
    cursors.release(0, 1.0, False)
    usage = cursors.usage(10.0, 0)
    assert usage.state_time_s.sum() == pytest.approx(10.0)
    assert usage.horizon_s[0] == 10.0
    power_w = np.array(DEFAULT.state_power_mw) / 1000
    assert usage.energy_j[0] == pytest.approx(usage.state_time_s[0] @ power_w)
    # 1 s IDLE, 0.26 s promotion, 0.1 s CONNECTED, 0.02 s short DRX, the rest long DRX
    np.testing.assert_allclose(usage.state_time_s[0], [1.0, 0.26, 0.1, 0.02, 10 - 1.38])


@pytest.mark.parametrize("interval_s", [30.0, 120.0])
def test_keepalive_energy_per_hour_matches_keepalive_energy(interval_s: float) -> None:
    """An hour of keep-alives costs keepalive_energy's figure times their count."""
    # further apart than the tail, every interval is alike: no warm-up difference
    count = round(3600 / interval_s)
    cursors = RrcCursors(1)
    for k in range(count):
        cursors.release(0, k * interval_s, False)
    figure = keepalive_energy(interval_s)
    assert cursors.energy_j(0, 3600.0) == pytest.approx(figure.energy_j * count, rel=1e-9)
    assert cursors.promotions(0) == round(figure.promotions * count)


def test_keepalive_energy_per_hour_falls_as_the_interval_grows() -> None:
    """Energy per hour falls as keep-alives space out, within one keep-alive of the figure."""
    # one keep-alive: the warm-up from IDLE when the interval is shorter than the tail
    per_hour = []
    for interval_s in (5.0, 30.0, 120.0, 600.0):
        count = round(3600 / interval_s)
        cursors = RrcCursors(1)
        for k in range(count):
            cursors.release(0, k * interval_s, False)
        energy_j = cursors.energy_j(0, 3600.0)
        figure = keepalive_energy(interval_s)
        assert abs(energy_j - figure.energy_j * count) <= figure.energy_j
        per_hour.append(energy_j)
    assert per_hour == sorted(per_hour, reverse=True)
    assert per_hour[0] > per_hour[-1] * 2


def test_without_kept_changes_the_releases_are_the_same() -> None:
    """keep_changes=False keeps no state change and changes nothing else."""
    kept, unkept = RrcCursors(1), RrcCursors(1, keep_changes=False)
    for time_s, downlink in ((0.0, False), (3.0, True), (20.0, True), (20.5, False)):
        assert unkept.release(0, time_s, downlink) == kept.release(0, time_s, downlink)
    kept.advance(40.0)
    unkept.advance(40.0)
    assert len(kept.changes().ue) > 0
    assert len(unkept.changes().ue) == 0
    np.testing.assert_array_equal(unkept.state_time_s(0, 40.0), kept.state_time_s(0, 40.0))
    assert unkept.promotions(0) == kept.promotions(0) == 2


def test_bad_input_is_refused() -> None:
    """Unknown UEs, bad times and offsets off the grid raise ValueError."""
    cursors = RrcCursors(2)
    for ue, time_s in ((2, 1.0), (-1, 1.0), (0, math.nan), (0, -1.0), (0, math.inf)):
        with pytest.raises(ValueError):
            cursors.release(ue, time_s, False)
    with pytest.raises(ValueError):
        cursors.energy_j(0, math.nan)
    with pytest.raises(ValueError):
        cursors.promotions(5)
    with pytest.raises(ValueError):
        RrcCursors(2, drx_offset_s=np.array([0.0, 0.05]))
