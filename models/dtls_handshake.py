"""DTLS-SRTP keying: a DTLS 1.2 full handshake on the media path, with its retransmissions.

With DTLS-SRTP (RFC 5763, RFC 5764) the answerer takes the DTLS client's role
(``a=setup:active``, RFC 5763 section 5) and the offerer the server's
(``a=setup:actpass`` in the offer, passive in effect). Each side's SRTP keys exist once its
own side of the handshake is done; baresip sends no RTP before that. The handshake is four
flights (RFC 6347 section 4.2.4, figure 1, without the optional HelloVerifyRequest, as
OpenSSL's DTLS server answers when cookie exchange is off):

1. client: ClientHello (with the ``use_srtp`` extension, RFC 5764 section 4.1.1);
2. server: ServerHello, Certificate, ServerKeyExchange, CertificateRequest (RFC 5763
   section 5 needs the client's certificate), ServerHelloDone;
3. client: Certificate, ClientKeyExchange, CertificateVerify, ChangeCipherSpec, Finished;
4. server: ChangeCipherSpec, Finished.

The server is keyed when flight 3 reaches it (it then sends flight 4); the client when
flight 4 reaches it. Without loss that is 1.5 round trips after the first ClientHello for
the server and 2 for the client.

Retransmission (RFC 6347 section 4.2.4): a side that sent a flight expecting an answer
resends it when its timer fires, 1 s at first and doubling each time up to 60 s (section
4.2.4.1), and when the peer's previous flight arrives again; the server resends flight 4
(the last flight, no timer) only when flight 3 arrives again. The timer restarts at 1 s
with each new flight, as OpenSSL's does.

The early ClientHello: the answerer sends its first ClientHello with its 200 OK, but the
offerer opens its DTLS server only once it has the answer (baresip's ``dtls_srtp``
module), so a ClientHello that reaches the offerer no later than the 200 OK is dropped and
the handshake waits for the client's 1 s timer (measured in this project's emulation: audio
1.00 s after the 200 OK on a loopback). ``server_ready_s`` is that instant.

Flight sizes are UDP payloads: each handshake message with its 12-byte header in a record
of its own with a 13-byte header (RFC 6347 sections 4.1 and 4.2.2). baresip's
``dtls_srtp`` makes a self-signed RSA-2048 key at load: its certificate is taken as 780
bytes (``models.tls_flights`` measured an 851-byte RSA-2048 leaf with a longer issuer), the
ServerKeyExchange as an X25519 share signed with RSA (308 bytes), the CertificateVerify as
an RSA signature (272 bytes), the Finished in an AES-GCM record (61 bytes: 8-byte explicit
nonce and 16-byte tag, RFC 5288 section 3), the ClientHello with OpenSSL's suites and
extensions as about 220 bytes. They are estimates from the message formats, not captures;
each flight fits in one datagram of a 1500-byte MTU.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

from voipbed.models.message_channel import DOWNLINK, UPLINK, MessageChannel

__all__ = ["DtlsConfig", "DtlsFlight", "DtlsResult", "dtls_handshake"]

_CLIENT, _SERVER = 0, 1
_LAST_FLIGHT = 4


@dataclass(frozen=True)
class DtlsConfig:
    """The handshake's timer and flight sizes."""

    initial_timeout_s: float = 1.0  # RFC 6347 section 4.2.4.1: initial timer 1 s
    max_timeout_s: float = 60.0  # RFC 6347 section 4.2.4.1: doubling up to 60 s
    flight_bytes: tuple[int, int, int, int] = (220, 1325, 1229, 75)  # flights 1-4, estimates

    def __post_init__(self) -> None:
        if not 0.0 < self.initial_timeout_s <= self.max_timeout_s:
            raise ValueError("need 0 < initial_timeout_s <= max_timeout_s")
        if min(self.flight_bytes) <= 0:
            raise ValueError("flight sizes must be positive")


@dataclass(frozen=True)
class DtlsFlight:
    """One transmission of a flight: which, by whom, when, and when (if) it arrived."""

    number: int  # 1-4, RFC 6347 section 4.2.4's flights of a full handshake
    direction: int  # UPLINK or DOWNLINK
    sent_s: float
    arrival_s: float | None  # None: lost on the path
    size_bytes: int
    retransmission: bool
    dropped: bool = False  # arrived at the offerer before it had the answer


