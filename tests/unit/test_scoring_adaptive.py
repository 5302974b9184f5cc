"""Scoring follows each packet's codec mode: per-flow Ie and Bpl over the modes used."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pytest

from tests.unit.adaptive_trace import PTIME_S, packets, scenario
from voipbed.loader import parse_scenario
from voipbed.models import emodel, emodel_wb
from voipbed.models.codec_adaptation import IeInterval, effective_ie, ie_on_scale
from voipbed.models.codecs import CODECS, Bandwidth
from voipbed.models.plc import Plc, bpl_for
from voipbed.scoring import run_verdict, score_run, summarize
from voipbed.sim.engine import simulate
from voipbed.trace import DIRECTIONS


def rule(modes: Sequence[str], scale: Bandwidth) -> tuple[float, float]:
    """Ie on ``scale`` and Bpl (PLC codec) of a flow coded with ``modes``, packet by packet."""
    counts = {name: list(modes).count(name) for name in dict.fromkeys(modes)}
    spans = [
        IeInterval(count * PTIME_S, CODECS[name].ie, CODECS[name].bandwidth)
        for name, count in counts.items()
    ]
    mean = effective_ie(spans)
    bpl = sum(count * CODECS[name].bpl_with_plc for name, count in counts.items()) / len(modes)
    return ie_on_scale(mean.ie, mean.bandwidth, scale), bpl


@pytest.mark.parametrize(
    ("start", "first", "then"),
    [
        ("AMR-WB-23.85", "AMR-WB-23.85", "AMR-WB-12.65"),  # one class
        ("OPUS-WB-24", "OPUS-WB-24", "OPUS-NB-8"),  # wideband, then narrowband
    ],
)
def test_a_flow_that_switches_modes_gets_the_time_weighted_ie(
    start: str, first: str, then: str
) -> None:
    """A flow coded 60 % in one mode and 40 % in another has the rule's Ie and Bpl."""
    switching = [first] * 150 + [then] * 100
    steady = [first] * 250
    table = packets([switching, steady], lost_every=25)
    metrics = score_run(table, scenario(start, gcc=True)).metrics
    ie, bpl = rule(switching, Bandwidth.WIDE)
    assert metrics["ie"][0] == pytest.approx(ie, rel=1e-12)
    assert metrics["ie"][1] == CODECS[first].ie
    assert list(metrics["codec_modes"]) == [2, 1]
    ppl, burst = metrics["ppl_percent"][0], metrics["burst_r"][0]
    result = emodel_wb.evaluate(
        emodel_wb.for_mouth_to_ear(0.1, ie_wb=ie, bpl=bpl, ppl_percent=ppl, burst_r=burst)
    )
    assert metrics["ie_eff"][0] == pytest.approx(float(result.ie_eff), rel=1e-9)


def test_a_narrowband_only_flow_of_a_wideband_family_is_rated_on_the_wideband_scale() -> None:
    """An adaptive OPUS-WB call that stayed in OPUS-NB-8 gets NB's Ie moved to the G.107.1
    scale, and the run's R ceiling is G.107.1's."""
    scores = score_run(packets([["OPUS-NB-8"] * 100]), scenario("OPUS-WB-24", gcc=True))
    expected = ie_on_scale(CODECS["OPUS-NB-8"].ie, Bandwidth.NARROW, Bandwidth.WIDE)
    assert scores.metrics["ie"][0] == expected
    assert scores.r_scale_max == emodel_wb.RO_WB


def test_repeated_dictionary_names_count_as_one_mode() -> None:
    """Operating points sharing a codec-table name are one mode, whatever their codes."""
    names = ["AMR-WB-6.6", "AMR-WB-12.65", "AMR-WB-6.6"]
    flow = ["AMR-WB-6.6"] * 50 + ["AMR-WB-12.65"] * 50
    table = packets([flow], dictionary=names)
    codes = np.r_[np.zeros(25), np.full(25, 2), np.ones(50)].astype(np.int16)
    table = table.set_column(
        table.schema.get_field_index("codec"),
        table.schema.field("codec"),
        pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(names)),
    )
    metrics = score_run(table, scenario("AMR-WB-23.85", gcc=True)).metrics
    assert metrics["codec_modes"][0] == 2
    assert metrics["ie"][0] == pytest.approx(rule(flow, Bandwidth.WIDE)[0], rel=1e-12)


def test_windows_keep_each_flows_own_ie() -> None:
    """Flows of different Ie are rated in windows with their own Ie: without loss each window's
    R is its flow's R."""
    flows = [["AMR-WB-23.05"] * 300, ["AMR-WB-6.6"] * 300, ["AMR-WB-12.65"] * 300]
    scores = score_run(packets(flows), scenario("AMR-WB-23.85", gcc=True))
    metrics, windows = scores.metrics, scores.windows
    assert len(set(metrics["ie"].tolist())) == 3
    for flow, r in zip(metrics["flow"].tolist(), metrics["r_factor"].tolist(), strict=True):
        mine = windows["r_factor"][windows["flow"] == flow]
        assert mine.size == 3 and np.allclose(mine, r, rtol=0, atol=1e-9)


