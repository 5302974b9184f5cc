"""DTLS-SRTP keying: a DTLS 1.2 full handshake on the media path, with its retransmissions.

With DTLS-SRTP (RFC 5763, RFC 5764) the answerer takes the DTLS client's role
(``a=setup:active``, RFC 5763 section 5) and the offerer the server's
(``a=setup:actpass`` in the offer, passive in effect). Each side's SRTP keys exist once its
own side of the handshake is done; baresip sends no RTP before that. The handshake is four
flights (RFC 6347 section 4.2.4, figure 1), each one UDP datagram:

1. client: ClientHello (with the ``use_srtp`` extension, RFC 5764 section 4.1.1);
2. server: ServerHello, Certificate, ServerKeyExchange, CertificateRequest (RFC 5763
   section 5 needs the client's certificate), ServerHelloDone;
3. client: Certificate, ClientKeyExchange, CertificateVerify, ChangeCipherSpec, Finished;
4. server: NewSessionTicket (RFC 5077 section 3.3), ChangeCipherSpec, Finished.

There is no HelloVerifyRequest (the cookie exchange of RFC 6347 section 4.2.1, which would
add a round trip before flight 2): the captures below were checked for one, and baresip's
server answers the ClientHello with flight 2 directly.

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
the handshake waits for the client's 1 s timer (captured: the second ClientHello 0.998 to
1.020 s after the first, and flight 2 answering it). ``server_ready_s`` is that instant.
Where the 200 OK goes through a proxy the ClientHello, sent straight to the offerer, is
usually first. In this project's emulation, Kamailio beside the far end, the two leave
within a fraction of a millisecond of each other and either can win: both ports' first
ClientHellos were dropped in 15 of 20 runs; in the other 5, flight 2 answered the first
ClientHello on one port or both, and the media were keyed a round trip after the answer.

Flight sizes are UDP payloads (add 28 bytes for IPv4, 48 for IPv6), measured from baresip
1.0 with libre 1.1 and OpenSSL 3.0 (Debian 12): the emulation's captures of 20 calls
(``tests/emulation/test_dtls_srtp.py``, ``captures/ue.pcap``) read record by record. Each
handshake message goes whole in a record of its own, with the 12-byte handshake header
(RFC 6347 section 4.2.2) and the 13-byte record header (section 4.1); a flight's records
share one datagram (1,232 bytes at most, under a 1500-byte MTU: no message was fragmented).
Negotiated: ECDHE-RSA-AES256-GCM-SHA384 with X25519, SRTP_AES128_CM_SHA1_80. Each side's
certificate is one that libre makes at start-up: self-signed RSA-2048, SHA-1 signature,
``CN=dtls@baresip``, a random 32-bit serial number. Its DER length is 686 bytes with a
4-byte serial and 687 with a 5-byte one (a serial with its top bit set takes a leading
zero byte, half the time; a serial below 2**23, 1 in 512, saves a byte or more); flights
2 and 3 carry the server's and the client's, and grow and shrink with them
(:func:`baresip_flight_bytes`). The NewSessionTicket holds the session (the client's
certificate in it) encrypted in 16-byte blocks: 870 bytes with either certificate length
seen.

baresip runs a handshake on the RTP and one on the RTCP port (no ``rtcp-mux``), the same
flights at the same instants, each ending in its own secure event; the audio starts at the
first. The model carries one: without loss the two end together.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

from voipbed.models.message_channel import DOWNLINK, UPLINK, MessageChannel

__all__ = [
    "CERTIFICATE_DER_BYTES",
    "DtlsConfig",
    "DtlsFlight",
    "DtlsResult",
    "baresip_flight_bytes",
    "dtls_handshake",
]

_CLIENT, _SERVER = 0, 1
_LAST_FLIGHT = 4


# Handshake message bodies measured from baresip 1.0 + OpenSSL 3.0 (see the module's notes),
# each sent with its 12-byte handshake header (RFC 6347 section 4.2.2) in a record with a
# 13-byte header (RFC 6347 section 4.1).
_RECORD_BYTES = 13 + 12
_CLIENT_HELLO = 195  # 28 cipher suites, 7 extensions (use_srtp among them), no cookie
_SERVER_HELLO = 70  # no session ID (a ticket instead), 30 bytes of extensions
_SERVER_KEY_EXCHANGE = 296  # X25519 share (4 + 32) and an RSA-2048 PSS signature (4 + 256)
_CERTIFICATE_REQUEST = 48  # 3 certificate types, 20 signature schemes, no CA names
_SERVER_HELLO_DONE = 0
_CLIENT_KEY_EXCHANGE = 33  # X25519 share (1 + 32)
_CERTIFICATE_VERIFY = 260  # RSA-2048 signature (4 + 256)
_NEW_SESSION_TICKET = 870  # lifetime, length, OpenSSL's 864-byte ticket
_CHANGE_CIPHER_SPEC = 13 + 1
_FINISHED = 13 + 8 + 12 + 12 + 16  # AES-GCM record: explicit nonce and tag (RFC 5288 3)
CERTIFICATE_DER_BYTES = 686  # libre's self-signed RSA-2048 certificate, 4-byte serial


def _certificate_message(der_bytes: int) -> int:
    """A Certificate message's body with one certificate: two 3-byte lengths before it."""
    return 3 + 3 + der_bytes


def baresip_flight_bytes(
    server_certificate_bytes: int = CERTIFICATE_DER_BYTES,
    client_certificate_bytes: int = CERTIFICATE_DER_BYTES,
) -> tuple[int, int, int, int]:
    """The UDP payload of each of the four flights baresip sends, for certificates of these
    DER lengths."""
    if min(server_certificate_bytes, client_certificate_bytes) <= 0:
        raise ValueError("certificate sizes must be positive")
    flight_2 = (
        _SERVER_HELLO,
        _certificate_message(server_certificate_bytes),
        _SERVER_KEY_EXCHANGE,
        _CERTIFICATE_REQUEST,
        _SERVER_HELLO_DONE,
    )
    flight_3 = (
        _certificate_message(client_certificate_bytes),
        _CLIENT_KEY_EXCHANGE,
        _CERTIFICATE_VERIFY,
    )
    return (
        _CLIENT_HELLO + _RECORD_BYTES,
        sum(flight_2) + len(flight_2) * _RECORD_BYTES,
        sum(flight_3) + len(flight_3) * _RECORD_BYTES + _CHANGE_CIPHER_SPEC + _FINISHED,
        _NEW_SESSION_TICKET + _RECORD_BYTES + _CHANGE_CIPHER_SPEC + _FINISHED,
    )


@dataclass(frozen=True)
class DtlsConfig:
    """The handshake's timer and flight sizes."""

    initial_timeout_s: float = 1.0  # RFC 6347 section 4.2.4.1: initial timer 1 s
    max_timeout_s: float = 60.0  # RFC 6347 section 4.2.4.1: doubling up to 60 s
    flight_bytes: tuple[int, int, int, int] = baresip_flight_bytes()  # flights 1-4, measured

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
