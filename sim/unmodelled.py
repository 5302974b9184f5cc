"""The scenario settings the simulator does not model, said as warnings.

Some keys act only in the emulation, which runs real SIP stacks: the
simulator carries media packets and models no SIP signalling, so such a
setting changes nothing in a simulated run. ``unmodelled_settings`` names
each one a scenario sets away from its default, so that a user (or a sweep
over it) does not read a difference into identical runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from voipbed.keypath import KeyPath, parse_key_path
from voipbed.scenario import Scenario, default_yaml_dict

__all__ = ["UNMODELLED", "ignored_keys", "sweep_warnings", "unmodelled_settings"]

UNMODELLED: dict[str, str] = {
    "signalling.transport": (
        "the simulator models no SIP signalling, so every transport gives the same simulated "
        "run; only the emulation uses it"
    ),
    "signalling.load": (
        "the simulator runs no SIP load (SIPp calls through the SIP core); only the emulation does"
    ),
}
"""Key paths the simulator ignores, each with what is ignored."""

_UNMODELLED_PATHS = {parse_key_path(key): key for key in UNMODELLED}


def _value(data: Any, key_path: KeyPath) -> Any:
    """The value at ``key_path`` in a scenario's YAML dict (None where it has none)."""
    for part in key_path:
        if isinstance(part, int):
            data = data[part] if isinstance(data, list) and part < len(data) else None
        else:
            data = data.get(part) if isinstance(data, dict) else None
    return data


def unmodelled_settings(scenario: Scenario) -> list[str]:
    """One sentence per setting of ``scenario`` that differs from its default and that the
    simulator ignores, in ``UNMODELLED``'s order; empty when there is none."""
    data, defaults = scenario.to_yaml_dict(), default_yaml_dict()
    warnings = []
    for key_path, key in _UNMODELLED_PATHS.items():
        value = _value(data, key_path)
        if value != _value(defaults, key_path):
            warnings.append(f"{key} is set to {_compact(value)}, but {UNMODELLED[key]}")
    return warnings


def _compact(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_compact(v)}" for k, v in value.items()) + "}"
    return "null" if value is None else str(value)


def ignored_keys(keys: Iterable[str]) -> list[str]:
    """The key paths among ``keys`` (as written for ``--set`` or ``sweep``) that set only what
    the simulator ignores: an ignored key, a key inside one, or a section made only of them."""
    defaults = default_yaml_dict()
    return [key for key in keys if _ignored(parse_key_path(key), defaults)]


def _ignored(key_path: KeyPath, defaults: dict[str, Any]) -> bool:
    if any(key_path[: len(path)] == path for path in _UNMODELLED_PATHS):
        return True
    section = _value(defaults, key_path)
    if not isinstance(section, dict) or not section:
        return False
    return all(_ignored((*key_path, child), defaults) for child in section)


def sweep_warnings(base: Scenario, points: Iterable[Scenario]) -> list[str]:
    """A sweep's warnings, each once: the swept keys the simulator ignores, then every
    point's ``unmodelled_settings`` in the order first met."""
    swept = ignored_keys(base.sweep or {})
    warnings = [
        f"this sweep varies {key}, which the simulator ignores: points that differ only in "
        "it are identical runs, and their ranking says nothing about it"
        for key in swept
    ]
    for point in points:
        warnings += [w for w in unmodelled_settings(point) if w not in warnings]
    return warnings
