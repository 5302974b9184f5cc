"""A link's queue with an active queue management discipline and DSCP classes.

``QueueingLink`` serves a batch of arriving packets: each waits in the queue
of its class, the scheduler picks which class the link serves next (FIFO,
strict priority, or deficit round robin with weights;
``models.queue_scheduler``), and the discipline decides drops: drop-tail on
a shared packet/byte limit, CoDel at dequeue (RFC 8289) or PIE at enqueue
(RFC 8033), marking ECN-capable packets CE instead of dropping them
(``models.queue_discipline``). Service is a constant rate or a Mahimahi
delivery schedule (``models.queue_service``: the semantics of
``models.link``, and with a single class and drop-tail the same departures).
Greedy TCP-like bulk flows share the queue (``models.queue_bulk``).

The batch is served to the end: every accepted packet leaves before
``serve`` returns, so a later batch must start after this batch's last
departure (the simulator cuts batches where the link is idle). The event
loop (``models.queue_events``) runs on a ``QueueState`` (``models.queue_state``)
and can stop where an unknown later arrival could come first and resume
there: ``models.queue_stepper`` drives it one packet at a time, on a clock
passed in, with the same outcomes.

Given a ``SampleGrid`` (``models.queue_samples``), a batch also records the
backlog by class at the grid's instants, inside the event loop (so the bulk
flows' segments, which the loop makes, are counted), and the bytes that leave
the link per interval (``models.queue_sampling``). Sampling only observes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from voipbed.models.mahimahi import DeliverySchedule
from voipbed.models.queue_bulk import BulkFlow, BulkStats, bulk_room, bulk_stats, new_flows
from voipbed.models.queue_codes import (
    MTU_BYTES,
    N_CLASSES,
    Discipline,
    Fate,
    Owner,
    Scheduling,
    TrafficClass,
)
from voipbed.models.queue_discipline import CoDel, DropTail, Pie
from voipbed.models.queue_events import run_events
from voipbed.models.queue_samples import Occupancy, SampleGrid
from voipbed.models.queue_sampling import OUT_BACKGROUND, OUT_BULK, OUT_GIVEN, new_sampling
from voipbed.models.queue_scheduler import dscp_class
from voipbed.models.queue_state import QueueState, new_slots, new_state, plain_state

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
    """A link (constant ``rate_bps`` or a delivery ``schedule``) behind a classful AQM queue."""

    discipline: DropTail | CoDel | Pie = field(default_factory=DropTail)
    scheduling: Scheduling = Scheduling.FIFO
    weights: tuple[float, ...] = (1.0, 1.0, 1.0)
    limit_packets: int | None = None
    limit_bytes: int | None = None
    rate_bps: float | None = None
    schedule: DeliverySchedule | None = None

    def __post_init__(self) -> None:
        if (self.rate_bps is None) == (self.schedule is None):
            raise ValueError("a link needs exactly one of rate_bps and schedule")
        if self.rate_bps is not None and not self.rate_bps > 0:
            raise ValueError(f"rate_bps must be > 0, got {self.rate_bps}")
        if len(self.weights) != N_CLASSES or min(self.weights) <= 0:
            raise ValueError(f"weights must be {N_CLASSES} positive numbers, got {self.weights}")

    @property
    def mean_rate_bps(self) -> float:
        if self.schedule is not None:
            return self.schedule.mean_rate_bps
        assert self.rate_bps is not None  # one of the two, checked at construction
        return self.rate_bps

    def _bulk_room(self, arrive_s: FloatArray, bulk: tuple[BulkFlow, ...]) -> int:
        """Slots for bulk segments: what the link can carry over their lifetime, with margin."""
        end = max(float(arrive_s[-1]) if arrive_s.size else 0.0, 0.0)
        return bulk_room(end, bulk, self.mean_rate_bps)

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
    ) -> tuple[ServeOutcome, BulkStats]:
        """Serve a batch of packets (arrival order) and the bulk flows to the end.

        Bulk flows send until their ``stop_s`` or the batch's last arrival,
        whichever is first. PIE draws one uniform per packet offered. With a
        ``grid``, the backlog is sampled at its instants (``ServeOutcome.occupancy``)
        and the bytes that left the link are summed per interval: the bulk flows',
        the ``background`` packets' (cross traffic) and the others'. The packets'
        fates are the same with or without a grid.
        """
        n = arrive_s.size
        room = self._bulk_room(np.asarray(arrive_s), bulk)
        total = n + room
        slots = new_slots(total, logged=False)
        slots.size[:n] = size_bytes
        slots.cls[:n] = klass
        slots.ect[:n] = ect
        if isinstance(self.discipline, Pie):
            slots.draw[:] = rng.random(total)
        if background is not None:
            slots.owner[:n][np.asarray(background, np.bool_)] = Owner.BACKGROUND
        end = float(arrive_s[-1]) if n else 0.0
        flows = new_flows(bulk, end, ring=room + 1)
        sampling = new_sampling(grid.times_s if grid is not None else np.zeros(0))
        state = new_state(self, slots, flows, sampling, next_slot=n)
        run_events(plain_state(state), np.asarray(arrive_s, dtype=np.float64), n, math.inf)
        stats = bulk_stats(slots.owner[n:], slots.fate[n:], slots.ce[n:], slots.size[n:], len(bulk))
        outcome = ServeOutcome(slots.depart[:n], slots.fate[:n], slots.ce[:n])
        if grid is None:
            return outcome, stats
        out = sampling.out_bytes.T.copy()  # one row per OUT_* column
        return (
            replace(
                outcome,
                occupancy=Occupancy(sampling.packets, sampling.size_bytes),
                delivered_bytes_per_interval=out[OUT_GIVEN],
                background_bytes_per_interval=out[OUT_BACKGROUND],
            ),
            replace(stats, delivered_bytes_per_interval=out[OUT_BULK]),
        )
