"""The RFC 3550 running jitter estimate against a per-packet loop of RFC 3550 A.8."""

from __future__ import annotations

import numpy as np
import pytest

from voipbed.models.jitter import flow_delay_stats, interarrival_jitter


def _rfc3550_a8(arrival_s: list[float], sent_s: list[float]) -> list[float]:
    """J after each packet, packet by packet as RFC 3550 A.8 updates it: J += (|D| - J) / 16."""
    jitter, estimates = 0.0, [0.0]
    for i in range(1, len(arrival_s)):
        transit_change = (arrival_s[i] - sent_s[i]) - (arrival_s[i - 1] - sent_s[i - 1])
        jitter += (abs(transit_change) - jitter) / 16
        estimates.append(jitter)
    return estimates


def test_running_estimate_follows_rfc3550_appendix_a8() -> None:
    """Each estimate equals J += (|D| - J) / 16 run packet by packet in arrival order."""
    rng = np.random.default_rng(7)
    media = np.arange(500) * 0.02
    recv = media + 0.03 + rng.exponential(0.004, media.size)
    recv[rng.random(media.size) < 0.05] = np.nan
    estimate = interarrival_jitter(media, recv)
    received = ~np.isnan(recv)
    order = np.argsort(recv[received], kind="stable")
    arrival, sent = recv[received][order], media[received][order]
    expected = _rfc3550_a8(arrival.tolist(), sent.tolist())
    assert estimate[0] == 0.0
    np.testing.assert_allclose(estimate, expected, rtol=1e-12, atol=0.0)


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
