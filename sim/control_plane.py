"""The UE's radio control plane, applied where packets reach the radio hop.

Uplink packets about to leave the handset and downlink packets that have
reached the base station pass, per call (one UE each), the RRC/DRX machine
(which may hold them until the radio is awake) and then the handovers
(which may hold them or lose them). Both models see the two directions
together, because either direction's traffic wakes the radio for both.

``RadioGate`` takes the packets window after window; any cut of a run into
windows gives the same times, losses and events as one window. A packet
that reaches the radio in one window may wait there past the window's end,
for a UE that wakes later: its time is settled in a later window (a packet
of that later window may wake the UE sooner), and reported then.

Only the handovers that start during their UE's call act
(``schedule.handover_schedule``); each is a ``handover`` event with the
packets it held and lost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from voipbed.handover_recovery import handover_configs
from voipbed.metric_names import DropReason, EventKind
from voipbed.models import handover as ho
from voipbed.models.grouping import group_order, time_order
from voipbed.models.rrc import STATE_NAMES, RrcGate, RrcOutcome
from voipbed.radio_draws import call_radios
from voipbed.scenario import Scenario
from voipbed.schedule import handover_events, handover_schedule
from voipbed.sim.stages import BoolArray, FloatArray, IntArray

__all__ = ["Event", "GateOutcome", "Late", "RadioGate", "radio_gate"]

Event = tuple[float, str, int, dict[str, Any]]

_NO_IDS = np.empty(0, dtype=np.int64)
_NO_TIMES = np.empty(0, dtype=np.float64)
_NO_FLAGS = np.empty(0, dtype=np.bool_)


@dataclass(frozen=True)
class Late:
    """One direction's packets of earlier windows that waited at the radio, released now:
    their ids (as given to ``cross``), when they leave the radio hop, whether a handover
    lost them there. Window by window, each window's by UE and arrival time."""

    ids: IntArray
    time_s: FloatArray
    lost: BoolArray


_NO_LATE = Late(_NO_IDS, _NO_TIMES, _NO_FLAGS)


@dataclass(frozen=True)
class GateOutcome:
    """The radio control plane's work in one window, per direction.

    ``up_time_s`` / ``down_time_s``: for each packet given in the window, when
    it leaves the radio hop (for a lost one, when it was lost), or NaN while it
    waits for its UE to wake after the window's horizon: a later window's
    ``up_late`` / ``down_late`` gives it. ``up_lost`` / ``down_lost``: lost to
    a handover (``DropReason.HANDOVER``, the caller's to record).
    """

    up_time_s: FloatArray
    up_lost: BoolArray
    down_time_s: FloatArray
    down_lost: BoolArray
    up_late: Late = _NO_LATE
    down_late: Late = _NO_LATE

    @property
    def up_waiting(self) -> BoolArray:
        """The window's uplink packets that wait past its horizon."""
        return np.isnan(self.up_time_s)

    @property
    def down_waiting(self) -> BoolArray:
        """The window's downlink packets that wait past its horizon."""
        return np.isnan(self.down_time_s)


@dataclass(frozen=True)
class _Waiting:
    """Packets the RRC holds past a window, by ascending RRC ticket: direction, id, UE and
    time of arrival at the radio hop."""

    ticket: IntArray
    downlink: BoolArray
    ids: IntArray
    ue: IntArray
    time_s: FloatArray


_NONE_WAITING = _Waiting(_NO_IDS, _NO_FLAGS, _NO_IDS, _NO_IDS, _NO_TIMES)


