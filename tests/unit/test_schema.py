"""The scenario JSON Schema that ``voipbed schema`` prints agrees with the loader."""

from __future__ import annotations

import copy
import json
import re
import typing
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import BeforeValidator, TypeAdapter

from voipbed import units
from voipbed.cli import main
from voipbed.loader import ScenarioError, parse_scenario
from voipbed.scenario import Scenario
from voipbed.schema_doc import scenario_schema
from voipbed.schema_types import Bytes, Duration, Rate, Ratio

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SHIPPED = sorted(SCENARIOS.rglob("*.yaml"))

JsonPath = tuple[str | int, ...]

# Where each section of the schema sits in a scenario that loads, with what it needs
# there; a key that a context sets itself is checked in another context of the section.
LINKED = {"name": "hop", "capacity": "10Mbps"}
CONTEXTS: dict[str, list[tuple[dict[str, Any], JsonPath]]] = {
    "Scenario": [({}, ())],
    "Calls": [({"calls": {}}, ("calls",))],
    "RateControl": [({"calls": {"rate_control": {}}}, ("calls", "rate_control"))],
    "Adaptation": [
        (
            {"calls": {"rate_control": {"adaptation": {}}}},
            ("calls", "rate_control", "adaptation"),
        )
    ],
    "FixedJitterBuffer": [({"jitter_buffer": {"kind": "fixed"}}, ("jitter_buffer",))],
    "AdaptiveJitterBuffer": [({"jitter_buffer": {"kind": "adaptive"}}, ("jitter_buffer",))],
    "NetEqJitterBuffer": [({"jitter_buffer": {"kind": "neteq"}}, ("jitter_buffer",))],
    "Device": [({"device": {}}, ("device",))],
    "EModelSettings": [({"emodel": {}}, ("emodel",))],
    "Signalling": [({"signalling": {}}, ("signalling",))],
    "SipTimerSettings": [({"signalling": {"timers": {}}}, ("signalling", "timers"))],
    "FarEnd": [({"signalling": {"far_end": {}}}, ("signalling", "far_end"))],
    "NatSettings": [({"signalling": {"nat": {}}}, ("signalling", "nat"))],
    "Phones": [({"signalling": {"phones": {"count": 1}}}, ("signalling", "phones"))],
    "IceSettings": [({"signalling": {"ice": {}}}, ("signalling", "ice"))],
    "Fallback": [({"signalling": {"fallback": {}}}, ("signalling", "fallback"))],
    "AlertSettings": [({"alerts": {}}, ("alerts",))],
    "Dtmf": [({"dtmf": {"digits": "1"}}, ("dtmf",))],
    "DnsSettings": [({"signalling": {"dns": {}}}, ("signalling", "dns"))],
    "SipLoad": [
        (
            {"signalling": {"load": {"calls": 1, "calls_per_second": 1}}},
            ("signalling", "load"),
        )
    ],
    "Segment": [({"path": [{"name": "hop"}]}, ("path", 0))],
    "Jitter": [({"path": [{"name": "hop", "jitter": {}}]}, ("path", 0, "jitter"))],
    "BernoulliLoss": [
        ({"path": [{"name": "hop", "loss": {"model": "bernoulli"}}]}, ("path", 0, "loss"))
    ],
    "GilbertElliottLoss": [
        (
            {
                "path": [
                    {"name": "hop", "loss": {"model": "gilbert_elliott", "p": "1%", "r": "50%"}}
                ]
            },
            ("path", 0, "loss"),
        ),
        (
            {
                "path": [
                    {"name": "hop", "loss": {"model": "gilbert_elliott", "rate": "1%", "burst": 2}}
                ]
            },
            ("path", 0, "loss"),
        ),
    ],
    "Harq": [({"path": [{"name": "hop", "harq": {}}]}, ("path", 0, "harq"))],
    "CapacityStep": [
        (
            {"path": [{"name": "hop", "capacity_steps": [{"at": 0, "capacity": "1Mbps"}]}]},
            ("path", 0, "capacity_steps", 0),
        )
    ],
    "Queue": [({"path": [{**LINKED, "queue": {}}]}, ("path", 0, "queue"))],
    "DropTailAqm": [
        (
            {"path": [{**LINKED, "queue": {"aqm": {"kind": "droptail"}}}]},
            ("path", 0, "queue", "aqm"),
        )
    ],
    "CoDelAqm": [
        ({"path": [{**LINKED, "queue": {"aqm": {"kind": "codel"}}}]}, ("path", 0, "queue", "aqm"))
    ],
    "PieAqm": [
        ({"path": [{**LINKED, "queue": {"aqm": {"kind": "pie"}}}]}, ("path", 0, "queue", "aqm"))
    ],
    "CrossTraffic": [
        (
            {"path": [{**LINKED, "cross_traffic": [{"kind": "bulk"}]}]},
            ("path", 0, "cross_traffic", 0),
        )
    ],
    "Radio": [({"radio": {}}, ("radio",))],
    "Rrc": [({"radio": {"rrc": {}}}, ("radio", "rrc"))],
    "Handovers": [({"radio": {"handovers": {}}}, ("radio", "handovers"))],
    "ScheduledHandover": [
        (
            {"radio": {"handovers": {"schedule": [{"time": "1s", "kind": "x2"}]}}},
            ("radio", "handovers", "schedule", 0),
        )
    ],
    "X2": [({"radio": {"handovers": {"x2": {}}}}, ("radio", "handovers", "x2"))],
    "Vertical": [
        (
            {
                "radio": {
                    "handovers": {
                        "lte_to_wifi": {"detection": 0, "link_setup": "1s", "ip_config": 0}
                    }
                }
            },
            ("radio", "handovers", "lte_to_wifi"),
        )
    ],
    "Recovery": [({"radio": {"handovers": {"recovery": {}}}}, ("radio", "handovers", "recovery"))],
}

