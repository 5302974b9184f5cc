"""Values the models or the run would refuse, or could not finish, are refused at load time."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from voipbed.budget import MAX_PACKETS, MAX_TRACE_OPPORTUNITIES, overruns, packets_estimate
from voipbed.estimates import JITTER_TAIL, span_s
from voipbed.loader import ScenarioError, load_scenario, parse_scenario
from voipbed.schema_types import Rate
from voipbed.units import UnitError, parse_rate

BACKHAUL = """\
name: limits
path:
  - name: radio
  - name: backhaul
    capacity: 10Mbps
    queue: {QUEUE}
    cross_traffic: [{CROSS}]
"""


def issue_of(tmp_path: Path, text: str, overrides: tuple[str, ...] = ()) -> tuple[str, str, str]:
    """The one issue loading ``text`` raises: (line, key path, message)."""
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, overrides)
    (issue,) = caught.value.issues
    return issue.origin.removeprefix(f"{path}:"), issue.key_path, issue.message


def backhaul(queue: str = "{}", cross: str = "") -> str:
    return BACKHAUL.replace("{QUEUE}", queue).replace("{CROSS}", cross)


def test_a_nan_weight_is_refused(tmp_path: Path) -> None:
    """Weighted scheduling with a NaN weight would never pick a class."""
    text = backhaul("{scheduling: weighted, weights: [1, .nan, 1]}")
    line, key, message = issue_of(tmp_path, text)
    assert (line, key) == ("6", "path[1].queue.weights[1]")
    assert "finite" in message


def test_a_tiny_weight_is_refused(tmp_path: Path) -> None:
    """A weight of 1e-9 would take millions of round-robin turns per packet."""
    line, key, message = issue_of(
        tmp_path, backhaul("{scheduling: weighted, weights: [1, 1e-9, 1]}")
    )
    assert (line, key, message) == (
        "6",
        "path[1].queue.weights",
        "scheduling weights must be >= 0.1",
    )


def test_pie_updating_every_nanosecond_is_refused(tmp_path: Path) -> None:
    """PIE's periodic update at 1 ns would step 6e10 times through a minute."""
    line, key, message = issue_of(tmp_path, backhaul("{aqm: {kind: pie, update: 1ns}}"))
    assert (line, key) == ("6", "path[1].queue.aqm.update")
    assert "PIE updates in the run" in message


@pytest.mark.parametrize("periods", ["on: 0s, off: 0s", "on: 1s, off: 0s"])
def test_on_off_periods_of_zero_are_refused(tmp_path: Path, periods: str) -> None:
    """An on/off source whose periods are 0 s would never leave its loop."""
    text = backhaul(cross="{kind: onoff, rate: 1Mbps, " + periods + "}")
    line, key, message = issue_of(tmp_path, text)
    assert (line, key, message) == (
        "7",
        "path[1].cross_traffic[0]",
        "on and off periods must be at least 1 ms",
    )


def test_cross_traffic_past_the_packet_budget_is_refused(tmp_path: Path) -> None:
    """1000 Gbit/s of CBR cross traffic is refused with its estimate, naming its rate."""
    text = backhaul(cross="{kind: cbr, rate: 1000Gbps}")
    line, key, message = issue_of(tmp_path, text)
    assert (line, key) == ("7", "path[1].cross_traffic[0].rate")
    assert "about 10,000,006,000 packets" in message
    assert f"more than the {MAX_PACKETS:,}" in message


def test_ten_thousand_calls_of_ten_minutes_are_refused_at_calls_count(tmp_path: Path) -> None:
    """10,000 calls of ten minutes: refused at calls.count, with the estimate."""
    text = "name: big\nduration: 10min\ncalls:\n  count: 10000\n"
    line, key, message = issue_of(tmp_path, text)
    assert (line, key) == ("4", "calls.count")
    assert "about 600,000,000 packets" in message


def test_the_estimate_counts_media_of_both_directions() -> None:
    """Ten calls of 60 s at 20 ms: 60,000 packets, cross traffic none."""
    scenario = load_scenario(Path(__file__).resolve().parents[2] / "scenarios" / "default.yaml")
    assert packets_estimate(scenario) == pytest.approx(60_000)


