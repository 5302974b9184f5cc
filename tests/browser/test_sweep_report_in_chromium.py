"""A sweep report with seeds, NB and WB codecs and a failing threshold, in a real browser."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from tests.browser.chromium import check_page
from tests.sim.test_sweep_report import SEEDED
from voipbed.cli import main


def test_seeded_sweep_report_renders_every_figure(browser: str, tmp_path: Path) -> None:
    """Two keys by two seeds: Chromium logs no error and draws the figure against each key,
    the heatmap and the bars, each at a size above zero."""
    scenario = tmp_path / "sweep.yaml"
    scenario.write_text(SEEDED, encoding="utf-8")
    out = tmp_path / "runs"
    result = CliRunner().invoke(main, ["run", str(scenario), "--out", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    report = Path(result.stdout.strip().splitlines()[-1])
    page = check_page(browser, report, tmp_path, tmp_path / "sweep.png")
    assert page.problems == []
    assert page.figures == 4 and len(page.svg_sizes) == 4
    assert all(width > 100 and height > 50 for width, height in page.svg_sizes)
