"""The target and sent bit rate figure: its chart model, and its place in the run report."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

from tests.unit.adaptive_trace import PTIME_S, packets, scenario
from voipbed.columns import Columns
from voipbed.reports import rate, render_report
from voipbed.reports.chart import Line, Panel
from voipbed.scenario import Scenario
from voipbed.scoring import Scores, score_run, summarize
from voipbed.send_rates import RATE_BIN_S

STEPS = "[{name: radio, capacity_steps: [{at: 0s, capacity: 120kbps}, {at: 4s, capacity: 60kbps}]}]"
MODES = ["AMR-WB-23.85"] * 120 + ["AMR-WB-12.65"] * 130  # 5 s of packets
TARGETS = [30_000.0, 31_000.0, 20_000.0, 21_000.0]  # one per flow


def adaptive_run() -> tuple[pa.Table, Scenario, Scores]:
    """Two GCC calls over a link whose capacity steps down, hand-made packets."""
    run = scenario("AMR-WB-23.85", gcc=True, count=2, path=STEPS)
    table = packets([MODES] * 4, targets=TARGETS)
    return table, run, score_run(table, run)


def lines(panel: Panel) -> dict[str, Line]:
    """The panel's lines by legend label."""
    return {line.label: line for line in panel.of(Line)}


def test_the_figure_draws_target_sent_and_capacity_per_direction() -> None:
    """One panel per direction, with a point per 1 s bin for target and sent, and the
    capacity per flow as steps to the run's end."""
    table, run, scores = adaptive_run()
    chart = rate.target_and_sent(scores.rates, rate.flow_capacity(run))
    assert [panel.title for panel in chart.panels] == ["uplink", "downlink"]
    send_s = table.column("send_s").to_numpy()
    flow = table.column("flow").to_numpy()
    for direction, panel in enumerate(chart.panels):
        mine = send_s[flow % 2 == direction]
        bins = math.floor(mine.max() / RATE_BIN_S) - math.floor(mine.min() / RATE_BIN_S) + 1
        drawn = lines(panel)
        assert drawn["target"].x.size == drawn["sent"].x.size == bins
        expected_target = np.mean(TARGETS[direction::2]) / 1e3
        assert np.allclose(drawn["target"].y, expected_target)
        capacity = drawn["capacity share"]
        assert list(capacity.x) == [0.0, 4.0, run.duration_s]
        assert np.allclose(capacity.y, [60.0, 30.0, 30.0])  # kbit/s over 2 calls


def test_the_sent_rate_follows_the_mode() -> None:
    """The sent rate of each bin is the IP bits of its packets over their audio time."""
    table, _, scores = adaptive_run()
    sent = lines(rate.target_and_sent(scores.rates).panels[0])["sent"].y * 1e3
    wire = table.column("wire_bytes").to_numpy()
    first, last = wire[0], wire[len(MODES) - 1]
    assert sent[0] == 8.0 * first / PTIME_S and sent[-1] == 8.0 * last / PTIME_S
    assert sent[0] > sent[-1]


def test_no_capacity_line_without_a_set_capacity() -> None:
    """A path without capacity or capacity_steps draws no capacity line."""
    _, _, scores = adaptive_run()
    unlimited = scenario("AMR-WB-23.85", gcc=True, count=2)
    chart = rate.target_and_sent(scores.rates, rate.flow_capacity(unlimited))
    assert all("capacity share" not in lines(panel) for panel in chart.panels)


def report_of(table: pa.Table, run: Scenario, scores: Scores) -> str:
    """The run report of a scored table."""
    summary = summarize(scores.metrics, {"scenario": run.name}, losses=scores.losses)
    columns = ["call", "flow", "direction", "send_s", "recv_s"]
    return render_report(
        scenario_yaml="name: adaptive-test\n",
        summary=summary,
        metrics=scores.metrics,
        packets=Columns.from_arrow(table.select(columns)),
        events=Columns({"time_s": [], "kind": [], "call": [], "fields": []}),
        windows=scores.windows,
        rates=scores.rates,
        scenario=run,
    )


def test_the_report_has_the_figure_only_with_rate_control() -> None:
    """The run report shows the figure for a rate-controlled run and not for a fixed rate."""
    adaptive = report_of(*adaptive_run())
    assert '<section id="rates">' in adaptive and "divided by the 2 calls" in adaptive
    fixed_run = scenario("AMR-WB-23.85", gcc=False, count=2, path=STEPS)
    fixed_table = packets([["AMR-WB-23.85"] * 250] * 4)
    fixed = report_of(fixed_table, fixed_run, score_run(fixed_table, fixed_run))
    assert '<section id="rates">' not in fixed and "<figure>" in fixed
