"""Quantities as humans write them (``20ms``, ``10Mbps``, ``2%``, ``64KiB``), parsed to SI floats.

Each parser takes what YAML gives (a string, or a number where a bare number is
unambiguous) and returns a float in the SI base unit: seconds, bits per second,
bytes, or a ratio in [0, 1]. A value that cannot be read raises ``UnitError``
whose message names the value and the kind of quantity expected; the scenario
loader turns it into ``file:line: key.path: message``.

Each ``format_*`` function writes a float back as a string its parser reads to
the identical float, so a resolved scenario can be saved and loaded again.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

__all__ = [
    "BYTE_UNITS",
    "DURATION_UNITS",
    "MAX_DURATION_S",
    "MIN_RATE_BPS",
    "RATE_UNITS",
    "UnitError",
    "format_bytes",
    "format_duration",
    "format_rate",
    "format_ratio",
    "parse_bytes",
    "parse_duration",
    "parse_rate",
    "parse_ratio",
    "shown",
]


class UnitError(ValueError):
    """A value that is not a quantity of the expected kind."""


_NUMBER_AND_UNIT = re.compile(
    r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-zµμ%/]*)\s*$"
)

DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # micro sign U+00B5
    "μs": 1e-6,  # Greek mu U+03BC
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "min": 60.0,
    "h": 3600.0,
}
# Network rates are decimal (IEC 80000-13 / SI prefixes): 1 kbps = 1000 bit/s.
RATE_UNITS = {
    "bps": 1.0,
    "kbps": 1e3,
    "Kbps": 1e3,
    "Mbps": 1e6,
    "Gbps": 1e9,
    "bit/s": 1.0,
    "kbit/s": 1e3,
    "Mbit/s": 1e6,
    "Gbit/s": 1e9,
    "Bps": 8.0,
    "kBps": 8e3,
    "MBps": 8e6,
}
# Sizes: SI prefixes are decimal, IEC prefixes (KiB, MiB) binary.
BYTE_UNITS = {
    "B": 1.0,
    "kB": 1e3,
    "KB": 1e3,
    "MB": 1e6,
    "GB": 1e9,
    "KiB": 1024.0,
    "MiB": 1024.0**2,
    "GiB": 1024.0**3,
}


def shown(value: object, limit: int = 40) -> str:
    """``repr(value)``, cut to ``limit`` characters for an error message."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _split(value: object, kind: str, example: str) -> tuple[float, str]:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise UnitError(f"{shown(value)} is not {kind} (write it like {example})")
    if isinstance(value, str):
        match = _NUMBER_AND_UNIT.match(value)
        if match is None:
            raise UnitError(f"{shown(value)} is not {kind} (write it like {example})")
        text, unit = match.group(1), match.group(2)
    else:
        text, unit = value, ""
    try:
        number = float(text)
    except OverflowError:  # an integer beyond a float's range
        number = math.inf
    if not math.isfinite(number):
        raise UnitError(f"{shown(value)} is not a finite number; {kind} must be one")
    return number + 0.0, unit  # + 0.0 turns -0.0 into 0.0, which is not negative


def _scaled(value: object, kind: str, example: str, units: dict[str, float]) -> float:
    number, unit = _split(value, kind, example)
    if unit == "":
        if number == 0.0:
            return 0.0  # zero needs no unit
        raise UnitError(f"{shown(value)} has no unit; {kind} needs one (write it like {example})")
    if unit not in units:
        known = ", ".join(units)
        raise UnitError(f"{shown(value)}: unknown unit {shown(unit)} for {kind} (known: {known})")
    result = number * units[unit]
    if not math.isfinite(result):
        raise UnitError(f"{shown(value)} is too large for {kind}")
    return result


MAX_DURATION_S = 7 * 86400.0
"""Longer than any run or timer a scenario needs (keep-alive periods of hours included)."""


def parse_duration(value: object) -> float:
    """A duration in seconds from ``'20ms'``, ``'1.5s'``, ``'2min'``; a bare number only if 0.

    At most ``MAX_DURATION_S``: a week holds every timer and run voipbed models.
    """
    seconds = _scaled(value, "a duration", "'20ms' or '1.5s'", DURATION_UNITS)
    if seconds > MAX_DURATION_S:
        raise UnitError(f"{shown(value)} is longer than a week, the longest duration voipbed takes")
    return seconds


MIN_RATE_BPS = 1.0
"""The slowest rate but 0: below it one packet would take longer than any run to send."""


def parse_rate(value: object) -> float:
    """A bit rate in bit/s from ``'64kbps'``, ``'10Mbps'``, ``'1Gbit/s'``: 0, or at least 1 bit/s.

    Below ``MIN_RATE_BPS`` one packet would take longer than any run to send.
    """
    bps = _scaled(value, "a bit rate", "'64kbps' or '10Mbps'", RATE_UNITS)
    if 0.0 < bps < MIN_RATE_BPS:
        raise UnitError(f"{shown(value)} is below 1 bit/s, the slowest rate voipbed takes")
    return bps


def parse_bytes(value: object) -> float:
    """A size in bytes from ``'1500B'``, ``'64KiB'``, ``'1MB'``; a bare integer counts bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _split(value, "a size in bytes", "1500")[0]  # a whole number of bytes
    return _scaled(value, "a size in bytes", "'1500B' or '64KiB'", BYTE_UNITS)


def parse_ratio(value: object) -> float:
    """A ratio in [0, 1] from a percentage (``'2%'``) or a bare fraction (``0.02``)."""
    number, unit = _split(value, "a percentage", "'2%' or a fraction like 0.02")
    if unit == "%":
        ratio = number / 100.0
    elif unit == "":
        ratio = number
    else:
        raise UnitError(f"{shown(value)} is not a percentage (write it like '2%' or 0.02)")
    if not 0.0 <= ratio <= 1.0:
        raise UnitError(f"{shown(value)} is not a ratio between 0% and 100%")
    return ratio


def _format(
    value: float, candidates: list[tuple[str, float]], base: str, parse: Callable[[object], float]
) -> str:
    """The largest unit in which ``value`` is at least 1 and reads back to the identical float."""
    for unit, scale in candidates:
        if abs(value) / scale >= 1.0:
            text = f"{value / scale!r}{unit}"
            if parse(text) == value:
                return text
    return f"{value!r}{base}"


def format_duration(seconds: float) -> str:
    """``0.04`` -> ``'40.0ms'``; round-trips exactly through ``parse_duration``."""
    return _format(seconds, [("s", 1.0), ("ms", 1e-3), ("us", 1e-6)], "s", parse_duration)


def format_rate(bps: float) -> str:
    """``2e6`` -> ``'2.0Mbps'``; round-trips exactly through ``parse_rate``."""
    cands = [("Gbps", 1e9), ("Mbps", 1e6), ("kbps", 1e3), ("bps", 1.0)]
    return _format(bps, cands, "bps", parse_rate)


def format_bytes(size: float) -> str:
    """``1500.0`` -> ``'1500.0B'``; round-trips exactly through ``parse_bytes``."""
    return _format(size, [("B", 1.0)], "B", parse_bytes)


def format_ratio(ratio: float) -> str:
    """``0.005`` -> ``'0.5%'`` when that reads back identically, else the bare fraction."""
    for digits in (6, 12):
        text = f"{round(ratio * 100.0, digits)!r}%"
        if parse_ratio(text) == ratio:
            return text
    return repr(ratio)
