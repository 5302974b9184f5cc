"""RFC 8888 congestion control feedback: its bytes (RTCP RTPFB, PT 205, FMT 11; section 3.1).

The sender's SSRC; per media SSRC its SSRC, begin_seq, num_reports and one
16-bit metric block per packet (R, 2-bit ECN, 13-bit arrival time offset in
1/1024 s before the report timestamp), padded to 32 bits; then the report
timestamp (the middle 32 bits of an NTP timestamp). Packets are exactly as
long as ``models.cc_feedback.rfc8888_bytes`` says. The decoder raises
ValueError, and only ValueError, on malformed input. Pure: times are seconds
on the receiver's clock, passed in.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from voipbed.models.rtcp import rtcp_body, rtcp_header
from voipbed.models.rtp_packet import check_range

__all__ = [
    "ATO_OVER_RANGE",
    "ATO_UNAVAILABLE",
    "ATO_UNITS_PER_S",
    "RFC8888_FMT",
    "RFC8888_MAX_REPORTS",
    "Arrival",
    "Rfc8888Block",
    "Rfc8888Feedback",
    "Rfc8888Metric",
    "ato_from_offset",
    "decode_rfc8888",
    "encode_rfc8888",
    "ntp_short",
    "rfc8888_feedback",
]

RFC8888_FMT = 11  # RFC 8888 section 3.1
RFC8888_MAX_REPORTS = 16384  # RFC 8888 section 3.1: at most a quarter of the seq space
ATO_UNITS_PER_S = 1024  # RFC 8888 section 3.1: arrival time offset in 1/1024 s
ATO_OVER_RANGE = 0x1FFE  # RFC 8888 section 3.1: offset above 8189/1024 s
ATO_UNAVAILABLE = 0x1FFF  # RFC 8888 section 3.1: unknown, or after the report timestamp
_NTP_SHORT_UNITS_PER_S = 1 << 16  # NTP short format: 16.16 fixed point (RFC 5905 section 6)


def ntp_short(seconds: float) -> int:
    """The middle 32 bits of an NTP timestamp (16.16 fixed point) of ``seconds``, wrapping."""
    return math.floor(seconds * _NTP_SHORT_UNITS_PER_S) & 0xFFFFFFFF


def ato_from_offset(offset_s: float) -> int:
    """The 13-bit arrival time offset of a packet received ``offset_s`` before the report
    (RFC 8888 section 3.1: truncated to 1/1024 s; over range and negative flagged)."""
    if not offset_s >= 0.0:  # negative or NaN: unavailable
        return ATO_UNAVAILABLE
    return min(math.floor(offset_s * ATO_UNITS_PER_S), ATO_OVER_RANGE)


class Rfc8888Metric(NamedTuple):
    """One packet's 16-bit metric block: received (R), ECN field, arrival time offset."""

    received: bool
    ecn: int = 0
    ato: int = 0  # 1/1024 s before the report timestamp; ATO_OVER_RANGE, ATO_UNAVAILABLE

    @property
    def offset_s(self) -> float | None:
        """Seconds from arrival to the report timestamp; None when not received or unknown."""
        if not self.received or self.ato >= ATO_OVER_RANGE:
            return None
        return self.ato / ATO_UNITS_PER_S


@dataclass(frozen=True)
class Rfc8888Block:
    """The report of one media SSRC: packets ``begin_seq`` .. ``begin_seq + len - 1``."""

    ssrc: int
    begin_seq: int
    metrics: tuple[Rfc8888Metric, ...]

    def __post_init__(self) -> None:
        check_range("SSRC", self.ssrc, 0, 0xFFFFFFFF)
        check_range("begin_seq", self.begin_seq, 0, 0xFFFF)
        check_range("num_reports", len(self.metrics), 0, RFC8888_MAX_REPORTS)
        for metric in self.metrics:
            check_range("ECN", metric.ecn, 0, 3)
            check_range("arrival time offset", metric.ato, 0, ATO_UNAVAILABLE)
            if not metric.received and (metric.ecn or metric.ato):
                raise ValueError("a packet not received has ECN and arrival time offset 0")


