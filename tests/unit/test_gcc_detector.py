"""Over-use detector and adaptive threshold (draft-ietf-rmcat-gcc-02 section 5.4)."""

from __future__ import annotations

import pytest

from voipbed.models.gcc_detector import (
    BandwidthUsage,
    DelaySignal,
    DetectorConfig,
    OveruseDetector,
)


def _signal(modified_ms: float, now_s: float, estimate: float = 0.0) -> DelaySignal:
    return DelaySignal(modified_ms, estimate, 5.0, 100, now_s)


def test_threshold_grows_at_k_u() -> None:
    """Above the threshold (by less than 15 ms) it moves K_u (|m| - th) dt toward |m|."""
    detector = OveruseDetector()
    detector.detect(_signal(20.0, 1.000))  # first call only sets the update time
    detector.detect(_signal(20.0, 1.010))
    assert detector.threshold_ms == pytest.approx(12.5 + 0.01 * (20.0 - 12.5) * 10.0)


def test_threshold_decays_at_k_d() -> None:
    """Below the threshold it moves K_d (|m| - th) dt toward |m|."""
    detector = OveruseDetector()
    detector.detect(_signal(2.0, 1.000))
    detector.detect(_signal(2.0, 1.050))
    assert detector.threshold_ms == pytest.approx(12.5 + 0.00018 * (2.0 - 12.5) * 50.0)


def test_threshold_step_is_capped_at_100ms() -> None:
    """A gap of a second between signals adapts as if it were 100 ms."""
    detector = OveruseDetector()
    detector.detect(_signal(2.0, 1.0))
    detector.detect(_signal(2.0, 2.0))
    assert detector.threshold_ms == pytest.approx(12.5 + 0.00018 * (2.0 - 12.5) * 100.0)


def test_threshold_is_clamped_to_6_and_600_ms() -> None:
    """The threshold never leaves [6, 600] ms."""
    low = OveruseDetector(DetectorConfig(k_down=0.5))
    high = OveruseDetector(DetectorConfig(k_up=0.5, initial_threshold_ms=599.0))
    for i in range(50):
        low.detect(_signal(0.0, i * 0.01))
        high.detect(_signal(610.0, i * 0.01))
    assert low.threshold_ms == 6.0
    assert high.threshold_ms == 600.0


def test_threshold_ignores_spikes_beyond_15ms() -> None:
    """A signal more than 15 ms above the threshold leaves it unchanged."""
    detector = OveruseDetector()
    detector.detect(_signal(40.0, 1.00))
    detector.detect(_signal(40.0, 1.05))
    assert detector.threshold_ms == 12.5


def test_overuse_needs_more_than_10ms_and_two_groups() -> None:
    """Over-use is signalled once the signal has been over for > 10 ms in at least two groups."""
    detector = OveruseDetector()
    assert detector.detect(_signal(30.0, 1.000, 0.1)) is BandwidthUsage.NORMAL  # 2.5 ms over
    assert detector.detect(_signal(30.0, 1.005, 0.1)) is BandwidthUsage.NORMAL  # 7.5 ms over
    assert detector.detect(_signal(30.0, 1.010, 0.1)) is BandwidthUsage.OVERUSING  # 12.5 ms


def test_overuse_is_withheld_while_the_estimate_falls() -> None:
    """A signal over the threshold but falling (m(i) < m(i-1)) does not declare over-use."""
    detector = OveruseDetector()
    for i, estimate in enumerate([0.5, 0.4, 0.3, 0.2]):
        assert detector.detect(_signal(30.0, 1.0 + i * 0.005, estimate)) is BandwidthUsage.NORMAL


def test_underuse_below_minus_threshold() -> None:
    """A signal below minus the threshold is under-use at once; inside the band it is normal."""
    detector = OveruseDetector()
    assert detector.detect(_signal(-13.0, 1.0)) is BandwidthUsage.UNDERUSING
    assert detector.detect(_signal(-1.0, 1.005)) is BandwidthUsage.NORMAL


def test_libwebrtc_gains() -> None:
    """The libwebrtc preset uses k_up 0.0087 and k_down 0.039."""
    config = DetectorConfig.libwebrtc()
    assert (config.k_up, config.k_down) == (0.0087, 0.039)


def test_invalid_clamp_raises() -> None:
    """An initial threshold outside the clamp is refused."""
    with pytest.raises(ValueError, match="initial threshold"):
        DetectorConfig(initial_threshold_ms=1.0)
