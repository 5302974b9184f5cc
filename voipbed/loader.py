"""The one choke point from a scenario file (plus ``--set`` overrides) to a ``Scenario``.

Every problem found becomes a ``ScenarioIssue`` naming where it is (the file
and YAML line, or the ``--set`` that caused it), the key path as the user
wrote it (``path[1].loss``) and what is wrong; all of them are collected and
raised together as one ``ScenarioError``. No traceback reaches the user.
"""

from __future__ import annotations

import copy
import difflib
import itertools
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from voipbed.budget import MAX_PACKETS, overruns
from voipbed.keypath import KeyPath, format_key_path, parse_key_path
from voipbed.scenario import Scenario, default_yaml_dict
from voipbed.scenario_issues import ScenarioError, ScenarioIssue
from voipbed.scenario_yaml import read_scenario_text, read_yaml_document, read_yaml_value
from voipbed.sweep_axes import SweepAxis, run_seeds, sweep_axes
from voipbed.units import shown

__all__ = [
    "ScenarioError",
    "ScenarioIssue",
    "SweepPoint",
    "compact_value",
    "format_key_path",
    "load_scenario",
    "load_sweep",
    "parse_scenario",
]

# Errors raised by voipbed's own validators: their message already says it all.
_OWN_ERROR_TYPES = {"unit", "negative", "codec", "capacity", "ptime", "duration", "start_spread"}
_OWN_ERROR_TYPES |= {"path", "trace", "queue", "sweep", "expect"}
_OWN_ERROR_TYPES |= {"value_error"}


@dataclass(frozen=True)
class SweepPoint:
    """One combination of a sweep: what it sets (keys as written), the scenario it gives, and
    the seeds it runs with."""

    index: int  # from 1, in the sweep's order
    settings: tuple[tuple[str, Any], ...]
    scenario: Scenario
    seeds: tuple[int, ...] = ()
    steps: tuple[tuple[str, str], ...] = ()
    """Each axis's name and its value here: ``("calls.codec", "G722")``, or for a zipped
    axis ``("zip", "calls.codec=G722, calls.ptime=20ms")``."""

    @property
    def label(self) -> str:
        """``calls.codec=G722, jitter_buffer={kind: neteq}``; ``as written`` without settings."""
        if not self.settings:
            return "as written"
        return _settings_text(self.settings)

    def with_seed(self, seed: int) -> Scenario:
        """The point's scenario run with ``seed``."""
        return self.scenario.model_copy(update={"seed": seed})


def _settings_text(settings: Sequence[tuple[str, Any]]) -> str:
    return ", ".join(f"{key}={compact_value(value)}" for key, value in settings)


def compact_value(value: Any) -> str:
    """A value as one line of YAML flow style (``{kind: neteq}``, ``2%``)."""
    if not isinstance(value, dict | list):
        return str(value)
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1 << 16)
    return str(text).strip()


def load_scenario(
    file: str | Path,
    overrides: Sequence[str] = (),
    *,
    seed: int | None = None,
    max_packets: int = MAX_PACKETS,
) -> Scenario:
    """Read, override and validate a scenario file; raise ``ScenarioError`` with every issue."""
    path = Path(file)
    text = read_scenario_text(path)
    return parse_scenario(
        text, str(path), overrides, seed=seed, base_dir=path.parent, max_packets=max_packets
    )


def load_sweep(
    file: str | Path,
    overrides: Sequence[str] = (),
    *,
    seed: int | None = None,
    max_packets: int = MAX_PACKETS,
) -> list[SweepPoint]:
    """The points of a scenario file's ``sweep`` and ``seeds`` (none without either), each
    validated.

    Each point is the file with one combination of the sweep's values set,
    then ``overrides``; an issue names the sweep value's line. The points are
    the cross product of the sweep's axes in the order written (a ``zip``
    axis sets its keys together); ``seeds`` without a sweep is one point.
    """
    path = Path(file)
    source = str(path)
    document = read_yaml_document(read_scenario_text(path), source)
    base = _validate(document, source, overrides, seed, path.parent, (), max_packets)
    if base.sweep is None and base.seeds is None:
        return []
    lines = document[1]
    sweep = sweep_axes(base.sweep) if base.sweep is not None else []
    axes = [
        [
            [
                (key, parse_key_path(key), value, f"{path}:{lines.get(axis.value_path(key, i), 0)}")
                for key, value in zip(axis.keys, values, strict=True)
            ]
            for i, values in enumerate(axis.steps)
        ]
        for axis in sweep
    ]
    width = len(str(math.prod(len(axis) for axis in axes)))
    points: list[SweepPoint] = []
    issues: dict[str, ScenarioIssue] = {}
    for index, combination in enumerate(itertools.product(*axes), start=1):
        assignments = [
            (key_path, value, origin) for step in combination for _, key_path, value, origin in step
        ]
        name = f"{base.name[: 79 - width]}.{index:0{width}d}"
        assignments.append((("name",), name, str(path)))
        try:
            scenario = _validate(
                document, source, overrides, seed, path.parent, assignments, max_packets
            )
        except ScenarioError as error:
            issues.update((str(issue), issue) for issue in error.issues)
            continue
        settings = tuple((key, value) for step in combination for key, _, value, _ in step)
        steps = tuple(
            (axis.name, _step_text(axis, step))
            for axis, step in zip(sweep, combination, strict=True)
        )
        seeds = run_seeds(scenario.seed, base.seeds)
        points.append(SweepPoint(index, settings, scenario, seeds, steps))
    if issues:
        raise ScenarioError(list(issues.values()))
    return points


