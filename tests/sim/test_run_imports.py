"""What ``voipbed run`` loads for a simulator run, read from ``sys.modules`` of a fresh Python."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DEFAULT = Path(__file__).resolve().parents[2] / "scenarios" / "default.yaml"

PROBE = """
import json, sys
from voipbed.cli import main
code = 0
try:
    main(sys.argv[1:], prog_name="voipbed")
except SystemExit as stop:
    code = stop.code
print("\\n" + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The modules loaded by a simulator run of the default scenario, through the CLI."""
    out = tmp_path_factory.mktemp("runs")
    argv = [sys.executable, "-c", PROBE, "run", str(DEFAULT), "--out", str(out)]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    probe: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe["code"] == 0, done.stderr
    assert [path.name for path in out.iterdir()], "the run wrote no run folder"
    return set(probe["modules"])


def _under(modules: set[str], package: str) -> list[str]:
    return [m for m in modules if m == package or m.startswith(package + ".")]


def test_sim_run_loads_the_simulator_not_the_emulation_nor_scipy_signal(loaded: set[str]) -> None:
    """A simulator run loads the simulator, not the emulation engine nor scipy.signal."""
    assert {"voipbed.sim.engine", "voipbed.reports"} <= loaded
    assert "voipbed.emulation.engine" not in loaded
    assert not _under(loaded, "scipy.signal")


def test_sim_run_with_its_report_never_imports_pandas(loaded: set[str]) -> None:
    """A simulator run scores, writes metrics, summary and report without loading pandas (nor
    pyarrow.compute): its tables are numpy columns."""
    assert {"voipbed.scoring", "voipbed.reports.html", "voipbed.columns"} <= loaded
    assert not _under(loaded, "pandas")
    assert not _under(loaded, "pyarrow.compute")