class RadioGate:
    """The RRC/DRX machines and handovers of a run's UEs (UE u carries call u).

    ``cross`` once per window, with the packets that reach the radio hop in it;
    ``finish`` after the last window (horizon inf) gives the events. The RRC's
    per-UE DRX and paging offsets come from ``radio_draws.call_radios``.
    """

    def __init__(
        self, scenario: Scenario, call_start_s: FloatArray, call_end_s: FloatArray
    ) -> None:
        self._start_s = np.asarray(call_start_s, dtype=np.float64)
        self._end_s = np.asarray(call_end_s, dtype=np.float64)
        self._schedule = handover_schedule(scenario)
        self._rrc: RrcGate | None = None
        draws = call_radios(scenario, self._start_s.size)
        if draws is not None:
            self._rrc = RrcGate(
                self._end_s - self._start_s,
                draws.config,
                drx_offset_s=draws.drx_offset_s,
                paging_offset_s=draws.paging_offset_s,
            )
        self._handovers: ho.HandoverRun | None = None
        if len(self._schedule):
            self._handovers = ho.HandoverRun(self._schedule, handover_configs(scenario))
        self._given = [0, 0]  # packets given to cross so far, per direction
        self._waiting = _NONE_WAITING

    @property
    def active(self) -> bool:
        """False when there is no RRC and no handover: the gate changes nothing."""
        return self._rrc is not None or self._handovers is not None

    def cross(
        self,
        up_flow: IntArray,
        up_time_s: FloatArray,
        down_flow: IntArray,
        down_time_s: FloatArray,
        horizon_s: float = math.inf,
        *,
        up_ids: IntArray | None = None,
        down_ids: IntArray | None = None,
    ) -> GateOutcome:
        """The packets that reach the radio hop in a window ending at ``horizon_s``.

        Each direction's packets by flow (UE = flow // 2) and time, in order of
        arrival; every one before ``horizon_s``, at or after the previous
        window's. ``up_ids`` / ``down_ids`` name the packets in ``Late`` (by
        default, each packet's place among its direction's packets given to
        ``cross``, from 0). ``horizon_s`` inf (the default) is the last window.
        """
        n_up = up_flow.size
        if up_time_s.shape != (n_up,) or down_time_s.shape != down_flow.shape:
            raise ValueError("each direction needs one flow and one time per packet")
        ids = np.concatenate([
            self._ids(0, n_up, up_ids),
            self._ids(1, down_flow.size, down_ids),
        ])  # fmt: skip
        ue = np.concatenate([up_flow, down_flow]).astype(np.int64, copy=False) // 2
        arrive_s = np.concatenate([up_time_s, down_time_s]).astype(np.float64, copy=False)
        downlink = np.zeros(ue.size, dtype=np.bool_)
        downlink[n_up:] = True
        order = _by_ue_then_time(ue, arrive_s)
        time_s = arrive_s.copy()
        late = _NONE_WAITING
        late_s = _NO_TIMES
        if self._rrc is not None:
            time_s[order], late, late_s = self._rrc_feed(
                ue[order], arrive_s[order], downlink[order], ids[order], horizon_s
            )
        lost = np.zeros(ue.size, dtype=np.bool_)
        late_lost = np.zeros(late_s.size, dtype=np.bool_)
        if self._handovers is not None:
            settled = order[~np.isnan(time_s[order])]  # by (ue, time): few rewinds per UE
            cut = settled.size
            at_s = np.concatenate([time_s[settled], late_s])
            outcome = self._handovers.feed(
                np.concatenate([ue[settled], late.ue]),
                at_s,
                np.concatenate([downlink[settled], late.downlink]),
            )
            left_s = np.where(outcome.lost, at_s, outcome.release_s)  # lost: when it was lost
            time_s[settled], lost[settled] = left_s[:cut], outcome.lost[:cut]
            late_s, late_lost = left_s[cut:], outcome.lost[cut:]
        return GateOutcome(
            time_s[:n_up],
            lost[:n_up],
            time_s[n_up:],
            lost[n_up:],
            _late(late, late_s, late_lost, downlink=False),
            _late(late, late_s, late_lost, downlink=True),
        )

    def finish(self) -> list[Event]:
        """The events of the run: the RRC's state changes and each UE's radio energy, then
        one per handover. Call after the last window (horizon inf)."""
        events: list[Event] = []
        if self._rrc is not None:
            events += _rrc_events(self._rrc.finish(), self._start_s)
        if self._handovers is not None:
            run = self._handovers
            events += handover_events(
                self._schedule, run.intervals, self._start_s, self._end_s, run.counts()
            )
        return events

    def _ids(self, direction: int, count: int, given: IntArray | None) -> IntArray:
        first = self._given[direction]
        self._given[direction] += count
        if given is not None:
            if given.shape != (count,):
                raise ValueError(f"ids must have one value per packet ({count})")
            return given.astype(np.int64, copy=False)
        return np.arange(first, first + count, dtype=np.int64)

    def _rrc_feed(
        self,
        ue: IntArray,
        arrive_s: FloatArray,
        downlink: BoolArray,
        ids: IntArray,
        horizon_s: float,
    ) -> tuple[FloatArray, _Waiting, FloatArray]:
        """RRC release times of packets sorted by (ue, time), NaN for those that wait; the
        packets of earlier windows released now and their times."""
        assert self._rrc is not None  # checked by the caller
        start_s = self._start_s[ue]
        released = self._rrc.feed(
            ue,
            np.maximum(arrive_s - start_s, 0.0),  # each UE's clock starts with its call
            downlink,
            np.maximum(horizon_s - self._start_s, 0.0),
        )
        time_s = np.maximum(released.release_s + start_s, arrive_s)  # NaN stays NaN
        waiting = self._waiting
        late = _NONE_WAITING
        late_s = _NO_TIMES
        if released.late_ticket.size:
            at = np.searchsorted(waiting.ticket, released.late_ticket)
            late = _take(waiting, at)
            late_s = np.maximum(released.late_release_s + self._start_s[late.ue], late.time_s)
            kept = np.ones(waiting.ticket.size, dtype=np.bool_)
            kept[at] = False
            waiting = _take(waiting, np.flatnonzero(kept))
        held = np.flatnonzero(np.isnan(time_s))
        if held.size:
            waiting = _Waiting(
                np.concatenate([waiting.ticket, released.first_ticket + held]),
                np.concatenate([waiting.downlink, downlink[held]]),
                np.concatenate([waiting.ids, ids[held]]),
                np.concatenate([waiting.ue, ue[held]]),
                np.concatenate([waiting.time_s, arrive_s[held]]),
            )
        self._waiting = waiting
        return time_s, late, late_s


