"""How the ``voipbed`` command ends after a simulator run: output complete, exit code kept."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[2] / "scenarios" / "default.yaml"


def _voipbed(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "voipbed", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=600)


def test_quick_exit_after_a_run_keeps_output_and_files(tmp_path: Path) -> None:
    """A run exits 0 with its report path on stdout, its MOS line on stderr, its files whole."""
    done = _voipbed("run", str(DEFAULT), "--out", str(tmp_path), "--set", "duration=10s")
    assert done.returncode == 0, done.stderr
    report = Path(done.stdout.strip().splitlines()[-1])
    assert report.is_file() and report.read_text(encoding="utf-8").rstrip().endswith("</html>")
    summary = json.loads((report.parent / "summary.json").read_text(encoding="utf-8"))
    assert summary["flows"] == 20
    assert "mean MOS" in done.stderr


def test_quick_exit_keeps_a_failed_runs_exit_code(tmp_path: Path) -> None:
    """A run that cannot write its folder still exits 1 with its message."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    done = _voipbed("run", str(DEFAULT), "--out", str(blocker / "runs"), "--set", "duration=10s")
    assert done.returncode == 1
    assert "cannot write the run" in done.stderr


def test_bad_input_still_exits_2(tmp_path: Path) -> None:
    """A scenario that does not load exits 2 naming the --set that broke it."""
    done = _voipbed("run", str(DEFAULT), "--out", str(tmp_path), "--set", "duration=-1s")
    assert done.returncode == 2
    assert "--set duration=-1s" in done.stderr
