"""Rate-controlled senders' logs in the packets table: each packet's mode, payload and target."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from tests.unit.test_capture import FAR, UE, record, table
from voipbed.emulation.capture import AdaptiveSenders, SentLog, packets_from_records
from voipbed.emulation.frames import parse_frame
from voipbed.models.rtcp_rfc8888 import Arrival, encode_rfc8888, rfc8888_feedback
from voipbed.models.rtcp_twcc import encode_twcc, twcc_feedback
from voipbed.trace import PACKET_SCHEMA

UPLINK_SSRC, DOWNLINK_SSRC = 0x100, 0x101
MODES = ("AMR-WB-6.6", "AMR-WB-12.65", "AMR-WB-23.85")


def sent(ssrc: int, modes: list[int]) -> SentLog:
    """A sender's log of ``len(modes)`` packets: payload 10 * (mode + 1), target 1000 * k."""
    mode = np.array(modes, dtype=np.int64)
    return SentLog(ssrc, mode, 10 * (mode + 1), 1000.0 * np.arange(mode.size))


def test_rows_take_mode_payload_and_target_from_their_senders_log() -> None:
    """Each row's codec, payload size and target are its sender's for that sequence number;
    the codecs are the family's modes."""
    rows = [record("uplink", k, 1.0 + 0.02 * k, 1.01 + 0.02 * k, ssrc=UPLINK_SSRC) for k in (0, 2)]
    rows += [record("downlink", 1, 1.0, 1.01, ssrc=DOWNLINK_SSRC)]
    adaptive = AdaptiveSenders(
        MODES, {0: sent(UPLINK_SSRC, [2, 1, 0]), 1: sent(DOWNLINK_SSRC, [0, 1])}
    )
    packets = packets_from_records(
        [table(rows)], ["radio"], [UE], "AMR-WB-23.85", adaptive=adaptive
    )
    assert packets.schema == PACKET_SCHEMA
    got = [
        (r["flow"], r["seq"], r["codec"], r["payload_bytes"], r["target_bps"], r["wire_bytes"])
        for r in packets.to_pylist()
    ]
    assert got == [
        (0, 0, "AMR-WB-23.85", 30, 0.0, 200),
        (0, 2, "AMR-WB-6.6", 10, 2000.0, 200),
        (1, 1, "AMR-WB-12.65", 20, 1000.0, 200),
    ]


def test_packets_of_another_ssrc_on_the_flows_addresses_are_not_rows() -> None:
    """Feedback about the uplink travels down to the UE carrying the uplink's SSRC: it is
    not a downlink media packet."""
    rows = [
        record("downlink", 0, 1.0, 1.01, ssrc=DOWNLINK_SSRC),
        record("downlink", 7, 1.01, 1.02, ssrc=UPLINK_SSRC),
    ]
    adaptive = AdaptiveSenders(MODES, {0: sent(UPLINK_SSRC, [0]), 1: sent(DOWNLINK_SSRC, [1])})
    packets = packets_from_records([table(rows)], ["radio"], [UE], "AMR-WB-6.6", adaptive=adaptive)
    assert [(r["flow"], r["seq"]) for r in packets.to_pylist()] == [(1, 0)]


def test_sequence_numbers_past_a_wrap_find_their_log_entries() -> None:
    """A flow first recorded at RTP number 65535 continues at 0: log entries 65535, 65536."""
    modes = [0] * 65537
    modes[65536] = 2
    rows = [
        record("uplink", 65535, 1.0, 1.01, ssrc=UPLINK_SSRC),
        record("uplink", 0, 1.02, 1.03, ssrc=UPLINK_SSRC),
    ]
    adaptive = AdaptiveSenders(MODES, {0: sent(UPLINK_SSRC, modes)})
    packets = packets_from_records([table(rows)], ["radio"], [UE], "AMR-WB-6.6", adaptive=adaptive)
    got = [(r["seq"], r["codec"]) for r in packets.to_pylist()]
    assert got == [(65535, "AMR-WB-6.6"), (65536, "AMR-WB-23.85")]


def test_a_packet_its_sender_did_not_log_is_an_error() -> None:
    """A recorded packet beyond the sender's log raises, naming the flow."""
    rows = [record("uplink", 3, 1.0, 1.01, ssrc=UPLINK_SSRC)]
    adaptive = AdaptiveSenders(MODES, {0: sent(UPLINK_SSRC, [0, 1])})
    with pytest.raises(ValueError, match="flow 0"):
        packets_from_records([table(rows)], ["radio"], [UE], "AMR-WB-6.6", adaptive=adaptive)


def test_without_logs_a_fixed_rate_row_has_no_target() -> None:
    """Fixed-rate senders: one codec, no target."""
    (row,) = packets_from_records(
        [table([record("uplink", 0, 1.0, 1.01)])], ["radio"], [UE], "PCMU"
    ).to_pylist()
    assert row["codec"] == "PCMU" and row["target_bps"] is None
    assert not math.isnan(row["recv_s"])


def frame(payload: bytes) -> bytes:
    """An Ethernet frame of a UDP datagram from the far end to the UE carrying ``payload``."""
    udp = struct.pack("!HHHH", 30000, 30000, 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(udp),
        0,
        0,
        64,
        17,
        0,
        bytes(map(int, FAR.split("."))),
        bytes(map(int, UE.split("."))),
    )
    return bytes(6) + bytes(6) + b"\x08\x00" + ip + udp


@pytest.mark.parametrize(
    "feedback",
    [
        encode_twcc(twcc_feedback(1, UPLINK_SSRC, 0, 0, [0.0, 0.02, None])),
        encode_rfc8888(
            rfc8888_feedback(1, 5.0, [(UPLINK_SSRC, 0, [Arrival(4.99), Arrival(None)])])
        ),
    ],
    ids=["twcc", "rfc8888"],
)
def test_congestion_control_feedback_is_not_taken_for_rtp(feedback: bytes) -> None:
    """RTCP feedback (payload type 205, RFC 5761 section 4) multiplexed on the RTP port is
    not RTP for the links."""
    parsed = parse_frame(frame(feedback))
    assert parsed is not None and parsed.rtp is None
