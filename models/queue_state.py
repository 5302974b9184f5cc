"""Everything the queue's event loop keeps, set up in one place for the batch and the stepper.

A ``QueueState`` gathers the parts: the packet slots, the scheduler and its
class queues (``models.queue_scheduler``), the discipline
(``models.queue_discipline``), the link's service (``models.queue_service``),
the bulk flows (``models.queue_bulk``), the sampling (``models.queue_sampling``),
and ``Progress``: the loop's scalars, kept so that a later call resumes where
the last one stopped. ``QueueingLink.serve`` makes one for a batch;
``QueueStepper`` makes one and runs it a little further at each call.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import numpy as np
from numpy.typing import NDArray

from voipbed.models.queue_bulk import Flows
from voipbed.models.queue_codes import Discipline, Owner
from voipbed.models.queue_discipline import DisciplineState, new_discipline
from voipbed.models.queue_sampling import Sampling
from voipbed.models.queue_scheduler import Scheduler, new_scheduler
from voipbed.models.queue_service import Service, new_service

if TYPE_CHECKING:
    from voipbed.models.queue import QueueingLink

__all__ = [
    "ARRIVED",
    "BUSY_UNTIL",
    "DONE",
    "IN_SERVICE",
    "NEXT_OPP",
    "NEXT_SLOT",
    "NEXT_UPDATE",
    "NOW",
    "TRANSIT_LEFT",
    "Progress",
    "QueueState",
    "Slots",
    "new_slots",
    "new_state",
    "plain_state",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

# ``Progress.floats``: the time of the last event, when the packet on the wire leaves (at a
# rate), and PIE's next update.
NOW, BUSY_UNTIL, NEXT_UPDATE = range(3)
# ``Progress.ints``: the next opportunity (trace), the slot on the wire (-1: none), its bytes
# still to carry (trace), the given packets arrived, the next slot for a bulk segment, and
# the entries of ``Slots.done`` not yet read.
NEXT_OPP, IN_SERVICE, TRANSIT_LEFT, ARRIVED, NEXT_SLOT, DONE = range(6)


class Slots(NamedTuple):
    """One slot per packet, in arrival order: the given packets, then the bulk segments."""

    size: IntArray
    cls: IntArray
    ect: BoolArray
    draw: FloatArray  # PIE's uniform draw for the packet
    owner: IntArray  # the bulk flow that sent it, or an ``Owner``
    depart: FloatArray  # NaN unless sent
    fate: NDArray[np.int8]  # ``Fate``
    ce: BoolArray
    enqueued_at: FloatArray
    link: IntArray  # the next slot in the same class queue
    done: IntArray  # slots settled (sent or dropped), in that order; empty: not logged


def new_slots(n: int, logged: bool) -> Slots:
    """``n`` unused slots; with ``logged``, room to log each settled one."""
    return Slots(
        np.zeros(n, dtype=np.int64),
        np.zeros(n, dtype=np.int64),
        np.zeros(n, dtype=np.bool_),
        np.zeros(n),
        np.full(n, int(Owner.GIVEN), dtype=np.int64),
        np.full(n, np.nan),
        np.zeros(n, dtype=np.int8),
        np.zeros(n, dtype=np.bool_),
        np.zeros(n),
        np.full(n, -1, dtype=np.int64),
        np.zeros(n if logged else 0, dtype=np.int64),
    )


class Progress(NamedTuple):
    """The event loop's scalars between calls (indexed by ``NOW``... and ``NEXT_OPP``...)."""

    floats: FloatArray
    ints: IntArray


class QueueState(NamedTuple):
    """What the event loop reads and changes (``models.queue_events``)."""

    slots: Slots
    scheduler: Scheduler
    discipline: DisciplineState
    service: Service
    progress: Progress
    flows: Flows
    sampling: Sampling


def new_state(
    link: QueueingLink, slots: Slots, flows: Flows, sampling: Sampling, next_slot: int
) -> QueueState:
    """``link``'s queue before anything arrives, with ``slots`` for the packets (bulk
    segments from ``next_slot`` on), the bulk ``flows`` and the ``sampling``."""
    discipline = new_discipline(link.discipline, link.limit_packets, link.limit_bytes)
    pie = discipline.kind == Discipline.PIE
    next_update = discipline.pie_params.update_s if pie else math.inf
    ints = np.zeros(6, dtype=np.int64)
    ints[IN_SERVICE] = -1
    ints[NEXT_SLOT] = next_slot
    return QueueState(
        slots,
        new_scheduler(link.scheduling, link.weights),
        discipline,
        new_service(link.rate_bps, link.schedule),
        Progress(np.array([-math.inf, -math.inf, next_update]), ints),
        flows,
        sampling,
    )


def plain_state(state: QueueState) -> QueueState:
    """``state`` with every tuple in it a plain tuple, sharing its arrays: what the event
    loop's kernel takes. numba reads a plain tuple argument's types in C and a NamedTuple's
    in Python, which costs a stepper's call three times as much; the kernel reads the
    fields by position, in the order they are declared here."""
    return cast(QueueState, _plain(state))


def _plain(value: Any) -> Any:
    return tuple(_plain(v) for v in value) if isinstance(value, tuple) else value
