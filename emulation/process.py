"""The one managed-process helper for every external program the emulation engine runs.

A :class:`ManagedProcess` starts an argument list (never a shell string) in a new session,
optionally behind a prefix that enters a network namespace (``netns_prefix``,
``mininet_prefix``), sends stdout and stderr to log files, waits for readiness (a log line or
a probe) against a deadline, and stops the whole process group with SIGTERM, then SIGKILL
after a grace period (:meth:`~ManagedProcess.terminate` sends the SIGTERM ahead, so that
many programs' exits overlap). Failures raise :class:`ProcessError` with the argv, the exit
code and the tail of stderr. :func:`run_command` runs a short command (``ip``, ``ethtool``)
to completion with a timeout and raises the same error.

Time comes from ``time.monotonic``; there is no module-level state.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.02
TAIL_LINES = 20
TAIL_BYTES = 8192


class ProcessError(RuntimeError):
    """An external program failed: exited early, was not ready in time, or exited non-zero."""

    def __init__(
        self,
        message: str,
        *,
        argv: Sequence[str],
        returncode: int | None,
        stderr_tail: str,
    ) -> None:
        self.argv: tuple[str, ...] = tuple(argv)
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        text = f"{message}\n  argv: {' '.join(self.argv)}\n  exit code: {returncode}"
        if stderr_tail:
            text += "\n  stderr (tail):\n    " + stderr_tail.replace("\n", "\n    ")
        super().__init__(text)


@dataclass(frozen=True)
class LogLine:
    """Ready once a line of the process's output matches ``pattern`` (a regex, searched)."""

    pattern: str
    stream: Literal["stdout", "stderr", "any"] = "any"


@dataclass(frozen=True)
class Probe:
    """Ready once ``check()`` returns true (e.g. a port accepts connections)."""

    check: Callable[[], bool]


Readiness = LogLine | Probe


def netns_prefix(namespace: str) -> tuple[str, ...]:
    """The prefix that runs a command in the named network namespace (``ip netns add``)."""
    return ("ip", "netns", "exec", namespace)


def mininet_prefix(host_pid: int) -> tuple[str, ...]:
    """The prefix that runs a command in a Mininet host's namespaces (its shell's pid).

    ``mnexec -d`` is deliberately absent: the helper already starts a new session, and
    ``mnexec -d`` in a session leader forks and exits, which would orphan the program.
    """
    return ("mnexec", "-a", str(host_pid))


def tcp_port_open(host: str, port: int, timeout_s: float = 0.2) -> Callable[[], bool]:
    """A probe check: true once a TCP connection to ``host:port`` succeeds (same namespace)."""

    def check() -> bool:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                return True
        except OSError:
            return False

    return check


def port_bound(pid: int, port: int, protocol: Literal["tcp", "udp"]) -> bool:
    """Whether a socket is bound to ``port`` in the network namespace of process ``pid``
    (TCP: listening), read from ``/proc/<pid>/net``; works across namespaces, unlike a
    connection attempt, and never touches the program's socket."""
    listen_state = "0A"  # TCP_LISTEN in /proc/net/tcp
    for table in (protocol, f"{protocol}6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and (protocol == "udp" or fields[3] == listen_state):
                return True
    return False


def _tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file ('' when it is missing or empty)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - TAIL_BYTES))
            data = handle.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


