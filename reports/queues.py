"""The queues of a run: occupancy and throughput over time, one row of panels per segment.

The simulator samples each configured queue (a limit, an AQM, DSCP
scheduling or cross traffic) on a fixed grid: a ``queue_samples`` event per
queue and direction holds, per instant, the packets and bytes waiting then
(the packet on the wire is not waiting) and the bytes of media, cross
traffic and bulk flows that left the link in the interval before it; a
``queue_stats`` event per queue gives its configuration (rate, limits) and
totals. The left panel draws the
backlog, as the queueing delay it makes at the link's rate where the rate is
constant, else in packets (a queue limited in packets) or kilobytes, and
where DSCP classes are served apart also the EF class's own backlog; the
right panel draws the cross traffic's throughput (constant-rate and on/off
flows together with the bulk flows) and, dotted, the media's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from voipbed.columns import Columns
from voipbed.metric_names import EventKind

from .chart import Axis, Chart, LegendEntry, Line, Panel, RefLine, array, padded
from .plots import DIRECTION_COLORS, OTHER_COLOR, direction_order

__all__ = [
    "MAX_QUEUE_ROWS",
    "QUEUE_SAMPLES",
    "queue_figure",
    "queue_samples",
    "queue_stats",
    "without_samples",
]

QUEUE_SAMPLES = EventKind.QUEUE_SAMPLES
QUEUE_STATS = EventKind.QUEUE_STATS

MAX_QUEUE_ROWS = 6
"""Segments drawn at most (one row of two panels each); the figure says when it leaves some out."""

LIMIT_IN_VIEW = 1.5
"""A queue limit is drawn when at most this many times the highest backlog (the title gives it)."""

# Uplink drawn wider, under downlink, so that both show where they coincide (pixels).
_WIDTH = {"uplink": 2.9, "downlink": 1.3}

_SAMPLE_COLUMNS = (
    "packets",
    "bytes",
    "media_bytes",
    "cross_bytes",
    "bulk_bytes",
    "interval_s",
)


def _fields(events: Columns, kind: str) -> list[dict[str, Any]]:
    """The JSON fields of the events of ``kind``, in the events' order."""
    if len(events) == 0 or "kind" not in events:
        return []
    rows = events["kind"] == kind
    return [json.loads(str(fields)) for fields in events["fields"][rows].tolist()]


def queue_stats(events: Columns) -> Columns:
    """The ``queue_stats`` events as a table, one row per segment and direction."""
    return Columns.from_records(_fields(events, QUEUE_STATS))


def queue_samples(events: Columns) -> Columns:
    """The ``queue_samples`` events as one table, a row per queue, direction and instant
    (``time_s``), in time order: the events' series, and their other fields repeated."""
    columns: dict[str, list[Any]] = {}
    rows = 0
    for fields in _fields(events, QUEUE_SAMPLES):
        count = len(fields.get("packets", []))
        series = {"time_s": ((np.arange(count) + 1.0) * float(fields["interval_s"])).tolist()}
        series |= {key: value for key, value in fields.items() if isinstance(value, list)}
        series |= {key: [value] * count for key, value in fields.items() if key not in series}
        for key in columns.keys() - series.keys():  # a series this event lacks
            columns[key] += [None] * count
        for key, values in series.items():
            columns.setdefault(key, [None] * rows).extend(values)
        rows += count
    if not rows:
        return Columns()
    for column in _SAMPLE_COLUMNS:
        columns.setdefault(column, [0] * rows)
    return Columns.from_lists(columns, rows=rows).sort_by(["time_s"])


def without_samples(events: Columns) -> Columns:
    """``events`` without the ``queue_samples`` rows (the series the figure draws)."""
    if len(events) == 0 or "kind" not in events:
        return events
    return events.take(events["kind"] != QUEUE_SAMPLES)


