"""A set-up that is not done by t0 fails the run, says why, and leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.emulation.conftest import require
from voipbed.cli import main
from voipbed.emulation import engine
from voipbed.emulation.cleanup import find_leftovers
from voipbed.emulation.names import run_tag

pytestmark = [pytest.mark.emulation, pytest.mark.slow]

CALL = """\
name: setup-overrun
duration: 4s
calls: {count: 1, codec: PCMU, ptime: 20ms}
path:
  - {name: radio, one_way_delay: 10ms}
radio: {rrc: null}
"""


def test_registrations_after_t0_fail_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With t0 planned 1 ms after the links start, registering cannot be done in time: the
    run exits 1 naming the overrun, and its namespaces and processes are gone."""
    require("mnexec", "ethtool", "kamailio", "baresip", "espeak-ng", "sox")
    monkeypatch.setattr(engine, "setup_budget_s", lambda *args, **kwargs: 0.001)
    scenario = tmp_path / "call.yaml"
    scenario.write_text(CALL, encoding="utf-8")
    out = tmp_path / "runs"
    result = CliRunner().invoke(
        main, ["run", "--engine", "emulation", str(scenario), "--out", str(out)]
    )
    assert result.exit_code == 1, result.output
    assert "past t0" in result.output
    (folder,) = out.iterdir()
    assert not find_leftovers(run_tag(folder.name), folder.name)
    assert not (folder / "packets.parquet").exists()
