"""The RFC 4733 DTMF model: the sender's packets, both receivers, and the counts."""

from __future__ import annotations

import numpy as np
import pytest

from voipbed.models.dtmf import (
    DtmfConfig,
    EventPackets,
    Receiver,
    count_detections,
    detect,
    event_code,
    event_packets,
)

LIBRE = DtmfConfig(tone_s=0.180, gap_s=0.060, interval_s=0.020)  # baresip: 9 updates + 3 ends


def delivered(packets: EventPackets, lost: list[int] | None = None) -> np.ndarray:
    """Receive times 40 ms after sending, NaN for the ``lost`` packet indices."""
    recv_s = packets.send_s + 0.040
    recv_s[lost or []] = np.nan
    return recv_s


def counts(packets: EventPackets, recv_s: np.ndarray, receiver: Receiver) -> tuple[int, ...]:
    """(sent, detected, missed, duplicated) of the digits in ``packets``."""
    sent = int(packets.digit.max()) + 1
    return tuple(count_detections(sent, detect(packets, recv_s, receiver).digit))


def test_default_schedule_is_five_updates_then_the_end_three_times() -> None:
    """100 ms at 20 ms: updates of 20..100 ms (the first marked), then three end packets."""
    packets = event_packets("1#", 1.0, DtmfConfig())
    assert packets.send_s.size == 16
    first = slice(0, 8)
    assert packets.send_s[first] == pytest.approx(1.0 + 0.020 * np.arange(8))
    assert packets.duration[first].tolist() == [160, 320, 480, 640, 800, 800, 800, 800]
    assert packets.marker.tolist() == [True] + [False] * 7 + [True] + [False] * 7
    assert packets.end.tolist() == ([False] * 5 + [True] * 3) * 2
    assert packets.code.tolist() == [1] * 8 + [11] * 8
    assert packets.rtp_ts.tolist() == [0] * 8 + [1280] * 8  # onsets 160 ms apart, at 8 kHz
    assert packets.send_s[8] == pytest.approx(1.160)


def test_libre_like_schedule_has_nine_updates_and_three_ends() -> None:
    """A 180 ms tone at 20 ms is libre's telev: 9 updates and 3 ends, 240 ms a digit."""
    packets = event_packets("5", 0.0, LIBRE)
    assert packets.end.tolist() == [False] * 9 + [True] * 3
    assert packets.duration[-1] == 1440
    assert LIBRE.period_s == pytest.approx(LIBRE.slots * LIBRE.interval_s)


def test_a_gap_too_short_for_the_end_packets_is_refused() -> None:
    """A digit's packets must all go before the next digit starts."""
    with pytest.raises(ValueError, match="outlast"):
        DtmfConfig(tone_s=0.100, gap_s=0.030, interval_s=0.020)


@pytest.mark.parametrize(("digit", "code"), [("0", 0), ("9", 9), ("*", 10), ("#", 11), ("d", 15)])
def test_event_codes_follow_rfc_4733(digit: str, code: int) -> None:
    """Digits map to the event codes of RFC 4733 clause 3.2."""
    assert event_code(digit) == code


def test_an_unknown_digit_is_refused() -> None:
    """Only 0-9, *, #, A-D are DTMF digits."""
    with pytest.raises(ValueError, match="not a DTMF digit"):
        event_code("x")


@pytest.mark.parametrize("receiver", list(Receiver))
def test_without_loss_every_digit_is_detected_once(receiver: Receiver) -> None:
    """A clean path: every digit detected, none missed or duplicated, in order."""
    packets = event_packets("1123#", 0.0, DtmfConfig())
    detection = detect(packets, delivered(packets), receiver)
    assert detection.digit.tolist() == [0, 1, 2, 3, 4]
    assert detection.ended.all()
    assert counts(packets, delivered(packets), receiver) == (5, 5, 0, 0)


@pytest.mark.parametrize("receiver", list(Receiver))
def test_a_digit_whose_every_packet_is_lost_is_missed(receiver: Receiver) -> None:
    """Losing all of a digit's packets loses the digit, and only that one."""
    packets = event_packets("123", 0.0, DtmfConfig())
    lost = np.flatnonzero(packets.digit == 1).tolist()
    assert counts(packets, delivered(packets, lost), receiver) == (3, 2, 1, 0)


def test_rfc4733_receiver_keeps_a_digit_whose_three_ends_are_lost() -> None:
    """By timestamp, a repeated digit is a new event even when the first never ended."""
    packets = event_packets("11", 0.0, DtmfConfig())
    ends = np.flatnonzero((packets.digit == 0) & packets.end).tolist()
    recv_s = delivered(packets, ends)
    detection = detect(packets, recv_s, Receiver.RFC4733)
    assert detection.digit.tolist() == [0, 1]
    assert detection.ended.tolist() == [False, True]


def test_event_code_receiver_merges_a_repeated_digit_when_all_three_ends_are_lost() -> None:
    """libre's receiver: the second "1" continues the first when no end packet arrived."""
    packets = event_packets("11", 0.0, DtmfConfig())
    ends = np.flatnonzero((packets.digit == 0) & packets.end).tolist()
    assert counts(packets, delivered(packets, ends), Receiver.EVENT_CODE) == (2, 1, 1, 0)


def test_event_code_receiver_needs_only_one_of_the_three_ends() -> None:
    """One end packet of three is enough to tell the repeated digit apart (RFC 4733 2.5.1.4)."""
    packets = event_packets("11", 0.0, DtmfConfig())
    ends = np.flatnonzero((packets.digit == 0) & packets.end).tolist()
    assert counts(packets, delivered(packets, ends[:2]), Receiver.EVENT_CODE) == (2, 2, 0, 0)


def test_a_late_update_after_the_end_duplicates_only_with_the_event_code_receiver() -> None:
    """Jitter that brings an update after its event's end restarts the digit in libre's
    receiver; the RFC 4733 receiver knows its timestamp and ignores it."""
    packets = event_packets("7", 0.0, DtmfConfig())
    recv_s = delivered(packets)
    recv_s[2] = recv_s[-1] + 0.010  # the third update overtaken by every end packet
    assert counts(packets, recv_s, Receiver.EVENT_CODE) == (1, 1, 0, 1)
    assert counts(packets, recv_s, Receiver.RFC4733) == (1, 1, 0, 0)


@pytest.mark.parametrize("receiver", list(Receiver))
def test_detection_is_at_the_first_packet_to_arrive(receiver: Receiver) -> None:
    """With the marked first packet lost, the digit is detected at the second's arrival."""
    packets = event_packets("4", 0.0, DtmfConfig())
    detection = detect(packets, delivered(packets, [0]), receiver)
    assert detection.detect_s.tolist() == pytest.approx([0.020 + 0.040])


def test_counts_tell_detected_missed_and_duplicated_apart() -> None:
    """Digit 0 twice, digit 2 once, digit 1 never: 2 detected, 1 missed, 1 duplicate."""
    assert tuple(count_detections(3, np.array([0, 2, 0]))) == (3, 2, 1, 1)
    assert tuple(count_detections(0, np.array([], dtype=np.int64))) == (0, 0, 0, 0)
