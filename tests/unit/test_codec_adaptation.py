"""Adaptive codecs: operating points, the rate follower and the call's effective Ie."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voipbed.models.codec_adaptation import (
    FollowerConfig,
    IeInterval,
    RateFollower,
    Step,
    effective_ie,
    follow,
    ie_on_scale,
    intervals_from_steps,
)
from voipbed.models.codec_modes import (
    AMR,
    AMR_WB,
    EVS_WB,
    opus_auto_bandwidth,
    opus_family,
    opus_packet_allowed,
)
from voipbed.models.codecs import CODECS, Bandwidth


def _wire(family_point_index: int, follower: RateFollower) -> float:
    return follower.wire_bps(follower.family.points[family_point_index])


def test_families_match_codec_table() -> None:
    """Every AMR, AMR-WB and EVS point names a codec-table entry with its rate and band."""
    for family in (AMR, AMR_WB, EVS_WB):
        for point in family.points:
            assert CODECS[point.codec].bitrate_bps == point.bitrate_bps
            assert CODECS[point.codec].bandwidth is point.bandwidth
    assert len(AMR.points) == 8 and len(AMR_WB.points) == 9


def test_mode_set_restricts_points() -> None:
    """An RFC 4867 mode-set keeps only the listed modes, in rate order."""
    family = AMR_WB.with_mode_set([0, 2, 8])
    assert [p.codec for p in family.points] == ["AMR-WB-6.6", "AMR-WB-12.65", "AMR-WB-23.85"]
    with pytest.raises(ValueError, match="mode-set"):
        AMR.with_mode_set([8])


@given(st.lists(st.floats(0, 60_000), min_size=1, max_size=40))
def test_jump_never_exceeds_target(targets: list[float]) -> None:
    """Immediate down-switches keep the wire rate at or under the target, but at the minimum."""
    follower = RateFollower(AMR, FollowerConfig(hold_up_s=0.0))
    for k, target in enumerate(targets):
        step = follower.update(0.1 * k, target)
        if step.below_min:
            assert step.point == AMR.points[0]
        else:
            assert step.wire_bps <= target


def test_below_minimum_reported() -> None:
    """A target under the lowest point keeps the lowest point and says so."""
    step = RateFollower(AMR).update(0.0, 1000.0)
    assert step.point == AMR.points[0] and step.below_min


def test_up_only_after_hold() -> None:
    """A higher point is taken only once the target has allowed it for hold_up_s."""
    config = FollowerConfig(hold_up_s=2.0, step_up=Step.JUMP)
    follower = RateFollower(AMR, config)
    low = follower.update(0.0, _wire(0, follower))
    high_target = _wire(7, follower)
    for t in (0.5, 1.0, 2.0, 2.4):
        assert follower.update(t, high_target).point == low.point
    assert follower.update(2.5, high_target).point == AMR.points[7]


def test_hold_restarts_when_interrupted() -> None:
    """A dip in the target restarts the hold before going up."""
    follower = RateFollower(AMR, FollowerConfig(hold_up_s=1.0, step_up=Step.JUMP))
    follower.update(0.0, _wire(3, follower))
    follower.update(0.5, _wire(7, follower))
    follower.update(1.0, _wire(3, follower))
    assert follower.update(1.8, _wire(7, follower)).point == AMR.points[3]
    assert follower.update(2.8, _wire(7, follower)).point == AMR.points[7]


def test_one_step_per_request() -> None:
    """With neighbour-only changes each request moves one mode, down and up."""
    config = FollowerConfig(hold_up_s=0.0, step_up=Step.ONE_STEP, step_down=Step.ONE_STEP)
    follower = RateFollower(AMR, config)
    follower.update(0.0, 1e6)
    indices = [AMR.points.index(follower.update(0.02 * k, 0.0).point) for k in range(1, 10)]
    assert indices == [6, 5, 4, 3, 2, 1, 0, 0, 0]
    ups = [AMR.points.index(follower.update(1 + 0.02 * k, 1e6).point) for k in range(3)]
    assert ups == [1, 2, 3]


def test_min_change_interval() -> None:
    """Changes are spaced by min_change_interval_s (mode-change-period)."""
    config = FollowerConfig(hold_up_s=0.0, step_down=Step.ONE_STEP, min_change_interval_s=0.04)
    follower = RateFollower(AMR, config)
    follower.update(0.0, 1e6)
    seen = [AMR.points.index(follower.update(0.02 * k, 0.0).point) for k in range(1, 5)]
    assert seen == [7, 6, 6, 5]


def test_respects_mode_set() -> None:
    """The follower only ever uses modes of the negotiated mode set."""
    family = AMR.with_mode_set([0, 4, 7])
    steps = follow(
        family,
        [0.1 * k for k in range(60)],
        [4000 + 800 * k for k in range(60)],
        FollowerConfig(hold_up_s=0.0),
    )
    assert {s.point.codec for s in steps} <= {"AMR-4.75", "AMR-7.4", "AMR-12.2"}
    assert steps[-1].point.codec == "AMR-12.2"


def test_follow_returns_changes_only() -> None:
    """follow() gives a step function: consecutive entries differ in point."""
    steps = follow(AMR_WB, [0.0, 1.0, 2.0, 3.0], [1e5, 1e5, 1e3, 1e3])
    assert len(steps) == 2
    assert steps[0].point != steps[1].point and steps[1].time_s == 2.0


def test_time_must_not_go_back() -> None:
    """Targets are given in time order."""
    follower = RateFollower(AMR)
    follower.update(1.0, 1e4)
    with pytest.raises(ValueError, match="backwards"):
        follower.update(0.5, 1e4)


def test_opus_bandwidth_rules() -> None:
    """libopus picks NB under 9 kbit/s, WB to 13.5, then SWB, FB from 14; a cap holds."""
    assert opus_auto_bandwidth(8000) is Bandwidth.NARROW
    assert opus_auto_bandwidth(12000) is Bandwidth.WIDE
    assert opus_auto_bandwidth(13700) is Bandwidth.SUPER_WIDE
    assert opus_auto_bandwidth(32000) is Bandwidth.FULL
    assert opus_auto_bandwidth(32000, Bandwidth.WIDE) is Bandwidth.WIDE
    for point in opus_family(Bandwidth.WIDE).points:
        assert point.bandwidth is opus_auto_bandwidth(point.bitrate_bps, Bandwidth.WIDE)


def test_opus_frame_sizes() -> None:
    """SILK-only bands allow 40/60 ms frames, hybrid not; packets hold whole frames to 120 ms."""
    assert opus_packet_allowed(0.060, 0.060, Bandwidth.WIDE)
    assert not opus_packet_allowed(0.060, 0.060, Bandwidth.FULL)
    assert opus_packet_allowed(0.060, 0.020, Bandwidth.FULL)
    assert not opus_packet_allowed(0.050, 0.020, Bandwidth.NARROW)
    assert not opus_packet_allowed(0.180, 0.060, Bandwidth.NARROW)


def test_effective_ie_constant_mode() -> None:
    """A call in one mode has that mode's Ie."""
    ie = CODECS["AMR-WB-12.65"].ie
    result = effective_ie(
        [IeInterval(3.0, ie, Bandwidth.WIDE), IeInterval(7.0, ie, Bandwidth.WIDE)]
    )
    assert result.ie == pytest.approx(ie) and result.bandwidth is Bandwidth.WIDE


