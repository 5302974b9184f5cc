"""The mobile-network sections of a segment each show their effect in a whole run."""

from __future__ import annotations

import numpy as np
import pytest

from voipbed.loader import parse_scenario
from voipbed.scoring import score_trace
from voipbed.sim.engine import simulate
from voipbed.traces import builtin_trace_dir

BASE = """
name: mobile
seed: 11
duration: 30s
calls: {count: 4, start_spread: 1s}
jitter_buffer: {delay: 80ms}
path:
  - {name: radio, one_way_delay: 10ms}
  - {name: core, one_way_delay: 20ms}
"""


def _metrics(*overrides: str):  # type: ignore[no-untyped-def]
    scenario = parse_scenario(BASE, overrides=list(overrides))
    trace = simulate(scenario)
    return trace.packets.to_pandas(), score_trace(trace.packets, scenario)


def _mean_loss_run(lost: np.ndarray) -> float:
    starts = np.flatnonzero(np.diff(np.r_[0, lost.astype(np.int8)]) == 1)
    return float(lost.sum() / max(starts.size, 1))


def test_bursty_loss_comes_in_runs_and_raises_burst_ratio() -> None:
    """Gilbert-Elliott loss with mean burst 5 loses packets in runs of about 5; BurstR follows."""
    packets, bernoulli = _metrics("path[0].loss=3%", "duration=120s")
    bursty_packets, bursty = _metrics(
        "path[0].loss={model: gilbert_elliott, rate: 3%, burst: 5}", "duration=120s"
    )
    assert bernoulli["burst_r"].mean() == pytest.approx(1.0, abs=0.1)
    assert bursty["burst_r"].mean() > 3.0
    assert bursty["ppl_percent"].mean() == pytest.approx(3.0, abs=1.0)
    for frame, expected in ((packets, 1 / 0.97), (bursty_packets, 5.0)):
        runs = [
            _mean_loss_run(flow.sort_values("seq")["recv_s"].isna().to_numpy())
            for _, flow in frame.groupby("flow")
        ]
        assert np.mean(runs) == pytest.approx(expected, rel=0.2)


def test_harq_delays_a_tenth_of_packets_by_one_round_trip() -> None:
    """With 10 % BLER about 10 % of packets arrive 8 ms later than the rest, and none is lost."""
    packets, metrics = _metrics("path[0].harq={bler: 10%, max_transmissions: 5, rtt: 8ms}")
    delay = packets["recv_s"] - packets["send_s"]
    assert delay.min() == pytest.approx(0.030)
    assert ((delay > 0.0375) & (delay < 0.0385)).mean() == pytest.approx(0.09, abs=0.02)
    assert (metrics["lost_by_harq"] <= 1).all()


def test_harq_that_always_fails_loses_every_packet_as_harq() -> None:
    """A block error rate of 100 % exhausts HARQ: every packet is lost, attributed to HARQ."""
    packets, metrics = _metrics("path[0].harq={bler: 100%}")
    assert packets["recv_s"].isna().all()
    assert (packets["drop_reason"] == "harq").all() and (packets["lost_at"] == "radio").all()
    assert (metrics["lost_by_harq"] == metrics["sent"]).all()


def test_small_queue_on_a_slow_link_drops_at_the_queue() -> None:
    """Four G.711 calls (320 kbit/s) into 256 kbit/s with a 5-packet queue: a fifth is dropped."""
    packets, metrics = _metrics("path[1].capacity=256kbps", "path[1].queue={packets: 5}")
    assert metrics["lost_by_queue"].sum() / metrics["sent"].sum() == pytest.approx(0.2, abs=0.02)
    assert (metrics["lost_by_queue"] == metrics["lost_at_core"]).all()
    delay = packets["recv_s"] - packets["send_s"]
    # Queueing is bounded: five waiting packets and one in service, 200 B each, at 256 kbit/s.
    assert delay.max() <= 0.030 + 6 * 200 * 8 / 256e3 + 1e-9


