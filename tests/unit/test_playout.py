"""Fixed jitter buffer and RFC 3550 interarrival jitter."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voipbed.models.jitter import interarrival_jitter
from voipbed.models.jitter_buffer import FixedJitterBuffer

PTIME = 0.02


def test_fixed_buffer_plays_at_first_arrival_plus_delay() -> None:
    """Each packet plays at first arrival + delay + its media offset; late ones are discarded."""
    media = np.arange(5) * PTIME
    recv = np.array([0.100, 0.125, np.nan, 0.215, 0.181])
    playout = FixedJitterBuffer(0.04).playout(media, recv)
    np.testing.assert_allclose(playout.playout_s[[0, 1, 3, 4]], [0.14, 0.16, 0.20, 0.22])
    assert np.isnan(playout.playout_s[2])
    assert playout.late.tolist() == [False, False, False, True, False]
    assert playout.played.tolist() == [True, True, False, False, True]


def test_fixed_buffer_anchors_on_earliest_arrival_not_first_sequence() -> None:
    """When packet 0 is lost or delayed, the earliest arrival sets the playout clock."""
    media = np.arange(3) * PTIME
    recv = np.array([0.30, 0.12, 0.14])
    playout = FixedJitterBuffer(0.05).playout(media, recv)
    np.testing.assert_allclose(playout.playout_s, [0.15, 0.17, 0.19])
    assert playout.late.tolist() == [True, False, False]


def test_fixed_buffer_with_nothing_received() -> None:
    """A flow with no arrivals plays nothing and discards nothing as late."""
    playout = FixedJitterBuffer(0.05).playout(np.arange(3) * PTIME, np.full(3, np.nan))
    assert not playout.played.any() and not playout.late.any()


def test_fixed_buffer_rejects_negative_delay() -> None:
    """A negative playout delay is a configuration error."""
    with pytest.raises(ValueError, match="delay_s"):
        FixedJitterBuffer(-0.01)


@settings(max_examples=100, deadline=None)
@given(
    delays=st.lists(st.floats(0.0, 0.2), min_size=1, max_size=200),
    buffer_s=st.floats(0.0, 0.3),
)
def test_no_jitter_means_no_late_discards(delays: list[float], buffer_s: float) -> None:
    """A constant network delay never makes a packet late, whatever the buffer."""
    media = np.arange(len(delays)) * PTIME
    recv = media + delays[0]
    assert not FixedJitterBuffer(buffer_s).playout(media, recv).late.any()


def _rfc3550_loop(media: list[float], recv: list[float]) -> list[float]:
    """RFC 3550 A.8, one packet at a time in arrival order."""
    pairs = sorted((r, m) for m, r in zip(media, recv, strict=True) if not np.isnan(r))
    jitter, estimates, previous = 0.0, [], None
    for arrival, sent in pairs:
        if previous is not None:
            d = (arrival - previous[0]) - (sent - previous[1])
            jitter += (abs(d) - jitter) / 16
        estimates.append(jitter)
        previous = (arrival, sent)
    return estimates


@settings(max_examples=100, deadline=None)
@given(
    delays=st.lists(st.one_of(st.floats(0.0, 0.5), st.just(float("nan"))), min_size=0, max_size=300)
)
def test_interarrival_jitter_matches_rfc3550_loop(delays: list[float]) -> None:
    """The filtered estimate equals RFC 3550's per-packet update, lost packets skipped."""
    media = np.arange(len(delays)) * PTIME
    recv = media + np.array(delays, dtype=np.float64)
    expected = _rfc3550_loop(list(media), list(recv))
    np.testing.assert_allclose(interarrival_jitter(media, recv), expected, rtol=1e-9, atol=1e-12)


def test_constant_delay_has_zero_jitter() -> None:
    """Packets that all take the same time have no interarrival jitter."""
    media = np.arange(100) * PTIME
    assert np.all(interarrival_jitter(media, media + 0.05) < 1e-12)
