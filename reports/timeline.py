"""MOS over time within calls, with handovers and RRC states marked.

The whole-call MOS of a flow hides short outages: a 1.3 s handover gap
costs a 60 s call little on average. This figure draws each flow's windowed
MOS (``voipbed.scoring``'s ``windows`` table, rated by
``models.quality_windows``): the worst few flows as lines, every flow as a
band (lowest to highest MOS of each time slot) with its median, handovers
of the drawn calls as shaded spans, and the RRC state of the worst call as
a strip along the bottom.
"""

from __future__ import annotations

import json

import numpy as np
import numpy.typing as npt

from voipbed.columns import Columns
from voipbed.metric_names import EventKind

from .chart import Axis, Band, Chart, Line, Panel, Spans, Text, array, no_data
from .plots import satisfaction_lines

FloatArray = npt.NDArray[np.float64]

__all__ = ["MAX_WORST_FLOWS", "mos_over_time", "worst_flows"]

MAX_WORST_FLOWS = 4
"""Flows drawn as their own lines; the others only feed the band."""
WORST_COLORS = ("#d62728", "#9467bd", "#e07b00", "#1f6fb4")
HANDOVER_COLOR = "#8c564b"
BAND_COLOR = "#d9d9d9"
MEDIAN_COLOR = "#737373"
OTHER_STATE_COLOR = "#b3b3b3"
RRC_COLORS = {
    "connected": "#b7dfb0",
    "promotion": "#f3c37a",
    "short_drx": "#a8c8ec",
    "long_drx": "#6b9bd1",
    "idle": "#bbbbbb",
}
STRIP_HEIGHT = 0.05
"""Height of the RRC strip, as a fraction of the axes."""
_PIXELS = 1000
"""About the figure's width in pixels: detail finer than this cannot be seen."""


def worst_flows(windows: Columns, count: int = MAX_WORST_FLOWS) -> list[int]:
    """The ``count`` flows with the lowest window MOS (ties: lower mean MOS, then flow id)."""
    rated = _rated(windows)
    if len(rated) == 0:
        return []
    mos = rated["mos"].astype(np.float64)
    flows, flow_of = np.unique(rated["flow"], return_inverse=True)
    lowest = np.full(flows.size, np.inf)
    np.minimum.at(lowest, flow_of, mos)
    mean = np.bincount(flow_of, weights=mos) / np.bincount(flow_of)
    ranked = flows[np.lexsort((flows, mean, lowest))]
    return [int(f) for f in ranked[:count]]


def _rated(windows: Columns) -> Columns:
    """The windows that have a MOS (not NaN)."""
    return windows.take(~np.isnan(windows["mos"].astype(np.float64)))


def mos_over_time(windows: Columns, events: Columns) -> Chart:
    """Windowed MOS against run time: worst flows, a band for all, handovers and RRC states."""
    if len(windows) == 0 or np.isnan(windows["mos"].astype(np.float64)).all():
        return no_data("no windows rated", height=300.0)
    worst = worst_flows(windows)
    n_flows = int(np.unique(windows["flow"]).size)
    span = (float(windows["start_s"].min()), float(windows["end_s"].max()))
    width = float(np.median(windows["end_s"] - windows["start_s"]))
    panel = Panel(
        title=f"MOS over time: the {len(worst)} worst of {n_flows} flows, and every flow's range"
        if n_flows > len(worst)
        else f"MOS over time of each of the {n_flows} flows",
        x=Axis("run time (s)", low=span[0], high=span[1], grid=True, tick_count=8),
        y=Axis(f"MOS per {width:g} s window", low=0.0, high=4.7),
        height=300.0,
    )
    panel.add(*satisfaction_lines(named=False))
    if n_flows > len(worst):
        _band(panel, windows, n_flows)
    for color, flow in zip(WORST_COLORS, worst, strict=False):
        rows = windows.take(windows["flow"] == flow).sort_by(["start_s"])
        mos = rows["mos"].astype(np.float64)
        lowest = float(np.nanmin(mos))  # a worst flow has a rated window
        label = f"call {int(rows['call'][0])} {rows['direction'][0]} (lowest {lowest:.2f})"
        x = np.r_[rows["start_s"], rows["end_s"][-1]]
        y = np.r_[mos, mos[-1]]
        panel.add(Line(array(x), array(y), color, 2.1, step="post", label=label))
    calls = {int(c) for c in windows["call"][np.isin(windows["flow"], worst)].tolist()}
    _handovers(panel, events, calls, span)
    worst_call = int(windows["call"][windows["flow"] == worst[0]][0])
    _rrc_strip(panel, events, worst_call, span)
    return Chart([panel], legend="bottom")


def _band(panel: Panel, windows: Columns, n_flows: int) -> None:
    """Lowest, median and highest window MOS of all flows, per time slot of one window."""
    width = float(np.median(windows["end_s"] - windows["start_s"]))
    rated = _rated(windows)
    slot = np.floor((rated["start_s"] + rated["end_s"]) / 2.0 / width).astype(np.int64)
    slots, low, mid, high = _slot_stats(slot, rated["mos"].astype(np.float64))
    x = np.r_[slots.astype(np.float64), slots[-1] + 1.0] * width
    low, mid, high = (np.r_[values, values[-1]] for values in (low, mid, high))
    label = f"all {n_flows} flows: lowest to highest"
    panel.add(Band(x, array(low), array(high), BAND_COLOR, "post", label))
    panel.add(Line(x, array(mid), MEDIAN_COLOR, 1.3, "dashed", "post", "all flows: median"))


