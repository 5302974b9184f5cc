"""The scenario loader: every problem with its file, line and key path; overrides; round-trips."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from voipbed.loader import (
    ScenarioError,
    ScenarioIssue,
    format_key_path,
    load_scenario,
    parse_scenario,
)
from voipbed.scenario import BernoulliLoss, Scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
DEFAULT = SCENARIOS / "default.yaml"

# One problem of each kind, the unknown key first although pydantic reports it last.
FOUR_ERRORS = """\
name: four-errors
jitter_bufer: {delay: 60ms}
calls:
  count: two
  codec: PCMU
path:
  - name: radio
    one_way_delay: -5ms
  - name: core
    capacity: 10Mbs
"""


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    """``text`` as a scenario file in ``tmp_path``."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def issues_of(
    path: Path, overrides: tuple[str, ...] = (), seed: int | None = None
) -> list[ScenarioIssue]:
    """The issues ``load_scenario`` raises for ``path``; fails the test if it loads."""
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, overrides, seed=seed)
    return list(caught.value.issues)


def test_four_errors_are_reported_together_with_file_line_and_key(tmp_path: Path) -> None:
    """Unknown key, bad unit, wrong type and negative delay: all four, each at its own line."""
    path = write(tmp_path, FOUR_ERRORS)
    issues = issues_of(path)
    assert [(issue.origin, issue.key_path) for issue in issues] == [
        (f"{path}:2", "jitter_bufer"),
        (f"{path}:4", "calls.count"),
        (f"{path}:8", "path[0].one_way_delay"),
        (f"{path}:10", "path[1].capacity"),
    ]
    unknown, wrong_type, negative, bad_unit = (issue.message for issue in issues)
    assert unknown == "unknown key; did you mean 'jitter_buffer'?"
    assert "valid integer" in wrong_type and "'two'" in wrong_type
    assert "'-5ms' is negative" in negative
    assert "unknown unit 'Mbs'" in bad_unit and "bit rate" in bad_unit


def test_error_message_lists_every_issue_as_file_line_key_message(tmp_path: Path) -> None:
    """``str(ScenarioError)`` has one ``file:line: key.path: message`` line per issue."""
    path = write(tmp_path, FOUR_ERRORS)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    lines = str(caught.value).splitlines()
    assert len(lines) == 4
    assert lines[3].startswith(f"{path}:10: path[1].capacity: '10Mbs': unknown unit 'Mbs'")


def test_issue_str_names_origin_key_path_and_message() -> None:
    """An issue reads ``origin: key.path: message``, or ``origin: message`` without a key."""
    issue = ScenarioIssue("file.yaml:14", "path[1].loss", "'lots' is not a percentage")
    assert str(issue) == "file.yaml:14: path[1].loss: 'lots' is not a percentage"
    assert str(ScenarioIssue("file.yaml", "", "is empty")) == "file.yaml: is empty"


def test_issues_are_sorted_by_line(tmp_path: Path) -> None:
    """Issues come in file order whatever order the fields are validated in."""
    text = "emodel: {telr: loud}\ndevice: {send_latency: 5}\nseed: -1\nname: x\nduration: 0s\n"
    issues = issues_of(write(tmp_path, text))
    lines = [int(issue.origin.rpartition(":")[2]) for issue in issues]
    assert lines == [1, 2, 3, 5]


@pytest.mark.parametrize(
    ("text", "key_path", "suggestion"),
    [
        ("name: x\ndurration: 10s\n", "durration", "duration"),
        ("name: x\npath:\n  - name: a\n    los: 2%\n", "path[0].los", "loss"),
        ("name: x\ncalls: {codecs: PCMA}\n", "calls.codecs", "codec"),
        (
            "name: x\npath:\n  - name: a\n    jitter: {scael: 1ms}\n",
            "path[0].jitter.scael",
            "scale",
        ),
    ],
)
def test_near_miss_key_gets_a_did_you_mean(
    tmp_path: Path, text: str, key_path: str, suggestion: str
) -> None:
    """A misspelt key, at any depth, is an error that suggests the closest allowed key."""
    (issue,) = issues_of(write(tmp_path, text))
    assert issue.key_path == key_path
    assert issue.message == f"unknown key; did you mean {suggestion!r}?"


