"""The scenario settings the simulator does not model, said as warnings.

Some keys act only in the emulation, which runs real SIP stacks: the
simulator runs no SIP load, and models SIP signalling only when
``signalling.setup`` is on (each call's set-up on the path), so without it
the transport and the SIP settings change nothing in a simulated run.
(``signalling.ice`` also times the ICE restart after a vertical handover.)
``unmodelled_settings`` names each one a scenario sets away from its default,
so that a user (or a sweep over it) does not read a difference into
identical runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from voipbed.keypath import KeyPath, parse_key_path
from voipbed.scenario import Scenario, default_yaml_dict

__all__ = [
    "UNMODELLED",
    "WITHOUT_SETUP",
    "ignored_keys",
    "sweep_warnings",
    "unmodelled_settings",
]

UNMODELLED: dict[str, str] = {
    "signalling.load": (
        "the simulator runs no SIP load (SIPp calls through the SIP core); only the emulation does"
    ),
}
"""Key paths the simulator ignores, each with what is ignored."""

_NO_SETUP = (
    "the simulator models SIP signalling only with signalling.setup: true (the emulation "
    "always does), so without it every value gives the same simulated run"
)
WITHOUT_SETUP: dict[str, str] = {
    "signalling.transport": _NO_SETUP,
    "signalling.tls_version": _NO_SETUP,
    "signalling.timers": _NO_SETUP,
    "signalling.far_end": _NO_SETUP,
    "signalling.ice": _NO_SETUP,
    "signalling.fallback": _NO_SETUP,
    "signalling.dns": _NO_SETUP,
    "calls.srtp_keying": _NO_SETUP,  # the DTLS handshake follows a set-up's answer
}
"""Key paths the simulator ignores unless ``signalling.setup`` is on."""


def _ignored_paths(scenario: Scenario | None) -> dict[KeyPath, str]:
    """The key paths ``scenario`` makes the simulator ignore (without a scenario: those of
    the default one), each with the key as written."""
    keys = [*UNMODELLED]
    if scenario is None or not scenario.signalling.setup:
        keys = [*WITHOUT_SETUP, *keys]
        if scenario is not None and scenario.radio.handovers.recovery.mode == "ice_restart":
            keys.remove("signalling.ice")  # its servers and NAT time the handovers' restarts
    return {parse_key_path(key): key for key in keys}


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
    simulator ignores; empty when there is none."""
    data, defaults = scenario.to_yaml_dict(), default_yaml_dict()
    reasons = {**UNMODELLED, **WITHOUT_SETUP}
    warnings = []
    for key_path, key in _ignored_paths(scenario).items():
        value = _value(data, key_path)
        if value != _value(defaults, key_path):
            warnings.append(f"{key} is set to {_compact(value)}, but {reasons[key]}")
    return warnings


def _compact(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_compact(v)}" for k, v in value.items()) + "}"
    return "null" if value is None else str(value)


def ignored_keys(keys: Iterable[str], base: Scenario | None = None) -> list[str]:
    """The key paths among ``keys`` (as written for ``--set`` or ``sweep``) that set only what
    the simulator ignores in ``base`` (default: the default scenario): an ignored key, a key
    inside one, or a section made only of them."""
    defaults = default_yaml_dict()
    paths = _ignored_paths(base)
    return [key for key in keys if _ignored(parse_key_path(key), defaults, paths)]


def _ignored(key_path: KeyPath, defaults: dict[str, Any], paths: dict[KeyPath, str]) -> bool:
    if any(key_path[: len(path)] == path for path in paths):
        return True
    section = _value(defaults, key_path)
    if not isinstance(section, dict) or not section:
        return False
    return all(_ignored((*key_path, child), defaults, paths) for child in section)


def sweep_warnings(base: Scenario, points: Iterable[Scenario]) -> list[str]:
    """A sweep's warnings, each once: the swept keys the simulator ignores, then every
    point's ``unmodelled_settings`` in the order first met."""
    swept = ignored_keys(base.sweep or {}, base)
    warnings = [
        f"this sweep varies {key}, which the simulator ignores: points that differ only in "
        "it are identical runs, and their ranking says nothing about it"
        for key in swept
    ]
    for point in points:
        warnings += [w for w in unmodelled_settings(point) if w not in warnings]
    return warnings
