"""The trace: what both engines produce and every quality model reads.

- ``packets.parquet``: one row per media packet (``PACKET_SCHEMA``).
- ``events.parquet``: time-stamped control-plane events (``EVENT_SCHEMA``).
- ``manifest.json``: resolved scenario, seed, versions and host facts.

The Arrow schemas are declared here once. Parquet files are written with
fixed options and no pandas metadata, so the same trace gives the same bytes.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from voipbed.arrow_numpy import from_numpy, from_strings
from voipbed.metric_names import DROP_REASONS, EventKind

__all__ = [
    "DIRECTIONS",
    "DROP_REASONS",
    "EVENT_SCHEMA",
    "PACKET_SCHEMA",
    "EventKind",
    "Trace",
    "events_table",
    "host_facts",
    "packets_table",
    "read_trace",
    "with_events",
    "write_events",
    "write_trace",
]

_CATEGORY = pa.dictionary(pa.int16(), pa.string())

PACKET_SCHEMA = pa.schema(
    [
        pa.field("call", pa.int32(), nullable=False),
        pa.field("flow", pa.int32(), nullable=False),
        pa.field("direction", _CATEGORY, nullable=False),  # "uplink" / "downlink"
        pa.field("seq", pa.int32(), nullable=False),  # RTP sequence number, unwrapped, from 0
        pa.field("rtp_ts", pa.int64(), nullable=False),  # RTP timestamp, unwrapped, from 0
        pa.field("payload_bytes", pa.int32(), nullable=False),
        pa.field("wire_bytes", pa.int32(), nullable=False),  # IP packet size
        pa.field("dscp", pa.uint8(), nullable=False),  # as sent
        pa.field("dscp_received", pa.uint8(), nullable=True),  # as the far end saw it; null if lost
        pa.field("send_s", pa.float64(), nullable=False),
        pa.field("recv_s", pa.float64(), nullable=False),  # NaN when lost
        pa.field("lost_at", _CATEGORY, nullable=True),  # segment that lost it; null if delivered
        pa.field("drop_reason", _CATEGORY, nullable=True),  # queue, aqm, harq, channel
        pa.field("ce", pa.bool_(), nullable=False),  # ECN Congestion Experienced on arrival
        pa.field("codec", _CATEGORY, nullable=False),  # codec mode it was coded with
        pa.field("target_bps", pa.float64(), nullable=True),  # sender's target; null: fixed rate
    ]
)

EVENT_SCHEMA = pa.schema(
    [
        pa.field("time_s", pa.float64(), nullable=False),
        pa.field("kind", _CATEGORY, nullable=False),  # an EventKind
        pa.field("call", pa.int32(), nullable=False),  # -1 when not about one call
        pa.field("fields", pa.string(), nullable=False),  # JSON object
    ]
)

DIRECTIONS = ("uplink", "downlink")

# Fixed writer options: part of what makes a trace byte-identical across runs.
_PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "row_group_size": 1 << 20,
}


@dataclass(frozen=True)
class Trace:
    """A run's packets, events and manifest, as written to and read from a run folder."""

    packets: pa.Table
    events: pa.Table
    manifest: dict[str, Any]


def _category(codes: NDArray[np.integer[Any]], names: Sequence[str]) -> pa.DictionaryArray:
    """Codes index ``names``; a negative code is null."""
    codes16 = np.asarray(codes, dtype=np.int16)
    mask = codes16 < 0
    indices = from_numpy(codes16, pa.int16(), mask if mask.any() else None)
    return pa.DictionaryArray.from_arrays(indices, from_strings(list(names)))


