"""The scenario's dtmf section, the dtmf metrics and the emulation's pure DTMF helpers."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from voipbed.dtmf_scores import dtmf_columns
from voipbed.emulation.dtmf import attribute_detections, digit_schedule, split_event_rows
from voipbed.loader import ScenarioError, parse_scenario
from voipbed.metric_names import EventKind
from voipbed.models.dtmf import Receiver
from voipbed.trace import events_table


def issues(text: str) -> list[str]:
    """The issues of a scenario text, each as ``line: key: message``."""
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "s.yaml")
    return [str(issue) for issue in caught.value.issues]


def test_a_dtmf_section_loads_with_its_units_and_defaults() -> None:
    """Durations in units, digits upper-cased, RFC 4733 receiver by default."""
    scenario = parse_scenario("name: d\ndtmf: {digits: '12a#', start: 2s, tone: 80ms}\n")
    assert scenario.dtmf is not None
    assert scenario.dtmf.digits == "12A#"
    assert scenario.dtmf.start_s == pytest.approx(2.0)
    assert scenario.dtmf.config().tone_s == pytest.approx(0.080)
    assert scenario.dtmf.receiver is Receiver.RFC4733


def test_a_scenario_without_dtmf_has_none() -> None:
    """DTMF is off unless asked for."""
    assert parse_scenario("name: d\n").dtmf is None


def test_an_unknown_digit_is_an_issue_at_its_line_and_key() -> None:
    """A letter that is no DTMF digit is named, at dtmf.digits."""
    (issue,) = issues("name: d\ndtmf:\n  digits: '12x'\n")
    assert "s.yaml:3" in issue
    assert "dtmf.digits" in issue
    assert "'x'" in issue


def test_a_gap_too_short_for_the_end_packets_is_an_issue() -> None:
    """The section's schedule is checked by the model, at dtmf."""
    (issue,) = issues("name: d\ndtmf: {digits: '1', gap: 10ms}\n")
    assert "dtmf" in issue
    assert "lengthen the gap" in issue


def test_a_tone_longer_than_the_duration_field_holds_is_an_issue() -> None:
    """RFC 4733's 16-bit duration at 8 kHz holds 8.19 s."""
    (issue,) = issues("name: d\ndtmf: {digits: '1', tone: 9s}\n")
    assert "tone is at most" in issue


def test_dtmf_with_rate_control_is_refused() -> None:
    """The closed loop sends no DTMF: said when the scenario loads."""
    text = "name: d\ncalls: {codec: AMR-WB-12.65, rate_control: {algorithm: gcc}}\n"
    (issue,) = issues(text + "dtmf: {digits: '1'}\n")
    assert "rate_control" in issue


def test_too_many_dtmf_packets_for_a_run_are_refused() -> None:
    """Digits times packets times calls is bounded."""
    (issue,) = issues("name: d\ncalls: {count: 10000}\ndtmf: {digits: '" + "1" * 100 + "'}\n")
    assert "more than" in issue


def test_dtmf_columns_come_from_the_dtmf_events_and_are_nan_elsewhere() -> None:
    """Each flow with a dtmf event gets its counts; other flows NaN."""
    fields = {"flow": 2, "sent": 5, "detected": 4, "missed": 1, "duplicated": 0}
    events = events_table([(1.0, EventKind.DTMF, 1, fields), (0.0, EventKind.CALL_START, 1, {})])
    columns = dtmf_columns(np.array([2, 3]), events)
    assert columns["dtmf_detected"][0] == 4
    assert columns["dtmf_missed"][0] == 1
    assert np.isnan(columns["dtmf_sent"][1])
    assert dtmf_columns(np.array([0, 1]), events_table([(0.0, EventKind.CALL_START, 0, {})])) == {}


def test_detections_belong_to_the_latest_digit_of_their_code_sent_before() -> None:
    """A repeated digit's two detections go one to each; an unsent code to none."""
    sent = [("1", 10.0), ("1", 10.2), ("2", 10.4)]
    detected = [("1", 10.05), ("1", 10.25), ("2", 10.45), ("9", 10.5)]
    assert attribute_detections(sent, detected).tolist() == [0, 1, 2, -1]


def test_the_emulation_sends_the_digits_that_fit_before_the_call_ends() -> None:
    """Digits start at the answer plus start, one every tone + gap; late ones are not sent."""
    scenario = parse_scenario("name: d\ndtmf: {digits: '123', start: 1s}\n")
    assert scenario.dtmf is not None
    sends = digit_schedule(scenario.dtmf, {0: 2.0, 1: 3.0}, {0: 10.0, 1: 4.25})
    assert [(s.call, s.digit) for s in sends] == [(0, "1"), (0, "2"), (0, "3"), (1, "1")]
    assert [s.at_s for s in sends] == pytest.approx([3.0, 3.16, 3.32, 4.0])


def test_telephone_event_rows_are_split_from_the_media() -> None:
    """Rows with a 4-byte payload are the telephone events."""
    table = pa.table({"flow": [0, 0, 0], "payload_bytes": pa.array([160, 4, 160], pa.int32())})
    media, events = split_event_rows(table)
    assert media.num_rows == 2
    assert events.column("payload_bytes").to_pylist() == [4]
