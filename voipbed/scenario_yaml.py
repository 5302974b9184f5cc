"""Reading scenario YAML within bounds, keeping the line of every key.

A scenario file is read only if it is a regular file of at most
``MAX_FILE_BYTES``; its text must be UTF-8. Before PyYAML composes the
document, one pass over its parse events checks that nesting stays within
``MAX_DEPTH`` and that aliases expand it to at most ``MAX_VALUES`` values, so
neither a deeply nested file nor an alias bomb ("billion laughs") can exhaust
the stack or the memory. Every problem is a ``ScenarioIssue`` with the file
and line where it is.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from voipbed.keypath import KeyPath, format_key_path
from voipbed.scenario_issues import ScenarioError, ScenarioIssue

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_VALUES",
    "read_scenario_text",
    "read_yaml_document",
    "read_yaml_value",
]

MAX_FILE_BYTES = 1 << 20
"""A scenario of a thousand sweep values and handovers fits in a few tens of KiB."""
MAX_DEPTH = 64
"""Nesting of mappings and lists; a scenario needs fewer than ten levels."""
MAX_VALUES = 100_000
"""Keys, values and list items after aliases are expanded."""

_MERGE_TAG = "tag:yaml.org,2002:merge"
_BOOL_TAG = "tag:yaml.org,2002:bool"


def _fail(origin: str, message: str, key_path: str = "") -> ScenarioError:
    return ScenarioError([ScenarioIssue(origin, key_path, message)])


def read_scenario_text(path: Path) -> str:
    """The text of the scenario file at ``path``: a regular file, bounded, UTF-8."""
    source = str(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise _fail(source, "is not a regular file (a scenario is a YAML file)")
        if info.st_size > MAX_FILE_BYTES:
            raise _fail(
                source, f"is {info.st_size:,} bytes; a scenario is at most {MAX_FILE_BYTES:,}"
            )
        # O_NONBLOCK: should the file become a FIFO after the check, opening it cannot hang.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(descriptor, "rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise _fail(source, f"cannot read: {error.strerror or error}") from None
    except ValueError as error:  # a path the OS cannot take, e.g. one with a NUL byte
        raise _fail(source, f"cannot read: {error}") from None
    if len(data) > MAX_FILE_BYTES:
        raise _fail(source, f"is larger than {MAX_FILE_BYTES:,} bytes; a scenario is not")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        byte = data[error.start]
        raise _fail(f"{source}:{line}", f"is not UTF-8 text (byte 0x{byte:02x})") from None


class _LineLoader(yaml.SafeLoader):
    """A safe loader whose documents we compose ourselves to keep each key's line."""


def _new_loader(text: str, source: str) -> _LineLoader:
    try:
        return _LineLoader(text)
    except yaml.reader.ReaderError as error:  # a control character: the reader checks them all
        row = text.count("\n", 0, error.position) + 1
        message = f"YAML syntax: character #x{error.character:04x} is not allowed"
        raise _fail(f"{source}:{row}", message) from None


class _SyntaxError(ScenarioError):
    """Text that is not YAML."""


def _syntax_error(error: yaml.YAMLError, source: str) -> ScenarioError:
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = error.problem or error.context or "invalid YAML"
        return _SyntaxError([ScenarioIssue(f"{source}{line}", "", f"YAML syntax: {problem}")])
    return _SyntaxError([ScenarioIssue(source, "", f"YAML syntax: {error}")])


def _check_bounds(text: str, source: str) -> None:
    """Refuse nesting beyond ``MAX_DEPTH``, aliases inside their own anchor, and documents
    that aliases expand past ``MAX_VALUES`` values, from the parse events alone."""
    loader = _new_loader(text, source)
    expanded = 0  # values in the document once every alias is replaced by what it names
    open_starts: list[tuple[str | None, int]] = []  # per open collection: anchor, `expanded`
    sizes: dict[str, int] = {}  # anchor -> values in what it names
    try:
        while (event := loader.get_event()) is not None:  # type: ignore[no-untyped-call]
            line = f"{source}:{event.start_mark.line + 1}"
            if isinstance(event, yaml.AliasEvent):
                if any(anchor == event.anchor for anchor, _ in open_starts):
                    raise _fail(line, f"the alias *{event.anchor} is inside its own anchor")
                expanded += sizes.get(str(event.anchor), 1)  # an unknown one: the composer says
            elif isinstance(event, yaml.ScalarEvent):
                expanded += 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.CollectionStartEvent):
                expanded += 1
                open_starts.append((event.anchor, expanded))
                if len(open_starts) > MAX_DEPTH:
                    raise _fail(line, f"is nested more than {MAX_DEPTH} levels deep")
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, start = open_starts.pop()
                if anchor is not None:
                    sizes[anchor] = expanded - start + 1
            if expanded > MAX_VALUES:
                raise _fail(
                    line,
                    f"expands to more than {MAX_VALUES:,} values (aliases repeat what their "
                    "anchor names; is this an alias bomb?)",
                )
    except yaml.YAMLError as error:
        raise _syntax_error(error, source) from None
    finally:
        loader.dispose()


def _compose(text: str, source: str) -> tuple[_LineLoader, yaml.Node | None]:
    _check_bounds(text, source)
    loader = _new_loader(text, source)
    try:
        return loader, loader.get_single_node()
    except yaml.YAMLError as error:
        loader.dispose()
        raise _syntax_error(error, source) from None


def read_yaml_document(text: str, source: str) -> tuple[dict[str, Any], dict[KeyPath, int]]:
    """The scenario mapping in ``text`` and the line of each key path in it."""
    loader, root = _compose(text, source)
    try:
        if root is None:
            raise _fail(f"{source}:1", "is empty; a scenario needs at least a name")
        if not isinstance(root, yaml.MappingNode):
            raise _fail(f"{source}:{root.start_mark.line + 1}", "must be a mapping of keys")
        lines: dict[KeyPath, int] = {(): root.start_mark.line + 1}
        issues: list[ScenarioIssue] = []
        data = _construct(loader, root, (), lines, issues, source)
    finally:
        loader.dispose()
    if issues:
        raise ScenarioError(issues)
    assert isinstance(data, dict)  # a MappingNode constructs to a dict
    return data, lines


def read_yaml_value(text: str, origin: str) -> Any:
    """The value a ``--set`` gives, read as YAML within the same bounds; ``origin`` names it.

    Text that is not YAML is the value as it is (``--set description=a: b``).
    """
    try:
        loader, root = _compose(text, origin)
    except _SyntaxError:
        return text
    try:
        if root is None:
            return None
        issues: list[ScenarioIssue] = []
        value = _construct(loader, root, (), {}, issues, origin)
    finally:
        loader.dispose()
    if issues:
        raise ScenarioError(issues)
    return value


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
            key = _construct_key(loader, key_node, key_path, issues, source)
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


def _construct_key(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    key_path: KeyPath,
    issues: list[ScenarioIssue],
    source: str,
) -> Any:
    """A mapping key; a plain ``on``, ``off``, ``yes`` or ``no`` stays the word it is.

    YAML 1.1 reads those words as booleans, but every scenario key is text
    (cross traffic's ``on:`` and ``off:`` periods).
    """
    if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL_TAG and node.style is None:
        return node.value
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
            message = f"{str(node.value)[:40]!r} is not a valid {node.tag.rpartition(':')[2]}"
        issues.append(ScenarioIssue(where, format_key_path(key_path), message))
        return None
