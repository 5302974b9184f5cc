"""Wall time of the ``voipbed`` command as a user meets it: a fresh process for every call.

Times ``voipbed --help``, ``voipbed --version``, ``voipbed validate`` and
``voipbed run`` (into a temporary folder) on one scenario, best and median of
``--repeat`` calls each, after one warm-up run so that numba's kernel cache
and Python's bytecode caches exist, as on any run after the first. The
children get this environment without ``PYTHONDONTWRITEBYTECODE``, so the
warm-up writes the bytecode an installed package has. Beside wall time, the
median CPU time (user + system) of the children: on a machine shared with
other work it moves less than wall time. Targets: 0.3 s for ``--help`` and
``--version``, 1 s for the default run end to end.

    python bench/cli.py [--repeat 5] [--scenario scenarios/default.yaml]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "default.yaml"


@dataclass(frozen=True)
class Case:
    """One command line to time, and its target in seconds (None: no target)."""

    label: str
    args: tuple[str, ...]
    target_s: float | None


def voipbed_command() -> list[str]:
    """The ``voipbed`` entry point next to this Python, else ``python -m voipbed``."""
    script = Path(sys.executable).with_name("voipbed")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "voipbed"]


def child_environment() -> dict[str, str]:
    """This environment, letting the children write bytecode caches as an install does."""
    return {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


@dataclass(frozen=True)
class Timing:
    """Wall and CPU (user + system) seconds of one call."""

    wall_s: float
    cpu_s: float


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_call(argv: Sequence[str], env: Mapping[str, str]) -> Timing:
    """Wall and CPU seconds of one call of ``argv``; raises if it exits with an error."""
    cpu_before = _children_cpu_s()
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited with {done.returncode}:\n{done.stderr.strip()[-2000:]}"
        )
    return Timing(elapsed, _children_cpu_s() - cpu_before)


def cases(scenario: Path, out_dir: Path) -> list[Case]:
    """The four commands, with the run writing under ``out_dir``."""
    return [
        Case("voipbed --help", ("--help",), 0.3),
        Case("voipbed --version", ("--version",), 0.3),
        Case(f"voipbed validate {scenario.name}", ("validate", str(scenario)), None),
        Case(f"voipbed run {scenario.name}", ("run", str(scenario), "--out", str(out_dir)), 1.0),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="calls per command")
    parser.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO)
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    command = voipbed_command()
    env = child_environment()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; load average before: "
        + " ".join(f"{load:.2f}" for load in os.getloadavg())
    )
    out_dir = Path(tempfile.mkdtemp(prefix="voipbed-bench-cli-"))
    try:
        runs = cases(args.scenario, out_dir)
        warm_up = runs[-1]
        time_call([*command, *warm_up.args], env)  # numba cache and bytecode in place
        print(f"\nbest and median of {args.repeat} fresh processes after one warm-up run\n")
        print("| command | best s | median s | median CPU s | target s |")
        print("|---|---:|---:|---:|---:|")
        for case in runs:
            timings = [time_call([*command, *case.args], env) for _ in range(args.repeat)]
            wall = [t.wall_s for t in timings]
            cpu = statistics.median(t.cpu_s for t in timings)
            target = f"{case.target_s:.1f}" if case.target_s is not None else "-"
            print(
                f"| `{case.label}` | {min(wall):.3f} | {statistics.median(wall):.3f} "
                f"| {cpu:.3f} | {target} |"
            )
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    print("\nload average after: " + " ".join(f"{load:.2f}" for load in os.getloadavg()))


if __name__ == "__main__":
    main()
