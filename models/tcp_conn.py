"""A TCP connection between the phone and the SIP core, run over a :class:`MessageChannel`.

:class:`TcpConnection` drives two :class:`~voipbed.models.tcp_endpoint.TcpEndpoint`
machines, the phone (client, sending ``UPLINK``) and the core (server, ``DOWNLINK``), in
time order from a heap of events: segment arrivals, timer expiries and application calls.
Every segment, ACKs included, is one message on the channel in its direction with its
IP + TCP header bytes, so the path's radio and queues see it; the channel's answer (an
arrival time or a loss) is the segment's fate.

Application messages are sizes (or byte strings) written to the stream with an id; the
receiving endpoint holds out-of-order segments and a message is handed up only when all
its bytes and every byte before it arrived, so a lost segment holds back the messages
behind it (head-of-line blocking). Each message ends as a :class:`Delivery`: its id,
direction, size, when it was written and handed up (None when the connection failed
first), and how many retransmitted segments carried its bytes. ``on_deliver`` is called
at that moment and may send more (a SIP server answering a request); ``on_established``
is called when the phone's end completes the handshake (a TLS handshake starts there).

The connection is reused for any number of messages in both directions; an idle one
stays open (a NAT in front of it is another model's business). ``close`` sends the
phone's (or the core's) FIN after its data; the other end closes in turn once the FIN
arrives, and a message written to it after that fails (it is reported undelivered).
The connection fails when the phone gives up its SYNs, when either end gives up
retransmitting data, or when the core drops a half-open connection the phone believes
established (all its ACKs were lost: the phone would meet a reset when it next sends).
``timeline`` (when ``keep_timeline``) lists every segment as a
:class:`SegmentRecord`, enough to draw a ladder diagram.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from voipbed.models.message_channel import DOWNLINK, UPLINK, MessageChannel
from voipbed.models.tcp_endpoint import Segment, SegmentKind, TcpConfig, TcpEndpoint, TcpState

__all__ = ["Delivery", "SegmentRecord", "TcpConnection"]

_ARRIVE, _TIMER, _WRITE, _CLOSE = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of one application message."""

    message_id: int
    direction: int  # UPLINK: phone to core
    size_bytes: int
    label: str
    sent_at_s: float  # when the application wrote it
    delivered_at_s: float | None  # when the receiver handed it up; None: failed
    retransmissions: int  # retransmitted segments that carried its bytes

    @property
    def delivered(self) -> bool:
        """True when the message reached the other application."""
        return self.delivered_at_s is not None


@dataclass(frozen=True, slots=True)
class SegmentRecord:
    """One segment on the channel: a row of the ladder diagram."""

    sent_at_s: float
    direction: int
    kind: SegmentKind
    seq: int
    length: int
    ack: int
    wire_bytes: int
    arrival_s: float | None  # None: the channel lost it
    retransmission: bool


class _Message:
    __slots__ = ("direction", "end", "label", "message_id", "retransmissions", "sent_at", "size")

    def __init__(
        self, message_id: int, direction: int, size: int, label: str, sent_at: float, end: int
    ) -> None:
        self.message_id = message_id
        self.direction = direction
        self.size = size
        self.label = label
        self.sent_at = sent_at
        self.end = end
        self.retransmissions = 0


DeliverCallback = Callable[["TcpConnection", Delivery], None]
TimeCallback = Callable[["TcpConnection", float], None]


