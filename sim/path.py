"""One direction's packets carried over its hops, window after window.

Uplink crosses ``scenario.path`` in order, downlink in reverse. Within a hop a
packet meets the segment's stages (``voipbed.segment_stages``, as the
emulation's userspace link does): DSCP bleaching, the queue and link
(``sim.segment_link``; a packet later lost on the medium still used the
link), then HARQ, loss, and the one-way delay and jitter, in the order the
packets leave the queue.

The run comes in windows: ``add`` gives the packets sent in a window and
``advance`` carries everything in flight up to the window's end (the
horizon) over a range of hops. A stage sees only the packets that reach it
before the horizon, in the order they reach it; the rest wait at its door
(``Held``) for the next window, so each stage sees the same packets in the
same order as in one batch, and the outcome is the same however the run is
cut. A run without feedback is one window with an infinite horizon.

At the radio hop, packets first wait for the radio's control plane
(``sim.control_plane``), which between two ``advance`` calls takes those
that reached it (``take_gate``) and returns them held or dropped
(``return_from_gate``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voipbed.models.grouping import in_time_order, time_order
from voipbed.sim.segment_link import SegmentLink
from voipbed.sim.stages import BoolArray, FloatArray, IntArray

__all__ = ["DirectionPackets", "DirectionResult", "Held", "PathWalk", "carry"]


@dataclass(frozen=True)
class DirectionPackets:
    """Packets of one direction, sorted by send time (ties in sender order)."""

    send_s: FloatArray
    flow: IntArray
    wire_bytes: IntArray
    dscp: IntArray
    ect: BoolArray
    rtp: BoolArray | None = None  # RTP or not (header compression applies to RTP); None: all


@dataclass(frozen=True)
class DirectionResult:
    """Per packet, in the order they were added: receive time (NaN if lost), losing hop and
    reason, and the DSCP it arrived with."""

    recv_s: FloatArray
    lost_at: IntArray  # hop index, -1 when delivered
    drop_reason: IntArray  # a DropReason code, -1 when delivered
    ce: BoolArray  # marked Congestion Experienced on the way
    dscp: IntArray  # as received, after every bleaching hop; -1 when lost
    queue_stats: list[dict[str, Any]] = field(default_factory=list)
    queue_samples: list[tuple[float, dict[str, Any]]] = field(default_factory=list)


_EMPTY_IDS: IntArray = np.empty(0, dtype=np.int64)
_EMPTY_TIMES: FloatArray = np.empty(0, dtype=np.float64)


@dataclass
class Held:
    """Packets waiting for a later window: their ids, when they are due, and (at a queue's
    exit) the order they entered the queue in, which breaks ties between equal times."""

    ids: IntArray = field(default_factory=lambda: _EMPTY_IDS)
    time_s: FloatArray = field(default_factory=lambda: _EMPTY_TIMES)
    entered: IntArray = field(default_factory=lambda: _EMPTY_IDS)

    def release(
        self, ids: IntArray, time_s: FloatArray, horizon_s: float, entered: IntArray | None = None
    ) -> tuple[IntArray, FloatArray]:
        """Merge ``ids`` due at ``time_s`` with those held, in time order (ties: held first,
        or by ``entered``), keep those due at or after ``horizon_s`` and return the rest."""
        if self.ids.size:
            ids = np.concatenate([self.ids, ids])
            time_s = np.concatenate([self.time_s, time_s])
            if entered is not None:
                entered = np.concatenate([self.entered, entered])
        if time_s.size > 1 and not in_time_order(
            time_s, _EMPTY_IDS if entered is None else entered
        ):
            if entered is None:
                order = time_order(time_s)
                ids, time_s = ids[order], time_s[order]
            else:
                order = np.lexsort((entered, time_s))
                ids, time_s, entered = ids[order], time_s[order], entered[order]
        due = time_s.size if horizon_s == np.inf else int(np.searchsorted(time_s, horizon_s))
        if due == time_s.size:
            if self.ids.size:
                self.ids, self.time_s, self.entered = _EMPTY_IDS, _EMPTY_TIMES, _EMPTY_IDS
            return ids, time_s
        self.ids, self.time_s = ids[due:], time_s[due:]
        self.entered = entered[due:] if entered is not None else _EMPTY_IDS
        return ids[:due], time_s[:due]


class _Columns:
    """Per-packet columns of a direction, grown as windows add packets."""

    def __init__(self) -> None:
        self.count = 0
        self.flow = _EMPTY_IDS
        self.wire_bytes = _EMPTY_IDS
        self.ect = np.empty(0, dtype=np.bool_)
        self.rtp = np.empty(0, dtype=np.bool_)
        self.all_rtp = True
        self.dscp = _EMPTY_IDS  # as it is now, after the bleaching hops passed
        self._dscp_shared = False  # the caller's array: copied before a change
        self.recv_s = _EMPTY_TIMES
        self.lost_at = _EMPTY_IDS
        self.reason = _EMPTY_IDS
        self.ce = np.empty(0, dtype=np.bool_)

    def add(self, packets: DirectionPackets) -> IntArray:
        """Append ``packets``; their ids. The first packets' columns are taken as they are,
        not copied (``bleach`` copies ``dscp`` before changing it)."""
        n = packets.send_s.size
        first, self.count = self.count, self.count + n
        if first == 0 and self.flow.size == 0 and packets.rtp is None:
            self._adopt(packets)
            return np.arange(n, dtype=np.int64)
        if self.count > self.flow.size:
            self._grow(self.count if first == 0 else max(self.count, 2 * self.flow.size))
        here = slice(first, self.count)
        self.flow[here] = packets.flow
        self.wire_bytes[here] = packets.wire_bytes
        self.ect[here] = packets.ect
        if packets.rtp is None:
            self.rtp[here] = True
        else:
            self.rtp[here] = packets.rtp
            self.all_rtp = self.all_rtp and bool(packets.rtp.all())
        self.dscp[here] = packets.dscp
        self.recv_s[here] = np.nan
        self.lost_at[here] = -1
        self.reason[here] = -1
        self.ce[here] = False
        return np.arange(first, self.count, dtype=np.int64)

    def reserve(self, count: int) -> None:
        """Grow the columns to hold ``count`` packets."""
        self._grow(count)

    def bleach(self, ids: IntArray) -> None:
        """Remark packets ``ids`` to DSCP 0."""
        if self._dscp_shared:
            self.dscp = self.dscp.copy()
            self._dscp_shared = False
        self.dscp[ids] = 0

    def _adopt(self, packets: DirectionPackets) -> None:
        """Take the first packets' columns without copying them."""
        n = packets.send_s.size
        self.flow = packets.flow.astype(np.int64, copy=False)
        self.wire_bytes = packets.wire_bytes.astype(np.int64, copy=False)
        self.ect = packets.ect.astype(np.bool_, copy=False)
        self.dscp = packets.dscp.astype(np.int64, copy=False)
        self._dscp_shared = self.dscp is packets.dscp
        self.rtp = np.ones(n, dtype=np.bool_)
        self.recv_s = np.full(n, np.nan)
        self.lost_at = np.full(n, -1, dtype=np.int64)
        self.reason = np.full(n, -1, dtype=np.int64)
        self.ce = np.zeros(n, dtype=np.bool_)

    def _grow(self, size: int) -> None:
        names = ("flow", "wire_bytes", "ect", "rtp", "dscp", "recv_s", "lost_at", "reason", "ce")
        for name in names:
            old = getattr(self, name)
            new = np.empty(size, dtype=old.dtype)
            new[: old.size] = old
            setattr(self, name, new)
        self._dscp_shared = False