# Short forms the loader expands (its BeforeValidators), each with scenario keys using it.
SHORT_FORMS: dict[str, list[dict[str, Any]]] = {
    "_aqm_shorthand": [
        {"path": [{**LINKED, "queue": {"aqm": name}}]} for name in ("droptail", "codel", "pie")
    ],
    "_loss_shorthand": [{"path": [{"name": "hop", "loss": loss}]} for loss in ("2%", 0.02, 0)],
    "_fixed_unless_said": [{"jitter_buffer": {"delay": "80ms"}}, {"jitter_buffer": {}}],
    "_off_as_word": [{"alerts": {"echo_risk": False}}, {"alerts": {"echo_risk": "limiting"}}],
}
# What neither the loader nor the schema takes: a tagged section without its tag, and so on.
REFUSED: list[dict[str, Any]] = [
    {"path": [{"name": "hop", "loss": {"rate": "2%"}}]},
    {"path": [{"name": "hop", "loss": "2 parsecs"}]},
    {"path": [{"name": "hop", "loss": "120%"}]},
    {"path": [{**LINKED, "queue": {"aqm": "red"}}]},
    {"path": [{**LINKED, "queue": {"aqm": {"target": "5ms"}}}]},
    {"jitter_buffer": {"kind": "elastic"}},
    {"duration": "10 parsecs"},
    {"duration": 60},
    {"calls": {"ptime": "-20ms"}},
]

QUANTITIES: dict[str, tuple[Any, Callable[[object], float]]] = {
    "duration": (Duration, units.parse_duration),
    "rate": (Rate, units.parse_rate),
    "bytes": (Bytes, units.parse_bytes),
    "ratio": (Ratio, units.parse_ratio),
}
ACCEPTED = {
    "duration": ["20ms", "1.5s", "2min", "60.0ms", "250us", "20µs", "20μs", "20 ms", ".5s", "0"],
    "rate": ["64kbps", "10Mbps", "1Gbit/s", "100.0Mbps", "8kBps", "64 kbit/s", "0"],
    "bytes": ["1500B", "64KiB", "1MB", "1500.0B", "2 GiB", "0"],
    "ratio": ["2%", "0.5%", "100%", "5.0%", "0%", ".5%"],
}
REFUSED_TEXT = {
    "duration": ["10 parsecs", "-20ms", "20", "ms", "20MS", "2%", "1e400s", ""],
    "rate": ["10 parsecs", "10Mbit", "10", "-1Mbps", "10 Mb/s"],
    "bytes": ["10 parsecs", "1500", "64kib", "-1B", "1.5 KB B"],
    "ratio": ["10 parsecs", "101%", "2", "-1%", "2 percent"],
}