def process_group_alive(pgid: int) -> bool:
    """Whether any non-zombie process is still in process group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Members may be zombies whose reaper has not run yet; those count as gone.
    with os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            # Fields after the parenthesised command name: state, ppid, pgrp, ...
            fields = stat[stat.rfind(")") + 2 :].split()
            if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                return True
    return False


def _check_prefix(prefix: Sequence[str]) -> None:
    if prefix and Path(prefix[0]).name == "mnexec":
        for arg in prefix[1:]:
            if arg.startswith("-") and not arg.startswith("--") and "d" in arg:
                raise ValueError(
                    "mnexec -d forks away from the new session; use mininet_prefix(pid) "
                    f"(mnexec -a PID) instead of {list(prefix)}"
                )


@dataclass
class _LogWatch:
    """Incremental reader of one log file, matching whole lines."""

    path: Path
    offset: int = 0
    pending: str = ""
    lines: list[str] = field(default_factory=list)

    def new_lines(self) -> list[str]:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except OSError:
            return []
        self.offset += len(data)
        text = self.pending + data.decode("utf-8", errors="replace")
        *complete, self.pending = text.split("\n")
        return complete

    def matches(self, regex: re.Pattern[str], final: bool = False) -> bool:
        lines = self.new_lines()
        if final and self.pending:
            lines.append(self.pending)
        return any(regex.search(line) for line in lines)


class ManagedProcess:
    """One external program in its own session, logged to files, stopped by process group.

    ``env`` holds variables added to (or overriding) the current environment. The program
    runs as ``[*prefix, *argv]``; its logs are ``<log_dir>/<name>.stdout.log`` and
    ``<log_dir>/<name>.stderr.log``. Use it as a context manager (``__exit__`` stops it) or
    register it in an ``ExitStack`` with ``stack.enter_context(process)``.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        name: str,
        log_dir: Path | str,
        prefix: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        cwd: Path | str | None = None,
    ) -> None:
        if isinstance(argv, str) or not argv:
            raise ValueError("argv must be a non-empty list of arguments, not a string")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValueError(f"name {name!r} must be usable as a file name")
        _check_prefix(prefix)
        self.argv: tuple[str, ...] = tuple(argv)
        self.prefix: tuple[str, ...] = tuple(prefix)
        self.name = name
        self.log_dir = Path(log_dir)
        self.env = dict(env) if env is not None else None
        self.cwd = Path(cwd) if cwd is not None else None
        self.stdout_path = self.log_dir / f"{name}.stdout.log"
        self.stderr_path = self.log_dir / f"{name}.stderr.log"
        self._popen: subprocess.Popen[bytes] | None = None
        self._terminated = False

    @property
    def full_argv(self) -> tuple[str, ...]:
        """What is executed: the prefix, then the program's argv."""
        return (*self.prefix, *self.argv)

    @property
    def pid(self) -> int:
        """The process id (also its process group id); only after ``start``."""
        if self._popen is None:
            raise RuntimeError(f"{self.name} has not been started")
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """The exit code once reaped (negative: killed by that signal), else None."""
        return None if self._popen is None else self._popen.returncode

    def stderr_tail(self) -> str:
        """The last lines of the stderr log."""
        return _tail(self.stderr_path)

    def stdout_tail(self) -> str:
        """The last lines of the stdout log."""
        return _tail(self.stdout_path)

    def error(self, message: str) -> ProcessError:
        """A ProcessError for this process, with its exit code and the tail of its stderr
        (of its stdout when stderr is empty: some programs, SIPp among them, log there)."""
        tail = self.stderr_tail() or self.stdout_tail()
        return ProcessError(
            f"{self.name}: {message}",
            argv=self.full_argv,
            returncode=self.returncode,
            stderr_tail=tail,
        )

    def start(self, ready: Readiness | None = None, timeout_s: float = 10.0) -> Self:
        """Start the program, then wait until ``ready`` holds; raise ProcessError if it
        exits first or is not ready within ``timeout_s`` (it is stopped before raising)."""
        if self._popen is not None:
            raise RuntimeError(f"{self.name} was already started")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = None if self.env is None else {**os.environ, **self.env}
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            try:
                self._popen = subprocess.Popen(
                    self.full_argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    env=env,
                    cwd=self.cwd,
                    start_new_session=True,
                )
            except OSError as exc:
                raise ProcessError(
                    f"{self.name}: cannot start: {exc}",
                    argv=self.full_argv,
                    returncode=None,
                    stderr_tail="",
                ) from exc
        log.debug("started %s (pid %d): %s", self.name, self._popen.pid, self.full_argv)
        if ready is not None:
            try:
                self._wait_ready(ready, time.monotonic() + timeout_s, timeout_s)
            except BaseException:
                self.stop(grace_s=1.0)
                raise
        return self

    def _wait_ready(self, ready: Readiness, deadline: float, timeout_s: float) -> None:
        is_ready = self._ready_check(ready)
        while True:
            exited = self.poll() is not None
            if is_ready(exited):
                return
            if exited:
                raise self.error(f"exited before it was ready ({_describe(ready)})")
            if time.monotonic() >= deadline:
                raise self.error(f"not ready within {timeout_s:g} s ({_describe(ready)})")
            time.sleep(POLL_INTERVAL_S)

    def _ready_check(self, ready: Readiness) -> Callable[[bool], bool]:
        """A function of 'has exited' telling whether ``ready`` holds now."""
        if isinstance(ready, Probe):
            return lambda _exited: ready.check()
        regex = re.compile(ready.pattern)
        watches = [
            _LogWatch(path)
            for stream, path in (("stdout", self.stdout_path), ("stderr", self.stderr_path))
            if ready.stream in (stream, "any")
        ]
        # Read every watch each time (no short-circuit) so none falls behind.
        return lambda exited: any([watch.matches(regex, final=exited) for watch in watches])

    def poll(self) -> int | None:
        """The exit code if the program has exited, else None."""
        return None if self._popen is None else self._popen.poll()

    def wait(self, timeout_s: float, *, check: bool = True) -> int:
        """Wait for the program to exit and return its code; raise ProcessError if it is
        still running after ``timeout_s`` (it keeps running) or, with ``check``, exits
        non-zero."""
        if self._popen is None:
            raise RuntimeError(f"{self.name} has not been started")
        try:
            code = self._popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise self.error(f"still running after {timeout_s:g} s") from None
        if check and code != 0:
            raise self.error(f"exited with code {code}")
        return code

    def terminate(self) -> None:
        """Send SIGTERM to the whole process group, once (a second one could cut a
        program's orderly exit short); :meth:`stop` then waits."""
        if self._popen is None or self._terminated:
            return
        self._terminated = True
        # The group id is the leader's pid; Linux does not reuse it while the group has
        # members, and pids cycle through pid_max, so an exited group is not mistaken.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._popen.pid, signal.SIGTERM)

    def stop(self, grace_s: float = 3.0) -> int | None:
        """Stop the whole process group: SIGTERM (unless :meth:`terminate` sent it), then
        SIGKILL after ``grace_s``.

        Idempotent; returns the program's exit code (None if it was never started).
        """
        if self._popen is None:
            return None
        pgid = self._popen.pid
        deadline = time.monotonic() + grace_s
        self.terminate()
        while time.monotonic() < deadline:
            self._popen.poll()
            if self._popen.returncode is not None and not process_group_alive(pgid):
                break
            time.sleep(POLL_INTERVAL_S)
        else:
            log.warning("%s (pgid %d) ignored SIGTERM for %g s: SIGKILL", self.name, pgid, grace_s)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        return self._popen.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "not started" if self._popen is None else f"pid {self._popen.pid}"
        return f"ManagedProcess({self.name!r}, {state}, {list(self.full_argv)!r})"


