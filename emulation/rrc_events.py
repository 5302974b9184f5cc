"""The simulator's RRC events from what the emulated radio hop's machines did.

The radio segment's link writes every state change of its UEs' RRC/DRX
machines (``rrc_gate``). The simulator writes, per call, its UE's state
changes from the call's start (its media's, after a set-up) up to its
horizon, the call's end or, if later, when the UE is back in IDLE after its
last activity, then one ``radio_energy`` event at the horizon with the time
in each state, the energy (``RrcConfig.state_power_mw``) and the promotions
over that span (``sim/control_plane.py``). ``rrc_events`` writes the same
from the link's changes, each call over the span from its ``call_start``
event (the answer reaching the caller) to its horizon; a call without one
counts from its scheduled start.

The simulator's ``phone`` events carry each idle phone's radio energy and
promotions over the run; ``with_phone_radio`` puts the link's figures for the
phones' machines into the emulation's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from voipbed.emulation.rrc_gate import rrc_output, ue_of_calls
from voipbed.models.rrc import STATE_NAMES, RrcState
from voipbed.scenario import Scenario
from voipbed.schedule import call_times
from voipbed.trace import EventKind

__all__ = ["radio_segment", "rrc_events", "state_seconds", "with_phone_radio"]

Event = tuple[float, str, int, dict[str, Any]]


def radio_segment(scenario: Scenario) -> str:
    """The name of the path segment that is the UE's radio hop."""
    return scenario.radio.segment or scenario.path[0].name


def rrc_events(
    scenario: Scenario, work: Path, call_addresses: Sequence[str], events: Sequence[Event]
) -> list[Event]:
    """The ``rrc`` and ``radio_energy`` events of the calls, call c by the UE at
    ``call_addresses[c]``, from the link's changes in ``work`` and the run's call
    ``events``; none without an RRC or without the link's changes."""
    section = scenario.radio.rrc
    path = rrc_output(work, radio_segment(scenario))
    if section is None or not call_addresses or not path.exists():
        return []
    record = json.loads(path.read_text(encoding="utf-8"))
    power_w = np.array(section.to_model().state_power_mw) / 1000.0
    times = call_times(scenario)
    start_s = _first(events, EventKind.CALL_START, times.start_s.tolist())
    end_s = _first(events, EventKind.CALL_END, times.end_s.tolist())
    _, call_ue = ue_of_calls(call_addresses)
    ue = np.asarray(record["ue"], dtype=np.int64)
    at_s = np.asarray(record["time_s"], dtype=np.float64)
    old = np.asarray(record["from"], dtype=np.int64)
    new = np.asarray(record["to"], dtype=np.int64)
    initial = int(record["initial_state"])
    out: list[Event] = []
    for call, u in enumerate(call_ue):
        mine = ue == u
        t, was, now = at_s[mine], old[mine], new[mine]
        start, end = start_s[call], max(end_s[call], start_s[call])
        horizon = _horizon(initial, t, now, end)
        span = (t >= start) & (t <= horizon)
        out += [
            (float(x), EventKind.RRC, call, {"from": STATE_NAMES[a], "to": STATE_NAMES[b]})
            for x, a, b in zip(
                t[span].tolist(), was[span].tolist(), now[span].tolist(), strict=True
            )
        ]
        seconds = state_seconds(initial, t.tolist(), now.tolist(), start, horizon)
        fields = {
            "energy_j": float(np.dot(seconds, power_w)),
            "promotions": int(np.count_nonzero(now[span] == RrcState.PROMOTION)),
            "seconds_in_state": dict(zip(STATE_NAMES, seconds, strict=True)),
        }
        out.append((horizon, EventKind.RADIO_ENERGY, call, fields))
    return out


def with_phone_radio(scenario: Scenario, work: Path, events: Sequence[Event]) -> list[Event]:
    """``events`` with each ``phone`` event's ``energy_j`` and ``promotions`` those of the
    phone's machine on the radio link; unchanged without an RRC, phones or the link's
    figures."""
    path = rrc_output(work, radio_segment(scenario))
    if scenario.radio.rrc is None or scenario.signalling.phones is None or not path.exists():
        return list(events)
    phones = json.loads(path.read_text(encoding="utf-8")).get("phones", {})
    energy, promotions = phones.get("energy_j", []), phones.get("promotions", [])
    out = []
    for event in events:
        time_s, kind, phone, fields = event
        if kind == EventKind.PHONE and 0 <= phone < len(energy):
            radio = {"energy_j": float(energy[phone]), "promotions": int(promotions[phone])}
            event = (time_s, kind, phone, {**fields, **radio})
        out.append(event)
    return out


def state_seconds(
    initial: int, time_s: Sequence[float], to_state: Sequence[int], start_s: float, end_s: float
) -> list[float]:
    """Seconds in each state (indexed by ``RrcState``) over [``start_s``, ``end_s``] of a UE
    in ``initial`` from 0 that changes to ``to_state[k]`` at ``time_s[k]`` (ascending)."""
    seconds = [0.0] * len(RrcState)
    state, since = initial, 0.0
    for at, new in zip([*time_s, math.inf], [*to_state, initial], strict=True):
        low, high = max(since, start_s), min(at, end_s)
        if high > low:
            seconds[state] += high - low
        if at >= end_s:
            break
        state, since = int(new), at
    return seconds


def _horizon(initial: int, time_s: np.ndarray, to_state: np.ndarray, end_s: float) -> float:
    """The call's end, or when its UE is next back in IDLE if it is not IDLE then."""
    before = np.flatnonzero(time_s <= end_s)
    state = int(to_state[before[-1]]) if before.size else initial
    if state == RrcState.IDLE:
        return end_s
    later = np.flatnonzero((time_s > end_s) & (to_state == RrcState.IDLE))
    return float(time_s[later[0]]) if later.size else end_s


def _first(events: Sequence[Event], kind: str, default: list[float]) -> list[float]:
    """Per call, the time of its earliest event of ``kind``, else ``default``'s."""
    found: dict[int, float] = {}
    for time_s, name, call, _ in events:
        if name == kind and call >= 0:
            found[call] = min(time_s, found.get(call, math.inf))
    return [found.get(call, value) for call, value in enumerate(default)]
