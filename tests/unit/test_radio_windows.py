"""The radio control plane fed in time windows gives exactly what one batch gives."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from voipbed.loader import parse_scenario
from voipbed.models import handover as ho
from voipbed.models.rrc import RrcConfig, RrcGate, RrcState, rrc_gate
from voipbed.scenario import Scenario
from voipbed.schedule import call_times
from voipbed.sim.control_plane import RadioGate

# --- packet streams and cuts ---------------------------------------------------------------------


@dataclass(frozen=True)
class Stream:
    """Packets of several UEs, sorted by time (ties kept): UE, time, direction."""

    ue: np.ndarray
    time_s: np.ndarray
    downlink: np.ndarray


def _stream(seed: int, users: int, span_s: float, grid: bool) -> Stream:
    """Per UE and direction, bursts of 20 ms packets with silences that let the radio sleep;
    on ``grid`` every time is a whole millisecond, so packets tie with each other and cuts."""
    rng = np.random.default_rng(seed)
    ue, times, down = [], [], []
    for u in range(users):
        for d in (False, True):
            now = rng.uniform(0, 0.5)
            while now < span_s:
                burst = int(rng.integers(1, 30))
                step = 0.020 + (0 if grid else rng.normal(0, 0.002, burst))
                times.append(now + np.cumsum(np.abs(np.broadcast_to(step, burst))))
                ue.append(np.full(burst, u))
                down.append(np.full(burst, d))
                now = times[-1][-1] + rng.choice([0.03, 0.3, 1.5, 6.0]) * rng.uniform(0.5, 1.5)
    t = np.concatenate(times)
    if grid:
        t = np.round(t, 3)
    order = np.argsort(t, kind="stable")
    keep = order[t[order] < span_s]
    return Stream(np.concatenate(ue).astype(np.int64)[keep], t[keep], np.concatenate(down)[keep])


@st.composite
def _cuts(draw: st.DrawFn, stream: Stream, span_s: float) -> list[float]:
    """Ascending window ends before the last (inf), some exactly at packet times."""
    free = draw(st.lists(st.floats(0.0, span_s), max_size=12))
    on_packets = []
    if stream.time_s.size:
        picks = draw(st.lists(st.integers(0, stream.time_s.size - 1), max_size=6))
        on_packets = [float(stream.time_s[i]) for i in picks]
    return sorted(set(free + on_packets))


def _windows(time_s: np.ndarray, cuts: list[float]) -> list[tuple[np.ndarray, float]]:
    """Per window, the indices of the packets in [previous end, end) and its end."""
    ends = [*cuts, math.inf]
    edges = np.searchsorted(time_s, ends, side="left")
    starts = np.concatenate([[0], edges[:-1]])
    return [(np.arange(a, b), end) for a, b, end in zip(starts, edges, ends, strict=True)]


# --- RRC -----------------------------------------------------------------------------------------


@st.composite
def _rrc_configs(draw: st.DrawFn) -> RrcConfig:
    short_ms = draw(st.sampled_from([2, 5, 10, 20, 40]))
    inactivity_ms = draw(st.integers(1, 200))
    short_timer_ms = short_ms * draw(st.integers(0, 4))  # 0: no short DRX
    return RrcConfig(
        promotion_delay_s=draw(st.sampled_from([0, 50, 260])) / 1000,
        drx_inactivity_s=inactivity_ms / 1000,
        short_drx_cycle_s=short_ms / 1000,
        short_drx_timer_s=short_timer_ms / 1000,
        long_drx_cycle_s=short_ms * draw(st.integers(1, 8)) / 1000,
        on_duration_s=draw(st.integers(1, short_ms - 1)) / 1000,
        rrc_inactivity_s=(inactivity_ms + short_timer_ms + draw(st.integers(0, 3000))) / 1000,
        paging_cycle_s=draw(st.sampled_from([320, 640, 1280])) / 1000,
        uplink_sr_delay_s=draw(st.sampled_from([0, 1, 9, 40])) / 1000,
        initial_state=draw(
            st.sampled_from(
                [RrcState.IDLE, RrcState.CONNECTED, RrcState.SHORT_DRX, RrcState.LONG_DRX]
            )
        ),
    )


@st.composite
def _rrc_cases(draw: st.DrawFn) -> tuple[RrcConfig, Stream, list[float], dict[str, np.ndarray]]:
    cfg = draw(_rrc_configs())
    users = draw(st.integers(1, 4))
    span_s = draw(st.sampled_from([2.0, 8.0, 20.0]))
    stream = _stream(draw(st.integers(0, 2**32 - 1)), users, span_s, draw(st.booleans()))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    per_ue = {
        "end_s": rng.uniform(0, span_s + 3, users),
        "drx_offset_s": rng.uniform(0, cfg.long_drx_cycle_s, users),
        "paging_offset_s": rng.uniform(0, cfg.paging_cycle_s, users),
    }
    return cfg, stream, draw(_cuts(stream, span_s)), per_ue


def _by_ue(stream: Stream, index: np.ndarray) -> np.ndarray:
    return index[np.lexsort((stream.time_s[index], stream.ue[index]))]


def _rrc_in_windows(
    cfg: RrcConfig, stream: Stream, cuts: list[float], per_ue: dict[str, np.ndarray]
) -> int:
    """Feed ``stream`` to an RRC gate window by window and check it against one batch:
    every packet released once, at its batch time, and the batch's outcome. Returns how
    many packets were released in a later window than their own."""
    batch_order = _by_ue(stream, np.arange(stream.time_s.size))
    batch = rrc_gate(
        stream.ue[batch_order],
        stream.time_s[batch_order],
        stream.downlink[batch_order],
        per_ue["end_s"],
        cfg,
        drx_offset_s=per_ue["drx_offset_s"],
        paging_offset_s=per_ue["paging_offset_s"],
    )
    expected = np.empty(stream.time_s.size)
    expected[batch_order] = batch.release_s

    gate = RrcGate(
        per_ue["end_s"],
        cfg,
        drx_offset_s=per_ue["drx_offset_s"],
        paging_offset_s=per_ue["paging_offset_s"],
    )
    got = np.full(stream.time_s.size, np.nan)
    fed: list[np.ndarray] = []  # packet index of each ticket
    late_count = 0
    for index, horizon_s in _windows(stream.time_s, cuts):
        order = _by_ue(stream, index)
        out = gate.feed(stream.ue[order], stream.time_s[order], stream.downlink[order], horizon_s)
        assert out.first_ticket == sum(part.size for part in fed)
        fed.append(order)
        got[order] = out.release_s
        tickets = np.concatenate(fed)
        late = tickets[out.late_ticket]
        assert np.isnan(got[late]).all()  # released once
        got[late] = out.late_release_s
        late_count += late.size
        waiting = order[np.isnan(out.release_s)]
        # A packet waits only for a wake-up after the horizon (to within rounding to 1 ns).
        assert np.all(expected[waiting] >= horizon_s - 1e-9)
        assert gate.waiting == int(np.isnan(got[tickets]).sum())
    windowed = gate.finish()

    assert got.tobytes() == expected.tobytes()
    for name in (
        "transition_ue",
        "transition_time_s",
        "transition_from",
        "transition_to",
        "state_time_s",
        "energy_j",
        "promotions",
        "horizon_s",
    ):
        assert getattr(windowed, name).tobytes() == getattr(batch, name).tobytes(), name
    return late_count


@settings(max_examples=300, deadline=None)
@given(case=_rrc_cases())
def test_rrc_windows_equal_one_batch(
    case: tuple[RrcConfig, Stream, list[float], dict[str, np.ndarray]],
) -> None:
    """Fed window by window, the RRC gate releases every packet once, at its batch time,
    and ends with the batch's state changes, time per state, energy and promotions."""
    cfg, stream, cuts, per_ue = case
    late_count = _rrc_in_windows(cfg, stream, cuts, per_ue)
    event(f"several windows: {bool(cuts)}, packets released late: {late_count > 0}")


