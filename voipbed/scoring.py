"""From a trace to per-flow quality: jitter buffer, loss statistics, mouth-to-ear delay, E-model.

One row per flow (each call has an uplink and a downlink flow) in
``metrics.parquet``; ``summarize`` aggregates those rows for ``summary.json``.
The tables are ``voipbed.columns.Columns`` (numpy arrays by name).
Whatever the engine, the same models score the same trace columns.
``score_run`` also rates each flow in windows of ``QUALITY_WINDOW_S``
(``models.quality_windows``), splits losses by direction, segment and reason,
and says in one sentence what limits quality (``voipbed.verdict``). A trace
without packets gives tables without rows, never an error.

The codec follows the packets' ``codec`` column (``voipbed.flow_codecs``):
each flow's Ie is the time-weighted mean over the modes it was coded with and
its Bpl the mean of theirs, every flow on the E-model scale of the run's
widest class. At a fixed rate the column holds ``calls.codec`` alone and the
scores are those of that codec. Packetization, frame, look-ahead and RTP
clock are ``calls.codec``'s: an adaptive family's modes share them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import pyarrow as pa

from voipbed.arrow_numpy import dictionary_codes, to_numpy
from voipbed.columns import Columns
from voipbed.dtmf_scores import dtmf_columns
from voipbed.flow_codecs import FlowCodecs, flow_codecs, mode_inputs
from voipbed.metric_names import DROP_REASONS, METRIC_COLUMNS, EventKind
from voipbed.models import emodel, emodel_wb
from voipbed.models import overhead as ov
from voipbed.models.codecs import Bandwidth, Codec, codec, sent_codec
from voipbed.models.grouping import group_order
from voipbed.models.jitter import flow_delay_stats
from voipbed.models.plc import Plc
from voipbed.models.quality_windows import (
    QualityWindows,
    QualityWindowsByFlow,
    window_quality_flows,
)
from voipbed.scenario import Scenario
from voipbed.scenario_rate import Algorithm
from voipbed.send_rates import empty_rate_bins, mean_sent_bps, rate_bins
from voipbed.verdict import UNKNOWN, DirectionFigures, Verdict, limiting_factor

__all__ = [
    "METRIC_COLUMNS",
    "MIN_FLOWS_MEDIAN",
    "MIN_FLOWS_TAILS",
    "QUALITY_WINDOW_S",
    "Scores",
    "bandwidth",
    "loss_breakdown",
    "run_verdict",
    "score_run",
    "score_trace",
    "summarize",
]

Array = np.ndarray[Any, Any]
IntArray = np.ndarray[Any, np.dtype[np.int64]]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]

QUALITY_WINDOW_S = 2.0
"""Windows of the per-call MOS over time: short enough that a 1-2 s outage (a vertical
handover) stands out of its window, long enough for 100 packets at 20 ms ptime."""

# Percentiles over flows need enough flows to mean something. p5 and p95 need 20
# (1 / 0.05): with fewer, no flow lies beyond them and they are an interpolation
# between the two most extreme flows. A median of fewer than 5 flows is mostly noise.
MIN_FLOWS_TAILS = 20
MIN_FLOWS_MEDIAN = 5


def _counts_by_category(
    packets: pa.Table, column: str, packet_flow: Array, flows: IntArray
) -> dict[str, IntArray]:
    """Per flow (``flows``: sorted ids), how many packets have each value of a category column
    (``packet_flow``: each packet's flow, in the table's order)."""
    names, codes = dictionary_codes(packets.column(column))
    marked = codes >= 0
    row = np.searchsorted(flows, packet_flow[marked])
    counts = np.zeros((flows.size, len(names)), dtype=np.int64)
    np.add.at(counts, (row, codes[marked]), 1)
    return {name: counts[:, index] for index, name in enumerate(names)}


@dataclass(frozen=True)
class Scores:
    """Everything scored from one trace."""

    metrics: Columns
    """One row per flow (see ``score_run``)."""
    windows: Columns
    """One row per flow and window: ``call``, ``flow``, ``direction``, ``start_s`` and ``end_s``
    (run time), ``packets``, ``ppl_percent``, ``ta_s`` (mouth-to-ear delay), ``r_factor`` (on
    its scale) and ``mos``."""
    losses: Columns
    """Packets not played, by ``direction``, ``segment`` and ``reason`` (see ``loss_breakdown``)."""
    playout_s: FloatArray
    """Each packet's playout time in the packets table's row order: NaN unless received; for a
    packet discarded late, the playout time it missed."""
    verdict: Verdict
    r_scale_max: float
    """Top of the run's R scale: 100 (G.107) or 129 (G.107.1)."""
    rates: Columns
    """Target and sent bit rates per direction and second (``voipbed.send_rates.rate_bins``)
    of a run whose flows adapt their codec (no rows otherwise)."""