def _slot_stats(
    slot: npt.NDArray[np.int64], mos: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], FloatArray, FloatArray, FloatArray]:
    """The slots, in order, and the lowest, median and highest ``mos`` of each."""
    slots, of_slot = np.unique(slot, return_inverse=True)
    order = np.lexsort((mos, of_slot))  # by slot, then by MOS
    ranked = mos[order]
    counts = np.bincount(of_slot, minlength=slots.size)
    first = np.cumsum(counts) - counts
    last = first + counts - 1
    median = (ranked[first + (counts - 1) // 2] + ranked[first + counts // 2]) / 2.0
    return slots, ranked[first], median, ranked[last]


def _handovers(panel: Panel, events: Columns, calls: set[int], span: tuple[float, float]) -> None:
    """Shade each handover of ``calls`` from its start to the end of its media gap.

    Spans are merged where they overlap or lie closer than a pixel, and drawn
    as one series, so that thousands of handovers draw as fast as a few.
    """
    if len(events) == 0 or "kind" not in events:
        return
    rows = events.take(
        (events["kind"] == EventKind.HANDOVER) & np.isin(events["call"], list(calls))
    )
    if len(rows) == 0:
        return
    intervals = []
    for time_s, text in zip(rows["time_s"].tolist(), rows["fields"].tolist(), strict=True):
        start, fields = float(time_s), _fields(text)
        ends = [fields.get(key) for key in ("media_end_s", "interruption_end_s")]
        end = max([start, *(float(e) for e in ends if isinstance(e, int | float))])
        intervals.append((start, max(end, start + 0.05)))
    merged = _merged(sorted(intervals), gap=(span[1] - span[0]) / _PIXELS)
    panel.add(Spans(merged, HANDOVER_COLOR, 0.25, label="handover (to media back)"))
    if len(rows) <= 12:  # names stay readable for a few handovers
        for time_s, text in zip(rows["time_s"].tolist(), rows["fields"].tolist(), strict=True):
            kind = str(_fields(text).get("kind", ""))
            panel.add(Text(float(time_s), 4.62, kind, HANDOVER_COLOR, 9.5, baseline="top"))


def _merged(intervals: list[tuple[float, float]], gap: float) -> list[tuple[float, float]]:
    """Sorted ``intervals`` joined where they overlap or are less than ``gap`` apart."""
    merged: list[tuple[float, float]] = []
    for begin, finish in intervals:
        if merged and begin - merged[-1][1] < gap:
            merged[-1] = (merged[-1][0], max(merged[-1][1], finish))
        else:
            merged.append((begin, finish))
    return merged


def _rrc_strip(panel: Panel, events: Columns, call: int, span: tuple[float, float]) -> None:
    """The RRC state of ``call`` within ``span`` (run time), as spans along the bottom.

    Each of ``_PIXELS`` slices of the span shows the state the UE spent most of
    it in, so a call with thousands of DRX cycles draws one series per state.
    """
    if len(events) == 0 or "kind" not in events:
        return
    rows = events.take((events["kind"] == EventKind.RRC) & (events["call"] == call)).sort_by(
        ["time_s"]
    )
    if len(rows) == 0:
        return
    fields = [_fields(text) for text in rows["fields"].tolist()]
    state = str(fields[0].get("from", "connected"))
    states = [state]  # states[k]: the state after the first k changes
    for change in fields:
        state = str(change.get("to", state))
        states.append(state)
    names = list(dict.fromkeys(states))
    codes = np.array([names.index(name) for name in states])
    changes = np.clip(rows["time_s"].astype(np.float64), *span)
    bounds = np.r_[span[0], changes, span[1]]  # state k holds from bounds[k] to bounds[k + 1]
    grid = np.linspace(span[0], span[1], _PIXELS + 1)
    held = np.stack(
        [
            np.diff(np.interp(grid, bounds, np.r_[0.0, np.cumsum(np.diff(bounds) * (codes == j))]))
            for j in range(len(names))
        ]
    )  # seconds in each state, per slice
    dominant = held.argmax(axis=0)
    runs = np.flatnonzero(np.r_[True, dominant[1:] != dominant[:-1]])
    ends = np.r_[runs[1:], dominant.size]
    bars: dict[str, list[tuple[float, float]]] = {}
    for first, stop in zip(runs, ends, strict=True):
        bars.setdefault(names[dominant[first]], []).append((grid[first], grid[stop]))
    for name, spans in bars.items():
        color = RRC_COLORS.get(name, OTHER_STATE_COLOR)
        panel.add(Spans(spans, color, top=STRIP_HEIGHT, label=f"RRC {name} (call {call})"))


def _fields(text: object) -> dict[str, object]:
    """An event's JSON fields as a dict (empty when missing or not an object)."""
    try:
        value = json.loads(str(text)) if text is not None else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
