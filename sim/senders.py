"""Adaptive senders: each flow's RTP packets, window by window, at its codec's current mode.

Every flow sends one packet every ptime from its first packet until its
call ends (as ``sim.traffic`` does for fixed-rate calls), at the payload size
of the operating point its ``FollowerBank`` entry holds when the window is
made. Within a window packets go in send-time order, ties by flow. Each packet
carries the point it was coded with and the sender's target rate then.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from voipbed.models._jit import inline_kernel, kernel
from voipbed.models.codec_follower_bank import FollowerBank
from voipbed.models.codec_modes import point_payload_bytes
from voipbed.models.overhead import Overhead, wire_bytes_per_packet
from voipbed.sim.stages import FloatArray, IntArray

__all__ = ["AdaptiveSenders", "WindowMedia"]

_EPS_S = 1e-9  # float slack when placing packet times against window edges


@dataclass(frozen=True)
class WindowMedia:
    """One direction's media packets of one window, in send order."""

    flow: IntArray
    seq: IntArray
    send_s: FloatArray
    point: IntArray  # index into the family's points
    payload_bytes: IntArray
    wire_bytes: IntArray
    target_bps: FloatArray


class AdaptiveSenders:
    """All flows of a run (flow ``2 c + d`` is call c's direction d), each following its
    target rate with the codec family's operating points."""

    def __init__(
        self,
        first_s: FloatArray,
        end_s: FloatArray,
        ptime_s: float,
        followers: FollowerBank,
        overhead: Overhead,
        start_bps: float,
    ) -> None:
        self.first_s = first_s
        self.end_s = end_s
        self.ptime_s = ptime_s
        self.followers = followers
        self.target_bps = np.full(first_s.size, start_bps)
        points = followers.family.points
        amr_format = followers.config.amr_format
        self.payload_of_point = np.array(
            [point_payload_bytes(p, ptime_s, amr_format) for p in points], dtype=np.int64
        )
        self.wire_of_point = np.array(
            [wire_bytes_per_packet(int(b), overhead) for b in self.payload_of_point],
            dtype=np.int64,
        )
        self.count = np.maximum(np.ceil((end_s - first_s) / ptime_s - _EPS_S), 0).astype(np.int64)
        self._flows = [np.arange(d, first_s.size, 2, dtype=np.int64) for d in range(2)]

    def sent_before(self, flow: IntArray, time_s: FloatArray) -> IntArray:
        """How many packets each ``flow`` has sent before ``time_s``: those whose send time
        (``first + k ptime``, as computed for the packet) is below it."""
        return _sent_before_each(self.first_s, self.count, self.ptime_s, flow, time_s)

    def retarget(self, flow: IntArray, now_s: FloatArray, target_bps: FloatArray) -> None:
        """New targets, in time order; each flow's mode follows from its next window."""
        self.target_bps[flow] = target_bps
        self.followers.update(flow, now_s, target_bps)

    def window(self, start_s: float, end_s: float, direction: int) -> WindowMedia:
        """Direction ``direction``'s packets sent in ``[start_s, end_s)``."""
        flows = self._flows[direction]
        counts, owner, seq, send_s = _window(
            self.first_s, self.count, self.ptime_s, flows, start_s, end_s
        )
        fresh = (counts > 0) & (self.followers.index[flows] < 0)
        if fresh.any():  # a flow's first packet: its first mode from its start target
            who = flows[fresh]
            self.followers.update(who, self.first_s[who], self.target_bps[who])
        point, payload_bytes, wire_bytes, target_bps = _settings_of(
            owner, self.followers.index, self.payload_of_point, self.wire_of_point, self.target_bps
        )
        return WindowMedia(
            flow=owner,
            seq=seq,
            send_s=send_s,
            point=point,
            payload_bytes=payload_bytes,
            wire_bytes=wire_bytes,
            target_bps=target_bps,
        )


