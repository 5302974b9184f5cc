"""The ``voipbed`` command: load, run, write. Exit codes: 0 ok, 1 failure, 2 bad input.

Each command imports what it needs when it runs: ``--help`` and ``--version``
load neither the scenario models nor an engine, ``validate`` and ``schema``
only the scenario, and ``run`` the engine it runs (numba, pandas).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from voipbed import __version__
from voipbed.emulation.cleanup import DEFAULT_STATE_DIR, clean_dead_runs
from voipbed.engines import ENGINES, STAGES
from voipbed.json_log import configure

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console

    from voipbed.loader import SweepPoint
    from voipbed.scenario import Scenario
    from voipbed.sweep import SweepProgress

__all__ = ["entry", "main"]

_Command = TypeVar("_Command", bound=Callable[..., Any])

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2

# Above this many packets a run takes about a second or more: show progress.
_PROGRESS_PACKETS = 500_000


_quick_exit = False
"""Set by a simulator run: nothing it leaves needs Python's teardown (see ``entry``)."""


def entry() -> NoReturn:
    """The ``voipbed`` console command: ``main``, then the process's exit.

    After a simulator run, everything is written and closed, and no thread or
    child process is left; tearing down the interpreter's modules (numba's
    compiler, pyarrow, pandas) would then cost about 0.3 s for nothing, so
    the process ends at once after flushing its output and logs. Every other
    command (the emulation above all, whose cleanup must run) exits normally.
    """
    try:
        main()
    except SystemExit as finished:
        if not _quick_exit:
            raise
        code = finished.code
        if code is not None and not isinstance(code, int):
            click.echo(code, err=True)
            code = EXIT_FAILURE
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code or 0)
    raise AssertionError("click's standalone main always exits")


def _out_option(help_text: str) -> Callable[[_Command], _Command]:
    """``--out DIR`` (default ``runs``): where a command writes its new folder."""
    return click.option(
        "--out",
        "out_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("runs"),
        show_default=True,
        help=help_text,
    )


def _fail(message: str, code: int) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="voipbed")
@click.option("-v", "--verbose", is_flag=True, help="Log what happens, to stderr, as JSON lines.")
def main(verbose: bool) -> None:
    """voipbed: how a mobile-VoIP design choice will sound on a real mobile network.

    Scenarios are YAML files (see `voipbed schema`); runs go to runs/ by default.
    """
    configure(logging.INFO if verbose else logging.WARNING, sys.stderr)


