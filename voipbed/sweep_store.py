"""A sweep's folder on disk: where each run is recorded, once and atomically.

::

    <name>-<UTC>-<hash>/       the hash is of the resolved scenario (sweep and seeds included)
      scenario.yaml            the resolved scenario
      points/p003-s2/          point 3 with seed 2: an ordinary run folder, and record.json
      staging/                 runs being written; what a killed sweep left here is removed
      sweep.json, points.parquet, runs.parquet, report.html    made from the records

A run is written into ``staging/<run>/`` with its ``record.json`` last, then
renamed to ``points/<run>/``: a run folder holds its record or does not
exist, and a second result of the same run can never be recorded beside the
first (the rename fails). Tables are written to a temporary file and renamed
over the old one. One process at a time works in a sweep folder (a lock).
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from voipbed.keypath import format_key_path
from voipbed.rundir import create_run_dir, scenario_hash
from voipbed.scenario import Scenario

__all__ = [
    "POINTS",
    "RECORD",
    "STAGING",
    "SweepFolderError",
    "SweepStore",
    "scenario_differences",
    "write_atomic",
]

POINTS = "points"
STAGING = "staging"
RECORD = "record.json"
SCENARIO = "scenario.yaml"
_LOCK = ".lock"


class SweepFolderError(Exception):
    """A folder that is not this scenario's sweep, or is in use (the command exits 2)."""


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed over it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def scenario_differences(
    there: Mapping[str, Any], here: Mapping[str, Any], limit: int = 3
) -> list[str]:
    """The first ``limit`` keys whose values differ, each as ``key: A there, B here``."""
    found: list[tuple[str, str, str]] = []
    _differ(there, here, (), found)
    lines = [f"{key}: {a} there, {b} here" for key, a, b in found[:limit]]
    if len(found) > limit:
        lines.append(f"and {len(found) - limit} more")
    return lines


def _differ(
    there: Any, here: Any, key: tuple[str | int, ...], found: list[tuple[str, str, str]]
) -> None:
    if isinstance(there, dict) and isinstance(here, dict):
        for name in list(dict.fromkeys([*there, *here])):
            _differ(there.get(name, "(none)"), here.get(name, "(none)"), (*key, name), found)
    elif isinstance(there, list) and isinstance(here, list) and len(there) == len(here):
        for index, (a, b) in enumerate(zip(there, here, strict=True)):
            _differ(a, b, (*key, index), found)
    elif there != here:
        found.append((format_key_path(key) or "the scenario", _short(there), _short(here)))


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


class SweepStore:
    """The sweep folder at ``path``: its records, its staging area and its tables."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def points_dir(self) -> Path:
        return self.path / POINTS

    @property
    def staging_dir(self) -> Path:
        return self.path / STAGING

    @classmethod
    def create(cls, out_dir: Path, base: Scenario) -> SweepStore:
        """A new sweep folder under ``out_dir`` holding the resolved ``base``."""
        path = create_run_dir(out_dir, base)
        resolved = yaml.safe_dump(base.to_yaml_dict(), sort_keys=False, allow_unicode=True)
        write_atomic(path / SCENARIO, resolved.encode("utf-8"))
        (path / POINTS).mkdir()
        return cls(path)

    @classmethod
    def find(cls, out_dir: Path, base: Scenario) -> SweepStore | None:
        """The newest sweep folder of ``base`` under ``out_dir`` (same name, same resolved
        scenario), if there is one."""
        if not out_dir.is_dir():
            return None
        pattern = f"{base.name}-*-{scenario_hash(base)}*"
        wanted = base.to_yaml_dict()
        found = [
            path
            for path in out_dir.glob(pattern)
            if (path / POINTS).is_dir() and _read_scenario(path) == wanted
        ]
        return cls(max(found, key=lambda path: path.stat().st_mtime_ns)) if found else None

    @classmethod
    def open(cls, path: Path, base: Scenario) -> SweepStore:
        """The sweep folder ``path``; ``SweepFolderError`` unless it is ``base``'s sweep."""
        if not (path / POINTS).is_dir() or not (path / SCENARIO).is_file():
            raise SweepFolderError(f"{path}: not a sweep folder (no {POINTS}/ and {SCENARIO})")
        there = _read_scenario(path)
        if there is None:
            raise SweepFolderError(f"{path / SCENARIO}: cannot be read")
        differences = scenario_differences(there, base.to_yaml_dict())
        if differences:
            raise SweepFolderError(
                f"{path} holds a sweep of another scenario; it differs in " + "; ".join(differences)
            )
        return cls(path)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder for this process (released when it ends, however it ends)."""
        with open(self.path / _LOCK, "a+b") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SweepFolderError(
                    f"{self.path}: another voipbed is running this sweep"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def clear_leftovers(self) -> list[str]:
        """Remove what a killed sweep left: its staging area, and run folders without a
        record. Returns the names of the unfinished runs removed."""
        staged = self.staging_dir.is_dir()
        removed = sorted(p.name for p in self.staging_dir.iterdir()) if staged else []
        shutil.rmtree(self.staging_dir, ignore_errors=True)
        for folder in sorted(self.points_dir.iterdir()):
            if folder.is_dir() and _read_record(folder) is None:
                shutil.rmtree(folder)
                removed.append(folder.name)
        for temporary in self.path.glob(".*.tmp"):
            temporary.unlink(missing_ok=True)
        return removed

    def remove_staging(self) -> None:
        """Remove the staging area (empty once every run is recorded)."""
        shutil.rmtree(self.staging_dir, ignore_errors=True)

    def records(self) -> dict[str, dict[str, Any]]:
        """Every recorded run's record, by its folder name."""
        records = {}
        for folder in sorted(self.points_dir.iterdir()):
            record = _read_record(folder)
            if record is not None:
                records[folder.name] = record
        return records

    def commit(self, name: str, files: Mapping[str, bytes], record: Mapping[str, Any]) -> bool:
        """Record run ``name``: its files, then its record, renamed into ``points/`` at once.

        False (and nothing changed) if the run was recorded already.
        """
        staged = self.staging_dir / name
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir(parents=True)
        for relative, data in files.items():
            target = (staged / relative).resolve()
            if staged.resolve() not in target.parents:
                raise ValueError(f"{name}: a file outside its folder: {relative}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        text = json.dumps(_to_json(record), indent=2, allow_nan=False, default=str)
        (staged / RECORD).write_text(text + "\n", encoding="utf-8")
        try:
            os.rename(staged, self.points_dir / name)
        except OSError:  # points/<name> exists: the first result stands
            shutil.rmtree(staged, ignore_errors=True)
            return False
        return True

    def write_tables(self, state: Mapping[str, Any], tables: Mapping[str, bytes]) -> None:
        """Rewrite ``sweep.json`` from ``state`` and each table file, each atomically."""
        text = json.dumps(_to_json(state), indent=2, allow_nan=False, default=str) + "\n"
        for name, data in tables.items():
            write_atomic(self.path / name, data)
        write_atomic(self.path / "sweep.json", text.encode("utf-8"))


def _read_record(folder: Path) -> dict[str, Any] | None:
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    return {key: float("nan") if value is None else value for key, value in record.items()}


def _read_scenario(path: Path) -> dict[str, Any] | None:
    try:
        data = yaml.safe_load((path / SCENARIO).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def _to_json(value: Any) -> Any:
    """``value`` with NaN as null, for strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(key): _to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_to_json(item) for item in value]
    if hasattr(value, "item"):  # numpy scalars
        return _to_json(value.item())
    return value
