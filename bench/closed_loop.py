"""Closed-loop packets per wall second: GCC-controlled AMR-WB calls, by feedback interval.

Runs ``--calls`` rate-controlled calls for 60 s, all up for the whole run,
over a shared bottleneck (a 40 kbit/s share per call and direction, below
the top mode's wire rate, so the controllers work) and an LTE-like radio
hop, with reports every 20, 50, 100 and 200 ms. It times the simulator
alone (senders, feedback, controllers, the path in windows, the trace
table), best of ``--repeat`` runs, and prints one row per interval: media
packets and feedback reports carried, wall seconds, media packets per wall
second, and the cost of a window.

    python bench/closed_loop.py [--calls 1000] [--intervals 20 50 100 200] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

from voipbed.allocator import keep_large_arrays_in_heap
from voipbed.loader import parse_scenario
from voipbed.sim.engine import simulate

ENGINE_ONLY = 1 << 40  # the engine alone, timed beyond the command's budget for a whole run

SCENARIO = """
name: closed-loop-bench
seed: 1
duration: 60s
calls: {{count: {calls}, start_spread: 0s, codec: AMR-WB-23.85, ptime: 20ms,
        rate_control: {{algorithm: gcc, feedback_interval: {interval}ms}}}}
path:
  - {{name: radio, one_way_delay: 10ms, jitter: {{distribution: exponential, scale: 2ms}},
     loss: 0.5%}}
  - {{name: backhaul, one_way_delay: 20ms, capacity: {capacity}bps, queue: {{packets: {limit}}}}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--intervals", type=int, nargs="+", default=[20, 50, 100, 200])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    keep_large_arrays_in_heap()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; {args.calls} calls of 60 s"
    )
    print(
        f"{'interval':>9} {'media':>10} {'reports':>9} {'sim s':>8} {'pkt/s':>12} {'ms/window':>10}"
    )
    for interval in args.intervals:
        text = SCENARIO.format(
            calls=args.calls,
            interval=interval,
            capacity=40_000 * args.calls,
            limit=20 * args.calls,
        )
        scenario = parse_scenario(text, "closed-loop-bench.yaml", max_packets=ENGINE_ONLY)
        best = float("inf")
        for _ in range(args.repeat):
            started = time.perf_counter()
            trace = simulate(scenario)
            best = min(best, time.perf_counter() - started)
        media = trace.packets.num_rows
        reports = sum(
            json.loads(fields)["packets"]
            for kind, fields in zip(
                trace.events.column("kind").to_pylist(),
                trace.events.column("fields").to_pylist(),
                strict=True,
            )
            if kind == "feedback"
        )
        windows = 60_000 // interval
        print(
            f"{interval:>7}ms {media:>10} {reports:>9} {best:>8.2f} {media / best:>12,.0f} "
            f"{best / windows * 1e3:>10.2f}"
        )


if __name__ == "__main__":
    main()
