"""The emulation's fixed time per run: wall clock spent outside the scenario's duration.

Runs a short scenario ``--runs`` times as ``voipbed run --engine emulation`` does (the
engine's ``emulate``, then ``finish_run``: trace, metrics, summary, report) and prints,
per step of the engine (its ``on_step`` names) and of the run, the mean and worst seconds
over the runs. The ``calls`` step holds the scenario's duration, so it is shown less that
duration; ``fixed`` is the whole run less the duration. ``slack to t0`` is how long before
``t0`` the set-up was done (the engine's ``emulation_ready`` event): time waited on purpose,
the room a busy machine has. Needs root and the emulation's tools (``make sysdeps``).

The default scenario is one PCMU call of 10 s over two segments (the shape of
``tests/emulation/test_engine.py``'s); ``--calls 12`` runs 8 baresip calls and 4 light
calls; ``--scenario FILE`` runs a scenario file instead.

    python bench/emulation_overhead.py [--runs 3] [--calls 1] [--scenario FILE]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from voipbed.emulation.engine import emulate, missing_prerequisites
from voipbed.loader import load_scenario, parse_scenario
from voipbed.rundir import create_run_dir
from voipbed.runner import finish_run
from voipbed.scenario import Scenario

SCENARIO = """\
name: emulation-overhead
duration: 10s
calls: {{count: {calls}, codec: PCMU, ptime: 20ms, start_spread: 1s, hold_time: 9s}}
path:
  - name: radio
    one_way_delay: 10ms
    capacity: 2Mbps
    queue: {{packets: 50}}
    loss: 5%
  - name: core
    one_way_delay: 20ms
    jitter: {{distribution: uniform, scale: 4ms}}
radio: {{rrc: null}}
"""


def one_run(scenario: Scenario, out: Path) -> dict[str, float]:
    """Seconds per step of one emulated run (``calls`` less the scenario's duration),
    ``fixed`` (the run less the duration) and ``slack to t0``."""
    marks: list[tuple[str, float]] = []

    def mark(name: str) -> None:
        marks.append((name, time.monotonic()))

    run_dir = create_run_dir(out, scenario)
    started = time.monotonic()
    mark("start")
    emulated = emulate(scenario, run_dir, on_step=mark)
    mark("finish run")
    finish_run(
        emulated.trace,
        scenario,
        run_dir,
        engine="emulation",
        started=time.perf_counter(),
        enter=lambda _name: None,
        pesq=emulated.pesq,
    )
    ended = time.monotonic()
    marks.append(("end", ended))
    steps = {name: after - at for (name, at), (_, after) in itertools.pairwise(marks)}
    steps.pop("start", None)  # checks and planning before the first step: milliseconds
    steps["calls"] -= scenario.duration_s
    steps["fixed"] = ended - started - scenario.duration_s
    events = emulated.trace.events.to_pylist()
    ready = [json.loads(e["fields"]) for e in events if str(e["kind"]) == "emulation_ready"]
    steps["slack to t0"] = float(ready[0].get("setup_slack_s", 0.0)) if ready else 0.0
    return steps


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--calls", type=int, default=1, help="calls of the default scenario")
    parser.add_argument("--scenario", type=Path, help="a scenario file instead of the default")
    args = parser.parse_args()
    if args.scenario is not None:
        scenario = load_scenario(args.scenario)
    else:
        scenario = parse_scenario(SCENARIO.format(calls=args.calls), "<bench>")
    missing = missing_prerequisites(scenario)
    if missing:
        print(f"bench/emulation_overhead.py: {'; '.join(missing)}", file=sys.stderr)
        return 2
    if args.runs < 1:
        print("bench/emulation_overhead.py: --runs must be at least 1", file=sys.stderr)
        return 2
    results: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="voipbed-overhead-bench-") as tmp:
        for _ in range(args.runs):
            results.append(one_run(scenario, Path(tmp)))
    print(
        f"# {scenario.name}: {scenario.calls.count} call(s), {scenario.duration_s:g} s, "
        f"{len(scenario.path)} segment(s); {args.runs} run(s), {os.cpu_count()} CPUs"
    )
    print("| step | mean s | worst s | what it waits for |")
    print("|---|---:|---:|---|")
    for name, what in (
        ("speech", "espeak-ng and sox make each side's speech"),
        ("network", "namespaces, veths, bridges; the links start (t0 planned); Kamailio"),
        ("calls", "registrations, t0, the calls, teardown; less the scenario's duration"),
        ("phones", "the idle phones' agents finish"),
        ("capture", "the links' records read into the packets table; events, manifest"),
        ("pesq", "PESQ of each baresip flow"),
        ("finish run", "trace, metrics, summary and report written"),
        ("fixed", "the whole run less the scenario's duration"),
        ("slack to t0", "of the above: set-up done, waiting for t0"),
    ):
        values = [result[name] for result in results if name in result]
        if values:
            mean = sum(values) / len(values)
            print(f"| {name} | {mean:.2f} | {max(values):.2f} | {what} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
