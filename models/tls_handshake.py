"""A TLS 1.2 or 1.3 session over a :class:`~voipbed.models.tcp_conn.TcpConnection`.

:class:`TlsConnection` takes over a TCP connection's callbacks. When the phone's end of
the TCP handshake completes, the phone writes the first flight of
:func:`~voipbed.models.tls_flights.handshake_flights`; each flight handed up by TCP makes
the other side write the next one at that moment, so the handshake pays the TCP path's
losses, retransmissions and head-of-line blocking like any data.

A side may send application data once its handshake allows it (no False Start, RFC 7918):

- the phone (client) when it has sent its Finished and received the server's: TLS 1.3
  full or resumed and TLS 1.2 abbreviated after one round trip, TLS 1.2 full after two;
- the core (server) when it has sent its Finished: TLS 1.3 may send "0.5-RTT" data
  right after its first flight (RFC 8446 section 2), TLS 1.2 after its last;
- with TLS 1.3 0-RTT (``early_data``), the phone's messages written before the handshake
  completes go right behind its ClientHello (RFC 8446 section 2.3).

Messages written earlier wait and go out, in order, when their side becomes ready.
Each application message goes on the TCP stream with its record overhead
(:func:`~voipbed.models.tls_flights.application_wire_bytes`), so SIP over TLS is SIP
messages with record overhead over TCP. ``handshake_done_at_s`` is when the phone may send
its first protected message; ``flights`` logs each handshake flight; each application
message ends as a :class:`TlsDelivery`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from voipbed.models.message_channel import DOWNLINK, UPLINK
from voipbed.models.tcp_conn import Delivery, TcpConnection
from voipbed.models.tls_flights import (
    Flight,
    Resumption,
    TlsConfig,
    application_wire_bytes,
    handshake_flights,
)

__all__ = ["FlightRecord", "TlsConnection", "TlsDelivery"]


@dataclass(frozen=True, slots=True)
class TlsDelivery:
    """What became of one application message sent over TLS."""

    message_id: int
    direction: int
    size_bytes: int  # plaintext
    wire_bytes: int  # on the TCP stream, record overhead included
    label: str
    sent_at_s: float  # when the application wrote it
    delivered_at_s: float | None  # None: the connection failed first
    retransmissions: int  # retransmitted TCP segments that carried its bytes
    early_data: bool  # sent as TLS 1.3 0-RTT data

    @property
    def delivered(self) -> bool:
        """True when the message reached the other application."""
        return self.delivered_at_s is not None


@dataclass(frozen=True, slots=True)
class FlightRecord:
    """One handshake flight: when it was written and when TCP handed it up."""

    flight: Flight
    sent_at_s: float
    delivered_at_s: float | None
    retransmissions: int


@dataclass(slots=True)
class _Queued:
    message_id: int
    size: int
    label: str
    sent_at: float


TlsCallback = Callable[["TlsConnection", TlsDelivery], None]


class TlsConnection:
    """TLS over ``tcp``; call ``tcp.connect`` (or :meth:`connect`) and :meth:`run`."""

    def __init__(
        self,
        tcp: TcpConnection,
        config: TlsConfig | None = None,
        *,
        on_deliver: TlsCallback | None = None,
        on_ready: Callable[[TlsConnection, float], None] | None = None,
    ) -> None:
        self.tcp = tcp
        self.config = config or TlsConfig()
        self.on_deliver = on_deliver
        self.on_ready = on_ready
        self._flights = handshake_flights(self.config)
        self.flights: list[FlightRecord] = []
        self.deliveries: list[TlsDelivery] = []
        self.handshake_started_at_s: float | None = None
        self.handshake_done_at_s: float | None = None  # the phone may send data
        self.server_ready_at_s: float | None = None
        self._ready = [False, False]
        self._sent_finished = [False, False]
        self._got_finished = [False, False]
        self._queue: tuple[list[_Queued], list[_Queued]] = ([], [])
        self._flight_of: dict[int, tuple[int, float]] = {}  # TCP id -> (flight, sent)
        self._message_of: dict[int, tuple[_Queued, int, bool]] = {}  # TCP id -> message
        self._next_id = 0
        tcp.on_established = self._start
        tcp.on_deliver = self._on_tcp_deliver
        tcp.on_failed = self._on_failed

    # --- application calls -------------------------------------------------------------

    def connect(self, at_s: float = 0.0) -> None:
        """Open the TCP connection at ``at_s``; the TLS handshake follows it."""
        self.tcp.connect(at_s)

    def send(self, at_s: float, direction: int, message: bytes | int, *, label: str = "") -> int:
        """Write an application message at ``at_s``; its id among this session's messages."""
        size = len(message) if isinstance(message, bytes) else int(message)
        if size < 1:
            raise ValueError(f"a message needs at least 1 byte, got {size}")
        if direction not in (UPLINK, DOWNLINK):
            raise ValueError(f"direction must be UPLINK or DOWNLINK, got {direction}")
        if not math.isfinite(at_s):
            raise ValueError(f"time must be finite, got {at_s}")
        if at_s < self.tcp.now_s:
            raise ValueError(f"send at {at_s} s is before the connection's time {self.tcp.now_s} s")
        queued = _Queued(self._next_id, size, label, at_s)
        self._next_id += 1
        if self._ready[direction] or self._early(direction):
            self._write(at_s, direction, queued)
        else:
            self._queue[direction].append(queued)
        return queued.message_id

    def run(self, until_s: float = math.inf) -> None:
        """Run the TCP connection (and so the session) up to ``until_s``."""
        self.tcp.run(until_s)

    @property
    def handshake_s(self) -> float | None:
        """Time from the end of the TCP handshake to the phone's readiness."""
        if self.handshake_done_at_s is None or self.handshake_started_at_s is None:
            return None
        return self.handshake_done_at_s - self.handshake_started_at_s

    # --- TCP callbacks -----------------------------------------------------------------

    def _early(self, direction: int) -> bool:
        return (
            direction == UPLINK
            and self.config.early_data
            and self.config.resumption is Resumption.TICKET
            and self.handshake_started_at_s is not None
        )

    def _start(self, tcp: TcpConnection, at: float) -> None:
        self.handshake_started_at_s = at
        self._send_flight(0, at)
        if self.config.early_data:
            self._flush(UPLINK, at)

    def _send_flight(self, index: int, at: float) -> None:
        flight = self._flights[index]
        tcp_id = self.tcp.send(at, flight.direction, flight.size_bytes, label=flight.name)
        self._flight_of[tcp_id] = (index, at)
        if flight.finished:
            self._sent_finished[flight.direction] = True
            self._check_ready(at)

    def _on_tcp_deliver(self, tcp: TcpConnection, delivery: Delivery) -> None:
        at = delivery.delivered_at_s
        flight = self._flight_of.pop(delivery.message_id, None)
        if flight is not None:
            index, sent_at = flight
            self.flights.append(
                FlightRecord(self._flights[index], sent_at, at, delivery.retransmissions)
            )
            if at is None:  # the connection closed or failed: the handshake never ends
                self._fail_queued()
                return
            if self._flights[index].finished:
                self._got_finished[1 - self._flights[index].direction] = True
            nxt = index + 1
            if (
                nxt < len(self._flights)
                and self._flights[nxt].direction != self._flights[index].direction
            ):
                self._send_flight(nxt, at)
            self._check_ready(at)
            return
        message = self._message_of.pop(delivery.message_id, None)
        if message is None:
            return  # written on the TCP connection directly, not through this session
        queued, wire, early = message
        record = TlsDelivery(
            queued.message_id,
            delivery.direction,
            queued.size,
            wire,
            queued.label,
            queued.sent_at,
            at,
            delivery.retransmissions,
            early,
        )
        self.deliveries.append(record)
        if self.on_deliver is not None:
            self.on_deliver(self, record)

    def _check_ready(self, at: float) -> None:
        if not self._ready[UPLINK] and self._sent_finished[UPLINK] and self._got_finished[UPLINK]:
            self._ready[UPLINK] = True
            self.handshake_done_at_s = at
            self._flush(UPLINK, at)
            if self.on_ready is not None:
                self.on_ready(self, at)
        if not self._ready[DOWNLINK] and self._sent_finished[DOWNLINK]:
            self._ready[DOWNLINK] = True
            self.server_ready_at_s = at
            self._flush(DOWNLINK, at)

    def _flush(self, direction: int, at: float) -> None:
        queue = self._queue[direction]
        while queue:
            self._write(at, direction, queue.pop(0))

    def _write(self, at: float, direction: int, queued: _Queued) -> None:
        wire = application_wire_bytes(queued.size, self.config)
        early = not self._ready[direction]
        tcp_id = self.tcp.send(at, direction, wire, label=queued.label)
        self._message_of[tcp_id] = (queued, wire, early)

    def _on_failed(self, tcp: TcpConnection, at: float) -> None:
        self._fail_queued()

    def _fail_queued(self) -> None:
        for direction in (UPLINK, DOWNLINK):
            queue = self._queue[direction]
            while queue:
                queued = queue.pop(0)
                wire = application_wire_bytes(queued.size, self.config)
                record = TlsDelivery(
                    queued.message_id,
                    direction,
                    queued.size,
                    wire,
                    queued.label,
                    queued.sent_at,
                    None,
                    0,
                    False,
                )
                self.deliveries.append(record)
                if self.on_deliver is not None:
                    self.on_deliver(self, record)
