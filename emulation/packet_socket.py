"""Frames from an interface with the kernel's receive time: an AF_PACKET socket and its ring.

The userspace link reads each interface through a raw AF_PACKET socket with a
``PACKET_RX_RING`` (TPACKET_V2, packet(7) and the kernel's
``Documentation/networking/packet_mmap.rst``): the kernel writes every frame
into a slot of a ring mapped into this process, with its receive time, and
the reader takes the frames from the ring without a system call each. The
slots are small, for the frames a call is made of (RTP, RTCP); the kernel
also queues a frame too long for its slot, whole, on the socket
(``PACKET_COPY_THRESH``), where the reader takes it from. A frame's time is
the kernel's (``tp_sec``/``tp_nsec``, CLOCK_REALTIME), taken
when the frame reached the interface (``SO_TIMESTAMPNS`` is set so that the
kernel stamps frames as they are queued, not when they are delivered to the
ring), the time tcpdump's captures hold; a process that reads a frame late
still learns when it came.

:class:`ArrivalClock` moves those times onto the link's timeline (seconds
since ``t0`` on CLOCK_MONOTONIC). The offset between the two clocks changes
only when the realtime clock is stepped (settimeofday, a leap second): both
are slewed alike by NTP. It is measured once, as the midpoint of the
tightest of a few monotonic-realtime-monotonic reads, and checked against
one realtime read at every read of frames; when that disagrees by more than
``STEP_TOLERANCE_NS`` it is measured again, and if the clock was stepped the
frames of that read take their read time instead of their stamps.
"""

from __future__ import annotations

import contextlib
import logging
import math
import mmap
import socket
import struct
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

__all__ = [
    "ETH_P_ALL",
    "STEP_TOLERANCE_NS",
    "ArrivalClock",
    "FrameRing",
    "PacketSocket",
    "RingGeometry",
    "realtime_offset_ns",
]

log = logging.getLogger(__name__)

# Linux <linux/if_ether.h>, <linux/if_packet.h>, <asm-generic/socket.h>.
ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_RX_RING = 5
PACKET_STATISTICS = 6  # struct tpacket_stats {unsigned int tp_packets, tp_drops}
PACKET_COPY_THRESH = 7  # also queue a frame too long for its slot, whole, on the socket
PACKET_VERSION = 10
PACKET_IGNORE_OUTGOING = 23  # do not hand this socket the frames the host sends
TPACKET_V2 = 1
PACKET_OUTGOING = 4  # sll_pkttype of a frame this host sends
SO_RCVBUFFORCE = 33
SO_TIMESTAMPNS = 35
TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1
TP_STATUS_COPY = 2  # the slot holds the frame cut short; the whole one is on the socket

# struct tpacket2_hdr {u32 tp_status, tp_len, tp_snaplen; u16 tp_mac, tp_net;
# u32 tp_sec, tp_nsec; u16 tp_vlan_tci, tp_vlan_tpid; u8 tp_padding[4]}, then at
# TPACKET_ALIGN(32) a struct sockaddr_ll whose sll_pkttype is its 11th byte.
_HEADER = struct.Struct("=IIIHHII")
_PKTTYPE = 32 + 10
_RELEASE = b"\0\0\0\0"  # tp_status = TP_STATUS_KERNEL: the slot is the kernel's again
# A slot holds a frame of up to 512 - 66 = 446 bytes: the frame starts at
# TPACKET_ALIGN(TPACKET2_HDRLEN + 16) - 14 (net/packet/af_packet.c, tpacket_rcv). G.711 at
# 40 ms (374 bytes) fits; longer frames (SIP with SDP, TCP) come through the socket's queue.
# 16384 slots, 330 ms at 50k frames/s: about what the 8 MiB socket buffer they replace held
# (measured on veth: 13,000 frames of 242 bytes, 20,000 of 106). Kernel memory, allocated
# when the ring is set up: 8 MiB per socket, two per link process.
_SLOT_BYTES = 512
_SLOTS = 16384
_BLOCK_BYTES = 1 << 16
_MAX_FRAME = 65535
_COPY_BUFFER_BYTES = 8 << 20  # the socket's own queue, for the frames too long for a slot

NS_PER_S = 1_000_000_000
STEP_TOLERANCE_NS = 50_000  # disagreement of one realtime read that means a step
_OFFSET_PAIRS = 5


