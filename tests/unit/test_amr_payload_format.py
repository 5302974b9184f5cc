"""calls.amr_payload_format: AMR and AMR-WB packets sized in RFC 4867's two payload formats."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from voipbed.cli import main
from voipbed.estimates import link_loads
from voipbed.loader import ScenarioError, load_scenario, parse_scenario
from voipbed.models.codec_adaptation import FollowerConfig, RateFollower, point_wire_bps
from voipbed.models.codec_modes import AMR, AMR_WB, CodecFamily, point_payload_bytes
from voipbed.models.codecs import CODECS, AmrPayloadFormat, PayloadFormat, codec, sent_codec
from voipbed.models.overhead import Overhead, bandwidth_bps
from voipbed.scoring import bandwidth

BE = AmrPayloadFormat.BANDWIDTH_EFFICIENT
OA = AmrPayloadFormat.OCTET_ALIGNED
AMR_NAMES = sorted(n for n in CODECS if n.startswith("AMR-"))
OTHER_NAMES = sorted(n for n in CODECS if not n.startswith("AMR-"))
AMR_PACKETS = [(name, p) for name in AMR_NAMES for p in CODECS[name].ptimes_s]


def bandwidth_efficient_bytes(frame_bits: int, frames: int) -> int:
    """RFC 4867 4.3: 4-bit CMR, a 6-bit ToC per frame, the frames' bits, padded once."""
    return math.ceil((4 + frames * (6 + frame_bits)) / 8)


def octet_aligned_bytes(frame_bits: int, frames: int) -> int:
    """RFC 4867 4.4: CMR octet, a ToC octet per frame, each frame padded to an octet."""
    return 1 + frames * (1 + math.ceil(frame_bits / 8))


def scenario_text(codec_name: str, fmt: str | None, extra: str = "") -> str:
    """A small scenario of ``codec_name`` calls, ``amr_payload_format`` set unless None."""
    field = "" if fmt is None else f", amr_payload_format: {fmt}"
    return f"name: amr-format\nduration: 2s\ncalls: {{codec: {codec_name}{field}{extra}}}\n"


@pytest.mark.parametrize(("name", "ptime_s"), AMR_PACKETS)
def test_amr_payloads_follow_rfc_4867_in_each_format(name: str, ptime_s: float) -> None:
    """Every AMR and AMR-WB mode and packetization has RFC 4867 4.3's and 4.4's size."""
    entry = CODECS[name]
    frames = entry.frames(ptime_s)
    efficient, aligned = sent_codec(name, BE), sent_codec(name, OA)
    assert efficient.payload_bytes(ptime_s) == bandwidth_efficient_bytes(entry.frame_bits, frames)
    assert aligned.payload_bytes(ptime_s) == octet_aligned_bytes(entry.frame_bits, frames)
    assert aligned.payload_format is PayloadFormat.AMR_OCTET_ALIGNED
    assert 0 <= aligned.payload_bytes(ptime_s) - efficient.payload_bytes(ptime_s) <= frames + 1


def test_octet_aligned_sizes_of_the_common_modes() -> None:
    """20 ms: AMR-WB 23.85 is 62 bytes octet-aligned (61 otherwise), AMR 12.2 33 (32)."""
    assert sent_codec("AMR-WB-23.85", OA).payload_bytes(0.020) == 62
    assert sent_codec("AMR-WB-23.85", BE).payload_bytes(0.020) == 61
    assert sent_codec("AMR-12.2", OA).payload_bytes(0.020) == 33
    assert sent_codec("AMR-12.2", BE).payload_bytes(0.020) == 32


