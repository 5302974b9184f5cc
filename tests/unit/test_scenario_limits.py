"""Values the models or the run would refuse, or could not finish, are refused at load time."""

from __future__ import annotations

from pathlib import Path

import pytest

from voipbed.budget import MAX_PACKETS, packets_estimate
from voipbed.loader import ScenarioError, load_scenario

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


def test_a_million_calls_are_refused_at_calls_count(tmp_path: Path) -> None:
    """A million calls of a minute: refused at calls.count, with the estimate."""
    line, key, message = issue_of(tmp_path, "name: big\ncalls:\n  count: 1000000\n")
    assert (line, key) == ("3", "calls.count")
    assert "about 6,000,000,000 packets" in message


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
