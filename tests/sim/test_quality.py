"""Scores of simulated runs agree with G.107 computed by hand from the scenario."""

from __future__ import annotations

import numpy as np
import pytest

from voipbed.loader import parse_scenario
from voipbed.models import emodel, emodel_wb
from voipbed.models.codecs import codec
from voipbed.scoring import score_trace
from voipbed.sim.engine import simulate

CLEAN = """
name: clean
seed: 3
duration: 30s
calls: {count: 4, start_spread: 2s, codec: PCMA, ptime: 20ms, plc: codec}
path:
  - {name: radio, one_way_delay: 40ms}
  - {name: core, one_way_delay: 25ms}
jitter_buffer: {kind: fixed, delay: 50ms}
device: {send_latency: 20ms, receive_latency: 30ms}
"""


def test_clean_path_scores_the_g107_value_for_its_delay() -> None:
    """No loss, no jitter: no late discards, and R is G.107's value for Ta alone."""
    scenario = parse_scenario(CLEAN)
    metrics = score_trace(simulate(scenario).packets, scenario)
    assert (metrics["late_discarded"] == 0).all()
    assert (metrics["lost"] == 0).all()
    assert (metrics["ppl_percent"] == 0).all()
    # Ta = send 20 + packetization 20 + network 65 + buffer 50 + receive 30 = 185 ms.
    np.testing.assert_allclose(metrics["ta_s"], 0.185, rtol=0, atol=1e-9)
    expected = emodel.evaluate(emodel.for_mouth_to_ear(0.185, ie=0.0, bpl=25.1))
    np.testing.assert_allclose(metrics["r_factor"], expected.r, rtol=0, atol=1e-9)
    np.testing.assert_allclose(metrics["mos"], expected.mos, rtol=0, atol=1e-9)
    # Over 150 ms only Idd adds to the default impairments (G.107 eq. 7-27, X = log2(1.85)).
    x = np.log10(185 / 100) / np.log10(2)
    idd = 25 * ((1 + x**6) ** (1 / 6) - 3 * (1 + (x / 3) ** 6) ** (1 / 6) + 2)
    assert expected.idd == pytest.approx(idd)


def test_five_percent_loss_lowers_r_by_ie_eff() -> None:
    """5 % Bernoulli loss lowers R by exactly Ie,eff = 95 Ppl/(Ppl/BurstR + Bpl), G.107 eq. 7-29."""
    clean = parse_scenario(CLEAN)
    lossy = parse_scenario(CLEAN, overrides=["path[0].loss=5%", "duration=60s"])
    clean_r = score_trace(simulate(clean).packets, clean)["r_factor"].mean()
    metrics = score_trace(simulate(lossy).packets, lossy)
    ppl, burst_r = metrics["ppl_percent"], metrics["burst_r"]
    hand = 95.0 * ppl / (ppl / burst_r + 25.1)  # Ie = 0 for G.711 (G.113 Table I.1)
    np.testing.assert_allclose(clean_r - metrics["r_factor"], hand, rtol=0, atol=1e-9)
    # Measured loss is near 5 %, so the drop is near 95*5/(5+25.1) = 15.8.
    assert metrics["ppl_percent"].mean() == pytest.approx(5.0, abs=0.5)
    assert (clean_r - metrics["r_factor"]).mean() == pytest.approx(95 * 5 / 30.1, abs=1.5)


def test_jitter_beyond_the_buffer_is_discarded_late() -> None:
    """Jitter larger than the playout delay turns into late discards that count as loss."""
    scenario = parse_scenario(
        CLEAN,
        overrides=[
            "path[0].jitter={distribution: exponential, scale: 30ms}",
            "jitter_buffer.delay=20ms",
        ],
    )
    metrics = score_trace(simulate(scenario).packets, scenario)
    assert (metrics["late_discarded"] > 0).all()
    expected_ppl = 100 * (metrics["lost"] + metrics["late_discarded"]) / metrics["sent"]
    np.testing.assert_allclose(metrics["ppl_percent"], expected_ppl)
    assert (metrics["jitter_s"] > 0.005).all()


def test_a_flow_that_receives_nothing_scores_the_bottom() -> None:
    """A call whose every packet is lost gets MOS 1 and R 0, not NaN that hides it."""
    scenario = parse_scenario("name: dead\nduration: 2s\npath: [{name: radio, loss: 100%}]")
    metrics = score_trace(simulate(scenario).packets, scenario)
    assert (metrics["received"] == 0).all()
    assert (metrics["mos"] == 1.0).all() and (metrics["r_factor"] == 0.0).all()
    assert (metrics["lost_at_radio"] == metrics["sent"]).all()


def test_wideband_codec_is_rated_on_the_g107_1_scale() -> None:
    """AMR-WB on a clean path gets G.107.1's R (up to 129) for its Ie,wb and delay."""
    scenario = parse_scenario(CLEAN, overrides=["calls.codec=AMR-WB-12.65"])
    metrics = score_trace(simulate(scenario).packets, scenario)
    ta_s = float(metrics["ta_s"][0])
    used = codec("AMR-WB-12.65")
    expected = emodel_wb.evaluate(
        emodel_wb.for_mouth_to_ear(ta_s, ie_wb=used.ie, bpl=used.bpl_with_plc)
    )
    np.testing.assert_allclose(metrics["r_factor"], expected.r, rtol=0, atol=1e-9)
    assert (metrics["r_factor"] > 100).all()  # beyond the narrowband ceiling


def test_concealment_choice_orders_quality() -> None:
    """At the same loss, codec PLC beats repetition, which beats silence (G.113 Bpl)."""
    r = {}
    for plc in ("none", "repetition", "codec"):
        scenario = parse_scenario(CLEAN, overrides=["path[0].loss=3%", f"calls.plc={plc}"])
        r[plc] = score_trace(simulate(scenario).packets, scenario)["r_factor"].mean()
    assert r["none"] < r["repetition"] < r["codec"]


SPIKY = (
    CLEAN
    + """
radio:
  handovers:
    schedule: [{time: 10s, kind: x2}]
    x2: {interruption: 250ms, forwarding: true}
"""
)


def test_jitter_buffers_react_to_a_delay_spike_as_designed() -> None:
    """A 250 ms hold at a handover: fixed discards late, adaptive grows, NetEQ-like stretches."""
    results = {}
    for kind in ("fixed", "adaptive", "neteq"):
        scenario = parse_scenario(SPIKY, overrides=[f"jitter_buffer={{kind: {kind}}}"])
        results[kind] = score_trace(simulate(scenario).packets, scenario)
    assert (results["fixed"]["late_discarded"] > 5).all()
    assert (results["neteq"]["stretch_ratio"] > 0).all()
    assert (results["neteq"]["late_discarded"] < results["fixed"]["late_discarded"]).all()
    assert (results["fixed"]["stretch_ratio"] == 0).all()
    assert (results["adaptive"]["buffer_delay_mean_s"] > 0).all()
