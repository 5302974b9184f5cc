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
    is below Opus's ceiling; on the step above it, the senders reach their ceiling."""
    scenario = load_scenario(SCENARIOS / "gcc-capacity-steps.yaml")
    trace = simulate(scenario)
    calls = scenario.calls
    family = calls.rate_control.family(calls.codec)
    ceiling_bps = point_wire_bps(family.points[-1], calls.ptime_s, scenario.overhead())
    steps = scenario.path[0].capacity_steps
    assert steps is not None
    ends = [step.at_s for step in steps[1:]] + [scenario.duration_s]
    for step, end_s in zip(steps, ends, strict=True):
        share_bps = step.capacity_bps / calls.count
        for direction in ("uplink", "downlink"):
            carried = _link_bps(trace, direction, step.at_s, end_s)
            if share_bps < ceiling_bps:
                assert carried > 0.8 * step.capacity_bps, (direction, step)
            else:
                assert carried > 0.8 * ceiling_bps * calls.count, (direction, step)


@pytest.mark.slow
def test_ecn_gcc_behind_marking_codel_loses_fewer_packets_than_loss_based_gcc() -> None:
    """RFC 8867 5.10: with CE marks answered, CoDel marks instead of dropping: fewer losses."""
    plain = _run("gcc-ecn-codel.yaml", "calls.ecn=false", "calls.rate_control.ecn=false")
    marked = _run("gcc-ecn-codel.yaml", "calls.ecn=true", "calls.rate_control.ecn=true")
    lost = {
        name: np.isnan(trace.packets.column("recv_s").to_numpy()).mean()
        for name, trace in (("plain", plain), ("marked", marked))
    }
    assert marked.packets.column("ce").to_numpy().any()
    assert not plain.packets.column("ce").to_numpy().any()
    assert lost["marked"] < 0.7 * lost["plain"]
