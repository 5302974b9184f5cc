"""The GCC sender's memory: what it sent when, and what each feedback report says of it.

:class:`SendHistory` keeps every RTP packet sent (send time on the sender's
clock, transport-wide and RTP sequence numbers, size on the wire) for
``window_s``, and turns one decoded feedback packet (``models.rtcp_rfc8888``,
``models.rtcp_twcc``) into a :class:`Report`, the inputs of
``models.gcc_flow.GccFlow.on_report`` (and, for the sender's log, an RTT):

- the packets the report newly says were received, with their send and
  arrival times and sizes, in arrival order (a packet reported again is taken
  once; one reported lost and then received, late or reordered, is taken
  when it is received);
- ``expected`` and ``lost``: packets resolved for the first time by this
  report, and those of them not received; ``ce_marked``: newly received
  packets whose ECN field was CE (RFC 8888 only: transport-wide feedback
  carries no ECN);
- ``in_flight_bytes``: what was sent and is not yet resolved (as libwebrtc's
  ``TransportFeedbackAdapter`` counts data in flight), within the window;
- ``rtt_s`` (logged only: GCC measures its own, ``models.gcc_rtt``), from
  the report's own timing, NaN when it has no new packet:
  with RFC 8888 the receiver says how long each packet waited before the
  report (arrival time offset), so RTT = now - sent - offset exactly, the
  smallest over the report's packets; transport-wide feedback has no report
  time, so RTT = now - sent - (newest arrival - arrival), libwebrtc's
  propagation RTT, which still holds the wait from the newest arrival to the
  report (at most one feedback interval).

Arrival times are on the receiver's clock (transport-wide: its reference
time; RFC 8888: report timestamp minus offset, the timestamp unwrapped); GCC
uses only their differences. One media SSRC is sent; RFC 8888 blocks of other
SSRCs are ignored. Pure: no sockets, no clock; times are passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

from voipbed.models.rtcp_rfc8888 import Rfc8888Feedback
from voipbed.models.rtcp_twcc import TwccFeedback, twcc_arrivals
from voipbed.models.rtp_packet import Unwrapper

__all__ = ["HISTORY_WINDOW_S", "Report", "SendHistory"]

HISTORY_WINDOW_S = 10.0  # packets remembered; libwebrtc keeps 60 s, voice needs far less
_CE = 3  # RFC 3168 section 5: Congestion Experienced
_SEQ_SPACE = 1 << 16
_NTP_SHORT_UNITS_PER_S = 65536.0


class _State(IntEnum):
    UNRESOLVED = 0
    RECEIVED = 1
    LOST = 2


@dataclass
class _Sent:
    send_s: float
    rtp_seq: int  # unwrapped
    size_bytes: int
    state: _State = _State.UNRESOLVED


class Report(NamedTuple):
    """What one feedback report tells the sender (``GccFlow.on_report``'s inputs)."""

    rtt_s: float  # NaN when the report has no newly received packet
    in_flight_bytes: int
    expected: int
    lost: int
    ce_marked: int
    send_s: tuple[float, ...]  # newly received packets with an arrival time, arrival order
    arrival_s: tuple[float, ...]
    size_bytes: tuple[int, ...]
    reported: int  # packets of this sender the report covers


class _Seen(NamedTuple):
    """One packet as a report gives it: arrival (None: not received; NaN: received, time
    unknown), ECN, and the wait from arrival to report when the report says it."""

    transport: int  # unwrapped
    arrival_s: float | None
    ecn: int
    offset_s: float | None


class SendHistory:
    """The packets one sender sent in the last ``window_s``, resolved by feedback."""

    def __init__(self, ssrc: int, window_s: float = HISTORY_WINDOW_S) -> None:
        if window_s <= 0.0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        self.ssrc = ssrc
        self.window_s = window_s
        self._sent: dict[int, _Sent] = {}  # by unwrapped transport number, in send order
        self._by_rtp: dict[int, int] = {}  # unwrapped RTP number -> transport number
        self._transport = Unwrapper(16)
        self._rtp = Unwrapper(16)
        self._timestamps = Unwrapper(32)
        self._last_transport: int | None = None
        self._last_rtp: int | None = None
        self._in_flight = 0

    @property
    def in_flight_bytes(self) -> int:
        """Bytes sent within the window and not yet reported received or lost."""
        return self._in_flight

    def on_sent(self, send_s: float, transport_seq: int, rtp_seq: int, size_bytes: int) -> None:
        """Record a packet sent at ``send_s`` (16-bit sequence numbers, bytes on the wire)."""
        transport = self._transport.unwrap(transport_seq)
        rtp = self._rtp.unwrap(rtp_seq)
        self._sent[transport] = _Sent(send_s, rtp, size_bytes)
        self._by_rtp[rtp] = transport
        self._last_transport, self._last_rtp = transport, rtp
        self._in_flight += size_bytes
        self._forget_before(send_s - self.window_s)

    def on_twcc(self, now_s: float, feedback: TwccFeedback) -> Report:
        """The report of a transport-wide feedback packet received at ``now_s``."""
        arrivals = twcc_arrivals(feedback)
        base = _near(self._last_transport, feedback.base_seq)
        seen = [_Seen(base + k, arrival, 0, None) for k, arrival in enumerate(arrivals)]
        return self._resolve(now_s, seen)

    def on_rfc8888(self, now_s: float, feedback: Rfc8888Feedback) -> Report:
        """The report of an RFC 8888 feedback packet received at ``now_s`` (this sender's
        SSRC's blocks)."""
        report_s = self._timestamps.unwrap(feedback.report_timestamp) / _NTP_SHORT_UNITS_PER_S
        seen = []
        for block in feedback.blocks:
            if block.ssrc != self.ssrc:
                continue
            base = _near(self._last_rtp, block.begin_seq)
            for k, metric in enumerate(block.metrics):
                transport = self._by_rtp.get(base + k)
                if transport is None:
                    continue
                offset = metric.offset_s
                if not metric.received:
                    arrival: float | None = None
                elif offset is None:
                    arrival = math.nan
                else:
                    arrival = report_s - offset
                seen.append(_Seen(transport, arrival, metric.ecn, offset))
        return self._resolve(now_s, seen)

    def _resolve(self, now_s: float, seen: list[_Seen]) -> Report:
        expected = lost = ce = reported = 0
        fresh: list[tuple[float, int, _Sent, _Seen]] = []  # (arrival, transport, sent, seen)
        for packet in seen:
            sent = self._sent.get(packet.transport)
            if sent is None:
                continue  # before the window, or never sent
            reported += 1
            if sent.state is _State.RECEIVED:
                continue
            if sent.state is _State.UNRESOLVED:
                expected += 1
                self._in_flight -= sent.size_bytes
            if packet.arrival_s is None:
                if sent.state is _State.UNRESOLVED:
                    lost += 1
                    sent.state = _State.LOST
                continue
            sent.state = _State.RECEIVED
            ce += packet.ecn == _CE
            if not math.isnan(packet.arrival_s):
                fresh.append((packet.arrival_s, packet.transport, sent, packet))
        fresh.sort(key=lambda item: (item[0], item[1]))
        return Report(
            rtt_s=_rtt(now_s, fresh),
            in_flight_bytes=self._in_flight,
            expected=expected,
            lost=lost,
            ce_marked=ce,
            send_s=tuple(item[2].send_s for item in fresh),
            arrival_s=tuple(item[0] for item in fresh),
            size_bytes=tuple(item[2].size_bytes for item in fresh),
            reported=reported,
        )

    def _forget_before(self, horizon_s: float) -> None:
        sent = self._sent
        while sent:
            transport = next(iter(sent))
            old = sent[transport]
            if old.send_s >= horizon_s:
                return
            if old.state is _State.UNRESOLVED:
                self._in_flight -= old.size_bytes
            del sent[transport]
            self._by_rtp.pop(old.rtp_seq, None)


def _near(last: int | None, seq: int) -> int:
    """The unwrapped number with low 16 bits ``seq`` at or before ``last`` (a report is
    about packets already sent)."""
    if last is None:
        return seq
    return last - (last - seq) % _SEQ_SPACE


def _rtt(now_s: float, fresh: list[tuple[float, int, _Sent, _Seen]]) -> float:
    """The smallest round trip over the newly received packets (NaN without any)."""
    if not fresh:
        return math.nan
    newest_s = max(item[0] for item in fresh)
    rtts = []
    for arrival_s, _, sent, seen in fresh:
        held_s = seen.offset_s if seen.offset_s is not None else newest_s - arrival_s
        rtts.append(now_s - sent.send_s - held_s)
    return max(0.0, min(rtts))
