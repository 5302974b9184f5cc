"""The RTTs send-side GCC takes from its feedback reports (gcc_rtt), and where they go."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voipbed.models.gcc import GccSender
from voipbed.models.gcc_flow import GccFlow
from voipbed.models.gcc_rtt import RTT_WINDOW, FeedbackRtt, report_rtt, whole_ms


def test_report_max_rtt_is_the_oldest_packets_and_min_rtt_drops_the_pending_time() -> None:
    """max RTT: now - earliest send; min RTT: each packet's RTT less its wait for the newest
    arrival (receiver clock offset cancels)."""
    offset_s = 1000.0  # the receiver's clock
    send = [1.00, 1.02, 1.04]
    arrival = [offset_s + 1.05, offset_s + 1.09, offset_s + 1.10]
    rtt = report_rtt(1.20, send, arrival)
    assert rtt is not None
    assert rtt.max_s == pytest.approx(0.20)
    # per packet: 0.20 - 0.05, 0.18 - 0.01, 0.16 - 0.0
    assert rtt.min_s == pytest.approx(0.15)
    assert report_rtt(1.20, [], []) is None


def test_a_packet_sent_after_the_report_is_refused() -> None:
    """A report cannot cover a packet sent after it arrived."""
    with pytest.raises(ValueError, match="after the report"):
        report_rtt(1.0, [0.5, 1.5], [0.6, 1.6])
    with pytest.raises(ValueError, match="after the report"):
        GccFlow(100_000.0, 10_000.0, 1e6).on_report(1.0, 0, 1, 0, 0, [1.5], [1.6], [200])


def test_whole_ms_rounds_halves_up() -> None:
    """RTTs are kept in whole milliseconds, rounded to nearest (libwebrtc TimeDelta::ms())."""
    assert whole_ms(0.1234) == 123
    assert whole_ms(0.1236) == 124
    assert whole_ms(0.0625) == 63


@given(st.lists(st.integers(0, 5000), min_size=1, max_size=3 * RTT_WINDOW))
def test_mean_and_min_are_over_the_last_32_reports(rtts_ms: list[int]) -> None:
    """After each report, the AIMD's RTT is the truncated mean and the window's RTT the
    minimum of the last 32 max RTTs (whole ms), as the ring fills and wraps."""
    rtt = FeedbackRtt()
    assert rtt.mean_max_s is None and rtt.min_max_s is None and rtt.latest_min_s is None
    for k, max_ms in enumerate(rtts_ms):
        now_s = 10.0 + k
        rtt.on_report(now_s, [now_s - max_ms / 1000.0], [5.0])
        recent = rtts_ms[max(0, k + 1 - RTT_WINDOW) : k + 1]
        assert rtt.mean_max_s == (sum(recent) // len(recent)) / 1000.0
        assert rtt.min_max_s == min(recent) / 1000.0
        assert rtt.latest_min_s == pytest.approx(max_ms / 1000.0)


def test_a_report_without_received_packets_keeps_the_rtts() -> None:
    """A report of losses only adds no RTT sample."""
    rtt = FeedbackRtt()
    rtt.on_report(1.0, [0.9], [0.95])
    assert rtt.on_report(2.0, [], []) is None
    assert rtt.mean_max_s == rtt.min_max_s == 0.1
    assert rtt.latest_min_s == pytest.approx(0.1)


def test_the_delay_based_aimd_takes_the_mean_of_the_recent_max_rtts() -> None:
    """GccFlow hands AimdRateControl the mean of its reports' max RTTs (whole ms)."""
    flow = GccFlow(100_000.0, 10_000.0, 1e6)
    assert flow.rtt_s == 0.2  # libwebrtc kDefaultRtt until a report measures one
    for k, max_s in enumerate((0.100, 0.300, 0.201)):
        now_s = 1.0 + k
        flow.on_report(now_s, 0, 2, 0, 0, [now_s - max_s, now_s - 0.05], [5.0, 5.1], [200, 200])
    assert flow.rtt_s == (100 + 300 + 201) // 3 / 1000.0


# A standing queue through the sender's RTTs: reports every 100 ms, 5 packets each, 40 ms
# each way; from report 15 on every packet has waited 500 ms more (reports 10 to 14 carry
# nothing while the queue builds).
START_BPS = 100_000.0
QUEUE_FROM = 15
BASE_MAX_RTT_S = 0.16  # a queue-free report's now - earliest send (_report)


def _report(k: int) -> tuple[float, list[float], list[float]]:
    """Report ``k``: arrival at the sender, its packets' send and arrival times."""
    now_s = 0.1 * k + 0.14  # the newest arrival (0.1 k + 0.1) plus 40 ms back
    if QUEUE_FROM > k >= 10:
        return now_s, [], []
    one_way_s = 0.04 if k < QUEUE_FROM else 0.54
    arrival = [0.1 * k + 0.02 * (j + 1) for j in range(5)]
    return now_s, [a - one_way_s for a in arrival], arrival


def test_a_standing_queue_does_not_inflate_the_window() -> None:
    """The window is target x (smallest of the last 32 max RTTs + 350 ms): while a queue-free
    report is among them the queue stays out and the pushback engages; once all 32 saw the
    queue, the window takes it in."""
    sender = GccSender(START_BPS)
    rtt = FeedbackRtt()
    queue_free = START_BPS * (BASE_MAX_RTT_S + 0.35) / 8.0
    with_queue = START_BPS * (BASE_MAX_RTT_S + 0.5 + 0.35) / 8.0
    last_queue_free = 9
    for k in range(last_queue_free + RTT_WINDOW + 40):
        now_s, send, arrival = _report(k)
        rtt.on_report(now_s, send, arrival)
        in_flight = int(START_BPS * (0.14 if k < QUEUE_FROM else 0.64) / 8.0)
        update = sender.on_feedback(
            now_s,
            expected=len(send),
            lost=0,
            delay_based_bps=START_BPS,
            rtt_s=rtt.latest_min_s,
            window_rtt_s=rtt.min_max_s,
            in_flight_bytes=in_flight,
        )
        assert update.network_bps == START_BPS
        window = sender.window_bytes
        if k <= last_queue_free + RTT_WINDOW - 1:
            assert window == pytest.approx(queue_free)
        if QUEUE_FROM <= k <= last_queue_free + RTT_WINDOW - 1:
            assert update.target_bps < update.network_bps  # 0.64 s in flight > 0.51 s window
    assert window is not None
    assert window == pytest.approx(with_queue, rel=1e-3)
    assert update.target_bps == update.network_bps  # the window holds the queue: no pushback
