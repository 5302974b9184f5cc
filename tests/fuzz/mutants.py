"""Seeded mutants of the shipped scenarios: what a user (or a careless script) could feed voipbed.

``generate(scenarios, seed=..., count=...)`` gives the same list for the same
seed and files. Each mutant is one scenario text (bytes, as written to disk),
the ``--set`` overrides to pass with it, any extra files to lay beside it
(traces it names), and a one-line description of what was done. Mutations of
the parsed tree (delete, rename, wrong type, extreme numbers and units,
optional parts switched on) are written back with ``yaml.safe_dump``; those of
the text (bytes, nesting, tags, bare documents) are in ``tests.fuzz.text_mutants``.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.fuzz import text_mutants, values
from voipbed.keypath import KeyPath, format_key_path
from voipbed.loader import ScenarioError, load_scenario

__all__ = ["SCENARIOS", "Base", "Mutant", "clip", "generate", "read_bases", "shipped", "short"]

_ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((_ROOT / "scenarios").rglob("*.yaml"))
"""Every shipped scenario."""

Tree = dict[str, Any]


@dataclass(frozen=True)
class Mutant:
    """One scenario to try: its text, overrides and extra files, and what was done to it."""

    index: int
    base: str  # the shipped scenario's file name
    operator: str  # the mutation's family, e.g. "extreme_number"
    description: str  # "calls.count = 10**400"
    text: bytes
    overrides: tuple[str, ...] = ()
    files: tuple[tuple[str, bytes], ...] = ()  # (name beside the scenario, content)
    touched: tuple[str, ...] = ()  # key paths the mutation set ("calls.count")

    @property
    def label(self) -> str:
        """``#12 default.yaml extreme_number: calls.count = 10**400``."""
        return f"#{self.index} {self.base} {self.operator}: {self.description}"


@dataclass(frozen=True)
class Base:
    """A shipped scenario: its text, its tree as written, and its tree with every default."""

    name: str
    text: str
    tree: Tree
    full: Tree


def read_bases(paths: Sequence[Path], resolve: Callable[[Path], Tree] | None = None) -> list[Base]:
    """The scenarios at ``paths``; ``resolve`` gives a file's tree with every default filled.

    The full tree keeps what the file wrote (e.g. trace names) and adds the
    defaults around it, so leaf mutations also reach keys the file leaves out.
    """
    bases = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        tree = yaml.safe_load(text)
        full = _overlay(resolve(path), tree) if resolve is not None else copy.deepcopy(tree)
        bases.append(Base(path.name, text, tree, full))
    return bases


def _resolved(path: Path) -> Tree:
    """The scenario with every default, or nothing when it does not load today."""
    try:
        return load_scenario(path).to_yaml_dict()
    except ScenarioError:
        return {}


def shipped() -> list[Base]:
    """Every shipped scenario as a base, with its defaults."""
    return read_bases(SCENARIOS, _resolved)


def _overlay(under: Any, over: Any) -> Any:
    if isinstance(under, dict) and isinstance(over, dict):
        merged = dict(under)
        for key, value in over.items():
            merged[key] = _overlay(under.get(key), value)
        return merged
    return copy.deepcopy(over)


def short(value: Any) -> str:
    """A value as a description shows it: ``10**400``, ``'xxx…'(100000)``, ``.nan``."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return f"{'-' if value < 0 else ''}~10**{len(str(abs(value))) - 1}"
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}…({len(text)} chars)"


def clip(text: str) -> str:
    """``text`` cut to a description's length, with its full length said."""
    return text if len(text) <= 60 else f"{text[:40]}…({len(text)} chars)"


def dump(tree: Any) -> bytes:
    """``tree`` as block-style YAML, keys in their order."""
    text = yaml.safe_dump(tree, sort_keys=False, allow_unicode=True, width=1 << 20)
    return str(text).encode("utf-8")


