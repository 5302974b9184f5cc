"""A server that imports voipbed once and runs each ``voipbed`` command in a limited child.

Started by ``tests.fuzz.limited``; not a test. Importing voipbed's command
takes seconds, so this process imports it (and warms numba's kernels with
one tiny run), then forks one child per job: the child gets its own process
group, an address-space limit (``RLIMIT_AS``: what it inherited from this
process plus the job's ``memory_bytes``), stdin from /dev/null, stdout
and stderr to files, and runs ``voipbed ARGV`` exactly as the console script
does (an escaping exception prints its traceback and exits 1). A child past
its time limit is killed with its whole group.

Protocol, one JSON object per line: after "ready", each request
``{"jobs": [{"argv", "cwd", "timeout_s", "memory_bytes", "log_dir"}], "parallel": N}``
is answered by ``{"outcomes": [...]}`` in the jobs' order.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

_POLL_S = 0.01
_protocol_fd: list[int] = []  # the pipe to the parent, which no child may hold open


def _exit_code(error: SystemExit) -> int:
    if error.code is None:
        return 0
    if isinstance(error.code, int):
        return error.code
    print(error.code, file=sys.stderr)  # as the interpreter does for sys.exit("text")
    return 1


def _address_space_bytes() -> int:
    """This process's virtual memory size (VmSize) now."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _child(job: dict[str, Any], stdout: str, stderr: str) -> None:
    """Runs in the forked child; never returns."""
    code = 1
    try:
        for fd in _protocol_fd:
            os.close(fd)
        os.setpgid(0, 0)
        limit = _address_space_bytes() + int(job["memory_bytes"])
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(os.open(stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), 1)
        os.dup2(os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), 2)
        os.chdir(job["cwd"])
        from voipbed.cli import main

        sys.argv = ["voipbed", *job["argv"]]
        main(args=job["argv"], prog_name="voipbed")
        code = 0
    except SystemExit as error:
        code = _exit_code(error)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _outcome(status: int, usage: resource.struct_rusage, elapsed_s: float) -> dict[str, Any]:
    return {
        "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "elapsed_s": elapsed_s,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "max_rss_bytes": usage.ru_maxrss * 1024,  # Linux reports KiB
    }


def _run_batch(jobs: list[dict[str, Any]], parallel: int) -> list[dict[str, Any]]:
    outcomes: list[dict[str, Any] | None] = [None] * len(jobs)
    waiting = list(range(len(jobs)))
    running: dict[int, tuple[int, float, bool]] = {}  # pid -> (job, started, killed)
    while waiting or running:
        while waiting and len(running) < parallel:
            index = waiting.pop(0)
            job = jobs[index]
            log = Path(job["log_dir"])
            log.mkdir(parents=True, exist_ok=True)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(job, str(log / "stdout"), str(log / "stderr"))
            running[pid] = (index, time.monotonic(), False)
        pid, status, usage = os.wait4(-1, os.WNOHANG)
        now = time.monotonic()
        if pid == 0:
            for child, (index, started, killed) in list(running.items()):
                if not killed and now - started > jobs[index]["timeout_s"]:
                    _kill_group(child)
                    running[child] = (index, started, True)
            time.sleep(_POLL_S)
            continue
        index, started, killed = running.pop(pid)
        _kill_group(pid)  # what the command left behind (sweep workers) goes with it
        outcome = _outcome(status, usage, now - started)
        outcome["timed_out"] = killed
        outcomes[index] = outcome
    return [outcome for outcome in outcomes if outcome is not None]


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _warm_up() -> None:
    """One tiny run, so the children find numba's kernels and the report's fonts loaded."""
    from voipbed.loader import parse_scenario
    from voipbed.runner import run_scenario

    text = "name: warm-up\nduration: 1s\ncalls: {count: 1}\n"
    with tempfile.TemporaryDirectory() as out:
        try:
            run_scenario(parse_scenario(text), Path(out))
        except Exception:  # a broken run shows in the jobs themselves
            traceback.print_exc()


def serve() -> None:
    """Answer requests on stdin until it closes; everything else printed goes to stderr."""
    protocol = os.fdopen(os.dup(1), "w")
    _protocol_fd.append(protocol.fileno())
    os.dup2(2, 1)
    import voipbed.cli  # noqa: F401  (imported once, for every child)

    _warm_up()
    protocol.write("ready\n")
    protocol.flush()
    for line in sys.stdin:
        request = json.loads(line)
        outcomes = _run_batch(request["jobs"], int(request["parallel"]))
        protocol.write(json.dumps({"outcomes": outcomes}) + "\n")
        protocol.flush()


if __name__ == "__main__":
    serve()
