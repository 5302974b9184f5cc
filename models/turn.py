"""TURN (RFC 8656): allocation exchanges, their sizes and lifetimes, and the relay on the path.

A client allocates a relayed address with an Allocate request; the server
challenges the first one with 401 (Unauthorized, carrying REALM and NONCE,
RFC 8489 section 9.2), and the client repeats it with long-term credentials
(USERNAME, REALM, NONCE, MESSAGE-INTEGRITY). The allocation lives
``lifetime`` seconds (default 600, RFC 8656 section 7.2) unless refreshed with
Refresh; permissions for peer addresses last 300 s (section 9) and channel
bindings 600 s (section 12). ``run_turn_allocation`` runs the exchanges one
after the other as STUN transactions over a ``MessageChannel``
(``voipbed.models.stun``) and returns their timeline.

Variable attribute lengths (USERNAME, REALM, NONCE, SOFTWARE) are parameters
of ``TurnCredentials``; the defaults are example lengths, not measurements.

The relay adds its own path: ``RelayPoint`` is the TURN server as a point
with a one-way delay from the end of the phone's path and to the peer, and
``RelayedChannel`` wraps the phone's ``MessageChannel`` so media and
signalling sent through the relay take both legs and carry the relay's
framing (ChannelData header or Send/Data indication).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from voipbed.models.message_channel import UPLINK, MessageChannel
from voipbed.models.stun import (
    MessageRecord,
    StunAttr,
    StunOutcome,
    StunRetransmitConfig,
    message_bytes,
    run_stun_transaction,
)

__all__ = [
    "CHANNEL_DATA_HEADER_BYTES",
    "CHANNEL_LIFETIME_S",
    "DEFAULT_LIFETIME_S",
    "PERMISSION_LIFETIME_S",
    "RelayPoint",
    "RelayedChannel",
    "TurnAllocationOutcome",
    "TurnConfig",
    "TurnCredentials",
    "TurnMessage",
    "channel_data_bytes",
    "data_indication_bytes",
    "refresh_times",
    "run_turn_allocation",
    "send_indication_bytes",
    "turn_message_bytes",
]

DEFAULT_LIFETIME_S = 600.0  # RFC 8656 section 7.2: default allocation lifetime 10 min
MAX_LIFETIME_S = 3600.0  # RFC 8656 section 7.2: recommended maximum lifetime 1 h
PERMISSION_LIFETIME_S = 300.0  # RFC 8656 section 9: permission lifetime 5 min
CHANNEL_LIFETIME_S = 600.0  # RFC 8656 section 12: channel binding lifetime 10 min
CHANNEL_DATA_HEADER_BYTES = 4  # RFC 8656 section 12.4: channel number and length
UNAUTHORIZED_REASON_BYTES = len("Unauthorized")  # RFC 8489 section 14.8: 401 reason phrase


@dataclass(frozen=True)
class TurnCredentials:
    """Lengths of the variable attributes of authenticated TURN messages (example defaults)."""

    username_bytes: int = 20
    realm_bytes: int = 11
    nonce_bytes: int = 16
    software_bytes: int = 0
    fingerprint: bool = True


class TurnMessage:
    """Names of the TURN exchanges (request kinds) that ``turn_message_bytes`` sizes."""

    ALLOCATE = "allocate"
    ALLOCATE_AUTH = "allocate_auth"
    REFRESH = "refresh"
    CREATE_PERMISSION = "create_permission"
    CHANNEL_BIND = "channel_bind"


def _auth(c: TurnCredentials) -> list[StunAttr | tuple[StunAttr, int]]:
    return [
        (StunAttr.USERNAME, c.username_bytes),
        (StunAttr.REALM, c.realm_bytes),
        (StunAttr.NONCE, c.nonce_bytes),
        StunAttr.MESSAGE_INTEGRITY,
    ]


def _tail(c: TurnCredentials) -> list[StunAttr | tuple[StunAttr, int]]:
    out: list[StunAttr | tuple[StunAttr, int]] = []
    if c.software_bytes:
        out.append((StunAttr.SOFTWARE, c.software_bytes))
    if c.fingerprint:
        out.append(StunAttr.FINGERPRINT)
    return out


def turn_message_bytes(
    kind: str, credentials: TurnCredentials | None = None, *, peers: int = 1, ipv6: bool = False
) -> tuple[int, int]:
    """Bytes of the request of exchange ``kind`` and of its response.

    - allocate: REQUESTED-TRANSPORT; response 401 with ERROR-CODE, REALM, NONCE.
    - allocate_auth: REQUESTED-TRANSPORT and credentials; response
      XOR-RELAYED-ADDRESS, LIFETIME, XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY
      (RFC 8656 section 7.3).
    - refresh: LIFETIME and credentials; response LIFETIME, MESSAGE-INTEGRITY.
    - create_permission: one XOR-PEER-ADDRESS per peer and credentials;
      response MESSAGE-INTEGRITY.
    - channel_bind: CHANNEL-NUMBER, XOR-PEER-ADDRESS and credentials; response
      MESSAGE-INTEGRITY.
    """
    c = credentials if credentials is not None else TurnCredentials()
    auth, tail = _auth(c), _tail(c)
    integrity: list[StunAttr | tuple[StunAttr, int]] = [StunAttr.MESSAGE_INTEGRITY]
    if kind == TurnMessage.ALLOCATE:
        request = [StunAttr.REQUESTED_TRANSPORT, *tail]
        response = [
            (StunAttr.ERROR_CODE, UNAUTHORIZED_REASON_BYTES),
            (StunAttr.REALM, c.realm_bytes),
            (StunAttr.NONCE, c.nonce_bytes),
            *tail,
        ]
    elif kind == TurnMessage.ALLOCATE_AUTH:
        request = [StunAttr.REQUESTED_TRANSPORT, *auth, *tail]
        response = [
            StunAttr.XOR_RELAYED_ADDRESS,
            StunAttr.LIFETIME,
            StunAttr.XOR_MAPPED_ADDRESS,
            *integrity,
            *tail,
        ]
    elif kind == TurnMessage.REFRESH:
        request = [StunAttr.LIFETIME, *auth, *tail]
        response = [StunAttr.LIFETIME, *integrity, *tail]
    elif kind == TurnMessage.CREATE_PERMISSION:
        if peers < 1:
            raise ValueError(f"peers must be >= 1, got {peers}")
        request = [*([StunAttr.XOR_PEER_ADDRESS] * peers), *auth, *tail]
        response = [*integrity, *tail]
    elif kind == TurnMessage.CHANNEL_BIND:
        request = [StunAttr.CHANNEL_NUMBER, StunAttr.XOR_PEER_ADDRESS, *auth, *tail]
        response = [*integrity, *tail]
    else:
        raise ValueError(f"unknown TURN exchange {kind!r}")
    return message_bytes(request, ipv6=ipv6), message_bytes(response, ipv6=ipv6)


def send_indication_bytes(payload_bytes: int, *, ipv6: bool = False) -> int:
    """A Send (or Data) indication carrying ``payload_bytes``: XOR-PEER-ADDRESS and DATA."""
    return message_bytes([StunAttr.XOR_PEER_ADDRESS, (StunAttr.DATA, payload_bytes)], ipv6=ipv6)


data_indication_bytes = send_indication_bytes


def channel_data_bytes(payload_bytes: int, *, padded: bool = False) -> int:
    """A ChannelData message: 4-byte header, payload padded to 4 bytes over TCP (section 12.5)."""
    body = (payload_bytes + 3) & ~3 if padded else payload_bytes
    return CHANNEL_DATA_HEADER_BYTES + body


def refresh_times(
    allocated_s: float, lifetime_s: float, until_s: float, *, margin_s: float = 60.0
) -> tuple[float, ...]:
    """Times of the Refresh (or permission refresh) requests that keep a lifetime going.

    Each refresh goes ``margin_s`` before the current lifetime would end
    (half the lifetime when it is shorter than twice the margin); the margin
    is a client's choice, not set by RFC 8656.
    """
    if not (math.isfinite(lifetime_s) and lifetime_s > 0):
        raise ValueError(f"lifetime_s must be finite and > 0, got {lifetime_s}")
    step = lifetime_s - margin_s if lifetime_s >= 2 * margin_s else lifetime_s / 2
    out: list[float] = []
    t = allocated_s + step
    while t <= until_s:
        out.append(t)
        t += step
    return tuple(out)


@dataclass(frozen=True)
class TurnConfig:
    """Parameters of a TURN allocation as a client runs it."""

    retransmit: StunRetransmitConfig = field(default_factory=StunRetransmitConfig)
    credentials: TurnCredentials = field(default_factory=TurnCredentials)
    lifetime_s: float = DEFAULT_LIFETIME_S
    permissions: int = 1  # CreatePermission after the allocation, for this many peers (0: none)
    channel_bind: bool = False
    server_delay_s: float = 0.0


@dataclass(frozen=True)
class TurnAllocationOutcome:
    """The exchanges of one allocation: success, when the relay became usable, the messages."""

    succeeded: bool
    allocated_s: float | None
    ready_s: float | None
    completed_s: float
    exchanges: tuple[tuple[str, StunOutcome], ...]

    @property
    def timeline(self) -> tuple[MessageRecord, ...]:
        """Every message of every exchange, in the order sent."""
        return tuple(record for _, outcome in self.exchanges for record in outcome.timeline)


def run_turn_allocation(
    channel: MessageChannel,
    start_s: float,
    config: TurnConfig | None = None,
    *,
    direction: int = UPLINK,
) -> TurnAllocationOutcome:
    """Allocate (401), authenticated Allocate, then CreatePermission and ChannelBind if asked.

    Each exchange starts when the previous one ends; a failed exchange ends
    the allocation. ``allocated_s`` is when the Allocate success arrived,
    ``ready_s`` when the last asked-for exchange finished (the relay usable).
    """
    cfg = config if config is not None else TurnConfig()
    plan = [TurnMessage.ALLOCATE, TurnMessage.ALLOCATE_AUTH]
    if cfg.permissions:
        plan.append(TurnMessage.CREATE_PERMISSION)
    if cfg.channel_bind:
        plan.append(TurnMessage.CHANNEL_BIND)
    exchanges: list[tuple[str, StunOutcome]] = []
    now = start_s
    allocated: float | None = None
    for kind in plan:
        request, response = turn_message_bytes(kind, cfg.credentials, peers=max(cfg.permissions, 1))
        outcome = run_stun_transaction(
            channel,
            now,
            request,
            response,
            config=cfg.retransmit,
            direction=direction,
            server_delay_s=cfg.server_delay_s,
            request_kind=f"turn_{kind}",
            response_kind=f"turn_{kind}_response",
        )
        exchanges.append((kind, outcome))
        now = outcome.completed_s
        if not outcome.succeeded:
            return TurnAllocationOutcome(False, allocated, None, now, tuple(exchanges))
        if kind == TurnMessage.ALLOCATE_AUTH:
            allocated = now
    return TurnAllocationOutcome(True, allocated, now, now, tuple(exchanges))


@dataclass(frozen=True)
class RelayPoint:
    """The TURN server as a point: one-way delays from the phone's path end and to the peer."""

    from_path_s: float = 0.0
    to_peer_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("from_path_s", "to_peer_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {value}")


@dataclass
class RelayedChannel:
    """The phone's channel extended through a relay to the peer (a ``MessageChannel``).

    Uplink: the message, with ``overhead_bytes`` of relay framing, crosses
    ``access``, then the relay's two legs. Downlink: it leaves the peer at
    ``sent_at``, crosses the relay's legs, then ``access`` with the framing.
    """

    access: MessageChannel
    relay: RelayPoint
    overhead_bytes: int = CHANNEL_DATA_HEADER_BYTES

    def carry(self, sent_at: float, size_bytes: int, direction: int) -> float | None:
        """Arrival at the far end through the relay, or None when the access path loses it."""
        legs = self.relay.from_path_s + self.relay.to_peer_s
        if direction == UPLINK:
            arrival = self.access.carry(sent_at, size_bytes + self.overhead_bytes, direction)
            return None if arrival is None else arrival + legs
        return self.access.carry(sent_at + legs, size_bytes + self.overhead_bytes, direction)
