"""The queue's classes and the scheduler that picks which one the link serves next.

Each class is a FIFO queue of packet slots, a singly linked list through the
slots' ``link`` array. ``FIFO`` puts every packet in class 0 and serves it;
``STRICT`` serves the lowest non-empty class; ``WEIGHTED`` is deficit round
robin (Shreedhar and Varghese, 1996) with a quantum of ``weight * MTU`` bytes
per turn. A DSCP maps to a class with ``dscp_class``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from voipbed.models._jit import inline_kernel
from voipbed.models.queue_codes import MTU_BYTES, N_CLASSES, Scheduling, TrafficClass

__all__ = ["WAITING_BYTES", "WAITING_PACKETS", "Scheduler", "dscp_class", "new_scheduler"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

WAITING_PACKETS, WAITING_BYTES = 0, 1  # ``Scheduler.waiting``

_SIGNALLING_DSCP = (24, 26, 28, 30)  # CS3, AF31, AF32, AF33 (RFC 4594 Figure 3)
_EF_DSCP = 46  # RFC 3246


def _classes_by_dscp() -> IntArray:
    table = np.full(64, int(TrafficClass.BEST_EFFORT), dtype=np.int64)
    table[list(_SIGNALLING_DSCP)] = TrafficClass.SIGNALLING
    table[_EF_DSCP] = TrafficClass.EF
    return table


_CLASS_OF_DSCP = _classes_by_dscp()  # the class of each of the 64 DSCPs


def dscp_class(dscp: IntArray) -> IntArray:
    """Scheduling class of a DSCP (0 to 63): ``EF`` for EF, ``SIGNALLING`` for CS3 and AF3x,
    and ``BEST_EFFORT`` for everything else (``TrafficClass``)."""
    classes: IntArray = _CLASS_OF_DSCP[dscp]
    return classes


class Scheduler(NamedTuple):
    """How the classes are served, and their queues (``head``/``tail`` -1 when empty)."""

    scheduling: int  # ``Scheduling``
    quantum: FloatArray  # bytes per deficit round robin turn, by class (0 unless WEIGHTED)
    head: IntArray  # first slot of each class's queue
    tail: IntArray  # last slot of each class's queue
    deficit: FloatArray  # bytes each class may still send in its turn (WEIGHTED)
    turn: IntArray  # the class whose turn it is, and 1 if its turn has not begun
    waiting: IntArray  # packets and bytes waiting, over the classes (not the one in service)


def new_scheduler(scheduling: Scheduling, weights: tuple[float, ...]) -> Scheduler:
    """Empty queues, each class's turn not begun."""
    scale = 1.0 if scheduling == Scheduling.WEIGHTED else 0.0
    return Scheduler(
        int(scheduling),
        np.array(weights) * MTU_BYTES * scale,
        np.full(N_CLASSES, -1, dtype=np.int64),
        np.full(N_CLASSES, -1, dtype=np.int64),
        np.zeros(N_CLASSES),
        np.array([0, 1], dtype=np.int64),
        np.zeros(2, dtype=np.int64),
    )


@inline_kernel
def queue_of(scheduling: int, klass: int) -> int:
    """The queue a packet of ``klass`` waits in: its class, or class 0 under FIFO."""
    return klass if scheduling != Scheduling.FIFO else 0


@inline_kernel
def push(k: int, c: int, head: IntArray, tail: IntArray, link: IntArray) -> None:
    """Append slot ``k`` to class ``c``'s queue."""
    link[k] = -1
    if tail[c] < 0:
        head[c] = k
    else:
        link[tail[c]] = k
    tail[c] = k


@inline_kernel
def pop(c: int, head: IntArray, tail: IntArray, link: IntArray) -> int:
    """Take the first slot of class ``c``'s queue (not empty)."""
    k = int(head[c])
    head[c] = link[k]
    if head[c] < 0:
        tail[c] = -1
    return k


@inline_kernel
def pick_class(
    scheduling: int,
    head: IntArray,
    size: IntArray,
    quantum: FloatArray,
    deficit: FloatArray,
    turn: IntArray,
) -> int:
    """The class to serve next, or -1 when every queue is empty."""
    n = head.size
    if scheduling != Scheduling.WEIGHTED:  # FIFO uses class 0 only; strict: lowest non-empty
        for c in range(n):
            if head[c] >= 0:
                return c
        return -1
    empty = True
    for c in range(n):
        if head[c] >= 0:
            empty = False
        else:
            deficit[c] = 0.0
    if empty:
        turn[1] = 1  # an emptied class's turn ends: its deficit is gone (DRR)
        return -1
    while True:  # deficit round robin: a class gets a quantum per turn until its head fits
        c = int(turn[0])
        if head[c] < 0:
            turn[0] = (c + 1) % n
            turn[1] = 1
            continue
        if turn[1] == 1:
            deficit[c] += quantum[c]
            turn[1] = 0
        if size[head[c]] <= deficit[c]:
            deficit[c] -= size[head[c]]
            return c
        turn[0] = (c + 1) % n
        turn[1] = 1