def test_far_off_key_lists_the_allowed_keys(tmp_path: Path) -> None:
    """An unknown key with no close match lists what is allowed at that level."""
    (issue,) = issues_of(write(tmp_path, "name: x\ndevice: {zzzz: 1}\n"))
    assert issue.message == "unknown key (allowed: send_latency, receive_latency)"


def test_unknown_key_written_like_a_key_path_is_reported(tmp_path: Path) -> None:
    """A YAML key such as ``path[0]`` (``--set`` syntax in a file) is an unknown key."""
    path = write(tmp_path, "name: x\npath[0]:\n  loss: 2%\n")
    (issue,) = issues_of(path)
    assert (issue.origin, issue.key_path) == (f"{path}:2", "path[0]")
    assert issue.message == "unknown key; did you mean 'path'?"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("name: x\ncalls:\n  count: 2\n codec: PCMU\n", 4),
        ("name: x\nseed: 1\n\tduration: 5s\n", 3),
        ('name: x\ndescription: "open\n', 3),
        ("name: x\n---\nname: y\n", 2),
    ],
)
def test_yaml_syntax_error_names_file_and_line(tmp_path: Path, text: str, line: int) -> None:
    """Broken YAML raises only ``ScenarioError``, with one issue at the line of the problem."""
    path = write(tmp_path, text)
    (issue,) = issues_of(path)
    assert issue.origin == f"{path}:{line}"
    assert issue.message.startswith("YAML syntax: ")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("name: x\nduration: !foo 5s\n", 2, "constructor for the tag '!foo'"),
        ("name: x\nduration: !!python/object:os.system 5\n", 2, "python/object"),
        ("name: x\nseed: !!float abc\n", 2, "'abc' is not a valid float"),
        ("name: x\nseed: !!timestamp soon\n", 2, "'soon' is not a valid timestamp"),
        ("name: x\ndescription: !!binary 'abc'\n", 2, "base64"),
        ("base: &b {count: 2}\nname: x\ncalls:\n  <<: *b\n", 4, "merge keys (<<)"),
        ("name: x\n\ndescription: \x07\n", 3, "character #x0007 is not allowed"),
    ],
)
def test_yaml_values_pyyaml_cannot_build_are_issues(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    """Unknown or unsafe tags, malformed typed scalars, merge keys and control characters."""
    path = write(tmp_path, text)
    (issue,) = issues_of(path)
    assert issue.origin == f"{path}:{line}"
    assert message in issue.message


def test_self_referencing_alias_is_an_issue(tmp_path: Path) -> None:
    """An alias inside its own anchor cannot be expanded; that is an issue, not a crash."""
    path = write(tmp_path, "name: x\npath: &p [*p]\n")
    (issue,) = issues_of(path)
    assert issue.origin == f"{path}:2"
    assert issue.message == "the alias *p is inside its own anchor"


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file_is_an_issue(tmp_path: Path, text: str) -> None:
    """A file with no document says it is empty."""
    path = write(tmp_path, text)
    (issue,) = issues_of(path)
    assert issue.origin == f"{path}:1"
    assert issue.message.startswith("is empty")


@pytest.mark.parametrize("text", ["- name: x\n", "just text\n", "42\n"])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    """A list or scalar document is rejected at its first line."""
    path = write(tmp_path, text)
    (issue,) = issues_of(path)
    assert (issue.origin, issue.message) == (f"{path}:1", "must be a mapping of keys")


def test_duplicate_key_names_the_second_occurrence(tmp_path: Path) -> None:
    """A key given twice in one mapping is an error at the repeated line."""
    path = write(tmp_path, "name: x\ncalls:\n  count: 1\n  codec: PCMU\n  count: 2\n")
    (issue,) = issues_of(path)
    assert (issue.origin, issue.key_path, issue.message) == (
        f"{path}:5",
        "calls.count",
        "duplicate key",
    )


def test_non_text_key_is_an_issue(tmp_path: Path) -> None:
    """A key YAML reads as a number is reported at its line."""
    path = write(tmp_path, "name: x\ncalls:\n  1: 2\n")
    (issue,) = issues_of(path)
    assert (issue.origin, issue.key_path) == (f"{path}:3", "calls")
    assert issue.message == "key 1 is not text"


def test_missing_name_is_required_at_the_top(tmp_path: Path) -> None:
    """A missing required key is reported at the mapping that lacks it."""
    path = write(tmp_path, "\nseed: 3\n")
    (issue,) = issues_of(path)
    assert (issue.origin, issue.key_path, issue.message) == (f"{path}:2", "name", "is required")


def test_unreadable_file_is_an_issue(tmp_path: Path) -> None:
    """A missing file or one that is not UTF-8 raises ``ScenarioError``, naming the file."""
    missing = tmp_path / "missing.yaml"
    (issue,) = issues_of(missing)
    assert issue.origin == str(missing)
    assert issue.message.startswith("cannot read")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: x\ndescription: caf\xe9\n".encode("latin-1"))
    (issue,) = issues_of(latin)
    assert (issue.origin, issue.message) == (f"{latin}:2", "is not UTF-8 text (byte 0xe9)")


def test_set_overrides_an_existing_key() -> None:
    """``--set path[0].one_way_delay=40ms`` replaces the file's value."""
    scenario = load_scenario(DEFAULT, ["path[0].one_way_delay=40ms", "calls.count=3"])
    assert scenario.path[0].one_way_delay_s == 0.040
    assert scenario.calls.count == 3
    assert scenario.path[1] == load_scenario(DEFAULT).path[1]


def test_set_reaches_into_defaults_missing_from_the_file(tmp_path: Path) -> None:
    """An override below a key the file leaves out fills in the defaults around it."""
    path = write(tmp_path, "name: minimal\n")
    scenario = load_scenario(path, ["path[1].capacity=2Mbps", "jitter_buffer.delay=80ms"])
    default = Scenario(name="minimal")
    assert scenario.path[1].capacity_bps == 2e6
    assert scenario.path[1].model_copy(update={"capacity_bps": None}) == default.path[1]
    assert scenario.path[0] == default.path[0]
    assert scenario.jitter_buffer.delay_s == 0.080


def test_set_replaces_a_bad_value_in_the_file(tmp_path: Path) -> None:
    """An override owns its key: the file's invalid value there is not reported."""
    path = write(tmp_path, "name: x\npath:\n  - name: a\n    loss: lots\n")
    assert load_scenario(path, ["path[0].loss=1%"]).path[0].loss == BernoulliLoss.model_validate(
        {"rate": "1%"}
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("path[0].one_way_delay", "an override is KEY=VALUE"),
        ("=40ms", "is not a key path"),
        ("path[x].loss=1%", "is not a key path"),
        ("path[0.loss=1%", "is not a key path"),
        ("calls..count=2", "is not a key path"),
        ("path[7].loss=1%", "path[7]: index 7 is past the end of the list"),
        ("name.first.last=x", "name.first cannot be reached"),
        ("calls[0]=x", "calls[0] cannot be set"),
    ],
)
def test_invalid_set_is_an_issue_naming_the_override(override: str, message: str) -> None:
    """A malformed or unreachable ``--set`` is reported with the override as its origin."""
    issues = issues_of(DEFAULT, (override,))
    assert [(issue.origin, issue.key_path) for issue in issues] == [(f"--set {override}", "")]
    assert message in issues[0].message


