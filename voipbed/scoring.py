"""From a trace to per-flow quality: jitter buffer, loss statistics, mouth-to-ear delay, E-model.

One row per flow (each call has an uplink and a downlink flow) in
``metrics.parquet``; ``summarize`` aggregates those rows for ``summary.json``.
Whatever the engine, the same models score the same trace columns.
``score_run`` also rates each flow in windows of ``QUALITY_WINDOW_S``
(``models.quality_windows``), splits losses by direction, segment and reason,
and says in one sentence what limits quality (``voipbed.verdict``). A trace
without packets gives tables without rows, never an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from voipbed.metric_names import DROP_REASONS, METRIC_COLUMNS
from voipbed.models import emodel, emodel_wb
from voipbed.models import overhead as ov
from voipbed.models.codecs import Bandwidth, codec
from voipbed.models.grouping import group_order
from voipbed.models.jitter import flow_delay_stats
from voipbed.models.plc import Plc, bpl_for
from voipbed.models.quality_windows import QualityWindowsByFlow, window_quality_flows
from voipbed.scenario import Scenario
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


def _counts_by_category(packets: pa.Table, column: str, flows: IntArray) -> dict[str, IntArray]:
    """Per flow (``flows``: sorted ids), how many packets have each value of a category column."""
    category = packets.column(column).combine_chunks()
    names = [str(name) for name in category.dictionary.to_pylist()]
    codes = category.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    marked = codes >= 0
    row = np.searchsorted(flows, packets.column("flow").to_numpy()[marked])
    counts = np.zeros((flows.size, len(names)), dtype=np.int64)
    np.add.at(counts, (row, codes[marked]), 1)
    return {name: counts[:, index] for index, name in enumerate(names)}


@dataclass(frozen=True)
class Scores:
    """Everything scored from one trace."""

    metrics: pd.DataFrame
    """One row per flow (see ``score_run``)."""
    windows: pd.DataFrame
    """One row per flow and window: ``call``, ``flow``, ``direction``, ``start_s`` and ``end_s``
    (run time), ``packets``, ``ppl_percent``, ``r_factor`` (on its scale) and ``mos``."""
    losses: pd.DataFrame
    """Packets not played, by ``direction``, ``segment`` and ``reason`` (see ``loss_breakdown``)."""
    playout_s: FloatArray
    """Each packet's playout time in the packets table's row order: NaN unless received; for a
    packet discarded late, the playout time it missed."""
    verdict: Verdict
    r_scale_max: float
    """Top of the R scale of the codec: 100 (G.107) or 129 (G.107.1)."""


def score_trace(
    packets: pa.Table, scenario: Scenario, events: pa.Table | None = None
) -> pd.DataFrame:
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
    """
    used = codec(scenario.calls.codec)
    if packets.num_rows == 0:
        metrics = _with_emodel(_with_events(_empty_metrics(scenario), events), scenario)
        metrics["mos_window_min"] = pd.Series(dtype=np.float64)
        no_flows = np.zeros(1, dtype=np.int64)
        rated = _flow_windows(
            np.empty(0), np.empty(0, dtype=np.bool_), np.empty(0), no_flows, scenario
        )
        windows = _windows_frame(metrics, rated, np.empty(0), _r_ceiling(scenario))
        return _scores(metrics, windows, packets, scenario)
    column = {name: packets.column(name).to_numpy() for name in ("flow", "seq", "send_s", "recv_s")}
    # Rows come in send order within each flow; regroup them by flow (linear), and
    # sort properly only if some flow is not in sequence order.
    order = group_order(column["flow"])
    same_flow = np.diff(column["flow"][order]) == 0
    if np.any(same_flow & (np.diff(column["seq"][order]) <= 0)):
        order = np.lexsort((column["seq"], column["flow"]))
    flow = column["flow"][order]
    send_s, recv_s = column["send_s"][order], column["recv_s"][order]
    media_s = packets.column("rtp_ts").to_numpy()[order] / used.rtp_clock_hz
    starts = np.flatnonzero(np.r_[True, flow[1:] != flow[:-1]])
    bounds = np.r_[starts, flow.size].astype(np.int64)

    buffer = scenario.jitter_buffer.to_model(frame_s=scenario.calls.ptime_s)
    playouts = buffer.playout_flows(media_s, recv_s, bounds)
    summary = playouts.summary
    delay = flow_delay_stats(send_s, recv_s, media_s, bounds)
    sent = np.diff(bounds)
    received = np.add.reduceat(~np.isnan(recv_s), starts)
    played = playouts.played
    # Network plus buffer delay of what was played (constant for a fixed buffer).
    waited = np.add.reduceat(np.where(played, playouts.playout_s - send_s, 0.0), starts)
    direction = _category_at(packets, "direction", order[starts])
    metrics = pd.DataFrame(
        {
            "call": packets.column("call").to_numpy()[order][starts],
            "flow": flow[starts],
            "direction": direction,
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
            "playout_delay_s": np.divide(
                waited, summary.played, out=np.full(sent.size, np.nan), where=summary.played > 0
            ),
        }
    )
    flow_ids = metrics["flow"].to_numpy()
    for place, counts in _counts_by_category(packets, "lost_at", flow_ids).items():
        metrics[f"lost_at_{place}"] = counts
    for reason, counts in _counts_by_category(packets, "drop_reason", flow_ids).items():
        metrics[f"lost_by_{reason}"] = counts
    marked = packets.filter(packets.column("ce")).column("flow").to_numpy()
    metrics["ce_marked"] = np.bincount(np.searchsorted(flow_ids, marked), minlength=flow_ids.size)
    metrics = _with_emodel(_with_events(metrics, events), scenario)
    # Mouth to ear of each played packet, as in _with_emodel but per packet.
    fixed_s = _fixed_delay_s(scenario)
    packet_ta = np.where(played, fixed_s + playouts.playout_s - send_s, np.nan)
    rated = _flow_windows(media_s, played, packet_ta, bounds, scenario)
    metrics["mos_window_min"] = rated.min_mos()
    offsets_s = send_s[starts] - media_s[starts]  # media time -> run time, per flow
    windows = _windows_frame(metrics, rated, offsets_s, _r_ceiling(scenario))
    playout_s = np.full(packets.num_rows, np.nan)
    playout_s[order] = playouts.playout_s
    return _scores(metrics, windows, packets, scenario, playout_s)