def packets_table(
    *,
    call: NDArray[Any],
    flow: NDArray[Any],
    direction: NDArray[Any],
    seq: NDArray[Any],
    rtp_ts: NDArray[Any],
    payload_bytes: NDArray[Any],
    wire_bytes: NDArray[Any],
    dscp: NDArray[Any],
    dscp_received: NDArray[Any],
    send_s: NDArray[Any],
    recv_s: NDArray[Any],
    lost_at: NDArray[Any],
    places: Sequence[str],
    drop_reason: NDArray[Any],
    reasons: Sequence[str],
    ce: NDArray[Any],
    codec: NDArray[Any],
    codecs: Sequence[str],
    target_bps: NDArray[Any],
) -> pa.Table:
    """The packets table; category codes index ``DIRECTIONS``, ``places``, ``reasons`` and
    ``codecs`` (names in ``models.codecs.CODECS``).

    ``dscp_received`` is negative for a packet that was lost (null in the table);
    ``target_bps`` is NaN for a packet sent at a fixed rate (null in the table).
    """
    received = np.asarray(dscp_received, dtype=np.int64)
    lost = received < 0
    columns = [
        from_numpy(call, pa.int32()),
        from_numpy(flow, pa.int32()),
        _category(direction, DIRECTIONS),
        from_numpy(seq, pa.int32()),
        from_numpy(rtp_ts, pa.int64()),
        from_numpy(payload_bytes, pa.int32()),
        from_numpy(wire_bytes, pa.int32()),
        from_numpy(dscp, pa.uint8()),
        from_numpy(np.where(lost, 0, received), pa.uint8(), lost if lost.any() else None),
        from_numpy(send_s, pa.float64()),
        from_numpy(recv_s, pa.float64()),
        _category(lost_at, places),
        _category(drop_reason, reasons),
        from_numpy(ce, pa.bool_()),
        _category(codec, codecs),
        _nullable_floats(target_bps),
    ]
    return pa.Table.from_arrays(columns, schema=PACKET_SCHEMA)


def _nullable_floats(values: NDArray[Any]) -> pa.Array:
    """A float64 column with NaN as null."""
    floats = np.asarray(values, dtype=np.float64)
    missing = np.isnan(floats)
    return from_numpy(floats, pa.float64(), missing if missing.any() else None)


_FIELDS_ENCODER = json.JSONEncoder(sort_keys=True)  # built once: json.dumps builds one per call


def events_table(events: Sequence[tuple[float, str, int, dict[str, Any]]]) -> pa.Table:
    """The events table from ``(time_s, kind, call, fields)`` tuples, sorted by time then call."""
    ordered = sorted(events, key=lambda event: (event[0], event[2], event[1]))
    kinds = sorted({event[1] for event in ordered})
    columns = [
        from_numpy(np.array([event[0] for event in ordered], dtype=np.float64), pa.float64()),
        _category(np.array([kinds.index(e[1]) for e in ordered], dtype=np.int16), kinds),
        from_numpy(np.array([event[2] for event in ordered], dtype=np.int64), pa.int32()),
        from_strings([_FIELDS_ENCODER.encode(e[3]) for e in ordered]),
    ]
    return pa.Table.from_arrays(columns, schema=EVENT_SCHEMA)


def with_events(
    events: pa.Table, more: Sequence[tuple[float, str, int, dict[str, Any]]]
) -> pa.Table:
    """``events`` (an events table) with ``more`` events added, sorted by time then call as
    ``events_table`` sorts them."""
    if not more:
        return events
    rows = events.to_pylist()
    kept = [(r["time_s"], str(r["kind"]), r["call"], json.loads(r["fields"])) for r in rows]
    return events_table([*kept, *more])


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def host_facts() -> dict[str, Any]:
    """Versions and machine facts that let a run be reproduced and its speed be judged."""
    return copy.deepcopy(_host_facts())


@functools.cache
def _host_facts() -> dict[str, Any]:
    packages = ["voipbed", "numpy", "pandas", "pyarrow", "simpy", "pydantic"]
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "versions": {name: _package_version(name) for name in packages},
    }


def write_trace(trace: Trace, run_dir: Path) -> None:
    """Write ``packets.parquet``, ``events.parquet`` and ``manifest.json`` into ``run_dir``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(trace.packets, run_dir / "packets.parquet", **_PARQUET_OPTIONS)
    pq.write_table(trace.events, run_dir / "events.parquet", **_PARQUET_OPTIONS)
    manifest = json.dumps(trace.manifest, indent=2, sort_keys=True, default=str)
    (run_dir / "manifest.json").write_text(manifest + "\n", encoding="utf-8")


def write_events(events: pa.Table, run_dir: Path) -> None:
    """Write ``events.parquet`` into ``run_dir`` again (``write_trace`` wrote it first)."""
    pq.write_table(events, run_dir / "events.parquet", **_PARQUET_OPTIONS)


def read_trace(run_dir: Path) -> Trace:
    """Read a trace written by ``write_trace``; the schemas are checked."""
    packets = pq.read_table(run_dir / "packets.parquet", schema=PACKET_SCHEMA)
    events = pq.read_table(run_dir / "events.parquet", schema=EVENT_SCHEMA)
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    return Trace(packets, events, manifest)