def test_invalid_set_value_is_reported_at_the_override() -> None:
    """A bad value given with ``--set`` names the override and the key path."""
    (issue,) = issues_of(DEFAULT, ("path[1].loss=lots",))
    assert (issue.origin, issue.key_path) == ("--set path[1].loss=lots", "path[1].loss")
    assert "'lots' is not a percentage" in issue.message


def test_override_errors_are_reported_with_file_errors(tmp_path: Path) -> None:
    """Malformed and invalid overrides come in the same error as the file's own problems."""
    path = write(tmp_path, FOUR_ERRORS)
    issues = issues_of(path, ("nonsense", "duration=forever"))
    origins = [issue.origin for issue in issues]
    assert set(origins) == {
        "--set nonsense",
        "--set duration=forever",
        f"{path}:2",
        f"{path}:4",
        f"{path}:8",
        f"{path}:10",
    }
    assert len(issues) == 6


def test_seed_argument_overrides_the_file() -> None:
    """``seed=`` wins over the file's seed and leaves everything else alone."""
    assert load_scenario(DEFAULT).seed == 1
    reseeded = load_scenario(DEFAULT, seed=7)
    assert reseeded == load_scenario(DEFAULT).model_copy(update={"seed": 7})


def test_invalid_seed_argument_is_reported_as_an_override() -> None:
    """A negative ``seed=`` is an issue whose origin is the ``--seed`` option."""
    (issue,) = issues_of(DEFAULT, seed=-1)
    assert (issue.origin, issue.key_path) == ("--seed -1", "seed")


