"""The emulation's rate-controlled calls: flows, endpoint settings, and reading their logs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from voipbed.emulation.gcc_calls import (
    RECEIVER_TAIL_S,
    SENDER_DRAIN_S,
    bound_problems,
    plan_flows,
    receiver_settings,
    sender_settings,
)
from voipbed.emulation.gcc_endpoint import parse_settings, sender_argv
from voipbed.emulation.gcc_io import CsvLog
from voipbed.emulation.gcc_logs import feedback_events, sent_log
from voipbed.emulation.gcc_receiver import FEEDBACK_COLUMNS as RECEIVER_FEEDBACK_COLUMNS
from voipbed.emulation.gcc_sender import PACKET_COLUMNS as SENDER_PACKET_COLUMNS
from voipbed.emulation.topology import describe
from voipbed.models.overhead import Overhead
from voipbed.scenario import Scenario
from voipbed.schedule import call_times

MODES = ("OPUS-NB-8", "OPUS-WB-16", "OPUS-WB-24")


def scenario(**calls: Any) -> Scenario:
    """Two rate-controlled Opus calls spread over 2 s of a 10 s run, ``calls`` added."""
    return Scenario.model_validate(
        {
            "name": "gcc-plan",
            "seed": 4,
            "duration": "10s",
            "calls": {
                "count": 2,
                "codec": "OPUS-WB-24",
                "start_spread": "2s",
                "rate_control": {"algorithm": "gcc"},
                **calls,
            },
            "path": [{"name": "radio"}],
        }
    )


def test_each_call_is_an_uplink_and_a_downlink_on_the_schedule() -> None:
    """Flow 2c goes from call c's UE to the far end from the call's start, flow 2c + 1 back
    from the start plus the downlink's phase, both to the call's end, each on its own port."""
    run = scenario()
    topology = describe(run, "plan-test")
    plans = plan_flows(run, topology)
    times = call_times(run)
    assert [plan.flow for plan in plans] == [0, 1, 2, 3]
    for plan in plans:
        call = plan.call
        ue = topology.ue_for_call(call)
        up = plan.flow == 2 * call
        assert (plan.sender, plan.receiver) == (
            (ue, topology.far_end) if up else (topology.far_end, ue)
        )
        phase = 0.0 if up else times.downlink_phase_s[call]
        assert plan.start_s == pytest.approx(times.start_s[call] + phase)
        assert plan.end_s == pytest.approx(times.end_s[call])
    assert len({plan.port for plan in plans}) == len(plans)
    assert len({plan.sender_ssrc for plan in plans}) == len(plans)


def test_a_call_of_no_length_has_no_flows() -> None:
    """With a hold time of 0 s nothing is sent, so no endpoint is planned."""
    run = scenario(hold_time="0s")
    assert plan_flows(run, describe(run, "plan-test")) == []


def test_the_sender_gets_the_calls_settings_and_only_the_rates_set(tmp_path: Path) -> None:
    """DSCP, ECN, ptime, codec, feedback interval, filter and the adaptation as the
    simulator resolves it reach the sender; a bound the scenario leaves unset is not
    passed, so the sender fills it in itself."""
    run = scenario(
        dscp=34,
        ecn=True,
        rate_control={
            "algorithm": "gcc",
            "ecn": True,
            "feedback_interval": "50ms",
            "delay_filter": "kalman",
            "max_bitrate": "50kbps",
        },
    )
    plan = plan_flows(run, describe(run, "plan-test"))[1]
    settings = sender_settings(plan, run, 100.0, tmp_path)
    assert (settings.dscp, settings.ecn, settings.ce_response) == (34, True, True)
    assert (settings.codec, settings.ptime_s) == ("OPUS-WB-24", 0.020)
    assert settings.feedback_interval_s == 0.050
    assert settings.delay_filter.value == "kalman"
    assert (settings.start_bps, settings.min_bps, settings.max_bps) == (None, None, 50_000.0)
    resolved = run.calls.rate_control.follower_config(0.020, run.overhead(), "OPUS-WB-24")
    assert (settings.hold_up_s, settings.step_up) == (resolved.hold_up_s, resolved.step_up)
    assert settings.start_s == plan.start_s
    assert settings.duration_s == pytest.approx(plan.end_s - plan.start_s)
    assert settings.peer == (plan.receiver.ip, plan.port)
    argv = sender_argv(settings)
    assert "--start-bps" not in argv and "--min-bps" not in argv
    assert parse_settings(argv[3:]) == settings  # the endpoint reads back what was built


def test_the_receiver_reports_as_the_scenario_says_until_past_the_flows_end(
    tmp_path: Path,
) -> None:
    """The feedback format and interval are the scenario's; the receiver outlives its
    sender by the drain and the tail."""
    run = scenario(rate_control={"algorithm": "gcc", "feedback": "twcc"})
    plan = plan_flows(run, describe(run, "plan-test"))[0]
    settings = receiver_settings(plan, run, 100.0, tmp_path)
    assert settings.feedback.value == "twcc"
    assert settings.feedback_interval_s == 0.100
    assert settings.bind == (plan.receiver.ip, plan.port)
    assert settings.duration_s == pytest.approx(plan.end_s + SENDER_DRAIN_S + RECEIVER_TAIL_S)


def write_sender_log(path: Path, rows: list[tuple[int, str, float]]) -> None:
    """A sender's packet log of (rtp_seq, mode, target) rows."""
    with CsvLog(path, SENDER_PACKET_COLUMNS) as log:
        for k, (seq, mode, target) in enumerate(rows):
            log.write(0.02 * k, k, seq, 40 + k, 88 + k, mode, target)


