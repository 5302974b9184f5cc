"""Everything the queue's event loop keeps, set up in one place for the run and the stepper.

A ``QueueState`` gathers the parts: the packet slots, the scheduler and its
class queues (``models.queue_scheduler``), the discipline
(``models.queue_discipline``), the link's service (``models.queue_service``),
the bulk flows (``models.queue_bulk``) and PIE's draws for their segments,
the sampling (``models.queue_sampling``), and ``Progress``: the loop's
scalars, kept so that a later call resumes where the last one stopped.
``QueueRun`` (``models.queue_window``) makes one and runs it window by window;
``QueueStepper`` makes one and runs it a little further at each call.

Slots are used once, from ``NEXT_SLOT`` on. ``make_room`` gives a state more
free slots: it drops the settled slots below the lowest live one, moving the
rest down, and doubles the slots while they would be more than half full.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import numpy as np
from numpy.typing import NDArray

from voipbed.models.queue_bulk import Flows
from voipbed.models.queue_codes import Discipline, Fate, Owner
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
    "NEXT_DRAW",
    "NEXT_OPP",
    "NEXT_SLOT",
    "NEXT_UPDATE",
    "NOW",
    "RATE_STEP",
    "TRANSIT_LEFT",
    "Progress",
    "QueueState",
    "Room",
    "Slots",
    "make_room",
    "new_slots",
    "new_state",
    "plain_state",
    "with_slots",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

# ``Progress.floats``: the time of the last event, when the packet on the wire leaves (at a
# rate), and PIE's next update.
NOW, BUSY_UNTIL, NEXT_UPDATE = range(3)
# ``Progress.ints``: the next opportunity (trace), the slot on the wire (-1: none), its bytes
# still to carry (trace), the slot of the next given packet to arrive, the first free slot,
# the entries of ``Slots.done`` not yet read, the next unused entry of
# ``QueueState.bulk_draws``, and the step of the rate in force when the last packet's service
# ended (at a rate: where ``models.link.carried_s`` searches on from).
NEXT_OPP, IN_SERVICE, TRANSIT_LEFT, ARRIVED, NEXT_SLOT, DONE, NEXT_DRAW, RATE_STEP = range(8)


class Slots(NamedTuple):
    """One slot per packet: the given packets (caller's and background ones) take the slots
    in arrival order before they are run, the bulk segments the next free one as they are
    sent."""

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
    ident: IntArray  # a given packet's number for the caller (-1: none); the loop ignores it


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
        np.empty(n, dtype=np.int64),  # written for each given packet as it is placed
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
    bulk_draws: FloatArray  # PIE's uniform draws for the bulk segments, from ``NEXT_DRAW`` on


def new_state(
    link: QueueingLink, slots: Slots, flows: Flows, sampling: Sampling, next_slot: int
) -> QueueState:
    """``link``'s queue before anything arrives, with ``slots`` for the packets (free from
    ``next_slot`` on), the bulk ``flows`` and the ``sampling``; no draws for bulk segments
    yet."""
    discipline = new_discipline(link.discipline, link.limit_packets, link.limit_bytes)
    pie = discipline.kind == Discipline.PIE
    next_update = discipline.pie_params.update_s if pie else math.inf
    ints = np.zeros(8, dtype=np.int64)
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
        np.zeros(0),
    )


def plain_state(state: QueueState) -> QueueState:
    """``state`` with every tuple in it a plain tuple, sharing its arrays: what the event
    loop's kernel takes. numba reads a plain tuple argument's types in C and a NamedTuple's
    in Python, which costs a stepper's call three times as much; the kernel reads the
    fields by position, in the order they are declared here."""
    return cast(QueueState, _plain(state))


def with_slots(plain: QueueState, slots: Slots) -> QueueState:
    """The plain state ``plain`` (``plain_state``) with other ``slots``, sharing the rest."""
    return cast(QueueState, (tuple(slots), *plain[1:]))


def _plain(value: Any) -> Any:
    return tuple(_plain(v) for v in value) if isinstance(value, tuple) else value


class Room(NamedTuple):
    """A state given more free slots (``make_room``), the arrival times moved with its slots,
    and how far everything moved down (subtract it from a slot number kept outside)."""

    state: QueueState
    arrive: FloatArray
    moved: int


def make_room(state: QueueState, arrive: FloatArray, free: int, keep: int | None = None) -> Room:
    """``state`` with at least ``free`` slots free from ``NEXT_SLOT``: the slots below the
    lowest one not settled (sent or dropped), and below ``keep`` if given, are dropped and
    the rest moved down, into twice as many slots while more than half of them would be
    taken. ``arrive`` holds the arrival time of each slot, up to the last known arrival; it
    is moved likewise. The log (``Slots.done``) must have been read."""
    slots = state.slots
    ints = state.progress.ints
    used = int(ints[NEXT_SLOT])
    live = np.isnan(slots.depart[:used]) & (slots.fate[:used] == Fate.SENT)
    low = min(int(np.argmax(live)) if live.any() else used, int(ints[ARRIVED]))
    if keep is not None:
        low = min(low, keep)
    kept = used - low
    size = max(slots.size.size, 2)
    while kept + free > size // 2:
        size *= 2
    fresh = new_slots(size, logged=slots.done.size > 0)
    for name in Slots._fields:
        if name != "done":  # the log starts empty
            getattr(fresh, name)[:kept] = getattr(slots, name)[low:used]
    fresh.link[:kept][fresh.link[:kept] >= 0] -= low
    for ends in (state.scheduler.head, state.scheduler.tail):
        ends[ends >= 0] -= low
    if ints[IN_SERVICE] >= 0:
        ints[IN_SERVICE] -= low
    ints[ARRIVED] -= low
    ints[NEXT_SLOT] -= low
    moved = np.zeros(size)
    known = arrive[low:used]  # ``arrive`` may end with the known arrivals
    moved[: known.size] = known
    return Room(state._replace(slots=fresh), moved, low)
