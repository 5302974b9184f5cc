"""From a trace to per-flow quality: jitter buffer, loss statistics, mouth-to-ear delay, E-model.

One row per flow (each call has an uplink and a downlink flow) in
``metrics.parquet``; ``summarize`` aggregates those rows for ``summary.json``.
Whatever the engine, the same models score the same trace columns.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from voipbed.models import emodel, emodel_wb
from voipbed.models import overhead as ov
from voipbed.models.codecs import Bandwidth, codec
from voipbed.models.grouping import group_order
from voipbed.models.jitter import flow_delay_stats
from voipbed.models.plc import Plc, bpl_for
from voipbed.scenario import Scenario

__all__ = ["METRIC_COLUMNS", "bandwidth", "score_trace", "summarize"]

IntArray = np.ndarray[Any, np.dtype[np.int64]]

# Aggregated in summary.json over flows (mean, p5, p50, p95).
METRIC_COLUMNS = (
    "ppl_percent",
    "burst_r",
    "delay_mean_s",
    "delay_p95_s",
    "delay_p99_s",
    "jitter_s",
    "ta_s",
    "r_factor",
    "mos",
    "radio_energy_j",
    "pesq_mos_lqo",  # emulation runs: PESQ (ITU-T P.862 / P.862.2) of the audio received
    "call_setup_s",  # emulation runs: from dialling to the answer
)


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


def score_trace(
    packets: pa.Table, scenario: Scenario, events: pa.Table | None = None
) -> pd.DataFrame:
    """Per-flow metrics of a packets table, scored with the scenario's codec, buffer and device.

    With ``events``, each flow also gets its call's radio energy (``radio_energy_j``).
    """
    used = codec(scenario.calls.codec)
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
    received = np.add.reduceat(~np.isnan(recv_s), starts) if starts.size else sent
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
            "burst_r": emodel.burst_ratios(~played, bounds),
            "delay_mean_s": delay[:, 0],
            "delay_p95_s": delay[:, 1],
            "delay_p99_s": delay[:, 2],
            "jitter_s": delay[:, 3],
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
    if events is not None:
        metrics["radio_energy_j"] = metrics["call"].map(_radio_energy_by_call(events))
        setup = _call_setup_by_call(events)
        if setup:  # real stacks dialled: from the dial to the call's answer
            metrics["call_setup_s"] = metrics["call"].map(setup)
    return _with_emodel(metrics, scenario)


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


def _with_emodel(metrics: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Mouth-to-ear delay Ta and the E-model for every flow at once.

    Narrowband codecs are rated with ITU-T G.107 (R up to 100), wideband ones
    with G.107.1 (R up to 129); MOS is on the same scale for both.
    """
    used = codec(scenario.calls.codec)
    device = scenario.device
    # Mouth to ear (the budget of ITU-T G.114): capture, frame + look-ahead and
    # packetization, network + jitter buffer, playback.
    ta_s = (
        device.send_latency_s
        + scenario.calls.ptime_s
        + used.lookahead_s
        + metrics["playout_delay_s"].to_numpy()
        + device.receive_latency_s
    )
    nothing_played = np.isnan(ta_s)
    settings = scenario.emodel
    plc = Plc(scenario.calls.plc.value)
    overrides: dict[str, Any] = {
        "bpl": bpl_for(used.bpl_without_plc, used.bpl_with_plc, plc),
        "ppl_percent": metrics["ppl_percent"].to_numpy(),
        "burst_r": metrics["burst_r"].to_numpy(),
        "advantage": settings.advantage,
        "telr_db": settings.telr_db,
    }
    if settings.talker_echo_delay_s is not None:
        overrides["t_s"] = settings.talker_echo_delay_s
    if settings.listener_echo_round_trip_s is not None:
        overrides["tr_s"] = settings.listener_echo_round_trip_s
    ta_known = np.where(nothing_played, 0.0, ta_s)
    if used.bandwidth is Bandwidth.WIDE:
        wide = emodel_wb.evaluate(emodel_wb.for_mouth_to_ear(ta_known, ie_wb=used.ie, **overrides))
        r, mos = wide.r, wide.mos
    else:
        narrow = emodel.evaluate(emodel.for_mouth_to_ear(ta_known, ie=used.ie, **overrides))
        r, mos = narrow.r, narrow.mos
    metrics = metrics.drop(columns="playout_delay_s")
    metrics["ta_s"] = ta_s
    # A flow of which nothing was played carried no speech: the bottom of the scales.
    metrics["r_factor"] = np.where(nothing_played, 0.0, r)
    metrics["mos"] = np.where(nothing_played, 1.0, mos)
    return metrics


def _quantiles(values: pd.Series) -> dict[str, float | None]:
    clean = values.dropna().to_numpy(dtype=np.float64)
    if clean.size == 0:
        return {"mean": None, "p5": None, "p50": None, "p95": None}
    p5, p50, p95 = np.percentile(clean, [5, 50, 95])
    return {"mean": float(clean.mean()), "p5": float(p5), "p50": float(p50), "p95": float(p95)}


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


def summarize(metrics: pd.DataFrame, facts: dict[str, Any]) -> dict[str, Any]:
    """Run facts, totals, and mean/p5/p50/p95 over flows of each metric, also per direction."""
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
        "metrics": {name: _quantiles(metrics[name]) for name in _present(metrics)},
        "by_direction": by_direction,
    }
