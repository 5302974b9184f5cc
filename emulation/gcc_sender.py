"""The GCC-controlled RTP sender: paced voice packets whose codec mode follows GCC's target.

One loop on one UDP socket and ``time.monotonic``. Every ptime from
``t0 + start_s`` for ``duration_s`` it sends one RTP packet carrying the
transport-wide sequence number (and abs-send-time if asked), its payload the
size of one packet at the operating point in use, as the simulator sizes it
(``models.codec_modes.point_payload_bytes``: payload format headers
included; the bytes are zeros). The mode is the
:class:`~voipbed.models.codec_adaptation.RateFollower`'s choice for GCC's
target less what the header extension costs (the follower counts RTP/UDP/IP
headers and the RTCP share only).

GCC, the follower and the codec's family are built from the settings as the
simulator builds them from a scenario's ``calls.rate_control``
(``voipbed.scenario_rate.RateControl``: ``gcc_config``, ``follower_config``,
``bitrates``, and ``adaptive_family`` resolving the codec's name), so both
engines run the same controller with the same tunables.

Between packets it reads the feedback the receiver sends back to this socket
(RTCP multiplexed on the RTP port, RFC 5761), RFC 8888 or transport-wide,
whichever comes: :class:`~voipbed.emulation.gcc_history.SendHistory` turns
each into the packets newly received, the losses, CE marks, the bytes in
flight and an RTT, and :class:`~voipbed.models.gcc_flow.GccFlow` (the
delay-based estimator on the reported arrivals, then the loss-based sender
and the pushback) gives the next target.

After the last packet it listens ``drain_s`` longer for the last reports,
then returns; a stop signal ends it at once. Each packet sent is a row of
the packet log (:data:`PACKET_COLUMNS`), each report one of the feedback
log (:data:`FEEDBACK_COLUMNS`); times are seconds since ``t0``.
"""

from __future__ import annotations

import logging
import math
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from voipbed.emulation.gcc_history import Report, SendHistory
from voipbed.emulation.gcc_io import CsvLog, StopSignal, ip_udp_bytes, udp_socket
from voipbed.models.codec_adaptation import FollowerConfig, RateFollower, Step
from voipbed.models.codec_modes import point_payload_bytes
from voipbed.models.codecs import CODECS
from voipbed.models.gcc import DelayFilter, SenderUpdate
from voipbed.models.gcc_flow import GccFlow
from voipbed.models.overhead import IpVersion, Overhead
from voipbed.models.rtcp import is_rtcp, rtcp_feedback_format, rtcp_packets
from voipbed.models.rtcp_rfc8888 import RFC8888_FMT, decode_rfc8888
from voipbed.models.rtcp_twcc import TWCC_FMT, decode_twcc
from voipbed.models.rtp_packet import (
    DEFAULT_IDS,
    ExtensionIds,
    RtpPacket,
    abs_send_time,
    encode_rtp,
    extension_bytes,
)
from voipbed.scenario_rate import (
    ADAPTIVE_CODECS,
    Bitrates,
    RateControl,
    adaptive_family,
    problems,
)

__all__ = [
    "FEEDBACK_COLUMNS",
    "PACKET_COLUMNS",
    "SenderSettings",
    "SenderSummary",
    "run_sender",
]

log = logging.getLogger(__name__)

PACKET_COLUMNS = (
    "send_s",
    "transport_seq",
    "rtp_seq",
    "payload_bytes",
    "wire_bytes",
    "mode",
    "target_bps",
)
FEEDBACK_COLUMNS = (
    "recv_s",
    "format",
    "reported",
    "expected",
    "lost",
    "ce_marked",
    "rtt_s",
    "in_flight_bytes",
    "target_bps",
    "network_bps",
    "delay_based_bps",
    "loss_based_bps",
)
ECT0 = 0b10  # RFC 3168 section 5: ECN-Capable Transport (0)
MAX_WAIT_S = 0.1  # the longest the loop sleeps: a stop signal is seen within it
MAX_BEHIND_FRAMES = 5  # frames the pacing may fall behind before it skips ahead
_READ_BATCH = 64
_MAX_DATAGRAM = 65535


