"""A sweep in the emulation: its points run one after another, Ctrl-C tears the running one
down, and the same command resumes it.

One sweep of two points (a 6 s call without and with 10 % loss on the radio hop) is started
as its own `voipbed run --engine emulation` process and sent SIGINT once its first point is
recorded and the second point's call is up; then the same command finishes it, and once
more computes nothing. The tests read what each step left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from tests.emulation.conftest import require
from tests.emulation.test_engine_signals import nothing_left, programs_of
from voipbed.cli import main
from voipbed.emulation.cleanup import Leftovers, find_leftovers
from voipbed.emulation.names import run_tag
from voipbed.sweep_store import POINTS, RECORD

pytestmark = [pytest.mark.emulation, pytest.mark.slow]

SWEEP = """\
name: emulated-loss-sweep
duration: 6s
calls: {count: 1, codec: PCMU}
path:
  - {name: radio, one_way_delay: 10ms}
  - {name: core, one_way_delay: 20ms}
radio: {rrc: null}
sweep:
  path[0].loss: [0%, 10%]
"""


@dataclass(frozen=True)
class Step:
    """One `voipbed run` of the sweep: its exit code, what it printed, the records after it."""

    code: int
    output: str
    records: dict[str, str]


@dataclass(frozen=True)
class Story:
    """The sweep interrupted in its second point, resumed, then run once more."""

    sweep_dir: Path
    scenario: Path
    interrupted: Step
    was_up: Leftovers
    left: Leftovers
    programs_left: list[int]
    temporary_left: list[Path]
    resumed: Step
    again: Step


def records(sweep_dir: Path) -> dict[str, str]:
    """Each recorded run's record.json, as text, by its folder name."""
    points = sweep_dir / POINTS
    return {path.parent.name: path.read_text() for path in sorted(points.glob(f"*/{RECORD}"))}


def wait_for(what: str, found: Any, process: subprocess.Popen[bytes], within_s: float) -> Any:
    """``found()`` once it is truthy; the test fails if the process ends first or time runs out."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and process.poll() is None:
        if result := found():
            return result
        time.sleep(0.2)
    process.kill()
    output = process.communicate()[0].decode(errors="replace")
    pytest.fail(f"{what} did not happen:\n{output}")


def call_up(work: Path) -> Path | None:
    """The run folder, under the sweep's temporary folder ``work``, whose call is up."""
    for log in work.glob("voipbed-run-*/*/emulation/ue0.stdout.log"):
        if "Call established" in log.read_text(errors="replace"):
            return log.parents[1]
    return None


def run_again(argv: list[str], sweep_dir: Path) -> Step:
    done = subprocess.run(argv, capture_output=True, timeout=300, check=False)
    output = (done.stdout + done.stderr).decode(errors="replace")
    return Step(done.returncode, output, records(sweep_dir))


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Story:
    """The sweep, interrupted in its second point's call, then resumed, then run again."""
    require("mnexec", "ethtool", "kamailio", "baresip", "espeak-ng", "sox")
    folder = tmp_path_factory.mktemp("emulated-sweep")
    scenario = folder / "sweep.yaml"
    scenario.write_text(SWEEP, encoding="utf-8")
    work = folder / "work"  # the runs' temporary folders, where the test can see them
    work.mkdir()
    voipbed = Path(sys.executable).with_name("voipbed")
    argv = [
        str(voipbed),
        "run",
        str(scenario),
        "--engine",
        "emulation",
        "--out",
        str(folder / "runs"),
    ]
    process = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "TMPDIR": str(work)},
    )
    first = wait_for(
        "the first point's record",
        lambda: next((folder / "runs").glob(f"*/{POINTS}/p001-s1/{RECORD}"), None),
        process,
        within_s=120.0,
    )
    sweep_dir = first.parents[2]
    run_dir = wait_for("the second point's call", lambda: call_up(work), process, within_s=90.0)
    was_up = find_leftovers(run_tag(run_dir.name), run_dir.name)
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=60)[0].decode(errors="replace")
    interrupted = Step(process.returncode, output, records(sweep_dir))
    left = nothing_left(run_dir)
    programs_left = programs_of(run_dir)
    temporary_left = sorted(work.iterdir())
    resumed = run_again(argv, sweep_dir)
    return Story(
        sweep_dir,
        scenario,
        interrupted,
        was_up,
        left,
        programs_left,
        temporary_left,
        resumed,
        run_again(argv, sweep_dir),
    )