class RingGeometry(NamedTuple):
    """A ring's layout (struct tpacket_req): blocks of whole slots, one frame per slot."""

    block_bytes: int
    blocks: int
    slot_bytes: int

    @property
    def slots(self) -> int:
        """How many frames the ring holds."""
        return self.blocks * (self.block_bytes // self.slot_bytes)

    @classmethod
    def of(cls, slots: int = _SLOTS, slot_bytes: int = _SLOT_BYTES) -> RingGeometry:
        """At least ``slots`` slots of ``slot_bytes`` (a power of two of at least 16), in
        blocks of 64 KiB (whole pages)."""
        per_block = _BLOCK_BYTES // slot_bytes
        return cls(_BLOCK_BYTES, -(-slots // per_block), slot_bytes)


class FrameRing:
    """The reader's side of a TPACKET_V2 receive ring: frames in the order the kernel
    wrote them, each with its receive time, slots handed back as they are read.

    ``buffer`` is the ring's mapping (any writable mmap laid out as ``geometry`` says).
    A frame longer than its slot is taken whole from ``whole`` (the socket's recv, which
    raises BlockingIOError when nothing is queued) when the kernel says it queued it
    there; one it could not queue is dropped and counted in ``truncated``. Frames this
    host sent are skipped.
    """

    def __init__(
        self,
        buffer: mmap.mmap,
        geometry: RingGeometry,
        whole: Callable[[], bytes] | None = None,
    ) -> None:
        self._buffer = buffer
        self._whole = whole
        self._slots = geometry.slots
        per_block = geometry.block_bytes // geometry.slot_bytes
        # Slot i starts at block (i // per_block), at its (i % per_block)-th slot.
        self._offsets = [
            (i // per_block) * geometry.block_bytes + (i % per_block) * geometry.slot_bytes
            for i in range(self._slots)
        ]
        self._next = 0
        self.truncated = 0

    def read(self, limit: int) -> tuple[list[bytes], list[int]]:
        """Up to ``limit`` frames waiting, oldest first, and their receive times (ns since
        the epoch, CLOCK_REALTIME; 0 when the kernel gave none)."""
        frames: list[bytes] = []
        stamps: list[int] = []
        ring = self._buffer
        offsets = self._offsets
        unpack = _HEADER.unpack_from
        index = self._next
        for _ in range(limit):
            offset = offsets[index]
            status, length, snaplen, mac, _, sec, nsec = unpack(ring, offset)
            if not status & TP_STATUS_USER:
                break
            incoming = ring[offset + _PKTTYPE] != PACKET_OUTGOING
            if snaplen == length:
                if incoming:
                    start = offset + mac
                    frames.append(ring[start : start + length])
                    stamps.append(sec * NS_PER_S + nsec)
            else:  # longer than its slot: taken whole from the socket (in order)
                whole = self._take_whole(status, length)
                if whole is not None and incoming:
                    frames.append(whole)
                    stamps.append(sec * NS_PER_S + nsec)
            ring[offset : offset + 4] = _RELEASE
            index += 1
            if index == self._slots:
                index = 0
        self._next = index
        return frames, stamps

    def next_stamp_ns(self) -> int | None:
        """The receive time of the next frame waiting in the ring; None when none waits."""
        status, _, _, _, _, sec, nsec = _HEADER.unpack_from(self._buffer, self._offsets[self._next])
        return sec * NS_PER_S + nsec if status & TP_STATUS_USER else None

    def _take_whole(self, status: int, length: int) -> bytes | None:
        """The whole frame the kernel queued beside a slot it cut short; None if it did
        not (its socket queue was full), counted in ``truncated``."""
        if status & TP_STATUS_COPY and self._whole is not None:
            with contextlib.suppress(BlockingIOError):
                return self._whole()
        if not self.truncated:
            log.warning("a %d-byte frame too long for the ring was lost", length)
        self.truncated += 1
        return None


class PacketSocket:
    """A raw AF_PACKET socket bound to ``iface`` for every protocol, non-blocking, whose
    received frames come through ``ring``; ``sock`` sends, and select() waits on it."""

    def __init__(self, iface: str) -> None:
        with contextlib.ExitStack() as on_error:
            sock = on_error.enter_context(
                socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            )
            geometry = RingGeometry.of()
            sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V2)
            request = struct.pack("IIII", *geometry[:2], geometry.slot_bytes, geometry.slots)
            sock.setsockopt(SOL_PACKET, PACKET_RX_RING, request)
            size = geometry.block_bytes * geometry.blocks
            self._map = on_error.enter_context(mmap.mmap(sock.fileno(), size, mmap.MAP_SHARED))
            sock.setsockopt(SOL_PACKET, PACKET_COPY_THRESH, 1)
            try:  # FORCE: beyond rmem_max when root; no host-wide setting changes
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, _COPY_BUFFER_BYTES)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _COPY_BUFFER_BYTES)
            # Stamped as the frame is queued on arrival (netif_rx), as the captures' are.
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            with contextlib.suppress(OSError):  # Linux >= 4.20; else FrameRing skips them
                sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            sock.bind((iface, ETH_P_ALL))
            sock.setblocking(False)
            on_error.pop_all()  # open: both are closed by close()
        self.sock = sock
        self.ring = FrameRing(self._map, geometry, self._recv_whole)

    def _recv_whole(self) -> bytes:
        return self.sock.recv(_MAX_FRAME)

    def kernel_drops(self) -> int:
        """Frames the kernel dropped because the ring was full (since last asked)."""
        raw = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        return int(struct.unpack("II", raw)[1])

    def close(self) -> None:
        """Unmap the ring and close the socket."""
        self._map.close()
        self.sock.close()


def realtime_offset_ns(
    monotonic_ns: Callable[[], int] = time.monotonic_ns,
    realtime_ns: Callable[[], int] = time.time_ns,
    pairs: int = _OFFSET_PAIRS,
) -> int:
    """CLOCK_REALTIME minus CLOCK_MONOTONIC, in ns: a realtime read between two monotonic
    reads, against their midpoint, from the tightest of ``pairs`` tries (one the process
    was interrupted in is left out)."""
    best_ns, offset_ns = math.inf, 0
    for _ in range(pairs):
        before = monotonic_ns()
        real = realtime_ns()
        after = monotonic_ns()
        if after - before < best_ns:
            best_ns, offset_ns = after - before, real - (before + after) // 2
    return offset_ns


class ArrivalClock:
    """Kernel receive times as the link's time: seconds since ``t0_s`` on the monotonic
    clock (``time.monotonic()``'s), never after the frames were read.

    ``read_s`` is called right after frames are taken from a ring; ``arrivals`` then
    gives their times. A frame without a stamp, or read just after the realtime clock
    was stepped, takes its read time.
    """

    def __init__(
        self,
        t0_s: float,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
        realtime_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._monotonic_ns = monotonic_ns
        self._realtime_ns = realtime_ns
        self._t0_ns = round(t0_s * NS_PER_S)
        self._offset_ns = realtime_offset_ns(monotonic_ns, realtime_ns)
        self._base_ns = self._offset_ns + self._t0_ns  # a stamp minus this: ns since t0
        self._stepped = False
        self.steps = 0

    def read_s(self) -> float:
        """Now, in seconds since t0; also checks that the realtime clock was not stepped."""
        now_ns = self._monotonic_ns()
        drift_ns = self._realtime_ns() - now_ns - self._offset_ns
        self._stepped = False
        if abs(drift_ns) > STEP_TOLERANCE_NS:  # a step, or a read interrupted: measure
            offset_ns = realtime_offset_ns(self._monotonic_ns, self._realtime_ns)
            if abs(offset_ns - self._offset_ns) > STEP_TOLERANCE_NS:
                log.warning(
                    "the realtime clock moved by %.6f s", (offset_ns - self._offset_ns) / 1e9
                )
                self._stepped = True
                self.steps += 1
            self._offset_ns = offset_ns
            self._base_ns = offset_ns + self._t0_ns
        return (now_ns - self._t0_ns) / NS_PER_S

    def to_s(self, stamp_ns: int) -> float:
        """A receive time in seconds since t0 (no checks)."""
        return (stamp_ns - self._base_ns) / NS_PER_S

    def arrivals(self, stamps_ns: Sequence[int], read_s: float, floor_s: float) -> list[float]:
        """The times of frames read at ``read_s`` (what ``read_s`` returned), in order:
        each its stamp's, but never after ``read_s`` nor before the previous one (the
        first: ``floor_s``); its read time when it has no stamp or the clock was stepped."""
        if self._stepped:
            return [max(read_s, floor_s)] * len(stamps_ns)
        base = self._base_ns
        times = []
        last = floor_s
        for stamp in stamps_ns:
            arrive = (stamp - base) / NS_PER_S if stamp else read_s
            if arrive > read_s:
                arrive = read_s
            if arrive < last:
                arrive = last
            times.append(arrive)
            last = arrive
        return times
