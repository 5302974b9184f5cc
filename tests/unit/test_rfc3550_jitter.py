"""The RFC 3550 running jitter estimate against scipy's first-order IIR filter."""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from voipbed.models.jitter import GAIN, interarrival_jitter


def test_running_estimate_is_the_gain_one_sixteenth_low_pass_filter() -> None:
    """Each estimate equals lfilter([1/16], [1, -15/16]) over |D| of the arrival-ordered pairs."""
    rng = np.random.default_rng(7)
    media = np.arange(500) * 0.02
    recv = media + 0.03 + rng.exponential(0.004, media.size)
    recv[rng.random(media.size) < 0.05] = np.nan
    estimate = interarrival_jitter(media, recv)
    received = ~np.isnan(recv)
    order = np.argsort(recv[received], kind="stable")
    arrival, sent = recv[received][order], media[received][order]
    change = np.abs(np.diff(arrival) - np.diff(sent))
    expected = lfilter([GAIN], [1.0, -(1.0 - GAIN)], change)
    assert estimate[0] == 0.0
    np.testing.assert_allclose(estimate[1:], expected, rtol=1e-13, atol=0.0)


def test_one_packet_gives_one_zero_and_none_gives_nothing() -> None:
    """With one arrival the estimate is [0]; with none it is empty."""
    media = np.array([0.0, 0.02])
    assert interarrival_jitter(media, np.array([0.05, np.nan])).tolist() == [0.0]
    assert interarrival_jitter(media, np.array([np.nan, np.nan])).size == 0
