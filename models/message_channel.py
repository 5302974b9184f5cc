"""The path as a signalling model sees it: one message in, its arrival time (or loss) out.

Signalling models (SIP transactions, TCP connections, TLS handshakes, DNS, STUN and ICE
checks) are sans-IO state machines with the clock passed in: they say what to send and
when, and react to what arrives. A :class:`MessageChannel` carries one message from one
end to the other: the simulator's per-message path (its radio, queues, RRC and
handovers), or in tests a :class:`ScriptedChannel` with fixed delays and chosen losses, so
that a timeline can be worked out by hand.

Directions are ``UPLINK`` (the phone towards the core) and ``DOWNLINK`` (back), the
trace's two directions.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["DOWNLINK", "UPLINK", "MessageChannel", "ScriptedChannel"]

UPLINK = 0
DOWNLINK = 1


class MessageChannel(Protocol):
    """Carries one message across the path; ``None`` when the path loses it."""

    def carry(self, sent_at: float, size_bytes: int, direction: int) -> float | None:
        """The arrival time of ``size_bytes`` sent at ``sent_at`` in ``direction``, or None."""
        ...


@dataclass
class ScriptedChannel:
    """A channel with a fixed one-way delay per direction that loses the messages it is told to.

    Messages are numbered from 0 in the order they are carried, both directions together;
    ``lost`` holds the numbers to lose. ``log`` records every message as
    ``(number, sent_at, size_bytes, direction, arrival or None)``.
    """

    uplink_delay_s: float
    downlink_delay_s: float
    lost: Collection[int] = ()
    log: list[tuple[int, float, int, int, float | None]] = field(default_factory=list)

    def carry(self, sent_at: float, size_bytes: int, direction: int) -> float | None:
        """The arrival ``delay`` after ``sent_at``, or None for a message numbered in ``lost``."""
        number = len(self.log)
        delay = self.uplink_delay_s if direction == UPLINK else self.downlink_delay_s
        arrival = None if number in self.lost else sent_at + delay
        self.log.append((number, sent_at, size_bytes, direction, arrival))
        return arrival