def score_trace(packets: pa.Table, scenario: Scenario, events: pa.Table | None = None) -> Columns:
    """Per-flow metrics of a packets table (``score_run(...).metrics``)."""
    return score_run(packets, scenario, events).metrics


def score_run(packets: pa.Table, scenario: Scenario, events: pa.Table | None = None) -> Scores:
    """Score a packets table with the scenario's codec, buffer and device.

    Per-flow metrics: counts, loss by segment (``lost_at_*``) and reason
    (``lost_by_*``), ``loss_percent`` (lost in the network) and ``late_percent``
    (discarded late by the jitter buffer), each of the packets sent, one-way
    network delay, ``jitter_s`` (the mean over the flow's received packets of
    the RFC 3550 clause 6.4.1 running interarrival jitter estimate, from J = 0
    at the first) and ``jitter_last_s`` (its last value, what an RTCP receiver
    report would carry at the end of the flow),
    jitter buffer figures, mouth-to-ear delay ``ta_s``, and the E-model:
    ``r_factor`` is R clipped to its scale (0-100 for narrowband codecs,
    ITU-T G.107; 0-129 for wideband ones, G.107.1), ``r_factor_raw`` R as
    eq. 7-1 gives it (it can be far below 0 on a bad path; NaN when nothing
    was played), ``mos`` MOS from R (G.107 Annex B, in [1, 4.5]), ``ie_eff``
    and ``idd`` the loss and delay impairments, and ``mos_window_min`` the
    lowest MOS over the flow's ``QUALITY_WINDOW_S`` windows. With ``events``,
    each flow also gets its call's radio energy (``radio_energy_j``) and,
    where real stacks dialled, its call's set-up time (``setup_time_s``).
    A run whose flows adapt their codec (``calls.rate_control``, or more
    than one mode in the packets) also gets ``ie`` (the flow's Ie on the
    run's scale), ``codec_modes`` (distinct modes used) and ``mean_sent_bps``
    (``voipbed.send_rates.mean_sent_bps``).
    """
    if packets.num_rows == 0:
        return _score_nothing(packets, scenario, events)
    used = codec(scenario.calls.codec)
    column = {name: to_numpy(packets.column(name)) for name in ("flow", "seq", "send_s", "recv_s")}
    # Rows come in send order within each flow; regroup them by flow (linear), and
    # sort properly only if some flow is not in sequence order.
    order = group_order(column["flow"])
    same_flow = np.diff(column["flow"][order]) == 0
    if np.any(same_flow & (np.diff(column["seq"][order]) <= 0)):
        order = np.lexsort((column["seq"], column["flow"]))
    flow = column["flow"][order]
    send_s, recv_s = column["send_s"][order], column["recv_s"][order]
    names, codes = dictionary_codes(packets.column("codec"))
    # Each packet's media time by its own codec's RTP clock (an imported capture may mix
    # codecs of different clocks, e.g. AMR at 8 kHz and AMR-WB at 16 kHz); a packet with
    # no codec (code -1) takes the scenario's, placed last.
    clock_hz = np.array([codec(name).rtp_clock_hz for name in names] + [used.rtp_clock_hz])
    media_s = to_numpy(packets.column("rtp_ts"))[order] / clock_hz[codes[order]]
    starts = np.flatnonzero(np.r_[True, flow[1:] != flow[:-1]])
    bounds = np.r_[starts, flow.size].astype(np.int64)
    codecs = flow_codecs(names, codes[order], bounds, scenario)

    buffer = scenario.jitter_buffer.to_model(frame_s=scenario.calls.ptime_s)
    playouts = buffer.playout_flows(media_s, recv_s, bounds)
    summary = playouts.summary
    delay = flow_delay_stats(send_s, recv_s, media_s, bounds)
    sent = np.diff(bounds)
    received = np.add.reduceat(~np.isnan(recv_s), starts)
    played = playouts.played
    # Network plus buffer delay of what was played (constant for a fixed buffer).
    waited = np.add.reduceat(np.where(played, playouts.playout_s - send_s, 0.0), starts)
    flow_ids = flow[starts]
    flows: dict[str, Array] = {
        "call": to_numpy(packets.column("call"))[order][starts],
        "flow": flow_ids,
        "direction": _category_at(packets, "direction", order[starts]),
        "sent": sent,
        "received": received,
        "lost": sent - received,
        "late_discarded": summary.late_discards,
        "ppl_percent": 100.0 * (sent - summary.played) / sent,
        "loss_percent": 100.0 * (sent - received) / sent,
        "late_percent": 100.0 * summary.late_discards / sent,
        "burst_r": emodel.burst_ratios(~played, bounds),
        "delay_mean_s": delay[:, 0],
        "delay_p95_s": delay[:, 1],
        "delay_p99_s": delay[:, 2],
        "jitter_s": delay[:, 3],
        "jitter_last_s": delay[:, 4],
        "buffer_delay_mean_s": summary.mean_buffer_delay_s,
        "stretch_ratio": summary.stretch_ratio,
    }
    playout_delay_s = np.divide(
        waited, summary.played, out=np.full(sent.size, np.nan), where=summary.played > 0
    )
    packet_flow = column["flow"]
    by_place = _counts_by_category(packets, "lost_at", packet_flow, flow_ids)
    by_reason = _counts_by_category(packets, "drop_reason", packet_flow, flow_ids)
    flows |= {f"lost_at_{place}": counts for place, counts in by_place.items()}
    flows |= {f"lost_by_{reason}": counts for reason, counts in by_reason.items()}
    marked = packet_flow[to_numpy(packets.column("ce"))]
    flows["ce_marked"] = np.bincount(np.searchsorted(flow_ids, marked), minlength=flow_ids.size)
    flows |= _event_columns(flows["call"], events)
    flows |= dtmf_columns(flow_ids, events)
    flows |= _emodel_columns(
        playout_delay_s, flows["ppl_percent"], flows["burst_r"], scenario, codecs
    )
    # Mouth to ear of each played packet, as in _emodel_columns but per packet.
    fixed_s = _fixed_delay_s(scenario)
    packet_ta = np.where(played, fixed_s + playouts.playout_s - send_s, np.nan)
    rated = _flow_windows(media_s, played, packet_ta, bounds, scenario, codecs)
    flows["mos_window_min"] = rated.min_mos()
    rates = empty_rate_bins()
    if codecs.adaptive:
        ptime_s = scenario.calls.ptime_s
        wire = to_numpy(packets.column("wire_bytes"))[order]
        flows["ie"] = codecs.ie
        flows["codec_modes"] = codecs.modes
        flows["mean_sent_bps"] = mean_sent_bps(wire, send_s, bounds, ptime_s)
        target = to_numpy(packets.column("target_bps"))[order]
        rates = rate_bins(flows["direction"], bounds, send_s, wire, target, ptime_s)
    metrics = Columns(flows)
    offsets_s = send_s[starts] - media_s[starts]  # media time -> run time, per flow
    windows = _windows_table(metrics, rated, offsets_s, _r_ceiling(codecs.scale))
    playout_s = np.full(packets.num_rows, np.nan)
    playout_s[order] = playouts.playout_s
    return _scores(metrics, windows, packets, scenario, codecs, rates, playout_s)


