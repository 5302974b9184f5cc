"""A segment's capacity_steps: the rate steps they give the link models, their refusals, and
a link serving them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voipbed.estimates import link_loads
from voipbed.loader import ScenarioError, load_scenario, parse_scenario
from voipbed.models.link import QueueLimit, RateLink
from voipbed.models.rate_steps import RateStep, RateSteps
from voipbed.scenario import Scenario, Segment
from voipbed.segment_stages import SegmentStages
from voipbed.traces import builtin_trace_dir, read_schedule

RFC8867_5_1 = (  # RFC 8867 section 5.1's capacity pattern, 100 s
    RateStep(0.0, 1.0e6),
    RateStep(40.0, 2.5e6),
    RateStep(60.0, 0.6e6),
    RateStep(80.0, 1.0e6),
)


def test_steps_carry_each_rate_for_its_span() -> None:
    """The bits the steps can carry add up each rate over its span; the mean over the run is
    the time-weighted mean, and the last rate holds after the last step."""
    steps = RateSteps.of(RFC8867_5_1)
    assert steps.bits_between(40.0, 60.0) == pytest.approx(2.5e6 * 20)
    assert steps.bits_between(30.0, 65.0) == pytest.approx(1e6 * 10 + 2.5e6 * 20 + 0.6e6 * 5)
    assert steps.mean_rate_bps(100.0) == pytest.approx((40 + 50 + 12 + 20) * 1e6 / 100)
    assert steps.rate_at(60.0) == 0.6e6 and steps.rate_at(1e6) == 1e6
    assert steps.steps == RFC8867_5_1


@pytest.mark.parametrize(
    ("starts", "rates", "said"),
    [
        ([], [], "at least one step"),
        ([1.0], [1e6], "first step starts at 0 s"),
        ([0.0, 0.0], [1e6, 2e6], "must be finite and increase"),
        ([0.0], [0.0], "must be > 0"),
        ([0.0], [np.inf], "must be > 0 and finite"),
    ],
)
def test_the_model_refuses_steps_that_are_no_link(
    starts: list[float], rates: list[float], said: str
) -> None:
    """RateSteps refuses steps that do not describe a link's rate."""
    with pytest.raises(ValueError, match=said):
        RateSteps(np.array(starts), np.array(rates))


def test_a_packet_across_two_steps_is_carried_at_each_rate() -> None:
    """1500 bytes from 0 s: 5000 bits at 1 Mbit/s until 5 ms, 1000 at 250 kbit/s until 9 ms,
    the other 6000 at 4 Mbit/s: it leaves at 10.5 ms, and the next one after it at 4 Mbit/s."""
    steps = RateSteps(np.array([0.0, 0.005, 0.009]), np.array([1e6, 0.25e6, 4e6]))
    out = RateLink(steps).process(np.zeros(2), np.array([1500, 1500]))
    np.testing.assert_allclose(out.depart_s, [0.0105, 0.0135], rtol=0, atol=1e-12)
    np.testing.assert_allclose(out.start_s, [0.0, 0.0105], rtol=0, atol=1e-12)


def test_a_voice_flow_at_50kbps_is_serialized_not_burst() -> None:
    """A 64 kbit/s flow of 160-byte packets, after a step down to 50 kbit/s, leaves one packet
    per 25.6 ms of serialization: no gap longer than that, no packet before its time."""
    steps = RateSteps(np.array([0.0, 1.0]), np.array([1e6, 50e3]))
    arrive = np.arange(0.0, 4.0, 0.020)
    out = RateLink(steps, QueueLimit(packets=50)).process(arrive, np.full(arrive.size, 160))
    late = out.depart_s[arrive > 1.1]
    np.testing.assert_allclose(np.diff(late), 160 * 8 / 50e3, rtol=0, atol=1e-9)
    early = arrive < 0.99
    np.testing.assert_allclose(out.depart_s[early] - arrive[early], 160 * 8 / 1e6, atol=1e-12)


def segment(**keys: object) -> Segment:
    """A segment named hop with ``keys``."""
    return Segment.model_validate({"name": "hop", **keys})


