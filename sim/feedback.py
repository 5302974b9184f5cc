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

from voipbed.models._jit import kernel
from voipbed.models.cc_feedback import rfc8888_bytes, twcc_sizes
from voipbed.models.grouping import group_order
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
        reports and before ``now_s``)."""
        before = self.highest.copy()
        order = group_order(flow)
        start = np.zeros(self.highest.size + 1, dtype=np.int64)
        np.cumsum(np.bincount(flow, minlength=self.highest.size), out=start[1:])
        flows, bounds, expected, lost, marked, highest = _group_reports(
            order, start, seq, recv_s, ce, self.highest
        )
        seq, recv_s = seq[order], recv_s[order]
        counts = np.diff(bounds)
        if self.feedback == "rfc8888":
            covered = expected + counts - (expected - lost)  # a late packet adds a metric block
            rtcp = rfc8888_bytes([0]) + 2 * covered + 2 * (covered % 2)  # RFC 8888 clause 3.1
        else:
            first = before[flows] + 1
            rtcp = twcc_sizes(bounds, seq, recv_s, first, np.maximum(highest, first))
        return Reports(
            time_s=now_s,
            flow=flows,
            expected=expected,
            lost=lost,
            ce=marked,
            highest=highest,
            wire_bytes=rtcp + self.headers,
            packet_report=np.repeat(np.arange(flows.size), counts),
            packet_send_s=send_s[order],
            packet_recv_s=recv_s,
            packet_bytes=wire_bytes[order],
        )


@kernel
def _group_reports(
    order: IntArray,
    start: IntArray,
    seq: IntArray,
    recv_s: FloatArray,
    ce: BoolArray,
    highest: IntArray,
) -> tuple[IntArray, IntArray, IntArray, IntArray, IntArray, IntArray]:
    """(report flows, report bounds into ``order``, expected, lost, CE-marked among the new,
    highest covered) of the packets given; ``order`` (``group_order(flow)``, flow f's
    packets at ``start[f]`` to ``start[f + 1]``) is put in arrival order within each flow,
    ties as given, so that it equals ``np.lexsort((recv_s, flow))``. ``highest`` (per flow,
    the highest sequence number reported) moves on."""
    flows = highest.size
    n = start[flows]
    reports = 0
    for f in range(flows):
        reports += start[f + 1] > start[f]
    report_flow = np.empty(reports, dtype=np.int64)
    bounds = np.empty(reports + 1, dtype=np.int64)
    expected = np.empty(reports, dtype=np.int64)
    lost = np.empty(reports, dtype=np.int64)
    marked = np.empty(reports, dtype=np.int64)
    top = np.empty(reports, dtype=np.int64)
    r = 0
    for f in range(flows):
        lo, hi = start[f], start[f + 1]
        if lo == hi:
            continue
        for k in range(lo + 1, hi):
            if recv_s[order[k]] < recv_s[order[k - 1]]:
                group = order[lo:hi].copy()
                order[lo:hi] = group[np.argsort(recv_s[group], kind="mergesort")]
                break
        before = highest[f]
        best = before
        new = 0
        new_marked = 0
        for k in range(lo, hi):
            packet = order[k]
            best = max(best, seq[packet])
            if seq[packet] > before:
                new += 1
                new_marked += ce[packet]
        report_flow[r] = f
        bounds[r] = lo
        expected[r] = best - before
        lost[r] = max(best - before - new, 0)
        marked[r] = new_marked
        top[r] = best
        highest[f] = best
        r += 1
    bounds[reports] = n
    return report_flow, bounds, expected, lost, marked, top
