"""What the userspace link reads in a real frame: Ethernet, IPv4/IPv6, UDP/TCP ports, RTP.

Pure functions on a frame's bytes, no sockets. ``parse_frame`` gives what the
models need (the IP packet's size, which is the ``wire_bytes`` the simulator
counts; the flow's 5-tuple) and what the records keep (DSCP/ECN, RTP
sequence number, timestamp and SSRC). ``remark`` rewrites the DSCP of an IPv4
or IPv6 packet and marks it Congestion Experienced, and fixes the IPv4 header
checksum; ``remark_dscp`` changes the DSCP alone.

IPv6 Neighbour Discovery is link plumbing, as ARP is for IPv4, not traffic the
models carry: ``parse_frame`` gives None for it and ``nd_type`` tells it from
other frames without an IP packet. An ND message is an ICMPv6 packet (next
header 58, RFC 4443 section 1) of type 133 to 137 (RFC 4861 section 4: router
solicitation and advertisement, neighbour solicitation and advertisement,
redirect) with hop limit 255 (RFC 4861 sections 6.1 to 8.1: a receiver discards
ND with any other). Only an ICMPv6 header right after the fixed IPv6 header is
looked at: ND is sent without extension headers in practice, and a packet
whose ICMPv6 header sits behind extension headers is taken as any IP packet.

Header layouts: Ethernet II and IEEE 802.1Q (one tag); IPv4, RFC 791 section
3.1 (checksum: RFC 1071); IPv6, RFC 8200 section 3 (no extension headers
are followed); DSCP and ECN in the TOS / Traffic Class byte, RFC 2474
section 3 and RFC 3168 section 5; UDP, RFC 768; TCP ports, RFC 9293 section
3.1; RTP fixed header, RFC 3550 section 5.1, told from RTCP as RFC 5761
section 4 does.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

__all__ = [
    "ETH_P_8021Q",
    "ETH_P_IP",
    "ETH_P_IPV6",
    "IPPROTO_ICMPV6",
    "IPPROTO_TCP",
    "IPPROTO_UDP",
    "ND_HOP_LIMIT",
    "ND_TYPES",
    "FlowKey",
    "IpPacket",
    "RtpHeader",
    "ipv4_checksum",
    "nd_type",
    "parse_frame",
    "remark",
    "remark_dscp",
]

ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
ETH_P_8021Q = 0x8100
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ICMPV6 = 58  # RFC 4443 section 1: the next header value of ICMPv6

# RFC 4861 section 4: router solicitation 133, router advertisement 134, neighbour
# solicitation 135, neighbour advertisement 136, redirect 137.
ND_TYPES = range(133, 138)
ND_HOP_LIMIT = 255  # RFC 4861 sections 6.1.1, 6.1.2, 7.1.1, 7.1.2, 8.1
_ND_FIRST, _ND_LAST = ND_TYPES[0], ND_TYPES[-1]

_ETH_HEADER = 14
_VLAN_TAG = 4
_IPV6_HEADER = 40
_UDP_HEADER = 8
_RTP_HEADER = 12
_RTCP_TYPES = range(64, 96)  # RTCP types 192-223, marker bit masked off (RFC 5761 section 4)

_ETHERTYPE = struct.Struct("!H")
_IPV4_FIXED = struct.Struct("!BBHHHBBH4s4s")
_IPV6_FIXED = struct.Struct("!IHBB16s16s")
_PORTS = struct.Struct("!HH")
_RTP_FIXED = struct.Struct("!BBHII")

FlowKey = tuple[int, bytes, bytes, int, int]
"""(protocol, source address, destination address, source port, destination port)."""


class RtpHeader(NamedTuple):
    """The RTP fixed header fields the trace keeps (RFC 3550 section 5.1)."""

    version: int
    payload_type: int
    seq: int
    timestamp: int
    ssrc: int


class IpPacket(NamedTuple):
    """An IP packet found in a frame; ports are 0 when not UDP/TCP (or a later fragment)."""

    version: int  # 4 or 6
    ip_offset: int  # where the IP header starts in the frame
    wire_bytes: int  # the IP packet's length: total length (v4), 40 + payload length (v6)
    dscp: int
    ecn: int
    protocol: int  # IPv4 protocol / IPv6 next header
    src: bytes  # 4 or 16 bytes
    dst: bytes
    sport: int
    dport: int
    rtp: RtpHeader | None  # when the UDP payload looks like RTP

    @property
    def flow_key(self) -> FlowKey:
        """The 5-tuple that names this packet's flow."""
        return (self.protocol, self.src, self.dst, self.sport, self.dport)


def _ip_offset(frame: bytes) -> tuple[int, int]:
    """(ethertype, offset of the payload), past at most one 802.1Q tag."""
    if len(frame) < _ETH_HEADER:
        return 0, 0
    (ethertype,) = _ETHERTYPE.unpack_from(frame, 12)
    if ethertype == ETH_P_8021Q and len(frame) >= _ETH_HEADER + _VLAN_TAG:
        (ethertype,) = _ETHERTYPE.unpack_from(frame, 16)
        return ethertype, _ETH_HEADER + _VLAN_TAG
    return ethertype, _ETH_HEADER


