"""AIMD rate control (draft-ietf-rmcat-gcc-02 section 5.5) and the incoming-rate window."""

from __future__ import annotations

import math

import pytest

from voipbed.models.gcc_detector import BandwidthUsage
from voipbed.models.gcc_rate import AimdConfig, AimdRateControl, IncomingRate, RateControlState

NORMAL = BandwidthUsage.NORMAL
OVER = BandwidthUsage.OVERUSING
UNDER = BandwidthUsage.UNDERUSING


def _state(control: AimdRateControl) -> RateControlState:
    return control.state  # read through a call: each transition is a fresh value to mypy


def _control(start_bps: float = 500_000.0, rtt_s: float = 0.1) -> AimdRateControl:
    return AimdRateControl(AimdConfig(start_bps=start_bps, rtt_s=rtt_s))


def test_decrease_to_085_of_incoming_rate_then_hold() -> None:
    """Over-use sets A_hat to 0.85 R_hat and leaves the machine in hold."""
    control = _control()
    assert control.update(OVER, 400_000.0, 1.0) == pytest.approx(0.85 * 400_000.0)
    assert control.state is RateControlState.HOLD


def test_decrease_never_raises_the_estimate() -> None:
    """Over-use with R_hat above A_hat / 0.85 keeps A_hat."""
    control = _control(start_bps=300_000.0)
    assert control.update(OVER, 1_000_000.0, 1.0) == 300_000.0


def test_state_machine_transitions() -> None:
    """Normal: hold -> increase; under-use: hold; over-use: decrease, then hold (draft fig. 2)."""
    control = _control()
    control.update(NORMAL, 500_000.0, 1.0)
    assert _state(control) is RateControlState.INCREASE
    control.update(UNDER, 500_000.0, 1.1)
    assert _state(control) is RateControlState.HOLD
    held = control.estimate_bps
    control.update(UNDER, 500_000.0, 1.2)
    assert control.estimate_bps == held
    control.update(OVER, 500_000.0, 1.3)
    assert _state(control) is RateControlState.HOLD
    control.update(NORMAL, 500_000.0, 1.4)
    assert _state(control) is RateControlState.INCREASE


def test_multiplicative_increase_is_8_percent_per_second() -> None:
    """Far from any known capacity, A_hat grows by 1.08^t (t capped at 1 s per update)."""
    control = _control()
    control.update(NORMAL, 500_000.0, 1.0)  # hold -> increase: eta^0, the 1000 bit/s floor
    start = control.estimate_bps
    assert start is not None
    after = control.update(NORMAL, 500_000.0, 1.5)
    assert after is not None
    assert after == pytest.approx(start * 1.08**0.5)
    capped = control.update(NORMAL, 500_000.0, 4.0)
    assert capped == pytest.approx(after * 1.08)


def test_additive_increase_near_a_known_capacity() -> None:
    """After a decrease, A_hat grows by max(1000, 0.5 min(dt / (100 ms + RTT), 1) packet bits)."""
    control = _control(rtt_s=0.1)
    control.update(OVER, 400_000.0, 1.0)
    assert control.near_capacity
    control.update(NORMAL, 400_000.0, 1.1)  # hold -> increase
    before = control.estimate_bps
    assert before is not None
    after = control.update(NORMAL, 400_000.0, 1.2)
    bits_per_frame = before / 30.0
    packet_bits = bits_per_frame / math.ceil(bits_per_frame / 9600.0)
    expected = max(1000.0, 0.5 * min(0.1 / 0.2, 1.0) * packet_bits)
    assert after == pytest.approx(before + expected)


def test_increase_is_capped_at_15_times_incoming_rate() -> None:
    """A_hat never grows past 1.5 R_hat + 10 kbit/s."""
    control = _control(start_bps=100_000.0)
    estimate = None
    for i in range(200):
        estimate = control.update(NORMAL, 100_000.0, 1.0 + i * 0.5)
    assert estimate == pytest.approx(1.5 * 100_000.0 + 10_000.0)


def test_uninitialised_until_init_time_or_overuse() -> None:
    """Without a start rate, A_hat is R_hat after 5 s of throughput; over-use sets it at once."""
    waiting = AimdRateControl()
    assert waiting.update(NORMAL, 200_000.0, 0.0) is None
    assert waiting.update(NORMAL, 200_000.0, 4.0) is None
    assert waiting.update(NORMAL, 200_000.0, 5.5) == pytest.approx(200_000.0 + 1000.0)
    urgent = AimdRateControl()
    assert urgent.update(OVER, 200_000.0, 0.0) == pytest.approx(0.85 * 200_000.0)


def test_decrease_spacing_follows_rtt() -> None:
    """A further decrease is due one RTT (clamped to [10, 200] ms) after the last change."""
    control = _control(rtt_s=0.05)
    control.update(OVER, 400_000.0, 1.0)
    assert not control.time_to_reduce(1.03, 400_000.0)
    assert control.time_to_reduce(1.05, 400_000.0)
    assert control.time_to_reduce(1.01, 100_000.0)  # R_hat below half the estimate


def test_incoming_rate_over_the_window() -> None:
    """R_hat counts the bytes of the last window; None before one full window."""
    rate = IncomingRate(window_s=0.5)
    for i in range(100):
        rate.add(i * 0.01, 1000)  # 100 kB/s = 800 kbit/s
    assert rate.rate_bps(0.3) is None
    assert rate.rate_bps(0.99) == pytest.approx(800_000.0, rel=0.03)


def test_invalid_beta_raises() -> None:
    """beta outside (0, 1) is refused."""
    with pytest.raises(ValueError, match="beta"):
        AimdConfig(beta=1.2)
