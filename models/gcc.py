"""Google Congestion Control (draft-ietf-rmcat-gcc-02): the receiver's and the sender's halves.

- ``DelayBasedEstimator`` takes each received packet (arrival time, send
  time, size) through inter-arrival grouping (``gcc_arrival``), a delay
  filter (``gcc_trendline`` by default, ``gcc_kalman`` as an option), the
  over-use detector (``gcc_detector``) and AIMD rate control (``gcc_rate``),
  and holds A_hat, the delay-based estimate the receiver feeds back.
- ``GccSender`` takes each feedback report (packets expected and lost, the
  delay-based estimate when it carries one, CE marks, the RTTs ``gcc_rtt``
  derives from reports), runs the loss-based controller (``gcc_loss``) under
  the delay-based ceiling, and, when ``GccConfig.ecn`` is set, scales its rate
  on CE marks (``gcc_ecn``), at most once per the latest report's min RTT.
  Its network target is the smaller of the delay- and loss-based estimates;
  the rate it sends at is that target after libwebrtc's congestion-window
  pushback (``gcc_pushback``) when ``GccConfig.pushback`` is set (the
  default): the window follows the network target and the smallest recent
  max RTT, and the report's bytes in flight fill it.

Pure: no clock; every time comes in as an argument, in seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple

from voipbed.models.gcc_arrival import GROUP_LENGTH_S, InterArrival
from voipbed.models.gcc_detector import BandwidthUsage, DetectorConfig, OveruseDetector
from voipbed.models.gcc_ecn import EcnConfig, EcnController
from voipbed.models.gcc_kalman import KalmanConfig, KalmanDelayFilter
from voipbed.models.gcc_loss import LossBasedControl, LossConfig, loss_fraction
from voipbed.models.gcc_pushback import CongestionWindowPushback, PushbackConfig
from voipbed.models.gcc_rate import AimdConfig, AimdRateControl, IncomingRate
from voipbed.models.gcc_trendline import TrendlineConfig, TrendlineEstimator

__all__ = [
    "DelayBasedEstimator",
    "DelayFilter",
    "GccConfig",
    "GccSender",
    "SenderUpdate",
]


class DelayFilter(Enum):
    """Which filter turns group deltas into the detector's signal."""

    TRENDLINE = "trendline"  # libwebrtc's TrendlineEstimator
    KALMAN = "kalman"  # draft-ietf-rmcat-gcc-02 section 5.3


