"""The UDP datagrams of a capture, and the RTP header each one would have, in one pass.

:func:`udp_fields` walks every frame of a :class:`~voipbed.pcap_file.Capture`
through its link layer (Ethernet with 802.1Q/802.1ad tags, raw IP, Linux
cooked SLL and SLL2, BSD loopback), IPv4 or IPv6 (its extension headers
skipped) and UDP, in a compiled kernel, and gives per frame its status (UDP,
or why not), addresses, ports, traffic class, IP length and where the UDP
payload lies; and, for every payload of 12 bytes or more, the fields of an RTP
header (RFC 3550 5.1) read from it: version, padding, marker, payload type,
sequence number, timestamp, SSRC and the RTP payload's extent. Whether a
datagram really is RTP is for the caller to decide (``rtp_import``).
A fragment of a fragmented datagram is counted apart (it is not reassembled).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from voipbed.models._jit import kernel
from voipbed.pcap_file import Capture

__all__ = ["STATUS_NAMES", "UDP", "UdpFields", "address_text", "udp_fields"]

UDP = 0  # a whole UDP datagram
STATUS_NAMES = (
    "udp",
    "not IP",
    "not UDP",
    "truncated",
    "IP fragment (not reassembled)",
    "unknown link type",
)
_NOT_IP, _NOT_UDP, _TRUNCATED, _FRAGMENT, _UNKNOWN_LINK = 1, 2, 3, 4, 5

# tcpdump.org link types
_ETHERNET, _NULL, _LOOP, _RAW, _RAW_OLD, _RAW_BSD, _SLL, _IPV4, _IPV6, _SLL2 = (
    1,
    0,
    108,
    101,
    12,
    14,
    113,
    228,
    229,
    276,
)


@dataclass(frozen=True)
class UdpFields:
    """Per frame of a capture: ``status`` (``UDP``, or an index of ``STATUS_NAMES``) and,
    for a UDP datagram, its IP and UDP fields and its RTP-header reading."""

    status: NDArray[np.int8]
    ip_version: NDArray[np.int8]
    src: NDArray[np.uint8]  # [frame, 16]: IPv4 in the first four bytes
    dst: NDArray[np.uint8]
    sport: NDArray[np.int32]
    dport: NDArray[np.int32]
    tclass: NDArray[np.int16]  # IPv4 TOS or IPv6 traffic class: DSCP << 2 | ECN
    ip_bytes: NDArray[np.int32]  # the IP packet's length, from its header
    payload_start: NDArray[np.int64]  # the UDP payload in the capture's data
    payload_bytes: NDArray[np.int32]
    rtp_version: NDArray[np.int8]  # -1: payload shorter than an RTP header
    rtp_marker: NDArray[np.bool_]
    rtp_type: NDArray[np.int16]
    rtp_seq: NDArray[np.int32]
    rtp_ts: NDArray[np.int64]
    rtp_ssrc: NDArray[np.int64]
    rtp_payload_bytes: NDArray[np.int32]  # -1: the header's lengths do not fit


def udp_fields(capture: Capture) -> UdpFields:
    """The UDP and RTP-header fields of every frame of ``capture``."""
    n = len(capture)
    data = np.frombuffer(capture.data, dtype=np.uint8)
    out = UdpFields(
        status=np.empty(n, dtype=np.int8),
        ip_version=np.zeros(n, dtype=np.int8),
        src=np.zeros((n, 16), dtype=np.uint8),
        dst=np.zeros((n, 16), dtype=np.uint8),
        sport=np.zeros(n, dtype=np.int32),
        dport=np.zeros(n, dtype=np.int32),
        tclass=np.zeros(n, dtype=np.int16),
        ip_bytes=np.zeros(n, dtype=np.int32),
        payload_start=np.zeros(n, dtype=np.int64),
        payload_bytes=np.zeros(n, dtype=np.int32),
        rtp_version=np.full(n, -1, dtype=np.int8),
        rtp_marker=np.zeros(n, dtype=np.bool_),
        rtp_type=np.zeros(n, dtype=np.int16),
        rtp_seq=np.zeros(n, dtype=np.int32),
        rtp_ts=np.zeros(n, dtype=np.int64),
        rtp_ssrc=np.zeros(n, dtype=np.int64),
        rtp_payload_bytes=np.full(n, -1, dtype=np.int32),
    )
    _parse(
        data,
        capture.offsets,
        capture.linktype,
        out.status,
        out.ip_version,
        out.src,
        out.dst,
        out.sport,
        out.dport,
        out.tclass,
        out.ip_bytes,
        out.payload_start,
        out.payload_bytes,
    )
    _rtp(
        data,
        out.status,
        out.payload_start,
        out.payload_bytes,
        out.rtp_version,
        out.rtp_marker,
        out.rtp_type,
        out.rtp_seq,
        out.rtp_ts,
        out.rtp_ssrc,
        out.rtp_payload_bytes,
    )
    return out


def address_text(raw: NDArray[np.uint8], ip_version: int) -> str:
    """An address of ``UdpFields.src``/``dst`` as text."""
    if ip_version == 4:
        return ".".join(str(int(b)) for b in raw[:4])
    words = [f"{(int(raw[i]) << 8) | int(raw[i + 1]):x}" for i in range(0, 16, 2)]
    return ":".join(words)


@kernel
def _u16(data: NDArray[np.uint8], at: int) -> int:
    return (int(data[at]) << 8) | int(data[at + 1])


@kernel
def _parse(
    data: NDArray[np.uint8],
    offsets: NDArray[np.int64],
    linktype: NDArray[np.int32],
    status: NDArray[np.int8],
    ip_version: NDArray[np.int8],
    src: NDArray[np.uint8],
    dst: NDArray[np.uint8],
    sport: NDArray[np.int32],
    dport: NDArray[np.int32],
    tclass: NDArray[np.int16],
    ip_bytes: NDArray[np.int32],
    payload_start: NDArray[np.int64],
    payload_bytes: NDArray[np.int32],
) -> None:
    for i in range(status.size):
        start, end = offsets[i], offsets[i + 1]
        link = linktype[i]
        ether = -1  # the EtherType (or family) of the network layer; -2: by version nibble
        at = start
        if link == _ETHERNET:
            if end - at < 14:
                status[i] = _TRUNCATED
                continue
            ether = _u16(data, at + 12)
            at += 14
            while ether == 0x8100 or ether == 0x88A8:  # 802.1Q / 802.1ad tags
                if end - at < 4:
                    break
                ether = _u16(data, at + 2)
                at += 4
        elif link in (_RAW, _RAW_OLD, _RAW_BSD):
            ether = -2
        elif link == _IPV4:
            ether = 0x0800
        elif link == _IPV6:
            ether = 0x86DD
        elif link == _SLL:
            if end - at < 16:
                status[i] = _TRUNCATED
                continue
            ether = _u16(data, at + 14)
            at += 16
        elif link == _SLL2:
            if end - at < 20:
                status[i] = _TRUNCATED
                continue
            ether = _u16(data, at)
            at += 20
        elif link in (_NULL, _LOOP):
            if end - at < 4:
                status[i] = _TRUNCATED
                continue
            family = int(data[at]) | (int(data[at + 1]) << 8)  # host order, little-endian
            if family == 0:
                family = (int(data[at + 2]) << 8) | int(data[at + 3])
            ether = 0x0800 if family == 2 else (0x86DD if family in (10, 24, 28, 30) else 0)
            at += 4
        else:
            status[i] = _UNKNOWN_LINK
            continue
        if end - at < 1:
            status[i] = _TRUNCATED
            continue
        if ether == -2:
            nibble = data[at] >> 4
            ether = 0x0800 if nibble == 4 else (0x86DD if nibble == 6 else 0)
        protocol = -1
        if ether == 0x0800:
            if end - at < 20:
                status[i] = _TRUNCATED
                continue
            header = (int(data[at]) & 0x0F) * 4
            if header < 20 or end - at < header:
                status[i] = _TRUNCATED
                continue
            fragment = _u16(data, at + 6)
            if fragment & 0x3FFF:  # more fragments, or an offset
                status[i] = _FRAGMENT
                continue
            ip_version[i] = 4
            tclass[i] = data[at + 1]
            ip_bytes[i] = _u16(data, at + 2)
            protocol = data[at + 9]
            for k in range(4):
                src[i, k] = data[at + 12 + k]
                dst[i, k] = data[at + 16 + k]
            at += header
        elif ether == 0x86DD:
            if end - at < 40:
                status[i] = _TRUNCATED
                continue
            ip_version[i] = 6
            tclass[i] = ((int(data[at]) & 0x0F) << 4) | (int(data[at + 1]) >> 4)
            ip_bytes[i] = 40 + _u16(data, at + 4)
            protocol = data[at + 6]
            for k in range(16):
                src[i, k] = data[at + 8 + k]
                dst[i, k] = data[at + 24 + k]
            at += 40
            while protocol in (0, 43, 60) and end - at >= 8:  # hop-by-hop, routing, options
                protocol = data[at]
                at += (int(data[at + 1]) + 1) * 8
            if protocol == 44:  # fragment header
                status[i] = _FRAGMENT
                continue
        else:
            status[i] = _NOT_IP
            continue
        if protocol != 17:
            status[i] = _NOT_UDP
            continue
        if end - at < 8:
            status[i] = _TRUNCATED
            continue
        sport[i] = _u16(data, at)
        dport[i] = _u16(data, at + 2)
        length = _u16(data, at + 4) - 8
        if length < 0 or end - (at + 8) < length:
            status[i] = _TRUNCATED  # a snap length shorter than the datagram
            continue
        payload_start[i] = at + 8
        payload_bytes[i] = length
        status[i] = UDP


@kernel
def _rtp(
    data: NDArray[np.uint8],
    status: NDArray[np.int8],
    payload_start: NDArray[np.int64],
    payload_bytes: NDArray[np.int32],
    version: NDArray[np.int8],
    marker: NDArray[np.bool_],
    payload_type: NDArray[np.int16],
    seq: NDArray[np.int32],
    ts: NDArray[np.int64],
    ssrc: NDArray[np.int64],
    rtp_payload: NDArray[np.int32],
) -> None:
    for i in range(status.size):
        if status[i] != UDP or payload_bytes[i] < 12:
            continue
        at = payload_start[i]
        size = payload_bytes[i]
        first = int(data[at])
        version[i] = first >> 6
        marker[i] = (data[at + 1] & 0x80) != 0
        payload_type[i] = data[at + 1] & 0x7F
        seq[i] = _u16(data, at + 2)
        ts[i] = (_u16(data, at + 4) << 16) | _u16(data, at + 6)
        ssrc[i] = (_u16(data, at + 8) << 16) | _u16(data, at + 10)
        header = 12 + 4 * (first & 0x0F)  # CSRCs
        if first & 0x10 and size >= header + 4:  # an extension header
            header += 4 + 4 * _u16(data, at + header + 2)
        padding = int(data[at + size - 1]) if first & 0x20 else 0
        if header + padding <= size:
            rtp_payload[i] = size - header - padding
