"""A segment's capacity_steps: the schedule they build, their refusals, and a link carrying it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voipbed.budget import MAX_STEP_OPPORTUNITIES
from voipbed.loader import ScenarioError, load_scenario, parse_scenario
from voipbed.models.link import QueueLimit, TraceLink
from voipbed.models.mahimahi import (
    OPPORTUNITY_BYTES,
    TUN_HEADER_BYTES,
    DeliverySchedule,
    RateStep,
    TraceError,
    step_opportunities,
    step_schedule,
)
from voipbed.scenario import Scenario, Segment
from voipbed.segment_stages import SegmentStages
from voipbed.traces import builtin_trace_dir, read_schedule

BITS = OPPORTUNITY_BYTES * 8
RFC8867_5_1 = (  # RFC 8867 section 5.1's capacity pattern, 100 s
    RateStep(0.0, 1.0e6),
    RateStep(40.0, 2.5e6),
    RateStep(60.0, 0.6e6),
    RateStep(80.0, 1.0e6),
)


def rate_between(times_ms: np.ndarray, start_s: float, end_s: float) -> float:
    """The capacity of the opportunities in (start, end], in bit/s."""
    inside = (times_ms > start_s * 1000.0) & (times_ms <= end_s * 1000.0)
    return float(inside.sum()) * BITS / (end_s - start_s)


def test_each_step_delivers_its_rate() -> None:
    """Over each step of RFC 8867 5.1 the opportunities carry the step's rate, within one
    opportunity."""
    schedule = step_schedule(RFC8867_5_1, 100.0)
    ends = [step.start_s for step in RFC8867_5_1[1:]] + [100.0]
    for step, end_s in zip(RFC8867_5_1, ends, strict=True):
        measured = rate_between(schedule.times_ms, step.start_s, end_s)
        assert measured == pytest.approx(step.rate_bps, abs=BITS / (end_s - step.start_s))


def test_the_schedule_spans_the_run_and_its_mean_is_the_steps() -> None:
    """The period ends at the run's end and the mean rate is the time-weighted mean."""
    schedule = step_schedule(RFC8867_5_1, 100.0)
    expected = (40 * 1.0e6 + 20 * 2.5e6 + 20 * 0.6e6 + 20 * 1.0e6) / 100.0
    assert 100_000 - schedule.period_ms < BITS / 1.0e6 * 1000.0 + 1
    assert schedule.mean_rate_bps == pytest.approx(expected, rel=1e-3)


