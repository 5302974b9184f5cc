"""The run, sweep and comparison reports in a real browser: no errors, every figure drawn."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.browser.chromium import check_page
from voipbed.cli import main

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
PNG = b"\x89PNG\r\n\x1a\n"


def _voipbed(*args: str) -> Path:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A run report, a sweep report and a comparison report, small and quick."""
    out = tmp_path_factory.mktemp("reports")
    short = ("--set", "duration=10s")
    run = _voipbed("run", str(SCENARIOS / "wifi-to-lte-handover.yaml"), "--out", str(out), *short)
    other = _voipbed("run", str(SCENARIOS / "default.yaml"), "--out", str(out), *short)
    sweep_file = out / "sweep.yaml"
    sweep_file.write_text(
        "name: browser-sweep\nduration: 10s\ncalls: {count: 2}\nsweep:\n  path[0].loss: [0%, 5%]\n",
        encoding="utf-8",
    )
    sweep = _voipbed("run", str(sweep_file), "--out", str(out / "sweeps"), "--workers", "1")
    compare = _voipbed("compare", str(run.parent), str(other.parent), "--out", str(out))
    return {"run": run, "sweep": sweep, "compare": compare}


@pytest.mark.parametrize("kind", ["run", "sweep", "compare"])
def test_report_renders_in_chromium(
    browser: str, reports: dict[str, Path], kind: str, tmp_path: Path
) -> None:
    """Chromium logs no error and draws every figure at a size above zero; a screenshot is kept."""
    screenshot = tmp_path / f"{kind}.png"
    page = check_page(browser, reports[kind], tmp_path, screenshot)
    assert page.problems == []
    assert page.figures >= 1 and len(page.svg_sizes) == page.figures
    assert all(width > 100 and height > 50 for width, height in page.svg_sizes)
    assert all(width > 0 and height > 0 for width, height in page.image_sizes)
    assert screenshot.read_bytes()[:8] == PNG


def test_the_check_sees_a_broken_page(browser: str, tmp_path: Path) -> None:
    """The page check reports a script error and an image that did not load."""
    broken = tmp_path / "broken" / "report.html"
    broken.parent.mkdir()
    broken.write_text(
        "<!DOCTYPE html><html><head></head><body><figure><svg width='10' height='0'></svg>"
        "</figure><img src='missing.png'><script>undefined_call();</script></body></html>",
        encoding="utf-8",
    )
    page = check_page(browser, broken, tmp_path, tmp_path / "broken.png")
    assert any("failed to load IMG" in p for p in page.problems)
    assert any("undefined_call" in p for p in page.problems)
    assert page.image_sizes == [(0, 0)]