def test_a_sender_log_gives_each_packets_mode_payload_and_target(tmp_path: Path) -> None:
    """Modes become indices into the family's modes, in the log's order."""
    path = tmp_path / "tx.csv"
    write_sender_log(path, [(0, "OPUS-WB-24", 42000.0), (1, "OPUS-NB-8", float("nan"))])
    log = sent_log(path, 9, MODES)
    assert log.ssrc == 9
    assert log.mode.tolist() == [2, 0]
    assert log.payload_bytes.tolist() == [40, 41]
    assert log.target_bps[0] == 42000.0 and np.isnan(log.target_bps[1])


@pytest.mark.parametrize(
    ("rows", "says"),
    [
        ([(0, "OPUS-WB-24", 1.0), (2, "OPUS-WB-24", 1.0)], "sequence numbers"),
        ([(0, "AMR-12.2", 1.0)], "AMR-12.2"),
    ],
)
def test_a_sender_log_that_cannot_be_matched_is_refused(
    tmp_path: Path, rows: list[tuple[int, str, float]], says: str
) -> None:
    """A gap in the sequence numbers or a mode outside the family raises, naming the file."""
    path = tmp_path / "tx.csv"
    write_sender_log(path, rows)
    with pytest.raises(ValueError, match=says):
        sent_log(path, 9, MODES)


def test_feedback_is_counted_in_the_direction_it_travels(tmp_path: Path) -> None:
    """The uplink's receiver sends its reports down, the downlink's up; bytes are the RTCP
    packets' plus their IPv4 and UDP headers."""
    run = scenario(count=1)
    plans = plan_flows(run, describe(run, "plan-test"))
    sizes = {0: [60, 64, 68], 1: [72]}  # by flow
    for plan in plans:
        with CsvLog(plan.receiver_feedback_log(tmp_path), RECEIVER_FEEDBACK_COLUMNS) as log:
            for k, size in enumerate(sizes[plan.flow]):
                log.write(0.1 * k, "rfc8888", size, 5, 5)
    events = feedback_events(plans, tmp_path, 10.0)
    fields = {event[3]["direction"]: event[3] for event in events}
    assert {event[1] for event in events} == {"feedback"}
    assert {event[0] for event in events} == {10.0}
    assert fields["downlink"] == {"direction": "downlink", "packets": 3, "bytes": 192 + 3 * 28}
    assert fields["uplink"] == {"direction": "uplink", "packets": 1, "bytes": 72 + 28}


def test_bounds_the_header_extension_puts_out_of_order_are_refused() -> None:
    """A ceiling at the codec's own wire rate holds in the simulator, but the endpoint's
    start (the codec's rate plus the header extension) would pass it: refused, saying why;
    all three set, or none, the bounds stay in order."""
    start_bps = scenario().calls.rate_control.bitrates("OPUS-WB-24", 0.020, Overhead()).start_bps
    tight = scenario(rate_control={"algorithm": "gcc", "max_bitrate": f"{start_bps}bps"})
    (problem,) = bound_problems(tight)
    assert "header extension" in problem and "calls.rate_control" in problem
    assert bound_problems(scenario()) == []
    given = {"start_bitrate": "30kbps", "min_bitrate": "20kbps", "max_bitrate": "40kbps"}
    assert bound_problems(scenario(rate_control={"algorithm": "gcc", **given})) == []
