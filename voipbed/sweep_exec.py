"""Computing a sweep's runs: one task function, in local processes or on a Dask cluster.

``compute_run`` runs one point with one seed in a temporary folder of the
process it runs in and returns what the run wrote (file names and bytes),
its summary or its error, and how long it took; nothing is shared through a
disk. ``LocalProcesses`` runs it in a process pool, ``DaskCluster`` as tasks
of a Dask ``distributed`` cluster: both yield each run as it finishes, so
both give the same results.
"""

from __future__ import annotations

import functools
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import CancelledError, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from voipbed.allocator import keep_large_arrays_in_heap
from voipbed.runner import RunFailed, RunInterrupted, run_scenario
from voipbed.scenario import Scenario

__all__ = [
    "CONNECT_TIMEOUT_S",
    "DaskCluster",
    "Executor",
    "LocalProcesses",
    "RunOutcome",
    "RunTask",
    "SchedulerAddressError",
    "SweepAborted",
    "compute_run",
    "run_name",
]

CONNECT_TIMEOUT_S = 10.0
"""How long to try to reach a Dask scheduler before saying it cannot be reached."""


class SweepAborted(Exception):
    """The sweep cannot go on (a local worker died, the scheduler went away); what was
    recorded is kept, and the same command resumes it."""


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
    """The run was stopped by Ctrl-C: it has no result and is not recorded."""


@functools.cache
def _prepare_process() -> None:
    """Once per worker process: the allocator setting the ``voipbed`` command makes."""
    keep_large_arrays_in_heap()


def compute_run(task: RunTask) -> RunOutcome:
    """Run ``task`` in a temporary folder; return its files and figures, or its error."""
    _prepare_process()
    started = time.perf_counter()
    stages: dict[str, float] = {}

    def on_stage(stage: str) -> None:
        stages.setdefault(stage, time.perf_counter())

    with tempfile.TemporaryDirectory(prefix="voipbed-run-") as temporary:
        summary: dict[str, Any] | None = None
        error = ""
        try:
            summary = run_scenario(task.scenario, Path(temporary), on_stage).summary
        except RunInterrupted:
            return RunOutcome(interrupted=True)
        except RunFailed as failed:
            error = str(failed).replace(str(failed.run_dir), f"points/{task.name}")
        except Exception as failed:  # recorded as the run's failure; the sweep goes on
            error = f"{type(failed).__name__}: {failed}"
        folders = [path for path in Path(temporary).iterdir() if path.is_dir()]
        files = _read_tree(folders[0]) if folders else {}
    simulated = "write trace" in stages  # the simulate stage ended where writing began
    return RunOutcome(
        files,
        summary,
        error,
        simulate_s=stages["write trace"] - stages["simulate"] if simulated else float("nan"),
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
