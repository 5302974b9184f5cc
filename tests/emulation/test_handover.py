"""Handovers at the emulated radio hop hold and lose real media as the simulator's gate does."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.emulation.conftest import require
from voipbed.loader import parse_scenario
from voipbed.runner import run_scenario

pytestmark = [pytest.mark.emulation, pytest.mark.slow]

HANDOVERS = """\
name: handovers
duration: 8s
calls: {count: 1, codec: PCMU}
path:
  - {name: radio, one_way_delay: 10ms}
  - {name: core, one_way_delay: 20ms}
radio:
  rrc: null
  handovers:
    schedule:
      - {time: 3s, kind: x2}
      - {time: 5s, kind: wifi_to_lte}
"""


CORE_S = 0.020  # downlink crosses the core before it reaches the radio hop
PATH_S = 0.030  # uplink: radio, then core
# What releasing the held packets together may add to the emulator's own forwarding (each
# run measures that on its uplink packets before the first handover): each waits for those
# released before it.
RELEASE_SLACK_S = 0.002


def outcome(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The run's packets (with when each reached the radio hop) and events."""
    packets = pd.read_parquet(run_dir / "packets.parquet")
    downlink = packets["direction"] == "downlink"
    packets["at_radio_s"] = packets["send_s"] + downlink * CORE_S
    return packets, pd.read_parquet(run_dir / "events.parquet")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """The same scenario in both engines."""
    require("mnexec", "ethtool", "kamailio", "baresip", "espeak-ng", "sox")
    scenario = parse_scenario(HANDOVERS)
    root = tmp_path_factory.mktemp("handovers")
    return {
        engine: outcome(run_scenario(scenario, root / engine, engine=engine).run_dir)
        for engine in ("sim", "emulation")
    }


def test_a_vertical_handover_loses_the_same_media_in_both_engines(
    runs: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
) -> None:
    """Wi-Fi to LTE: each direction loses its media until the re-INVITE, as many packets."""
    lost = {
        engine: packets[packets["drop_reason"] == "handover"].groupby("direction", observed=True)
        for engine, (packets, _) in runs.items()
    }
    sim, emulated = lost["sim"].size(), lost["emulation"].size()
    print(f"\nlost to the handover: sim\n{sim}\nemulation\n{emulated}")
    assert sorted(sim.index) == sorted(emulated.index) == ["downlink", "uplink"]
    assert (sim >= 10).all()  # the breakage lasts hundreds of ms
    assert ((sim - emulated).abs() <= 3).all()  # a packet or so at each edge
    for engine, groups in lost.items():
        assert (groups["at_radio_s"].min() >= 5.0 - 1e-6).all(), engine  # from its start
        assert set(runs[engine][0].loc[lambda p: p["drop_reason"] == "handover", "lost_at"]) == {
            "radio"
        }


def test_an_x2_handover_holds_media_for_its_interruption_in_both_engines(
    runs: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
) -> None:
    """Media reaching the radio in the X2 interruption goes on at its end, none is lost; the
    emulator releases it as punctually as it forwards the rest of the call's uplink."""
    for engine, (packets, events) in runs.items():
        x2 = events[events["kind"] == "handover"].iloc[0]
        end_s = json.loads(x2["fields"])["interruption_end_s"]
        held = packets[(packets["at_radio_s"] >= 3.0) & (packets["at_radio_s"] < end_s)]
        assert len(held) >= 2 * 2, engine  # an interruption of tens of ms, both ways
        assert held["recv_s"].notna().all(), engine  # buffered and forwarded, not lost
        # The emulator's own forwarding, under this run's load: the latest an uplink packet
        # came beyond the path's delay before the first handover (none in the simulator).
        before = packets[(packets["at_radio_s"] < 3.0) & (packets["direction"] == "uplink")]
        own_s = float((before["recv_s"] - before["send_s"]).max()) - PATH_S
        # Released at the end: uplink then crosses radio (10 ms) and core (20 ms);
        # downlink is forwarded over X2 (its delay) and crosses the radio.
        after_end = held["recv_s"] - end_s
        print(
            f"\n{engine}: {len(held)} held, then {after_end.min():.4f}-{after_end.max():.4f} s;"
            f" other uplink packets at most {own_s * 1e3:.3f} ms late"
        )
        slack = 0.0 if engine == "sim" else own_s + RELEASE_SLACK_S
        uplink = held["direction"] == "uplink"
        assert after_end[uplink].between(PATH_S - 1e-9, PATH_S + slack).all(), engine
        assert (after_end[~uplink] >= 0.010 - 1e-9).all(), engine


def test_the_handovers_are_events_of_the_call(
    runs: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
) -> None:
    """Both engines tell the same two handovers of call 0."""
    for engine, (_, events) in runs.items():
        handovers = events[events["kind"] == "handover"]
        kinds = [json.loads(fields)["kind"] for fields in handovers["fields"]]
        assert kinds == ["x2", "wifi_to_lte"], engine
        assert list(handovers["call"]) == [0, 0]
