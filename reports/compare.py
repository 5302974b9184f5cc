"""The comparison report of ``voipbed compare``: headline figures, delay CDFs and per-flow MOS.

Each run has its own colour throughout; the first run (A) is the baseline
that differences and scenario diffs refer to. Inputs are already reduced
(delay quantiles, sorted per-flow MOS), so drawing does not grow with runs'
sizes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .chart import Axis, Chart, Line, Markers, Panel, RefLine
from .html import Plot, environment, make_plot
from .plots import SATISFACTION_MOS, direction_order
from .tables import Cell, Table

if TYPE_CHECKING:
    from voipbed.compare import ComparedRun

__all__ = ["RUN_COLORS", "delay_cdfs", "mos_distributions", "render_comparison"]

RUN_COLORS = ("#1f6fb4", "#e07b00", "#2ca02c", "#9467bd", "#d62728", "#8c564b", "#17becf")
"""One colour per run, in the order given (then repeated)."""

MARKERS_UP_TO = 40
"""Runs with at most this many flows in a direction also mark each flow's MOS."""


def _color(index: int) -> str:
    return RUN_COLORS[index % len(RUN_COLORS)]


def _directions(runs: list[ComparedRun]) -> list[str]:
    present = {d for run in runs for d in run.mos}
    present |= {d for run in runs for d in run.delay_quantiles_ms if d != "all"}
    return direction_order(sorted(present))


def delay_cdfs(runs: list[ComparedRun]) -> Chart:
    """One panel per direction: each run's CDF of one-way network delay, overlaid."""
    from voipbed.compare import QUANTILES

    panels = []
    for direction in _directions(runs):
        panel = Panel(
            title=direction,
            x=Axis("one-way network delay (ms)", grid=True),
            y=Axis("fraction of received packets", low=0.0, high=1.0, grid=True),
            legend="lower right",
            height=240.0,
        )
        for index, run in enumerate(runs):
            quantiles = run.delay_quantiles_ms.get(direction)
            if quantiles is None:
                continue
            p95 = float(np.interp(0.95, QUANTILES, quantiles))
            label = f"{run.label} (p95 {p95:.1f} ms, {run.received[direction]:,} pkts)"
            panel.add(Line(quantiles, QUANTILES, _color(index), width=1.8, label=label))
        if not panel.series:
            panel.message = "no packets received"
        panels.append(panel)
    return Chart(panels or [Panel(message="no packets received")], title="Delay CDF per run")


def mos_distributions(runs: list[ComparedRun]) -> Chart:
    """One panel per direction: each run's flows sorted by MOS, worst first."""
    panels = []
    for direction in _directions(runs):
        panel = Panel(
            title=direction,
            x=Axis("flows sorted by MOS, worst first (% of flows)", low=0.0, high=100.0),
            y=Axis("MOS (E-model)", low=1.0, high=4.6, grid=True),
            legend="lower right",
            height=240.0,
        )
        for mos, name in SATISFACTION_MOS:
            panel.add(RefLine(mos, "#999999", dash="dotted", width=0.6, text=name))
        for index, run in enumerate(runs):
            values = run.mos.get(direction)
            if values is None or not values.size:
                continue
            share = (np.arange(values.size) + 0.5) / values.size * 100.0
            label = f"{run.label} (mean {values.mean():.2f}, {values.size:,} flows)"
            panel.add(Line(share, values, _color(index), width=1.8, step="post", label=label))
            if values.size <= MARKERS_UP_TO:
                panel.add(Markers(share, values, _color(index), size=3.5))
        panels.append(panel)
    return Chart(panels or [Panel(message="no flows")], title="MOS of every flow, per run")


def _figures_table(runs: list[ComparedRun]) -> Table:
    from voipbed.compare import figure_rows

    headers = ["figure", *(run.label for run in runs)]
    rows = [[Cell(row[0], "label"), *(Cell(text) for text in row[1:])] for row in figure_rows(runs)]
    return Table(headers, rows)


def _plots(runs: list[ComparedRun]) -> list[Plot]:
    return [
        make_plot(
            "delay-cdf",
            "Delay distributions",
            delay_cdfs(runs),
            "Cumulative distribution of one-way network delay over every received packet of "
            "each run, per direction (lost packets excluded).",
        ),
        make_plot(
            "mos-flows",
            "MOS per flow",
            mos_distributions(runs),
            "E-model MOS of each flow of each run, sorted worst first; dotted lines: ITU-T "
            "G.109 user-satisfaction limits.",
        ),
    ]


def render_comparison(runs: list[ComparedRun]) -> str:
    """The comparison as one self-contained HTML document."""
    from voipbed.compare import scenario_diff

    diffs = [(run, scenario_diff(runs[0], run)) for run in runs[1:]]
    return (
        environment()
        .get_template("compare.html.j2")
        .render(
            runs=runs,
            table=_figures_table(runs),
            plots=_plots(runs),
            diffs=diffs,
            colors=[_color(i) for i in range(len(runs))],
        )
    )
