"""GCC loss-based controller at the sender (draft-ietf-rmcat-gcc-02 section 6).

On each feedback report with loss fraction p since the previous one:

    As_hat = As_hat (1 - 0.5 p)   if p > 10 %
    As_hat = 1.05 As_hat           if p < 2 %
    As_hat unchanged               otherwise

and As_hat never exceeds the ceiling passed in (the delay-based estimate:
the target is the smaller of the two, draft section 6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["LossBasedControl", "LossConfig", "loss_fraction"]


@dataclass(frozen=True)
class LossConfig:
    """Tunables; defaults from draft-ietf-rmcat-gcc-02 section 6."""

    low_loss: float = 0.02  # draft 6: below 2 % the rate increases
    high_loss: float = 0.10  # draft 6: above 10 % it decreases
    increase: float = 1.05  # draft 6: As_hat = 1.05 As_hat
    decrease_gain: float = 0.5  # draft 6: As_hat = As_hat (1 - 0.5 p)
    min_bps: float = 5_000.0  # libwebrtc kCongestionControllerMinBitrate
    max_bps: float = 30_000_000.0  # libwebrtc AimdRateControl max_configured_bitrate_

    def __post_init__(self) -> None:
        if not 0.0 <= self.low_loss <= self.high_loss <= 1.0:
            raise ValueError("loss thresholds must satisfy 0 <= low <= high <= 1")
        if self.increase < 1.0 or not 0.0 < self.decrease_gain <= 1.0:
            raise ValueError("increase must be >= 1 and the decrease gain in (0, 1]")
        if not 0.0 < self.min_bps <= self.max_bps:
            raise ValueError("bitrate bounds must satisfy 0 < min <= max")


def loss_fraction(expected: int, lost: int) -> float:
    """p: lost / expected over a report, 0 when nothing was expected (RFC 3550 6.4.1)."""
    if expected < 0 or lost < 0:
        raise ValueError("packet counts must not be negative")
    if expected == 0:
        return 0.0
    return min(lost / expected, 1.0)


class LossBasedControl:
    """As_hat, the loss-based estimate, updated once per feedback report."""

    def __init__(self, start_bps: float, config: LossConfig | None = None) -> None:
        self.config = config or LossConfig()
        if not self.config.min_bps <= start_bps <= self.config.max_bps:
            raise ValueError("start bitrate must lie within the bounds")
        self._bitrate_bps = start_bps

    @property
    def estimate_bps(self) -> float:
        """As_hat."""
        return self._bitrate_bps

    def update(self, loss: float, ceiling_bps: float = math.inf) -> float:
        """Apply one report's loss fraction; As_hat afterwards, at most ``ceiling_bps``."""
        if not 0.0 <= loss <= 1.0:
            raise ValueError(f"loss fraction must be in [0, 1], got {loss}")
        config = self.config
        rate = self._bitrate_bps
        if loss > config.high_loss:
            rate *= 1.0 - config.decrease_gain * loss
        elif loss < config.low_loss:
            rate *= config.increase
        self.set(min(rate, ceiling_bps))
        return self._bitrate_bps

    def set(self, bitrate_bps: float) -> None:
        """Set As_hat (clamped to the configured bounds), e.g. after another congestion signal."""
        self._bitrate_bps = min(max(bitrate_bps, self.config.min_bps), self.config.max_bps)
