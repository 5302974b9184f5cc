"""Figures of a run: delay over time, MOS per flow, delay CDF and losses by reason and place.

Each function takes the run's tables (``voipbed.columns.Columns``) and
returns a ``reports.chart.Chart`` (drawn as SVG by ``reports.svg``). A run
can hold millions of packets: every function reduces the data first (a few
flows, min/max envelopes, quantiles, sums), so drawing time and drawing size
do not grow with the run.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from voipbed.columns import Columns

from .chart import (
    Axis,
    Bars,
    Chart,
    Line,
    Markers,
    Panel,
    RefLine,
    Text,
    array,
    categories,
    no_data,
    padded,
)

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

MAX_DELAY_FLOWS = 4
"""Flows shown in the delay-over-time figure (half worst, half best by MOS)."""
MAX_POINTS_PER_FLOW = 4000
"""Above this, a flow's delay is drawn as a min/max envelope of this many points."""
MAX_LOSS_TICKS = 2000
"""Above this, lost-packet ticks of a flow are thinned to every k-th one."""
CDF_POINTS = 1001
"""Quantiles drawn per CDF curve, whatever the number of packets."""
MANY_CALLS = 30
"""Above this many calls, MOS is drawn as sorted curves instead of bars."""

DIRECTION_COLORS = {"uplink": "#1f6fb4", "downlink": "#e07b00"}
OTHER_COLOR = "#555555"
LOST_COLOR = "#d62728"
PLAYOUT_COLOR = "#222222"
REFERENCE_COLOR = "#999999"
TOTAL_COLOR = "#262626"
LATE = "late"

# MOS at the R-factor user-satisfaction limits of ITU-T G.109 (R 90/80/70/60/50),
# mapped with the R-to-MOS formula of ITU-T G.107 Annex B.
SATISFACTION_MOS = (
    (4.34, "very satisfied"),
    (4.03, "satisfied"),
    (3.60, "some users dissatisfied"),
    (3.10, "many users dissatisfied"),
    (2.58, "nearly all dissatisfied"),
)


def direction_order(values: Sequence[str]) -> list[str]:
    """Return directions uplink first, downlink second, then any others sorted."""
    present = {str(v) for v in values}
    known = [d for d in ("uplink", "downlink") if d in present]
    return known + sorted(present - set(known))


def select_flows(
    packets: Columns, metrics: Columns | None, max_flows: int = MAX_DELAY_FLOWS
) -> list[int]:
    """Pick flows to plot: the worst and best by MOS when metrics exist, else the first ids.

    A flow with NaN MOS (nothing received) counts as the worst. Ties break on
    the flow id, so the choice is deterministic.
    """
    if max_flows < 1:
        raise ValueError(f"max_flows must be at least 1, got {max_flows}")
    if metrics is not None and len(metrics) and {"flow", "mos"} <= set(metrics.names):
        ranked = metrics.select(["flow", "mos"]).sort_by(["mos", "flow"], nan_first=True)
        flows = [int(f) for f in dict.fromkeys(ranked["flow"].tolist())]
        if len(flows) <= max_flows:
            return flows
        n_worst = math.ceil(max_flows / 2)
        n_best = max_flows - n_worst
        return flows[:n_worst] + (flows[-n_best:] if n_best else [])
    if len(packets) == 0:
        return []
    return [int(f) for f in np.unique(packets["flow"])[:max_flows]]


