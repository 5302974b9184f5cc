"""The axes of a scenario's ``sweep`` and the seeds each of its points runs with.

A ``sweep`` maps key paths (as for ``--set``) to lists of values: each key
is an axis. Its ``zip`` entry holds keys whose values vary together: a
mapping of key paths to lists of one length (one axis), or a list of such
mappings (one axis each). The points are the cross product of the axes, in
the order written, the last axis varying fastest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from voipbed.keypath import KeyPath, parse_key_path

__all__ = ["ZIP", "SweepAxis", "SweepShapeError", "run_seeds", "sweep_axes", "sweep_size"]

ZIP = "zip"
_NOT_SWEPT = ("name", "sweep", "seeds")


class SweepShapeError(ValueError):
    """A malformed ``sweep``; ``loc`` is where in it, below ``sweep``."""

    def __init__(self, loc: KeyPath, message: str) -> None:
        self.loc = loc
        super().__init__(message)


@dataclass(frozen=True)
class SweepAxis:
    """One axis: the keys it sets and, per step, their values (one per key)."""

    name: str
    """The key for a plain axis; ``zip`` or ``zip[1]`` for a zipped one."""
    keys: tuple[str, ...]
    steps: tuple[tuple[Any, ...], ...]
    where: KeyPath
    """Where its lists are below ``sweep``: ``()``, ``("zip",)`` or ``("zip", 1)``."""

    def value_path(self, key: str, step: int) -> KeyPath:
        """Where the value of ``key`` at ``step`` is written, from the document's root."""
        return ("sweep", *self.where, key, step)


def sweep_axes(sweep: Mapping[str, Any]) -> list[SweepAxis]:
    """The axes of ``sweep`` in the order written; ``SweepShapeError`` for the first problem."""
    if not sweep:
        raise SweepShapeError((), "a sweep needs at least one key to vary")
    axes: list[SweepAxis] = []
    for key, values in sweep.items():
        if key != ZIP:
            axes.append(SweepAxis(key, (key,), _plain_steps(key, values), ()))
        elif isinstance(values, Mapping):
            axes.append(_zipped(ZIP, values, (ZIP,)))
        elif isinstance(values, list | tuple) and values:
            for index, group in enumerate(values):
                if not isinstance(group, Mapping):
                    raise SweepShapeError((ZIP, index), "a zip is a mapping of keys to lists")
                axes.append(_zipped(f"{ZIP}[{index}]", group, (ZIP, index)))
        else:
            raise SweepShapeError(
                (ZIP,), "zip: a mapping of keys to lists of one length, or a list of them"
            )
    seen: set[str] = set()
    for axis in axes:
        for key in axis.keys:
            if key in seen:
                raise SweepShapeError((*axis.where, key), f"{key!r} is swept twice")
            seen.add(key)
    return axes


def sweep_size(sweep: Mapping[str, Any] | None) -> int:
    """How many points ``sweep`` has (1 without a sweep)."""
    return 1 if sweep is None else math.prod(len(axis.steps) for axis in sweep_axes(sweep))


def run_seeds(seed: int, seeds: int | Sequence[int] | None) -> tuple[int, ...]:
    """The seeds a point runs with: its ``seed`` alone, ``seeds`` seeds from it, or the list."""
    if seeds is None:
        return (seed,)
    if isinstance(seeds, int):
        return tuple(range(seed, seed + seeds))
    return tuple(seeds)


def _plain_steps(key: str, values: Any) -> tuple[tuple[Any, ...], ...]:
    _check_key(key, (key,))
    if not isinstance(values, list | tuple):
        raise SweepShapeError((key,), f"{key!r} needs a list of values")
    if not values:
        raise SweepShapeError((key,), f"{key!r} needs at least one value")
    return tuple((value,) for value in values)


def _zipped(name: str, group: Mapping[Any, Any], where: KeyPath) -> SweepAxis:
    if not group:
        raise SweepShapeError(where, "a zip needs at least one key")
    lengths: dict[str, int] = {}
    for key, values in group.items():
        if not isinstance(key, str):
            raise SweepShapeError(where, f"{key!r} is not a key path")
        _check_key(key, (*where, key))
        if not isinstance(values, list | tuple):
            raise SweepShapeError((*where, key), f"{key!r} needs a list of values")
        if not values:
            raise SweepShapeError((*where, key), f"{key!r} needs at least one value")
        lengths[key] = len(values)
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{key} has {length}" for key, length in lengths.items())
        odd = next(k for k, n in lengths.items() if n != next(iter(lengths.values())))
        raise SweepShapeError(
            (*where, odd), f"the lists of a zip vary together and need one length: {shown}"
        )
    keys = tuple(lengths)
    columns = [tuple(group[key]) for key in keys]
    return SweepAxis(name, keys, tuple(zip(*columns, strict=True)), where)


def _check_key(key: str, loc: KeyPath) -> None:
    try:
        first = parse_key_path(key)[0]
    except ValueError as error:
        raise SweepShapeError(loc, str(error)) from None
    if first in _NOT_SWEPT:
        raise SweepShapeError(loc, f"{key!r} cannot be swept")
