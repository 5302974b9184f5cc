"""Simulated packets per wall second through the full mobile chain.

Each G.711 call crosses a trace-driven LTE radio hop (T-Mobile LTE traces,
drop-tail 1 MB), HARQ, Gilbert-Elliott loss, the RRC/DRX machine, a
backhaul of 100 Mbit/s with CoDel shared with a greedy TCP-like flow in each
direction, then the core; 60 s, best of ``--repeat`` runs after one warm-up
(numba's compile and cache load excluded). "packets" counts the calls' media
packets and the cross traffic's alike: both go through the queue model.

    python bench/mobile_chain.py [--calls 10 100 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import pandas as pd

from voipbed.allocator import keep_large_arrays_in_heap
from voipbed.loader import parse_scenario
from voipbed.sim.engine import simulate

# The engine alone, timed beyond the command's budget for a whole run with its report.
ENGINE_ONLY = 1 << 40

SCENARIO = """
name: mobile-chain
seed: 1
duration: 60s
calls: {{count: {calls}, start_spread: 1s}}
path:
  - name: radio
    one_way_delay: 10ms
    uplink_trace: TMobile-LTE-short.up
    downlink_trace: TMobile-LTE-short.down
    queue: {{bytes: 1MB}}
    harq: {{bler: 10%, max_transmissions: 5, rtt: 8ms}}
    loss: {{model: gilbert_elliott, rate: 1%, burst: 3}}
  - name: backhaul
    one_way_delay: 5ms
    capacity: 100Mbps
    queue: {{bytes: 4MB, aqm: codel}}
    cross_traffic: [{{kind: bulk, count: 1, rtt: 40ms}}]
  - name: core
    one_way_delay: 20ms
    jitter: {{distribution: exponential, scale: 1ms}}
"""


def _cross_packets(events: pd.DataFrame) -> int:
    """Cross-traffic packets the queues simulated, from the ``queue_stats`` events."""
    stats = events[events["kind"] == "queue_stats"]["fields"].map(json.loads)
    return int(sum(s["cross_packets"] + s["bulk_sent"] for s in stats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    keep_large_arrays_in_heap()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"{'calls':>6} {'media':>10} {'all packets':>12} {'best s':>8} {'packets/s':>12}")
    for calls in args.calls:
        scenario = parse_scenario(SCENARIO.format(calls=calls), max_packets=ENGINE_ONLY)
        trace = simulate(scenario)  # warm-up
        packets = trace.packets.num_rows + _cross_packets(trace.events.to_pandas())
        best = float("inf")
        for _ in range(args.repeat):
            started = time.perf_counter()
            simulate(scenario)
            best = min(best, time.perf_counter() - started)
        media = trace.packets.num_rows
        print(f"{calls:>6} {media:>10} {packets:>12} {best:>8.3f} {packets / best:>12,.0f}")


if __name__ == "__main__":
    main()
