"""Reports that tell the truth: R on its scale, the cause the metrics show, outages in time."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from voipbed.columns import Columns
from voipbed.loader import load_scenario, parse_scenario
from voipbed.models.codecs import codec
from voipbed.models.jitter import interarrival_jitter
from voipbed.runner import run_scenario
from voipbed.scoring import MIN_FLOWS_MEDIAN, MIN_FLOWS_TAILS, score_run, summarize
from voipbed.sim.engine import simulate

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def expected_cause(metrics: pd.DataFrame, codec_name: str) -> tuple[str, str]:
    """Direction and cause the metrics show, by the verdict's rules, computed here by hand."""
    ie = codec(codec_name).ie
    worst = min(
        metrics.groupby("direction"),
        key=lambda item: (item[1]["mos"].mean(), item[0] != "uplink"),
    )
    direction, rows = worst
    loss, delay = rows["ie_eff"].mean() - ie, rows["idd"].mean()
    if delay > loss and delay > ie:
        return str(direction), "delay"
    reasons = {
        str(c).removeprefix("lost_by_"): int(rows[c].sum())
        for c in rows.columns
        if str(c).startswith("lost_by_")
    }
    late = int(rows["late_discarded"].sum())
    if late >= max(reasons.values()):
        return str(direction), "late"
    return str(direction), max(reasons, key=lambda name: reasons[name])


def section(html: str, anchor: str) -> str:
    found = re.search(rf'<section id="{anchor}">(.*?)</section>', html, re.S)
    assert found is not None, anchor
    return found.group(1)


def table_column(html: str, header: str) -> list[float]:
    """The numbers of one column of the per-flow table."""
    flows = section(html, "flows")
    headers = re.findall(r"<th[^>]*>(.*?)</th>", flows)
    index = headers.index(header)
    values = []
    for row in re.findall(r"<tr>(.*?)</tr>", flows, re.S)[1:]:
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        values.append(float(cells[index].replace(",", "")))
    return values


@pytest.fixture(scope="module")
def bloated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    scenario = load_scenario(SCENARIOS / "bufferbloat-droptail.yaml", ["duration=10s"])
    result = run_scenario(scenario, tmp_path_factory.mktemp("bloated"))
    return {
        "metrics": pd.read_parquet(result.run_dir / "metrics.parquet"),
        "summary": json.loads((result.run_dir / "summary.json").read_text()),
        "html": result.report.read_text(encoding="utf-8"),
    }


def test_bloated_link_shows_r_on_its_scale_and_keeps_the_raw_value(bloated: dict[str, Any]) -> None:
    """R is clipped to G.107's 0-100 in metrics, summary and report; the raw R stays beside it."""
    metrics = bloated["metrics"]
    raw = metrics["r_factor_raw"].to_numpy()
    assert np.nanmin(raw) < 0.0  # the formula goes below the scale on this link
    np.testing.assert_allclose(metrics["r_factor"], np.clip(np.nan_to_num(raw), 0.0, 100.0))
    stats = bloated["summary"]["metrics"]["r_factor"]
    assert 0.0 <= stats["mean"] <= 100.0
    shown = table_column(bloated["html"], "R")
    assert len(shown) == len(metrics)
    assert all(0.0 <= r <= 100.0 for r in shown)
    value = re.search(r'R factor</div>\s*<div class="value">([-\d.,]+)<', bloated["html"])
    assert value is not None
    assert 0.0 <= float(value.group(1)) <= 100.0


def test_bloated_link_sentence_names_the_cause_the_metrics_show(bloated: dict[str, Any]) -> None:
    """The verdict's direction and cause are those derived from the metrics by hand."""
    metrics, summary = bloated["metrics"], bloated["summary"]
    direction, cause = expected_cause(metrics, "PCMU")
    verdict = summary["verdict"]
    assert (verdict["direction"], verdict["cause"]) == (direction, cause)
    if cause == "late":
        rows = metrics[metrics["direction"] == direction]
        share = 100.0 * rows["late_discarded"].sum() / rows["sent"].sum()
        assert f"{share:.1f} % of {direction} packets" in verdict["sentence"]
        assert "60 ms fixed jitter buffer" in verdict["sentence"]
    assert verdict["sentence"] in bloated["html"].replace("&#39;", "'")


def test_bloated_link_percentiles_are_null_with_few_flows(bloated: dict[str, Any]) -> None:
    """Ten flows give a mean and a median but no p5/p95, and the report says "10 flows"."""
    stats = bloated["summary"]["metrics"]["mos"]
    assert stats["n"] == len(bloated["metrics"]) == 10
    assert stats["p5"] is None and stats["p95"] is None
    assert stats["p50"] == pytest.approx(np.median(bloated["metrics"]["mos"]))
    assert "10 flows" in section(bloated["html"], "headline")


