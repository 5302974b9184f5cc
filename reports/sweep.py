"""The report of a sweep: its points ranked by MOS, with links to each point's own report.

With two swept keys the MOS is also drawn as a grid (rows the first key's
values, columns the second's), which is how "which codec with which jitter
buffer?" reads best; otherwise as bars, one per point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from voipbed.scenario import Scenario

from .html import REPORT_NAME, Plot, environment, figure_to_data_uri
from .tables import Cell, HeadlineItem, Table, fmt_number, mos_class

__all__ = ["mos_bars", "mos_grid", "sweep_headline", "sweep_table", "write_sweep_report"]

TEMPLATE = "sweep.html.j2"

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


def sweep_table(points: pd.DataFrame, keys: Sequence[str]) -> Table:
    """One row per point, best first, linking to the point's report; failed points say why."""
    headers = ["rank", *keys, *(header for _, header, _ in _FIGURES), "status"]
    rows = []
    for record in points.to_dict("records"):
        href = f"{record['run_dir']}/{REPORT_NAME}" if record["status"] == "ok" else ""
        cells = [Cell(str(record["rank"]), "label", href)]
        cells += [Cell(str(record.get(key, "")), "mono") for key in keys]
        for column, _, decimals in _FIGURES:
            css = mos_class(record[column]) if column.startswith("mos") else ""
            cells.append(Cell(fmt_number(record[column], decimals), css))
        status = record["status"] if record["status"] == "ok" else f"failed: {record['error']}"
        cells.append(Cell(status, "" if record["status"] == "ok" else "q-bad"))
        rows.append(cells)
    return Table(headers, rows)


def sweep_headline(points: pd.DataFrame) -> list[HeadlineItem]:
    """The best and the worst point by mean MOS, and how many points ran."""
    ok = points[points["status"] == "ok"]
    items = [HeadlineItem("Points", f"{len(ok)} / {len(points)}", "finished / in the sweep")]
    if ok.empty:
        return items
    best, worst = ok.iloc[0], ok.iloc[-1]
    for name, row in (("Best", best), ("Worst", worst)):
        items.append(
            HeadlineItem(
                f"{name}: MOS {fmt_number(row['mos_mean'], 2)}",
                f"#{row['point']}",
                str(row["label"]),
                mos_class(row["mos_mean"]),
            )
        )
    return items


def mos_grid(points: pd.DataFrame, rows_key: str, columns_key: str) -> Figure:
    """Mean MOS of each combination of two swept keys, as an annotated grid."""
    row_values = list(dict.fromkeys(points.sort_values("point")[rows_key]))
    column_values = list(dict.fromkeys(points.sort_values("point")[columns_key]))
    grid = np.full((len(row_values), len(column_values)), np.nan)
    for record in points.to_dict("records"):
        grid[row_values.index(record[rows_key]), column_values.index(record[columns_key])] = record[
            "mos_mean"
        ]
    fig = Figure(figsize=(1.8 + 1.9 * len(column_values), 1.2 + 0.55 * len(row_values)))
    ax = fig.add_subplot()
    image = ax.imshow(grid, cmap="RdYlGn", vmin=1.0, vmax=4.5, aspect="auto")
    ax.set_xticks(range(len(column_values)), [_wrap(v) for v in column_values], fontsize=8)
    ax.set_yticks(range(len(row_values)), row_values, fontsize=8)
    ax.set_xlabel(columns_key)
    ax.set_ylabel(rows_key)
    best = np.nanmax(grid) if np.isfinite(grid).any() else math.nan
    for (i, j), value in np.ndenumerate(grid):
        text = "failed" if not np.isfinite(value) else f"{value:.2f}"
        weight = "bold" if value == best else "normal"
        ax.text(j, i, text, ha="center", va="center", fontsize=9, fontweight=weight)
    fig.colorbar(image, ax=ax, label="mean MOS (E-model)")
    fig.tight_layout()
    return fig


def mos_bars(points: pd.DataFrame) -> Figure:
    """Mean MOS of each point, best at the top, with its p5 (worst flows) as a tick."""
    ok = points[points["status"] == "ok"].iloc[::-1]
    fig = Figure(figsize=(8.0, 1.0 + 0.32 * max(len(ok), 1)))
    ax = fig.add_subplot()
    y = np.arange(len(ok))
    ax.barh(y, ok["mos_mean"], color="#1f6fb4", label="mean over flows")
    ax.plot(ok["mos_p5"], y, "|", color="#b3261e", markersize=12, label="p5 over flows")
    labels = [f"#{p} {_wrap(label, 60)}" for p, label in zip(ok["point"], ok["label"], strict=True)]
    ax.set_yticks(y, labels)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlim(1.0, 4.5)
    ax.set_xlabel("MOS (E-model)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def _wrap(text: object, width: int = 28) -> str:
    words = str(text)
    return words if len(words) <= width else words[: width - 1] + "…"


def _plots(points: pd.DataFrame, keys: Sequence[str]) -> list[Plot]:
    plots = []
    ok = points[points["status"] == "ok"]
    if len(keys) == 2 and not ok.empty:
        plots.append(
            Plot(
                "grid",
                f"MOS by {keys[0]} and {keys[1]}",
                figure_to_data_uri(mos_grid(points, keys[0], keys[1])),
                "Mean E-model MOS over all flows of each point; the best is in bold. "
                "Narrowband codecs are rated with G.107, wideband ones with G.107.1 "
                "(its Annex A maps both to one MOS scale).",
            )
        )
    if not ok.empty:
        plots.append(
            Plot(
                "bars",
                "MOS per point",
                figure_to_data_uri(mos_bars(points)),
                "Mean MOS over flows (bars) and the 5th percentile over flows (red ticks): "
                "a point whose worst flows fall far below its mean is fragile.",
            )
        )
    return plots


def write_sweep_report(
    sweep_dir: Path, *, base: Scenario, scenario_yaml: str, points: pd.DataFrame
) -> Path:
    """Write ``report.html`` of the sweep into ``sweep_dir``; return its path."""
    keys = list(base.sweep or {})
    html = (
        environment()
        .get_template(TEMPLATE)
        .render(
            scenario=base.name,
            run_id=sweep_dir.name,
            description=base.description,
            headline=sweep_headline(points) if not points.empty else [],
            table=sweep_table(points, keys) if not points.empty else Table([], []),
            settings_count=len(keys),
            plots=_plots(points, keys) if not points.empty else [],
            scenario_yaml=scenario_yaml,
        )
    )
    path = sweep_dir / REPORT_NAME
    path.write_text(html, encoding="utf-8")
    return path
