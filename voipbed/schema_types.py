"""Building blocks of the scenario schema: quantities with units, and the section base class.

``Duration``, ``Rate``, ``Bytes`` and ``Ratio`` read what people write
(``20ms``, ``10Mbps``, ``64KiB``, ``2%``) into SI floats, refuse negative
values, write them back as unit strings that read back identically, and
describe themselves in the JSON Schema.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

from voipbed import units

__all__ = ["Bytes", "Duration", "Rate", "Ratio", "Section"]


def _reader(parse: Callable[[object], float], kind: str) -> BeforeValidator:
    """Read a YAML value with ``parse``; negative quantities are errors."""

    def read(value: object) -> float:
        try:
            number = parse(value)
        except units.UnitError as error:
            raise PydanticCustomError("unit", str(error)) from None
        if number < 0:
            raise PydanticCustomError("negative", f"{value!r} is negative; {kind} must be >= 0")
        return number

    return BeforeValidator(read)


def _schema(kind: str, example: str) -> WithJsonSchema:
    return WithJsonSchema(
        {
            "anyOf": [{"type": "string"}, {"type": "number"}],
            "description": f"{kind}, e.g. {example}",
            "examples": [example],
        }
    )


def _writer(format_: Callable[[float], str]) -> PlainSerializer:
    return PlainSerializer(format_, return_type=str, when_used="json")


Duration = Annotated[
    float,
    _reader(units.parse_duration, "a duration"),
    _writer(units.format_duration),
    _schema("a duration", "20ms"),
]
Rate = Annotated[
    float,
    _reader(units.parse_rate, "a bit rate"),
    _writer(units.format_rate),
    _schema("a bit rate", "10Mbps"),
]
Bytes = Annotated[
    float,
    _reader(units.parse_bytes, "a size"),
    _writer(units.format_bytes),
    _schema("a size", "64KiB"),
]
Ratio = Annotated[
    float,
    _reader(units.parse_ratio, "a ratio"),
    _writer(units.format_ratio),
    _schema("a ratio", "2%"),
]


class Section(BaseModel):
    """A scenario section: strict (unknown keys are errors) and frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)
