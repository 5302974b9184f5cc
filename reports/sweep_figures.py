"""The sweep report's figures of how each headline figure moves along each axis, and what
the sweep's figures share: the axes as drawn, and the points by their place on them.

The figures take the points table (``points.parquet``: one row per point,
each figure's mean over seeds and its ``_ci95``) and the sweep's axes
(``voipbed.sweep_axes``). A point's place on each axis follows from its
number, since the points are the axes' cross product with the last axis
varying fastest. Only points whose status is ``ok`` are drawn; the others
leave a gap, and the captions name them.
"""

from __future__ import annotations

import itertools
import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from voipbed.loader import compact_value
from voipbed.sweep_axes import SweepAxis

from .chart import (
    Axis,
    Band,
    Chart,
    LegendEntry,
    Line,
    Markers,
    Panel,
    array,
    categories,
)

__all__ = [
    "MAX_LINES",
    "AxisView",
    "PointGrid",
    "SweepFigure",
    "axis_views",
    "has_intervals",
    "left_out",
    "metric_figure",
    "point_place",
    "records",
    "tick_text",
]

MAX_LINES = 6
"""Lines per panel, one per combination of the other axes; more are averaged into one."""
# Okabe and Ito's colour-blind-safe palette ("Color Universal Design", 2008), one per line.
LINE_COLORS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9")
# The figures drawn against each axis: column, panel title, and the range the figure can
# take, to which its confidence band is clipped (MOS: 1 to 4.5, ITU-T G.107 Annex B).
PANELS = (
    ("mos_mean", "mean MOS (E-model)", 1.0, 4.5),
    ("delay_p95_ms", "delay p95 (ms)", 0.0, math.inf),
    ("late_percent", "late discards (% of sent)", 0.0, 100.0),
    ("ppl_mean_percent", "Ppl: packets not played (%)", 0.0, 100.0),
)


@dataclass(frozen=True)
class AxisView:
    """One axis as the figures show it: its title, and per step a tick and a setting text."""

    name: str
    """The points table's column: the key, or ``zip``/``zip[1]`` for a zipped axis."""
    title: str
    """The key, or a zipped axis' keys joined by `` + ``."""
    ticks: tuple[str, ...]
    settings: tuple[str, ...]
    """Per step ``key=value`` (every key of a zipped axis)."""


@dataclass(frozen=True)
class SweepFigure:
    """A chart with its heading and caption."""

    anchor: str
    title: str
    chart: Chart
    caption: str


def axis_views(axes: Sequence[SweepAxis]) -> list[AxisView]:
    """The figures' view of each axis, in the sweep's order."""
    views = []
    for axis in axes:
        ticks = tuple(", ".join(compact_value(v) for v in step) for step in axis.steps)
        settings = tuple(
            ", ".join(f"{k}={compact_value(v)}" for k, v in zip(axis.keys, step, strict=True))
            for step in axis.steps
        )
        views.append(AxisView(axis.name, " + ".join(axis.keys), ticks, settings))
    return views


def records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``table`` as dicts keyed by column name."""
    return [{str(key): value for key, value in row.items()} for row in table.to_dict("records")]


class PointGrid:
    """The points by their place on the axes: the rows of finished ones (``ok``, the ones
    drawn) and every recorded one's status."""

    def __init__(self, points: pd.DataFrame, axes: Sequence[AxisView]) -> None:
        self.sizes = [len(axis.ticks) for axis in axes]
        self.ok: dict[tuple[int, ...], Mapping[str, Any]] = {}
        self.status: dict[tuple[int, ...], str] = {}
        for record in records(points):
            place = point_place(int(record["point"]), axes)
            self.status[place] = str(record["status"])
            if record["status"] == "ok":
                self.ok[place] = record

    def value(self, places: Sequence[tuple[int, ...]], column: str) -> tuple[float, float]:
        """The mean of ``column`` over ``places`` and its combined 95 % half-width (the
        half-widths of independent means add in quadrature); NaN unless every one is drawn."""
        if not places or any(place not in self.ok for place in places):
            return math.nan, math.nan
        means = [float(self.ok[place][column]) for place in places]
        halves = [float(self.ok[place].get(f"{column}_ci95", math.nan)) for place in places]
        mean = math.fsum(means) / len(means)
        half = math.sqrt(math.fsum(h * h for h in halves)) / len(halves)
        return mean, half

    def places(self, fixed: Mapping[int, int]) -> list[tuple[int, ...]]:
        """Every place whose steps on the axes in ``fixed`` are the ones given."""
        ranges = [
            [fixed[a]] if a in fixed else list(range(size)) for a, size in enumerate(self.sizes)
        ]
        return [tuple(place) for place in itertools.product(*ranges)]


def point_place(point: int, axes: Sequence[AxisView]) -> tuple[int, ...]:
    """The step on each axis of point number ``point`` (from 1, the last axis fastest)."""
    rest = point - 1
    steps = []
    for size in reversed([len(axis.ticks) for axis in axes]):
        rest, step = divmod(rest, size)
        steps.append(step)
    return tuple(reversed(steps))


