"""The RFC 3550 running jitter estimate against scipy's first-order IIR filter."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from voipbed.models.jitter import GAIN, flow_delay_stats, interarrival_jitter


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


def test_flow_statistics_carry_the_estimates_mean_and_last_value() -> None:
    """Per flow, columns 3 and 4 of ``flow_delay_stats`` are the running estimate's mean and
    its last value (what an RTCP report carries); NaN for a flow where nothing arrived."""
    rng = np.random.default_rng(11)
    media = np.tile(np.arange(300) * 0.02, 3)
    send = media + 1.0
    recv = send + 0.04 + rng.exponential(0.005, media.size)
    recv[rng.random(media.size) < 0.1] = np.nan
    recv[600:] = np.nan  # the third flow receives nothing
    bounds = np.array([0, 300, 600, 900], dtype=np.int64)
    stats = flow_delay_stats(send, recv, media, bounds)
    assert stats.shape == (3, 5)
    for k in range(2):
        estimate = interarrival_jitter(
            media[bounds[k] : bounds[k + 1]], recv[bounds[k] : bounds[k + 1]]
        )
        assert stats[k, 3] == pytest.approx(estimate.mean(), rel=1e-12)
        assert stats[k, 4] == pytest.approx(estimate[-1], rel=1e-12)
    assert np.isnan(stats[2]).all()
