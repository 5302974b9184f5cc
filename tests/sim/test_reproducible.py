"""`voipbed run` on the default scenario is reproducible byte for byte, and the seed matters."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from voipbed.cli import main

DEFAULT = Path(__file__).resolve().parents[2] / "scenarios" / "default.yaml"


def _run(out: Path, *extra: str) -> Path:
    result = CliRunner().invoke(main, ["run", str(DEFAULT), "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    report = Path(result.stdout.strip().splitlines()[-1])
    assert report.name == "report.html" and report.is_file()
    return report.parent


def test_default_scenario_twice_gives_identical_packets(tmp_path: Path) -> None:
    """Two runs of the default scenario with its seed write byte-identical trace files."""
    first, second = _run(tmp_path / "a"), _run(tmp_path / "b")
    for name in ("packets.parquet", "events.parquet"):
        assert (first / name).read_bytes() == (second / name).read_bytes()


def test_another_seed_gives_another_trace(tmp_path: Path) -> None:
    """--seed changes the random streams, so the packets file differs."""
    first, other = _run(tmp_path / "a"), _run(tmp_path / "b", "--seed", "2")
    assert (first / "packets.parquet").read_bytes() != (other / "packets.parquet").read_bytes()
