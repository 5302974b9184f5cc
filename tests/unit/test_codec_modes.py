"""Operating points: the fine Opus family, its ratings and each point's own packet size."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voipbed.models.codec_adaptation import FollowerConfig, RateFollower, Step, point_wire_bps
from voipbed.models.codec_modes import (
    AMR,
    AMR_WB,
    EVS_WB,
    OPUS_MIN_BPS,
    CodecFamily,
    OperatingPoint,
    opus_auto_bandwidth,
    opus_family,
    opus_rating_entry,
    point_payload_bytes,
)
from voipbed.models.codecs import CODECS, Bandwidth, Codec
from voipbed.models.overhead import IpVersion, Overhead, bandwidth_bps

_CAPS = (Bandwidth.NARROW, Bandwidth.WIDE, Bandwidth.SUPER_WIDE, Bandwidth.FULL)
_WB = opus_family(Bandwidth.WIDE)


def _opus_entries(scale: str) -> list[Codec]:
    return sorted(
        (c for n, c in CODECS.items() if n.startswith("OPUS-") and c.bandwidth.emodel == scale),
        key=lambda c: c.bitrate_bps,
    )


@pytest.mark.parametrize("cap", _CAPS)
def test_opus_family_spans_6_to_128_kbps_rising(cap: Bandwidth) -> None:
    """The Opus family runs from 6 to 128 kbit/s, rising, by 1 kbit/s to 24 and at most
    4 kbit/s above, in under 60 points."""
    rates = [p.bitrate_bps for p in opus_family(cap).points]
    assert rates[0] == OPUS_MIN_BPS and rates[-1] == 128_000.0
    steps = [b - a for a, b in itertools.pairwise(rates)]
    assert all(0 < step <= 4000.0 for step in steps)
    assert {1000.0 * k for k in range(6, 25)} <= set(rates)
    assert len(rates) < 60


@pytest.mark.parametrize("cap", _CAPS)
def test_opus_point_band_is_libopus_choice_under_the_cap(cap: Bandwidth) -> None:
    """Each point's band is the one libopus picks at its rate, capped by the family's band."""
    for point in opus_family(cap).points:
        assert point.bandwidth is opus_auto_bandwidth(point.bitrate_bps, cap)


def test_wideband_cap_keeps_wideband_up_to_128_kbps() -> None:
    """Under a wideband cap every point from 9 kbit/s is wideband, the highest rated by the
    highest-rate wideband Opus entry."""
    above = [p for p in _WB.points if p.bitrate_bps >= 9000.0]
    assert above and all(p.bandwidth is Bandwidth.WIDE for p in above)
    assert _WB.points[-1].codec == _opus_entries("G.107.1")[-1].name
    assert all(p.bandwidth is Bandwidth.NARROW for p in _WB.points if p not in above)


@pytest.mark.parametrize("cap", _CAPS)
def test_opus_point_rated_by_highest_entry_at_or_below(cap: Bandwidth) -> None:
    """A point is rated by its scale's Opus entry of highest rate at or below its own, or by
    the lowest one when none is at or below."""
    for point in opus_family(cap).points:
        entries = _opus_entries(point.bandwidth.emodel)
        below = [c for c in entries if c.bitrate_bps <= point.bitrate_bps]
        expected = below[-1] if below else entries[0]
        assert point.codec == expected.name
        assert CODECS[point.codec].bandwidth.emodel == point.bandwidth.emodel


def test_rating_entry_between_and_outside_table_rates() -> None:
    """Between two table rates the lower rates; above the band's highest, the highest; below
    the lowest, the lowest; super-wideband on the fullband entries."""
    assert opus_rating_entry(20_000.0, Bandwidth.WIDE) == "OPUS-WB-16"
    assert opus_rating_entry(128_000.0, Bandwidth.WIDE) == "OPUS-WB-24"
    assert opus_rating_entry(9000.0, Bandwidth.WIDE) == "OPUS-WB-16"
    assert opus_rating_entry(6000.0, Bandwidth.NARROW) == "OPUS-NB-8"
    assert opus_rating_entry(11_000.0, Bandwidth.NARROW) == "OPUS-NB-8"
    assert opus_rating_entry(40_000.0, Bandwidth.SUPER_WIDE) == "OPUS-FB-32"


@pytest.mark.parametrize("ptime_s", [0.020, 0.040, 0.060])
def test_opus_payload_from_the_points_own_rate(ptime_s: float) -> None:
    """An Opus point's payload is its rate times ptime in whole bytes, TOC included, and at a
    table rate it is the table entry's payload."""
    for point in _WB.points:
        payload = point_payload_bytes(point, ptime_s)
        assert payload == math.ceil(point.bitrate_bps * ptime_s / 8 - 1e-9)
        entry = CODECS[point.codec]
        if entry.bitrate_bps == point.bitrate_bps:
            assert payload == entry.payload_bytes(ptime_s)
    sizes = [point_payload_bytes(p, ptime_s) for p in _WB.points]
    assert all(b > a for a, b in itertools.pairwise(sizes))


