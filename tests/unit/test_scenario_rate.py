"""calls.rate_control: its defaults, every refusal at its key, and the models it builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from voipbed.loader import ScenarioError, load_scenario, load_sweep, parse_scenario
from voipbed.models.codec_adaptation import FollowerConfig, RateFollower, Step, point_wire_bps
from voipbed.models.codec_modes import AMR, AMR_WB, EVS_WB, opus_family
from voipbed.models.codecs import CODECS
from voipbed.models.gcc import DelayFilter, GccConfig, GccSender
from voipbed.models.gcc_detector import DetectorConfig
from voipbed.models.gcc_ecn import EcnConfig
from voipbed.models.overhead import Overhead, bandwidth_bps
from voipbed.scenario import Scenario
from voipbed.scenario_rate import (
    ADAPTIVE_CODECS,
    Algorithm,
    Feedback,
    Problem,
    RateControl,
    adaptive_family,
    problems,
)

ADAPTIVE_PREFIXES = ("AMR-", "EVS-WB-", "OPUS-")  # AMR-WB- starts with AMR-


def issue_of(tmp_path: Path, text: str) -> tuple[str, str, str]:
    """The one issue loading ``text`` raises: (line, key path, message)."""
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    (issue,) = caught.value.issues
    return issue.origin.removeprefix(f"{path}:"), issue.key_path, issue.message


def calls_yaml(codec: str, rate_control: str, extra: str = "") -> str:
    """A scenario whose calls use ``codec`` and ``rate_control`` (a flow mapping)."""
    return f"name: rate\ncalls:\n  codec: {codec}\n{extra}  rate_control: {rate_control}\n"


def scenario(codec: str, **rate_control: object) -> Scenario:
    """A validated scenario with ``codec`` and these rate_control keys."""
    return Scenario.model_validate(
        {"name": "rate", "calls": {"codec": codec, "rate_control": rate_control}}
    )


def test_defaults_are_fixed_rate_with_libwebrtc_feedback_and_filter() -> None:
    """Without rate_control a call sends at its codec's rate; the GCC keys default to
    RFC 8888 feedback every 100 ms, the trendline filter and no ECN response."""
    rate_control = Scenario.model_validate({"name": "rate"}).calls.rate_control
    assert rate_control.algorithm is Algorithm.NONE
    assert rate_control.feedback is Feedback.RFC8888
    assert rate_control.feedback_interval_s == pytest.approx(0.100)
    assert rate_control.delay_filter is DelayFilter.TRENDLINE
    assert rate_control.ecn is False
    assert rate_control.start_bitrate_bps is None
    assert rate_control.min_bitrate_bps is None
    assert rate_control.max_bitrate_bps is None


def test_adaptation_defaults_are_the_followers_for_cmr_codecs() -> None:
    """For AMR, AMR-WB and EVS the unset adaptation keys are FollowerConfig's defaults."""
    for codec in ("AMR-12.2", "AMR-WB-23.85", "EVS-WB-13.2"):
        built = RateControl().follower_config(0.020, Overhead(), codec)
        default = FollowerConfig()
        assert (built.hold_up_s, built.step_up, built.step_down, built.min_change_interval_s) == (
            default.hold_up_s,
            default.step_up,
            default.step_down,
            default.min_change_interval_s,
        )


def test_opus_takes_each_target_at_once_by_default() -> None:
    """An Opus sender moves up without a hold and as far as the target allows, unless set."""
    built = RateControl().follower_config(0.020, Overhead(), "OPUS-WB-24")
    assert (built.hold_up_s, built.step_up) == (0.0, Step.JUMP)
    given = RateControl.model_validate({"adaptation": {"hold_up": "500ms", "step_up": "one-step"}})
    built = given.follower_config(0.020, Overhead(), "OPUS-WB-24")
    assert (built.hold_up_s, built.step_up) == (0.5, Step.ONE_STEP)


