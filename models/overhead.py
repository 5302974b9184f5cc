"""Header overhead from RTP payload to IP packet (wire) size.

Sizes: RTP fixed header 12 bytes (RFC 3550 clause 5.1), UDP 8 bytes
(RFC 768), IPv4 20 bytes without options (RFC 791). A G.711 20 ms packet is
160 + 12 + 8 + 20 = 200 bytes on the wire, 80 kbit/s per direction.
Link-layer (PDCP/RLC/MAC, Ethernet) and ROHC come with issue 5.
"""

from __future__ import annotations

RTP_HEADER_BYTES = 12  # RFC 3550 clause 5.1, no CSRC, no extension
UDP_HEADER_BYTES = 8  # RFC 768
IPV4_HEADER_BYTES = 20  # RFC 791, no options

__all__ = ["IPV4_HEADER_BYTES", "RTP_HEADER_BYTES", "UDP_HEADER_BYTES", "wire_bytes"]


def wire_bytes(payload_bytes: int) -> int:
    """IP packet size of an RTP/UDP/IPv4 packet carrying ``payload_bytes`` of media."""
    if payload_bytes < 0:
        raise ValueError(f"payload_bytes must be >= 0, got {payload_bytes}")
    return payload_bytes + RTP_HEADER_BYTES + UDP_HEADER_BYTES + IPV4_HEADER_BYTES
