"""An emulated sweep's bookkeeping, without root: ``--engine emulation`` with the emulation's
run replaced by the simulator's, so the executor that runs points one after another in this
process is tested for order, failures, Ctrl-C, SIGTERM, resuming and the engine it records."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner, Result

import voipbed.emulation.engine
import voipbed.sweep_exec
from voipbed.cli import main
from voipbed.runner import RunFailed, RunInterrupted, RunResult
from voipbed.sweep_store import POINTS

SWEEP = """\
name: one-at-a-time
duration: 2s
calls: {count: 1, codec: PCMU}
path: [{name: radio, one_way_delay: 10ms}]
sweep:
  path[0].loss: [0%, 10%, 20%]
"""

Fake = Callable[..., RunResult]
"""A stand-in for ``run_scenario`` as ``voipbed.sweep_exec`` calls it."""
OnStage = Callable[[str], None]
Trouble = Callable[[float, Path, OnStage], OnStage]
"""Given a run's loss rate, folder and stage callback: raises, or returns the callback to use."""


class Emulation:
    """The emulation's run, played by the simulator: what it was asked to run, and how."""

    def __init__(self, real: Fake) -> None:
        self.real = real
        self.calls: list[tuple[float, str, int]] = []
        self.trouble: Trouble | None = None

    def __call__(
        self,
        scenario: Any,
        out_dir: Path,
        on_stage: OnStage | None = None,
        *,
        engine: str = "sim",
    ) -> RunResult:
        loss = scenario.path[0].loss.rate_ratio
        self.calls.append((loss, engine, os.getpid()))
        stage = on_stage or (lambda _name: None)
        if self.trouble is not None:
            stage = self.trouble(loss, out_dir, stage)
        return self.real(scenario, out_dir, stage)


@pytest.fixture
def emulation(monkeypatch: pytest.MonkeyPatch) -> Emulation:
    """Runs of ``--engine emulation`` go to the simulator; this machine may emulate."""
    monkeypatch.setattr(voipbed.emulation.engine, "missing_prerequisites", lambda _s=None: [])
    fake = Emulation(voipbed.sweep_exec.run_scenario)
    monkeypatch.setattr(voipbed.sweep_exec, "run_scenario", fake)
    return fake


def run(tmp_path: Path, *options: str) -> Result:
    tmp_path.mkdir(parents=True, exist_ok=True)
    scenario = tmp_path / "sweep.yaml"
    scenario.write_text(SWEEP, encoding="utf-8")
    args = ["run", str(scenario), "--out", str(tmp_path / "runs"), *options]
    return CliRunner().invoke(main, args)


def sweep_folders(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "runs").iterdir())


def recorded(sweep_dir: Path) -> list[str]:
    return sorted(path.name for path in (sweep_dir / POINTS).iterdir())


def test_points_run_one_after_another_in_this_process(tmp_path: Path, emulation: Emulation) -> None:
    """Each point runs once, in order, in the calling process, with the emulation engine."""
    result = run(tmp_path, "--engine", "emulation")
    assert result.exit_code == 0, result.output
    assert [(loss, engine) for loss, engine, _ in emulation.calls] == [
        (0.0, "emulation"),
        (0.10, "emulation"),
        (0.20, "emulation"),
    ]
    assert {pid for _, _, pid in emulation.calls} == {os.getpid()}
    (sweep_dir,) = sweep_folders(tmp_path)
    assert recorded(sweep_dir) == ["p001-s1", "p002-s1", "p003-s1"]


def test_the_sweep_records_and_reports_its_engine(tmp_path: Path, emulation: Emulation) -> None:
    """sweep.json names the engine and the report's header says which it was."""
    emulated = run(tmp_path / "emulated", "--engine", "emulation")
    simulated = run(tmp_path / "simulated", "--workers", "1")
    assert emulated.exit_code == simulated.exit_code == 0
    for where, engine, said in (
        ("emulated", "emulation", "emulation"),
        ("simulated", "sim", "simulator"),
    ):
        (sweep_dir,) = sweep_folders(tmp_path / where)
        assert json.loads((sweep_dir / "sweep.json").read_text())["engine"] == engine
        assert f"voipbed sweep report · {said}</div>" in (sweep_dir / "report.html").read_text()
    assert "best of 3 points (emulation)" in emulated.stderr