def _score_nothing(packets: pa.Table, scenario: Scenario, events: pa.Table | None) -> Scores:
    """The scores of a trace without packets: tables with every column and no rows."""
    flows = _empty_flow_columns(scenario)
    no_flows = np.empty(0)
    bounds = np.zeros(1, dtype=np.int64)
    names, codes = dictionary_codes(packets.column("codec"))
    codecs = flow_codecs(names, codes, bounds, scenario)
    flows |= _event_columns(flows["call"], events)
    flows |= dtmf_columns(flows["flow"], events)
    flows |= _emodel_columns(no_flows, no_flows, no_flows, scenario, codecs)
    flows["mos_window_min"] = no_flows
    if codecs.adaptive:
        flows |= {"ie": no_flows, "codec_modes": np.empty(0, dtype=np.int64)}
        flows["mean_sent_bps"] = no_flows
    metrics = Columns(flows)
    empty = np.empty(0, dtype=np.bool_)
    rated = _flow_windows(no_flows, empty, no_flows, bounds, scenario, codecs)
    windows = _windows_table(metrics, rated, no_flows, _r_ceiling(codecs.scale))
    return _scores(metrics, windows, packets, scenario, codecs, empty_rate_bins())


def _scores(
    metrics: Columns,
    windows: Columns,
    packets: pa.Table,
    scenario: Scenario,
    codecs: FlowCodecs,
    rates: Columns,
    playout_s: FloatArray | None = None,
) -> Scores:
    losses = loss_breakdown(packets, metrics)
    return Scores(
        metrics,
        windows,
        losses,
        np.full(packets.num_rows, np.nan) if playout_s is None else playout_s,
        run_verdict(metrics, losses, scenario, codecs),
        _r_ceiling(codecs.scale),
        rates,
    )