@settings(max_examples=100, deadline=None)
@given(
    rates=st.lists(st.floats(1_000.0, 50e6), min_size=1, max_size=6),
    gaps=st.lists(st.floats(0.01, 30.0), min_size=6, max_size=6),
    until_s=st.floats(0.001, 200.0),
)
def test_opportunities_are_the_capacity_in_whole_packets(
    rates: list[float], gaps: list[float], until_s: float
) -> None:
    """For any steps, the schedule holds one opportunity per 1504 bytes of capacity up to
    the end (at least one), in time order, none before 1 ms; its size is step_opportunities'."""
    starts = np.concatenate(([0.0], np.cumsum(gaps[: len(rates) - 1])))
    steps = [RateStep(float(s), r) for s, r in zip(starts, rates, strict=True)]
    schedule = step_schedule(steps, until_s)
    ends = np.minimum([*starts[1:], until_s], until_s)
    capacity = sum(r * max(0.0, e - s) for s, e, r in zip(starts, ends, rates, strict=True))
    assert schedule.times_ms.size == max(1, int(capacity // BITS))
    assert schedule.times_ms.size == step_opportunities(steps, until_s)
    assert schedule.times_ms[0] >= 1
    assert (np.diff(schedule.times_ms) >= 0).all()
    if capacity >= BITS:
        assert schedule.times_ms[-1] <= np.ceil(until_s * 1000.0)


def test_steps_after_the_end_are_left_out() -> None:
    """A run shorter than the steps keeps only the steps it reaches."""
    schedule = step_schedule(RFC8867_5_1, 50.0)
    assert schedule.period_ms <= 50_000
    assert rate_between(schedule.times_ms, 40.0, 50.0) == pytest.approx(2.5e6, abs=BITS / 10)


def test_a_schedule_too_short_for_one_packet_holds_one() -> None:
    """1 ms of 1 kbit/s carries no packet: the schedule still has its first opportunity,
    when the rate reaches 1504 bytes."""
    schedule = step_schedule([RateStep(0.0, 1000.0)], 0.001)
    assert schedule.times_ms.tolist() == [BITS]


@pytest.mark.parametrize(
    ("steps", "said"),
    [
        ([], "at least one step"),
        ([RateStep(1.0, 1e6)], "first step starts at 0 s"),
        ([RateStep(0.0, 1e6), RateStep(0.0, 2e6)], "must increase"),
        ([RateStep(0.0, 0.0)], "must be > 0"),
    ],
)
def test_bad_steps_are_trace_errors(steps: list[RateStep], said: str) -> None:
    """The model refuses steps that do not describe a link, naming the source."""
    with pytest.raises(TraceError, match=said) as caught:
        step_schedule(steps, 10.0, "hop capacity_steps")
    assert "hop capacity_steps" in str(caught.value)


def test_a_trace_link_on_the_steps_delivers_at_the_step_rates() -> None:
    """A TraceLink on the steps' schedule, offered 1500-byte packets faster than any step,
    delivers each step's rate (mm-link's 4-byte header counted)."""
    schedule = step_schedule(RFC8867_5_1, 100.0)
    arrive = np.arange(0.0, 100.0, 0.001)  # 12 Mbit/s of 1496-byte IP packets
    sizes = np.full(arrive.size, OPPORTUNITY_BYTES - TUN_HEADER_BYTES, dtype=np.int64)
    out = TraceLink(schedule, QueueLimit(packets=50)).process(arrive, sizes)
    depart = out.depart_s[~out.dropped]
    ends = [step.start_s for step in RFC8867_5_1[1:]] + [100.0]
    for step, end_s in zip(RFC8867_5_1, ends, strict=True):
        inside = (depart > step.start_s) & (depart <= end_s)
        delivered = float(inside.sum()) * BITS / (end_s - step.start_s)
        assert delivered == pytest.approx(step.rate_bps, rel=0.01)


def segment(**keys: object) -> Segment:
    """A segment named hop with ``keys``."""
    return Segment.model_validate({"name": "hop", **keys})


def test_schedule_for_gives_the_steps_the_trace_or_none() -> None:
    """schedule_for builds the steps' schedule up to the run's end, reads a trace, and is
    None at a constant capacity or without one."""
    stepped = segment(capacity_steps=[{"at": 0, "capacity": "1Mbps"}]).schedule_for("uplink", 10)
    assert stepped is not None and stepped.mean_rate_bps == pytest.approx(1e6, rel=1e-3)
    trace = "Verizon-LTE-short.up"
    traced = segment(uplink_trace=trace, downlink_trace=trace).schedule_for("downlink", 10)
    assert traced is read_schedule(builtin_trace_dir() / trace)
    assert segment(capacity="1Mbps").schedule_for("uplink", 10) is None
    assert segment().schedule_for("uplink", 10) is None


def test_steps_are_a_link_for_queues_and_cross_traffic() -> None:
    """A queue limit, an AQM and cross traffic accept capacity_steps as the hop's link."""
    stepped = segment(
        capacity_steps=[{"at": "0s", "capacity": "1Mbps"}],
        queue={"bytes": "10kB", "aqm": "codel"},
        cross_traffic=[{"kind": "cbr", "rate": "100kbps"}],
    )
    assert stepped.rate_steps() == (RateStep(0.0, 1e6),)


def issues_of(tmp_path: Path, hop: str) -> list[tuple[str, str, str]]:
    """(line, key path, message) of every issue of a scenario with the one segment ``hop``."""
    path = tmp_path / "scenario.yaml"
    path.write_text(f"name: steps\npath:\n  - name: hop\n{hop}", encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    return [
        (issue.origin.removeprefix(f"{path}:"), issue.key_path, issue.message)
        for issue in caught.value.issues
    ]


def test_a_first_step_after_zero_is_refused_at_its_line(tmp_path: Path) -> None:
    """The first step must be at 0 s: refused at that step's ``at``."""
    hop = "    capacity_steps:\n      - {at: 1s, capacity: 1Mbps}\n"
    assert issues_of(tmp_path, hop) == [
        ("5", "path[0].capacity_steps[0].at", "the first step is at 0s (the run's start)")
    ]


def test_a_step_back_in_time_is_refused_at_its_line(tmp_path: Path) -> None:
    """Steps go forward: a repeated or earlier time is refused at that step's line."""
    hop = (
        "    capacity_steps:\n"
        "      - {at: 0s, capacity: 1Mbps}\n"
        "      - {at: 10s, capacity: 2Mbps}\n"
        "      - {at: 10s, capacity: 3Mbps}\n"
    )
    ((line, key, message),) = issues_of(tmp_path, hop)
    assert (line, key) == ("7", "path[0].capacity_steps[2].at")
    assert "10 s is not after the step before (10 s)" in message


@pytest.mark.parametrize("capacity", ["0Mbps", "0"])
def test_a_step_of_no_capacity_is_refused(tmp_path: Path, capacity: str) -> None:
    """A step's capacity must be > 0."""
    hop = f"    capacity_steps: [{{at: 0s, capacity: {capacity}}}]\n"
    assert issues_of(tmp_path, hop) == [
        ("4", "path[0].capacity_steps[0].capacity", "a step's capacity must be > 0")
    ]


def test_no_steps_is_refused(tmp_path: Path) -> None:
    """An empty list of steps is refused (null means none)."""
    ((_, key, message),) = issues_of(tmp_path, "    capacity_steps: []\n")
    assert key == "path[0].capacity_steps"
    assert "at least one step" in message


@pytest.mark.parametrize(
    ("other", "named"),
    [
        ("capacity: 1Mbps", "capacity"),
        ("uplink_trace: Verizon-LTE-short.up", "uplink_trace"),
        ("downlink_trace: Verizon-LTE-short.down", "downlink_trace"),
    ],
)
def test_steps_with_a_capacity_or_trace_are_refused(tmp_path: Path, other: str, named: str) -> None:
    """capacity_steps excludes capacity and traces; the message names both keys."""
    hop = f"    {other}\n    capacity_steps: [{{at: 0s, capacity: 1Mbps}}]\n"
    ((_, key, message),) = issues_of(tmp_path, hop)
    assert key == "path[0]"
    assert "capacity_steps" in message and named in message


def test_steps_too_dense_for_memory_are_refused_before_they_are_built(tmp_path: Path) -> None:
    """Steps that would build more opportunities than the budget allows are refused at
    capacity_steps, with the count."""
    rate = 2 * MAX_STEP_OPPORTUNITIES * BITS / 60.0
    hop = f"    capacity_steps: [{{at: 0s, capacity: {rate:.0f}bps}}]\n"
    ((_, key, message),) = issues_of(tmp_path, hop)
    assert key == "path[0].capacity_steps"
    assert f"{MAX_STEP_OPPORTUNITIES:,}" in message


def test_steps_write_back_with_units() -> None:
    """A scenario with capacity_steps saves as YAML keys with unit strings and loads back
    equal."""
    loaded = parse_scenario(
        "name: steps\npath:\n  - name: hop\n"
        "    capacity_steps: [{at: 0s, capacity: 1Mbps}, {at: 1.5s, capacity: 64kbps}]\n"
    )
    written = loaded.to_yaml_dict()
    steps = written["path"][0]["capacity_steps"]
    assert [sorted(step) for step in steps] == [["at", "capacity"], ["at", "capacity"]]
    assert all(isinstance(value, str) for step in steps for value in step.values())
    assert Scenario.model_validate(written) == loaded


@pytest.mark.parametrize("queue", [{}, {"aqm": "codel"}])
def test_both_engines_stages_carry_the_steps_schedule(queue: dict[str, str]) -> None:
    """The stage builder both engines use serves a stepped hop on the steps' schedule up to
    the run's end: a drop-tail trace link, or the queueing link under an AQM."""
    hop = segment(capacity_steps=[{"at": 0, "capacity": "1Mbps"}], queue=queue)
    stages = SegmentStages.build(hop, "uplink", seed=1, run_end_s=30.0)
    expected = step_schedule([RateStep(0.0, 1e6)], 30.0)
    served: DeliverySchedule | None = None
    if stages.link is not None:
        assert isinstance(stages.link, TraceLink)
        served = stages.link.schedule
    else:
        assert stages.queueing is not None
        served = stages.queueing.schedule
    assert served is not None
    assert np.array_equal(served.times_ms, expected.times_ms)
    assert stages.facts.rate_bps is None