@dataclass(frozen=True)
class DtlsResult:
    """When each side's SRTP keys were ready (None: not by the deadline), and every flight."""

    client_secure_s: float | None  # the answerer (DTLS client)
    server_secure_s: float | None  # the offerer (DTLS server)
    flights: tuple[DtlsFlight, ...]

    @property
    def retransmissions(self) -> int:
        """Flights sent again."""
        return sum(flight.retransmission for flight in self.flights)


class _Handshake:
    """Both sides' state machines over one channel, driven in time order."""

    def __init__(
        self, channel: MessageChannel, config: DtlsConfig, client_sends: int, ready_s: float
    ) -> None:
        self._channel = channel
        self._config = config
        self._direction = (client_sends, UPLINK if client_sends == DOWNLINK else DOWNLINK)
        self._ready_s = ready_s
        self._last = [0, 0]  # the last flight each side sent (0: none)
        self._timeout = [config.initial_timeout_s] * 2
        self._timer = [0, 0]  # the generation of each side's running timer (0: none)
        self._generation = 0
        self.secure: list[float | None] = [None, None]
        self.flights: list[DtlsFlight] = []
        self._queue: list[tuple[float, int, str, int, int]] = []  # time, order, kind, side, n

    def run(self, start_s: float, until_s: float) -> None:
        self._send(_CLIENT, 1, start_s, retransmission=False)
        while self._queue:
            time_s, _, kind, side, value = heapq.heappop(self._queue)
            if time_s > until_s:
                break
            if kind == "arrive":
                self._arrive(side, value, time_s)
            elif self._timer[side] == value:
                self._timeout[side] = min(2 * self._timeout[side], self._config.max_timeout_s)
                self._send(side, self._last[side], time_s, retransmission=True)

    def _push(self, time_s: float, kind: str, side: int, value: int) -> None:
        self._generation += 1
        heapq.heappush(self._queue, (time_s, self._generation, kind, side, value))

    def _send(self, side: int, number: int, now_s: float, *, retransmission: bool) -> None:
        if not retransmission:
            self._timeout[side] = self._config.initial_timeout_s
        size = self._config.flight_bytes[number - 1]
        direction = self._direction[side]
        arrival = self._channel.carry(now_s, size, direction)
        dropped = number == 1 and arrival is not None and arrival <= self._ready_s
        self.flights.append(
            DtlsFlight(number, direction, now_s, arrival, size, retransmission, dropped)
        )
        self._last[side] = number
        if arrival is not None and not dropped:
            self._push(arrival, "arrive", 1 - side, number)
        if number == _LAST_FLIGHT:
            self._timer[side] = 0
        else:
            self._push(now_s + self._timeout[side], "timer", side, self._generation + 1)
            self._timer[side] = self._generation

    def _arrive(self, side: int, number: int, now_s: float) -> None:
        if side == _CLIENT and self.secure[_CLIENT] is not None:
            return  # the client is done; a late copy of flight 4 changes nothing
        last = self._last[side]
        if number == last + 1:  # the peer's answer to this side's last flight (or the first)
            if number == _LAST_FLIGHT or (side == _SERVER and number == 3):
                self.secure[side] = now_s
            if number == _LAST_FLIGHT:
                self._timer[side] = 0
            else:
                self._send(side, number + 1, now_s, retransmission=False)
        elif number == last - 1:  # the peer's previous flight again: it did not get ours
            self._send(side, last, now_s, retransmission=True)


def dtls_handshake(
    channel: MessageChannel,
    *,
    client_start_s: float,
    server_ready_s: float,
    until_s: float,
    config: DtlsConfig | None = None,
    client_sends: int = DOWNLINK,
) -> DtlsResult:
    """The handshake the client starts at ``client_start_s`` over ``channel`` (the client
    sending in ``client_sends``), the server taking ClientHellos that arrive after
    ``server_ready_s``; nothing after ``until_s`` happens."""
    if not math.isfinite(until_s):
        raise ValueError("until_s must be finite (a lost path retransmits for ever)")
    if client_sends not in (UPLINK, DOWNLINK):
        raise ValueError(f"client_sends must be UPLINK or DOWNLINK, got {client_sends}")
    handshake = _Handshake(channel, config or DtlsConfig(), client_sends, server_ready_s)
    handshake.run(client_start_s, until_s)
    return DtlsResult(
        client_secure_s=handshake.secure[_CLIENT],
        server_secure_s=handshake.secure[_SERVER],
        flights=tuple(handshake.flights),
    )
