"""Packet capture files: reading pcap and pcapng, writing pcap.

:func:`read_capture` reads a classic pcap file (microsecond or nanosecond
timestamps, either byte order; the tcpdump/libpcap format) or a pcapng file
(Section Header, Interface Description, Enhanced and Simple Packet Blocks;
every other block is skipped; each interface's timestamp resolution,
``if_tsresol``, is honoured), and gives every frame's bytes, capture time
(integer nanoseconds) and link type. What cannot be read is counted by reason
in ``Capture.skipped``, never raised: a record cut short at the end of the
file (a capture stopped mid-write), a record whose length is impossible (a
corrupt file: reading stops there), a block of an unknown interface. A file
that is neither format raises :class:`CaptureError`.

:func:`write_pcap` writes frames as a classic pcap with nanosecond timestamps
(magic ``a1b23c4d``), which Wireshark, tcpdump and scapy read.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "LINKTYPE_ETHERNET",
    "LINKTYPE_RAW",
    "Capture",
    "CaptureError",
    "read_capture",
    "write_pcap",
]

LINKTYPE_ETHERNET = 1  # tcpdump.org link-layer header types
LINKTYPE_RAW = 101  # raw IPv4 or IPv6, no link-layer header
_PCAP_MAGIC_US = 0xA1B2C3D4
_PCAP_MAGIC_NS = 0xA1B23C4D
_PCAPNG_SHB = 0x0A0D0D0A
_PCAPNG_BYTE_ORDER = 0x1A2B3C4D
_PCAPNG_IDB, _PCAPNG_SPB, _PCAPNG_EPB = 1, 3, 6
_MAX_SNAPLEN = 262_144  # libpcap's MAXIMUM_SNAPLEN: a longer record is corrupt


class CaptureError(ValueError):
    """A file that is not a capture this reader knows."""


@dataclass
class Capture:
    """Every frame of a capture: its bytes (``frame(i)``), time and link type."""

    data: bytes
    offsets: NDArray[np.int64]  # frame i is data[offsets[i]:offsets[i + 1]]
    time_ns: NDArray[np.int64]  # capture time, nanoseconds since the epoch
    linktype: NDArray[np.int32]
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> records

    def __len__(self) -> int:
        return int(self.time_ns.size)

    def frame(self, index: int) -> bytes:
        """The bytes of frame ``index`` as captured."""
        return self.data[int(self.offsets[index]) : int(self.offsets[index + 1])]


class _Frames:
    """Frames gathered while reading: their pieces, times and link types."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.lengths: list[int] = []
        self.times: list[int] = []
        self.linktypes: list[int] = []
        self.skipped: dict[str, int] = {}

    def add(self, frame: bytes, time_ns: int, linktype: int) -> None:
        self.pieces.append(frame)
        self.lengths.append(len(frame))
        self.times.append(time_ns)
        self.linktypes.append(linktype)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def capture(self) -> Capture:
        offsets = np.zeros(len(self.lengths) + 1, dtype=np.int64)
        np.cumsum(np.asarray(self.lengths, dtype=np.int64), out=offsets[1:])
        return Capture(
            b"".join(self.pieces),
            offsets,
            np.asarray(self.times, dtype=np.int64),
            np.asarray(self.linktypes, dtype=np.int32),
            self.skipped,
        )


def read_capture(path: Path) -> Capture:
    """Every frame of the pcap or pcapng file at ``path``."""
    data = Path(path).read_bytes()
    if len(data) < 4:
        raise CaptureError(f"{path}: too short to be a capture ({len(data)} bytes)")
    magic_le = struct.unpack_from("<I", data)[0]
    magic_be = struct.unpack_from(">I", data)[0]
    if magic_le == _PCAPNG_SHB:
        return _read_pcapng(data, path)
    for order, magic in (("<", magic_le), (">", magic_be)):
        if magic in (_PCAP_MAGIC_US, _PCAP_MAGIC_NS):
            return _read_pcap(data, order, magic == _PCAP_MAGIC_NS, path)
    raise CaptureError(f"{path}: not a pcap or pcapng file (magic {data[:4].hex()})")


