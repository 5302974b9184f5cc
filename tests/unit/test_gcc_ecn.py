"""CE marks as a congestion signal (gcc_ecn) and congestion-window pushback (gcc_pushback)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from tests.unit.gcc_bottleneck import run_loop
from voipbed.models.gcc import GccConfig, GccSender
from voipbed.models.gcc_ecn import EcnConfig, EcnController
from voipbed.models.gcc_pushback import CongestionWindowPushback


def test_alpha_is_the_smoothed_ce_fraction() -> None:
    """alpha moves 1/16 of the way to each report's CE fraction, from 1."""
    ecn = EcnController()
    response = ecn.update(1.0, 100, 0)
    assert response.alpha == pytest.approx(15.0 / 16.0)
    assert response.factor == 1.0
    response = ecn.update(1.1, 100, 50)
    assert response.alpha == pytest.approx(15.0 / 16.0 * 15.0 / 16.0 + 0.5 / 16.0)


def test_marks_scale_the_rate_once_per_rtt() -> None:
    """Scalable: a marked report scales by 1 - alpha / 2; another within one RTT does not."""
    ecn = EcnController(EcnConfig(classic_beta=None, initial_alpha=0.0))
    first = ecn.update(1.0, 100, 100, rtt_s=0.1)
    assert first.congested
    assert first.factor == pytest.approx(1.0 - (1.0 / 16.0) / 2.0)
    second = ecn.update(1.05, 100, 100, rtt_s=0.1)
    assert second.congested
    assert second.factor == 1.0
    third = ecn.update(1.1, 100, 100, rtt_s=0.1)
    assert third.factor < 1.0


def test_classic_response_backs_off_by_beta_once_per_rtt() -> None:
    """Classic (RFC 8511): any marked report scales by 0.8, at most once per RTT."""
    ecn = EcnController()
    first = ecn.update(1.0, 100, 1, rtt_s=0.1)
    assert first.congested and first.factor == pytest.approx(0.8)
    assert ecn.update(1.05, 100, 50, rtt_s=0.1).factor == 1.0
    assert ecn.update(1.1, 100, 1, rtt_s=0.1).factor == pytest.approx(0.8)


def test_ce_count_above_received_raises() -> None:
    """More CE marks than packets received is refused."""
    with pytest.raises(ValueError, match="CE-marked"):
        EcnController().update(1.0, 10, 11)


def test_ecn_sender_backs_off_on_marks_without_loss() -> None:
    """With CE marks and no loss, the ECN sender lowers its target and the plain sender does not."""
    plain = GccSender(500_000.0)
    aware = GccSender(500_000.0, GccConfig(ecn=EcnConfig()))
    for i in range(3):
        now = 1.0 + 0.25 * i
        p = plain.on_feedback(now, expected=30, lost=0, ce_marked=6, rtt_s=0.1)
        a = aware.on_feedback(now, expected=30, lost=0, ce_marked=6, rtt_s=0.1)
    assert p.target_bps > 500_000.0
    assert a.target_bps < 500_000.0
    assert a.ecn_alpha is not None
    assert p.ecn_alpha is None


def test_ecn_sender_on_a_marking_bottleneck_loses_nothing() -> None:
    """Marking CE past 5 ms of queue (60 ms buffer), the ECN loop drops none and queues less."""
    runs = {
        name: run_loop(
            lambda _t: 500_000.0,
            40.0,
            start_bps=300_000.0,
            config=config,
            ce_threshold_s=0.005,
            buffer_s=0.06,
        )
        for name, config in [("plain", GccConfig()), ("ecn", GccConfig(ecn=EcnConfig()))]
    }
    p95 = {}
    for name, run in runs.items():
        send = np.asarray(run.send_s)
        p95[name] = float(np.percentile(np.asarray(run.queue_delay_s)[send >= 5.0], 95))
    assert any(runs["ecn"].ce)
    assert not any(runs["ecn"].lost)
    assert p95["ecn"] < p95["plain"]


def test_pushback_follows_the_fill_ratio() -> None:
    """Over 1.5 windows in flight: x0.9; over 1: x0.95; under 0.1: back to 1 (libwebrtc)."""
    pushback = CongestionWindowPushback()
    window = pushback.set_window(400_000.0, 0.1)
    assert window == pytest.approx(400_000.0 * 0.45 / 8.0)
    assert pushback.update(400_000.0, int(2 * window)) == pytest.approx(360_000.0)
    assert pushback.update(400_000.0, int(1.2 * window)) == pytest.approx(342_000.0)
    assert pushback.update(400_000.0, int(0.5 * window)) == pytest.approx(359_100.0)
    assert pushback.update(400_000.0, 0) == 400_000.0


def test_pushback_floor_is_30_kbps() -> None:
    """Pushback never takes the rate under 30 kbit/s."""
    pushback = CongestionWindowPushback()
    pushback.set_window(400_000.0, 0.1)
    rate = 400_000.0
    for _ in range(100):
        rate = pushback.update(400_000.0, 10_000_000)
    assert rate == 30_000.0


def test_pushback_waits_for_a_window() -> None:
    """Before any window, the rate passes unchanged whatever is in flight (libwebrtc)."""
    pushback = CongestionWindowPushback()
    assert pushback.window_bytes is None
    assert pushback.update(400_000.0, 10_000_000) == 400_000.0
    assert pushback.ratio == 1.0


def test_window_averages_with_the_previous_one() -> None:
    """Each window is the mean of the last and target x (RTT + 350 ms), at least 3000 bytes."""
    pushback = CongestionWindowPushback()
    first = pushback.set_window(400_000.0, 0.1)
    second = pushback.set_window(400_000.0, 0.5)
    assert second == pytest.approx((first + 400_000.0 * 0.85 / 8.0) / 2.0)
    for _ in range(60):
        pushback.set_window(1_000.0, 0.0)
    assert pushback.window_bytes == 3000.0


DROP_S = 10.0


@pytest.mark.parametrize(
    ("before_bps", "after_bps"), [(100_000.0, 40_000.0), (200_000.0, 50_000.0)]
)
def test_pushback_drains_a_deep_queue_after_a_capacity_drop(
    before_bps: float, after_bps: float
) -> None:
    """Send-side GCC at voice rates into an unbounded FIFO whose capacity drops: the pushback
    engages and the queue is under 100 ms within 5 s; without it one still stands 7 s on."""
    runs = {
        pushback: run_loop(
            lambda t: before_bps if t < DROP_S else after_bps,
            DROP_S + 12.0,
            start_bps=before_bps / 2.0,
            config=GccConfig() if pushback else GccConfig(pushback=None),
            one_way_s=0.04,
            packet_bytes=200,
            send_side=True,
        )
        for pushback in (True, False)
    }
    queued: dict[bool, NDArray[np.float64]] = {}
    for pushback, run in runs.items():
        send = np.asarray(run.send_s)
        queue = np.asarray(run.queue_delay_s)
        queued[pushback] = send[(send >= DROP_S) & (queue > 0.1)] - DROP_S
    assert queued[True].size > 0  # the drop did build a queue
    assert queued[True].max() < 5.0
    assert queued[False].max() > 7.0
    run = runs[True]
    after = np.asarray(run.report_s) >= DROP_S
    pushed = np.asarray(run.target_bps) < 0.99 * np.asarray(run.network_bps)
    assert np.any(after & pushed)
