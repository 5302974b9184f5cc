"""A sweep: every point of a scenario's ``sweep``, once per seed, compared in one folder.

Each run (a point with one seed) is computed by ``voipbed.sweep_exec``: in the
simulator in local processes or on a Dask cluster, in the emulation one after
another in this process. Each is recorded in the sweep folder as it finishes
(``voipbed.sweep_store``); ``sweep.json`` (which also names the engine),
``points.parquet`` (one row per point, figures over seeds:
``voipbed.sweep_table``) and ``runs.parquet`` (one row per run) are rewritten
from the records at most every ``TABLES_EVERY_S`` while it runs, and at its
end. A sweep resumed in its folder computes only the runs without a record
(the records, not the tables, say what is done); a folder holds the runs of
one engine.
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from voipbed.emulation.network import Terminated
from voipbed.expectations import Expectation, parse_expectation
from voipbed.loader import SweepPoint
from voipbed.reports.sweep import write_sweep_report
from voipbed.scenario import Scenario
from voipbed.sweep_exec import (
    CONNECT_TIMEOUT_S,
    DaskCluster,
    Executor,
    LocalProcesses,
    OneAtATime,
    RunOutcome,
    RunTask,
    SchedulerAddressError,
    SweepAborted,
    SweepInterrupted,
    run_name,
)
from voipbed.sweep_store import POINTS, SweepFolderError, SweepStore
from voipbed.sweep_table import FIGURES, point_rows, rank_points, run_row

__all__ = [
    "FIGURES",
    "TABLES_EVERY_S",
    "SchedulerAddressError",
    "SweepAborted",
    "SweepFolderError",
    "SweepInterrupted",
    "SweepProgress",
    "SweepResult",
    "rank_points",
    "run_sweep",
]

log = logging.getLogger(__name__)

SWEEP_JSON = "sweep.json"

TABLES_EVERY_S = 1.0
"""How often the tables are rewritten while runs finish: rebuilding them after every run of
a large sweep of short runs would take the workers' CPU."""


@dataclass(frozen=True)
class SweepResult:
    """Where the sweep is, its tables (points ranked best first; runs) and its report."""

    sweep_dir: Path
    points: pd.DataFrame
    runs: pd.DataFrame
    report: Path
    computed: int
    """Runs computed by this call (the others were recorded before: a resumed sweep)."""

    @property
    def failed(self) -> int:
        """Runs that failed."""
        return int((self.runs["status"] != "ok").sum()) if not self.runs.empty else 0


@dataclass(frozen=True)
class SweepProgress:
    """Where a sweep stands: runs recorded (failed among them), running, and in all."""

    done: int
    failed: int
    running: int
    total: int
    left_s: float | None
    """Time left, from the pace of the runs finished by this call (None before the first)."""


def time_left(elapsed_s: float, computed: int, remaining: int) -> float | None:
    """Seconds left at the pace so far: ``computed`` runs took ``elapsed_s``."""
    if remaining == 0:
        return 0.0
    return elapsed_s / computed * remaining if computed else None


def run_sweep(
    base: Scenario,
    points: Sequence[SweepPoint],
    out_dir: Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool | Path = False,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    on_progress: Callable[[SweepProgress], None] | None = None,
    engine: str = "sim",
) -> SweepResult:
    """Run every point with each of its seeds in ``engine`` and compare them in a sweep folder.

    ``resume``: False makes a new folder under ``out_dir``; True carries on in
    the newest folder of the same resolved scenario and engine there (or makes
    one); a path carries on in that folder (``SweepFolderError`` if it holds
    another scenario, or runs of another engine). Only runs without a record
    are computed: in the simulator in up to ``workers`` local processes or, with
    ``scheduler`` (a Dask scheduler's address), on its cluster; in the emulation
    one after another in this process (``ValueError`` with ``workers`` or
    ``scheduler``). A run that fails is recorded with its error and the others
    go on; ``SweepAborted`` if the sweep cannot go on. In the emulation,
    ``SweepInterrupted`` if SIGTERM, or Ctrl-C during a run, stopped it (Ctrl-C
    between runs raises ``KeyboardInterrupt``, as in the simulator).
    """
    started = time.perf_counter()
    try:
        with _executor(engine, workers, scheduler, connect_timeout_s) as executor:
            store = _open(base, out_dir, resume, engine)
            return _run(store, base, points, executor, started, on_progress, engine)
    except Terminated as terminated:  # SIGTERM while no run was going: between runs
        raise SweepInterrupted(terminated.signum) from None


def _run(
    store: SweepStore,
    base: Scenario,
    points: Sequence[SweepPoint],
    executor: Executor,
    started: float,
    on_progress: Callable[[SweepProgress], None] | None,
    engine: str,
) -> SweepResult:
    """Compute the runs of ``points`` that ``store`` has no record of, recording each; if the
    sweep is interrupted, the tables hold what was recorded."""
    by_index = {point.index: point for point in points}
    with store.locked():
        for name in store.clear_leftovers():
            log.info("removed the unfinished run %s of an earlier sweep", name)
        records = store.records()
        tasks = [
            RunTask(point.index, seed, point.with_seed(seed))
            for point in points
            for seed in point.seeds
            if run_name(point.index, seed) not in records
        ]
        total = sum(len(point.seeds) for point in points)
        state = _Tracker(total, records, on_progress)
        _write_tables(store, points, records, engine)
        written_at = time.perf_counter()
        if tasks:
            state.capacity = executor.capacity
            state.pending = len(tasks)
            state.report()
            try:
                for task, outcome in executor.run(tasks):
                    state.pending -= 1
                    if outcome.interrupted:
                        continue
                    _record(store, by_index[task.point], task, outcome, records)
                    if time.perf_counter() - written_at >= TABLES_EVERY_S:
                        _write_tables(store, points, records, engine)
                        written_at = time.perf_counter()
                    state.finished(outcome, time.perf_counter() - started)
            except SweepInterrupted:
                _write_tables(store, points, records, engine)
                raise
        store.remove_staging()
        points_table, runs_table = _write_tables(store, points, records, engine)
        resolved = yaml.safe_dump(base.to_yaml_dict(), sort_keys=False, allow_unicode=True)
        report = write_sweep_report(
            store.path,
            base=base,
            scenario_yaml=resolved,
            points=points_table,
            runs=runs_table,
            expectations={point.index: _expectations(point.scenario) for point in points},
            engine=engine,
        )
    return SweepResult(store.path, points_table, runs_table, report, len(tasks))


