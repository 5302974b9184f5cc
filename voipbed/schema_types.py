"""Building blocks of the scenario schema: quantities with units, and the section base class.

``Duration``, ``Rate``, ``Bytes`` and ``Ratio`` read what people write
(``20ms``, ``10Mbps``, ``64KiB``, ``2%``) into SI floats, refuse negative
values, write them back as unit strings that read back identically, and
describe themselves in the JSON Schema with a pattern built from the units
their parser knows. ``ShortForm`` adds to a field's JSON Schema a short way
of writing it that the field's ``BeforeValidator`` expands.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetJsonSchemaHandler,
    PlainSerializer,
    TypeAdapter,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from voipbed import units

__all__ = ["Bytes", "Duration", "Rate", "Ratio", "Section", "ShortForm"]


def _reader(parse: Callable[[object], float], kind: str) -> BeforeValidator:
    """Read a YAML value with ``parse``; negative quantities are errors."""

    def read(value: object) -> float:
        try:
            number = parse(value)
        except units.UnitError as error:
            raise PydanticCustomError("unit", str(error)) from None
        if number < 0:
            raise PydanticCustomError(
                "negative", f"{units.shown(value)} is negative; {kind} must be >= 0"
            )
        return number

    return BeforeValidator(read)


# A number as people write it, never negative (the readers refuse those): 20, 1.5, .5, 1e-3.
_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]{1,2})?"
_ZERO = r"(?:0+(?:\.0*)?|\.0+)"  # zero needs no unit
_PERCENT = r"^(?:100(?:\.0*)?|[0-9]{1,2}(?:\.[0-9]*)?|\.[0-9]+) ?%$"  # 0% to 100%


def _names(unit_names: Iterable[str]) -> str:
    """``unit_names`` as alternatives of a pattern, the longest first."""
    return "|".join(re.escape(name) for name in sorted(unit_names, key=len, reverse=True))


def _unit_pattern(unit_names: Iterable[str]) -> str:
    """A number, an optional space and one of ``unit_names``; or a bare zero."""
    return rf"^(?:{_NUMBER} ?(?:{_names(unit_names)})|{_ZERO})$"


def _at_least(digits: int) -> str:
    """A number of at least ``10**-digits`` as people write it (some such numbers left out).

    Its integer part is at least 1, with an exponent of at least ``-digits``;
    or it is a fraction with a non-zero digit among its first ``digits`` places.
    """
    whole = r"0*[1-9][0-9]*(?:\.[0-9]*)?"
    if not digits:
        return rf"{whole}(?:[eE]\+?[0-9]{{1,2}})?"
    exponent = rf"[eE](?:\+?[0-9]{{1,2}}|-0?[0-{digits}])"
    return rf"{whole}(?:{exponent})?|0*\.0{{0,{digits - 1}}}[1-9][0-9]*"


def _rate_pattern() -> str:
    """A rate of 0, or of at least ``units.MIN_RATE_BPS``, in one of the parser's units."""
    by_digits: dict[int, list[str]] = {}
    for name, scale in units.RATE_UNITS.items():
        digits = max(0, math.floor(math.log10(scale / units.MIN_RATE_BPS)))
        by_digits.setdefault(digits, []).append(name)
    alternatives = [
        rf"(?:{_at_least(digits)}) ?(?:{_names(names)})" for digits, names in by_digits.items()
    ]
    zero = rf"{_ZERO}(?: ?(?:{_names(units.RATE_UNITS)}))?"
    return rf"^(?:{'|'.join([*alternatives, zero])})$"


def _schema(pattern: str, bare: dict[str, Any], *examples: object) -> WithJsonSchema:
    """A quantity in the JSON Schema: a string matching ``pattern``, or the ``bare`` number.

    No description: each field says what it is, and its unit, itself.
    """
    text = {"type": "string", "pattern": pattern}
    return WithJsonSchema({"anyOf": [text, bare], "examples": list(examples)})


_BARE_ZERO = {"type": "number", "const": 0}
# The units are the parsers' own tables, so a pattern never names a unit its parser lacks.
_DURATION_SCHEMA = _schema(_unit_pattern(units.DURATION_UNITS), _BARE_ZERO, "20ms", "1.5s")
_RATE_SCHEMA = _schema(_rate_pattern(), _BARE_ZERO, "64kbps", "10Mbps")
_BYTES_SCHEMA = _schema(
    _unit_pattern(units.BYTE_UNITS), {"type": "integer", "minimum": 0}, "1500B", "64KiB", 1500
)
_RATIO_SCHEMA = _schema(_PERCENT, {"type": "number", "minimum": 0, "maximum": 1}, "2%", 0.02)


def _writer(format_: Callable[[float], str]) -> PlainSerializer:
    return PlainSerializer(format_, return_type=str, when_used="json")


Duration = Annotated[
    float,
    _reader(units.parse_duration, "a duration"),
    _writer(units.format_duration),
    _DURATION_SCHEMA,
]
Rate = Annotated[
    float,
    _reader(units.parse_rate, "a bit rate"),
    _writer(units.format_rate),
    _RATE_SCHEMA,
]
Bytes = Annotated[
    float,
    _reader(units.parse_bytes, "a size"),
    _writer(units.format_bytes),
    _BYTES_SCHEMA,
]
Ratio = Annotated[
    float,
    _reader(units.parse_ratio, "a ratio"),
    _writer(units.format_ratio),
    _RATIO_SCHEMA,
]


@dataclass(frozen=True, eq=False)  # eq=False keeps it hashable, as Annotated metadata must be
class ShortForm:
    """A short way to write a field, expanded by the field's ``BeforeValidator``.

    Put after the validator in the field's ``Annotated``, it makes the field's
    JSON Schema ``anyOf`` the short form and the full one, so an editor
    accepts what the loader accepts. ``form`` is a JSON Schema, or a type
    whose JSON Schema stands alone (no nested models) and is the short form's.
    """

    form: Any
    description: str

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        full = handler(core_schema)
        if isinstance(self.form, dict):
            short = dict(self.form)
        else:
            short = TypeAdapter(self.form).json_schema(mode=handler.mode)
            if "$defs" in short:
                raise TypeError(f"{self.form!r} nests models: give its short form's JSON Schema")
        return {"anyOf": [{**short, "description": self.description}, full]}


class Section(BaseModel):
    """A scenario section: strict (unknown keys are errors) and frozen."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, use_enum_values=False, allow_inf_nan=False
    )
