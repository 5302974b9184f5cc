"""Packet loss on a hop: independent (Bernoulli), bursty (Gilbert-Elliott), and LTE HARQ.

Each model takes its uniform or geometric draws from a ``numpy.random.Generator``
passed in, one packet after another in arrival order, so a batch and a
packet-at-a-time caller drawing from the same stream decide the same fates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from voipbed.models._jit import kernel

__all__ = ["Bernoulli", "GilbertElliott", "Harq", "HarqOutcome"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class Bernoulli:
    """Each packet is lost independently with probability ``ratio``."""

    ratio: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.ratio <= 1.0:
            raise ValueError(f"loss ratio must be in [0, 1], got {self.ratio}")

    def lost(self, count: int, rng: np.random.Generator) -> BoolArray:
        """Fates of ``count`` packets (no draws at all when the ratio is 0)."""
        if self.ratio == 0.0:
            return np.zeros(count, dtype=np.bool_)
        return rng.random(count) < self.ratio

    def lost_one(self, rng: np.random.Generator) -> bool:
        """``lost(1, rng)[0]``, the same draw, without the array."""
        return self.ratio > 0.0 and rng.random() < self.ratio


@kernel
def _gilbert_elliott_kernel(
    flow: IntArray,
    draws: FloatArray,
    bad: NDArray[np.int8],
    p: float,
    r: float,
    good_loss: float,
    bad_loss: float,
) -> BoolArray:
    steady_bad = p / (p + r) if p + r > 0 else 0.0
    lost = np.zeros(flow.size, dtype=np.bool_)
    for i in range(flow.size):
        f = flow[i]
        move = draws[i, 0]
        if bad[f] < 0:  # first packet of the flow: start from the steady state
            bad[f] = 1 if move < steady_bad else 0
        elif bad[f] == 0:
            bad[f] = 1 if move < p else 0
        else:
            bad[f] = 0 if move < r else 1
        lost[i] = draws[i, 1] < (bad_loss if bad[f] == 1 else good_loss)
    return lost


@dataclass(frozen=True)
class GilbertElliott:
    """Two-state Markov loss, one chain per flow (each flow its own radio channel).

    Per packet the state moves good -> bad with probability ``p`` and
    bad -> good with ``r``; a packet is then lost with ``good_loss`` or
    ``bad_loss``. Gilbert (1960) has good_loss = 0; Elliott (1963) adds it.
    With good_loss = 0 and bad_loss = 1 the mean loss is p / (p + r) and the
    mean burst 1 / r packets (Hasslinger and Hohlfeld, MMB 2008, section 2).
    """

    p: float
    r: float
    good_loss: float = 0.0
    bad_loss: float = 1.0

    def __post_init__(self) -> None:
        for name in ("p", "r", "good_loss", "bad_loss"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")

    @classmethod
    def from_rate_and_burst(cls, rate: float, burst_packets: float) -> GilbertElliott:
        """The Gilbert model with mean loss ``rate`` in bursts of ``burst_packets`` on average."""
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"loss rate must be in [0, 1), got {rate}")
        if burst_packets < 1.0:
            raise ValueError(f"a mean burst is at least 1 packet, got {burst_packets}")
        r = 1.0 / burst_packets
        return cls(p=rate * r / (1.0 - rate), r=r)

    @property
    def mean_loss(self) -> float:
        """Long-run loss ratio."""
        if self.p + self.r == 0:
            return self.good_loss
        bad = self.p / (self.p + self.r)
        return (1.0 - bad) * self.good_loss + bad * self.bad_loss

    def lost(self, flow: IntArray, rng: np.random.Generator, bad: NDArray[np.int8]) -> BoolArray:
        """Fates of packets of ``flow`` (in arrival order); ``bad`` holds each flow's state.

        ``bad[f]`` is -1 before flow f's first packet, then 0 (good) or 1 (bad);
        it is updated in place. Two uniforms are drawn per packet.
        """
        draws = rng.random((flow.size, 2))
        return _gilbert_elliott_kernel(
            np.asarray(flow, dtype=np.int64),
            draws,
            bad,
            self.p,
            self.r,
            self.good_loss,
            self.bad_loss,
        )


@dataclass(frozen=True)
class HarqOutcome:
    """Per packet: transmissions used, and whether all of them failed."""

    transmissions: IntArray
    failed: BoolArray


@dataclass(frozen=True)
class Harq:
    """Hybrid ARQ: a failed transport block is sent again one HARQ round trip later.

    Each transmission fails independently with ``bler``; after
    ``max_transmissions`` failures the block is lost (3GPP TS 36.321 clause
    5.4.2.2: the UE's uplink HARQ entity stops at maxHARQ-Tx). A packet that
    needed k transmissions is delayed by (k - 1) * ``rtt_s`` (8 ms in LTE FDD,
    TS 36.321 clause 5.4.2.2 / TS 36.213 clause 8 timing).
    """

    bler: float
    max_transmissions: int
    rtt_s: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.bler <= 1.0:
            raise ValueError(f"bler must be in [0, 1], got {self.bler}")
        if self.max_transmissions < 1:
            raise ValueError(f"max_transmissions must be >= 1, got {self.max_transmissions}")
        if self.rtt_s < 0:
            raise ValueError(f"rtt_s must be >= 0, got {self.rtt_s}")

    def outcome(self, count: int, rng: np.random.Generator) -> HarqOutcome:
        """Draw ``count`` packets' transmissions (one geometric draw each; none when bler is 0)."""
        if self.bler == 0.0:
            return HarqOutcome(np.ones(count, dtype=np.int64), np.zeros(count, dtype=np.bool_))
        if self.bler == 1.0:
            full = np.full(count, self.max_transmissions, dtype=np.int64)
            return HarqOutcome(full, np.ones(count, dtype=np.bool_))
        needed = rng.geometric(1.0 - self.bler, count).astype(np.int64)
        failed = needed > self.max_transmissions
        return HarqOutcome(np.minimum(needed, self.max_transmissions), failed)

    def extra_delay_s(self, outcome: HarqOutcome) -> FloatArray:
        """Retransmission delay of each packet."""
        return (outcome.transmissions - 1).astype(np.float64) * self.rtt_s
