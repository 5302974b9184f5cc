"""Transport-wide congestion-control feedback: its bytes (RTCP RTPFB, PT 205, FMT 15).

draft-holmer-rmcat-transport-wide-cc-extensions-01 section 3.1: base sequence
number, packet status count, 24-bit reference time (64 ms units), feedback
packet count, run-length and status-vector chunks (3.1.3, 3.1.4), then a
receive delta (250 us units, 3.1.5) per received packet: 8 bits unsigned, or
16 bits signed for a large or negative one. The packet is padded to 32 bits
the RFC 3550 way (P bit, count in the last octet), as libwebrtc writes it; the
decoder also takes the draft's plain zero padding. The chunks are chosen as
``models.cc_feedback`` counts them, so an encoded packet is exactly as long
as that model says. The decoder raises ValueError, and only ValueError, on
malformed input.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from voipbed.models.rtcp import RTCP_HEADER, rtcp_body, rtcp_header
from voipbed.models.rtp_packet import check_range

__all__ = [
    "TWCC_FMT",
    "TWCC_REFERENCE_S",
    "TWCC_TICK_S",
    "TwccFeedback",
    "decode_twcc",
    "encode_twcc",
    "twcc_arrivals",
    "twcc_feedback",
]

TWCC_FMT = 15  # draft-holmer-rmcat-transport-wide-cc-extensions-01 section 3.1
TWCC_TICK_S = 250e-6  # draft 3.1.5: receive delta unit
TWCC_REFERENCE_S = 0.064  # draft 3.1: reference time unit
_TICKS_PER_REFERENCE = 256  # 64 ms / 250 us
_TWCC_FIXED = struct.Struct("!IIHHI")  # two SSRCs, base seq, count, reference time + fb count
_RUN_LENGTH_MAX = 8191  # draft 3.1.3: 13-bit run length
_VECTOR_1BIT = 14  # draft 3.1.4: 1-bit symbols per status vector chunk
_VECTOR_2BIT = 7  # draft 3.1.4: 2-bit symbols per status vector chunk
_NOT_RECEIVED, _SMALL, _LARGE = 0, 1, 2  # draft 3.1.1 packet status symbols
_REFERENCE_BITS = 24


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
        check_range("sender SSRC", self.sender_ssrc, 0, 0xFFFFFFFF)
        check_range("media SSRC", self.media_ssrc, 0, 0xFFFFFFFF)
        check_range("base sequence number", self.base_seq, 0, 0xFFFF)
        half = 1 << (_REFERENCE_BITS - 1)
        check_range("reference time", self.reference_time, -half, half - 1)
        check_range("feedback packet count", self.fb_count, 0, 0xFF)
        check_range("packet status count", len(self.deltas), 1, 0xFFFF)
        for delta in self.deltas:
            if delta is not None:
                check_range("receive delta", delta, -0x8000, 0x7FFF)


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
    padding = -(RTCP_HEADER.size + len(body)) % 4
    if padding:
        body += bytes(padding - 1) + bytes([padding])
    return rtcp_header(TWCC_FMT, len(body) - padding, padding) + bytes(body)


def decode_twcc(packet: bytes) -> TwccFeedback:
    """A transport-wide feedback packet from its bytes (one RTCP packet); ValueError when
    malformed."""
    body = rtcp_body(packet, TWCC_FMT)
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
