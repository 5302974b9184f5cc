"""Run ``voipbed`` commands in child processes with a memory limit and a time limit.

``LimitedRunner`` starts ``tests/fuzz/zygote.py`` once (it imports voipbed
and forks a child per command, so a command costs its own work, not the
seconds of importing voipbed), then ``run(jobs)`` runs each ``Job`` under
``RLIMIT_AS`` and a timeout, a few at a time, and gives each one's
``Result``: exit code or signal, whether it was killed for time, wall and
CPU seconds, peak RSS, and its output. Nothing a command does can exhaust
the machine or hang the caller.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

__all__ = ["GIB", "Job", "LimitedRunner", "Result"]

GIB = 1 << 30
_ZYGOTE = Path(__file__).with_name("zygote.py")
_READY_S = 300.0  # importing voipbed and one warm-up run, on a busy machine
_SLACK_S = 60.0


@dataclass(frozen=True)
class Job:
    """``voipbed ARGV`` in ``cwd``, killed after ``timeout_s``.

    ``memory_bytes`` is the address space the command may take beyond the
    loaded voipbed it starts from (``RLIMIT_AS`` is set to the two together).
    """

    argv: tuple[str, ...]
    cwd: str
    log_dir: str
    timeout_s: float = 20.0
    memory_bytes: int = 2 * GIB


@dataclass(frozen=True)
class Result:
    """How one job ended."""

    job: Job
    exit_code: int | None  # None when killed by a signal
    signal: int | None
    timed_out: bool
    elapsed_s: float
    cpu_s: float
    max_rss_bytes: int

    @property
    def stdout(self) -> str:
        return Path(self.job.log_dir, "stdout").read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return Path(self.job.log_dir, "stderr").read_text(errors="replace")

    def describe(self) -> str:
        """``exit 1 in 0.4 s (0.3 s CPU, 412 MiB): <last stderr line>``."""
        if self.timed_out:
            end = f"killed after its {self.job.timeout_s:g} s"
        elif self.signal is not None:
            end = f"killed by signal {self.signal}"
        else:
            end = f"exit {self.exit_code}"
        tail = self.stderr.strip().splitlines()[-1:] or [""]
        usage = f"{self.cpu_s:.1f} s CPU, {self.max_rss_bytes >> 20} MiB"
        return f"{end} in {self.elapsed_s:.1f} s ({usage}): {tail[0][:200]}"


class LimitedRunner:
    """The zygote process, started on entering and stopped on leaving."""

    def __init__(self, parallel: int = 2) -> None:
        self.parallel = parallel
        self._process: subprocess.Popen[str] | None = None
        self._ready = False

    def __enter__(self) -> LimitedRunner:
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MPLBACKEND="Agg")
        self._process = subprocess.Popen(
            [sys.executable, str(_ZYGOTE)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            start_new_session=True,
        )
        return self  # it gets ready (imports, warms up) while the caller goes on

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process = self._process
        self._process = None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def run(self, jobs: Sequence[Job]) -> list[Result]:
        """Run ``jobs``, ``parallel`` at a time; their results in the same order."""
        if not jobs:
            return []
        process = self._process
        if process is None or process.stdin is None:
            raise RuntimeError("LimitedRunner.run outside its with block")
        if not self._ready:
            said = self._read_line(_READY_S)
            if said.strip() != "ready":
                raise RuntimeError(f"the limited runner did not start (said {said!r})")
            self._ready = True
        request = {"jobs": [asdict(job) for job in jobs], "parallel": self.parallel}
        process.stdin.write(json.dumps(request) + "\n")
        process.stdin.flush()
        budget = sum(job.timeout_s for job in jobs) / self.parallel + _SLACK_S
        answer = json.loads(self._read_line(budget))
        return [
            Result(job, **outcome) for job, outcome in zip(jobs, answer["outcomes"], strict=True)
        ]

    def _read_line(self, timeout_s: float) -> str:
        process = self._process
        assert process is not None and process.stdout is not None  # set in __enter__
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout_s):
                process.kill()
                raise TimeoutError(f"the limited runner gave no answer in {timeout_s:g} s")
        return process.stdout.readline()
