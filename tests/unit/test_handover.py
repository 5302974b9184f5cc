"""Handovers: X2 interruptions, vertical handovers with media recovery, schedules, the kernel."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voipbed.models.handover import (
    KINDS,
    Handover,
    HandoverConfigs,
    HandoverKind,
    HandoverSchedule,
    Recovery,
    RecoveryConfig,
    VerticalConfig,
    X2Config,
    apply_handovers,
    handover_intervals,
)

X2 = HandoverKind.X2
TO_WIFI = HandoverKind.LTE_TO_WIFI
TO_LTE = HandoverKind.WIFI_TO_LTE
PTIME = 0.02


def reference(
    packets: list[tuple[int, float, bool]],
    handovers: list[Handover],
    configs: HandoverConfigs,
) -> tuple[list[float], list[bool], list[int]]:
    """One packet at a time: the UE's handovers, in schedule order, act on the packet in turn.

    A handover acts when the packet's current time lies in [start, end) of its
    window: it loses the packet, or holds it to max(time + delay, end of the
    interruption). X2 windows are the interruption; vertical ones also cover
    the recovery, and lose everything.
    """
    recovery_s = {
        Recovery.REINVITE: configs.recovery.reinvite_s,
        Recovery.ICE_RESTART: configs.recovery.ice_restart_s,
        Recovery.NONE: math.inf,
    }[configs.recovery.mode]
    # Per handover: ue, start, held until, window end, and (lose, delay) for uplink, downlink.
    windows = []
    for ue, start, kind in handovers:
        if kind == HandoverKind.X2:
            x2 = configs.x2
            held_until = start + x2.interruption_s
            up = (not x2.uplink_buffering, 0.0)
            down = (not x2.forwarding, x2.forwarding_delay_s)
            windows.append((ue, start, held_until, held_until, up, down))
        else:
            vertical = configs.lte_to_wifi if kind == TO_WIFI else configs.wifi_to_lte
            held_until = start + vertical.interruption_s
            lose_all = (True, 0.0)
            windows.append((ue, start, held_until, held_until + recovery_s, lose_all, lose_all))
    releases, losts, whiches = [], [], []
    for ue, time_s, downlink in packets:
        x, lost, which = time_s, False, -1
        for index, (h_ue, start, held_until, end, up, down) in enumerate(windows):
            if h_ue != ue or not start <= x < end:
                continue
            which = index
            lose, delay = down if downlink else up
            if lose:
                lost = True
                break
            x = max(x + delay, held_until)
        releases.append(math.nan if lost else x)
        losts.append(lost)
        whiches.append(which)
    return releases, losts, whiches


def run(
    packets: list[tuple[int, float, bool]], schedule: HandoverSchedule, configs: HandoverConfigs
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kernel on packets given as (ue, time, downlink), returning release, lost, handover."""
    ue = np.array([p[0] for p in packets], dtype=np.int64)
    time_s = np.array([p[1] for p in packets], dtype=np.float64)
    downlink = np.array([p[2] for p in packets], dtype=np.bool_)
    out = apply_handovers(ue, time_s, downlink, schedule, configs)
    return out.release_s, out.lost, out.handover


def flow(
    start_s: float, end_s: float, downlink: bool, ue: int = 0
) -> list[tuple[int, float, bool]]:
    """One voice flow: a packet every 20 ms in [start_s, end_s)."""
    count = round((end_s - start_s) / PTIME)
    return [(ue, start_s + k * PTIME, downlink) for k in range(count)]


def one(kind: HandoverKind, time_s: float, ue: int = 0) -> HandoverSchedule:
    return HandoverSchedule.from_handovers([Handover(ue, time_s, kind)])


# Times and durations on a 1/64 s grid add exactly, so packets land on window edges (start,
# interruption end, media end); free floats fill the space between.
times = st.one_of(st.integers(0, 192).map(lambda k: k / 64), st.floats(0.0, 3.0))
durations = st.one_of(st.integers(0, 40).map(lambda k: k / 64), st.floats(0.0, 0.6))

