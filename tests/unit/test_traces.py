"""Traces are found in the project, a user's path or $VOIPBED_TRACE_DIR; bad ones are refused."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from voipbed.cli import main
from voipbed.loader import parse_scenario
from voipbed.scenario_issues import ScenarioError
from voipbed.traces import (
    MAX_TRACE_BYTES,
    TraceError,
    TraceNotFound,
    builtin_trace_dir,
    load_schedule,
    resolve_trace,
)

CHECKOUT = Path(__file__).resolve().parents[2]
SHIPPED = [
    f"{network}.{direction}"
    for network in (
        "ATT-LTE-driving-2016",
        "TMobile-LTE-short",
        "TMobile-UMTS-driving",
        "Verizon-LTE-short",
    )
    for direction in ("up", "down")
]


@pytest.fixture(autouse=True)
def _no_trace_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOIPBED_TRACE_DIR", raising=False)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_the_builtin_folder_is_the_checkouts_traces_folder() -> None:
    """The shipped traces live in the project's own traces/ folder, not beside the checkout."""
    assert builtin_trace_dir() == CHECKOUT / "traces"
    assert sorted(path.name for path in builtin_trace_dir().glob("*.up")) == sorted(
        name for name in SHIPPED if name.endswith(".up")
    )
    assert "GPL" in (builtin_trace_dir() / "README.md").read_text()


@pytest.mark.parametrize("name", SHIPPED)
def test_a_bare_name_finds_the_shipped_trace_without_environment(name: str, tmp_path: Path) -> None:
    """Each shipped trace resolves by file name with no VOIPBED_TRACE_DIR, and reads."""
    path = resolve_trace(name, tmp_path)
    assert path == builtin_trace_dir() / name
    assert load_schedule(path).times_ms.size > 1000


def test_trace_dir_variable_adds_a_folder_searched_before_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trace of the same name in $VOIPBED_TRACE_DIR wins over the shipped one."""
    mine = tmp_path / "mine"
    mine.mkdir()
    _write(mine / "TMobile-LTE-short.up", b"1\n")
    _write(mine / "only-mine.up", b"2\n")
    monkeypatch.setenv("VOIPBED_TRACE_DIR", str(mine))
    assert resolve_trace("TMobile-LTE-short.up", tmp_path) == mine / "TMobile-LTE-short.up"
    assert resolve_trace("only-mine.up", tmp_path) == mine / "only-mine.up"
    assert resolve_trace("Verizon-LTE-short.up", tmp_path) == (
        builtin_trace_dir() / "Verizon-LTE-short.up"
    )


def test_a_path_relative_to_the_scenario_or_absolute_is_used(tmp_path: Path) -> None:
    """A user's own trace beside the scenario, or by absolute path, is the one read."""
    _write(tmp_path / "Verizon-LTE-short.up", b"3\n")
    assert resolve_trace("Verizon-LTE-short.up", tmp_path) == tmp_path / "Verizon-LTE-short.up"
    absolute = _write(tmp_path / "abs.trace", b"4\n")
    assert resolve_trace(str(absolute), Path("/nonexistent")) == absolute


def test_not_found_names_every_place_looked_and_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The error lists the scenario folder, each VOIPBED_TRACE_DIR folder and the project's."""
    extra = tmp_path / "extra"
    monkeypatch.setenv("VOIPBED_TRACE_DIR", str(extra))
    with pytest.raises(TraceNotFound) as caught:
        resolve_trace("nosuch.up", tmp_path / "scenarios")
    message = str(caught.value)
    for folder in (tmp_path / "scenarios", extra, builtin_trace_dir()):
        assert str(folder / "nosuch.up") in message
    assert "VOIPBED_TRACE_DIR" in message


@pytest.mark.parametrize(
    "name,message",
    [
        ("a" * 300, "File name too long"),
        ("x/" + "b" * 5000 + "/c", "File name too long"),
        ("~no-such-user-voipbed/trace.up", "no user"),
        ("a\0b", "not a valid file name"),
        ("", "empty"),
        ("   ", "empty"),
    ],
    ids=["long", "very-long", "unknown-user", "nul", "empty", "blank"],
)
def test_hostile_names_are_refused_with_a_message(tmp_path: Path, name: str, message: str) -> None:
    """Overlong names, ~unknown-user, NUL bytes and empty names give TraceNotFound, no crash."""
    with pytest.raises(TraceNotFound, match=message) as caught:
        resolve_trace(name, tmp_path)
    assert len(str(caught.value)) < 2000  # long names are cut in the message


