"""A closed GCC loop over one FIFO bottleneck, for the GCC tests.

The sender paces 1200-byte packets at its target; a FIFO serves them at the
capacity of the moment (``capacity_bps(t)``); each packet then takes a fixed
one-way delay to the receiver, whose ``DelayBasedEstimator`` sees every
arrival. Every ``feedback_interval_s`` the receiver reports (estimate,
packets expected and lost, CE marks), and the report reaches the sender one
one-way delay later. Optionally the queue marks CE on packets that wait more
than ``ce_threshold_s`` and drops those that would wait more than
``buffer_s``. Everything runs on simulated time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from voipbed.models.gcc import DelayBasedEstimator, GccConfig, GccSender

PACKET_BYTES = 1200
PACKET_BITS = PACKET_BYTES * 8


class _InFlight(NamedTuple):
    arrival_s: float
    send_s: float
    lost: bool
    ce: bool


@dataclass
class LoopRun:
    """What a run recorded: per feedback report and per packet sent."""

    report_s: list[float] = field(default_factory=list)
    target_bps: list[float] = field(default_factory=list)
    estimate_bps: list[float | None] = field(default_factory=list)
    send_s: list[float] = field(default_factory=list)
    queue_delay_s: list[float] = field(default_factory=list)
    lost: list[bool] = field(default_factory=list)
    ce: list[bool] = field(default_factory=list)


def run_loop(
    capacity_bps: Callable[[float], float],
    duration_s: float,
    *,
    start_bps: float,
    config: GccConfig | None = None,
    one_way_s: float = 0.05,
    feedback_interval_s: float = 0.1,
    ce_threshold_s: float | None = None,
    buffer_s: float | None = None,
    observer: Callable[[float, float, int], None] | None = None,
) -> LoopRun:
    """Run the loop for ``duration_s``; ``observer(arrival_s, send_s, size)`` sees each arrival."""
    sender = GccSender(start_bps, config)
    receiver = DelayBasedEstimator(config)
    receiver.set_rtt(2.0 * one_way_s)
    run = LoopRun()
    in_flight: deque[_InFlight] = deque()
    link_free_s = 0.0
    next_report_s = feedback_interval_s
    sent_packets = reported_packets = 0
    now_s = 0.0
    while now_s < duration_s:
        while next_report_s + one_way_s <= now_s:
            expected = lost = ce = 0
            while in_flight and in_flight[0].arrival_s <= next_report_s:
                packet = in_flight.popleft()
                expected += 1
                if packet.lost:
                    lost += 1
                    continue
                ce += packet.ce
                receiver.on_packet(packet.arrival_s, packet.send_s, PACKET_BYTES)
                if observer is not None:
                    observer(packet.arrival_s, packet.send_s, PACKET_BYTES)
            reported_packets += expected
            estimate = receiver.estimate_bps
            update = sender.on_feedback(
                next_report_s + one_way_s,
                expected=expected,
                lost=lost,
                delay_based_bps=estimate,
                ce_marked=ce,
                rtt_s=2.0 * one_way_s,
                in_flight_bytes=(sent_packets - reported_packets) * PACKET_BYTES,
            )
            run.report_s.append(next_report_s)
            run.target_bps.append(update.target_bps)
            run.estimate_bps.append(estimate)
            next_report_s += feedback_interval_s
        start_s = max(now_s, link_free_s)
        wait_s = start_s - now_s
        dropped = buffer_s is not None and wait_s > buffer_s
        marked = ce_threshold_s is not None and wait_s > ce_threshold_s
        if dropped:
            in_flight.append(_InFlight(now_s + one_way_s, now_s, True, False))
        else:
            link_free_s = start_s + PACKET_BITS / capacity_bps(start_s)
            in_flight.append(_InFlight(link_free_s + one_way_s, now_s, False, marked))
        sent_packets += 1
        run.send_s.append(now_s)
        run.queue_delay_s.append(wait_s)
        run.lost.append(dropped)
        run.ce.append(marked and not dropped)
        now_s += PACKET_BITS / sender.target_bps
    return run