def test_feedback_interval_default_is_gccs_update_interval() -> None:
    """The 100 ms default is the one GccConfig documents as libwebrtc's feedback interval."""
    assert RateControl().feedback_interval_s == GccConfig().update_interval_s


def test_keys_round_trip_through_yaml() -> None:
    """Every rate_control key written with units loads back to the same scenario."""
    loaded = parse_scenario(
        calls_yaml(
            "AMR-WB-12.65",
            "{algorithm: gcc, feedback: twcc, feedback_interval: 50ms, delay_filter: kalman, "
            "start_bitrate: 30kbps, min_bitrate: 20kbps, max_bitrate: 40kbps, adaptation: "
            "{hold_up: 2s, step_up: jump, step_down: one-step, min_change_interval: 40ms}}",
        )
    )
    rate_control = loaded.calls.rate_control
    assert rate_control.feedback is Feedback.TWCC
    assert rate_control.delay_filter is DelayFilter.KALMAN
    assert rate_control.start_bitrate_bps == 30_000.0
    assert rate_control.adaptation.step_up is Step.JUMP
    assert rate_control.adaptation.min_change_interval_s == pytest.approx(0.040)
    assert Scenario.model_validate(loaded.to_yaml_dict()) == loaded


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_every_adaptive_codec_has_a_family_holding_it(codec: str) -> None:
    """AMR-*, AMR-WB-*, EVS-WB-* and OPUS-* resolve to a family with that codec among its
    modes; every other codec to none."""
    family = adaptive_family(codec)
    if codec.startswith(ADAPTIVE_PREFIXES) and not codec.startswith("EVS-SWB-"):
        assert family is not None
        assert codec in [point.codec for point in family.points]
    else:
        assert family is None


@pytest.mark.parametrize(
    ("codec", "family"),
    [("AMR-7.4", AMR), ("AMR-WB-23.85", AMR_WB), ("EVS-WB-13.2", EVS_WB)],
)
def test_amr_amr_wb_and_evs_codecs_resolve_to_their_family(codec: str, family: object) -> None:
    """The named mode picks the whole family of its codec."""
    assert adaptive_family(codec) == family


@pytest.mark.parametrize("codec", [name for name in CODECS if name.startswith("OPUS-")])
def test_opus_family_is_capped_at_the_named_band(codec: str) -> None:
    """Opus moves between the table's modes up to the named entry's band, never above it."""
    band = CODECS[codec].bandwidth
    family = adaptive_family(codec)
    assert family == opus_family(band)
    assert family is not None and family.points[-1].bandwidth is band


@pytest.mark.parametrize("codec", ["PCMU", "G722", "G729", "iLBC-20"])
def test_gcc_with_a_fixed_rate_codec_names_both_keys(tmp_path: Path, codec: str) -> None:
    """algorithm gcc with a one-rate codec is refused at the algorithm's line, naming
    calls.codec and calls.rate_control.algorithm and listing the adaptive codecs."""
    line, key, message = issue_of(tmp_path, calls_yaml(codec, "{algorithm: gcc}"))
    assert (line, key) == ("4", "calls.rate_control.algorithm")
    assert "calls.codec" in message and "calls.rate_control.algorithm" in message
    assert codec in message and ADAPTIVE_CODECS in message


def test_a_fixed_rate_codec_without_gcc_is_accepted() -> None:
    """algorithm none (the default) takes any codec."""
    assert scenario("PCMU", algorithm="none").calls.codec == "PCMU"


def test_ecn_response_without_ecn_capable_media_names_both_keys(tmp_path: Path) -> None:
    """rate_control.ecn needs calls.ecn: the refusal names both keys."""
    line, key, message = issue_of(tmp_path, calls_yaml("AMR-12.2", "{algorithm: gcc, ecn: true}"))
    assert (line, key) == ("4", "calls.rate_control.ecn")
    assert "calls.ecn" in message and "calls.rate_control.ecn" in message


