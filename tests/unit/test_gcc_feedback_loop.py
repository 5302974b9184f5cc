"""The GCC endpoints' bookkeeping: arrivals to feedback bytes to what the sender learns, and
the command lines the engine will build."""

from __future__ import annotations

import math
import socket
from pathlib import Path

import pytest

from voipbed.emulation.gcc_arrivals import ArrivalRecorder, FeedbackFormat
from voipbed.emulation.gcc_endpoint import parse_settings, receiver_argv, sender_argv
from voipbed.emulation.gcc_history import Report, SendHistory
from voipbed.emulation.gcc_io import CsvLog, parse_address, received_ecn
from voipbed.emulation.gcc_receiver import ReceiverSettings
from voipbed.emulation.gcc_sender import SenderSettings
from voipbed.models.codec_adaptation import Step
from voipbed.models.gcc import DelayFilter
from voipbed.models.rtcp import rtcp_feedback_format
from voipbed.models.rtcp_rfc8888 import decode_rfc8888
from voipbed.models.rtcp_twcc import decode_twcc
from voipbed.models.rtp_packet import RtpPacket

SENDER_SSRC = 0x5EED
SEND = ["send", "--codec", "AMR-12.2"]
PACKET_BYTES = 100
CE = 3


class Loop:
    """A sender's history and a receiver's recorder joined by feedback bytes (no network)."""

    def __init__(self, feedback: FeedbackFormat, first_seq: int = 0) -> None:
        self.history = SendHistory(SENDER_SSRC)
        self.recorder = ArrivalRecorder(feedback, 0xFEED, clock_offset_s=3.9e9)
        self.first_seq = first_seq
        self.sent = 0

    def send(self, send_s: float) -> RtpPacket:
        seq = (self.first_seq + self.sent) & 0xFFFF
        self.sent += 1
        self.history.on_sent(send_s, seq, seq, PACKET_BYTES)
        return RtpPacket(96, seq, 0, SENDER_SSRC, transport_seq=seq)

    def report(self, report_s: float, back_s: float) -> Report:
        """The receiver's report at ``report_s``, reaching the sender ``back_s`` later."""
        feedback = self.recorder.feedback(report_s)
        assert feedback is not None
        data = feedback.data
        if rtcp_feedback_format(data) == 15:
            return self.history.on_twcc(report_s + back_s, decode_twcc(data))
        return self.history.on_rfc8888(report_s + back_s, decode_rfc8888(data))


@pytest.mark.parametrize("feedback", list(FeedbackFormat))
def test_arrivals_losses_and_rtt_reach_the_sender(feedback: FeedbackFormat) -> None:
    """Each packet's send and arrival time, the losses and a round trip come back."""
    loop = Loop(feedback)
    delay_s = 0.030 + 0.001 * 3 / 7  # off the 250 us and 1/1024 s grids
    arrivals = {}
    for k in range(10):
        packet = loop.send(1.0 + 0.02 * k)
        if k not in (3, 4):
            arrivals[k] = 1.0 + 0.02 * k + delay_s
            loop.recorder.on_packet(arrivals[k], packet, CE if k == 5 else 0)
    report = loop.report(1.0 + 0.02 * 9 + delay_s + 0.010, back_s=0.020)
    assert (report.reported, report.expected, report.lost) == (10, 10, 2)
    assert report.ce_marked == (1 if feedback is FeedbackFormat.RFC8888 else 0)
    assert report.in_flight_bytes == 0
    assert report.send_s == tuple(1.0 + 0.02 * k for k in arrivals)
    assert report.size_bytes == (PACKET_BYTES,) * 8
    one_way = [a - s for a, s in zip(report.arrival_s, report.send_s, strict=True)]
    assert max(one_way) - min(one_way) < 0.0011  # one clock offset, up to the resolution
    # RFC 8888 says how long each packet waited for the report: the RTT is the path's.
    expected_rtt = delay_s + 0.020 + (0.010 if feedback is FeedbackFormat.TWCC else 0.0)
    assert report.rtt_s == pytest.approx(expected_rtt, abs=0.0011)


@pytest.mark.parametrize("feedback", list(FeedbackFormat))
def test_a_late_packet_is_taken_once_when_it_arrives(feedback: FeedbackFormat) -> None:
    """A packet reported lost and then received counts as lost once and reaches the
    estimator when it arrives; packets reported twice are taken once."""
    loop = Loop(feedback)
    packets = [loop.send(0.02 * k) for k in range(6)]
    for k in (0, 1, 3, 4):
        loop.recorder.on_packet(0.02 * k + 0.05, packets[k])
    first = loop.report(0.2, 0.01)
    assert (first.expected, first.lost, len(first.send_s)) == (5, 1, 4)
    assert loop.history.in_flight_bytes == PACKET_BYTES  # packet 5: not yet reported
    loop.recorder.on_packet(0.25, packets[2])
    loop.recorder.on_packet(0.26, packets[5])
    second = loop.report(0.3, 0.01)
    assert (second.expected, second.lost) == (1, 0)
    assert second.send_s == (0.04, 0.10)  # the late one and the new one, by arrival
    assert second.reported == 4  # packets 2..5: the range went back to the late one
    assert loop.recorder.feedback(0.4) is None  # nothing new


