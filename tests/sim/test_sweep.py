"""Sweeps: every point runs, the table ranks them, the report links them, progress is told."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

import voipbed.sweep_exec
from voipbed.cli import _progress_text, main
from voipbed.loader import load_scenario, load_sweep
from voipbed.runner import RunFailed
from voipbed.sweep import SweepProgress, run_sweep, time_left

MATRIX = Path(__file__).resolve().parents[2] / "scenarios" / "codec-jb-matrix.yaml"

SWEEP = """\
name: small-sweep
duration: 4s
calls: {count: 2, start_spread: 1s}
path:
  - name: radio
    one_way_delay: 10ms
    jitter: {distribution: exponential, scale: 15ms}
    loss: 1%
sweep:
  calls.codec: [PCMU, G722]
  jitter_buffer.delay: [20ms, 60ms, 120ms]
"""


def run_sweep_cli(tmp_path: Path, *extra: str) -> tuple[Result, Path]:
    scenario = tmp_path / "sweep.yaml"
    scenario.write_text(SWEEP, encoding="utf-8")
    out = tmp_path / "runs"
    result = CliRunner().invoke(main, ["run", str(scenario), "--out", str(out), *extra])
    folders = list(out.iterdir()) if out.exists() else []
    assert len(folders) == 1, result.output
    return result, folders[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    """One sweep run in two worker processes, shared by the tests that only read it."""
    return run_sweep_cli(tmp_path_factory.mktemp("sweep"), "--workers", "2")


def test_every_point_runs_and_the_table_holds_its_summary(finished: tuple[Result, Path]) -> None:
    """Six points, six run folders; each row's figures are that point's own summary."""
    result, sweep_dir = finished
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(str(sweep_dir / "report.html"))
    table = pd.read_parquet(sweep_dir / "points.parquet")
    assert sorted(table["point"]) == [1, 2, 3, 4, 5, 6]
    assert (table["status"] == "ok").all()
    for row in table.to_dict("records"):
        summary = json.loads((sweep_dir / row["run_dir"] / "summary.json").read_text())
        assert summary["engine"] == "sim"
        assert row["mos_mean"] == pytest.approx(summary["metrics"]["mos"]["mean"])
        assert (sweep_dir / row["run_dir"] / "report.html").exists()
    assert sorted(table["run_dir"]) == [f"points/p00{i}-s1" for i in range(1, 7)]
    assert [int(rank.rstrip("=")) for rank in table["rank"]] == sorted(
        int(rank.rstrip("=")) for rank in table["rank"]
    )
    assert table.loc[0, "rank"] in ("1", "1=")
    assert table["mos_mean"].is_monotonic_decreasing
    assert (table["seeds"] == 1).all() and table["mos_mean_ci95"].isna().all()


def test_a_longer_fixed_buffer_discards_fewer_late_packets(finished: tuple[Result, Path]) -> None:
    """On a jittery path, late discards fall as the fixed buffer's delay grows, per codec."""
    _, sweep_dir = finished
    table = pd.read_parquet(sweep_dir / "points.parquet")
    for _, rows in table.groupby("calls.codec"):
        late = rows.sort_values("jitter_buffer.delay", key=lambda s: s.str[:-2].astype(int))
        assert late["late_percent"].is_monotonic_decreasing
        assert late["late_percent"].iloc[0] > late["late_percent"].iloc[-1]


def test_the_report_ranks_and_links_every_point(finished: tuple[Result, Path]) -> None:
    """The sweep report links each point's report and draws, as inline SVG, the figures
    against each of the two keys, the two-key grid and the bars, loading nothing from the
    network."""
    _, sweep_dir = finished
    html = (sweep_dir / "report.html").read_text(encoding="utf-8")
    table = pd.read_parquet(sweep_dir / "points.parquet")
    for run_dir in table["run_dir"]:
        assert f'href="{run_dir}/report.html"' in html
    assert "MOS by calls.codec and jitter_buffer.delay" in html
    assert "Figures by calls.codec" in html and "Figures by jitter_buffer.delay" in html
    assert html.count("<svg ") == 4 and "data:image" not in html
    assert "http://" not in html and "https://" not in html


