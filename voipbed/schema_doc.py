"""The scenario's JSON Schema (Draft 2020-12), as ``voipbed schema`` prints it for editors.

Pydantic writes the schema from the ``Scenario`` model; this module's
generator changes two things so the schema accepts what the loader accepts
and no more:

- defaults are written as a scenario writes them (``60.0ms``, not ``0.06``),
  through each field's own unit serializer, and a default made by a factory
  (the default path) is written out too;
- each alternative of a tagged union (``kind``, ``model``) requires its tag,
  as the loader does; a mapping without the tag is a ``ShortForm`` of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, NoDefault
from pydantic_core import CoreSchema, core_schema

from voipbed.scenario import Scenario

__all__ = ["DRAFT", "scenario_schema"]

DRAFT = "https://json-schema.org/draft/2020-12/schema"

# Core schemas that wrap the one whose serializer writes the value.
_WRAPPERS = {"nullable", "function-before", "function-after", "function-wrap"}


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file, with every key described and every default."""
    document = Scenario.model_json_schema(
        by_alias=True, mode="validation", schema_generator=_ScenarioSchema
    )
    return {"$schema": DRAFT, **document, "title": "voipbed scenario"}


class _ScenarioSchema(GenerateJsonSchema):
    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        """The default as a scenario file writes it."""
        if "default_factory" in schema and not schema.get("default_factory_takes_data"):
            factory: Callable[[], Any] = schema["default_factory"]  # type: ignore[assignment]
            return factory()
        default = schema.get("default", NoDefault)
        if default is None or default is NoDefault or schema.get("validate_default"):
            return default  # a validated default is written as its input already
        write = _unit_writer(schema["schema"])
        return write(default) if write is not None else default

    def tagged_union_schema(self, schema: core_schema.TaggedUnionSchema) -> JsonSchemaValue:
        """Each alternative requires its tag: the loader reads none without it."""
        json_schema = super().tagged_union_schema(schema)
        tag = json_schema.get("discriminator", {}).get("propertyName")
        if isinstance(tag, str) and "oneOf" in json_schema:
            json_schema["oneOf"] = [
                {**choice, "required": [tag]} for choice in json_schema["oneOf"]
            ]
        return json_schema


def _unit_writer(schema: CoreSchema) -> Callable[[Any], Any] | None:
    """The plain serializer that writes a value of ``schema`` (a unit type's), if any."""
    serialization: Any = schema.get("serialization")
    plain = serialization is not None and serialization.get("type") == "function-plain"
    if plain and not serialization.get("info_arg"):
        function: Callable[[Any], Any] = serialization["function"]
        return function
    if schema["type"] in _WRAPPERS:
        inner: CoreSchema = schema["schema"]
        return _unit_writer(inner)
    return None