@dataclass(frozen=True)
class Rfc8888Feedback:
    """An RFC 8888 feedback packet: the sender's SSRC, one block per media SSRC, the
    report timestamp (NTP short format)."""

    sender_ssrc: int
    blocks: tuple[Rfc8888Block, ...]
    report_timestamp: int

    def __post_init__(self) -> None:
        check_range("sender SSRC", self.sender_ssrc, 0, 0xFFFFFFFF)
        check_range("report timestamp", self.report_timestamp, 0, 0xFFFFFFFF)


class Arrival(NamedTuple):
    """A packet a feedback report covers: when it arrived (None: not received), its ECN."""

    arrival_s: float | None
    ecn: int = 0


def rfc8888_feedback(
    sender_ssrc: int,
    report_s: float,
    streams: Sequence[tuple[int, int, Sequence[Arrival]]],
) -> Rfc8888Feedback:
    """The RFC 8888 report sent at ``report_s`` on ``streams``: (SSRC, begin_seq, the
    arrivals of begin_seq onwards); offsets are taken from the timestamp as written."""
    timestamp = ntp_short(report_s)
    # The report time as the timestamp holds it, so offsets add up exactly to it.
    report_exact_s = math.floor(report_s * _NTP_SHORT_UNITS_PER_S) / _NTP_SHORT_UNITS_PER_S
    blocks = []
    for ssrc, begin_seq, arrivals in streams:
        metrics = tuple(
            Rfc8888Metric(False)
            if arrival.arrival_s is None
            else Rfc8888Metric(True, arrival.ecn, _ato(report_s, report_exact_s, arrival.arrival_s))
            for arrival in arrivals
        )
        blocks.append(Rfc8888Block(ssrc, begin_seq, metrics))
    return Rfc8888Feedback(sender_ssrc, tuple(blocks), timestamp)


def _ato(report_s: float, report_exact_s: float, arrival_s: float) -> int:
    """The ATO of a packet received at ``arrival_s``: a packet received within the
    timestamp's last unit (before the report, after the truncated timestamp) gets 0."""
    if arrival_s > report_s:
        return ATO_UNAVAILABLE
    return ato_from_offset(max(0.0, report_exact_s - arrival_s))


def encode_rfc8888(feedback: Rfc8888Feedback) -> bytes:
    """The packet's bytes (RFC 8888 section 3.1)."""
    body = bytearray(feedback.sender_ssrc.to_bytes(4, "big"))
    for block in feedback.blocks:
        body += struct.pack("!IHH", block.ssrc, block.begin_seq, len(block.metrics))
        for metric in block.metrics:
            word = (0x8000 | metric.ecn << 13 | metric.ato) if metric.received else 0
            body += word.to_bytes(2, "big")
        if len(block.metrics) % 2:
            body += bytes(2)
    body += feedback.report_timestamp.to_bytes(4, "big")
    return rtcp_header(RFC8888_FMT, len(body)) + bytes(body)


def decode_rfc8888(packet: bytes) -> Rfc8888Feedback:
    """An RFC 8888 feedback packet from its bytes (one RTCP packet); ValueError when
    malformed."""
    body = rtcp_body(packet, RFC8888_FMT)
    if len(body) < 8 or len(body) % 4:
        raise ValueError(f"RFC 8888 body of {len(body)} bytes: not 8 or more in 32-bit words")
    sender_ssrc = int.from_bytes(body[:4], "big")
    timestamp = int.from_bytes(body[-4:], "big")
    blocks = []
    offset, end = 4, len(body) - 4
    while offset < end:
        if end - offset < 8:
            raise ValueError(f"{end - offset} bytes left: too few for a report block header")
        ssrc, begin_seq, count = struct.unpack_from("!IHH", body, offset)
        if count > RFC8888_MAX_REPORTS:
            raise ValueError(f"num_reports {count} exceeds {RFC8888_MAX_REPORTS}")
        offset += 8
        length = 2 * count + 2 * (count % 2)
        if offset + length > end:
            raise ValueError(f"report block of {count} packets runs past the packet")
        words = struct.unpack_from(f"!{count}H", body, offset)
        offset += length
        metrics = tuple(
            Rfc8888Metric(True, (word >> 13) & 0x3, word & 0x1FFF)
            if word & 0x8000
            else Rfc8888Metric(False)
            for word in words
        )
        blocks.append(Rfc8888Block(ssrc, begin_seq, metrics))
    return Rfc8888Feedback(sender_ssrc, tuple(blocks), timestamp)