class TcpConnection:
    """The phone's and the core's ends of one connection over ``channel``.

    ``config`` is the phone's TCP, ``server_config`` the core's (the phone's when None);
    ``start_s`` is the connection's clock at creation (its first event may not be earlier).
    """

    def __init__(
        self,
        channel: MessageChannel,
        config: TcpConfig | None = None,
        *,
        server_config: TcpConfig | None = None,
        keep_timeline: bool = True,
        on_deliver: DeliverCallback | None = None,
        on_established: TimeCallback | None = None,
        on_failed: TimeCallback | None = None,
        start_s: float = 0.0,
    ) -> None:
        self.channel = channel
        cfg = config or TcpConfig()
        self.client = TcpEndpoint(cfg)
        self.server = TcpEndpoint(server_config or cfg)
        self.server.listen()
        self._ends = (self.client, self.server)
        self.on_deliver = on_deliver
        self.on_established = on_established
        self.on_failed = on_failed
        self.keep_timeline = keep_timeline
        self.timeline: list[SegmentRecord] = []
        self.deliveries: list[Delivery] = []
        self.now_s = start_s  # nothing may happen before it
        self.connect_started_at_s: float | None = None
        self.established_at_s: float | None = None  # the phone's end
        self.server_established_at_s: float | None = None
        self.failed_at_s: float | None = None
        self.closed_at_s: float | None = None
        self._heap: list[tuple[float, int, int, int, object]] = []
        self._order = 0
        self._armed = [math.inf, math.inf]  # earliest timer entry queued per end
        self._pending: tuple[deque[_Message], deque[_Message]] = (deque(), deque())
        self._in_stream: tuple[deque[_Message], deque[_Message]] = (deque(), deque())
        self._next_id = 0

    # --- application calls -------------------------------------------------------------

    def connect(self, at_s: float = 0.0) -> None:
        """Start the handshake at ``at_s`` (the phone sends its SYN)."""
        if self.connect_started_at_s is not None:
            raise ValueError("connect() was already called")
        self._check_time(at_s)
        self.connect_started_at_s = at_s
        self._push(at_s, _WRITE, 0, None)

    def send(
        self,
        at_s: float,
        direction: int,
        message: bytes | int,
        *,
        label: str = "",
        message_id: int | None = None,
    ) -> int:
        """Write a message (its bytes, or its size) in ``direction`` at ``at_s``; its id.

        A message written once its side has closed (or the connection failed) is reported
        undelivered.
        """
        size = len(message) if isinstance(message, bytes) else int(message)
        if size < 1:
            raise ValueError(f"a message needs at least 1 byte, got {size}")
        if direction not in (UPLINK, DOWNLINK):
            raise ValueError(f"direction must be UPLINK or DOWNLINK, got {direction}")
        self._check_time(at_s)
        if message_id is None:
            message_id = self._next_id
        self._next_id = max(self._next_id, message_id) + 1
        self._push(at_s, _WRITE, direction + 1, (message_id, size, label))
        return message_id

    def close(self, at_s: float, direction: int = UPLINK) -> None:
        """Send a FIN from the phone (``UPLINK``) or the core after what it wrote."""
        if direction not in (UPLINK, DOWNLINK):
            raise ValueError(f"direction must be UPLINK or DOWNLINK, got {direction}")
        self._check_time(at_s)
        self._push(at_s, _CLOSE, direction, None)

    def _check_time(self, at_s: float) -> None:
        if not math.isfinite(at_s):
            raise ValueError(f"time must be finite, got {at_s}")
        if at_s < self.now_s:
            raise ValueError(f"time {at_s} s is before the connection's time {self.now_s} s")

    def abort(self, at_s: float) -> None:
        """Give the connection up at ``at_s``: nothing more is sent, undelivered messages fail.

        Events before ``at_s`` are processed first.
        """
        heap = self._heap
        while heap and heap[0][0] < at_s and self.failed_at_s is None:
            self.step()
        self._fail(max(at_s, self.now_s))

    # --- running -----------------------------------------------------------------------

    @property
    def next_event_s(self) -> float | None:
        """Time of the next event, None when nothing is left to do."""
        return self._heap[0][0] if self._heap else None

    @property
    def connected_at_s(self) -> float | None:
        """When the phone's end completed the handshake (alias of ``established_at_s``)."""
        return self.established_at_s

    def run(self, until_s: float = math.inf) -> None:
        """Process events in time order up to and including ``until_s``."""
        heap = self._heap
        while heap and heap[0][0] <= until_s:
            self.step()

    def step(self) -> None:
        """Process the next event."""
        at, _, kind, which, payload = heapq.heappop(self._heap)
        if kind == _TIMER:
            if at >= self._armed[which]:
                self._armed[which] = math.inf
            end = self._ends[which]
            if end.deadline_s > at:  # a timer since stopped or moved later
                self._rearm(which)
                return
            self.now_s = at
            end.on_timer(at)
            self._after(which, at)
            return
        self.now_s = at
        if kind == _ARRIVE:
            seg = cast(Segment, payload)
            self._ends[which].on_segment(at, seg)
            self._after(which, at)
            if seg.length:
                self._deliver(1 - which, at)
        elif kind == _WRITE:
            self._write(at, which, payload)
        else:
            self._ends[which].close(at)
            self._after(which, at)

    # --- internals ---------------------------------------------------------------------

    def _push(self, at: float, kind: int, which: int, payload: object) -> None:
        self._order += 1
        heapq.heappush(self._heap, (at, self._order, kind, which, payload))

    def _write(self, at: float, which: int, payload: object) -> None:
        if which == 0:  # connect
            self.client.connect(at)
            self._after(0, at)
            return
        direction = which - 1
        message_id, size, label = cast(tuple[int, int, str], payload)
        if self.failed_at_s is not None or self._ends[direction].closing:
            self._record(_Message(message_id, direction, size, label, at, 0), None)
            return
        end = self._ends[direction].write(at, size)
        message = _Message(message_id, direction, size, label, at, end)
        self._pending[direction].append(message)
        self._in_stream[direction].append(message)
        self._after(direction, at)

    def _after(self, which: int, at: float) -> None:
        """Send what endpoint ``which`` queued, note state changes, re-arm its timer."""
        end = self._ends[which]
        if end.outbox:
            out = end.outbox
            end.outbox = []
            for seg in out:
                self._transmit(which, at, seg)
        if self.established_at_s is None and self.client.state is TcpState.ESTABLISHED:
            self.established_at_s = at
            if self.on_established is not None:
                self.on_established(self, at)
        if self.server_established_at_s is None and self.server.state is TcpState.ESTABLISHED:
            self.server_established_at_s = at
        half_open = self.server.state is TcpState.LISTEN and self.client.established
        if (end.state is TcpState.FAILED or half_open) and self.failed_at_s is None:
            self._fail(at)
            return
        if end.peer_fin and not end.closing:
            end.close(at)  # the application closes in turn
            self._after(which, at)
            return
        if (
            self.closed_at_s is None
            and self.client.fin_acked
            and self.server.fin_acked
            and self.client.peer_fin
            and self.server.peer_fin
        ):
            self.closed_at_s = at
        self._rearm(which)

    def _rearm(self, which: int) -> None:
        deadline = self._ends[which].deadline_s
        if deadline < self._armed[which]:
            self._armed[which] = deadline
            self._push(deadline, _TIMER, which, None)

    def _transmit(self, which: int, at: float, seg: Segment) -> None:
        arrival = self.channel.carry(at, seg.wire_bytes, which)
        if self.keep_timeline:
            self.timeline.append(
                SegmentRecord(
                    at,
                    which,
                    seg.kind,
                    seg.seq,
                    seg.length,
                    seg.ack,
                    seg.wire_bytes,
                    arrival,
                    seg.retransmission,
                )
            )
        if seg.retransmission and seg.length:
            self._count_retransmission(which, seg)
        if arrival is not None:
            self._push(arrival, _ARRIVE, 1 - which, seg)

    def _count_retransmission(self, direction: int, seg: Segment) -> None:
        start, stop = seg.seq, seg.seq + seg.length
        stream = self._in_stream[direction]
        acked = self._ends[direction].snd_una
        while stream and stream[0].end <= acked:
            stream.popleft()  # acknowledged: never resent again
        for message in stream:
            if message.end - message.size >= stop:
                break
            if message.end > start:
                message.retransmissions += 1

    def _deliver(self, direction: int, at: float) -> None:
        pending = self._pending[direction]
        received = self._ends[1 - direction].rcv_nxt
        while pending and pending[0].end <= received:
            self._record(pending.popleft(), at)

    def _record(self, message: _Message, at: float | None) -> None:
        delivery = Delivery(
            message.message_id,
            message.direction,
            message.size,
            message.label,
            message.sent_at,
            at,
            message.retransmissions,
        )
        self.deliveries.append(delivery)
        if self.on_deliver is not None:
            self.on_deliver(self, delivery)

    def _fail(self, at: float) -> None:
        if self.failed_at_s is not None:
            return
        self.failed_at_s = at
        for end in self._ends:
            end.abort()
            end.outbox = []
        self._heap[:] = [e for e in self._heap if e[2] == _WRITE and e[3] != 0]
        heapq.heapify(self._heap)
        for direction in (UPLINK, DOWNLINK):
            pending = self._pending[direction]
            while pending:
                self._record(pending.popleft(), None)
        if self.on_failed is not None:
            self.on_failed(self, at)