def _scores(
    metrics: pd.DataFrame,
    windows: pd.DataFrame,
    packets: pa.Table,
    scenario: Scenario,
    playout_s: FloatArray | None = None,
) -> Scores:
    losses = loss_breakdown(packets, metrics)
    return Scores(
        metrics,
        windows,
        losses,
        np.full(packets.num_rows, np.nan) if playout_s is None else playout_s,
        run_verdict(metrics, losses, scenario),
        _r_ceiling(scenario),
    )


def _with_events(metrics: pd.DataFrame, events: pa.Table | None) -> pd.DataFrame:
    """Radio energy per flow, and set-up time where real stacks dialled, from the events."""
    if events is not None:
        metrics["radio_energy_j"] = metrics["call"].map(_radio_energy_by_call(events))
        metrics["radio_energy_j"] = metrics["radio_energy_j"].astype(np.float64)
        setup = _call_setup_by_call(events)
        if setup:  # real stacks dialled: from the dial to the call's answer
            metrics["setup_time_s"] = metrics["call"].map(setup)
    return metrics


def _empty_metrics(scenario: Scenario) -> pd.DataFrame:
    """The metrics of a trace without packets: every column ``score_run`` writes, no rows."""
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
        "playout_delay_s",
    ]
    lost = [f"lost_at_{segment.name}" for segment in scenario.path]
    lost += [f"lost_by_{reason}" for reason in DROP_REASONS]
    columns: dict[str, pd.Series[Any]] = {
        "call": pd.Series(dtype=np.int32),
        "flow": pd.Series(dtype=np.int32),
        "direction": pd.Series(dtype=object),
    }
    columns |= {name: pd.Series(dtype=np.int64) for name in [*counts, *lost, "ce_marked"]}
    columns |= {name: pd.Series(dtype=np.float64) for name in floats}
    return pd.DataFrame(columns)


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
) -> QualityWindowsByFlow:
    """Every flow's windowed R and MOS (``models.quality_windows``), in media time.

    Flow i is packets ``bounds[i]:bounds[i + 1]``, in sequence order.
    """
    used = codec(scenario.calls.codec)
    inputs = _emodel_settings(scenario)
    inputs["ie_wb" if used.bandwidth is Bandwidth.WIDE else "ie"] = used.ie
    return window_quality_flows(
        media_s,
        played,
        packet_ta_s,
        bounds,
        window_s=QUALITY_WINDOW_S,
        bandwidth=used.bandwidth,
        nothing_played_ta_s=0.0,  # nothing played: 100 % loss rules the window
        **inputs,
    )