def test_ecn_response_with_ecn_capable_media_is_accepted() -> None:
    """With calls.ecn true, GCC may answer CE marks."""
    loaded = parse_scenario(
        calls_yaml("AMR-12.2", "{algorithm: gcc, ecn: true}", extra="  ecn: true\n")
    )
    assert loaded.calls.rate_control.ecn is True


@pytest.mark.parametrize("interval", ["5ms", "9.9ms", "1.5s"])
def test_feedback_interval_outside_10ms_to_1s_is_refused(tmp_path: Path, interval: str) -> None:
    """A feedback interval below 10 ms or above 1 s is refused at its key."""
    text = calls_yaml("AMR-12.2", "{algorithm: gcc, feedback_interval: " + interval + "}")
    line, key, message = issue_of(tmp_path, text)
    assert (line, key) == ("4", "calls.rate_control.feedback_interval")
    assert "10 ms" in message and "1 s" in message


@pytest.mark.parametrize("interval", ["10ms", "1s"])
def test_feedback_interval_bounds_are_allowed(interval: str) -> None:
    """10 ms and 1 s themselves are allowed."""
    loaded = parse_scenario(
        calls_yaml("AMR-12.2", "{algorithm: gcc, feedback_interval: " + interval + "}")
    )
    assert 0.010 <= loaded.calls.rate_control.feedback_interval_s <= 1.0


@pytest.mark.parametrize(
    ("keys", "said"),
    [
        ("min_bitrate: 40kbps, max_bitrate: 30kbps", "min_bitrate must not be above"),
        ("start_bitrate: 10kbps, min_bitrate: 20kbps", "start_bitrate must not be below"),
        ("start_bitrate: 50kbps, max_bitrate: 40kbps", "start_bitrate must not be above"),
    ],
)
def test_bit_rates_out_of_order_are_refused(tmp_path: Path, keys: str, said: str) -> None:
    """Given bit rates must keep min <= start <= max, whatever the algorithm."""
    line, key, message = issue_of(tmp_path, calls_yaml("AMR-12.2", "{" + keys + "}"))
    assert (line, key) == ("4", "calls.rate_control")
    assert said in message


def test_a_floor_above_the_familys_ceiling_is_refused(tmp_path: Path) -> None:
    """min_bitrate above the top mode's wire rate (the default ceiling) is refused at
    min_bitrate, saying both rates."""
    text = calls_yaml("AMR-12.2", "{algorithm: gcc, min_bitrate: 100kbps}")
    line, key, message = issue_of(tmp_path, text)
    assert (line, key) == ("4", "calls.rate_control.min_bitrate")
    assert "100.00 kbit/s" in message and "max_bitrate" in message


def test_a_ceiling_below_the_lowest_mode_is_refused(tmp_path: Path) -> None:
    """max_bitrate below the lowest mode's wire rate leaves no mode to send: refused."""
    lowest = bandwidth_bps(CODECS["AMR-4.75"], 0.020, Overhead())
    text = calls_yaml("AMR-12.2", "{algorithm: gcc, max_bitrate: " + f"{lowest / 2:.0f}bps" + "}")
    line, key, message = issue_of(tmp_path, text)
    assert (line, key) == ("4", "calls.rate_control.max_bitrate")
    assert "AMR-4.75" in message


def test_a_start_above_the_familys_ceiling_is_refused(tmp_path: Path) -> None:
    """A start above the default ceiling is refused at start_bitrate."""
    text = calls_yaml("AMR-12.2", "{algorithm: gcc, start_bitrate: 60kbps}")
    line, key, message = issue_of(tmp_path, text)
    assert (line, key) == ("4", "calls.rate_control.start_bitrate")
    assert "start at 60.00 kbit/s" in message


