"""The GCC receiver: records each RTP packet's arrival and sends congestion-control feedback.

One loop on one UDP socket and ``time.monotonic``. Each RTP packet is
recorded the moment it is read (arrival time, and the ECN field the IP header
carried, read with IP_RECVTOS: a CE mark is the userspace link's AQM
speaking) in an :class:`~voipbed.emulation.gcc_arrivals.ArrivalRecorder`;
every ``feedback_interval_s`` the feedback on what arrived since the last
report (RFC 8888 or transport-wide) goes back to the address the latest RTP
packet came from (RTCP multiplexed on the RTP port, RFC 5761).

It stops on a stop signal, at ``t0 + duration_s`` when a duration is given,
or once ``idle_timeout_s`` passes without RTP after the first packet. Each
packet received is a row of the packet log (:data:`PACKET_COLUMNS`), each
feedback packet sent one of the feedback log (:data:`FEEDBACK_COLUMNS`);
times are seconds since ``t0``.
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

from voipbed.emulation.gcc_arrivals import ArrivalRecorder, FeedbackFormat
from voipbed.emulation.gcc_io import (
    CsvLog,
    StopSignal,
    ancillary_space,
    ip_udp_bytes,
    received_ecn,
    udp_socket,
)
from voipbed.models.rtcp import is_rtcp
from voipbed.models.rtp_packet import DEFAULT_IDS, ExtensionIds, decode_rtp

__all__ = [
    "FEEDBACK_COLUMNS",
    "PACKET_COLUMNS",
    "ReceiverSettings",
    "ReceiverSummary",
    "run_receiver",
]

log = logging.getLogger(__name__)

PACKET_COLUMNS = (
    "arrival_s",
    "ssrc",
    "rtp_seq",
    "transport_seq",
    "payload_bytes",
    "wire_bytes",
    "ecn",
)
FEEDBACK_COLUMNS = ("send_s", "format", "bytes", "reported", "received")
MAX_WAIT_S = 0.1  # the longest the loop sleeps: a stop signal is seen within it
NTP_UNIX_OFFSET_S = 2_208_988_800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)
_READ_BATCH = 256
_MAX_DATAGRAM = 65535


@dataclass(frozen=True)
class ReceiverSettings:
    """Everything one receiver run needs."""

    bind: tuple[str, int]
    t0: float  # a time.monotonic() instant: the logs' zero
    ssrc: int
    feedback: FeedbackFormat = FeedbackFormat.TWCC
    feedback_interval_s: float = 0.1  # GccConfig.update_interval_s: libwebrtc's 100 ms
    duration_s: float | None = None  # None: until stopped
    idle_timeout_s: float | None = None  # None: no timeout
    ids: ExtensionIds = DEFAULT_IDS
    log: Path | None = None
    feedback_log: Path | None = None

    def __post_init__(self) -> None:
        if self.feedback_interval_s <= 0.0:
            raise ValueError("the feedback interval must be positive")
        for name, value in (("duration", self.duration_s), ("idle timeout", self.idle_timeout_s)):
            if value is not None and value <= 0.0:
                raise ValueError(f"the {name} must be positive")


@dataclass
class ReceiverSummary:
    """What a receiver run did."""

    packets: int = 0
    malformed: int = 0
    feedback_packets: int = 0
    send_errors: int = 0


class _Receiver:
    """The state of one run: the recorder, where feedback goes, the counters."""

    def __init__(self, settings: ReceiverSettings, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.clock = clock
        # The report timestamp is NTP time: the wall clock at start, advanced by the
        # monotonic clock (a wall-clock step during the run cannot bend the arrivals).
        ntp_offset = time.time() + NTP_UNIX_OFFSET_S - (clock() - settings.t0)
        self.recorder = ArrivalRecorder(settings.feedback, settings.ssrc, clock_offset_s=ntp_offset)
        self.headers = ip_udp_bytes(settings.bind[0])
        self.peer: tuple[str, int] | None = None
        self.last_rtp_s = -math.inf
        self.summary = ReceiverSummary()

    def read(self, sock: socket.socket, packets: CsvLog) -> None:
        """Record the RTP packets waiting on the socket."""
        space = ancillary_space()
        for _ in range(_READ_BATCH):
            try:
                data, ancillary, _, source = sock.recvmsg(_MAX_DATAGRAM, space)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                log.debug("receive failed: %s", error)
                continue
            arrival_s = self.clock() - self.settings.t0
            if is_rtcp(data):
                continue  # the sender sends none; nothing here reads RTCP
            try:
                packet = decode_rtp(data, self.settings.ids)
            except ValueError as error:
                self.summary.malformed += 1
                log.warning("malformed RTP ignored: %s", error)
                continue
            ecn = received_ecn(ancillary)
            self.recorder.on_packet(arrival_s, packet, ecn)
            self.peer = source[:2]
            self.last_rtp_s = arrival_s
            self.summary.packets += 1
            transport = "" if packet.transport_seq is None else packet.transport_seq
            packets.write(
                arrival_s,
                packet.ssrc,
                packet.seq,
                transport,
                len(packet.payload),
                len(data) + self.headers,
                ecn,
            )

    def send_feedback(self, sock: socket.socket, reports: CsvLog) -> None:
        """Send the report on what arrived since the last one, if anything did."""
        now = self.clock() - self.settings.t0
        feedback = self.recorder.feedback(now)
        if feedback is None or self.peer is None:
            return
        try:
            sock.sendto(feedback.data, self.peer)
        except OSError as error:  # the report is lost, as on a congested path
            self.summary.send_errors += 1
            log.debug("feedback send failed: %s", error)
        self.summary.feedback_packets += 1
        reports.write(
            now,
            self.settings.feedback.value,
            len(feedback.data),
            feedback.reported,
            feedback.received,
        )


def run_receiver(
    settings: ReceiverSettings,
    stop: StopSignal,
    clock: Callable[[], float] = time.monotonic,
    on_ready: Callable[[], None] = lambda: None,
) -> ReceiverSummary:
    """Receive and report as ``settings`` say until stopped, the duration has passed, or the
    sender has gone quiet; ``on_ready`` is called once the socket is bound."""
    state = _Receiver(settings, clock)
    end = math.inf if settings.duration_s is None else settings.t0 + settings.duration_s
    idle = math.inf if settings.idle_timeout_s is None else settings.idle_timeout_s
    with (
        udp_socket(settings.bind, read_ecn=True) as sock,
        CsvLog(settings.log, PACKET_COLUMNS) as packets,
        CsvLog(settings.feedback_log, FEEDBACK_COLUMNS) as reports,
        selectors.DefaultSelector() as selector,
    ):
        selector.register(sock, selectors.EVENT_READ)
        on_ready()
        due = clock() + settings.feedback_interval_s
        while not stop.is_set:
            now = clock()
            quiet_s = now - settings.t0 - state.last_rtp_s  # inf before the first packet
            if now >= end or (math.isfinite(quiet_s) and quiet_s > idle):
                break
            if now >= due:
                state.send_feedback(sock, reports)
                due += settings.feedback_interval_s
                if due <= now:  # stalled: the next report one interval from now
                    due = now + settings.feedback_interval_s
            wake = min(due, end)
            if selector.select(min(max(0.0, wake - now), MAX_WAIT_S)):
                state.read(sock, packets)
        state.send_feedback(sock, reports)  # what arrived since the last report
    return state.summary
