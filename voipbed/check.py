"""``voipbed check``: a run's or a sweep's figures against its scenario's ``expect:`` thresholds.

A run folder holds ``scenario.yaml`` (the resolved scenario, its ``expect``
list included) and ``summary.json``; a sweep folder holds ``sweep.json``,
which names each point's run folder. The check reads only those files: it
needs neither the traces the scenario named nor the engine that ran it, so
a run copied from another machine checks the same. A run can also be held
to the figures recorded for a regression scenario (``voipbed.regression``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from voipbed.expectations import (
    Expectation,
    Measured,
    Outcome,
    check_summary,
    parse_expectation,
)
from voipbed.regression import compare_figures, read_expected
from voipbed.scenario_issues import ScenarioError
from voipbed.scenario_yaml import read_scenario_text, read_yaml_document

__all__ = [
    "CheckError",
    "CheckResult",
    "PointCheck",
    "check_folder",
    "check_table",
    "read_expectations",
]

SUMMARY = "summary.json"
SCENARIO = "scenario.yaml"
SWEEP = "sweep.json"


class CheckError(Exception):
    """What to check is missing or unreadable (the command exits 2)."""


class Checked(Protocol):
    """One line of a check: an expectation or a recorded regression figure, and its verdict."""

    @property
    def text(self) -> str: ...

    @property
    def passed(self) -> bool: ...

    @property
    def measured_text(self) -> str: ...

    def message(self, where: str = "") -> str: ...


@dataclass(frozen=True)
class PointCheck:
    """The expectations of one run, or one sweep point, and how each came out."""

    label: str
    """Empty for a run; ``point 3 (calls.codec=G722)`` for a sweep point."""
    run_dir: Path | None
    outcomes: tuple[Checked, ...]
    error: str = ""
    """Why the point has no figures (it failed to run); its expectations are then errors."""

    @property
    def failures(self) -> int:
        return 0 if self.error else sum(not outcome.passed for outcome in self.outcomes)


@dataclass(frozen=True)
class CheckResult:
    """Every point's check, for the table and the JUnit XML."""

    scenario: str
    folder: Path
    points: tuple[PointCheck, ...]

    @property
    def failures(self) -> int:
        return sum(point.failures for point in self.points)

    @property
    def errors(self) -> int:
        return sum(1 for point in self.points if point.error)

    @property
    def ok(self) -> bool:
        return self.failures == 0 and self.errors == 0


def check_folder(folder: Path, expected: Path | None = None) -> CheckResult:
    """Check a run or sweep folder against its scenario's ``expect``, and a run against the
    figures recorded in ``expected``; ``CheckError`` if there is nothing to check."""
    folder = Path(folder)
    if (folder / SWEEP).is_file():
        if expected is not None:
            raise CheckError(f"{folder}: a sweep has no recorded regression figures")
        return _check_sweep(folder)
    if not (folder / SUMMARY).is_file():
        raise CheckError(f"{folder}: not a run or sweep folder (no {SUMMARY} nor {SWEEP} in it)")
    name, expectations = _expectations(folder, required=expected is None)
    summary = _read_json(folder / SUMMARY)
    outcomes: list[Checked] = list(check_summary(expectations, summary))
    if expected is not None:
        try:
            outcomes += compare_figures(read_expected(expected), summary)
        except ValueError as error:
            raise CheckError(str(error)) from None
    return CheckResult(name, folder, (PointCheck("", folder, tuple(outcomes)),))


def _check_sweep(folder: Path) -> CheckResult:
    name, expectations = _expectations(folder, required=True)
    state = _read_json(folder / SWEEP)
    by_run = "runs" in state  # each point's run with each seed is checked
    seeded = by_run and state.get("runs_total") != state.get("points_total")
    rows = state.get("runs" if by_run else "points")
    if not isinstance(rows, list):
        raise CheckError(f"{folder / SWEEP}: no list of points")
    points = []
    for row in sorted(rows, key=lambda row: (int(row.get("point", 0)), int(row.get("seed", 0)))):
        seed = f" seed {row.get('seed')}" if seeded else ""
        label = f"point {row.get('point')}{seed} ({row.get('label', '')})"
        run_dir = folder / str(row.get("run_dir", "")) if row.get("run_dir") else None
        if row.get("status") != "ok" or run_dir is None:
            error = str(row.get("error") or "the point did not run")
            points.append(PointCheck(label, run_dir, _unmeasured(expectations), error))
            continue
        _, mine = _expectations(run_dir, required=True)  # a sweep may vary them too
        summary = _read_json(run_dir / SUMMARY)
        points.append(PointCheck(label, run_dir, tuple(check_summary(mine, summary))))
    missing = int(state.get("runs_total" if by_run else "points_total", len(rows))) - len(rows)
    if missing > 0:
        what = "runs" if by_run else "points"
        error = f"{missing} of the sweep's {what} never finished (the sweep was interrupted)"
        points.append(PointCheck("unfinished points", None, _unmeasured(expectations), error))
    return CheckResult(name, folder, tuple(points))


def _unmeasured(expectations: Sequence[Expectation]) -> tuple[Outcome, ...]:
    return tuple(Outcome(e, Measured(None, "the point did not run")) for e in expectations)


def _expectations(folder: Path, *, required: bool) -> tuple[str, tuple[Expectation, ...]]:
    """The scenario's name and its ``expect`` list, from a run or sweep folder (``CheckError``
    if it has none and one is ``required``)."""
    path = folder / SCENARIO
    name, expectations = read_expectations(path)
    if not expectations and required:
        raise CheckError(f"{path}: the scenario has no expect: thresholds, nothing to check")
    return name or folder.name, expectations


def read_expectations(path: Path) -> tuple[str, tuple[Expectation, ...]]:
    """A resolved scenario file's name and ``expect`` thresholds; ``CheckError`` naming the
    file (and line) when it cannot be read or a threshold does not parse."""
    try:
        data, lines = read_yaml_document(read_scenario_text(path), str(path))
    except ScenarioError as error:
        raise CheckError(str(error)) from None
    texts = data.get("expect") or []
    if not isinstance(texts, list):
        raise CheckError(f"{path}:{lines.get(('expect',), 1)}: expect: not a list of thresholds")
    segments = [str(s.get("name")) for s in data.get("path", []) if isinstance(s, dict)]
    expectations = []
    for index, text in enumerate(texts):
        try:
            expectations.append(parse_expectation(text, segments or None))
        except ValueError as error:
            line = lines.get(("expect", index), 1)
            raise CheckError(f"{path}:{line}: expect[{index}]: {error}") from None
    return str(data.get("name", "")), tuple(expectations)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckError(f"{path}: cannot read: {error}") from None
    if not isinstance(data, dict):
        raise CheckError(f"{path}: not a JSON object")
    return data


def check_table(result: CheckResult) -> list[str]:
    """The check as aligned text lines: (point,) expectation, measured, verdict."""
    by_point = len(result.points) > 1
    rows: list[tuple[str, ...]] = [
        (("point",) if by_point else ()) + ("expectation", "measured", "verdict")
    ]
    for point in result.points:
        for outcome in point.outcomes:
            if point.error:
                cells = ("not run", "ERROR")
            else:
                cells = (outcome.measured_text, "pass" if outcome.passed else "FAIL")
            rows.append(((point.label,) if by_point else ()) + (outcome.text, *cells))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    verdict = "all hold" if result.ok else f"{result.failures} failed"
    if result.errors:
        verdict += f", {result.errors} point(s) did not run"
    lines.append(f"{result.scenario}: {verdict} ({result.folder})")
    return lines
