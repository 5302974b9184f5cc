"""The simulator: SimPy runs the calls; the batch path carries their packets; out comes a Trace.

SimPy drives what is event-like (a call starting, a call ending) and records
each as an event. The packet path has no control events to react to yet, so
each direction's packets cross it as one batch once the calls are known;
issue 4's handovers and RRC timers will cut that batch at their events.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from voipbed.models.codecs import codec as codec_named
from voipbed.rng import component_rng
from voipbed.scenario import Scenario
from voipbed.sim.control_plane import Event, radio_gate
from voipbed.sim.path import DROP_REASONS, DirectionPackets, DirectionResult, PathWalk, SegmentLink
from voipbed.sim.stages import FloatArray, IntArray
from voipbed.sim.traffic import FlowSpan, SentPackets, send_packets
from voipbed.trace import DIRECTIONS, Trace, events_table, host_facts, packets_table

__all__ = ["simulate"]


def _call_process(
    env: simpy.Environment,
    call: int,
    start_s: float,
    end_s: float,
    downlink_phase_s: float,
    spans: list[FlowSpan],
    events: list[Event],
) -> Generator[simpy.Event, Any, None]:
    """Wait for the call to start, open both flows, wait for its end, close it."""
    yield env.timeout(start_s)
    events.append((env.now, "call_start", call, {}))
    spans.append(FlowSpan(call, 2 * call, 0, env.now, end_s))
    spans.append(FlowSpan(call, 2 * call + 1, 1, env.now + downlink_phase_s, end_s))
    yield env.timeout(end_s - env.now)
    events.append((env.now, "call_end", call, {"duration_s": end_s - start_s}))


def simulate(scenario: Scenario) -> Trace:
    """Run ``scenario`` in the simulator and return its trace."""
    calls = scenario.calls
    rng = component_rng(scenario.seed, "calls")
    starts = np.sort(rng.uniform(0.0, calls.start_spread_s, calls.count))
    # The far end's packets start at an independent phase within one packet time.
    phases = rng.uniform(0.0, calls.ptime_s, calls.count)
    hold = calls.hold_time_s if calls.hold_time_s is not None else scenario.duration_s
    ends = np.minimum(starts + hold, scenario.duration_s)

    env = simpy.Environment()
    spans: list[FlowSpan] = []
    events: list[Event] = []
    for call in range(calls.count):
        process = _call_process(
            env, call, float(starts[call]), float(ends[call]), float(phases[call]), spans, events
        )
        env.process(process)
    env.run(until=scenario.duration_s + 1e-9)

    spans.sort(key=lambda span: span.flow)
    sent = send_packets(spans, codec_named(calls.codec), calls.ptime_s)
    wire = np.full(sent.send_s.size, sent.wire_bytes, dtype=np.int64)
    dscp = np.full(sent.send_s.size, calls.dscp, dtype=np.int64)
    fates, path_events = _carry(scenario, sent, wire, dscp, starts, ends)
    events += path_events

    packets = packets_table(
        call=sent.call,
        flow=sent.flow,
        direction=sent.direction,
        seq=sent.seq,
        rtp_ts=sent.rtp_ts,
        payload_bytes=np.full(sent.send_s.size, sent.payload_bytes),
        wire_bytes=wire,
        dscp=dscp,
        send_s=sent.send_s,
        recv_s=fates.recv_s,
        lost_at=fates.lost_at,
        places=[segment.name for segment in scenario.path],
        drop_reason=fates.drop_reason,
        reasons=DROP_REASONS,
        ce=fates.ce,
    )
    manifest = {
        "engine": "sim",
        "scenario": scenario.to_yaml_dict(),
        "seed": scenario.seed,
        "host": host_facts(),
    }
    return Trace(packets, events_table(events), manifest)


def _carry(
    scenario: Scenario,
    sent: SentPackets,
    wire: IntArray,
    dscp: IntArray,
    call_start_s: FloatArray,
    call_end_s: FloatArray,
) -> tuple[DirectionResult, list[Event]]:
    """Every packet's fate over the path, both directions, with the radio's control plane.

    Each direction crosses the hops before the radio, then the RRC and
    handovers act on both directions at the radio, then the rest of the path.
    ``lost_at`` in the result numbers segments as ``scenario.path`` does.
    """
    path = scenario.path
    radio = scenario.radio
    place = 0 if radio.segment is None else [s.name for s in path].index(radio.segment)
    walks: list[tuple[PathWalk, list[SegmentLink], IntArray, IntArray, int]] = []
    for d, direction in enumerate(DIRECTIONS):
        order = np.arange(len(path)) if direction == "uplink" else np.arange(len(path))[::-1]
        radio_hop = int(np.flatnonzero(order == place)[0])
        mine = np.flatnonzero(sent.direction == d)
        packets = DirectionPackets(
            sent.send_s[mine],
            sent.flow[mine],
            wire[mine],
            dscp[mine],
            np.full(mine.size, scenario.calls.ecn, dtype=np.bool_),
        )
        links = [SegmentLink(path[p], direction, scenario.seed, scenario.duration_s) for p in order]
        walk = PathWalk(packets)
        walk.cross(links[:radio_hop], 0)
        walks.append((walk, links, order, mine, radio_hop))
    (up, *_, up_hop), (down, *_, down_hop) = walks
    events = radio_gate(scenario, up, down, (up_hop, down_hop), call_start_s, call_end_s)
    n = sent.send_s.size
    fates = DirectionResult(
        np.full(n, np.nan), np.full(n, -1, np.int64), np.full(n, -1, np.int64), np.zeros(n, bool)
    )
    for walk, links, order, mine, radio_hop in walks:
        walk.cross(links[radio_hop:], radio_hop)
        result = walk.result()
        fates.recv_s[mine] = result.recv_s
        fates.drop_reason[mine] = result.drop_reason
        fates.ce[mine] = result.ce
        lost = result.lost_at >= 0
        fates.lost_at[mine[lost]] = order[result.lost_at[lost]]
        events += [(scenario.duration_s, "queue_stats", -1, stats) for stats in result.queue_stats]
    return fates, events