def queue_figure(samples: Columns, stats: Columns) -> Chart:
    """Per queued segment: its backlog over time (left) and its throughput (right)."""
    segment_names = samples["segment"].astype(str)
    segments = list(dict.fromkeys(segment_names.tolist()))
    shown = segments[:MAX_QUEUE_ROWS]
    facts = _facts_by_queue(stats)
    time_s = padded([samples["time_s"].astype(np.float64)]) or (None, None)
    panels = []
    for segment in shown:
        rows = samples.take(segment_names == segment)
        panels += [_occupancy(segment, rows, facts), _throughput(segment, rows, facts)]
    for k, panel in enumerate(panels):
        panel.x.low, panel.x.high = time_s
        if k >= len(panels) - 2:
            panel.x.label = "time (s)"
        else:
            panel.x.tick_labels = False
    classful = any(f.get("scheduling", "fifo") != "fifo" for f in facts.values())
    title = ""
    if len(segments) > len(shown):
        left_out = ", ".join(segments[len(shown) :])
        title = f"First {len(shown)} of {len(segments)} queued segments; not drawn: {left_out}"
    return Chart(
        panels, columns=2, title=title, legend="top", legend_entries=_legend(samples, classful)
    )


def _legend(samples: Columns, classful: bool) -> list[LegendEntry]:
    """One legend for every panel: a colour per direction, a line style per quantity."""
    entries = [
        LegendEntry(d, DIRECTION_COLORS.get(d, OTHER_COLOR), width=_WIDTH.get(d, 1.3))
        for d in _directions(samples)
    ]
    entries += [
        LegendEntry("backlog, cross traffic", OTHER_COLOR, width=1.3),
        LegendEntry("media", OTHER_COLOR, width=1.3, dash="dotted"),
        LegendEntry("queue limit, link rate", OTHER_COLOR, width=1.1, dash="dashed"),
    ]
    if classful:
        entries.append(LegendEntry("EF backlog", OTHER_COLOR, width=1.3, dash="dashdot"))
    return entries


def _directions(rows: Columns) -> list[str]:
    """The directions of ``rows``, in ``direction_order``."""
    return direction_order(list(set(rows["direction"].astype(str).tolist())))


def _facts_by_queue(stats: Columns) -> dict[tuple[str, str], Mapping[str, Any]]:
    if len(stats) == 0 or "segment" not in stats:
        return {}
    return {
        (str(record["segment"]), str(record["direction"])): record for record in stats.records()
    }


def _number(value: Any) -> float | None:
    """A finite number from a stats field, or None (missing, null or NaN)."""
    if value is None:
        return None
    number = float(value)
    return number if np.isfinite(number) else None


def _unit(
    directions: list[str], segment: str, facts: dict[tuple[str, str], Mapping[str, Any]]
) -> str:
    """How to draw a segment's backlog: "ms" at a constant rate, else "packets" or "KB"."""
    known = [facts.get((segment, d), {}) for d in directions]
    if known and all(_number(f.get("rate_bps")) for f in known):
        return "ms"
    by_packets = [_number(f.get("limit_packets")) for f in known]
    by_bytes = [_number(f.get("limit_bytes")) for f in known]
    if any(by_packets) and not any(by_bytes):
        return "packets"
    return "KB"


def _backlog(
    rows: Columns, unit: str, rate_bps: float | None, klass: int | None = None
) -> np.ndarray[Any, Any]:
    """The backlog in ``unit``: of every class, or of class ``klass`` alone."""
    if klass is None:
        size_bytes = rows["bytes"].astype(np.float64)
        packets = rows["packets"].astype(np.float64)
    else:
        size_bytes = np.array([row[klass] for row in rows["bytes_by_class"]], dtype=np.float64)
        packets = np.array([row[klass] for row in rows["packets_by_class"]], dtype=np.float64)
    if unit == "ms" and rate_bps:
        return size_bytes * 8.0 / rate_bps * 1e3
    if unit == "packets":
        return packets
    return size_bytes / 1e3


def _limit(facts: Mapping[str, Any], unit: str) -> float | None:
    """The queue's limit in the drawing's unit, when it has one in that unit."""
    rate = _number(facts.get("rate_bps"))
    limit_bytes = _number(facts.get("limit_bytes"))
    limit_packets = _number(facts.get("limit_packets"))
    if unit == "ms" and rate and limit_bytes:
        return limit_bytes * 8.0 / rate * 1e3
    if unit == "KB" and limit_bytes:
        return limit_bytes / 1e3
    if unit == "packets" and limit_packets:
        return limit_packets
    return None


