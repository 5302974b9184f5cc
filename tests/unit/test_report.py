"""The HTML report and its plots, on synthetic runs with the recorder's exact columns."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from voipbed.columns import Columns
from voipbed.reports import plots, queues, render_report, timeline, write_report
from voipbed.reports.chart import Band, Bars, Chart, Line, RefLine, Spans
from voipbed.reports.tables import MAX_FLOW_ROWS, headline

SEGMENTS = ["radio", "core"]
PACKET_RATE = 50.0


def columns(frame: pd.DataFrame) -> Columns:
    """A synthetic DataFrame as the report takes it: through Arrow, as a run's tables come."""
    return Columns.from_arrow(pa.Table.from_pandas(frame, preserve_index=False))


def synthetic_packets(n_calls: int, duration_s: float, seed: int = 1) -> pd.DataFrame:
    """Packets of ``n_calls`` calls, both directions, 20 ms apart, ~2 % lost, call 0 worst."""
    rng = np.random.default_rng(seed)
    n_per_flow = int(duration_s * PACKET_RATE)
    n_flows = 2 * n_calls
    flow = np.repeat(np.arange(n_flows, dtype=np.int32), n_per_flow)
    seq = np.tile(np.arange(n_per_flow, dtype=np.int32), n_flows)
    send_s = seq / PACKET_RATE + (flow % 7) * 0.003
    delay_s = 0.04 + rng.gamma(2.0, 0.005, len(flow)) + np.where(flow < 2, 0.08, 0.0)
    lost = rng.random(len(flow)) < np.where(flow < 2, 0.15, 0.02)
    lost_at = np.where(lost, np.where(rng.random(len(flow)) < 0.7, 0, 1), -1)
    return pd.DataFrame(
        {
            "call": (flow // 2).astype(np.int32),
            "flow": flow,
            "direction": pd.Categorical.from_codes(flow % 2, ["uplink", "downlink"]),
            "seq": seq,
            "rtp_ts": seq.astype(np.int64) * 160,
            "payload_bytes": np.full(len(flow), 160, np.int32),
            "wire_bytes": np.full(len(flow), 200, np.int32),
            "dscp": np.full(len(flow), 46, np.uint8),
            "send_s": send_s,
            "recv_s": np.where(lost, np.nan, send_s + delay_s),
            "lost_at": pd.Categorical.from_codes(lost_at, SEGMENTS),
        }
    )


def synthetic_metrics(packets: pd.DataFrame) -> pd.DataFrame:
    """Per-flow metrics consistent with ``packets`` (E-model values are made up but plausible)."""
    delay = (packets["recv_s"] - packets["send_s"]).rename("delay")
    by_flow = delay.groupby(packets["flow"])
    out = pd.DataFrame(
        {
            "call": packets["call"].groupby(packets["flow"]).first(),
            "sent": by_flow.size(),
            "received": by_flow.count(),
            "delay_mean_s": by_flow.mean(),
            "delay_p95_s": by_flow.quantile(0.95),
            "delay_p99_s": by_flow.quantile(0.99),
            "jitter_s": by_flow.std(),
        }
    )
    out.index.name = "flow"
    out = out.reset_index()
    out["direction"] = np.where(out["flow"] % 2 == 0, "uplink", "downlink")
    out["lost"] = out["sent"] - out["received"]
    out["late_discarded"] = (out["received"] * 0.01).round().astype(np.int64)
    out["ppl_percent"] = (out["lost"] + out["late_discarded"]) / out["sent"] * 100.0
    out["burst_r"] = 1.0
    out["ta_s"] = out["delay_mean_s"] + 0.1
    out["r_factor"] = 93.2 - 2.5 * out["ppl_percent"] - 100.0 * out["ta_s"].clip(lower=0.15) + 15
    out["mos"] = (1.0 + 0.035 * out["r_factor"]).clip(1.0, 4.5)
    places = pd.crosstab(packets["flow"], packets["lost_at"]).reindex(
        index=out["flow"], columns=SEGMENTS, fill_value=0
    )
    for segment in SEGMENTS:
        out[f"lost_at_{segment}"] = places[segment].to_numpy()
    return out


def synthetic_run(n_calls: int, duration_s: float = 4.0) -> dict[str, Any]:
    """All five report inputs for a synthetic run."""
    frame = synthetic_packets(n_calls, duration_s)
    metrics = synthetic_metrics(frame)
    events = pd.DataFrame(
        {
            "time_s": np.concatenate([np.zeros(n_calls), np.full(n_calls, duration_s)]),
            "kind": ["call_start"] * n_calls + ["call_end"] * n_calls,
            "call": np.tile(np.arange(n_calls, dtype=np.int32), 2),
            "fields": [json.dumps({"codec": "AMR-WB"})] * (2 * n_calls),
        }
    )
    summary = {
        "scenario": "default",
        "engine": "sim",
        "seed": 1,
        "run_id": "20240101-000000-abc",
        "flows": len(metrics),
        "calls": n_calls,
        "duration_s": duration_s,
        "wall_s": 0.8,
        "metrics": {
            "mos": {"mean": float(metrics["mos"].mean()), "p5": 2.5, "p50": 4.1, "p95": 4.3},
        },
    }
    return {
        "scenario_yaml": "name: default\ncalls: 2\nnote: a < b && c > d\n",
        "summary": summary,
        "metrics": columns(metrics),
        "packets": columns(frame),
        "events": columns(events),
    }


def assert_self_contained(html: str) -> None:
    for needle in ("http://", "https://", 'src="http', "<script src", "<link "):
        assert needle not in html, needle


@pytest.fixture(scope="module")
def small_run() -> dict[str, Any]:
    return synthetic_run(n_calls=3)


@pytest.fixture(scope="module")
def small_html(small_run: dict[str, Any]) -> str:
    return render_report(**small_run)


@pytest.fixture(scope="module")
def large_html() -> str:
    run = synthetic_run(n_calls=340, duration_s=60.0)
    assert len(run["packets"]) >= 2_000_000
    return render_report(**run)


def test_small_report_is_self_contained_with_inline_svg(small_html: str) -> None:
    """The report loads nothing from the network and draws at least three figures as inline SVG,
    each with an accessible title."""
    assert small_html.startswith("<!DOCTYPE html>")
    assert_self_contained(small_html)
    figures = re.findall(r"<figure>\s*<svg .*?</svg>", small_html, re.S)
    assert len(figures) >= 3
    assert all('role="img"' in figure and "<title " in figure for figure in figures)
    assert "<img" not in small_html and "data:image" not in small_html


def test_title_names_scenario_and_run_id(small_html: str) -> None:
    """The title carries the scenario name and the run id."""
    title = re.search(r"<title>(.*?)</title>", small_html, re.S)
    assert title is not None
    assert "default" in title.group(1)
    assert "20240101-000000-abc" in title.group(1)


def test_small_run_table_has_one_row_per_flow(small_html: str) -> None:
    """A run with fewer flows than the limit lists every flow and claims no truncation."""
    flows = re.search(r'<section id="flows">(.*?)</section>', small_html, re.S)
    assert flows is not None
    assert flows.group(1).count("<tr>") == 6 + 1  # six flows and the header row
    assert "worst" not in flows.group(1)


def test_scenario_yaml_is_escaped(small_html: str) -> None:
    """A ``<`` in the scenario text is shown as text, never parsed as a tag."""
    assert "a &lt; b &amp;&amp; c &gt; d" in small_html
    assert "a < b" not in small_html


def test_headline_shows_recorded_mos_and_delay_in_ms(small_html: str) -> None:
    """The headline takes p5 MOS from the summary and shows mouth-to-ear delay in ms."""
    headline = re.search(r'<section id="headline">(.*?)</section>', small_html, re.S)
    assert headline is not None
    assert "p5 2.50" in headline.group(1)
    assert re.search(r"\d+ ms", headline.group(1))


def test_run_facts_show_seed_engine_duration_and_wall_time(small_html: str) -> None:
    """The run facts list seed, engine, simulated duration and wall time."""
    facts = re.search(r'<section id="facts">(.*?)</section>', small_html, re.S)
    assert facts is not None
    for text in ("Seed</dt><dd>1<", "Engine</dt><dd>sim<", "4.0 s", "0.80 s"):
        assert text in facts.group(1)


def test_flow_without_received_packets_renders(small_run: dict[str, Any]) -> None:
    """A flow that received nothing (NaN metrics) renders, flagged as silent and listed first."""
    packets = small_run["packets"]
    packets = packets.with_columns(
        {"recv_s": np.where(packets["flow"] == 3, np.nan, packets["recv_s"])}
    )
    metrics = small_run["metrics"]
    dead = metrics["flow"] == 3
    nan_columns = ["delay_mean_s", "delay_p95_s", "delay_p99_s", "jitter_s", "ta_s"]
    metrics = metrics.with_columns(
        {
            **{name: np.where(dead, np.nan, metrics[name]) for name in [*nan_columns, "r_factor"]},
            "mos": np.where(dead, np.nan, metrics["mos"]),
            "received": np.where(dead, 0, metrics["received"]),
        }
    )
    html = render_report(**{**small_run, "packets": packets, "metrics": metrics})
    assert_self_contained(html)
    assert "Silent flows" in html
    assert html.count("<svg ") >= 3
    assert "nan" not in " ".join(re.findall(r'd="[^"]*"', html)).lower()


def test_empty_packets_metrics_and_events_render(small_run: dict[str, Any]) -> None:
    """A run with no packets, no flows and no events still yields a complete report."""
    html = render_report(
        scenario_yaml="name: empty\n",
        summary={"scenario": "empty"},
        metrics=small_run["metrics"].head(0),
        packets=small_run["packets"].head(0),
        events=small_run["events"].head(0),
    )
    assert_self_contained(html)
    assert "No events recorded." in html
    assert "No flow metrics." in html


def test_write_report_writes_report_html(tmp_path: Path, small_run: dict[str, Any]) -> None:
    """``write_report`` writes ``report.html`` in the run directory and returns its path."""
    path = write_report(tmp_path, **small_run)
    assert path == tmp_path / "report.html"
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_large_run_table_says_it_is_truncated(large_html: str) -> None:
    """With more flows than the limit, the table shows the worst N by MOS and says so."""
    flows = re.search(r'<section id="flows">(.*?)</section>', large_html, re.S)
    assert flows is not None
    assert f"Showing the {MAX_FLOW_ROWS} worst of 680 flows by MOS" in flows.group(1)
    assert flows.group(1).count("<tr>") == MAX_FLOW_ROWS + 1


def test_large_run_report_stays_small(large_html: str) -> None:
    """Two million packets still give a self-contained report under 2 MB."""
    assert_self_contained(large_html)
    assert len(large_html.encode("utf-8")) < 2_000_000
    assert large_html.count("<svg ") >= 3


def test_select_flows_takes_worst_and_best_by_mos() -> None:
    """Flow choice is the two worst (missing MOS first) and the two best, ties by flow id."""
    metrics = Columns({"flow": [0, 1, 2, 3, 4, 5], "mos": [3.0, np.nan, 4.2, 2.0, 4.2, 3.5]})
    assert plots.select_flows(metrics.head(0), metrics, 4) == [1, 3, 2, 4]


def test_minmax_envelope_keeps_spikes() -> None:
    """Thinning a long series keeps its extreme values and respects the point budget."""
    y = np.zeros(100_000)
    y[12_345] = 500.0
    y[77_777] = -3.0
    x = np.arange(len(y), dtype=np.float64)
    px, py, thinned = plots.minmax_envelope(x, y, 1000)
    assert thinned
    assert len(px) <= 1000
    assert py.max() == 500.0 and py.min() == -3.0
    assert 12_345.0 in px


def test_plot_functions_return_charts(small_run: dict[str, Any]) -> None:
    """Each plot function returns a chart with labelled axes."""
    packets, metrics = small_run["packets"], small_run["metrics"]
    figures = [
        plots.delay_over_time(packets, metrics),
        plots.delay_over_time(packets),
        plots.mos_per_flow(metrics),
        plots.mos_per_flow(metrics, many_calls=1),
        plots.delay_cdf(packets),
        plots.losses_by_reason(plots.loss_frame(None, metrics), metrics),
        timeline.mos_over_time(synthetic_windows(metrics), small_run["events"]),
    ]
    for figure in figures:
        assert isinstance(figure, Chart)
        assert any(panel.x.label for panel in figure.panels)
        assert any(panel.y.label for panel in figure.panels)


def synthetic_windows(metrics: Columns, width_s: float = 2.0) -> Columns:
    """Windowed MOS of each flow: 5 windows at the flow's MOS, flow 0 dropping to 1 in window 2."""
    rows = []
    for record in metrics.records():
        for k in range(5):
            mos = 1.0 if (record["flow"] == 0 and k == 2) else float(record["mos"])
            rows.append(
                {
                    "call": record["call"],
                    "flow": record["flow"],
                    "direction": record["direction"],
                    "start_s": k * width_s,
                    "end_s": (k + 1) * width_s,
                    "packets": 100,
                    "ppl_percent": 0.0,
                    "r_factor": 80.0,
                    "mos": mos,
                }
            )
    return Columns.from_records(rows)


def test_mos_bars_start_at_zero_so_mos_one_is_visible(small_run: dict[str, Any]) -> None:
    """A flow at MOS 1 (the floor) draws a bar of height 1 on an axis that starts at 0."""
    metrics = small_run["metrics"]
    metrics = metrics.with_columns({"mos": np.where(metrics["flow"] == 0, 1.0, metrics["mos"])})
    panel = plots.mos_per_flow(metrics).panels[0]
    assert panel.limits("y") == (0.0, 4.7)
    heights = [float(h) for bars in panel.of(Bars) for h in bars.length]
    assert 1.0 in heights
    assert min(heights) > 0.0


def test_mos_figure_names_the_g109_limits_at_the_right() -> None:
    """The MOS figure draws a dotted line per G.109 satisfaction limit, named, and its legend
    names each direction."""
    metrics = Columns(
        {"call": [0, 0], "flow": [0, 1], "direction": ["uplink", "downlink"], "mos": [4.1, 3.2]}
    )
    chart = plots.mos_per_flow(metrics)
    lines = chart.panels[0].of(RefLine)
    assert [(line.value, line.text) for line in lines] == list(plots.SATISFACTION_MOS)
    assert all(line.dash == "dotted" for line in lines)
    assert chart.legend == "bottom"
    assert [entry.label for entry in chart.entries()] == ["uplink", "downlink"]


def test_loss_figure_splits_losses_by_reason_and_place() -> None:
    """Recorded losses give one bar group per reason and segment, late discards last."""
    metrics = Columns(
        {"call": [0, 0], "flow": [0, 1], "direction": ["uplink", "downlink"], "sent": [100, 100]}
    )
    records = [
        {"direction": "uplink", "segment": None, "reason": "late", "packets": 4},
        {"direction": "uplink", "segment": "radio", "reason": "handover", "packets": 7},
        {"direction": "downlink", "segment": "radio", "reason": "channel", "packets": 2},
    ]
    panel = plots.losses_by_reason(plots.loss_frame(records, metrics), metrics).panels[0]
    ticks = [t.label for t in panel.ticks("x")]
    assert ticks == ["handover\n(radio)", "channel\n(radio)", "late\n(jitter buffer)"]
    uplink, downlink = panel.of(Bars)
    assert list(uplink.length) == pytest.approx([7.0, 0.0, 4.0])
    assert downlink.texts == ["0", "2", "0"]
    assert panel.limits("y")[0] == 0.0


def test_loss_frame_without_records_takes_reasons_from_the_metrics() -> None:
    """Without summary records, lost_by_* columns, unattributed losses and late discards count."""
    metrics = Columns(
        {
            "direction": ["uplink", "uplink"],
            "lost": [5, 3],
            "lost_by_handover": [4, 1],
            "lost_by_channel": [0, 1],
            "late_discarded": [2, 0],
        }
    )
    frame = plots.loss_frame(None, metrics)
    counts = dict(zip(frame["reason"].tolist(), frame["packets"].tolist(), strict=True))
    assert counts == {"handover": 5, "channel": 1, "unattributed": 2, "late": 2}


def test_delay_plot_draws_the_playout_delay(small_run: dict[str, Any]) -> None:
    """With playout times in the packets, each delay panel carries a playout-delay line."""
    packets = small_run["packets"]
    packets = packets.with_columns({"playout_s": packets["send_s"] + 0.2})
    figure = plots.delay_over_time(packets, small_run["metrics"])
    for panel in figure.panels:
        lines = [line for line in panel.of(Line) if line.label == "playout delay"]
        assert len(lines) == 1 and lines[0].step == "post"
        assert panel.limits("y")[1] >= 200.0


def test_mos_over_time_draws_worst_flows_band_and_handovers(small_run: dict[str, Any]) -> None:
    """The worst flow comes first, every flow feeds the band, and a handover is shaded."""
    windows = synthetic_windows(small_run["metrics"])
    assert timeline.worst_flows(windows)[0] == 0
    events = Columns(
        {
            "time_s": [4.0],
            "kind": ["handover"],
            "call": [0],
            "fields": [json.dumps({"kind": "wifi_to_lte", "media_end_s": 5.3})],
        }
    )
    chart = timeline.mos_over_time(windows, events)
    labels = [entry.label for entry in chart.entries()]
    assert "handover (to media back)" in labels
    assert any(label.startswith("all 6 flows") for label in labels)
    assert sum(label.startswith("call ") for label in labels) == timeline.MAX_WORST_FLOWS


def test_mos_band_spans_each_slot_from_lowest_to_highest_with_its_median() -> None:
    """Five flows of two 2 s windows: the band runs from each slot's lowest to its highest
    rated window MOS (an unrated window left out), the dashed line through its median."""
    mos = [[1.0, 3.0], [2.0, 3.5], [4.0, np.nan], [4.2, 2.0], [3.0, 4.0]]
    windows = Columns.from_records(
        [
            {
                "call": flow // 2,
                "flow": flow,
                "direction": "uplink",
                "start_s": 2.0 * k,
                "end_s": 2.0 * (k + 1),
                "mos": value,
            }
            for flow, pair in enumerate(mos)
            for k, value in enumerate(pair)
        ]
    )
    panel = timeline.mos_over_time(windows, Columns()).panels[0]
    (band,) = panel.of(Band)
    np.testing.assert_allclose(band.x, [0.0, 2.0, 4.0])
    np.testing.assert_allclose(band.low, [1.0, 2.0, 2.0])
    np.testing.assert_allclose(band.high, [4.2, 4.0, 4.0])
    (median,) = [line for line in panel.of(Line) if line.label == "all flows: median"]
    np.testing.assert_allclose(median.y, [3.0, 3.25, 3.25])


def test_mos_over_time_draws_thousands_of_handovers_and_rrc_changes_as_few_artists(
    small_run: dict[str, Any],
) -> None:
    """5,000 handovers and 20,000 RRC changes of one call draw as one bar per kind of span,
    and the RRC strip shows the state each slice of time was mostly in."""
    windows = synthetic_windows(small_run["metrics"])
    starts = np.linspace(0.0, 9.0, 5000)
    handovers = pd.DataFrame(
        {
            "time_s": starts,
            "kind": "handover",
            "call": 0,
            "fields": [json.dumps({"kind": "x2", "media_end_s": t + 0.001}) for t in starts],
        }
    )
    # 4 s of DRX cycles (0.1 ms connected, 0.3 ms short DRX), then connected, then idle.
    times = np.r_[np.arange(10_000) * 0.0004, np.arange(10_000) * 0.0004 + 0.0001]
    times.sort()
    states = ["short_drx", "connected"]
    rrc = pd.DataFrame(
        {
            "time_s": times,
            "kind": "rrc",
            "call": 0,
            "fields": [
                json.dumps({"from": states[k % 2], "to": states[(k + 1) % 2]})
                for k in range(times.size)
            ],
        }
    )
    last = pd.DataFrame(
        {
            "time_s": [4.0, 8.0],
            "kind": "rrc",
            "call": 0,
            "fields": ['{"to": "connected"}', '{"to": "idle"}'],
        }
    )
    events = columns(pd.concat([handovers, rrc, last], ignore_index=True))
    panel = timeline.mos_over_time(windows, events).panels[0]
    spans = panel.of(Spans)
    assert [s.label for s in spans].count("handover (to media back)") == 1
    rrc_bars = {s.label: s for s in spans if s.label.startswith("RRC ")}
    assert set(rrc_bars) == {
        "RRC connected (call 0)",
        "RRC short_drx (call 0)",
        "RRC idle (call 0)",
    }
    assert all(s.top == timeline.STRIP_HEIGHT for s in rrc_bars.values())
    assert sum(len(s.intervals) for s in spans) <= 8
    drx = rrc_bars["RRC short_drx (call 0)"].intervals[0]
    assert drx == pytest.approx((0.0, 4.0), abs=0.02)


def _queue_events(rate_bps: float | None, scheduling: str = "fifo") -> Columns:
    """A backhaul queue's stats and five 0.1 s samples per direction: the backlog grows by
    25 kB per sample (1 kB of it EF) and bulk traffic leaves at 125 kB per interval."""
    stats = {
        "segment": "backhaul",
        "rate_bps": rate_bps,
        "limit_bytes": 100_000,
        "limit_packets": None,
        "aqm": "droptail",
        "scheduling": scheduling,
        "cross_dropped": 1,
        "bulk_dropped": 3,
    }
    rows = []
    for direction in ("uplink", "downlink"):
        rows.append((10.0, "queue_stats", json.dumps({**stats, "direction": direction})))
        series = {
            "segment": "backhaul",
            "direction": direction,
            "interval_s": 0.1,
            "packets": [0] * 5,
            "bytes": [25_000 * j for j in range(5)],
            "bytes_by_class": [[1_000 * j, 0, 24_000 * j] for j in range(5)],
            "packets_by_class": [[5 * j, 0, 16 * j] for j in range(5)],
            "media_bytes": [1_000] * 5,
            "cross_bytes": [25_000] * 5,
            "bulk_bytes": [100_000] * 5,
        }
        rows.append((0.5, "queue_samples", json.dumps(series)))
    time_s, kind, fields = zip(*rows, strict=True)
    return Columns({"time_s": time_s, "kind": kind, "call": -1, "fields": fields})


def test_queue_figure_draws_backlog_as_delay_and_throughput_over_time() -> None:
    """At a constant 10 Mbit/s, 25 kB more per sample is 20 ms more queueing delay per sample,
    the 100 kB limit is 80 ms, and 125 kB per 100 ms of cross traffic is 10 Mbit/s."""
    events = _queue_events(10e6)
    fig = queues.queue_figure(queues.queue_samples(events), queues.queue_stats(events))
    assert fig.columns == 2
    occupancy, throughput = fig.panels[:2]
    line = occupancy.of(Line)[0]
    np.testing.assert_allclose(line.x, [0.1, 0.2, 0.3, 0.4, 0.5])
    np.testing.assert_allclose(line.y, [0.0, 20.0, 40.0, 60.0, 80.0])
    limits = [ln for ln in occupancy.of(RefLine) if ln.dash == "dashed"]
    assert limits and limits[0].value == pytest.approx(80.0)
    assert occupancy.y.label == "queueing delay (ms)"
    assert occupancy.limits("y")[0] == 0.0
    cross = throughput.of(Line)[0]
    np.testing.assert_allclose(cross.y[-5:], 10.0)
    assert cross.step == "pre"
    assert [ln.value for ln in throughput.of(RefLine)] == [pytest.approx(10.0)]  # the link rate
    title = throughput.title
    assert "uplink 4" in title and "downlink 4" in title  # cross and bulk packets dropped


def test_queue_figure_draws_the_ef_backlog_where_classes_are_served_apart() -> None:
    """With strict priority the EF class's own backlog is drawn too, per direction: 1 kB more
    per sample at 10 Mbit/s is 0.8 ms more per sample; a FIFO queue has no such line."""
    drawn = {}
    for scheduling in ("strict", "fifo"):
        events = _queue_events(10e6, scheduling)
        fig = queues.queue_figure(queues.queue_samples(events), queues.queue_stats(events))
        drawn[scheduling] = [ln for ln in fig.panels[0].of(Line) if ln.dash == "dashdot"]
        labels = [entry.label for entry in fig.entries()]
        assert ("EF backlog" in labels) == (scheduling == "strict")
    assert len(drawn["strict"]) == 2 and not drawn["fifo"]
    np.testing.assert_allclose(drawn["strict"][0].y, [0.0, 0.8, 1.6, 2.4, 3.2])


def test_queue_figure_draws_kilobytes_on_a_trace_driven_link() -> None:
    """Without a constant rate the backlog is drawn in kB, one row per queued segment."""
    events = _queue_events(None)
    fig = queues.queue_figure(queues.queue_samples(events), queues.queue_stats(events))
    occupancy = fig.panels[0]
    assert len(fig.panels) == 2
    assert occupancy.y.label == "backlog (KB)"
    np.testing.assert_allclose(occupancy.of(Line)[0].y, [0, 25, 50, 75, 100])


def test_queue_samples_are_drawn_not_listed(small_run: dict[str, Any]) -> None:
    """A report with queue samples has the queue figure, counts the samples among the events,
    and keeps them out of the event list."""
    events = _queue_events(10e6)
    html = render_report(
        scenario_yaml="name: queued\n",
        summary={"scenario": "queued"},
        metrics=small_run["metrics"],
        packets=small_run["packets"],
        events=events,
    )
    assert '<section id="queues">' in html
    listed = re.search(r'<section id="events">(.*?)</section>', html, re.S)
    assert listed is not None
    assert listed.group(1).count("queue_stats") >= 2  # listed
    assert listed.group(1).count("queue_samples") == 1  # in the counts only


def test_headline_says_how_many_flows_when_too_few_for_percentiles() -> None:
    """Null percentiles in the summary show as the number of flows, never as a made-up value."""
    metrics = Columns({"mos": [3.0, 4.0], "r_factor": [60.0, 80.0]})
    summary = {
        "r_scale_max": 100.0,
        "metrics": {
            "mos": {"n": 2, "mean": 3.5, "p5": None, "p50": None, "p95": None},
            "r_factor": {"n": 2, "mean": 70.0, "p5": None, "p50": None, "p95": None},
        },
    }
    items = {item.label: item for item in headline(summary, metrics)}
    assert items["MOS"].detail == "2 flows"
    assert items["R factor"].detail == "of 100 (G.107) · 2 flows"


def test_report_opens_with_the_verdict(small_run: dict[str, Any]) -> None:
    """The summary's verdict sentence is the first thing in the headline section."""
    sentence = "Quality is limited by late discards on the downlink: 6.1 % of packets arrived late."
    summary = {**small_run["summary"], "verdict": {"sentence": sentence}}
    html = render_report(**{**small_run, "summary": summary})
    section = re.search(r'<section id="headline">\s*<p class="verdict">(.*?)</p>', html, re.S)
    assert section is not None
    assert section.group(1) == sentence
