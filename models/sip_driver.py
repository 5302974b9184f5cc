"""Runs a signalling flow's two ends over a ``MessageChannel`` and records every message.

A flow (a call, a registration, keep-alives) is two sans-IO endpoints: the phone, whose
messages go ``UPLINK``, and the core (the SIP proxy and registrar, and the far end
behind it), whose messages go ``DOWNLINK``. Each endpoint has an ``outbox`` of messages
to transmit, a ``deadline()`` (its earliest timer, ``inf`` when none) and handlers for
arrivals and timer expiries. :class:`FlowLoop` is the event loop of many flows at
once: it takes the earliest of every flow's deadlines and of the messages in flight (a
heap by time), hands it to its endpoint, and carries whatever the endpoints put in
their outboxes through the flow's channel, one :class:`MessageRecord` per
transmission (unless told to keep none); :func:`run_flows` runs one to its end and
:func:`run_flow` runs one flow. A message arriving at the same instant
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
import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, cast

from voipbed.models.message_channel import DOWNLINK, UPLINK, MessageChannel
from voipbed.models.sip_transaction import Outbox, SipMessage
from voipbed.models.tcp_conn import Delivery, TcpConnection
from voipbed.models.tls_handshake import TlsConnection, TlsDelivery

__all__ = [
    "Endpoint",
    "Flow",
    "FlowLoop",
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
    connection opens when its flow starts, unless it is open already; several flows may
    share it (a phone's registration, keep-alives and calls on one RFC 5626 flow), each
    message handed up with the ``token`` it was written with."""

    def __init__(self, tcp: TcpConnection, tls: TlsConnection | None = None) -> None:
        self.tcp = tcp
        self.tls = tls
        self._sent: dict[int, tuple[SipMessage, object]] = {}  # stream id -> message, token
        self.on_arrival: Callable[[float, int, SipMessage, object], None] | None = None
        if tls is None:
            tcp.on_deliver = self._tcp_delivered
        else:
            tls.on_deliver = self._tls_delivered

    def open(self, now: float) -> None:
        """Start the connection at ``now`` if it has not started."""
        if self.tcp.connect_started_at_s is None:
            (self.tls or self.tcp).connect(now)

    def write(self, now: float, direction: int, message: SipMessage, token: object) -> None:
        """Write ``message`` to the stream at ``now``; ``token`` comes back with it."""
        if self.tls is None:
            sent = self.tcp.send(now, direction, message.size_bytes, label=message.label)
        else:
            sent = self.tls.send(now, direction, message.size_bytes, label=message.label)
        self._sent[sent] = (message, token)

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
        message, token = sent
        self.on_arrival(at, direction, message, token)


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


def run_flows(
    runs: Sequence[FlowRun], *, until_s: float = math.inf, keep_records: bool = True
) -> list[list[MessageRecord]]:
    """Run many flows together, every event of every flow in time order, so that the
    channels carry their messages in the order they are sent (channels may share a path).

    Returns each flow's transmissions in the order its messages were sent (no records at
    all, and no memory spent on them, with ``keep_records`` False: for callers that read
    their flows' own results).
    """
    loop = FlowLoop(keep_records=keep_records)
    for run in runs:
        loop.add(run)
    loop.run(until_s)
    return loop.records


