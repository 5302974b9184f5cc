"""A closed GCC loop over one FIFO bottleneck, for the GCC tests.

The sender paces packets of ``packet_bytes`` at its target; a FIFO serves
them at the capacity of the moment (``capacity_bps(t)``); each packet then
takes a fixed one-way delay to the receiver. Every ``feedback_interval_s``
the receiver reports what arrived (packets expected and lost, CE marks, each
received packet's arrival time), and the report reaches the sender one
one-way delay later, which measures its RTTs from it (``gcc_rtt``) and counts
its bytes in flight. Two senders:

- receiver-side (the default): the receiver's ``DelayBasedEstimator`` sees
  every arrival and the report carries its estimate to a ``GccSender``;
- send-side (``send_side``): a ``GccFlow`` runs the delay-based estimator on
  the reported arrivals, as libwebrtc does with transport-wide feedback.

Optionally the queue marks CE on packets that wait more than
``ce_threshold_s`` and drops those that would wait more than ``buffer_s``.
Everything runs on simulated time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from voipbed.models.gcc import DelayBasedEstimator, GccConfig, GccSender, SenderUpdate
from voipbed.models.gcc_flow import GccFlow
from voipbed.models.gcc_rtt import FeedbackRtt

PACKET_BYTES = 1200
MIN_BPS = 10_000.0  # the send-side flow's bounds
MAX_BPS = 10_000_000.0


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
    network_bps: list[float] = field(default_factory=list)  # before the pushback
    estimate_bps: list[float | None] = field(default_factory=list)
    window_bytes: list[float | None] = field(default_factory=list)
    send_s: list[float] = field(default_factory=list)
    queue_delay_s: list[float] = field(default_factory=list)
    lost: list[bool] = field(default_factory=list)
    ce: list[bool] = field(default_factory=list)


class _Report(NamedTuple):
    now_s: float
    in_flight_bytes: int
    expected: int
    lost: int
    ce_marked: int
    send_s: list[float]
    arrival_s: list[float]


class _ReceiverSide:
    """A_hat at the receiver, fed back to a ``GccSender`` that measures its RTTs."""

    def __init__(self, start_bps: float, config: GccConfig | None, rtt_s: float) -> None:
        self.sender = GccSender(start_bps, config)
        self.receiver = DelayBasedEstimator(config)
        self.receiver.set_rtt(rtt_s)
        self.rtt = FeedbackRtt()

    def arrive(self, arrival_s: float, send_s: float, size: int) -> None:
        self.receiver.on_packet(arrival_s, send_s, size)

    def report(self, report: _Report, size: int) -> tuple[SenderUpdate, float | None]:
        self.rtt.on_report(report.now_s, report.send_s, report.arrival_s)
        update = self.sender.on_feedback(
            report.now_s,
            expected=report.expected,
            lost=report.lost,
            delay_based_bps=self.receiver.estimate_bps,
            ce_marked=report.ce_marked,
            rtt_s=self.rtt.latest_min_s,
            window_rtt_s=self.rtt.min_max_s,
            in_flight_bytes=report.in_flight_bytes,
        )
        return update, self.sender.window_bytes


class _SendSide:
    """A ``GccFlow``: the delay-based estimator runs at the sender on reported arrivals."""

    def __init__(self, start_bps: float, config: GccConfig | None) -> None:
        self.flow = GccFlow(start_bps, min(MIN_BPS, start_bps), MAX_BPS, config)

    def arrive(self, arrival_s: float, send_s: float, size: int) -> None:
        pass

    def report(self, report: _Report, size: int) -> tuple[SenderUpdate, float | None]:
        update = self.flow.on_report(
            report.now_s,
            report.in_flight_bytes,
            report.expected,
            report.lost,
            report.ce_marked,
            report.send_s,
            report.arrival_s,
            [size] * len(report.send_s),
        )
        return update, self.flow.window_bytes


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
    packet_bytes: int = PACKET_BYTES,
    send_side: bool = False,
    observer: Callable[[float, float, int], None] | None = None,
) -> LoopRun:
    """Run the loop for ``duration_s``; ``observer(arrival_s, send_s, size)`` sees each arrival."""
    loop = (
        _SendSide(start_bps, config)
        if send_side
        else _ReceiverSide(start_bps, config, 2.0 * one_way_s)
    )
    packet_bits = packet_bytes * 8
    target_bps = start_bps
    run = LoopRun()
    in_flight: deque[_InFlight] = deque()
    link_free_s = 0.0
    next_report_s = feedback_interval_s
    sent_packets = reported_packets = 0
    now_s = 0.0
    while now_s < duration_s:
        while next_report_s + one_way_s <= now_s:
            expected = lost = ce = 0
            send: list[float] = []
            arrival: list[float] = []
            while in_flight and in_flight[0].arrival_s <= next_report_s:
                packet = in_flight.popleft()
                expected += 1
                if packet.lost:
                    lost += 1
                    continue
                ce += packet.ce
                send.append(packet.send_s)
                arrival.append(packet.arrival_s)
                loop.arrive(packet.arrival_s, packet.send_s, packet_bytes)
                if observer is not None:
                    observer(packet.arrival_s, packet.send_s, packet_bytes)
            reported_packets += expected
            report = _Report(
                next_report_s + one_way_s,
                (sent_packets - reported_packets) * packet_bytes,
                expected,
                lost,
                ce,
                send,
                arrival,
            )
            update, window = loop.report(report, packet_bytes)
            target_bps = update.target_bps
            run.report_s.append(next_report_s)
            run.target_bps.append(target_bps)
            run.network_bps.append(update.network_bps)
            run.estimate_bps.append(update.delay_based_bps)
            run.window_bytes.append(window)
            next_report_s += feedback_interval_s
        start_s = max(now_s, link_free_s)
        wait_s = start_s - now_s
        dropped = buffer_s is not None and wait_s > buffer_s
        marked = ce_threshold_s is not None and wait_s > ce_threshold_s
        if dropped:
            in_flight.append(_InFlight(now_s + one_way_s, now_s, True, False))
        else:
            link_free_s = start_s + packet_bits / capacity_bps(start_s)
            in_flight.append(_InFlight(link_free_s + one_way_s, now_s, False, marked))
        sent_packets += 1
        run.send_s.append(now_s)
        run.queue_delay_s.append(wait_s)
        run.lost.append(dropped)
        run.ce.append(marked and not dropped)
        now_s += packet_bits / target_bps
    return run
