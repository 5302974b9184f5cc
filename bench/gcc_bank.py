"""Packets per wall second through ``GccBank.on_reports``: 1000 GCC senders for 60 s.

Each flow sends 50 packets/s of 200 bytes (G.711, 20 ms, with RTP/UDP/IPv4
headers) through its own path: a base delay, a queue that builds in
over-use episodes and drains between them, exponential jitter and 1 % loss.
Its receiver reports every 100 ms (transport-wide feedback). The reports of
all flows, merged in time order, go to one bank twice: in one call, and in
100 ms windows as a closed-loop simulator would call it. The first call
(numba compiling the kernel, or loading it from the cache) is timed apart.

    python bench/gcc_bank.py [--flows 1000] [--duration 60] [--filter trendline|kalman]
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import time
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from voipbed.models.gcc import GccConfig
from voipbed.models.gcc_bank import GccBank

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

PACKET_BYTES = 200  # G.711 20 ms: 160 bytes of payload + 12 RTP + 8 UDP + 20 IPv4
START_BPS = 80_000.0
MIN_BPS = 30_000.0
MAX_BPS = 2_000_000.0


class Batch(NamedTuple):
    """One ``on_reports`` call's arguments."""

    flow: IntArray
    time_s: FloatArray
    in_flight: IntArray
    expected: IntArray
    lost: IntArray
    ce: IntArray
    packet_report: IntArray
    send_s: FloatArray
    arrival_s: FloatArray
    size: IntArray


def make_reports(
    flows: int, duration_s: float, rate_pps: float, interval_s: float, seed: int
) -> Batch:
    """Every flow's reports, merged in time order, with their received packets."""
    rng = np.random.default_rng(seed)
    count = int(duration_s * rate_pps)
    send_s = rng.uniform(0.0, 1.0 / rate_pps, (flows, 1)) + np.arange(count) / rate_pps
    episode = np.sin(send_s / rng.uniform(2.0, 6.0, (flows, 1))) > 0.7
    step_s = np.where(episode, 3e-3, -2e-3) + rng.normal(0.0, 5e-4, (flows, count))
    walk_s = np.cumsum(step_s, axis=1)
    queue_s = walk_s - np.minimum.accumulate(np.minimum(walk_s, 0.0), axis=1)  # Lindley
    base_s = rng.uniform(0.02, 0.08, (flows, 1))
    arrival_s = send_s + base_s + queue_s + rng.exponential(2e-3, (flows, count))
    lost = rng.random((flows, count)) < 0.01
    offset_s = rng.uniform(0.0, interval_s, (flows, 1))
    report = np.maximum(np.ceil((arrival_s - offset_s) / interval_s).astype(np.int64) - 1, 0)
    per_flow = int(duration_s / interval_s)
    inside = report < per_flow
    flow = np.broadcast_to(np.arange(flows)[:, None], (flows, count))
    key = flow * per_flow + report  # a flow's k-th report
    report_time_s = (offset_s + (np.arange(per_flow) + 1) * interval_s + 0.5 * base_s).ravel()
    order = np.argsort(report_time_s, kind="stable")
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    expected = np.bincount(key[inside], minlength=order.size)
    dropped = np.bincount(key[inside & lost], minlength=order.size)
    keep = inside & ~lost
    packet_report = rank[key[keep]]
    packets = np.lexsort((arrival_s[keep], packet_report))
    received = expected - dropped
    return Batch(
        np.repeat(np.arange(flows), per_flow)[order],
        report_time_s[order],
        (received[order] * PACKET_BYTES // 4).astype(np.int64),
        expected[order],
        dropped[order],
        np.zeros(order.size, dtype=np.int64),
        packet_report[packets],
        send_s[keep][packets],
        arrival_s[keep][packets],
        np.full(packets.size, PACKET_BYTES, dtype=np.int64),
    )


def windows(batch: Batch, interval_s: float) -> list[Batch]:
    """``batch`` cut into the reports of each ``interval_s`` of time."""
    edges = np.arange(0.0, batch.time_s[-1] + interval_s, interval_s)
    cuts = np.searchsorted(batch.time_s, edges)
    parts = []
    for start, end in itertools.pairwise(cuts):
        lo, hi = np.searchsorted(batch.packet_report, [start, end])
        parts.append(
            Batch(
                batch.flow[start:end],
                batch.time_s[start:end],
                batch.in_flight[start:end],
                batch.expected[start:end],
                batch.lost[start:end],
                batch.ce[start:end],
                batch.packet_report[lo:hi] - start,
                batch.send_s[lo:hi],
                batch.arrival_s[lo:hi],
                batch.size[lo:hi],
            )
        )
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--flows", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=50.0, help="packets/s per flow")
    parser.add_argument("--interval", type=float, default=0.1, help="feedback interval, s")
    parser.add_argument("--filter", choices=["trendline", "kalman"], default="trendline")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    config = GccConfig() if args.filter == "trendline" else GccConfig.draft()

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    started = time.perf_counter()
    warm = make_reports(2, 1.0, args.rate, args.interval, seed=1)
    GccBank(2, config, START_BPS, MIN_BPS, MAX_BPS).on_reports(*warm)
    print(
        f"warm-up (numba compile or cache load, first call): {time.perf_counter() - started:.2f} s"
    )

    batch = make_reports(args.flows, args.duration, args.rate, args.interval, seed=7)
    parts = windows(batch, args.interval)
    packets = batch.send_s.size
    print(
        f"{args.flows} flows x {args.duration:g} s, {args.filter}: {batch.flow.size} reports, "
        f"{packets} packets received"
    )
    for label, calls in (("one call", [batch]), (f"{len(parts)} windowed calls", parts)):
        best = float("inf")
        for _ in range(args.repeat):
            bank = GccBank(args.flows, config, START_BPS, MIN_BPS, MAX_BPS)
            started = time.perf_counter()
            for call in calls:
                bank.on_reports(*call)
            best = min(best, time.perf_counter() - started)
        print(
            f"{label:>22}: {best:.3f} s, {packets / best / 1e6:.1f} M packets/s, "
            f"{best / packets * 1e9:.0f} ns/packet"
        )
    targets = bank.target_bps
    print(
        f"targets at the end: p5 {np.percentile(targets, 5):.0f}, median "
        f"{np.median(targets):.0f}, p95 {np.percentile(targets, 95):.0f} bit/s"
    )


if __name__ == "__main__":
    main()