def test_several_frames_cost_up_to_a_byte_each_when_octet_aligned() -> None:
    """AMR-WB 23.85 (477-bit frames) in 60 ms: 3 x 61 + 1 = 184 bytes against 182, and the
    gap grows with the frames per packet."""
    gaps = [
        sent_codec("AMR-WB-23.85", OA).payload_bytes(p)
        - sent_codec("AMR-WB-23.85", BE).payload_bytes(p)
        for p in (0.020, 0.040, 0.060, 0.080)
    ]
    assert sent_codec("AMR-WB-23.85", OA).payload_bytes(0.060) == 184
    assert sent_codec("AMR-WB-23.85", BE).payload_bytes(0.060) == 182
    assert gaps == sorted(gaps) and gaps[-1] > gaps[0]


def test_bandwidth_efficient_is_the_table_entry() -> None:
    """The default format gives the codec table's own entries, unchanged."""
    for name in AMR_NAMES:
        assert sent_codec(name) == CODECS[name] == sent_codec(name, BE)


@pytest.mark.parametrize("name", OTHER_NAMES)
def test_other_codecs_ignore_the_amr_format(name: str) -> None:
    """A codec other than AMR and AMR-WB is sent as its table entry in either format."""
    assert sent_codec(name, OA) == CODECS[name]


def test_unknown_codec_raises_the_tables_error() -> None:
    """An unknown name raises the same ValueError as ``codec``."""
    with pytest.raises(ValueError, match="unknown codec 'AMR-99'"):
        sent_codec("AMR-99", OA)


@pytest.mark.parametrize("family", [AMR, AMR_WB], ids=["AMR", "AMR-WB"])
def test_mode_points_are_sized_in_the_chosen_format(family: CodecFamily) -> None:
    """Each rate-control mode point's payload and wire rate follow the format."""
    overhead = Overhead()
    for point in family.points:
        for fmt in AmrPayloadFormat:
            expected = sent_codec(point.codec, fmt).payload_bytes(0.040)
            assert point_payload_bytes(point, 0.040, fmt) == expected
        gap = point_payload_bytes(point, 0.020, OA) - point_payload_bytes(point, 0.020, BE)
        wire_gap_bps = point_wire_bps(point, 0.020, overhead, OA) - point_wire_bps(
            point, 0.020, overhead, BE
        )
        assert gap in (0, 1)
        assert wire_gap_bps == pytest.approx(8 * gap / 0.020 * (1 + overhead.rtcp_share))


def test_follower_compares_targets_with_the_formats_wire_rates() -> None:
    """A target just above a mode's bandwidth-efficient wire rate affords that mode only when
    the follower sizes packets bandwidth-efficient."""
    top = AMR_WB.points[-1]
    target_bps = point_wire_bps(top, 0.020, Overhead(), BE) + 1.0
    efficient = RateFollower(AMR_WB, FollowerConfig(hold_up_s=0.0))
    aligned = RateFollower(AMR_WB, FollowerConfig(hold_up_s=0.0, amr_format=OA))
    assert efficient.affordable(target_bps) == len(AMR_WB.points) - 1
    assert aligned.affordable(target_bps) == len(AMR_WB.points) - 2
    assert aligned.wire_bps(top) > efficient.wire_bps(top)


def test_scenario_default_is_bandwidth_efficient() -> None:
    """Without the key, calls are sent bandwidth-efficient (RFC 4867 8.1's default)."""
    calls = parse_scenario(scenario_text("AMR-WB-23.85", None)).calls
    assert calls.amr_payload_format is BE
    assert calls.sent_codec() == codec("AMR-WB-23.85")


def test_scenario_octet_aligned_sizes_the_calls_codec() -> None:
    """amr_payload_format: octet_aligned gives the calls' codec in RFC 4867 4.4's format."""
    calls = parse_scenario(scenario_text("AMR-12.2", "octet_aligned", ", ptime: 40ms")).calls
    assert calls.amr_payload_format is OA
    assert calls.sent_codec().payload_bytes(calls.ptime_s) == octet_aligned_bytes(244, 2)


