"""Frame parsing and DSCP remarking on frames built here, byte by byte."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voipbed.emulation.frames import (
    IPPROTO_ICMPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    ND_TYPES,
    ipv4_checksum,
    nd_type,
    parse_frame,
    remark,
    remark_dscp,
)

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")
SRC4 = ipaddress.IPv4Address("10.0.0.1").packed
DST4 = ipaddress.IPv4Address("10.0.0.2").packed
SRC6 = ipaddress.IPv6Address("fd00::1").packed
DST6 = ipaddress.IPv6Address("fd00::2").packed


def rtp(seq: int, timestamp: int, ssrc: int, payload: bytes = b"\xff" * 160, pt: int = 0) -> bytes:
    """An RTP packet, version 2, no CSRC, no extension (RFC 3550 section 5.1)."""
    return struct.pack("!BBHII", 0x80, pt, seq, timestamp, ssrc) + payload


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    """A UDP datagram with a zero checksum (allowed over IPv4, RFC 768)."""
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def ipv4(
    payload: bytes,
    *,
    proto: int = IPPROTO_UDP,
    dscp: int = 0,
    ecn: int = 0,
    options: bytes = b"",
    frag: int = 0,
) -> bytes:
    """An IPv4 packet with a correct header checksum, computed here word by word."""
    ihl = 5 + len(options) // 4
    header = bytearray(
        struct.pack(
            "!BBHHHBBH4s4s",
            0x40 | ihl,
            dscp << 2 | ecn,
            ihl * 4 + len(payload),
            0x1234,
            frag,
            64,
            proto,
            0,
            SRC4,
            DST4,
        )
        + options
    )
    words = sum(int.from_bytes(header[i : i + 2], "big") for i in range(0, len(header), 2))
    words = (words & 0xFFFF) + (words >> 16)
    words = (words & 0xFFFF) + (words >> 16)
    header[10:12] = (~words & 0xFFFF).to_bytes(2, "big")
    return bytes(header) + payload


def ipv6(
    payload: bytes,
    *,
    proto: int = IPPROTO_UDP,
    dscp: int = 0,
    ecn: int = 0,
    hop_limit: int = 64,
) -> bytes:
    """An IPv6 packet with flow label 0xabcde (to check it survives remarking)."""
    first = 6 << 28 | (dscp << 2 | ecn) << 20 | 0xABCDE
    header = struct.pack("!IHBB16s16s", first, len(payload), proto, hop_limit, SRC6, DST6)
    return header + payload


def icmpv6(kind: int, body: bytes = bytes(20)) -> bytes:
    """An ICMPv6 message (RFC 4443 section 2.1): type, code 0, checksum left 0, body."""
    return struct.pack("!BBH", kind, 0, 0) + body


def nd(kind: int, *, hop_limit: int = 255, vlan: int | None = None) -> bytes:
    """A frame holding an ND message of type ``kind`` as RFC 4861 section 4 sends it: hop
    limit 255, a 4-byte reserved field, the target address and a link-layer address option."""
    body = bytes(4) + DST6 + struct.pack("!BB", 1, 1) + MAC_A
    packet = ipv6(icmpv6(kind, body), proto=IPPROTO_ICMPV6, dscp=48, hop_limit=hop_limit)
    return ether(packet, 0x86DD, vlan)


def ether(packet: bytes, ethertype: int, vlan: int | None = None) -> bytes:
    """An Ethernet II frame, optionally with one 802.1Q tag, padded to 60 bytes."""
    tag = b"" if vlan is None else struct.pack("!HH", 0x8100, vlan)
    frame = MAC_B + MAC_A + tag + struct.pack("!H", ethertype) + packet
    return frame + b"\0" * max(0, 60 - len(frame))


def header_sums_to_zero(header: bytes) -> bool:
    """A valid IPv4 header's one's complement sum, checksum included, is 0xFFFF."""
    total = sum(int.from_bytes(header[i : i + 2], "big") for i in range(0, len(header), 2))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


def test_ipv4_udp_rtp_fields() -> None:
    """An IPv4/UDP/RTP frame gives its size, 5-tuple, DSCP/ECN and RTP fields."""
    packet = ipv4(udp(4000, 5000, rtp(513, 160_000, 0xDEADBEEF, pt=8)), dscp=46, ecn=2)
    parsed = parse_frame(ether(packet, 0x0800))
    assert parsed is not None
    assert parsed.version == 4
    assert parsed.wire_bytes == len(packet) == 20 + 8 + 12 + 160
    assert (parsed.dscp, parsed.ecn) == (46, 2)
    assert parsed.flow_key == (IPPROTO_UDP, SRC4, DST4, 4000, 5000)
    assert parsed.rtp is not None
    assert parsed.rtp.payload_type == 8
    assert (parsed.rtp.seq, parsed.rtp.timestamp, parsed.rtp.ssrc) == (513, 160_000, 0xDEADBEEF)


def test_wire_bytes_ignore_ethernet_padding() -> None:
    """A tiny packet padded to Ethernet's minimum counts its IP length, not the frame's."""
    packet = ipv4(udp(1, 2, b"x"))
    frame = ether(packet, 0x0800)
    parsed = parse_frame(frame)
    assert len(frame) == 60
    assert parsed is not None and parsed.wire_bytes == len(packet) == 29
    assert parsed.rtp is None


def test_vlan_tagged_frame() -> None:
    """One 802.1Q tag is skipped to find the IP packet."""
    packet = ipv4(udp(4000, 5000, rtp(1, 2, 3)), dscp=34)
    parsed = parse_frame(ether(packet, 0x0800, vlan=100))
    assert parsed is not None
    assert parsed.ip_offset == 18
    assert parsed.dscp == 34 and parsed.rtp is not None and parsed.rtp.ssrc == 3


def test_ipv4_options_move_the_udp_header() -> None:
    """Ports and RTP are read after the IPv4 options (IHL > 5)."""
    packet = ipv4(udp(7, 9, rtp(11, 13, 17)), options=b"\x01\x01\x01\x00")
    parsed = parse_frame(ether(packet, 0x0800))
    assert parsed is not None
    assert (parsed.sport, parsed.dport) == (7, 9)
    assert parsed.rtp is not None and parsed.rtp.seq == 11


def test_ipv6_udp_rtp_fields() -> None:
    """IPv6 gives 40 + payload length, the traffic class's DSCP/ECN and the RTP fields."""
    packet = ipv6(udp(4000, 5000, rtp(65535, 2**32 - 1, 42)), dscp=46, ecn=1)
    parsed = parse_frame(ether(packet, 0x86DD))
    assert parsed is not None
    assert parsed.version == 6
    assert parsed.wire_bytes == len(packet)
    assert (parsed.dscp, parsed.ecn) == (46, 1)
    assert parsed.flow_key == (IPPROTO_UDP, SRC6, DST6, 4000, 5000)
    assert parsed.rtp is not None and (parsed.rtp.seq, parsed.rtp.timestamp) == (65535, 2**32 - 1)


