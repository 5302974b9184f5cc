"""Both engines on gcc-capacity-steps.yaml: their GCC senders' bitrates follow one trajectory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tests.emulation.conftest import require
from voipbed.cli import main

pytestmark = [pytest.mark.emulation, pytest.mark.slow]

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "gcc-capacity-steps.yaml"
SHORT = ["--set", "duration=30s"]
SETTLE_S = 5.0  # the first seconds, before the senders' rates leave their start


def _sent_kbps(engine: str, out: Path) -> np.ndarray:
    """Mean over flows of wire kbit/s sent, per 1-s bin of send time."""
    result = CliRunner().invoke(
        main, ["run", "--engine", engine, str(SCENARIO), *SHORT, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    (folder,) = out.iterdir()
    packets = pq.read_table(folder / "packets.parquet", columns=["flow", "send_s", "wire_bytes"])
    send_s = packets.column("send_s").to_numpy()
    wire = packets.column("wire_bytes").to_numpy().astype(np.float64)
    flows = np.unique(packets.column("flow").to_numpy()).size
    bins = np.bincount(send_s.astype(np.int64), weights=wire, minlength=30)[:30]
    kbps: np.ndarray = bins * 8 / 1000 / flows
    return kbps


def test_sim_and_emulation_send_at_the_same_rates_within_15_percent(tmp_path: Path) -> None:
    """Mean absolute relative difference of 1-s sent bitrates after the first 5 s: < 15 %."""
    require("mnexec", "ethtool")
    sim = _sent_kbps("sim", tmp_path / "sim")
    emulated = _sent_kbps("emulation", tmp_path / "emu")
    settled = slice(int(SETTLE_S), None)
    difference = np.abs(emulated[settled] - sim[settled]) / sim[settled]
    print(f"sim kbit/s {np.round(sim, 1)}\nemulation kbit/s {np.round(emulated, 1)}")
    print(f"mean absolute relative difference {difference.mean():.3f}")
    assert sim[settled].min() > 0
    assert difference.mean() < 0.15
