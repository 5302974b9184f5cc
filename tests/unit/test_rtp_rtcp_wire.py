"""RTP with the transport-wide sequence number, RFC 8888 and transport-wide feedback on the wire."""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from voipbed.models.cc_feedback import rfc8888_bytes, twcc_bytes
from voipbed.models.rtcp import is_rtcp, rtcp_feedback_format, rtcp_packets
from voipbed.models.rtcp_rfc8888 import (
    ATO_OVER_RANGE,
    ATO_UNAVAILABLE,
    Arrival,
    Rfc8888Block,
    Rfc8888Feedback,
    Rfc8888Metric,
    ato_from_offset,
    decode_rfc8888,
    encode_rfc8888,
    ntp_short,
    rfc8888_feedback,
)
from voipbed.models.rtcp_twcc import (
    TWCC_TICK_S,
    TwccFeedback,
    decode_twcc,
    encode_twcc,
    twcc_arrivals,
    twcc_feedback,
)
from voipbed.models.rtp_packet import (
    ExtensionIds,
    RtpPacket,
    Unwrapper,
    abs_send_time,
    decode_rtp,
    encode_rtp,
    extension_bytes,
)

u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)

rtp_packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127),
    seq=u16,
    timestamp=u32,
    ssrc=u32,
    payload=st.binary(max_size=200),
    marker=st.booleans(),
    csrcs=st.lists(u32, max_size=15).map(tuple),
    transport_seq=st.none() | u16,
    abs_send_time=st.none() | st.integers(0, 0xFFFFFF),
)

metrics = st.one_of(
    st.just(Rfc8888Metric(False)),
    st.builds(Rfc8888Metric, st.just(True), st.integers(0, 3), st.integers(0, ATO_UNAVAILABLE)),
)
rfc8888_packets = st.builds(
    Rfc8888Feedback,
    sender_ssrc=u32,
    blocks=st.lists(
        st.builds(Rfc8888Block, u32, u16, st.lists(metrics, max_size=60).map(tuple)), max_size=4
    ).map(tuple),
    report_timestamp=u32,
)
twcc_packets = st.builds(
    TwccFeedback,
    sender_ssrc=u32,
    media_ssrc=u32,
    base_seq=u16,
    reference_time=st.integers(-(1 << 23), (1 << 23) - 1),
    fb_count=st.integers(0, 255),
    deltas=st.lists(
        st.none() | st.integers(0, 255) | st.integers(-0x8000, 0x7FFF), min_size=1, max_size=300
    ).map(tuple),
)


def _rtcp(fmt: int, body: bytes) -> bytes:
    """An RTPFB packet of format ``fmt`` around ``body`` (a whole number of words)."""
    return struct.pack("!BBH", 0x80 | fmt, 205, len(body) // 4) + body


# ---------------------------------------------------------------------------- RTP


def test_rtp_layout_with_transport_sequence_number() -> None:
    """Fixed header, then 0xBEDE, one word, ID 3 with L=1, the 16-bit number, one pad byte."""
    packet = RtpPacket(
        96,
        seq=0x1234,
        timestamp=0x01020304,
        ssrc=0xCAFEBABE,
        payload=b"\xaa" * 3,
        transport_seq=0xBEEF,
    )
    wire = encode_rtp(packet)
    assert wire[:12] == bytes.fromhex("90601234 01020304 cafebabe")
    assert wire[12:20] == bytes.fromhex("bede0001 31beef00")
    assert wire[20:] == b"\xaa" * 3


@given(rtp_packets)
def test_rtp_round_trip(packet: RtpPacket) -> None:
    """Decoding an encoded RTP packet gives it back, and its size is header + extension +
    payload."""
    wire = encode_rtp(packet)
    assert decode_rtp(wire) == packet
    extension = extension_bytes(packet.transport_seq is not None, packet.abs_send_time is not None)
    assert len(wire) == 12 + 4 * len(packet.csrcs) + extension + len(packet.payload)


def test_rtp_other_extension_ids() -> None:
    """With other negotiated IDs the numbers are found under those IDs, not the defaults."""
    ids = ExtensionIds(transport_seq=5, abs_send_time=9)
    packet = RtpPacket(111, 7, 8, 9, b"x", transport_seq=42, abs_send_time=1000)
    wire = encode_rtp(packet, ids)
    assert decode_rtp(wire, ids) == packet
    assert decode_rtp(wire).transport_seq is None


def test_rtp_two_byte_header_extension_and_padding() -> None:
    """The two-byte extension form (RFC 8285 4.3) and RTP padding (P bit) are read."""
    header = struct.pack("!BBHII", 0xB0, 96, 1, 2, 3)  # V=2, P, X
    extension = struct.pack("!HH", 0x1000, 2) + bytes([3, 2, 0x12, 0x34, 0, 0, 0, 0])
    wire = header + extension + b"voice" + bytes([0, 0, 3])
    packet = decode_rtp(wire)
    assert packet.transport_seq == 0x1234
    assert packet.payload == b"voice"


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"\x80\x60\x00", "shorter than the 12-byte fixed header"),
        (bytes.fromhex("40600001 00000002 00000003"), "version 1"),
        (bytes.fromhex("82600001 00000002 00000003 00000004"), "CSRCs"),
        (bytes.fromhex("90600001 00000002 00000003 bede"), "extension's header"),
        (bytes.fromhex("90600001 00000002 00000003 bede0002 31000100"), "runs past the packet"),
        (bytes.fromhex("90600001 00000002 00000003 bede0001 35000100"), "runs past its block"),
        (bytes.fromhex("90600001 00000002 00000003 bede0001 30010000"), "element of 1 bytes"),
        (bytes.fromhex("a0600001 00000002 00000003 05"), "padding count 5"),
        (bytes.fromhex("a0600001 00000002 00000003 00"), "padding count 0"),
    ],
)
def test_rtp_malformed(wire: bytes, message: str) -> None:
    """Malformed RTP is refused with a ValueError saying what is wrong."""
    with pytest.raises(ValueError, match=message):
        decode_rtp(wire)


