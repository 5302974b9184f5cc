"""What ``voipbed run`` loads for a simulator run, read from ``sys.modules`` of a fresh Python."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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


def test_sim_run_loads_the_simulator_not_the_emulation_nor_scipy_signal(tmp_path: Path) -> None:
    """A simulator run loads the simulator, not the emulation engine nor scipy.signal."""
    argv = [sys.executable, "-c", PROBE, "run", str(DEFAULT), "--out", str(tmp_path)]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    modules = set(probe["modules"])
    assert probe["code"] == 0, done.stderr
    assert {"voipbed.sim.engine", "voipbed.reports"} <= modules
    assert "voipbed.emulation.engine" not in modules
    assert not [m for m in modules if m == "scipy.signal" or m.startswith("scipy.signal.")]