def _event_columns(calls: IntArray, events: pa.Table | None) -> dict[str, Array]:
    """Radio energy per flow (``calls``: each flow's call), set-up time where calls were
    dialled, and post-dial delay where the simulator set them up, from the events; no
    columns without events."""
    if events is None:
        return {}
    energy = _radio_energy_by_call(events)
    columns = {"radio_energy_j": _per_call(calls, energy)}
    setup = _call_setup_by_call(events)
    if setup:  # real stacks dialled: from the dial to the call's answer
        columns["setup_time_s"] = _per_call(calls, setup)
    post_dial = _post_dial_delay_by_call(events)
    if post_dial:  # the simulator set the calls up
        columns["post_dial_delay_s"] = _per_call(calls, post_dial)
    return columns


def _per_call(calls: IntArray, values: dict[int, float]) -> FloatArray:
    """``values`` of each call in ``calls``, NaN for a call it lacks."""
    return np.array([values.get(call, np.nan) for call in calls.tolist()], dtype=np.float64)


def _empty_flow_columns(scenario: Scenario) -> dict[str, Array]:
    """The flow columns of a trace without packets, before the events and the E-model."""
    counts = ["sent", "received", "lost", "late_discarded"]
    floats = [
        "ppl_percent",
        "loss_percent",
        "late_percent",
        "burst_r",
        "delay_mean_s",
        "delay_p95_s",
        "delay_p99_s",
        "jitter_s",
        "jitter_last_s",
        "buffer_delay_mean_s",
        "stretch_ratio",
    ]
    lost = [f"lost_at_{segment.name}" for segment in scenario.path]
    lost += [f"lost_by_{reason}" for reason in DROP_REASONS]
    columns: dict[str, Array] = {
        "call": np.empty(0, dtype=np.int32),
        "flow": np.empty(0, dtype=np.int32),
        "direction": np.empty(0, dtype=object),
    }
    columns |= {name: np.empty(0, dtype=np.int64) for name in [*counts, *lost, "ce_marked"]}
    columns |= {name: np.empty(0, dtype=np.float64) for name in floats}
    return columns


def _fixed_delay_s(scenario: Scenario) -> float:
    """Mouth-to-ear delay besides network and buffer: handsets, frame and look-ahead."""
    device = scenario.device
    used = codec(scenario.calls.codec)
    total: float = (
        device.send_latency_s + scenario.calls.ptime_s + used.lookahead_s + device.receive_latency_s
    )
    return total


def _flow_windows(
    media_s: FloatArray,
    played: np.ndarray[Any, np.dtype[np.bool_]],
    packet_ta_s: FloatArray,
    bounds: IntArray,
    scenario: Scenario,
    codecs: FlowCodecs,
) -> QualityWindowsByFlow:
    """Every flow's windowed R and MOS (``models.quality_windows``), in media time.

    Flow i is packets ``bounds[i]:bounds[i + 1]``, in sequence order. Each
    window takes its flow's Ie and Bpl (``codecs``); flows that share them
    are rated together, then their windows are put back in flow order.
    """
    pairs = np.stack([codecs.ie, codecs.bpl], axis=1)
    groups, group_of = np.unique(pairs, axis=0, return_inverse=True)
    if len(groups) <= 1:
        first = (float(groups[0, 0]), float(groups[0, 1])) if len(groups) else None
        ie, bpl = first or mode_inputs(scenario.calls.codec, codecs.scale, _plc(scenario))
        return _rate_windows(media_s, played, packet_ta_s, bounds, scenario, codecs, ie, bpl)
    sizes = np.diff(bounds)
    parts = []
    counts = np.zeros(sizes.size, dtype=np.int64)
    for index, (ie, bpl) in enumerate(groups.tolist()):
        mine = np.flatnonzero(group_of.reshape(-1) == index)
        rows = _ranges(bounds[mine], sizes[mine])
        local = np.r_[0, np.cumsum(sizes[mine])].astype(np.int64)
        part = _rate_windows(
            media_s[rows], played[rows], packet_ta_s[rows], local, scenario, codecs, ie, bpl
        )
        counts[mine] = np.diff(part.bounds)
        parts.append((mine, part.windows))
    edges = np.r_[0, np.cumsum(counts)].astype(np.int64)
    merged: dict[str, Array] = {}
    for mine, windows in parts:
        at = _ranges(edges[mine], counts[mine])
        for item in fields(windows):
            values = getattr(windows, item.name)
            target = merged.setdefault(item.name, np.empty(int(edges[-1]), dtype=values.dtype))
            target[at] = values
    return QualityWindowsByFlow(QualityWindows(**merged), edges)