def left_out(points: pd.DataFrame) -> str:
    """A sentence naming the points not drawn (failed or incomplete), or ``""``."""
    mine = points[points["status"] != "ok"].sort_values("point")
    if mine.empty:
        return ""
    named = ", ".join(f"#{p} ({s})" for p, s in zip(mine["point"], mine["status"], strict=True))
    return f" Left out (a gap where they would be): {named}."


def has_intervals(points: pd.DataFrame) -> bool:
    """Whether some point has figures over more than one seed (and so an interval)."""
    return bool(len(points)) and bool((points["seeds"] > 1).any())


def tick_text(text: str, width: int = 18) -> str:
    """``text`` wrapped into at most three lines of about ``width`` characters."""
    return "\n".join(textwrap.wrap(text, width, max_lines=3, placeholder=" …")) or text


def metric_figure(points: pd.DataFrame, axes: Sequence[AxisView], which: int) -> SweepFigure:
    """How each headline figure moves along axis ``which``: one panel per figure, the axis'
    steps on x, each point's mean over seeds as a line with markers and, with more than one
    seed, a band of mean ± its 95 % half-width. One line per combination of the other axes'
    steps when there are at most ``MAX_LINES``, else their mean."""
    axis = axes[which]
    grid = PointGrid(points, axes)
    others = [a for a in range(len(axes)) if a != which]
    combos = list(itertools.product(*(range(len(axes[a].ticks)) for a in others)))
    averaged = len(combos) > MAX_LINES
    lines: list[tuple[str, list[list[tuple[int, ...]]]]] = []
    steps = range(len(axis.ticks))
    if averaged or not others:
        label = "mean over the other axes" if averaged else "mean over seeds"
        lines.append((label, [grid.places({which: step}) for step in steps]))
    else:
        for combo in combos:
            fixed = dict(zip(others, combo, strict=True))
            label = ", ".join(axes[a].settings[s] for a, s in fixed.items())
            lines.append((label, [grid.places({**fixed, which: step}) for step in steps]))
    band = has_intervals(points)
    x = np.arange(len(axis.ticks), dtype=np.float64)
    panels = []
    for column, title, low, high in PANELS:
        panel = Panel(
            title=title,
            x=Axis(axis.title, low=-0.5, high=len(axis.ticks) - 0.5, tick_size=10.0),
            y=Axis(grid=True),
            height=200.0,
        )
        panel.x.ticks = categories(tick_text(t) for t in axis.ticks)
        for k, (label, places) in enumerate(lines):
            color = LINE_COLORS[k % len(LINE_COLORS)]
            values = [grid.value(p, column) for p in places]
            mean = array([v for v, _ in values])
            half = array([h for _, h in values])
            if band:  # fainter as bands pile up, so that each stays visible
                opacity = max(0.07, min(0.22, 0.36 / len(lines)))
                lows, highs = np.clip(mean - half, low, high), np.clip(mean + half, low, high)
                panel.add(Band(x, lows, highs, color, opacity=opacity))
            panel.add(Line(x, mean, color, 1.8, label=label))
            panel.add(Markers(x, mean, color, "dot", 7.0))
        if not any(np.isfinite(line.y).any() for line in panel.of(Line)):
            panel.message = "no value"
        panels.append(panel)
    entries = [
        LegendEntry(label, LINE_COLORS[k % len(LINE_COLORS)]) for k, (label, _) in enumerate(lines)
    ]
    if band:
        entries.append(
            LegendEntry("95 % confidence band over seeds", "#888888", "patch", opacity=0.4)
        )
    chart = Chart(panels, columns=2, legend="top", legend_entries=entries)
    return SweepFigure(
        f"by-{_anchor(axis.name)}",
        f"Figures by {axis.title}",
        chart,
        _metric_caption(points, axes, which, len(combos), averaged, band),
    )


def _metric_caption(
    points: pd.DataFrame,
    axes: Sequence[AxisView],
    which: int,
    combos: int,
    averaged: bool,
    band: bool,
) -> str:
    axis = axes[which]
    other = " and ".join(a.title for k, a in enumerate(axes) if k != which)
    text = f"Each point's mean over its seeds at each value of {axis.title}, in sweep order"
    if averaged:
        text += (
            f", averaged over the {combos} combinations of {other} (more than {MAX_LINES} "
            "to draw one line each); a value is drawn only where every point it averages "
            "finished"
        )
    elif other:
        per = "combination" if len(axes) > 2 else "value"
        text += f"; one line per {per} of {other} (legend; where lines coincide, the last "
        text += "drawn hides the others)"
    text += "."
    if band:
        text += (
            " Shaded: mean ± the half-width of its 95 % confidence interval over seeds "
            "(Student's t), within the figure's range"
        )
        text += ", combined over the averaged points." if averaged else "."
    else:
        text += " One seed per point: no confidence band (repeat with seeds: to get one)."
    return (
        text
        + " Ppl: packets the decoder did not get (network loss plus late discards)."
        + (left_out(points))
    )


def _anchor(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-") or "axis"