def _step_text(axis: SweepAxis, step: Sequence[tuple[str, KeyPath, Any, str]]) -> str:
    """A plain axis's value (``G722``), or a zipped axis's settings (``calls.codec=G722, ...``)."""
    if axis.keys == (axis.name,):
        return compact_value(step[0][2])
    return _settings_text([(key, value) for key, _, value, _ in step])


def parse_scenario(
    text: str,
    source: str = "<scenario>",
    overrides: Sequence[str] = (),
    *,
    seed: int | None = None,
    base_dir: Path | None = None,
    assign: Sequence[tuple[KeyPath, Any, str]] = (),
    max_packets: int = MAX_PACKETS,
) -> Scenario:
    """Validate scenario YAML ``text``; ``source`` names it in error messages.

    Relative trace paths are read from ``base_dir`` (default: the working directory).
    ``assign`` sets values before the overrides, each (key path, value, origin),
    and drops the ``sweep`` and ``seeds``: that is how a sweep's point is made. A scenario beyond
    the limits of ``voipbed.budget`` (``max_packets`` among them) is refused.
    """
    document = read_yaml_document(text, source)
    base_dir = base_dir if base_dir is not None else Path.cwd()
    return _validate(document, source, overrides, seed, base_dir, assign, max_packets)


def _validate(
    document: tuple[dict[str, Any], dict[KeyPath, int]],
    source: str,
    overrides: Sequence[str],
    seed: int | None,
    base_dir: Path,
    assign: Sequence[tuple[KeyPath, Any, str]],
    max_packets: int,
) -> Scenario:
    """``parse_scenario`` on a document already read: its data and each key's line."""
    data, lines = copy.deepcopy(document[0]), document[1]
    origins: dict[KeyPath, str] = {key: f"{source}:{line}" for key, line in lines.items()}
    issues: list[ScenarioIssue] = []
    if assign:
        data.pop("sweep", None)
        data.pop("seeds", None)
    for key_path, value, origin in assign:
        try:
            _set(data, key_path, copy.deepcopy(value))
        except ValueError as error:
            issues.append(ScenarioIssue(origin, "", str(error)))
            continue
        _take_origin(origins, key_path, origin)
    sets = [(override, f"--set {override}") for override in overrides]
    if seed is not None:
        sets.append((f"seed={seed}", f"--seed {seed}"))
    for override, origin in sets:
        try:
            key_path = _apply_override(data, override, origin)
        except ValueError as error:
            issues.append(ScenarioIssue(origin, "", str(error)))
            continue  # report it with the rest below
        _take_origin(origins, key_path, origin)
    try:
        scenario = Scenario.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as error:
        issues.extend(_issues_from(error, data, origins, source))
    if issues:
        raise ScenarioError(issues)
    if scenario.sweep is None:  # a sweep's points are checked one by one
        for overrun in overruns(scenario, max_packets):
            origin = _origin_of(overrun.key_path, origins, source)
            issues.append(ScenarioIssue(origin, format_key_path(overrun.key_path), overrun.message))
    if issues:
        raise ScenarioError(issues)
    return scenario


def _take_origin(origins: dict[KeyPath, str], key_path: KeyPath, origin: str) -> None:
    """A value set at ``key_path`` owns that key and everything below it, and the parents
    that the file did not have (they were filled in from the defaults for it)."""
    for known in [k for k in origins if k[: len(key_path)] == key_path]:
        del origins[known]
    origins[key_path] = origin
    for length in range(1, len(key_path)):
        origins.setdefault(key_path[:length], origin)


