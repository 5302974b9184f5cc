"""The ``voipbed`` command through click's runner: exit codes, messages, schema, one real run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from voipbed import __version__
from voipbed.cli import main
from voipbed.loader import load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
DEFAULT = SCENARIOS / "default.yaml"

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


def invoke(*args: str) -> Result:
    """Run ``voipbed ARGS`` in-process; exceptions are kept in the result, not raised."""
    return CliRunner().invoke(main, list(args))


def assert_clean_exit(result: Result, code: int) -> None:
    """``result`` ended with exit ``code`` by ``sys.exit``, not by an escaped exception."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.output


@pytest.fixture
def four_errors(tmp_path: Path) -> Path:
    """A scenario with an unknown key, a wrong type, a negative delay and a bad unit."""
    path = tmp_path / "four.yaml"
    path.write_text(FOUR_ERRORS, encoding="utf-8")
    return path


def four_error_lines(path: Path) -> list[str]:
    """The start of each of the four expected error lines."""
    return [
        f"{path}:2: jitter_bufer: unknown key; did you mean 'jitter_buffer'?",
        f"{path}:4: calls.count: ",
        f"{path}:8: path[0].one_way_delay: '-5ms' is negative",
        f"{path}:10: path[1].capacity: '10Mbs': unknown unit 'Mbs'",
    ]


@pytest.mark.parametrize("command", ["validate", "run"])
def test_four_error_file_exits_2_with_every_error(
    command: str, four_errors: Path, tmp_path: Path
) -> None:
    """``validate`` and ``run`` print all four problems with file:line on stderr and exit 2."""
    out = tmp_path / "runs"
    args = [command, str(four_errors)] + (["--out", str(out)] if command == "run" else [])
    result = invoke(*args)
    assert_clean_exit(result, 2)
    for expected in four_error_lines(four_errors):
        assert expected in result.stderr
    assert result.stdout == ""
    assert not out.exists()


def test_validate_good_file_says_ok() -> None:
    """``validate`` on a valid scenario prints ``FILE: ok`` and exits 0."""
    result = invoke("validate", str(DEFAULT))
    assert_clean_exit(result, 0)
    assert result.stdout == f"{DEFAULT}: ok\n"


def test_validate_checks_every_file(four_errors: Path) -> None:
    """Given several files, ``validate`` reports each and exits 2 if any is bad."""
    result = invoke("validate", str(DEFAULT), str(four_errors))
    assert_clean_exit(result, 2)
    assert f"{DEFAULT}: ok" in result.stdout
    assert f"{four_errors}:10: path[1].capacity" in result.stderr


def test_validate_applies_overrides() -> None:
    """``validate --set`` checks the file as overridden and names the bad override."""
    result = invoke("validate", str(DEFAULT), "--set", "path[0].loss=lots")
    assert_clean_exit(result, 2)
    assert "--set path[0].loss=lots: path[0].loss: 'lots' is not a percentage" in result.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, "cannot read"),
        ("", "is empty"),
        ("- a\n", ":1: must be a mapping of keys"),
        ("name: x\nseed: !!timestamp soon\n", ":2: seed: 'soon' is not a valid timestamp"),
        ("name: x\nduration: !!python/object:os.system 5\n", ":2: duration: YAML value"),
        ("name: x\npath: &p [*p]\n", "alias"),
        ("name: [x\n", "YAML syntax"),
    ],
)
def test_bad_input_exits_2_without_traceback(
    tmp_path: Path, text: str | None, expected: str
) -> None:
    """Missing, empty, non-mapping, unbuildable and broken YAML files are bad input."""
    path = tmp_path / "bad.yaml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    result = invoke("run", str(path), "--out", str(tmp_path / "runs"))
    assert_clean_exit(result, 2)
    assert f"{path}" in result.stderr
    assert expected in result.stderr


@pytest.mark.parametrize(
    "args",
    [["--set", "nonsense"], ["--set", "calls.count=0"], ["--set", "duration=5s"], ["--seed", "-1"]],
)
def test_bad_overrides_exit_2_without_traceback(tmp_path: Path, args: list[str]) -> None:
    """A malformed or invalid ``--set``, or a negative ``--seed``, is bad input."""
    result = invoke("run", str(DEFAULT), "--out", str(tmp_path), *args)
    assert_clean_exit(result, 2)
    assert list(tmp_path.iterdir()) == []


def test_schema_is_json_describing_the_scenario() -> None:
    """``schema`` prints a JSON Schema whose properties are the scenario's YAML keys."""
    result = invoke("schema")
    assert_clean_exit(result, 0)
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"name", "path", "calls", "duration", "seed"} <= set(schema["properties"])
    assert schema["required"] == ["name"]
    assert schema["additionalProperties"] is False
    default = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    assert set(default) <= set(schema["properties"])
    assert set(default["calls"]) <= set(schema["$defs"]["Calls"]["properties"])
    for segment in default["path"]:
        assert set(segment) <= set(schema["$defs"]["Segment"]["properties"])


