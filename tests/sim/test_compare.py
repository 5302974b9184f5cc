"""``voipbed compare``: runs side by side in a table and a report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from voipbed.cli import main

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def bufferbloat_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Short runs of the drop-tail and the CoDel bufferbloat scenarios."""
    out = tmp_path_factory.mktemp("pair")
    folders = []
    for name in ("bufferbloat-droptail", "bufferbloat-codel"):
        code, stdout, err = _invoke(
            "run",
            str(SCENARIOS / f"{name}.yaml"),
            "--out",
            str(out / name),
            "--set",
            "duration=15s",
        )
        assert code == 0, err
        folders.append(Path(stdout.strip().splitlines()[-1]).parent)
    return folders[0], folders[1]


def test_compare_shows_the_differences_in_mos_and_delay(
    bufferbloat_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    """Drop-tail against CoDel: the MOS and delay-p95 differences are in the table and report."""
    droptail, codel = bufferbloat_pair
    code, out, err = _invoke("compare", str(droptail), str(codel), "--out", str(tmp_path))
    assert code == 0, err
    report = Path(out.strip().splitlines()[-1])
    record = json.loads((report.parent / "compare.json").read_text(encoding="utf-8"))
    mos_a, mos_b = record["figures"]["MOS mean"]
    p95_a, p95_b = record["figures"]["delay p95 (ms, mean over flows)"]
    assert mos_b - mos_a > 1.0  # CoDel keeps the queue short: far better MOS
    assert p95_a - p95_b > 0.2  # seconds: the standing drop-tail queue
    html = report.read_text(encoding="utf-8")
    mos_row = re.search(r"MOS mean</td>(.*?)</tr>", html, re.S)
    assert mos_row and f"({mos_b - mos_a:+.2f})" in mos_row.group(1)
    delay_row = re.search(r"delay p95 \(ms, mean over flows\)</td>(.*?)</tr>", html, re.S)
    assert delay_row and f"({(p95_b - p95_a) * 1e3:+,.1f})" in delay_row.group(1)
    assert html.count("<svg") == 2 and "kind: codel" in html
    table = out.splitlines()
    assert table[0].split() == ["A:", "bufferbloat-droptail", "B:", "bufferbloat-codel"]
    assert any(line.startswith("MOS mean") and f"({mos_b - mos_a:+.2f})" in line for line in table)


def test_compare_refuses_what_is_not_a_run(
    bufferbloat_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    """One run, or a folder that is not a run, is exit 2 with the reason."""
    code, _, err = _invoke("compare", str(bufferbloat_pair[0]))
    assert code == 2 and "at least two" in err
    code, _, err = _invoke("compare", str(bufferbloat_pair[0]), str(tmp_path))
    assert code == 2 and "not a run folder" in err and str(tmp_path) in err