@dataclass(frozen=True)
class SenderSettings:
    """Everything one sender run needs: where and when to send, and the settings of
    ``calls`` and ``calls.rate_control`` a scenario gives (``voipbed.scenario_rate``).

    Bit rates are on the wire (IP packets, RTCP share included). The unset ones are
    ``RateControl.bitrates``' (the named codec's wire rate to start, the family's lowest
    and highest for floor and ceiling) plus what the RTP header extension adds, which
    the follower then takes off the target again: GCC sees the packets' real size and
    every mode stays within reach.
    """

    peer: tuple[str, int]
    codec: str  # an adaptive codec of the codec table: its family, and the starting mode
    t0: float  # a time.monotonic() instant: the logs' zero
    duration_s: float
    ssrc: int
    bind: tuple[str, int] = ("0.0.0.0", 0)
    ptime_s: float = 0.020
    start_s: float = 0.0  # sending starts at t0 + start_s (at once if that has passed)
    feedback_interval_s: float = 0.100  # GCC's update interval: the receiver's report interval
    delay_filter: DelayFilter = DelayFilter.TRENDLINE
    start_bps: float | None = None
    min_bps: float | None = None
    max_bps: float | None = None
    hold_up_s: float = FollowerConfig.hold_up_s
    step_up: Step = FollowerConfig.step_up
    step_down: Step = FollowerConfig.step_down
    min_change_interval_s: float = FollowerConfig.min_change_interval_s
    ecn: bool = False  # media sent ECT(0)
    ce_response: bool = False  # GCC answers CE marks (models.gcc_ecn); needs ecn
    payload_type: int = 96  # the first dynamic payload type (RFC 3551 section 3)
    dscp: int = 0
    abs_send_time: bool = False
    ids: ExtensionIds = DEFAULT_IDS
    drain_s: float = 0.5
    log: Path | None = None
    feedback_log: Path | None = None

    def __post_init__(self) -> None:
        if self.duration_s <= 0.0 or self.ptime_s <= 0.0:
            raise ValueError("duration and ptime must be positive")
        if self.start_s < 0.0 or self.drain_s < 0.0:
            raise ValueError("start and drain must not be negative")
        if not 0 <= self.dscp <= 63:
            raise ValueError(f"a DSCP is 0..63, got {self.dscp}")
        if adaptive_family(self.codec) is None:
            raise ValueError(f"codec {self.codec!r} is not adaptive ({ADAPTIVE_CODECS})")
        found = problems(
            self.rate_control(), self.codec, self.ptime_s, self.overhead, media_ecn=self.ecn
        )
        if found:
            raise ValueError("; ".join(problem.message for problem in found))

    def rate_control(self) -> RateControl:
        """These settings as the scenario's ``calls.rate_control`` (GCC)."""
        rates = {
            key: f"{value!r}bps"
            for key, value in (
                ("start_bitrate", self.start_bps),
                ("min_bitrate", self.min_bps),
                ("max_bitrate", self.max_bps),
            )
            if value is not None
        }
        return RateControl.model_validate(
            {
                "algorithm": "gcc",
                "feedback_interval": f"{self.feedback_interval_s!r}s",
                "delay_filter": self.delay_filter.value,
                "ecn": self.ce_response,
                **rates,
                "adaptation": {
                    "hold_up": f"{self.hold_up_s!r}s",
                    "step_up": self.step_up.value,
                    "step_down": self.step_down.value,
                    "min_change_interval": f"{self.min_change_interval_s!r}s",
                },
            }
        )

    @property
    def overhead(self) -> Overhead:
        """Plain RTP over UDP over the peer's IP version, with RFC 3550's RTCP share."""
        return Overhead(ip_version=IpVersion.V6 if ":" in self.peer[0] else IpVersion.V4)

    @property
    def extension_bps(self) -> float:
        """What the RTP header extension adds to the rate on the wire."""
        return 8.0 * extension_bytes(True, self.abs_send_time) / self.ptime_s

    def bitrates(self) -> Bitrates:
        """GCC's start, floor and ceiling on the wire (the class docstring says how)."""
        control = self.rate_control()
        filled = control.bitrates(self.codec, self.ptime_s, self.overhead)
        extra = self.extension_bps
        return Bitrates(
            filled.start_bps + extra if self.start_bps is None else self.start_bps,
            filled.min_bps + extra if self.min_bps is None else self.min_bps,
            filled.max_bps + extra if self.max_bps is None else self.max_bps,
        )


@dataclass
class SenderSummary:
    """What a sender run did."""

    packets: int = 0
    send_errors: int = 0
    reports: int = 0
    malformed: int = 0
    target_bps: float = math.nan


