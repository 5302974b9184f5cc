"""RTP packets with a transport-wide sequence number: their bytes, and wrapping counters.

**RTP** (RFC 3550 section 5.1) with an RFC 8285 header extension carrying the
transport-wide sequence number (draft-holmer-rmcat-transport-wide-cc-
extensions-01 section 2: 16 bits) and optionally abs-send-time (24 bits,
6.18 fixed-point seconds, webrtc.org's rtp-hdrext/abs-send-time). The encoder
writes the one-byte form (RFC 8285 section 4.2); the decoder also reads the
two-byte form (section 4.3) and skips elements it does not know. The
decoder raises ValueError, and only ValueError, on malformed input, saying
what is wrong. Pure: no clock, no sockets.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "DEFAULT_IDS",
    "RTP_VERSION",
    "ExtensionIds",
    "RtpPacket",
    "Unwrapper",
    "abs_send_time",
    "check_range",
    "decode_rtp",
    "encode_rtp",
    "extension_bytes",
]

RTP_VERSION = 2
_RTP_FIXED = struct.Struct("!BBHII")
_ONE_BYTE_PROFILE = 0xBEDE  # RFC 8285 section 4.2
_TWO_BYTE_PROFILE = 0x100  # RFC 8285 section 4.3: 0x100 and 4 application bits
_ONE_BYTE_STOP_ID = 15  # RFC 8285 section 4.2: reserved, parsing stops


class ExtensionIds(NamedTuple):
    """Header extension IDs (1-14, RFC 8285 section 4.2), as SDP ``a=extmap`` names them;
    the defaults are Chrome's offer."""

    transport_seq: int = 3
    abs_send_time: int = 2


DEFAULT_IDS = ExtensionIds()


def check_range(name: str, value: int, low: int, high: int) -> None:
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
        check_range("payload type", self.payload_type, 0, 127)
        check_range("sequence number", self.seq, 0, 0xFFFF)
        check_range("timestamp", self.timestamp, 0, 0xFFFFFFFF)
        check_range("SSRC", self.ssrc, 0, 0xFFFFFFFF)
        if len(self.csrcs) > 15:
            raise ValueError(f"at most 15 CSRCs, got {len(self.csrcs)}")
        for csrc in self.csrcs:
            check_range("CSRC", csrc, 0, 0xFFFFFFFF)
        if self.transport_seq is not None:
            check_range("transport sequence number", self.transport_seq, 0, 0xFFFF)
        if self.abs_send_time is not None:
            check_range("abs-send-time", self.abs_send_time, 0, 0xFFFFFF)


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
