"""A link's queue with an active queue management discipline and DSCP classes.

``QueueingLink`` serves arriving packets: each waits in the queue of its
class, the scheduler picks which class the link serves next (FIFO, strict
priority, or deficit round robin with weights; ``models.queue_scheduler``),
and the discipline decides drops: drop-tail on a shared packet/byte limit,
CoDel at dequeue (RFC 8289) or PIE at enqueue (RFC 8033), marking
ECN-capable packets CE instead of dropping them (``models.queue_discipline``).
Service is a rate, constant or in steps (``models.rate_steps``), or a
Mahimahi delivery schedule (``models.queue_service``: the semantics of
``models.link``, and with a single class and drop-tail the same departures).
Greedy TCP-like bulk flows share the queue (``models.queue_bulk``).

``QueueingLink.serve`` serves a batch to the end: every accepted packet leaves
before it returns. It is one window of a ``QueueRun`` (``models.queue_window``),
which serves a run window by window with the same outcomes; the event loop
(``models.queue_events``) runs on a ``QueueState`` (``models.queue_state``),
stops where an unknown later arrival could come first and resumes there.
``models.queue_stepper`` drives it one packet at a time, on a clock passed in.

Given a ``SampleGrid`` (``models.queue_samples``), a batch also records the
backlog by class at the grid's instants, inside the event loop (so the bulk
flows' segments, which the loop makes, are counted), and the bytes that leave
the link per interval (``models.queue_sampling``). Sampling only observes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from voipbed.models.mahimahi import DeliverySchedule
from voipbed.models.queue_bulk import BulkFlow, BulkStats, bulk_room
from voipbed.models.queue_codes import (
    MTU_BYTES,
    N_CLASSES,
    Discipline,
    Fate,
    Scheduling,
    TrafficClass,
)
from voipbed.models.queue_discipline import CoDel, DropTail, Pie
from voipbed.models.queue_samples import Occupancy, SampleGrid
from voipbed.models.queue_scheduler import dscp_class
from voipbed.models.queue_state import QueueState
from voipbed.models.queue_window import QueueRun
from voipbed.models.rate_steps import RateSteps

__all__ = [
    "MTU_BYTES",
    "N_CLASSES",
    "BulkFlow",
    "BulkStats",
    "CoDel",
    "Discipline",
    "DropTail",
    "Fate",
    "Pie",
    "QueueState",
    "QueueingLink",
    "Scheduling",
    "ServeOutcome",
    "TrafficClass",
    "dscp_class",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class ServeOutcome:
    """Per packet: departure (NaN unless sent), fate (``Fate``), and whether it was marked CE;
    with a sampling grid, the queue's backlog at its instants (bulk segments included) and
    the bytes that left the link in each of its intervals: of the packets not marked as
    background, and of those marked."""

    depart_s: FloatArray
    fate: NDArray[np.int8]
    ce: BoolArray
    occupancy: Occupancy | None = None
    delivered_bytes_per_interval: IntArray | None = None
    background_bytes_per_interval: IntArray | None = None

    @property
    def dropped(self) -> BoolArray:
        dropped: BoolArray = self.fate != np.int8(Fate.SENT)
        return dropped


@dataclass
class QueueingLink:
    """A link behind a classful AQM queue: ``rate_bps`` (one rate, or ``RateSteps``: a packet
    on the wire across a step is carried at each rate for its span) or a delivery
    ``schedule``."""

    discipline: DropTail | CoDel | Pie = field(default_factory=DropTail)
    scheduling: Scheduling = Scheduling.FIFO
    weights: tuple[float, ...] = (1.0, 1.0, 1.0)
    limit_packets: int | None = None
    limit_bytes: int | None = None
    rate_bps: float | RateSteps | None = None
    schedule: DeliverySchedule | None = None

    def __post_init__(self) -> None:
        if (self.rate_bps is None) == (self.schedule is None):
            raise ValueError("a link needs exactly one of rate_bps and schedule")
        if isinstance(self.rate_bps, float | int) and not self.rate_bps > 0:
            raise ValueError(f"rate_bps must be > 0, got {self.rate_bps}")
        if len(self.weights) != N_CLASSES or min(self.weights) <= 0:
            raise ValueError(f"weights must be {N_CLASSES} positive numbers, got {self.weights}")

    def mean_rate_bps(self, until_s: float) -> float:
        """The link's average rate: over the schedule's period, or of the rate from 0 s to
        ``until_s``."""
        if self.schedule is not None:
            return self.schedule.mean_rate_bps
        if isinstance(self.rate_bps, RateSteps):
            return self.rate_bps.mean_rate_bps(until_s)
        assert self.rate_bps is not None  # one of the two, checked at construction
        return self.rate_bps

    def serve(
        self,
        arrive_s: FloatArray,
        size_bytes: IntArray,
        klass: IntArray,
        ect: BoolArray,
        rng: np.random.Generator,
        bulk: tuple[BulkFlow, ...] = (),
        grid: SampleGrid | None = None,
        background: BoolArray | None = None,
        *,
        end_s: float | None = None,
    ) -> tuple[ServeOutcome, BulkStats]:
        """Serve a batch of packets (sorted by time) and the bulk flows to the end: one
        window of a ``QueueRun`` (which see for the draws), with horizon inf.

        Bulk flows send until their ``stop_s`` or ``end_s`` (by default the batch's last
        arrival), whichever is first. With a ``grid``, the backlog is sampled at its
        instants (``ServeOutcome.occupancy``) and the bytes that left the link are summed
        per interval: the bulk flows', the ``background`` packets' (cross traffic) and the
        others'. The packets' fates are the same with or without a grid.
        """
        arrive_s = np.asarray(arrive_s, dtype=np.float64)
        n = arrive_s.size
        if end_s is None:
            end_s = float(arrive_s[-1]) if n else 0.0
        room = bulk_room(end_s, bulk, self.mean_rate_bps(end_s)) if math.isfinite(end_s) else 0
        run = QueueRun(self, rng, bulk, grid=grid, end_s=end_s, slots=n + room)
        settled = run.feed(arrive_s, size_bytes, klass, ect, math.inf, as_background=background)
        totals = run.finish()
        if settled.index.size != n:  # horizon inf settles every packet, in their order
            raise RuntimeError(f"{settled.index.size} of {n} packets settled at horizon inf")
        outcome = ServeOutcome(
            settled.depart_s,
            settled.fate,
            settled.ce,
            totals.occupancy,
            totals.delivered_bytes_per_interval,
            totals.background_bytes_per_interval,
        )
        return outcome, totals.bulk
