"""The simulator: SimPy runs the calls; the batch path carries their packets; out comes a Trace.

SimPy drives what is event-like (a call starting, a call ending) and records
each as an event. Once the calls are known, each direction's packets cross
the path as one batch: the hops before the radio, then the UE's control plane
(RRC and handovers, ``control_plane``) on both directions together, then the
rest. Each packet's row gives the DSCP it was sent with and the one it
arrived with (after any bleaching hop). Each configured queue adds a
``queue_stats`` event (totals and configuration, at the end of the run) and
a ``queue_samples`` event (its backlog and throughput over time, ``sim.path``).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import pyarrow as pa
import simpy

from voipbed.metric_names import EventKind
from voipbed.models.codecs import codec as codec_named
from voipbed.scenario import Scenario
from voipbed.schedule import call_times
from voipbed.sim.control_plane import Event, radio_gate
from voipbed.sim.path import DirectionPackets, DirectionResult, PathWalk, SegmentLink
from voipbed.sim.stages import FloatArray, IntArray
from voipbed.sim.traffic import FlowSpan, SentPackets, send_packets
from voipbed.trace import DIRECTIONS, DROP_REASONS, Trace, events_table, host_facts, packets_table

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
    events.append((env.now, EventKind.CALL_START, call, {}))
    spans.append(FlowSpan(call, 2 * call, 0, env.now, end_s))
    spans.append(FlowSpan(call, 2 * call + 1, 1, env.now + downlink_phase_s, end_s))
    yield env.timeout(end_s - env.now)
    events.append((env.now, EventKind.CALL_END, call, {"duration_s": end_s - start_s}))


def simulate(scenario: Scenario) -> Trace:
    """Run ``scenario`` in the simulator and return its trace."""
    calls = scenario.calls
    times = call_times(scenario)
    starts, ends, phases = times.start_s, times.end_s, times.downlink_phase_s

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
    codec = codec_named(calls.codec)
    overhead = scenario.overhead()
    sent = [
        send_packets([s for s in spans if s.direction == d], codec, calls.ptime_s, overhead)
        for d in range(len(DIRECTIONS))
    ]
    fates, path_events = _carry(scenario, sent, starts, ends)
    events += path_events
    places = [segment.name for segment in scenario.path]
    packets = pa.concat_tables(
        [
            _packets_table(d, part, fate, calls.dscp, places)
            for d, (part, fate) in enumerate(zip(sent, fates, strict=True))
        ]
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
    sent: list[SentPackets],
    call_start_s: FloatArray,
    call_end_s: FloatArray,
) -> tuple[list[DirectionResult], list[Event]]:
    """Every packet's fate over the path, per direction (uplink first).

    Each direction crosses the hops before the radio, then the RRC and
    handovers act on both directions at the radio, then the rest of the path.
    ``lost_at`` in the result numbers segments as ``scenario.path`` does.
    """
    path = scenario.path
    radio = scenario.radio
    place = 0 if radio.segment is None else [s.name for s in path].index(radio.segment)
    end_to_end = scenario.overhead()
    walks: list[tuple[PathWalk, list[SegmentLink], IntArray, int]] = []
    for direction, part in zip(DIRECTIONS, sent, strict=True):
        order = np.arange(len(path)) if direction == "uplink" else np.arange(len(path))[::-1]
        radio_hop = int(np.flatnonzero(order == place)[0])
        n = part.send_s.size
        packets = DirectionPackets(
            part.send_s,
            part.flow,
            np.full(n, part.wire_bytes, dtype=np.int64),
            np.full(n, scenario.calls.dscp, dtype=np.int64),
            np.full(n, scenario.calls.ecn, dtype=np.bool_),
        )
        links = [
            SegmentLink(path[p], direction, scenario.seed, scenario.duration_s, end_to_end)
            for p in order
        ]
        walk = PathWalk(packets)
        walk.cross(links[:radio_hop], 0)
        walks.append((walk, links, order, radio_hop))
    (up, *_, up_hop), (down, *_, down_hop) = walks
    events = radio_gate(scenario, up, down, (up_hop, down_hop), call_start_s, call_end_s)
    results = []
    for walk, links, order, radio_hop in walks:
        walk.cross(links[radio_hop:], radio_hop)
        result = walk.result()
        lost = result.lost_at >= 0
        result.lost_at[lost] = order[result.lost_at[lost]]  # hop number -> place in the path
        results.append(result)
        events += [
            (scenario.duration_s, EventKind.QUEUE_STATS, -1, stats) for stats in result.queue_stats
        ]
        events += [
            (time_s, EventKind.QUEUE_SAMPLES, -1, fields) for time_s, fields in result.queue_samples
        ]
    return results, events


def _packets_table(
    direction: int, sent: SentPackets, fate: DirectionResult, dscp: int, places: list[str]
) -> pa.Table:
    """One direction's rows of the packets table."""
    n = sent.send_s.size
    return packets_table(
        call=sent.call,
        flow=sent.flow,
        direction=np.full(n, direction, dtype=np.int16),
        seq=sent.seq,
        rtp_ts=sent.rtp_ts,
        payload_bytes=np.full(n, sent.payload_bytes, dtype=np.int32),
        wire_bytes=np.full(n, sent.wire_bytes, dtype=np.int32),
        dscp=np.full(n, dscp, dtype=np.uint8),
        dscp_received=fate.dscp,
        send_s=sent.send_s,
        recv_s=fate.recv_s,
        lost_at=fate.lost_at,
        places=places,
        drop_reason=fate.drop_reason,
        reasons=DROP_REASONS,
        ce=fate.ce,
    )
