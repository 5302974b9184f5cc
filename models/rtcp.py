"""RTCP on a port shared with RTP: telling it apart, splitting compound packets, and the
header of transport-layer feedback (RTPFB, RFC 4585 section 6.1) that ``models.rtcp_rfc8888``
and ``models.rtcp_twcc`` write and read. Decoders raise ValueError on malformed input.
"""

from __future__ import annotations

import struct

from voipbed.models.rtp_packet import RTP_VERSION

__all__ = [
    "RTCP_HEADER",
    "RTPFB",
    "is_rtcp",
    "rtcp_body",
    "rtcp_feedback_format",
    "rtcp_header",
    "rtcp_packets",
]

RTPFB = 205  # RFC 4585 section 6.1: transport-layer feedback
RTCP_HEADER = struct.Struct("!BBH")
_RTCP_TYPES = range(192, 224)  # RFC 5761 section 4: what tells RTCP from RTP on one port


def is_rtcp(datagram: bytes) -> bool:
    """Whether a datagram on a port shared with RTP is RTCP (RFC 5761 section 4)."""
    return len(datagram) >= 2 and datagram[1] in _RTCP_TYPES


def rtcp_packets(datagram: bytes) -> list[bytes]:
    """The RTCP packets of a (compound or reduced-size) RTCP datagram, split on their
    length fields; ValueError when a length does not fit."""
    packets = []
    offset = 0
    while offset < len(datagram):
        if len(datagram) - offset < RTCP_HEADER.size:
            raise ValueError(f"{len(datagram) - offset} bytes left: too few for an RTCP header")
        first, _, words = RTCP_HEADER.unpack_from(datagram, offset)
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
    if len(packet) < RTCP_HEADER.size or packet[1] != RTPFB:
        return None
    return packet[0] & 0x1F


def rtcp_body(packet: bytes, fmt: int) -> bytes:
    """The part after the 4-byte header of one RTPFB packet of format ``fmt``, padding off."""
    if len(packet) < RTCP_HEADER.size:
        raise ValueError(f"RTCP packet of {len(packet)} bytes: shorter than its header")
    first, kind, words = RTCP_HEADER.unpack_from(packet)
    if first >> 6 != RTP_VERSION:
        raise ValueError(f"RTCP version {first >> 6}, expected 2")
    if kind != RTPFB or first & 0x1F != fmt:
        raise ValueError(f"RTCP PT {kind} FMT {first & 0x1F}, expected PT {RTPFB} FMT {fmt}")
    if 4 * (words + 1) != len(packet):
        raise ValueError(f"RTCP length field says {4 * (words + 1)} bytes, got {len(packet)}")
    end = len(packet)
    if first & 0x20:
        padding = packet[-1]
        if padding == 0 or padding > end - RTCP_HEADER.size:
            raise ValueError(f"RTCP padding count {padding} does not fit the packet")
        end -= padding
    return packet[RTCP_HEADER.size : end]


def rtcp_header(fmt: int, body_bytes: int, padding: int = 0) -> bytes:
    words = (RTCP_HEADER.size + body_bytes + padding) // 4 - 1
    return RTCP_HEADER.pack(RTP_VERSION << 6 | (0x20 if padding else 0) | fmt, RTPFB, words)