def _rate_windows(
    media_s: FloatArray,
    played: np.ndarray[Any, np.dtype[np.bool_]],
    packet_ta_s: FloatArray,
    bounds: IntArray,
    scenario: Scenario,
    codecs: FlowCodecs,
    ie: float,
    bpl: float,
) -> QualityWindowsByFlow:
    """The windows of flows that share one Ie and Bpl."""
    inputs = _emodel_settings(scenario)
    inputs["ie_wb" if codecs.scale is Bandwidth.WIDE else "ie"] = ie
    inputs["bpl"] = bpl
    return window_quality_flows(
        media_s,
        played,
        packet_ta_s,
        bounds,
        window_s=QUALITY_WINDOW_S,
        bandwidth=codecs.scale,
        nothing_played_ta_s=0.0,  # nothing played: 100 % loss rules the window
        **inputs,
    )


def _ranges(starts: IntArray, lengths: IntArray) -> IntArray:
    """The indices ``starts[k]:starts[k] + lengths[k]`` of every k, end to end."""
    before = np.r_[0, np.cumsum(lengths)[:-1]].astype(np.int64)
    ranges: IntArray = np.repeat(starts - before, lengths) + np.arange(int(lengths.sum()))
    return ranges


def _windows_table(
    metrics: Columns, rated: QualityWindowsByFlow, offsets_s: FloatArray, r_max: float
) -> Columns:
    """Every flow's windows in one table, in run time (``offsets_s``: media to run time)."""
    counts = np.diff(rated.bounds)
    windows = rated.windows
    offsets = np.repeat(offsets_s, counts)
    return Columns(
        {
            "call": np.repeat(metrics["call"], counts),
            "flow": np.repeat(metrics["flow"], counts),
            "direction": np.repeat(metrics["direction"], counts),
            "start_s": windows.start_s + offsets,
            "end_s": windows.end_s + offsets,
            "packets": windows.packets,
            "ppl_percent": windows.ppl_percent,
            "ta_s": windows.ta_s,
            "r_factor": np.clip(windows.r, 0.0, r_max),
            "mos": windows.mos,
        }
    )


def loss_breakdown(packets: pa.Table, metrics: Columns) -> Columns:
    """Packets not played by ``direction``, ``segment`` and ``reason``, with ``packets`` > 0.

    Network losses carry the segment that lost them (``lost_at``) and their
    ``drop_reason`` (``unattributed`` when none was recorded); late discards
    at the jitter buffer have reason ``late`` and no segment (None).
    """
    rows: list[tuple[str, str | None, str, int]] = []
    if packets.num_rows:
        lost = np.isnan(to_numpy(packets.column("recv_s")))
        columns = [_codes(packets, name, lost) for name in ("direction", "lost_at", "drop_reason")]
        # One integer per (direction, segment, reason); code -1 (null) shifts to 0.
        key = np.zeros(int(lost.sum()), dtype=np.int64)
        for names, codes in columns:
            key = key * (len(names) + 1) + codes + 1
        combos, counts = np.unique(key, return_counts=True)
        for combo, n in zip(combos.tolist(), counts.tolist(), strict=True):
            labels: list[str | None] = []
            for names, _ in reversed(columns):
                combo, code = divmod(combo, len(names) + 1)
                labels.append(names[code - 1] if code > 0 else None)
            reason, segment, direction = labels
            rows.append((str(direction), segment, reason if reason is not None else UNKNOWN, n))
    for direction, flows in metrics.group_by("direction").items():
        rows.append((str(direction), None, "late", int(flows["late_discarded"].sum())))
    kept = [row for row in rows if row[3] > 0]
    return Columns(
        {
            "direction": np.array([row[0] for row in kept], dtype=object),
            "segment": np.array([row[1] for row in kept], dtype=object),
            "reason": np.array([row[2] for row in kept], dtype=object),
            "packets": np.array([row[3] for row in kept], dtype=np.int64),
        }
    )


def _codes(
    packets: pa.Table, column: str, rows: np.ndarray[Any, np.dtype[np.bool_]]
) -> tuple[list[str], Array]:
    """A dictionary column's names, and its codes at ``rows`` (-1 where null)."""
    names, codes = dictionary_codes(packets.column(column))
    return names, codes[rows]