def _paths(tree: Any, prefix: KeyPath = ()) -> list[KeyPath]:
    """Every key path in ``tree``, parents before children."""
    found: list[KeyPath] = []
    items: list[tuple[str | int, Any]] = []
    if isinstance(tree, dict):
        items = [(key, value) for key, value in tree.items() if isinstance(key, str)]
    elif isinstance(tree, list):
        items = list(enumerate(tree))
    for part, child in items:
        path = (*prefix, part)
        found.append(path)
        found.extend(_paths(child, path))
    return found


def _leaves(tree: Any) -> list[KeyPath]:
    return [path for path in _paths(tree) if not isinstance(_get(tree, path), dict | list)]


def _get(tree: Any, path: KeyPath) -> Any:
    for part in path:
        tree = tree[part]
    return tree


def _set(tree: Any, path: KeyPath, value: Any) -> None:
    """Set ``value`` at ``path``, making missing mappings on the way."""
    node = tree
    for part in path[:-1]:
        if isinstance(node, dict) and not isinstance(node.get(part), dict | list):
            node[part] = {}
        node = node[part]
    node[path[-1]] = value


def _typo(rng: random.Random, key: str) -> str:
    if not key:
        return "x"
    i = rng.randrange(len(key))
    choice = rng.randrange(5)
    if choice == 0:
        return key[:i] + key[i + 1 :] or key + "_"
    if choice == 1 and len(key) > 1:
        j = min(i + 1, len(key) - 1)
        swapped = key[:i] + key[j] + key[i] + key[j + 1 :] if j > i else key + key[-1]
        return swapped if swapped != key else key + "s"
    if choice == 2:
        return key.upper() if key.upper() != key else key + "_x"
    if choice == 3:
        return key + "s"
    return key.replace("_", "-") if "_" in key else key + "-"


class _Draw:
    """One mutant in the making: the tree as written, what was changed, and the keys it touched.

    Leaves to change are drawn from the tree with every default (``Base.full``)
    half of the time; a changed key that the file leaves out is written with
    only the parents it needs, so the mutant stays as short as the original.
    """

    def __init__(self, rng: random.Random, base: Base) -> None:
        self.rng = rng
        self.base = base
        self.tree: Tree = copy.deepcopy(base.tree)
        self.notes: list[str] = []
        self.touched: list[str] = []
        self.raw_keys: dict[str, str] = {}  # placeholder key -> the key as written in YAML

    def put(self, path: KeyPath, value: Any) -> None:
        node: Any = self.tree
        for depth, part in enumerate(path[:-1]):
            if not _has(node, part):
                known = _lookup(self.base.full, path[: depth + 1])
                filler = copy.deepcopy(known) if isinstance(known, list) else {}
                if isinstance(node, dict):
                    node[part] = filler
                else:
                    return  # a list shorter than the full tree's: nothing to change
            node = node[part]
            if not isinstance(node, dict | list):
                return
        last = path[-1]
        if isinstance(node, dict) or (isinstance(last, int) and _has(node, last)):
            node[last] = value
        self.notes.append(f"{format_key_path(path)} = {short(value)}")
        self.touched.append(format_key_path(path))

    def leaf(self, tree: Any = None, prefix: KeyPath = ()) -> KeyPath | None:
        if tree is None:
            tree = self.base.full if self.rng.random() < 0.5 else self.tree
        leaves = _leaves(tree)
        return (*prefix, *self.rng.choice(leaves)) if leaves else None

    def any_path(self) -> KeyPath:
        tree = self.base.full if self.rng.random() < 0.5 else self.tree
        return self.rng.choice(_paths(tree))


def _has(node: Any, part: str | int) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _lookup(tree: Any, path: KeyPath) -> Any:
    for part in path:
        if not _has(tree, part):
            return None
        tree = tree[part]
    return tree


