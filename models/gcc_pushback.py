"""Congestion-window pushback: libwebrtc's limit on data in flight (goog_cc).

GCC's delay-based decrease leaves the sender at 0.85 of the measured rate,
which drains a standing queue at only 15 % of the capacity. libwebrtc adds a
congestion window (``GoogCcNetworkController::UpdateCongestionWindowSize``):

    data_window = target x (RTT + 350 ms);  window = max(2 x 1500 B, (data_window + window) / 2)

the first window being max(2 x 1500 B, data_window). The RTT is the smallest
of the last 32 reports' max RTTs (``gcc_rtt``), which a queue enters only
once it has stood through all of them, and the target is the network target
before pushback (``last_loss_based_target_rate_``). On each feedback report
``CongestionWindowPushbackController`` scales the rate it hands the encoder
by the fill ratio (outstanding bytes / window):

    fill > 1.5: ratio *= 0.9;  fill > 1: ratio *= 0.95;
    fill < 0.1: ratio = 1;     otherwise ratio = min(1.05 ratio, 1)

never pushing below 30 kbit/s (unless the target itself is lower), and
leaving the rate alone until a window exists. libwebrtc also averages the
window and steps the ratio on every process interval (``OnProcessInterval``)
and keeps the window in whole bytes; here both happen once per feedback
report, in floats.
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
    """The congestion window, and the encoder-rate ratio from outstanding data against it."""

    def __init__(self, config: PushbackConfig | None = None) -> None:
        self.config = config or PushbackConfig()
        self._ratio = 1.0
        self._window_bytes: float | None = None

    @property
    def ratio(self) -> float:
        """The current encoding-rate ratio, in (0, 1]."""
        return self._ratio

    @property
    def window_bytes(self) -> float | None:
        """The congestion window (None before the first ``set_window``)."""
        return self._window_bytes

    def set_window(self, target_bps: float, rtt_s: float) -> float:
        """Average target x (``rtt_s`` + accepted queue) into the window; the window after."""
        if rtt_s < 0.0:
            raise ValueError("RTT must not be negative")
        data_window = target_bps * (rtt_s + self.config.queue_s) / 8.0
        if self._window_bytes is not None:
            data_window = (data_window + self._window_bytes) / 2.0
        self._window_bytes = max(data_window, float(self.config.min_window_bytes))
        return self._window_bytes

    def update(self, target_bps: float, outstanding_bytes: int) -> float:
        """One feedback report: the rate to send at, given the network target."""
        if outstanding_bytes < 0:
            raise ValueError("outstanding bytes must not be negative")
        if self._window_bytes is None:
            return target_bps
        fill = outstanding_bytes / self._window_bytes
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