def test_ctrl_c_stops_the_sweep_after_tearing_down_the_running_point(story: Story) -> None:
    """SIGINT in point 2's call: exit 130 naming it, no namespace, interface or process of it
    left, point 1 kept."""
    step = story.interrupted
    assert step.code == 130, step.output
    assert "interrupted in p002-s1 by SIGINT" in step.output
    assert "Traceback" not in step.output
    assert story.was_up  # the point's network was really up when the signal came
    assert not story.left
    assert story.programs_left == []
    assert story.temporary_left == []
    assert list(step.records) == ["p001-s1"]


def test_the_same_command_resumes_with_the_missing_point_only(story: Story) -> None:
    """Run again, the sweep computes point 2 only and keeps point 1's record as it was."""
    step = story.resumed
    assert step.code == 0, step.output
    assert "1 of 2 runs were recorded already" in step.output
    assert list(step.records) == ["p001-s1", "p002-s1"]
    assert step.records["p001-s1"] == story.interrupted.records["p001-s1"]


def test_both_points_finish_and_loss_lowers_mos(story: Story) -> None:
    """Both points are emulated runs that finished, the one with 10 % loss with lower MOS."""
    points = pd.read_parquet(story.sweep_dir / "points.parquet").set_index("point")
    assert list(points.loc[[1, 2], "status"]) == ["ok", "ok"]
    assert float(points.loc[2, "mos_mean"]) < float(points.loc[1, "mos_mean"])
    for name in ("p001-s1", "p002-s1"):
        summary = json.loads((story.sweep_dir / POINTS / name / "summary.json").read_text())
        assert summary["engine"] == "emulation"
    assert json.loads((story.sweep_dir / "sweep.json").read_text())["engine"] == "emulation"
    assert "voipbed sweep report · emulation<" in (story.sweep_dir / "report.html").read_text()


def test_a_rerun_computes_nothing(story: Story) -> None:
    """Once every point is recorded, the same command computes nothing and changes no record."""
    step = story.again
    assert step.code == 0, step.output
    assert "2 of 2 runs were recorded already" in step.output
    assert step.records == story.resumed.records
    assert [path.name for path in story.sweep_dir.parent.iterdir()] == [story.sweep_dir.name]


def test_folders_and_tables_have_the_simulators_shape(story: Story, tmp_path: Path) -> None:
    """The same sweep in the simulator has the same table columns and sweep.json keys, and
    its point folders hold nothing the emulated ones lack."""
    out = tmp_path / "runs"
    result = CliRunner().invoke(main, ["run", str(story.scenario), "--out", str(out)])
    assert result.exit_code == 0, result.output
    (simulated,) = out.iterdir()
    for table in ("points.parquet", "runs.parquet"):
        columns = list(pd.read_parquet(simulated / table).columns)
        assert list(pd.read_parquet(story.sweep_dir / table).columns) == columns
    state = json.loads((simulated / "sweep.json").read_text())
    assert json.loads((story.sweep_dir / "sweep.json").read_text()).keys() == state.keys()
    for name in ("p001-s1", "p002-s1"):
        sim_files = {path.name for path in (simulated / POINTS / name).iterdir()}
        emulated_files = {path.name for path in (story.sweep_dir / POINTS / name).iterdir()}
        assert sim_files <= emulated_files
