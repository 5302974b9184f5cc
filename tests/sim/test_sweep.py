"""Sweeps through the CLI: every point runs, the table ranks them, the report links them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

import voipbed.sweep
from voipbed.cli import main
from voipbed.runner import RunFailed

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
    assert list(table["rank"]) == [1, 2, 3, 4, 5, 6]
    assert table["mos_mean"].is_monotonic_decreasing


def test_a_longer_fixed_buffer_discards_fewer_late_packets(finished: tuple[Result, Path]) -> None:
    """On a jittery path, late discards fall as the fixed buffer's delay grows, per codec."""
    _, sweep_dir = finished
    table = pd.read_parquet(sweep_dir / "points.parquet")
    for _, rows in table.groupby("calls.codec"):
        late = rows.sort_values("jitter_buffer.delay", key=lambda s: s.str[:-2].astype(int))
        assert late["late_percent"].is_monotonic_decreasing
        assert late["late_percent"].iloc[0] > late["late_percent"].iloc[-1]


def test_the_report_ranks_and_links_every_point(finished: tuple[Result, Path]) -> None:
    """The sweep report links each point's report and draws the two-key grid and the bars as
    inline SVG, loading nothing from the network."""
    _, sweep_dir = finished
    html = (sweep_dir / "report.html").read_text(encoding="utf-8")
    table = pd.read_parquet(sweep_dir / "points.parquet")
    for run_dir in table["run_dir"]:
        assert f'href="{run_dir}/report.html"' in html
    assert "MOS by calls.codec and jitter_buffer.delay" in html
    assert html.count("<svg ") == 2 and "data:image" not in html
    assert "http://" not in html and "https://" not in html


def test_a_failed_point_is_recorded_and_the_others_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One point failing leaves the rest finished, says so, and exits 1."""
    real = voipbed.sweep.run_scenario

    def fail_g722_at_60ms(scenario, out_dir, on_stage=None):  # type: ignore[no-untyped-def]
        if scenario.calls.codec == "G722" and scenario.jitter_buffer.delay_s == 0.060:
            run_dir = out_dir / "broken"
            run_dir.mkdir()
            raise RunFailed("score", run_dir, ValueError("made to fail"))
        return real(scenario, out_dir, on_stage)

    monkeypatch.setattr(voipbed.sweep, "run_scenario", fail_g722_at_60ms)
    result, sweep_dir = run_sweep_cli(tmp_path, "--workers", "1")
    assert result.exit_code == 1
    assert "1 of 6 points failed" in result.output
    state = json.loads((sweep_dir / "sweep.json").read_text())
    assert state["points_done"] == 6
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