def test_a_ptime_some_mode_cannot_send_is_a_problem() -> None:
    """A packetization that a mode of the family cannot carry is a problem at calls.ptime."""
    found = problems(
        RateControl(algorithm=Algorithm.GCC), "OPUS-WB-24", 0.080, Overhead(), media_ecn=False
    )
    assert [problem.loc for problem in found] == [("ptime",)]
    assert "OPUS-NB-8" in found[0].message and "80 ms" in found[0].message


def test_a_ptime_every_mode_sends_is_no_problem() -> None:
    """40 ms Opus: every mode of the family carries it."""
    found = problems(
        RateControl(algorithm=Algorithm.GCC), "OPUS-WB-24", 0.040, Overhead(), media_ecn=False
    )
    assert found == []


def test_problems_are_named_tuples_with_keys_under_calls() -> None:
    """Each problem holds its key under ``calls`` and a message."""
    (found,) = problems(RateControl(ecn=True), "PCMU", 0.020, Overhead(), media_ecn=False)
    assert isinstance(found, Problem) and found.loc == ("rate_control", "ecn")


@pytest.mark.parametrize("codec", ["AMR-12.2", "AMR-WB-12.65", "EVS-WB-13.2", "OPUS-WB-24"])
@pytest.mark.parametrize("ptime_s", [0.020, 0.040])
def test_default_bit_rates_are_wire_rates_of_the_family(codec: str, ptime_s: float) -> None:
    """Unset, GCC starts at the named codec's wire rate, between the wire rates of the
    family's lowest and highest modes, with the scenario's headers and RTCP share."""
    loaded = Scenario.model_validate(
        {
            "name": "rate",
            "calls": {
                "codec": codec,
                "ptime": f"{ptime_s * 1000:g}ms",
                "srtp_tag_bits": 80,
                "ip_version": 6,
                "rate_control": {"algorithm": "gcc"},
            },
        }
    )
    overhead = loaded.overhead()
    rates = loaded.calls.rate_control.bitrates(codec, ptime_s, overhead)
    family = adaptive_family(codec)
    assert family is not None
    wire = [point_wire_bps(p, ptime_s, overhead) for p in family.points]
    assert rates.min_bps == pytest.approx(wire[0])
    assert rates.max_bps == pytest.approx(wire[-1])
    assert rates.start_bps == pytest.approx(bandwidth_bps(CODECS[codec], ptime_s, overhead))
    assert rates.min_bps <= rates.start_bps <= rates.max_bps


def test_given_bit_rates_replace_the_defaults() -> None:
    """A given start, floor and ceiling are GCC's, as written."""
    loaded = scenario("AMR-12.2", algorithm="gcc", start_bitrate="25kbps", max_bitrate="26kbps")
    rates = loaded.calls.rate_control.bitrates("AMR-12.2", 0.020, loaded.overhead())
    assert (rates.start_bps, rates.max_bps) == (25_000.0, 26_000.0)


def test_gcc_config_carries_bounds_interval_and_ecn() -> None:
    """The GccConfig built bounds both controllers by the wire rates, starts the delay-based
    one at the start rate, updates at the feedback interval and answers CE marks."""
    rate_control = RateControl.model_validate(
        {"algorithm": "gcc", "ecn": True, "feedback_interval": "40ms"}
    )
    rates = rate_control.bitrates("OPUS-WB-24", 0.020, Overhead())
    config = rate_control.gcc_config(rates)
    assert (config.aimd.min_bps, config.aimd.max_bps) == (rates.min_bps, rates.max_bps)
    assert (config.loss.min_bps, config.loss.max_bps) == (rates.min_bps, rates.max_bps)
    assert config.aimd.start_bps == rates.start_bps
    assert config.update_interval_s == pytest.approx(0.040)
    assert config.ecn == EcnConfig()
    sender = GccSender(rates.start_bps, config)
    assert sender.target_bps == rates.start_bps


