"""Finding and reading the link traces a scenario names.

A scenario names a trace by path (absolute, or relative to the scenario
file) or by the bare file name of one of the project's shared traces
(``TMobile-LTE-short.up``). Shared traces are looked for in
``$VOIPBED_TRACE_DIR`` if set, else in ``../shared/traces`` beside the
checkout.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from voipbed.models.mahimahi import DeliverySchedule, load_schedule

__all__ = ["TraceNotFound", "read_schedule", "resolve_trace", "shared_trace_dir"]


class TraceNotFound(FileNotFoundError):
    """A trace named by a scenario that is in none of the places looked at."""


def shared_trace_dir() -> Path:
    """Where the shared traces are: ``$VOIPBED_TRACE_DIR``, else ``../shared/traces``."""
    configured = os.environ.get("VOIPBED_TRACE_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "shared" / "traces"


def resolve_trace(name: str, base_dir: Path) -> Path:
    """The trace file ``name`` refers to, seen from a scenario in ``base_dir``."""
    given = Path(name).expanduser()
    candidates = [given] if given.is_absolute() else [base_dir / given, shared_trace_dir() / given]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    looked = ", ".join(str(candidate) for candidate in candidates)
    raise TraceNotFound(f"trace {name!r} not found (looked for {looked})")


@lru_cache(maxsize=32)
def _read(path: Path, mtime_ns: int, size: int) -> DeliverySchedule:
    return load_schedule(path)


def read_schedule(path: Path) -> DeliverySchedule:
    """The delivery schedule in ``path``, read once per version of the file."""
    stat = path.stat()
    return _read(path, stat.st_mtime_ns, stat.st_size)
