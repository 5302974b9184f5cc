"""The closed loop: senders follow their rate controllers, which hear the receivers' feedback.

The run goes in windows of one feedback interval. At the start of each
window, at time t:

1. every sender takes the feedback reports that reached it before t, in
   the order they arrived (senders are independent, so the reports go to the
   controllers grouped by flow; ``sim.report_store`` keeps each report from its
   sending until it is heard or lost): its rate controller (GCC, ``models.gcc_bank``)
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

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from voipbed.models._jit import kernel
from voipbed.models.codec_follower_bank import FollowerBank
from voipbed.models.codec_modes import CodecFamily
from voipbed.models.gcc_bank import GccBank
from voipbed.scenario import Scenario
from voipbed.sim.carrier import PathCarrier
from voipbed.sim.control_plane import Event
from voipbed.sim.feedback import Receivers, Reports
from voipbed.sim.path import DirectionPackets, DirectionResult, Held, PathWalk
from voipbed.sim.rate_settings import LoopSettings
from voipbed.sim.report_store import Heard, ReportStore
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
    """A numpy array appended to, a window at a time: ``reserve`` room, write the values
    after the first ``size``, then move ``size`` on."""

    def __init__(self, dtype: DTypeLike, capacity: int = 1024) -> None:
        self.data: NDArray[Any] = np.empty(max(capacity, 1), dtype=dtype)
        self.size = 0

    def reserve(self, count: int) -> None:
        """Make room for ``count`` more values after the last."""
        end = self.size + count
        if end > self.data.size:
            grown = np.empty(max(end, 2 * self.data.size), dtype=self.data.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown

    def view(self) -> NDArray[Any]:
        return self.data[: self.size]


class _Direction:
    """What one direction's walk carries, by packet id: media rows (``kind`` >= 0, the row)
    or reports (``kind`` < 0, report number ``-kind - 1``). ``media`` is the number of media
    packets the run will send in this direction: the columns are made that long at once."""

    def __init__(self, media: int, flows: int) -> None:
        self.kind = _Growing(np.int64, media + media // 4)  # and about one report per 5 packets
        self.media = {
            name: _Growing(
                np.float64 if name.endswith("_s") or name == "target_bps" else np.int64, media
            )
            for name in _MEDIA_COLUMNS
        }
        self.reports = ReportStore(flows)
        self.arrived = Held()  # delivered, not yet due at the far end
        self.feedback_bytes = 0

    def column(self, name: str) -> NDArray[Any]:
        return self.media[name].view()


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
        self.directions = [
            _Direction(int(per_flow[d::2].sum()), flows) for d in range(len(DIRECTIONS))
        ]
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
            direction = self.directions[d]
            packets = self._walk(d).packets
            heard = direction.reports.hear(ids, direction.kind.data, packets.recv_s)
            if heard is None:
                continue
            direction.reports.settle(packets.reason)
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
                bounds=heard.bounds,
            )
            self.senders.retarget(heard.flow, heard.arrival_s, targets)

    def _in_flight(self, heard: Heard) -> IntArray:
        """Bytes each report's sender has in flight when it arrives."""
        senders = self.senders
        sent = senders.sent_before(heard.flow, heard.arrival_s)
        point = np.maximum(senders.followers.index[heard.flow], 0)
        beyond = np.maximum(sent - heard.highest - 1, 0)
        in_flight: IntArray = beyond * senders.wire_of_point[point]
        return in_flight

    def _report(self, d: int, due: IntArray, now_s: float) -> Reports | None:
        """Receivers of direction ``d``'s flows report the media among ``due``."""
        direction = self.directions[d]
        packets = self._walk(d).packets
        reports = self.receivers.report_among(
            now_s,
            due,
            direction.kind.data,
            direction.media["flow"].data,
            direction.media["seq"].data,
            direction.media["send_s"].data,
            packets.recv_s,
            packets.wire_bytes,
            packets.ce,
        )
        return reports if reports.flow.size else None

    def _packets(
        self,
        direction: _Direction,
        media: WindowMedia,
        reports: Reports | None,
        now_s: float,
    ) -> DirectionPackets:
        """A window's packets of one direction: the reports sent at ``now_s``, then media."""
        n_media = media.send_s.size
        n_reports = 0 if reports is None else reports.flow.size
        columns = direction.media
        for name in _MEDIA_COLUMNS:
            columns[name].reserve(n_media)
        direction.kind.reserve(n_reports + n_media)
        first_row = columns["flow"].size
        first_id = direction.kind.size
        first_number = direction.reports.sent
        report_flow, report_bytes = _NO_IDS, _NO_IDS
        if reports is not None:
            direction.reports.add(reports, first_id)
            direction.feedback_bytes += int(reports.wire_bytes.sum())
            report_flow, report_bytes = reports.flow, reports.wire_bytes
        send_s, flow, wire_bytes, ect, rtp = _lay_out(
            now_s,
            self.ecn,
            first_row,
            first_id,
            first_number,
            report_flow,
            report_bytes,
            (media.flow, media.seq),
            (media.send_s, media.point, media.payload_bytes, media.wire_bytes, media.target_bps),
            direction.kind.data,
            (columns["flow"].data, columns["seq"].data),
            (
                columns["send_s"].data,
                columns["point"].data,
                columns["payload_bytes"].data,
                columns["wire_bytes"].data,
                columns["target_bps"].data,
            ),
        )
        for name in _MEDIA_COLUMNS:
            columns[name].size += n_media
        direction.kind.size += n_reports + n_media
        dscp = np.full(n_reports + n_media, self.dscp, dtype=np.int64)
        return DirectionPackets(
            send_s, flow, wire_bytes, dscp, ect, None if reports is None else rtp
        )

    def finish(self) -> ClosedLoopRun:
        """Carry what is still in flight; the media's fates."""
        fates, events = self.carrier.finish()
        media, media_fates = [], []
        for direction, fate in zip(self.directions, fates, strict=True):
            media.append(WindowMedia(*(direction.column(name) for name in _MEDIA_COLUMNS)))
            recv_s, lost_at, drop_reason, ce, dscp = _media_fates(
                direction.kind.view(),
                direction.media["flow"].size,
                fate.recv_s,
                (fate.lost_at, fate.drop_reason, fate.dscp),
                fate.ce,
            )
            media_fates.append(
                DirectionResult(
                    recv_s,
                    lost_at,
                    drop_reason,
                    ce,
                    dscp,
                    fate.queue_stats,
                    fate.queue_samples,
                )
            )
        return ClosedLoopRun(
            self.senders.followers.family,
            media,
            media_fates,
            events,
            [d.reports.sent for d in self.directions],
            [d.feedback_bytes for d in self.directions],
        )


