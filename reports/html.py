"""The self-contained HTML report of a run: one file, no external URLs, figures as inline SVG."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from voipbed.columns import Columns
from voipbed.scenario import Scenario

from . import alerts, ladder, plots, queues, rate, signalling, svg, tables, timeline
from .chart import Chart

logger = logging.getLogger(__name__)

REPORT_NAME = "report.html"
TEMPLATE = "report.html.j2"


@dataclass(frozen=True)
class Plot:
    """One embedded figure: anchor id, heading, SVG markup and a caption."""

    anchor: str
    title: str
    svg: Markup
    caption: str


def make_plot(anchor: str, title: str, chart: Chart, caption: str) -> Plot:
    """A ``Plot`` of ``chart`` drawn as SVG; the markup is marked safe because ``svg.render``
    escapes every text it writes."""
    started = time.perf_counter()
    markup = Markup(svg.render(chart, title=title, id_prefix=anchor))
    logger.debug("plot %s: %.3f s, %d bytes", anchor, time.perf_counter() - started, len(markup))
    return Plot(anchor, title, markup, caption)


def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _plots(
    packets: Columns,
    metrics: Columns,
    windows: Columns | None,
    events: Columns,
    summary: Mapping[str, Any],
    rates: Columns | None = None,
    scenario: Scenario | None = None,
) -> list[Plot]:
    specs: list[tuple[str, str, Callable[[], Chart], str]] = [
        (
            "mos",
            "MOS per flow",
            lambda: plots.mos_per_flow(metrics),
            "E-model MOS of each flow (ITU-T G.107 Annex B, 1 to 4.5), bars from 0. "
            "Dotted lines: ITU-T G.109 user-satisfaction limits.",
        ),
    ]
    if windows is not None:
        specs.append(
            (
                "mos-time",
                "MOS over time",
                lambda: timeline.mos_over_time(windows, events),
                "E-model MOS of consecutive windows of each flow (an instantaneous rating, as "
                "monitoring tools plot it; G.107 itself rates whole calls). Lines: the flows with "
                "the lowest window; grey: the range of all flows. Brown spans: handovers of the "
                "drawn calls, from their start until media flows again. Bottom strip: the RRC "
                "state of the worst call.",
            )
        )
    specs += [
        (
            "losses",
            "Losses by reason",
            lambda: plots.losses_by_reason(
                plots.loss_frame(summary.get("losses"), metrics), metrics
            ),
            "Packets not played, as a share of the packets sent in each direction: lost in the "
            "network by reason (handover, channel, HARQ, full queue, AQM) and the segment that "
            "lost them, and discarded late by the jitter buffer.",
        ),
        (
            "delay-time",
            "Delay over time",
            lambda: plots.delay_over_time(packets, metrics),
            "One-way network delay (receive minus send time) of the worst and best flows by "
            "MOS. Black line: the jitter buffer's playout delay (playout minus send time); "
            "packets above it arrived too late to be played. Red ticks at the bottom mark "
            "packets lost in the network, at their send time.",
        ),
        (
            "delay-cdf",
            "Delay distribution",
            lambda: plots.delay_cdf(packets),
            "Cumulative distribution of one-way network delay over every received packet "
            "(lost packets excluded).",
        ),
    ]
    if rates is not None and len(rates):
        capacity = rate.flow_capacity(scenario) if scenario is not None else {}
        specs.append(
            (
                "rates",
                "Target and sent bitrate",
                lambda: rate.target_and_sent(rates, capacity),
                rate.caption(scenario),
            )
        )
    samples = queues.queue_samples(events)
    if len(samples):
        stats = queues.queue_stats(events)
        specs.append(
            (
                "queues",
                "Queues",
                lambda: queues.queue_figure(samples, stats),
                "One row per queued segment (a queue limit, an AQM, DSCP scheduling or cross "
                "traffic), sampled at fixed instants (queue_samples events). Left: what waits in "
                "the queue, both directions, as the queueing delay it makes at the link's rate "
                "where the rate is constant (else in packets or KB); dashed: the queue's limit; "
                "dash-dotted, where DSCP classes are served apart: the EF class's own backlog. "
                "Right: what leaves the link per sampling interval: cross traffic (constant-rate, "
                "on/off and bulk flows together), and dotted the calls' media; dashed grey: the "
                "link rate.",
            )
        )
    return [make_plot(anchor, title, make(), caption) for anchor, title, make, caption in specs]


def render_report(
    *,
    scenario_yaml: str,
    summary: Mapping[str, Any],
    metrics: Columns,
    packets: Columns,
    events: Columns,
    windows: Columns | None = None,
    rates: Columns | None = None,
    scenario: Scenario | None = None,
) -> str:
    """Return the run's report as one self-contained HTML document.

    The tables are ``voipbed.columns.Columns``: ``packets`` has one row per
    media packet (``recv_s`` NaN when lost), ``metrics`` one row per flow,
    ``events`` one row per event and may be empty; ``summary`` is the
    run's JSON summary (its ``metrics`` statistics feed the headline, its
    ``verdict`` the sentence at the top and its ``losses`` the loss figure,
    when present). With a ``playout_s`` column in ``packets`` the delay plot
    draws the jitter buffer's playout delay; ``windows`` (``Scores.windows``)
    adds the MOS-over-time figure, and ``rates`` (``Scores.rates``, rows only when the
    senders adapted their rate) the target and sent bit rate figure, with each
    flow's share of the capacity ``scenario`` sets. All text is escaped;
    figures are inline SVG; the flow table lists at most
    ``tables.MAX_FLOW_ROWS`` flows (the worst by MOS) and says so.
    """
    started = time.perf_counter()
    event_counts, _ = tables.event_tables(events)
    _, event_list = tables.event_tables(queues.without_samples(events))  # drawn, not listed
    html = (
        environment()
        .get_template(TEMPLATE)
        .render(
            scenario=str(summary.get("scenario", "unnamed scenario")),
            run_id=str(summary.get("run_id", "")),
            verdict=tables.verdict_text(summary, metrics),
            headline=tables.headline(summary, metrics),
            scenario_yaml=scenario_yaml,
            flows=tables.flow_table(metrics),
            stats=tables.summary_table(summary),
            bandwidth=tables.bandwidth_table(summary),
            alerts=alerts.alerts_table(events),
            setup=signalling.setup_table(summary),
            ladders=ladder.call_ladders(events),
            phones=signalling.phones_table(summary),
            plots=_plots(packets, metrics, windows, events, summary, rates, scenario),
            event_counts=event_counts,
            event_list=event_list,
            facts=tables.run_facts(summary, len(packets), len(events)),
        )
    )
    logger.info(
        "rendered report: %d flows, %d packets, %d bytes in %.2f s",
        len(metrics),
        len(packets),
        len(html),
        time.perf_counter() - started,
    )
    return html


def write_report(
    run_dir: Path,
    *,
    scenario_yaml: str,
    summary: Mapping[str, Any],
    metrics: Columns,
    packets: Columns,
    events: Columns,
    windows: Columns | None = None,
    rates: Columns | None = None,
    scenario: Scenario | None = None,
) -> Path:
    """Render the report and write it to ``run_dir / "report.html"`` (UTF-8); return the path."""
    path = Path(run_dir) / REPORT_NAME
    html = render_report(
        scenario_yaml=scenario_yaml,
        summary=summary,
        metrics=metrics,
        packets=packets,
        events=events,
        windows=windows,
        rates=rates,
        scenario=scenario,
    )
    path.write_text(html, encoding="utf-8")
    return path