def test_tcp_has_ports_but_no_rtp() -> None:
    """TCP segments give their ports; their payload is never read as RTP."""
    segment = struct.pack("!HHIIHHHH", 5060, 40000, 1, 0, 0x5000, 65535, 0, 0) + rtp(1, 2, 3)
    parsed = parse_frame(ether(ipv4(segment, proto=IPPROTO_TCP), 0x0800))
    assert parsed is not None
    assert parsed.flow_key[0] == IPPROTO_TCP and (parsed.sport, parsed.dport) == (5060, 40000)
    assert parsed.rtp is None


@pytest.mark.parametrize(
    "payload",
    [
        struct.pack("!BBHI", 0x80, 200, 6, 1) + b"\0" * 20,  # RTCP sender report
        struct.pack("!BBHI", 0x81, 201, 7, 1) + b"\0" * 24,  # RTCP receiver report
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP x\r\n",  # SIP text
        struct.pack("!HHI", 0x0001, 0, 0x2112A442) + b"\0" * 12,  # STUN binding request
        b"\x80\x00\x00",  # too short for an RTP header
    ],
)
def test_non_rtp_udp_payloads(payload: bytes) -> None:
    """RTCP, SIP, STUN and short datagrams are not taken for RTP."""
    parsed = parse_frame(ether(ipv4(udp(5004, 5005, payload)), 0x0800))
    assert parsed is not None and parsed.rtp is None


