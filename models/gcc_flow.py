"""One GCC-controlled flow seen from its sender, with transport-wide feedback.

libwebrtc's send-side GCC: the receiver reports each packet's arrival time
(transport-wide congestion-control feedback, RTCP transport-cc or RFC 8888)
and the sender runs the delay-based estimator itself. ``GccFlow.on_report``
takes one such report at its arrival time: the bytes the sender has in
flight, the packets expected, lost and CE-marked since the previous report,
and the send time, arrival time and size of every packet the report says was
received, in arrival order. As ``GoogCcNetworkController``
(``OnTransportPacketsFeedback``) does, it measures the report's RTTs from
those packets (``gcc_rtt``: no RTT comes from outside) and gives the mean of
the recent max RTTs to the delay-based AIMD before the packets; it feeds the
packets to a ``DelayBasedEstimator``, then the report to a ``GccSender``
with the delay-based estimate, the latest min RTT (ECN's spacing) and the
smallest recent max RTT (the congestion window), and returns the sender's
``SenderUpdate``. Arrival times are on the receiver's clock (only their
differences count); the report's arrival and the send times on the sender's.

Start and bounds follow libwebrtc's ``GoogCcNetworkController``:

- the delay-based AIMD starts at ``start_bps`` and is initialised from the
  first packet (``UpdateBitrateConstraints`` calls
  ``DelayBasedBwe::SetStartBitrate``, which sets ``AimdRateControl``'s
  current bitrate and marks it initialised), so the delay-based estimate is
  never None here; the loss-based estimate starts there too
  (``SendSideBandwidthEstimation::SetBitrates``);
- the rate handed to the sender is clamped to ``[min_bps, max_bps]``, the
  call's ``TargetRateConstraints`` (min and max data rate): libwebrtc caps the
  loss-based estimate to them (``SendSideBandwidthEstimation``
  ``CapBitrateToThresholds``) and keeps the pushback rate at least the minimum
  (``GoogCcNetworkController::MaybeTriggerOnNetworkChanged``).

Pure: no clock; every time comes in as an argument, in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from voipbed.models.gcc import DelayBasedEstimator, GccConfig, GccSender, SenderUpdate
from voipbed.models.gcc_detector import BandwidthUsage
from voipbed.models.gcc_rtt import FeedbackRtt

__all__ = ["GccFlow", "flow_config"]


def flow_config(config: GccConfig, start_bps: float) -> GccConfig:
    """``config`` with the delay-based AIMD starting at ``start_bps`` (SetStartBitrate)."""
    return replace(config, aimd=replace(config.aimd, start_bps=start_bps))


class GccFlow:
    """The sender of one flow: delay-based estimator on reported arrivals, then GccSender."""

    def __init__(
        self,
        start_bps: float,
        min_bps: float,
        max_bps: float,
        config: GccConfig | None = None,
    ) -> None:
        if not 0.0 < min_bps <= start_bps <= max_bps:
            raise ValueError("bitrates must satisfy 0 < min <= start <= max")
        self.config = flow_config(config or GccConfig(), start_bps)
        self.min_bps = min_bps
        self.max_bps = max_bps
        self._estimator = DelayBasedEstimator(self.config)
        self._sender = GccSender(start_bps, self.config)
        self._rtt = FeedbackRtt()
        self._target_bps = start_bps
        self._loss_based_bps = start_bps

    @property
    def target_bps(self) -> float:
        """The rate to send at after the latest report (``start_bps`` before any)."""
        return self._target_bps

    @property
    def delay_based_bps(self) -> float | None:
        """The delay-based estimate A_hat (None only if the AIMD were not initialised)."""
        return self._estimator.estimate_bps

    @property
    def threshold_ms(self) -> float:
        """The over-use detector's adaptive threshold."""
        return self._estimator.threshold_ms

    @property
    def usage(self) -> BandwidthUsage:
        """The over-use detector's latest hypothesis."""
        return self._estimator.usage

    @property
    def loss_based_bps(self) -> float:
        """The loss-based estimate As_hat after the latest report."""
        return self._loss_based_bps

    @property
    def rtt_s(self) -> float:
        """The delay-based AIMD's RTT: the mean of the recent max RTTs (its default before)."""
        return self._estimator.rtt_s

    @property
    def window_bytes(self) -> float | None:
        """The pushback's congestion window (None: pushback off, or no report with a
        received packet yet)."""
        return self._sender.window_bytes

    def on_report(
        self,
        now_s: float,
        in_flight_bytes: int | None,
        expected: int,
        lost: int,
        ce_marked: int,
        send_s: Sequence[float],
        arrival_s: Sequence[float],
        size_bytes: Sequence[int],
    ) -> SenderUpdate:
        """Take one feedback report arriving at ``now_s``; ``in_flight_bytes`` None when unknown.

        No packet may have been sent after ``now_s``. The update's ``target_bps``
        is clamped to ``[min_bps, max_bps]``.
        """
        if not len(send_s) == len(arrival_s) == len(size_bytes):
            raise ValueError("send, arrival and size arrays must have the same length")
        rtt = self._rtt
        rtt.on_report(now_s, send_s, arrival_s)
        mean_s = rtt.mean_max_s
        if mean_s is not None:
            self._estimator.set_rtt(mean_s)
        estimate = self._estimator.estimate_bps
        for send, arrival, size in zip(send_s, arrival_s, size_bytes, strict=True):
            estimate = self._estimator.on_packet(float(arrival), float(send), int(size))
        update = self._sender.on_feedback(
            now_s,
            expected=expected,
            lost=lost,
            delay_based_bps=estimate,
            ce_marked=ce_marked,
            rtt_s=rtt.latest_min_s,
            window_rtt_s=rtt.min_max_s,
            in_flight_bytes=in_flight_bytes,
        )
        self._target_bps = min(max(update.target_bps, self.min_bps), self.max_bps)
        self._loss_based_bps = update.loss_based_bps
        return update._replace(target_bps=self._target_bps)