def test_a_failed_point_is_recorded_and_the_sweep_goes_on(
    tmp_path: Path, emulation: Emulation
) -> None:
    """A run that fails is recorded as failed, the next point runs, and the command exits 1."""

    def fail_at_10_percent(loss: float, out_dir: Path, stage: OnStage) -> OnStage:
        if loss == 0.10:
            raise RunFailed("emulate", out_dir, ValueError("made to fail"))
        return stage

    emulation.trouble = fail_at_10_percent
    result = run(tmp_path, "--engine", "emulation")
    assert result.exit_code == 1
    assert "1 of 3 runs failed" in result.stderr
    (sweep_dir,) = sweep_folders(tmp_path)
    points = pd.read_parquet(sweep_dir / "points.parquet").set_index("point")
    assert list(points.loc[[1, 2, 3], "status"]) == ["ok", "failed", "ok"]
    assert "made to fail" in str(points.loc[2, "error"])


def test_ctrl_c_in_a_run_stops_the_sweep_and_the_same_command_resumes(
    tmp_path: Path, emulation: Emulation
) -> None:
    """Ctrl-C in point 2: exit 130 naming it, point 1 kept; run again, only 2 and 3 run."""

    def interrupt_at_10_percent(loss: float, out_dir: Path, stage: OnStage) -> OnStage:
        if loss == 0.10:
            raise RunInterrupted("emulate", out_dir, signal.SIGINT)
        return stage

    emulation.trouble = interrupt_at_10_percent
    stopped = run(tmp_path, "--engine", "emulation")
    assert stopped.exit_code == 130, stopped.output
    assert "interrupted in p002-s1 by SIGINT" in stopped.stderr
    assert "Traceback" not in stopped.output
    assert [loss for loss, _, _ in emulation.calls] == [0.0, 0.10]
    (sweep_dir,) = sweep_folders(tmp_path)
    assert recorded(sweep_dir) == ["p001-s1"]
    assert json.loads((sweep_dir / "sweep.json").read_text())["runs_done"] == 1
    emulation.trouble = None
    emulation.calls.clear()
    resumed = run(tmp_path, "--engine", "emulation")
    assert resumed.exit_code == 0, resumed.output
    assert "1 of 3 runs were recorded already" in resumed.stderr
    assert [loss for loss, _, _ in emulation.calls] == [0.10, 0.20]
    assert sweep_folders(tmp_path) == [sweep_dir]
    assert recorded(sweep_dir) == ["p001-s1", "p002-s1", "p003-s1"]


def test_sigterm_in_a_run_exits_143_and_puts_the_handler_back(
    tmp_path: Path, emulation: Emulation
) -> None:
    """SIGTERM while point 2 is scored stops that run and the sweep (exit 143); the process's
    SIGTERM handler is the one it had before."""

    def terminate_at_10_percent(loss: float, _out_dir: Path, stage: OnStage) -> OnStage:
        def stage_then_sigterm(name: str) -> None:
            stage(name)
            if name == "score":
                os.kill(os.getpid(), signal.SIGTERM)

        return stage_then_sigterm if loss == 0.10 else stage

    before = signal.getsignal(signal.SIGTERM)
    emulation.trouble = terminate_at_10_percent
    result = run(tmp_path, "--engine", "emulation")
    assert result.exit_code == 143, result.output
    assert "interrupted in p002-s1 by SIGTERM" in result.stderr
    assert signal.getsignal(signal.SIGTERM) is before
    (sweep_dir,) = sweep_folders(tmp_path)
    assert recorded(sweep_dir) == ["p001-s1"]


def test_a_sweep_folder_holds_the_runs_of_one_engine(tmp_path: Path, emulation: Emulation) -> None:
    """The same scenario emulated after it was simulated gets its own folder; --resume of the
    simulated one with --engine emulation exits 2, naming both engines."""
    assert run(tmp_path, "--workers", "1").exit_code == 0
    (simulated,) = sweep_folders(tmp_path)
    assert run(tmp_path, "--engine", "emulation").exit_code == 0
    assert len(sweep_folders(tmp_path)) == 2
    assert len(emulation.calls) == 3
    refused = run(tmp_path, "--engine", "emulation", "--resume", str(simulated))
    assert refused.exit_code == 2
    assert "--engine sim, not --engine emulation" in refused.stderr