def _expectations(scenario: Scenario) -> list[Expectation]:
    """A point's ``expect`` thresholds, as its scenario validated them."""
    segments = [segment.name for segment in scenario.path]
    return [parse_expectation(text, segments) for text in scenario.expect]


def _open(base: Scenario, out_dir: Path, resume: bool | Path, engine: str) -> SweepStore:
    if isinstance(resume, Path):
        store = SweepStore.open(resume, base)
        there = _engine_of(store)
        if there not in (None, engine):
            raise SweepFolderError(
                f"{resume} holds a sweep run with --engine {there}, not --engine {engine}"
            )
        return store
    found = SweepStore.find(out_dir, base) if resume else None
    if found is not None and _engine_of(found) not in (None, engine):
        found = None  # the same scenario's sweep in the other engine: not these runs
    return found if found is not None else SweepStore.create(out_dir, base)


def _engine_of(store: SweepStore) -> str | None:
    """The engine ``store``'s runs ran in, as its ``sweep.json`` says (written before any run
    is recorded; the simulator's if it names none); None before it is written."""
    try:
        state = json.loads((store.path / SWEEP_JSON).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise SweepFolderError(f"{store.path / SWEEP_JSON}: cannot be read: {error}") from None
    engine = state.get("engine", "sim") if isinstance(state, dict) else None
    if not isinstance(engine, str):
        raise SweepFolderError(f"{store.path / SWEEP_JSON}: no engine named")
    return engine


def _executor(
    engine: str, workers: int | None, scheduler: str | None, connect_timeout_s: float
) -> Executor:
    if engine != "sim":
        if workers is not None or scheduler is not None:
            raise ValueError(f"runs in the {engine} go one after another: no workers, no scheduler")
        return OneAtATime(engine)
    if scheduler is not None:
        return DaskCluster(scheduler, connect_timeout_s)
    return LocalProcesses(workers or os.cpu_count() or 1)


def _record(
    store: SweepStore,
    point: SweepPoint,
    task: RunTask,
    outcome: RunOutcome,
    records: dict[str, dict[str, Any]],
) -> None:
    row = run_row(point, task.seed, f"{POINTS}/{task.name}", outcome.summary, outcome.error)
    row.update(simulate_s=outcome.simulate_s, run_s=outcome.run_s, host=outcome.host)
    if store.commit(task.name, outcome.files, row):
        records[task.name] = row


class _Tracker:
    """Counts for the progress callback."""

    def __init__(
        self,
        total: int,
        records: dict[str, dict[str, Any]],
        on_progress: Callable[[SweepProgress], None] | None,
    ) -> None:
        self.total = total
        self.done = len(records)
        self.failed = sum(record["status"] != "ok" for record in records.values())
        self.computed = 0
        self.pending = 0
        self.capacity = 1
        self.left_s: float | None = None
        self.on_progress = on_progress

    def finished(self, outcome: RunOutcome, elapsed_s: float) -> None:
        self.done += 1
        self.computed += 1
        self.failed += outcome.summary is None
        self.left_s = time_left(elapsed_s, self.computed, self.total - self.done)
        self.report()

    def report(self) -> None:
        if self.on_progress is not None:
            running = min(self.pending, self.capacity)
            self.on_progress(
                SweepProgress(self.done, self.failed, running, self.total, self.left_s)
            )


def _write_tables(
    store: SweepStore,
    points: Sequence[SweepPoint],
    records: dict[str, dict[str, Any]],
    engine: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rewrite sweep.json, points.parquet and runs.parquet from the records."""
    names = [run_name(point.index, seed) for point in points for seed in point.seeds]
    order = {name: position for position, name in enumerate(names)}
    runs = [records[name] for name in sorted(records, key=lambda name: order.get(name, 1 << 30))]
    points_table = rank_points(point_rows(points, runs))
    runs_table = pd.DataFrame(runs)
    recorded = Counter(int(run["point"]) for run in runs)
    state = {
        "engine": engine,
        "points_total": len(points),
        "points_done": sum(recorded[point.index] == len(point.seeds) for point in points),
        "runs_total": sum(len(point.seeds) for point in points),
        "runs_done": len(runs),
        "points": _records(points_table),
        "runs": _records(runs_table),
    }
    tables = {}
    for name, table in (("points.parquet", points_table), ("runs.parquet", runs_table)):
        if not table.empty:
            buffer = io.BytesIO()
            pq.write_table(pa.Table.from_pandas(table, preserve_index=False), buffer)
            tables[name] = buffer.getvalue()
    store.write_tables(state, tables)
    return points_table, runs_table


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(key): value for key, value in row.items()} for row in table.to_dict("records")]
