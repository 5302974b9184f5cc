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
from voipbed.models.overhead import Overhead
from voipbed.sim.stages import BoolArray, FloatArray, IntArray

__all__ = ["Receivers", "Reports"]

_UDP_HEADER_BYTES = 8  # RFC 768
_SRTCP_INDEX_BYTES = 4  # E flag and SRTCP index (RFC 3711 clause 3.4)


@dataclass(frozen=True)
class Reports:
    """Reports made at one instant, one per flow that got something new (ascending flow),
    and the packets each covers as received, grouped by report, in arrival order: report
    r's are ``bounds[r]`` to ``bounds[r + 1]`` of the packet columns."""

    time_s: float
    flow: IntArray
    expected: IntArray
    lost: IntArray
    ce: IntArray
    highest: IntArray  # highest sequence number covered
    wire_bytes: IntArray  # of the RTCP packet carrying the report, IP header included
    bounds: IntArray
    packet_report: IntArray
    packet_send_s: FloatArray
    packet_recv_s: FloatArray
    packet_bytes: IntArray


class Receivers:
    """The receiving end of every flow: what it has reported so far."""

    def __init__(self, flows: int, feedback: str, overhead: Overhead) -> None:
        self.twcc = feedback != "rfc8888"
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
        every = np.arange(flow.size, dtype=np.int64)
        return self.report_among(
            now_s, every, every, flow, seq, send_s, recv_s, wire_bytes, ce.astype(np.bool_)
        )

    def report_among(
        self,
        now_s: float,
        ids: IntArray,
        row_of: IntArray,
        flow: IntArray,
        seq: IntArray,
        send_s: FloatArray,
        recv_s: FloatArray,
        wire_bytes: IntArray,
        ce: BoolArray,
    ) -> Reports:
        """``report`` of the media among packets ``ids`` (in the order they arrived): packet
        i is media row ``row_of[i]`` (negative: not media) of the columns ``flow``, ``seq``
        and ``send_s``, and ``recv_s``, ``wire_bytes`` and ``ce`` are by packet."""
        built = _build_reports(ids, row_of, flow, seq, send_s, recv_s, wire_bytes, ce, self.highest)
        flows, bounds, expected, lost, marked, highest, first = built[:7]
        owner, packet_seq, packet_send_s, packet_recv_s, packet_bytes = built[7:]
        if self.twcc:
            rtcp = twcc_sizes(bounds, packet_seq, packet_recv_s, first, np.maximum(highest, first))
        else:
            covered = np.diff(bounds) + lost  # a late packet adds a metric block
            rtcp = rfc8888_bytes([0]) + 2 * covered + 2 * (covered % 2)  # RFC 8888 clause 3.1
        return Reports(
            time_s=now_s,
            flow=flows,
            expected=expected,
            lost=lost,
            ce=marked,
            highest=highest,
            wire_bytes=rtcp + self.headers,
            bounds=bounds,
            packet_report=owner,
            packet_send_s=packet_send_s,
            packet_recv_s=packet_recv_s,
            packet_bytes=packet_bytes,
        )


@kernel
def _build_reports(
    ids: IntArray,
    row_of: IntArray,
    flow: IntArray,
    seq: IntArray,
    send_s: FloatArray,
    recv_s: FloatArray,
    wire_bytes: IntArray,
    ce: BoolArray,
    highest: IntArray,
) -> tuple[
    IntArray,
    IntArray,
    IntArray,
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
    """(report flows, report bounds into the packet columns, expected, lost, CE-marked among
    the new, highest covered, first sequence number covered, then each packet's report,
    sequence number, send and arrival time and size) of the media among ``ids``
    (``Receivers.report_among``). A flow's packets keep the
    order given unless their arrival times are out of order; then they are sorted by arrival
    time, ties as given, so that the order equals ``np.lexsort((recv_s, flow))``. ``highest``
    (per flow, the highest sequence number reported) moves on."""
    flows = highest.size
    start = np.zeros(flows + 1, dtype=np.int64)
    # The media's columns gathered in the order given (reading the big columns about in
    # order), then regrouped by flow from these small arrays.
    given_flow = np.empty(ids.size, dtype=np.int64)
    given_seq = np.empty(ids.size, dtype=np.int64)
    given_send_s = np.empty(ids.size)
    given_recv_s = np.empty(ids.size)
    given_bytes = np.empty(ids.size, dtype=np.int64)
    given_ce = np.empty(ids.size, dtype=np.bool_)
    media = 0
    for i in ids:
        row = row_of[i]
        if row >= 0:
            f = flow[row]
            given_flow[media] = f
            given_seq[media] = seq[row]
            given_send_s[media] = send_s[row]
            given_recv_s[media] = recv_s[i]
            given_bytes[media] = wire_bytes[i]
            given_ce[media] = ce[i]
            start[f + 1] += 1
            media += 1
    reports = 0
    for f in range(flows):
        reports += start[f + 1] > 0
        start[f + 1] += start[f]
    order = np.empty(media, dtype=np.int64)  # places among the media given, grouped by flow
    fill = start[:flows].copy()
    for m in range(media):
        f = given_flow[m]
        order[fill[f]] = m
        fill[f] += 1
    report_flow = np.empty(reports, dtype=np.int64)
    bounds = np.empty(reports + 1, dtype=np.int64)
    expected = np.empty(reports, dtype=np.int64)
    lost = np.empty(reports, dtype=np.int64)
    marked = np.empty(reports, dtype=np.int64)
    top = np.empty(reports, dtype=np.int64)
    first = np.empty(reports, dtype=np.int64)
    owner = np.empty(media, dtype=np.int64)
    packet_seq = np.empty(media, dtype=np.int64)
    packet_send_s = np.empty(media)
    packet_recv_s = np.empty(media)
    packet_bytes = np.empty(media, dtype=np.int64)
    r = 0
    for f in range(flows):
        lo, hi = start[f], start[f + 1]
        if lo == hi:
            continue
        for k in range(lo + 1, hi):
            if given_recv_s[order[k]] < given_recv_s[order[k - 1]]:
                group = order[lo:hi].copy()
                order[lo:hi] = group[np.argsort(given_recv_s[group], kind="mergesort")]
                break
        before = highest[f]
        best = before
        new = 0
        new_marked = 0
        for k in range(lo, hi):
            m = order[k]
            number = given_seq[m]
            best = max(best, number)
            if number > before:
                new += 1
                new_marked += given_ce[m]
            owner[k] = r
            packet_seq[k] = number
            packet_send_s[k] = given_send_s[m]
            packet_recv_s[k] = given_recv_s[m]
            packet_bytes[k] = given_bytes[m]
        report_flow[r] = f
        bounds[r] = lo
        expected[r] = best - before
        lost[r] = max(best - before - new, 0)
        marked[r] = new_marked
        top[r] = best
        first[r] = before + 1
        highest[f] = best
        r += 1
    bounds[reports] = media
    return (
        report_flow,
        bounds,
        expected,
        lost,
        marked,
        top,
        first,
        owner,
        packet_seq,
        packet_send_s,
        packet_recv_s,
        packet_bytes,
    )
