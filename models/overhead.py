"""Header overhead from RTP payload to the bytes a segment carries, and the bandwidth of a call.

Role: pure arithmetic on header sizes. An :class:`Overhead` describes one
segment of the path (IP version, SRTP, ROHC, link layer, RTCP share);
:func:`header_bytes` breaks down the headers of one media packet,
:func:`wire_bytes_per_packet` adds the payload, and :func:`bandwidth_bps`
gives the bit rate of one call in one direction on that segment.
:func:`wire_bytes` keeps the plain RTP/UDP/IPv4 size.

Sizes and their sources:

- RTP fixed header 12 bytes, no CSRC, no extension (RFC 3550 clause 5.1);
  UDP 8 (RFC 768); IPv4 20 without options (RFC 791); IPv6 40 without
  extension headers (RFC 8200 clause 3).
- SRTP (RFC 3711 clause 3.1): the payload is encrypted in place (AES-CM,
  clause 4.1, adds nothing); the packet gains the optional MKI (length set by
  key management) and the authentication tag, 80 bits (HMAC-SHA1-80, the
  default, clause 5.2) or 32 bits (HMAC-SHA1-32). A tag of 0 bits is plain RTP
  or SRTP with NULL authentication.
- RTCP (RFC 3550 clause 6.2): "the fraction of the session bandwidth added
  for RTCP be fixed at 5%". :attr:`Overhead.rtcp_share` adds that fraction
  to each direction's media rate: the bandwidth reserved for RTCP. It is a
  ceiling: with two participants the 5 s minimum interval of clause 6.2
  keeps the actual rate near one compound packet per 5 s.
- ROHC profile 1, RTP/UDP/IP (RFC 3095, framework RFC 5795), see
  :class:`Rohc`. Compressed header sizes per compressor state:

  ===============  =====================================================
  state            packet and size (before CID, UDP checksum, IP-ID)
  ===============  =====================================================
  IR               IR packet, clause 5.7.7.1: type, profile and CRC
                   octets plus the static and dynamic chains of clauses
                   5.7.7.3 to 5.7.7.6 (IPv4 10 + 6, IPv6 36 + 3, UDP 4 +
                   2, RTP 4 + 9 octets, one-octet empty extension-header
                   and CSRC lists): 38 bytes over IPv4, 61 over IPv6
  FO               UOR-2, clause 5.7.4: 3 bytes (no extension)
  SO               UO-0, clause 5.7.1: 1 byte
  ===============  =====================================================

  To each: the Add-CID octet or large CID (0 for CID 0, clause 5.8), the UDP
  checksum, 2 bytes, whenever it is in use (always over IPv6, RFC 8200
  clause 8.1; over IPv4 when the sender computes it, which Linux does), and
  for IPv4 with a random IP-ID (RND = 1) the 2-byte IP-ID (clause 5.7).
  The IR packet already carries both in its dynamic chain. The state model:
  a flow starts in IR, moves to SO once the context is established (a few
  packets in U-mode), and falls back to FO, sending UOR-2, after loss or
  context damage and when RTP TS stops following SN (a talk-spurt start
  after DTX). Steady state is SO: 3 bytes over IPv4 with checksum or IPv6,
  1 byte over IPv4 without checksum (the "1 to 3 bytes" usually quoted).
- LTE user plane, see :class:`LteRadio`: PDCP data PDU header 1 byte with a
  7-bit SN, 2 bytes with 12 or 15 bits, 3 bytes with 18 bits (3GPP TS 36.323
  clause 6.2); RLC UM data PDU header 1 byte with a 5-bit SN, 2 with 10 bits,
  one SDU per PDU (TS 36.322 clause 6.2.1.3); MAC subheader R/F2/E/LCID/F/L,
  2 bytes for an SDU under 128 bytes, 3 bytes above (TS 36.321 clause 6.1.2).
  Transport-block padding and CRC are not counted. ROHC, when on, runs in
  PDCP (TS 36.323 clause 5.5).
- Ethernet, see :class:`Ethernet`: 14-byte header + 4-byte FCS (IEEE 802.3
  clause 3.1.1), + 4 with an 802.1Q tag, frames padded to 64 bytes; on the
  physical medium also 8 bytes of preamble and SFD and a 12-byte gap.
- Signalling security (:func:`record_overhead_bytes`): TLS 1.3 (RFC 8446
  clause 5.2) adds a 5-byte record header, the 1-byte inner content type and
  the AEAD tag (16 bytes for AES-GCM and ChaCha20-Poly1305, 8 for
  AES-CCM-8), 22 bytes per record; records carry at most 2^14 bytes of
  plaintext (clause 5.1). DTLS 1.3 (RFC 9147 clause 4) uses the unified
  header: 1 byte, the connection ID if any, an 8- or 16-bit sequence number
  and an optional 16-bit length, then the same inner type and tag (22 bytes
  with a 16-bit sequence number and a length). DTLS 1.2 (RFC 6347 clause
  4.1) has a 13-byte header, and AES-GCM adds an 8-byte explicit nonce and a
  16-byte tag (RFC 5288): 37 bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from voipbed.models.codecs import Codec

__all__ = [
    "IPV4_HEADER_BYTES",
    "IPV6_HEADER_BYTES",
    "RTP_HEADER_BYTES",
    "UDP_HEADER_BYTES",
    "Ethernet",
    "Headers",
    "IpVersion",
    "LteRadio",
    "Overhead",
    "RecordLayer",
    "RecordProtocol",
    "Rohc",
    "RohcState",
    "bandwidth_bps",
    "bytes_on_segment",
    "header_bytes",
    "record_overhead_bytes",
    "secured_bytes",
    "wire_bytes",
    "wire_bytes_per_packet",
]

RTP_HEADER_BYTES = 12  # RFC 3550 clause 5.1, no CSRC, no extension
UDP_HEADER_BYTES = 8  # RFC 768
IPV4_HEADER_BYTES = 20  # RFC 791, no options
IPV6_HEADER_BYTES = 40  # RFC 8200 clause 3, no extension headers

_SRTP_TAG_BITS = (0, 32, 80)  # none/NULL, HMAC-SHA1-32, HMAC-SHA1-80 (RFC 3711 clause 5.2)
_UDP_CHECKSUM_BYTES = 2
_IP_ID_BYTES = 2
_ROHC_IR_BYTES = {4: 38, 6: 61}  # RFC 3095 clause 5.7.7, see the module docstring
_ROHC_UOR2_BYTES = 3  # RFC 3095 clause 5.7.4
_ROHC_UO0_BYTES = 1  # RFC 3095 clause 5.7.1
_TLS_MAX_PLAINTEXT_BYTES = 2**14  # RFC 8446 clause 5.1, RFC 9147 clause 4


class IpVersion(IntEnum):
    """IP version of the segment."""

    V4 = 4
    V6 = 6

    @property
    def header_bytes(self) -> int:
        """Fixed IP header size: 20 bytes for IPv4 (RFC 791), 40 for IPv6 (RFC 8200)."""
        return IPV4_HEADER_BYTES if self is IpVersion.V4 else IPV6_HEADER_BYTES


class RohcState(StrEnum):
    """ROHC compressor state (RFC 3095 clause 4.3.1), which sets the packet type sent."""

    IR = "ir"  # initialization and refresh: IR packets with full context
    FO = "fo"  # first order: UOR-2, after loss, context damage or a TS jump
    SO = "so"  # second order: UO-0, the steady state


@dataclass(frozen=True)
class Rohc:
    """ROHC profile 1 (RTP/UDP/IP, RFC 3095) settings; header sizes in the module docstring."""

    cid_bytes: int = 0  # 0: small CID 0; 1: Add-CID octet (CID 1-15) or 1-byte large CID; 2
    ipv4_udp_checksum: bool = True  # IPv6 always carries it (RFC 8200 clause 8.1)
    ipv4_random_ip_id: bool = False  # RND = 1: the IP-ID travels uncompressed

    def __post_init__(self) -> None:
        if self.cid_bytes not in (0, 1, 2):
            raise ValueError(
                f"cid_bytes must be 0, 1 or 2 (RFC 3095 clause 5.8), got {self.cid_bytes}"
            )

    def header_bytes(self, ip_version: IpVersion, state: RohcState) -> int:
        """Compressed RTP/UDP/IP header bytes of one packet sent in ``state``."""
        if state is RohcState.IR:
            return self.cid_bytes + _ROHC_IR_BYTES[ip_version]
        base = _ROHC_UOR2_BYTES if state is RohcState.FO else _ROHC_UO0_BYTES
        v4 = ip_version is IpVersion.V4
        checksum = _UDP_CHECKSUM_BYTES if (self.ipv4_udp_checksum or not v4) else 0
        ip_id = _IP_ID_BYTES if (v4 and self.ipv4_random_ip_id) else 0
        return self.cid_bytes + base + checksum + ip_id


@dataclass(frozen=True)
class LteRadio:
    """LTE user-plane layer 2 on the radio segment: PDCP, RLC UM and MAC (TS 36.323/322/321).

    Defaults are the smallest headers the specifications offer, the ones a
    VoLTE bearer (QCI 1, RLC UM) is usually configured with.
    """

    pdcp_sn_bits: int = 7  # 7, 12, 15 or 18 (TS 36.323 clause 6.3.2)
    rlc_um_sn_bits: int = 5  # 5 or 10 (TS 36.322 clause 6.2.2.3)

    def __post_init__(self) -> None:
        if self.pdcp_sn_bits not in (7, 12, 15, 18):
            raise ValueError(f"pdcp_sn_bits must be 7, 12, 15 or 18, got {self.pdcp_sn_bits}")
        if self.rlc_um_sn_bits not in (5, 10):
            raise ValueError(f"rlc_um_sn_bits must be 5 or 10, got {self.rlc_um_sn_bits}")

    def header_bytes(self, pdcp_sdu_bytes: int) -> int:
        """PDCP + RLC + MAC header bytes for one PDCP SDU (an IP or ROHC packet)."""
        pdcp = {7: 1, 12: 2, 15: 2, 18: 3}[self.pdcp_sn_bits]  # TS 36.323 clause 6.2
        rlc = 1 if self.rlc_um_sn_bits == 5 else 2  # TS 36.322 clause 6.2.1.3
        mac_sdu = pdcp_sdu_bytes + pdcp + rlc
        mac = 2 if mac_sdu < 128 else 3  # 7-bit or 15-bit L field, TS 36.321 clause 6.1.2
        return pdcp + rlc + mac


@dataclass(frozen=True)
class Ethernet:
    """IEEE 802.3 framing of the segment."""

    vlan_tag: bool = False  # IEEE 802.1Q tag, 4 bytes
    physical: bool = False  # also count preamble + SFD (8) and the inter-frame gap (12)

    def header_bytes(self, ip_packet_bytes: int) -> int:
        """Framing bytes around one IP packet, padding to the 64-byte minimum frame included."""
        header = 14 + 4 + (4 if self.vlan_tag else 0)  # MAC header + FCS (+ 802.1Q)
        padding = max(0, 64 - (header + ip_packet_bytes))
        return header + padding + (20 if self.physical else 0)


Link = LteRadio | Ethernet | None


@dataclass(frozen=True)
class Overhead:
    """Encapsulation of media on one segment of the path.

    ``rtcp_share`` is the fraction of the media rate added for RTCP (RFC 3550
    clause 6.2: 5 %). ``rohc`` None means no header compression. ``link``
    None counts IP packets only.
    """

    ip_version: IpVersion = IpVersion.V4
    srtp_tag_bits: int = 0  # 0, 32 or 80 (RFC 3711 clause 5.2)
    srtp_mki_bytes: int = 0  # RFC 3711 clause 3.1, length set by key management
    rtcp_share: float = 0.05
    rohc: Rohc | None = None
    link: Link = None

    def __post_init__(self) -> None:
        if self.srtp_tag_bits not in _SRTP_TAG_BITS:
            raise ValueError(f"srtp_tag_bits must be 0, 32 or 80, got {self.srtp_tag_bits}")
        if self.srtp_mki_bytes < 0:
            raise ValueError(f"srtp_mki_bytes must be >= 0, got {self.srtp_mki_bytes}")
        if not 0.0 <= self.rtcp_share < 1.0:
            raise ValueError(f"rtcp_share must be in [0, 1), got {self.rtcp_share}")


class Headers(NamedTuple):
    """Header bytes of one media packet, by layer (0 for a layer that is absent)."""

    srtp: int  # MKI + authentication tag, after the payload
    rtp: int  # 0 when ROHC carries it
    udp: int  # 0 when ROHC carries it
    ip: int  # 0 when ROHC carries it
    rohc: int  # compressed RTP/UDP/IP header
    link: int  # PDCP/RLC/MAC or Ethernet framing

    @property
    def total(self) -> int:
        """All header bytes of the packet."""
        return self.srtp + self.rtp + self.udp + self.ip + self.rohc + self.link


def header_bytes(
    payload_bytes: int, overhead: Overhead, *, rohc_state: RohcState = RohcState.SO
) -> Headers:
    """Headers around ``payload_bytes`` of RTP payload on the segment ``overhead`` describes.

    ``rohc_state`` only matters when ``overhead.rohc`` is set.
    """
    if payload_bytes < 0:
        raise ValueError(f"payload_bytes must be >= 0, got {payload_bytes}")
    srtp = overhead.srtp_tag_bits // 8 + overhead.srtp_mki_bytes
    if overhead.rohc is None:
        rtp, udp, ip = RTP_HEADER_BYTES, UDP_HEADER_BYTES, overhead.ip_version.header_bytes
        rohc = 0
    else:
        rtp = udp = ip = 0
        rohc = overhead.rohc.header_bytes(overhead.ip_version, rohc_state)
    packet = payload_bytes + srtp + rtp + udp + ip + rohc
    link = 0 if overhead.link is None else overhead.link.header_bytes(packet)
    return Headers(srtp=srtp, rtp=rtp, udp=udp, ip=ip, rohc=rohc, link=link)


def wire_bytes_per_packet(
    payload_bytes: int, overhead: Overhead, *, rohc_state: RohcState = RohcState.SO
) -> int:
    """Bytes the segment carries for one packet with ``payload_bytes`` of RTP payload."""
    return payload_bytes + header_bytes(payload_bytes, overhead, rohc_state=rohc_state).total


def bytes_on_segment(
    ip_bytes: npt.NDArray[np.int64], end_to_end: Overhead, segment: Overhead
) -> npt.NDArray[np.int64]:
    """What a segment carries for each of these IP packets (sized by ``end_to_end``).

    The payload is the IP size less the end-to-end headers; the segment then
    adds its own (ROHC in place of RTP/UDP/IP, link framing) in steady state.
    """
    if end_to_end.rohc is not None or end_to_end.link is not None:
        raise ValueError("end_to_end describes IP packets: no ROHC, no link layer")
    sizes, inverse = np.unique(np.asarray(ip_bytes, dtype=np.int64), return_inverse=True)
    headers = header_bytes(0, end_to_end).total
    carried = [wire_bytes_per_packet(int(size) - headers, segment) for size in sizes]
    return np.asarray(carried, dtype=np.int64)[inverse]


def wire_bytes(payload_bytes: int) -> int:
    """IP packet size of an RTP/UDP/IPv4 packet carrying ``payload_bytes`` of media."""
    return wire_bytes_per_packet(payload_bytes, Overhead())


def bandwidth_bps(
    codec: Codec,
    ptime_s: float,
    overhead: Overhead,
    *,
    rohc_state: RohcState = RohcState.SO,
    voice_activity: float = 1.0,
) -> float:
    """Bit rate of one call in one direction on one segment, RTCP share included.

    ``voice_activity`` is the fraction of time the talker is active. Silence
    costs SID packets when the codec has DTX (one per SID interval; none
    when SIDs are sent only on noise changes), and full-rate packets when it
    has none. ``ptime_s`` must be a whole number of the codec's frames.
    """
    if not 0.0 <= voice_activity <= 1.0:
        raise ValueError(f"voice_activity must be in [0, 1], got {voice_activity}")
    talk_wire = wire_bytes_per_packet(codec.payload_bytes(ptime_s), overhead, rohc_state=rohc_state)
    talk_bps = 8.0 * talk_wire / ptime_s
    silence_bps = talk_bps
    sid_bytes = codec.sid_payload_bytes()
    if codec.dtx is not None and sid_bytes is not None:
        interval_s = codec.dtx.sid_interval_s
        sid_wire = wire_bytes_per_packet(sid_bytes, overhead, rohc_state=rohc_state)
        silence_bps = 0.0 if interval_s is None else 8.0 * sid_wire / interval_s
    media_bps = voice_activity * talk_bps + (1.0 - voice_activity) * silence_bps
    return media_bps * (1.0 + overhead.rtcp_share)


class RecordProtocol(StrEnum):
    """Record layer protecting signalling (SIP over TLS, or DTLS)."""

    TLS_1_3 = "tls1.3"  # RFC 8446
    DTLS_1_3 = "dtls1.3"  # RFC 9147
    DTLS_1_2 = "dtls1.2"  # RFC 6347 with an AES-GCM suite (RFC 5288)


@dataclass(frozen=True)
class RecordLayer:
    """One (D)TLS record layer configuration; sizes in the module docstring."""

    protocol: RecordProtocol = RecordProtocol.TLS_1_3
    aead_tag_bytes: int = 16  # AES-GCM, ChaCha20-Poly1305; 8 for AES-CCM-8
    dtls_connection_id_bytes: int = 0  # DTLS 1.3 CID (RFC 9146/9147), 0 when not negotiated
    dtls_sequence_bytes: int = 2  # DTLS 1.3: 1 or 2 (the S bit)
    dtls_length_field: bool = True  # DTLS 1.3: the L bit

    def __post_init__(self) -> None:
        if self.aead_tag_bytes not in (8, 16):
            raise ValueError(f"aead_tag_bytes must be 8 or 16, got {self.aead_tag_bytes}")
        if self.dtls_sequence_bytes not in (1, 2):
            raise ValueError(f"dtls_sequence_bytes must be 1 or 2, got {self.dtls_sequence_bytes}")
        if self.dtls_connection_id_bytes < 0:
            raise ValueError("dtls_connection_id_bytes must be >= 0")


def record_overhead_bytes(layer: RecordLayer) -> int:
    """Bytes one (D)TLS record adds to its plaintext."""
    if layer.protocol is RecordProtocol.TLS_1_3:
        return 5 + 1 + layer.aead_tag_bytes  # header, inner content type, tag
    if layer.protocol is RecordProtocol.DTLS_1_3:
        header = 1 + layer.dtls_connection_id_bytes + layer.dtls_sequence_bytes
        header += 2 if layer.dtls_length_field else 0
        return header + 1 + layer.aead_tag_bytes
    return 13 + 8 + layer.aead_tag_bytes  # DTLS 1.2 header, GCM explicit nonce, tag


def secured_bytes(plaintext_bytes: int, layer: RecordLayer) -> int:
    """Bytes a signalling message of ``plaintext_bytes`` takes once split into protected records."""
    if plaintext_bytes < 0:
        raise ValueError(f"plaintext_bytes must be >= 0, got {plaintext_bytes}")
    records = max(1, math.ceil(plaintext_bytes / _TLS_MAX_PLAINTEXT_BYTES))
    return plaintext_bytes + records * record_overhead_bytes(layer)