class FlowLoop:
    """The event loop of many flows: ``run_flows`` runs it to the end; a caller that
    interleaves other events with the flows' adds flows as it goes (``add``, from now on)
    and takes one event at a time (``next_event_s``, ``step``).

    Each flow's ends, channel and stream are looked up once, when it is added: an event
    costs a heap pop, its endpoint's handler and a look at the flow's deadlines.
    """

    __slots__ = (
        "_carriers",
        "_cores",
        "_heap",
        "_keep_records",
        "_phones",
        "_runs",
        "_scheduled",
        "_sequence",
        "_stream_at",
        "_stream_flow",
        "_stream_number",
        "_stream_of",
        "_streams",
        "_touched",
        "now",
        "records",
    )

    def __init__(self, *, keep_records: bool = True) -> None:
        self.records: list[list[MessageRecord]] = []
        self.now = -math.inf  # the time of the last event taken
        self._keep_records = keep_records
        self._heap: list[tuple[float, int, int, int, SipMessage | None, bool]] = []
        self._runs: list[FlowRun] = []
        self._phones: list[Endpoint] = []
        self._cores: list[Endpoint] = []
        self._carriers: list[Callable[[float, int, int], float | None]] = []
        self._scheduled: list[float] = []  # the timer entry each flow has on the heap
        self._stream_of: list[int] = []  # each flow's stream (its number), -1 for none
        self._streams: list[StreamTransport] = []  # by number: a stream flows may share
        self._stream_number: dict[int, int] = {}  # id(stream) -> its number
        self._stream_at: list[float] = []  # the entry each stream has on the heap
        self._stream_flow: list[int] = []  # the last flow added on each stream
        self._touched: list[int] = []  # flows a stream handed messages to in this step
        self._sequence = itertools.count()

    def add(self, run: FlowRun) -> int:
        """Start ``run`` at its ``start_s`` (not before the last event taken); its index."""
        if run.start_s < self.now:
            raise ValueError(f"a flow cannot start at {run.start_s}, before {self.now}")
        index = len(self._runs)
        self._runs.append(run)
        self._phones.append(run.flow.phone)
        self._cores.append(run.flow.core)
        self._carriers.append(run.channel.carry)
        self._stream_of.append(-1 if run.stream is None else self._number(run.stream, index))
        self.records.append([])
        self._scheduled.append(math.inf)
        heapq.heappush(self._heap, (run.start_s, _START, next(self._sequence), index, None, False))
        return index

    def _number(self, stream: StreamTransport, index: int) -> int:
        """``stream``'s number, a new one the first time; flow ``index`` is its latest."""
        number = self._stream_number.get(id(stream))
        if number is None:
            number = len(self._streams)
            self._stream_number[id(stream)] = number
            self._streams.append(stream)
            self._stream_at.append(math.inf)
            self._stream_flow.append(index)
            stream.on_arrival = self._stream_arrived
        self._stream_flow[number] = index
        return number

    def next_event_s(self) -> float:
        """When the next event is due (infinity: none is left)."""
        return self._heap[0][0] if self._heap else math.inf

    def run(self, until_s: float = math.inf) -> None:
        """Take events until none is left or the next is after ``until_s``."""
        heap, step = self._heap, self.step
        while heap and heap[0][0] <= until_s:
            step()

    def step(self) -> int:
        """Take the next event; the index of its flow."""
        now, rank, _, index, message, to_phone = heapq.heappop(self._heap)
        self.now = now
        if message is not None:
            (self._phones[index] if to_phone else self._cores[index]).on_message(now, message)
        elif rank == _TIMER:
            scheduled = self._scheduled
            if scheduled[index] != now:
                return index  # an earlier timer entry of the flow, since replaced
            scheduled[index] = math.inf
            phone, core = self._phones[index], self._cores[index]
            (phone if phone.deadline() <= core.deadline() else core).on_timer(now)
        elif rank == _STREAM:  # ``index`` is the stream's number
            number = index
            index = self._stream_flow[number]
            if self._stream_at[number] != now:
                return index  # an earlier entry of the stream, since replaced
            self._stream_at[number] = math.inf
            self._streams[number].step()
            touched = self._touched
            if touched:
                index = touched[-1]
            self._touched = []
            for flow in touched:
                self._settle(flow, now)
            self._schedule_stream(number)
            return index
        else:
            number = self._stream_of[index]
            if number >= 0:
                self._streams[number].open(now)
            self._runs[index].flow.start(now)
        self._settle(index, now)
        if self._touched:  # a write handed up what a stream held (another flow's, maybe)
            touched, self._touched = self._touched, []
            for flow in touched:
                self._settle(flow, now)
        return index

    def _transmit(self, index: int, outbox: Outbox, direction: int, now: float) -> None:
        carry = self._carriers[index]
        number = self._stream_of[index]
        stream = self._streams[number] if number >= 0 else None
        records = self.records[index]
        to_phone = direction == DOWNLINK
        reachable = self._runs[index].reachable if to_phone else None
        blocked = reachable is not None and not reachable(now)
        for message, retransmission in outbox:
            if stream is not None and not blocked:
                stream.write(now, direction, message, (index, len(records)))
                arrival = None  # until the stream hands it up
            else:
                arrival = None if blocked else carry(now, message.size_bytes, direction)
            if self._keep_records:
                records.append(_record(now, arrival, direction, message, retransmission, blocked))
            if arrival is not None:
                if arrival < now:
                    raise ValueError(f"the channel delivered at {arrival} a message sent at {now}")
                entry = (arrival, _ARRIVAL, next(self._sequence), index, message, to_phone)
                heapq.heappush(self._heap, entry)
        outbox.clear()

    def _settle(self, index: int, now: float) -> None:
        """Send what the flow's ends want sent, and put its next timer on the heap."""
        phone, core = self._phones[index], self._cores[index]
        if phone.outbox:
            self._transmit(index, phone.outbox, UPLINK, now)
        if core.outbox:
            self._transmit(index, core.outbox, DOWNLINK, now)
        due = phone.deadline()
        core_due = core.deadline()
        if core_due < due:
            due = core_due
        if due != self._scheduled[index]:
            self._scheduled[index] = due
            if due < math.inf:
                heapq.heappush(self._heap, (due, _TIMER, next(self._sequence), index, None, False))
        number = self._stream_of[index]
        if number >= 0:
            self._schedule_stream(number)

    def _schedule_stream(self, number: int) -> None:
        """Put stream ``number``'s next event on the heap, if it changed."""
        due = self._streams[number].next_event_s()
        if due != self._stream_at[number]:
            self._stream_at[number] = due
            if due < math.inf:
                entry = (due, _STREAM, next(self._sequence), number, None, False)
                heapq.heappush(self._heap, entry)

    def _stream_arrived(
        self, at: float, direction: int, message: SipMessage, token: object
    ) -> None:
        """A stream handed ``message`` up: to its flow's end (``token``: flow, record)."""
        index, record = cast(tuple[int, int], token)
        if self._keep_records:
            records = self.records[index]
            records[record] = replace(records[record], arrival_s=at)
        (self._phones[index] if direction == DOWNLINK else self._cores[index]).on_message(
            at, message
        )
        if index not in self._touched:
            self._touched.append(index)


def _record(
    now: float,
    arrival: float | None,
    direction: int,
    message: SipMessage,
    retransmission: bool,
    unreachable: bool,
) -> MessageRecord:
    return MessageRecord(
        now,
        arrival,
        direction,
        message.label,
        message.method,
        message.cseq,
        message.branch,
        retransmission,
        message.size_bytes,
        unreachable,
    )


def count_retransmissions(records: Iterable[MessageRecord]) -> dict[str, int]:
    """How many retransmissions of each label (method or status code) the records hold."""
    return dict(Counter(record.label for record in records if record.retransmission))
