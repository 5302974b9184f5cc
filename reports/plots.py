"""Figures of a run: delay over time, MOS per flow, delay CDF and losses by reason and place.

Each function takes the run's DataFrames and returns a matplotlib ``Figure``
built directly (never through pyplot's global state), so figures can be made
from several threads and need no display. A run can hold millions of packets:
every function reduces the data first (a few flows, min/max envelopes,
quantiles, sums), so drawing time and image size do not grow with the run.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

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


def _no_data(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _legend(ax: Axes, **kwargs: object) -> None:
    """Add a legend only when something is labelled (matplotlib warns otherwise)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kwargs)


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
) -> Figure:
    """One-way network delay (ms) against send time for a few flows, lost packets as red ticks.

    One panel per flow, sharing the time axis. Flows come from ``select_flows``.
    With a ``playout_s`` column (the jitter buffer's playout time of each
    received packet), the playout delay (playout minus send time) is drawn as
    a line: packets above it arrived too late to be played.
    """
    flows = select_flows(packets, metrics, max_flows)
    fig = Figure(figsize=(10, 1.2 + 2.0 * max(1, len(flows))), layout="constrained")
    if not flows:
        _no_data(fig.subplots(), "no packets")
        return fig
    worst_best = metrics is not None and len(flows) > 1
    fig.suptitle(
        "One-way network delay over time"
        + (" (worst and best flows by MOS)" if worst_best else ""),
        fontsize=12,
    )
    axes = fig.subplots(len(flows), 1, sharex=True, squeeze=False)[:, 0]
    wanted = ["flow", "call", "direction", "send_s", "recv_s", "playout_s"]
    subset = packets.loc[packets["flow"].isin(flows), [c for c in wanted if c in packets.columns]]
    groups = dict(iter(subset.groupby("flow", sort=False)))
    empty = subset.iloc[:0]
    for ax, flow in zip(axes, flows, strict=True):
        rows = groups.get(flow, empty)
        _delay_panel(ax, rows, _flow_label(flow, rows, metrics), max_points)
    axes[-1].set_xlabel("send time (s)")
    return fig


