"""DTMF as RFC 4733 telephone-event packets: the sender's schedule and a receiver's detection.

Sender (RFC 4733 clause 2.5.1): each digit is one event. Its packets all carry
the RTP timestamp of the event's onset (2.5.1.2); the first has the marker
bit (2.5.1.3); one packet goes every ``interval_s`` with the duration so far,
the first already counting one interval, as libre's ``telev_poll`` (baresip)
does; once the tone's duration is covered the end packet (E bit) is sent,
and sent ``end_repeats`` times in all, an interval apart (2.5.1.4). A digit
occupies ``ceil(tone / interval) + end_repeats`` packet slots.

Receivers (clause 2.5.2), both pure functions of the packets' arrival order:

- ``Receiver.RFC4733`` keys events by their RTP timestamp: the first packet of
  a timestamp not seen before is a new event (its digit detected), whatever
  came before; packets of a timestamp already seen (retransmitted ends,
  updates that arrive late) belong to that event and detect nothing more.
  Whether an event ends by its end packet or by a timeout changes its
  duration, not the digits detected, so no timeout is modelled.
- ``Receiver.EVENT_CODE`` is libre's ``telev_recv`` (what baresip runs): it
  ignores the timestamp and keeps the last event code seen; a non-end packet
  whose code differs from it starts an event, an end packet ends the current
  one (and forgets its code). So a digit equal to the one before it is missed
  when every end packet of that one is lost, and an update that arrives after
  its event's end packet starts the digit again (a duplicate).

Each detection is attributed to the sent digit whose packet caused it, so a
digit is detected, missed (no detection) or duplicated (more than one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DIGITS",
    "DtmfConfig",
    "DtmfCounts",
    "EventPackets",
    "Receiver",
    "count_detections",
    "detect",
    "event_code",
    "event_packets",
]

DIGITS = "0123456789*#ABCD"
"""The DTMF digits in event-code order: RFC 4733 clause 3.2, Table 7 (codes 0 to 15)."""

PAYLOAD_BYTES = 4
"""One event report: event, E/R/volume, duration (RFC 4733 clause 2.3)."""

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


class Receiver(StrEnum):
    """How a receiver tells one event from the next (see the module docstring)."""

    RFC4733 = "rfc4733"  # by RTP timestamp, RFC 4733 clause 2.5.2
    EVENT_CODE = "event_code"  # by the last event code seen, libre's telev_recv (baresip)


@dataclass(frozen=True)
class DtmfConfig:
    """How digits are sent.

    ``tone_s`` 100 ms and ``gap_s`` 60 ms: above the 40 ms tone and 40 ms pause
    that ITU-T Q.24 Table A-1 gives as most administrations' minimum to
    recognise a digit (an assumption; set your UA's). ``interval_s`` 20 ms:
    one event packet per audio packet of 20 ms (RFC 3551 clause 4.5), as
    libre's telev sends at the audio's ptime; RFC 4733 clause 2.5.1.2 leaves
    the interval to the sender. ``end_repeats`` 3: RFC 4733 clause 2.5.1.4.
    ``clock_hz`` 8000: the telephone-event default rate (RFC 4733 clause 2.4).
    """

    tone_s: float = 0.100
    gap_s: float = 0.060
    interval_s: float = 0.020
    end_repeats: int = 3
    clock_hz: int = 8000

    def __post_init__(self) -> None:
        if not (self.tone_s > 0 and self.interval_s > 0 and self.gap_s >= 0):
            raise ValueError("tone and interval must be > 0, gap >= 0")
        if self.end_repeats < 1:
            raise ValueError("end_repeats must be at least 1")
        if self.slots * self.interval_s > self.period_s + 1e-9:
            raise ValueError(
                f"a digit's {self.slots} packets, {self.interval_s * 1e3:g} ms apart, outlast "
                f"tone + gap ({self.period_s * 1e3:g} ms): lengthen the gap or shorten the interval"
            )

    @property
    def updates(self) -> int:
        """Packets before the end packets: enough intervals to cover the tone."""
        return max(math.ceil(self.tone_s / self.interval_s - 1e-9), 1)

    @property
    def slots(self) -> int:
        """Packets per digit, end packets included."""
        return self.updates + self.end_repeats

    @property
    def period_s(self) -> float:
        """From one digit's onset to the next's."""
        return self.tone_s + self.gap_s


class EventPackets(NamedTuple):
    """Telephone-event packets in send order, one entry per packet in every array."""

    digit: IntArray  # index of the digit in the sequence sent
    code: IntArray  # RFC 4733 event code
    send_s: FloatArray
    rtp_ts: IntArray  # the event's onset, in clock ticks from the schedule's start
    duration: IntArray  # ticks, as the packet reports it
    marker: BoolArray
    end: BoolArray

    def first_digits(self, count: int) -> EventPackets:
        """The packets of the first ``count`` digits."""
        keep = self.digit < count
        return EventPackets(
            self.digit[keep],
            self.code[keep],
            self.send_s[keep],
            self.rtp_ts[keep],
            self.duration[keep],
            self.marker[keep],
            self.end[keep],
        )

    def digits_before(self, end_s: float) -> int:
        """How many digits, from the first, have every packet sent before ``end_s``."""
        late = self.digit[self.send_s >= end_s]
        return int(late.min()) if late.size else int(self.digit.max(initial=-1)) + 1


def event_code(digit: str) -> int:
    """The RFC 4733 event code of a DTMF digit (``0``-``9``, ``*``, ``#``, ``A``-``D``)."""
    code = DIGITS.find(digit.upper()) if len(digit) == 1 else -1
    if code < 0:
        raise ValueError(f"{digit!r} is not a DTMF digit ({DIGITS})")
    return code


def event_packets(digits: str, start_s: float, config: DtmfConfig) -> EventPackets:
    """The packets that send ``digits`` from ``start_s``, one digit every ``config.period_s``."""
    codes = np.array([event_code(d) for d in digits], dtype=np.int64)
    slots, updates = config.slots, config.updates
    digit = np.repeat(np.arange(codes.size, dtype=np.int64), slots)
    slot = np.tile(np.arange(slots, dtype=np.int64), codes.size)
    onset_s = digit * config.period_s
    tone = round(config.tone_s * config.clock_hz)
    step = round(config.interval_s * config.clock_hz)
    return EventPackets(
        digit=digit,
        code=codes[digit],
        send_s=start_s + onset_s + slot * config.interval_s,
        rtp_ts=np.rint(onset_s * config.clock_hz).astype(np.int64),
        duration=np.minimum((np.minimum(slot, updates - 1) + 1) * step, tone),
        marker=slot == 0,
        end=slot >= updates,
    )


class Detection(NamedTuple):
    """What a receiver made of a digit sequence's packets."""

    digit: IntArray  # per detection, in detection order: the sent digit it belongs to
    detect_s: FloatArray  # when it was detected (the arrival of its first packet)
    ended: BoolArray  # an end packet of it arrived (else it ended by timeout or the next event)


def detect(packets: EventPackets, recv_s: FloatArray, receiver: Receiver) -> Detection:
    """The events ``receiver`` detects among ``packets`` received at ``recv_s`` (NaN: lost).

    Packets are taken in order of arrival, ties in send order.
    """
    arrived = np.flatnonzero(~np.isnan(recv_s))
    order = arrived[np.argsort(recv_s[arrived], kind="stable")]
    digits: list[int] = []
    times: list[float] = []
    ended: list[bool] = []
    if receiver is Receiver.RFC4733:
        index_of: dict[int, int] = {}
        for i in order.tolist():
            ts = int(packets.rtp_ts[i])
            if ts not in index_of:
                index_of[ts] = len(digits)
                digits.append(int(packets.digit[i]))
                times.append(float(recv_s[i]))
                ended.append(False)
            if packets.end[i]:
                ended[index_of[ts]] = True
    else:
        current = -1  # libre's rx_event: the code of the event under way, -1 after an end
        under_way = False  # libre's rx_end is its negation
        for i in order.tolist():
            code = int(packets.code[i])
            if packets.end[i]:
                if under_way:
                    ended[-1] = True
                current, under_way = -1, False
            elif code != current:
                current, under_way = code, True
                digits.append(int(packets.digit[i]))
                times.append(float(recv_s[i]))
                ended.append(False)
    return Detection(
        np.array(digits, dtype=np.int64), np.array(times), np.array(ended, dtype=np.bool_)
    )


class DtmfCounts(NamedTuple):
    """Digits sent, detected (at least once), missed, and extra detections (duplicates)."""

    sent: int
    detected: int
    missed: int
    duplicated: int


def count_detections(sent: int, detected_digits: IntArray) -> DtmfCounts:
    """Counts of ``sent`` digits given the sent-digit index of each detection."""
    per_digit = np.bincount(detected_digits, minlength=sent)[:sent] if sent else np.zeros(0)
    detected = int(np.count_nonzero(per_digit))
    return DtmfCounts(
        sent=sent,
        detected=detected,
        missed=sent - detected,
        duplicated=int(np.maximum(per_digit - 1, 0).sum()),
    )
