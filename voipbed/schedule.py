"""When each call of a scenario starts and ends, and its UE's handovers: for both engines.

Starts are uniform in ``[0, calls.start_spread]`` (sorted, so call 0 starts
first); each call lasts ``calls.hold_time`` or to the end of the run. The far
end's packets start at an independent phase within one packet time. Drawn
from the ``calls`` random stream of the scenario's seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from voipbed.metric_names import EventKind
from voipbed.models import handover as ho
from voipbed.rng import component_rng
from voipbed.scenario import Scenario

__all__ = ["CallTimes", "call_times", "handover_events", "handover_schedule"]


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


def handover_schedule(scenario: Scenario) -> ho.HandoverSchedule:
    """Every UE's handovers that start during its call: the scenario's fixed ones and its
    Poisson mobility (drawn over the whole run, then kept if the call is up; see
    ``models.handover`` for why one starting before the call is not applied)."""
    handovers = scenario.radio.handovers
    calls = range(scenario.calls.count)
    fixed = [
        ho.Handover(call, entry.time_s, ho.HandoverKind(entry.kind.value))
        for entry in handovers.schedule
        for call in (calls if entry.call is None else [entry.call])
    ]
    schedules = [ho.HandoverSchedule.from_handovers(fixed)]
    if handovers.rate_per_min > 0:
        schedules.append(
            ho.HandoverSchedule.poisson(
                scenario.calls.count,
                scenario.duration_s,
                handovers.rate_per_min,
                component_rng(scenario.seed, "radio/handovers"),
                tuple(ho.HandoverKind(kind.value) for kind in handovers.kinds),
            )
        )
    times = call_times(scenario)
    return ho.HandoverSchedule.merge(*schedules).during(times.start_s, times.end_s)


def handover_events(
    schedule: ho.HandoverSchedule,
    intervals: ho.HandoverIntervals,
    call_start_s: NDArray[np.float64],
    call_end_s: NDArray[np.float64],
    counts: ho.HandoverCounts | None = None,
) -> list[tuple[float, str, int, dict[str, Any]]]:
    """One event per handover that happened while its UE's call was up; with ``counts``,
    the media packets each held and lost."""
    events: list[tuple[float, str, int, dict[str, Any]]] = []
    for k in range(len(schedule)):
        ue, start = int(schedule.ue[k]), float(schedule.time_s[k])
        if not call_start_s[ue] <= start < call_end_s[ue]:
            continue
        fields = {
            "kind": ho.KINDS[int(schedule.kind[k])].value,
            "interruption_s": float(intervals.interruption_end_s[k]) - start,
            "interruption_end_s": float(intervals.interruption_end_s[k]),
            "media_end_s": float(intervals.media_end_s[k]),
        }
        if counts is not None:
            fields |= {"packets_held": int(counts.held[k]), "packets_lost": int(counts.lost[k])}
        events.append((start, EventKind.HANDOVER, ue, fields))
    return events
