"""Resumed sweeps: each run is computed and recorded once, whatever stopped the sweep."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

import voipbed.sweep_exec
from voipbed.cli import main
from voipbed.runner import RunFailed
from voipbed.sweep_store import POINTS, RECORD

SWEEP = """\
name: resumed
duration: 4s
calls: {count: 2, start_spread: 1s}
path:
  - name: radio
    one_way_delay: 10ms
    jitter: {distribution: exponential, scale: 15ms}
    loss: 1%
seeds: 2
sweep:
  jitter_buffer.delay: [20ms, 60ms, 120ms]
"""

# Long enough per run that a sweep of 16 is caught half-way; short enough for the suite.
SLOW_SWEEP = """\
name: killed
duration: 20s
calls: {count: 20, start_spread: 2s}
path:
  - {name: radio, one_way_delay: 10ms, jitter: {distribution: exponential, scale: 5ms}}
sweep:
  path[0].loss: [0%, 1%, 2%, 3%, 4%, 5%, 6%, 7%]
  jitter_buffer.delay: [40ms, 80ms]
"""


def records(sweep_dir: Path) -> dict[str, bytes]:
    """Each recorded run's record.json, by run folder."""
    return {
        path.parent.name: path.read_bytes() for path in (sweep_dir / POINTS).glob(f"*/{RECORD}")
    }


def only_folder(out: Path) -> Path:
    (folder,) = out.iterdir()
    return folder


