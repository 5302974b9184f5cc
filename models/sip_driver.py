"""Runs a signalling flow's two ends over a ``MessageChannel`` and records every message.

A flow (a call, a registration, keep-alives) is two sans-IO endpoints: the phone, whose
messages go ``UPLINK``, and the core (the SIP proxy and registrar, and the far end
behind it), whose messages go ``DOWNLINK``. Each endpoint has an ``outbox`` of messages
to transmit, a ``deadline()`` (its earliest timer, ``inf`` when none) and handlers for
arrivals and timer expiries. :func:`run_flows` is the event loop of many flows at
once: it takes the earliest of every flow's deadlines and of the messages in flight (a
heap by time), hands it to its endpoint, and carries whatever the endpoints put in
their outboxes through the flow's channel, one :class:`MessageRecord` per
transmission; :func:`run_flow` runs one flow. A message arriving at the same instant
as a timer is handled first (it was already there when the timer fired). A flow over
TCP or TLS (:class:`StreamTransport`) writes its messages to the connection, whose
events join the heap; a message arrives when the stream hands it up.

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
from dataclasses import dataclass, replace
from typing import Protocol

from voipbed.models.message_channel import DOWNLINK, UPLINK, MessageChannel
from voipbed.models.sip_transaction import Outbox, SipMessage
from voipbed.models.tcp_conn import Delivery, TcpConnection
from voipbed.models.tls_handshake import TlsConnection, TlsDelivery

__all__ = [
    "Endpoint",
    "Flow",
    "FlowRun",
    "MessageRecord",
    "StreamTransport",
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


class StreamTransport:
    """SIP over a TCP connection, or TLS on one: each message is written to the stream when
    sent and reaches the other end when the stream hands it up, in order, after any
    retransmission of its segments (or never, when the connection fails first). The
    connection opens when its flow starts, unless it is open already."""

    def __init__(self, tcp: TcpConnection, tls: TlsConnection | None = None) -> None:
        self.tcp = tcp
        self.tls = tls
        self._sent: dict[int, tuple[SipMessage, int]] = {}  # stream id -> message, record
        self.on_arrival: Callable[[float, int, SipMessage, int], None] | None = None
        if tls is None:
            tcp.on_deliver = self._tcp_delivered
        else:
            tls.on_deliver = self._tls_delivered

    def open(self, now: float) -> None:
        """Start the connection at ``now`` if it has not started."""
        if self.tcp.connect_started_at_s is None:
            (self.tls or self.tcp).connect(now)

    def write(self, now: float, direction: int, message: SipMessage, record: int) -> None:
        """Write ``message`` (the flow's record number ``record``) to the stream at ``now``."""
        if self.tls is None:
            sent = self.tcp.send(now, direction, message.size_bytes, label=message.label)
        else:
            sent = self.tls.send(now, direction, message.size_bytes, label=message.label)
        self._sent[sent] = (message, record)

    def next_event_s(self) -> float:
        """When the connection next has something to do (inf: nothing)."""
        at = self.tcp.next_event_s
        return math.inf if at is None else at

    def step(self) -> None:
        """Run the connection's next event (it may hand messages up)."""
        self.tcp.step()

    def _tcp_delivered(self, tcp: TcpConnection, delivery: Delivery) -> None:
        self._arrived(delivery.message_id, delivery.direction, delivery.delivered_at_s)

    def _tls_delivered(self, tls: TlsConnection, delivery: TlsDelivery) -> None:
        self._arrived(delivery.message_id, delivery.direction, delivery.delivered_at_s)

    def _arrived(self, stream_id: int, direction: int, at: float | None) -> None:
        sent = self._sent.pop(stream_id, None)
        if sent is None or at is None or self.on_arrival is None:
            return
        message, record = sent
        self.on_arrival(at, direction, message, record)


@dataclass(frozen=True)
class FlowRun:
    """A flow to run: from ``start_s``, over ``channel`` (datagrams: each message carried
    on its own), or over ``stream`` when it is given, with its ``reachable`` predicate
    (``run_flow``'s arguments)."""

    flow: Flow
    channel: MessageChannel
    start_s: float = 0.0
    reachable: Callable[[float], bool] | None = None
    stream: StreamTransport | None = None


_START, _ARRIVAL, _TIMER, _STREAM = 0, 0, 1, 2  # at one instant: arrivals, timers, streams


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
    stream_at = [math.inf] * len(runs)  # the stream entry each flow has on the heap
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
            if run.stream is not None and not blocked:
                run.stream.write(now, direction, message, len(records[index]))
                arrival = None  # until the stream hands it up
            else:
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

    phones = [run.flow.phone for run in runs]
    cores = [run.flow.core for run in runs]

    def settle(index: int, now: float) -> None:
        """Send what the flow's ends want sent, and put its next timer on the heap."""
        phone, core = phones[index], cores[index]
        if phone.outbox:
            transmit(index, phone.outbox, UPLINK, now)
        if core.outbox:
            transmit(index, core.outbox, DOWNLINK, now)
        due = min(phone.deadline(), core.deadline())
        if due != scheduled[index]:
            scheduled[index] = due
            if due < math.inf:
                push(due, _TIMER, index, None, False)
        stream = runs[index].stream
        if stream is not None:
            due = stream.next_event_s()
            if due != stream_at[index]:
                stream_at[index] = due
                if due < math.inf:
                    push(due, _STREAM, index, None, False)

    def streamed(index: int) -> Callable[[float, int, SipMessage, int], None]:
        def arrived(at: float, direction: int, message: SipMessage, record: int) -> None:
            records[index][record] = replace(records[index][record], arrival_s=at)
            flow = runs[index].flow
            (flow.phone if direction == DOWNLINK else flow.core).on_message(at, message)

        return arrived

    for index, run in enumerate(runs):
        if run.stream is not None:
            run.stream.on_arrival = streamed(index)

    for index, run in enumerate(runs):
        push(run.start_s, _START, index, None, False)
    while heap:
        now, rank, _, index, message, to_phone = heapq.heappop(heap)
        if now > until_s:
            break
        if message is not None:
            (phones[index] if to_phone else cores[index]).on_message(now, message)
        elif rank == _TIMER:
            if scheduled[index] != now:
                continue  # an earlier timer entry of the flow, since replaced
            scheduled[index] = math.inf
            if phones[index].deadline() <= cores[index].deadline():
                phones[index].on_timer(now)
            else:
                cores[index].on_timer(now)
        elif rank == _STREAM:
            stream = runs[index].stream
            if stream is None or stream_at[index] != now:
                continue  # an earlier entry of the stream, since replaced
            stream_at[index] = math.inf
            stream.step()
        else:
            stream = runs[index].stream
            if stream is not None:
                stream.open(now)
            runs[index].flow.start(now)
        settle(index, now)
    return records


def count_retransmissions(records: Iterable[MessageRecord]) -> dict[str, int]:
    """How many retransmissions of each label (method or status code) the records hold."""
    return dict(Counter(record.label for record in records if record.retransmission))
