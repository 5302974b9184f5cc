"""An emulation run stopped by Ctrl-C tears itself down; one killed outright is cleaned later.

Each test starts `voipbed run --engine emulation` as its own process, waits
until its calls are up (Kamailio, baresip, links and namespaces all running),
then signals it. After SIGINT nothing of the run may remain; after SIGKILL
its programs keep running in their namespaces until `voipbed clean` removes
them, and nothing remains after that.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.emulation.conftest import require
from voipbed.cli import main
from voipbed.emulation.cleanup import Leftovers, find_leftovers
from voipbed.emulation.names import run_tag

pytestmark = [pytest.mark.emulation, pytest.mark.slow]

# One call, and idle phones (their agents and their NAT at the core's edge).
LONG_CALL = """\
name: interrupted-call
duration: 60s
calls: {count: 1, codec: PCMU}
signalling:
  transport: udp
  nat: {udp_timeout: 30s}
  phones: {count: 3, keepalive: 20s}
path:
  - {name: radio, one_way_delay: 10ms, loss: 1%}
  - {name: core, one_way_delay: 20ms}
radio: {rrc: null}
"""
# Everything else a run can start: baresip and light calls (their agents), an RRC on the
# radio link, bulk cross traffic in the core link's queue (which the idle phones of
# LONG_CALL cannot cross: the simulator carries no signalling through cross traffic).
EVERYTHING = """\
name: interrupted-calls
duration: 60s
calls: {count: 10, codec: PCMU, start_spread: 0s}
path:
  - {name: radio, one_way_delay: 10ms, loss: 1%}
  - name: core
    one_way_delay: 20ms
    capacity: 20Mbps
    queue: {packets: 200}
    cross_traffic: [{kind: bulk, count: 1}]
"""
SCENARIOS = {"one_call": LONG_CALL, "everything": EVERYTHING}


def started_run(tmp_path: Path, text: str) -> tuple[subprocess.Popen[bytes], Path]:
    """A running emulation of ``text`` whose first call is established; its process and run
    folder."""
    require("mnexec", "ethtool", "kamailio", "baresip", "espeak-ng", "sox")
    scenario = tmp_path / "call.yaml"
    scenario.write_text(text, encoding="utf-8")
    out = tmp_path / "runs"
    voipbed = Path(sys.executable).with_name("voipbed")
    process = subprocess.Popen(
        [str(voipbed), "run", "--engine", "emulation", str(scenario), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 90.0
    while time.monotonic() < deadline:
        logs = list(out.glob("*/emulation/ue0.stdout.log"))
        if logs and "Call established" in logs[0].read_text(errors="replace"):
            return process, logs[0].parents[1]
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.kill()
    output = process.communicate()[0].decode(errors="replace")
    pytest.fail(f"the emulated call did not get established:\n{output}")


def programs_of(run_dir: Path) -> list[int]:
    """Processes whose arguments name the run folder (baresip, Kamailio, the links)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(run_dir) in argv and int(entry.name) != os.getpid():
                found.append(int(entry.name))
    return found


def nothing_left(run_dir: Path, within_s: float = 10.0) -> Leftovers:
    """What of the run is still there once it has had ``within_s`` to go."""
    tag = run_tag(run_dir.name)
    deadline = time.monotonic() + within_s
    left = find_leftovers(tag, run_dir.name)
    while (left or programs_of(run_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
        left = find_leftovers(tag, run_dir.name)
    return left


@pytest.mark.parametrize("kind", list(SCENARIOS))
def test_ctrl_c_tears_down_everything_and_says_so(tmp_path: Path, kind: str) -> None:
    """SIGINT mid-call: exit 130, a message naming the run, no namespace/veth/process left."""
    process, run_dir = started_run(tmp_path, SCENARIOS[kind])
    assert find_leftovers(run_tag(run_dir.name), run_dir.name)  # the run is really up
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=60)[0].decode(errors="replace")
    assert process.returncode == 130, output
    assert "interrupted" in output and str(run_dir) in output
    assert "Traceback" not in output
    assert not nothing_left(run_dir)
    assert programs_of(run_dir) == []


@pytest.mark.parametrize("kind", list(SCENARIOS))
def test_sigkill_leaves_programs_that_voipbed_clean_removes(tmp_path: Path, kind: str) -> None:
    """SIGKILL mid-call leaves the run's programs; `voipbed clean` removes all of it."""
    process, run_dir = started_run(tmp_path, SCENARIOS[kind])
    process.kill()
    process.communicate(timeout=30)
    time.sleep(1.0)
    assert programs_of(run_dir), "the run's programs outlive their owner"
    result = CliRunner().invoke(main, ["clean"])
    assert result.exit_code == 0, result.output
    assert f"cleaned {run_dir.name}" in result.output
    assert not nothing_left(run_dir)
    assert programs_of(run_dir) == []
