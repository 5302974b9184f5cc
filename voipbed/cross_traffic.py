"""Background traffic that shares a segment's queue with the calls, for both engines.

Unresponsive sources (constant rate, on/off) become arrival times here, drawn
from a random stream passed in (the same draws in the simulator and in the
emulation's link); greedy TCP-like flows become ``BulkFlow``s that the queue
model runs itself, since what they send depends on what the queue does to them.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from voipbed.models.queue import BulkFlow, dscp_class
from voipbed.models.queue_stepper import Background
from voipbed.scenario import CrossTraffic, CrossTrafficKind

__all__ = ["bulk_flows", "unresponsive_arrivals"]


def _on_periods(
    source: CrossTraffic, end_s: float, rng: np.random.Generator
) -> NDArray[np.float64]:
    """[start, stop) pairs during which a source sends."""
    if source.kind is CrossTrafficKind.CBR:
        return np.array([[source.start_s, end_s]])
    periods = []
    t = source.start_s + rng.exponential(source.off_s)  # random phase: begin in an off period
    while t < end_s:
        on = rng.exponential(source.on_s)
        periods.append((t, min(t + on, end_s)))
        t += on + rng.exponential(source.off_s)
    return np.array(periods).reshape(-1, 2)


def unresponsive_arrivals(
    sources: tuple[CrossTraffic, ...], run_end_s: float, rng: np.random.Generator
) -> Background:
    """Arrival times of every constant-rate and on/off flow in ``sources``, sorted."""
    times, sizes, classes, ects = [], [], [], []
    for source in sources:
        if source.kind is CrossTrafficKind.BULK:
            continue
        end_s = min(source.stop_s or run_end_s, run_end_s)
        assert source.rate_bps is not None  # required for these kinds by the scenario
        gap_s = source.packet_bytes * 8.0 / source.rate_bps
        for _ in range(source.count):
            phase = rng.uniform(0.0, gap_s)
            for start, stop in _on_periods(source, end_s, rng):
                t = np.arange(start + phase, stop, gap_s)
                times.append(t)
                sizes.append(np.full(t.size, int(source.packet_bytes)))
                classes.append(np.full(t.size, int(dscp_class(np.array([source.dscp]))[0])))
                ects.append(np.full(t.size, source.ecn))
    if not times:
        empty = np.empty(0, np.int64)
        return Background(np.empty(0), empty, empty.copy(), np.empty(0, np.bool_))
    time_s = np.concatenate(times)
    order = np.argsort(time_s, kind="stable")
    return Background(
        time_s[order],
        np.concatenate(sizes).astype(np.int64)[order],
        np.concatenate(classes).astype(np.int64)[order],
        np.concatenate(ects).astype(np.bool_)[order],
    )


def bulk_flows(sources: tuple[CrossTraffic, ...], run_end_s: float) -> tuple[BulkFlow, ...]:
    """The greedy TCP-like flows among ``sources``."""
    flows = []
    for source in sources:
        if source.kind is not CrossTrafficKind.BULK:
            continue
        stop = min(source.stop_s or run_end_s, run_end_s)
        klass = int(dscp_class(np.array([source.dscp]))[0])
        flow = BulkFlow(
            source.rtt_s, source.start_s, stop, int(source.packet_bytes), klass, source.ecn
        )
        flows.extend([flow] * source.count)
    return tuple(flows)
