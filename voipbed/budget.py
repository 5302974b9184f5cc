"""What a run will cost, estimated from its scenario before it starts, and the limits it must keep.

The simulator holds every packet of a run in memory (media packets in the
trace, cross-traffic packets in the queue model), about 400 bytes each at the
peak of a run, and some of its loops step through time rather than packets (PIE's
periodic update, on/off periods, Poisson handovers). A scenario whose
estimate exceeds a limit is refused before it runs, naming the estimate and
the key to change, so that every scenario that validates ends in bounded time
and memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from voipbed.keypath import KeyPath
from voipbed.scenario import CrossTrafficKind, PieAqm, Scenario, Segment
from voipbed.traces import read_schedule

__all__ = ["MAX_PACKETS", "Overrun", "overruns", "packets_estimate"]

MAX_PACKETS = 4_000_000
"""Media plus cross-traffic packets of one run: at most about 1.6 GiB at a run's peak
(measured on the shipped scenarios scaled to this many packets)."""
MAX_PIE_UPDATES = 20_000_000
"""PIE drop-probability updates per queue (run duration / update interval)."""
MAX_ONOFF_PERIODS = 200_000
"""On/off periods per cross-traffic entry (each is a step of a Python loop)."""
MAX_HANDOVERS = 200_000
"""Poisson handovers over all calls (each is an event)."""

_DIRECTIONS = ("uplink", "downlink")


@dataclass(frozen=True)
class Overrun:
    """A limit a scenario exceeds: which key to change and what the estimate is."""

    key_path: KeyPath
    message: str


def _media_packets(scenario: Scenario) -> float:
    calls = scenario.calls
    talk_s = min(scenario.duration_s, calls.hold_time_s or math.inf)
    return 2.0 * calls.count * talk_s / calls.ptime_s


def _link_rate_bps(segment: Segment, direction: str) -> float:
    if segment.capacity_bps is not None:
        return segment.capacity_bps
    trace = segment.trace_for(direction)
    assert trace is not None  # cross traffic needs a capacity or traces (checked by Segment)
    return read_schedule(Path(trace)).mean_rate_bps


def _cross_packets(scenario: Scenario) -> Iterator[tuple[KeyPath, float]]:
    """Per cross-traffic entry, the packets it adds to the run (both directions)."""
    for i, segment in enumerate(scenario.path):
        for j, source in enumerate(segment.cross_traffic):
            stop_s = min(source.stop_s or scenario.duration_s, scenario.duration_s)
            active_s = max(0.0, stop_s - source.start_s)
            packets = 0.0
            for direction in _DIRECTIONS:
                if not source.applies_to(direction):
                    continue
                if source.kind is CrossTrafficKind.BULK:  # no faster than the link drains it
                    rate_bps = _link_rate_bps(segment, direction)
                else:
                    assert source.rate_bps is not None  # required for these kinds
                    rate_bps = source.count * source.rate_bps
                packets += rate_bps * active_s / (8.0 * source.packet_bytes)
            yield ("path", i, "cross_traffic", j), packets


def packets_estimate(scenario: Scenario) -> float:
    """Media and cross-traffic packets the run will hold in memory (an upper estimate)."""
    return _media_packets(scenario) + sum(packets for _, packets in _cross_packets(scenario))


def overruns(scenario: Scenario, max_packets: int = MAX_PACKETS) -> list[Overrun]:
    """Every limit ``scenario`` exceeds; empty when the run fits."""
    found: list[Overrun] = []
    media = _media_packets(scenario)
    cross = list(_cross_packets(scenario))
    total = media + sum(packets for _, packets in cross)
    if total > max_packets:
        biggest, packets = max(cross, key=lambda entry: entry[1], default=((), 0.0))
        key = ("calls", "count") if media >= packets else (*biggest, "rate")
        found.append(
            Overrun(
                key,
                f"the run would carry about {total:,.0f} packets ({media:,.0f} of media), more "
                f"than the {max_packets:,} voipbed holds in memory; shorten duration or lower "
                "calls.count or the cross traffic's rate",
            )
        )
    for i, segment in enumerate(scenario.path):
        aqm = segment.queue.aqm
        if isinstance(aqm, PieAqm):
            updates = scenario.duration_s / aqm.update_s
            if updates > MAX_PIE_UPDATES:
                found.append(
                    Overrun(
                        ("path", i, "queue", "aqm", "update"),
                        f"{updates:,.0f} PIE updates in the run, more than {MAX_PIE_UPDATES:,}; "
                        "lengthen update (RFC 8033 suggests 15 ms) or shorten duration",
                    )
                )
        for j, source in enumerate(segment.cross_traffic):
            if source.kind is not CrossTrafficKind.ONOFF:
                continue
            periods = source.count * scenario.duration_s / (source.on_s + source.off_s)
            if periods > MAX_ONOFF_PERIODS:
                found.append(
                    Overrun(
                        ("path", i, "cross_traffic", j, "on"),
                        f"about {periods:,.0f} on/off periods, more than {MAX_ONOFF_PERIODS:,}; "
                        "lengthen on and off",
                    )
                )
    handovers = scenario.radio.handovers
    expected = scenario.calls.count * handovers.rate_per_min * scenario.duration_s / 60.0
    if expected > MAX_HANDOVERS:
        found.append(
            Overrun(
                ("radio", "handovers", "rate_per_min"),
                f"about {expected:,.0f} handovers in the run, more than {MAX_HANDOVERS:,}",
            )
        )
    return found