@pytest.mark.parametrize("ptime_s", [0.020, 0.040])
def test_amr_and_evs_payload_is_the_table_entrys(ptime_s: float) -> None:
    """AMR, AMR-WB and EVS points keep their table entry's payload, headers included."""
    for family in (AMR, AMR_WB, EVS_WB):
        for point in family.points:
            assert point_payload_bytes(point, ptime_s) == CODECS[point.codec].payload_bytes(ptime_s)


def test_payload_of_partial_frames_is_an_error() -> None:
    """A ptime that is not whole 20 ms frames is refused, as for the table entry."""
    with pytest.raises(ValueError, match="whole number"):
        point_payload_bytes(_WB.points[10], 0.030)


def test_family_refuses_points_the_table_cannot_rate() -> None:
    """A non-Opus point off its entry's rate, an Opus point off its entry's E-model scale or
    outside 6-510 kbit/s, is refused; an Opus point between table rates is accepted."""
    bad = [
        OperatingPoint(13_000.0, "AMR-12.2", Bandwidth.NARROW),
        OperatingPoint(20_000.0, "OPUS-NB-12", Bandwidth.WIDE),
        OperatingPoint(5000.0, "OPUS-NB-8", Bandwidth.NARROW),
    ]
    for point in bad:
        with pytest.raises(ValueError, match="disagrees"):
            CodecFamily("test", (point,), "test")
    good = OperatingPoint(20_000.0, "OPUS-WB-16", Bandwidth.WIDE)
    assert CodecFamily("test", (good,), "test").points == (good,)


def test_follower_prices_each_point_at_its_own_rate() -> None:
    """Points sharing a rating entry cost different wire rates; at a table rate the wire rate
    is the table entry's."""
    overhead = Overhead(ip_version=IpVersion.V6, srtp_tag_bits=80)
    follower = RateFollower(_WB, FollowerConfig(ptime_s=0.040, overhead=overhead))
    shared = [p for p in _WB.points if p.codec == "OPUS-WB-16"]
    wire = [follower.wire_bps(p) for p in shared]
    assert len(set(wire)) == len(shared) > 1
    at_table = next(p for p in _WB.points if p.bitrate_bps == CODECS[p.codec].bitrate_bps)
    assert follower.wire_bps(at_table) == pytest.approx(
        bandwidth_bps(CODECS[at_table.codec], 0.040, overhead)
    )
    assert follower.wire_bps(at_table) == point_wire_bps(at_table, 0.040, overhead)


@given(st.floats(0.0, 200_000.0))
def test_follower_tracks_target_within_one_step(target_bps: float) -> None:
    """On the fine Opus family the follower's point fits the target and the next point does
    not, so it falls short by less than one step (5.5 % of its wire rate at 20 ms)."""
    follower = RateFollower(_WB, FollowerConfig(hold_up_s=0.0, step_up=Step.JUMP))
    step = follower.update(0.0, target_bps)
    index = _WB.points.index(step.point)
    wire = [follower.wire_bps(p) for p in _WB.points]
    if step.below_min:
        assert index == 0 and target_bps < wire[0]
        return
    assert wire[index] <= target_bps
    if index + 1 < len(wire):
        assert target_bps < wire[index + 1]
        assert target_bps - wire[index] < 0.055 * wire[index]


def test_follower_climbs_to_the_target_one_step_per_hold() -> None:
    """With the default one-step, 1 s hold, a sender at the lowest point reaches a steady
    higher target's point one step per hold, and never passes it."""
    follower = RateFollower(_WB)
    follower.update(0.0, 0.0)
    target = point_wire_bps(_WB.points[30], 0.020, Overhead()) + 100.0
    times = [0.1 * k for k in range(1, 400)]
    indices = [_WB.points.index(follower.update(t, target).point) for t in times]
    assert indices == sorted(indices) and indices[-1] == 30
    reached_s = times[indices.index(30)]
    assert 29.0 < reached_s < 32.0