def test_format_key_path_writes_indices_in_brackets() -> None:
    """Key paths read as the user writes them in ``--set``."""
    assert format_key_path(("path", 1, "loss")) == "path[1].loss"
    assert format_key_path(()) == ""


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_scenarios_load(path: Path) -> None:
    """Every scenario file in ``scenarios/`` is valid."""
    assert isinstance(load_scenario(path), Scenario)


def test_default_scenario_round_trips_through_yaml_dict() -> None:
    """The shipped default saved with ``to_yaml_dict`` validates back to an equal Scenario."""
    scenario = load_scenario(DEFAULT)
    assert Scenario.model_validate(scenario.to_yaml_dict()) == scenario
    text = yaml.safe_dump(scenario.to_yaml_dict(), sort_keys=False)
    assert parse_scenario(text, "resolved.yaml") == scenario


def test_yaml_dict_uses_keys_and_unit_strings() -> None:
    """``to_yaml_dict`` writes YAML keys with units, not attribute names with SI floats."""
    data = load_scenario(DEFAULT).to_yaml_dict()
    assert data["path"][0]["one_way_delay"] == "10.0ms"
    assert data["path"][0]["loss"] == {"model": "bernoulli", "rate": "0.5%"}
    assert data["path"][1]["capacity"] == "100.0Mbps"
    assert data["duration"] == "60.0s"


@st.composite
def segments(draw: st.DrawFn, name: str) -> dict[str, object]:
    """A path segment with any delay, jitter, loss and capacity."""
    distribution = draw(st.sampled_from(["none", "uniform", "exponential", "half_normal"]))
    scale = 0.0 if distribution == "none" else draw(st.floats(0.0, 0.5))
    capacity = draw(st.one_of(st.none(), st.floats(1.0, 1e12)))
    return {
        "name": name,
        "one_way_delay": f"{draw(st.floats(0.0, 10.0))!r}s",
        "jitter": {"distribution": distribution, "scale": f"{scale!r}s"},
        "loss": draw(st.floats(0.0, 1.0)),
        "capacity": None if capacity is None else f"{capacity!r}bps",
    }


@st.composite
def scenario_data(draw: st.DrawFn) -> dict[str, object]:
    """The YAML mapping of a valid scenario with varied quantities."""
    n_segments = draw(st.integers(1, 4))
    duration_s = draw(st.floats(1.0, 1e5))
    return {
        "name": draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True)),
        "seed": draw(st.integers(0, 2**63)),
        "duration": f"{duration_s!r}s",
        "calls": {
            "count": draw(st.integers(1, 1000)),
            "start_spread": f"{draw(st.floats(0.0, 0.999)) * duration_s!r}s",
            "hold_time": draw(st.one_of(st.none(), st.just("30s"), st.just("1.5min"))),
            "codec": draw(st.sampled_from(["PCMU", "PCMA"])),
            "ptime": draw(st.sampled_from(["10ms", "20ms", "30ms", "60ms"])),
        },
        "path": [draw(segments(f"seg{i}")) for i in range(n_segments)],
        "jitter_buffer": {"delay": f"{draw(st.floats(0.0, 1.0))!r}s"},
        "emodel": {
            "advantage": draw(st.floats(0.0, 20.0)),
            "telr": draw(st.floats(5.0, 65.0)),  # G.107 Table 3 range
        },
    }