def _describe(segment: str, facts: Mapping[str, Any]) -> str:
    parts = [str(facts[key]) for key in ("aqm", "scheduling") if facts.get(key)]
    rate = _number(facts.get("rate_bps"))
    parts.append(f"{rate / 1e6:g} Mbit/s" if rate else "trace-driven")
    if _number(facts.get("limit_bytes")):
        parts.append(f"limit {float(facts['limit_bytes']) / 1e3:,.0f} KB")
    if _number(facts.get("limit_packets")):
        parts.append(f"limit {int(facts['limit_packets']):,} packets")
    return f"{segment}: " + ", ".join(parts)


def _dropped(facts: Mapping[str, Any]) -> int:
    """Cross-traffic packets (constant-rate, on/off and bulk) the queue dropped."""
    return sum(int(_number(facts.get(key)) or 0) for key in ("cross_dropped", "bulk_dropped"))


def _occupancy(
    segment: str, rows: Columns, facts: dict[tuple[str, str], Mapping[str, Any]]
) -> Panel:
    directions = _directions(rows)
    unit = _unit(directions, segment, facts)
    label = {"ms": "queueing delay (ms)", "packets": "backlog (packets)", "KB": "backlog (KB)"}
    first = facts.get((segment, directions[0]), {}) if directions else {}
    panel = Panel(
        title=_describe(segment, first),
        title_align="left",
        x=Axis(grid=True, tick_count=7),
        y=Axis(label[unit], low=0.0, grid=True, tick_count=5),
        height=190.0,
    )
    top = 0.0
    limits = []
    for direction in directions:
        part = rows.take(rows["direction"].astype(str) == direction)
        queue = facts.get((segment, direction), {})
        color = DIRECTION_COLORS.get(direction, OTHER_COLOR)
        values = _backlog(part, unit, _number(queue.get("rate_bps")))
        width = _WIDTH.get(direction, 1.3)
        time_s = part["time_s"].astype(np.float64)
        panel.add(Line(time_s, array(values), color, width))
        top = max(top, float(np.nanmax(values, initial=0.0)))
        if queue.get("scheduling", "fifo") != "fifo" and "bytes_by_class" in part:
            # Served apart, EF waits behind its own class only: its backlog is drawn too.
            ef = _backlog(part, unit, _number(queue.get("rate_bps")), klass=0)
            panel.add(Line(time_s, array(ef), color, width, "dashdot"))
        limit = _limit(queue, unit)
        if limit is not None:
            limits.append((limit, color))
    for limit, color in limits:
        if limit <= LIMIT_IN_VIEW * top:  # far above the backlog, it would flatten it
            panel.add(RefLine(limit, color, width=1.1, dash="dashed", opacity=0.7))
    return panel


def _throughput(
    segment: str, rows: Columns, facts: dict[tuple[str, str], Mapping[str, Any]]
) -> Panel:
    dropped = [
        f"{direction} {_dropped(facts.get((segment, direction), {})):,}"
        for direction in _directions(rows)
    ]
    panel = Panel(
        title="throughput (cross traffic dropped: " + ", ".join(dropped) + ")",
        title_align="left",
        x=Axis(grid=True, tick_count=7),
        y=Axis("Mbit/s", low=0.0, grid=True, tick_count=5),
        height=190.0,
    )
    rates: set[float] = set()
    for direction in _directions(rows):
        part = rows.take(rows["direction"].astype(str) == direction)
        color = DIRECTION_COLORS.get(direction, OTHER_COLOR)
        time_s = part["time_s"].astype(np.float64)
        per_s = 8.0 / 1e6 / part["interval_s"].astype(np.float64)
        cross = (part["cross_bytes"] + part["bulk_bytes"]).astype(np.float64) * per_s
        media = part["media_bytes"].astype(np.float64) * per_s
        width = 0.7 * _WIDTH.get(direction, 1.3)
        panel.add(Line(time_s, cross, color, width, step="pre", label=f"{direction} cross"))
        panel.add(Line(time_s, media, color, width, "dotted", "pre", f"{direction} media"))
        rate = _number(facts.get((segment, direction), {}).get("rate_bps"))
        if rate and rate not in rates:
            panel.add(RefLine(rate / 1e6, OTHER_COLOR, width=1.1, dash="dashed"))
            rates.add(rate)
    return panel
