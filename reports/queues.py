"""The queues of a run: cross traffic carried, drops, and the queueing delay media saw over time.

The simulator records one ``queue_stats`` event per queued segment and
direction, with totals at the end of the run (cross packets, bulk bytes
delivered, drops, CE marks); it records no occupancy over time. So the
right panel draws what the trace does hold: the media packets' one-way
network delay over time. Above the path's fixed delay (its segments'
``one_way_delay``) it is queueing, jitter and HARQ retransmissions; for a
FIFO queue in front of a constant-rate link of capacity C, the queueing
delay times C is the backlog a packet found.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .plots import DIRECTION_COLORS, OTHER_COLOR, direction_order

__all__ = ["QUEUE_SLOT_S", "queue_figure", "queue_stats"]

QUEUE_SLOT_S = 1.0
"""Time slots of the queueing-delay panel."""


def queue_stats(events: pd.DataFrame) -> pd.DataFrame:
    """The ``queue_stats`` events as a table, one row per segment and direction."""
    if events.empty or "kind" not in events.columns:
        return pd.DataFrame()
    rows = events[events["kind"].astype(str) == "queue_stats"]
    return pd.DataFrame([json.loads(str(fields)) for fields in rows["fields"]])


def queue_figure(stats: pd.DataFrame, packets: pd.DataFrame, duration_s: float) -> Figure:
    """Cross-traffic throughput and drops per queue (left); media network delay over time."""
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=(1, 2))
    _throughput(left, stats, duration_s)
    _network_delay(right, packets)
    return fig


def _throughput(ax: Axes, stats: pd.DataFrame, duration_s: float) -> None:
    names = [f"{s}\n{d}" for s, d in zip(stats["segment"], stats["direction"], strict=True)]
    mbps = stats.get("bulk_delivered_bytes", pd.Series(0, index=stats.index)) * 8.0 / 1e6
    mbps = mbps / duration_s if duration_s > 0 else mbps * np.nan
    colors = [DIRECTION_COLORS.get(str(d), OTHER_COLOR) for d in stats["direction"]]
    bars = ax.bar(names, mbps.to_numpy(dtype=np.float64), color=colors)
    drops = [
        f"{int(row.get('bulk_dropped', 0)) + int(row.get('cross_dropped', 0)):,} dropped"
        for row in stats.to_dict("records")
    ]
    ax.bar_label(bars, labels=drops, fontsize=8, padding=2)
    ax.set_ylabel("bulk cross traffic (Mbit/s)")
    ax.set_xlabel("queue")
    ax.set_title("Cross traffic carried", fontsize=10)
    ax.margins(y=0.2)
    ax.grid(True, axis="y", alpha=0.3)


def _network_delay(ax: Axes, packets: pd.DataFrame) -> None:
    ax.set_title(f"Media one-way network delay per {QUEUE_SLOT_S:g} s", fontsize=10)
    ax.set_xlabel("send time (s)")
    ax.set_ylabel("ms")
    ax.grid(True, alpha=0.3)
    if packets.empty:
        return
    delay = packets["recv_s"].to_numpy(dtype=np.float64) - packets["send_s"].to_numpy(
        dtype=np.float64
    )
    frame = pd.DataFrame(
        {
            "direction": packets["direction"].astype(str).to_numpy(),
            "slot": np.floor(packets["send_s"].to_numpy(dtype=np.float64) / QUEUE_SLOT_S),
            "delay": delay,
        }
    ).dropna(subset=["delay"])
    if frame.empty:
        return
    frame["delay_ms"] = frame["delay"] * 1e3
    for direction in direction_order(frame["direction"].unique().tolist()):
        rows = frame[frame["direction"] == direction]
        stats = rows.groupby("slot")["delay_ms"].agg(["median", "max"])
        x = stats.index.to_numpy(dtype=np.float64) * QUEUE_SLOT_S
        color = DIRECTION_COLORS.get(direction, OTHER_COLOR)
        ax.fill_between(
            x,
            stats["median"].to_numpy(),
            stats["max"].to_numpy(),
            step="post",
            color=color,
            alpha=0.2,
        )
        ax.step(x, stats["median"].to_numpy(), where="post", color=color, label=direction)
    ax.set_ylim(bottom=0.0)
    ax.legend(fontsize=8, loc="upper left", title="median, shaded to max", title_fontsize=7)
