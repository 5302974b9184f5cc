"""Fuzz the scenarios further than CI does: more mutants, other seeds, more runs.

    .venv/bin/python -m tests.fuzz.explore --seed 7 --count 10000 --runs 100

prints every distinct cause found (validate and run), each with one mutant,
and writes each failing mutant's files under ``--keep`` to reproduce it.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from tests.fuzz.limited import LimitedRunner
from tests.fuzz.mutants import generate, shipped
from tests.fuzz.run_sample import choose, run_all
from tests.fuzz.verdicts import Failure, summarize, validate, write_mutant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--run-timeout", type=float, default=30.0)
    parser.add_argument("--keep", type=Path, default=Path("fuzz-failures"))
    args = parser.parse_args()
    corpus = generate(shipped(), seed=args.seed, count=args.count)
    with tempfile.TemporaryDirectory() as scratch, LimitedRunner() as runner:
        folder = Path(scratch)
        validated = [(m, validate(m, folder / f"v{m.index:06d}")) for m in corpus]
        failures: list[Failure] = [f for _, outcome in validated for f in outcome.failures]
        print(summarize(failures, limit=1000))
        sample = choose(validated, folder / "runs", size=args.runs, seed=args.seed)
        run_failures = run_all(runner, sample, folder / "out", timeout_s=args.run_timeout)
        print(f"\nrun: {len(sample)} mutants")
        print(summarize(run_failures, limit=1000))
    for failure in failures + run_failures:
        mutant = failure.mutant
        kept = write_mutant(mutant, args.keep / f"{args.seed}-{mutant.index:06d}")
        kept.with_name("overrides").write_text("\n".join(mutant.overrides) + "\n")


if __name__ == "__main__":
    main()