def test_later_fragment_has_no_ports() -> None:
    """A non-first IPv4 fragment carries no UDP header: ports 0, no RTP."""
    parsed = parse_frame(ether(ipv4(udp(1, 2, rtp(1, 2, 3)), frag=185), 0x0800))
    assert parsed is not None and (parsed.sport, parsed.dport, parsed.rtp) == (0, 0, None)


@pytest.mark.parametrize(
    "frame",
    [
        ether(bytes(28), 0x0806),  # ARP
        b"\x00" * 10,  # shorter than an Ethernet header
        ether(ipv4(udp(1, 2, b""))[:12], 0x0800)[:26],  # truncated IPv4 header
        ether(b"\x45" + bytes(40), 0x86DD),  # IPv6 ethertype, version 4 inside
    ],
)
def test_frames_without_ip_are_none(frame: bytes) -> None:
    """Frames that carry no (complete) IP header give None."""
    assert parse_frame(frame) is None


@pytest.mark.parametrize("kind", list(ND_TYPES))
@pytest.mark.parametrize("vlan", [None, 7])
def test_neighbour_discovery_is_told_apart_and_not_an_ip_packet(
    kind: int, vlan: int | None
) -> None:
    """RS, RA, NS, NA and redirect give their ICMPv6 type, and no packet for the models."""
    frame = nd(kind, vlan=vlan)
    assert nd_type(frame) == kind
    assert parse_frame(frame) is None
    assert remark(frame, 0, ce=True) is frame


@pytest.mark.parametrize(
    ("frame", "protocol"),
    [
        (ether(ipv6(icmpv6(128), proto=IPPROTO_ICMPV6, hop_limit=255), 0x86DD), 58),  # echo
        (ether(ipv6(icmpv6(1), proto=IPPROTO_ICMPV6, hop_limit=255), 0x86DD), 58),  # error
        (ether(ipv6(icmpv6(132), proto=IPPROTO_ICMPV6, hop_limit=255), 0x86DD), 58),  # MLD
        (ether(ipv6(icmpv6(138), proto=IPPROTO_ICMPV6, hop_limit=255), 0x86DD), 58),
        (nd(135, hop_limit=64), 58),  # RFC 4861 7.1.1: a receiver discards it
        # Hop-by-hop options (RFC 8200 section 4.3: next header 58, length 0, PadN) first.
        (
            ether(
                ipv6(b"\x3a\x00\x01\x04" + bytes(4) + icmpv6(135), proto=0, hop_limit=255), 0x86DD
            ),
            0,
        ),
        (ether(ipv6(b"", proto=IPPROTO_ICMPV6, hop_limit=255), 0x86DD), 58),  # no ICMPv6 type
        (ether(ipv4(icmpv6(135), proto=IPPROTO_ICMPV6), 0x0800), 58),  # IPv4 never is ND
    ],
)
def test_other_packets_are_not_neighbour_discovery(frame: bytes, protocol: int) -> None:
    """Other ICMPv6 types, ND without hop limit 255, ICMPv6 behind an extension header,
    an empty payload and IPv4 are packets the models carry, with nd_type 0."""
    assert nd_type(frame) == 0
    parsed = parse_frame(frame)
    assert parsed is not None and parsed.protocol == protocol


@pytest.mark.parametrize(
    "frame",
    [
        ether(bytes(28), 0x0806),  # ARP
        b"\x00" * 10,
        nd(135)[:50],  # IPv6 header cut short
        nd(135)[:54],  # the ICMPv6 message cut off
        nd(135)[:14] + b"\x40" + nd(135)[15:],  # version 4 in the IPv6 header
    ],
)
def test_frames_without_ipv6_have_no_nd_type(frame: bytes) -> None:
    """ARP, runts, cut frames and a wrong IP version carry no ND message."""
    assert nd_type(frame) == 0


def test_checksum_of_a_known_header() -> None:
    """The checksum of a textbook IPv4 header (checksum field zeroed) is 0xb861."""
    header = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")
    assert ipv4_checksum(header) == 0xB861


