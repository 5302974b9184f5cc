"""The run report of a rate-controlled run in a real browser: every figure drawn, the bit rate
figure among them."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from tests.browser.chromium import check_page
from voipbed.cli import main

SCENARIO = """name: browser-gcc
seed: 3
duration: 10s
calls: {count: 2, codec: AMR-WB-23.85, rate_control: {algorithm: gcc}}
path:
  - name: radio
    capacity_steps: [{at: 0s, capacity: 80kbps}, {at: 5s, capacity: 50kbps}]
    queue: {bytes: 10KiB}
    one_way_delay: 20ms
"""


def test_rate_report_draws_the_bit_rate_figure(browser: str, tmp_path: Path) -> None:
    """Chromium logs no error and draws every figure of a GCC run's report, the target and
    sent bit rate figure included."""
    scenario = tmp_path / "gcc.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(scenario), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    report = Path(result.stdout.strip().splitlines()[-1])
    html = report.read_text(encoding="utf-8")
    assert '<section id="rates">' in html
    page = check_page(browser, report, tmp_path, tmp_path / "gcc.png")
    assert page.problems == []
    assert page.figures == html.count("<figure>") and len(page.svg_sizes) == page.figures
    assert all(width > 100 and height > 50 for width, height in page.svg_sizes)
