"""Regression scenarios: recorded figures, their tolerances, and deliberate updates."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from voipbed import scoring
from voipbed.cli import main

REGRESSION = Path(__file__).resolve().parents[2] / "scenarios" / "regression"
SCENARIO = REGRESSION / "lte-bursty-loss.yaml"


def _check(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["check", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stdout, result.stderr


def _copy(tmp_path: Path, *, with_figures: bool = True) -> Path:
    target = tmp_path / "suite" / SCENARIO.name
    target.parent.mkdir()
    shutil.copyfile(SCENARIO, target)
    if with_figures:
        figures = SCENARIO.with_name(SCENARIO.stem + ".expected.json")
        shutil.copyfile(figures, target.with_name(figures.name))
    return target


def test_every_regression_scenario_has_its_figures() -> None:
    """Each regression scenario has a figures file beside it, and nothing else is unpaired."""
    scenarios = {path.stem for path in REGRESSION.glob("*.yaml")}
    figures = {path.name.removesuffix(".expected.json") for path in REGRESSION.glob("*.json")}
    assert scenarios and scenarios == figures


def test_recorded_figures_hold_for_an_unchanged_model(tmp_path: Path) -> None:
    """The scenario as shipped reproduces its recorded figures within their tolerances."""
    code, out, err = _check(str(_copy(tmp_path)), "--out", str(tmp_path / "runs"))
    assert code == 0, out + err
    assert "mos.mean = " in out


def test_a_changed_model_fails_naming_the_figure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model change that adds 30 ms of mouth-to-ear delay fails on ta_s and MOS, by name."""
    fixed = scoring._fixed_delay_s
    monkeypatch.setattr(scoring, "_fixed_delay_s", lambda scenario: fixed(scenario) + 0.030)
    junit = tmp_path / "junit.xml"
    code, out, _ = _check(
        str(_copy(tmp_path)), "--out", str(tmp_path / "runs"), "--junit", str(junit)
    )
    assert code == 1
    messages = [f.get("message", "") for f in etree.parse(str(junit)).iter("failure")]
    assert any(m.startswith("regression figure ta_s.mean = ") for m in messages)
    assert any("moved by +0.03" in m for m in messages)
    assert any(m.startswith("regression figure mos.mean") for m in messages)
    assert "FAIL" in out


def test_update_expected_records_and_says_what_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--update-expected rewrites the values, keeps the tolerances and names what moved."""
    scenario = _copy(tmp_path)
    figures = scenario.with_name(scenario.stem + ".expected.json")
    before = json.loads(figures.read_text(encoding="utf-8"))["figures"]
    fixed = scoring._fixed_delay_s
    monkeypatch.setattr(scoring, "_fixed_delay_s", lambda scenario: fixed(scenario) + 0.030)
    code, _, err = _check(str(scenario), "--out", str(tmp_path / "runs"), "--update-expected")
    assert code == 0
    assert "ta_s.mean: " in err and "->" in err
    assert "delay_mean_s.mean" not in err  # the network delay did not move
    after = json.loads(figures.read_text(encoding="utf-8"))["figures"]
    assert after["ta_s.mean"]["value"] == pytest.approx(before["ta_s.mean"]["value"] + 0.030)
    assert {k: v["tolerance"] for k, v in after.items()} == {
        k: v["tolerance"] for k, v in before.items()
    }


def test_new_scenario_gets_default_figures(tmp_path: Path) -> None:
    """A scenario without a figures file gets one with the default figures on update."""
    scenario = _copy(tmp_path, with_figures=False)
    code, _, err = _check(str(scenario), "--out", str(tmp_path / "runs"), "--update-expected")
    assert code == 0
    figures = json.loads(scenario.with_name(scenario.stem + ".expected.json").read_text())
    assert "mos.mean" in figures["figures"] and "recorded" in err


def test_malformed_figures_file_is_refused_naming_it(tmp_path: Path) -> None:
    """A broken figures file is exit 2 naming the file, not a traceback."""
    scenario = _copy(tmp_path)
    figures = scenario.with_name(scenario.stem + ".expected.json")
    figures.write_text('{"figures": {"mos.mean": {"value": "x"}}}', encoding="utf-8")
    code, _, err = _check(str(scenario), "--out", str(tmp_path / "runs"))
    assert code == 2 and str(figures) in err