@pytest.fixture(scope="module")
def handover() -> dict[str, Any]:
    scenario = load_scenario(SCENARIOS / "wifi-to-lte-handover.yaml", ["duration=30s"])
    trace = simulate(scenario)
    scores = score_run(trace.packets, scenario, trace.events)
    events = trace.events.to_pandas()
    event = events[events["kind"] == "handover"].iloc[0]
    fields = json.loads(event["fields"])
    outage = (float(event["time_s"]), float(fields["media_end_s"]))
    return {"packets": trace.packets.to_pandas(), "scores": scores, "outage": outage}


def frame(table: Columns) -> pd.DataFrame:
    """A scored table as a DataFrame, to check it with pandas."""
    return table.to_arrow().to_pandas()


def test_handover_outage_shows_in_the_windowed_mos(handover: dict[str, Any]) -> None:
    """Windows covering the handover's media gap rate far below the call's other windows."""
    windows = frame(handover["scores"].windows)
    start, end = handover["outage"]
    for _, rows in windows.groupby("flow"):
        covering = (rows["start_s"] < end) & (rows["end_s"] > start)
        assert covering.any()
        outage_mos = rows.loc[covering, "mos"].min()
        others = rows.loc[~covering, "mos"]
        assert outage_mos < others.min() - 1.0
    metrics = handover["scores"].metrics
    assert (metrics["mos_window_min"] < metrics["mos"] - 1.0).all()


def test_handover_losses_count_as_handover_losses(handover: dict[str, Any]) -> None:
    """Packets lost in the media gap carry reason handover, and the breakdown counts them so."""
    packets = handover["packets"]
    start, end = handover["outage"]
    lost = packets["recv_s"].isna()
    in_gap = lost & (packets["send_s"] >= start) & (packets["send_s"] < end)
    assert in_gap.sum() > 0
    assert (packets.loc[in_gap, "drop_reason"].astype(str) == "handover").all()
    marked = packets["drop_reason"].astype(str) == "handover"
    # A packet already on its way when the handover starts is lost in it too.
    assert packets.loc[marked, "send_s"].between(start - 0.1, end).all()
    losses = frame(handover["scores"].losses)
    by_handover = losses[losses["reason"] == "handover"]
    assert set(by_handover["segment"]) == {"radio"}
    assert by_handover["packets"].sum() == marked.sum()
    metrics = frame(handover["scores"].metrics)
    assert handover["scores"].verdict.cause == expected_cause(metrics, "PCMU")[1]


def test_run_without_packets_writes_metrics_summary_and_a_report(tmp_path: Path) -> None:
    """Calls that end before sending a packet give empty metrics and a report that says so."""
    scenario = parse_scenario("name: silent\nduration: 2s\ncalls: {count: 2, hold_time: 0s}\n")
    result = run_scenario(scenario, tmp_path)
    metrics = pd.read_parquet(result.run_dir / "metrics.parquet")
    assert len(metrics) == 0
    assert {"r_factor", "r_factor_raw", "mos", "jitter_last_s"} <= set(metrics.columns)
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["flows"] == 0 and summary["totals"]["sent"] == 0
    assert summary["verdict"]["cause"] == "no_media"
    assert "No media packets were sent" in result.report.read_text(encoding="utf-8")


def test_jitter_is_the_mean_and_the_last_of_the_rfc3550_estimate() -> None:
    """jitter_s is the running estimate's mean over the flow, jitter_last_s its last value."""
    scenario = parse_scenario(
        "name: j\nduration: 5s\npath: [{name: radio, one_way_delay: 20ms, "
        "jitter: {distribution: exponential, scale: 5ms}}]"
    )
    trace = simulate(scenario)
    metrics = score_run(trace.packets, scenario).metrics
    packets = trace.packets.to_pandas()
    for record in metrics.records():
        rows = packets[packets["flow"] == record["flow"]].sort_values("seq")
        estimate = interarrival_jitter(
            rows["rtp_ts"].to_numpy() / 8000.0, rows["recv_s"].to_numpy()
        )
        assert record["jitter_last_s"] == pytest.approx(estimate[-1])
        assert record["jitter_s"] == pytest.approx(estimate.mean())
        assert record["jitter_last_s"] != pytest.approx(record["jitter_s"])


def test_percentiles_over_flows_need_enough_flows() -> None:
    """p50 appears from MIN_FLOWS_MEDIAN flows, p5 and p95 from MIN_FLOWS_TAILS."""
    for n in (MIN_FLOWS_MEDIAN - 1, MIN_FLOWS_MEDIAN, MIN_FLOWS_TAILS - 1, MIN_FLOWS_TAILS):
        metrics = Columns(
            {"call": np.arange(n), "direction": "uplink", "mos": np.linspace(1.0, 4.0, n)}
        )
        stats = summarize(metrics, {})["metrics"]["mos"]
        assert stats["n"] == n
        assert stats["mean"] == pytest.approx(2.5)
        assert (stats["p50"] is None) == (n < MIN_FLOWS_MEDIAN)
        assert (stats["p5"] is None) == (stats["p95"] is None) == (n < MIN_FLOWS_TAILS)
