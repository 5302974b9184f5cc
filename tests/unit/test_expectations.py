"""Parsing ``expect:`` thresholds and measuring them on a summary."""

from __future__ import annotations

from typing import Any

import pytest

from voipbed.expectations import check_summary, measure, parse_expectation
from voipbed.loader import ScenarioError, parse_scenario

SUMMARY: dict[str, Any] = {
    "totals": {"sent": 1000},
    "sent_by_direction": {"uplink": 500, "downlink": 500},
    "metrics": {
        "mos": {"n": 30, "mean": 4.1, "p5": 3.5, "p50": 4.2, "p95": 4.4, "min": 3.1, "max": 4.4},
        "delay_p95_s": {"n": 30, "mean": 0.120, "p5": None, "p50": None, "p95": None},
        "late_percent": {"n": 30, "mean": 0.4, "p5": 0.0, "p50": 0.2, "p95": 1.5},
    },
    "by_direction": {
        "downlink": {"mos": {"n": 15, "mean": 3.9, "p5": None, "p50": 3.9, "p95": None}},
    },
    "losses": [
        {"direction": "uplink", "segment": "radio", "reason": "channel", "packets": 10},
        {"direction": "downlink", "segment": "radio", "reason": "channel", "packets": 20},
        {"direction": "downlink", "segment": "core", "reason": "queue", "packets": 5},
        {"direction": "downlink", "segment": None, "reason": "late", "packets": 7},
    ],
}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("mos.p5 >= 3.6", 3.5),
        ("mos.min > 3", 3.1),
        ("downlink.mos.mean >= 4", 3.9),
        ("late_percent.mean < 1%", 0.4),
        ("late_percent.p95 < 1", 1.5),
        ("loss_at.radio <= 2%", 3.0),
        ("downlink.loss_at.radio <= 2%", 4.0),
        ("loss_by.queue < 0.5%", 0.5),
        ("uplink.loss_by.queue < 0.5%", 0.0),
        ("delay_p95_s.mean <= 150ms", 0.120),
    ],
)
def test_measures_each_family(text: str, value: float) -> None:
    """Each kind of metric is read from its place in the summary, in the metric's unit."""
    measured = measure(parse_expectation(text, ["radio", "core"]).metric, SUMMARY)
    assert measured.value == pytest.approx(value)


@pytest.mark.parametrize(
    ("text", "holds"),
    [
        ("mos.p5 >= 3.6", False),
        ("mos.p5 >= 3.5", True),
        ("mos.p5 > 3.5", False),
        ("delay_p95_s.mean <= 0.15", True),
        ("delay_p95_s.mean < 100ms", False),
        ("loss_at.radio <= 2%", False),
        ("loss_at.radio <= 5%", True),
    ],
)
def test_thresholds_compare_in_the_metrics_unit(text: str, holds: bool) -> None:
    """Bare numbers are in the metric's own unit; values with units are converted."""
    (outcome,) = check_summary([parse_expectation(text, ["radio", "core"])], SUMMARY)
    assert outcome.passed is holds


def test_a_figure_without_a_value_fails_saying_why() -> None:
    """A p95 the summary left null (too few flows) fails, never passes unmeasured."""
    (outcome,) = check_summary([parse_expectation("delay_p95_s.p95 <= 1s")], SUMMARY)
    assert not outcome.passed
    assert outcome.measured.value is None
    assert "30" in outcome.message() and "delay_p95_s.p95" in outcome.message()
    (missing,) = check_summary([parse_expectation("pesq_mos_lqo.mean > 3")], SUMMARY)
    assert not missing.passed and "does not measure pesq_mos_lqo" in missing.message()


def test_failure_message_names_metric_value_threshold_and_point() -> None:
    """The message a CI system shows carries everything needed to act on it."""
    (outcome,) = check_summary([parse_expectation("mos.p5 >= 3.6")], SUMMARY)
    message = outcome.message("point 3 (calls.codec=G722)")
    for part in ("mos.p5", "3.5", ">= 3.6", "point 3 (calls.codec=G722)"):
        assert part in message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("mos.p7 >= 3", "unknown statistic 'p7'"),
        ("moss.p5 >= 3", "did you mean 'mos'"),
        ("mos >= 3", "loss_at.SEGMENT"),
        ("mos.p5 = 3", "METRIC OP VALUE"),
        ("mos.p5 >= 3ms", "not a plain number"),
        ("loss_at.radio <= 0.02", "as a percentage"),
        ("loss_at.radoi <= 2%", "did you mean 'radio'"),
        ("loss_by.weather <= 2%", "unknown loss reason"),
        ("delay_mean_s.mean <= 5kbps", "unknown unit"),
        ("mos.mean >= nan", "finite"),
        ("ppl_percent.mean <= 200%", "between 0% and 100%"),
    ],
)
def test_bad_expectations_say_what_is_wrong(text: str, words: str) -> None:
    """Every malformed expectation is refused with a message that says what to fix."""
    with pytest.raises(ValueError, match=None) as caught:
        parse_expectation(text, ["radio", "core"])
    assert words in str(caught.value)


def test_scenario_refuses_bad_expectations_with_file_line_and_key() -> None:
    """Bad thresholds are load-time errors naming the file, the item's line and its key."""
    text = "name: x\nexpect:\n  - mos.p5 >= 3.6\n  - loss_at.backhaul <= 1%\n  - jitter.mean < 1\n"
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "x.yaml")
    lines = str(caught.value).splitlines()
    assert lines[0].startswith("x.yaml:4: expect[1]:") and "backhaul" in lines[0]
    assert lines[1].startswith("x.yaml:5: expect[2]:") and "'jitter'" in lines[1]


def test_set_expectation_errors_name_the_set() -> None:
    """An expectation given with --set is blamed on that --set."""
    with pytest.raises(ScenarioError) as caught:
        parse_scenario("name: x\n", "x.yaml", ["expect=[mos.p1 > 2]"])
    assert str(caught.value).startswith("--set expect=[mos.p1 > 2]: expect[0]:")
