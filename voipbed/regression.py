"""Regression figures: a run's headline figures against the values recorded beside its scenario.

``scenarios/regression/NAME.yaml`` has ``NAME.expected.json`` beside it::

    {"scenario": "NAME",
     "figures": {"mos.mean": {"value": 4.2791, "tolerance": 0.005}, ...}}

Figures are named as ``expect:`` metrics (``voipbed.expectations``) and
measured the same way from ``summary.json``. A figure further from its
recorded value than its tolerance fails, naming the figure, both values and
the tolerance; so a model change that moves a figure fails CI until the file
is deliberately updated (``voipbed check --update-expected``, which rewrites
the values, keeps the tolerances and says what moved). The simulator is
deterministic for a seed, so the tolerances only absorb floating-point
differences between platforms and library versions; they are far below
what a planner would notice.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voipbed.expectations import Metric, measure, parse_metric

__all__ = [
    "DEFAULT_FIGURES",
    "EXPECTED_SUFFIX",
    "FigureOutcome",
    "compare_figures",
    "expected_path",
    "read_expected",
    "update_expected",
]

EXPECTED_SUFFIX = ".expected.json"

DEFAULT_FIGURES: dict[str, float] = {
    "mos.mean": 0.005,
    "mos.min": 0.005,
    "r_factor.mean": 0.2,
    "uplink.mos.mean": 0.005,
    "downlink.mos.mean": 0.005,
    "ppl_percent.mean": 0.01,
    "loss_percent.mean": 0.01,
    "late_percent.mean": 0.01,
    "delay_mean_s.mean": 1e-4,
    "delay_p95_s.mean": 1e-4,
    "jitter_s.mean": 1e-4,
    "ta_s.mean": 1e-4,
}
"""Figures recorded for a new regression scenario, with their tolerances in the figure's unit
(MOS, R points, percentage points, seconds)."""


@dataclass(frozen=True)
class FigureOutcome:
    """One recorded figure against the run."""

    figure: Metric
    expected: float
    tolerance: float
    measured: float | None

    @property
    def text(self) -> str:
        shown = self.figure.shown
        return f"{self.figure.name} = {shown(self.expected)} ± {shown(self.tolerance)}"

    @property
    def passed(self) -> bool:
        value = self.measured
        return value is not None and abs(value - self.expected) <= self.tolerance

    @property
    def measured_text(self) -> str:
        return "no value" if self.measured is None else self.figure.shown(self.measured)

    def message(self, where: str = "") -> str:
        place = f" ({where})" if where else ""
        wanted = (
            f"recorded {self.figure.shown(self.expected)} ± {self.figure.shown(self.tolerance)}"
        )
        if self.measured is None:
            return f"regression figure {self.figure.name} has no value{place}; {wanted}"
        moved = self.measured - self.expected
        return (
            f"regression figure {self.figure.name} = {self.measured_text}{place}; {wanted} "
            f"(moved by {moved:+.6g})"
        )


def expected_path(scenario_file: Path) -> Path:
    """``NAME.expected.json`` beside ``NAME.yaml``."""
    return scenario_file.with_name(scenario_file.stem + EXPECTED_SUFFIX)


def read_expected(path: Path) -> dict[str, tuple[float, float]]:
    """Each figure's recorded value and tolerance; ``ValueError`` naming the file if malformed."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        figures = data["figures"]
        result = {}
        for name, entry in figures.items():
            parse_metric(str(name))  # a figure is named as an expect: metric
            value, tolerance = float(entry["value"]), float(entry["tolerance"])
            if not (math.isfinite(value) and math.isfinite(tolerance) and tolerance >= 0):
                raise ValueError(f"{name}: value and tolerance must be finite, tolerance >= 0")
            result[str(name)] = (value, tolerance)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: cannot read: {error}") from None
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{path}: not a figures file ({error!r} is missing or wrong)") from None
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    return result


def compare_figures(
    expected: Mapping[str, tuple[float, float]], summary: Mapping[str, Any]
) -> list[FigureOutcome]:
    """Every recorded figure against a run's summary, in the file's order."""
    outcomes = []
    for name, (value, tolerance) in expected.items():
        figure = parse_metric(name)
        outcomes.append(FigureOutcome(figure, value, tolerance, measure(figure, summary).value))
    return outcomes


def update_expected(path: Path, scenario: str, summary: Mapping[str, Any]) -> list[str]:
    """Record the run's figures in ``path`` (its tolerances kept, else the defaults); return
    one line per figure that moved beyond its tolerance, was added or has no value."""
    try:
        recorded = read_expected(path) if path.exists() else {}
    except ValueError:
        recorded = {}  # a malformed file is replaced whole
    names = list(recorded) or list(DEFAULT_FIGURES)
    figures: dict[str, dict[str, float]] = {}
    moved = []
    for name in names:
        old, tolerance = recorded.get(name, (math.nan, DEFAULT_FIGURES.get(name, 0.0)))
        figure = parse_metric(name)
        value = measure(figure, summary).value
        if value is None:
            moved.append(f"{name}: no value in this run, left out")
            continue
        figures[name] = {"value": round(value, 9), "tolerance": tolerance}
        if math.isnan(old):
            moved.append(f"{name}: recorded {figure.shown(value)}")
        elif abs(value - old) > tolerance:
            moved.append(f"{name}: {figure.shown(old)} -> {figure.shown(value)}")
    document = {"scenario": scenario, "figures": figures}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return moved
