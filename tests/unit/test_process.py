"""The managed-process helper, exercised with small real programs (python -c, sleep, true)."""

from __future__ import annotations

import contextlib
import re
import sys
import time
from pathlib import Path

import pytest

from voipbed.emulation.process import (
    LogLine,
    ManagedProcess,
    Probe,
    ProcessError,
    mininet_prefix,
    netns_prefix,
    port_bound,
    process_group_alive,
    run_command,
    tcp_port_open,
)

PY = sys.executable


def py(code: str) -> list[str]:
    """An argv running ``code`` in a fresh Python."""
    return [PY, "-c", code]


def alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def test_ready_by_log_line_waits_for_the_line(tmp_path: Path) -> None:
    """start() returns only after the line appears, with the program still running."""
    code = "import time; time.sleep(0.3); print('listening on 5060', flush=True); time.sleep(30)"
    process = ManagedProcess(py(code), name="srv", log_dir=tmp_path)
    began = time.monotonic()
    with process.start(LogLine(r"listening on \d+"), timeout_s=5.0):
        assert time.monotonic() - began >= 0.3
        assert process.poll() is None
        assert "listening on 5060" in process.stdout_path.read_text()
    assert process.poll() is not None


def test_log_line_on_stderr_and_stream_choice(tmp_path: Path) -> None:
    """A line on stderr satisfies 'any' and 'stderr', but not a stdout-only readiness."""
    code = "import sys, time; print('up', file=sys.stderr, flush=True); time.sleep(30)"
    with ManagedProcess(py(code), name="a", log_dir=tmp_path).start(LogLine("^up$"), 5.0):
        pass
    with ManagedProcess(py(code), name="b", log_dir=tmp_path).start(
        LogLine("^up$", stream="stderr"), 5.0
    ):
        pass
    with pytest.raises(ProcessError, match="not ready within"):
        ManagedProcess(py(code), name="c", log_dir=tmp_path).start(
            LogLine("^up$", stream="stdout"), timeout_s=0.5
        )


def test_deadline_error_carries_argv_code_and_stderr_tail(tmp_path: Path) -> None:
    """Not ready by the deadline: the error names argv and stderr, and the program is stopped."""
    code = "import sys, time; print('still booting', file=sys.stderr, flush=True); time.sleep(30)"
    process = ManagedProcess(py(code), name="slow", log_dir=tmp_path)
    began = time.monotonic()
    with pytest.raises(ProcessError) as caught:
        process.start(LogLine("never printed"), timeout_s=0.4)
    assert 0.4 <= time.monotonic() - began < 3.0
    assert caught.value.argv == (PY, "-c", code)
    assert caught.value.returncode is None
    assert "still booting" in caught.value.stderr_tail
    assert process.poll() is not None
    assert not alive(process.pid)


def test_early_exit_error_carries_exit_code(tmp_path: Path) -> None:
    """A program that dies before it is ready raises at once with its exit code and stderr."""
    code = "import sys; print('bind failed: address in use', file=sys.stderr); sys.exit(3)"
    began = time.monotonic()
    with pytest.raises(ProcessError) as caught:
        ManagedProcess(py(code), name="dies", log_dir=tmp_path).start(LogLine("ready"), 10.0)
    assert time.monotonic() - began < 5.0
    assert caught.value.returncode == 3
    assert "bind failed" in caught.value.stderr_tail
    assert "exit code: 3" in str(caught.value)


def test_ready_by_probe(tmp_path: Path) -> None:
    """A probe callable decides readiness (here: a file the program creates)."""
    marker = tmp_path / "ready.flag"
    code = f"import time, pathlib; time.sleep(0.2); pathlib.Path({str(marker)!r}).touch(); "
    code += "time.sleep(30)"
    with ManagedProcess(py(code), name="probe", log_dir=tmp_path).start(
        Probe(marker.exists), timeout_s=5.0
    ) as process:
        assert marker.exists()
        assert process.poll() is None


def test_stop_kills_the_whole_group_including_a_grandchild(tmp_path: Path) -> None:
    """stop() signals the process group, so a grandchild of the program dies too."""
    code = (
        "import subprocess, sys, time; "
        "child = subprocess.Popen(['sleep', '60']); "
        "print('grandchild', child.pid, flush=True); time.sleep(60)"
    )
    process = ManagedProcess(py(code), name="parent", log_dir=tmp_path)
    process.start(LogLine(r"grandchild \d+"), timeout_s=5.0)
    found = re.search(r"grandchild (\d+)", process.stdout_path.read_text())
    assert found is not None
    grandchild = int(found.group(1))
    assert alive(grandchild)
    assert process.stop(grace_s=2.0) == -15
    assert not alive(grandchild)


def test_stop_escalates_to_sigkill(tmp_path: Path) -> None:
    """A program ignoring SIGTERM is killed with SIGKILL once the grace period ends."""
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('armed', flush=True); time.sleep(60)"
    )
    process = ManagedProcess(py(code), name="stubborn", log_dir=tmp_path)
    process.start(LogLine("armed"), timeout_s=5.0)
    began = time.monotonic()
    assert process.stop(grace_s=0.3) == -9
    assert 0.3 <= time.monotonic() - began < 3.0
    assert process.stop() == -9