def _read_pcap(data: bytes, order: str, nanoseconds: bool, path: Path) -> Capture:
    if len(data) < 24:
        raise CaptureError(f"{path}: pcap header cut short")
    linktype = struct.unpack_from(order + "I", data, 20)[0] & 0x0FFFFFFF
    record = struct.Struct(order + "IIII")
    scale = 1 if nanoseconds else 1000
    frames = _Frames()
    position = 24
    while position < len(data):
        if position + 16 > len(data):
            frames.skip("record cut short at the end of the file")
            break
        seconds, fraction, included, _ = record.unpack_from(data, position)
        if included > _MAX_SNAPLEN:
            frames.skip("impossible record length (corrupt file): the rest is unread")
            break
        start = position + 16
        if start + included > len(data):
            frames.skip("record cut short at the end of the file")
            break
        frames.add(
            data[start : start + included], seconds * 1_000_000_000 + fraction * scale, linktype
        )
        position = start + included
    return frames.capture()


def _read_pcapng(data: bytes, path: Path) -> Capture:
    frames = _Frames()
    order = "<"
    interfaces: list[tuple[int, int]] = []  # per interface: link type, ticks per second
    position = 0
    while position < len(data):
        if position + 12 > len(data):
            frames.skip("block cut short at the end of the file")
            break
        kind = struct.unpack_from(order + "I", data, position)[0]
        if kind == _PCAPNG_SHB:  # the same bytes in either order
            magic = struct.unpack_from("<I", data, position + 8)[0]
            order = "<" if magic == _PCAPNG_BYTE_ORDER else ">"
            interfaces = []  # each section numbers its interfaces afresh
        length = struct.unpack_from(order + "I", data, position + 4)[0]
        if length < 12 or length % 4 or length > _MAX_SNAPLEN + 64:
            frames.skip("impossible block length (corrupt file): the rest is unread")
            break
        if position + length > len(data):
            frames.skip("block cut short at the end of the file")
            break
        body = data[position + 8 : position + length - 4]
        if kind == _PCAPNG_IDB and len(body) >= 8:
            linktype = struct.unpack_from(order + "H", body, 0)[0]
            interfaces.append((linktype, _tsresol(body[8:], order)))
        elif kind == _PCAPNG_EPB and len(body) >= 20:
            interface, high, low, included = struct.unpack_from(order + "IIII", body, 0)
            if interface >= len(interfaces):
                frames.skip("packet of an undeclared interface")
            elif 20 + included > len(body):
                frames.skip("packet block shorter than its packet")
            else:
                linktype, per_second = interfaces[interface]
                frames.add(body[20 : 20 + included], _ns((high << 32) | low, per_second), linktype)
        elif kind == _PCAPNG_SPB and len(body) >= 4:
            if not interfaces:
                frames.skip("packet of an undeclared interface")
            else:  # no timestamp: the previous packet's
                time_ns = frames.times[-1] if frames.times else 0
                original = struct.unpack_from(order + "I", body, 0)[0]
                frames.add(body[4 : 4 + min(original, len(body) - 4)], time_ns, interfaces[0][0])
        position += length
    if not interfaces and not frames.times and not frames.skipped:
        raise CaptureError(f"{path}: a pcapng file without interfaces")
    return frames.capture()


def _tsresol(options: bytes, order: str) -> int:
    """Ticks per second of an interface (``if_tsresol``, option 9; default microseconds)."""
    position = 0
    while position + 4 <= len(options):
        code, length = struct.unpack_from(order + "HH", options, position)
        if code == 0:
            break
        if code == 9 and length >= 1:
            value = options[position + 4]
            exponent = value & 0x7F
            return int(2**exponent) if value & 0x80 else int(10**exponent)
        position += 4 + (length + 3) // 4 * 4
    return 1_000_000


def _ns(ticks: int, per_second: int) -> int:
    if per_second == 1_000_000_000:
        return ticks
    return ticks * 1_000_000_000 // per_second


def write_pcap(
    path: Path, frames: Iterable[tuple[int, bytes]], *, linktype: int = LINKTYPE_RAW
) -> int:
    """Write ``(time_ns, frame)`` pairs as a nanosecond pcap at ``path``; how many."""
    header = struct.pack("<IHHiIII", _PCAP_MAGIC_NS, 2, 4, 0, 0, _MAX_SNAPLEN, linktype)
    record = struct.Struct("<IIII")
    count = 0
    with Path(path).open("wb") as out:
        out.write(header)
        for time_ns, frame in frames:
            seconds, fraction = divmod(time_ns, 1_000_000_000)
            out.write(record.pack(seconds, fraction, len(frame), len(frame)))
            out.write(frame)
            count += 1
    return count