def run_verdict(
    metrics: Columns, losses: Columns, scenario: Scenario, codecs: FlowCodecs | None = None
) -> Verdict:
    """What limits quality, in one sentence (``voipbed.verdict.limiting_factor``).

    The codec's impairment in a direction is the mean Ie of its flows
    (``codecs``, in the metrics' row order): for flows that adapted their
    codec, each flow's time-weighted Ie over its modes, and the sentence names
    the adaptive codec and the range of modes used. Without ``codecs``, every
    flow is taken to use ``calls.codec``.
    """
    start = scenario.calls.codec
    flow_ie = np.full(len(metrics), codec(start).ie) if codecs is None else codecs.ie
    directions = metrics["direction"]
    figures = []
    for direction, rows in metrics.group_by("direction").items():
        ie = _flow_mean(flow_ie[directions == direction])
        mine = losses.take((losses["direction"] == direction) & (losses["reason"] != "late"))
        lost = {
            (str(r), "" if s is None else str(s)): int(n)
            for r, s, n in zip(
                mine["reason"].tolist(),
                mine["segment"].tolist(),
                mine["packets"].tolist(),
                strict=True,
            )
        }
        figures.append(
            DirectionFigures(
                direction=str(direction),
                flows=len(rows),
                sent=int(rows["sent"].sum()),
                late=int(rows["late_discarded"].sum()),
                lost=lost,
                mos_mean=_mean(rows["mos"]),
                loss_impairment=_mean(rows["ie_eff"]) - ie,
                delay_impairment=_mean(rows["idd"]),
                codec_impairment=ie,
                ta_mean_s=_mean(rows["ta_s"]),
                network_delay_mean_s=_mean(rows["delay_mean_s"]),
                network_delay_p99_s=_mean(rows["delay_p99_s"]),
                buffer_delay_mean_s=_mean(rows["buffer_delay_mean_s"]),
            )
        )
    words = start if codecs is None else codecs.describe(start)
    return limiting_factor(figures, jitter_buffer=_buffer_words(scenario), codec=words)


def _flow_mean(values: FloatArray) -> float:
    """The flows' common value when they share one (exactly, no rounding), else their mean."""
    shared = _shared(values)
    return shared if isinstance(shared, float) else _mean(shared)


def _buffer_words(scenario: Scenario) -> str:
    buffer = scenario.jitter_buffer
    if buffer.kind == "fixed":
        return f"{buffer.delay_s * 1e3:.0f} ms fixed jitter buffer"
    return {"adaptive": "adaptive jitter buffer"}.get(buffer.kind, "NetEQ-like jitter buffer")


def _mean(values: Array) -> float:
    """Mean of the finite values, NaN if there are none (without numpy's empty-slice warning)."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if finite.size else float("nan")


def _call_setup_by_call(events: pa.Table) -> dict[int, float]:
    """Each call's set-up time, from its ``call_dial`` to its ``call_start`` event, or with
    DTLS-SRTP to its ``media_secure`` event (its media wait for the handshake)."""
    kinds = events.column("kind").to_pylist()
    times = events.column("time_s").to_pylist()
    calls = events.column("call").to_pylist()
    dialled = {
        c: t for k, t, c in zip(kinds, times, calls, strict=True) if k == EventKind.CALL_DIAL
    }
    started = {
        c: t - dialled[c]
        for k, t, c in zip(kinds, times, calls, strict=True)
        if k == EventKind.CALL_START and c in dialled
    }
    secured = {
        c: t - dialled[c]
        for k, t, c in zip(kinds, times, calls, strict=True)
        if k == EventKind.MEDIA_SECURE and c in started
    }
    return started | secured


def _post_dial_delay_by_call(events: pa.Table) -> dict[int, float]:
    """Each call's post-dial delay (dial to first 180), from its ``call_setup`` event."""
    kinds = events.column("kind").to_pylist()
    delays = {}
    for k, text, call in zip(
        kinds, events.column("fields").to_pylist(), events.column("call").to_pylist(), strict=True
    ):
        if k == EventKind.CALL_SETUP:
            delay = json.loads(text).get("post_dial_delay_s")
            if delay is not None:
                delays[call] = float(delay)
    return delays


def _category_at(packets: pa.Table, column: str, rows: IntArray) -> Array:
    """The values of a dictionary column at ``rows``, as strings (decoding only those rows)."""
    names, codes = dictionary_codes(packets.column(column))
    values: Array = np.array([*names, None], dtype=object)[codes[rows]]  # code -1: None
    return values


def _radio_energy_by_call(events: pa.Table) -> dict[int, float]:
    """Each call's radio energy in joules, from the ``radio_energy`` events."""
    names, kinds = dictionary_codes(events.column("kind"))
    if EventKind.RADIO_ENERGY not in names:
        return {}
    rows = np.flatnonzero(kinds == names.index(EventKind.RADIO_ENERGY))
    calls = to_numpy(events.column("call"))[rows].tolist()
    fields = to_numpy(events.column("fields"))[rows].tolist()
    return {
        int(call): float(json.loads(text)["energy_j"])
        for call, text in zip(calls, fields, strict=True)
    }


def _emodel_settings(scenario: Scenario) -> dict[str, Any]:
    """The scenario's E-model inputs besides Ie, Bpl, Ta and the loss figures.

    Ie and Bpl belong to the codec modes each flow used (``voipbed.flow_codecs``).
    """
    settings = scenario.emodel
    inputs: dict[str, Any] = {
        "advantage": settings.advantage,
        "telr_db": settings.telr_db,
    }
    if settings.talker_echo_delay_s is not None:
        inputs["t_s"] = settings.talker_echo_delay_s
    if settings.listener_echo_round_trip_s is not None:
        inputs["tr_s"] = settings.listener_echo_round_trip_s
    return inputs


