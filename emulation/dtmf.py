"""DTMF in the emulation: callers' baresip send RFC 4733 digits, the far ends' baresip detect them.

Each digit of ``scenario.dtmf`` is one ``sndcode`` command to the caller's
ctrl_tcp at its onset (the call's answer plus ``start``, one digit every
tone + gap). baresip 1.0's menu hands the digit and a key release to libre's
telev, which sends it at the audio's ptime: 9 packets (the first with the
marker bit), then the end packet 3 times (libre ``telev.c``: ``TXC_DIGIT_MIN``
9, ``TXC_END`` 3), so the tone is 9 ptimes whatever ``dtmf.tone`` says. The
callee's baresip detects with libre's ``telev_recv`` (``Receiver.EVENT_CODE``
in ``models.dtmf``) and reports each event's start as a ``CALL_DTMF_START``
ctrl_tcp event whose ``param`` is the digit (checked on Debian 12's 1.0.0).

A detection belongs to the latest digit of its code sent before it arrived;
one of a code never sent belongs to no digit (counted as a duplicate). The
telephone events are RTP packets of the uplink flow with a 4-byte payload
(RFC 4733 clause 2.3): ``split_event_rows`` takes them out of the packets
table, so voice is scored without them, and counts them per flow.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from voipbed.emulation.stacks.baresip import BaresipControl
from voipbed.metric_names import EventKind
from voipbed.models.dtmf import PAYLOAD_BYTES, Receiver, count_detections
from voipbed.scenario_dtmf import Dtmf

__all__ = [
    "DTMF_START",
    "DigitSend",
    "DtmfRun",
    "attribute_detections",
    "digit_schedule",
    "split_event_rows",
]

Event = tuple[float, str, int, dict[str, Any]]

SETTLE_S = 1.0
"""Reading the callees' events this long after the last digit: its packets and detection."""

DTMF_START = "CALL_DTMF_START"
"""The ctrl_tcp event baresip 1.0 sends when a telephone event starts; ``param``: the digit."""


@dataclass(frozen=True)
class DigitSend:
    """One digit to send: its call, its index in the sequence, the digit, and when (since t0)."""

    call: int
    index: int
    digit: str
    at_s: float


def digit_schedule(
    section: Dtmf, answered_s: dict[int, float], end_s: dict[int, float]
) -> list[DigitSend]:
    """Every digit of every answered call (``answered_s``: call -> answer time) whose packets
    all go before its call's end (``end_s``), as in the simulator; by time."""
    config = section.config()
    last_packet_s = (config.slots - 1) * config.interval_s
    sends = [
        DigitSend(call, index, digit, start_s + section.start_s + index * config.period_s)
        for call, start_s in answered_s.items()
        for index, digit in enumerate(section.digits)
    ]
    kept = [send for send in sends if send.at_s + last_packet_s < end_s[send.call]]
    return sorted(kept, key=lambda send: (send.at_s, send.call))


def attribute_detections(
    sent: Sequence[tuple[str, float]], detected: Sequence[tuple[str, float]]
) -> NDArray[np.int64]:
    """For each detection ``(digit, time)``, the index of the sent ``(digit, time)`` it belongs
    to: the latest of that digit sent at or before it; -1 when none was."""
    owners = []
    for digit, time_s in detected:
        candidates = [
            i
            for i, (sent_digit, sent_s) in enumerate(sent)
            if sent_digit == digit and sent_s <= time_s
        ]
        owners.append(candidates[-1] if candidates else -1)
    return np.array(owners, dtype=np.int64)


def split_event_rows(packets: pa.Table) -> tuple[pa.Table, pa.Table]:
    """The packets table without its telephone events, and the telephone events' rows."""
    events = pc.equal(packets.column("payload_bytes"), PAYLOAD_BYTES)
    return packets.filter(pc.invert(events)), packets.filter(events)


class DtmfRun:
    """The digits of a run's calls: sent at their times through the callers' ctrl_tcp, with
    the callees' events read as they come (so each detection has its arrival time)."""

    def __init__(self, section: Dtmf) -> None:
        self.section = section
        self.sends: list[tuple[DigitSend, float]] = []  # each digit and when it went (monotonic)
        self.far: dict[int, BaresipControl] = {}

    def send(
        self,
        answered_s: dict[int, float],
        end_s: dict[int, float],
        callers: dict[int, BaresipControl],
        callees: dict[int, BaresipControl],
        t0: float,
        read_until: Callable[[float, Sequence[BaresipControl]], None],
    ) -> None:
        """Send every digit of the answered calls (``answered_s``: call -> answer since
        ``t0``; ``end_s``: call -> planned end) at its time, reading every control meanwhile,
        then ``SETTLE_S`` more."""
        self.far = {call: callees[call] for call in answered_s}
        watched = [*callers.values(), *callees.values()]
        last_s = t0
        for digit in digit_schedule(self.section, answered_s, end_s):
            read_until(t0 + digit.at_s, watched)
            callers[digit.call].command("sndcode", digit.digit)
            last_s = time.monotonic()
            self.sends.append((digit, last_s))
        read_until(last_s + SETTLE_S, watched)

    def events(self, event_rows: pa.Table, t0: float) -> list[Event]:
        """One ``dtmf`` event per call that sent digits, as the simulator writes it, after its
        last digit; ``event_rows``: the telephone-event rows of the packets table."""
        flows = event_rows.column("flow").to_numpy()
        received = ~np.isnan(event_rows.column("recv_s").to_numpy(zero_copy_only=False))
        found: list[Event] = []
        for call, control in self.far.items():
            sent = [(send.digit, at) for send, at in self.sends if send.call == call]
            starts = [
                (e.param.upper(), e.received_s) for e in control.events if e.type == DTMF_START
            ]
            owners = attribute_detections(sent, starts)
            counts = count_detections(len(sent), owners[owners >= 0])
            counts = counts._replace(duplicated=counts.duplicated + int(np.sum(owners < 0)))
            mine = flows == 2 * call
            fields: dict[str, Any] = {
                "flow": 2 * call,
                "direction": "uplink",
                "receiver": Receiver.EVENT_CODE.value,
                "packets_sent": int(np.count_nonzero(mine)),
                "packets_received": int(np.count_nonzero(mine & received)),
                **counts._asdict(),
            }
            last_s = max((at for _, at in sent), default=t0) - t0
            found.append((last_s, EventKind.DTMF, call, fields))
        return found
