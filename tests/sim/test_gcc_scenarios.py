"""The GCC scenarios of scenarios/ (RFC 8867 tests scaled to voice) behave as the RFC expects."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from voipbed.loader import load_scenario
from voipbed.models.codec_adaptation import point_wire_bps
from voipbed.sim.engine import simulate
from voipbed.trace import Trace

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SETTLE_S = 2.0  # after a capacity step, left out of the queueing-delay figures


def _run(name: str, *overrides: str) -> Trace:
    return simulate(load_scenario(SCENARIOS / name, [*overrides, "sweep=null"]))


def _link_bps(trace: Trace, direction: str, start_s: float, end_s: float) -> float:
    """Bits per second that left the bottleneck's link in ``direction`` (media and feedback)."""
    for event in trace.events.to_pylist():
        fields = json.loads(event["fields"])
        if event["kind"] == "queue_samples" and fields["direction"] == direction:
            out = np.array(fields["media_bytes"])
            at_s = (np.arange(out.size) + 1) * fields["interval_s"]
            inside = (at_s > start_s) & (at_s <= end_s)
            return float(out[inside].sum() * 8 / (end_s - start_s))
    raise AssertionError(f"no queue_samples event for {direction}")


@pytest.mark.slow
def test_gcc_fills_each_capacity_step_below_the_codecs_ceiling() -> None:
    """RFC 8867 5.1 per voice flow: over 80 % of the link carried on every step whose share
    is below Opus's ceiling, the senders at their ceiling on the step above it, and queueing
    delay p95 under 100 ms outside the first 2 s after each step."""
    scenario = load_scenario(SCENARIOS / "gcc-capacity-steps.yaml")
    trace = simulate(scenario)
    calls = scenario.calls
    family = calls.rate_control.family(calls.codec)
    ceiling_bps = point_wire_bps(family.points[-1], calls.ptime_s, scenario.overhead())
    steps = scenario.path[0].capacity_steps
    assert steps is not None
    ends = [step.at_s for step in steps[1:]] + [scenario.duration_s]
    send_s = trace.packets.column("send_s").to_numpy()
    recv_s = trace.packets.column("recv_s").to_numpy()
    queueing_s = recv_s - send_s - scenario.path[0].one_way_delay_s
    for step, end_s in zip(steps, ends, strict=True):
        settled = (send_s >= step.at_s + SETTLE_S) & (send_s < end_s) & ~np.isnan(recv_s)
        assert np.percentile(queueing_s[settled], 95) < 0.100, step
        share_bps = step.capacity_bps / calls.count
        for direction in ("uplink", "downlink"):
            carried = _link_bps(trace, direction, step.at_s, end_s)
            if share_bps < ceiling_bps:
                assert carried > 0.8 * step.capacity_bps, (direction, step)
            else:
                assert carried > 0.8 * ceiling_bps * calls.count, (direction, step)


def _queueing_s(trace: Trace, propagation_s: float, steps_s: list[float]) -> np.ndarray:
    """Queueing delay of the packets delivered, sent outside the first 2 s after each step."""
    send_s = trace.packets.column("send_s").to_numpy()
    recv_s = trace.packets.column("recv_s").to_numpy()
    settled = ~np.isnan(recv_s)
    for at_s in steps_s[1:]:
        settled &= ~((send_s >= at_s) & (send_s < at_s + SETTLE_S))
    delay: np.ndarray = (recv_s - send_s - propagation_s)[settled]
    return delay


@pytest.mark.slow
def test_ecn_gcc_behind_marking_codel_queues_less_and_loses_fewer_packets() -> None:
    """RFC 8867 5.10: with CE marks answered, CoDel marks instead of dropping: fewer losses,
    and less queueing outside the first 2 s after each capacity step."""
    scenario = load_scenario(SCENARIOS / "gcc-ecn-codel.yaml", ["sweep=null"])
    steps = scenario.path[0].capacity_steps
    assert steps is not None
    propagation_s = scenario.path[0].one_way_delay_s
    traces = {
        "plain": _run("gcc-ecn-codel.yaml", "calls.ecn=false", "calls.rate_control.ecn=false"),
        "marked": _run("gcc-ecn-codel.yaml", "calls.ecn=true", "calls.rate_control.ecn=true"),
    }
    lost = {
        name: np.isnan(trace.packets.column("recv_s").to_numpy()).mean()
        for name, trace in traces.items()
    }
    p95 = {
        name: np.percentile(_queueing_s(trace, propagation_s, [s.at_s for s in steps]), 95)
        for name, trace in traces.items()
    }
    assert traces["marked"].packets.column("ce").to_numpy().any()
    assert not traces["plain"].packets.column("ce").to_numpy().any()
    assert lost["marked"] < 0.5 * lost["plain"]
    assert p95["marked"] < p95["plain"]
