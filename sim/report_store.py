"""The receivers' reports of one direction on their way back to the senders.

Reports are numbered in the order they are sent. The store keeps what each
says (``sim.feedback.Reports``) and the packets it covers until it is settled:
heard by its sender, or lost on the reverse path. A settled prefix is dropped
when room is needed, so the store holds about the reports in flight.

``hear`` gives the reports that reached their senders in a window, grouped
by flow, each flow's in the order they arrived, with the packets each covers
grouped by report, as ``GccBank.on_reports`` takes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from voipbed.models._jit import kernel
from voipbed.sim.feedback import Reports
from voipbed.sim.stages import BoolArray, FloatArray, IntArray

__all__ = ["Heard", "ReportStore"]


@dataclass(frozen=True)
class Heard:
    """Reports that reached their senders, by flow in arrival order; report r covers packets
    ``bounds[r]`` to ``bounds[r + 1]`` (``packet_report`` names each packet's report)."""

    flow: IntArray
    arrival_s: FloatArray
    highest: IntArray  # highest sequence number the report covers
    expected: IntArray
    lost: IntArray
    ce: IntArray
    bounds: IntArray
    packet_report: IntArray
    packet_send_s: FloatArray
    packet_recv_s: FloatArray
    packet_bytes: IntArray


class _Rows:
    """Named numpy columns of equal length holding the entries numbered from ``base`` on:
    appended at the end, dropped from the front."""

    def __init__(self, dtypes: dict[str, DTypeLike], capacity: int) -> None:
        self.columns: dict[str, NDArray[Any]] = {
            name: np.empty(capacity, dtype=dtype) for name, dtype in dtypes.items()
        }
        self.base = 0  # number of the entry at row 0
        self.size = 0  # rows in use

    def room(self, count: int, keep_from: int) -> None:
        """Make room for ``count`` more rows, dropping the entries numbered below
        ``keep_from``."""
        dead = keep_from - self.base
        capacity = next(iter(self.columns.values())).size
        if self.size + count <= capacity:
            return
        live = self.size - dead
        size = capacity if live + count <= capacity else 2 * (live + count)
        for name, old in self.columns.items():
            new = old if size == capacity else np.empty(size, dtype=old.dtype)
            new[:live] = old[dead : self.size]
            self.columns[name] = new
        self.base, self.size = keep_from, live


class ReportStore:
    """One direction's reports from their sending until they are settled."""

    def __init__(self, flows: int, capacity: int = 1024) -> None:
        self.flows = flows
        self.sent = 0  # reports sent so far: the next one's number
        self.settled = 0  # reports numbered below are heard or lost
        self.reports = _Rows(
            {
                "flow": np.int64,
                "expected": np.int64,
                "lost": np.int64,
                "ce": np.int64,
                "highest": np.int64,
                "start": np.int64,  # number of its first packet
                "count": np.int64,  # packets it covers
                "id": np.int64,  # the feedback packet carrying it, in the direction's walk
                "heard": np.bool_,
            },
            capacity,
        )
        self.packets = _Rows(
            {"send_s": np.float64, "recv_s": np.float64, "bytes": np.int64}, 4 * capacity
        )

    def add(self, reports: Reports, first_id: int) -> None:
        """Keep ``reports``, carried by packets ``first_id`` on, numbered from ``sent`` on."""
        count = reports.flow.size
        covered = reports.packet_send_s.size
        rows, packets = self.reports, self.packets
        oldest_packet = self._oldest_packet()
        rows.room(count, self.settled)
        packets.room(covered, oldest_packet)
        c, p = rows.columns, packets.columns
        _append(
            rows.size,
            packets.size,
            packets.base,
            first_id,
            reports.flow,
            reports.expected,
            reports.lost,
            reports.ce,
            reports.highest,
            reports.bounds,
            reports.packet_send_s,
            reports.packet_recv_s,
            reports.packet_bytes,
            (c["flow"], c["expected"], c["lost"], c["ce"], c["highest"], c["start"], c["count"]),
            c["id"],
            c["heard"],
            (p["send_s"], p["recv_s"]),
            p["bytes"],
        )
        rows.size += count
        packets.size += covered
        self.sent += count

    def _oldest_packet(self) -> int:
        """Number of the first packet of the oldest report not settled."""
        rows = self.reports
        if self.settled == rows.base + rows.size:
            return self.packets.base + self.packets.size
        return int(rows.columns["start"][self.settled - rows.base])

    def hear(self, ids: IntArray, number_of: IntArray, arrival_s: FloatArray) -> Heard | None:
        """The reports among packets ``ids`` (in arrival order), which reached their senders at
        ``arrival_s`` (by packet id): packet i carries report ``-number_of[i] - 1`` when
        ``number_of[i]`` is negative. None when there are none."""
        rows, packets = self.reports, self.packets
        c, p = rows.columns, packets.columns
        heard = _hear(
            ids,
            number_of,
            arrival_s,
            rows.base,
            c["flow"],
            c["expected"],
            c["lost"],
            c["ce"],
            c["highest"],
            c["start"],
            c["count"],
            c["heard"],
            packets.base,
            p["send_s"],
            p["recv_s"],
            p["bytes"],
            self.flows,
        )
        if heard[0].size == 0:
            return None
        return Heard(*heard)

    def settle(self, reason: IntArray) -> None:
        """Move past the oldest reports heard, or lost on the path (``reason``, by packet id,
        is a drop reason, -1 while not lost)."""
        rows = self.reports
        c = rows.columns
        self.settled = _settled(self.settled, rows.base, rows.size, c["heard"], c["id"], reason)


@kernel
def _settled(
    settled: int, base: int, size: int, heard: BoolArray, ids: IntArray, reason: IntArray
) -> int:
    """The number of the first report from ``settled`` on neither heard nor lost."""
    row = settled - base
    while row < size and (heard[row] or reason[ids[row]] >= 0):
        row += 1
    return base + row


@kernel
def _hear(
    ids: IntArray,
    number_of: IntArray,
    arrival_s: FloatArray,
    base: int,
    flow: IntArray,
    expected: IntArray,
    lost: IntArray,
    ce: IntArray,
    highest: IntArray,
    start: IntArray,
    count: IntArray,
    heard: BoolArray,
    packet_base: int,
    send_s: FloatArray,
    recv_s: FloatArray,
    size: IntArray,
    flows: int,
) -> tuple[
    IntArray,
    FloatArray,
    IntArray,
    IntArray,
    IntArray,
    IntArray,
    IntArray,
    IntArray,
    FloatArray,
    FloatArray,
    IntArray,
]:
    """``Heard``'s columns of the reports among ``ids`` (``ReportStore.hear``), grouped by
    flow stably; the reports are marked heard."""
    first = np.zeros(flows + 1, dtype=np.int64)
    reports = 0
    covered = 0
    for i in ids:
        if number_of[i] < 0:
            row = -number_of[i] - 1 - base
            first[flow[row] + 1] += 1
            reports += 1
            covered += count[row]
    for f in range(flows):
        first[f + 1] += first[f]
    order = np.empty(reports, dtype=np.int64)  # packet ids, grouped by flow
    for i in ids:
        if number_of[i] < 0:
            f = flow[-number_of[i] - 1 - base]
            order[first[f]] = i
            first[f] += 1
    out_flow = np.empty(reports, dtype=np.int64)
    out_arrival_s = np.empty(reports)
    out_highest = np.empty(reports, dtype=np.int64)
    out_expected = np.empty(reports, dtype=np.int64)
    out_lost = np.empty(reports, dtype=np.int64)
    out_ce = np.empty(reports, dtype=np.int64)
    bounds = np.empty(reports + 1, dtype=np.int64)
    owner = np.empty(covered, dtype=np.int64)
    out_send_s = np.empty(covered)
    out_recv_s = np.empty(covered)
    out_size = np.empty(covered, dtype=np.int64)
    k = 0
    for r in range(reports):
        packet = order[r]
        row = -number_of[packet] - 1 - base
        heard[row] = True
        out_flow[r] = flow[row]
        out_arrival_s[r] = arrival_s[packet]
        out_highest[r] = highest[row]
        out_expected[r] = expected[row]
        out_lost[r] = lost[row]
        out_ce[r] = ce[row]
        bounds[r] = k
        source = start[row] - packet_base
        for j in range(source, source + count[row]):
            owner[k] = r
            out_send_s[k] = send_s[j]
            out_recv_s[k] = recv_s[j]
            out_size[k] = size[j]
            k += 1
    bounds[reports] = k
    return (
        out_flow,
        out_arrival_s,
        out_highest,
        out_expected,
        out_lost,
        out_ce,
        bounds,
        owner,
        out_send_s,
        out_recv_s,
        out_size,
    )


@kernel
def _append(
    row: int,
    packet_row: int,
    packet_base: int,
    first_id: int,
    flow: IntArray,
    expected: IntArray,
    lost: IntArray,
    ce: IntArray,
    highest: IntArray,
    bounds: IntArray,
    packet_send_s: FloatArray,
    packet_recv_s: FloatArray,
    packet_bytes: IntArray,
    report_columns: tuple[IntArray, IntArray, IntArray, IntArray, IntArray, IntArray, IntArray],
    ids: IntArray,
    heard: BoolArray,
    packet_times: tuple[FloatArray, FloatArray],
    packet_sizes: IntArray,
) -> None:
    """Write reports from ``row`` on (flow, expected, lost, ce, highest, first packet's
    number, packets covered), and their packets from ``packet_row`` on."""
    for r in range(flow.size):
        at = row + r
        report_columns[0][at] = flow[r]
        report_columns[1][at] = expected[r]
        report_columns[2][at] = lost[r]
        report_columns[3][at] = ce[r]
        report_columns[4][at] = highest[r]
        report_columns[5][at] = packet_base + packet_row + bounds[r]
        report_columns[6][at] = bounds[r + 1] - bounds[r]
        ids[at] = first_id + r
        heard[at] = False
    for k in range(packet_send_s.size):
        packet_times[0][packet_row + k] = packet_send_s[k]
        packet_times[1][packet_row + k] = packet_recv_s[k]
        packet_sizes[packet_row + k] = packet_bytes[k]
