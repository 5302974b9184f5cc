"""The named codes of the queue model, shared by its numba event loop and its callers.

``IntEnum`` members compile in numba as integer constants (stored into an
``int8`` array, compared with an integer), so the kernels and the Python
around them use the same names. numba freezes a global's value into a cached
kernel: ``models.queue_events`` keys its cache on this file's text too.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "BULK_ROOM_EXTRA",
    "BULK_ROOM_FACTOR",
    "MTU_BYTES",
    "N_CLASSES",
    "Discipline",
    "Event",
    "Fate",
    "Feedback",
    "Owner",
    "Scheduling",
    "TrafficClass",
    "Verdict",
]

MTU_BYTES = 1500


class Fate(IntEnum):
    """What happened to a packet in the queue (``ServeOutcome.fate``)."""

    SENT = 0
    OVERFLOW = 1  # the buffer was full
    AQM = 2  # CoDel or PIE dropped it


class Scheduling(IntEnum):
    """Which class the link serves next."""

    FIFO = 0  # one queue, DSCP ignored
    STRICT = 1  # lowest class number first (class 0: EF)
    WEIGHTED = 2  # deficit round robin, quantum = weight * MTU (Shreedhar and Varghese, 1996)


class Discipline(IntEnum):
    """The queue's drop policy: ``DropTail``, ``CoDel`` or ``Pie`` (``models.queue_discipline``)."""

    DROPTAIL = 0
    CODEL = 1
    PIE = 2


class TrafficClass(IntEnum):
    """Scheduling classes, in strict priority order (``dscp_class`` maps a DSCP to one)."""

    EF = 0  # Expedited Forwarding, RFC 3246: voice
    SIGNALLING = 1  # CS3 and AF3x, RFC 4594 Figure 3
    BEST_EFFORT = 2  # everything else


N_CLASSES = len(TrafficClass)


class Verdict(IntEnum):
    """What an AQM decides for one packet (PIE at enqueue, CoDel at dequeue)."""

    PASS = 0
    MARK = 1  # ECN-capable: marked Congestion Experienced instead of dropped (RFC 3168)
    DROP = 2


class Feedback(IntEnum):
    """What a bulk flow hears about one of its segments, a round trip after its fate."""

    ACK = 0  # delivered unmarked
    LOSS = 1  # dropped in the queue
    CE = 2  # delivered marked Congestion Experienced


class Event(IntEnum):
    """The kinds of event the event loop runs, in the order it runs events of one instant."""

    SERVICE = 0  # a rate departure, or a delivery opportunity of a trace
    ARRIVAL = 1  # a given packet arrives
    BULK = 2  # a bulk flow starts or hears feedback


class Owner(IntEnum):
    """Who a packet's slot belongs to when no bulk flow does (bulk flows own slots 0, 1...)."""

    GIVEN = -1  # a packet passed to ``serve`` or to the stepper's ``arrive``
    BACKGROUND = -2  # unresponsive cross traffic, counted apart in the bytes out


BULK_ROOM_FACTOR = 1.5
"""Slots a batch starts with per bulk flow (more come as needed), and what the run's budget
counts for it: this times what the link carries over the flow's lifetime..."""
BULK_ROOM_EXTRA = 1000
"""...plus these (``models.queue_bulk.bulk_room``; the run's budget counts them too)."""
