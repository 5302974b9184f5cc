"""The sweep report's MOS figures: mean MOS over the first two axes as a heatmap, and every
finished point's MOS as a bar.

Like ``reports.sweep_figures``, they take the points table and the sweep's
axes; a point that did not finish is named in its cell and left out of the
bars.
"""

from __future__ import annotations

import itertools
import math
import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .chart import (
    Axis,
    Bars,
    Cells,
    Chart,
    ColorScale,
    Line,
    Markers,
    Panel,
    Text,
    array,
    categories,
)
from .sweep_figures import AxisView, PointGrid, SweepFigure, has_intervals, left_out, tick_text

__all__ = ["MOS_COLORS", "mos_bars", "mos_heatmap"]

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
CI_COLOR = "#222222"


def mos_heatmap(points: pd.DataFrame, axes: Sequence[AxisView]) -> SweepFigure | None:
    """Mean MOS over the first two axes (rows the first's steps, columns the second's),
    averaged over any further axes, the value written in each cell (± its 95 % half-width
    when some point has several seeds); None with fewer than two axes or no finished point."""
    if len(axes) < 2 or not (points["status"] == "ok").any():
        return None
    rows_axis, columns_axis = axes[0], axes[1]
    grid = PointGrid(points, axes)
    repeated = has_intervals(points)
    panel = Panel(
        x=Axis(columns_axis.title, low=-0.5, high=len(columns_axis.ticks) - 0.5, tick_size=10.0),
        y=Axis(
            rows_axis.title,
            low=-0.5,
            high=len(rows_axis.ticks) - 0.5,
            inverted=True,
            tick_size=10.0,
        ),
        height=max(150.0, (52.0 if repeated else 44.0) * len(rows_axis.ticks)),
        color_scale=MOS_COLORS,
    )
    panel.x.ticks = categories(tick_text(t, 24) for t in columns_axis.ticks)
    panel.y.ticks = categories(textwrap.shorten(t, 40, placeholder=" …") for t in rows_axis.ticks)
    cells = [[(math.nan, math.nan, "")] * len(columns_axis.ticks) for _ in rows_axis.ticks]
    for i, j in itertools.product(range(len(rows_axis.ticks)), range(len(columns_axis.ticks))):
        places = grid.places({0: i, 1: j})
        mean, half = grid.value(places, "mos_mean")
        unfinished = {grid.status.get(place, "not run") for place in places} - {"ok"}
        cells[i][j] = (mean, half, ", ".join(sorted(unfinished)))
    colors = [[MOS_COLORS.color(mean) for mean, _, _ in row] for row in cells]
    panel.add(Cells(colors))
    finite = [mean for row in cells for mean, _, _ in row if math.isfinite(mean)]
    best = max(finite, default=math.nan)
    for i, row in enumerate(cells):
        for j, (mean, half, unfinished_text) in enumerate(row):
            ink = _ink(MOS_COLORS.color(mean))
            if not math.isfinite(mean):
                panel.add(Text(j, i, unfinished_text or "no value", ink, 11.0, "middle", "middle"))
                continue
            bold = mean == best
            if repeated and math.isfinite(half):
                panel.add(Text(j, i - 0.14, f"{mean:.2f}", ink, 12.0, "middle", "middle", bold))
                panel.add(Text(j, i + 0.22, f"± {half:.2f}", ink, 10.0, "middle", "middle"))
            else:
                panel.add(Text(j, i, f"{mean:.2f}", ink, 12.0, "middle", "middle", bold))
    chart = Chart([panel], width=min(1000.0, 300.0 + 170.0 * len(columns_axis.ticks)))
    rest = " and ".join(a.title for a in axes[2:])
    caption = "Mean E-model MOS of each point over its seeds; the best is in bold."
    if repeated:
        caption += " Under it: ± the half-width of its 95 % confidence interval over seeds."
    if rest:
        caption += (
            f" Each cell averages the points of every value of {rest} (their intervals "
            "combined); a cell with a point that did not finish says so instead."
        )
    caption += (
        " Narrowband codecs are rated with G.107, wideband ones with G.107.1 (its Annex A "
        "maps both to one MOS scale)." + left_out(points)
    )
    title = f"MOS by {rows_axis.title} and {columns_axis.title}"
    return SweepFigure("grid", title, chart, caption)


def mos_bars(points: pd.DataFrame) -> SweepFigure | None:
    """Mean MOS of each finished point, best at the top, with its p5 (worst flows) as a tick
    and, with several seeds, its 95 % interval as a whisker; None if no point finished."""
    ok = points[points["status"] == "ok"].iloc[::-1]
    if ok.empty:
        return None
    y = np.arange(len(ok), dtype=np.float64)
    labels = [
        f"#{p} {_short(label, 60)}" for p, label in zip(ok["point"], ok["label"], strict=True)
    ]
    panel = Panel(
        x=Axis("MOS (E-model)", low=1.0, high=4.5, grid=True),
        y=Axis(low=-0.6, high=len(ok) - 0.4, tick_size=9.5),
        height=max(60.0, 24.0 * len(ok)),
    )
    panel.y.ticks = categories(labels)
    mean = array(ok["mos_mean"].to_numpy(dtype=np.float64))
    panel.add(Bars(y, mean, BAR_COLOR, 0.8, horizontal=True, label="mean over flows"))
    p5 = array(ok["mos_p5"].to_numpy(dtype=np.float64))
    panel.add(Markers(p5, y, P5_COLOR, "tick", 16.0, "p5 over flows"))
    caption = (
        "Mean MOS over flows (bars) and the 5th percentile over flows (red ticks): "
        "a point whose worst flows fall far below its mean is fragile."
    )
    if has_intervals(points):
        half = array(ok["mos_mean_ci95"].to_numpy(dtype=np.float64))
        nan = np.full_like(y, np.nan)
        low, high = np.clip(mean - half, 1.0, 4.5), np.clip(mean + half, 1.0, 4.5)
        xs = np.column_stack([low, high, nan]).reshape(-1)
        ys = np.column_stack([y, y, nan]).reshape(-1)
        panel.add(Line(xs, ys, CI_COLOR, 1.6, label="95 % CI over seeds"))
        caption += " Black whiskers: the 95 % confidence interval of the mean over seeds."
    return SweepFigure("bars", "MOS per point", Chart([panel], legend="top", width=900.0), caption)


def _ink(background: str) -> str:
    """White or near-black, whichever contrasts more with ``background`` (WCAG 2.1 luminance)."""
    channels = [int(background[k : k + 2], 16) / 255.0 for k in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "#ffffff" if luminance < 0.179 else "#222222"


def _short(text: object, width: int) -> str:
    words = str(text)
    return words if len(words) <= width else words[: width - 1] + "…"
