"""A sweep's tables: one row per run (point and seed), and one per point over its seeds.

A run's row holds its headline figures from its ``summary.json``. A point's
row holds, for each figure, the mean over the seeds that succeeded and the
half-width of its 95 % confidence interval (``<figure>_ci95``, NaN with one
seed); the points are ranked by mean MOS, then p5 MOS, and a point whose
MOS interval overlaps the one just above it shares its rank (``2=``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from voipbed.loader import SweepPoint, compact_value
from voipbed.sweep_stats import MeanCI, mean_ci95, tie_ranks

__all__ = ["FIGURES", "point_rows", "rank_points", "run_row", "settings_columns"]

# The figures each run contributes to the comparison, from its summary.json.
FIGURES = (
    "mos_mean",
    "mos_p5",
    "r_mean",
    "ppl_mean_percent",
    "late_percent",
    "ta_mean_ms",
    "delay_p95_ms",
)


def _stat(summary: Mapping[str, Any], key: str, stat: str, scale: float = 1.0) -> float:
    value = summary.get("metrics", {}).get(key, {}).get(stat)
    return math.nan if value is None else float(value) * scale


def settings_columns(point: SweepPoint) -> dict[str, str]:
    """The point's value of each swept key, and of each zipped axis (``zip``: its settings)."""
    columns = {key: compact_value(value) for key, value in point.settings}
    columns.update(point.steps)
    return columns


def run_row(
    point: SweepPoint, seed: int, run_dir: str, summary: Mapping[str, Any] | None, error: str
) -> dict[str, Any]:
    """One run's row: its point, seed, settings and headline figures (NaN if it failed)."""
    row: dict[str, Any] = {"point": point.index, "seed": seed, "label": point.label}
    row.update(settings_columns(point))
    row.update({"status": "ok" if summary is not None else "failed", "run_dir": run_dir})
    summary = summary or {}
    totals = summary.get("totals", {})
    sent = totals.get("sent", 0)
    row.update(
        {
            "mos_mean": _stat(summary, "mos", "mean"),
            "mos_p5": _stat(summary, "mos", "p5"),
            "r_mean": _stat(summary, "r_factor", "mean"),
            "ppl_mean_percent": _stat(summary, "ppl_percent", "mean"),
            "late_percent": 100.0 * totals["late_discarded"] / sent if sent else math.nan,
            "ta_mean_ms": _stat(summary, "ta_s", "mean", 1000.0),
            "delay_p95_ms": _stat(summary, "delay_p95_s", "mean", 1000.0),
            "error": error,
        }
    )
    return row


def point_rows(
    points: Sequence[SweepPoint], runs: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One row per point with a recorded run: settings, figures over seeds, status."""
    by_point: dict[int, list[Mapping[str, Any]]] = {}
    for run in runs:
        by_point.setdefault(int(run["point"]), []).append(run)
    rows = []
    for point in points:
        mine = sorted(by_point.get(point.index, []), key=lambda run: point.seeds.index(run["seed"]))
        if mine:
            rows.append(_point_row(point, mine))
    return rows


def _point_row(point: SweepPoint, runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    ok = [run for run in runs if run["status"] == "ok"]
    failed = [run for run in runs if run["status"] != "ok"]
    row: dict[str, Any] = {"point": point.index, "label": point.label}
    row.update(settings_columns(point))
    if failed:
        status = "failed"
    elif len(runs) < len(point.seeds):
        status = "incomplete"
    else:
        status = "ok"
    row["status"] = status
    row["run_dir"] = (ok or runs)[0]["run_dir"]
    for figure in FIGURES:
        interval = mean_ci95([float(run[figure]) for run in ok])
        row[figure] = interval.mean
        row[f"{figure}_ci95"] = interval.half_width
    row["seeds"] = len(ok)
    if len(point.seeds) == 1:  # one run: its error as it is
        row["error"] = failed[0]["error"] if failed else ""
        return row
    errors = [f"seed {run['seed']}: {run['error']}" for run in failed]
    if status == "incomplete":
        errors.append(f"{len(point.seeds) - len(runs)} of {len(point.seeds)} seeds not run yet")
    row["error"] = "; ".join(errors)
    return row


def rank_points(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The points, best first: highest mean MOS, then highest p5 MOS, points without figures
    last; ``rank`` says ties as ties (``2=``): see ``voipbed.sweep_stats.tie_ranks``."""
    table = pd.DataFrame(list(rows))
    if table.empty:
        return table
    table = table.sort_values(
        ["mos_mean", "mos_p5", "point"], ascending=[False, False, True], na_position="last"
    ).reset_index(drop=True)
    intervals = [
        MeanCI(float(mean), float(half), 0)
        for mean, half in zip(table["mos_mean"], table["mos_mean_ci95"], strict=True)
    ]
    table.insert(0, "rank", tie_ranks(intervals))
    return table
