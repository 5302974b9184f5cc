"""Adaptive senders: each flow's RTP packets, window by window, at its codec's current mode.

Every flow sends one packet every ptime from its first packet until its
call ends (as ``sim.traffic`` does for fixed-rate calls), at the payload size
of the operating point its ``FollowerBank`` entry holds when the window is
made. Within a window packets go in send-time order, ties by flow. Each packet
carries the point it was coded with and the sender's target rate then.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
        self.payload_of_point = np.array(
            [point_payload_bytes(p, ptime_s) for p in points], dtype=np.int64
        )
        self.wire_of_point = np.array(
            [wire_bytes_per_packet(int(b), overhead) for b in self.payload_of_point],
            dtype=np.int64,
        )
        self.count = np.maximum(np.ceil((end_s - first_s) / ptime_s - _EPS_S), 0).astype(np.int64)
        self._started = np.zeros(first_s.size, dtype=np.bool_)

    def sent_before(self, flow: IntArray, time_s: FloatArray) -> IntArray:
        """How many packets each ``flow`` has sent before ``time_s``: those whose send time
        (``first + k ptime``, as computed for the packet) is below it."""
        first = self.first_s[flow]
        k = np.ceil((time_s - first) / self.ptime_s).astype(np.int64)
        k -= first + (k - 1) * self.ptime_s >= time_s  # the float product may land either side
        k += first + k * self.ptime_s < time_s
        return np.clip(k, 0, self.count[flow])

    def retarget(self, flow: IntArray, now_s: FloatArray, target_bps: FloatArray) -> None:
        """New targets, in time order; each flow's mode follows from its next window."""
        self.target_bps[flow] = target_bps
        self.followers.update(flow, now_s, target_bps)

    def window(self, start_s: float, end_s: float, direction: int) -> WindowMedia:
        """Direction ``direction``'s packets sent in ``[start_s, end_s)``."""
        flows = np.arange(direction, self.first_s.size, 2, dtype=np.int64)
        low = self.sent_before(flows, np.full(flows.size, start_s))
        high = self.sent_before(flows, np.full(flows.size, end_s))
        counts = high - low
        active = counts > 0
        fresh = active & (self.followers.index[flows] < 0)
        if fresh.any():  # a flow's first packet: its first mode from its start target
            who = flows[fresh]
            self.followers.update(who, self.first_s[who], self.target_bps[who])
        owner = np.repeat(flows, counts)
        seq = np.arange(owner.size, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        seq += np.repeat(low, counts)
        send_s = self.first_s[owner] + seq * self.ptime_s
        order = np.lexsort((owner, send_s))
        owner, seq, send_s = owner[order], seq[order], send_s[order]
        point = self.followers.index[owner]
        return WindowMedia(
            flow=owner,
            seq=seq,
            send_s=send_s,
            point=point,
            payload_bytes=self.payload_of_point[point],
            wire_bytes=self.wire_of_point[point],
            target_bps=self.target_bps[owner],
        )