def _delete_key(draw: _Draw) -> None:
    paths = [p for p in _paths(draw.tree) if isinstance(p[-1], str)]
    path = draw.rng.choice(paths)
    del _get(draw.tree, path[:-1])[path[-1]]
    draw.notes.append(f"delete {format_key_path(path)}")
    draw.touched.append(format_key_path(path))


def _rename_key(draw: _Draw) -> None:
    paths = [p for p in _paths(draw.tree) if isinstance(p[-1], str)]
    path = draw.rng.choice(paths)
    parent = _get(draw.tree, path[:-1])
    old = str(path[-1])
    new = _typo(draw.rng, old)
    renamed = {(new if key == old else key): value for key, value in parent.items()}
    parent.clear()
    parent.update(renamed)
    draw.notes.append(f"rename {format_key_path(path)} -> {new}")
    draw.touched.append(format_key_path(path))


def _replace_leaf(catalogue: Sequence[Any]) -> Callable[[_Draw], None]:
    def mutate(draw: _Draw) -> None:
        everything = draw.rng.random() < 0.2  # sometimes a whole section, not a leaf
        path = draw.any_path() if everything else draw.leaf()
        if path is not None:
            draw.put(path, copy.deepcopy(draw.rng.choice(catalogue)))

    return mutate


def _long_value(draw: _Draw) -> None:
    path = draw.leaf()
    size = draw.rng.choice([10_000, 100_000])
    if path is not None and draw.rng.random() < 0.5:
        draw.put(path, "x" * size)
        return
    parent: KeyPath = ()
    if path is not None and len(path) > 1 and isinstance(_lookup(draw.tree, path[:-1]), dict):
        parent = path[:-1]
    key = "k" * size
    _get(draw.tree, parent)[key] = 1
    draw.notes.append(f"add key {short(key)} under {format_key_path(parent) or 'the top'}")


def _boolean_key(draw: _Draw) -> None:
    """An unquoted ``on:``/``off:``/``yes:`` key, which YAML 1.1 reads as a boolean."""
    mappings = [()] + [p for p in _paths(draw.tree) if isinstance(_get(draw.tree, p), dict)]
    path: KeyPath = draw.rng.choice(mappings)
    written = draw.rng.choice(["on", "off", "yes", "no", "On", "OFF", "y", "true", "null", "1"])
    placeholder = f"fuzz_placeholder_{len(draw.raw_keys)}"
    _get(draw.tree, path)[placeholder] = draw.rng.choice(["1s", 1, True])
    draw.raw_keys[placeholder] = written
    draw.notes.append(f"unquoted key {written}: under {format_key_path(path) or 'the top'}")


def _variant(draw: _Draw) -> None:
    variant = draw.rng.choice(values.VARIANTS)
    prefix: KeyPath = ()
    if variant.segment:
        segments = draw.tree.get("path")
        count = len(segments) if isinstance(segments, list) and segments else 1
        if not isinstance(segments, list) or not segments:
            draw.tree["path"] = [{"name": "radio"}]
        prefix = ("path", draw.rng.randrange(count))
    for key, value in variant.settings.items():
        _set(draw.tree, (*prefix, key), copy.deepcopy(value))
    draw.notes.append(f"{variant.name} at {format_key_path(prefix) or 'the top'}")
    if draw.rng.random() < 0.2:
        return
    key = draw.rng.choice(list(variant.settings))
    path = draw.leaf(variant.settings[key], (*prefix, key))
    if path is None:
        path = (*prefix, key)
    catalogue = draw.rng.choice(
        [values.EXTREME_NUMBERS, values.EXTREME_UNITS, values.EXTREME_UNITS, values.WRONG_TYPES]
    )
    draw.put(path, copy.deepcopy(draw.rng.choice(catalogue)))