@pytest.mark.parametrize("window_s", [0.007, 0.02, 0.1])
def test_rrc_many_short_windows_equal_one_batch(window_s: float) -> None:
    """Hundreds of short windows over UEs that page, sleep in DRX and wake give the batch."""
    cfg = RrcConfig(
        initial_state=RrcState.IDLE,
        rrc_inactivity_s=0.4,
        long_drx_cycle_s=0.16,
        paging_cycle_s=0.32,
        uplink_sr_delay_s=0.009,
    )
    stream = _stream(3, 6, 15.0, grid=False)
    rng = np.random.default_rng(4)
    per_ue = {
        "end_s": np.full(6, 15.0),
        "drx_offset_s": rng.uniform(0, cfg.long_drx_cycle_s, 6),
        "paging_offset_s": rng.uniform(0, cfg.paging_cycle_s, 6),
    }
    cuts = list(np.arange(window_s, 15.0, window_s))
    assert _rrc_in_windows(cfg, stream, cuts, per_ue) > 0


def test_rrc_packet_before_an_earlier_horizon_is_refused() -> None:
    """A feed may not bring a packet before the horizon of an earlier feed."""
    gate = RrcGate(np.array([10.0]))
    gate.feed(np.array([0]), np.array([1.0]), np.array([False]), horizon_s=2.0)
    with pytest.raises(ValueError, match="horizon"):
        gate.feed(np.array([0]), np.array([1.5]), np.array([False]), horizon_s=3.0)


