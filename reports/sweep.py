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

from voipbed.scenario import Scenario

from .chart import Axis, Bars, Cells, Chart, ColorScale, Markers, Panel, Text, array, categories
from .html import REPORT_NAME, Plot, environment, make_plot
from .tables import Cell, HeadlineItem, Table, fmt_number, mos_class

__all__ = ["mos_bars", "mos_grid", "sweep_headline", "sweep_table", "write_sweep_report"]

TEMPLATE = "sweep.html.j2"

MOS_COLORS = ColorScale(
    "mean MOS (E-model)",
    1.0,
    4.5,
    # ColorBrewer's 11-class RdYlGn scheme: red for low, yellow in the middle, green for high.
    (
        "#a50026",
        "#d73027",
        "#f46d43",
        "#fdae61",
        "#fee08b",
        "#ffffbf",
        "#d9ef8b",
        "#a6d96a",
        "#66bd63",
        "#1a9850",
        "#006837",
    ),
)
BAR_COLOR = "#1f6fb4"
P5_COLOR = "#b3261e"

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


def mos_grid(points: pd.DataFrame, rows_key: str, columns_key: str) -> Chart:
    """Mean MOS of each combination of two swept keys, as an annotated grid."""
    row_values = list(dict.fromkeys(points.sort_values("point")[rows_key]))
    column_values = list(dict.fromkeys(points.sort_values("point")[columns_key]))
    grid = np.full((len(row_values), len(column_values)), np.nan)
    for record in points.to_dict("records"):
        grid[row_values.index(record[rows_key]), column_values.index(record[columns_key])] = record[
            "mos_mean"
        ]
    panel = Panel(
        x=Axis(columns_key, low=-0.5, high=len(column_values) - 0.5, tick_size=10.0),
        y=Axis(rows_key, low=-0.5, high=len(row_values) - 0.5, inverted=True, tick_size=10.0),
        height=44.0 * len(row_values),
        color_scale=MOS_COLORS,
    )
    panel.x.ticks = categories(_wrap(v) for v in column_values)
    panel.y.ticks = categories(str(v) for v in row_values)
    panel.add(Cells([[MOS_COLORS.color(float(v)) for v in row] for row in grid]))
    best = np.nanmax(grid) if np.isfinite(grid).any() else math.nan
    for (i, j), value in np.ndenumerate(grid):
        text = "failed" if not np.isfinite(value) else f"{value:.2f}"
        ink = _ink(MOS_COLORS.color(float(value)))
        panel.add(Text(j, i, text, ink, 12.0, "middle", "middle", bold=bool(value == best)))
    return Chart([panel], width=min(1000.0, 240.0 + 190.0 * len(column_values)))


def mos_bars(points: pd.DataFrame) -> Chart:
    """Mean MOS of each point, best at the top, with its p5 (worst flows) as a tick."""
    ok = points[points["status"] == "ok"].iloc[::-1]
    y = np.arange(len(ok), dtype=np.float64)
    labels = [f"#{p} {_wrap(label, 60)}" for p, label in zip(ok["point"], ok["label"], strict=True)]
    panel = Panel(
        x=Axis("MOS (E-model)", low=1.0, high=4.5, grid=True),
        y=Axis(low=-0.6, high=len(ok) - 0.4, tick_size=9.5),
        legend="lower right",
        height=max(60.0, 24.0 * len(ok)),
    )
    panel.y.ticks = categories(labels)
    mean = array(ok["mos_mean"].to_numpy(dtype=np.float64))
    panel.add(Bars(y, mean, BAR_COLOR, 0.8, horizontal=True, label="mean over flows"))
    p5 = array(ok["mos_p5"].to_numpy(dtype=np.float64))
    panel.add(Markers(p5, y, P5_COLOR, "tick", 16.0, "p5 over flows"))
    return Chart([panel], width=900.0)


def _ink(background: str) -> str:
    """White or near-black, whichever contrasts more with ``background`` (WCAG 2.1 luminance)."""
    channels = [int(background[k : k + 2], 16) / 255.0 for k in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "#ffffff" if luminance < 0.179 else "#222222"


def _wrap(text: object, width: int = 28) -> str:
    words = str(text)
    return words if len(words) <= width else words[: width - 1] + "…"


def _plots(points: pd.DataFrame, keys: Sequence[str]) -> list[Plot]:
    plots = []
    ok = points[points["status"] == "ok"]
    if len(keys) == 2 and not ok.empty:
        plots.append(
            make_plot(
                "grid",
                f"MOS by {keys[0]} and {keys[1]}",
                mos_grid(points, keys[0], keys[1]),
                "Mean E-model MOS over all flows of each point; the best is in bold. "
                "Narrowband codecs are rated with G.107, wideband ones with G.107.1 "
                "(its Annex A maps both to one MOS scale).",
            )
        )
    if not ok.empty:
        plots.append(
            make_plot(
                "bars",
                "MOS per point",
                mos_bars(points),
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
