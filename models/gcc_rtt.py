"""The round-trip times libwebrtc's send-side GCC takes from its feedback reports.

``GoogCcNetworkController::OnTransportPacketsFeedback``
(modules/congestion_controller/goog_cc/goog_cc_network_control.cc) measures,
for each report with at least one received packet, with ``now`` the report's
arrival at the sender:

- ``feedback_max_rtt`` = max over the received packets of (now - send time):
  the oldest packet's wait, queue and report delay included ("max() is used to
  account for feedback being delayed by the receiver"), kept in whole
  milliseconds (``TimeDelta::ms()``, rounded to nearest) in a deque of the
  last 32 reports (``kMaxFeedbackRttWindow``);
- ``feedback_min_rtt`` = min over the received packets of (now - send time -
  pending time), the pending time being how long the packet had arrived
  before the newest one (max receive time - receive time): the round trip
  with the report's own hold taken out (libwebrtc's current sign; older
  releases computed receive time - max receive time, adding the hold).

Each RTT goes to one consumer:

- the delay-based AIMD (``AimdRateControl::SetRtt`` through
  ``DelayBasedBwe::OnRttUpdate``, with packet feedback only) takes the mean
  of the deque, in whole milliseconds (int64 sum / count, truncated), as
  libwebrtc computes it: ``mean_max_s``;
- the congestion window (``UpdateCongestionWindowSize``) takes the minimum
  of the deque: ``min_max_s``. A queue enters it only once all of the last
  32 reports saw it (3.2 s of 100 ms feedback), so the window does not grow
  with a queue that builds after a capacity drop;
- ``SendSideBandwidthEstimation::UpdateRtt`` takes ``feedback_min_rtt``:
  ``latest_min_s``. libwebrtc spaces its loss-based decreases by it
  (kBweDecreaseInterval + RTT); voipbed's loss controller (draft section 6)
  has no spacing, and its ECN controller, the loss response's stand-in
  (RFC 8511), scales once per this RTT.

Whole milliseconds keep every sum exact, so ``GccBank`` and this model agree
bit for bit. Pure: no clock; every time comes in as an argument, in seconds.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import NamedTuple

__all__ = ["RTT_WINDOW", "FeedbackRtt", "ReportRtt", "whole_ms"]

RTT_WINDOW = 32  # goog_cc_network_control.cc kMaxFeedbackRttWindow


def whole_ms(rtt_s: float) -> int:
    """``rtt_s`` in whole milliseconds, halves up (libwebrtc ``TimeDelta::ms()``)."""
    return math.floor(rtt_s * 1000.0 + 0.5)


class ReportRtt(NamedTuple):
    """One report's RTTs: ``max_s`` = feedback_max_rtt, ``min_s`` = feedback_min_rtt."""

    max_s: float
    min_s: float


def report_rtt(
    now_s: float, send_s: Sequence[float], arrival_s: Sequence[float]
) -> ReportRtt | None:
    """The RTTs of a report arriving at ``now_s`` whose received packets were sent at
    ``send_s`` and arrived at ``arrival_s`` (receiver's clock); None without any.

    min over packets of (now - send - (newest arrival - arrival)) is computed as
    (now - newest arrival) + min(arrival - send), the receiver's clock offset cancelling.
    """
    if len(send_s) == 0:
        return None
    if max(send_s) > now_s:
        raise ValueError("a reported packet was sent after the report arrived")
    earliest_s = math.inf
    newest_s = -math.inf
    least_s = math.inf
    for send, arrival in zip(send_s, arrival_s, strict=True):
        earliest_s = min(earliest_s, float(send))
        newest_s = max(newest_s, float(arrival))
        least_s = min(least_s, float(arrival) - float(send))
    return ReportRtt(now_s - earliest_s, (now_s - newest_s) + least_s)


class FeedbackRtt:
    """The last ``RTT_WINDOW`` reports' max RTTs (whole ms) and the latest min RTT."""

    def __init__(self) -> None:
        self._max_ms: deque[int] = deque(maxlen=RTT_WINDOW)
        self._latest_min_s: float | None = None

    @property
    def mean_max_s(self) -> float | None:
        """The delay-based AIMD's RTT: mean of the recent max RTTs, whole ms (None: none)."""
        if not self._max_ms:
            return None
        return (sum(self._max_ms) // len(self._max_ms)) / 1000.0

    @property
    def min_max_s(self) -> float | None:
        """The congestion window's RTT: the smallest recent max RTT (None: none)."""
        if not self._max_ms:
            return None
        return min(self._max_ms) / 1000.0

    @property
    def latest_min_s(self) -> float | None:
        """The latest report's min RTT, pending time removed (None: none yet)."""
        return self._latest_min_s

    def on_report(
        self, now_s: float, send_s: Sequence[float], arrival_s: Sequence[float]
    ) -> ReportRtt | None:
        """Take one report (its received packets' send and arrival times); its RTTs."""
        rtt = report_rtt(now_s, send_s, arrival_s)
        if rtt is not None:
            self._max_ms.append(whole_ms(rtt.max_s))
            self._latest_min_s = rtt.min_s
        return rtt