@pytest.mark.parametrize("feedback", list(FeedbackFormat))
def test_sequence_numbers_wrap(feedback: FeedbackFormat) -> None:
    """Reports across the 16-bit wrap of the sequence numbers resolve every packet."""
    loop = Loop(feedback, first_seq=65530)
    for k in range(12):
        packet = loop.send(0.02 * k)
        loop.recorder.on_packet(0.02 * k + 0.04, packet)
    report = loop.report(0.4, 0.01)
    assert (report.reported, report.expected, report.lost) == (12, 12, 0)
    assert report.send_s == tuple(0.02 * k for k in range(12))


def test_history_forgets_old_packets_and_their_bytes_in_flight() -> None:
    """Packets older than the window are dropped, and no longer count as in flight."""
    history = SendHistory(SENDER_SSRC, window_s=1.0)
    history.on_sent(0.0, 0, 0, 200)
    history.on_sent(0.5, 1, 1, 200)
    assert history.in_flight_bytes == 400
    history.on_sent(1.2, 2, 2, 200)
    assert history.in_flight_bytes == 400


def test_a_report_with_nothing_new_has_no_rtt() -> None:
    """The same report twice: the second resolves nothing and gives no RTT."""
    loop = Loop(FeedbackFormat.TWCC)
    packet = loop.send(0.0)
    loop.recorder.on_packet(0.03, packet)
    data = loop.recorder.feedback(0.1)
    assert data is not None
    loop.history.on_twcc(0.12, decode_twcc(data.data))
    again = loop.history.on_twcc(0.13, decode_twcc(data.data))
    assert (again.reported, again.expected) == (1, 0)
    assert math.isnan(again.rtt_s)


def test_twcc_without_the_extension_reports_nothing() -> None:
    """Packets without a transport sequence number cannot be in transport-wide feedback."""
    recorder = ArrivalRecorder(FeedbackFormat.TWCC, 1)
    recorder.on_packet(0.0, RtpPacket(96, 1, 0, 2))
    assert recorder.feedback(0.1) is None
    assert recorder.without_transport_seq == 1


# ---------------------------------------------------------------------------- command lines


def test_sender_argv_gives_its_settings_back(tmp_path: Path) -> None:
    """The command line the engine builds parses to the settings it was built from."""
    settings = SenderSettings(
        peer=("10.0.0.2", 40000),
        codec="AMR-WB-12.65",
        t0=12345.678901234,
        duration_s=30.0,
        ssrc=77,
        bind=("10.0.0.1", 40002),
        start_s=6.5,
        start_bps=40_000.0,
        max_bps=50_000.0,
        delay_filter=DelayFilter.KALMAN,
        step_up=Step.JUMP,
        hold_up_s=0.5,
        dscp=46,
        ecn=True,
        ce_response=True,
        abs_send_time=True,
        log=tmp_path / "tx.csv",
        feedback_log=tmp_path / "tx-feedback.csv",
    )
    argv = sender_argv(settings)
    assert argv[1:4] == ["-m", "voipbed.emulation.gcc_endpoint", "send"]
    assert parse_settings(argv[3:]) == settings


def test_receiver_argv_gives_its_settings_back(tmp_path: Path) -> None:
    """The receiver's command line round-trips too, IPv6 address included."""
    settings = ReceiverSettings(
        bind=("fd00::2", 40000),
        t0=99.5,
        ssrc=1,
        feedback=FeedbackFormat.RFC8888,
        feedback_interval_s=0.05,
        duration_s=40.0,
        idle_timeout_s=3.0,
        log=tmp_path / "rx.csv",
    )
    assert parse_settings(receiver_argv(settings)[3:]) == settings


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([*SEND, "--to", "10.0.0.2", "--duration", "1"], "not HOST:PORT"),
        (["send", "--to", "h:1", "--codec", "PCMU", "--duration", "1"], "not adaptive"),
        ([*SEND, "--to", "10.0.0.2:1"], "needs --duration"),
        ([*SEND, "--to", "h:1", "--duration", "-1"], "positive"),
        ([*SEND, "--to", "h:1", "--duration", "1", "--ptime", "0.025"], "25 ms"),
        ([*SEND, "--to", "h:1", "--duration", "1", "--ce-response"], "set calls.ecn"),
        ([*SEND, "--to", "h:1", "--duration", "1", "--max-bps", "9000"], "no mode would fit"),
        (["receive", "--bind", "h:70000"], "outside 0..65535"),
        (["receive", "--bind", "h:1", "--log", "/nonexistent/dir/rx.csv"], "no folder"),
    ],
)
def test_bad_command_lines_exit_2_saying_why(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad input is refused with exit code 2 and a message naming what is wrong."""
    with pytest.raises(SystemExit) as exit_info:
        parse_settings(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


# ---------------------------------------------------------------------------- io


def test_parse_address_and_ecn_ancillary_data() -> None:
    """HOST:PORT and [IPv6]:PORT parse; the ECN field is read from IPv4 and IPv6 cmsgs."""
    assert parse_address("[::1]:5004") == ("::1", 5004)
    assert received_ecn([(socket.IPPROTO_IP, socket.IP_TOS, bytes([0xB9]))]) == 1
    assert (
        received_ecn([(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, (0xBB).to_bytes(4, "little"))]) == 3
    )
    assert received_ecn([]) == 0


def test_csv_log_writes_a_header_and_rows(tmp_path: Path) -> None:
    """Rows follow the header; floats keep microseconds, NaN is an empty cell."""
    path = tmp_path / "log.csv"
    with CsvLog(path, ("t", "n", "x")) as csv:
        csv.write(1.5000004, 3, math.nan)
        with pytest.raises(ValueError, match="2 values for 3 columns"):
            csv.write(1.0, 2)
    assert path.read_text() == "t,n,x\n1.5,3,\n"
