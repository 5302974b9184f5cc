"""What the GCC endpoints logged, for the trace: each packet's mode and target, the feedback.

- :func:`sent_logs`: each sender's per-packet log (``gcc_sender.PACKET_COLUMNS``)
  as the capture takes it (``capture.AdaptiveSenders``): per RTP packet, the
  codec mode it was coded with (an index into the family's modes), its payload
  size and GCC's target when it was sent;
- :func:`feedback_events`: one ``feedback`` event per direction, the reports
  that crossed it and their bytes on the wire (IP packets), as the simulator
  writes them: the receivers of the uplink flows send theirs down, and the
  other way round.

Pure functions on the log files the endpoints wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from voipbed.emulation.capture import AdaptiveSenders, SentLog
from voipbed.emulation.gcc_calls import FlowPlan
from voipbed.emulation.gcc_io import ip_udp_bytes
from voipbed.emulation.gcc_receiver import FEEDBACK_COLUMNS as RECEIVER_FEEDBACK_COLUMNS
from voipbed.emulation.gcc_sender import PACKET_COLUMNS as SENDER_PACKET_COLUMNS
from voipbed.trace import DIRECTIONS, EventKind

__all__ = ["feedback_events", "read_log", "sent_log", "sent_logs"]

_SEQ_PERIOD = 1 << 16
_TYPES = {
    "send_s": pa.float64(),
    "rtp_seq": pa.int64(),
    "payload_bytes": pa.int64(),
    "wire_bytes": pa.int64(),
    "mode": pa.string(),
    "target_bps": pa.float64(),
    "bytes": pa.int64(),
    "format": pa.string(),
}


def read_log(path: Path, columns: Sequence[str]) -> pa.Table:
    """A CSV log of an endpoint (header line ``columns``); ValueError naming the file when
    its header is not that."""
    options = pacsv.ConvertOptions(
        column_types={name: _TYPES[name] for name in columns if name in _TYPES},
        strings_can_be_null=False,
    )
    table = pacsv.read_csv(path, convert_options=options)
    if tuple(table.column_names) != tuple(columns):
        raise ValueError(f"{path}: columns {table.column_names}, expected {list(columns)}")
    return table


def sent_log(path: Path, ssrc: int, codecs: Sequence[str]) -> SentLog:
    """One sender's log as the capture takes it; ValueError when it names a mode not in
    ``codecs`` or skips an RTP sequence number."""
    table = read_log(path, SENDER_PACKET_COLUMNS)
    seq = table.column("rtp_seq").to_numpy()
    if not np.array_equal(seq, np.arange(seq.size) % _SEQ_PERIOD):
        raise ValueError(f"{path}: RTP sequence numbers do not count from 0 without a gap")
    modes = table.column("mode").to_pylist()
    unknown = sorted(set(modes) - set(codecs))
    if unknown:
        raise ValueError(f"{path}: modes {unknown} are not among {list(codecs)}")
    index = {name: k for k, name in enumerate(codecs)}
    return SentLog(
        ssrc=ssrc,
        mode=np.array([index[name] for name in modes], dtype=np.int64),
        payload_bytes=table.column("payload_bytes").to_numpy(),
        target_bps=table.column("target_bps").to_numpy(zero_copy_only=False),
    )


def sent_logs(plans: Sequence[FlowPlan], work: Path, codecs: Sequence[str]) -> AdaptiveSenders:
    """Every sender's log of a run whose senders move between ``codecs``."""
    flows = {plan.flow: sent_log(plan.sender_log(work), plan.sender_ssrc, codecs) for plan in plans}
    return AdaptiveSenders(tuple(codecs), flows)


def feedback_events(
    plans: Sequence[FlowPlan], work: Path, end_s: float
) -> list[tuple[float, str, int, dict[str, Any]]]:
    """One ``feedback`` event per direction at ``end_s``: the reports the receivers sent
    across it and their bytes as IP packets."""
    packets = dict.fromkeys(DIRECTIONS, 0)
    size = dict.fromkeys(DIRECTIONS, 0)
    for plan in plans:
        table = read_log(plan.receiver_feedback_log(work), RECEIVER_FEEDBACK_COLUMNS)
        back = DIRECTIONS[1 - DIRECTIONS.index(plan.direction)]  # to the sender
        rtcp = table.column("bytes").to_numpy()
        packets[back] += int(rtcp.size)
        size[back] += int(rtcp.sum()) + rtcp.size * ip_udp_bytes(plan.receiver.ip)
    return [
        (
            end_s,
            EventKind.FEEDBACK,
            -1,
            {"direction": name, "packets": packets[name], "bytes": size[name]},
        )
        for name in DIRECTIONS
    ]
