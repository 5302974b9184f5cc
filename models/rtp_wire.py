"""RTP with a transport-wide sequence number, and the two congestion-control feedback formats.

Encoders and decoders of the bytes a GCC sender and receiver exchange:

- **RTP** (RFC 3550 section 5.1) with an RFC 8285 header extension carrying
  the transport-wide sequence number (draft-holmer-rmcat-transport-wide-cc-
  extensions-01 section 2: 16 bits) and optionally abs-send-time (24 bits,
  6.18 fixed-point seconds, webrtc.org's rtp-hdrext/abs-send-time). The
  encoder writes the one-byte form (RFC 8285 section 4.2); the decoder also
  reads the two-byte form (section 4.3) and skips elements it does not know.
- **RFC 8888** congestion control feedback (RTCP RTPFB, PT 205, FMT 11;
  section 3.1): the sender's SSRC; per media SSRC its SSRC, begin_seq,
  num_reports and one 16-bit metric block per packet (R, 2-bit ECN, 13-bit
  arrival time offset in 1/1024 s before the report timestamp), padded to 32
  bits; then the report timestamp (the middle 32 bits of an NTP timestamp).
- **Transport-wide feedback** (RTCP RTPFB, PT 205, FMT 15; the draft's
  section 3.1): base sequence number, packet status count, 24-bit reference
  time (64 ms units), feedback packet count, run-length and status-vector
  chunks (3.1.3, 3.1.4), then a receive delta (250 us units, 3.1.5) per
  received packet: 8 bits unsigned, or 16 bits signed for a large or negative
  one. The packet is padded to 32 bits the RFC 3550 way (P bit, count in the
  last octet), as libwebrtc writes it; the decoder also takes the draft's
  plain zero padding.

The chunks are chosen as ``models.cc_feedback`` counts them, so an encoded
packet is exactly as long as that model says. Decoders raise ValueError, and
only ValueError, on malformed input, saying what is wrong. Pure: no clock, no
sockets; times are seconds on the receiver's clock, passed in.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "ATO_OVER_RANGE",
    "ATO_UNAVAILABLE",
    "DEFAULT_IDS",
    "RFC8888_FMT",
    "RFC8888_MAX_REPORTS",
    "RTPFB",
    "TWCC_FMT",
    "TWCC_REFERENCE_S",
    "TWCC_TICK_S",
    "Arrival",
    "ExtensionIds",
    "Rfc8888Block",
    "Rfc8888Feedback",
    "Rfc8888Metric",
    "RtpPacket",
    "TwccFeedback",
    "Unwrapper",
    "abs_send_time",
    "ato_from_offset",
    "decode_rfc8888",
    "decode_rtp",
    "decode_twcc",
    "encode_rfc8888",
    "encode_rtp",
    "encode_twcc",
    "extension_bytes",
    "is_rtcp",
    "ntp_short",
    "rfc8888_feedback",
    "rtcp_feedback_format",
    "rtcp_packets",
    "twcc_arrivals",
    "twcc_feedback",
]

RTP_VERSION = 2
_RTP_FIXED = struct.Struct("!BBHII")
_ONE_BYTE_PROFILE = 0xBEDE  # RFC 8285 section 4.2
_TWO_BYTE_PROFILE = 0x100  # RFC 8285 section 4.3: 0x100 and 4 application bits
_ONE_BYTE_STOP_ID = 15  # RFC 8285 section 4.2: reserved, parsing stops

RTPFB = 205  # RFC 4585 section 6.1: transport-layer feedback
RFC8888_FMT = 11  # RFC 8888 section 3.1
TWCC_FMT = 15  # draft-holmer-rmcat-transport-wide-cc-extensions-01 section 3.1
_RTCP_HEADER = struct.Struct("!BBH")
_RTCP_TYPES = range(192, 224)  # RFC 5761 section 4: what tells RTCP from RTP on one port

RFC8888_MAX_REPORTS = 16384  # RFC 8888 section 3.1: at most a quarter of the seq space
ATO_UNITS_PER_S = 1024  # RFC 8888 section 3.1: arrival time offset in 1/1024 s
ATO_OVER_RANGE = 0x1FFE  # RFC 8888 section 3.1: offset above 8189/1024 s
ATO_UNAVAILABLE = 0x1FFF  # RFC 8888 section 3.1: unknown, or after the report timestamp
_NTP_SHORT_UNITS_PER_S = 1 << 16  # NTP short format: 16.16 fixed point (RFC 5905 section 6)

TWCC_TICK_S = 250e-6  # draft 3.1.5: receive delta unit
TWCC_REFERENCE_S = 0.064  # draft 3.1: reference time unit
_TICKS_PER_REFERENCE = 256  # 64 ms / 250 us
_TWCC_FIXED = struct.Struct("!IIHHI")  # two SSRCs, base seq, count, reference time + fb count
_RUN_LENGTH_MAX = 8191  # draft 3.1.3: 13-bit run length
_VECTOR_1BIT = 14  # draft 3.1.4: 1-bit symbols per status vector chunk
_VECTOR_2BIT = 7  # draft 3.1.4: 2-bit symbols per status vector chunk
_NOT_RECEIVED, _SMALL, _LARGE = 0, 1, 2  # draft 3.1.1 packet status symbols
_REFERENCE_BITS = 24


class ExtensionIds(NamedTuple):
    """Header extension IDs (1-14, RFC 8285 section 4.2), as SDP ``a=extmap`` names them;
    the defaults are Chrome's offer."""

    transport_seq: int = 3
    abs_send_time: int = 2


