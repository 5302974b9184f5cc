"""Finding and reading the link traces a scenario names.

A scenario names a Mahimahi trace by path, absolute or relative to the
scenario file, or by the file name of one of the traces the project ships in
its ``traces/`` folder (``TMobile-LTE-short.up``; source, licence and format
in that folder's README). A relative name is looked for, in this order:

1. in the scenario file's folder;
2. in each folder of ``$VOIPBED_TRACE_DIR``, if set (several folders are
   separated by ``os.pathsep``): it adds folders of one's own traces, which
   come before the project's;
3. in the project's ``traces/`` folder (``builtin_trace_dir``), found beside
   this package in the checkout it is installed from (``pip install -e .``, as
   ``make setup`` does), so the shipped traces need no environment variable.

The first regular file found is the trace. A file is read only if it is a
regular file of at most ``MAX_TRACE_BYTES``: a directory, FIFO or device is
refused without reading it, and a larger file without reading past the limit.
Every failure is a ``TraceNotFound`` or ``TraceError`` naming the file (and
line, for what is in it).
"""

from __future__ import annotations

import errno
import os
import stat
from functools import lru_cache
from pathlib import Path

from voipbed.models.mahimahi import DeliverySchedule, TraceError, parse_schedule

__all__ = [
    "MAX_TRACE_BYTES",
    "TRACE_DIR_VARIABLE",
    "TraceError",
    "TraceNotFound",
    "builtin_trace_dir",
    "load_schedule",
    "read_schedule",
    "resolve_trace",
    "trace_dirs",
]

TRACE_DIR_VARIABLE = "VOIPBED_TRACE_DIR"
# The largest shipped trace is about 1.2 MB; 64 MiB leaves room for long traces of one's own
# while bounding what a mistaken path can make the loader read.
MAX_TRACE_BYTES = 64 * 1024 * 1024
_LIMIT_TEXT = f"a trace may hold at most {MAX_TRACE_BYTES // (1024 * 1024)} MiB"

_SHOWN_CHARS = 120  # longer names and paths are cut in the middle in messages


class TraceNotFound(FileNotFoundError):
    """A trace named by a scenario that is in none of the places looked at."""


def builtin_trace_dir() -> Path:
    """The project's own ``traces/`` folder, at the root of the checkout beside this package."""
    return Path(__file__).resolve().parent.parent / "traces"


def trace_dirs() -> list[Path]:
    """The folders a bare trace name is looked for in: ``$VOIPBED_TRACE_DIR``'s, then the
    project's."""
    configured = os.environ.get(TRACE_DIR_VARIABLE, "")
    extra = [Path(entry) for entry in configured.split(os.pathsep) if entry]
    return [*extra, builtin_trace_dir()]


def resolve_trace(name: str, base_dir: Path) -> Path:
    """The trace file ``name`` refers to, seen from a scenario in ``base_dir``."""
    if not name.strip():
        raise TraceNotFound("a trace name is empty: give a file name or a path")
    try:
        given = Path(name).expanduser()
    except RuntimeError:  # ~user of an unknown user, or ~ without a home directory
        user = name.split("/", 1)[0]
        raise TraceNotFound(
            f"trace {_shown(name)}: {_shown(user)} names no user with a home directory"
        ) from None
    if given.is_absolute():
        candidates = [given]
    else:
        candidates = [base_dir.absolute() / given, *(folder / given for folder in trace_dirs())]
    looked = []
    for candidate in candidates:
        problem = _not_a_file(candidate)
        if problem is None:
            return Path(os.path.realpath(candidate))
        looked.append(f"{_cut(str(candidate))} ({problem})")
    hint = (
        f"{TRACE_DIR_VARIABLE} adds folders of traces"
        if TRACE_DIR_VARIABLE not in os.environ
        else f"{TRACE_DIR_VARIABLE} is {_shown(os.environ[TRACE_DIR_VARIABLE])}"
    )
    raise TraceNotFound(
        f"trace {_shown(name)} not found; looked at {'; '.join(looked)}. A trace is a path "
        "(absolute, or relative to the scenario's folder) or the name of a file in the "
        f"project's traces folder; {hint}"
    )


def load_schedule(path: str | Path) -> DeliverySchedule:
    """Read the Mahimahi trace in ``path``; errors name the file and line."""
    file = Path(path)
    return parse_schedule(_read_bounded(file), _cut(str(file)))


@lru_cache(maxsize=32)
def _read(path: Path, mtime_ns: int, size: int) -> DeliverySchedule:
    return load_schedule(path)


def read_schedule(path: Path) -> DeliverySchedule:
    """The delivery schedule in ``path``, read once per version of the file."""
    try:
        info = path.stat()
    except (OSError, ValueError) as error:
        raise TraceError(f"{_cut(str(path))}: cannot read: {_reason(error)}") from None
    return _read(path, info.st_mtime_ns, info.st_size)


def _read_bounded(file: Path) -> bytes:
    """The bytes of regular file ``file``, refusing anything else or more than the limit."""
    shown = _cut(str(file))
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC  # a FIFO opens at once
    try:
        fd = os.open(file, flags)
    except (OSError, ValueError) as error:
        raise TraceError(f"{shown}: cannot open: {_reason(error)}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise TraceError(f"{shown}: {_kind(info.st_mode)}, not a trace file")
        if info.st_size > MAX_TRACE_BYTES:
            raise TraceError(f"{shown}: {info.st_size} bytes; {_LIMIT_TEXT}")
        chunks: list[bytes] = []
        total = 0
        while total <= MAX_TRACE_BYTES:  # a file may grow, or claim a size of 0 (procfs)
            chunk = os.read(fd, min(1 << 20, MAX_TRACE_BYTES + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > MAX_TRACE_BYTES:
            raise TraceError(f"{shown}: more than {MAX_TRACE_BYTES} bytes; {_LIMIT_TEXT}")
        return b"".join(chunks)
    except OSError as error:
        raise TraceError(f"{shown}: cannot read: {_reason(error)}") from None
    finally:
        os.close(fd)


def _not_a_file(path: Path) -> str | None:
    """Why ``path`` is not a regular file to read (None when it is one)."""
    try:
        info = path.stat()
    except ValueError:  # an embedded NUL byte
        return "not a valid file name"
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            return "no such file"
        return _reason(error)
    return None if stat.S_ISREG(info.st_mode) else _kind(info.st_mode)


def _kind(mode: int) -> str:
    """What a file that is not a regular one is, in words."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _reason(error: OSError | ValueError) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)


def _cut(text: str) -> str:
    """``text`` cut in the middle when it is too long for a message."""
    if len(text) <= _SHOWN_CHARS:
        return text
    half = _SHOWN_CHARS // 2
    return f"{text[:half]}...{text[-half:]}"


def _shown(text: str) -> str:
    """``text`` quoted for a message, cut in the middle when long."""
    return repr(_cut(text))