def _trace_file(draw: _Draw) -> tuple[tuple[str, bytes], ...]:
    segments = draw.tree.get("path")
    if not isinstance(segments, list) or not segments or not isinstance(segments[0], dict):
        draw.tree["path"] = segments = [{"name": "radio"}]
    index = draw.rng.randrange(len(segments))
    if not isinstance(segments[index], dict):
        segments[index] = {"name": "radio"}
    files: tuple[tuple[str, bytes], ...] = ()
    if draw.rng.random() < 0.6:
        content = draw.rng.choice(values.BAD_TRACE_FILES)
        name = "bad.trace"
        files = ((name, content),)
        draw.notes.append(f"trace file {short(content)}")
    else:
        name = draw.rng.choice(values.BAD_TRACE_NAMES)
    draw.put(("path", index, "uplink_trace"), name)
    draw.put(("path", index, "downlink_trace"), name)
    return files


def _override(rng: random.Random, base: Base) -> tuple[str, ...]:
    """One or two ``--set`` overrides: from the catalogue, or a real key with a hostile value."""
    overrides = []
    for _ in range(rng.choice([1, 1, 2])):
        if rng.random() < 0.5:
            overrides.append(rng.choice(values.BAD_OVERRIDES))
            continue
        leaves = _leaves(base.full)
        path = rng.choice(leaves) if leaves else ("name",)
        catalogue = rng.choice(
            [values.EXTREME_NUMBERS, values.EXTREME_UNITS, values.BAD_UNITS, values.WRONG_TYPES]
        )
        value = rng.choice(catalogue)
        text = value if isinstance(value, str) else str(dump(value), "utf-8").strip()
        text = text.removesuffix("\n...").strip()
        overrides.append(f"{format_key_path(path)}={text}")
    return tuple(overrides)


_TREE_OPERATORS: dict[str, tuple[int, Callable[[_Draw], None]]] = {
    "delete_key": (2, _delete_key),
    "rename_key": (2, _rename_key),
    "wrong_type": (3, _replace_leaf(values.WRONG_TYPES)),
    "extreme_number": (4, _replace_leaf(values.EXTREME_NUMBERS)),
    "extreme_unit": (4, _replace_leaf(values.EXTREME_UNITS)),
    "bad_unit": (2, _replace_leaf(values.BAD_UNITS)),
    "long_value": (1, _long_value),
    "boolean_key": (1, _boolean_key),
    "variant": (6, _variant),
}
_OTHER_WEIGHTS = {"trace": 2, "override": 3, "text": 6}


def _one(rng: random.Random, base: Base, index: int) -> Mutant:
    names = [*_TREE_OPERATORS, *_OTHER_WEIGHTS]
    weights = [w for w, _ in _TREE_OPERATORS.values()] + list(_OTHER_WEIGHTS.values())
    operator = rng.choices(names, weights)[0]
    if operator == "text":
        change = text_mutants.mutate(rng, base.text)
        return Mutant(index, base.name, change.operator, change.description, change.text)
    if operator == "override":
        overrides = _override(rng, base)
        description = "; ".join(f"--set {clip(o)}" for o in overrides)
        touched = tuple(o.partition("=")[0] for o in overrides)
        text = base.text.encode("utf-8")
        return Mutant(index, base.name, operator, description, text, overrides, touched=touched)
    draw = _Draw(rng, base)
    files: tuple[tuple[str, bytes], ...] = ()
    if operator == "trace":
        files = _trace_file(draw)
    else:
        _TREE_OPERATORS[operator][1](draw)
    description = "; ".join(draw.notes)
    text = dump(draw.tree)
    for placeholder, written in draw.raw_keys.items():
        text = text.replace(f"{placeholder}:".encode(), f"{written}:".encode())
    return Mutant(index, base.name, operator, description, text, (), files, tuple(draw.touched))


def generate(bases: Sequence[Base], *, seed: int, count: int) -> list[Mutant]:
    """``count`` mutants of ``bases`` (each base in turn), the same for the same seed."""
    rng = random.Random(seed)
    return [_one(rng, bases[index % len(bases)], index) for index in range(count)]
