"""A call after 20 s of radio silence pays the RRC promotion in both engines.

``scenarios/agreement/rrc-after-silence.yaml``: the UE is IDLE when it dials
20 s into the run. The simulator holds its INVITE in the UE's RRC machine for
the promotion (``signalling.setup``); the emulation's radio link holds the real
INVITE in the same machine (``emulation/rrc_gate.py``). ``test_agreement.py``
compares the media; this test the set-up and the radio. The bounds:

- set-up time within 50 ms: the answers come back after the DRX inactivity
  timer and wait for an on-duration on the same grid of the run's clock in both
  engines, but baresip dials some milliseconds after the scheduled instant, so
  the wait may differ by up to one long DRX cycle (40 ms), plus the stacks'
  processing (a few ms);
- radio energy over the call within 1 J: the emulated call plays its hold time
  from the answer, the simulated one counts it from the dial, so the emulated
  UE stays connected about one set-up (0.4 s, plus the BYE's round trip)
  longer, at 1.29 W (Huang et al. 2012, Table 4).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.emulation.conftest import require
from voipbed.loader import load_scenario
from voipbed.runner import run_scenario
from voipbed.scenario import Scenario

pytestmark = [pytest.mark.emulation, pytest.mark.slow]

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios/agreement/rrc-after-silence.yaml"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scenario, Path, Path]:
    """The scenario, and its run folder in the simulator and in the emulation."""
    require("mnexec", "ethtool", "kamailio", "baresip", "espeak-ng", "sox")
    scenario = load_scenario(SCENARIO)
    out = tmp_path_factory.mktemp("rrc")
    sim = run_scenario(scenario, out / "sim").run_dir
    emulated = run_scenario(scenario, out / "emu", engine="emulation").run_dir
    return scenario, sim, emulated


def events(run_dir: Path, kind: str) -> list[tuple[float, dict[str, Any]]]:
    """The run's events of ``kind``: (time, fields), in time order."""
    table = pd.read_parquet(run_dir / "events.parquet")
    rows = table[table["kind"] == kind].sort_values("time_s")
    return [(float(t), json.loads(f)) for t, f in zip(rows["time_s"], rows["fields"], strict=True)]


def setup_time_s(run_dir: Path) -> float:
    """The call's set-up time (metrics)."""
    return float(pd.read_parquet(run_dir / "metrics.parquet")["setup_time_s"].iloc[0])


def test_the_emulated_invite_waits_for_the_promotion(runs: tuple[Scenario, Path, Path]) -> None:
    """The link's machine promotes the UE as it dials, and Kamailio sees the INVITE only
    after the promotion and the path's one-way delay."""
    scenario, _, emulated = runs
    assert scenario.radio.rrc is not None
    promotion_s = scenario.radio.rrc.promotion_delay_s
    one_way_s = sum(segment.one_way_delay_s for segment in scenario.path)
    ((dial_s, _),) = events(emulated, "call_dial")
    record = json.loads((emulated / "emulation" / "link-radio.rrc.json").read_text())
    changes = list(zip(record["time_s"], record["from"], record["to"], strict=True))
    (promoted_s, _, _), (connected_s, _, _) = changes[:2]
    assert changes[0][1:] == (0, 1) and changes[1][1:] == (1, 2)  # idle, promotion, connected
    assert abs(promoted_s - dial_s) < 0.05  # the INVITE started it
    assert connected_s - promoted_s == pytest.approx(promotion_s, abs=1e-6)
    invites = [t for t, f in events(emulated, "sip_request") if f["method"] == "INVITE"]
    assert invites[0] >= promoted_s + promotion_s + one_way_s - 0.002
    manifest = json.loads((emulated / "manifest.json").read_text())
    assert manifest["links"]["radio"]["rrc_held_packets"] >= 1


def test_setup_time_agrees_and_holds_the_promotion(runs: tuple[Scenario, Path, Path]) -> None:
    """Set-up time within 50 ms between the engines, each at least the promotion and a round
    trip of the path."""
    scenario, sim, emulated = runs
    assert scenario.radio.rrc is not None
    floor_s = scenario.radio.rrc.promotion_delay_s + 2 * sum(
        segment.one_way_delay_s for segment in scenario.path
    )
    simulated_s, emulated_s = setup_time_s(sim), setup_time_s(emulated)
    print(f"\nset-up: sim {simulated_s:.4f} s, emulation {emulated_s:.4f} s")
    assert simulated_s >= floor_s - 1e-9
    assert emulated_s >= floor_s - 0.005  # the dial event is written as the dial returns
    assert abs(simulated_s - emulated_s) <= 0.05


def test_the_radio_events_agree(runs: tuple[Scenario, Path, Path]) -> None:
    """Both engines write the call's RRC changes and radio energy, the energy within 1 J."""
    _, sim, emulated = runs
    for run_dir in (sim, emulated):
        changes = [f for _, f in events(run_dir, "rrc")]
        assert changes[-1] == {"from": "long_drx", "to": "idle"}  # the tail after the call
    ((_, simulated),) = events(sim, "radio_energy")
    ((_, emulated_energy),) = events(emulated, "radio_energy")
    print(
        f"\nradio energy: sim {simulated['energy_j']:.2f} J, emulation "
        f"{emulated_energy['energy_j']:.2f} J"
    )
    assert emulated_energy["energy_j"] == pytest.approx(simulated["energy_j"], abs=1.0)
    metrics = pd.read_parquet(emulated / "metrics.parquet")
    assert (metrics["radio_energy_j"] > 0).all()
