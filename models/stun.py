"""STUN (RFC 8489): message sizes, the client transaction and its retransmissions, a driver.

Sizes. A STUN message is a 20-byte header (RFC 8489 section 5) and attributes,
each a 4-byte type-length header and a value padded to a multiple of 4 bytes
(section 14). ``attribute_bytes`` knows the fixed value lengths of RFC 8489,
RFC 8445 (ICE) and RFC 8656 (TURN) attributes and takes the length of the
variable ones (USERNAME, REALM, NONCE, SOFTWARE, DATA, the reason of
ERROR-CODE); ``message_bytes`` adds a list of them. The helpers below build the
messages of a Binding exchange and of an ICE connectivity check.

Retransmission (RFC 8489 section 6.2.1, over UDP). The client sends the
request at ``t0`` and retransmits after RTO, then doubles the wait each
time, Rc requests in all; if no response has come Rm x RTO after the last
one, the transaction fails. With the defaults (RTO 500 ms, Rc 7, Rm 16)
requests go at 0, 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s and the transaction
fails at 39.5 s, the section's own example. Over a reliable transport the
request is sent once and the transaction fails after Ti = 39.5 s (section
6.2.2). Any response (success or error) ends the transaction.

``StunClientTransaction`` is the sans-IO machine: ``start`` and ``on_timer``
return what to send, ``next_deadline_s`` says when to call ``on_timer``,
``on_response`` ends it. ``run_stun_transaction`` runs one transaction over a
``MessageChannel`` against a server that answers every request it receives
(STUN servers are stateless), and returns its timeline.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from voipbed.models.message_channel import DOWNLINK, UPLINK, MessageChannel

__all__ = [
    "HEADER_BYTES",
    "MessageRecord",
    "StunAttr",
    "StunClientTransaction",
    "StunOutcome",
    "StunRetransmitConfig",
    "StunSend",
    "TransactionState",
    "attribute_bytes",
    "binding_request_bytes",
    "binding_response_bytes",
    "ice_check_request_bytes",
    "ice_check_response_bytes",
    "message_bytes",
    "retransmit_schedule",
    "run_stun_transaction",
]

HEADER_BYTES = 20  # RFC 8489 section 5: message header
ATTRIBUTE_HEADER_BYTES = 4  # RFC 8489 section 14: 16-bit type, 16-bit length
ADDRESS_V4_BYTES = 8  # RFC 8489 section 14.1/14.2: family, port, 32-bit address
ADDRESS_V6_BYTES = 20  # RFC 8489 section 14.1/14.2: family, port, 128-bit address
ICE_USERNAME_BYTES = 9  # RFC 8445 section 7.2.2: "RFRAG:LFRAG", ufrags of 4 characters (5.3)


class StunAttr(IntEnum):
    """STUN attribute types (RFC 8489 section 18.3, RFC 8445 section 16.1, RFC 8656 section 18)."""

    MAPPED_ADDRESS = 0x0001
    USERNAME = 0x0006
    MESSAGE_INTEGRITY = 0x0008
    ERROR_CODE = 0x0009
    CHANNEL_NUMBER = 0x000C
    LIFETIME = 0x000D
    XOR_PEER_ADDRESS = 0x0012
    DATA = 0x0013
    REALM = 0x0014
    NONCE = 0x0015
    XOR_RELAYED_ADDRESS = 0x0016
    REQUESTED_ADDRESS_FAMILY = 0x0017
    EVEN_PORT = 0x0018
    REQUESTED_TRANSPORT = 0x0019
    DONT_FRAGMENT = 0x001A
    MESSAGE_INTEGRITY_SHA256 = 0x001C
    XOR_MAPPED_ADDRESS = 0x0020
    RESERVATION_TOKEN = 0x0022
    PRIORITY = 0x0024
    USE_CANDIDATE = 0x0025
    SOFTWARE = 0x8022
    FINGERPRINT = 0x8028
    ICE_CONTROLLED = 0x8029
    ICE_CONTROLLING = 0x802A


_ADDRESS_ATTRS = frozenset(
    {
        StunAttr.MAPPED_ADDRESS,
        StunAttr.XOR_MAPPED_ADDRESS,
        StunAttr.XOR_PEER_ADDRESS,
        StunAttr.XOR_RELAYED_ADDRESS,
    }
)

FIXED_VALUE_BYTES: dict[StunAttr, int] = {
    StunAttr.MESSAGE_INTEGRITY: 20,  # RFC 8489 section 14.5: HMAC-SHA1
    StunAttr.MESSAGE_INTEGRITY_SHA256: 32,  # RFC 8489 section 14.6: HMAC-SHA256, untruncated
    StunAttr.FINGERPRINT: 4,  # RFC 8489 section 14.7: CRC-32
    StunAttr.PRIORITY: 4,  # RFC 8445 section 16.1: 32-bit priority
    StunAttr.USE_CANDIDATE: 0,  # RFC 8445 section 16.1: no value
    StunAttr.ICE_CONTROLLED: 8,  # RFC 8445 section 16.1: 64-bit tie-breaker
    StunAttr.ICE_CONTROLLING: 8,  # RFC 8445 section 16.1: 64-bit tie-breaker
    StunAttr.CHANNEL_NUMBER: 4,  # RFC 8656 section 18.1: number and RFFU
    StunAttr.LIFETIME: 4,  # RFC 8656 section 18.2: seconds
    StunAttr.REQUESTED_ADDRESS_FAMILY: 4,  # RFC 8656 section 18.8
    StunAttr.EVEN_PORT: 1,  # RFC 8656 section 18.6: one flag byte
    StunAttr.REQUESTED_TRANSPORT: 4,  # RFC 8656 section 18.7: protocol and RFFU
    StunAttr.DONT_FRAGMENT: 0,  # RFC 8656 section 18.9: no value
    StunAttr.RESERVATION_TOKEN: 8,  # RFC 8656 section 18.10
}

ERROR_CODE_FIXED_BYTES = 4  # RFC 8489 section 14.8: reserved, class, number; reason follows


def _padded(length: int) -> int:
    return (length + 3) & ~3  # RFC 8489 section 14: values padded to 4-byte boundaries


def attribute_bytes(kind: StunAttr, value_bytes: int | None = None, *, ipv6: bool = False) -> int:
    """Bytes of one attribute on the wire: 4-byte header and padded value.

    Address attributes take their length from ``ipv6``; fixed-length ones need
    no ``value_bytes``; variable ones (USERNAME, REALM, NONCE, SOFTWARE, DATA)
    need it, and for ERROR-CODE it is the length of the reason phrase.
    """
    if kind in _ADDRESS_ATTRS:
        length = ADDRESS_V6_BYTES if ipv6 else ADDRESS_V4_BYTES
    elif kind in FIXED_VALUE_BYTES:
        length = FIXED_VALUE_BYTES[kind]
    elif value_bytes is None:
        raise ValueError(f"{kind.name} has a variable length: give value_bytes")
    elif kind == StunAttr.ERROR_CODE:
        length = ERROR_CODE_FIXED_BYTES + value_bytes
    else:
        length = value_bytes
    if value_bytes is not None and value_bytes < 0:
        raise ValueError(f"value_bytes must be >= 0, got {value_bytes}")
    return ATTRIBUTE_HEADER_BYTES + _padded(length)


def message_bytes(
    attributes: Iterable[StunAttr | tuple[StunAttr, int]], *, ipv6: bool = False
) -> int:
    """Bytes of a STUN message: header plus each attribute (``kind`` or ``(kind, value_bytes)``)."""
    total = HEADER_BYTES
    for item in attributes:
        if isinstance(item, tuple):
            total += attribute_bytes(item[0], item[1], ipv6=ipv6)
        else:
            total += attribute_bytes(item, ipv6=ipv6)
    return total


def _trailer(software_bytes: int, fingerprint: bool) -> list[StunAttr | tuple[StunAttr, int]]:
    out: list[StunAttr | tuple[StunAttr, int]] = []
    if software_bytes:
        out.append((StunAttr.SOFTWARE, software_bytes))
    if fingerprint:
        out.append(StunAttr.FINGERPRINT)
    return out


def binding_request_bytes(*, software_bytes: int = 0, fingerprint: bool = False) -> int:
    """A Binding request to a STUN server: the bare header unless SOFTWARE/FINGERPRINT are added."""
    return message_bytes(_trailer(software_bytes, fingerprint))


def binding_response_bytes(
    *, ipv6: bool = False, software_bytes: int = 0, fingerprint: bool = False
) -> int:
    """A Binding success response: XOR-MAPPED-ADDRESS, then optional SOFTWARE and FINGERPRINT."""
    attrs: list[StunAttr | tuple[StunAttr, int]] = [StunAttr.XOR_MAPPED_ADDRESS]
    return message_bytes(attrs + _trailer(software_bytes, fingerprint), ipv6=ipv6)


def ice_check_request_bytes(
    *, username_bytes: int = ICE_USERNAME_BYTES, use_candidate: bool = False
) -> int:
    """An ICE connectivity check (RFC 8445 section 7.2.2).

    USERNAME, PRIORITY, ICE-CONTROLLING or ICE-CONTROLLED (same size),
    USE-CANDIDATE when nominating, MESSAGE-INTEGRITY and FINGERPRINT (7.2.2
    requires both short-term credentials and FINGERPRINT).
    """
    attrs: list[StunAttr | tuple[StunAttr, int]] = [
        (StunAttr.USERNAME, username_bytes),
        StunAttr.PRIORITY,
        StunAttr.ICE_CONTROLLING,
    ]
    if use_candidate:
        attrs.append(StunAttr.USE_CANDIDATE)
    attrs += [StunAttr.MESSAGE_INTEGRITY, StunAttr.FINGERPRINT]
    return message_bytes(attrs)


def ice_check_response_bytes(*, ipv6: bool = False) -> int:
    """An ICE check success response: XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY, FINGERPRINT."""
    attrs = [StunAttr.XOR_MAPPED_ADDRESS, StunAttr.MESSAGE_INTEGRITY, StunAttr.FINGERPRINT]
    return message_bytes(attrs, ipv6=ipv6)


@dataclass(frozen=True)
class StunRetransmitConfig:
    """Client retransmission parameters of RFC 8489 section 6.2.1 / 6.2.2.

    - ``rto_s`` 0.5: initial RTO (SHOULD be 500 ms without an RTT estimate).
    - ``rc`` 7: requests sent in all (Rc).
    - ``rm`` 16: the wait after the last request, in multiples of ``rto_s`` (Rm).
    - ``reliable`` False: over TCP/TLS the request is sent once and the
      transaction fails after ``ti_s`` 39.5 s (Ti).
    """

    rto_s: float = 0.5
    rc: int = 7
    rm: int = 16
    reliable: bool = False
    ti_s: float = 39.5

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rto_s) and self.rto_s > 0):
            raise ValueError(f"rto_s must be finite and > 0, got {self.rto_s}")
        if self.rc < 1 or self.rm < 1:
            raise ValueError("rc and rm must be >= 1")
        if not (math.isfinite(self.ti_s) and self.ti_s > 0):
            raise ValueError(f"ti_s must be finite and > 0, got {self.ti_s}")


def retransmit_schedule(
    config: StunRetransmitConfig, start_s: float = 0.0
) -> tuple[tuple[float, ...], float]:
    """Send times of every request and the failure time of an unanswered transaction."""
    if config.reliable:
        return (start_s,), start_s + config.ti_s
    times = [start_s]
    wait = config.rto_s
    for _ in range(config.rc - 1):
        times.append(times[-1] + wait)
        wait *= 2
    return tuple(times), times[-1] + config.rm * config.rto_s


class TransactionState(IntEnum):
    """States of a client transaction."""

    IDLE = 0
    TRYING = 1
    SUCCEEDED = 2
    FAILED = 3


@dataclass(frozen=True)
class StunSend:
    """A request to put on the wire: when, which attempt (0 = first), whether a retransmission."""

    at_s: float
    attempt: int

    @property
    def retransmission(self) -> bool:
        """True for every attempt after the first."""
        return self.attempt > 0


class StunClientTransaction:
    """One STUN client transaction, sans IO: it says what to send and when it next wakes."""

    __slots__ = ("_wait_s", "attempts", "completed_s", "config", "next_deadline_s", "state")

    def __init__(self, config: StunRetransmitConfig | None = None):
        self.config = config if config is not None else StunRetransmitConfig()
        self.state = TransactionState.IDLE
        self.attempts = 0
        self.next_deadline_s: float | None = None
        self.completed_s: float | None = None
        self._wait_s = self.config.rto_s

    def start(self, now: float) -> StunSend:
        """Send the first request at ``now``."""
        if self.state != TransactionState.IDLE:
            raise RuntimeError("transaction already started")
        self.state = TransactionState.TRYING
        return self._send(now)

    def on_timer(self, now: float) -> StunSend | None:
        """At ``next_deadline_s``: a retransmission, or None when the transaction has failed."""
        if self.state != TransactionState.TRYING:
            return None
        config = self.config
        if config.reliable or self.attempts >= config.rc:
            self.state = TransactionState.FAILED
            self.completed_s = now
            self.next_deadline_s = None
            return None
        return self._send(now)

    def on_response(self, now: float) -> bool:
        """A response arrived at ``now``; True if it ended the transaction (the first one)."""
        if self.state != TransactionState.TRYING:
            return False
        self.state = TransactionState.SUCCEEDED
        self.completed_s = now
        self.next_deadline_s = None
        return True

    def cancel(self) -> None:
        """Stop retransmitting but wait out the transaction's timeout (RFC 8445 7.3.1.4).

        ``next_deadline_s`` moves to when the unanswered transaction would have
        failed; a response before then still ends it.
        """
        config = self.config
        deadline = self.next_deadline_s
        if self.state != TransactionState.TRYING or deadline is None:
            return
        if not config.reliable and self.attempts < config.rc:
            remaining = config.rc - self.attempts
            last = deadline + self._wait_s * (2 ** (remaining - 1) - 1)
            self.next_deadline_s = last + config.rm * config.rto_s
            self.attempts = config.rc

    def _send(self, now: float) -> StunSend:
        config = self.config
        send = StunSend(now, self.attempts)
        self.attempts += 1
        if config.reliable:
            self.next_deadline_s = now + config.ti_s
        elif self.attempts >= config.rc:
            self.next_deadline_s = now + config.rm * config.rto_s
        else:
            self.next_deadline_s = now + self._wait_s
            self._wait_s *= 2
        return send


@dataclass(frozen=True)
class MessageRecord:
    """One message on a channel: sent at, direction, kind, size, arrival (None: lost)."""

    time_s: float
    direction: int
    kind: str
    size_bytes: int
    arrival_s: float | None
    retransmission: bool

    @property
    def delivered(self) -> bool:
        """Whether the channel delivered it."""
        return self.arrival_s is not None


@dataclass(frozen=True)
class StunOutcome:
    """How a transaction ended: success (a response came), when, requests sent, the messages."""

    succeeded: bool
    completed_s: float
    requests_sent: int
    timeline: tuple[MessageRecord, ...]

    @property
    def response_s(self) -> float | None:
        """Arrival of the response that ended the transaction, or None when it failed."""
        return self.completed_s if self.succeeded else None


_ARRIVAL, _SERVER_SEND, _TIMER = 0, 1, 2


def run_stun_transaction(
    channel: MessageChannel,
    start_s: float,
    request_bytes: int,
    response_bytes: int,
    *,
    config: StunRetransmitConfig | None = None,
    direction: int = UPLINK,
    server_delay_s: float = 0.0,
    request_kind: str = "stun_request",
    response_kind: str = "stun_response",
) -> StunOutcome:
    """Run one client transaction over ``channel``; the server answers every request it gets.

    Requests go in ``direction`` and responses the other way, each response
    ``server_delay_s`` after its request arrives. Messages are carried in the
    order they are sent. At equal times an arrival is handled before a timer.
    The run stops when the transaction ends: responses to earlier
    retransmissions still on their way then are not carried, so every carry
    happens in time order and a next transaction can start at the end.
    """
    transaction = StunClientTransaction(config)
    back = DOWNLINK if direction == UPLINK else UPLINK
    timeline: list[MessageRecord] = []
    heap: list[tuple[float, int, int, bool]] = []
    seq = 0

    def send_request(send: StunSend) -> None:
        nonlocal seq
        arrival = channel.carry(send.at_s, request_bytes, direction)
        timeline.append(
            MessageRecord(
                send.at_s, direction, request_kind, request_bytes, arrival, send.retransmission
            )
        )
        if arrival is not None:
            heapq.heappush(heap, (arrival + server_delay_s, _SERVER_SEND, seq, send.retransmission))
            seq += 1
        deadline = transaction.next_deadline_s
        if deadline is not None:
            heapq.heappush(heap, (deadline, _TIMER, seq, False))
            seq += 1

    send_request(transaction.start(start_s))
    while heap and transaction.state == TransactionState.TRYING:
        time_s, kind, _, retransmission = heapq.heappop(heap)
        if kind == _SERVER_SEND:
            arrival = channel.carry(time_s, response_bytes, back)
            timeline.append(
                MessageRecord(time_s, back, response_kind, response_bytes, arrival, retransmission)
            )
            if arrival is not None:
                heapq.heappush(heap, (arrival, _ARRIVAL, seq, False))
                seq += 1
        elif kind == _ARRIVAL:
            transaction.on_response(time_s)
        elif time_s == transaction.next_deadline_s:
            send = transaction.on_timer(time_s)
            if send is not None:
                send_request(send)
    completed = transaction.completed_s
    return StunOutcome(
        transaction.state == TransactionState.SUCCEEDED,
        completed if completed is not None else math.inf,
        transaction.attempts,
        tuple(timeline),
    )
