"""Headline numbers and tables of a run, as formatted text ready for the HTML template.

Pure functions from the run's tables (``voipbed.columns.Columns``) and
summary to small frozen dataclasses of strings; the template only lays them
out. Missing values (a flow that received nothing has NaN metrics) show as an
em dash.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from voipbed.columns import Columns

logger = logging.getLogger(__name__)

MAX_FLOW_ROWS = 50
"""Flows listed in the results table; larger runs show the worst ones by MOS."""
MAX_EVENT_ROWS = 50
"""Events listed in the event table; larger runs show the first ones."""
MAX_FIELDS_CHARS = 160
MISSING = "—"


@dataclass(frozen=True)
class Column:
    """How one metrics column is titled and formatted (``scale`` 1000 turns s into ms)."""

    key: str
    header: str
    decimals: int = 0
    scale: float = 1.0
    count: bool = False


FLOW_COLUMNS = (
    Column("call", "call", count=True),
    Column("flow", "flow", count=True),
    Column("direction", "direction"),
    Column("mos", "MOS", 2),
    Column("mos_window_min", "worst window MOS", 2),
    Column("pesq_mos_lqo", "PESQ", 2),  # emulation runs: P.862 / P.862.2 of the audio received
    Column("r_factor", "R", 1),
    Column("ta_s", "mouth-to-ear (ms)", 1, 1000.0),
    Column("ppl_percent", "Ppl (%)", 2),
    Column("burst_r", "BurstR", 2),
    Column("sent", "sent", count=True),
    Column("received", "received", count=True),
    Column("lost", "lost", count=True),
    Column("late_discarded", "late", count=True),
    Column("delay_mean_s", "delay mean (ms)", 1, 1000.0),
    Column("delay_p95_s", "delay p95 (ms)", 1, 1000.0),
    Column("delay_p99_s", "delay p99 (ms)", 1, 1000.0),
    Column("jitter_s", "jitter mean (ms)", 1, 1000.0),
    Column("jitter_last_s", "jitter last (ms)", 1, 1000.0),
)
"""Per-flow table columns in display order; quality first so it is visible without scrolling."""
_COLUMNS_BY_KEY = {c.key: c for c in FLOW_COLUMNS}
STAT_ORDER = ("n", "mean", "p5", "p50", "p95", "p99", "min", "max")
STAT_HEADERS = {"n": "flows"}


@dataclass(frozen=True)
class Cell:
    text: str
    css: str = ""
    href: str = ""  # a relative link, when the cell points somewhere


@dataclass(frozen=True)
class Table:
    """Headers and rows of text; ``note`` says what was left out, if anything."""

    headers: list[str]
    rows: list[list[Cell]]
    note: str = ""


@dataclass(frozen=True)
class HeadlineItem:
    label: str
    value: str
    detail: str
    css: str = ""


def fmt_number(value: object, decimals: int = 2, scale: float = 1.0) -> str:
    """Format a number with thousands separators, or an em dash when missing or not finite."""
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return MISSING
    return f"{x * scale:,.{decimals}f}" if math.isfinite(x) else MISSING


def fmt_value(column: Column, value: object) -> str:
    """Format one cell of ``column``: counts as integers, others as scaled decimals."""
    if column.count:
        return fmt_number(value, 0)
    if column.key == "direction":
        return MISSING if value is None else str(value)
    return fmt_number(value, column.decimals, column.scale)


def mos_class(mos: object) -> str:
    """CSS class for a MOS value, by the G.109 satisfaction bands used in the plots."""
    try:
        x = float(mos)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "q-none"
    if not math.isfinite(x):
        return "q-none"
    if x >= 4.03:
        return "q-good"
    if x >= 3.60:
        return "q-fair"
    if x >= 3.10:
        return "q-poor"
    return "q-bad"


def _numbers(values: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """``values`` as floats: NaN where a value is missing or not a number."""
    if values.dtype.kind in "fiub":
        return values.astype(np.float64)
    return np.array([_number(value) for value in values.tolist()], dtype=np.float64)


def _number(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _finite(values: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    array = _numbers(values)
    return array[np.isfinite(array)]


def metric_stat(summary: Mapping[str, Any], metrics: Columns, key: str, stat: str) -> float:
    """A statistic ("mean", "p5", ...) of a per-flow metric over flows.

    Taken from ``summary["metrics"][key][stat]`` when the run recorded the
    metric (NaN where it recorded null: too few flows for that percentile),
    else computed over the flows' finite values; NaN when there are none.
    """
    recorded = summary.get("metrics", {})
    if isinstance(recorded, Mapping):
        stats = recorded.get(key)
        if isinstance(stats, Mapping) and stat in stats:
            value = stats[stat]
            return float(value) if isinstance(value, int | float) else math.nan
    if key not in metrics:
        return math.nan
    values = _finite(metrics[key])
    if len(values) == 0:
        return math.nan
    if stat == "mean":
        return float(values.mean())
    if stat.startswith("p") and stat[1:].isdigit():
        return float(np.percentile(values, float(stat[1:])))
    return math.nan


def verdict_text(summary: Mapping[str, Any], metrics: Columns) -> str:
    """The sentence that says what limits quality (``summary["verdict"]``), or why none is given."""
    recorded = summary.get("verdict")
    if isinstance(recorded, Mapping) and recorded.get("sentence"):
        return str(recorded["sentence"])
    if len(metrics) == 0:
        return "No media packets were sent, so there is no quality to rate."
    return ""


def _spread(
    summary: Mapping[str, Any],
    metrics: Columns,
    key: str,
    stats: list[str],
    decimals: int,
    *,
    scale: float = 1.0,
    unit: str = "",
) -> str:
    """The percentiles ``stats`` the flows allow, and "n flows" when some are missing."""
    values = [metric_stat(summary, metrics, key, name) for name in stats]
    parts = [
        f"{name} {fmt_number(v, decimals, scale)}{unit}"
        for name, v in zip(stats, values, strict=True)
        if math.isfinite(v)
    ]
    if len(parts) < len(stats):  # too few flows for some: say how many there are
        recorded = summary.get("metrics", {}).get(key, {})
        count = recorded.get("n") if isinstance(recorded, Mapping) else None
        if not isinstance(count, int):
            count = len(_finite(metrics[key])) if key in metrics else 0
        parts.append(f"{count:,} flow{'s' if count != 1 else ''}")
    return " · ".join(parts)


def headline(summary: Mapping[str, Any], metrics: Columns) -> list[HeadlineItem]:
    """Headline numbers: MOS and R (mean, p5), loss and mouth-to-ear delay (mean, p95).

    Percentiles show only where the summary has them (enough flows); else the
    detail says how many flows the mean is over. R is on its scale (the
    summary's ``r_scale_max``: 100 for G.107, 129 for G.107.1).
    """

    def stat(key: str, name: str) -> float:
        return metric_stat(summary, metrics, key, name)

    mos_mean = stat("mos", "mean")
    scale = summary.get("r_scale_max")
    scale_text = f"of {scale:g} ({'G.107.1' if scale > 100 else 'G.107'})" if scale else ""
    r_detail = _spread(summary, metrics, "r_factor", ["p5"], 1)
    items = [
        HeadlineItem(
            "MOS",
            fmt_number(mos_mean, 2),
            _spread(summary, metrics, "mos", ["p5", "p50"], 2),
            mos_class(mos_mean),
        ),
        HeadlineItem(
            "R factor",
            fmt_number(stat("r_factor", "mean"), 1),
            " · ".join(t for t in (scale_text, r_detail) if t),
        ),
        HeadlineItem(
            "Packet loss Ppl",
            f"{fmt_number(stat('ppl_percent', 'mean'), 2)} %",
            _spread(summary, metrics, "ppl_percent", ["p95"], 2, unit=" %") + " (network + late)",
        ),
        HeadlineItem(
            "Mouth-to-ear delay",
            f"{fmt_number(stat('ta_s', 'mean'), 0, 1000.0)} ms",
            _spread(summary, metrics, "ta_s", ["p95"], 0, scale=1000.0, unit=" ms"),
        ),
    ]
    pesq = stat("pesq_mos_lqo", "mean")
    if math.isfinite(pesq):
        items.insert(
            1,
            HeadlineItem(
                "PESQ (received audio)",
                fmt_number(pesq, 2),
                f"p5 {fmt_number(stat('pesq_mos_lqo', 'p5'), 2)} · MOS-LQO, ITU-T P.862",
                mos_class(pesq),
            ),
        )
    media = summary.get("media")
    if isinstance(media, Mapping):
        items.append(media_item(media))
    if "received" in metrics:
        silent = int(np.count_nonzero(np.nan_to_num(_numbers(metrics["received"])) <= 0))
        if silent:
            items.append(
                HeadlineItem(
                    "Silent flows",
                    f"{silent:,}",
                    f"of {len(metrics):,} flows received nothing",
                    "q-bad",
                )
            )
    return items


def media_item(media: Mapping[str, Any]) -> HeadlineItem:
    """The emulation's streams: how many carried real audio (baresip's, scored by PESQ as
    well) of all, and how many were light (RTP of the light sender, E-model only)."""
    real, light = int(media.get("real_audio_flows", 0)), int(media.get("light_flows", 0))
    scored = int(media.get("pesq_scored_flows", 0))
    detail = f"{scored:,} scored by PESQ"
    if light:
        detail += f" · {light:,} light streams (RTP without recorded audio: E-model only)"
    return HeadlineItem("Real-audio streams", f"{real:,} of {real + light:,}", detail)


def flow_table(metrics: Columns, max_rows: int = MAX_FLOW_ROWS) -> Table:
    """Per-flow results; above ``max_rows`` flows, the worst by MOS (missing MOS first)."""
    columns = [c for c in FLOW_COLUMNS if c.key in metrics]
    columns += [
        Column(k, f"lost at {k.removeprefix('lost_at_')}", count=True)
        for k in metrics.names
        if k.startswith("lost_at_")
    ]
    total = len(metrics)
    note = ""
    if total > max_rows and "mos" in metrics:
        shown = metrics.sort_by(["mos"], nan_first=True).head(max_rows)
        note = (
            f"Showing the {max_rows} worst of {total:,} flows by MOS "
            "(flows that received nothing first)."
        )
    elif total > max_rows:
        shown = metrics.head(max_rows)
        note = f"Showing the first {max_rows} of {total:,} flows (no MOS column to rank by)."
    else:
        shown = metrics.sort_by([k for k in ("call", "flow") if k in metrics])
    rows = []
    for record in shown.records():
        quality = mos_class(record.get("mos"))
        rows.append(
            [Cell(fmt_value(c, record[c.key]), quality if c.key == "mos" else "") for c in columns]
        )
    return Table([c.header for c in columns], rows, note)


def summary_table(summary: Mapping[str, Any]) -> Table:
    """The run's recorded statistics over flows (``summary["metrics"]``), one row per metric."""
    recorded = summary.get("metrics", {})
    if not isinstance(recorded, Mapping):
        return Table([], [])
    entries = {str(k): v for k, v in recorded.items() if isinstance(v, Mapping)}
    seen = {str(s) for v in entries.values() for s in v}
    stats = [s for s in STAT_ORDER if s in seen] + sorted(seen - set(STAT_ORDER))
    rows = []
    for key, values in entries.items():
        column = _COLUMNS_BY_KEY.get(key)
        if column is None:
            ms = key.endswith("_s")
            header = f"{key.removesuffix('_s')} (ms)" if ms else key
            column = Column(key, header, 1 if ms else 2, 1000.0 if ms else 1.0)
        elif column.count:
            column = Column(key, column.header, 1)  # a mean of counts is fractional
        cells = [Cell(column.header, "label")]
        cells += [
            Cell(fmt_number(values.get(s), 0) if s == "n" else fmt_value(column, values.get(s)))
            for s in stats
        ]
        rows.append(cells)
    return Table(["metric", *(STAT_HEADERS.get(s, s) for s in stats)], rows)