DEFAULT_IDS = ExtensionIds()


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, got {value}")


@dataclass(frozen=True)
class RtpPacket:
    """One RTP packet (RFC 3550 section 5.1) and the extensions this module knows."""

    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    transport_seq: int | None = None  # transport-wide sequence number, 16 bits
    abs_send_time: int | None = None  # 6.18 fixed-point seconds, 24 bits

    def __post_init__(self) -> None:
        _check_range("payload type", self.payload_type, 0, 127)
        _check_range("sequence number", self.seq, 0, 0xFFFF)
        _check_range("timestamp", self.timestamp, 0, 0xFFFFFFFF)
        _check_range("SSRC", self.ssrc, 0, 0xFFFFFFFF)
        if len(self.csrcs) > 15:
            raise ValueError(f"at most 15 CSRCs, got {len(self.csrcs)}")
        for csrc in self.csrcs:
            _check_range("CSRC", csrc, 0, 0xFFFFFFFF)
        if self.transport_seq is not None:
            _check_range("transport sequence number", self.transport_seq, 0, 0xFFFF)
        if self.abs_send_time is not None:
            _check_range("abs-send-time", self.abs_send_time, 0, 0xFFFFFF)


def abs_send_time(seconds: float) -> int:
    """abs-send-time of an instant: 6.18 fixed-point seconds, wrapping every 64 s."""
    return round(seconds * (1 << 18)) & 0xFFFFFF


def extension_bytes(transport_seq: bool = True, abs_send_time: bool = False) -> int:
    """Bytes the one-byte header extension adds to an RTP packet (0 when it carries nothing)."""
    elements = (3 if transport_seq else 0) + (4 if abs_send_time else 0)
    return 0 if elements == 0 else 4 + 4 * math.ceil(elements / 4)