def test_rrc_finish_refuses_packets_still_waiting() -> None:
    """Finishing while a packet waits past the last horizon is an error, not a silent loss."""
    gate = RrcGate(np.array([10.0]), RrcConfig(initial_state=RrcState.IDLE))
    out = gate.feed(np.array([0]), np.array([1.0]), np.array([True]), horizon_s=1.001)
    assert np.isnan(out.release_s[0])  # paged at the next occasion, after the horizon
    with pytest.raises(ValueError, match="still wait"):
        gate.finish()


def test_rrc_later_packet_wakes_a_waiting_ue_sooner() -> None:
    """A downlink packet waiting for paging is released with an uplink packet of a later
    window that promotes the UE first, as in one batch."""
    cfg = RrcConfig(initial_state=RrcState.IDLE, paging_cycle_s=1.28, promotion_delay_s=0.26)
    ue = np.array([0, 0])
    time_s = np.array([0.1, 0.5])
    down = np.array([True, False])
    batch = rrc_gate(ue, time_s, down, np.array([5.0]), cfg)
    gate = RrcGate(np.array([5.0]), cfg)
    first = gate.feed(ue[:1], time_s[:1], down[:1], horizon_s=0.2)
    second = gate.feed(ue[1:], time_s[1:], down[1:])
    assert np.isnan(first.release_s[0])
    assert second.late_ticket.tolist() == [0]
    assert second.late_release_s[0] == batch.release_s[0] == pytest.approx(0.76)
    assert second.release_s[0] == batch.release_s[1]


# --- handovers -----------------------------------------------------------------------------------


