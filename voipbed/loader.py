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

from voipbed.keypath import KeyPath, format_key_path, parse_key_path
from voipbed.scenario import Scenario

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
_OWN_ERROR_TYPES |= {"path", "trace", "queue", "sweep"}
_OWN_ERROR_TYPES |= {"value_error"}


@dataclass(frozen=True)
class SweepPoint:
    """One combination of a sweep: what it sets (keys as written) and the scenario it gives."""

    index: int  # from 1, in the sweep's order
    settings: tuple[tuple[str, Any], ...]
    scenario: Scenario

    @property
    def label(self) -> str:
        """``calls.codec=G722, jitter_buffer={kind: neteq}``."""
        return ", ".join(f"{key}={compact_value(value)}" for key, value in self.settings)


def compact_value(value: Any) -> str:
    """A value as one line of YAML flow style (``{kind: neteq}``, ``2%``)."""
    if not isinstance(value, dict | list):
        return str(value)
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1 << 16)
    return str(text).strip()


@dataclass(frozen=True)
class ScenarioIssue:
    """One problem in a scenario: where, which key, what."""

    origin: str  # "file.yaml:14", "--set", or "--set KEY=VALUE" for a malformed override
    key_path: str  # "path[1].loss"; "" for the whole document
    message: str

    def __str__(self) -> str:
        where = f"{self.origin}: {self.key_path}" if self.key_path else self.origin
        return f"{where}: {self.message}"