@pytest.mark.parametrize("quantile", ["0%", "100%"])
def test_neteq_quantile_at_its_ends_is_refused(tmp_path: Path, quantile: str) -> None:
    """NetEQ's target quantile is strictly inside (0, 1)."""
    text = f"name: x\njitter_buffer: {{kind: neteq, quantile: {quantile}}}\n"
    line, key, message = issue_of(tmp_path, text)
    assert (line, key) == ("2", "jitter_buffer.quantile")
    assert "between 0% and 100%" in message


def test_adaptive_buffer_adjusting_every_zero_seconds_is_refused(tmp_path: Path) -> None:
    """``max_spurt: 0s`` is refused by the buffer model, at load time."""
    text = "name: x\njitter_buffer: {kind: adaptive, max_spurt: 0s}\n"
    line, key, message = issue_of(tmp_path, text)
    assert (line, key) == ("2", "jitter_buffer")
    assert "max_spurt" in message


def test_all_of_the_rate_as_rtcp_is_refused(tmp_path: Path) -> None:
    """``rtcp_share: 100%`` leaves nothing for media."""
    line, key, message = issue_of(tmp_path, "name: x\ncalls: {rtcp_share: 100%}\n")
    assert (line, key) == ("2", "calls.rtcp_share")
    assert "below 100%" in message


def test_infinite_telr_is_refused(tmp_path: Path) -> None:
    """Non-finite numbers are refused in every plain number field."""
    line, key, message = issue_of(tmp_path, "name: x\nemodel: {telr: .inf}\n")
    assert (line, key) == ("2", "emodel.telr")
    assert "finite" in message


def test_keepalives_zero_seconds_apart_are_refused(tmp_path: Path) -> None:
    """A keep-alive interval of 0 s has no energy per keep-alive to price."""
    line, key, message = issue_of(tmp_path, "name: x\nradio: {keepalive_interval: 0s}\n")
    assert (line, key, message) == (
        "2",
        "radio.keepalive_interval",
        "keepalive_interval must be > 0",
    )


