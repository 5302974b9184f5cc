"""From a trace to per-flow quality: jitter buffer, loss statistics, mouth-to-ear delay, E-model.

One row per flow (each call has an uplink and a downlink flow) in
``metrics.parquet``; ``summarize`` aggregates those rows for ``summary.json``.
Whatever the engine, the same models score the same trace columns.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from voipbed.models import emodel
from voipbed.models.codecs import Bandwidth, codec
from voipbed.models.jitter import interarrival_jitter
from voipbed.models.jitter_buffer import FixedJitterBuffer
from voipbed.scenario import Plc, Scenario

__all__ = ["METRIC_COLUMNS", "score_trace", "summarize"]

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
)


@dataclass(frozen=True)
class _FlowPackets:
    """One flow's packets in sequence order."""

    media_s: np.ndarray[Any, np.dtype[np.float64]]
    send_s: np.ndarray[Any, np.dtype[np.float64]]
    recv_s: np.ndarray[Any, np.dtype[np.float64]]


def _flow_row(packets: _FlowPackets, buffer: FixedJitterBuffer) -> dict[str, Any]:
    received = ~np.isnan(packets.recv_s)
    playout = buffer.playout(packets.media_s, packets.recv_s)
    decoder_lost = ~playout.played
    delay_s = packets.recv_s[received] - packets.send_s[received]
    jitter = interarrival_jitter(packets.media_s, packets.recv_s)
    sent = packets.recv_s.size
    row: dict[str, Any] = {
        "sent": sent,
        "received": int(received.sum()),
        "lost": int((~received).sum()),
        "late_discarded": int(playout.late.sum()),
        "ppl_percent": 100.0 * decoder_lost.sum() / sent if sent else np.nan,
        "burst_r": emodel.burst_ratio(decoder_lost) if sent else np.nan,
        "delay_mean_s": float(delay_s.mean()) if delay_s.size else np.nan,
        "delay_p95_s": float(np.percentile(delay_s, 95)) if delay_s.size else np.nan,
        "delay_p99_s": float(np.percentile(delay_s, 99)) if delay_s.size else np.nan,
        "jitter_s": float(jitter.mean()) if jitter.size else np.nan,
        # Network plus buffer delay of what was played: constant for a fixed buffer.
        "playout_delay_s": (
            float(np.mean(playout.playout_s[playout.played] - packets.send_s[playout.played]))
            if playout.played.any()
            else np.nan
        ),
    }
    return row


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
    table = packets.select(["call", "flow", "direction", "seq", "rtp_ts", "send_s", "recv_s"])
    frame = table.to_pandas()
    frame = frame.sort_values(["flow", "seq"], kind="stable")

    used = codec(scenario.calls.codec)
    buffer = FixedJitterBuffer(scenario.jitter_buffer.delay_s)
    rows = []
    flows = frame["flow"].to_numpy()
    bounds = np.flatnonzero(np.r_[True, flows[1:] != flows[:-1], True])
    columns = {
        name: frame[name].to_numpy() for name in ("call", "flow", "rtp_ts", "send_s", "recv_s")
    }
    directions = frame["direction"].astype(str).to_numpy()
    for start, end in itertools.pairwise(bounds):
        flow_packets = _FlowPackets(
            media_s=columns["rtp_ts"][start:end] / used.rtp_clock_hz,
            send_s=columns["send_s"][start:end],
            recv_s=columns["recv_s"][start:end],
        )
        row = {
            "call": int(columns["call"][start]),
            "flow": int(columns["flow"][start]),
            "direction": directions[start],
        }
        row.update(_flow_row(flow_packets, buffer))
        rows.append(row)
    metrics = pd.DataFrame(rows)
    flow_ids = metrics["flow"].to_numpy()
    for place, counts in _counts_by_category(packets, "lost_at", flow_ids).items():
        metrics[f"lost_at_{place}"] = counts
    for reason, counts in _counts_by_category(packets, "drop_reason", flow_ids).items():
        metrics[f"lost_by_{reason}"] = counts
    marked = packets.filter(packets.column("ce")).column("flow").to_numpy()
    metrics["ce_marked"] = np.bincount(np.searchsorted(flow_ids, marked), minlength=flow_ids.size)
    if events is not None:
        metrics["radio_energy_j"] = metrics["call"].map(_radio_energy_by_call(events))
    return _with_emodel(metrics, scenario)


def _radio_energy_by_call(events: pa.Table) -> dict[int, float]:
    """Each call's radio energy in joules, from the ``radio_energy`` events."""
    frame = events.to_pandas()
    rows = frame[frame["kind"] == "radio_energy"]
    return {
        int(call): float(json.loads(fields)["energy_j"])
        for call, fields in zip(rows["call"], rows["fields"], strict=True)
    }


def _with_emodel(metrics: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Mouth-to-ear delay Ta and the G.107 E-model for every flow at once."""
    used = codec(scenario.calls.codec)
    if used.bandwidth is not Bandwidth.NARROW:
        raise ValueError(f"{used.name}: only narrowband codecs are scored yet (G.107)")
    device = scenario.device
    # Mouth to ear (ITU-T G.114 clause 7 budget): capture, frame + look-ahead and
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
    overrides: dict[str, Any] = {
        "ie": used.ie,
        "bpl": used.bpl(concealment=scenario.calls.plc is Plc.CODEC),
        "ppl_percent": metrics["ppl_percent"].to_numpy(),
        "burst_r": metrics["burst_r"].to_numpy(),
        "advantage": settings.advantage,
        "telr_db": settings.telr_db,
    }
    if settings.talker_echo_delay_s is not None:
        overrides["t_s"] = settings.talker_echo_delay_s
    if settings.listener_echo_round_trip_s is not None:
        overrides["tr_s"] = settings.listener_echo_round_trip_s
    result = emodel.evaluate(
        emodel.for_mouth_to_ear(np.where(nothing_played, 0.0, ta_s), **overrides)
    )
    metrics = metrics.drop(columns="playout_delay_s")
    metrics["ta_s"] = ta_s
    # A flow of which nothing was played carried no speech: the bottom of the scales.
    metrics["r_factor"] = np.where(nothing_played, 0.0, result.r)
    metrics["mos"] = np.where(nothing_played, 1.0, result.mos)
    return metrics


def _quantiles(values: pd.Series) -> dict[str, float | None]:
    clean = values.dropna().to_numpy(dtype=np.float64)
    if clean.size == 0:
        return {"mean": None, "p5": None, "p50": None, "p95": None}
    p5, p50, p95 = np.percentile(clean, [5, 50, 95])
    return {"mean": float(clean.mean()), "p5": float(p5), "p50": float(p50), "p95": float(p95)}


def _present(metrics: pd.DataFrame) -> list[str]:
    return [name for name in METRIC_COLUMNS if name in metrics.columns]


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