class ScenarioError(Exception):
    """A scenario that cannot be used; carries every issue found."""

    def __init__(self, issues: Sequence[ScenarioIssue]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


def load_scenario(
    file: str | Path, overrides: Sequence[str] = (), *, seed: int | None = None
) -> Scenario:
    """Read, override and validate a scenario file; raise ``ScenarioError`` with every issue."""
    path = Path(file)
    return parse_scenario(_read_text(path), str(path), overrides, seed=seed, base_dir=path.parent)


def load_sweep(
    file: str | Path, overrides: Sequence[str] = (), *, seed: int | None = None
) -> list[SweepPoint]:
    """The points of a scenario file's ``sweep`` (none without one), each validated.

    Each point is the file with one combination of the sweep's values set,
    then ``overrides``; an issue names the sweep value's line. The points are
    the cross product in the order the sweep lists keys and values.
    """
    path = Path(file)
    text = _read_text(path)
    base = parse_scenario(text, str(path), overrides, seed=seed, base_dir=path.parent)
    if base.sweep is None:
        return []
    _, lines = _read_yaml(text, str(path))
    axes = [
        [
            (key, parse_key_path(key), value, f"{path}:{lines.get(('sweep', key, i), 0)}")
            for i, value in enumerate(values)
        ]
        for key, values in base.sweep.items()
    ]
    width = len(str(math.prod(len(axis) for axis in axes)))
    points: list[SweepPoint] = []
    issues: dict[str, ScenarioIssue] = {}
    for index, combination in enumerate(itertools.product(*axes), start=1):
        assignments = [(key_path, value, origin) for _, key_path, value, origin in combination]
        name = f"{base.name[: 79 - width]}.{index:0{width}d}"
        assignments.append((("name",), name, str(path)))
        try:
            scenario = parse_scenario(
                text, str(path), overrides, seed=seed, base_dir=path.parent, assign=assignments
            )
        except ScenarioError as error:
            issues.update((str(issue), issue) for issue in error.issues)
            continue
        settings = tuple((key, value) for key, _, value, _ in combination)
        points.append(SweepPoint(index, settings, scenario))
    if issues:
        raise ScenarioError(list(issues.values()))
    return points


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise ScenarioError(
            [ScenarioIssue(str(path), "", f"cannot read: {error.strerror}")]
        ) from None
    except UnicodeDecodeError:
        raise ScenarioError([ScenarioIssue(str(path), "", "is not UTF-8 text")]) from None


def parse_scenario(
    text: str,
    source: str = "<scenario>",
    overrides: Sequence[str] = (),
    *,
    seed: int | None = None,
    base_dir: Path | None = None,
    assign: Sequence[tuple[KeyPath, Any, str]] = (),
) -> Scenario:
    """Validate scenario YAML ``text``; ``source`` names it in error messages.

    Relative trace paths are read from ``base_dir`` (default: the working directory).
    ``assign`` sets values before the overrides, each (key path, value, origin),
    and drops the ``sweep``: that is how a sweep's point is made.
    """
    base_dir = base_dir if base_dir is not None else Path.cwd()
    data, lines = _read_yaml(text, source)
    origins: dict[KeyPath, str] = {key: f"{source}:{line}" for key, line in lines.items()}
    issues: list[ScenarioIssue] = []
    if assign:
        data.pop("sweep", None)
    for key_path, value, origin in assign:
        try:
            _set(data, key_path, copy.deepcopy(value))
        except ValueError as error:
            issues.append(ScenarioIssue(origin, "", str(error)))
            continue
        _take_origin(origins, key_path, origin)
    all_overrides = list(overrides) + ([f"seed={seed}"] if seed is not None else [])
    for override in all_overrides:
        try:
            key_path = _apply_override(data, override)
        except ValueError as error:
            issues.append(ScenarioIssue(f"--set {override}", "", str(error)))
            continue  # report it with the rest below
        _take_origin(origins, key_path, "--set")  # the issue's key path says which one
    try:
        scenario = Scenario.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as error:
        issues.extend(_issues_from(error, data, origins, source))
    if issues:
        raise ScenarioError(issues)
    return scenario


_TOO_DEEP = "is nested too deeply, or an alias (*name) contains itself"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _LineLoader(yaml.SafeLoader):
    """A safe loader whose documents we compose ourselves to keep each key's line."""


def _read_yaml(text: str, source: str) -> tuple[dict[str, Any], dict[KeyPath, int]]:
    try:
        loader = _LineLoader(text)
    except yaml.reader.ReaderError as error:  # a control character: the reader checks them all
        row = text.count("\n", 0, error.position) + 1
        message = f"YAML syntax: character #x{error.character:04x} is not allowed"
        raise ScenarioError([ScenarioIssue(f"{source}:{row}", "", message)]) from None
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = error.problem or error.context or "invalid YAML"
        raise ScenarioError(
            [ScenarioIssue(f"{source}{line}", "", f"YAML syntax: {problem}")]
        ) from None
    except yaml.YAMLError as error:
        raise ScenarioError([ScenarioIssue(source, "", f"YAML syntax: {error}")]) from None
    except RecursionError:
        raise ScenarioError([ScenarioIssue(source, "", _TOO_DEEP)]) from None
    finally:
        loader.dispose()
    if root is None:
        raise ScenarioError(
            [ScenarioIssue(source, "", "is empty; a scenario needs at least a name")]
        )
    if not isinstance(root, yaml.MappingNode):
        where = f"{source}:{root.start_mark.line + 1}"
        raise ScenarioError([ScenarioIssue(where, "", "must be a mapping of keys")])
    lines: dict[KeyPath, int] = {(): root.start_mark.line + 1}
    issues: list[ScenarioIssue] = []
    try:
        data = _construct(loader, root, (), lines, issues, source)
    except RecursionError:
        raise ScenarioError([ScenarioIssue(source, "", _TOO_DEEP)]) from None
    if issues:
        raise ScenarioError(issues)
    assert isinstance(data, dict)  # a MappingNode constructs to a dict
    return data, lines


def _construct(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    key_path: KeyPath,
    lines: dict[KeyPath, int],
    issues: list[ScenarioIssue],
    source: str,
) -> Any:
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            known_issues = len(issues)
            key = _construct_scalar(loader, key_node, key_path, issues, source)
            if len(issues) > known_issues:
                continue  # the key itself could not be read; that is reported
            if not isinstance(key, str):
                where = format_key_path(key_path)
                issues.append(ScenarioIssue(f"{source}:{line}", where, f"key {key!r} is not text"))
                continue
            child = (*key_path, key)
            if key in result:
                issue = ScenarioIssue(f"{source}:{line}", format_key_path(child), "duplicate key")
                issues.append(issue)
            lines[child] = line
            result[key] = _construct(loader, value_node, child, lines, issues, source)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item_node in enumerate(node.value):
            child = (*key_path, index)
            lines[child] = item_node.start_mark.line + 1
            items.append(_construct(loader, item_node, child, lines, issues, source))
        return items
    return _construct_scalar(loader, node, key_path, issues, source)


def _construct_scalar(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    key_path: KeyPath,
    issues: list[ScenarioIssue],
    source: str,
) -> Any:
    """PyYAML's value for ``node``; one it cannot build (``!foo x``, ``!!float 1``) is an issue."""
    where = f"{source}:{node.start_mark.line + 1}"
    if node.tag == _MERGE_TAG:
        message = "YAML merge keys (<<) are not supported; write the keys out"
        issues.append(ScenarioIssue(where, format_key_path(key_path), message))
        return None
    try:
        return loader.construct_object(node, deep=True)
    except Exception as error:  # PyYAML's constructors also raise ValueError, AttributeError
        if isinstance(error, yaml.MarkedYAMLError) and error.problem:
            message = f"YAML value: {error.problem}"
        else:
            message = f"{node.value!r} is not a valid {node.tag.rpartition(':')[2]}"
        issues.append(ScenarioIssue(where, format_key_path(key_path), message))
        return None


def _defaults() -> dict[str, Any]:
    """Every default of a scenario as YAML keys, to fill what an override reaches into."""
    return Scenario.model_validate({"name": "defaults"}).to_yaml_dict()


def _take_origin(origins: dict[KeyPath, str], key_path: KeyPath, origin: str) -> None:
    """A value set at ``key_path`` owns that key and everything below it."""
    for known in [k for k in origins if k[: len(key_path)] == key_path]:
        del origins[known]
    origins[key_path] = origin


def _apply_override(data: dict[str, Any], override: str) -> KeyPath:
    key_text, equals, value_text = override.partition("=")
    if not equals:
        raise ValueError("an override is KEY=VALUE, e.g. path[0].one_way_delay=40ms")
    key_path = parse_key_path(key_text.strip())
    try:
        value = yaml.safe_load(value_text) if value_text.strip() else value_text
    except Exception:  # not YAML (PyYAML raises more than YAMLError): take the text as it is
        value = value_text
    _set(data, key_path, value)
    return key_path


def _set(data: dict[str, Any], key_path: KeyPath, value: Any) -> None:
    """Set ``value`` at ``key_path``, filling missing parents from the defaults."""
    defaults: Any = _defaults()
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
            message = f"{message} (got {detail['input']!r})"
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
