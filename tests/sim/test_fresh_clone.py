"""A fresh clone validates and runs every library scenario, with the traces the project ships.

The project's files (as ``git ls-files`` lists them, new files not ignored
included) are copied to a temporary folder with nothing beside it, as a
user's clone has no folder of shared files next to it. The CLI of the
installed package (an editable install of this checkout, as ``make setup``
makes it) runs there without ``VOIPBED_TRACE_DIR``.
Each run's resolved scenario must name traces in the project's own
``traces/`` folder, files that the clone carries too: a trace found anywhere
else (a folder beside this checkout, say) fails the test.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from voipbed.traces import builtin_trace_dir

pytestmark = pytest.mark.slow

CHECKOUT = Path(__file__).resolve().parents[2]
VOIPBED = Path(sys.executable).with_name("voipbed")  # the venv's entry point
SHORT = ["--set", "duration=5s", "--set", "calls.count=2", "--set", "calls.start_spread=1s"]
SCENARIOS = sorted(str(p.relative_to(CHECKOUT)) for p in (CHECKOUT / "scenarios").rglob("*.yaml"))


def _project_files() -> list[str]:
    """The files a clone holds: tracked ones and new ones git does not ignore."""
    if shutil.which("git") is None or not (CHECKOUT / ".git").exists():
        pytest.skip("needs git and a git checkout to know the project's files")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=CHECKOUT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and (CHECKOUT / name).is_file()]


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project's files in a folder that has nothing beside it."""
    root = tmp_path_factory.mktemp("fresh") / "voipbed"
    for name in _project_files():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CHECKOUT / name, target)
    assert list(root.parent.iterdir()) == [root]
    return root


def _voipbed(clone: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "VOIPBED_TRACE_DIR"}
    return subprocess.run(
        [str(VOIPBED), *args], cwd=clone, env=env, capture_output=True, text=True, timeout=900
    )


def _traces_named(resolved: dict[str, Any]) -> list[str]:
    """The trace paths a resolved scenario's segments name."""
    return [
        segment[key]
        for segment in resolved["path"]
        for key in ("uplink_trace", "downlink_trace")
        if segment.get(key)
    ]


def test_the_clone_carries_the_project_traces(clone: Path) -> None:
    """Every shipped trace, its README and licence are project files, not left behind."""
    shipped = sorted(path.name for path in builtin_trace_dir().iterdir())
    assert {"README.md", "COPYING"} < set(shipped)
    assert len([name for name in shipped if name.endswith((".up", ".down"))]) == 8
    for name in shipped:
        assert filecmp.cmp(builtin_trace_dir() / name, clone / "traces" / name, shallow=False)


def test_every_scenario_validates_in_the_clone(clone: Path) -> None:
    """`voipbed validate` accepts the whole library, agreement scenarios and sweeps included."""
    result = _voipbed(clone, "validate", *SCENARIOS)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_runs_in_the_clone_on_the_project_traces(clone: Path, scenario: str) -> None:
    """A shortened run succeeds (a sweep runs all its points), and every trace it used is the
    project's own, identical to the clone's copy."""
    out = clone / "runs" / Path(scenario).stem
    result = _voipbed(clone, "run", scenario, *SHORT, "--out", str(out), "--workers", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    resolved = [yaml.safe_load(path.read_text()) for path in out.rglob("scenario.yaml")]
    assert resolved, f"no run folder in {out}"
    original = yaml.safe_load((clone / scenario).read_text())
    if not any(segment.get("uplink_trace") for segment in original["path"]):
        return
    for run in resolved:
        traces = _traces_named(run)
        assert traces, f"{scenario}: the resolved scenario lost its traces"
        for trace in traces:
            used = Path(trace)
            assert used.parent == CHECKOUT / "traces", f"{scenario}: {trace} is not the project's"
            assert filecmp.cmp(used, clone / "traces" / used.name, shallow=False)