configs_strategy = st.builds(
    HandoverConfigs,
    x2=st.builds(
        X2Config,
        interruption_s=durations,
        forwarding=st.booleans(),
        forwarding_delay_s=st.one_of(st.integers(0, 4).map(lambda k: k / 64), st.floats(0.0, 0.1)),
        uplink_buffering=st.booleans(),
    ),
    lte_to_wifi=st.builds(
        VerticalConfig, detection_s=durations, link_setup_s=durations, ip_config_s=durations
    ),
    wifi_to_lte=st.builds(
        VerticalConfig, detection_s=durations, link_setup_s=durations, ip_config_s=durations
    ),
    recovery=st.builds(
        RecoveryConfig,
        mode=st.sampled_from(Recovery),
        reinvite_s=durations,
        ice_restart_s=st.one_of(durations, st.floats(0.0, 1.5)),
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    packets=st.lists(st.tuples(st.integers(0, 2), times, st.booleans()), min_size=20, max_size=150),
    # X2 twice as likely: its windows are short, and chains of holds need several.
    handovers=st.lists(
        st.builds(Handover, st.integers(0, 2), times, st.sampled_from([X2, *KINDS])),
        min_size=1,
        max_size=12,
    ),
    configs=configs_strategy,
)
def test_kernel_matches_per_packet_reference(
    packets: list[tuple[int, float, bool]],
    handovers: list[Handover],
    configs: HandoverConfigs,
) -> None:
    """On random packets of several UEs, all kinds, overlapping handovers, kernel == reference."""
    packets = sorted(packets, key=lambda p: (p[0], p[1]))
    schedule = HandoverSchedule.from_handovers(handovers)
    release, lost, which = run(packets, schedule, configs)
    want_release, want_lost, want_which = reference(packets, schedule.handovers(), configs)
    np.testing.assert_array_equal(release, np.array(want_release, dtype=np.float64))
    assert lost.tolist() == want_lost
    assert which.tolist() == want_which
    # Invariants: released no earlier than arrival, NaN exactly where lost.
    time_s = np.array([p[1] for p in packets], dtype=np.float64)
    assert np.all(release[~lost] >= time_s[~lost])
    assert np.array_equal(np.isnan(release), lost)


def test_empty_packets_or_schedule() -> None:
    """No packets gives empty results; no handovers leaves every packet as it was."""
    schedule = one(TO_WIFI, 1.0)
    release, lost, which = run([], schedule, HandoverConfigs())
    assert release.size == lost.size == which.size == 0
    packets = flow(0.0, 1.0, True)
    release, lost, which = run(packets, HandoverSchedule.merge(), HandoverConfigs())
    np.testing.assert_array_equal(release, [p[1] for p in packets])
    assert not lost.any() and (which == -1).all()


def test_x2_with_forwarding_delays_downlink_to_the_end_of_the_interruption() -> None:
    """Forwarded packets leave at the interruption's end: a gap of the interruption, no loss."""
    configs = HandoverConfigs(x2=X2Config(interruption_s=0.05, forwarding_delay_s=0.0))
    packets = flow(0.0, 2.0, downlink=True)
    release, lost, which = run(packets, one(X2, 1.005), configs)
    assert not lost.any()
    assert not np.any((release > 1.005) & (release < 1.055))
    held = which == 0
    assert held.sum() == 2  # the packets at 1.02 and 1.04
    np.testing.assert_array_equal(release[held], [1.055, 1.055])
    times = np.array([p[1] for p in packets])
    np.testing.assert_array_equal(release[~held], times[~held])


def test_window_includes_its_start_and_excludes_its_end() -> None:
    """A packet at a handover's start is affected; one at the end of its window is not."""
    configs = HandoverConfigs(x2=X2Config(interruption_s=0.0625, forwarding=False))
    packets = [(0, 1.0, True), (0, 1.0625, True)]
    release, lost, which = run(packets, one(X2, 1.0), configs)
    assert lost.tolist() == [True, False]
    assert which.tolist() == [0, -1]
    assert release[1] == 1.0625


def test_x2_forwarding_delay_adds_to_late_packets_only() -> None:
    """A packet forwarded near the interruption's end leaves one X2 latency after it arrived."""
    configs = HandoverConfigs(x2=X2Config(interruption_s=0.05, forwarding_delay_s=0.03))
    release, lost, _ = run([(0, 1.01, True), (0, 1.04, True)], one(X2, 1.0), configs)
    assert not lost.any()
    np.testing.assert_allclose(release, [1.05, 1.07])


def test_x2_without_forwarding_loses_the_interrupted_downlink() -> None:
    """Without forwarding, downlink packets inside the interruption are lost, none outside."""
    configs = HandoverConfigs(x2=X2Config(interruption_s=0.05, forwarding=False))
    packets = flow(0.0, 2.0, downlink=True)
    release, lost, which = run(packets, one(X2, 1.005), configs)
    times = np.array([p[1] for p in packets])
    inside = (times >= 1.005) & (times < 1.055)
    assert inside.sum() == 2
    np.testing.assert_array_equal(lost, inside)
    np.testing.assert_array_equal(which, np.where(inside, 0, -1))
    assert np.isnan(release[inside]).all()


def test_x2_uplink_waits_in_the_ue_or_is_lost_if_configured() -> None:
    """Uplink packets in the interruption are sent at its end, or lost without UE buffering."""
    packets = flow(0.0, 2.0, downlink=False)
    times = np.array([p[1] for p in packets])
    inside = (times >= 1.005) & (times < 1.055)
    buffered = HandoverConfigs(x2=X2Config(interruption_s=0.05))
    release, lost, _ = run(packets, one(X2, 1.005), buffered)
    assert not lost.any()
    np.testing.assert_array_equal(release[inside], [1.055, 1.055])
    dropping = HandoverConfigs(x2=X2Config(interruption_s=0.05, uplink_buffering=False))
    _, lost, _ = run(packets, one(X2, 1.005), dropping)
    np.testing.assert_array_equal(lost, inside)


def test_vertical_reinvite_loses_the_broken_period_then_resumes() -> None:
    """LTE to Wi-Fi with re-INVITE: both directions lost until interruption + re-INVITE time."""
    configs = HandoverConfigs(recovery=RecoveryConfig(Recovery.REINVITE, reinvite_s=0.5))
    broken_s = VerticalConfig.lte_to_wifi().interruption_s + 0.5
    assert broken_s == pytest.approx(1.8)
    for downlink in (False, True):
        packets = flow(0.0, 5.0, downlink)
        release, lost, which = run(packets, one(TO_WIFI, 1.005), configs)
        times = np.array([p[1] for p in packets])
        broken = (times >= 1.005) & (times < 1.005 + broken_s)
        np.testing.assert_array_equal(lost, broken)
        np.testing.assert_array_equal(which, np.where(broken, 0, -1))
        np.testing.assert_array_equal(release[~broken], times[~broken])
        assert times[~broken & (times > 1.005)].min() == pytest.approx(2.82)


def test_ice_restart_breaks_media_longer_than_reinvite() -> None:
    """With default durations an ICE restart loses more packets than a re-INVITE."""
    packets = flow(0.0, 10.0, downlink=True)
    schedule = one(TO_LTE, 3.0)
    lost_by = {}
    for mode in (Recovery.REINVITE, Recovery.ICE_RESTART):
        configs = HandoverConfigs(recovery=RecoveryConfig(mode))
        lost_by[mode] = int(run(packets, schedule, configs)[1].sum())
        end = handover_intervals(schedule, configs).media_end_s[0]
        assert end == pytest.approx(
            3.0 + configs.wifi_to_lte.interruption_s + configs.recovery.duration_s
        )
    assert lost_by[Recovery.ICE_RESTART] > lost_by[Recovery.REINVITE] > 0


def test_no_recovery_loses_the_rest_of_the_call() -> None:
    """With recovery ``none`` every packet from the handover on is lost, in both directions."""
    configs = HandoverConfigs(recovery=RecoveryConfig(Recovery.NONE))
    packets = sorted(flow(0.0, 60.0, True) + flow(0.01, 60.0, False), key=lambda p: p[1])
    release, lost, _ = run(packets, one(TO_WIFI, 10.0), configs)
    times = np.array([p[1] for p in packets])
    np.testing.assert_array_equal(lost, times >= 10.0)
    assert handover_intervals(one(TO_WIFI, 10.0), configs).media_end_s[0] == math.inf
    np.testing.assert_array_equal(release[times < 10.0], times[times < 10.0])


def test_packets_before_and_after_a_handover_are_untouched() -> None:
    """A packet before a handover or after its effect keeps its time and names no handover."""
    packets = [(0, 0.5, True), (0, 0.999, False), (0, 1.2, True), (0, 3.0, False), (0, 9.0, True)]
    for kind in KINDS:
        release, lost, which = run(packets, one(kind, 1.0), HandoverConfigs())
        # 1.2 s falls in a vertical handover's breakage (it ends after 2.3 s), past X2's 50 ms.
        kept = [0, 1, 2, 3, 4] if kind == X2 else [0, 1, 3, 4]
        assert lost[2] == (kind != X2)
        assert not lost[kept].any()
        assert (which[kept] == -1).all()
        np.testing.assert_array_equal(release[kept], [packets[i][1] for i in kept])


def test_handovers_only_touch_their_own_ue() -> None:
    """A vertical handover of UE 1 leaves UE 0 and UE 2 alone."""
    packets = flow(0.0, 4.0, True, ue=0) + flow(0.0, 4.0, True, ue=1) + flow(0.0, 4.0, True, ue=2)
    _, lost, _ = run(packets, one(TO_WIFI, 1.0, ue=1), HandoverConfigs())
    ue = np.array([p[0] for p in packets])
    assert lost[ue == 1].any()
    assert not lost[ue != 1].any()


def test_back_to_back_x2_handovers_hold_a_packet_twice() -> None:
    """A packet released into the next interruption waits for that one too."""
    configs = HandoverConfigs(x2=X2Config(interruption_s=0.05))
    schedule = HandoverSchedule.from_handovers([Handover(0, 1.05, X2), Handover(0, 1.0, X2)])
    release, lost, which = run([(0, 1.02, False), (0, 1.12, False)], schedule, configs)
    assert not lost.any()
    np.testing.assert_allclose(release, [1.10, 1.12])
    assert which.tolist() == [1, -1]


def test_packet_held_by_x2_into_a_vertical_breakage_is_lost() -> None:
    """An uplink packet held by an X2 interruption and released into a vertical handover is lost."""
    configs = HandoverConfigs(x2=X2Config(interruption_s=0.05))
    schedule = HandoverSchedule.from_handovers([Handover(0, 1.0, X2), Handover(0, 1.03, TO_WIFI)])
    _, lost, which = run([(0, 1.01, False)], schedule, configs)
    assert lost.tolist() == [True]
    assert which.tolist() == [1]


def test_later_handover_does_not_repair_or_shorten_a_breakage() -> None:
    """An X2 handover inside a vertical breakage changes nothing: the vertical still loses."""
    configs = HandoverConfigs(recovery=RecoveryConfig(Recovery.NONE))
    schedule = HandoverSchedule.from_handovers([Handover(0, 1.0, TO_WIFI), Handover(0, 5.0, X2)])
    _, lost, which = run([(0, 5.01, True), (0, 50.0, False)], schedule, configs)
    assert lost.tolist() == [True, True]
    assert which.tolist() == [0, 0]


def test_intervals_give_start_interruption_and_media_end() -> None:
    """X2 media ends with the interruption; a vertical one adds the recovery time."""
    configs = HandoverConfigs()
    schedule = HandoverSchedule.from_handovers(
        [Handover(0, 1.0, X2), Handover(0, 2.0, TO_WIFI), Handover(1, 3.0, TO_LTE)]
    )
    intervals = handover_intervals(schedule, configs)
    np.testing.assert_allclose(intervals.start_s, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(intervals.interruption_end_s, [1.05, 3.3, 3.0 + 0.8168])
    np.testing.assert_allclose(intervals.media_end_s, [1.05, 3.8, 3.0 + 1.3168])
    out = apply_handovers(
        np.zeros(1, np.int64), np.zeros(1), np.zeros(1, np.bool_), schedule, configs
    )
    np.testing.assert_array_equal(out.intervals.media_end_s, intervals.media_end_s)


def test_poisson_schedule_mean_count_is_rate_times_duration() -> None:
    """Over many UEs the mean number of handovers per UE is rate x duration."""
    schedule = HandoverSchedule.poisson(4000, 90.0, 2.0, np.random.default_rng(7))
    counts = np.bincount(schedule.ue, minlength=4000)
    # mean 3 per UE; the standard error of the mean over 4000 UEs is about 0.027
    assert counts.mean() == pytest.approx(3.0, abs=0.12)
    assert counts.var() == pytest.approx(3.0, rel=0.15)  # Poisson: variance = mean
    assert np.all((schedule.time_s >= 0.0) & (schedule.time_s < 90.0))


def test_poisson_schedule_is_reproducible_sorted_and_cycles_kinds() -> None:
    """The same seed gives the same schedule, sorted by (ue, time), kinds alternating per UE."""
    kinds = (TO_WIFI, TO_LTE)
    a = HandoverSchedule.poisson(50, 600.0, 1.0, np.random.default_rng(3), kinds=kinds)
    b = HandoverSchedule.poisson(50, 600.0, 1.0, np.random.default_rng(3), kinds=kinds)
    assert a.handovers() == b.handovers()
    order = np.lexsort((a.time_s, a.ue))
    np.testing.assert_array_equal(order, np.arange(len(a)))
    for ue in range(50):
        mine = [h.kind for h in a.handovers() if h.ue == ue]
        assert mine == [kinds[i % 2] for i in range(len(mine))]


def test_explicit_schedule_sorts_and_merge_combines() -> None:
    """Explicit handovers in any order come out sorted; merging keeps all of them."""
    schedule = HandoverSchedule.from_arrays([1, 0, 0], [0.5, 2.0, 1.0], ["x2", "lte_to_wifi", "x2"])
    assert schedule.handovers() == [
        Handover(0, 1.0, X2),
        Handover(0, 2.0, TO_WIFI),
        Handover(1, 0.5, X2),
    ]
    merged = HandoverSchedule.merge(schedule, one(TO_LTE, 1.5))
    assert [h.time_s for h in merged.handovers()] == [1.0, 1.5, 2.0, 0.5]


def test_during_keeps_the_handovers_that_start_while_the_call_is_up() -> None:
    """A handover acts on its UE's call only if it starts in [call start, call end)."""
    schedule = HandoverSchedule.from_arrays(
        [0, 0, 0, 0, 0, 1, 1], [1.0, 2.0, 3.0, 5.0, 6.0, 1.0, 4.0], ["x2"] * 7
    )
    kept = schedule.during([2.0, 3.5], [5.0, 8.0])
    assert [(h.ue, h.time_s) for h in kept.handovers()] == [(0, 2.0), (0, 3.0), (1, 4.0)]
    with pytest.raises(ValueError):
        schedule.during([0.0], [10.0])  # UE 1 has no call


def test_a_handover_before_the_call_no_longer_breaks_it() -> None:
    """A vertical handover just before the call, filtered by ``during``, loses no packet."""
    configs = HandoverConfigs(recovery=RecoveryConfig(mode=Recovery.NONE))
    schedule = one(TO_WIFI, 0.9).during([1.0], [3.0])
    packets = flow(1.0, 3.0, downlink=False)
    _, lost, _ = run(packets, schedule, configs)
    _, lost_unfiltered, _ = run(packets, one(TO_WIFI, 0.9), configs)
    assert len(schedule) == 0 and not lost.any()
    assert lost_unfiltered.all()  # what it would do were it applied


def test_counts_give_each_handovers_held_and_lost_packets() -> None:
    """Counts per handover: X2 holds the interrupted packets, a vertical one loses its window."""
    configs = HandoverConfigs(x2=X2Config(interruption_s=0.05, forwarding_delay_s=0.0))
    schedule = HandoverSchedule.from_handovers([Handover(0, 1.005, X2), Handover(0, 2.0, TO_LTE)])
    packets = flow(0.0, 5.0, downlink=True)
    ue, time_s, downlink = (np.array(column) for column in zip(*packets, strict=True))
    outcome = apply_handovers(ue, time_s, downlink, schedule, configs)
    counts = outcome.counts()
    assert counts.held.tolist() == [int((outcome.handover == 0).sum()), 0]
    assert counts.lost.tolist() == [0, int(outcome.lost.sum())]
    assert counts.held[0] == 2 and counts.lost[1] > 0


@pytest.mark.parametrize(
    "build",
    [
        lambda: X2Config(interruption_s=-0.01),
        lambda: X2Config(forwarding_delay_s=math.nan),
        lambda: VerticalConfig(detection_s=0.0, link_setup_s=math.inf, ip_config_s=0.0),
        lambda: RecoveryConfig(reinvite_s=-1.0),
        lambda: RecoveryConfig(mode="teleport"),  # type: ignore[arg-type]
        lambda: HandoverSchedule(np.array([1, 0]), np.array([0.0, 1.0]), np.zeros(2, np.int8)),
        lambda: HandoverSchedule(np.zeros(1, np.int64), np.array([-1.0]), np.zeros(1, np.int8)),
        lambda: HandoverSchedule(np.zeros(1, np.int64), np.zeros(1), np.full(1, 9, np.int8)),
        lambda: HandoverSchedule.poisson(1, 10.0, -1.0, np.random.default_rng(0)),
    ],
)
def test_bad_configuration_raises(build: object) -> None:
    """Negative or non-finite durations, unknown modes, unsorted schedules raise ValueError."""
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]


def test_recovery_mode_accepts_the_scenario_spelling() -> None:
    """``mode="ice_restart"`` becomes ``Recovery.ICE_RESTART``."""
    config = RecoveryConfig(mode="ice_restart")  # type: ignore[arg-type]
    assert config.mode is Recovery.ICE_RESTART
    assert config.duration_s == 1.5


@pytest.mark.parametrize(
    ("ue", "time_s"),
    [([0, 0], [1.0, 0.5]), ([1, 0], [0.0, 1.0]), ([0, 0], [0.0, math.nan])],
)
def test_unsorted_packets_raise(ue: list[int], time_s: list[float]) -> None:
    """Packets out of (ue, time) order, or with a NaN time, are refused."""
    with pytest.raises(ValueError, match="sorted"):
        apply_handovers(
            np.array(ue, np.int64),
            np.array(time_s),
            np.zeros(2, np.bool_),
            one(X2, 0.0),
            HandoverConfigs(),
        )
