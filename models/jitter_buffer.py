"""Jitter buffers: when does each received packet play, and which arrive too late.

Every buffer takes one flow's packets in sequence order (media time from the
RTP timestamp, receive time or NaN when lost) and returns a ``Playout``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["FixedJitterBuffer", "Playout"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class Playout:
    """Per packet: its scheduled playout time (NaN if never received) and whether it came late."""

    playout_s: FloatArray
    late: BoolArray

    @property
    def played(self) -> BoolArray:
        """Packets that reached the decoder in time."""
        return ~np.isnan(self.playout_s) & ~self.late


@dataclass(frozen=True)
class FixedJitterBuffer:
    """A fixed playout delay, anchored on the first packet to arrive.

    The first packet to arrive plays ``delay_s`` after its arrival; every
    other packet plays at that anchor plus its media-time offset, so all
    packets of the flow have the same playout delay. A packet arriving after
    its playout time is discarded as late.
    """

    delay_s: float

    def __post_init__(self) -> None:
        if not self.delay_s >= 0:
            raise ValueError(f"delay_s must be >= 0, got {self.delay_s}")

    def playout(self, media_s: FloatArray, recv_s: FloatArray) -> Playout:
        """Schedule one flow: ``media_s`` is RTP time in seconds, ``recv_s`` NaN when lost."""
        received = ~np.isnan(recv_s)
        if not received.any():
            return Playout(np.full(recv_s.size, np.nan), np.zeros(recv_s.size, dtype=np.bool_))
        first = int(np.nanargmin(recv_s))
        schedule = recv_s[first] + self.delay_s + (media_s - media_s[first])
        playout_s = np.where(received, schedule, np.nan)
        late = received & (recv_s > schedule)
        return Playout(playout_s, late)
