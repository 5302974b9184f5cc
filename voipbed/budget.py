"""What a run will cost, estimated from its scenario before it starts, and the limits it must keep.

The simulator holds every packet of a run in memory (media packets in the
trace, cross-traffic packets and the slots reserved for bulk flows in the
queue model), about 400 bytes each at the peak of a run. Some of its loops
step through time rather than packets: PIE's periodic update and a trace
link's delivery opportunities over the span until the last packet has left
(``voipbed.estimates.span_s``), on/off periods, and handovers, which each
packet of a call meets in turn while they overlap. RRC state changes and
handovers are events of a few hundred bytes each; the idle phones' signalling
messages are carried one at a time. A scenario whose estimate
exceeds a limit is refused before it runs, naming the estimate and the key
to change, so that every scenario that validates ends in bounded time and
memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from voipbed.estimates import LinkLoad, link_loads, media_packets, span_s
from voipbed.keypath import KeyPath
from voipbed.scenario import CrossTrafficKind, PieAqm, Scenario

__all__ = ["MAX_PACKETS", "Overrun", "overruns", "packets_estimate"]

MAX_PACKETS = 4_000_000
"""Media plus cross-traffic packets of one run: at most about 1.6 GiB at a run's peak
(measured on the shipped scenarios scaled to this many packets)."""
MAX_PIE_UPDATES = 20_000_000
"""PIE drop-probability updates per queue (its span / update interval), about 10 ns each."""
MAX_TRACE_OPPORTUNITIES = 1_000_000_000
"""Delivery opportunities of a trace link over its span, about 2 ns each (the densest
shipped trace has about 1,400 a second, 0.85 billion in a week)."""
MAX_ONOFF_PERIODS = 200_000
"""On/off periods of all cross traffic of a run (each is a step of a Python loop)."""
MAX_CROSS_FLOWS = 10_000
"""Cross-traffic flows of a run (``count`` summed over entries); each is drawn in Python."""
MAX_BULK_FEEDBACK = 20_000_000
"""Bulk flows on one queue times the slots reserved for them: the queue model keeps a
feedback ring of every slot for each flow (9 bytes an entry), and visits each flow at
every event."""
MAX_HANDOVERS = 200_000
"""Handovers over all calls, scheduled and Poisson (each is an event)."""
MAX_HANDOVER_STEPS = 1_000_000_000
"""Media packets times the handovers each meets in turn, about 1 ns each."""
MAX_RRC_CHANGES = 1_000_000
"""RRC state changes over all calls (each an event of about 600 bytes)."""
_RRC_CHANGES_PER_WAKE = 5  # CONNECTED, SHORT_DRX, LONG_DRX, IDLE, PROMOTION, CONNECTED
MAX_SIGNALLING_MESSAGES = 5_000_000
"""Messages of the idle phones (``signalling.phones``), each carried one at a time, about
20 us each."""
_REGISTRATION_MESSAGES = 4  # REGISTER, 401, REGISTER, 200 OK
_CALL_MESSAGES = 5  # INVITE, 180, 200 OK, ACK and a retransmission or so


@dataclass(frozen=True)
class Overrun:
    """A limit a scenario exceeds: which key to change and what the estimate is."""

    key_path: KeyPath
    message: str


def packets_estimate(scenario: Scenario) -> float:
    """Media and cross-traffic packets the run will hold in memory (an upper estimate)."""
    return media_packets(scenario) + sum(p for load in link_loads(scenario) for _, p in load.cross)


def _packets(scenario: Scenario, loads: list[LinkLoad], max_packets: int) -> list[Overrun]:
    media = media_packets(scenario)
    cross = [entry for load in loads for entry in load.cross]
    total = media + sum(packets for _, packets in cross)
    if total <= max_packets:
        return []
    biggest, packets = max(cross, key=lambda entry: entry[1], default=((), 0.0))
    key: KeyPath = ("calls", "count")
    if media < packets:
        _, i, _, j = biggest
        bulk = scenario.path[int(i)].cross_traffic[int(j)].kind is CrossTrafficKind.BULK
        key = (*biggest, "count" if bulk else "rate")  # bulk flows take what the link gives
    return [
        Overrun(
            key,
            f"the run would carry about {total:,.0f} packets ({media:,.0f} of media), more "
            f"than the {max_packets:,} voipbed holds in memory; shorten duration or lower "
            "calls.count or the cross traffic's rate or count",
        )
    ]


def _queues(scenario: Scenario, loads: list[LinkLoad], span: float) -> list[Overrun]:
    found = []
    for load in loads:
        segment = scenario.path[load.segment]
        aqm = segment.queue.aqm
        if isinstance(aqm, PieAqm) and span / aqm.update_s > MAX_PIE_UPDATES:
            found.append(
                Overrun(
                    ("path", load.segment, "queue", "aqm", "update"),
                    f"{span / aqm.update_s:,.0f} PIE updates in the run ({span:,.0f} s until "
                    f"its last packet may leave the path), more than {MAX_PIE_UPDATES:,}; "
                    "lengthen update (RFC 8033 suggests 15 ms), raise capacity or shorten "
                    "duration",
                )
            )
        steps = load.opportunities_per_s * span
        if steps > MAX_TRACE_OPPORTUNITIES:
            found.append(
                Overrun(
                    ("path", load.segment, f"{load.direction}_trace"),
                    f"about {steps:,.0f} delivery opportunities of the trace in the run "
                    f"({load.opportunities_per_s:,.0f} a second for {span:,.0f} s), more than "
                    f"{MAX_TRACE_OPPORTUNITIES:,}; use a sparser trace or shorten duration",
                )
            )
        feedback = load.bulk_flows * (load.bulk_slots + 1)
        if feedback > MAX_BULK_FEEDBACK:
            bulk = next(
                key
                for key, _ in load.cross
                if segment.cross_traffic[int(key[-1])].kind is CrossTrafficKind.BULK
            )
            found.append(
                Overrun(
                    (*bulk, "count"),
                    f"{load.bulk_flows:,} bulk flows with {load.bulk_slots:,.0f} packet slots "
                    f"on the {load.direction} queue need {feedback:,.0f} feedback entries, more "
                    f"than {MAX_BULK_FEEDBACK:,}; lower count, capacity or the flows' lifetime",
                )
            )
    return list({(o.key_path, o.message): o for o in found}.values())  # a key once per message


def _cross_traffic(scenario: Scenario) -> list[Overrun]:
    flows = 0
    periods: list[tuple[float, tuple[int, int]]] = []
    for i, segment in enumerate(scenario.path):
        for j, source in enumerate(segment.cross_traffic):
            flows += source.count
            if flows > MAX_CROSS_FLOWS:
                return [
                    Overrun(
                        ("path", i, "cross_traffic", j, "count"),
                        f"{flows:,} cross-traffic flows so far in the path, more than "
                        f"{MAX_CROSS_FLOWS:,}; use fewer flows of a higher rate",
                    )
                ]
            if source.kind is CrossTrafficKind.ONOFF:
                mean_s = source.on_s + source.off_s
                periods.append((source.count * scenario.duration_s / mean_s, (i, j)))
    total = sum(count for count, _ in periods)
    if total <= MAX_ONOFF_PERIODS:
        return []
    _, (i, j) = max(periods)
    return [
        Overrun(
            ("path", i, "cross_traffic", j, "on"),
            f"about {total:,.0f} on/off periods in the run, more than {MAX_ONOFF_PERIODS:,}; "
            "lengthen on and off",
        )
    ]


def _handovers(scenario: Scenario) -> list[Overrun]:
    handovers = scenario.radio.handovers
    calls = scenario.calls.count
    poisson = handovers.rate_per_min * scenario.duration_s / 60.0  # per call
    every_call = sum(1 for entry in handovers.schedule if entry.call is None)
    named = [entry.call for entry in handovers.schedule if entry.call is not None]
    total = calls * (poisson + every_call) + len(named)
    if total > MAX_HANDOVERS:
        key = "rate_per_min" if calls * poisson >= total / 2 else "schedule"
        return [
            Overrun(
                ("radio", "handovers", key),
                f"about {total:,.0f} handovers in the run, more than {MAX_HANDOVERS:,}",
            )
        ]
    # A packet held by an X2 handover is released at its end, into any handover that
    # started meanwhile: the handovers a packet meets are a busy period of an M/D/inf
    # queue, e**(rate * window) of them on average (Takacs), at most the call's all.
    per_call = poisson + every_call + max((named.count(c) for c in set(named)), default=0)
    x2 = handovers.x2
    holds = x2.forwarding or x2.uplink_buffering
    window_s = x2.interruption_s + x2.forwarding_delay_s if holds else 0.0
    overlap = per_call * window_s / scenario.duration_s
    steps = media_packets(scenario) * min(per_call, math.exp(min(overlap, 50.0)))
    if steps > MAX_HANDOVER_STEPS:
        return [
            Overrun(
                ("radio", "handovers", "x2", "interruption"),
                f"about {steps:,.0f} steps of packets through handovers ({per_call:,.0f} per "
                f"call, {overlap:,.1f} at a time while X2 holds packets), more than "
                f"{MAX_HANDOVER_STEPS:,}; shorten the interruption or have fewer handovers",
            )
        ]
    return []


def _rrc(scenario: Scenario) -> list[Overrun]:
    rrc = scenario.radio.rrc
    if rrc is None:
        return []
    calls = scenario.calls
    radio_first = scenario.radio.segment in (None, scenario.path[0].name)
    if radio_first and calls.ptime_s < rrc.drx_inactivity_s:
        wakes = 1.0  # the uplink reaches the radio every ptime: no DRX while the call is up
    else:  # a wake-up follows drx_inactivity without a packet
        call_s = min(scenario.duration_s, calls.hold_time_s or math.inf)
        per_call = media_packets(scenario) / calls.count
        wakes = min(per_call, call_s / rrc.drx_inactivity_s + 1.0)
    changes = _RRC_CHANGES_PER_WAKE * calls.count * (wakes + 1.0)
    if changes <= MAX_RRC_CHANGES:
        return []
    return [
        Overrun(
            ("radio", "rrc", "drx_inactivity"),
            f"about {changes:,.0f} RRC state changes in the run, more than {MAX_RRC_CHANGES:,}: "
            "a UE falls asleep between packets; lengthen drx_inactivity past ptime, or shorten "
            "duration",
        )
    ]


def _signalling(scenario: Scenario) -> list[Overrun]:
    phones = scenario.signalling.phones
    if phones is None:
        return []
    duration_s = scenario.duration_s
    registrations = 1.0 + duration_s / phones.registration_expires_s
    pings = 0.0 if phones.keepalive_s is None else duration_s / phones.keepalive_s
    calls = phones.incoming_calls_per_hour * duration_s / 3600.0
    per_phone = _REGISTRATION_MESSAGES * registrations + 2.0 * pings + _CALL_MESSAGES * calls
    messages = phones.count * per_phone
    if messages <= MAX_SIGNALLING_MESSAGES:
        return []
    return [
        Overrun(
            ("signalling", "phones", "count"),
            f"about {messages:,.0f} signalling messages of the idle phones, more than "
            f"{MAX_SIGNALLING_MESSAGES:,}; fewer phones, longer keep-alive intervals or a "
            "shorter duration",
        )
    ]


def overruns(scenario: Scenario, max_packets: int = MAX_PACKETS) -> list[Overrun]:
    """Every limit ``scenario`` exceeds; empty when the run fits."""
    loads = list(link_loads(scenario))
    found = _packets(scenario, loads, max_packets)
    found += _cross_traffic(scenario)
    found += _queues(scenario, loads, span_s(scenario, loads))
    found += _handovers(scenario)
    found += _rrc(scenario)
    found += _signalling(scenario)
    return found
