"""A sweep: every point of a scenario's ``sweep`` run on its own, then compared in one folder.

``runs/<name>-<UTC>-<hash>/`` holds the resolved scenario (with its sweep),
``points/`` (one ordinary run folder per point), ``points.parquet`` and
``sweep.json`` (one row per point: what it set, where it ran, its headline
figures, or why it failed) and ``report.html``, which ranks the points.
Points run in local worker processes; the table is rewritten as each point
finishes, so an interrupted or partly failed sweep keeps what it finished.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from voipbed.loader import SweepPoint, compact_value
from voipbed.reports.sweep import write_sweep_report
from voipbed.rundir import create_run_dir
from voipbed.runner import RunFailed, run_scenario
from voipbed.scenario import Scenario

__all__ = ["POINT_COLUMNS", "SweepResult", "point_row", "rank_points", "run_sweep"]

# The figures each point contributes to the comparison, from its summary.json.
POINT_COLUMNS = (
    "mos_mean",
    "mos_p5",
    "r_mean",
    "ppl_mean_percent",
    "late_percent",
    "ta_mean_ms",
    "delay_p95_ms",
)


@dataclass(frozen=True)
class SweepResult:
    """Where the sweep is, its table (ranked, best first) and its report."""

    sweep_dir: Path
    points: pd.DataFrame
    report: Path

    @property
    def failed(self) -> int:
        return int((self.points["status"] != "ok").sum())


def _stat(summary: dict[str, Any], key: str, stat: str, scale: float = 1.0) -> float:
    value = summary.get("metrics", {}).get(key, {}).get(stat)
    return float("nan") if value is None else float(value) * scale


def point_row(
    point: SweepPoint, run_dir: str, summary: dict[str, Any] | None, error: str
) -> dict[str, Any]:
    """One row of the sweep table: the point's settings and headline figures (NaN if failed)."""
    row: dict[str, Any] = {"point": point.index, "label": point.label}
    row.update({key: compact_value(value) for key, value in point.settings})
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
            "late_percent": 100.0 * totals["late_discarded"] / sent if sent else float("nan"),
            "ta_mean_ms": _stat(summary, "ta_s", "mean", 1000.0),
            "delay_p95_ms": _stat(summary, "delay_p95_s", "mean", 1000.0),
            "error": error,
        }
    )
    return row


def rank_points(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The table, best first: highest mean MOS, then highest p5 MOS; failed points last."""
    table = pd.DataFrame(list(rows))
    if table.empty:
        return table
    table = table.sort_values(
        ["mos_mean", "mos_p5", "point"], ascending=[False, False, True], na_position="last"
    )
    table.insert(0, "rank", range(1, len(table) + 1))
    return table.reset_index(drop=True)


def _run_point(scenario: Scenario, points_dir: Path) -> tuple[str, dict[str, Any] | None, str]:
    """In a worker: run one point; its folder, its summary (None if it failed) and the error."""
    try:
        result = run_scenario(scenario, points_dir)
    except RunFailed as error:  # said as text: RunFailed does not cross processes as itself
        return f"points/{error.run_dir.name}", None, str(error)
    return f"points/{result.run_dir.name}", result.summary, ""


def _record(sweep_dir: Path, rows: list[dict[str, Any]], total: int) -> pd.DataFrame:
    table = rank_points(rows)
    if not table.empty:
        points = pa.Table.from_pandas(table, preserve_index=False)
        pq.write_table(points, sweep_dir / "points.parquet")
    records = json.loads(table.to_json(orient="records")) if not table.empty else []
    state = {"points_total": total, "points_done": len(rows), "points": records}
    (sweep_dir / "sweep.json").write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    return table


def run_sweep(
    base: Scenario,
    points: Sequence[SweepPoint],
    out_dir: Path,
    *,
    workers: int | None = None,
    on_point: Callable[[SweepPoint, str], None] | None = None,
) -> SweepResult:
    """Run every point (in up to ``workers`` processes) and compare them in a new folder.

    A point that fails is recorded with its error and the others go on;
    ``on_point(point, status)`` is called as each finishes.
    """
    sweep_dir = create_run_dir(out_dir, base)
    resolved = yaml.safe_dump(base.to_yaml_dict(), sort_keys=False, allow_unicode=True)
    (sweep_dir / "scenario.yaml").write_text(resolved, encoding="utf-8")
    points_dir = sweep_dir / "points"
    points_dir.mkdir()
    workers = max(1, min(workers or os.cpu_count() or 1, len(points)))
    rows: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: dict[Future[tuple[str, dict[str, Any] | None, str]], SweepPoint] = {
            pool.submit(_run_point, point.scenario, points_dir): point for point in points
        }
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                point = pending.pop(future)
                try:
                    rows.append(point_row(point, *future.result()))
                except Exception as error:  # a worker that died still leaves the others' rows
                    rows.append(point_row(point, "", None, f"{type(error).__name__}: {error}"))
                _record(sweep_dir, rows, len(points))
                if on_point is not None:
                    on_point(point, rows[-1]["status"])
    table = _record(sweep_dir, rows, len(points))
    report = write_sweep_report(sweep_dir, base=base, scenario_yaml=resolved, points=table)
    return SweepResult(sweep_dir, table, report)
