"""The UE's radio control plane, applied where packets reach the radio hop.

Uplink packets about to leave the handset and downlink packets that have
reached the base station pass, per call (one UE each), the RRC/DRX machine
(which may hold them until the radio is awake) and then the handovers
(which may hold them or lose them). Both models see the two directions
together, because either direction's traffic wakes the radio for both.

Only the handovers that start during their UE's call act
(``schedule.handover_schedule``); each is a ``handover`` event with the
packets it held and lost.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from voipbed.metric_names import DropReason, EventKind
from voipbed.models import handover as ho
from voipbed.models.grouping import group_order
from voipbed.models.rrc import STATE_NAMES, rrc_gate
from voipbed.rng import component_rng
from voipbed.scenario import Scenario
from voipbed.schedule import handover_events, handover_schedule
from voipbed.sim.path import PathWalk
from voipbed.sim.stages import FloatArray, IntArray

__all__ = ["Event", "radio_gate"]

Event = tuple[float, str, int, dict[str, Any]]


def radio_gate(
    scenario: Scenario,
    uplink: PathWalk,
    downlink: PathWalk,
    radio_hops: tuple[int, int],
    call_start_s: FloatArray,
    call_end_s: FloatArray,
) -> list[Event]:
    """Hold or drop the packets in flight at the radio hop; return the control-plane events."""
    radio = scenario.radio
    schedule = handover_schedule(scenario)
    if radio.rrc is None and not len(schedule):
        return []
    walks = (uplink, downlink)
    ue = np.concatenate([walk.packets.flow[walk.alive] // 2 for walk in walks])
    time_s = np.concatenate([walk.time_s[walk.alive] for walk in walks])
    is_down = np.concatenate([np.full(walk.alive.size, d == 1) for d, walk in enumerate(walks)])
    events: list[Event] = []
    if radio.rrc is not None:
        order = _by_ue_then_time(ue, time_s)
        time_s[order], rrc_events = _rrc(scenario, ue[order], time_s[order], is_down[order],
                                         call_start_s, call_end_s)  # fmt: skip
        events += rrc_events
    lost = np.zeros(time_s.size, dtype=np.bool_)
    if len(schedule):
        order = _by_ue_then_time(ue, time_s)
        outcome = ho.apply_handovers(
            ue[order], time_s[order], is_down[order], schedule, radio.handovers.configs()
        )
        lost[order] = outcome.lost
        time_s[order] = np.where(outcome.lost, time_s[order], outcome.release_s)
        events += handover_events(
            schedule, outcome.intervals, call_start_s, call_end_s, outcome.counts()
        )
    first = uplink.alive.size
    for walk, part, hop in zip(
        walks, (slice(0, first), slice(first, None)), radio_hops, strict=True
    ):
        walk.time_s[walk.alive] = time_s[part]
        walk.drop(lost[part], hop, DropReason.HANDOVER)
    return events


def _by_ue_then_time(ue: IntArray, time_s: FloatArray) -> IntArray:
    """The order that sorts packets by (ue, time); stable, so ties keep their order.

    A stable sort by time (it merges the two directions' already ordered runs)
    then a stable counting sort by UE: both linear.
    """
    return group_order(ue, np.argsort(time_s, kind="stable"))


def _rrc(
    scenario: Scenario,
    ue: IntArray,
    time_s: FloatArray,
    is_down: np.ndarray[Any, np.dtype[np.bool_]],
    call_start_s: FloatArray,
    call_end_s: FloatArray,
) -> tuple[FloatArray, list[Event]]:
    """Release times of packets sorted by (ue, time), and the UEs' state changes and energy."""
    assert scenario.radio.rrc is not None  # checked by the caller
    config = scenario.radio.rrc.to_model()
    rng = component_rng(scenario.seed, "radio/rrc")
    count = call_start_s.size
    outcome = rrc_gate(
        ue,
        np.maximum(time_s - call_start_s[ue], 0.0),  # each UE's clock starts with its call
        is_down,
        call_end_s - call_start_s,
        config,
        drx_offset_s=rng.uniform(0.0, config.long_drx_cycle_s, count),
        paging_offset_s=rng.uniform(0.0, config.paging_cycle_s, count),
    )
    released = np.maximum(outcome.release_s + call_start_s[ue], time_s)
    events: list[Event] = [
        (
            float(t + call_start_s[u]),
            EventKind.RRC,
            int(u),
            {"from": STATE_NAMES[int(old)], "to": STATE_NAMES[int(new)]},
        )
        for u, t, old, new in zip(
            outcome.transition_ue,
            outcome.transition_time_s,
            outcome.transition_from,
            outcome.transition_to,
            strict=True,
        )
    ]
    for u in range(count):
        seconds = {name: float(outcome.state_time_s[u, k]) for k, name in enumerate(STATE_NAMES)}
        fields = {
            "energy_j": float(outcome.energy_j[u]),
            "promotions": int(outcome.promotions[u]),
            "seconds_in_state": seconds,
        }
        events.append(
            (float(call_start_s[u] + outcome.horizon_s[u]), EventKind.RADIO_ENERGY, u, fields)
        )
    return released, events
