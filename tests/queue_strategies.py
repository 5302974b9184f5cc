"""Hypothesis strategies for queue tests: any discipline, scheduling, limits and service."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from voipbed.models.mahimahi import DeliverySchedule
from voipbed.models.queue import CoDel, DropTail, Pie, QueueingLink, Scheduling

__all__ = ["disciplines", "links", "schedules"]

disciplines = st.sampled_from(
    [
        DropTail(),
        CoDel(target_s=0.002, interval_s=0.02),
        CoDel(target_s=0.002, interval_s=0.02, ecn=False),
        Pie(target_s=0.003, update_s=0.004, max_burst_s=0.01),
        Pie(target_s=0.003, update_s=0.004, max_burst_s=0.0, ecn=False),
    ]
)
schedules = st.lists(st.integers(1, 6), min_size=1, max_size=20).map(
    lambda gaps: DeliverySchedule(np.cumsum(np.array(gaps, dtype=np.int64)))
)


@st.composite
def links(draw: st.DrawFn) -> QueueingLink:
    """A queueing link served at a constant rate or by a short delivery schedule."""
    by_trace = draw(st.booleans())
    return QueueingLink(
        discipline=draw(disciplines),
        scheduling=draw(st.sampled_from(list(Scheduling))),
        weights=tuple(draw(st.lists(st.floats(0.5, 4), min_size=3, max_size=3))),
        limit_packets=draw(st.none() | st.integers(1, 30)),
        limit_bytes=draw(st.none() | st.integers(1500, 40_000)),
        rate_bps=None if by_trace else draw(st.floats(2e5, 2e7)),
        schedule=draw(schedules) if by_trace else None,
    )