_NO_IDS: IntArray = np.empty(0, dtype=np.int64)


@kernel
def _lay_out(
    now_s: float,
    ecn: bool,
    first_row: int,
    first_id: int,
    first_number: int,
    report_flow: IntArray,
    report_bytes: IntArray,
    media_ints: tuple[IntArray, IntArray],
    media_rest: tuple[FloatArray, IntArray, IntArray, IntArray, FloatArray],
    kind: IntArray,
    column_ints: tuple[IntArray, IntArray],
    column_rest: tuple[FloatArray, IntArray, IntArray, IntArray, FloatArray],
) -> tuple[FloatArray, IntArray, IntArray, BoolArray, BoolArray]:
    """Append a window's media (``_MEDIA_COLUMNS``: flow and seq, then the rest) to the
    direction's columns from row ``first_row``, and its packets (reports numbered from
    ``first_number``, then media) to ``kind`` from ``first_id``; the packets' send time,
    flow (a report travels on the call's flow of this direction), bytes, ECT and RTP flags."""
    n_reports = report_flow.size
    n_media = media_ints[0].size
    n = n_reports + n_media
    send_s = np.empty(n)
    flow = np.empty(n, dtype=np.int64)
    wire_bytes = np.empty(n, dtype=np.int64)
    ect = np.empty(n, dtype=np.bool_)
    rtp = np.empty(n, dtype=np.bool_)
    for r in range(n_reports):
        send_s[r] = now_s
        flow[r] = report_flow[r] ^ 1
        wire_bytes[r] = report_bytes[r]
        ect[r] = False
        rtp[r] = False
        kind[first_id + r] = -(first_number + r) - 1
    for k in range(n_media):
        row = first_row + k
        column_ints[0][row] = media_ints[0][k]
        column_ints[1][row] = media_ints[1][k]
        column_rest[0][row] = media_rest[0][k]
        column_rest[1][row] = media_rest[1][k]
        column_rest[2][row] = media_rest[2][k]
        column_rest[3][row] = media_rest[3][k]
        column_rest[4][row] = media_rest[4][k]
        place = n_reports + k
        send_s[place] = media_rest[0][k]
        flow[place] = media_ints[0][k]
        wire_bytes[place] = media_rest[3][k]
        ect[place] = ecn
        rtp[place] = True
        kind[first_id + place] = row
    return send_s, flow, wire_bytes, ect, rtp


@kernel
def _media_fates(
    kind: IntArray,
    rows: int,
    recv_s: FloatArray,
    codes: tuple[IntArray, IntArray, IntArray],
    ce: BoolArray,
) -> tuple[FloatArray, IntArray, IntArray, BoolArray, IntArray]:
    """The fates of the ``rows`` media packets among a direction's packets (``kind`` >= 0:
    the media row): receive time, losing hop, drop reason, CE mark and DSCP received."""
    out_recv_s = np.empty(rows)
    out_lost_at = np.empty(rows, dtype=np.int64)
    out_reason = np.empty(rows, dtype=np.int64)
    out_ce = np.empty(rows, dtype=np.bool_)
    out_dscp = np.empty(rows, dtype=np.int64)
    for packet in range(kind.size):
        row = kind[packet]
        if row >= 0:
            out_recv_s[row] = recv_s[packet]
            out_lost_at[row] = codes[0][packet]
            out_reason[row] = codes[1][packet]
            out_ce[row] = ce[packet]
            out_dscp[row] = codes[2][packet]
    return out_recv_s, out_lost_at, out_reason, out_ce, out_dscp