def _take(waiting: _Waiting, at: IntArray) -> _Waiting:
    return _Waiting(
        waiting.ticket[at],
        waiting.downlink[at],
        waiting.ids[at],
        waiting.ue[at],
        waiting.time_s[at],
    )


def _late(late: _Waiting, time_s: FloatArray, lost: BoolArray, *, downlink: bool) -> Late:
    """One direction's packets among ``late``."""
    if not late.ticket.size:
        return _NO_LATE
    mine = late.downlink == downlink
    return Late(late.ids[mine], time_s[mine], lost[mine])


def _rrc_events(outcome: RrcOutcome, call_start_s: FloatArray) -> list[Event]:
    """Each UE's state changes, then each UE's radio energy, on the run's clock."""
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
    for u in range(call_start_s.size):
        seconds = {name: float(outcome.state_time_s[u, k]) for k, name in enumerate(STATE_NAMES)}
        fields = {
            "energy_j": float(outcome.energy_j[u]),
            "promotions": int(outcome.promotions[u]),
            "seconds_in_state": seconds,
        }
        events.append(
            (float(call_start_s[u] + outcome.horizon_s[u]), EventKind.RADIO_ENERGY, u, fields)
        )
    return events


def _by_ue_then_time(ue: IntArray, time_s: FloatArray) -> IntArray:
    """The order that sorts packets by (ue, time); stable, so ties keep their order.

    A stable sort by time (it merges the two directions' already ordered runs)
    then a stable counting sort by UE: both linear.
    """
    return group_order(ue, time_order(time_s))


class _InFlight(Protocol):
    """What ``radio_gate`` needs of a direction's packets in flight (``PathWalk``)."""

    @property
    def packets(self) -> Any: ...  # with ``flow``, one per packet

    @property
    def alive(self) -> IntArray: ...  # in flight, in order of arrival at the radio hop

    @property
    def time_s(self) -> FloatArray: ...

    def drop(self, mask: BoolArray, hop: int, why: int | IntArray) -> None: ...


def radio_gate(
    scenario: Scenario,
    uplink: _InFlight,
    downlink: _InFlight,
    radio_hops: tuple[int, int],
    call_start_s: FloatArray,
    call_end_s: FloatArray,
) -> list[Event]:
    """Hold or drop the packets in flight at the radio hop, all in one window; return the
    control-plane events."""
    gate = RadioGate(scenario, call_start_s, call_end_s)
    if not gate.active:
        return []
    outcome = gate.cross(
        uplink.packets.flow[uplink.alive],
        uplink.time_s[uplink.alive],
        downlink.packets.flow[downlink.alive],
        downlink.time_s[downlink.alive],
    )
    events = gate.finish()
    for walk, time_s, lost, hop in (
        (uplink, outcome.up_time_s, outcome.up_lost, radio_hops[0]),
        (downlink, outcome.down_time_s, outcome.down_lost, radio_hops[1]),
    ):
        walk.time_s[walk.alive] = time_s
        walk.drop(lost, hop, DropReason.HANDOVER)
    return events