def test_the_limit_applies_to_set_overrides_too(tmp_path: Path) -> None:
    """A budget overrun caused by ``--set`` is blamed on the override."""
    path = tmp_path / "scenario.yaml"
    path.write_text("name: x\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, ["duration=168h", "calls.count=100"])
    (issue,) = caught.value.issues
    assert (issue.origin, issue.key_path) == ("--set calls.count=100", "calls.count")


@pytest.mark.parametrize(
    ("override", "key", "message"),
    [
        ("calls.start_spread=-0ms", None, None),
        ("path[0].capacity=1e-300bps", "path[0].capacity", "below 1 bit/s"),
        ("emodel.telr=1e300", "emodel.telr", "less than or equal to 65"),
        ("path[1].queue.bytes=18446744073709551616", "path[1].queue.bytes", "above 1 TiB"),
        ("path[1].queue.packets=18446744073709551616", "path[1].queue.packets", "less than"),
    ],
)
def test_values_the_kernels_could_not_carry_are_refused(
    override: str, key: str | None, message: str | None
) -> None:
    """Found by the fuzz test: each validated, then failed in the run; -0 ms is just 0."""
    default = Path(__file__).resolve().parents[2] / "scenarios" / "default.yaml"
    if key is None:
        assert load_scenario(default, [override]).calls.start_spread_s == 0.0
        return
    with pytest.raises(ScenarioError) as caught:
        load_scenario(default, [override])
    (issue,) = caught.value.issues
    assert (issue.origin, issue.key_path) == (f"--set {override}", key)
    assert message in issue.message


def test_pie_without_an_update_interval_is_refused(tmp_path: Path) -> None:
    """PIE updating every 0 s is refused by PIE's own check, not by a division by zero."""
    line, key, message = issue_of(tmp_path, backhaul("{aqm: {kind: pie, update: 0s}}"))
    assert (line, key) == ("6", "path[1].queue.aqm")
    assert "update interval must be > 0" in message


def test_a_trace_too_dense_to_step_through_is_refused(tmp_path: Path) -> None:
    """50,000 opportunities a millisecond would take the trace link 3 billion steps a minute."""
    (tmp_path / "dense.trace").write_text("1\n" * 50_000, encoding="ascii")
    text = "name: x\npath:\n  - name: radio\n    uplink_trace: dense.trace\n"
    text += "    downlink_trace: dense.trace\n"
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    found = [(i.origin, i.key_path) for i in caught.value.issues]
    assert found == [(f"{path}:4", "path[0].uplink_trace"), (f"{path}:5", "path[0].downlink_trace")]
    assert "50,000,000 a second" in caught.value.issues[0].message
    assert f"more than {MAX_TRACE_OPPORTUNITIES:,}" in caught.value.issues[0].message


def test_pie_on_a_link_that_drains_for_weeks_is_refused(tmp_path: Path) -> None:
    """At 1 bit/s a minute of a call leaves the queue over 8 weeks: PIE updates all along."""
    text = "name: x\npath:\n  - name: radio\n    capacity: 1bps\n    queue: {aqm: pie}\n"
    line, key, message = issue_of(tmp_path, text)
    assert (line, key) == ("5", "path[0].queue.aqm.update")
    assert "PIE updates in the run (4,800,06" in message


def test_the_span_counts_the_drain_and_every_delay() -> None:
    """The run's span is its duration, each hop's delays and jitter tail, and the drain."""
    plain = parse_scenario("name: x\npath: [{name: a}]\nradio: {rrc: null}\n")
    assert span_s(plain) == 60.0
    text = "name: x\nradio: {rrc: null}\npath:\n  - {name: a, one_way_delay: 1s}\n"
    text += "  - {name: b, jitter: {distribution: uniform, scale: 1s}, capacity: 1Mbps}\n"
    slow = parse_scenario(text)
    drain_s = 3000 * 200 * 8 / 1e6  # a call's packets of a direction through 1 Mbit/s
    assert span_s(slow) == pytest.approx(60.0 + 1.0 + JITTER_TAIL + drain_s)


def test_handovers_that_overlap_all_call_long_are_refused(tmp_path: Path) -> None:
    """190,000 handovers a minute, each holding packets 60 ms: every packet meets them all."""
    text = "name: x\ncalls: {count: 1}\nradio:\n  handovers:\n    rate_per_min: 190000\n"
    line, key, message = issue_of(tmp_path, text)
    assert (line, key) == ("4", "radio.handovers.x2.interruption")
    assert "about 1,140,000,000 steps" in message


def test_scheduled_handovers_count_once_per_call(tmp_path: Path) -> None:
    """21 handovers of every call of 10,000 are 210,000 handovers."""
    entries = "".join(f"      - {{time: {k}s, kind: x2}}\n" for k in range(1, 22))
    text = "name: x\nduration: 30s\ncalls: {count: 10000, ptime: 60ms, hold_time: 1s}\n"
    text += "radio:\n  handovers:\n    schedule:\n" + entries
    line, key, message = issue_of(tmp_path, text)
    assert (line, key) == ("6", "radio.handovers.schedule")
    assert "about 210,000 handovers" in message


def test_a_ue_asleep_between_every_packet_is_refused(tmp_path: Path) -> None:
    """drx_inactivity shorter than ptime: a UE sleeps and wakes at every packet of 100 calls."""
    text = "name: x\ncalls: {count: 100, ptime: 40ms}\nradio:\n  rrc: {drx_inactivity: 20ms}\n"
    line, key, message = issue_of(tmp_path, text)
    assert (line, key) == ("4", "radio.rrc.drx_inactivity")
    assert "about 1,500,500 RRC state changes" in message


def test_calls_that_keep_their_ue_awake_are_not_counted_per_packet() -> None:
    """With ptime below drx_inactivity and the radio first, 600 calls of a minute fit."""
    scenario = parse_scenario("name: x\ncalls: {count: 600}\n")
    assert overruns(scenario) == []


def test_bulk_flows_whose_feedback_would_not_fit_are_refused(tmp_path: Path) -> None:
    """1000 bulk flows reserve 13.6 million slots, and a feedback ring of them each."""
    text = "name: x\nduration: 10s\ncalls: {count: 1}\npath:\n  - name: radio\n"
    text += "    capacity: 10Mbps\n    cross_traffic: [{kind: bulk, count: 1000}]\n"
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    found = {(i.origin, i.key_path) for i in caught.value.issues}
    assert found == {(f"{path}:7", "path[0].cross_traffic[0].count")}
    assert any("feedback entries" in issue.message for issue in caught.value.issues)


def test_more_cross_traffic_flows_than_the_run_draws_are_refused(tmp_path: Path) -> None:
    """11 entries of 1000 flows each: refused at the entry that passes 10,000."""
    entry = "{kind: cbr, rate: 1bps, packet_size: 1B, count: 1000}"
    text = backhaul(cross=", ".join([entry] * 11))
    line, key, message = issue_of(tmp_path, text)
    assert (line, key) == ("7", "path[1].cross_traffic[10].count")
    assert "11,000 cross-traffic flows" in message


def test_more_calls_than_the_run_scores_are_refused(tmp_path: Path) -> None:
    """Each call's flows are scored one by one: 10,001 calls are refused."""
    line, key, message = issue_of(tmp_path, "name: x\nduration: 1s\ncalls: {count: 10001}\n")
    assert (line, key) == ("3", "calls.count")
    assert "less than or equal to 10000" in message


def test_a_path_of_more_hops_than_a_run_crosses_is_refused(tmp_path: Path) -> None:
    """33 segments are refused at path."""
    segments = "".join(f"  - name: s{k}\n" for k in range(33))
    line, key, message = issue_of(tmp_path, "name: x\npath:\n" + segments)
    assert (line, key) == ("2", "path")
    assert "at most 32 items" in message


@pytest.mark.parametrize("text", ["1E-4kbit/s", "0.5bps", "1e-1bps", "0.0000001Mbps"])
def test_the_rate_pattern_refuses_rates_the_parser_refuses(text: str) -> None:
    """Rates below 1 bit/s match no pattern of the JSON Schema, as the loader refuses them."""
    schema = TypeAdapter(Rate).json_schema()
    (pattern,) = [choice["pattern"] for choice in schema["anyOf"] if "pattern" in choice]
    assert not re.search(pattern, text)
    with pytest.raises(UnitError, match="below 1 bit/s"):
        parse_rate(text)


def test_on_off_periods_count_over_every_entry(tmp_path: Path) -> None:
    """Three entries of 100,000 periods each pass the 200,000 of a run together."""
    entry = "{kind: onoff, rate: 1kbps, on: 300ms, off: 300ms, count: 1000}"
    text = backhaul(cross=", ".join([entry] * 3)).replace("name: limits", "name: x\nduration: 1min")
    line, key, message = issue_of(tmp_path, text)
    assert (line, key) == ("8", "path[1].cross_traffic[2].on")
    assert "about 300,000 on/off periods in the run" in message


@pytest.mark.parametrize(("phones", "refused"), [(10_000, False), (200_000, True)])
def test_idle_phones_past_the_message_budget_are_refused(phones: int, refused: bool) -> None:
    """An hour of phones keeping alive every 29 s: 10 000 fit, 200 000 are refused at
    signalling.phones.count, naming the estimate."""
    text = (
        "name: phones\nduration: 3600s\ncalls: {count: 1}\n"
        "path: [{name: radio, one_way_delay: 10ms}]\n"
        f"signalling: {{phones: {{count: {phones}, keepalive: 29s}}}}\n"
    )
    if refused:
        with pytest.raises(ScenarioError, match=r"signalling\.phones\.count: about .* messages"):
            parse_scenario(text, "phones.yaml")
    else:
        assert overruns(parse_scenario(text, "phones.yaml")) == []