def test_schedule_for_serves_traces_only() -> None:
    """schedule_for reads a trace, and is None with capacity steps, a constant capacity or
    neither; rate_steps gives the steps, and only them."""
    stepped = segment(capacity_steps=[{"at": 0, "capacity": "1Mbps"}])
    assert stepped.schedule_for("uplink") is None
    steps = stepped.rate_steps()
    assert steps is not None and steps.steps == (RateStep(0.0, 1e6),)
    trace = "Verizon-LTE-short.up"
    traced = segment(uplink_trace=trace, downlink_trace=trace)
    assert traced.schedule_for("downlink") is read_schedule(builtin_trace_dir() / trace)
    assert traced.rate_steps() is None
    assert segment(capacity="1Mbps").schedule_for("uplink") is None
    assert segment(capacity="1Mbps").rate_steps() is None
    assert segment().schedule_for("uplink") is None


def test_steps_are_a_link_for_queues_and_cross_traffic() -> None:
    """A queue limit, an AQM and cross traffic accept capacity_steps as the hop's link."""
    stepped = segment(
        capacity_steps=[{"at": "0s", "capacity": "1Mbps"}],
        queue={"bytes": "10kB", "aqm": "codel"},
        cross_traffic=[{"kind": "cbr", "rate": "100kbps"}],
    )
    steps = stepped.rate_steps()
    assert steps is not None and steps.steps == (RateStep(0.0, 1e6),)


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


def test_steps_of_any_rate_build_nothing_to_refuse() -> None:
    """Steps are a rate, not opportunities built in memory: 10 Tbit/s steps over a week load,
    as a constant capacity of that rate does."""
    loaded = parse_scenario(
        "name: fast\nduration: 168h\ncalls: {count: 1, hold_time: 1s}\npath:\n  - name: hop\n"
        "    capacity_steps: [{at: 0s, capacity: 10000Gbps}, {at: 72h, capacity: 20000Gbps}]\n"
    )
    steps = loaded.path[0].rate_steps()
    assert steps is not None and steps.rate_bps.tolist() == [10e12, 20e12]


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


@pytest.mark.parametrize("queue", [{}, {"packets": 20}, {"aqm": "codel"}])
def test_both_engines_stages_serve_the_steps_as_a_rate(queue: dict[str, object]) -> None:
    """The stage builder both engines use serves a stepped hop at the steps' rates: a
    drop-tail RateLink, or the queueing link under an AQM; neither has a schedule, and the
    queue's facts name no constant rate."""
    hop = segment(
        capacity_steps=[{"at": 0, "capacity": "1Mbps"}, {"at": "2s", "capacity": "64kbps"}],
        queue=queue,
    )
    stages = SegmentStages.build(hop, "uplink", seed=1, run_end_s=30.0)
    if stages.link is not None:
        assert isinstance(stages.link, RateLink)
        served = stages.link.steps
    else:
        assert stages.queueing is not None and stages.queueing.schedule is None
        assert isinstance(stages.queueing.rate_bps, RateSteps)
        served = stages.queueing.rate_bps
    assert served.steps == (RateStep(0.0, 1e6), RateStep(2.0, 64e3))
    assert stages.facts.rate_bps is None


def test_the_budget_sees_the_steps_mean_rate_and_drains_at_the_slowest_left() -> None:
    """A stepped hop's load: the steps' mean over the run, no delivery opportunities, and a
    full queue drained at the lowest rate in force from the run's end on."""
    scenario = parse_scenario(
        "name: load\nduration: 10s\ncalls: {count: 2}\npath:\n  - name: hop\n"
        "    queue: {bytes: 10kB}\n    capacity_steps: [{at: 0s, capacity: 1Mbps},"
        " {at: 5s, capacity: 100kbps}, {at: 20s, capacity: 2Mbps}]\n"
    )
    for load in link_loads(scenario):
        assert load.rate_bps == pytest.approx((5 * 1e6 + 5 * 100e3) / 10)
        assert load.opportunities_per_s == 0.0
        assert load.drain_s == pytest.approx(10_000 * 8 / 100e3)