@pytest.fixture
def computed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file that gets one line per run computed (in whichever worker process ran it)."""
    log = tmp_path / "computed.txt"
    real = voipbed.sweep_exec.run_scenario

    def counting(scenario, out_dir, on_stage=None, **engine):  # type: ignore[no-untyped-def]
        with log.open("a", encoding="utf-8") as file:
            file.write(f"{scenario.name} seed {scenario.seed}\n")
        return real(scenario, out_dir, on_stage, **engine)

    monkeypatch.setattr(voipbed.sweep_exec, "run_scenario", counting)
    return log


def run(tmp_path: Path, *options: str, text: str = SWEEP) -> Result:
    tmp_path.mkdir(parents=True, exist_ok=True)
    scenario = tmp_path / "sweep.yaml"
    scenario.write_text(text, encoding="utf-8")
    args = ["run", str(scenario), "--out", str(tmp_path / "runs"), "--workers", "1", *options]
    return CliRunner().invoke(main, args)


def test_a_resumed_sweep_computes_only_what_has_no_record(tmp_path: Path, computed: Path) -> None:
    """Runs whose folder is gone are computed again, and only they; leftovers go, the other
    records stay as they were."""
    first = run(tmp_path)
    assert first.exit_code == 0, first.output
    sweep_dir = only_folder(tmp_path / "runs")
    assert len(computed.read_text().splitlines()) == 6
    before = records(sweep_dir)
    for name in ("p002-s2", "p003-s1"):
        for path in sorted((sweep_dir / POINTS / name).rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        (sweep_dir / POINTS / name).rmdir()
    (sweep_dir / "staging" / "p001-s1").mkdir(parents=True)  # a killed sweep's leftovers
    (sweep_dir / POINTS / "p003-s2-partial").mkdir()
    computed.write_text("")
    second = run(tmp_path)
    assert second.exit_code == 0, second.output
    assert "4 of 6 runs were recorded already" in second.stderr
    assert sorted(computed.read_text().splitlines()) == ["resumed.2 seed 2", "resumed.3 seed 1"]
    assert only_folder(tmp_path / "runs") == sweep_dir
    after = records(sweep_dir)
    assert sorted(after) == sorted(before)
    assert all(after[name] == before[name] for name in before if name not in {"p002-s2", "p003-s1"})
    assert not (sweep_dir / "staging").exists()
    state = json.loads((sweep_dir / "sweep.json").read_text())
    assert state["runs_done"] == 6 and state["points_done"] == 3


def test_recorded_failures_are_not_computed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, computed: Path
) -> None:
    """A failed run stays recorded as failed on resume; removing its folder retries it."""
    counting = voipbed.sweep_exec.run_scenario

    def fail_once(scenario, out_dir, on_stage=None, **engine):  # type: ignore[no-untyped-def]
        if scenario.name == "resumed.2" and scenario.seed == 1:
            raise RunFailed("simulate", out_dir, ValueError("made to fail"))
        return counting(scenario, out_dir, on_stage, **engine)

    monkeypatch.setattr(voipbed.sweep_exec, "run_scenario", fail_once)
    assert run(tmp_path).exit_code == 1
    monkeypatch.setattr(voipbed.sweep_exec, "run_scenario", counting)
    computed.write_text("")
    again = run(tmp_path)
    assert again.exit_code == 1 and "1 of 6 runs failed" in again.output
    assert computed.read_text() == ""
    sweep_dir = only_folder(tmp_path / "runs")
    points = pd.read_parquet(sweep_dir / "points.parquet").set_index("point")
    assert points.loc[2, "status"] == "failed" and points.loc[2, "seeds"] == 1
    assert "seed 1: simulate failed: made to fail" in points.loc[2, "error"]
    for path in sorted((sweep_dir / POINTS / "p002-s1").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (sweep_dir / POINTS / "p002-s1").rmdir()
    retried = run(tmp_path)
    assert retried.exit_code == 0, retried.output
    assert computed.read_text().splitlines() == ["resumed.2 seed 1"]


def test_resume_names_the_folder_and_refuses_another_scenario(tmp_path: Path) -> None:
    """--resume carries on the named folder whatever --out says; a folder of another scenario
    is refused with what differs, exit 2."""
    assert run(tmp_path).exit_code == 0
    sweep_dir = only_folder(tmp_path / "runs")
    elsewhere = run(tmp_path / "other", "--resume", str(sweep_dir))
    assert elsewhere.exit_code == 0, elsewhere.output
    assert "6 of 6 runs were recorded already" in elsewhere.stderr
    assert not (tmp_path / "other" / "runs").exists()
    changed = run(tmp_path / "changed", "--resume", str(sweep_dir), text=SWEEP.replace("4s", "5s"))
    assert changed.exit_code == 2
    assert "holds a sweep of another scenario" in changed.stderr
    assert 'duration: "4.0s" there, "5.0s" here' in changed.stderr
    assert "Traceback" not in changed.output


def test_resume_of_a_scenario_without_sweep_is_refused(tmp_path: Path) -> None:
    """--resume and --scheduler are for sweeps: a plain scenario is refused, exit 2."""
    result = run(tmp_path, "--resume", str(tmp_path), text=SWEEP.split("seeds:")[0])
    assert result.exit_code == 2 and "--resume is for sweeps" in result.stderr


def test_a_sweep_killed_with_sigkill_finishes_each_run_exactly_once(tmp_path: Path) -> None:
    """SIGKILL to the whole sweep half-way, then the same command: every run has one folder
    and one record, the runs recorded before the kill are not computed again, and nothing
    staged is left."""
    scenario = tmp_path / "killed.yaml"
    scenario.write_text(SLOW_SWEEP, encoding="utf-8")
    out = tmp_path / "runs"
    command = [sys.executable, "-m", "voipbed", "run", str(scenario), "--out", str(out)]
    command += ["--workers", "2"]
    process = subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    recorded: dict[str, bytes] = {}
    deadline = time.monotonic() + 600  # a bound for a stuck machine, not a speed check
    while time.monotonic() < deadline and process.poll() is None:
        folders = list(out.iterdir()) if out.exists() else []
        recorded = records(folders[0]) if folders else {}
        if len(recorded) >= 3:
            break
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate()
    assert 3 <= len(recorded) < 16, "the sweep was not caught half-way"
    sweep_dir = only_folder(out)
    killed_records = records(sweep_dir)
    assert len(killed_records) < 16

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(killed_records)} of 16 runs were recorded already" in resumed.stderr
    assert only_folder(out) == sweep_dir
    folders = sorted(path.name for path in (sweep_dir / POINTS).iterdir())
    assert folders == [f"p{point:03d}-s1" for point in range(1, 17)]
    final = records(sweep_dir)
    assert sorted(final) == folders
    assert all(final[name] == data for name, data in killed_records.items())
    assert not (sweep_dir / "staging").exists()
    runs = pd.read_parquet(sweep_dir / "runs.parquet")
    assert sorted(runs["point"]) == list(range(1, 17)) and (runs["status"] == "ok").all()
    state = json.loads((sweep_dir / "sweep.json").read_text())
    assert state["runs_done"] == state["runs_total"] == 16