def test_abs_send_time_is_6_18_fixed_point_wrapping_at_64_s() -> None:
    """abs-send-time counts 2**18 per second and wraps every 64 s."""
    assert abs_send_time(1.0) == 1 << 18
    assert abs_send_time(64.5) == abs_send_time(0.5) == 1 << 17


def test_rtcp_is_told_from_rtp() -> None:
    """RTCP feedback is recognised as RTCP on a shared port, RTP (PT 96, marker) is not."""
    rtp = encode_rtp(RtpPacket(96, 1, 2, 3, marker=True))
    feedback = encode_rfc8888(Rfc8888Feedback(1, (), 0))
    assert is_rtcp(feedback) and not is_rtcp(rtp)
    assert rtcp_feedback_format(feedback) == 11


# ---------------------------------------------------------------------------- RFC 8888


def test_rfc8888_layout() -> None:
    """Header (FMT 11, PT 205, length), sender SSRC, block (SSRC, begin_seq, num_reports,
    R|ECN|ATO per packet, padded), report timestamp."""
    block = Rfc8888Block(
        0x11223344, 65535, (Rfc8888Metric(True, 3, 512), Rfc8888Metric(False), Rfc8888Metric(True))
    )
    wire = encode_rfc8888(Rfc8888Feedback(0xAABBCCDD, (block,), 0x00010000))
    assert wire == bytes.fromhex("8bcd0006 aabbccdd 11223344 ffff0003 e2000000 80000000 00010000")


@given(rfc8888_packets)
def test_rfc8888_round_trip_and_size(feedback: Rfc8888Feedback) -> None:
    """Decoding an encoded report gives it back; its size is what models.cc_feedback counts."""
    wire = encode_rfc8888(feedback)
    assert decode_rfc8888(wire) == feedback
    if feedback.blocks:
        assert len(wire) == rfc8888_bytes([len(b.metrics) for b in feedback.blocks])
    assert rtcp_packets(wire + wire) == [wire, wire]


def test_ato_encoding() -> None:
    """Offsets are truncated to 1/1024 s; beyond 8189/1024 s over-range, negative unavailable."""
    assert ato_from_offset(0.5) == 512
    assert ato_from_offset(1.5 / 1024) == 1
    assert ato_from_offset(8.0) == ATO_OVER_RANGE
    assert ato_from_offset(-0.001) == ATO_UNAVAILABLE
    assert Rfc8888Metric(True, 0, ATO_OVER_RANGE).offset_s is None
    assert Rfc8888Metric(True, 0, 1024).offset_s == 1.0


