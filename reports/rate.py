"""Target and sent bit rate of a run whose senders adapt their rate, beside the link's capacity.

One panel per direction, over run time: the senders' target rate and what
they sent, each the mean over the direction's flows per bin
(``voipbed.send_rates.rate_bins``, drawn at the bins' middles), and each
flow's share of the path's capacity where the scenario sets it: a segment's
``capacity`` or ``capacity_steps`` (``voipbed.scenario_path.Segment``), the
smallest over the segments that set one at each instant, divided by
``calls.count`` (every call crosses every segment). Segments whose rate
comes from a link trace, or that are unlimited, are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from voipbed.columns import Columns
from voipbed.scenario import Scenario
from voipbed.scenario_path import Segment
from voipbed.send_rates import RATE_BIN_S

from .chart import Axis, Chart, LegendEntry, Line, Panel, array, no_data, padded
from .plots import DIRECTION_COLORS, OTHER_COLOR, direction_order

__all__ = ["CAPACITY_COLOR", "FlowCapacity", "caption", "flow_capacity", "target_and_sent"]

CAPACITY_COLOR = "#7f7f7f"


class FlowCapacity(NamedTuple):
    """A step function: ``bps[k]`` holds from ``time_s[k]`` to ``time_s[k + 1]`` (the last
    entry repeats the one before it at the run's end, so the last step is drawn)."""

    time_s: np.ndarray
    bps: np.ndarray


def _every_bin(
    middles: np.ndarray, target_bps: np.ndarray, sent_bps: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The series over every bin from the first to the last, NaN (a gap in the line) where
    no flow sent."""
    slot = np.rint((middles - middles.min()) / RATE_BIN_S).astype(np.int64)
    count = int(slot.max()) + 1 if slot.size else 0
    x = middles.min() + RATE_BIN_S * np.arange(count) if count else array([])
    target, sent = np.full(count, np.nan), np.full(count, np.nan)
    target[slot], sent[slot] = target_bps, sent_bps
    return x, target, sent


def _segment_steps(segment: Segment, direction: str) -> list[tuple[float, float]] | None:
    """The segment's set rate in ``direction`` as (from, bit rate) steps; None if not set."""
    if segment.capacity_steps is not None:
        return [(step.at_s, step.capacity_bps) for step in segment.capacity_steps]
    trace = segment.uplink_trace if direction == "uplink" else segment.downlink_trace
    if trace is None and segment.capacity_bps is not None:
        return [(0.0, segment.capacity_bps)]
    return None


def flow_capacity(scenario: Scenario) -> dict[str, FlowCapacity]:
    """Per direction, each flow's share of the path's set capacity (module docstring);
    directions in which no segment sets one are left out."""
    shares = {}
    for direction in ("uplink", "downlink"):
        known = [s for s in (_segment_steps(seg, direction) for seg in scenario.path) if s]
        if not known:
            continue
        times = sorted({at for steps in known for at, _ in steps})
        lowest = [min(_rate_at(steps, at) for steps in known) for at in times]
        end = max(scenario.duration_s, times[-1])
        share = array(lowest) / scenario.calls.count
        shares[direction] = FlowCapacity(array([*times, end]), np.r_[share, share[-1]])
    return shares


def _rate_at(steps: list[tuple[float, float]], time_s: float) -> float:
    """The rate of ``steps`` at ``time_s`` (the first step starts at 0 s)."""
    return [rate for at, rate in steps if at <= time_s][-1]


def caption(scenario: Scenario | None) -> str:
    """The figure's caption, saying how the capacity line was made."""
    calls = scenario.calls.count if scenario is not None else 1
    share = (
        f"the link's rate divided by the {calls} calls that share it"
        if calls > 1
        else "the link's whole rate (one call)"
    )
    return (
        f"Per direction, the mean over flows, per {RATE_BIN_S:g} s of send time, of the "
        "senders' target rate (dashed; the congestion controller's target when each packet "
        "was sent) and of the rate they sent (solid; IP packets, headers included, over the "
        "audio time of the packets sent in the bin). Dotted grey, where the scenario sets it "
        "(a segment's capacity or capacity_steps; the smallest over the path, segments with "
        f"link traces left out): each flow's share of the capacity, {share}. The link "
        "counts each hop's own bytes (framing, ROHC), the sent rate IP bytes; cross traffic "
        "and rate-control feedback share the link too."
    )


def target_and_sent(rates: Columns, capacity: Mapping[str, FlowCapacity] | None = None) -> Chart:
    """The figure: a panel per direction of ``rates`` (``voipbed.send_rates.rate_bins``)."""
    if len(rates) == 0:
        return no_data("no rate-controlled packets")
    capacity = capacity or {}
    directions = direction_order(rates["direction"].astype(str).tolist())
    middles = rates["start_s"].astype(np.float64) + RATE_BIN_S / 2.0
    span = padded(
        [middles - RATE_BIN_S / 2.0, middles + RATE_BIN_S / 2.0],
        margin=0.01,
    ) or (None, None)
    panels = []
    for direction in directions:
        rows = rates["direction"].astype(str) == direction
        color = DIRECTION_COLORS.get(direction, OTHER_COLOR)
        panel = Panel(
            title=direction,
            title_align="left",
            x=Axis(grid=True, tick_labels=False),
            y=Axis("kbit/s per flow", low=0.0, grid=True, tick_count=5),
            height=190.0,
        )
        x, target, sent = _every_bin(
            middles[rows], rates["target_bps"][rows], rates["sent_bps"][rows]
        )
        panel.add(Line(x, target / 1e3, color, 1.6, "dashed", label="target"))
        panel.add(Line(x, sent / 1e3, color, 2.2, label="sent"))
        if direction in capacity:
            steps = capacity[direction]
            panel.add(
                Line(
                    steps.time_s,
                    steps.bps / 1e3,
                    CAPACITY_COLOR,
                    1.4,
                    "dotted",
                    step="post",
                    label="capacity share",
                )
            )
        panel.x.low, panel.x.high = span
        panels.append(panel)
    panels[-1].x.label = "send time (s)"
    panels[-1].x.tick_labels = True
    entries = [LegendEntry(d, DIRECTION_COLORS.get(d, OTHER_COLOR), width=2.2) for d in directions]
    entries += [
        LegendEntry("sent", OTHER_COLOR, width=2.2),
        LegendEntry("target", OTHER_COLOR, width=1.6, dash="dashed"),
    ]
    if any(d in capacity for d in directions):
        entries.append(LegendEntry("capacity per flow", CAPACITY_COLOR, width=1.4, dash="dotted"))
    title = f"Target and sent bit rate, mean over flows per {RATE_BIN_S:g} s"
    return Chart(panels, title=title, legend="top", legend_entries=entries)
