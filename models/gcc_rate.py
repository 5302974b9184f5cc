"""GCC delay-based rate control: AIMD with a hold/increase/decrease machine (draft 5.5).

``AimdRateControl.update`` takes the detector's hypothesis, the incoming rate
R_hat and the time, and moves the state machine of draft-ietf-rmcat-gcc-02
section 5.5 (over-use: decrease; normal: hold -> increase, increase stays;
under-use: hold; a decrease is followed by hold). In increase the estimate
grows multiplicatively, eta = 1.08^min(dt, 1 s), while no link capacity is
known, and additively once a decrease has measured one and R_hat stays
within three standard deviations of it: by default as libwebrtc does, one
expected packet per twice the response time (100 ms + RTT) and at least
4 kbit/s per second, over the time since the last change; with
``additive_floor_bps_per_s`` None as the draft does, half an expected packet
per response time and at least 1 kbit/s per update. A decrease sets A_hat = 0.85 R_hat. A_hat never
exceeds 1.5 R_hat + 10 kbit/s. ``IncomingRate`` measures R_hat over a
sliding window (draft 5.5: 0.5 to 1 s).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import IntEnum

from voipbed.models.gcc_detector import BandwidthUsage

__all__ = ["AimdConfig", "AimdRateControl", "IncomingRate", "RateControlState"]

CAPACITY_VAR_MIN = 0.4  # libwebrtc LinkCapacityEstimator: normalised variance, initial and floor
CAPACITY_VAR_MAX = 2.5  # libwebrtc LinkCapacityEstimator: normalised variance ceiling
CAPACITY_DEVIATIONS = 3.0  # libwebrtc LinkCapacityEstimator UpperBound/LowerBound: 3 deviations
MIN_REDUCE_INTERVAL_S = 0.01  # libwebrtc TimeToReduceFurther: RTT clamped to [10, 200] ms
MAX_REDUCE_INTERVAL_S = 0.2
FAST_REDUCE_RATIO = 0.5  # libwebrtc TimeToReduceFurther: throughput under half the estimate


class RateControlState(IntEnum):
    """States of the rate controller (draft 5.5, figure 2)."""

    HOLD = 0
    INCREASE = 1
    DECREASE = 2


LIBWEBRTC_RESPONSE_FACTOR = 2.0  # aimd_rate_control.cc: response_time = response_time * 2


@dataclass(frozen=True)
class AimdConfig:
    """Tunables of the rate controller; the source of each default is in its comment."""

    beta: float = 0.85  # draft 5.5: A_hat = beta * R_hat, beta in [0.8, 0.95]
    eta: float = 1.08  # draft 5.5: multiplicative increase per second
    min_multiplicative_bps: float = 1000.0  # libwebrtc MultiplicativeRateIncrease floor
    min_additive_bps: float = 1000.0  # draft 5.5: max(1000, alpha * packet bits)
    # libwebrtc AimdRateControl::AdditiveRateIncrease (GetNearMaxIncreaseRateBpsPerSecond):
    # max(4 kbit/s per second (kMinIncreaseRateBpsPerSecond), one packet per twice the
    # response time) times the time since the last change; None: the draft's per-update rule
    additive_floor_bps_per_s: float | None = 4000.0
    response_offset_s: float = 0.1  # draft 5.5: response_time = 100 ms + RTT
    frame_rate_hz: float = 30.0  # draft 5.5: bits_per_frame = A_hat / 30
    packet_bytes: int = 1200  # draft 5.5: packets_per_frame = ceil(bits / (1200 * 8))
    max_increase_ratio: float = 1.5  # draft 5.5: A_hat < 1.5 R_hat
    increase_headroom_bps: float = 10_000.0  # libwebrtc AimdRateControl: 1.5 R + 10 kbit/s
    capacity_smoothing: float = 0.05  # libwebrtc LinkCapacityEstimator alpha
    min_bps: float = 5_000.0  # libwebrtc kCongestionControllerMinBitrate
    max_bps: float = 30_000_000.0  # libwebrtc AimdRateControl max_configured_bitrate_
    start_bps: float | None = None  # None: take R_hat after init_time_s
    init_time_s: float = 5.0  # libwebrtc AimdRateControl kInitializationTime
    rtt_s: float = 0.2  # libwebrtc AimdRateControl kDefaultRtt

    def __post_init__(self) -> None:
        if not 0.0 < self.beta < 1.0:
            raise ValueError("beta must be in (0, 1)")
        if self.eta <= 1.0 or self.max_increase_ratio <= 1.0:
            raise ValueError("eta and the increase ratio must exceed 1")
        if not 0.0 < self.min_bps <= self.max_bps:
            raise ValueError("bitrate bounds must satisfy 0 < min <= max")
        if self.start_bps is not None and not self.min_bps <= self.start_bps <= self.max_bps:
            raise ValueError("start bitrate must lie within the bounds")
        if self.rtt_s < 0.0 or self.init_time_s < 0.0:
            raise ValueError("RTT and initialisation time must not be negative")


class IncomingRate:
    """Received bitrate over a sliding window (draft 5.5: R_hat over 0.5 to 1 s)."""

    def __init__(self, window_s: float = 0.5) -> None:
        if window_s <= 0.0:
            raise ValueError("the rate window must be positive")
        self._window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()
        self._bytes = 0
        self._first_s = math.nan

    def add(self, now_s: float, size_bytes: int) -> None:
        """Count one packet received at ``now_s``."""
        if math.isnan(self._first_s):
            self._first_s = now_s
        self._samples.append((now_s, size_bytes))
        self._bytes += size_bytes
        self._expire(now_s)

    def rate_bps(self, now_s: float) -> float | None:
        """R_hat at ``now_s``; None before a full window has passed or when nothing arrived."""
        self._expire(now_s)
        if math.isnan(self._first_s) or now_s - self._first_s < self._window_s:
            return None
        if not self._samples:
            return None
        return self._bytes * 8.0 / self._window_s

    def _expire(self, now_s: float) -> None:
        samples = self._samples
        horizon = now_s - self._window_s
        while samples and samples[0][0] <= horizon:
            self._bytes -= samples.popleft()[1]


class _LinkCapacity:
    """Average of R_hat at decreases and its spread (draft 5.5; libwebrtc LinkCapacityEstimator)."""

    def __init__(self, smoothing: float) -> None:
        self._alpha = smoothing
        self.estimate_kbps = math.nan
        self._var = CAPACITY_VAR_MIN  # libwebrtc deviation_kbps_ initial, normalised variance

    @property
    def known(self) -> bool:
        return not math.isnan(self.estimate_kbps)

    def _deviation_kbps(self) -> float:
        return math.sqrt(self._var * self.estimate_kbps)

    def upper_kbps(self) -> float:
        if not self.known:
            return math.inf
        return self.estimate_kbps + CAPACITY_DEVIATIONS * self._deviation_kbps()

    def lower_kbps(self) -> float:
        if not self.known:
            return 0.0
        return max(0.0, self.estimate_kbps - CAPACITY_DEVIATIONS * self._deviation_kbps())

    def reset(self) -> None:
        self.estimate_kbps = math.nan

    def on_overuse(self, throughput_kbps: float) -> None:
        alpha = self._alpha
        if self.known:
            self.estimate_kbps = (1.0 - alpha) * self.estimate_kbps + alpha * throughput_kbps
        else:
            self.estimate_kbps = throughput_kbps
        norm = max(self.estimate_kbps, 1.0)
        error = self.estimate_kbps - throughput_kbps
        self._var = (1.0 - alpha) * self._var + alpha * error * error / norm
        self._var = min(max(self._var, CAPACITY_VAR_MIN), CAPACITY_VAR_MAX)


class AimdRateControl:
    """A_hat, the delay-based estimate, from the detector's hypotheses (draft 5.5)."""

    def __init__(self, config: AimdConfig | None = None) -> None:
        self.config = config or AimdConfig()
        start = self.config.start_bps
        self._bitrate_bps = start if start is not None else self.config.max_bps
        self._initialised = start is not None
        self._state = RateControlState.HOLD
        self._capacity = _LinkCapacity(self.config.capacity_smoothing)
        self._last_change_s = -math.inf
        self._first_throughput_s = math.nan
        self._latest_throughput_bps = self._bitrate_bps
        self._rtt_s = self.config.rtt_s

    @property
    def state(self) -> RateControlState:
        """The state machine's state after the last update."""
        return self._state

    @property
    def estimate_bps(self) -> float | None:
        """A_hat, or None before it is initialised."""
        return self._bitrate_bps if self._initialised else None

    @property
    def near_capacity(self) -> bool:
        """Whether a link capacity is known (additive rather than multiplicative increase)."""
        return self._capacity.known

    @property
    def rtt_s(self) -> float:
        """The round-trip time the additive increase and the decrease spacing use."""
        return self._rtt_s

    def set_rtt(self, rtt_s: float) -> None:
        """The round-trip time, used by the additive increase and the decrease spacing
        (libwebrtc ``AimdRateControl::SetRtt``; send-side GCC gives it the mean of the
        recent reports' max RTTs, ``gcc_rtt.FeedbackRtt.mean_max_s``)."""
        if rtt_s < 0.0:
            raise ValueError("RTT must not be negative")
        self._rtt_s = rtt_s

    def time_to_reduce(self, now_s: float, throughput_bps: float | None) -> bool:
        """Whether a further decrease is due (libwebrtc AimdRateControl::TimeToReduceFurther).

        Once per RTT (clamped to [10, 200] ms), or at once when R_hat has fallen
        below half the estimate.
        """
        interval_s = min(max(self._rtt_s, MIN_REDUCE_INTERVAL_S), MAX_REDUCE_INTERVAL_S)
        if now_s - self._last_change_s >= interval_s:
            return True
        return (
            self._initialised
            and throughput_bps is not None
            and throughput_bps < FAST_REDUCE_RATIO * self._bitrate_bps
        )

    def update(
        self, usage: BandwidthUsage, throughput_bps: float | None, now_s: float
    ) -> float | None:
        """Apply one hypothesis; A_hat afterwards, or None while it is not initialised."""
        config = self.config
        if not self._initialised and throughput_bps is not None:
            if math.isnan(self._first_throughput_s):
                self._first_throughput_s = now_s
            elif now_s - self._first_throughput_s > config.init_time_s:
                self._bitrate_bps = throughput_bps
                self._initialised = True
        if throughput_bps is not None:
            self._latest_throughput_bps = throughput_bps
        throughput = self._latest_throughput_bps
        if not self._initialised and usage is not BandwidthUsage.OVERUSING:
            return None
        self._change_state(usage, now_s)
        if self._state is RateControlState.INCREASE:
            self._increase(throughput, now_s)
        elif self._state is RateControlState.DECREASE:
            self._decrease(throughput, now_s)
        return self._bitrate_bps

    def _change_state(self, usage: BandwidthUsage, now_s: float) -> None:
        if usage is BandwidthUsage.OVERUSING:
            self._state = RateControlState.DECREASE
        elif usage is BandwidthUsage.UNDERUSING:
            self._state = RateControlState.HOLD
        elif self._state is RateControlState.HOLD:
            self._last_change_s = now_s
            self._state = RateControlState.INCREASE

    def _increase(self, throughput_bps: float, now_s: float) -> None:
        config = self.config
        if throughput_bps / 1000.0 > self._capacity.upper_kbps():
            self._capacity.reset()  # R_hat far above the known capacity: it has grown
        limit = config.max_increase_ratio * throughput_bps + config.increase_headroom_bps
        if self._bitrate_bps < limit:
            dt_s = now_s - self._last_change_s
            if self._capacity.known:
                increased = self._bitrate_bps + self._additive(dt_s)
            else:
                increased = self._bitrate_bps + self._multiplicative(dt_s)
            self._bitrate_bps = self._clamp(min(increased, limit))
        self._last_change_s = now_s

    def _multiplicative(self, dt_s: float) -> float:
        # draft 5.5: eta = 1.08^min(time_since_last_update / 1 s, 1)
        eta = self.config.eta ** min(dt_s, 1.0) if math.isfinite(dt_s) else self.config.eta
        return max(self._bitrate_bps * (eta - 1.0), self.config.min_multiplicative_bps)

    def _additive(self, dt_s: float) -> float:
        # draft 5.5: alpha = 0.5 min(dt / response_time, 1), increase max(1000, alpha * packet)
        config = self.config
        bits_per_frame = self._bitrate_bps / config.frame_rate_hz
        packets_per_frame = math.ceil(bits_per_frame / (config.packet_bytes * 8.0))
        packet_bits = bits_per_frame / max(packets_per_frame, 1)
        response_s = config.response_offset_s + self._rtt_s
        floor = config.additive_floor_bps_per_s
        if floor is not None:  # libwebrtc: a rate per second, response time doubled
            per_second = max(floor, packet_bits / (LIBWEBRTC_RESPONSE_FACTOR * response_s))
            return per_second * (dt_s if math.isfinite(dt_s) else response_s)
        alpha = 0.5 * min(dt_s / response_s, 1.0) if math.isfinite(dt_s) else 0.5
        return max(config.min_additive_bps, alpha * packet_bits)

    def _decrease(self, throughput_bps: float, now_s: float) -> None:
        config = self.config
        decreased = config.beta * throughput_bps
        if decreased > self._bitrate_bps and self._capacity.known:
            decreased = config.beta * self._capacity.estimate_kbps * 1000.0
        if decreased < self._bitrate_bps:  # never increase on over-use
            self._bitrate_bps = self._clamp(decreased)
        if throughput_bps / 1000.0 < self._capacity.lower_kbps():
            self._capacity.reset()
        self._capacity.on_overuse(throughput_bps / 1000.0)
        self._initialised = True
        self._state = RateControlState.HOLD  # draft 5.5: hold until the queues drain
        self._last_change_s = now_s

    def _clamp(self, bitrate_bps: float) -> float:
        return min(max(bitrate_bps, self.config.min_bps), self.config.max_bps)
