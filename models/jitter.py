"""Interarrival jitter of RFC 3550 (clause 6.4.1 and Appendix A.8).

For consecutive packets i-1, i in arrival order, D = (R_i - R_{i-1}) - (S_i - S_{i-1})
with R the arrival time and S the RTP timestamp (both in seconds here), and
J_i = J_{i-1} + (|D| - J_{i-1}) / 16: a first-order low-pass filter.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from voipbed.models._jit import kernel

__all__ = ["flow_delay_stats", "interarrival_jitter"]

GAIN = 1.0 / 16.0  # RFC 3550 clause 6.4.1: "the gain parameter 1/16"


def interarrival_jitter(
    media_s: NDArray[np.float64], recv_s: NDArray[np.float64]
) -> NDArray[np.float64]:
    """The running jitter estimate after each received packet (arrival order), starting at J=0.

    Lost packets (NaN ``recv_s``) are skipped. The result has one value per
    received packet; the first is 0 (no pair yet).
    """
    received = ~np.isnan(recv_s)
    order = np.argsort(recv_s[received], kind="stable")
    arrival = recv_s[received][order]
    media = media_s[received][order]
    if arrival.size < 2:
        return np.zeros(arrival.size)
    transit_change = np.abs(np.diff(arrival) - np.diff(media))
    return np.concatenate(([0.0], _low_pass(transit_change)))


@kernel
def _low_pass(transit_change: NDArray[np.float64]) -> NDArray[np.float64]:
    """J_i = GAIN * |D_i| + (1 - GAIN) * J_{i-1} from J_0 = 0, one value per input.

    This is RFC 3550 A.8's J += (|D| - J) / 16 written as the first-order IIR
    low-pass filter it is: gain 1/16 on the input, 15/16 on the previous output.
    """
    out = np.empty_like(transit_change)
    estimate = 0.0
    for i in range(transit_change.size):
        estimate = GAIN * transit_change[i] + (1.0 - GAIN) * estimate
        out[i] = estimate
    return out


@kernel
def flow_delay_stats(
    send_s: NDArray[np.float64],
    recv_s: NDArray[np.float64],
    media_s: NDArray[np.float64],
    bounds: NDArray[np.int64],
) -> NDArray[np.float64]:
    """Per flow (flow k is ``bounds[k]:bounds[k + 1]``): one-way delay mean, p95, p99, and the
    mean and last value of the RFC 3550 jitter estimate (as ``interarrival_jitter``; the last
    is what an RTCP receiver report carries); NaN without arrivals.

    Returns an array of shape (flows, 5).
    """
    flows = bounds.size - 1
    out = np.full((flows, 5), np.nan)
    for k in range(flows):
        start, end = bounds[k], bounds[k + 1]
        received = ~np.isnan(recv_s[start:end])
        if not received.any():
            continue
        arrive = recv_s[start:end][received]
        delay = arrive - send_s[start:end][received]
        out[k, 0] = delay.mean()
        out[k, 1] = np.percentile(delay, 95.0)
        out[k, 2] = np.percentile(delay, 99.0)
        media = media_s[start:end][received]
        order = np.argsort(arrive, kind="mergesort")  # arrival order, ties in sequence
        jitter = 0.0
        total = 0.0
        for i in range(1, order.size):
            a, b = order[i - 1], order[i]
            change = abs((arrive[b] - arrive[a]) - (media[b] - media[a]))
            jitter += (change - jitter) * GAIN
            total += jitter
        out[k, 3] = total / order.size
        out[k, 4] = jitter
    return out
