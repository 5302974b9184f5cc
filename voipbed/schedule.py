"""When each call of a scenario starts and ends: one schedule for both engines.

Starts are uniform in ``[0, calls.start_spread]`` (sorted, so call 0 starts
first); each call lasts ``calls.hold_time`` or to the end of the run. The far
end's packets start at an independent phase within one packet time. Drawn
from the ``calls`` random stream of the scenario's seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from voipbed.rng import component_rng
from voipbed.scenario import Scenario

__all__ = ["CallTimes", "call_times"]


@dataclass(frozen=True)
class CallTimes:
    """Per call (index = call number): start, end, and the downlink's phase, in seconds."""

    start_s: NDArray[np.float64]
    end_s: NDArray[np.float64]
    downlink_phase_s: NDArray[np.float64]


def call_times(scenario: Scenario) -> CallTimes:
    """The scenario's call schedule (the same for the same scenario and seed)."""
    calls = scenario.calls
    rng = component_rng(scenario.seed, "calls")
    starts = np.sort(rng.uniform(0.0, calls.start_spread_s, calls.count))
    phases = rng.uniform(0.0, calls.ptime_s, calls.count)
    hold = calls.hold_time_s if calls.hold_time_s is not None else scenario.duration_s
    return CallTimes(starts, np.minimum(starts + hold, scenario.duration_s), phases)