def _describe(ready: Readiness) -> str:
    if isinstance(ready, LogLine):
        return f"waiting for a log line matching {ready.pattern!r}"
    return f"waiting for probe {getattr(ready.check, '__name__', 'check')}"


def run_command(
    argv: Sequence[str],
    *,
    timeout_s: float,
    prefix: Sequence[str] = (),
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a short command (``ip``, ``ethtool``) to completion in a new session.

    Raise ProcessError if it cannot start, runs past ``timeout_s`` (its process group is
    killed) or, with ``check``, exits non-zero. Output is captured as text.
    """
    if isinstance(argv, str) or not argv:
        raise ValueError("argv must be a non-empty list of arguments, not a string")
    _check_prefix(prefix)
    full = (*prefix, *argv)
    try:
        popen = subprocess.Popen(
            full,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    except OSError as exc:
        raise ProcessError(
            f"cannot start: {exc}", argv=full, returncode=None, stderr_tail=""
        ) from exc
    try:
        stdout, stderr = popen.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(popen.pid, signal.SIGKILL)
        stdout, stderr = popen.communicate()
        raise ProcessError(
            f"timed out after {timeout_s:g} s",
            argv=full,
            returncode=popen.returncode,
            stderr_tail=_tail_text(stderr),
        ) from None
    if check and popen.returncode != 0:
        raise ProcessError(
            f"exited with code {popen.returncode}",
            argv=full,
            returncode=popen.returncode,
            stderr_tail=_tail_text(stderr),
        )
    return subprocess.CompletedProcess(list(full), popen.returncode, stdout, stderr)


def _tail_text(text: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])