@given(
    st.floats(0.0, 60_000.0),
    st.lists(st.none() | st.floats(0.0, 7.9), min_size=1, max_size=50),
)
def test_rfc8888_offsets_give_arrivals_back(report_s: float, ages: list[float | None]) -> None:
    """Report timestamp minus offset is each arrival, at most 1/1024 s late (RFC 8888
    truncates) and at most one timestamp unit early; not received stays not received."""
    arrivals = [Arrival(None if age is None else report_s - age, 1) for age in ages]
    feedback = rfc8888_feedback(7, report_s, [(99, 10, arrivals)])
    report_exact = feedback.report_timestamp / 65536.0
    assert 0.0 <= report_s - report_exact < 1 / 65536 + 1e-9
    for arrival, metric in zip(arrivals, feedback.blocks[0].metrics, strict=True):
        assert metric.received is (arrival.arrival_s is not None)
        if arrival.arrival_s is not None:
            offset = metric.offset_s
            assert offset is not None and metric.ecn == 1
            rebuilt = report_exact - offset
            assert -1 / 65536 - 1e-9 <= rebuilt - arrival.arrival_s <= 1 / 1024 + 1e-9


def test_ntp_short_is_16_16_fixed_point() -> None:
    """The NTP short format holds 65536 units per second and wraps at 2**16 s."""
    assert ntp_short(1.5) == 0x00018000
    assert ntp_short(65536.25) == 0x00004000


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (bytes.fromhex("8bcd0001 00000001"), "not 8 or more"),
        (bytes.fromhex("8bcd0003 00000001 00000002 00000003"), "too few for a report block"),
        (bytes.fromhex("8bcd0004 00000001 00000002 00014001 00000003"), "exceeds 16384"),
        (bytes.fromhex("8bcd0004 00000001 00000002 00010003 00000003"), "runs past the packet"),
        (bytes.fromhex("8bcd0003 00000001 00000002"), "length field says 16 bytes, got 12"),
        (bytes.fromhex("8fcd0002 00000001 00000002"), "FMT 15, expected PT 205 FMT 11"),
        (bytes.fromhex("abcd0002 00000001 00000009"), "padding count 9"),
    ],
)
def test_rfc8888_malformed(wire: bytes, message: str) -> None:
    """Malformed RFC 8888 feedback is refused with a ValueError saying what is wrong."""
    with pytest.raises(ValueError, match=message):
        decode_rfc8888(wire)


# ---------------------------------------------------------------------------- transport-wide


def test_twcc_layout() -> None:
    """Fixed part, a 2-bit status vector (one late packet), deltas, RTCP padding."""
    feedback = TwccFeedback(1, 2, 100, 5, 9, (4, None, 300, 1))
    wire = encode_twcc(feedback)
    # statuses small, not received, large, small: 2-bit vector 11 01 00 10 01 00 00 00
    assert wire == bytes.fromhex(
        "afcd0006"  # P, FMT 15, PT 205, 7 words
        "00000001 00000002 00640004 00000509"  # SSRCs, base 100, count 4, reference 5, fb 9
        "d240 04 012c 01 0002"  # chunk, deltas 4, 300, 1, then two bytes of padding
    )


@given(twcc_packets)
def test_twcc_round_trip(feedback: TwccFeedback) -> None:
    """Decoding an encoded transport-wide report gives it back, padded to 32 bits."""
    wire = encode_twcc(feedback)
    assert len(wire) % 4 == 0
    assert decode_twcc(wire) == feedback


@given(
    st.lists(st.none() | st.integers(0, 32_000), min_size=1, max_size=300),
    st.integers(0, 2**20),
)
def test_twcc_size_is_what_cc_feedback_counts(ticks: list[int | None], start: int) -> None:
    """For arrivals on the 250 us grid the encoded packet is as long as twcc_bytes says."""
    times = [None if t is None else (start + t) * TWCC_TICK_S for t in ticks]
    if all(t is None for t in times):
        times[0] = start * TWCC_TICK_S
    arrivals = np.array([np.nan if t is None else t for t in times])
    received = [t is not None for t in times]
    wire = encode_twcc(twcc_feedback(1, 2, 3, 4, times))
    assert len(wire) == twcc_bytes(received, np.nan_to_num(arrivals))


@given(st.lists(st.none() | st.floats(0.0, 8.0), min_size=1, max_size=100), st.floats(0, 1e5))
def test_twcc_arrivals_come_back_within_half_a_tick(
    ages: list[float | None], base_s: float
) -> None:
    """The arrivals rebuilt from a report are each within 125 us (half a delta unit)."""
    times = [None if age is None else base_s + age for age in ages]
    rebuilt = twcc_arrivals(decode_twcc(encode_twcc(twcc_feedback(1, 2, 3, 4, times))))
    for sent, got in zip(times, rebuilt, strict=True):
        assert (sent is None) is (got is None)
        if sent is not None and got is not None:
            assert abs(got - sent) <= TWCC_TICK_S / 2 + 1e-9


