"""Interarrival jitter of RFC 3550 (clause 6.4.1 and Appendix A.8).

For consecutive packets i-1, i in arrival order, D = (R_i - R_{i-1}) - (S_i - S_{i-1})
with R the arrival time and S the RTP timestamp (both in seconds here), and
J_i = J_{i-1} + (|D| - J_{i-1}) / 16: a first-order low-pass filter.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.signal import lfilter

__all__ = ["interarrival_jitter"]

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
    estimate = lfilter([GAIN], [1.0, -(1.0 - GAIN)], transit_change)
    return np.concatenate(([0.0], estimate))