def test_scenario_octet_aligned_is_ignored_for_other_codecs() -> None:
    """A non-AMR codec loads with the key set and is sent as its table entry."""
    calls = parse_scenario(scenario_text("G722", "octet_aligned")).calls
    assert calls.sent_codec() == codec("G722")


def test_bad_format_is_refused_with_file_line_and_key(tmp_path: Path) -> None:
    """An unknown format is one issue at its file, line and calls.amr_payload_format."""
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ncalls:\n  codec: AMR-12.2\n  amr_payload_format: octet\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    (issue,) = caught.value.issues
    assert issue.origin == f"{path}:4"
    assert issue.key_path == "calls.amr_payload_format"
    assert "bandwidth_efficient" in issue.message and "octet_aligned" in issue.message


def test_cli_validate_exits_2_on_a_bad_format(tmp_path: Path) -> None:
    """``voipbed validate`` names the file, line and key of a bad format and exits 2."""
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ncalls: {codec: AMR-12.2, amr_payload_format: 1}\n")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert f"{path}:2" in result.output and "calls.amr_payload_format" in result.output


def test_bandwidth_figures_follow_the_format() -> None:
    """The summary's bandwidth: one payload byte more per 20 ms packet, and the bit rate up by
    that byte's share, end to end and per segment."""
    efficient = bandwidth(parse_scenario(scenario_text("AMR-WB-23.85", None)))
    aligned = bandwidth(parse_scenario(scenario_text("AMR-WB-23.85", "octet_aligned")))
    assert aligned["payload_bytes"] == efficient["payload_bytes"] + 1
    assert aligned["ip"]["bytes_per_packet"] == efficient["ip"]["bytes_per_packet"] + 1
    assert aligned["ip"]["kbps_per_call_direction"] > efficient["ip"]["kbps_per_call_direction"]
    for mine, theirs in zip(aligned["segments"], efficient["segments"], strict=True):
        assert mine["bytes_per_packet"] > theirs["bytes_per_packet"]


def test_rate_control_bounds_and_modes_follow_the_format() -> None:
    """GCC's start, floor and ceiling and the modes' bandwidth figures are the format's."""
    gcc = ", rate_control: {algorithm: gcc}"
    texts = {fmt: scenario_text("AMR-WB-12.65", fmt.value, gcc) for fmt in AmrPayloadFormat}
    loaded = {fmt: parse_scenario(text) for fmt, text in texts.items()}
    rates = {
        fmt: s.calls.rate_control.bitrates(s.calls.codec, s.calls.ptime_s, s.overhead(), fmt)
        for fmt, s in loaded.items()
    }
    overhead = loaded[OA].overhead()
    assert rates[OA].start_bps == bandwidth_bps(sent_codec("AMR-WB-12.65", OA), 0.020, overhead)
    assert rates[OA].min_bps == point_wire_bps(AMR_WB.points[0], 0.020, overhead, OA)
    assert rates[OA].max_bps > rates[BE].max_bps
    modes = {fmt: bandwidth(s)["modes"] for fmt, s in loaded.items()}
    for end in ("lowest", "highest"):
        assert modes[OA][end]["payload_bytes"] == modes[BE][end]["payload_bytes"] + 1
    follower = loaded[OA].calls.rate_control.follower_config(0.020, overhead, "AMR-WB-12.65", OA)
    assert follower.amr_format is OA


def test_estimates_count_the_formats_bytes() -> None:
    """The budget's link estimates carry the octet-aligned packets' extra byte: a backlog of
    larger packets takes longer to drain."""
    path = "path: [{name: radio, capacity: 100kbps}]\n"
    efficient = list(link_loads(parse_scenario(scenario_text("AMR-12.2", None) + path)))
    aligned = list(link_loads(parse_scenario(scenario_text("AMR-12.2", "octet_aligned") + path)))
    assert len(aligned) == len(efficient) == 2
    for mine, theirs in zip(aligned, efficient, strict=True):
        assert mine.drain_s > theirs.drain_s
