"""Congestion-window pushback: libwebrtc's limit on data in flight (goog_cc).

GCC's delay-based decrease leaves the sender at 0.85 of the measured rate,
which drains a standing queue at only 15 % of the capacity. libwebrtc's
``CongestionWindowPushbackController`` adds a window of data in flight,
target x (RTT + 350 ms), and on each feedback report scales the rate it
hands the encoder by the fill ratio (outstanding bytes / window):

    fill > 1.5: ratio *= 0.9;  fill > 1: ratio *= 0.95;
    fill < 0.1: ratio = 1;     otherwise ratio = min(1.05 ratio, 1)

never pushing below 30 kbit/s (unless the target itself is lower).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CongestionWindowPushback", "PushbackConfig"]

# libwebrtc congestion_window_pushback_controller.cc UpdateTargetBitrate: fill-ratio steps.
FILL_OVER = 1.5  # fill > 1.5: ratio *= 0.9
SCALE_OVER = 0.9
FILL_FULL = 1.0  # fill > 1: ratio *= 0.95
SCALE_FULL = 0.95
FILL_EMPTY = 0.1  # fill < 0.1: ratio = 1
SCALE_UP = 1.05  # otherwise ratio = min(1.05 ratio, 1)


@dataclass(frozen=True)
class PushbackConfig:
    """Tunables; defaults are libwebrtc's (rate_control_settings.cc, congestion window)."""

    queue_s: float = 0.35  # kDefaultAcceptedQueueMs: the window is RTT + 350 ms of target
    min_bps: float = 30_000.0  # kDefaultMinPushbackTargetBitrateBps
    min_window_bytes: int = 3000  # goog_cc_network_control.cc kMinCwnd: 2 * 1500 bytes

    def __post_init__(self) -> None:
        if self.queue_s < 0.0 or self.min_bps < 0.0 or self.min_window_bytes <= 0:
            raise ValueError("pushback queue, minimum rate and minimum window must be positive")


class CongestionWindowPushback:
    """The encoder-rate ratio from outstanding data against the congestion window."""

    def __init__(self, config: PushbackConfig | None = None) -> None:
        self.config = config or PushbackConfig()
        self._ratio = 1.0

    @property
    def ratio(self) -> float:
        """The current encoding-rate ratio, in (0, 1]."""
        return self._ratio

    def window_bytes(self, target_bps: float, rtt_s: float) -> float:
        """The congestion window: target x (RTT + accepted queue), at least the minimum."""
        window = target_bps * (rtt_s + self.config.queue_s) / 8.0
        return max(window, float(self.config.min_window_bytes))

    def update(self, target_bps: float, outstanding_bytes: int, rtt_s: float) -> float:
        """One feedback report: the rate to send at, given the network target."""
        if outstanding_bytes < 0 or rtt_s < 0.0:
            raise ValueError("outstanding bytes and RTT must not be negative")
        fill = outstanding_bytes / self.window_bytes(target_bps, rtt_s)
        if fill > FILL_OVER:
            self._ratio *= SCALE_OVER
        elif fill > FILL_FULL:
            self._ratio *= SCALE_FULL
        elif fill < FILL_EMPTY:
            self._ratio = 1.0
        else:
            self._ratio = min(self._ratio * SCALE_UP, 1.0)
        pushed = target_bps * self._ratio
        if pushed < self.config.min_bps:
            return min(target_bps, self.config.min_bps)
        return pushed
