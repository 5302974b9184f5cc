"""``voipbed check`` and ``voipbed run --check``: verdicts, exit codes and JUnit XML."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from voipbed.cli import main

SCHEMA = Path(__file__).resolve().parents[1] / "data" / "junit-10.xsd"

SCENARIO = """\
name: checked
duration: 10s
calls: {count: 10, start_spread: 1s}
path:
  - {name: radio, one_way_delay: 10ms, loss: 2%}
  - {name: core, one_way_delay: 20ms}
expect:
  - mos.mean >= 1
  - loss_at.radio <= 50%
"""


def _run(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stdout, result.stderr


def _scenario(tmp_path: Path, extra: str = "", sweep: str = "") -> Path:
    path = tmp_path / "checked.yaml"
    path.write_text(SCENARIO + extra + sweep, encoding="utf-8")
    return path


def _junit(folder: Path) -> etree._ElementTree:
    document = etree.parse(str(folder / "junit.xml"))
    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    assert schema.validate(document), schema.error_log
    return document


def test_all_expectations_hold_exit_0_with_valid_junit(tmp_path: Path) -> None:
    """A run whose thresholds all hold exits 0; its JUnit XML validates, with no failure."""
    code, out, err = _run(["run", str(_scenario(tmp_path)), "--out", str(tmp_path), "--check"])
    assert code == 0, err
    run_dir = next(p for p in (tmp_path).iterdir() if p.is_dir())
    document = _junit(run_dir)
    assert len(document.findall(".//testcase")) == 2
    assert not document.findall(".//failure")
    assert "all hold" in out


def test_violated_expectation_exits_1_naming_metric_and_value(tmp_path: Path) -> None:
    """A threshold that does not hold exits 1; the JUnit failure names metric, value, bound."""
    scenario = _scenario(tmp_path, "  - loss_at.radio < 0.1%\n")
    code, out, _ = _run(["run", str(scenario), "--out", str(tmp_path / "runs"), "--check"])
    assert code == 1
    run_dir = next((tmp_path / "runs").iterdir())
    (failure,) = _junit(run_dir).findall(".//failure")
    message = failure.get("message", "")
    assert "loss_at.radio = " in message and "< 0.1 %" in message
    assert "FAIL" in out
    # The same folder checked again gives the same verdict.
    code, again, _ = _run(["check", str(run_dir)])
    assert code == 1 and again.splitlines()[-1] == out.splitlines()[-1]


def test_sweep_points_are_checked_one_by_one(tmp_path: Path) -> None:
    """In a sweep, each point's expectations are testcases named by the point."""
    sweep = "sweep:\n  path[0].loss: [0%, 20%]\n"
    scenario = _scenario(tmp_path, "  - loss_at.radio <= 5%\n", sweep)
    out_dir = tmp_path / "runs"
    code, _, err = _run(["run", str(scenario), "--out", str(out_dir), "--check", "--workers", "1"])
    assert code == 1, err
    sweep_dir = next(out_dir.iterdir())
    document = _junit(sweep_dir)
    assert len(document.findall("testsuite")) == 2
    (failure,) = document.findall(".//failure")
    assert "point 2 (path[0].loss=20%)" in failure.get("message", "")


def test_check_refuses_what_it_cannot_check(tmp_path: Path) -> None:
    """Not a run folder, or a run without expectations: exit 2 with the reason."""
    code, _, err = _run(["check", str(tmp_path)])
    assert code == 2 and "no run, sweep or scenario files in it" in err
    plain = tmp_path / "plain.yaml"
    plain.write_text(SCENARIO.split("expect:")[0], encoding="utf-8")
    code, _, err = _run(["run", str(plain), "--out", str(tmp_path / "runs"), "--check"])
    assert code == 2 and "no expect: thresholds" in err


@pytest.mark.parametrize("item", ["mos.p1 >= 3", "loss_at.backhaul <= 1%", "ta_s.mean <= 3kg"])
def test_bad_expectations_refused_before_running(tmp_path: Path, item: str) -> None:
    """A bad threshold is a load-time error with file and line; nothing runs."""
    scenario = _scenario(tmp_path, f"  - {item}\n")
    code, _, err = _run(["run", str(scenario), "--out", str(tmp_path / "runs"), "--check"])
    assert code == 2
    assert f"{scenario}:10: expect[2]:" in err
    assert not (tmp_path / "runs").exists()
