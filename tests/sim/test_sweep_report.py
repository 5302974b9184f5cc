"""The sweep report: figures against each axis with bands over seeds, the heatmap, the ranked
table with intervals and ties, each point's verdict and expectations, NB and WB flagged."""

from __future__ import annotations

import html
import itertools
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from voipbed.cli import main
from voipbed.expectations import check_summary, parse_expectation
from voipbed.reports.chart import Band, Line, Markers, Text
from voipbed.reports.sweep import BAND_WARNING, sweep_headline
from voipbed.reports.sweep_figures import MAX_LINES, AxisView, axis_views, metric_figure
from voipbed.reports.sweep_mos import mos_bars, mos_heatmap
from voipbed.sweep_axes import sweep_axes
from voipbed.sweep_table import FIGURES

EXPECT = "late_percent.mean < 5%"
SEEDED = f"""\
name: report-sweep
duration: 4s
calls: {{count: 2, start_spread: 1s}}
path:
  - name: radio
    one_way_delay: 10ms
    jitter: {{distribution: exponential, scale: 15ms}}
    loss: 1%
expect:
  - {EXPECT}
seeds: 2
sweep:
  calls.codec: [PCMU, G722]
  jitter_buffer.delay: [20ms, 120ms]
"""
# One seed, narrowband codecs only, no thresholds.
SINGLE = (
    SEEDED.replace("seeds: 2\n", "")
    .replace("[PCMU, G722]", "[PCMU, AMR-12.2]")
    .replace(f"expect:\n  - {EXPECT}\n", "")
)