def bandwidth_table(summary: Mapping[str, Any]) -> Table:
    """Bytes per media packet and kbit/s per call and direction: IP packets, then each segment."""
    recorded = summary.get("bandwidth")
    if not isinstance(recorded, Mapping):
        return Table([], [])
    headers = ["where", "headers", "bytes per packet", "kbit/s per call and direction"]
    ip = recorded["ip"]
    rows = [
        [
            Cell("IP packets", "label"),
            Cell(f"{recorded['payload_bytes']} B payload + RTP/UDP/IP"),
            Cell(str(ip["bytes_per_packet"])),
            Cell(fmt_number(ip["kbps_per_call_direction"], 1)),
        ]
    ]
    for segment in recorded["segments"]:
        layers = [
            "ROHC" if segment["header_compression"] == "rohc" else "RTP/UDP/IP",
            *([segment["link_layer"]] if segment["link_layer"] != "none" else []),
        ]
        rows.append(
            [
                Cell(str(segment["segment"]), "label"),
                Cell(" + ".join(layers)),
                Cell(str(segment["bytes_per_packet"])),
                Cell(fmt_number(segment["kbps_per_call_direction"], 1)),
            ]
        )
    return Table(headers, rows)


def run_facts(summary: Mapping[str, Any], n_packets: int, n_events: int) -> list[tuple[str, str]]:
    """Label/value pairs about the run: scenario, ids, seed, engine, durations, sizes."""
    known = {
        "scenario": "Scenario",
        "run_id": "Run id",
        "engine": "Engine",
        "seed": "Seed",
        "calls": "Calls",
        "flows": "Flows",
    }
    facts = [(label, str(summary[k])) for k, label in known.items() if k in summary]
    duration = summary.get("duration_s")
    wall = summary.get("wall_s")
    if duration is not None:
        facts.append(("Simulated duration", f"{fmt_number(duration, 1)} s"))
    if wall is not None:
        facts.append(("Wall time", f"{fmt_number(wall, 2)} s"))
    if isinstance(duration, int | float) and isinstance(wall, int | float) and wall > 0:
        facts.append(("Speed", f"{fmt_number(duration / wall, 1)} times real time"))
    facts.append(("Media packets", f"{n_packets:,}"))
    facts.append(("Events", f"{n_events:,}"))
    skip = {*known, "duration_s", "wall_s", "metrics"}
    for key, value in summary.items():
        if key not in skip and isinstance(value, str | int | float | bool | None):
            facts.append((str(key), str(value)))
    return facts


