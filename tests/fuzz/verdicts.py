"""What ``voipbed validate`` makes of a mutant, checked in-process, and failures grouped by cause.

``validate(mutant, folder)`` writes the mutant into ``folder`` and loads it as
``voipbed validate`` does (``load_sweep`` with its overrides). A ``Failure``
is a traceback the user would see, an error that does not say where (a
``file:line`` or the ``--set``), a validation slower than its time limit,
or a valid scenario whose resolved form does not load back. ``summarize``
groups failures by cause and shows one mutant of each.
"""

from __future__ import annotations

import re
import signal
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

import yaml

from tests.fuzz.mutants import Mutant, clip
from voipbed.loader import ScenarioError, load_scenario, load_sweep, parse_scenario
from voipbed.scenario import Scenario

__all__ = ["Failure", "Outcome", "raise_site", "summarize", "validate", "write_mutant"]

_OVERRIDE_ORIGINS = ("--set", "--seed")


@dataclass(frozen=True)
class Failure:
    """Something a user should never see, with the mutant that showed it."""

    kind: str  # "crash", "no line", "blamed on the file", "slow", ...
    cause: str  # what groups failures: "OverflowError at voipbed/units.py:_scaled"
    detail: str  # the exception's or issue's text
    mutant: Mutant

    def __str__(self) -> str:
        return f"{self.kind}: {self.cause}\n    {clip(self.detail)}\n    mutant {self.mutant.label}"


@dataclass(frozen=True)
class Outcome:
    """How validating one mutant ended: ``ok``, ``refused`` or ``failed``."""

    status: str
    scenario: Scenario | None  # the scenario (a sweep's first point) when valid
    failures: tuple[Failure, ...]
    sweep_points: int = 0


class _Overtime(BaseException):
    """Raised into a validation that runs past its limit (not an Exception: none may catch it)."""


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: FrameType | None) -> None:
        raise _Overtime

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def write_mutant(mutant: Mutant, folder: Path) -> Path:
    """Write ``mutant`` and its extra files into ``folder``; the scenario's path."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in mutant.files:
        (folder / name).write_bytes(content)
    path = folder / "scenario.yaml"
    path.write_bytes(mutant.text)
    return path


def raise_site(tb: TracebackType | None) -> str:
    """``file.py:function`` where an exception was raised: its innermost frame in this project."""
    frames = traceback.extract_tb(tb)
    ours = [
        f for f in frames if "/site-packages/" not in f.filename and "/lib/python" not in f.filename
    ]
    frame = (ours or frames)[-1] if frames else None
    if frame is None:
        return "?"
    parts = Path(frame.filename).parts
    return f"{'/'.join(parts[-2:])}:{frame.name}"


def _normal(message: str) -> str:
    """A message with its values taken out, to group issues of one cause."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", message)
    return re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "N", text)[:80]


def _check_issues(
    error: ScenarioError, path: Path, mutant: Mutant, line_count: int
) -> list[Failure]:
    failures = []
    keys = [o.partition("=")[0].strip() for o in mutant.overrides]
    for issue in error.issues:
        origin, key_path, message = issue.origin, issue.key_path, issue.message
        where = f"{origin}: {key_path}" if key_path else origin
        text = f"{where}: {message}"
        set_key = any(
            key and (key_path == key or key_path.startswith((f"{key}.", f"{key}["))) for key in keys
        )
        if origin.startswith(_OVERRIDE_ORIGINS):
            if not mutant.overrides:
                failures.append(Failure("blamed on --set", "no --set was given", text, mutant))
            continue
        file, _, line = origin.rpartition(":")
        if file != str(path) or not line.isdigit():
            failures.append(Failure("no line", _normal(message), text, mutant))
        elif not 1 <= int(line) <= line_count + 1:
            failures.append(Failure("line out of the file", _normal(message), text, mutant))
        elif set_key:
            failures.append(Failure("--set blamed on the file", _normal(message), text, mutant))
        if not message.strip():
            failures.append(Failure("empty message", key_path or "(document)", text, mutant))
    return failures


def _round_trip(scenario: Scenario, mutant: Mutant) -> list[Failure]:
    """The resolved scenario (what a run writes as scenario.yaml) loads back to the same one."""
    text = yaml.safe_dump(scenario.to_yaml_dict(), sort_keys=False)
    try:
        again = parse_scenario(text, "resolved.yaml")
    except ScenarioError as error:
        return [
            Failure("resolved form refused", _normal(error.issues[0].message), str(error), mutant)
        ]
    except Exception as error:
        cause = f"{type(error).__name__} at {raise_site(error.__traceback__)}"
        return [Failure("resolved form crashes", cause, repr(error), mutant)]
    if again.model_dump() != scenario.model_dump() and repr(again) != repr(scenario):
        return [Failure("resolved form differs", "load(dump(s)) != s", repr(again)[:200], mutant)]
    return []


def validate(mutant: Mutant, folder: Path, *, limit_s: float = 5.0) -> Outcome:
    """Load ``mutant`` as ``voipbed validate`` does and check what a user would be shown."""
    path = write_mutant(mutant, folder)
    try:
        with _time_limit(limit_s):
            points = load_sweep(path, mutant.overrides)
            scenario = points[0].scenario if points else load_scenario(path, mutant.overrides)
    except _Overtime:
        failure = Failure("slow", f"validation took over {limit_s:g} s", "", mutant)
        return Outcome("failed", None, (failure,))
    except ScenarioError as error:
        text = mutant.text.decode("utf-8", "replace")
        line_count = max(len(text.splitlines()), text.count("\n")) + 1  # \r, \x85 end lines too
        failures = tuple(_check_issues(error, path, mutant, line_count))
        return Outcome("failed" if failures else "refused", None, failures)
    except Exception as error:  # anything else reaches the user as a traceback
        cause = f"{type(error).__name__} at {raise_site(error.__traceback__)}"
        return Outcome("failed", None, (Failure("crash", cause, repr(error), mutant),))
    failures = tuple(_round_trip(scenario, mutant))
    return Outcome("failed" if failures else "ok", scenario, failures, len(points))


def summarize(failures: Sequence[Failure], *, limit: int = 10) -> str:
    """The first ``limit`` distinct causes, each with how often and one mutant that shows it."""
    groups: dict[tuple[str, str], list[Failure]] = {}
    for failure in failures:
        groups.setdefault((failure.kind, failure.cause), []).append(failure)
    lines = [f"{len(failures)} failures of {len(groups)} distinct causes"]
    for (kind, cause), members in list(groups.items())[:limit]:
        first = members[0]
        lines.append(f"- [{len(members)}x] {kind}: {cause}")
        lines.append(f"    {clip(first.detail)}")
        lines.append(f"    mutant {first.mutant.label}")
    if len(groups) > limit:
        lines.append(f"... and {len(groups) - limit} more causes")
    return "\n".join(lines)