class _Sender:
    """The state of one run: GCC, the follower, the history, the RTP counters."""

    def __init__(self, settings: SenderSettings, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.clock = clock
        control = settings.rate_control()
        bitrates = settings.bitrates()
        self.follower = RateFollower(
            control.family(settings.codec),
            control.follower_config(settings.ptime_s, settings.overhead, settings.codec),
        )
        self.flow = GccFlow(
            bitrates.start_bps, bitrates.min_bps, bitrates.max_bps, control.gcc_config(bitrates)
        )
        self.history = SendHistory(settings.ssrc)
        self.headers = ip_udp_bytes(settings.peer[0])
        self.summary = SenderSummary(target_bps=self.flow.target_bps)
        self.seq = 0
        self.transport_seq = 0
        self.timestamp = 0

    def send(self, sock: socket.socket, packets: CsvLog) -> None:
        """Send the next packet at the mode the current target allows."""
        settings = self.settings
        now = self.clock() - settings.t0
        target = self.flow.target_bps
        step = self.follower.update(now, max(0.0, target - settings.extension_bps))
        codec = CODECS[step.point.codec]
        payload = point_payload_bytes(step.point, settings.ptime_s)  # as the simulator sizes it
        packet = RtpPacket(
            settings.payload_type,
            self.seq,
            self.timestamp,
            settings.ssrc,
            bytes(payload),
            marker=self.summary.packets == 0,
            transport_seq=self.transport_seq,
            abs_send_time=abs_send_time(now) if settings.abs_send_time else None,
        )
        data = encode_rtp(packet, settings.ids)
        send_s = self.clock() - settings.t0
        try:
            sock.sendto(data, settings.peer)
        except OSError as error:  # a full buffer, an unreachable peer: the packet is lost
            self.summary.send_errors += 1
            log.debug("send failed: %s", error)
        wire = len(data) + self.headers
        self.history.on_sent(send_s, self.transport_seq, self.seq, wire)
        packets.write(send_s, self.transport_seq, self.seq, payload, wire, codec.name, target)
        self.summary.packets += 1
        self.seq = (self.seq + 1) & 0xFFFF
        self.transport_seq = (self.transport_seq + 1) & 0xFFFF
        self.timestamp = (self.timestamp + codec.rtp_ticks(settings.ptime_s)) & 0xFFFFFFFF

    def read(self, sock: socket.socket, reports: CsvLog) -> None:
        """Take the feedback waiting on the socket."""
        for _ in range(_READ_BATCH):
            try:
                datagram = sock.recv(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # e.g. ICMP port unreachable reported on the socket
                log.debug("receive failed: %s", error)
                continue
            if not is_rtcp(datagram):
                continue
            now = self.clock() - self.settings.t0
            try:
                for packet in rtcp_packets(datagram):
                    self._feedback(now, packet, reports)
            except ValueError as error:
                self.summary.malformed += 1
                log.warning("malformed feedback ignored: %s", error)

    def _feedback(self, now: float, packet: bytes, reports: CsvLog) -> None:
        fmt = rtcp_feedback_format(packet)
        if fmt == TWCC_FMT:
            report = self.history.on_twcc(now, decode_twcc(packet))
            name = "twcc"
        elif fmt == RFC8888_FMT:
            report = self.history.on_rfc8888(now, decode_rfc8888(packet))
            name = "rfc8888"
        else:
            return  # other RTCP: not for GCC
        if report.reported == 0:
            return
        update = self._update(now, report)
        self.summary.reports += 1
        self.summary.target_bps = update.target_bps
        reports.write(
            now,
            name,
            report.reported,
            report.expected,
            report.lost,
            report.ce_marked,
            report.rtt_s,
            report.in_flight_bytes,
            update.target_bps,
            update.network_bps,
            math.nan if update.delay_based_bps is None else update.delay_based_bps,
            update.loss_based_bps,
        )

    def _update(self, now: float, report: Report) -> SenderUpdate:
        return self.flow.on_report(
            now,
            report.in_flight_bytes,
            report.expected,
            report.lost,
            report.ce_marked,
            report.send_s,
            report.arrival_s,
            report.size_bytes,
        )


def run_sender(
    settings: SenderSettings,
    stop: StopSignal,
    clock: Callable[[], float] = time.monotonic,
    on_ready: Callable[[], None] = lambda: None,
) -> SenderSummary:
    """Send as ``settings`` say until the duration and drain have passed or ``stop`` is
    set; ``on_ready`` is called once the socket is bound."""
    state = _Sender(settings, clock)
    tos = settings.dscp << 2 | (ECT0 if settings.ecn else 0)
    with (
        udp_socket(settings.bind, tos=tos) as sock,
        CsvLog(settings.log, PACKET_COLUMNS) as packets,
        CsvLog(settings.feedback_log, FEEDBACK_COLUMNS) as reports,
        selectors.DefaultSelector() as selector,
    ):
        selector.register(sock, selectors.EVENT_READ)
        on_ready()
        first = max(settings.t0 + settings.start_s, clock())
        end = first + settings.duration_s
        frames = 0
        due = first
        while not stop.is_set:
            now = clock()
            if now >= end + settings.drain_s:
                break
            if now >= due and due < end:
                state.send(sock, packets)
                frames += 1
                due = first + frames * settings.ptime_s
                if now - due > MAX_BEHIND_FRAMES * settings.ptime_s:  # stalled: skip ahead
                    frames = math.ceil((now - first) / settings.ptime_s)
                    due = first + frames * settings.ptime_s
                continue
            wake = due if due < end else end + settings.drain_s
            if selector.select(min(max(0.0, wake - now), MAX_WAIT_S)):
                state.read(sock, reports)
    return state.summary