def test_mean_sent_bps_is_wire_bits_over_the_flows_span() -> None:
    """``mean_sent_bps`` is a flow's IP bits over its first to last send time plus a ptime."""
    flow = ["AMR-WB-23.85"] * 100 + ["AMR-WB-6.6"] * 100
    table = packets([flow])
    metrics = score_run(table, scenario("AMR-WB-23.85", gcc=True)).metrics
    bits = 8.0 * float(np.sum(table.column("wire_bytes").to_numpy()))
    assert metrics["mean_sent_bps"][0] == pytest.approx(bits / (200 * PTIME_S), rel=1e-12)


def test_a_fixed_rate_table_scores_as_calls_codec() -> None:
    """A fixed-rate trace: R and MOS are the E-model's for ``calls.codec``'s Ie and Bpl, with
    no adaptive columns and no rate table."""
    name = "AMR-12.2"
    run = scenario(name, gcc=False)
    scores = score_run(packets([[name] * 200, [name] * 200], lost_every=10), run)
    metrics = scores.metrics
    used = CODECS[name]
    result = emodel.evaluate(
        emodel.for_mouth_to_ear(
            metrics["ta_s"],
            ie=used.ie,
            bpl=bpl_for(used.bpl_without_plc, used.bpl_with_plc, Plc.CODEC),
            ppl_percent=metrics["ppl_percent"],
            burst_r=metrics["burst_r"],
            advantage=run.emodel.advantage,
            telr_db=run.emodel.telr_db,
        )
    )
    assert np.array_equal(metrics["r_factor_raw"], result.r)
    assert np.array_equal(metrics["mos"], result.mos)
    assert not {"ie", "codec_modes", "mean_sent_bps"} & set(metrics.names)
    assert len(scores.rates) == 0 and scores.r_scale_max == 100.0
    summary = summarize(metrics, {}, losses=scores.losses)
    assert "codec_modes" not in summary["metrics"]
    assert scores.verdict == run_verdict(metrics, scores.losses, run)
    assert scores.verdict.impairments["codec"] == used.ie


def test_an_adaptive_verdict_names_the_modes_and_their_mean_ie() -> None:
    """The verdict of an adaptive run costs the codec at its flows' mean Ie and names the
    range of modes used."""
    flows = [["AMR-WB-6.6"] * 200 + ["AMR-WB-8.85"] * 50, ["AMR-WB-6.6"] * 250]
    scores = score_run(packets(flows), scenario("AMR-WB-23.85", gcc=True))
    expected = {d: float(scores.metrics["ie"][k]) for k, d in enumerate(DIRECTIONS)}
    assert scores.verdict.cause == "codec"
    assert scores.verdict.impairments["codec"] == pytest.approx(
        expected[str(scores.verdict.direction)]
    )
    assert "AMR-WB-6.6 to AMR-WB-8.85" in scores.verdict.sentence


def test_a_rate_controlled_run_with_no_packets_has_every_column() -> None:
    """A rate-controlled run without packets has the adaptive columns, without rows."""
    table = packets([], dictionary=["AMR-WB-23.85"])
    metrics = score_run(table, scenario("AMR-WB-23.85", gcc=True)).metrics
    assert {"ie", "codec_modes", "mean_sent_bps"} <= set(metrics.names)
    assert len(metrics) == 0


def test_a_closed_loop_run_scores_between_its_modes() -> None:
    """A GCC call through a 30 kbit/s bottleneck: each flow's Ie lies between the Ie of the
    modes it used, and the summary aggregates the adaptive columns."""
    run = parse_scenario(
        "name: gcc-small\nseed: 3\nduration: 15s\n"
        "calls: {count: 1, codec: AMR-WB-23.85, rate_control: {algorithm: gcc}}\n"
        "path: [{name: radio, capacity: 30kbps, queue: {bytes: 20KiB}, one_way_delay: 20ms}]\n",
        "gcc-small.yaml",
    )
    trace = simulate(run)
    scores = score_run(trace.packets, run, trace.events)
    metrics = scores.metrics
    flow = trace.packets.column("flow").to_numpy()
    codec = np.asarray(trace.packets.column("codec").to_pylist(), dtype=object)
    for index, flow_id in enumerate(metrics["flow"].tolist()):
        used = {str(name) for name in codec[flow == flow_id]}
        ies = [CODECS[name].ie for name in used]
        assert metrics["codec_modes"][index] == len(used)
        assert min(ies) <= metrics["ie"][index] <= max(ies)
    wire = [bps for bps in metrics["mean_sent_bps"].tolist()]
    assert all(0 < bps < 60_000 for bps in wire)
    assert len(scores.rates) > 0 and set(scores.rates["direction"]) == set(DIRECTIONS)
    summary = summarize(metrics, {}, losses=scores.losses, verdict=scores.verdict)
    assert summary["metrics"]["codec_modes"]["n"] == len(metrics)
