"""The report of a sweep: headline, the points ranked, each point's verdict, and figures.

The points table (``points.parquet``) is ranked already: its ``rank`` strings
(``1``, ``2=`` for ties) are shown as they are. Each point links to its own
report. The figures (``reports.sweep_figures``) show how the headline
figures move along each axis, MOS over the first two axes as a heatmap, and
every point's MOS as bars. When narrowband and wideband codecs are ranked
together, a band column and a note say that their MOS do not compare.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from voipbed.expectations import Expectation
from voipbed.scenario import Scenario
from voipbed.sweep_axes import run_seeds, sweep_axes, sweep_size

from .html import REPORT_NAME, Plot, environment, make_plot
from .sweep_figures import AxisView, axis_views, metric_figure, point_place, records
from .sweep_mos import mos_bars, mos_heatmap
from .sweep_points import PointNotes, expect_text, point_notes
from .tables import Cell, HeadlineItem, Table, fmt_number, mos_class

__all__ = [
    "BAND_WARNING",
    "mixed_bands",
    "sweep_headline",
    "sweep_plots",
    "sweep_table",
    "verdict_table",
    "write_sweep_report",
]

TEMPLATE = "sweep.html.j2"
ENGINE_NAMES = {"sim": "simulator", "emulation": "emulation"}
"""How the report names the engine the runs ran in."""
MAX_TIES_NAMED = 4
"""Tied points the headline names; more are counted."""

BAND_WARNING = (
    "Narrowband and wideband codecs are ranked together. Their MOS are on the same 1 to 4.5 "
    "scale, but ITU-T G.107.1 rates wideband speech on an extended R scale (up to 129, where "
    "G.107 stops at 100) before mapping it to MOS, so a wideband MOS and a narrowband MOS of "
    "the same value do not describe the same experience. Compare points within a band (NB, WB)."
)

# Figures per point, their headers and decimals (the sweep table's columns after the settings).
_FIGURES = (
    ("mos_mean", "MOS mean", 2),
    ("mos_p5", "MOS p5", 2),
    ("r_mean", "R mean", 1),
    ("ppl_mean_percent", "Ppl %", 2),
    ("late_percent", "late %", 2),
    ("ta_mean_ms", "mouth-to-ear ms", 0),
    ("delay_p95_ms", "delay p95 ms", 0),
)


def mixed_bands(notes: Mapping[int, PointNotes]) -> bool:
    """Whether the points include both narrowband and wideband codecs."""
    return {"NB", "WB"} <= {note.band for note in notes.values()}


def _figure(record: Mapping[str, Any], column: str, decimals: int, repeated: bool) -> str:
    text = fmt_number(record[column], decimals)
    half = record.get(f"{column}_ci95", math.nan)
    if repeated and isinstance(half, int | float) and math.isfinite(half):
        text += f" ±\u00a0{fmt_number(half, decimals)}"  # breaks, if at all, before the ±
    return text


def _point_link(record: Mapping[str, Any]) -> str:
    return f"{record['run_dir']}/{REPORT_NAME}" if record.get("seeds", 0) else ""


def sweep_table(
    points: pd.DataFrame,
    axes: Sequence[AxisView],
    notes: Mapping[int, PointNotes],
    seeds: int,
) -> Table:
    """One row per point, best first: rank, point (linking to its report), band when NB and WB
    mix, settings, seeds, figures (``mean ± ci`` with several seeds), status, expectations."""
    band = mixed_bands(notes)
    repeated = seeds > 1
    expect = any(note.expectations for note in notes.values())
    # A zero-width space after each dot lets a long key wrap there in a narrow column.
    keys = [a.title.replace(".", ".\u200b") for a in axes]
    headers = ["rank", "point", *(["band"] if band else []), *keys]
    headers += [*(["seeds"] if repeated else []), *(header for _, header, _ in _FIGURES)]
    headers += ["status", *(["expect"] if expect else [])]
    rows = []
    for record in records(points):
        note = notes.get(int(record["point"]), PointNotes())
        cells = [
            Cell(str(record["rank"]), "label"),
            Cell(f"#{record['point']}", "label", _point_link(record)),
        ]
        if band:
            cells.append(Cell(note.band or "—"))
        place = point_place(int(record["point"]), axes)
        cells += [Cell(axis.ticks[step], "mono") for axis, step in zip(axes, place, strict=True)]
        if repeated:
            cells.append(Cell(f"{record['seeds']}/{seeds}", "num"))
        for column, _, decimals in _FIGURES:
            css = f"num {mos_class(record[column])}" if column.startswith("mos") else "num"
            cells.append(Cell(_figure(record, column, decimals, repeated), css))
        ok = record["status"] == "ok"
        status = "ok" if ok else f"{record['status']}: {record['error']}"
        cells.append(Cell(status, "" if ok else "wrap q-bad"))
        if expect:
            cells.append(Cell(expect_text(note), "wrap q-bad" if note.expect_failed else "wrap"))
        rows.append(cells)
    return Table(headers, rows)


def verdict_table(points: pd.DataFrame, notes: Mapping[int, PointNotes]) -> Table:
    """Per point, best first: what limits its quality (its first seed's verdict) and how its
    runs fared against the scenario's thresholds."""
    expect = any(note.expectations for note in notes.values())
    headers = ["rank", "point", "settings", "what limits quality", *(["expect"] if expect else [])]
    rows = []
    for record in records(points):
        note = notes.get(int(record["point"]), PointNotes())
        verdict = note.verdict or ("; ".join(note.problems) or "no run finished")
        cells = [
            Cell(str(record["rank"]), "label"),
            Cell(f"#{record['point']}", "label", _point_link(record)),
            Cell(str(record["label"]), "mono"),
            Cell(verdict, "prose"),
        ]
        if expect:
            cells.append(Cell(expect_text(note), "q-bad" if note.expect_failed else ""))
        rows.append(cells)
    return Table(headers, rows)


def _ties(points: pd.DataFrame) -> str:
    """``tied with #5 and #7`` for the points sharing the best's rank, or ``""``."""
    rank = str(points["rank"].iloc[0])
    if not rank.endswith("="):
        return ""
    tied = [f"#{p}" for p in points["point"].iloc[1:][points["rank"].iloc[1:] == rank]]
    if len(tied) > MAX_TIES_NAMED:
        more = len(tied) - MAX_TIES_NAMED + 1
        return f"tied with {', '.join(tied[: MAX_TIES_NAMED - 1])} and {more} more"
    if len(tied) == 1:
        return f"tied with {tied[0]}"
    return f"tied with {', '.join(tied[:-1])} and {tied[-1]}"


def sweep_headline(
    points: pd.DataFrame, runs: pd.DataFrame, points_total: int, seeds: int
) -> list[HeadlineItem]:
    """The best point (and the points tied with it), the points and runs, and the failures."""
    runs_total = points_total * seeds
    per = f" ({seeds} seeds per point)" if seeds > 1 else ""
    items = [
        HeadlineItem("Points", f"{points_total}", f"{runs_total} runs{per}"),
    ]
    ok = points[points["status"] == "ok"]
    if not ok.empty and points["status"].iloc[0] == "ok":
        best = points.iloc[0]
        ci = best.get("mos_mean_ci95", math.nan)
        plus = f" ± {fmt_number(ci, 2)}" if seeds > 1 and math.isfinite(ci) else ""
        detail = " · ".join(t for t in (_ties(points), str(best["label"])) if t)
        items.insert(
            0,
            HeadlineItem(
                f"Best: MOS {fmt_number(best['mos_mean'], 2)}{plus}",
                f"#{best['point']}",
                detail,
                mos_class(best["mos_mean"]),
            ),
        )
    failed_runs = int((runs["status"] != "ok").sum()) if not runs.empty else 0
    failed_points = int((points["status"] == "failed").sum())
    not_run = runs_total - len(runs)
    detail = f"{failed_runs} of {runs_total} runs failed"
    if not_run:
        detail += f", {not_run} not run yet"
    items.append(
        HeadlineItem(
            "Failed points", f"{failed_points}", detail, "q-bad" if failed_points else "q-good"
        )
    )
    return items


def sweep_plots(points: pd.DataFrame, axes: Sequence[AxisView]) -> list[Plot]:
    """The report's figures, drawn: one per axis, the heatmap, the bars."""
    figures = [metric_figure(points, axes, which) for which in range(len(axes))]
    figures += [f for f in (mos_heatmap(points, axes), mos_bars(points)) if f is not None]
    return [make_plot(f.anchor, f.title, f.chart, f.caption) for f in figures]


def write_sweep_report(
    sweep_dir: Path,
    *,
    base: Scenario,
    scenario_yaml: str,
    points: pd.DataFrame,
    runs: pd.DataFrame,
    expectations: Mapping[int, Sequence[Expectation]] | None = None,
    engine: str = "sim",
) -> Path:
    """Write ``report.html`` of the sweep into ``sweep_dir``; return its path. ``base`` is the
    resolved scenario with its sweep and seeds; ``points`` and ``runs`` the sweep's tables
    (``voipbed.sweep_table``), whose ``run_dir`` are relative to ``sweep_dir``;
    ``expectations`` each point's thresholds, if known (else read from its runs' folders);
    ``engine`` the engine its runs ran in."""
    axes = axis_views(sweep_axes(base.sweep) if base.sweep is not None else [])
    seeds = len(run_seeds(base.seed, base.seeds))
    notes = point_notes(sweep_dir, runs, expectations)
    finished = not points.empty
    html = (
        environment()
        .get_template(TEMPLATE)
        .render(
            scenario=base.name,
            run_id=sweep_dir.name,
            engine=ENGINE_NAMES.get(engine, engine),
            description=base.description,
            headline=sweep_headline(points, runs, sweep_size(base.sweep), seeds)
            if finished
            else [],
            table=sweep_table(points, axes, notes, seeds) if finished else Table([], []),
            verdicts=verdict_table(points, notes) if finished else Table([], []),
            band_warning=BAND_WARNING if mixed_bands(notes) else "",
            seeds=seeds,
            plots=sweep_plots(points, axes) if finished else [],
            scenario_yaml=scenario_yaml,
        )
    )
    path = sweep_dir / REPORT_NAME
    path.write_text(html, encoding="utf-8")
    return path