def encode_rtp(packet: RtpPacket, ids: ExtensionIds = DEFAULT_IDS) -> bytes:
    """The packet's bytes: fixed header, CSRCs, one-byte header extension when it carries
    a transport sequence number or abs-send-time, payload; no padding."""
    elements = bytearray()
    if packet.transport_seq is not None:
        elements += bytes([ids.transport_seq << 4 | 1]) + packet.transport_seq.to_bytes(2, "big")
    if packet.abs_send_time is not None:
        elements += bytes([ids.abs_send_time << 4 | 2]) + packet.abs_send_time.to_bytes(3, "big")
    first = RTP_VERSION << 6 | (0x10 if elements else 0) | len(packet.csrcs)
    second = (0x80 if packet.marker else 0) | packet.payload_type
    out = bytearray(_RTP_FIXED.pack(first, second, packet.seq, packet.timestamp, packet.ssrc))
    for csrc in packet.csrcs:
        out += csrc.to_bytes(4, "big")
    if elements:
        elements += bytes(-len(elements) % 4)
        out += struct.pack("!HH", _ONE_BYTE_PROFILE, len(elements) // 4) + elements
    return bytes(out + packet.payload)


def decode_rtp(data: bytes, ids: ExtensionIds = DEFAULT_IDS) -> RtpPacket:
    """An RTP packet from its bytes; ValueError when they are not a well-formed one."""
    size = len(data)
    if size < _RTP_FIXED.size:
        raise ValueError(f"RTP packet of {size} bytes: shorter than the 12-byte fixed header")
    first, second, seq, timestamp, ssrc = _RTP_FIXED.unpack_from(data)
    if first >> 6 != RTP_VERSION:
        raise ValueError(f"RTP version {first >> 6}, expected 2")
    count = first & 0x0F
    end = _RTP_FIXED.size + 4 * count
    if size < end:
        raise ValueError(f"RTP packet of {size} bytes cannot hold its {count} CSRCs")
    csrcs = struct.unpack_from(f"!{count}I", data, _RTP_FIXED.size)
    extensions: dict[int, bytes] = {}
    if first & 0x10:
        if size < end + 4:
            raise ValueError("RTP packet ends inside its header extension's header")
        profile, words = struct.unpack_from("!HH", data, end)
        block = data[end + 4 : end + 4 + 4 * words]
        if len(block) < 4 * words:
            raise ValueError(f"RTP header extension of {words} words runs past the packet")
        end += 4 + 4 * words
        if profile == _ONE_BYTE_PROFILE:
            extensions = dict(_one_byte_elements(block))
        elif profile >> 4 == _TWO_BYTE_PROFILE:
            extensions = dict(_two_byte_elements(block))
    payload_end = size
    if first & 0x20:
        padding = data[-1]
        if padding == 0 or padding > size - end:
            raise ValueError(f"RTP padding count {padding} does not fit the packet")
        payload_end -= padding
    transport = extensions.get(ids.transport_seq)
    if transport is not None and len(transport) != 2:
        raise ValueError(f"transport-wide sequence number element of {len(transport)} bytes")
    send_time = extensions.get(ids.abs_send_time)
    if send_time is not None and len(send_time) != 3:
        raise ValueError(f"abs-send-time element of {len(send_time)} bytes")
    return RtpPacket(
        payload_type=second & 0x7F,
        seq=seq,
        timestamp=timestamp,
        ssrc=ssrc,
        payload=bytes(data[end:payload_end]),
        marker=bool(second & 0x80),
        csrcs=tuple(csrcs),
        transport_seq=None if transport is None else int.from_bytes(transport, "big"),
        abs_send_time=None if send_time is None else int.from_bytes(send_time, "big"),
    )


def _one_byte_elements(block: bytes) -> Iterator[tuple[int, bytes]]:
    """(ID, data) of each element of a one-byte-header extension block (RFC 8285 4.2)."""
    index = 0
    while index < len(block):
        head = block[index]
        if head == 0:  # padding
            index += 1
            continue
        ident, length = head >> 4, (head & 0x0F) + 1
        if ident == _ONE_BYTE_STOP_ID:
            return
        if index + 1 + length > len(block):
            raise ValueError(f"extension element {ident} of {length} bytes runs past its block")
        yield ident, block[index + 1 : index + 1 + length]
        index += 1 + length


def _two_byte_elements(block: bytes) -> Iterator[tuple[int, bytes]]:
    """(ID, data) of each element of a two-byte-header extension block (RFC 8285 4.3)."""
    index = 0
    while index < len(block):
        ident = block[index]
        if ident == 0:  # padding
            index += 1
            continue
        if index + 2 > len(block):
            raise ValueError(f"extension element {ident} has no length octet")
        length = block[index + 1]
        if index + 2 + length > len(block):
            raise ValueError(f"extension element {ident} of {length} bytes runs past its block")
        yield ident, block[index + 2 : index + 2 + length]
        index += 2 + length


# ---------------------------------------------------------------------------- RTCP


def is_rtcp(datagram: bytes) -> bool:
    """Whether a datagram on a port shared with RTP is RTCP (RFC 5761 section 4)."""
    return len(datagram) >= 2 and datagram[1] in _RTCP_TYPES


def rtcp_packets(datagram: bytes) -> list[bytes]:
    """The RTCP packets of a (compound or reduced-size) RTCP datagram, split on their
    length fields; ValueError when a length does not fit."""
    packets = []
    offset = 0
    while offset < len(datagram):
        if len(datagram) - offset < _RTCP_HEADER.size:
            raise ValueError(f"{len(datagram) - offset} bytes left: too few for an RTCP header")
        first, _, words = _RTCP_HEADER.unpack_from(datagram, offset)
        if first >> 6 != RTP_VERSION:
            raise ValueError(f"RTCP version {first >> 6}, expected 2")
        end = offset + 4 * (words + 1)
        if end > len(datagram):
            raise ValueError(f"RTCP packet of {4 * (words + 1)} bytes runs past the datagram")
        packets.append(bytes(datagram[offset:end]))
        offset = end
    return packets


def rtcp_feedback_format(packet: bytes) -> int | None:
    """The FMT of a transport-layer feedback packet (RTPFB), None for other RTCP."""
    if len(packet) < _RTCP_HEADER.size or packet[1] != RTPFB:
        return None
    return packet[0] & 0x1F


def _rtcp_body(packet: bytes, fmt: int) -> bytes:
    """The part after the 4-byte header of one RTPFB packet of format ``fmt``, padding off."""
    if len(packet) < _RTCP_HEADER.size:
        raise ValueError(f"RTCP packet of {len(packet)} bytes: shorter than its header")
    first, kind, words = _RTCP_HEADER.unpack_from(packet)
    if first >> 6 != RTP_VERSION:
        raise ValueError(f"RTCP version {first >> 6}, expected 2")
    if kind != RTPFB or first & 0x1F != fmt:
        raise ValueError(f"RTCP PT {kind} FMT {first & 0x1F}, expected PT {RTPFB} FMT {fmt}")
    if 4 * (words + 1) != len(packet):
        raise ValueError(f"RTCP length field says {4 * (words + 1)} bytes, got {len(packet)}")
    end = len(packet)
    if first & 0x20:
        padding = packet[-1]
        if padding == 0 or padding > end - _RTCP_HEADER.size:
            raise ValueError(f"RTCP padding count {padding} does not fit the packet")
        end -= padding
    return packet[_RTCP_HEADER.size : end]


def _rtcp_header(fmt: int, body_bytes: int, padding: int = 0) -> bytes:
    words = (_RTCP_HEADER.size + body_bytes + padding) // 4 - 1
    return _RTCP_HEADER.pack(RTP_VERSION << 6 | (0x20 if padding else 0) | fmt, RTPFB, words)


# ---------------------------------------------------------------------------- RFC 8888


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
        _check_range("SSRC", self.ssrc, 0, 0xFFFFFFFF)
        _check_range("begin_seq", self.begin_seq, 0, 0xFFFF)
        _check_range("num_reports", len(self.metrics), 0, RFC8888_MAX_REPORTS)
        for metric in self.metrics:
            _check_range("ECN", metric.ecn, 0, 3)
            _check_range("arrival time offset", metric.ato, 0, ATO_UNAVAILABLE)
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
        _check_range("sender SSRC", self.sender_ssrc, 0, 0xFFFFFFFF)
        _check_range("report timestamp", self.report_timestamp, 0, 0xFFFFFFFF)


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
    return _rtcp_header(RFC8888_FMT, len(body)) + bytes(body)


def decode_rfc8888(packet: bytes) -> Rfc8888Feedback:
    """An RFC 8888 feedback packet from its bytes (one RTCP packet); ValueError when
    malformed."""
    body = _rtcp_body(packet, RFC8888_FMT)
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


# ---------------------------------------------------------------------------- transport-wide


@dataclass(frozen=True)
class TwccFeedback:
    """A transport-wide feedback packet: ``deltas[k]`` is packet ``base_seq + k``'s receive
    delta in 250 us ticks from the previous received packet (the first from the reference
    time), None when it was not received."""

    sender_ssrc: int
    media_ssrc: int
    base_seq: int
    reference_time: int  # signed, 64 ms units
    fb_count: int
    deltas: tuple[int | None, ...]

    def __post_init__(self) -> None:
        _check_range("sender SSRC", self.sender_ssrc, 0, 0xFFFFFFFF)
        _check_range("media SSRC", self.media_ssrc, 0, 0xFFFFFFFF)
        _check_range("base sequence number", self.base_seq, 0, 0xFFFF)
        half = 1 << (_REFERENCE_BITS - 1)
        _check_range("reference time", self.reference_time, -half, half - 1)
        _check_range("feedback packet count", self.fb_count, 0, 0xFF)
        _check_range("packet status count", len(self.deltas), 1, 0xFFFF)
        for delta in self.deltas:
            if delta is not None:
                _check_range("receive delta", delta, -0x8000, 0x7FFF)


def twcc_feedback(
    sender_ssrc: int,
    media_ssrc: int,
    base_seq: int,
    fb_count: int,
    arrival_s: Sequence[float | None],
) -> TwccFeedback:
    """The transport-wide report of packets ``base_seq`` onwards, received at ``arrival_s``
    (None: not received; seconds, the receiver's clock): the reference time is the first
    arrival rounded down to 64 ms, and every arrival is rounded to 250 us once, so the
    deltas add up without drift. ValueError when two arrivals in sequence are more than
    8.19 s apart (a 16-bit delta's range)."""
    received = [t for t in arrival_s if t is not None]
    reference = math.floor(received[0] / TWCC_REFERENCE_S) if received else 0
    previous = reference * _TICKS_PER_REFERENCE
    deltas: list[int | None] = []
    for t in arrival_s:
        if t is None:
            deltas.append(None)
            continue
        tick = round(t / TWCC_TICK_S)
        deltas.append(tick - previous)
        previous = tick
    half = 1 << (_REFERENCE_BITS - 1)
    wrapped = (reference + half) % (1 << _REFERENCE_BITS) - half
    return TwccFeedback(sender_ssrc, media_ssrc, base_seq, wrapped, fb_count, tuple(deltas))


def twcc_arrivals(feedback: TwccFeedback) -> tuple[float | None, ...]:
    """Each reported packet's arrival (None: not received), seconds on the reference clock."""
    tick = feedback.reference_time * _TICKS_PER_REFERENCE
    arrivals: list[float | None] = []
    for delta in feedback.deltas:
        if delta is None:
            arrivals.append(None)
            continue
        tick += delta
        arrivals.append(tick * TWCC_TICK_S)
    return tuple(arrivals)


def _symbol(delta: int | None) -> int:
    if delta is None:
        return _NOT_RECEIVED
    return _SMALL if 0 <= delta <= 0xFF else _LARGE


def _chunks(symbols: Sequence[int]) -> Iterator[int]:
    """The 16-bit packet status chunks of ``symbols``, chosen greedily as
    ``models.cc_feedback`` counts them: a run-length chunk where at least a 1-bit vector's
    worth of packets share one status, else a status vector chunk (2-bit as soon as one
    large or negative delta is among its next 14 packets)."""
    k, n = 0, len(symbols)
    while k < n:
        run = 1
        while k + run < n and symbols[k + run] == symbols[k] and run < _RUN_LENGTH_MAX:
            run += 1
        if run >= _VECTOR_1BIT:
            yield symbols[k] << 13 | run
            k += run
            continue
        if _LARGE in symbols[k : k + _VECTOR_1BIT]:
            part = list(symbols[k : k + _VECTOR_2BIT]) + [0] * _VECTOR_2BIT
            word = 0xC000
            for i in range(_VECTOR_2BIT):
                word |= part[i] << (12 - 2 * i)
            k += _VECTOR_2BIT
        else:
            part = list(symbols[k : k + _VECTOR_1BIT]) + [0] * _VECTOR_1BIT
            word = 0x8000
            for i in range(_VECTOR_1BIT):
                word |= part[i] << (13 - i)
            k += _VECTOR_1BIT
        yield word


def encode_twcc(feedback: TwccFeedback) -> bytes:
    """The packet's bytes (draft 3.1), padded to 32 bits with the RTCP P bit."""
    symbols = [_symbol(delta) for delta in feedback.deltas]
    body = bytearray(
        _TWCC_FIXED.pack(
            feedback.sender_ssrc,
            feedback.media_ssrc,
            feedback.base_seq,
            len(feedback.deltas),
            (feedback.reference_time & 0xFFFFFF) << 8 | feedback.fb_count,
        )
    )
    for chunk in _chunks(symbols):
        body += chunk.to_bytes(2, "big")
    for delta, symbol in zip(feedback.deltas, symbols, strict=True):
        if symbol == _SMALL:
            body.append(delta or 0)
        elif symbol == _LARGE:
            body += (delta or 0).to_bytes(2, "big", signed=True)
    padding = -(_RTCP_HEADER.size + len(body)) % 4
    if padding:
        body += bytes(padding - 1) + bytes([padding])
    return _rtcp_header(TWCC_FMT, len(body) - padding, padding) + bytes(body)


def decode_twcc(packet: bytes) -> TwccFeedback:
    """A transport-wide feedback packet from its bytes (one RTCP packet); ValueError when
    malformed."""
    body = _rtcp_body(packet, TWCC_FMT)
    if len(body) < _TWCC_FIXED.size:
        raise ValueError(f"transport-wide feedback body of {len(body)} bytes: under 16")
    sender_ssrc, media_ssrc, base_seq, count, word = _TWCC_FIXED.unpack_from(body)
    if count == 0:
        raise ValueError("packet status count 0: a feedback packet reports at least one")
    reference = word >> 8
    if reference >= 1 << (_REFERENCE_BITS - 1):
        reference -= 1 << _REFERENCE_BITS
    offset = _TWCC_FIXED.size
    symbols: list[int] = []
    while len(symbols) < count:
        if offset + 2 > len(body):
            raise ValueError(f"status chunks end after {len(symbols)} of {count} packets")
        chunk = int.from_bytes(body[offset : offset + 2], "big")
        offset += 2
        symbols += _chunk_symbols(chunk, count - len(symbols))
    del symbols[count:]
    deltas: list[int | None] = []
    for symbol in symbols:
        if symbol == _NOT_RECEIVED:
            deltas.append(None)
            continue
        size = 1 if symbol == _SMALL else 2
        if offset + size > len(body):
            raise ValueError("receive deltas end before every received packet has one")
        deltas.append(int.from_bytes(body[offset : offset + size], "big", signed=size == 2))
        offset += size
    rest = body[offset:]
    if len(rest) > 3 or any(rest):
        raise ValueError(f"{len(rest)} bytes after the receive deltas are not zero padding")
    return TwccFeedback(sender_ssrc, media_ssrc, base_seq, reference, word & 0xFF, tuple(deltas))


def _chunk_symbols(chunk: int, remaining: int) -> list[int]:
    """The status symbols of one chunk (a vector's unused tail included)."""
    if not chunk & 0x8000:  # run-length chunk, draft 3.1.3
        symbol, run = (chunk >> 13) & 0x3, chunk & 0x1FFF
        if symbol == 3:
            raise ValueError("run-length chunk with the reserved status symbol 11")
        if run == 0 or run > remaining:
            raise ValueError(f"run-length chunk of {run} packets, {remaining} left to report")
        return [symbol] * run
    if not chunk & 0x4000:  # 14 1-bit symbols, draft 3.1.4
        return [(chunk >> (13 - i)) & 1 for i in range(_VECTOR_1BIT)]
    symbols = [(chunk >> (12 - 2 * i)) & 0x3 for i in range(_VECTOR_2BIT)]
    if 3 in symbols[:remaining]:
        raise ValueError("status vector chunk with the reserved status symbol 11")
    return symbols


# ---------------------------------------------------------------------------- counters


class Unwrapper:
    """A wrapping counter (16-bit sequence numbers, 32-bit timestamps) as an unbounded
    count: each value is placed nearest the previous one."""

    def __init__(self, bits: int) -> None:
        if bits <= 1:
            raise ValueError(f"a counter of {bits} bits does not wrap meaningfully")
        self._period = 1 << bits
        self._last: int | None = None

    def unwrap(self, value: int) -> int:
        """``value`` (0 .. 2**bits - 1) as a count continuing from the previous one."""
        if not 0 <= value < self._period:
            raise ValueError(f"counter value {value} outside 0..{self._period - 1}")
        if self._last is None:
            self._last = value
            return value
        half = self._period // 2
        step = (value - self._last + half) % self._period - half
        self._last += step
        return self._last
