"""RRC and handovers at the radio hop, seen in whole runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from voipbed.loader import parse_scenario
from voipbed.runner import run_scenario
from voipbed.schedule import call_times
from voipbed.sim.engine import simulate

BASE = """
name: radio
seed: 2
duration: 30s
calls: {count: 1}
path:
  - {name: radio, one_way_delay: 10ms}
  - {name: core, one_way_delay: 20ms}
"""


def _run(*overrides: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    trace = simulate(parse_scenario(BASE, overrides=list(overrides)))
    return trace.packets.to_pandas(), trace.events.to_pandas()


def _first_delay(packets: pd.DataFrame, direction: str) -> float:
    mine = packets[packets["direction"] == direction].sort_values("seq")
    return float(mine["recv_s"].iloc[0] - mine["send_s"].iloc[0])


def test_promotion_from_idle_delays_the_first_packet() -> None:
    """From IDLE the first uplink packet waits the 260 ms promotion; later ones do not."""
    packets, events = _run("radio.rrc.initial_state=idle")
    assert _first_delay(packets, "uplink") == pytest.approx(0.030 + 0.260)
    uplink = packets[packets["direction"] == "uplink"].sort_values("seq")
    late = uplink[uplink["send_s"] > uplink["send_s"].iloc[0] + 0.5]
    np.testing.assert_allclose(late["recv_s"] - late["send_s"], 0.030)
    changes = events[events["kind"] == "rrc"]["fields"].map(json.loads).tolist()
    assert {"from": "idle", "to": "promotion"} in changes
    assert {"from": "promotion", "to": "connected"} in changes


def test_connected_call_pays_no_rrc_delay_and_reports_energy() -> None:
    """A call that starts connected keeps the radio up: no added delay, energy reported."""
    packets, events = _run()
    np.testing.assert_allclose(packets["recv_s"] - packets["send_s"], 0.030)
    energy = events[events["kind"] == "radio_energy"]["fields"].map(json.loads).tolist()
    assert len(energy) == 1
    # 30 s connected at about 1.29 W, then the ~11.6 s tail in DRX at about 1.1 W.
    assert 30 * 1.288 < energy[0]["energy_j"] < 30 * 1.288 + 11.6 * 1.7
    assert energy[0]["promotions"] == 0


def test_x2_handover_leaves_a_gap_of_its_interruption() -> None:
    """An X2 handover at 10 s holds packets for its 50 ms interruption and loses none."""
    packets, events = _run("radio.handovers.schedule=[{time: 10s, kind: x2}]")
    assert packets["recv_s"].notna().all()
    uplink = packets[packets["direction"] == "uplink"].sort_values("seq")
    gaps = np.diff(uplink["recv_s"].to_numpy())
    assert gaps.max() == pytest.approx(0.050 + 0.020, abs=0.021)
    held = uplink[(uplink["send_s"] >= 10.0 - 0.010) & (uplink["send_s"] < 10.04)]
    assert (held["recv_s"] - held["send_s"] > 0.030).all()
    kinds = events[events["kind"] == "handover"]["fields"].map(json.loads)
    assert [k["kind"] for k in kinds] == ["x2"]
    assert kinds.iloc[0]["interruption_s"] == pytest.approx(0.050)
    delayed = packets[packets["recv_s"] - packets["send_s"] > 0.030 + 1e-9]
    assert kinds.iloc[0]["packets_held"] == len(delayed) > 0
    assert kinds.iloc[0]["packets_lost"] == 0


def test_wifi_to_lte_loses_media_until_the_reinvite_completes() -> None:
    """A Wi-Fi to LTE handover breaks the media path for interruption plus re-INVITE time."""
    packets, _ = _run("radio.handovers.schedule=[{time: 10s, kind: wifi_to_lte}]")
    lost = packets[packets["drop_reason"] == "handover"]
    broken_s = 7 * 0.1024 + 0.100 + 0.500  # beacon loss + LTE set-up + re-INVITE
    per_direction = lost.groupby("direction", observed=True).size()
    assert per_direction.tolist() == pytest.approx([broken_s / 0.020] * 2, abs=2)
    assert (lost["lost_at"] == "radio").all()
    ice, _ = _run(
        "radio.handovers.schedule=[{time: 10s, kind: wifi_to_lte}]",
        "radio.handovers.recovery.mode=ice_restart",
    )
    assert (ice["drop_reason"] == "handover").sum() > len(lost)


def _late_call_with_handover_at(offset_s: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The one call starting at about 1.3 s; an unrecovered LTE to Wi-Fi handover at its
    start plus ``offset_s``."""
    late = "calls.start_spread=10s"
    start_s = float(call_times(parse_scenario(BASE, overrides=[late])).start_s[0])
    assert start_s > 1.0  # room for a handover before it
    return _run(
        late,
        f"radio.handovers.schedule=[{{time: {start_s + offset_s!r}s, kind: lte_to_wifi}}]",
        "radio.handovers.recovery.mode=none",
    )


def test_handover_before_the_call_starts_loses_nothing_and_is_no_event() -> None:
    """A handover 0.5 s before the call, its interruption reaching into the call, is not
    applied: no packet lost or held, no handover event."""
    packets, events = _late_call_with_handover_at(-0.5)
    assert packets["recv_s"].notna().all()
    np.testing.assert_allclose(packets["recv_s"] - packets["send_s"], 0.030)
    assert (events["kind"] != "handover").all()


def test_handover_during_the_call_loses_packets_and_is_an_event() -> None:
    """The same handover 0.5 s into the call breaks the rest of it, and its event counts
    the packets it lost."""
    packets, events = _late_call_with_handover_at(0.5)
    lost = packets[packets["drop_reason"] == "handover"]
    assert len(lost) > 0.9 * len(packets)
    (fields,) = events[events["kind"] == "handover"]["fields"].map(json.loads)
    assert fields["kind"] == "lte_to_wifi"
    assert fields["packets_lost"] == len(lost)
    assert fields["packets_held"] == 0


def test_handover_after_the_call_ends_is_no_event() -> None:
    """A handover after its call's end acts on nothing and is not recorded."""
    packets, events = _run(
        "calls.hold_time=5s", "radio.handovers.schedule=[{time: 6s, kind: wifi_to_lte}]"
    )
    assert packets["drop_reason"].isna().all()
    assert (events["kind"] != "handover").all()


def test_poisson_mobility_is_reproducible() -> None:
    """Poisson handovers depend on the seed only: the same seed gives the same events."""
    first = _run("radio.handovers.rate_per_min=6")[1]
    second = _run("radio.handovers.rate_per_min=6")[1]
    handovers = first[first["kind"] == "handover"]
    assert len(handovers) > 0
    pd.testing.assert_frame_equal(first, second)


def test_summary_prices_the_keepalive_period(tmp_path: Path) -> None:
    """The summary gives the radio cost of the keep-alive period; sparser is cheaper per hour."""
    costs = []
    for interval in ("10s", "60s"):
        scenario = parse_scenario(
            BASE, overrides=["duration=3s", f"radio.keepalive_interval={interval}"]
        )
        summary = run_scenario(scenario, tmp_path).summary
        costs.append(summary["keepalive"])
    assert costs[0]["promotions_per_keepalive"] == 0  # inside the 11.6 s tail: never idle
    assert costs[1]["promotions_per_keepalive"] == pytest.approx(1)
    assert costs[1]["energy_per_hour_j"] < costs[0]["energy_per_hour_j"]