def _windows_frame(
    metrics: pd.DataFrame, rated: QualityWindowsByFlow, offsets_s: FloatArray, r_max: float
) -> pd.DataFrame:
    """Every flow's windows in one table, in run time (``offsets_s``: media to run time)."""
    counts = np.diff(rated.bounds)
    windows = rated.windows
    offsets = np.repeat(offsets_s, counts)
    return pd.DataFrame(
        {
            "call": np.repeat(metrics["call"].to_numpy(), counts),
            "flow": np.repeat(metrics["flow"].to_numpy(), counts),
            "direction": np.repeat(metrics["direction"].to_numpy(), counts),
            "start_s": windows.start_s + offsets,
            "end_s": windows.end_s + offsets,
            "packets": windows.packets,
            "ppl_percent": windows.ppl_percent,
            "r_factor": np.clip(windows.r, 0.0, r_max),
            "mos": windows.mos,
        }
    )


def loss_breakdown(packets: pa.Table, metrics: pd.DataFrame) -> pd.DataFrame:
    """Packets not played by ``direction``, ``segment`` and ``reason``, with ``packets`` > 0.

    Network losses carry the segment that lost them (``lost_at``) and their
    ``drop_reason`` (``unattributed`` when none was recorded); late discards
    at the jitter buffer have reason ``late`` and no segment (None).
    """
    rows: list[dict[str, Any]] = []
    if packets.num_rows:
        lost = np.isnan(packets.column("recv_s").to_numpy())
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
            rows.append(
                {
                    "direction": str(direction),
                    "segment": segment,
                    "reason": reason if reason is not None else UNKNOWN,
                    "packets": n,
                }
            )
    if len(metrics):
        late = metrics.groupby(metrics["direction"].astype(str))["late_discarded"].sum()
        rows += [
            {"direction": d, "segment": None, "reason": "late", "packets": n}
            for d, n in late.items()
        ]
    frame = pd.DataFrame(rows, columns=["direction", "segment", "reason", "packets"])
    frame["packets"] = frame["packets"].astype(np.int64)
    return frame[frame["packets"] > 0].reset_index(drop=True)


def _codes(
    packets: pa.Table, column: str, rows: np.ndarray[Any, np.dtype[np.bool_]]
) -> tuple[list[str], IntArray]:
    """A dictionary column's names, and its codes at ``rows`` (-1 where null)."""
    category = packets.column(column).combine_chunks()
    names = [str(name) for name in category.dictionary.to_pylist()]
    codes = category.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return names, codes[rows]


def run_verdict(metrics: pd.DataFrame, losses: pd.DataFrame, scenario: Scenario) -> Verdict:
    """What limits quality, in one sentence (``voipbed.verdict.limiting_factor``)."""
    used = codec(scenario.calls.codec)
    figures = []
    for direction, rows in metrics.groupby(metrics["direction"].astype(str), sort=True):
        mine = losses[(losses["direction"] == direction) & (losses["reason"] != "late")]
        lost = {
            (str(r), "" if pd.isna(s) else str(s)): int(n)
            for r, s, n in zip(mine["reason"], mine["segment"], mine["packets"], strict=True)
        }
        figures.append(
            DirectionFigures(
                direction=str(direction),
                flows=len(rows),
                sent=int(rows["sent"].sum()),
                late=int(rows["late_discarded"].sum()),
                lost=lost,
                mos_mean=_mean(rows["mos"]),
                loss_impairment=_mean(rows["ie_eff"]) - used.ie,
                delay_impairment=_mean(rows["idd"]),
                codec_impairment=used.ie,
                ta_mean_s=_mean(rows["ta_s"]),
                network_delay_mean_s=_mean(rows["delay_mean_s"]),
                network_delay_p99_s=_mean(rows["delay_p99_s"]),
                buffer_delay_mean_s=_mean(rows["buffer_delay_mean_s"]),
            )
        )
    return limiting_factor(figures, jitter_buffer=_buffer_words(scenario), codec=used.name)


