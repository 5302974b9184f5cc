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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from voipbed.models.message_channel import DOWNLINK, UPLINK, MessageChannel
from voipbed.models.sip_transaction import Outbox, SipMessage

__all__ = [
    "Endpoint",
    "Flow",
    "FlowRun",
    "MessageRecord",
    "count_retransmissions",
    "run_flow",
    "run_flows",
]


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


@dataclass(frozen=True)
class FlowRun:
    """A flow to run: from ``start_s``, over ``channel``, with its ``reachable`` predicate
    (``run_flow``'s arguments)."""

    flow: Flow
    channel: MessageChannel
    start_s: float = 0.0
    reachable: Callable[[float], bool] | None = None


_START, _ARRIVAL, _TIMER = 0, 0, 1  # at one instant: starts and arrivals before timers


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
    return run_flows([FlowRun(flow, channel, start_s, reachable)], until_s=until_s)[0]


def run_flows(runs: Sequence[FlowRun], *, until_s: float = math.inf) -> list[list[MessageRecord]]:
    """Run many flows together, every event of every flow in time order, so that the
    channels carry their messages in the order they are sent (channels may share a path).

    Returns each flow's transmissions in the order its messages were sent.
    """
    records: list[list[MessageRecord]] = [[] for _ in runs]
    heap: list[tuple[float, int, int, int, SipMessage | None, bool]] = []
    scheduled = [math.inf] * len(runs)  # the timer entry each flow has on the heap
    sequence = 0

    def push(
        time: float, rank: int, index: int, message: SipMessage | None, to_phone: bool
    ) -> None:
        nonlocal sequence
        heapq.heappush(heap, (time, rank, sequence, index, message, to_phone))
        sequence += 1

    def transmit(index: int, outbox: Outbox, direction: int, now: float) -> None:
        run = runs[index]
        to_phone = direction == DOWNLINK
        append = records[index].append
        for message, retransmission in outbox:
            blocked = to_phone and run.reachable is not None and not run.reachable(now)
            arrival = None if blocked else run.channel.carry(now, message.size_bytes, direction)
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
                push(arrival, _ARRIVAL, index, message, to_phone)
        outbox.clear()

    def settle(index: int, now: float) -> None:
        """Send what the flow's ends want sent, and put its next timer on the heap."""
        flow = runs[index].flow
        if flow.phone.outbox:
            transmit(index, flow.phone.outbox, UPLINK, now)
        if flow.core.outbox:
            transmit(index, flow.core.outbox, DOWNLINK, now)
        due = min(flow.phone.deadline(), flow.core.deadline())
        if due != scheduled[index]:
            scheduled[index] = due
            if due < math.inf:
                push(due, _TIMER, index, None, False)

    for index, run in enumerate(runs):
        push(run.start_s, _START, index, None, False)
    while heap:
        now, rank, _, index, message, to_phone = heapq.heappop(heap)
        if now > until_s:
            break
        flow = runs[index].flow
        if message is not None:
            (flow.phone if to_phone else flow.core).on_message(now, message)
        elif rank == _TIMER:
            if scheduled[index] != now:
                continue  # an earlier timer entry of the flow, since replaced
            scheduled[index] = math.inf
            if flow.phone.deadline() <= flow.core.deadline():
                flow.phone.on_timer(now)
            else:
                flow.core.on_timer(now)
        else:
            flow.start(now)
        settle(index, now)
    return records


def count_retransmissions(records: Iterable[MessageRecord]) -> dict[str, int]:
    """How many retransmissions of each label (method or status code) the records hold."""
    return dict(Counter(record.label for record in records if record.retransmission))