def test_umts_trace_is_slower_than_lte_trace() -> None:
    """Over real traces, the UMTS uplink queues packets longer than the T-Mobile LTE uplink."""
    lte, _ = _metrics(
        "path[0].uplink_trace=TMobile-LTE-short.up", "path[0].downlink_trace=TMobile-LTE-short.down"
    )
    umts, _ = _metrics(
        "path[0].uplink_trace=TMobile-UMTS-driving.up",
        "path[0].downlink_trace=TMobile-UMTS-driving.down",
    )
    lte_delay = (lte["recv_s"] - lte["send_s"]).dropna().to_numpy()
    umts_delay = (umts["recv_s"] - umts["send_s"]).dropna().to_numpy()
    assert lte_delay.min() >= 0.030  # a trace link only ever adds delay
    assert np.percentile(umts_delay, 95) > np.percentile(lte_delay, 95)


def test_trace_link_departures_fall_on_opportunities() -> None:
    """A packet crossing a trace link leaves at one of the trace's (repeated) opportunity times."""
    packets, _ = _metrics(
        "path[0].uplink_trace=ATT-LTE-driving-2016.up",
        "path[0].downlink_trace=ATT-LTE-driving-2016.down",
        "path[0].one_way_delay=0s",
        "path[1].one_way_delay=0s",
    )
    uplink = packets[packets["direction"] == "uplink"]
    leave_ms = uplink["recv_s"].to_numpy() * 1000.0
    times = np.loadtxt(builtin_trace_dir() / "ATT-LTE-driving-2016.up", dtype=np.int64)
    offset = np.mod(np.round(leave_ms).astype(np.int64), times[-1])
    allowed = np.union1d(times % times[-1], [0])
    assert np.isin(offset, allowed).all()
    np.testing.assert_allclose(leave_ms, np.round(leave_ms), atol=1e-6)


BLOATED = """
name: bloat
seed: 5
duration: 40s
calls: {count: 2, start_spread: 1s}
jitter_buffer: {delay: 60ms}
path:
  - {name: radio, one_way_delay: 10ms}
  - name: backhaul
    one_way_delay: 5ms
    capacity: 10Mbps
    queue: {bytes: 1MB}
    cross_traffic: [{kind: bulk, count: 2, rtt: 60ms, direction: both}]
"""


def _bloated(*overrides: str):  # type: ignore[no-untyped-def]
    scenario = parse_scenario(BLOATED, overrides=list(overrides))
    trace = simulate(scenario)
    packets = trace.packets.to_pandas()
    settled = packets[packets["send_s"] > 10.0]
    return (settled["recv_s"] - settled["send_s"]).dropna(), score_trace(trace.packets, scenario)


def test_priority_queue_saves_ef_media_and_bleaching_takes_it_away() -> None:
    """EF media beats bulk flows through a strict-priority backhaul; bleaching DSCP undoes it."""
    bloated, bloated_metrics = _bloated()
    priority, priority_metrics = _bloated("path[1].queue.scheduling=strict")
    bleached, _ = _bloated("path[1].queue.scheduling=strict", "path[0].bleach_dscp=true")
    assert bloated.median() > 0.3  # the drop-tail buffer stands full
    assert priority.quantile(0.95) < 0.015 + 0.002
    assert bleached.median() > 0.3
    assert priority_metrics["mos"].mean() > bloated_metrics["mos"].mean() + 0.5


def test_codel_backhaul_keeps_media_delay_low() -> None:
    """With CoDel on the bloated backhaul, media p95 delay stays within tens of ms."""
    codel, metrics = _bloated("path[1].queue.aqm=codel")
    assert codel.quantile(0.95) < 0.015 + 0.025
    assert (metrics["lost_by_aqm"] >= 0).all()


def test_ecn_media_is_marked_instead_of_dropped() -> None:
    """ECN-capable media through a CoDel queue arrives CE-marked rather than being dropped."""
    _, metrics = _bloated("path[1].queue.aqm=codel", "calls.ecn=true")
    assert metrics["ce_marked"].sum() > 0
    assert metrics["lost_by_aqm"].sum() == 0
