"""One log format for the project: JSON lines, RFC 3339 UTC timestamps, the run's id.

Every log line is one JSON object: ``time`` (RFC 3339, UTC, milliseconds:
``2026-12-05T08:47:39.123Z``), ``level``, ``logger``, ``message``, ``run_id``
(the run being written, else null), ``pid``, and ``error`` with the traceback
when one was logged. The CLI's ``-v`` writes them to stderr
(:func:`configure`); each run also keeps its own in ``log.jsonl`` in its folder
(:func:`run_log`); the emulation's processes (the links, the rate-controlled
endpoints) write theirs in the same format, with the run id the engine gives
them in ``VOIPBED_RUN_ID`` (:data:`RUN_ID_VARIABLE`). Lines from every source
then sort and join by time and run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

__all__ = ["RUN_ID_VARIABLE", "JsonLines", "configure", "current_run_id", "run_log"]

RUN_ID_VARIABLE = "VOIPBED_RUN_ID"
"""Environment variable that carries the run id into the emulation's processes."""

_RUN_ID: ContextVar[str | None] = ContextVar("voipbed_run_id", default=None)


def current_run_id() -> str | None:
    """The run being written: the one :func:`run_log` set, else ``VOIPBED_RUN_ID``."""
    return _RUN_ID.get() or os.environ.get(RUN_ID_VARIABLE) or None


class JsonLines(logging.Formatter):
    """Formats a record as one JSON object (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, tz=UTC)
        line = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "run_id": current_run_id(),
            "pid": record.process,
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure(level: int, stream: IO[str]) -> None:
    """Log records at ``level`` and above to ``stream`` as JSON lines; as
    ``logging.basicConfig``, nothing changes if logging already has a handler (a host
    program's, or a test runner's)."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines())
    handler.setLevel(level)
    root.addHandler(handler)
    root.setLevel(level)


@contextlib.contextmanager
def run_log(run_dir: Path, run_id: str) -> Iterator[Path]:
    """While it lasts, the project's records at INFO and above also go to
    ``run_dir / "log.jsonl"``, each with ``run_id``, and the processes started get it in
    ``VOIPBED_RUN_ID``; the file's path."""
    path = run_dir / "log.jsonl"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonLines())
    handler.setLevel(logging.INFO)
    project = logging.getLogger("voipbed")
    level = project.level
    if level == logging.NOTSET or level > logging.INFO:
        project.setLevel(logging.INFO)
    token = _RUN_ID.set(run_id)
    inherited = os.environ.get(RUN_ID_VARIABLE)
    os.environ[RUN_ID_VARIABLE] = run_id  # for the processes the run starts
    project.addHandler(handler)
    try:
        yield path
    finally:
        project.removeHandler(handler)
        handler.close()
        _RUN_ID.reset(token)
        project.setLevel(level)
        if inherited is None:
            os.environ.pop(RUN_ID_VARIABLE, None)
        else:
            os.environ[RUN_ID_VARIABLE] = inherited