@dataclass(frozen=True)
class GccConfig:
    """Every GCC tunable, each part's defaults documented in its own config.

    The default pairs libwebrtc's trendline filter with libwebrtc's threshold
    gains (the gains it tuned for that filter's scaled slope); ``draft()``
    pairs the draft's Kalman filter (5.3) with the draft's gains (5.4).
    """

    group_length_s: float = GROUP_LENGTH_S  # draft 5.2: burst_time, 5 ms
    delay_filter: DelayFilter = DelayFilter.TRENDLINE
    trendline: TrendlineConfig = field(default_factory=TrendlineConfig)
    kalman: KalmanConfig = field(default_factory=KalmanConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig.libwebrtc)
    aimd: AimdConfig = field(default_factory=AimdConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    ecn: EcnConfig | None = None  # None: CE marks are ignored
    pushback: PushbackConfig | None = field(default_factory=PushbackConfig)  # None: off
    rate_window_s: float = 0.5  # draft 5.5: R_hat over 0.5 to 1 s
    update_interval_s: float = 0.1  # libwebrtc RemoteEstimatorProxy: feedback every 100 ms

    def __post_init__(self) -> None:
        if self.rate_window_s <= 0.0 or self.update_interval_s <= 0.0:
            raise ValueError("rate window and update interval must be positive")

    @staticmethod
    def draft() -> GccConfig:
        """draft-ietf-rmcat-gcc-02 as written: Kalman filter (5.3), K_u and K_d of 5.4, and
        5.5's additive increase per update."""
        return GccConfig(
            delay_filter=DelayFilter.KALMAN,
            detector=DetectorConfig(),
            aimd=AimdConfig(additive_floor_bps_per_s=None),
        )


class DelayBasedEstimator:
    """A_hat from received packets: the receiver side of GCC (REMB-style) or the
    sender side fed by per-packet feedback (transport-wide), the same either way."""

    def __init__(self, config: GccConfig | None = None) -> None:
        self.config = config or GccConfig()
        config = self.config
        self._arrival = InterArrival(config.group_length_s)
        self._filter: TrendlineEstimator | KalmanDelayFilter
        if config.delay_filter is DelayFilter.KALMAN:
            self._filter = KalmanDelayFilter(config.kalman)
        else:
            self._filter = TrendlineEstimator(config.trendline)
        self._detector = OveruseDetector(config.detector)
        self._rate = AimdRateControl(config.aimd)
        self._incoming = IncomingRate(config.rate_window_s)
        self._last_update_s = -math.inf

    @property
    def estimate_bps(self) -> float | None:
        """A_hat, or None before it is initialised."""
        return self._rate.estimate_bps

    @property
    def usage(self) -> BandwidthUsage:
        """The detector's latest hypothesis."""
        return self._detector.usage

    @property
    def threshold_ms(self) -> float:
        """The detector's adaptive threshold."""
        return self._detector.threshold_ms

    def incoming_bps(self, now_s: float) -> float | None:
        """R_hat at ``now_s`` (None before a full window)."""
        return self._incoming.rate_bps(now_s)

    @property
    def rtt_s(self) -> float:
        """The AIMD's round-trip time (``AimdConfig.rtt_s`` until one is set)."""
        return self._rate.rtt_s

    def set_rtt(self, rtt_s: float) -> None:
        """The AIMD's round-trip time (``AimdRateControl.set_rtt``), when the caller knows it."""
        self._rate.set_rtt(rtt_s)

    def on_packet(self, arrival_s: float, send_s: float, size_bytes: int) -> float | None:
        """Take one received packet; A_hat afterwards (None while not initialised)."""
        self._incoming.add(arrival_s, size_bytes)
        delta = self._arrival.add(send_s, arrival_s, size_bytes)
        if delta is not None:
            self._detector.detect(self._filter.update(delta))
        usage = self._detector.usage
        throughput = self._incoming.rate_bps(arrival_s)
        if usage is BandwidthUsage.OVERUSING:
            due = self._rate.time_to_reduce(arrival_s, throughput)
        else:
            due = arrival_s - self._last_update_s >= self.config.update_interval_s
        if due:
            self._rate.update(usage, throughput, arrival_s)
            self._last_update_s = arrival_s
        return self._rate.estimate_bps


class SenderUpdate(NamedTuple):
    """The sender's estimates after one feedback report.

    ``target_bps``: the rate to send at; ``network_bps``: min(delay-based,
    loss-based) before the congestion-window pushback.
    """

    target_bps: float
    network_bps: float
    delay_based_bps: float | None
    loss_based_bps: float
    loss: float
    ecn_alpha: float | None


class GccSender:
    """The sender's rate: min(delay-based, loss-based), CE-mark response and pushback optional."""

    def __init__(self, start_bps: float, config: GccConfig | None = None) -> None:
        self.config = config or GccConfig()
        self._loss = LossBasedControl(start_bps, self.config.loss)
        self._ecn = EcnController(self.config.ecn) if self.config.ecn is not None else None
        pushback = self.config.pushback
        self._pushback = CongestionWindowPushback(pushback) if pushback is not None else None
        self._delay_bps: float | None = None
        self._send_bps = start_bps

    @property
    def target_bps(self) -> float:
        """The rate the sender should send at."""
        return self._send_bps

    @property
    def window_bytes(self) -> float | None:
        """The pushback's congestion window (None: pushback off, or no window yet)."""
        return None if self._pushback is None else self._pushback.window_bytes

    def on_feedback(
        self,
        now_s: float,
        *,
        expected: int,
        lost: int,
        delay_based_bps: float | None = None,
        ce_marked: int = 0,
        rtt_s: float | None = None,
        window_rtt_s: float | None = None,
        in_flight_bytes: int | None = None,
    ) -> SenderUpdate:
        """Take one feedback report (counts since the previous report).

        ``rtt_s``: the latest report's min RTT (``FeedbackRtt.latest_min_s``,
        libwebrtc's ``SendSideBandwidthEstimation`` RTT), the ECN response's
        spacing; None: ``EcnConfig.default_rtt_s``. ``window_rtt_s``: the
        smallest recent max RTT (``FeedbackRtt.min_max_s``); when given, the
        congestion window takes this report's network target and it, after the
        target is set and before the pushback's step, as libwebrtc's process
        interval orders them (``UpdateCongestionWindowSize``, then
        ``MaybeTriggerOnNetworkChanged``). ``in_flight_bytes``: bytes sent and
        not yet reported received or lost; the pushback steps only when it is
        given and a window exists.
        """
        if delay_based_bps is not None:
            if delay_based_bps <= 0.0:
                raise ValueError("delay-based estimate must be positive")
            self._delay_bps = delay_based_bps
        ceiling = math.inf if self._delay_bps is None else self._delay_bps
        loss = loss_fraction(expected, lost)
        alpha: float | None = None
        if self._ecn is not None:
            response = self._ecn.update(now_s, expected - lost, ce_marked, rtt_s)
            alpha = response.alpha
            if response.congested:  # no increase on a marked report, scale on the RTT edge
                ceiling = min(ceiling, self._loss.estimate_bps)
                self._loss.update(loss, ceiling)
                self._loss.set(self._loss.estimate_bps * response.factor)
            else:
                self._loss.update(loss, ceiling)
        else:
            self._loss.update(loss, ceiling)
        network = self._target()
        self._send_bps = network
        if self._pushback is not None:
            if window_rtt_s is not None:
                self._pushback.set_window(network, window_rtt_s)
            if in_flight_bytes is not None:
                self._send_bps = self._pushback.update(network, in_flight_bytes)
        return SenderUpdate(
            self._send_bps, network, self._delay_bps, self._loss.estimate_bps, loss, alpha
        )

    def _target(self) -> float:
        loss_based = self._loss.estimate_bps
        return loss_based if self._delay_bps is None else min(loss_based, self._delay_bps)