def test_directory_fifo_and_device_are_not_traces(tmp_path: Path) -> None:
    """A directory, a FIFO and /dev/zero are refused by kind, without reading them."""
    folder = tmp_path / "folder.up"
    folder.mkdir()
    fifo = tmp_path / "fifo.up"
    os.mkfifo(fifo)
    cases = {folder: "a directory", fifo: "a FIFO", Path("/dev/zero"): "a device"}
    for path, kind in cases.items():
        with pytest.raises(TraceNotFound, match=kind):
            resolve_trace(str(path), tmp_path)
        with pytest.raises(TraceError, match=re.escape(f"{path}: {kind}, not a trace file")):
            load_schedule(path)  # opened without blocking, refused before reading


def test_a_symlink_to_a_device_is_refused(tmp_path: Path) -> None:
    """A trace name that links to /dev/zero is a device, not a file to read."""
    (tmp_path / "zero.up").symlink_to("/dev/zero")
    with pytest.raises(TraceNotFound, match=r"zero.up \(a device\)"):
        resolve_trace("zero.up", tmp_path)


def test_a_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    """A trace larger than 64 MiB is refused, saying the limit, without being read."""
    huge = tmp_path / "huge.up"
    with huge.open("wb") as stream:
        stream.truncate(MAX_TRACE_BYTES + 1)  # sparse: no disk used
    with pytest.raises(TraceError, match=r"huge.up: .*at most 64 MiB"):
        load_schedule(huge)


def test_a_procfs_file_claiming_size_zero_is_read_within_the_limit() -> None:
    """A file whose size says 0 but has content is read (up to the limit) and parsed."""
    with pytest.raises(TraceError, match=r"/proc/self/status:1: .* not a whole number"):
        load_schedule(Path("/proc/self/status"))


@pytest.mark.parametrize(
    "data,message",
    [
        (b"1\n2\n99999999999999999999999\n", ":3: 99999999999999999999999 ms is beyond"),
        (b"1\n9223372036854775808\n", ":2: 9223372036854775808 ms is beyond"),
        (b"1\n\xc3\xa9\n", ":2: byte 0xc3 is not ASCII"),
        (b"\xff\xfe1\n", ":1: byte 0xff is not ASCII"),
        (b"5\n-3\n", ":2: '-3' is a negative time"),
        (b"5\n3\n", ":2: 3 ms is earlier than the line before \\(5 ms\\)"),
        (b"1\n2.5\n", ":2: '2.5' is not a whole number"),
        (b"", ": no opportunity in it"),
        (b"\n\n  \n", ": no opportunity in it"),
        (b"0\n0\n", ": the last opportunity must be after 0 ms"),
        (b"1\n" + b"7" * 5000 + b"\n", ":2: 7777"),
    ],
    ids=[
        "beyond-int64",
        "int64-max-plus-1",
        "non-ascii",
        "binary",
        "negative",
        "decreasing",
        "fraction",
        "empty",
        "blank",
        "zero-length",
        "long-line",
    ],
)
def test_bad_trace_contents_name_file_and_line(tmp_path: Path, data: bytes, message: str) -> None:
    """Out-of-range, non-ASCII, negative, decreasing or empty traces give TraceError, no crash."""
    path = _write(tmp_path / "bad.up", data)
    with pytest.raises(TraceError, match=re.escape(str(path)) + message) as caught:
        load_schedule(path)
    assert len(str(caught.value)) < 500


def _scenario(trace: str) -> str:
    return (
        "name: t\nduration: 5s\ncalls: {count: 1}\npath:\n"
        f"  - name: radio\n    uplink_trace: {trace}\n"
    )


@pytest.mark.parametrize(
    "trace,message",
    [
        ("'" + "a" * 300 + "'", "File name too long"),
        ("'~no-such-user-voipbed/x'", "no user"),
        ("/dev/zero", "a device"),
        ("big.up", "big.up:2: 99999999999999999999999 ms is beyond"),
        ("neg.up", "neg.up:1: '-1' is a negative time"),
        ("nowhere.up", "VOIPBED_TRACE_DIR"),
    ],
)
def test_the_scenario_reports_trace_problems_at_the_key(
    tmp_path: Path, trace: str, message: str
) -> None:
    """A bad trace is a scenario issue: file:line: path[0].uplink_trace: the trace's message."""
    _write(tmp_path / "big.up", b"1\n99999999999999999999999\n")
    _write(tmp_path / "neg.up", b"-1\n")
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(_scenario(trace), "s.yaml", base_dir=tmp_path)
    (issue,) = caught.value.issues
    assert str(issue).startswith("s.yaml:6: path[0].uplink_trace: ")
    assert message in issue.message


def test_validate_exits_2_on_a_bad_trace_without_traceback(tmp_path: Path) -> None:
    """`voipbed validate` prints file:line: key: message for a FIFO trace and exits 2."""
    os.mkfifo(tmp_path / "fifo.up")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(_scenario("fifo.up"))
    result = CliRunner().invoke(main, ["validate", str(scenario)])
    assert result.exit_code == 2, result.output
    assert f"{scenario}:6: path[0].uplink_trace: " in result.output
    assert "a FIFO" in result.output
    assert "Traceback" not in result.output