def _plc(scenario: Scenario) -> Plc:
    return Plc(scenario.calls.plc.value)


def _r_ceiling(scale: Bandwidth) -> float:
    """Top of the R scale of ``scale``: 129 for wideband (G.107.1 eq. 7-2), else 100 (G.107)."""
    return emodel_wb.RO_WB if scale is Bandwidth.WIDE else 100.0


def _emodel_columns(
    playout_delay_s: FloatArray,
    ppl_percent: FloatArray,
    burst_r: FloatArray,
    scenario: Scenario,
    codecs: FlowCodecs,
) -> dict[str, FloatArray]:
    """Mouth-to-ear delay ``ta_s`` and the E-model's columns for every flow at once.

    ``playout_delay_s`` is each flow's mean network plus buffer delay of what
    was played (NaN when nothing was); Ie and Bpl are each flow's (``codecs``).
    A run on the narrowband scale is rated with ITU-T G.107 (R up to 100), one
    on the wideband scale with G.107.1 (R up to 129); MOS is on the same scale
    for both.
    """
    # Mouth to ear (the budget of ITU-T G.114): capture, frame + look-ahead and
    # packetization, network + jitter buffer, playback.
    ta_s = _fixed_delay_s(scenario) + np.asarray(playout_delay_s, dtype=np.float64)
    nothing_played = np.isnan(ta_s)
    overrides = _emodel_settings(scenario)
    overrides["bpl"] = _shared(codecs.bpl)
    overrides["ppl_percent"] = np.asarray(ppl_percent, dtype=np.float64)
    overrides["burst_r"] = np.asarray(burst_r, dtype=np.float64)
    ta_known = np.where(nothing_played, 0.0, ta_s)
    result: emodel.EModelResult | emodel_wb.EModelWbResult
    ie = _shared(codecs.ie)
    if codecs.scale is Bandwidth.WIDE:
        result = emodel_wb.evaluate(emodel_wb.for_mouth_to_ear(ta_known, ie_wb=ie, **overrides))
    else:
        result = emodel.evaluate(emodel.for_mouth_to_ear(ta_known, ie=ie, **overrides))
    size = ta_s.size
    r = np.broadcast_to(np.asarray(result.r, dtype=np.float64), (size,))
    # A flow of which nothing was played carried no speech: the bottom of the scales.
    return {
        "ta_s": ta_s,
        "r_factor": np.where(nothing_played, 0.0, np.clip(r, 0.0, _r_ceiling(codecs.scale))),
        "r_factor_raw": np.where(nothing_played, np.nan, r),
        "mos": np.where(nothing_played, 1.0, result.mos),
        "ie_eff": np.broadcast_to(np.asarray(result.ie_eff, dtype=np.float64), (size,)),
        "idd": np.where(nothing_played, 0.0, result.idd),
    }


def _shared(values: FloatArray) -> float | FloatArray:
    """The flows' common value as a scalar when they share one, else the per-flow array."""
    if values.size and np.all(values == values[0]):
        return float(values[0])
    return values


def _quantiles(values: Array) -> dict[str, float | int | None]:
    """Mean, percentiles and extremes over flows, each null unless enough flows have a value.

    ``n`` is how many flows have a value (not NaN); p50 needs
    ``MIN_FLOWS_MEDIAN`` of them, p5 and p95 ``MIN_FLOWS_TAILS``; mean, min
    and max one.
    """
    numbers = np.asarray(values, dtype=np.float64)
    clean = numbers[~np.isnan(numbers)]
    stats: dict[str, float | int | None] = {
        "n": int(clean.size),
        "mean": float(clean.mean()) if clean.size else None,
        "p5": None,
        "p50": None,
        "p95": None,
        "min": float(clean.min()) if clean.size else None,
        "max": float(clean.max()) if clean.size else None,
    }
    if clean.size >= MIN_FLOWS_MEDIAN:
        stats["p50"] = float(np.percentile(clean, 50))
    if clean.size >= MIN_FLOWS_TAILS:
        p5, p95 = np.percentile(clean, [5, 95])
        stats["p5"], stats["p95"] = float(p5), float(p95)
    return stats


def _present(metrics: Columns) -> list[str]:
    return [name for name in METRIC_COLUMNS if name in metrics]


