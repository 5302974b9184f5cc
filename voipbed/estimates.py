"""Upper estimates of what a scenario's run holds and how long its packets stay in the path.

``voipbed.budget`` compares them with its limits before a run starts. Each
follows the code it estimates: the packets the simulator holds (media, the
arrivals of constant-rate and on/off cross traffic, the slots the queue model
reserves for bulk flows), the bytes each queue may still hold when the run's
senders stop and how long the link takes to carry them (at a constant
capacity, the trace's mean rate, or the lowest rate of ``capacity_steps`` in
force from the run's end on), and so the span of run time over which a
queue's periodic work (PIE's update, a trace's delivery opportunities) goes
on.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from voipbed.keypath import KeyPath
from voipbed.models.overhead import wire_bytes_per_packet
from voipbed.models.queue_codes import BULK_ROOM_EXTRA, BULK_ROOM_FACTOR
from voipbed.scenario import CrossTrafficKind, Scenario, Segment

__all__ = ["JITTER_TAIL", "LinkLoad", "link_loads", "media_packets", "span_s"]

JITTER_TAIL = 20.0
"""Scales of jitter no packet of a run exceeds: the largest of 4 million exponential
draws is about 16 scales (ln 4e6 + 0.58), of half-normal ones about 5."""
_DIRECTIONS = ("uplink", "downlink")


@dataclass(frozen=True)
class LinkLoad:
    """One segment in one direction: its service, what crosses it, what it may hold."""

    segment: int
    direction: str
    rate_bps: float | None  # capacity, or the mean rate of the trace or the steps; None: unlimited
    opportunities_per_s: float  # a trace's delivery opportunities; 0 without a trace
    cross: tuple[tuple[KeyPath, float], ...]  # per cross-traffic entry, its packets in memory
    bulk_flows: int
    bulk_slots: float  # slots the queue model reserves for the bulk flows
    drain_s: float  # how long the queue may take to empty once the senders stop


def _call_s(scenario: Scenario) -> float:
    return min(scenario.duration_s, scenario.calls.hold_time_s or math.inf)


def media_packets(scenario: Scenario) -> float:
    """Media packets of the run, both directions."""
    calls = scenario.calls
    return 2.0 * calls.count * _call_s(scenario) / calls.ptime_s


def _media_bytes(scenario: Scenario, segment: Segment) -> float:
    """Bytes ``segment`` carries for one media packet."""
    calls = scenario.calls
    payload = calls.sent_codec().payload_bytes(calls.ptime_s)
    return float(wire_bytes_per_packet(payload, scenario.overhead(segment)))


def _link(scenario: Scenario, index: int, direction: str) -> LinkLoad:
    segment = scenario.path[index]
    duration_s = scenario.duration_s
    rate_bps, opportunities = segment.capacity_bps, 0.0
    drain_bps = rate_bps  # the rate at which a backlog left at the run's end drains
    schedule = segment.schedule_for(direction)
    steps = segment.rate_steps()
    if schedule is not None:
        rate_bps = drain_bps = schedule.mean_rate_bps
        opportunities = schedule.times_ms.size * 1000.0 / schedule.period_ms
    elif steps is not None:
        rate_bps = steps.mean_rate_bps(duration_s)  # as QueueingLink.serve sizes bulk room
        in_force = max(int(np.searchsorted(steps.start_s, duration_s, side="right")) - 1, 0)
        drain_bps = float(steps.rate_bps[in_force:].min())
    media = media_packets(scenario) / 2.0
    offered = media * _media_bytes(scenario, segment)
    largest = _media_bytes(scenario, segment)
    cross: list[tuple[KeyPath, float]] = []
    bulk_flows, bulk_slots, feedback_s = 0, 0.0, 0.0
    for j, source in enumerate(segment.cross_traffic):
        if not source.applies_to(direction):
            continue
        stop_s = min(source.stop_s or duration_s, duration_s)
        active_s = max(0.0, stop_s - source.start_s)
        if source.kind is CrossTrafficKind.BULK:
            assert rate_bps is not None  # cross traffic needs a capacity or traces
            lifetime_s = active_s + source.rtt_s
            per_flow = BULK_ROOM_FACTOR * lifetime_s * rate_bps / (8.0 * source.packet_bytes)
            packets = source.count * (per_flow + BULK_ROOM_EXTRA)
            bulk_flows += source.count
            bulk_slots += packets
            feedback_s = max(feedback_s, source.rtt_s)  # the last ACKs come a round trip later
        else:
            assert source.rate_bps is not None  # required for these kinds
            packets = source.count * source.rate_bps * active_s / (8.0 * source.packet_bytes)
        cross.append((("path", index, "cross_traffic", j), packets))
        offered += packets * source.packet_bytes
        largest = max(largest, source.packet_bytes)
    queue = segment.queue
    backlog = min(
        offered,
        queue.limit_bytes if queue.limit_bytes is not None else math.inf,
        queue.limit_packets * largest if queue.limit_packets is not None else math.inf,
    )
    drain_s = 0.0 if drain_bps is None else backlog * 8.0 / drain_bps
    return LinkLoad(
        index,
        direction,
        rate_bps,
        opportunities,
        tuple(cross),
        bulk_flows,
        bulk_slots,
        drain_s + feedback_s,
    )


def link_loads(scenario: Scenario) -> Iterator[LinkLoad]:
    """Every segment of the path in each direction."""
    for index in range(len(scenario.path)):
        for direction in _DIRECTIONS:
            yield _link(scenario, index, direction)


def _segment_delay_s(segment: Segment) -> float:
    """The longest a packet spends in ``segment`` beyond its queue."""
    harq = segment.harq
    retransmissions_s = 0.0 if harq is None else (harq.max_transmissions - 1) * harq.rtt_s
    return segment.one_way_delay_s + JITTER_TAIL * segment.jitter.scale_s + retransmissions_s


def _radio_hold_s(scenario: Scenario) -> float:
    """The longest the UE's control plane holds a packet (RRC wake-up, X2 interruption)."""
    radio = scenario.radio
    hold = 0.0
    if radio.rrc is not None:
        rrc = radio.rrc
        sleep = max(rrc.paging_cycle_s, rrc.long_drx_cycle_s)
        hold += rrc.promotion_delay_s + sleep + rrc.uplink_sr_delay_s
    handovers = radio.handovers
    if handovers.schedule or handovers.rate_per_min > 0:
        hold += handovers.x2.interruption_s + handovers.x2.forwarding_delay_s
    return hold


def span_s(scenario: Scenario, loads: list[LinkLoad] | None = None) -> float:
    """When the last packet of the run may leave the path, from the run's start.

    The senders stop at the end of the run; after that a packet may still
    wait in every queue until it drains, and cross every delay, jitter tail,
    HARQ retransmission and control-plane hold on its way.
    """
    loads = list(link_loads(scenario)) if loads is None else loads
    drain = [0.0] * len(scenario.path)
    for load in loads:
        drain[load.segment] = max(drain[load.segment], load.drain_s)
    path_s = sum(_segment_delay_s(segment) for segment in scenario.path)
    return scenario.duration_s + path_s + sum(drain) + _radio_hold_s(scenario)