def _delay_panel(ax: Axes, rows: pd.DataFrame, label: str, max_points: int) -> None:
    ax.set_title(label, fontsize=9, loc="left")
    ax.set_ylabel("delay (ms)")
    ax.grid(True, alpha=0.3)
    if rows.empty:
        ax.text(0.5, 0.5, "no packets", ha="center", va="center", transform=ax.transAxes)
        return
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
    ax.plot(px, py, ".", ms=2.5, color=color, label=f"received ({len(x):,}{note})")
    top = float(py.max()) if len(py) else 0.0
    if "playout_s" in rows.columns:
        playout = (rows["playout_s"].to_numpy(dtype=np.float64)[ok][order] - x) * 1000.0
        qx, qy, _ = minmax_envelope(x, playout, max_points)
        if len(qy) and np.isfinite(qy).any():
            ax.step(qx, qy, where="post", lw=1.2, color=PLAYOUT_COLOR, label="playout delay")
            top = max(top, float(np.nanmax(qy)))
    lost = np.sort(send[~ok])
    if len(lost):
        step = math.ceil(len(lost) / MAX_LOSS_TICKS)
        ax.plot(
            lost[::step],
            np.full(len(lost[::step]), 0.04),
            "|",
            ms=9,
            color=LOST_COLOR,
            transform=ax.get_xaxis_transform(),
            label=f"lost ({len(lost):,})" + (f", every {step}th shown" if step > 1 else ""),
        )
    if len(x):
        ax.set_ylim(bottom=0.0, top=max(top * 1.08, 1.0))
    else:
        ax.text(0.5, 0.5, "no packets received", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
    _legend(ax, loc="upper right", fontsize=8, markerscale=2)


def mos_per_flow(metrics: pd.DataFrame, *, many_calls: int = MANY_CALLS) -> Figure:
    """MOS of every flow: bars per call and direction, or sorted curves for many calls.

    Flows with NaN MOS (nothing received) are marked with a cross on small runs
    and counted in the legend on large ones.
    """
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    ax = fig.subplots()
    if metrics.empty or not {"call", "direction", "mos"} <= set(metrics.columns):
        _no_data(ax, "no flow metrics")
        return fig
    directions = direction_order(metrics["direction"].astype(str).unique().tolist())
    if metrics["call"].nunique() <= many_calls:
        _mos_bars(ax, metrics, directions)
    else:
        _mos_sorted(ax, metrics, directions)
    for mos, name in SATISFACTION_MOS:
        ax.axhline(mos, color="0.6", lw=0.6, ls=":", zorder=0)
        ax.text(
            1.01,
            mos,
            name,
            transform=ax.get_yaxis_transform(),
            ha="left",
            va="bottom",
            fontsize=7,
            color="0.4",
        )
    ax.set_ylim(0.0, 4.7)  # bars from 0, so a flow at MOS 1 (the floor) still shows
    ax.set_ylabel("MOS (E-model, 1 to 4.5)")
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(
            handles, labels, loc="outside lower center", ncols=min(4, len(handles)), fontsize=8
        )
    return fig


def _mos_bars(ax: Axes, metrics: pd.DataFrame, directions: list[str]) -> None:
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
        ax.bar(x, np.nan_to_num(mos, nan=0.0), width=width * 0.92, color=color, label=direction)
        if missing.any():
            ax.plot(
                x[missing],
                np.full(int(missing.sum()), 1.12),
                "x",
                color=LOST_COLOR,
                ms=7,
                mew=2,
                label=f"{direction}: nothing received",
            )
    ax.set_xticks(positions, [str(c) for c in calls], fontsize=8 if len(calls) > 15 else 10)
    ax.set_xlabel("call")
    ax.set_title("MOS per call and direction")


def _mos_sorted(ax: Axes, metrics: pd.DataFrame, directions: list[str]) -> None:
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
        ax.plot(share, finite, "-", lw=1.8, color=color, label=label)
    ax.set_xlim(0.0, 100.0)
    ax.set_xlabel("flows sorted by MOS, worst first (% of flows)")
    ax.set_title("MOS per flow, sorted")


def delay_cdf(packets: pd.DataFrame, *, n_points: int = CDF_POINTS) -> Figure:
    """CDF of one-way network delay (ms) over all received packets, per direction.

    Each curve is ``n_points`` quantiles, so millions of packets draw as fast as a few.
    """
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    ax = fig.subplots()
    if packets.empty:
        _no_data(ax, "no packets")
        return fig
    delay_ms = (
        packets["recv_s"].to_numpy(dtype=np.float64) - packets["send_s"].to_numpy(dtype=np.float64)
    ) * 1000.0
    received = ~np.isnan(delay_ms)
    if not received.any():
        _no_data(ax, "no packets received")
        return fig
    direction = packets["direction"].astype("category")
    codes = direction.cat.codes.to_numpy()
    names = [str(c) for c in direction.cat.categories]
    probs = np.linspace(0.0, 1.0, n_points)
    curves: list[tuple[str, FloatArray, str, str]] = []
    for name in direction_order(names):
        values = delay_ms[received & (codes == names.index(name))]
        if len(values):
            curves.append((name, values, DIRECTION_COLORS.get(name, OTHER_COLOR), "-"))
    # Drawn last so the dashes stay visible where directions coincide with the total.
    curves.append(("all", delay_ms[received], "0.15", "--"))
    for name, values, color, style in curves:
        q = np.quantile(values, probs)
        p95, p99 = np.quantile(values, [0.95, 0.99])
        ax.plot(
            q,
            probs,
            style,
            lw=1.6,
            color=color,
            label=f"{name} ({len(values):,} pkts; p95 {p95:.1f} ms, p99 {p99:.1f} ms)",
        )
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("one-way network delay (ms)")
    ax.set_ylabel("fraction of received packets")
    ax.set_title("Delay CDF over all received packets")
    ax.grid(True, alpha=0.3)
    _legend(ax, loc="lower right", fontsize=8)
    return fig


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


def losses_by_reason(losses: pd.DataFrame, metrics: pd.DataFrame) -> Figure:
    """Packets not played, % of those sent per direction, by reason and the segment that lost them.

    One bar group per (reason, segment) from ``loss_frame``: handovers,
    channel, HARQ, queue and AQM losses at their segment, and late discards at
    the jitter buffer; bars per direction, labelled with packet counts.
    """
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax = fig.subplots()
    if metrics.empty or not {"direction", "sent"} <= set(metrics.columns):
        _no_data(ax, "no flow metrics")
        return fig
    if losses.empty:
        _no_data(ax, "no packets lost or discarded late")
        return fig
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
    for i, direction in enumerate(directions):
        counts = table[direction].to_numpy(dtype=np.float64)
        total = float(sent.get(direction, 0))
        share = counts / total * 100.0 if total > 0 else np.zeros_like(counts)
        bars = ax.bar(
            positions - 0.4 + width * (i + 0.5),
            share,
            width=width * 0.92,
            color=DIRECTION_COLORS.get(direction, OTHER_COLOR),
            label=direction,
        )
        ax.bar_label(bars, labels=[f"{int(c):,}" for c in counts], fontsize=8, padding=2)
    ax.set_xticks(positions, list(table.index), fontsize=9)
    ax.set_xlabel("reason (where)")
    ax.set_ylabel("% of sent packets")
    ax.set_title("Packets not played, by reason and place (bar labels: packets)")
    ax.margins(y=0.15)
    ax.grid(True, axis="y", alpha=0.3)
    _legend(ax, loc="upper right", fontsize=8)
    return fig
