"""A simulated run says which of its settings the simulator ignored: summary, CLI, sweep."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from voipbed.cli import main
from voipbed.loader import parse_scenario
from voipbed.runner import run_scenario

SMALL = """\
name: sip-transport
duration: 1s
calls: {count: 1}
path: [{name: radio, one_way_delay: 10ms}]
"""


def test_summary_names_the_ignored_sip_transport(tmp_path: Path) -> None:
    """signalling.transport=tcp in the sim: summary.json warns about it by name."""
    scenario = parse_scenario(SMALL, overrides=["signalling.transport=tcp"])
    result = run_scenario(scenario, tmp_path)
    written = json.loads((result.run_dir / "summary.json").read_text(encoding="utf-8"))
    (warning,) = written["warnings"]
    assert "signalling.transport" in warning


def test_default_scenario_summary_has_no_warnings(tmp_path: Path) -> None:
    """Nothing set that the simulator ignores: an empty warnings list."""
    result = run_scenario(parse_scenario(SMALL), tmp_path)
    assert result.summary["warnings"] == []


def test_cli_prints_the_warning_to_stderr(tmp_path: Path) -> None:
    """`voipbed run` prints each warning to stderr as `voipbed: warning: ...`."""
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SMALL + "signalling: {transport: tls}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(scenario), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1
    assert warnings[0].startswith("voipbed: warning: signalling.transport is set to tls")
    assert "voipbed: warning" not in result.stdout


def test_sweep_over_the_transport_warns_and_names_no_best(tmp_path: Path) -> None:
    """A sweep over an ignored key warns once about it and names no best point."""
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SMALL + "sweep: {signalling.transport: [udp, tcp]}\n", encoding="utf-8")
    out = tmp_path / "runs"
    result = CliRunner().invoke(main, ["run", str(scenario), "--out", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("this sweep varies signalling.transport") == 1
    assert result.stderr.count("signalling.transport is set to tcp") == 1
    assert "best of" not in result.stderr
    (sweep_dir,) = out.iterdir()
    points = json.loads((sweep_dir / "sweep.json").read_text(encoding="utf-8"))["points"]
    warned = {
        p["signalling.transport"]: json.loads(
            (sweep_dir / p["run_dir"] / "summary.json").read_text(encoding="utf-8")
        )["warnings"]
        for p in points
    }
    assert warned["udp"] == [] and len(warned["tcp"]) == 1
