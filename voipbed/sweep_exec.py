"""Computing a sweep's runs: one task function, in local processes, on a Dask cluster, or
one after another in this process.

``compute_run`` runs one point with one seed in a temporary folder of the
process it runs in and returns what the run wrote (file names and bytes),
its summary or its error, and how long it took; nothing is shared through a
disk. ``LocalProcesses`` runs it in a process pool, ``DaskCluster`` as tasks
of a Dask ``distributed`` cluster, ``OneAtATime`` in the calling process, one
run after another (the emulation: it owns the machine's namespaces and the
process's signal handlers while it runs): each yields each run as it
finishes, so all give the same results.
"""

from __future__ import annotations

import functools
import signal
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import CancelledError, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Protocol

from voipbed.allocator import keep_large_arrays_in_heap
from voipbed.emulation.network import Terminated
from voipbed.runner import STAGES, RunFailed, RunInterrupted, run_scenario
from voipbed.scenario import Scenario

__all__ = [
    "CONNECT_TIMEOUT_S",
    "DaskCluster",
    "Executor",
    "LocalProcesses",
    "OneAtATime",
    "RunOutcome",
    "RunTask",
    "SchedulerAddressError",
    "SweepAborted",
    "SweepInterrupted",
    "compute_run",
    "run_name",
]

CONNECT_TIMEOUT_S = 10.0
"""How long to try to reach a Dask scheduler before saying it cannot be reached."""

EMULATE = "emulate"
"""The emulation's first stage (``voipbed.runner.run_scenario``), where the simulator has
``simulate``."""


class SweepAborted(Exception):
    """The sweep cannot go on (a local worker died, the scheduler went away); what was
    recorded is kept, and the same command resumes it."""


class SweepInterrupted(Exception):
    """Ctrl-C or SIGTERM (``signal_number``) stopped the sweep in run ``run`` (empty between
    runs), after that run was torn down; what was recorded is kept, and the same command
    resumes it."""

    def __init__(self, signal_number: int, run: str = "") -> None:
        self.signal_number = signal_number
        self.run = run
        where = f" in {run}" if run else ""
        super().__init__(
            f"interrupted{where} by {signal.Signals(signal_number).name}; what was recorded "
            "is kept: run the same command again to resume"
        )


class SchedulerAddressError(ValueError):
    """A scheduler address that is not one (bad input)."""


def run_name(point: int, seed: int) -> str:
    """The folder of a point's run with ``seed`` inside ``points/``: ``p003-s2``."""
    return f"p{point:03d}-s{seed}"


@dataclass(frozen=True)
class RunTask:
    """One run of a sweep: point ``point`` (from 1) with ``seed``."""

    point: int
    seed: int
    scenario: Scenario

    @property
    def name(self) -> str:
        return run_name(self.point, self.seed)


@dataclass(frozen=True)
class RunOutcome:
    """What a run wrote (paths relative to its folder), its summary (None if it failed), why
    it failed, and its times: in ``simulate()`` and in the whole run."""

    files: dict[str, bytes] = field(default_factory=dict)
    summary: dict[str, Any] | None = None
    error: str = ""
    simulate_s: float = float("nan")
    run_s: float = float("nan")
    host: str = ""
    interrupted: bool = False
    """The run was stopped by Ctrl-C or SIGTERM: it has no result and is not recorded."""
    signal_number: int = 0
    """The signal that stopped an interrupted run."""


@functools.cache
def _prepare_process() -> None:
    """Once per worker process: the allocator setting the ``voipbed`` command makes."""
    keep_large_arrays_in_heap()


def compute_run(task: RunTask, engine: str = "sim") -> RunOutcome:
    """Run ``task`` with ``engine`` in a temporary folder; return its files and figures, or
    its error."""
    _prepare_process()
    started = time.perf_counter()
    stages: dict[str, float] = {}

    def on_stage(stage: str) -> None:
        stages.setdefault(stage, time.perf_counter())

    with tempfile.TemporaryDirectory(prefix="voipbed-run-") as temporary:
        summary: dict[str, Any] | None = None
        error = ""
        try:
            summary = run_scenario(task.scenario, Path(temporary), on_stage, engine=engine).summary
        except RunInterrupted as interrupted:
            return RunOutcome(interrupted=True, signal_number=interrupted.signal_number)
        except RunFailed as failed:
            error = str(failed).replace(str(failed.run_dir), f"points/{task.name}")
        except Exception as failed:  # recorded as the run's failure; the sweep goes on
            error = f"{type(failed).__name__}: {failed}"
        folders = [path for path in Path(temporary).iterdir() if path.is_dir()]
        files = _read_tree(folders[0]) if folders else {}
    first = STAGES[0] if engine == "sim" else EMULATE
    ran = first in stages and "write trace" in stages  # the engine's stage ended there
    return RunOutcome(
        files,
        summary,
        error,
        simulate_s=stages["write trace"] - stages[first] if ran else float("nan"),
        run_s=time.perf_counter() - started,
        host=socket.gethostname(),
    )