@settings(max_examples=100, deadline=None)
@given(
    before=st.integers(0, 63),
    after=st.integers(0, 63),
    ecn=st.integers(0, 3),
    options=st.sampled_from([b"", b"\x01\x01\x01\x00", b"\x07\x07\x04" + bytes(5)]),
    vlan=st.sampled_from([None, 5]),
)
def test_remark_ipv4_keeps_ecn_and_fixes_checksum(
    before: int, after: int, ecn: int, options: bytes, vlan: int | None
) -> None:
    """Remarking changes only the DSCP bits and the checksum, which stays valid."""
    frame = ether(
        ipv4(udp(1, 2, rtp(1, 2, 3)), dscp=before, ecn=ecn, options=options), 0x0800, vlan
    )
    out = remark_dscp(frame, after)
    parsed = parse_frame(out)
    assert parsed is not None
    assert (parsed.dscp, parsed.ecn) == (after, ecn)
    off = parsed.ip_offset
    header_len = 20 + len(options)
    assert header_sums_to_zero(out[off : off + header_len])
    changed = {i for i in range(len(frame)) if frame[i] != out[i]}
    assert changed <= {off + 1, off + 10, off + 11}
    assert (out == frame) == (before == after)


def test_remark_ipv6_keeps_flow_label() -> None:
    """IPv6 remarking rewrites the traffic class's DSCP, keeping ECN and the flow label."""
    frame = ether(ipv6(udp(1, 2, rtp(1, 2, 3)), dscp=46, ecn=3), 0x86DD)
    out = remark_dscp(frame, 0)
    parsed = parse_frame(out)
    assert parsed is not None and (parsed.dscp, parsed.ecn) == (0, 3)
    (first,) = struct.unpack_from("!I", out, 14)
    assert first & 0xFFFFF == 0xABCDE
    assert out[:14] == frame[:14] and out[18:] == frame[18:]


def test_remark_leaves_non_ip_alone() -> None:
    """An ARP frame is returned as it was."""
    frame = ether(bytes(28), 0x0806)
    assert remark_dscp(frame, 0) is frame


def test_remark_rejects_bad_dscp() -> None:
    """A DSCP outside 0..63 is an error, not a silent truncation."""
    with pytest.raises(ValueError, match="DSCP"):
        remark_dscp(ether(ipv4(udp(1, 2, b"")), 0x0800), 64)


@settings(max_examples=100, deadline=None)
@given(
    dscp=st.integers(0, 63),
    bleach=st.booleans(),
    ecn=st.integers(0, 3),
    options=st.sampled_from([b"", b"\x01\x01\x01\x00"]),
    vlan=st.sampled_from([None, 5]),
)
def test_ce_marks_only_ecn_capable_ipv4_packets(
    dscp: int, bleach: bool, ecn: int, options: bytes, vlan: int | None
) -> None:
    """Marking CE sets ECN to 3 on ECT(0), ECT(1) and CE packets, leaves not-ECT ones, can
    bleach the DSCP at the same time, and keeps the IPv4 checksum valid."""
    frame = ether(ipv4(udp(1, 2, rtp(1, 2, 3)), dscp=dscp, ecn=ecn, options=options), 0x0800, vlan)
    out = remark(frame, 0 if bleach else None, ce=True)
    parsed = parse_frame(out)
    assert parsed is not None
    assert parsed.ecn == (ecn if ecn == 0 else 3)
    assert parsed.dscp == (0 if bleach else dscp)
    off = parsed.ip_offset
    assert header_sums_to_zero(out[off : off + 20 + len(options)])
    assert {i for i in range(len(frame)) if frame[i] != out[i]} <= {off + 1, off + 10, off + 11}


def test_ce_mark_on_ipv6_keeps_dscp_and_flow_label() -> None:
    """An ECT(0) IPv6 packet marked CE keeps its DSCP and flow label."""
    frame = ether(ipv6(udp(1, 2, rtp(1, 2, 3)), dscp=46, ecn=2), 0x86DD)
    out = remark(frame, ce=True)
    parsed = parse_frame(out)
    assert parsed is not None and (parsed.dscp, parsed.ecn) == (46, 3)
    (first,) = struct.unpack_from("!I", out, 14)
    assert first & 0xFFFFF == 0xABCDE


def test_nothing_to_remark_returns_the_frame() -> None:
    """No DSCP given and no mark asked (or a not-ECT packet): the same frame object."""
    frame = ether(ipv4(udp(1, 2, b""), dscp=10, ecn=0), 0x0800)
    assert remark(frame) is frame
    assert remark(frame, ce=True) is frame