def test_trendline_keeps_libwebrtc_gains_and_kalman_takes_the_drafts() -> None:
    """trendline pairs with libwebrtc's threshold gains; kalman with the draft's (5.4)."""
    rates = RateControl().bitrates("AMR-12.2", 0.020, Overhead())
    trendline = RateControl().gcc_config(rates)
    kalman = RateControl(delay_filter=DelayFilter.KALMAN).gcc_config(rates)
    assert trendline.delay_filter is DelayFilter.TRENDLINE
    assert trendline.detector == DetectorConfig.libwebrtc()
    assert kalman.delay_filter is DelayFilter.KALMAN
    assert kalman.detector == DetectorConfig()
    assert trendline.ecn is None


@pytest.mark.parametrize("codec", ["AMR-7.4", "AMR-WB-15.85", "EVS-WB-9.6", "OPUS-WB-16"])
def test_the_call_starts_in_the_named_mode(codec: str) -> None:
    """The follower built, given GCC's default start, chooses the named codec's mode."""
    loaded = scenario(codec, algorithm="gcc", adaptation={"hold_up": "2s", "step_up": "jump"})
    rate_control = loaded.calls.rate_control
    overhead = loaded.overhead()
    config = rate_control.follower_config(loaded.calls.ptime_s, overhead, codec)
    assert (config.hold_up_s, config.step_up) == (2.0, Step.JUMP)
    rates = rate_control.bitrates(codec, loaded.calls.ptime_s, overhead)
    follower = RateFollower(rate_control.family(codec), config)
    assert follower.update(0.0, rates.start_bps).point.codec == codec


def test_family_of_a_fixed_rate_codec_is_an_error() -> None:
    """Asking for PCMU's family raises, listing the adaptive codecs."""
    with pytest.raises(ValueError, match="adaptive codecs"):
        RateControl().family("PCMU")


def test_a_swept_algorithm_is_checked_at_each_point(tmp_path: Path) -> None:
    """A sweep to gcc with a fixed-rate codec is refused at the point that sets it."""
    path = tmp_path / "sweep.yaml"
    path.write_text(
        "name: rate\ncalls: {codec: PCMU}\nsweep:\n  calls.rate_control.algorithm: [none, gcc]\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError) as caught:
        load_sweep(path)
    messages = [issue.message for issue in caught.value.issues]
    assert any("calls.rate_control.algorithm gcc" in message for message in messages)


def test_a_mode_set_keeps_the_sender_within_its_modes() -> None:
    """AMR-WB with mode-set 0,2,4: the family has those three modes; GCC's floor is mode 0's."""
    loaded = scenario("AMR-WB-12.65", algorithm="gcc", mode_set=[0, 2, 4])
    control = loaded.calls.rate_control
    family = control.family(loaded.calls.codec)
    assert family.mode_numbers == (0, 2, 4)
    assert [p.codec for p in family.points] == ["AMR-WB-6.6", "AMR-WB-12.65", "AMR-WB-15.85"]
    rates = control.bitrates(loaded.calls.codec, loaded.calls.ptime_s, loaded.overhead())
    assert rates.max_bps == pytest.approx(
        point_wire_bps(family.points[-1], loaded.calls.ptime_s, loaded.overhead())
    )


@pytest.mark.parametrize(
    ("codec", "modes", "words"),
    [
        ("AMR-WB-12.65", [0, 9], "modes are 0 to 8"),
        ("AMR-WB-12.65", [0, 1], "is mode 2, not in mode_set"),
        ("OPUS-WB-24", [0], "no mode numbers"),
    ],
)
def test_a_wrong_mode_set_is_refused_at_its_key(codec: str, modes: list[int], words: str) -> None:
    """Unknown modes, a start outside the set, or a codec without mode numbers: refused."""
    text = (
        f"name: m\ncalls: {{codec: {codec}, rate_control: {{algorithm: gcc, mode_set: {modes}}}}}\n"
    )
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "m.yaml")
    message = str(caught.value)
    assert "calls.rate_control.mode_set" in message and words in message