def _rtp(frame: bytes, start: int, end: int) -> RtpHeader | None:
    """The RTP header at ``frame[start:end]`` if it looks like one (version 2, not RTCP)."""
    if end - start < _RTP_HEADER:
        return None
    first, second, seq, timestamp, ssrc = _RTP_FIXED.unpack_from(frame, start)
    if first >> 6 != 2 or (second & 0x7F) in _RTCP_TYPES:
        return None
    return RtpHeader(2, second & 0x7F, seq, timestamp, ssrc)


def _is_nd(frame: bytes, hop_limit: int, l4: int, end: int) -> bool:
    """Whether the ICMPv6 message at ``frame[l4:end]``, sent with ``hop_limit``, is ND."""
    return hop_limit == ND_HOP_LIMIT and end > l4 and _ND_FIRST <= frame[l4] <= _ND_LAST


def nd_type(frame: bytes) -> int:
    """The ICMPv6 type (133 to 137) of the IPv6 Neighbour Discovery message in an Ethernet
    frame, or 0 when the frame carries none."""
    ethertype, off = _ip_offset(frame)
    if ethertype != ETH_P_IPV6 or len(frame) < off + _IPV6_HEADER:
        return 0
    head, payload, proto, hop_limit, _, _ = _IPV6_FIXED.unpack_from(frame, off)
    l4 = off + _IPV6_HEADER
    end = min(len(frame), l4 + payload)
    if head >> 28 == 6 and proto == IPPROTO_ICMPV6 and _is_nd(frame, hop_limit, l4, end):
        return frame[l4]
    return 0


def parse_frame(frame: bytes) -> IpPacket | None:
    """The IP packet the models carry in an Ethernet frame, or None for anything else:
    no IP packet (ARP), truncated, or IPv6 Neighbour Discovery (``nd_type``)."""
    ethertype, off = _ip_offset(frame)
    size = len(frame)
    if ethertype == ETH_P_IP and size >= off + 20:
        first, tos, total, _, frag, _, proto, _, src, dst = _IPV4_FIXED.unpack_from(frame, off)
        header = (first & 0x0F) * 4
        if first >> 4 != 4 or header < 20 or total < header:
            return None
        l4 = off + header
        end = min(size, off + total)
        version = 4
        later_fragment = frag & 0x1FFF != 0
    elif ethertype == ETH_P_IPV6 and size >= off + _IPV6_HEADER:
        head, payload, proto, hop_limit, src, dst = _IPV6_FIXED.unpack_from(frame, off)
        if head >> 28 != 6:
            return None
        tos = (head >> 20) & 0xFF
        total = _IPV6_HEADER + payload
        l4 = off + _IPV6_HEADER
        end = min(size, off + total)
        if proto == IPPROTO_ICMPV6 and _is_nd(frame, hop_limit, l4, end):
            return None
        version = 6
        later_fragment = False
    else:
        return None
    sport = dport = 0
    rtp = None
    if proto in (IPPROTO_UDP, IPPROTO_TCP) and not later_fragment and end >= l4 + 4:
        sport, dport = _PORTS.unpack_from(frame, l4)
        if proto == IPPROTO_UDP:
            rtp = _rtp(frame, l4 + _UDP_HEADER, end)
    return IpPacket(version, off, total, tos >> 2, tos & 0x3, proto, src, dst, sport, dport, rtp)


def ipv4_checksum(header: bytes | bytearray) -> int:
    """The one's complement sum of 16-bit words (RFC 1071) over an IPv4 header."""
    total: int = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


ECN_NOT_ECT = 0
ECN_CE = 3  # Congestion Experienced (RFC 3168 section 5); 1 and 2 are ECT(1), ECT(0)


def remark(frame: bytes, dscp: int | None = None, *, ce: bool = False) -> bytes:
    """The frame with its IP packet's DSCP set to ``dscp`` (None: kept) and, with ``ce``,
    its ECN field set to CE when the packet is ECN-capable (RFC 3168 section 5: a router
    marks only ECT packets; a not-ECT one is left as it is). The IPv4 header checksum is
    recomputed (RFC 1071).

    Frames without an IP packet the models carry (``parse_frame``: ARP, IPv6 Neighbour
    Discovery), or already carrying what is asked, come back unchanged.
    """
    if dscp is not None and not 0 <= dscp <= 63:
        raise ValueError(f"a DSCP is 0..63, got {dscp}")
    packet = parse_frame(frame)
    if packet is None:
        return frame
    new_dscp = packet.dscp if dscp is None else dscp
    new_ecn = ECN_CE if ce and packet.ecn != ECN_NOT_ECT else packet.ecn
    if (new_dscp, new_ecn) == (packet.dscp, packet.ecn):
        return frame
    out = bytearray(frame)
    off = packet.ip_offset
    traffic_class = (new_dscp << 2) | new_ecn
    if packet.version == 4:
        out[off + 1] = traffic_class
        header = (out[off] & 0x0F) * 4
        out[off + 10 : off + 12] = b"\0\0"
        out[off + 10 : off + 12] = ipv4_checksum(out[off : off + header]).to_bytes(2, "big")
    else:
        out[off] = 0x60 | (traffic_class >> 4)
        out[off + 1] = ((traffic_class & 0x0F) << 4) | (out[off + 1] & 0x0F)
    return bytes(out)


def remark_dscp(frame: bytes, dscp: int) -> bytes:
    """The frame with its IP packet's DSCP set to ``dscp`` (ECN kept, IPv4 checksum fixed).

    Frames without an IP packet, or already carrying that DSCP, come back unchanged.
    """
    return remark(frame, dscp)