@settings(max_examples=100, deadline=None)
@given(scenario_data())
def test_any_valid_scenario_round_trips(data: dict[str, object]) -> None:
    """``to_yaml_dict`` of any valid scenario, directly or as YAML text, gives it back exactly."""
    scenario = Scenario.model_validate(data)
    resolved = scenario.to_yaml_dict()
    assert Scenario.model_validate(resolved) == scenario
    text = yaml.safe_dump(resolved)
    assert parse_scenario(text, "resolved.yaml", max_packets=1 << 62) == scenario


ALIAS_BOMB = "name: x\n" + "".join(
    f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 9)}]\n" for level in range(1, 10)
).replace("*l0", "lol")


def test_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    """A few hundred bytes of aliases that would expand to 10^9 values: refused at the alias
    whose expansion crosses the limit."""
    path = write(tmp_path, ALIAS_BOMB)
    assert len(ALIAS_BOMB) < 500
    (issue,) = issues_of(path)
    assert issue.origin.startswith(f"{path}:")
    assert "expands to more than 100,000 values" in issue.message
    assert 2 <= int(issue.origin.rpartition(":")[2]) <= 10


def test_deep_nesting_is_refused_with_its_line(tmp_path: Path) -> None:
    """Nesting beyond the limit is an issue at the line where it goes too deep."""
    path = write(tmp_path, "name: x\n\ndescription: " + "[" * 10_000 + "]" * 10_000 + "\n")
    (issue,) = issues_of(path)
    assert (issue.origin, issue.message) == (f"{path}:3", "is nested more than 64 levels deep")


@pytest.mark.parametrize("special", ["fifo", "directory", "/dev/zero"])
def test_files_that_are_not_regular_are_refused_without_reading(
    tmp_path: Path, special: str
) -> None:
    """A FIFO (which would block), a folder and a device (endless) are refused up front."""
    path = Path(special)
    if special == "fifo":
        path = tmp_path / "scenario.yaml"
        os.mkfifo(path)
    elif special == "directory":
        path = tmp_path
    (issue,) = issues_of(path)
    assert (issue.origin, issue.message) == (
        str(path),
        "is not a regular file (a scenario is a YAML file)",
    )


def test_a_huge_file_is_refused_by_its_size(tmp_path: Path) -> None:
    """A 100 MB file (sparse here) is refused from its size, not read."""
    path = tmp_path / "huge.yaml"
    with path.open("wb") as file:
        file.truncate(100_000_000)
    (issue,) = issues_of(path)
    assert issue.origin == str(path)
    assert issue.message == "is 100,000,000 bytes; a scenario is at most 1,048,576"


def test_unquoted_on_and_off_keys_are_text(tmp_path: Path) -> None:
    """``on:`` and ``off:`` (YAML 1.1 booleans) name on/off cross traffic's periods."""
    path = write(
        tmp_path,
        "name: x\npath:\n  - name: a\n    capacity: 10Mbps\n    cross_traffic:\n"
        "      - {kind: onoff, rate: 1Mbps, on: 2s, off: 500ms}\n",
    )
    traffic = load_scenario(path).path[0].cross_traffic[0]
    assert (traffic.on_s, traffic.off_s) == (2.0, 0.5)
    quoted = write(tmp_path, "name: x\ncalls: {'on': 1}\n", name="quoted.yaml")
    assert issues_of(quoted)[0].key_path == "calls.on"


def test_set_value_is_read_within_the_same_bounds() -> None:
    """An alias bomb given with ``--set`` is refused and named by its override."""
    bomb = "{" + ALIAS_BOMB.partition("\n")[2].replace("\n", ", ").rstrip(", ") + "}"
    (issue,) = issues_of(DEFAULT, (f"description={bomb}",))
    assert issue.origin == f"--set description={bomb}"
    assert "expands to more than 100,000 values" in issue.message


def test_set_owns_the_defaults_it_fills_in(tmp_path: Path) -> None:
    """Keys filled from the defaults for an override are blamed on it, not on a file line."""
    path = write(tmp_path, "name: minimal\n")
    issues = issues_of(path, ("path[1].queue.packets=0",))
    assert [(issue.origin, issue.key_path) for issue in issues] == [
        ("--set path[1].queue.packets=0", "path[1].queue.packets")
    ]
