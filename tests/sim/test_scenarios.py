"""Every scenario in the library runs end to end (shortened) and scores every flow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voipbed.loader import load_scenario
from voipbed.scoring import score_trace
from voipbed.sim.engine import simulate

LIBRARY = sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", LIBRARY, ids=lambda path: path.stem)
def test_library_scenario_runs(path: Path) -> None:
    """The scenario simulates for 5 s and each of its flows gets a MOS in [1, 4.5]; every
    call has two flows, or with its set-up simulated every call its set-up let start."""
    scenario = load_scenario(path, ["duration=5s", "calls.start_spread=0s"])
    trace = simulate(scenario)
    metrics = score_trace(trace.packets, scenario)
    calls = scenario.calls.count
    if scenario.signalling.setup:
        kinds = trace.events.column("kind").to_pylist()
        calls = kinds.count("call_start")
        assert 0 < calls <= scenario.calls.count
    assert len(metrics) == 2 * calls
    assert np.all((metrics["mos"] >= 1.0) & (metrics["mos"] <= 4.5))