def bandwidth(scenario: Scenario) -> dict[str, Any]:
    """Bytes per media packet and bit rate per call and direction, end to end and per segment.

    From the scenario's codec (AMR and AMR-WB in ``calls.amr_payload_format``),
    packetization and headers (models.overhead),
    RTCP share included; ROHC in its steady state (UO-0). Under rate control
    these are the figures of ``calls.codec``, the mode a call starts in, and
    ``modes`` holds those of the family's ``lowest`` and ``highest``
    operating points (each with its ``codec`` and ``bitrate_bps``), the range
    the senders move in.
    """
    calls = scenario.calls
    figures = _codec_bandwidth(scenario, calls.sent_codec())
    if calls.rate_control.algorithm is not Algorithm.NONE:
        family = calls.rate_control.family(calls.codec)
        ends = {"lowest": family.points[0], "highest": family.points[-1]}
        figures["modes"] = {
            end: {
                "codec": point.codec,
                "bitrate_bps": point.bitrate_bps,
                # An Opus point between the table's rates is sized by its own rate.
                **_codec_bandwidth(
                    scenario,
                    replace(
                        sent_codec(point.codec, calls.amr_payload_format),
                        bitrate_bps=point.bitrate_bps,
                    ),
                ),
            }
            for end, point in ends.items()
        }
    return figures


def _codec_bandwidth(scenario: Scenario, used: Codec) -> dict[str, Any]:
    """``bandwidth``'s figures for calls coded with ``used``."""
    ptime_s = scenario.calls.ptime_s
    payload = used.payload_bytes(ptime_s)

    def entry(overhead: ov.Overhead) -> dict[str, Any]:
        return {
            "bytes_per_packet": ov.wire_bytes_per_packet(payload, overhead),
            "kbps_per_call_direction": ov.bandwidth_bps(used, ptime_s, overhead) / 1e3,
        }

    segments = [
        {
            "segment": segment.name,
            "header_compression": segment.header_compression.value,
            "link_layer": segment.link_layer.value,
            **entry(scenario.overhead(segment)),
        }
        for segment in scenario.path
    ]
    return {"payload_bytes": payload, "ip": entry(scenario.overhead()), "segments": segments}


def summarize(
    metrics: Columns,
    facts: dict[str, Any],
    *,
    losses: Columns | None = None,
    verdict: Verdict | None = None,
    r_scale_max: float | None = None,
) -> dict[str, Any]:
    """Run facts, totals, and n/mean/p5/p50/p95/min/max over flows of each metric, per direction.

    Percentiles are null where too few flows have a value (``_quantiles``).
    With ``losses`` (``loss_breakdown``), ``losses`` lists packets not played
    by direction, segment and reason with their share of the direction's
    packets sent; with ``verdict``, ``verdict`` holds its sentence and parts;
    ``r_scale_max`` (the top of R's scale) is recorded as given.
    """
    totals = {
        name: int(metrics[name].sum())
        for name in metrics.names
        if name in {"sent", "received", "lost", "late_discarded", "ce_marked"}
        or name.startswith(("lost_at_", "lost_by_"))
    }
    by_direction = {
        str(direction): {name: _quantiles(group[name]) for name in _present(metrics)}
        for direction, group in metrics.group_by("direction").items()
    }
    return {
        **facts,
        "flows": len(metrics),
        "calls": int(np.unique(metrics["call"]).size),
        "totals": totals,
        "sent_by_direction": _sent_by_direction(metrics),
        "metrics": {name: _quantiles(metrics[name]) for name in _present(metrics)},
        "by_direction": by_direction,
        **({} if r_scale_max is None else {"r_scale_max": r_scale_max}),
        **({} if verdict is None else {"verdict": _verdict_dict(verdict)}),
        **({} if losses is None else {"losses": _loss_records(losses, metrics)}),
    }


def _sent_by_direction(metrics: Columns) -> dict[str, int]:
    if "sent" not in metrics or "direction" not in metrics:
        return {}
    return {
        str(direction): int(rows["sent"].sum())
        for direction, rows in metrics.group_by("direction").items()
    }


def _verdict_dict(verdict: Verdict) -> dict[str, Any]:
    return {
        "sentence": verdict.sentence,
        "cause": verdict.cause,
        "direction": verdict.direction,
        "segment": verdict.segment,
        "share_percent": verdict.share_percent,
        "impairments_r": verdict.impairments,
    }


def _loss_records(losses: Columns, metrics: Columns) -> list[dict[str, Any]]:
    sent = _sent_by_direction(metrics)
    return [
        {
            "direction": str(direction),
            "segment": None if segment is None else str(segment),
            "reason": str(reason),
            "packets": int(packets),
            "percent_of_sent": 100.0 * int(packets) / sent[str(direction)],
        }
        for direction, segment, reason, packets in zip(
            losses["direction"].tolist(),
            losses["segment"].tolist(),
            losses["reason"].tolist(),
            losses["packets"].tolist(),
            strict=True,
        )
    ]