@st.composite
def _handover_cases(
    draw: st.DrawFn,
) -> tuple[ho.HandoverSchedule, ho.HandoverConfigs, Stream, list[float]]:
    users = draw(st.integers(1, 4))
    span_s = draw(st.sampled_from([2.0, 8.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kinds = draw(st.lists(st.sampled_from(list(ho.HandoverKind)), min_size=1, max_size=3))
    schedule = ho.HandoverSchedule.poisson(
        users, span_s, draw(st.sampled_from([6.0, 30.0, 120.0])), rng, tuple(kinds)
    )
    configs = ho.HandoverConfigs(
        x2=ho.X2Config(
            interruption_s=draw(st.sampled_from([0.0, 0.05, 0.3])),
            forwarding=draw(st.booleans()),
            forwarding_delay_s=draw(st.sampled_from([0.0, 0.01, 0.1])),
            uplink_buffering=draw(st.booleans()),
        ),
        recovery=ho.RecoveryConfig(mode=draw(st.sampled_from(list(ho.Recovery)))),
    )
    stream = _stream(draw(st.integers(0, 2**32 - 1)), users, span_s, draw(st.booleans()))
    return schedule, configs, stream, draw(_cuts(stream, span_s))


@settings(max_examples=200, deadline=None)
@given(case=_handover_cases(), shuffle=st.booleans())
def test_handover_windows_equal_one_batch(
    case: tuple[ho.HandoverSchedule, ho.HandoverConfigs, Stream, list[float]], shuffle: bool
) -> None:
    """Fed window by window, in any order within a window, the handovers hold and lose the
    packets of one batch, with its per-handover counts."""
    schedule, configs, stream, cuts = case
    order = _by_ue(stream, np.arange(stream.time_s.size))
    batch = ho.apply_handovers(
        stream.ue[order], stream.time_s[order], stream.downlink[order], schedule, configs
    )
    run = ho.HandoverRun(schedule, configs)
    release = np.full(stream.time_s.size, np.nan)
    lost = np.zeros(stream.time_s.size, dtype=np.bool_)
    which = np.full(stream.time_s.size, -2)
    rng = np.random.default_rng(len(cuts))
    for index, _ in _windows(stream.time_s, cuts):
        if shuffle:
            index = rng.permutation(index)
        out = run.feed(stream.ue[index], stream.time_s[index], stream.downlink[index])
        release[index], lost[index], which[index] = out.release_s, out.lost, out.handover
    assert release[order].tobytes() == batch.release_s.tobytes()
    assert np.array_equal(lost[order], batch.lost)
    assert np.array_equal(which[order], batch.handover)
    assert run.counts().held.tolist() == batch.counts().held.tolist()
    assert run.counts().lost.tolist() == batch.counts().lost.tolist()


# --- the radio gate of a scenario ----------------------------------------------------------------

_SCENARIO = """
name: windows
seed: {seed}
duration: 12s
calls: {{count: {calls}, start_spread: 2s, hold_time: {hold}s}}
path:
  - {{name: radio, one_way_delay: 10ms}}
radio:
{radio}
"""


@st.composite
def _radio_sections(draw: st.DrawFn) -> str:
    lines = []
    if draw(st.booleans()):
        short_ms = draw(st.sampled_from([10, 20, 40]))
        inactivity_ms = draw(st.sampled_from([10, 100]))
        short_timer_ms = short_ms * draw(st.integers(0, 2))
        lines.append(
            "  rrc: {"
            f"initial_state: {draw(st.sampled_from(['idle', 'connected', 'long_drx']))}, "
            f"drx_inactivity: {inactivity_ms}ms, short_drx_cycle: {short_ms}ms, "
            f"short_drx_timer: {short_timer_ms}ms, "
            f"long_drx_cycle: {short_ms * draw(st.integers(1, 8))}ms, "
            f"rrc_inactivity: {inactivity_ms + short_timer_ms + draw(st.integers(0, 2000))}ms, "
            f"paging_cycle: {draw(st.sampled_from([320, 1280]))}ms, "
            f"uplink_sr_delay: {draw(st.sampled_from([0, 9]))}ms"
            "}"
        )
    fixed = draw(
        st.lists(
            st.tuples(st.integers(0, 9000), st.sampled_from(["x2", "lte_to_wifi", "wifi_to_lte"])),
            max_size=3,
        )
    )
    schedule = ", ".join(f"{{time: {ms}ms, kind: {kind}}}" for ms, kind in fixed)
    lines.append(
        "  handovers: {"
        f"schedule: [{schedule}], rate_per_min: {draw(st.sampled_from([0, 10, 40]))}, "
        "kinds: [x2, lte_to_wifi, wifi_to_lte], "
        f"x2: {{forwarding: {str(draw(st.booleans())).lower()}, "
        f"uplink_buffering: {str(draw(st.booleans())).lower()}}}, "
        f"recovery: {{mode: {draw(st.sampled_from(['reinvite', 'ice_restart', 'none']))}}}"
        "}"
    )
    return "\n".join(lines)


def _gate_in_windows(scenario: Scenario, stream: Stream, cuts: list[float]) -> tuple[int, bool]:
    """Give ``stream`` to a radio gate window by window (naming packets by ids) and check it
    against one window: each packet's time and loss, given once, and the events. Returns
    how many packets came back in a later window than their own, and whether any was lost."""
    times = call_times(scenario)
    flows = [2 * stream.ue[stream.downlink == d] + int(d) for d in (False, True)]
    arrive = [stream.time_s[stream.downlink == d] for d in (False, True)]

    batch_gate = RadioGate(scenario, times.start_s, times.end_s)
    batch = batch_gate.cross(flows[0], arrive[0], flows[1], arrive[1])
    batch_events = batch_gate.finish()
    assert not batch.up_waiting.any() and not batch.down_waiting.any()
    expected = [(batch.up_time_s, batch.up_lost), (batch.down_time_s, batch.down_lost)]

    gate = RadioGate(scenario, times.start_s, times.end_s)
    assert gate.active == batch_gate.active
    got = [(np.full(t.size, np.nan), np.zeros(t.size, np.bool_)) for t in arrive]
    horizon_of = [np.full(t.size, np.nan) for t in arrive]  # of the window each came in
    first_id = 1000  # ids of the packets: 1000 + their index
    late_count = 0
    windows = zip(_windows(arrive[0], cuts), _windows(arrive[1], cuts), strict=True)
    for (up, horizon_s), (down, _) in windows:
        out = gate.cross(
            flows[0][up],
            arrive[0][up],
            flows[1][down],
            arrive[1][down],
            horizon_s,
            up_ids=first_id + up,
            down_ids=first_id + down,
        )
        parts = (
            (up, out.up_time_s, out.up_lost, out.up_late),
            (down, out.down_time_s, out.down_lost, out.down_late),
        )
        for d, (index, time_s, lost, late) in enumerate(parts):
            all_s, all_lost = got[d]
            all_s[index], all_lost[index] = time_s, lost
            horizon_of[d][index] = horizon_s
            back = late.ids - first_id
            assert np.isnan(all_s[back]).all()  # each given back once
            all_s[back], all_lost[back] = late.time_s, late.lost
            late_count += back.size
            # held past its window's horizon: leaves after it (to within rounding to 1 ns)
            assert np.all(late.time_s >= horizon_of[d][back] - 1e-8)
    events = gate.finish()

    for (got_s, got_lost), (want_s, want_lost) in zip(got, expected, strict=True):
        assert got_s.tobytes() == want_s.tobytes()
        assert np.array_equal(got_lost, want_lost)
    assert events == batch_events
    return late_count, bool(batch.up_lost.any() or batch.down_lost.any())


@settings(max_examples=100, deadline=None)
@given(radio=_radio_sections(), seed=st.integers(0, 2**16), data=st.data())
def test_radio_gate_windows_equal_one_batch(radio: str, seed: int, data: st.DataObject) -> None:
    """Cut into windows, the radio gate gives every packet its one-window time and loss, each
    once (some in a later window), and the one-window events."""
    calls = data.draw(st.integers(1, 3))
    hold_s = data.draw(st.sampled_from([4, 8, 12]))
    scenario = parse_scenario(_SCENARIO.format(seed=seed, calls=calls, hold=hold_s, radio=radio))
    stream = _stream(seed, calls, 12.0, data.draw(st.booleans()))
    if data.draw(st.booleans()):  # only packets of calls in progress, as the senders make
        start_s = call_times(scenario).start_s
        keep = stream.time_s >= start_s[stream.ue]
        stream = Stream(stream.ue[keep], stream.time_s[keep], stream.downlink[keep])
    late_count, any_lost = _gate_in_windows(scenario, stream, data.draw(_cuts(stream, 12.0)))
    event(f"released late: {late_count > 0}, lost: {any_lost}")


def test_radio_gate_in_20ms_windows_equals_one_batch() -> None:
    """Windows of 20 ms (one packet time) over calls that page, sleep and hand over give the
    one-window times, losses and events."""
    radio = (
        "  rrc: {initial_state: idle, rrc_inactivity: 500ms, paging_cycle: 320ms, "
        "uplink_sr_delay: 9ms}\n"
        "  handovers: {rate_per_min: 30, kinds: [x2, lte_to_wifi, wifi_to_lte]}"
    )
    scenario = parse_scenario(_SCENARIO.format(seed=5, calls=4, hold=12, radio=radio))
    stream = _stream(6, 4, 12.0, grid=False)
    late_count, any_lost = _gate_in_windows(scenario, stream, list(np.arange(0.02, 12.0, 0.02)))
    assert late_count > 0 and any_lost