@cache
def printed_schema() -> dict[str, Any]:
    """What ``voipbed schema`` prints, read back."""
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def validator() -> jsonschema.Draft202012Validator:
    """A Draft 2020-12 validator of the printed schema."""
    return jsonschema.Draft202012Validator(printed_schema())


def load(data: dict[str, Any]) -> Scenario:
    """``data`` as a scenario file named ``probe``, through voipbed's loader."""
    return parse_scenario(yaml.safe_dump({"name": "probe", **data}), "probe.yaml")


def set_at(data: dict[str, Any], where: JsonPath, key: str, value: Any) -> dict[str, Any]:
    """A copy of ``data`` with ``key`` set to ``value`` in the mapping at ``where``."""
    changed = copy.deepcopy(data)
    node: Any = changed
    for part in where:
        node = node[part]
    node[key] = copy.deepcopy(value)
    return changed


def get_at(data: dict[str, Any], where: JsonPath) -> Any:
    """The value at ``where`` in ``data``."""
    node: Any = data
    for part in where:
        node = node[part]
    return node


def sections(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The schema's objects with properties: the root and each of its ``$defs``."""
    yield "Scenario", document
    for name, definition in document["$defs"].items():
        if "properties" in definition:
            yield name, definition


def property_schemas(node: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every property schema anywhere in ``node`` (short forms' inline objects included)."""
    if isinstance(node, dict):
        properties = node.get("properties")
        if isinstance(properties, dict):
            for key, schema in properties.items():
                yield f"{where}/properties/{key}", schema
        for key, child in node.items():
            yield from property_schemas(child, f"{where}/{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from property_schemas(child, f"{where}/{index}")


def pattern_of(kind: str) -> str:
    """The ``pattern`` of a quantity's text form in the JSON Schema."""
    schema = TypeAdapter(QUANTITIES[kind][0]).json_schema()
    patterns = [choice["pattern"] for choice in schema["anyOf"] if "pattern" in choice]
    assert len(patterns) == 1
    return str(patterns[0])


def before_validators(node: Any) -> Iterator[Callable[..., Any]]:
    """The functions of every before-validator in a pydantic core schema."""
    if isinstance(node, dict):
        if node.get("type") == "function-before":
            yield node["function"]["function"]
        for child in node.values():
            yield from before_validators(child)
    elif isinstance(node, list):
        for child in node:
            yield from before_validators(child)


def test_printed_schema_is_valid_draft_2020_12() -> None:
    """The schema command prints a valid Draft 2020-12 JSON Schema, the module's document."""
    document = printed_schema()
    jsonschema.Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document == json.loads(json.dumps(scenario_schema()))


def test_scenarios_are_found() -> None:
    """The library and its agreement folder hold scenarios for the next test to check."""
    assert SCENARIOS / "default.yaml" in SHIPPED
    assert any(path.parent.name == "agreement" for path in SHIPPED)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.relative_to(SCENARIOS).as_posix())
def test_shipped_scenario_is_valid_under_the_schema(path: Path) -> None:
    """Every shipped scenario, read as plain YAML, is valid under the printed schema."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator().iter_errors(data)]
    assert errors == []


def test_every_property_is_described() -> None:
    """Every key of the schema, in the root, in $defs and in short forms, has a description."""
    missing = [
        where for where, schema in property_schemas(printed_schema()) if "description" not in schema
    ]
    assert missing == []


def test_every_section_has_a_context() -> None:
    """Each section of the schema has a place in CONTEXTS, so its defaults are checked below."""
    assert {name for name, _ in sections(printed_schema())} <= set(CONTEXTS)


def default_cases() -> Iterator[tuple[str, str, Any]]:
    """(section, key, default) of every key with a default in the schema."""
    for name, section in sections(scenario_schema()):
        for key, schema in section["properties"].items():
            if "default" in schema:
                yield name, key, schema["default"]


@pytest.mark.parametrize(("section", "key", "default"), list(default_cases()))
def test_default_reads_back_as_the_default(section: str, key: str, default: Any) -> None:
    """A key set to the schema's default loads to the same scenario as the key left out.

    A union's tag (``kind``, ``model``) cannot be left out: set to its default, it loads.
    """
    omitting = [
        (data, where) for data, where in CONTEXTS[section] if key not in get_at(data, where)
    ]
    data, where = omitting[0] if omitting else CONTEXTS[section][0]
    with_default = load(set_at(data, where, key, default))
    if omitting:
        assert with_default == load(data)
    else:
        assert key in ("kind", "model"), f"every context of {section} sets {key}"


def test_unit_defaults_are_written_with_units() -> None:
    """Defaults of quantities are unit strings, as a scenario file writes them."""
    defaults = {
        key: schema["default"]
        for _, section in sections(printed_schema())
        for key, schema in section["properties"].items()
        if "default" in schema
    }
    assert defaults["delay"] == "60.0ms"
    assert defaults["rtcp_share"] == "5.0%"
    assert defaults["packet_size"] == "1500.0B"
    assert printed_schema()["properties"]["path"]["default"][0]["one_way_delay"] == "10.0ms"


@pytest.mark.parametrize("kind", sorted(ACCEPTED))
def test_pattern_accepts_what_people_write(kind: str) -> None:
    """Each quantity's pattern takes the documented forms, and so does its parser."""
    pattern, parse = pattern_of(kind), QUANTITIES[kind][1]
    for text in ACCEPTED[kind]:
        assert re.search(pattern, text), text
        assert parse(text) >= 0


@pytest.mark.parametrize("kind", sorted(REFUSED_TEXT))
def test_pattern_refuses_other_text(kind: str) -> None:
    """Each quantity's pattern refuses text that is not that quantity."""
    pattern = pattern_of(kind)
    for text in REFUSED_TEXT[kind]:
        assert not re.search(pattern, text), text


@pytest.mark.parametrize("kind", sorted(QUANTITIES))
@given(data=st.data())
def test_text_the_pattern_takes_the_parser_takes(kind: str, data: st.DataObject) -> None:
    """Any text a quantity's pattern matches (of a modest size) reads with its parser."""
    text = data.draw(st.from_regex(pattern_of(kind), fullmatch=True))
    number = re.match(r"[0-9.]*(?:[eE][-+]?[0-9]+)?", text)
    assert number is not None
    assume(float(number.group() or 0) <= 100)  # a week is the longest duration voipbed takes
    assert QUANTITIES[kind][1](text) >= 0


def test_every_short_form_the_loader_expands_is_listed() -> None:
    """Each before-validator of the scenario reads a unit or is a short form listed here."""
    readers = {
        meta.func
        for quantity, _ in QUANTITIES.values()
        for meta in typing.get_args(quantity)[1:]
        if isinstance(meta, BeforeValidator)
    }
    found = {
        function.__name__
        for function in before_validators(Scenario.__pydantic_core_schema__)
        if function not in readers
    }
    assert found == set(SHORT_FORMS), "a new short form: give it a ShortForm and examples here"


@pytest.mark.parametrize(
    "data",
    [example for examples in SHORT_FORMS.values() for example in examples]
    + [{"radio": {"rrc": None}}],
    ids=json.dumps,
)
def test_short_form_is_valid_for_loader_and_schema(data: dict[str, Any]) -> None:
    """A short form the loader reads is valid under the schema too."""
    load(data)
    validator().validate({"name": "probe", **data})


@pytest.mark.parametrize("data", REFUSED, ids=json.dumps)
def test_what_the_loader_refuses_the_schema_refuses(data: dict[str, Any]) -> None:
    """A value the loader refuses (an untagged section, an unknown name, a bad unit) is invalid."""
    with pytest.raises(ScenarioError):
        load(data)
    assert not validator().is_valid({"name": "probe", **data})


def test_aqm_names_are_the_aqm_kinds() -> None:
    """``aqm: NAME`` takes exactly the kinds of the AQM mapping."""
    aqm = printed_schema()["$defs"]["Queue"]["properties"]["aqm"]
    names, mappings = aqm["anyOf"]
    assert set(names["enum"]) == set(mappings["discriminator"]["mapping"])
