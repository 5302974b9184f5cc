"""Signalling per wall second: 10 000 idle phones registered and keeping alive for an hour.

Every phone registers over UDP (REGISTER, 401, REGISTER, 200 OK, refreshed at
90 % of an hour), sends an RFC 5626 STUN keep-alive every 29 s through a NAT
with a 120 s UDP timeout, and takes ``--calls-per-hour`` incoming calls, over
an LTE radio (RRC from IDLE, 0.5 % loss) and a core segment. It times the
simulator alone, best of ``--repeat`` runs, and prints the registrations,
keep-alives and incoming calls, the registrations and incoming call set-ups
per wall second, how many times faster than real time the hour ran, and the
machine's load average before and after (other work on a shared machine
slows the run down).

    python bench/signalling.py [--phones 10000] [--duration 3600] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

from voipbed.loader import parse_scenario
from voipbed.sim.engine import simulate

SCENARIO = """
name: signalling-bench
seed: 1
duration: {duration}s
calls: {{count: 1, hold_time: 10s}}
signalling:
  nat: {{udp_timeout: 120s}}
  phones: {{count: {phones}, keepalive: 29s, incoming_calls_per_hour: {calls}}}
path:
  - {{name: radio, one_way_delay: 20ms, jitter: {{distribution: exponential, scale: 2ms}},
     loss: 0.5%}}
  - {{name: core, one_way_delay: 15ms}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--phones", type=int, default=10_000)
    parser.add_argument("--duration", type=float, default=3600.0)
    parser.add_argument("--calls-per-hour", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; {args.phones} phones, {args.duration:g} s"
    )
    load_before = os.getloadavg()[0]
    text = SCENARIO.format(phones=args.phones, duration=args.duration, calls=args.calls_per_hour)
    scenario = parse_scenario(text, "signalling-bench.yaml")
    best = float("inf")
    trace = None
    for _ in range(args.repeat):
        started = time.perf_counter()
        trace = simulate(scenario)
        best = min(best, time.perf_counter() - started)
    assert trace is not None
    load_after = os.getloadavg()[0]
    phones = [
        json.loads(fields)
        for kind, fields in zip(
            trace.events.column("kind").to_pylist(),
            trace.events.column("fields").to_pylist(),
            strict=True,
        )
        if kind == "phone"
    ]
    registrations = sum(p["registrations"] + p["registrations_failed"] for p in phones)
    keepalives = sum(p["keepalives"] for p in phones)
    calls = sum(p["incoming_calls"] for p in phones)
    print(
        f"{'registrations':>14} {'keep-alives':>12} {'calls':>7} {'wall s':>8} "
        f"{'reg+calls/s':>12} {'x real time':>12}"
    )
    print(
        f"{registrations:>14} {keepalives:>12} {calls:>7} {best:>8.2f} "
        f"{(registrations + calls) / best:>12,.0f} {args.duration / best:>12.1f}"
    )
    print(f"load average (1 min): {load_before:.2f} before, {load_after:.2f} after")


if __name__ == "__main__":
    main()