def _buffer_words(scenario: Scenario) -> str:
    buffer = scenario.jitter_buffer
    if buffer.kind == "fixed":
        return f"{buffer.delay_s * 1e3:.0f} ms fixed jitter buffer"
    return {"adaptive": "adaptive jitter buffer"}.get(buffer.kind, "NetEQ-like jitter buffer")


def _mean(values: pd.Series[Any]) -> float:
    """Mean of the finite values, NaN if there are none (without numpy's empty-slice warning)."""
    finite = values.to_numpy(dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if finite.size else float("nan")


def _call_setup_by_call(events: pa.Table) -> dict[int, float]:
    """Each call's set-up time, from its ``call_dial`` to its ``call_start`` event."""
    kinds = events.column("kind").to_pylist()
    times = events.column("time_s").to_pylist()
    calls = events.column("call").to_pylist()
    dialled = {c: t for k, t, c in zip(kinds, times, calls, strict=True) if k == "call_dial"}
    return {
        c: t - dialled[c]
        for k, t, c in zip(kinds, times, calls, strict=True)
        if k == "call_start" and c in dialled
    }


def _category_at(packets: pa.Table, column: str, rows: IntArray) -> np.ndarray[Any, Any]:
    """The values of a dictionary column at ``rows``, as strings (decoding only those rows)."""
    category = packets.column(column).combine_chunks()
    names = np.array(category.dictionary.to_pylist(), dtype=object)
    values: np.ndarray[Any, Any] = names[category.indices.to_numpy(zero_copy_only=False)[rows]]
    return values


def _radio_energy_by_call(events: pa.Table) -> dict[int, float]:
    """Each call's radio energy in joules, from the ``radio_energy`` events."""
    frame = events.to_pandas()
    rows = frame[frame["kind"] == "radio_energy"]
    return {
        int(call): float(json.loads(fields)["energy_j"])
        for call, fields in zip(rows["call"], rows["fields"], strict=True)
    }


def _emodel_settings(scenario: Scenario) -> dict[str, Any]:
    """The scenario's E-model inputs besides Ie, Ta and the loss figures."""
    used = codec(scenario.calls.codec)
    settings = scenario.emodel
    plc = Plc(scenario.calls.plc.value)
    inputs: dict[str, Any] = {
        "bpl": bpl_for(used.bpl_without_plc, used.bpl_with_plc, plc),
        "advantage": settings.advantage,
        "telr_db": settings.telr_db,
    }
    if settings.talker_echo_delay_s is not None:
        inputs["t_s"] = settings.talker_echo_delay_s
    if settings.listener_echo_round_trip_s is not None:
        inputs["tr_s"] = settings.listener_echo_round_trip_s
    return inputs


def _r_ceiling(scenario: Scenario) -> float:
    """Top of the codec's R scale: 129 for wideband (G.107.1 eq. 7-2), else 100 (G.107)."""
    return emodel_wb.RO_WB if codec(scenario.calls.codec).bandwidth is Bandwidth.WIDE else 100.0


def _with_emodel(metrics: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Mouth-to-ear delay Ta and the E-model for every flow at once.

    Narrowband codecs are rated with ITU-T G.107 (R up to 100), wideband ones
    with G.107.1 (R up to 129); MOS is on the same scale for both.
    """
    used = codec(scenario.calls.codec)
    # Mouth to ear (the budget of ITU-T G.114): capture, frame + look-ahead and
    # packetization, network + jitter buffer, playback.
    ta_s = _fixed_delay_s(scenario) + metrics["playout_delay_s"].to_numpy(dtype=np.float64)
    nothing_played = np.isnan(ta_s)
    overrides = _emodel_settings(scenario)
    overrides["ppl_percent"] = metrics["ppl_percent"].to_numpy(dtype=np.float64)
    overrides["burst_r"] = metrics["burst_r"].to_numpy(dtype=np.float64)
    ta_known = np.where(nothing_played, 0.0, ta_s)
    result: emodel.EModelResult | emodel_wb.EModelWbResult
    if used.bandwidth is Bandwidth.WIDE:
        result = emodel_wb.evaluate(
            emodel_wb.for_mouth_to_ear(ta_known, ie_wb=used.ie, **overrides)
        )
    else:
        result = emodel.evaluate(emodel.for_mouth_to_ear(ta_known, ie=used.ie, **overrides))
    size = len(metrics)
    r = np.broadcast_to(np.asarray(result.r, dtype=np.float64), (size,))
    metrics = metrics.drop(columns="playout_delay_s")
    metrics["ta_s"] = ta_s
    # A flow of which nothing was played carried no speech: the bottom of the scales.
    metrics["r_factor"] = np.where(nothing_played, 0.0, np.clip(r, 0.0, _r_ceiling(scenario)))
    metrics["r_factor_raw"] = np.where(nothing_played, np.nan, r)
    metrics["mos"] = np.where(nothing_played, 1.0, result.mos)
    metrics["ie_eff"] = np.broadcast_to(np.asarray(result.ie_eff, dtype=np.float64), (size,))
    metrics["idd"] = np.where(nothing_played, 0.0, result.idd)
    return metrics


def _quantiles(values: pd.Series[Any]) -> dict[str, float | int | None]:
    """Mean, percentiles and extremes over flows, each null unless enough flows have a value.

    ``n`` is how many flows have a value; p50 needs ``MIN_FLOWS_MEDIAN`` of
    them, p5 and p95 ``MIN_FLOWS_TAILS``; mean, min and max one.
    """
    clean = values.dropna().to_numpy(dtype=np.float64)
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


def _present(metrics: pd.DataFrame) -> list[str]:
    return [name for name in METRIC_COLUMNS if name in metrics.columns]


def bandwidth(scenario: Scenario) -> dict[str, Any]:
    """Bytes per media packet and bit rate per call and direction, end to end and per segment.

    From the scenario's codec, packetization and headers (models.overhead),
    RTCP share included; ROHC in its steady state (UO-0).
    """
    calls = scenario.calls
    used = codec(calls.codec)
    payload = used.payload_bytes(calls.ptime_s)

    def entry(overhead: ov.Overhead) -> dict[str, Any]:
        return {
            "bytes_per_packet": ov.wire_bytes_per_packet(payload, overhead),
            "kbps_per_call_direction": ov.bandwidth_bps(used, calls.ptime_s, overhead) / 1e3,
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
    metrics: pd.DataFrame,
    facts: dict[str, Any],
    *,
    losses: pd.DataFrame | None = None,
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
        for name in metrics.columns
        if name in {"sent", "received", "lost", "late_discarded", "ce_marked"}
        or name.startswith(("lost_at_", "lost_by_"))
    }
    by_direction = {
        str(direction): {name: _quantiles(group[name]) for name in _present(metrics)}
        for direction, group in metrics.groupby("direction", sort=True)
    }
    return {
        **facts,
        "flows": len(metrics),
        "calls": int(metrics["call"].nunique()) if len(metrics) else 0,
        "totals": totals,
        "sent_by_direction": _sent_by_direction(metrics),
        "metrics": {name: _quantiles(metrics[name]) for name in _present(metrics)},
        "by_direction": by_direction,
        **({} if r_scale_max is None else {"r_scale_max": r_scale_max}),
        **({} if verdict is None else {"verdict": _verdict_dict(verdict)}),
        **({} if losses is None else {"losses": _loss_records(losses, metrics)}),
    }


def _sent_by_direction(metrics: pd.DataFrame) -> dict[str, int]:
    if "sent" not in metrics.columns or "direction" not in metrics.columns:
        return {}
    sent = metrics.groupby(metrics["direction"].astype(str), sort=True)["sent"].sum()
    return {str(direction): int(n) for direction, n in sent.items()}


def _verdict_dict(verdict: Verdict) -> dict[str, Any]:
    return {
        "sentence": verdict.sentence,
        "cause": verdict.cause,
        "direction": verdict.direction,
        "segment": verdict.segment,
        "share_percent": verdict.share_percent,
        "impairments_r": verdict.impairments,
    }


def _loss_records(losses: pd.DataFrame, metrics: pd.DataFrame) -> list[dict[str, Any]]:
    sent = metrics.groupby(metrics["direction"].astype(str))["sent"].sum()
    return [
        {
            "direction": str(direction),
            "segment": None if pd.isna(segment) else str(segment),
            "reason": str(reason),
            "packets": int(packets),
            "percent_of_sent": 100.0 * int(packets) / int(sent[direction]),
        }
        for direction, segment, reason, packets in zip(
            losses["direction"], losses["segment"], losses["reason"], losses["packets"], strict=True
        )
    ]
