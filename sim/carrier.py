"""Both directions of the path, carried together window after window.

Each window, each direction's packets cross the hops before the radio, then
the UE's control plane (RRC and handovers, ``sim.control_plane.RadioGate``)
acts on both directions together at the radio hop, then each direction
crosses the rest of the path. ``finish`` carries what is still in flight to
its end and gives every packet's fate, with ``lost_at`` numbering segments as
``scenario.path`` does, and the path's events (the control plane's, each
queue's ``queue_stats`` and ``queue_samples``).
"""

from __future__ import annotations

import numpy as np

from voipbed.metric_names import DropReason, EventKind
from voipbed.scenario import Scenario
from voipbed.sim.control_plane import Event, RadioGate
from voipbed.sim.path import DirectionPackets, DirectionResult, PathWalk
from voipbed.sim.segment_link import SegmentLink
from voipbed.sim.stages import FloatArray, IntArray
from voipbed.trace import DIRECTIONS

__all__ = ["PathCarrier"]


class PathCarrier:
    """The scenario's path in both directions (uplink first), with the radio's control plane."""

    def __init__(self, scenario: Scenario, call_start_s: FloatArray, call_end_s: FloatArray):
        path = scenario.path
        radio = scenario.radio
        place = 0 if radio.segment is None else [s.name for s in path].index(radio.segment)
        end_to_end = scenario.overhead()
        self.scenario = scenario
        self.walks: list[PathWalk] = []
        self.orders: list[IntArray] = []  # each direction's hop -> place in scenario.path
        self.radio_hops: list[int] = []
        for direction in DIRECTIONS:
            order = np.arange(len(path)) if direction == "uplink" else np.arange(len(path))[::-1]
            links = [
                SegmentLink(path[p], direction, scenario.seed, scenario.duration_s, end_to_end)
                for p in order
            ]
            self.orders.append(order)
            self.radio_hops.append(int(np.flatnonzero(order == place)[0]))
            self.walks.append(PathWalk(links))
        self.gate = RadioGate(scenario, call_start_s, call_end_s)
        if self.gate.active:
            for walk, hop in zip(self.walks, self.radio_hops, strict=True):
                walk.gate_hop = hop
        self._given = [0, 0]  # packets given to the gate so far, per direction: their tickets
        self._waiting: list[dict[int, int]] = [{}, {}]  # per direction: gate ticket -> id

    def window(self, sent: list[DirectionPackets], horizon_s: float) -> None:
        """Add each direction's packets sent in a window and carry everything in flight up
        to ``horizon_s``."""
        for walk, packets in zip(self.walks, sent, strict=True):
            if packets.send_s.size:
                walk.add(packets)
        for walk, hop in zip(self.walks, self.radio_hops, strict=True):
            walk.advance(0, hop, horizon_s)
        if self.gate.active:
            self._radio(horizon_s)
        for walk, hop in zip(self.walks, self.radio_hops, strict=True):
            walk.advance(hop, len(walk.links), horizon_s)

    def _radio(self, horizon_s: float) -> None:
        """The control plane on the packets that reached the radio before ``horizon_s``; those
        it holds past the horizon come back in a later window (``Late``)."""
        taken = [walk.take_gate(horizon_s) for walk in self.walks]
        first = list(self._given)
        self._given = [count + ids.size for count, (ids, _) in zip(first, taken, strict=True)]
        (up_ids, up_s), (down_ids, down_s) = taken
        up, down = self.walks
        outcome = self.gate.cross(
            up.packets.flow[up_ids], up_s, down.packets.flow[down_ids], down_s, horizon_s
        )
        sides = (
            (outcome.up_time_s, outcome.up_lost, outcome.up_late),
            (outcome.down_time_s, outcome.down_lost, outcome.down_late),
        )
        for d, (walk, (ids, _), (time_s, lost, late)) in enumerate(
            zip(self.walks, taken, sides, strict=True)
        ):
            tickets = first[d] + np.arange(ids.size, dtype=np.int64)
            waiting = self._waiting[d]
            if late.ids.size:  # given in earlier windows, released now
                late_ids = np.array([waiting.pop(int(t)) for t in late.ids], dtype=np.int64)
                walk.return_from_gate(late_ids, late.time_s, late.lost, DropReason.HANDOVER,
                                      late.ids)  # fmt: skip
            wait = np.isnan(time_s)
            if wait.any():
                waiting.update(zip(tickets[wait].tolist(), ids[wait].tolist(), strict=True))
                keep = ~wait
                ids, time_s, lost, tickets = ids[keep], time_s[keep], lost[keep], tickets[keep]
            walk.return_from_gate(ids, time_s, lost, DropReason.HANDOVER, tickets)

    def finish(self) -> tuple[list[DirectionResult], list[Event]]:
        """Carry what is in flight to its end: each direction's fates and the path's events."""
        self.window([_NO_PACKETS, _NO_PACKETS], np.inf)
        events = self.gate.finish()
        results = []
        duration_s = self.scenario.duration_s
        for walk, order in zip(self.walks, self.orders, strict=True):
            result = walk.result()
            lost = result.lost_at >= 0
            result.lost_at[lost] = order[result.lost_at[lost]]  # hop -> place in the path
            results.append(result)
            events += [(duration_s, EventKind.QUEUE_STATS, -1, s) for s in result.queue_stats]
            events += [(t, EventKind.QUEUE_SAMPLES, -1, f) for t, f in result.queue_samples]
        return results, events


_NO_PACKETS = DirectionPackets(
    np.empty(0, dtype=np.float64),
    np.empty(0, dtype=np.int64),
    np.empty(0, dtype=np.int64),
    np.empty(0, dtype=np.int64),
    np.empty(0, dtype=np.bool_),
)
