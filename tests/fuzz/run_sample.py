"""Valid extreme mutants through ``voipbed run`` in limited children, and what went wrong.

``choose`` picks valid mutants that changed a value (the extreme ones
first, one per key), shortened with ``--set`` where the mutant leaves the
run's length alone; ``run_all`` runs them with ``tests.fuzz.limited`` and
returns a ``Failure`` for each run that did not end with exit 0 in time: a
scenario that validates must run.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Sequence
from pathlib import Path

from tests.fuzz.limited import GIB, Job, LimitedRunner, Result
from tests.fuzz.mutants import Mutant
from tests.fuzz.verdicts import Failure, Outcome, validate, write_mutant

__all__ = ["choose", "run_all", "run_failure"]

# Mutants worth running (a value changed, the scenario still valid), the extreme ones first.
RUN_OPERATORS = {"extreme_number": 0, "extreme_unit": 0, "variant": 0, "override": 1, "trace": 1}
# Keys whose value no run depends on.
INERT_KEYS = {"name", "description"}
# Run short unless the mutant itself sets these (then its value is the point).
SHORTENING = {"duration": "5s", "calls.count": "2", "calls.start_spread": "0s"}


def _touches(mutant: Mutant, key: str) -> bool:
    return any(
        key == t or key.startswith((f"{t}.", f"{t}[")) or t.startswith(f"{key}.")
        for t in mutant.touched
    )


def _worth_running(mutant: Mutant, outcome: Outcome) -> bool:
    if outcome.status != "ok" or outcome.sweep_points or mutant.operator not in RUN_OPERATORS:
        return False
    if mutant.operator == "variant" and " = " not in mutant.description:
        return False  # an optional part switched on with ordinary values
    return not set(mutant.touched) & INERT_KEYS


def choose(
    validated: Sequence[tuple[Mutant, Outcome]], folder: Path, *, size: int, seed: int
) -> list[tuple[Mutant, Path]]:
    """Up to ``size`` valid mutants worth running, each a different key, written into ``folder``."""
    candidates = [mutant for mutant, outcome in validated if _worth_running(mutant, outcome)]
    random.Random(seed).shuffle(candidates)
    candidates.sort(key=lambda mutant: RUN_OPERATORS[mutant.operator])
    chosen: list[tuple[Mutant, Path]] = []
    keys: set[tuple[str, ...]] = set()
    for mutant in candidates:
        if len(chosen) == size:
            break
        if mutant.touched in keys:
            continue
        shorter = [f"{k}={v}" for k, v in SHORTENING.items() if not _touches(mutant, k)]
        short = dataclasses.replace(mutant, overrides=(*mutant.overrides, *shorter))
        if validate(short, folder / f"check-{mutant.index}").status != "ok":
            continue
        keys.add(mutant.touched)
        chosen.append((short, write_mutant(short, folder / f"run-{mutant.index}")))
    return chosen


def run_failure(mutant: Mutant, result: Result) -> Failure | None:
    """What is wrong with how ``voipbed run`` of a valid ``mutant`` ended, if anything."""
    stderr = result.stderr
    if result.timed_out:
        cause = f"killed after {result.job.timeout_s:g} s"
        return Failure("run did not end", cause, result.describe(), mutant)
    if result.signal is not None:
        return Failure("run killed", f"signal {result.signal}", result.describe(), mutant)
    if "Traceback" in stderr:
        last = stderr.strip().splitlines()[-1]
        sites = re.findall(r'File "([^"]+)", line \d+, in (\w+)', stderr)
        site = f"{'/'.join(Path(sites[-1][0]).parts[-2:])}:{sites[-1][1]}" if sites else "?"
        return Failure("run traceback", f"{last.split(':')[0]} at {site}", last, mutant)
    if result.exit_code not in (0, 1, 2):
        return Failure("run exit code", f"exit {result.exit_code}", result.describe(), mutant)
    if result.exit_code == 2:
        return Failure("run refused what validate accepted", "exit 2", result.describe(), mutant)
    if result.exit_code == 1:
        lines = stderr.strip().splitlines() or [""]
        said = next((line for line in lines if line.startswith("voipbed: ")), lines[-1])
        stage = re.sub(r"; kept in .*", "", said.removeprefix("voipbed: "))
        cause = re.sub(r"\d+(\.\d+)?", "N", stage)[:80]
        return Failure("run failed after validate said ok", cause, said, mutant)
    return None


def run_all(
    runner: LimitedRunner,
    sample: Sequence[tuple[Mutant, Path]],
    out: Path,
    *,
    timeout_s: float,
    memory_bytes: int = 2 * GIB,
) -> list[Failure]:
    """Run each mutant of ``sample`` (its overrides as ``--set``); the failures."""
    jobs = []
    for mutant, path in sample:
        sets = [arg for override in mutant.overrides for arg in ("--set", override)]
        argv = ("run", str(path), *sets, "--out", str(out))
        jobs.append(Job(argv, str(path.parent), str(path.parent / "log"), timeout_s, memory_bytes))
    results = runner.run(jobs)
    found = (
        run_failure(mutant, result) for (mutant, _), result in zip(sample, results, strict=True)
    )
    return [failure for failure in found if failure is not None]
