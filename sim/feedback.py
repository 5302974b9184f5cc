"""Receivers' congestion-control feedback: which packets each report covers, and its size.

At each feedback instant the receiver of every rate-controlled flow reports
the packets that arrived since its previous report (arrival before the
instant): each one's send and arrival time, size and CE mark, as RFC 8888
and transport-wide feedback carry them (the sender knows the send times from
the sequence numbers). The report covers the sequence numbers after the
highest one reported before, up to the highest received: ``expected`` of
them, ``lost`` of them not received by then (a later packet may still come
and is then reported as received, not counted again). A receiver that got
nothing new sends no report.

A report travels back as one RTCP packet in the flow's reverse direction;
its bytes are the format's (``models.cc_feedback``) plus IP and UDP headers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from voipbed.models.cc_feedback import rfc8888_bytes, twcc_bytes
from voipbed.models.overhead import Overhead
from voipbed.sim.stages import BoolArray, FloatArray, IntArray

__all__ = ["Receivers", "Reports"]

_UDP_HEADER_BYTES = 8  # RFC 768
_SRTCP_INDEX_BYTES = 4  # E flag and SRTCP index (RFC 3711 clause 3.4)


@dataclass(frozen=True)
class Reports:
    """Reports made at one instant, one per flow that got something new (ascending flow),
    and the packets each covers as received, grouped by report, in arrival order."""

    time_s: float
    flow: IntArray
    expected: IntArray
    lost: IntArray
    ce: IntArray
    highest: IntArray  # highest sequence number covered
    wire_bytes: IntArray  # of the RTCP packet carrying the report, IP header included
    packet_report: IntArray
    packet_send_s: FloatArray
    packet_recv_s: FloatArray
    packet_bytes: IntArray


class Receivers:
    """The receiving end of every flow: what it has reported so far."""

    def __init__(self, flows: int, feedback: str, overhead: Overhead) -> None:
        self.feedback = feedback
        self.highest = np.full(flows, -1, dtype=np.int64)  # highest sequence number reported
        srtcp = 0
        if overhead.srtp_tag_bits:
            srtcp = overhead.srtp_tag_bits // 8 + _SRTCP_INDEX_BYTES + overhead.srtp_mki_bytes
        self.headers = overhead.ip_version.header_bytes + _UDP_HEADER_BYTES + srtcp

    def report(
        self,
        now_s: float,
        flow: IntArray,
        seq: IntArray,
        send_s: FloatArray,
        recv_s: FloatArray,
        wire_bytes: IntArray,
        ce: BoolArray,
    ) -> Reports:
        """Reports at ``now_s`` of the packets given (those that arrived since the previous
        reports and before ``now_s``, in arrival order)."""
        order = np.lexsort((recv_s, flow))  # by flow, arrival order within each
        flow, seq, send_s, recv_s = flow[order], seq[order], send_s[order], recv_s[order]
        wire_bytes, ce = wire_bytes[order], ce[order]
        start = np.flatnonzero(np.r_[True, flow[1:] != flow[:-1]]) if flow.size else flow
        flows = flow[start]
        counts = np.diff(np.r_[start, flow.size])
        packet_report = np.repeat(np.arange(flows.size), counts)
        before = self.highest[flows]
        newer = seq > before[packet_report]
        top = np.maximum.reduceat(seq, start) if flow.size else np.empty(0, dtype=np.int64)
        highest = np.maximum(before, top)
        expected = highest - before
        got_new = np.bincount(packet_report[newer], minlength=flows.size)
        lost = np.maximum(expected - got_new, 0)
        self.highest[flows] = highest
        marked = np.bincount(packet_report[ce & newer], minlength=flows.size)  # of those new
        rtcp = self._rtcp_bytes(expected + (counts - got_new), packet_report, seq, recv_s, before)
        return Reports(
            time_s=now_s,
            flow=flows,
            expected=expected,
            lost=lost,
            ce=marked,
            highest=highest,
            wire_bytes=rtcp + self.headers,
            packet_report=packet_report,
            packet_send_s=send_s,
            packet_recv_s=recv_s,
            packet_bytes=wire_bytes,
        )

    def _rtcp_bytes(
        self,
        covered: IntArray,
        packet_report: IntArray,
        seq: IntArray,
        recv_s: FloatArray,
        before: IntArray,
    ) -> IntArray:
        """Octets of each report's RTCP packet: RFC 8888 with one metric block per sequence
        number covered (a packet that came late adds one), or transport-wide feedback over
        the sequence numbers from the first new one to the highest."""
        if self.feedback == "rfc8888":
            fixed = rfc8888_bytes([0])
            metrics = 2 * covered  # 16 bits per packet, padded to 32 bits (RFC 8888 clause 3.1)
            return fixed + metrics + 2 * (covered % 2)
        sizes = np.empty(covered.size, dtype=np.int64)
        for r in range(covered.size):
            mine = packet_report == r
            first = int(before[r]) + 1
            new = mine & (seq >= first)
            span = int(seq[new].max()) - first + 1 if new.any() else 0
            received = np.zeros(max(span, 1), dtype=np.bool_)
            arrival = np.zeros(received.size)
            if span:
                received[seq[new] - first] = True
                arrival[seq[new] - first] = recv_s[new]
            sizes[r] = twcc_bytes(received.tolist(), arrival)
        return sizes
