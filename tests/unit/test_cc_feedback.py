"""Sizes of RFC 8888 and transport-wide congestion-control feedback packets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from voipbed.models.cc_feedback import TWCC_SMALL_DELTA_MAX_S, rfc8888_bytes, twcc_bytes


@pytest.mark.parametrize(
    ("reports", "octets"),
    [
        ([0], 20),  # header 4, sender SSRC 4, block 8, timestamp 4
        ([1], 24),  # one 16-bit metric block, padded to 32 bits
        ([2], 24),
        ([50], 120),  # 1 s of 20 ms packets: 8 + 100 octets of block
        ([50, 50], 228),  # two media streams reported together
    ],
)
def test_rfc8888_sizes(reports: list[int], octets: int) -> None:
    """RFC 8888 section 3.1: 8 octets of header, per SSRC 8 + 2 per packet padded, 4 more."""
    assert rfc8888_bytes(reports) == octets


def test_twcc_one_packet() -> None:
    """One received packet: 20 fixed octets, one chunk, one small delta, padded to 24."""
    assert twcc_bytes([True], [1.0]) == 24


def test_twcc_a_run_of_received_packets_is_one_chunk() -> None:
    """100 packets 20 ms apart: one run-length chunk and 100 one-octet deltas (124 padded)."""
    times = 1.0 + 0.02 * np.arange(100)
    assert twcc_bytes([True] * 100, times) == 124


def test_twcc_a_loss_costs_chunks_not_deltas() -> None:
    """A lost packet has no delta; breaking the run costs status chunks."""
    times = 1.0 + 0.02 * np.arange(100)
    received = [True] * 100
    received[50] = False
    lost_one = twcc_bytes(received, times)
    assert lost_one > twcc_bytes([True] * 99, times[:99])
    assert lost_one - 20 - 99 <= 2 * 4 + 3  # a few chunks, then padding


def test_twcc_a_long_gap_takes_a_two_octet_delta_and_two_bit_chunks() -> None:
    """A delta beyond 63.75 ms takes 2 octets and makes its chunk a 2-bit vector."""
    short = 1.0 + 0.02 * np.arange(10)
    gap = short.copy()
    gap[5:] += TWCC_SMALL_DELTA_MAX_S + 0.01
    assert twcc_bytes([True] * 10, gap) > twcc_bytes([True] * 10, short)


@given(st.integers(1, 400), st.integers(0, 2**16))
def test_twcc_grows_with_packets_reported(count: int, seed: int) -> None:
    """Reporting more packets of the same stream never takes fewer octets, always a multiple
    of 4."""
    rng = np.random.default_rng(seed)
    times = np.cumsum(rng.exponential(0.02, count + 1))
    received = rng.random(count + 1) > 0.1
    received[0] = True
    fewer, more = twcc_bytes(received[:count], times[:count]), twcc_bytes(received, times)
    assert fewer % 4 == 0 and more % 4 == 0
    assert more >= fewer


def test_bad_input_is_refused() -> None:
    """Mismatched lengths, nothing to report and negative counts are errors."""
    with pytest.raises(ValueError, match="one value per packet"):
        twcc_bytes([True, False], [1.0])
    with pytest.raises(ValueError, match="at least one packet"):
        twcc_bytes([], [])
    with pytest.raises(ValueError, match="zero or more"):
        rfc8888_bytes([-1])
