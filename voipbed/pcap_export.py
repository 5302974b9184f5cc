"""A run's media written out as the two captures its ends would have taken.

:func:`export_pcaps` writes ``ue.pcap`` (taken at the phones: each uplink
packet when sent, each downlink packet when received) and ``far_end.pcap``
(the reverse), as nanosecond pcaps of raw IP packets
(:mod:`voipbed.pcap_file`), from a run folder's ``packets.parquet`` and
``scenario.yaml``. Each packet is an RTP packet (RFC 3550: version 2, the
codec's payload type, the marker on a flow's first packet, its sequence
number and timestamp, an SSRC per flow) in UDP in IPv4 or IPv6 as the
scenario's calls use, of its wire size (a payload of zeros, then whatever the
scenario adds after the RTP payload, such as an SRTP tag); its traffic class
holds the DSCP it was sent with (received with, at the receiving end) and the
ECN field: ECT(0) when the calls use ECN, CE when a queue marked it. Call c's
phone is ``10.x.y.z`` (c + 2 in the low bits) port 4000 and its far end
``172.16.x.y`` port 5004; capture times are the run's clock from the epoch.
A packet the network lost is only in the sender's capture.
"""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from voipbed.emulation.frames import ipv4_checksum
from voipbed.loader import load_scenario
from voipbed.models.codecs import CODECS
from voipbed.models.overhead import RTP_HEADER_BYTES, UDP_HEADER_BYTES
from voipbed.pcap_file import write_pcap

__all__ = ["FAR_PORT", "UE_PORT", "export_pcaps", "far_address", "flow_ssrc", "ue_address"]

UE_PORT = 4000
FAR_PORT = 5004
_UE_NET = int(ipaddress.IPv4Address("10.0.0.0"))
_FAR_NET = int(ipaddress.IPv4Address("172.16.0.0"))
_UE_NET6 = int(ipaddress.IPv6Address("fd00:1::"))
_FAR_NET6 = int(ipaddress.IPv6Address("fd00:2::"))
_SSRC_BASE = 0x1000_0000
_ECT0, _CE = 2, 3  # RFC 3168 ECN codepoints


def ue_address(call: int, ip_version: int = 4) -> bytes:
    """Call ``call``'s phone address, packed."""
    if ip_version == 6:
        return ipaddress.IPv6Address(_UE_NET6 + call + 2).packed
    return ipaddress.IPv4Address(_UE_NET + call + 2).packed


def far_address(call: int, ip_version: int = 4) -> bytes:
    """Call ``call``'s far end address, packed."""
    if ip_version == 6:
        return ipaddress.IPv6Address(_FAR_NET6 + call + 2).packed
    return ipaddress.IPv4Address(_FAR_NET + call + 2).packed


def flow_ssrc(flow: int) -> int:
    """The SSRC of flow ``flow``'s RTP packets."""
    return _SSRC_BASE + flow


def export_pcaps(run_dir: Path, out_dir: Path) -> tuple[Path, Path]:
    """Write ``ue.pcap`` and ``far_end.pcap`` of the run in ``run_dir`` into ``out_dir``."""
    scenario = load_scenario(run_dir / "scenario.yaml")
    ip_version = int(scenario.overhead().ip_version)
    ecn = scenario.calls.ecn
    packets = pq.read_table(run_dir / "packets.parquet").to_pandas()
    packets = packets.sort_values(["flow", "seq"], kind="stable")
    first = packets["flow"].ne(packets["flow"].shift())  # a flow's first packet: marked
    ends: dict[str, list[tuple[int, bytes]]] = {"ue": [], "far_end": []}
    for row, is_first in zip(packets.itertuples(index=False), first.to_numpy(), strict=True):
        uplink = row.direction == "uplink"
        codec = CODECS[row.codec]
        sent = _packet(row, codec.rtp_payload_type, bool(is_first), ip_version, ecn, uplink)
        sender, receiver = ("ue", "far_end") if uplink else ("far_end", "ue")
        ends[sender].append((_ns(row.send_s), sent))
        if not np.isnan(row.recv_s):
            tclass = int(row.dscp_received) << 2 | (_CE if row.ce else (_ECT0 if ecn else 0))
            ends[receiver].append((_ns(row.recv_s), _with_tclass(sent, tclass, ip_version)))
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = (out_dir / "ue.pcap", out_dir / "far_end.pcap")
    for path, end in zip(paths, ("ue", "far_end"), strict=True):
        write_pcap(path, sorted(ends[end], key=lambda item: item[0]))
    return paths


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


def _packet(
    row: object, payload_type: int, first: bool, ip_version: int, ecn: bool, uplink: bool
) -> bytes:
    """The IP packet of ``row`` (a packets-table row) as its sender sent it."""
    call = int(row.call)  # type: ignore[attr-defined]
    flow = int(row.flow)  # type: ignore[attr-defined]
    payload = int(row.payload_bytes)  # type: ignore[attr-defined]
    wire = int(row.wire_bytes)  # type: ignore[attr-defined]
    ip_header = 40 if ip_version == 6 else 20
    trailer = max(wire - ip_header - UDP_HEADER_BYTES - RTP_HEADER_BYTES - payload, 0)
    rtp = struct.pack(
        ">BBHII",
        0x80,
        (0x80 if first else 0) | payload_type,
        int(row.seq) & 0xFFFF,  # type: ignore[attr-defined]
        int(row.rtp_ts) & 0xFFFF_FFFF,  # type: ignore[attr-defined]
        flow_ssrc(flow),
    ) + bytes(payload + trailer)
    ue, far = ue_address(call, ip_version), far_address(call, ip_version)
    src, dst = (ue, far) if uplink else (far, ue)
    sport, dport = (UE_PORT, FAR_PORT) if uplink else (FAR_PORT, UE_PORT)
    udp = struct.pack(">HHHH", sport, dport, UDP_HEADER_BYTES + len(rtp), 0) + rtp
    tclass = int(row.dscp) << 2 | (_ECT0 if ecn else 0)  # type: ignore[attr-defined]
    if ip_version == 6:
        first_word = (6 << 28) | (tclass << 20)
        return struct.pack(">IHBB", first_word, len(udp), 17, 64) + src + dst + udp
    header = struct.pack(">BBHHHBBH", 0x45, tclass, 20 + len(udp), 0, 0x4000, 64, 17, 0)
    header += src + dst
    return _with_checksum(header) + udp


def _with_tclass(packet: bytes, tclass: int, ip_version: int) -> bytes:
    """``packet`` with its traffic class set to ``tclass`` (as the receiver saw it)."""
    if ip_version == 6:
        first_word = (struct.unpack_from(">I", packet)[0] & 0xF00F_FFFF) | (tclass << 20)
        return struct.pack(">I", first_word) + packet[4:]
    header = packet[:1] + bytes([tclass]) + packet[2:10] + b"\x00\x00" + packet[12:20]
    return _with_checksum(header) + packet[20:]


def _with_checksum(header: bytes) -> bytes:
    """An IPv4 header (its checksum field zero) with its checksum filled in."""
    checksum = ipv4_checksum(header)
    return header[:10] + struct.pack(">H", checksum) + header[12:]