def event_tables(events: Columns, max_rows: int = MAX_EVENT_ROWS) -> tuple[Table, Table]:
    """Counts of events by kind (most first; ties in order of first occurrence), and the first
    ``max_rows`` events in time order."""
    if len(events) == 0:
        return Table([], []), Table([], [])
    kinds = Counter(str(kind) for kind in events["kind"].tolist())
    counts = Table(
        ["kind", "count"],
        [
            [Cell(kind), Cell(f"{n:,}")]
            for kind, n in sorted(kinds.items(), key=lambda item: -item[1])
        ],
    )
    shown = events.take(events.order(["time_s"])[:max_rows])
    note = (
        f"Showing the first {max_rows} of {len(events):,} events." if len(events) > max_rows else ""
    )
    rows = []
    for record in shown.records():
        call = record.get("call")
        fields = str(record.get("fields", ""))
        if len(fields) > MAX_FIELDS_CHARS:
            fields = fields[:MAX_FIELDS_CHARS] + " …"
        number = _number(call)  # NaN when missing
        call_text = MISSING if not math.isfinite(number) or number < 0 else f"{int(number)}"
        rows.append(
            [
                Cell(fmt_number(record.get("time_s"), 3)),
                Cell(str(record.get("kind", ""))),
                Cell(call_text),
                Cell(fields, "mono"),
            ]
        )
    return counts, Table(["time (s)", "kind", "call", "fields"], rows, note)