def test_twcc_refuses_arrivals_too_far_apart_for_a_delta() -> None:
    """Two packets in sequence arriving 9 s apart do not fit a 16-bit delta."""
    with pytest.raises(ValueError, match="receive delta"):
        twcc_feedback(1, 2, 3, 4, [0.0, 9.0])


def test_twcc_takes_the_drafts_zero_padding() -> None:
    """Without the P bit, up to three zero bytes after the deltas are padding."""
    body = struct.pack("!IIHHI", 1, 2, 3, 1, 0) + struct.pack("!H", 0x2001) + bytes([8, 0])
    assert decode_twcc(_rtcp(15, body)).deltas == (8,)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (struct.pack("!IIH", 1, 2, 3) + bytes(2), "under 16"),
        (struct.pack("!IIHHI", 1, 2, 3, 0, 0), "status count 0"),
        (struct.pack("!IIHHI", 1, 2, 3, 1, 0), "status chunks end after 0 of 1"),
        (struct.pack("!IIHHIHH", 1, 2, 3, 2, 0, 0x2005, 0), "run-length chunk of 5 packets"),
        (struct.pack("!IIHHIHH", 1, 2, 3, 1, 0, 0x6001, 0), "reserved status symbol"),
        (struct.pack("!IIHHIHH", 1, 2, 3, 1, 0, 0xF000, 0), "reserved status symbol"),
        (struct.pack("!IIHHIHH", 1, 2, 3, 2, 0, 0x4002, 0x0102), "receive deltas end"),
        (struct.pack("!IIHHIHBB", 1, 2, 3, 1, 0, 0x2001, 1, 7), "not zero padding"),
    ],
)
def test_twcc_malformed(body: bytes, message: str) -> None:
    """Malformed transport-wide feedback is refused with a ValueError saying what is wrong."""
    with pytest.raises(ValueError, match=message):
        decode_twcc(_rtcp(15, body))


# ---------------------------------------------------------------------------- fuzz


DECODERS: list[Callable[[bytes], object]] = [decode_rtp, decode_rfc8888, decode_twcc, rtcp_packets]


def _decodes_or_value_error(data: bytes) -> int:
    """How many decoders took ``data``; any of them raising other than ValueError fails."""
    taken = 0
    for decode in DECODERS:
        try:
            decode(data)
        except ValueError:
            continue
        taken += 1
    return taken


@given(st.binary(max_size=120))
def test_random_bytes_raise_only_value_error(data: bytes) -> None:
    """Any bytes either decode or raise ValueError, whatever the decoder."""
    assert _decodes_or_value_error(data) <= len(DECODERS)


@given(st.sampled_from([11, 15]), st.binary(max_size=40).map(lambda b: b + bytes(-len(b) % 4)))
def test_feedback_bodies_raise_only_value_error(fmt: int, body: bytes) -> None:
    """Random bodies behind a valid feedback header decode or raise ValueError."""
    assert _decodes_or_value_error(_rtcp(fmt, body)) <= len(DECODERS)


@given(
    st.one_of(
        rtp_packets.map(encode_rtp),
        rfc8888_packets.map(encode_rfc8888),
        twcc_packets.map(encode_twcc),
    ),
    st.integers(0, 10_000),
    st.integers(0, 255),
    st.booleans(),
)
def test_damaged_packets_raise_only_value_error(
    wire: bytes, where: int, value: int, truncate: bool
) -> None:
    """A valid packet truncated or with one byte changed decodes or raises ValueError."""
    index = where % len(wire)
    damaged = wire[:index] if truncate else wire[:index] + bytes([value]) + wire[index + 1 :]
    assert _decodes_or_value_error(damaged) <= len(DECODERS)


# ---------------------------------------------------------------------------- counters


def test_unwrapper_follows_wraps_both_ways() -> None:
    """A 16-bit counter unwraps forward across 65535 -> 0 and back again."""
    unwrap = Unwrapper(16).unwrap
    assert [unwrap(v) for v in (65534, 65535, 0, 1, 65535, 2)] == [
        65534,
        65535,
        65536,
        65537,
        65535,
        65538,
    ]
    with pytest.raises(ValueError, match="outside"):
        unwrap(70000)
