"""Figures of a run: delay over time, MOS per flow, delay CDF and losses by reason and place.

Each function takes the run's DataFrames and returns a ``reports.chart.Chart``
(drawn as SVG by ``reports.svg``). A run can hold millions of packets: every
function reduces the data first (a few flows, min/max envelopes, quantiles,
sums), so drawing time and drawing size do not grow with the run.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

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
    packets: pd.DataFrame, metrics: pd.DataFrame | None, max_flows: int = MAX_DELAY_FLOWS
) -> list[int]:
    """Pick flows to plot: the worst and best by MOS when metrics exist, else the first ids.

    A flow with NaN MOS (nothing received) counts as the worst. Ties break on
    the flow id, so the choice is deterministic.
    """
    if max_flows < 1:
        raise ValueError(f"max_flows must be at least 1, got {max_flows}")
    if metrics is not None and not metrics.empty and {"flow", "mos"} <= set(metrics.columns):
        ranked = metrics[["flow", "mos"]].sort_values(
            ["mos", "flow"], na_position="first", kind="stable"
        )
        flows = [int(f) for f in ranked["flow"].drop_duplicates()]
        if len(flows) <= max_flows:
            return flows
        n_worst = math.ceil(max_flows / 2)
        n_best = max_flows - n_worst
        return flows[:n_worst] + (flows[-n_best:] if n_best else [])
    if packets.empty:
        return []
    return [int(f) for f in np.sort(pd.unique(packets["flow"].to_numpy()))[:max_flows]]


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


def _flow_label(flow: int, rows: pd.DataFrame, metrics: pd.DataFrame | None) -> str:
    call: object = rows["call"].iloc[0] if not rows.empty else None
    direction: object = rows["direction"].iloc[0] if not rows.empty else None
    mos = math.nan
    if metrics is not None and "flow" in metrics.columns:
        match = metrics.loc[metrics["flow"] == flow]
        if not match.empty:
            call = match["call"].iloc[0] if "call" in match.columns else call
            direction = match["direction"].iloc[0] if "direction" in match.columns else direction
            mos = float(match["mos"].iloc[0]) if "mos" in match.columns else math.nan
    parts = [f"call {call}" if call is not None else None, str(direction or ""), f"flow {flow}"]
    if metrics is not None:
        parts.append(f"MOS {mos:.2f}" if math.isfinite(mos) else "MOS n/a")
    return " · ".join(p for p in parts if p)


def delay_over_time(
    packets: pd.DataFrame,
    metrics: pd.DataFrame | None = None,
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
    subset = packets.loc[packets["flow"].isin(flows), [c for c in wanted if c in packets.columns]]
    groups = dict(iter(subset.groupby("flow", sort=False)))
    empty = subset.iloc[:0]
    time_s = padded([subset["send_s"].to_numpy(dtype=np.float64)])
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


def _delay_panel(rows: pd.DataFrame, label: str, max_points: int) -> Panel:
    panel = Panel(
        title=label,
        title_align="left",
        x=Axis(grid=True),
        y=Axis("delay (ms)", grid=True, tick_count=4),
        legend="upper right",
        height=150.0,
    )
    if rows.empty:
        panel.message = "no packets"
        return panel
    send = rows["send_s"].to_numpy(dtype=np.float64)
    recv = rows["recv_s"].to_numpy(dtype=np.float64)
    ok = ~np.isnan(recv)
    order = np.argsort(send[ok], kind="stable")
    x = send[ok][order]
    y = (recv[ok][order] - x) * 1000.0
    px, py, thinned = minmax_envelope(x, y, max_points)
    direction = str(rows["direction"].iloc[0])
    color = DIRECTION_COLORS.get(direction, OTHER_COLOR)
    note = ", min/max envelope" if thinned else ""
    panel.add(Markers(px, py, color, "dot", 3.3, f"received ({len(x):,}{note})"))
    top = float(py.max()) if len(py) else 0.0
    if "playout_s" in rows.columns:
        playout = (rows["playout_s"].to_numpy(dtype=np.float64)[ok][order] - x) * 1000.0
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


def mos_per_flow(metrics: pd.DataFrame, *, many_calls: int = MANY_CALLS) -> Chart:
    """MOS of every flow: bars per call and direction, or sorted curves for many calls.

    Flows with NaN MOS (nothing received) are marked with a cross on small runs
    and counted in the legend on large ones.
    """
    if metrics.empty or not {"call", "direction", "mos"} <= set(metrics.columns):
        return no_data("no flow metrics", height=300.0)
    directions = direction_order(metrics["direction"].astype(str).unique().tolist())
    # Bars from 0, so a flow at MOS 1 (the floor) still shows.
    panel = Panel(y=Axis("MOS (E-model, 1 to 4.5)", low=0.0, high=4.7), height=300.0)
    panel.add(*satisfaction_lines(named=True))
    if metrics["call"].nunique() <= many_calls:
        _mos_bars(panel, metrics, directions)
    else:
        _mos_sorted(panel, metrics, directions)
    return Chart([panel], legend="bottom")


def _mos_bars(panel: Panel, metrics: pd.DataFrame, directions: list[str]) -> None:
    calls = np.sort(metrics["call"].unique())
    positions = np.arange(len(calls), dtype=np.float64)
    width = 0.8 / len(directions)
    direction_text = metrics["direction"].astype(str)
    for i, direction in enumerate(directions):
        rows = metrics.loc[direction_text == direction]
        # The worst flow stands for the call if one call has several in one direction.
        mos = rows.groupby("call")["mos"].min().reindex(calls).to_numpy(dtype=np.float64)
        missing = np.isnan(mos) & np.isin(calls, rows["call"].to_numpy())
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


def _mos_sorted(panel: Panel, metrics: pd.DataFrame, directions: list[str]) -> None:
    direction_text = metrics["direction"].astype(str)
    for direction in directions:
        values = metrics.loc[direction_text == direction, "mos"].to_numpy(dtype=np.float64)
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


def delay_cdf(packets: pd.DataFrame, *, n_points: int = CDF_POINTS) -> Chart:
    """CDF of one-way network delay (ms) over all received packets, per direction.

    Each curve is ``n_points`` quantiles, so millions of packets draw as fast as a few.
    """
    if packets.empty:
        return no_data("no packets", height=300.0)
    delay_ms = (
        packets["recv_s"].to_numpy(dtype=np.float64) - packets["send_s"].to_numpy(dtype=np.float64)
    ) * 1000.0
    received = ~np.isnan(delay_ms)
    if not received.any():
        return no_data("no packets received", height=300.0)
    direction = packets["direction"].astype("category")
    codes = direction.cat.codes.to_numpy()
    names = [str(c) for c in direction.cat.categories]
    probs = np.linspace(0.0, 1.0, n_points)
    curves: list[tuple[str, FloatArray, str, bool]] = []
    for name in direction_order(names):
        values = delay_ms[received & (codes == names.index(name))]
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


def loss_frame(records: object, metrics: pd.DataFrame) -> pd.DataFrame:
    """Packets not played by direction, segment and reason.

    From ``summary["losses"]`` records (``direction``, ``segment``,
    ``reason``, ``packets``) when given, else from the metrics' ``lost_by_*``
    counts (no segment) and ``late_discarded``; losses without a reason show
    as ``unattributed``.
    """
    columns = ["direction", "segment", "reason", "packets"]
    if isinstance(records, list):
        frame = pd.DataFrame(records, columns=columns)
        return frame[frame["packets"] > 0].reset_index(drop=True)
    if metrics.empty or "direction" not in metrics.columns:
        return pd.DataFrame(columns=columns)
    by_direction = metrics.groupby(metrics["direction"].astype(str))
    rows: list[dict[str, object]] = []
    reasons = [c for c in metrics.columns if str(c).startswith("lost_by_")]
    for direction, group in by_direction:
        counts = {str(c).removeprefix("lost_by_"): int(group[c].sum()) for c in reasons}
        if "lost" in group.columns:
            counts["unattributed"] = int(group["lost"].sum()) - sum(counts.values())
        if "late_discarded" in group.columns:
            counts[LATE] = int(group["late_discarded"].sum())
        rows += [
            {"direction": direction, "segment": None, "reason": reason, "packets": n}
            for reason, n in counts.items()
        ]
    frame = pd.DataFrame(rows, columns=columns)
    return frame[frame["packets"] > 0].reset_index(drop=True)


def losses_by_reason(losses: pd.DataFrame, metrics: pd.DataFrame) -> Chart:
    """Packets not played, % of those sent per direction, by reason and the segment that lost them.

    One bar group per (reason, segment) from ``loss_frame``: handovers,
    channel, HARQ, queue and AQM losses at their segment, and late discards at
    the jitter buffer; bars per direction, labelled with packet counts.
    """
    if metrics.empty or not {"direction", "sent"} <= set(metrics.columns):
        return no_data("no flow metrics", height=260.0)
    if losses.empty:
        return no_data("no packets lost or discarded late", height=260.0)
    sent = metrics.groupby(metrics["direction"].astype(str))["sent"].sum()
    places = losses.assign(
        where=[
            "late\n(jitter buffer)" if r == LATE else f"{r}\n({s})" if isinstance(s, str) else r
            for r, s in zip(losses["reason"], losses["segment"], strict=True)
        ],
        rank=[
            REASON_ORDER.index(r) if r in REASON_ORDER else len(REASON_ORDER)
            for r in losses["reason"]
        ],
    )
    table = places.pivot_table(
        index="where", columns="direction", values="packets", aggfunc="sum", fill_value=0
    )
    order = places.groupby("where")["rank"].min().sort_values(kind="stable").index
    table = table.reindex(order)
    directions = direction_order(table.columns.tolist())
    positions = np.arange(len(table.index), dtype=np.float64)
    width = 0.8 / len(directions)
    panel = Panel(
        title="Packets not played, by reason and place (bar labels: packets)",
        x=Axis("reason (where)", low=-0.5, high=len(positions) - 0.5, tick_size=11.0),
        y=Axis("% of sent packets", low=0.0, margin=0.15, grid=True, tick_count=5),
        legend="upper right",
        height=240.0,
    )
    panel.x.ticks = categories(str(where) for where in table.index)
    for i, direction in enumerate(directions):
        counts = table[direction].to_numpy(dtype=np.float64)
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
