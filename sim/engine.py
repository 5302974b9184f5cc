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
from voipbed.sim.path import DROP_REASONS, DirectionPackets, SegmentLink, run_direction
from voipbed.sim.traffic import FlowSpan, send_packets
from voipbed.trace import DIRECTIONS, Trace, events_table, host_facts, packets_table

__all__ = ["simulate"]

Event = tuple[float, str, int, dict[str, Any]]


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
    recv_s = np.full(sent.send_s.size, np.nan)
    lost_at = np.full(sent.send_s.size, -1, dtype=np.int64)
    drop_reason = np.full(sent.send_s.size, -1, dtype=np.int64)
    ce = np.zeros(sent.send_s.size, dtype=np.bool_)
    wire = np.full(sent.send_s.size, sent.wire_bytes, dtype=np.int64)
    dscp = np.full(sent.send_s.size, calls.dscp, dtype=np.int64)
    for index, direction in enumerate(DIRECTIONS):
        segments = scenario.path if direction == "uplink" else tuple(reversed(scenario.path))
        links = [
            SegmentLink(segment, direction, scenario.seed, scenario.duration_s)
            for segment in segments
        ]
        mine = np.flatnonzero(sent.direction == index)
        result = run_direction(
            links,
            DirectionPackets(
                sent.send_s[mine],
                sent.flow[mine],
                wire[mine],
                dscp[mine],
                np.full(mine.size, calls.ecn, dtype=np.bool_),
            ),
        )
        recv_s[mine] = result.recv_s
        drop_reason[mine] = result.drop_reason
        ce[mine] = result.ce
        for stats in result.queue_stats:
            events.append((scenario.duration_s, "queue_stats", -1, stats))
        # Map the direction's hop index back to the segment's place in scenario.path.
        hop_to_place = np.arange(len(segments)) if index == 0 else np.arange(len(segments))[::-1]
        lost_here = result.lost_at >= 0
        lost_at[mine[lost_here]] = hop_to_place[result.lost_at[lost_here]]

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
        recv_s=recv_s,
        lost_at=lost_at,
        places=[segment.name for segment in scenario.path],
        drop_reason=drop_reason,
        reasons=DROP_REASONS,
        ce=ce,
    )
    manifest = {
        "engine": "sim",
        "scenario": scenario.to_yaml_dict(),
        "seed": scenario.seed,
        "host": host_facts(),
    }
    return Trace(packets, events_table(events), manifest)
