"""Runs a signalling flow's two ends over a ``MessageChannel`` and records every message.

A flow (a call, a registration, keep-alives) is two sans-IO endpoints: the phone, whose
messages go ``UPLINK``, and the core (the SIP proxy and registrar, and the far end
behind it), whose messages go ``DOWNLINK``. Each endpoint has an ``outbox`` of messages
to transmit, a ``deadline()`` (its earliest timer, ``inf`` when none) and handlers for
arrivals and timer expiries. :func:`run_flow` is the event loop: it takes the earliest
of the two deadlines and of the messages in flight (a heap by arrival time), hands it
to its endpoint, and carries whatever the endpoints put in their outboxes through the
channel, one :class:`MessageRecord` per transmission. A message arriving at the same
instant as a timer is handled first (it was already there when the timer fired).

``reachable(t)`` (optional) decides whether a downlink message sent at ``t`` can reach
the phone at all (a NAT binding, for instance): when it says no, the message is lost
before the channel and recorded with ``unreachable`` set. Whether the transport is
reliable is the flow's business (its transactions' ``reliable`` flag); the driver
carries what it is given.

The records hold what a ladder diagram needs: when sent, when it arrived (None: lost),
direction, label (method or status code), CSeq, Via branch, retransmission flag, size.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from voipbed.models.message_channel import DOWNLINK, UPLINK, MessageChannel
from voipbed.models.sip_transaction import Outbox, SipMessage

__all__ = ["Endpoint", "Flow", "MessageRecord", "count_retransmissions", "run_flow"]


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One transmission: when, which way, what, and whether (and when) it arrived."""

    sent_s: float
    arrival_s: float | None
    direction: int
    label: str
    method: str
    cseq: int
    branch: str
    retransmission: bool
    size_bytes: int
    unreachable: bool = False

    @property
    def lost(self) -> bool:
        """Whether the message never arrived."""
        return self.arrival_s is None


class Endpoint(Protocol):
    """One end of a flow: what it wants sent, its next timer, and its handlers."""

    outbox: Outbox

    def deadline(self) -> float:
        """The time of its earliest running timer, ``inf`` when none runs."""
        ...

    def on_timer(self, now: float) -> None:
        """Fire whatever is due at ``now``."""
        ...

    def on_message(self, now: float, message: SipMessage) -> None:
        """Take a message that arrived at ``now``."""
        ...


class Flow(Protocol):
    """A signalling exchange between the phone and the core."""

    @property
    def phone(self) -> Endpoint:
        """The phone's end (sends uplink)."""
        ...

    @property
    def core(self) -> Endpoint:
        """The core's end (sends downlink)."""
        ...

    def start(self, now: float) -> None:
        """Begin the exchange at ``now`` (fills the outboxes, starts the timers)."""
        ...


def run_flow(
    flow: Flow,
    channel: MessageChannel,
    *,
    start_s: float = 0.0,
    until_s: float = math.inf,
    reachable: Callable[[float], bool] | None = None,
) -> list[MessageRecord]:
    """Run ``flow`` from ``start_s`` until nothing is left to happen or ``until_s``.

    Returns every transmission in the order the messages were sent.
    """
    phone, core = flow.phone, flow.core
    records: list[MessageRecord] = []
    in_flight: list[tuple[float, int, bool, SipMessage]] = []  # (arrival, seq, to_phone, msg)
    sequence = 0
    carry = channel.carry
    append = records.append

    def transmit(outbox: Outbox, direction: int, now: float) -> None:
        nonlocal sequence
        to_phone = direction == DOWNLINK
        for message, retransmission in outbox:
            blocked = to_phone and reachable is not None and not reachable(now)
            arrival = None if blocked else carry(now, message.size_bytes, direction)
            append(
                MessageRecord(
                    now,
                    arrival,
                    direction,
                    message.label,
                    message.method,
                    message.cseq,
                    message.branch,
                    retransmission,
                    message.size_bytes,
                    blocked,
                )
            )
            if arrival is not None:
                if arrival < now:
                    raise ValueError(f"the channel delivered at {arrival} a message sent at {now}")
                heapq.heappush(in_flight, (arrival, sequence, to_phone, message))
                sequence += 1
        outbox.clear()

    flow.start(start_s)
    transmit(phone.outbox, UPLINK, start_s)
    transmit(core.outbox, DOWNLINK, start_s)
    while True:
        phone_at = phone.deadline()
        core_at = core.deadline()
        message_at = in_flight[0][0] if in_flight else math.inf
        now = min(phone_at, core_at, message_at)
        if now == math.inf or now > until_s:
            break
        if message_at <= phone_at and message_at <= core_at:
            _, _, to_phone, message = heapq.heappop(in_flight)
            (phone if to_phone else core).on_message(now, message)
        elif phone_at <= core_at:
            phone.on_timer(now)
        else:
            core.on_timer(now)
        if phone.outbox:
            transmit(phone.outbox, UPLINK, now)
        if core.outbox:
            transmit(core.outbox, DOWNLINK, now)
    return records


def count_retransmissions(records: Iterable[MessageRecord]) -> dict[str, int]:
    """How many retransmissions of each label (method or status code) the records hold."""
    return dict(Counter(record.label for record in records if record.retransmission))