def test_schema_accepts_the_default_scenario() -> None:
    """The shipped default scenario, read as plain YAML, is valid under the printed schema."""
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(invoke("schema").stdout)
    default = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    jsonschema.validate(default, schema, cls=jsonschema.Draft202012Validator)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**default, "jitter_bufer": {}}, schema)


def test_version_prints_the_package_version() -> None:
    """``--version`` prints ``voipbed, version X`` and exits 0."""
    result = invoke("--version")
    assert_clean_exit(result, 0)
    assert result.stdout == f"voipbed, version {__version__}\n"


def test_run_writes_a_complete_run_folder(tmp_path: Path) -> None:
    """``run`` prints the report path; the run folder holds every product and the scenario run."""
    overrides = ["duration=5s", "calls.count=2", "calls.start_spread=1s"]
    set_args = [arg for override in overrides for arg in ("--set", override)]
    result = invoke("run", str(DEFAULT), "--out", str(tmp_path), *set_args)
    assert_clean_exit(result, 0)
    report = Path(result.stdout.strip())
    assert report.name == "report.html"
    assert report.is_file()
    run_dir = report.parent
    assert run_dir.parent == tmp_path
    assert re.fullmatch(r"default-\d{8}T\d{6}Z-[0-9a-f]{8}", run_dir.name)
    expected = {
        "packets.parquet",
        "events.parquet",
        "manifest.json",
        "metrics.parquet",
        "summary.json",
        "scenario.yaml",
        "report.html",
    }
    assert expected <= {path.name for path in run_dir.iterdir()}
    ran = load_scenario(DEFAULT, overrides)
    assert load_scenario(run_dir / "scenario.yaml") == ran
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["flows"] == 2 * ran.calls.count


EMULATED_SWEEP = """\
name: emulated-sweep
duration: 6s
calls: {count: 1, codec: G729, amr_payload_format: octet_aligned}
path: [{name: radio, one_way_delay: 10ms}]
sweep:
  calls.codec: [PCMU, G729, AMR-12.2]
"""


@pytest.fixture
def emulated_sweep(tmp_path: Path) -> Path:
    """A sweep whose second point's codec baresip cannot send (and its base's neither)."""
    path = tmp_path / "sweep.yaml"
    path.write_text(EMULATED_SWEEP, encoding="utf-8")
    return path


def test_an_emulated_sweep_with_a_point_it_cannot_run_is_refused_naming_it(
    emulated_sweep: Path, tmp_path: Path
) -> None:
    """--engine emulation: a point the emulation cannot run exits 2, named with its settings."""
    out = tmp_path / "runs"
    result = invoke("run", str(emulated_sweep), "--engine", "emulation", "--out", str(out))
    assert_clean_exit(result, 2)
    refused = [line for line in result.stderr.splitlines() if line.startswith("  sweep point")]
    assert len(refused) == 1
    assert refused[0].startswith("  sweep point 2 (calls.codec=G729): calls.codec: ")
    assert not out.exists()


def test_an_emulated_sweep_is_judged_by_its_points_not_its_base(
    emulated_sweep: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A base the emulation cannot run is not refused when every point overrides it."""
    import voipbed.emulation.engine

    monkeypatch.setattr(
        voipbed.emulation.engine, "missing_prerequisites", lambda _scenario=None: ["no root here"]
    )
    out = tmp_path / "runs"
    every_point_runs = "sweep={calls.codec: [PCMU, G722]}"
    args = ["run", str(emulated_sweep), "--engine", "emulation", "--out", str(out)]
    result = invoke(*args, "--set", every_point_runs)
    assert_clean_exit(result, 1)
    assert "cannot emulate on this machine: no root here" in result.stderr
    assert "sweep point" not in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("option", [["--workers", "2"], ["--scheduler", "tcp://127.0.0.1:1"]])
def test_workers_or_a_scheduler_with_an_emulated_sweep_exit_2(
    emulated_sweep: Path, tmp_path: Path, option: list[str]
) -> None:
    """An emulated sweep runs its points one after another: --workers/--scheduler exit 2."""
    out = tmp_path / "runs"
    result = invoke("run", str(emulated_sweep), "--engine", "emulation", "--out", str(out), *option)
    assert_clean_exit(result, 2)
    assert f"voipbed: {option[0]}: an emulated sweep runs its points one after another" in (
        result.stderr
    )
    assert not out.exists()
