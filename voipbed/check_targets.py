"""What ``voipbed check`` is given, turned into folders to check: runs, sweeps and scenarios.

A run or sweep folder is checked as it is. A scenario file is run first, in
the simulator, into ``out_dir``; a folder of scenario files (a regression
suite such as ``scenarios/regression/``) is each of its ``*.yaml`` files in
name order. A scenario ``NAME.yaml`` with ``NAME.expected.json`` beside it is
also held to the figures recorded there (``voipbed.regression``); with
``update_expected`` the run's figures are recorded there instead, and what
moved is said.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voipbed.check import SUMMARY, SWEEP
from voipbed.regression import expected_path, update_expected

if TYPE_CHECKING:
    from voipbed.loader import SweepPoint
    from voipbed.scenario import Scenario

__all__ = ["Target", "is_result_folder", "resolve_targets"]


@dataclass(frozen=True)
class Target:
    """A folder to check, the figures it is held to, or why its scenario did not run."""

    name: str
    folder: Path | None
    expected: Path | None = None
    failure: str = ""


def is_result_folder(path: Path) -> bool:
    """A run folder or a sweep folder."""
    return (path / SUMMARY).is_file() or (path / SWEEP).is_file()


def resolve_targets(
    targets: Sequence[Path],
    out_dir: Path,
    *,
    update: bool = False,
    say: Callable[[str], None] = print,
) -> list[Target]:
    """Every target as a folder to check, running scenario files first.

    Raises ``voipbed.loader.ScenarioError`` for a scenario that does not load
    (before anything runs) and ``FileNotFoundError`` for a target that is
    none of the above.
    """
    from voipbed.loader import load_scenario, load_sweep

    files: list[Path] = []
    folders: list[Path] = []
    for target in targets:
        if target.is_dir() and is_result_folder(target):
            folders.append(target)
        elif target.is_dir():
            found = sorted(target.glob("*.yaml"))
            if not found:
                raise FileNotFoundError(f"{target}: no run, sweep or scenario files in it")
            files += found
        elif target.is_file():
            files.append(target)
        else:
            raise FileNotFoundError(f"{target}: no such file or folder")
    scenarios = [(file, load_scenario(file), load_sweep(file)) for file in files]
    resolved = [Target(folder.name, folder) for folder in folders]
    for file, scenario, points in scenarios:
        expected = expected_path(file)
        if points:
            resolved.append(_run_sweep(scenario, points, out_dir))
            continue
        ran, summary = _run(file, scenario, out_dir)
        if summary is not None and update:
            for line in update_expected(expected, scenario.name, summary) or ["nothing moved"]:
                say(f"{expected}: {line}")
        figures = expected if expected.is_file() else None
        resolved.append(Target(ran.name, ran.folder, figures, ran.failure))
    return resolved


def _run(file: Path, scenario: Scenario, out_dir: Path) -> tuple[Target, dict[str, Any] | None]:
    """Run ``scenario``: its target, and its summary (None if it failed)."""
    from voipbed.runner import RunFailed, run_scenario

    try:
        result = run_scenario(scenario, out_dir)
    except RunFailed as error:
        return Target(scenario.name, None, failure=f"{file}: {error}"), None
    return Target(scenario.name, result.run_dir), result.summary


def _run_sweep(scenario: Scenario, points: Sequence[SweepPoint], out_dir: Path) -> Target:
    from voipbed.sweep import run_sweep

    result = run_sweep(scenario, points, out_dir)
    return Target(scenario.name, result.sweep_dir)