def test_a_failed_point_is_recorded_and_the_others_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One point failing leaves the rest finished, says so, and exits 1."""
    real = voipbed.sweep_exec.run_scenario

    def fail_g722_at_60ms(scenario, out_dir, on_stage=None, **engine):  # type: ignore[no-untyped-def]
        if scenario.calls.codec == "G722" and scenario.jitter_buffer.delay_s == 0.060:
            run_dir = out_dir / "broken"
            run_dir.mkdir()
            raise RunFailed("score", run_dir, ValueError("made to fail"))
        return real(scenario, out_dir, on_stage, **engine)

    monkeypatch.setattr(voipbed.sweep_exec, "run_scenario", fail_g722_at_60ms)
    result, sweep_dir = run_sweep_cli(tmp_path, "--workers", "1")
    assert result.exit_code == 1
    assert "1 of 6 runs failed" in result.output
    state = json.loads((sweep_dir / "sweep.json").read_text())
    assert state["points_done"] == 6 and state["runs_done"] == 6
    failed = [p for p in state["points"] if p["status"] != "ok"]
    assert [p["point"] for p in failed] == [5]
    assert "made to fail" in failed[0]["error"]
    assert state["points"][-1]["point"] == 5  # failed points rank last
    assert "failed: score failed: made to fail" in (sweep_dir / "report.html").read_text()


def test_the_codec_jitter_buffer_matrix_validates_to_twelve_points() -> None:
    """The shipped matrix is four codecs times three jitter buffers."""
    result = CliRunner().invoke(main, ["validate", str(MATRIX)])
    assert result.exit_code == 0, result.output
    assert "(12 sweep points)" in result.output


def test_progress_counts_runs_done_failed_running_and_time_left(tmp_path: Path) -> None:
    """The progress callback sees every run finish, never more running than workers, and a
    time left once a run has finished, 0 at the end."""
    scenario = tmp_path / "sweep.yaml"
    scenario.write_text(SWEEP, encoding="utf-8")
    states: list[SweepProgress] = []
    result = run_sweep(
        load_scenario(scenario),
        load_sweep(scenario),
        tmp_path / "runs",
        workers=2,
        on_progress=states.append,
    )
    assert [state.done for state in states] == [0, 1, 2, 3, 4, 5, 6]
    assert all(state.total == 6 and state.failed == 0 for state in states)
    assert states[0].running == 2 and states[0].left_s is None
    assert all(0 <= state.running <= 2 for state in states) and states[-1].running == 0
    assert all(state.left_s is not None for state in states[1:]) and states[-1].left_s == 0.0
    assert result.computed == 6 and result.failed == 0


def test_time_left_follows_the_pace_of_the_runs_done() -> None:
    """Time left is the time per run so far times the runs left; unknown before the first."""
    assert time_left(30.0, 3, 6) == pytest.approx(60.0)
    assert time_left(30.0, 0, 6) is None
    assert time_left(30.0, 3, 0) == 0.0


ZIPPED = SWEEP.replace(
    "  calls.codec: [PCMU, G722]\n",
    "  zip: {calls.codec: [PCMU, G722], calls.ptime: [20ms, 40ms]}\n",
)


def test_a_zipped_axis_is_a_column_and_an_axis_of_the_grid(tmp_path: Path) -> None:
    """A zip and one key: six points, the zip's settings in a column of their own, each
    zipped key in its own column, and the report's grid drawn over the two axes."""
    scenario = tmp_path / "zipped.yaml"
    scenario.write_text(ZIPPED, encoding="utf-8")
    out = tmp_path / "runs"
    result = CliRunner().invoke(main, ["run", str(scenario), "--out", str(out), "--workers", "2"])
    assert result.exit_code == 0, result.output
    (sweep_dir,) = out.iterdir()
    table = pd.read_parquet(sweep_dir / "points.parquet").sort_values("point")
    assert list(table["zip"])[::3] == [
        "calls.codec=PCMU, calls.ptime=20ms",
        "calls.codec=G722, calls.ptime=40ms",
    ]
    assert list(table["calls.ptime"]) == ["20ms"] * 3 + ["40ms"] * 3
    assert table["label"].iloc[-1] == (
        "calls.codec=G722, calls.ptime=40ms, jitter_buffer.delay=120ms"
    )
    html = (sweep_dir / "report.html").read_text(encoding="utf-8")
    assert "MOS by calls.codec + calls.ptime and jitter_buffer.delay" in html
    assert "Figures by calls.codec + calls.ptime" in html


def test_the_progress_line_says_failed_running_and_time_left() -> None:
    """The bar's text: failures, runs in progress, and the time left as a clock."""
    assert _progress_text(SweepProgress(4, 1, 2, 10, 185.0)) == "1 failed, 2 running, 3:05 left"
    assert _progress_text(SweepProgress(0, 0, 2, 10, None)).endswith("time left unknown")
    assert _progress_text(SweepProgress(1, 0, 2, 10, 3725.0)).endswith("1:02:05 left")
