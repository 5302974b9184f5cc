"""The GCC receiver's memory: which RTP packets arrived when, and the feedback it owes.

:class:`ArrivalRecorder` takes each RTP packet as it arrives (its arrival
time on the receiver's clock and the ECN field it carried) and, when asked,
builds the next feedback packet, in one of two formats (``models.rtcp_rfc8888``,
``models.rtcp_twcc``):

- ``twcc``: transport-wide feedback over the transport-wide sequence numbers
  (draft-holmer-rmcat-transport-wide-cc-extensions-01 section 3.1); it has no
  ECN field;
- ``rfc8888``: RFC 8888 feedback, one report block per media SSRC over its RTP
  sequence numbers, each packet with its ECN field and arrival time offset
  from the report timestamp.

Each report covers the sequence numbers from the first one not yet reported
to the highest received, as libwebrtc's ``RemoteEstimatorProxy`` does: a
packet arriving after its number was reported (reordered, or late) moves the
start back, so the next report covers it again, received this time. Arrivals
are kept for ``back_window_s``; a number inside a report's range whose
arrival was forgotten is reported as not received (the sender has resolved it
already and ignores it). A report covers at most 16384 packets (RFC 8888
section 3.1), the newest ones.

Pure: no sockets, no clock; times are seconds on the receiver's clock,
passed in. The endpoint process (``gcc_endpoint``) owns the socket.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from voipbed.models.rtcp_rfc8888 import (
    RFC8888_MAX_REPORTS,
    Arrival,
    encode_rfc8888,
    rfc8888_feedback,
)
from voipbed.models.rtcp_twcc import encode_twcc, twcc_feedback
from voipbed.models.rtp_packet import RtpPacket, Unwrapper

__all__ = ["ArrivalRecorder", "FeedbackFormat", "FeedbackPacket"]

NTP_SHORT_WRAP_S = 65536.0  # the NTP short format's 16 bits of seconds
BACK_WINDOW_S = 2.0  # arrivals kept: well inside the 8.19 s a 16-bit TWCC delta spans


class FeedbackFormat(StrEnum):
    """Which feedback the receiver sends."""

    TWCC = "twcc"  # transport-wide feedback, RTPFB FMT 15
    RFC8888 = "rfc8888"  # RFC 8888, RTPFB FMT 11


@dataclass(frozen=True)
class FeedbackPacket:
    """One feedback packet to send: its bytes, and how many packets it reports."""

    data: bytes
    reported: int
    received: int


@dataclass
class _Window:
    """Arrivals of one sequence-number space (an SSRC's RTP numbers, or transport-wide)."""

    unwrapper: Unwrapper = field(default_factory=lambda: Unwrapper(16))
    arrivals: dict[int, Arrival] = field(default_factory=dict)  # in arrival order
    start: int | None = None  # first number the next report covers
    highest: int | None = None

    def add(self, seq: int, arrival: Arrival) -> None:
        number = self.unwrapper.unwrap(seq)
        if number in self.arrivals:
            return  # a duplicate: the first arrival counts
        self.arrivals[number] = arrival
        if self.start is None or number < self.start:
            self.start = number
        if self.highest is None or number > self.highest:
            self.highest = number

    @property
    def pending(self) -> bool:
        return self.start is not None and self.highest is not None and self.start <= self.highest

    def take(self) -> tuple[int, list[Arrival]]:
        """The range to report now (its first number, unwrapped, and its arrivals); the
        next report starts after it."""
        assert self.start is not None and self.highest is not None  # pending checked
        first = max(self.start, self.highest - RFC8888_MAX_REPORTS + 1)
        missing = Arrival(None)
        covered = [self.arrivals.get(n, missing) for n in range(first, self.highest + 1)]
        self.start = self.highest + 1
        return first, covered

    def forget_before(self, horizon_s: float) -> None:
        arrivals = self.arrivals
        while arrivals:
            number = next(iter(arrivals))
            received = arrivals[number].arrival_s
            if received is None or received >= horizon_s:
                return
            del arrivals[number]


class ArrivalRecorder:
    """What a receiver saw of its RTP packets, and the feedback reports about them.

    ``ssrc`` is the receiver's own SSRC (the feedback's sender); ``clock_offset_s`` is
    added to the receiver's times for RFC 8888's report timestamp (NTP time: the
    offset from the receiver's clock to the NTP epoch).
    """

    def __init__(
        self,
        feedback: FeedbackFormat,
        ssrc: int,
        *,
        clock_offset_s: float = 0.0,
        back_window_s: float = BACK_WINDOW_S,
    ) -> None:
        if back_window_s <= 0.0:
            raise ValueError(f"back_window_s must be positive, got {back_window_s}")
        self.format = FeedbackFormat(feedback)
        self.ssrc = ssrc
        # NTP short time wraps every 2**16 s: only the offset modulo that matters, and
        # keeping it small keeps the arrival times' precision.
        self.clock_offset_s = clock_offset_s % NTP_SHORT_WRAP_S
        self.back_window_s = back_window_s
        self._transport = _Window()
        self._streams: dict[int, _Window] = {}
        self._media_ssrc = 0
        self._fb_count = 0
        self.without_transport_seq = 0  # packets TWCC cannot report: no extension

    def on_packet(self, arrival_s: float, packet: RtpPacket, ecn: int = 0) -> None:
        """Record one RTP packet received at ``arrival_s`` carrying ECN field ``ecn``."""
        arrival = Arrival(arrival_s, ecn)
        self._media_ssrc = packet.ssrc
        if self.format is FeedbackFormat.TWCC:
            if packet.transport_seq is None:
                self.without_transport_seq += 1
                return
            self._transport.add(packet.transport_seq, arrival)
        else:
            stream = self._streams.get(packet.ssrc)
            if stream is None:
                stream = self._streams[packet.ssrc] = _Window()
            stream.add(packet.seq, arrival)

    def feedback(self, now_s: float) -> FeedbackPacket | None:
        """The report due at ``now_s`` on what arrived since the last one (None: nothing new)."""
        horizon_s = now_s - self.back_window_s
        if self.format is FeedbackFormat.TWCC:
            packet = self._twcc()
            self._transport.forget_before(horizon_s)
        else:
            packet = self._rfc8888(now_s)
            for stream in self._streams.values():
                stream.forget_before(horizon_s)
        return packet

    def _twcc(self) -> FeedbackPacket | None:
        window = self._transport
        if not window.pending:
            return None
        first, covered = window.take()
        times = [arrival.arrival_s for arrival in covered]
        report = twcc_feedback(self.ssrc, self._media_ssrc, first & 0xFFFF, self._fb_count, times)
        self._fb_count = (self._fb_count + 1) & 0xFF
        received = sum(t is not None for t in times)
        return FeedbackPacket(encode_twcc(report), len(covered), received)

    def _rfc8888(self, now_s: float) -> FeedbackPacket | None:
        blocks = []
        offset = self.clock_offset_s
        for ssrc, window in self._streams.items():
            if window.pending:
                first, covered = window.take()
                on_ntp = [
                    a if a.arrival_s is None else a._replace(arrival_s=a.arrival_s + offset)
                    for a in covered
                ]
                blocks.append((ssrc, first & 0xFFFF, on_ntp))
        if not blocks:
            return None
        report = rfc8888_feedback(self.ssrc, now_s + offset, blocks)
        reported = sum(len(covered) for _, _, covered in blocks)
        received = sum(a.arrival_s is not None for _, _, covered in blocks for a in covered)
        return FeedbackPacket(encode_rfc8888(report), reported, received)