def _sweep(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    scenario = folder / "sweep.yaml"
    scenario.write_text(text, encoding="utf-8")
    out = folder / "runs"
    result = CliRunner().invoke(main, ["run", str(scenario), "--out", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    (sweep_dir,) = out.iterdir()
    return sweep_dir


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two codecs (one narrowband, one wideband) by two buffer delays, two seeds each."""
    return _sweep(tmp_path_factory.mktemp("seeded"), SEEDED)


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two narrowband codecs by two buffer delays, one seed."""
    return _sweep(tmp_path_factory.mktemp("single"), SINGLE)


def _points(sweep_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(sweep_dir / "points.parquet")


def _axes(text: str) -> list[AxisView]:
    return axis_views(sweep_axes(yaml.safe_load(text)["sweep"]))


def _page(sweep_dir: Path) -> str:
    return (sweep_dir / "report.html").read_text(encoding="utf-8")


def _section(page: str, anchor: str) -> str:
    return page.split(f'<section id="{anchor}">')[1].split("</section>")[0]


def _rows(page: str, anchor: str = "points") -> list[str]:
    """The rows of a section's table, in order, as HTML."""
    return [row.split("</tr>")[0] for row in _section(page, anchor).split("<tr>")[2:]]


def _row(page: str, point: int, anchor: str = "points") -> str:
    (row,) = [r for r in _rows(page, anchor) if f'href="points/p{point:03d}-s' in r]
    return row


def _summary(sweep_dir: Path, run_dir: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((sweep_dir / run_dir / "summary.json").read_text())
    return data


def test_each_axis_has_a_line_per_other_value_with_a_band_over_seeds(seeded: Path) -> None:
    """With two seeds: per axis, four panels, one line per value of the other axis with one
    point per step at that point's mean, and around each line its band of mean ± ci95."""
    points = _points(seeded)
    axes = _axes(SEEDED)
    for which, axis in enumerate(axes):
        other = axes[1 - which]
        figure = metric_figure(points, axes, which)
        assert len(figure.chart.panels) == 4
        for panel in figure.chart.panels:
            lines, bands = panel.of(Line), panel.of(Band)
            assert len(lines) == len(bands) == len(panel.of(Markers)) == len(other.ticks)
            assert all(len(line.x) == len(axis.ticks) for line in lines)
        mos = figure.chart.panels[0]
        assert "MOS" in mos.title
        for line, band, value in zip(mos.of(Line), mos.of(Band), other.ticks, strict=True):
            assert line.label == f"{other.name}={value}"
            for step, tick in enumerate(axis.ticks):
                mine = points[(points[axis.name] == tick) & (points[other.name] == value)]
                (row,) = mine.to_dict("records")
                mean, half = row["mos_mean"], row["mos_mean_ci95"]
                assert line.y[step] == pytest.approx(mean)
                assert band.low[step] == pytest.approx(max(1.0, mean - half))
                assert band.high[step] == pytest.approx(min(4.5, mean + half))
        assert "95 % confidence" in figure.caption


def test_one_seed_draws_lines_without_a_band(single: Path) -> None:
    """With one seed every panel has its lines and no band, and the caption says so."""
    points = _points(single)
    axes = _axes(SINGLE)
    for which in range(len(axes)):
        figure = metric_figure(points, axes, which)
        assert all(panel.of(Line) and not panel.of(Band) for panel in figure.chart.panels)
        assert "no confidence band" in figure.caption


def test_the_heatmap_writes_each_mean_and_with_seeds_its_interval(
    seeded: Path, single: Path
) -> None:
    """Two keys give a heatmap with each point's mean MOS written in its cell, and "± ci"
    under it when there are several seeds (not with one)."""
    for sweep_dir, text, repeated in ((seeded, SEEDED, True), (single, SINGLE, False)):
        points = _points(sweep_dir)
        figure = mos_heatmap(points, _axes(text))
        assert figure is not None and figure.title.startswith("MOS by calls.codec and")
        texts = [t.text for t in figure.chart.panels[0].of(Text)]
        for row in points.to_dict("records"):
            assert f"{row['mos_mean']:.2f}" in texts
            assert (f"± {row['mos_mean_ci95']:.2f}" in texts) == repeated
        assert any(t.startswith("±") for t in texts) == repeated
        assert figure.title in _page(sweep_dir)


def test_the_table_ranks_as_points_parquet_with_intervals(seeded: Path) -> None:
    """The table lists the points in the order and with the rank strings of points.parquet
    (ties as "2="), each linking to its report, seeds "2/2" and every figure as "mean ± ci"."""
    points = _points(seeded)
    page = _page(seeded)
    rows = _rows(page)
    assert len(rows) == len(points)
    for row, record in zip(rows, points.to_dict("records"), strict=True):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        assert cells[0] == record["rank"]
        assert f'href="{record["run_dir"]}/report.html">#{record["point"]}</a>' in cells[1]
        assert "2/2" in cells
        assert sum("±" in cell for cell in cells) == len(FIGURES) - _without_interval(record)
        assert f"{record['mos_mean']:.2f} ±\u00a0{record['mos_mean_ci95']:.2f}" in row


def _without_interval(record: dict[str, Any]) -> int:
    """How many figures of a point have no interval (no value in any seed, e.g. p5)."""
    return sum(not math.isfinite(record[f"{figure}_ci95"]) for figure in FIGURES)


def test_each_points_verdict_sentence_is_shown(seeded: Path) -> None:
    """Each point's row in the verdict table holds its first seed's verdict sentence."""
    points = _points(seeded)
    page = _page(seeded)
    for record in points.to_dict("records"):
        sentence = _summary(seeded, record["run_dir"])["verdict"]["sentence"]
        assert sentence
        assert sentence in html.unescape(_row(page, record["point"], "verdicts"))


def test_narrowband_and_wideband_ranked_together_are_flagged(seeded: Path, single: Path) -> None:
    """PCMU (G.107, R to 100) with G722 (G.107.1, R to 129): a band column saying NB or WB per
    point and the warning above the table; two narrowband codecs: neither."""
    page = _page(seeded)
    assert BAND_WARNING in html.unescape(_section(page, "points"))
    assert "G.107.1" in BAND_WARNING and "129" in BAND_WARNING
    for record in _points(seeded).to_dict("records"):
        scale = _summary(seeded, record["run_dir"])["r_scale_max"]
        band = "NB" if record["calls.codec"] == "PCMU" else "WB"
        assert scale == (100 if band == "NB" else 129)
        assert f"<td>{band}</td>" in _row(page, record["point"])
    other = _page(single)
    assert "NB and WB together" not in other and "<th>band</th>" not in other


def test_an_expectation_failing_on_some_runs_shows_in_the_points_row(seeded: Path) -> None:
    """Each point's row says how its runs fared against the expect: threshold, counted from
    the runs' own summaries: "2/2 hold", or "k of 2 runs fail <threshold>"."""
    points = _points(seeded)
    runs = pd.read_parquet(seeded / "runs.parquet")
    page = _page(seeded)
    expectation = parse_expectation(EXPECT)
    failing = 0
    for record in points.to_dict("records"):
        mine = runs[runs["point"] == record["point"]]
        fails = sum(
            not check_summary([expectation], _summary(seeded, run_dir))[0].passed
            for run_dir in mine["run_dir"]
        )
        row = _row(page, record["point"])
        if fails:
            assert f"{fails} of 2 runs fail {EXPECT}" in html.unescape(row)
            assert "q-bad" in row.split(f"{fails} of 2 runs fail")[0].rsplit("<td", 1)[1]
        else:
            assert "2/2 hold" in row
        failing += fails > 0
    assert 0 < failing < len(points)  # the buffers' delays put points on both sides


def _synthetic(sizes: tuple[int, ...], seeds: int, failed: tuple[int, ...] = ()) -> pd.DataFrame:
    """A points table for axes a, b, c, ... of ``sizes`` steps: MOS rising with the point."""
    names = "abcdef"[: len(sizes)]
    rows = []
    for point, place in enumerate(itertools.product(*(range(n) for n in sizes)), start=1):
        row: dict[str, Any] = {"point": point, "label": f"point {point}"}
        row.update({name: f"v{step}" for name, step in zip(names, place, strict=True)})
        ok = point not in failed
        row.update(status="ok" if ok else "failed", run_dir=f"points/p{point:03d}-s1")
        for k, figure in enumerate(FIGURES):
            row[figure] = 1.0 + 0.05 * point + k if ok else math.nan
            row[f"{figure}_ci95"] = 0.01 * point if ok and seeds > 1 else math.nan
        row.update(seeds=seeds if ok else 0, error="" if ok else "boom")
        rows.append(row)
    table = pd.DataFrame(rows).sort_values("mos_mean", ascending=False, na_position="last")
    table.insert(0, "rank", [str(k) for k in range(1, len(table) + 1)])
    return table.reset_index(drop=True)


def _synthetic_axes(sizes: tuple[int, ...]) -> list[AxisView]:
    sweep = {name: [f"v{k}" for k in range(n)] for name, n in zip("abcdef", sizes, strict=False)}
    return axis_views(sweep_axes(sweep))


def test_more_than_six_other_combinations_are_averaged_into_one_line() -> None:
    """Three axes of three steps: against a, nine combinations of b and c, so one line, each
    value the mean over them, and its band their intervals combined; the caption says so."""
    sizes = (3, 3, 3)
    points, axes = _synthetic(sizes, 2), _synthetic_axes(sizes)
    figure = metric_figure(points, axes, 0)
    panel = figure.chart.panels[0]
    (line,) = panel.of(Line)
    (band,) = panel.of(Band)
    for step in range(3):
        mine = points[points["a"] == f"v{step}"]
        assert len(mine) == 9 > MAX_LINES
        assert line.y[step] == pytest.approx(mine["mos_mean"].mean())
        half = math.sqrt((mine["mos_mean_ci95"] ** 2).sum()) / 9
        assert band.high[step] - line.y[step] == pytest.approx(half)
    assert "averaged over the 9 combinations of b and c" in figure.caption
    heatmap = mos_heatmap(points, axes)
    assert heatmap is not None and "averages the points of every value of c" in heatmap.caption


def test_a_failed_point_leaves_a_gap_and_is_named() -> None:
    """A failed point is no value on its line or in its heatmap cell, and the captions name
    it; the points around it are drawn."""
    sizes = (3, 2)
    points, axes = _synthetic(sizes, 1, failed=(3,)), _synthetic_axes(sizes)
    figure = metric_figure(points, axes, 0)
    first = figure.chart.panels[0].of(Line)[0]  # b = v0: points 1, 3, 5
    assert math.isnan(first.y[1]) and np.isfinite(first.y[[0, 2]]).all()
    assert "#3 (failed)" in figure.caption
    heatmap = mos_heatmap(points, axes)
    assert heatmap is not None and "#3 (failed)" in heatmap.caption
    assert "failed" in [t.text for t in heatmap.chart.panels[0].of(Text)]
    bars = mos_bars(points)
    assert bars is not None
    assert len(bars.chart.panels[0].y.ticks or []) == len(points) - 1


def test_the_headline_names_the_best_point_its_ties_and_the_failures() -> None:
    """The best card names the best point and those tied with it; the others count points,
    runs and failures."""
    points = _synthetic((2, 3), 3, failed=(1,))
    points["rank"] = ["1=", "1=", "1=", "4", "5", "6"]
    runs = pd.DataFrame(
        {"point": p, "seed": s, "status": "failed" if p == 1 and s == 1 else "ok"}
        for p in range(1, 7)
        for s in (1, 2, 3)
    )
    best, count, failures = sweep_headline(points, runs, 6, 3)
    first, second, third = points["point"].iloc[:3]
    assert best.value == f"#{first}"
    assert f"tied with #{second} and #{third}" in best.detail
    assert "±" in best.label
    assert (count.value, count.detail) == ("6", "18 runs (3 seeds per point)")
    assert (failures.value, failures.detail) == ("1", "1 of 18 runs failed")
