"""Simulated packets per wall second for 10, 100 and 1000 concurrent G.711 calls of 60 s.

Each size runs the default scenario's path (LTE radio with exponential
jitter and 0.5 % loss, then the core) with all calls up for the whole
60 s. It times the simulator alone (calls, sender, batch path, trace table)
and the simulator plus scoring (jitter buffer, RFC 3550 jitter, E-model),
best of ``--repeat`` runs, and prints one row per size.

    python bench/sim_throughput.py [--calls 10 100 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from voipbed.allocator import keep_large_arrays_in_heap
from voipbed.loader import load_scenario
from voipbed.scoring import score_trace
from voipbed.sim.engine import simulate

# The engine alone, timed beyond the command's budget for a whole run with its report.
ENGINE_ONLY = 1 << 40

DEFAULT_SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "default.yaml"


def _best_of(repeat: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    keep_large_arrays_in_heap()

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print(
        f"{'calls':>6} {'packets':>10} {'sim s':>8} {'sim pkt/s':>12} "
        f"{'+score s':>9} {'e2e pkt/s':>12}"
    )
    for calls in args.calls:
        scenario = load_scenario(
            DEFAULT_SCENARIO,
            [
                f"calls.count={calls}",
                "calls.start_spread=0s",
                "duration=60s",
                "calls.hold_time=null",
            ],
            max_packets=ENGINE_ONLY,
        )
        trace = simulate(scenario)
        packets = trace.packets.num_rows
        sim_s = _best_of(args.repeat, partial(simulate, scenario))
        score_s = _best_of(args.repeat, partial(score_trace, trace.packets, scenario))
        total_s = sim_s + score_s
        print(
            f"{calls:>6} {packets:>10} {sim_s:>8.3f} {packets / sim_s:>12,.0f} "
            f"{total_s:>9.3f} {packets / total_s:>12,.0f}"
        )


if __name__ == "__main__":
    main()
