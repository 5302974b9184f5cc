"""The closed loop: senders follow their rate controllers, which hear the receivers' feedback.

The run goes in windows of one feedback interval. At the start of each
window, at time t:

1. every sender takes the feedback reports that reached it before t, in
   the order they arrived (senders are independent, so the reports go to the
   controllers grouped by flow): its rate controller (GCC, ``models.gcc_bank``)
   sets a new target at each report's arrival time, and its codec's
   ``FollowerBank`` entry picks the operating point;
2. every receiver reports what arrived since its previous report and
   before t (``sim.feedback``); each report leaves at t as an RTCP packet in
   the flow's reverse direction, on the flow of that direction of the call
   (RTP and RTCP multiplexed on one port pair, RFC 5761);
3. every sender makes its packets for ``[t, t + interval)`` at its current
   operating point (``sim.senders``);
4. the path carries that window's reports and media, both directions
   together (``sim.carrier``), up to ``t + interval``.

A report that arrives during a window thus acts from the next window: the
sender reacts up to one feedback interval later than a real one would.
Feedback packets take their bytes and their chances on the reverse path like
media; they are not rows of the packets table.

The sender's GCC measures each report's RTTs itself, from the report's
arrival and its packets' send and arrival times (``models.gcc_rtt``, as
libwebrtc's send-side GCC does). Its bytes in
flight are its packets sent before the report arrived and after the highest
one reported, at its current packet size.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from voipbed.models._jit import kernel
from voipbed.models.codec_follower_bank import FollowerBank
from voipbed.models.codec_modes import CodecFamily
from voipbed.models.gcc_bank import GccBank
from voipbed.models.grouping import group_order
from voipbed.scenario import Scenario
from voipbed.sim.carrier import PathCarrier
from voipbed.sim.control_plane import Event
from voipbed.sim.feedback import Receivers, Reports
from voipbed.sim.path import DirectionPackets, DirectionResult, Held, PathWalk
from voipbed.sim.rate_settings import LoopSettings
from voipbed.sim.senders import AdaptiveSenders, WindowMedia
from voipbed.sim.stages import BoolArray, FloatArray, IntArray
from voipbed.trace import DIRECTIONS

__all__ = ["ClosedLoopRun", "FeedbackLoop"]

_MEDIA_COLUMNS = ("flow", "seq", "send_s", "point", "payload_bytes", "wire_bytes", "target_bps")


@dataclass(frozen=True)
class ClosedLoopRun:
    """Per direction, the media packets sent (in send order) and their fates, the path's
    events, and the feedback each direction carried."""

    family: CodecFamily  # media rows' ``point`` index its points
    media: list[WindowMedia]
    fates: list[DirectionResult]
    events: list[Event]
    feedback_packets: list[int]
    feedback_bytes: list[int]


class _Growing:
    """A numpy array appended to, a window at a time."""

    def __init__(self, dtype: DTypeLike, capacity: int = 1024) -> None:
        self.data: NDArray[Any] = np.empty(max(capacity, 1), dtype=dtype)
        self.size = 0

    def extend(self, values: NDArray[Any]) -> None:
        end = self.size + values.size
        if end > self.data.size:
            grown = np.empty(max(end, 2 * self.data.size), dtype=self.data.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size : end] = values
        self.size = end

    def view(self) -> NDArray[Any]:
        return self.data[: self.size]


@dataclass
class _ReportBatch:
    """Reports sent at one instant in one direction: their numbers start at ``first``; the
    packets each covers are ``bounds[r]`` to ``bounds[r + 1]`` of ``reports``' packet
    columns."""

    first: int
    reports: Reports
    bounds: IntArray
    ids: IntArray  # the feedback packets carrying them, in the direction's walk
    heard: BoolArray  # which have reached their sender


class _Direction:
    """What one direction's walk carries, by packet id: media rows (``kind`` >= 0, the row)
    or reports (``kind`` < 0, report number ``-kind - 1``). ``media`` is the number of media
    packets the run will send in this direction: the columns are made that long at once."""

    def __init__(self, media: int) -> None:
        self.kind = _Growing(np.int64, media + media // 4)  # and about one report per 5 packets
        self.media = {
            name: _Growing(
                np.float64 if name.endswith("_s") or name == "target_bps" else np.int64, media
            )
            for name in _MEDIA_COLUMNS
        }
        self.batches: deque[_ReportBatch] = deque()
        self.reports_sent = 0
        self.arrived = Held()  # delivered, not yet due at the far end
        self.feedback_bytes = 0

    def column(self, name: str) -> NDArray[Any]:
        return self.media[name].view()


@dataclass(frozen=True)
class _Heard:
    """Reports that reached their senders, by flow in arrival order, with the packets each
    covers grouped by report."""

    flow: IntArray
    arrival_s: FloatArray
    highest: IntArray  # highest sequence number the report covers
    expected: IntArray
    lost: IntArray
    ce: IntArray
    packet_report: IntArray
    packet_send_s: FloatArray
    packet_recv_s: FloatArray
    packet_bytes: IntArray


class FeedbackLoop:
    """A closed-loop run between windows: ``window`` after ``window``, then ``finish``."""

    def __init__(
        self,
        scenario: Scenario,
        settings: LoopSettings,
        first_s: FloatArray,
        end_s: FloatArray,
        call_start_s: FloatArray,
        call_end_s: FloatArray,
    ) -> None:
        calls = scenario.calls
        flows = first_s.size
        overhead = scenario.overhead()
        self.dscp = calls.dscp
        self.ecn = calls.ecn
        followers = FollowerBank(settings.family, flows, settings.follower)
        self.senders = AdaptiveSenders(
            first_s, end_s, calls.ptime_s, followers, overhead, settings.start_bps
        )
        self.receivers = Receivers(flows, settings.feedback, overhead)
        self.controllers = GccBank(
            flows, settings.gcc, settings.start_bps, settings.min_bps, settings.max_bps
        )
        self.carrier = PathCarrier(scenario, call_start_s, call_end_s)
        per_flow = self.senders.count
        self.directions = [_Direction(int(per_flow[d::2].sum())) for d in range(len(DIRECTIONS))]
        for walk, direction in zip(self.carrier.walks, self.directions, strict=True):
            walk.reserve(direction.kind.data.size)  # its media and about as many reports

    def window(self, start_s: float, end_s: float) -> None:
        """Steps 1 to 4 of the module's docstring for the window ``[start_s, end_s)``."""
        due = [self._due(d, start_s) for d in range(len(DIRECTIONS))]
        self._hear(due)
        reports = [self._report(d, ids, start_s) for d, ids in enumerate(due)]
        packets = []
        for d, direction in enumerate(self.directions):
            media = self.senders.window(start_s, end_s, d)
            about_other = reports[1 - d]  # reports on the other direction's flows travel here
            packets.append(self._packets(direction, media, about_other, start_s))
        self.carrier.window(packets, end_s)

    def _walk(self, d: int) -> PathWalk:
        return self.carrier.walks[d]

    def _due(self, d: int, now_s: float) -> IntArray:
        """Ids of direction ``d``'s packets delivered before ``now_s`` not yet taken."""
        walk = self._walk(d)
        ids = walk.take_delivered()
        due, _ = self.directions[d].arrived.release(ids, walk.packets.recv_s[ids], now_s)
        return due

    def _hear(self, due: list[IntArray]) -> None:
        """Senders take the reports that reached them: each direction's reports (about the
        flows of the other direction) by flow, each flow's in the order they arrived. Flows
        are independent, so each sender gets its reports in arrival order."""
        for d, ids in enumerate(due):
            kind = self.directions[d].kind.view()[ids]
            feedback = kind < 0
            if not feedback.any():
                continue
            heard = self._heard_in(d, ids[feedback], -kind[feedback] - 1)
            targets = self.controllers.on_reports(
                heard.flow,
                heard.arrival_s,
                self._in_flight(heard),
                heard.expected,
                heard.lost,
                heard.ce,
                heard.packet_report,
                heard.packet_send_s,
                heard.packet_recv_s,
                heard.packet_bytes,
                check=False,
            )
            self.senders.retarget(heard.flow, heard.arrival_s, targets)

    def _heard_in(self, d: int, ids: IntArray, numbers: IntArray) -> _Heard:
        """Reports ``numbers`` that travelled in direction ``d`` (packets ``ids``, in arrival
        order), grouped by flow in arrival order, with what each says."""
        direction = self.directions[d]
        arrival_s = self._walk(d).packets.recv_s[ids]
        batches = list(direction.batches)
        firsts = np.array([b.first for b in batches], dtype=np.int64)
        which = np.searchsorted(firsts, numbers, side="right") - 1
        local = numbers - firsts[which]
        used = np.flatnonzero(np.bincount(which)).tolist()  # the batches heard from
        flow = np.empty(ids.size, dtype=np.int64)
        counts = np.empty(ids.size, dtype=np.int64)  # packets each report covers
        for b in used:
            mine = which == b
            rows, bounds = local[mine], batches[b].bounds
            flow[mine] = batches[b].reports.flow[rows]
            counts[mine] = bounds[rows + 1] - bounds[rows]
            batches[b].heard[rows] = True
        order = group_order(flow)
        flow, arrival_s, which, local = flow[order], arrival_s[order], which[order], local[order]
        counts = counts[order]
        offset = np.cumsum(counts) - counts
        expected = np.empty(ids.size, dtype=np.int64)
        lost = np.empty(ids.size, dtype=np.int64)
        ce = np.empty(ids.size, dtype=np.int64)
        highest = np.empty(ids.size, dtype=np.int64)
        total = int(counts.sum())
        send = np.empty(total)
        recv = np.empty(total)
        size = np.empty(total, dtype=np.int64)
        for b in used:
            mine = np.flatnonzero(which == b)
            report, rows = batches[b].reports, local[mine]
            expected[mine] = report.expected[rows]
            lost[mine] = report.lost[rows]
            ce[mine] = report.ce[rows]
            highest[mine] = report.highest[rows]
            _copy_ranges(
                batches[b].bounds[rows],
                offset[mine],
                counts[mine],
                (report.packet_send_s, report.packet_recv_s),
                report.packet_bytes,
                (send, recv),
                size,
            )
        self._forget_settled(d)
        owner = np.repeat(np.arange(ids.size, dtype=np.int64), counts)
        return _Heard(flow, arrival_s, highest, expected, lost, ce, owner, send, recv, size)

    def _in_flight(self, heard: _Heard) -> IntArray:
        """Bytes each report's sender has in flight when it arrives."""
        senders = self.senders
        sent = senders.sent_before(heard.flow, heard.arrival_s)
        point = np.maximum(senders.followers.index[heard.flow], 0)
        beyond = np.maximum(sent - heard.highest - 1, 0)
        in_flight: IntArray = beyond * senders.wire_of_point[point]
        return in_flight

    def _forget_settled(self, d: int) -> None:
        """Drop the oldest report batches whose reports were all heard or lost."""
        direction = self.directions[d]
        reason = self._walk(d).packets.reason
        while direction.batches:
            batch = direction.batches[0]
            if not np.all(batch.heard | (reason[batch.ids] >= 0)):
                return
            direction.batches.popleft()

    def _report(self, d: int, due: IntArray, now_s: float) -> Reports | None:
        """Receivers of direction ``d``'s flows report the media among ``due``."""
        direction = self.directions[d]
        kind = direction.kind.view()[due]
        media = due[kind >= 0]
        if not media.size:
            return None
        rows = kind[kind >= 0]
        packets = self._walk(d).packets
        return self.receivers.report(
            now_s,
            direction.column("flow")[rows],
            direction.column("seq")[rows],
            direction.column("send_s")[rows],
            packets.recv_s[media],
            packets.wire_bytes[media],
            packets.ce[media],
        )

    def _packets(
        self,
        direction: _Direction,
        media: WindowMedia,
        reports: Reports | None,
        now_s: float,
    ) -> DirectionPackets:
        """A window's packets of one direction: the reports sent at ``now_s``, then media."""
        n_media = media.send_s.size
        rows = direction.media["flow"].size + np.arange(n_media, dtype=np.int64)
        for name in _MEDIA_COLUMNS:
            direction.media[name].extend(getattr(media, name))
        dscp = np.full(n_media, self.dscp, dtype=np.int64)
        ect = np.full(n_media, self.ecn, dtype=np.bool_)
        if reports is None:
            direction.kind.extend(rows)
            return DirectionPackets(media.send_s, media.flow, media.wire_bytes, dscp, ect)
        n_reports = reports.flow.size
        first_id = direction.kind.size
        numbers = direction.reports_sent + np.arange(n_reports, dtype=np.int64)
        bounds = np.searchsorted(reports.packet_report, np.arange(n_reports + 1))
        ids = first_id + np.arange(n_reports, dtype=np.int64)
        heard = np.zeros(n_reports, dtype=np.bool_)
        direction.batches.append(_ReportBatch(direction.reports_sent, reports, bounds, ids, heard))
        direction.reports_sent += n_reports
        direction.feedback_bytes += int(reports.wire_bytes.sum())
        direction.kind.extend(np.concatenate([-numbers - 1, rows]))
        n = n_reports + n_media
        return DirectionPackets(
            np.concatenate([np.full(n_reports, now_s), media.send_s]),
            np.concatenate([reports.flow ^ 1, media.flow]),  # the call's flow of this direction
            np.concatenate([reports.wire_bytes, media.wire_bytes]),
            np.full(n, self.dscp, dtype=np.int64),
            np.concatenate([np.zeros(n_reports, dtype=np.bool_), ect]),
            np.concatenate([np.zeros(n_reports, dtype=np.bool_), np.ones(n_media, np.bool_)]),
        )

    def finish(self) -> ClosedLoopRun:
        """Carry what is still in flight; the media's fates."""
        fates, events = self.carrier.finish()
        media, media_fates = [], []
        for direction, fate in zip(self.directions, fates, strict=True):
            mine = np.flatnonzero(direction.kind.view() >= 0)  # ascending ids: rows in order
            media.append(WindowMedia(*(direction.column(name) for name in _MEDIA_COLUMNS)))
            media_fates.append(
                DirectionResult(
                    fate.recv_s[mine],
                    fate.lost_at[mine],
                    fate.drop_reason[mine],
                    fate.ce[mine],
                    fate.dscp[mine],
                    fate.queue_stats,
                    fate.queue_samples,
                )
            )
        return ClosedLoopRun(
            self.senders.followers.family,
            media,
            media_fates,
            events,
            [d.reports_sent for d in self.directions],
            [d.feedback_bytes for d in self.directions],
        )


@kernel
def _copy_ranges(
    source_start: IntArray,
    target_start: IntArray,
    length: IntArray,
    source_floats: tuple[FloatArray, FloatArray],
    source_ints: IntArray,
    target_floats: tuple[FloatArray, FloatArray],
    target_ints: IntArray,
) -> None:
    """Copy ranges ``source_start[k]`` to ``target_start[k]``, ``length[k]`` long, of two
    float arrays and one int array."""
    for k in range(length.size):
        for j in range(length[k]):
            source = source_start[k] + j
            target = target_start[k] + j
            target_floats[0][target] = source_floats[0][source]
            target_floats[1][target] = source_floats[1][source]
            target_ints[target] = source_ints[source]