def _apply_override(data: dict[str, Any], override: str, origin: str) -> KeyPath:
    key_text, equals, value_text = override.partition("=")
    if not equals:
        raise ValueError("an override is KEY=VALUE, e.g. path[0].one_way_delay=40ms")
    key_path = parse_key_path(key_text.strip())
    try:
        value = read_yaml_value(value_text, origin) if value_text.strip() else value_text
    except ScenarioError as error:
        raise ValueError("; ".join(issue.message for issue in error.issues)) from None
    _set(data, key_path, value)
    return key_path


def _set(data: dict[str, Any], key_path: KeyPath, value: Any) -> None:
    """Set ``value`` at ``key_path``, filling missing parents from the defaults."""
    defaults: Any = default_yaml_dict()
    node: Any = data
    for depth, part in enumerate(key_path[:-1]):
        defaults = _child(defaults, part)
        missing = (isinstance(node, dict) and part not in node) or (
            isinstance(node, list) and isinstance(part, int) and part >= len(node)
        )
        if missing and isinstance(node, dict):
            node[part] = copy.deepcopy(defaults) if defaults is not None else {}
        elif missing:
            where = format_key_path(key_path[: depth + 1])
            raise ValueError(f"{where}: index {part} is past the end of the list")
        elif not isinstance(node, dict | list) or isinstance(node, list) != isinstance(part, int):
            raise ValueError(f"{format_key_path(key_path[: depth + 1])} cannot be reached")
        node = node[part]
    last = key_path[-1]
    if isinstance(node, dict) and isinstance(last, str):
        node[last] = value
        return
    if isinstance(node, list) and isinstance(last, int) and last < len(node):
        node[last] = value
        return
    raise ValueError(f"{format_key_path(key_path)} cannot be set")


def _child(tree: Any, part: str | int) -> Any:
    if isinstance(tree, dict) and isinstance(part, str):
        return tree.get(part)
    if isinstance(tree, list) and isinstance(part, int) and part < len(tree):
        return tree[part]
    return None


def _user_key_path(loc: Sequence[str | int], data: object, *, missing: bool) -> KeyPath:
    """The part of a pydantic ``loc`` that the user wrote: union and validator tags dropped.

    A part is kept when it leads through the scenario data as given; a
    required key that is absent is kept when it is the last part.
    """
    path: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        if _has_child(node, part):
            node = node[part]  # type: ignore[index]
        elif not (missing and index == len(loc) - 1 and isinstance(node, dict)):
            continue
        path.append(part)
    return tuple(path)


def _has_child(node: object, part: str | int) -> bool:
    if isinstance(node, dict):
        return isinstance(part, str) and part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _issues_from(
    error: ValidationError, data: object, origins: Mapping[KeyPath, str], source: str
) -> list[ScenarioIssue]:
    issues = []
    for detail in error.errors(include_url=False):
        loc = _user_key_path(detail["loc"], data, missing=detail["type"] == "missing")
        message = str(detail["msg"]).removeprefix("Value error, ")
        if detail["type"] == "extra_forbidden":
            message = _unknown_key_message(loc)
        elif detail["type"] == "missing":
            message = "is required"
        elif detail["type"] not in _OWN_ERROR_TYPES:
            message = f"{message} (got {shown(detail['input'])})"
        origin = _origin_of(loc, origins, source)
        issues.append(ScenarioIssue(origin, format_key_path(loc), message))
    return sorted(issues, key=lambda issue: _line_of(issue.origin))


def _origin_of(loc: KeyPath, origins: Mapping[KeyPath, str], source: str) -> str:
    for length in range(len(loc), -1, -1):
        if loc[:length] in origins:
            return origins[loc[:length]]
    return source


def _line_of(origin: str) -> int:
    number = origin.rpartition(":")[2]
    return int(number) if number.isdigit() else 1 << 30


def _unknown_key_message(loc: KeyPath) -> str:
    allowed = _allowed_keys(Scenario, loc[:-1])
    message = "unknown key"
    if allowed:
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        message += f"; did you mean {close[0]!r}?" if close else f" (allowed: {', '.join(allowed)})"
    return message


def _allowed_keys(model: type[BaseModel], loc: KeyPath) -> list[str]:
    """The YAML keys the model at ``loc`` (below ``model``) accepts."""
    target: Any = model
    for part in loc:
        if isinstance(part, int):
            continue  # an item of a tuple/list field: its model was found with the field
        fields = target.model_fields if _is_model(target) else {}
        field = next((f for n, f in fields.items() if (f.alias or n) == part), None)
        if field is None:
            return []
        target = _model_in(field.annotation)
    if not _is_model(target):
        return []
    return [field.alias or name for name, field in target.model_fields.items()]


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _model_in(annotation: Any) -> Any:
    """The pydantic model inside ``X``, ``X | None``, ``tuple[X, ...]``."""
    if _is_model(annotation):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, tuple, list, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
