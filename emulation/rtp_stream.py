"""RTP packets of the light calls: RFC 3550 headers, and their pacing.

A light call's sender plays payloads in a loop (G.711: speech, ``g711_payload``; other
codecs: synthesized frames, ``frame_payload``):
:class:`RtpSender` numbers them (RFC 3550 5.1: sequence number +1 and timestamp + the
samples of a packet each time, from random starting values, one SSRC per stream; the
marker bit on the first packet, RFC 3551 4.1), and :class:`Pacer` says which streams are
due at an instant: each stream every ``ptime`` from its own start, a late stream sent as
soon as it can (the timestamps keep the schedule). Pure, standard library only: no
clock, no sockets.
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "RTP_HEADER_BYTES",
    "Pacer",
    "RtpSender",
    "rtp_header",
]

RTP_HEADER_BYTES = 12  # RFC 3550 5.1, without CSRCs or extensions
RTP_VERSION = 2
_HEADER = struct.Struct("!BBHII")


def rtp_header(
    payload_type: int, seq: int, timestamp: int, ssrc: int, *, marker: bool = False
) -> bytes:
    """The fixed RTP header (RFC 3550 5.1): version 2, no padding, extension or CSRC."""
    if not 0 <= payload_type < 128:
        raise ValueError(f"payload type {payload_type} is not in 0..127")
    second = payload_type | (0x80 if marker else 0)
    return _HEADER.pack(RTP_VERSION << 6, second, seq & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc)


@dataclass
class RtpSender:
    """One RTP stream: its SSRC, the next sequence number and timestamp, and the payloads
    it plays in a loop. :meth:`next_packet` gives the next packet and moves on."""

    payload_type: int
    ssrc: int
    seq: int
    timestamp: int
    ticks_per_packet: int
    frames: Sequence[bytes]
    sent: int = 0

    def __post_init__(self) -> None:
        if not self.frames:
            raise ValueError("an RTP sender needs at least one payload")
        if not 0 <= self.ssrc < 1 << 32:
            raise ValueError(f"SSRC {self.ssrc} is not a 32-bit number")

    def next_packet(self) -> bytes:
        """The next packet (header and payload); the marker bit on the first."""
        header = rtp_header(
            self.payload_type, self.seq, self.timestamp, self.ssrc, marker=self.sent == 0
        )
        packet = header + self.frames[self.sent % len(self.frames)]
        self.sent += 1
        self.seq = (self.seq + 1) & 0xFFFF
        self.timestamp = (self.timestamp + self.ticks_per_packet) & 0xFFFFFFFF
        return packet


class Pacer:
    """When each of many streams sends: stream ``s`` at ``first_s + k * period_s`` for
    k = 0, 1, ... until it is removed. Times are the caller's (seconds on any clock)."""

    def __init__(self, period_s: float) -> None:
        if not period_s > 0:
            raise ValueError(f"period_s must be > 0, not {period_s}")
        self.period_s = period_s
        self._heap: list[tuple[float, int]] = []
        self._next: dict[int, float] = {}

    def add(self, stream: int, first_s: float) -> None:
        """Schedule ``stream``'s packets from ``first_s`` (again, if it was scheduled)."""
        self._next[stream] = first_s
        heapq.heappush(self._heap, (first_s, stream))

    def remove(self, stream: int) -> None:
        """Send nothing more for ``stream`` (nothing happens if it is not scheduled)."""
        self._next.pop(stream, None)

    def __contains__(self, stream: object) -> bool:
        return stream in self._next

    def __len__(self) -> int:
        return len(self._next)

    def next_s(self) -> float | None:
        """When the next packet of any stream is due; None when no stream is scheduled."""
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def due(self, now_s: float) -> list[tuple[int, float]]:
        """Every (stream, planned instant) due by ``now_s``, oldest first; a stream late by
        several periods is listed once per period missed. Each is then scheduled a period
        after its planned instant."""
        found: list[tuple[int, float]] = []
        while True:
            self._drop_stale()
            if not self._heap or self._heap[0][0] > now_s:
                return found
            planned, stream = heapq.heappop(self._heap)
            found.append((stream, planned))
            following = planned + self.period_s
            self._next[stream] = following
            heapq.heappush(self._heap, (following, stream))

    def _drop_stale(self) -> None:
        """Pop heap entries of removed or rescheduled streams."""
        heap = self._heap
        while heap and self._next.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