def test_wait_returns_code_and_raises_on_failure(tmp_path: Path) -> None:
    """wait() gives 0 for success, raises on a non-zero exit and on a timeout."""
    assert ManagedProcess(["true"], name="t", log_dir=tmp_path).start().wait(5.0) == 0
    failing = ManagedProcess(["false"], name="f", log_dir=tmp_path).start()
    with pytest.raises(ProcessError) as caught:
        failing.wait(5.0)
    assert caught.value.returncode == 1
    assert caught.value.argv == ("false",)
    assert failing.wait(5.0, check=False) == 1
    with ManagedProcess(["sleep", "30"], name="s", log_dir=tmp_path).start() as sleeper:
        with pytest.raises(ProcessError, match="still running") as timed_out:
            sleeper.wait(0.2)
        assert timed_out.value.returncode is None
        assert sleeper.poll() is None


def test_exit_stack_teardown_runs_on_exception(tmp_path: Path) -> None:
    """Processes registered in an ExitStack are stopped when the block raises."""
    processes = [
        ManagedProcess(["sleep", "30"], name=f"p{index}", log_dir=tmp_path) for index in range(2)
    ]
    with pytest.raises(KeyError), contextlib.ExitStack() as stack:
        for process in processes:
            stack.enter_context(process.start())
        assert all(process.poll() is None for process in processes)
        raise KeyError("failure in the middle of a run")
    assert [process.returncode for process in processes] == [-15, -15]


def test_prefix_env_and_cwd_apply(tmp_path: Path) -> None:
    """The prefix runs first (here `env`), extra variables are added and cwd is used."""
    code = "import os; print(os.environ['A_PREFIX'], os.environ['A_VAR'], os.getcwd())"
    process = ManagedProcess(
        py(code),
        name="env",
        log_dir=tmp_path / "logs",
        prefix=["env", "A_PREFIX=from-prefix"],
        env={"A_VAR": "from-env"},
        cwd=tmp_path,
    )
    assert process.start().wait(5.0) == 0
    assert process.full_argv[:2] == ("env", "A_PREFIX=from-prefix")
    assert process.stdout_path.read_text().split() == ["from-prefix", "from-env", str(tmp_path)]
    assert process.stdout_path.parent == tmp_path / "logs"


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    """Shell strings, unusable names and the session-breaking `mnexec -d` are refused."""
    with pytest.raises(ValueError, match="not a string"):
        ManagedProcess("sleep 1", name="x", log_dir=tmp_path)
    with pytest.raises(ValueError, match="file name"):
        ManagedProcess(["true"], name="a/b", log_dir=tmp_path)
    with pytest.raises(ValueError, match="mnexec -d"):
        ManagedProcess(["true"], name="x", log_dir=tmp_path, prefix=["mnexec", "-da", "1"])
    assert mininet_prefix(42) == ("mnexec", "-a", "42")
    assert netns_prefix("vb-1") == ("ip", "netns", "exec", "vb-1")


def test_missing_program_raises_process_error(tmp_path: Path) -> None:
    """A program that does not exist raises ProcessError, not a bare OSError."""
    with pytest.raises(ProcessError, match="cannot start") as caught:
        ManagedProcess(["/nonexistent/voipbed-tool"], name="x", log_dir=tmp_path).start()
    assert caught.value.returncode is None


def test_run_command_output_failure_and_timeout() -> None:
    """run_command returns output, raises on non-zero exit and kills on timeout."""
    done = run_command(py("print('hello')"), timeout_s=5.0)
    assert done.stdout == "hello\n"
    assert done.returncode == 0
    code = "import sys; print('no such device', file=sys.stderr); sys.exit(2)"
    with pytest.raises(ProcessError) as caught:
        run_command(py(code), timeout_s=5.0)
    assert caught.value.returncode == 2
    assert caught.value.stderr_tail == "no such device"
    assert run_command(py(code), timeout_s=5.0, check=False).returncode == 2
    began = time.monotonic()
    with pytest.raises(ProcessError, match="timed out") as timed_out:
        run_command(["sleep", "30"], timeout_s=0.3)
    assert time.monotonic() - began < 3.0
    assert timed_out.value.returncode == -9


def test_port_probes_see_a_listening_socket(tmp_path: Path) -> None:
    """port_bound (via /proc) and tcp_port_open both turn true once the program listens."""
    code = (
        "import socket, time; server = socket.socket(); server.bind(('127.0.0.1', 0)); "
        "server.listen(); print('port', server.getsockname()[1], flush=True); time.sleep(30)"
    )
    with ManagedProcess(py(code), name="listener", log_dir=tmp_path) as process:
        process.start(LogLine(r"^port \d+$"), timeout_s=5.0)
        found = re.search(r"port (\d+)", process.stdout_path.read_text())
        assert found is not None
        port = int(found.group(1))
        assert port_bound(process.pid, port, "tcp")
        assert not port_bound(process.pid, port, "udp")
        assert tcp_port_open("127.0.0.1", port)()
        assert process_group_alive(process.pid)
    assert not process_group_alive(process.pid)
    assert not tcp_port_open("127.0.0.1", port)()
