"""GCC end to end: a capacity step on a FIFO bottleneck, and side by side with aiortc."""

from __future__ import annotations

import numpy as np
import pytest
from aiortc.rate import RemoteBitrateEstimator

from tests.unit.gcc_bottleneck import run_loop
from voipbed.models.gcc import DelayBasedEstimator, GccConfig, GccSender
from voipbed.models.gcc_detector import BandwidthUsage
from voipbed.models.gcc_rate import AimdConfig

DROP_S = 20.0
CONFIGS = [pytest.param(GccConfig(), id="trendline"), pytest.param(GccConfig.draft(), id="draft")]


@pytest.mark.parametrize("config", CONFIGS)
def test_capacity_step_from_1000_to_300_kbps(config: GccConfig) -> None:
    """Dropped to 300 kbit/s: target under it within 1.5 s; queue p95 < 100 ms from 3 s on."""
    run = run_loop(
        lambda t: 1_000_000.0 if t < DROP_S else 300_000.0,
        DROP_S + 20.0,
        start_bps=300_000.0,
        config=config,
    )
    reports = np.asarray(run.report_s)
    target = np.asarray(run.target_bps)
    assert target[(reports > 12.0) & (reports < DROP_S)].mean() > 800_000.0  # it had ramped up
    below = reports[(reports >= DROP_S) & (target < 300_000.0)]
    assert below.size > 0
    assert below[0] - DROP_S <= 1.5
    send = np.asarray(run.send_s)
    queue = np.asarray(run.queue_delay_s)
    assert queue[send >= DROP_S].max() > 0.1  # the drop did build a queue
    assert np.percentile(queue[send >= DROP_S + 3.0], 95) < 0.1


def test_side_by_side_with_aiortc() -> None:
    """On a 500 kbit/s link, our estimate and aiortc's agree within 15 % on average over 10-30 s."""
    aiortc = RemoteBitrateEstimator()
    arrivals: list[float] = []
    theirs: list[float] = []
    latest = [float("nan")]

    def observe(arrival_s: float, send_s: float, size: int) -> None:
        abs_send_time = round(send_s * (1 << 18)) & 0xFFFFFF  # 6.18 fixed point seconds
        result = aiortc.add(round(arrival_s * 1000.0), abs_send_time, size, 1)
        if result is not None:
            latest[0] = float(result[0])
        arrivals.append(arrival_s)
        theirs.append(latest[0])

    run = run_loop(lambda _t: 500_000.0, 30.0, start_bps=300_000.0, observer=observe)
    reports = np.asarray(run.report_s)
    ours = np.asarray([np.nan if e is None else e for e in run.estimate_bps])
    index = np.searchsorted(np.asarray(arrivals), reports, side="right") - 1
    theirs_at = np.where(index >= 0, np.asarray(theirs)[np.clip(index, 0, None)], np.nan)
    window = (reports >= 10.0) & (reports <= 30.0)
    assert not np.isnan(theirs_at[window]).any()
    assert not np.isnan(ours[window]).any()
    ours_mean = ours[window].mean()
    theirs_mean = theirs_at[window].mean()
    assert abs(ours_mean - theirs_mean) <= 0.15 * theirs_mean
    assert 0.6 * 500_000.0 < ours_mean < 1.1 * 500_000.0


def test_sender_target_is_the_smaller_estimate() -> None:
    """The target is min(delay-based, loss-based): heavy loss pulls it under the delay estimate."""
    sender = GccSender(400_000.0)
    update = sender.on_feedback(1.0, expected=50, lost=0, delay_based_bps=300_000.0)
    assert update.target_bps == 300_000.0
    update = sender.on_feedback(1.1, expected=50, lost=20, delay_based_bps=300_000.0)
    assert update.loss_based_bps == pytest.approx(300_000.0 * (1.0 - 0.5 * 0.4))
    assert update.target_bps == update.loss_based_bps
    assert update.network_bps == update.target_bps


def test_steady_spacing_never_overuses() -> None:
    """Packets arriving exactly as they were sent keep the detector normal."""
    estimator = DelayBasedEstimator(GccConfig(aimd=AimdConfig(start_bps=1e5)))
    for i in range(2000):
        estimator.on_packet(0.05 + i * 0.02, i * 0.02, 250)
        assert estimator.usage is not BandwidthUsage.OVERUSING
    assert estimator.estimate_bps is not None
    assert estimator.estimate_bps > 1e5


def test_invalid_feedback_raises() -> None:
    """A non-positive delay-based estimate in feedback is refused."""
    with pytest.raises(ValueError, match="positive"):
        GccSender(300_000.0).on_feedback(1.0, expected=1, lost=0, delay_based_bps=0.0)