def test_effective_ie_weighted() -> None:
    """Mixed modes give the duration-weighted mean, between the modes' Ie."""
    a, b = CODECS["AMR-12.2"].ie, CODECS["AMR-4.75"].ie
    result = effective_ie(
        [IeInterval(1.0, a, Bandwidth.NARROW), IeInterval(3.0, b, Bandwidth.NARROW)]
    )
    assert result.ie == pytest.approx((a + 3 * b) / 4)
    assert min(a, b) < result.ie < max(a, b)


@given(st.floats(0.0, 100.0), st.floats(0.1, 100.0))
def test_effective_ie_monotonic_in_worse_time(worse_s: float, extra_s: float) -> None:
    """More time at the worse mode never lowers the call's Ie."""
    good, bad = CODECS["AMR-WB-23.05"].ie, CODECS["AMR-WB-6.6"].ie

    def call(seconds: float) -> float:
        return effective_ie(
            [IeInterval(10.0, good, Bandwidth.WIDE), IeInterval(seconds, bad, Bandwidth.WIDE)]
        ).ie

    assert call(worse_s + extra_s) >= call(worse_s)


def test_mixed_bands_on_widest_scale() -> None:
    """NB and WB intervals are rated on the wideband scale, NB shifted by 129 - 93.2."""
    result = effective_ie(
        [IeInterval(1.0, 5.0, Bandwidth.NARROW), IeInterval(1.0, 13.0, Bandwidth.WIDE)]
    )
    assert result.bandwidth is Bandwidth.WIDE
    assert result.ie == pytest.approx((5.0 + 35.8 + 13.0) / 2)
    assert ie_on_scale(1.0, Bandwidth.WIDE, Bandwidth.FULL) == pytest.approx(20.0)
    with pytest.raises(ValueError):
        ie_on_scale(1.0, Bandwidth.FULL, Bandwidth.NARROW)


def test_intervals_from_steps() -> None:
    """The step function's intervals span the call and carry each point's Ie."""
    steps = follow(AMR, [0.0, 4.0], [1e6, 0.0])
    intervals = intervals_from_steps(steps, 10.0)
    assert [i.duration_s for i in intervals] == [4.0, 6.0]
    assert [i.ie for i in intervals] == [CODECS["AMR-12.2"].ie, CODECS["AMR-4.75"].ie]