@main.command()
@click.argument("scenario_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a scenario value, e.g. --set path[0].one_way_delay=40ms (repeatable).",
)
@click.option("--seed", type=click.IntRange(min=0), help="Override the scenario's seed.")
@_out_option("Folder that receives the run folder.")
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="sim",
    show_default=True,
    help="The simulator, or real SIP/RTP stacks in network namespaces (root).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Processes that run a sweep's points at once (simulator)  [default: the number of cores]",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Run a sweep's points on the Dask cluster of this scheduler (tcp://HOST:PORT).",
)
@click.option(
    "--resume",
    "resume_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    metavar="SWEEP_DIR",
    help="Carry on this sweep folder's sweep  [default: the newest of the same scenario in --out]",
)
@click.option(
    "--check",
    "check_after",
    is_flag=True,
    help="Then check the scenario's expect: thresholds, as `voipbed check` does.",
)
@click.option(
    "--junit",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --check: where to write the JUnit XML  [default: junit.xml in the run folder]",
)
def run(
    scenario_file: Path,
    overrides: tuple[str, ...],
    seed: int | None,
    out_dir: Path,
    engine: str,
    workers: int | None,
    scheduler: str | None,
    resume_dir: Path | None,
    check_after: bool,
    junit: Path | None,
) -> None:
    """Run SCENARIO_FILE in the simulator; print the path of its report.

    A scenario with a ``sweep`` (or ``seeds``) runs once per point and seed
    (in the emulation one after another) and writes a report that ranks the
    points; run again with the same --out, it computes only what is not
    recorded yet. With --check, the run (or every point) is then checked
    against the scenario's ``expect:`` thresholds: exit 1 if one fails.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from voipbed.allocator import keep_large_arrays_in_heap
    from voipbed.runner import RunFailed, RunInterrupted, run_scenario

    global _quick_exit
    scenario = _load(scenario_file, overrides, seed)
    _quick_exit = engine == "sim"
    keep_large_arrays_in_heap()
    console = Console(stderr=True)
    swept = scenario.sweep is not None or scenario.seeds is not None
    if engine == "emulation" and not swept:  # a sweep's points are checked once loaded
        _check_emulation(scenario)
    if check_after and not scenario.expect:
        _fail(f"voipbed: {scenario_file} has no expect: thresholds to --check", EXIT_BAD_INPUT)
    if swept:
        where = _SweepWhere(out_dir, workers, scheduler, resume_dir, engine)
        sweep_dir = _run_sweep(
            scenario, scenario_file, overrides, seed, where, console, check_after
        )
        if check_after:
            _check_and_exit([(sweep_dir, None, "")], junit)
        return
    if scheduler is not None or resume_dir is not None:
        option = "--scheduler" if scheduler is not None else "--resume"
        _fail(f"voipbed: {option} is for sweeps; {scenario_file} has no sweep:", EXIT_BAD_INPUT)
    calls = scenario.calls
    packets = 2 * calls.count * scenario.duration_s / calls.ptime_s
    show = console.is_terminal and (engine == "emulation" or packets > _PROGRESS_PACKETS)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not show,
    ) as progress:
        task = progress.add_task(scenario.name, total=len(STAGES))

        def on_stage(stage: str) -> None:
            done = STAGES.index(stage) if stage in STAGES else 0  # "emulate" stands first
            progress.update(task, completed=done, description=f"{scenario.name}: {stage}")

        try:
            result = run_scenario(scenario, out_dir, on_stage=on_stage, engine=engine)
        except RunFailed as error:
            _fail(f"voipbed: {error}", EXIT_FAILURE)
        except RunInterrupted as error:
            _fail(f"voipbed: {error}", 128 + error.signal_number)
        except OSError as error:
            _fail(f"voipbed: cannot write the run under {out_dir}: {error}", EXIT_FAILURE)
    for warning in result.summary.get("warnings", []):
        click.echo(f"voipbed: warning: {warning}", err=True)
    mos = result.summary["metrics"]["mos"]["mean"]
    if mos is not None:
        click.echo(
            f"{scenario.name}: mean MOS {mos:.2f} over {result.summary['flows']} flows", err=True
        )
    click.echo(str(result.report))
    if check_after:
        _check_and_exit([(result.run_dir, None, "")], junit)


def _check_emulation(scenario: Scenario, points: Sequence[SweepPoint] = ()) -> None:
    """Refuse, before anything is built, what the emulation cannot run here or at all:
    ``scenario``, or when given, every point of its sweep (each named)."""
    from voipbed.emulation.engine import missing_prerequisites, unsupported

    if not points:
        problems = unsupported(scenario)
        if problems:
            lines = "\n".join(f"  {problem}" for problem in problems)
            _fail(
                f"voipbed: the emulation cannot run {scenario.name} yet:\n{lines}", EXIT_BAD_INPUT
            )
    refused = [
        f"  sweep point {point.index} ({point.label}): {problem}"
        for point in points
        for problem in unsupported(point.scenario)
    ]
    if refused:
        lines = "\n".join(refused)
        _fail(
            f"voipbed: the emulation cannot run every point of {scenario.name} yet:\n{lines}",
            EXIT_BAD_INPUT,
        )
    missing: list[str] = []
    for each in [point.scenario for point in points] or [scenario]:
        missing += [reason for reason in missing_prerequisites(each) if reason not in missing]
    if missing:
        _fail(f"voipbed: cannot emulate on this machine: {'; '.join(missing)}", EXIT_FAILURE)


@dataclass(frozen=True)
class _SweepWhere:
    """Where a sweep is written and computed: --out, --workers, --scheduler, --resume,
    --engine."""

    out_dir: Path
    workers: int | None
    scheduler: str | None
    resume_dir: Path | None
    engine: str = "sim"


def _run_sweep(
    base: Scenario,
    scenario_file: Path,
    overrides: tuple[str, ...],
    seed: int | None,
    where: _SweepWhere,
    console: Console,
    checked: bool,
) -> Path:
    """Run (or resume) a sweep's points; return its folder.

    A run that failed makes the command exit 1, here or, when the sweep is
    ``checked``, in the check (which reports it as an error).
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from voipbed.loader import ScenarioError, load_sweep
    from voipbed.sim.unmodelled import ignored_keys, sweep_warnings
    from voipbed.sweep import (
        SchedulerAddressError,
        SweepAborted,
        SweepFolderError,
        SweepInterrupted,
        run_sweep,
    )
    from voipbed.sweep_axes import sweep_axes

    emulated = where.engine == "emulation"
    for option, value in (("--workers", where.workers), ("--scheduler", where.scheduler)):
        if emulated and value is not None:
            _fail(
                f"voipbed: {option}: an emulated sweep runs its points one after another "
                "in this process (the machine holds one emulation at a time); "
                "not with --engine emulation",
                EXIT_BAD_INPUT,
            )
    if where.scheduler is not None and where.workers is not None:
        _fail("voipbed: --workers is for local processes; not with --scheduler", EXIT_BAD_INPUT)
    if seed is not None and isinstance(base.seeds, tuple):
        _fail(
            f"voipbed: --seed {seed}: {scenario_file} lists its seeds (seeds: {list(base.seeds)}); "
            "set them with --set 'seeds=[...]'",
            EXIT_BAD_INPUT,
        )
    try:
        points = load_sweep(scenario_file, overrides, seed=seed)
    except ScenarioError as error:
        _fail(str(error), EXIT_BAD_INPUT)
    if emulated:
        _check_emulation(base, points)
    total = sum(len(point.seeds) for point in points)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} runs, {task.fields[state]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task(f"{base.name}: sweep", total=total, state="starting")

        def on_progress(state: SweepProgress) -> None:
            progress.update(task, completed=state.done, state=_progress_text(state))

        try:
            result = run_sweep(
                base,
                points,
                where.out_dir,
                workers=where.workers,
                scheduler=where.scheduler,
                resume=where.resume_dir or True,
                on_progress=on_progress,
                engine=where.engine,
            )
        except (SweepFolderError, SchedulerAddressError) as error:
            _fail(f"voipbed: {error}", EXIT_BAD_INPUT)
        except SweepAborted as error:
            _fail(f"voipbed: {error}", EXIT_FAILURE)
        except SweepInterrupted as error:
            _fail(f"voipbed: {error}", 128 + error.signal_number)
        except KeyboardInterrupt:
            _fail("voipbed: interrupted; what was recorded is kept: run it again to resume", 130)
        except OSError as error:
            _fail(f"voipbed: cannot write the sweep under {where.out_dir}: {error}", EXIT_FAILURE)
    if result.computed < total:
        click.echo(
            f"{base.name}: {total - result.computed} of {total} runs were recorded already "
            f"in {result.sweep_dir}",
            err=True,
        )
    swept = [key for axis in sweep_axes(base.sweep) for key in axis.keys] if base.sweep else []
    flat = base.model_copy(update={"sweep": dict.fromkeys(swept, ())})
    # Settings the simulator ignores; the emulation refused up front what it cannot run.
    ignored = [] if emulated else ignored_keys(swept, flat)
    warnings = [] if emulated else sweep_warnings(flat, [point.scenario for point in points])
    for warning in warnings:
        click.echo(f"voipbed: warning: {warning}", err=True)
    table = result.points
    ranked = not ignored  # no "best" among points that are one run
    if ranked and len(table) > 1 and table.loc[0, "status"] == "ok":
        best = table.loc[0]
        click.echo(
            f"{base.name}: best of {len(table)} points{' (emulation)' if emulated else ''}: "
            f"#{best['point']} {best['label']} "
            f"(mean MOS {best['mos_mean']:.2f}, rank {best['rank']})",
            err=True,
        )
    click.echo(str(result.report))
    if result.failed and not checked:
        _fail(
            f"voipbed: {result.failed} of {len(result.runs)} runs failed (see sweep.json); "
            f"the others' results are kept in {result.sweep_dir}",
            EXIT_FAILURE,
        )
    return result.sweep_dir


def _progress_text(state: SweepProgress) -> str:
    """``2 failed, 4 running, 3:12 left``."""
    left = "time left unknown" if state.left_s is None else f"{_clock(state.left_s)} left"
    return f"{state.failed} failed, {state.running} running, {left}"


def _clock(seconds: float) -> str:
    minutes, second = divmod(round(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{second:02d}" if hours else f"{minute}:{second:02d}"


@main.command()
@click.argument("targets", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--junit",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write one JUnit XML file for everything checked here  "
    "[default: junit.xml in each run or sweep folder]",
)
@_out_option("Folder that receives the runs of scenario files.")
@click.option(
    "--update-expected",
    is_flag=True,
    help="Record each scenario's figures in its NAME.expected.json and say what moved.",
)
def check(
    targets: tuple[Path, ...], junit: Path | None, out_dir: Path, update_expected: bool
) -> None:
    """Check TARGETS against their expect: thresholds and recorded regression figures.

    TARGETS are run or sweep folders, scenario files (run first, in the
    simulator, into --out) or folders of scenario files (a regression suite,
    e.g. scenarios/regression). A scenario NAME.yaml with NAME.expected.json
    beside it is also held to the figures recorded there. Prints each line
    with the value measured and its verdict, and writes JUnit XML (one
    testcase per expectation or figure, per point). Exits 1 if one does not
    hold (or a run failed), 0 if all hold, 2 if a target cannot be checked.
    """
    global _quick_exit
    from voipbed.check_targets import resolve_targets
    from voipbed.loader import ScenarioError

    _quick_exit = True  # only simulator runs happen here
    try:
        resolved = resolve_targets(
            targets, out_dir, update=update_expected, say=lambda line: click.echo(line, err=True)
        )
    except ScenarioError as error:
        _fail(str(error), EXIT_BAD_INPUT)
    except FileNotFoundError as error:
        _fail(f"voipbed: {error}", EXIT_BAD_INPUT)
    _check_and_exit(
        [(target.folder, target.expected, target.failure) for target in resolved], junit
    )


def _check_and_exit(
    targets: list[tuple[Path | None, Path | None, str]], junit: Path | None
) -> NoReturn:
    """Check each (folder, recorded figures, why it did not run); print, write JUnit, exit."""
    from voipbed.check import CheckError, CheckResult, PointCheck, check_folder, check_table
    from voipbed.junit import write_junit

    results = []
    for folder, expected, failure in targets:
        if folder is None:
            point = PointCheck("", None, (), failure)
            results.append(CheckResult(failure.partition(":")[0], Path("."), (point,)))
            click.echo(f"voipbed: {failure}", err=True)
            continue
        try:
            result = check_folder(folder, expected)
        except CheckError as error:
            _fail(f"voipbed: {error}", EXIT_BAD_INPUT)
        for line in check_table(result):
            click.echo(line)
        results.append(result)
        if junit is None:
            click.echo(f"JUnit XML: {write_junit([result], folder / 'junit.xml')}", err=True)
    if junit is not None:
        click.echo(f"JUnit XML: {write_junit(results, junit)}", err=True)
    sys.exit(0 if all(result.ok for result in results) else EXIT_FAILURE)


@main.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
@_out_option("Folder that receives the comparison's folder.")
def compare(runs: tuple[Path, ...], out_dir: Path) -> None:
    """Put two or more RUNS (run folders or sweep points) side by side.

    Prints the headline figures of each run with its difference from the first,
    and writes a report with overlaid delay CDFs, per-flow MOS and the lines of
    the scenarios that differ; prints the report's path.
    """
    from voipbed.compare import CompareError, compare_lines, load_run, write_comparison

    if len(runs) < 2:
        _fail("voipbed: compare needs at least two run folders", EXIT_BAD_INPUT)
    letters = [chr(ord("A") + k) if k < 26 else f"R{k + 1}" for k in range(len(runs))]
    try:
        loaded = [load_run(folder, letter) for folder, letter in zip(runs, letters, strict=True)]
    except CompareError as error:
        _fail(f"voipbed: {error}", EXIT_BAD_INPUT)
    for line in compare_lines(loaded):
        click.echo(line)
    try:
        report = write_comparison(loaded, out_dir)
    except OSError as error:
        _fail(f"voipbed: cannot write the comparison under {out_dir}: {error}", EXIT_FAILURE)
    click.echo(str(report))


@main.command("import")
@click.argument("captures", nargs=-1, required=True, type=click.Path(path_type=Path))
@_out_option("Folder that receives the imported run's folder.")
@click.option(
    "--scenario",
    "scenario_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Score with this scenario's jitter buffer, device and codec settings.",
)
@click.option(
    "--codec",
    help="The codec of dynamic RTP payload types (96-127), e.g. AMR-WB-12.65; overrides what "
    "the captures' SDP says. Without it the SDP tells each stream's codec (its mode read "
    "from the payloads), else the scenario's codec.",
)
def import_(
    captures: tuple[Path, ...], out_dir: Path, scenario_file: Path | None, codec: str | None
) -> None:
    """Import CAPTURES (pcap or pcapng: one taken where the media were received, or two,
    one at each end, the phones' first) into a run folder; print its report's path.

    RTP streams are found by SSRC, scored like a simulated run's, and written as
    packets.parquet, metrics.parquet, summary.json and the report.
    """
    from voipbed.capture_import import CaptureImportError, import_captures
    from voipbed.loader import ScenarioError
    from voipbed.pcap_file import CaptureError
    from voipbed.runner import RunFailed

    try:
        result = import_captures(captures, out_dir, scenario_file=scenario_file, codec=codec)
    except (CaptureError, CaptureImportError, ScenarioError) as error:
        _fail(f"voipbed: {error}", EXIT_BAD_INPUT)
    except RunFailed as error:
        _fail(f"voipbed: {error}", EXIT_FAILURE)
    except OSError as error:
        _fail(f"voipbed: cannot import {error.filename or ''}: {error.strerror}", EXIT_BAD_INPUT)
    streams = result.streams
    skipped = sum(streams.skipped.values())
    click.echo(
        f"voipbed: {streams.streams} RTP streams in {streams.calls} calls; "
        f"{skipped} frames skipped"
        + (": " + ", ".join(f"{n} {why}" for why, n in streams.skipped.items()) if skipped else ""),
        err=True,
    )
    click.echo(str(result.report))


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Scenario file to write (the comparison goes beside it, .fit.json).",
)
def fit(run_dir: Path, out_file: Path) -> None:
    """Fit the path models to RUN_DIR (an imported capture, or any run) and write a
    scenario that reproduces it; print how well it does.

    Delay (base plus the jitter distribution that fits best, or the link's capacity where
    packets queue) and loss (Gilbert-Elliott, or Bernoulli when losses are independent);
    the fitted scenario is simulated and compared with the run.
    """
    from voipbed.fit_run import FIGURES, fit_run
    from voipbed.loader import ScenarioError

    try:
        report = fit_run(run_dir, out_file)
    except (ScenarioError, ValueError) as error:
        _fail(f"voipbed: {error}", EXIT_BAD_INPUT)
    except OSError as error:
        _fail(f"voipbed: cannot fit {run_dir}: {error}", EXIT_BAD_INPUT)
    click.echo(f"{'':>14} {'run':>10} {'fitted':>10}", err=True)
    for name in FIGURES:
        observed, fitted = report.observed[name], report.fitted[name]
        click.echo(f"{name:>14} {observed:>10.3f} {fitted:>10.3f}", err=True)
    click.echo(str(report.scenario_path))


@main.command("export-pcap")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the captures (default: the run folder).",
)
def export_pcap(run_dir: Path, out_dir: Path | None) -> None:
    """Write RUN_DIR's media as the captures its two ends would have taken (ue.pcap,
    far_end.pcap); print their paths."""
    from voipbed.loader import ScenarioError
    from voipbed.pcap_export import export_pcaps

    try:
        paths = export_pcaps(run_dir, out_dir if out_dir is not None else run_dir)
    except ScenarioError as error:
        _fail(f"voipbed: {error}", EXIT_BAD_INPUT)
    except OSError as error:
        _fail(
            f"voipbed: cannot export {error.filename or run_dir}: {error.strerror}", EXIT_BAD_INPUT
        )
    for path in paths:
        click.echo(str(path))


@main.command()
@click.argument("scenario_files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="As for `run`.")
def validate(scenario_files: tuple[Path, ...], overrides: tuple[str, ...]) -> None:
    """Check SCENARIO_FILES; print every problem with its file, line and key."""
    from voipbed.loader import ScenarioError, load_sweep

    bad = 0
    for path in scenario_files:
        try:
            points = load_sweep(path, overrides)  # also checks every point of a sweep
        except ScenarioError as error:
            bad += 1
            click.echo(str(error), err=True)
        else:
            click.echo(f"{path}: ok" + (f" ({_runs_of(points)})" if points else ""))
    if bad:
        sys.exit(EXIT_BAD_INPUT)


@main.command()
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_STATE_DIR,
    show_default=True,
    help="Where emulation runs are recorded while their network is up.",
)
def clean(state_dir: Path) -> None:
    """Remove what dead emulation runs left (namespaces, interfaces, processes).

    Only runs whose voipbed process is gone are touched, each by its own run
    id; a running emulation is left alone. Exits 1 if something could not be
    removed (it is kept on record, to try again).
    """
    report = clean_dead_runs(state_dir)
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        sys.exit(EXIT_FAILURE)


@main.command()
def schema() -> None:
    """Print the scenario JSON Schema (for editors) to stdout."""
    from voipbed.schema_doc import scenario_schema

    click.echo(json.dumps(scenario_schema(), indent=2))


def _runs_of(points: list[SweepPoint]) -> str:
    """``3 sweep points`` or ``3 sweep points x 5 seeds = 15 runs``."""
    count = len(points)
    text = f"{count} sweep point" + ("s" if count != 1 else "")
    seeds = len(points[0].seeds) if points else 0
    if seeds > 1:
        text += f" x {seeds} seeds = {sum(len(point.seeds) for point in points)} runs"
    return text


def _load(path: Path, overrides: tuple[str, ...], seed: int | None) -> Scenario:
    from voipbed.loader import ScenarioError, load_scenario

    try:
        return load_scenario(path, overrides, seed=seed)
    except ScenarioError as error:
        _fail(str(error), EXIT_BAD_INPUT)