def minmax_envelope(
    x: FloatArray, y: FloatArray, max_points: int
) -> tuple[FloatArray, FloatArray, bool]:
    """Thin (x, y) to at most ``max_points`` by keeping each bin's min and max of y.

    Unlike striding, this keeps every spike visible. Returns the thinned
    arrays and whether anything was dropped.
    """
    n = len(y)
    if n <= max_points:
        return x, y, False
    n_bins = max(1, max_points // 2)
    chunk = math.ceil(n / n_bins)
    n_bins = math.ceil(n / chunk)
    pad = n_bins * chunk - n
    lows = np.concatenate([y, np.full(pad, np.inf)]).reshape(n_bins, chunk)
    highs = np.concatenate([y, np.full(pad, -np.inf)]).reshape(n_bins, chunk)
    base = np.arange(n_bins) * chunk
    keep = np.unique(np.concatenate([base + lows.argmin(axis=1), base + highs.argmax(axis=1)]))
    return x[keep], y[keep], True


def satisfaction_lines(*, named: bool) -> list[RefLine]:
    """Dotted lines at the G.109 satisfaction limits, with their names at the right if ``named``."""
    return [
        RefLine(mos, REFERENCE_COLOR, width=0.8, dash="dotted", text=name if named else "")
        for mos, name in SATISFACTION_MOS
    ]


def _first(rows: Columns, name: str, default: object = None) -> object:
    """Column ``name``'s value in the first row, as a Python value; ``default`` when there is no
    such column or no row."""
    values = rows.get(name)
    return values[:1].tolist()[0] if values is not None and len(values) else default


def _flow_label(flow: int, rows: Columns, metrics: Columns | None) -> str:
    call = _first(rows, "call")
    direction = _first(rows, "direction")
    mos = math.nan
    if metrics is not None and "flow" in metrics:
        match = metrics.take(metrics["flow"] == flow)
        if len(match):
            call = _first(match, "call", call)
            direction = _first(match, "direction", direction)
            mos = float(_first(match, "mos", math.nan))  # type: ignore[arg-type]
    parts = [f"call {call}" if call is not None else None, str(direction or ""), f"flow {flow}"]
    if metrics is not None:
        parts.append(f"MOS {mos:.2f}" if math.isfinite(mos) else "MOS n/a")
    return " · ".join(p for p in parts if p)


def delay_over_time(
    packets: Columns,
    metrics: Columns | None = None,
    *,
    max_flows: int = MAX_DELAY_FLOWS,
    max_points: int = MAX_POINTS_PER_FLOW,
) -> Chart:
    """One-way network delay (ms) against send time for a few flows, lost packets as red ticks.

    One panel per flow, sharing the time axis. Flows come from ``select_flows``.
    With a ``playout_s`` column (the jitter buffer's playout time of each
    received packet), the playout delay (playout minus send time) is drawn as
    a line: packets above it arrived too late to be played.
    """
    flows = select_flows(packets, metrics, max_flows)
    if not flows:
        return no_data("no packets")
    worst_best = metrics is not None and len(flows) > 1
    wanted = ["flow", "call", "direction", "send_s", "recv_s", "playout_s"]
    subset = packets.take(np.isin(packets["flow"], flows)).select(
        [c for c in wanted if c in packets]
    )
    groups = subset.group_by("flow")
    empty = subset.head(0)
    time_s = padded([subset["send_s"].astype(np.float64)])
    panels = []
    for flow in flows:
        rows = groups.get(flow, empty)
        panel = _delay_panel(rows, _flow_label(flow, rows, metrics), max_points)
        panel.x.low, panel.x.high = time_s or (None, None)
        panel.x.tick_labels = False
        panels.append(panel)
    panels[-1].x.label = "send time (s)"
    panels[-1].x.tick_labels = True
    title = "One-way network delay over time"
    return Chart(panels, title=title + (" (worst and best flows by MOS)" if worst_best else ""))


def _delay_panel(rows: Columns, label: str, max_points: int) -> Panel:
    panel = Panel(
        title=label,
        title_align="left",
        x=Axis(grid=True),
        y=Axis("delay (ms)", grid=True, tick_count=4),
        legend="upper right",
        height=150.0,
    )
    if len(rows) == 0:
        panel.message = "no packets"
        return panel
    send = rows["send_s"].astype(np.float64)
    recv = rows["recv_s"].astype(np.float64)
    ok = ~np.isnan(recv)
    order = np.argsort(send[ok], kind="stable")
    x = send[ok][order]
    y = (recv[ok][order] - x) * 1000.0
    px, py, thinned = minmax_envelope(x, y, max_points)
    direction = str(_first(rows, "direction"))
    color = DIRECTION_COLORS.get(direction, OTHER_COLOR)
    note = ", min/max envelope" if thinned else ""
    panel.add(Markers(px, py, color, "dot", 3.3, f"received ({len(x):,}{note})"))
    top = float(py.max()) if len(py) else 0.0
    if "playout_s" in rows:
        playout = (rows["playout_s"].astype(np.float64)[ok][order] - x) * 1000.0
        qx, qy, _ = minmax_envelope(x, playout, max_points)
        if len(qy) and np.isfinite(qy).any():
            panel.add(Line(qx, qy, PLAYOUT_COLOR, 1.6, step="post", label="playout delay"))
            top = max(top, float(np.nanmax(qy)))
    lost = np.sort(send[~ok])
    if len(lost):
        step = math.ceil(len(lost) / MAX_LOSS_TICKS)
        shown = lost[::step]
        text = f"lost ({len(lost):,})" + (f", every {step}th shown" if step > 1 else "")
        at = np.full(len(shown), 0.04)  # near the bottom, as a fraction of the panel's height
        panel.add(Markers(shown, at, LOST_COLOR, "tick", 12.0, text, y_in_axes=True))
    if len(x):
        panel.y.low, panel.y.high = 0.0, max(top * 1.08, 1.0)
    else:
        panel.add(
            Text(0.5, 0.5, "no packets received", "#666666", 12.0, "middle", "middle", in_axes=True)
        )
        panel.y.ticks = []
    return panel


def mos_per_flow(metrics: Columns, *, many_calls: int = MANY_CALLS) -> Chart:
    """MOS of every flow: bars per call and direction, or sorted curves for many calls.

    Flows with NaN MOS (nothing received) are marked with a cross on small runs
    and counted in the legend on large ones.
    """
    if len(metrics) == 0 or not {"call", "direction", "mos"} <= set(metrics.names):
        return no_data("no flow metrics", height=300.0)
    directions = direction_order(metrics["direction"].astype(str).tolist())
    # Bars from 0, so a flow at MOS 1 (the floor) still shows.
    panel = Panel(y=Axis("MOS (E-model, 1 to 4.5)", low=0.0, high=4.7), height=300.0)
    panel.add(*satisfaction_lines(named=True))
    if np.unique(metrics["call"]).size <= many_calls:
        _mos_bars(panel, metrics, directions)
    else:
        _mos_sorted(panel, metrics, directions)
    return Chart([panel], legend="bottom")


def _mos_bars(panel: Panel, metrics: Columns, directions: list[str]) -> None:
    calls = np.unique(metrics["call"])
    positions = np.arange(len(calls), dtype=np.float64)
    width = 0.8 / len(directions)
    direction_text = metrics["direction"].astype(str)
    for i, direction in enumerate(directions):
        rows = metrics.take(direction_text == direction)
        # The worst flow stands for the call if one call has several in one direction
        # (fmin: a flow with NaN MOS counts only if the call has no other).
        mos = np.full(len(calls), np.nan)
        np.fmin.at(mos, np.searchsorted(calls, rows["call"]), rows["mos"].astype(np.float64))
        missing = np.isnan(mos) & np.isin(calls, rows["call"])
        x = positions - 0.4 + width * (i + 0.5)
        color = DIRECTION_COLORS.get(direction, OTHER_COLOR)
        panel.add(Bars(x, np.nan_to_num(mos, nan=0.0), color, width * 0.92, label=direction))
        if missing.any():
            marks = np.full(int(missing.sum()), 1.12)
            label = f"{direction}: nothing received"
            panel.add(Markers(x[missing], marks, LOST_COLOR, "cross", 9.0, label))
    panel.x = Axis("call", low=-0.5, high=len(calls) - 0.5)
    panel.x.ticks = categories(str(c) for c in calls)
    panel.x.tick_size = 9.0 if len(calls) > 15 else 11.0
    panel.title = "MOS per call and direction"


def _mos_sorted(panel: Panel, metrics: Columns, directions: list[str]) -> None:
    direction_text = metrics["direction"].astype(str)
    for direction in directions:
        values = metrics["mos"][direction_text == direction].astype(np.float64)
        finite = np.sort(values[np.isfinite(values)])
        n_missing = len(values) - len(finite)
        label = f"{direction} ({len(finite):,} flows"
        label += f"; {n_missing:,} received nothing, not drawn)" if n_missing else ")"
        if len(finite) == 0:
            continue
        share = (np.arange(len(finite)) + 0.5) / len(finite) * 100.0
        if len(finite) > CDF_POINTS:
            probs = np.linspace(0.0, 1.0, CDF_POINTS)
            finite, share = np.quantile(finite, probs), probs * 100.0
        color = DIRECTION_COLORS.get(direction, OTHER_COLOR)
        panel.add(Line(share, finite, color, 2.4, label=label))
    panel.x = Axis("flows sorted by MOS, worst first (% of flows)", low=0.0, high=100.0)
    panel.title = "MOS per flow, sorted"


def delay_cdf(packets: Columns, *, n_points: int = CDF_POINTS) -> Chart:
    """CDF of one-way network delay (ms) over all received packets, per direction.

    Each curve is ``n_points`` quantiles, so millions of packets draw as fast as a few.
    """
    if len(packets) == 0:
        return no_data("no packets", height=300.0)
    delay_ms = (packets["recv_s"].astype(np.float64) - packets["send_s"].astype(np.float64)) * 1e3
    received = ~np.isnan(delay_ms)
    if not received.any():
        return no_data("no packets received", height=300.0)
    probs = np.linspace(0.0, 1.0, n_points)
    curves: list[tuple[str, FloatArray, str, bool]] = []
    for name, rows in _direction_rows(packets["direction"]):
        values = delay_ms[received & rows]
        if len(values):
            curves.append((name, values, DIRECTION_COLORS.get(name, OTHER_COLOR), False))
    # Drawn last so the dashes stay visible where directions coincide with the total.
    curves.append(("all", delay_ms[received], TOTAL_COLOR, True))
    panel = Panel(
        title="Delay CDF over all received packets",
        x=Axis("one-way network delay (ms)", grid=True, tick_count=8),
        y=Axis("fraction of received packets", low=0.0, high=1.0, grid=True),
        legend="lower right",
        height=300.0,
    )
    for name, values, color, dashed in curves:
        q = np.quantile(values, probs)
        p95, p99 = np.quantile(values, [0.95, 0.99])
        label = f"{name} ({len(values):,} pkts; p95 {p95:.1f} ms, p99 {p99:.1f} ms)"
        panel.add(Line(array(q), probs, color, 2.1, "dashed" if dashed else "solid", label=label))
    return Chart([panel])


REASON_ORDER = ("handover", "channel", "harq", "queue", "aqm", "unattributed", LATE)
"""Loss reasons in the order the loss figure lists them; late discards last."""


def loss_frame(records: object, metrics: Columns) -> Columns:
    """Packets not played by direction, segment and reason.

    From ``summary["losses"]`` records (``direction``, ``segment``,
    ``reason``, ``packets``) when given, else from the metrics' ``lost_by_*``
    counts (no segment) and ``late_discarded``; losses without a reason show
    as ``unattributed``. Only rows with ``packets`` > 0 are kept.
    """
    if isinstance(records, list):
        return _loss_table(
            [
                (r.get("direction"), r.get("segment"), r.get("reason"), int(r.get("packets", 0)))
                for r in records
            ]
        )
    if len(metrics) == 0 or "direction" not in metrics:
        return _loss_table([])
    rows: list[tuple[object, object, object, int]] = []
    reasons = [c for c in metrics.names if c.startswith("lost_by_")]
    for direction, group in metrics.group_by("direction").items():
        counts = {c.removeprefix("lost_by_"): int(group[c].sum()) for c in reasons}
        if "lost" in group:
            counts["unattributed"] = int(group["lost"].sum()) - sum(counts.values())
        if "late_discarded" in group:
            counts[LATE] = int(group["late_discarded"].sum())
        rows += [(str(direction), None, reason, n) for reason, n in counts.items()]
    return _loss_table(rows)


def _loss_table(rows: list[tuple[object, object, object, int]]) -> Columns:
    """``direction``, ``segment``, ``reason`` and ``packets`` of the rows with packets > 0."""
    kept = [row for row in rows if row[3] > 0]
    texts = {
        name: np.array([row[k] for row in kept], dtype=object)
        for k, name in enumerate(("direction", "segment", "reason"))
    }
    return Columns({**texts, "packets": np.array([row[3] for row in kept], dtype=np.int64)})


def losses_by_reason(losses: Columns, metrics: Columns) -> Chart:
    """Packets not played, % of those sent per direction, by reason and the segment that lost them.

    One bar group per (reason, segment) from ``loss_frame``: handovers,
    channel, HARQ, queue and AQM losses at their segment, and late discards at
    the jitter buffer, in ``REASON_ORDER`` (ties by name); bars per direction,
    labelled with packet counts.
    """
    if len(metrics) == 0 or not {"direction", "sent"} <= set(metrics.names):
        return no_data("no flow metrics", height=260.0)
    if len(losses) == 0:
        return no_data("no packets lost or discarded late", height=260.0)
    sent = {
        str(direction): int(rows["sent"].sum())
        for direction, rows in metrics.group_by("direction").items()
    }
    reasons, segments = losses["reason"].tolist(), losses["segment"].tolist()
    places = [
        "late\n(jitter buffer)" if r == LATE else f"{r}\n({s})" if isinstance(s, str) else str(r)
        for r, s in zip(reasons, segments, strict=True)
    ]
    rank: dict[str, int] = {}
    for place, reason in zip(places, reasons, strict=True):
        order = REASON_ORDER.index(reason) if reason in REASON_ORDER else len(REASON_ORDER)
        rank[place] = min(rank.get(place, order), order)
    wheres = sorted(sorted(rank), key=rank.__getitem__)
    directions = direction_order([str(d) for d in losses["direction"].tolist()])
    packets = {d: np.zeros(len(wheres), dtype=np.int64) for d in directions}
    for place, direction, n in zip(
        places, losses["direction"].tolist(), losses["packets"].tolist(), strict=True
    ):
        packets[str(direction)][wheres.index(place)] += n
    positions = np.arange(len(wheres), dtype=np.float64)
    width = 0.8 / len(directions)
    panel = Panel(
        title="Packets not played, by reason and place (bar labels: packets)",
        x=Axis("reason (where)", low=-0.5, high=len(positions) - 0.5, tick_size=11.0),
        y=Axis("% of sent packets", low=0.0, margin=0.15, grid=True, tick_count=5),
        legend="upper right",
        height=240.0,
    )
    panel.x.ticks = categories(wheres)
    for i, direction in enumerate(directions):
        counts = packets[direction].astype(np.float64)
        total = float(sent.get(direction, 0))
        share = counts / total * 100.0 if total > 0 else np.zeros_like(counts)
        bars = Bars(
            positions - 0.4 + width * (i + 0.5),
            share,
            DIRECTION_COLORS.get(direction, OTHER_COLOR),
            width * 0.92,
            label=direction,
            texts=[f"{int(c):,}" for c in counts],
        )
        panel.add(bars)
    return Chart([panel])


def _direction_rows(direction: npt.NDArray[Any]) -> list[tuple[str, npt.NDArray[np.bool_]]]:
    """Each direction in ``direction`` (a packet's) and its rows, in ``direction_order``.

    Compares the column with "uplink" and "downlink" first, and looks for other
    names only among the rows neither matched: a run has millions of packets.
    """
    rows: dict[str, npt.NDArray[np.bool_]] = {}
    rest = np.ones(len(direction), dtype=np.bool_)
    for name in ("uplink", "downlink"):
        matched = direction == name
        rows[name] = matched
        rest &= ~matched
    for value in set(direction[rest].tolist()):
        rows[str(value)] = direction == value
    return [(name, rows[name]) for name in direction_order(list(rows)) if rows[name].any()]
