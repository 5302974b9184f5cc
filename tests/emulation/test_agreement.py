"""Sim and emulation agree on the agreement scenarios: loss, median delay and MOS per direction.

Each file in ``scenarios/agreement/`` runs in both engines. The issue's bounds:
loss within 1 percentage point, median one-way delay within 5 ms, E-model MOS
within 0.2, direction by direction.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.emulation.conftest import require
from voipbed.loader import load_scenario
from voipbed.runner import run_scenario

pytestmark = [pytest.mark.emulation, pytest.mark.slow]

AGREEMENT = sorted((Path(__file__).resolve().parents[2] / "scenarios" / "agreement").glob("*.yaml"))


def per_direction(run_dir: Path) -> pd.DataFrame:
    """Loss %, median one-way delay and mean MOS of each direction of a run."""
    packets = pd.read_parquet(run_dir / "packets.parquet")
    packets["delay_s"] = packets["recv_s"] - packets["send_s"]
    by = packets.groupby("direction", observed=True)
    metrics = pd.read_parquet(run_dir / "metrics.parquet").groupby("direction", observed=True)
    return pd.DataFrame(
        {
            "loss_percent": by["recv_s"].apply(lambda s: 100.0 * s.isna().mean()),
            "median_delay_s": by["delay_s"].median(),
            "mos": metrics["mos"].mean(),
        }
    )


def test_there_is_a_trace_driven_lte_case_with_loss_and_a_queue() -> None:
    """At least one agreement scenario has a trace, a queue limit and loss on a segment."""
    cases = [load_scenario(path) for path in AGREEMENT]
    assert any(
        s.uplink_trace and s.queue.limit_packets and s.loss.to_model() is not None
        for case in cases
        for s in case.path
    )


@pytest.mark.parametrize("path", AGREEMENT, ids=[p.stem for p in AGREEMENT])
def test_sim_and_emulation_agree(path: Path, tmp_path: Path) -> None:
    """Per direction: loss within 1 point, median delay within 5 ms, MOS within 0.2."""
    require("mnexec", "ethtool", "kamailio", "baresip", "espeak-ng", "sox")
    scenario = load_scenario(path)
    sim = per_direction(run_scenario(scenario, tmp_path / "sim").run_dir)
    emulated = per_direction(run_scenario(scenario, tmp_path / "emu", engine="emulation").run_dir)
    print(f"\n{path.stem}\nsim:\n{sim}\nemulation:\n{emulated}")
    assert sorted(sim.index) == sorted(emulated.index) == ["downlink", "uplink"]
    difference = (sim - emulated).abs()
    assert (difference["loss_percent"] <= 1.0).all()
    assert (difference["median_delay_s"] <= 0.005).all()
    assert (difference["mos"] <= 0.2).all()