class PathWalk:
    """One direction's packets on their way over ``links`` (in the order it crosses them).

    With a ``gate_hop``, packets reaching that hop wait at the radio's control plane
    (``take_gate``) until it returns them (``return_from_gate``) to the hop's door.
    """

    def __init__(self, links: list[SegmentLink], gate_hop: int | None = None) -> None:
        self.links = links
        self.gate_hop = gate_hop
        self.packets = _Columns()
        self._door = [Held() for _ in links]  # before each hop's stages
        self._exit = [Held() for _ in links]  # between each hop's queue and the stages behind
        self._arriving: list[tuple[IntArray, FloatArray]] = [
            (_EMPTY_IDS, _EMPTY_TIMES) for _ in links
        ]  # reached a hop's door in this window, not yet merged with those held there
        self._gate_door = Held()
        self._gate_arriving = (_EMPTY_IDS, _EMPTY_TIMES)
        self._returned = _EMPTY_IDS  # order in which the gate was given the packets returned
        self._delivered: list[IntArray] = []  # past the last hop since take_delivered

    def reserve(self, count: int) -> None:
        """Make room for ``count`` packets in all, to be added window by window."""
        if count > self.packets.flow.size:
            self.packets.reserve(count)

    def add(self, packets: DirectionPackets) -> None:
        """The packets sent in a window, at the first hop's door."""
        ids = self.packets.add(packets)
        self._arrive(0, ids, packets.send_s.astype(np.float64, copy=False))

    def advance(self, first_hop: int, end_hop: int, horizon_s: float) -> None:
        """Carry what is in flight over hops ``first_hop`` to ``end_hop`` (excluded) as far as
        it gets before ``horizon_s``; packets past the last hop are delivered."""
        for hop in range(first_hop, end_hop):
            ids, time_s = self._arriving[hop]
            self._arriving[hop] = (_EMPTY_IDS, _EMPTY_TIMES)
            if hop == self.gate_hop:
                entered, self._returned = self._returned, _EMPTY_IDS
                ids, time_s = self._door[hop].release(ids, time_s, horizon_s, entered)
            else:
                ids, time_s = self._door[hop].release(ids, time_s, horizon_s)
            self._cross(hop, ids, time_s, horizon_s)

    def take_gate(self, horizon_s: float) -> tuple[IntArray, FloatArray]:
        """The packets waiting for the radio's control plane that reached it before
        ``horizon_s``, in arrival order."""
        ids, time_s = self._gate_arriving
        self._gate_arriving = (_EMPTY_IDS, _EMPTY_TIMES)
        return self._gate_door.release(ids, time_s, horizon_s)

    def return_from_gate(
        self, ids: IntArray, time_s: FloatArray, lost: BoolArray, why: int, given: IntArray
    ) -> None:
        """Put packets taken with ``take_gate`` on to the gate hop's door at (possibly later)
        ``time_s``, except those ``lost`` there for ``why``. ``given`` orders the packets
        the way they were given to the gate: it breaks ties between equal times."""
        assert self.gate_hop is not None  # only a walk with a gate has packets to return
        if lost.any():
            self._lose(ids[lost], self.gate_hop, why)
            ids, time_s, given = ids[~lost], time_s[~lost], given[~lost]
        held_ids, held_s = self._arriving[self.gate_hop]
        if held_ids.size:
            ids, time_s = np.concatenate([held_ids, ids]), np.concatenate([held_s, time_s])
            given = np.concatenate([self._returned, given])
        self._arriving[self.gate_hop] = (ids, time_s)
        self._returned = given

    def take_delivered(self) -> IntArray:
        """Ids of the packets delivered since the previous call (their ``recv_s`` is known)."""
        if not self._delivered:
            return _EMPTY_IDS
        ids = self._delivered[0] if len(self._delivered) == 1 else np.concatenate(self._delivered)
        self._delivered = []
        return ids

    def _arrive(self, hop: int, ids: IntArray, time_s: FloatArray) -> None:
        if hop == len(self.links):
            self.packets.recv_s[ids] = time_s
            self._delivered.append(ids)
            return
        if hop == self.gate_hop:
            held_ids, held_s = self._gate_arriving
            if held_ids.size:
                ids, time_s = np.concatenate([held_ids, ids]), np.concatenate([held_s, time_s])
            self._gate_arriving = (ids, time_s)
            return
        held_ids, held_s = self._arriving[hop]
        if held_ids.size:
            ids, time_s = np.concatenate([held_ids, ids]), np.concatenate([held_s, time_s])
        self._arriving[hop] = (ids, time_s)

    def _lose(self, ids: IntArray, hop: int, why: int | IntArray) -> None:
        self.packets.lost_at[ids] = hop
        self.packets.reason[ids] = why

    def _cross(self, hop: int, ids: IntArray, time_s: FloatArray, horizon_s: float) -> None:
        """One hop's stages for the packets that reached its door before ``horizon_s``."""
        link = self.links[hop]
        stages = link.stages
        packets = self.packets
        if stages.bleach_dscp and ids.size:
            packets.bleach(ids)
        if stages.has_queue:
            if ids.size or link.holds_packets:
                left = link.enter(
                    ids,
                    time_s,
                    self._carried_bytes(link, ids),
                    packets.dscp[ids],
                    packets.ect[ids],
                    horizon_s,
                )
                ids = left.ids
                packets.ce[ids[left.ce]] = True
                dropped = left.reason >= 0
                if dropped.any():
                    self._lose(ids[dropped], hop, left.reason[dropped])
                    sent = ~dropped
                    ids = ids[sent]
                    entered = None if left.entered is None else left.entered[sent]
                    time_s = left.depart_s[sent]
                else:
                    entered, time_s = left.entered, left.depart_s
                ids, time_s = self._exit[hop].release(ids, time_s, horizon_s, entered)
            else:
                ids, time_s = self._exit[hop].release(ids, time_s, horizon_s)  # a FIFO
        if not ids.size:
            return
        behind = stages.behind_queue(time_s, packets.flow[ids])
        if behind.lost.size:
            self._lose(ids[behind.lost], hop, behind.reason)
            kept = np.ones(ids.size, dtype=np.bool_)
            kept[behind.lost] = False
            ids = ids[kept]
        self._arrive(hop + 1, ids, behind.depart_s)

    def _carried_bytes(self, link: SegmentLink, ids: IntArray) -> IntArray:
        """What ``link`` carries for packets ``ids``."""
        packets = self.packets
        if packets.all_rtp:
            return link.carried_bytes(packets.wire_bytes[ids])
        return link.carried_bytes_mixed(ids, packets.wire_bytes, packets.rtp)

    def result(self) -> DirectionResult:
        """Every packet's fate, once the last window (horizon infinity) has been carried."""
        packets = self.packets
        n = packets.count
        stats: list[dict[str, Any]] = []
        samples: list[tuple[float, dict[str, Any]]] = []
        for link in self.links:
            link_stats, link_samples = link.finish()
            if link_stats is not None:
                stats.append(link_stats)
            if link_samples is not None:
                samples.append(link_samples)
        recv_s = packets.recv_s[:n]  # views: the walk is over
        dscp = np.where(np.isnan(recv_s), -1, packets.dscp[:n])
        return DirectionResult(
            recv_s, packets.lost_at[:n], packets.reason[:n], packets.ce[:n], dscp, stats, samples
        )


def carry(packets: DirectionPackets, links: list[SegmentLink]) -> DirectionResult:
    """``packets`` over ``links`` in one window: every packet's fate."""
    walk = PathWalk(links)
    walk.add(packets)
    walk.advance(0, len(links), np.inf)
    return walk.result()