def failed_outcome(error: BaseException) -> RunOutcome:
    """The outcome of a task that raised instead of returning."""
    return RunOutcome(error=f"{type(error).__name__}: {error}", host="")


def _read_tree(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


class Executor(Protocol):
    """Runs tasks and yields each with its outcome as it finishes."""

    @property
    def capacity(self) -> int:
        """How many runs it computes at once."""

    def run(self, tasks: Sequence[RunTask]) -> Iterator[tuple[RunTask, RunOutcome]]: ...

    def __enter__(self) -> Executor: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


class LocalProcesses:
    """``workers`` processes of this machine."""

    def __init__(self, workers: int) -> None:
        self._workers = max(1, workers)

    @property
    def capacity(self) -> int:
        return self._workers

    def __enter__(self) -> LocalProcesses:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def run(self, tasks: Sequence[RunTask]) -> Iterator[tuple[RunTask, RunOutcome]]:
        with ProcessPoolExecutor(max_workers=min(self._workers, len(tasks) or 1)) as pool:
            futures = {pool.submit(compute_run, task): task for task in tasks}
            try:
                for future in as_completed(futures):
                    task = futures[future]
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        raise SweepAborted(
                            f"a worker process died (killed, or out of memory?) while the "
                            f"sweep ran {task.name} or another run; what was recorded is "
                            "kept: run the same command again to resume"
                        ) from None
                    except KeyboardInterrupt:
                        continue
                    except Exception as error:  # e.g. a result that did not pickle
                        outcome = failed_outcome(error)
                    yield task, outcome
            finally:
                for future in futures:
                    future.cancel()


class OneAtATime:
    """Runs tasks one after another in the calling process, with ``engine``.

    For the emulation: one emulation at a time holds the machine's namespaces, and it
    installs signal handlers, which only the main thread may. While the executor is open,
    SIGTERM raises :class:`~voipbed.emulation.network.Terminated` in the main thread, as
    Ctrl-C raises ``KeyboardInterrupt``: a run it stops is torn down and not recorded, and
    ``SweepInterrupted`` stops the sweep.
    """

    def __init__(self, engine: str) -> None:
        self._engine = engine
        self._restore: list[Any] = []

    @property
    def capacity(self) -> int:
        return 1

    def __enter__(self) -> OneAtATime:
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _raise_terminated)
            self._restore.append(signal.SIG_DFL if previous is None else previous)
        return self

    def __exit__(self, *_: object) -> None:
        while self._restore:
            signal.signal(signal.SIGTERM, self._restore.pop())

    def run(self, tasks: Sequence[RunTask]) -> Iterator[tuple[RunTask, RunOutcome]]:
        for task in tasks:
            outcome = compute_run(task, self._engine)
            if outcome.interrupted:
                raise SweepInterrupted(outcome.signal_number, task.name)
            yield task, outcome


def _raise_terminated(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(signum)


class DaskCluster:
    """The workers of the Dask ``distributed`` scheduler at ``address``.

    Dask retries a task whose worker died (``distributed.scheduler.allowed-failures``);
    a task that still fails, or raises, is that run's failure.
    """

    def __init__(self, address: str, connect_timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        from distributed import Client  # only for sweeps on a cluster

        try:
            self._client = Client(  # type: ignore[no-untyped-call]
                address, timeout=connect_timeout_s, set_as_default=False
            )
        except (ValueError, TypeError) as error:
            raise SchedulerAddressError(f"--scheduler {address}: {error}") from None
        except (OSError, TimeoutError) as error:
            raise SweepAborted(f"cannot reach the Dask scheduler at {address}: {error}") from None
        workers = self._client.scheduler_info().get("workers", {})
        self._capacity = max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))

    @property
    def capacity(self) -> int:
        return self._capacity

    def __enter__(self) -> DaskCluster:
        return self

    def __exit__(self, *_: object) -> None:
        self._client.close()  # type: ignore[no-untyped-call]

    def run(self, tasks: Sequence[RunTask]) -> Iterator[tuple[RunTask, RunOutcome]]:
        from distributed import as_completed as dask_completed

        sweep = uuid.uuid4().hex  # keys unique on the cluster: no other sweep's results
        futures = {
            self._client.submit(compute_run, task, key=f"voipbed-{sweep}-{task.name}"): task
            for task in tasks
        }
        try:
            finished = dask_completed(list(futures), loop=self._client.loop)  # type: ignore[no-untyped-call]
            for future in finished:
                task = futures[future]
                try:
                    outcome = future.result()
                except CancelledError:
                    raise SweepAborted(
                        f"the Dask scheduler cancelled {task.name} (did it stop?); what was "
                        "recorded is kept: run the same command again to resume"
                    ) from None
                except Exception as error:  # the task raised, or its workers kept dying
                    outcome = failed_outcome(error)
                yield task, outcome
        finally:
            self._client.cancel(list(futures))  # type: ignore[no-untyped-call]
