"""Sweeps repeated over seeds: each point's figures are means with 95 % intervals."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from voipbed.cli import main
from voipbed.sweep_stats import t_quantile_975
from voipbed.sweep_table import FIGURES

SEEDED = """\
name: seeded
duration: 4s
calls: {count: 2, start_spread: 1s}
path:
  - name: radio
    one_way_delay: 10ms
    jitter: {distribution: exponential, scale: 15ms}
    loss: 2%
expect:
  - mos.mean >= 1.0
seeds: 3
seed: 4
sweep:
  jitter_buffer.delay: [20ms, 80ms]
"""


def run(folder: Path, text: str, *options: str) -> tuple[Result, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    scenario = folder / "s.yaml"
    scenario.write_text(text, encoding="utf-8")
    out = folder / "runs"
    result = CliRunner().invoke(main, ["run", str(scenario), "--out", str(out), *options])
    return result, (next(out.iterdir()) if out.exists() else out)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    """Two points, three seeds each, in two worker processes."""
    return run(tmp_path_factory.mktemp("seeded"), SEEDED, "--workers", "2")


def test_every_point_runs_once_per_seed(seeded: tuple[Result, Path]) -> None:
    """Six runs, one folder each, named by point and seed; runs.parquet has one row each."""
    result, sweep_dir = seeded
    assert result.exit_code == 0, result.output
    folders = sorted(path.name for path in (sweep_dir / "points").iterdir())
    assert folders == [f"p00{p}-s{s}" for p in (1, 2) for s in (4, 5, 6)]
    runs = pd.read_parquet(sweep_dir / "runs.parquet")
    assert sorted(zip(runs["point"], runs["seed"], strict=True)) == [
        (p, s) for p in (1, 2) for s in (4, 5, 6)
    ]
    for row in runs.to_dict("records"):
        summary = json.loads((sweep_dir / row["run_dir"] / "summary.json").read_text())
        assert summary["seed"] == row["seed"]
        assert row["mos_mean"] == pytest.approx(summary["metrics"]["mos"]["mean"])
    for _, mine in runs.groupby("point"):  # each seed its own trace
        assert len({(sweep_dir / d / "packets.parquet").read_bytes() for d in mine["run_dir"]}) == 3


def test_point_figures_are_means_over_seeds_with_t_intervals(seeded: tuple[Result, Path]) -> None:
    """Each figure of a point is the mean of its runs' and its _ci95 is t(0.975, 2)*s/sqrt(3)."""
    _, sweep_dir = seeded
    points = pd.read_parquet(sweep_dir / "points.parquet")
    runs = pd.read_parquet(sweep_dir / "runs.parquet")
    assert len(points) == 2 and (points["seeds"] == 3).all()
    for row in points.to_dict("records"):
        mine = runs[runs["point"] == row["point"]]
        for figure in FIGURES:
            values = mine[figure].to_numpy(dtype=float)
            assert row[figure] == pytest.approx(values.mean(), nan_ok=True)
            half = t_quantile_975(2) * values.std(ddof=1) / math.sqrt(3)
            assert row[f"{figure}_ci95"] == pytest.approx(half, abs=1e-12, nan_ok=True)
    assert points["mos_mean"].is_monotonic_decreasing
    first, second = points.to_dict("records")
    overlap = first["mos_mean"] - first["mos_mean_ci95"] <= (
        second["mos_mean"] + second["mos_mean_ci95"]
    )
    assert [first["rank"], second["rank"]] == (["1=", "1="] if overlap else ["1", "2"])


def test_sweep_json_holds_points_and_runs(seeded: tuple[Result, Path]) -> None:
    """sweep.json lists both tables and counts points and runs."""
    _, sweep_dir = seeded
    state = json.loads((sweep_dir / "sweep.json").read_text())
    assert (state["points_total"], state["points_done"]) == (2, 2)
    assert (state["runs_total"], state["runs_done"]) == (6, 6)
    assert len(state["points"]) == 2 and len(state["runs"]) == 6


def test_check_checks_every_run_of_every_seed(seeded: tuple[Result, Path]) -> None:
    """`voipbed check` on a seeded sweep has a line per run, naming point and seed."""
    _, sweep_dir = seeded
    result = CliRunner().invoke(main, ["check", str(sweep_dir)])
    assert result.exit_code == 0, result.output
    assert sum("point " in line and "pass" in line for line in result.stdout.splitlines()) == 6
    assert "point 2 seed 5 (jitter_buffer.delay=80ms)" in result.stdout


def test_seeds_without_a_sweep_are_a_sweep_of_one_point(tmp_path: Path) -> None:
    """A list of seeds and no sweep: one point as written, one run per seed."""
    text = SEEDED.split("seeds:")[0] + "seeds: [7, 2]\n"
    result, sweep_dir = run(tmp_path, text, "--workers", "1")
    assert result.exit_code == 0, result.output
    points = pd.read_parquet(sweep_dir / "points.parquet")
    assert list(points["label"]) == ["as written"] and list(points["seeds"]) == [2]
    assert sorted(p.name for p in (sweep_dir / "points").iterdir()) == ["p001-s2", "p001-s7"]


def test_seed_option_with_a_list_of_seeds_is_refused(tmp_path: Path) -> None:
    """--seed cannot move a list of seeds: exit 2, saying how to set them."""
    text = SEEDED.replace("seeds: 3", "seeds: [1, 2]")
    result, _ = run(tmp_path, text, "--seed", "9")
    assert result.exit_code == 2
    assert "--seed 9" in result.stderr and "--set 'seeds=[...]'" in result.stderr