@inline_kernel
def _sent_before(first_s: float, count: int, ptime_s: float, time_s: float) -> int:
    """The packets a flow sends from ``first_s`` every ``ptime_s`` (``count`` in all) before
    ``time_s``: those whose send time, as computed for the packet, is below it (the float
    product may land either side of the quotient's ceiling)."""
    k = math.ceil((time_s - first_s) / ptime_s)
    if first_s + (k - 1) * ptime_s >= time_s:
        k -= 1
    if first_s + k * ptime_s < time_s:
        k += 1
    return min(max(k, 0), count)


@kernel
def _sent_before_each(
    first_s: FloatArray, count: IntArray, ptime_s: float, flow: IntArray, time_s: FloatArray
) -> IntArray:
    """``_sent_before`` of each ``flow`` at its ``time_s``."""
    sent = np.empty(flow.size, dtype=np.int64)
    for i in range(flow.size):
        f = flow[i]
        sent[i] = _sent_before(first_s[f], count[f], ptime_s, time_s[i])
    return sent


@kernel
def _settings_of(
    owner: IntArray,
    point_of_flow: IntArray,
    payload_of_point: IntArray,
    wire_of_point: IntArray,
    target_of_flow: FloatArray,
) -> tuple[IntArray, IntArray, IntArray, FloatArray]:
    """Each packet's (point, payload bytes, wire bytes, target) from its flow ``owner``."""
    point = np.empty(owner.size, dtype=np.int64)
    payload = np.empty(owner.size, dtype=np.int64)
    wire = np.empty(owner.size, dtype=np.int64)
    target = np.empty(owner.size)
    for k in range(owner.size):
        f = owner[k]
        p = point_of_flow[f]
        point[k] = p
        payload[k] = payload_of_point[p]
        wire[k] = wire_of_point[p]
        target[k] = target_of_flow[f]
    return point, payload, wire, target


@kernel
def _window(
    first_s: FloatArray,
    count: IntArray,
    ptime_s: float,
    flows: IntArray,
    start_s: float,
    end_s: float,
) -> tuple[IntArray, IntArray, IntArray, FloatArray]:
    """(packets per flow of ``flows``, then every packet's flow, sequence number and send
    time) of the packets sent in ``[start_s, end_s)``, in send order, ties by flow.

    Flows are taken in the order of their first packet in the window, round by round
    (each flow's k-th packet of the window in round k): in send order whenever the flows'
    first packets lie within one ptime, as they do once calls are up; otherwise the
    packets are sorted."""
    low = np.empty(flows.size, dtype=np.int64)
    counts = np.empty(flows.size, dtype=np.int64)
    for i in range(flows.size):
        f = flows[i]
        low[i] = _sent_before(first_s[f], count[f], ptime_s, start_s)
        counts[i] = _sent_before(first_s[f], count[f], ptime_s, end_s) - low[i]
    active = np.flatnonzero(counts > 0)
    opening = np.empty(active.size)
    for i in range(active.size):
        opening[i] = first_s[flows[active[i]]] + low[active[i]] * ptime_s
    active = active[np.argsort(opening, kind="mergesort")]
    total = counts.sum()
    owner = np.empty(total, dtype=np.int64)
    seq = np.empty(total, dtype=np.int64)
    send_s = np.empty(total)
    k = 0
    rounds = int(counts.max()) if counts.size else 0
    for r in range(rounds):
        for place in active:
            if r < counts[place]:
                f = flows[place]
                owner[k] = f
                seq[k] = low[place] + r
                send_s[k] = first_s[f] + seq[k] * ptime_s
                k += 1
    for k in range(1, total):
        if send_s[k] < send_s[k - 1] or (send_s[k] == send_s[k - 1] and owner[k] < owner[k - 1]):
            by_flow = np.argsort(owner, kind="mergesort")
            order = by_flow[np.argsort(send_s[by_flow], kind="mergesort")]
            return counts, owner[order], seq[order], send_s[order]
    return counts, owner, seq, send_s
