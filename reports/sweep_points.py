"""What each sweep point's run folders say beyond its figures: its verdict, its codec's R
scale, and how its runs fared against the scenario's ``expect:`` thresholds.

A point's verdict and R scale come from its first successful seed's
``summary.json``; its expectations are read from each successful run's
``scenario.yaml`` (a sweep may vary them) and checked with
``voipbed.expectations.check_summary`` against that run's summary. A file
that cannot be read is said in the notes, never raised.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from voipbed.check import CheckError, read_expectations
from voipbed.expectations import Expectation, check_summary

__all__ = ["NARROWBAND_R_MAX", "PointNotes", "band_name", "expect_text", "point_notes"]

SUMMARY = "summary.json"
SCENARIO = "scenario.yaml"
NARROWBAND_R_MAX = 100.0
"""The top of R's scale for narrowband codecs (ITU-T G.107); wideband ones are rated on
G.107.1's scale up to 129."""


@dataclass(frozen=True)
class RunCheck:
    """One run's expectations: the texts of those that fail, with the value measured."""

    failed: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class PointNotes:
    """A point's verdict sentence, R scale and expectation outcome over its runs."""

    verdict: str = ""
    r_scale_max: float | None = None
    expectations: int = 0
    """How many thresholds the point's scenario sets (0: none, nothing to say)."""
    checks: tuple[RunCheck, ...] = ()
    """One per run with a summary, in seed order."""
    problems: tuple[str, ...] = ()
    """Files that could not be read."""

    @property
    def band(self) -> str:
        return band_name(self.r_scale_max)

    @property
    def expect_failed(self) -> bool:
        return any(check.failed for check in self.checks)


def band_name(r_scale_max: float | None) -> str:
    """``NB`` for G.107's scale (R up to 100), ``WB`` for G.107.1's (up to 129), else ``""``."""
    if r_scale_max is None or not math.isfinite(r_scale_max):
        return ""
    return "NB" if r_scale_max <= NARROWBAND_R_MAX else "WB"


def expect_text(notes: PointNotes) -> str:
    """How the point's runs fared: ``3/3 hold``, ``2 of 3 runs fail mos.p5 >= 3.6``, or with
    one run ``fails mos.p5 >= 3.6 (3.41)``; empty without thresholds."""
    if not notes.expectations:
        return ""
    runs = len(notes.checks)
    if runs == 0:
        return "not checked: no run finished"
    held = sum(not check.failed for check in notes.checks)
    if held == runs:
        return f"{held}/{runs} hold"
    if runs == 1:
        return "; ".join(f"fails {text} ({value})" for text, value in notes.checks[0].failed)
    counts: dict[str, int] = {}
    for check in notes.checks:
        for text, _ in check.failed:
            counts[text] = counts.get(text, 0) + 1
    return "; ".join(f"{count} of {runs} runs fail {text}" for text, count in counts.items())


def point_notes(
    sweep_dir: Path,
    runs: pd.DataFrame,
    expectations: Mapping[int, Sequence[Expectation]] | None = None,
) -> dict[int, PointNotes]:
    """The notes of every point that has a recorded run, by point number.

    ``expectations`` gives each point's ``expect`` thresholds when the caller has them;
    otherwise they are read from each run's resolved scenario.
    """
    if runs.empty:
        return {}
    by_point: dict[int, list[Mapping[Any, Any]]] = {}
    for row in runs.to_dict("records"):
        by_point.setdefault(int(row["point"]), []).append(row)
    known = expectations or {}
    return {
        point: _notes(sweep_dir, rows, known.get(point) if expectations is not None else None)
        for point, rows in by_point.items()
    }


def _notes(
    sweep_dir: Path, rows: Sequence[Mapping[Any, Any]], given: Sequence[Expectation] | None
) -> PointNotes:
    verdict, scale = "", None
    expectations = 0
    checks: list[RunCheck] = []
    problems: list[str] = []
    for row in rows:
        if row.get("status") != "ok" or not row.get("run_dir"):
            continue
        run_dir = sweep_dir / str(row["run_dir"])
        try:
            summary = _read_summary(run_dir / SUMMARY)
            mine = list(given) if given is not None else _read_expectations(run_dir)
        except (OSError, ValueError, CheckError) as error:
            problems.append(f"{row['run_dir']}: {error}")
            continue
        if not checks:
            verdict, scale = _verdict(summary), _scale(summary)
        expectations = max(expectations, len(mine))
        outcomes = check_summary(mine, summary)
        failed = tuple((o.text, o.measured_text) for o in outcomes if not o.passed)
        checks.append(RunCheck(failed))
    return PointNotes(verdict, scale, expectations, tuple(checks), tuple(problems))


def _read_expectations(run_dir: Path) -> list[Expectation]:
    return list(read_expectations(run_dir / SCENARIO)[1])


def _read_summary(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def _verdict(summary: Mapping[str, Any]) -> str:
    verdict = summary.get("verdict")
    if isinstance(verdict, Mapping) and verdict.get("sentence"):
        return str(verdict["sentence"])
    return ""


def _scale(summary: Mapping[str, Any]) -> float | None:
    value = summary.get("r_scale_max")
    return float(value) if isinstance(value, int | float) else None
