"""Seeded mutants of every shipped scenario through ``validate``, and a sample through ``run``.

``validate`` runs in-process (``load_sweep``, as the command does) for speed;
hostile files (alias bomb, /dev/zero, a FIFO, 100 MB, deep nesting) and
``run`` go through the real command in limited child processes
(``tests.fuzz.limited``: RLIMIT_AS and a timeout), never in this process.
A failing test lists the first distinct causes, each with one mutant.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuzz import text_mutants
from tests.fuzz.limited import GIB, Job, LimitedRunner, Result
from tests.fuzz.mutants import SCENARIOS, Base, Mutant, generate, shipped
from tests.fuzz.run_sample import choose, run_all
from tests.fuzz.verdicts import Outcome, summarize, validate

ROOT = Path(__file__).resolve().parents[2]
SEED = 20_241_204
MUTANTS = 2000
RUN_SAMPLE = 20
RUN_TIMEOUT_S = 20.0
HOSTILE_TIMEOUT_S = 10.0
MEMORY_BYTES = 2 * GIB
# What validating a hostile file may cost beyond validating default.yaml.
HOSTILE_CPU_S = 1.0
HOSTILE_RSS_BYTES = 100 << 20


@pytest.fixture(scope="module")
def bases() -> list[Base]:
    """Every shipped scenario, as written and with its defaults."""
    return shipped()


@pytest.fixture(scope="module")
def corpus(bases: list[Base]) -> list[Mutant]:
    """The seeded mutants of every shipped scenario."""
    return generate(bases, seed=SEED, count=MUTANTS)


@pytest.fixture(scope="module")
def runner() -> Iterator[LimitedRunner]:
    """Child processes for ``voipbed`` commands, two at a time (CI has two cores)."""
    with LimitedRunner(parallel=2) as limited:
        yield limited


@pytest.fixture(scope="module")
def validated(
    corpus: list[Mutant], runner: LimitedRunner, tmp_path_factory: pytest.TempPathFactory
) -> list[tuple[Mutant, Outcome]]:
    """Each mutant with what validating it gave (the runner starts up meanwhile)."""
    folder = tmp_path_factory.mktemp("mutants")
    return [(mutant, validate(mutant, folder / f"{mutant.index:05d}")) for mutant in corpus]


def test_mutants_are_seeded_and_cover_every_scenario(
    bases: list[Base], corpus: list[Mutant]
) -> None:
    """The same seed gives the same mutants; every scenario and kind of mutation is in them."""
    assert len(corpus) >= 2000
    again = generate(bases, seed=SEED, count=100)
    assert [m.text for m in again] == [m.text for m in corpus[:100]]
    other = generate(bases, seed=SEED + 1, count=100)
    assert [m.text for m in other] != [m.text for m in corpus[:100]]
    assert {m.base for m in corpus} == {path.name for path in SCENARIOS}
    operators = {m.operator for m in corpus}
    expected = {"delete_key", "rename_key", "wrong_type", "extreme_number", "extreme_unit"}
    expected |= {"bad_unit", "variant", "override", "trace", "non_utf8", "deep_nesting"}
    expected |= {"bare_document", "duplicate_key", "tagged_value", "boolean_key"}
    assert expected <= operators, sorted(expected - operators)


@pytest.mark.slow
def test_validate_answers_every_mutant_with_a_located_error_or_ok(
    validated: list[tuple[Mutant, Outcome]],
) -> None:
    """No mutant crashes validation, hangs it, or gets an error without its file:line or --set."""
    statuses = {outcome.status for _, outcome in validated}
    assert {"ok", "refused"} <= statuses | {"failed"}, statuses  # the harness sees both kinds
    failures = [failure for _, outcome in validated for failure in outcome.failures]
    assert not failures, summarize(failures)


def _hostile_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {"/dev/zero": Path("/dev/zero")}
    bomb = folder / "alias-bomb.yaml"
    bomb.write_bytes(text_mutants.alias_bomb())
    files["alias bomb (9**9 values, ~300 B)"] = bomb
    fifo = folder / "fifo.yaml"
    os.mkfifo(fifo)
    files["a FIFO nobody writes"] = fifo
    big = folder / "big.yaml"
    text_mutants.write_big_file(big, 100 << 20)
    files["a 100 MB file"] = big
    for style in ("sequence", "mapping", "block"):
        deep = folder / f"deep-{style}.yaml"
        deep.write_bytes(text_mutants.deep_nesting(10_000, style))
        files[f"{style} nested 10,000 deep"] = deep
    return files


# --set values that are wrong whatever the file says; each must be blamed on the --set.
BAD_SETS = ("calls.count=1e400", "path[9].loss=2%", "nonsense", "=", "duration=1e300s")


def _origin_problems(result: Result, path: Path) -> list[str]:
    """stderr lines that are neither ``FILE:LINE: ...`` nor ``--set ...``."""
    located = re.compile(rf"^({re.escape(str(path))}:\d+|--set)\b")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return [line for line in lines if not located.match(line) and not line.startswith(" ")]


@pytest.mark.slow
def test_hostile_files_and_sets_are_refused_within_limits(
    runner: LimitedRunner, tmp_path: Path
) -> None:
    """validate refuses hostile input with exit 2 and a message, costing little over a good file."""
    default = ROOT / "scenarios" / "default.yaml"
    baseline_job = Job(("validate", str(default)), str(tmp_path), str(tmp_path / "log-baseline"))
    cases: dict[str, tuple[str, ...]] = {
        name: ("validate", str(path)) for name, path in _hostile_files(tmp_path).items()
    }
    for override in BAD_SETS:
        cases[f"--set {override}"] = ("validate", str(default), "--set", override)
    jobs = [
        Job(argv, str(tmp_path), str(tmp_path / f"log-{i}"), HOSTILE_TIMEOUT_S, MEMORY_BYTES)
        for i, argv in enumerate(cases.values())
    ]
    baseline, *results = runner.run([baseline_job, *jobs])
    assert baseline.exit_code == 0, baseline.describe()
    problems = []
    for (name, argv), result in zip(cases.items(), results, strict=True):
        wrong = []
        if result.timed_out or result.exit_code != 2:
            wrong.append("not exit 2")
        if "Traceback" in result.stderr:
            wrong.append("a traceback")
        if not name.startswith("--set") and argv[1] not in result.stderr:
            wrong.append("no file name in the message")
        if result.cpu_s > baseline.cpu_s + HOSTILE_CPU_S:
            wrong.append(f"{result.cpu_s - baseline.cpu_s:.1f} s more CPU than default.yaml")
        if result.max_rss_bytes > baseline.max_rss_bytes + HOSTILE_RSS_BYTES:
            extra = (result.max_rss_bytes - baseline.max_rss_bytes) >> 20
            wrong.append(f"{extra} MiB more memory than default.yaml")
        if name.startswith("--set") and _origin_problems(result, Path(argv[1])):
            wrong.append(f"lines without file:line or --set: {_origin_problems(result, default)}")
        if wrong:
            problems.append(f"- {name}: {', '.join(wrong)}\n    {result.describe()}")
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_valid_extreme_mutants_run_to_the_end_within_limits(
    validated: list[tuple[Mutant, Outcome]], runner: LimitedRunner, tmp_path: Path
) -> None:
    """A sample of valid extreme mutants runs to exit 0 within its time and memory limits."""
    sample = choose(validated, tmp_path, size=RUN_SAMPLE, seed=SEED)
    assert len(sample) >= RUN_SAMPLE // 2, f"only {len(sample)} valid mutants to run"
    failures = run_all(runner, sample, tmp_path / "runs", timeout_s=RUN_TIMEOUT_S)
    assert not failures, summarize(failures, limit=RUN_SAMPLE)
