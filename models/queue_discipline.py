"""The queue's disciplines: drop-tail, CoDel (RFC 8289) and PIE (RFC 8033).

Every discipline drops an arriving packet that does not fit the buffer's
packet or byte limit (``Fate.OVERFLOW``). CoDel decides at dequeue from each
packet's sojourn time, PIE at enqueue from a drop probability it updates
every ``update_s``; each keeps its state per class. ECN-capable packets are
marked CE instead of dropped when the AQM says so (RFC 3168; RFC 8289 clause
5, RFC 8033 clause 5.1): a ``Verdict``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from voipbed.models._jit import inline_kernel, kernel
from voipbed.models.queue_codes import MTU_BYTES, N_CLASSES, Discipline, Verdict

__all__ = [
    "CoDel",
    "CoDelParams",
    "CoDelState",
    "DisciplineState",
    "DropTail",
    "Pie",
    "PieParams",
    "PieState",
    "codel_verdict",
    "new_discipline",
    "over_limit",
    "pie_update",
    "pie_verdict",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class DropTail:
    """Drop an arriving packet that does not fit the buffer; nothing else."""


@dataclass(frozen=True)
class CoDel:
    """Controlled Delay, RFC 8289: target 5 ms and interval 100 ms (clause 4.3 and 4.4)."""

    target_s: float = 0.005
    interval_s: float = 0.100
    ecn: bool = True  # mark ECN-capable packets instead of dropping them (clause 5)


@dataclass(frozen=True)
class Pie:
    """Proportional Integral controller Enhanced, RFC 8033 clause 4 and its Figure defaults.

    QDELAY_REF 15 ms, T_UPDATE 15 ms, alpha 0.125 Hz, beta 1.25 Hz, MAX_BURST
    150 ms (clause 4.2 and 5.2), and ECN marking while the drop probability is
    at most 10 % (clause 5.1).
    """

    target_s: float = 0.015
    update_s: float = 0.015
    alpha: float = 0.125
    beta: float = 1.25
    max_burst_s: float = 0.150
    ecn: bool = True
    ecn_max_probability: float = 0.1


class CoDelParams(NamedTuple):
    """CoDel's settings (``CoDel``)."""

    target_s: float
    interval_s: float
    ecn: bool


class CoDelState(NamedTuple):
    """CoDel's state per class (RFC 8289 clause 5 names)."""

    first_above: FloatArray  # first_above_time: when the sojourn stayed above target an interval
    drop_next: FloatArray
    drop_count: IntArray  # count
    last_count: IntArray
    dropping: BoolArray


class PieParams(NamedTuple):
    """PIE's settings (``Pie``)."""

    target_s: float  # QDELAY_REF
    update_s: float  # T_UPDATE
    alpha: float
    beta: float
    max_burst_s: float
    ecn: bool
    ecn_max_probability: float


class PieState(NamedTuple):
    """PIE's state per class (RFC 8033 clause 4 names)."""

    drop_prob: FloatArray
    qdelay_old: FloatArray
    burst: FloatArray  # burst_allowance, in seconds


class DisciplineState(NamedTuple):
    """Which discipline runs (``Discipline``), the buffer's limits (-1: none), and the
    settings and state of CoDel and PIE (zeros for the discipline not running).

    The kernels take the arrays one by one: numba counts references to an array taken
    from a tuple, which in the event loop's inner steps costs several times the work."""

    kind: int
    limit_packets: int
    limit_bytes: int
    codel_params: CoDelParams
    codel: CoDelState
    pie_params: PieParams
    pie: PieState


def new_discipline(
    discipline: DropTail | CoDel | Pie, limit_packets: int | None, limit_bytes: int | None
) -> DisciplineState:
    """The state of ``discipline`` before the first packet: PIE starts with its burst
    allowance (RFC 8033 clause 4.2), CoDel outside its dropping state."""
    codel = discipline if isinstance(discipline, CoDel) else CoDel(0.0, 0.0, False)
    if isinstance(discipline, Pie):
        kind, pie = Discipline.PIE, discipline
    else:
        kind = Discipline.CODEL if isinstance(discipline, CoDel) else Discipline.DROPTAIL
        pie = Pie(0.0, 0.0, 0.0, 0.0, 0.0, False, 0.0)
    return DisciplineState(
        int(kind),
        -1 if limit_packets is None else limit_packets,
        -1 if limit_bytes is None else limit_bytes,
        CoDelParams(codel.target_s, codel.interval_s, codel.ecn),
        CoDelState(
            np.zeros(N_CLASSES),
            np.zeros(N_CLASSES),
            np.zeros(N_CLASSES, dtype=np.int64),
            np.zeros(N_CLASSES, dtype=np.int64),
            np.zeros(N_CLASSES, dtype=np.bool_),
        ),
        PieParams(
            pie.target_s,
            pie.update_s,
            pie.alpha,
            pie.beta,
            pie.max_burst_s,
            pie.ecn,
            pie.ecn_max_probability,
        ),
        PieState(np.zeros(N_CLASSES), np.zeros(N_CLASSES), np.full(N_CLASSES, pie.max_burst_s)),
    )


@inline_kernel
def over_limit(
    waiting_packets: int, waiting_bytes: int, size: int, limit_packets: int, limit_bytes: int
) -> bool:
    """Whether a packet of ``size`` bytes does not fit the buffer (a limit < 0 is none)."""
    return (limit_packets >= 0 and waiting_packets + 1 > limit_packets) or (
        limit_bytes >= 0 and waiting_bytes + size > limit_bytes
    )


@inline_kernel
def pie_verdict(
    c: int,
    waiting_bytes: int,
    draw: float,
    ect: bool,
    pie: PieParams,
    drop_prob: FloatArray,
    qdelay_old: FloatArray,
    burst: FloatArray,
) -> int:
    """PIE's drop_early (RFC 8033 clause 4.1) for a packet arriving in class ``c``, with
    ``draw`` its uniform number; ECN-capable packets are marked while the drop probability
    is at most ``ecn_max_probability`` (clause 5.1)."""
    if burst[c] > 0.0:
        return Verdict.PASS
    # Clause 4.1: no early drop while the queue is short or the delay and probability low.
    calm = qdelay_old[c] < pie.target_s / 2 and drop_prob[c] < 0.2
    if calm or waiting_bytes <= 2 * MTU_BYTES or not draw < drop_prob[c]:
        return Verdict.PASS
    if pie.ecn and ect and drop_prob[c] <= pie.ecn_max_probability:
        return Verdict.MARK
    return Verdict.DROP


@kernel
def pie_update(
    at: float,
    enqueued_at: FloatArray,
    head: IntArray,
    pie: PieParams,
    drop_prob: FloatArray,
    qdelay_old: FloatArray,
    burst: FloatArray,
) -> None:
    """PIE's periodic drop probability update (RFC 8033 clause 4.2 and 4.3), each class; the
    queueing delay is that of the packet at the head of the class's queue."""
    for c in range(head.size):
        qdelay = at - enqueued_at[head[c]] if head[c] >= 0 else 0.0
        p = pie.alpha * (qdelay - pie.target_s) + pie.beta * (qdelay - qdelay_old[c])
        dp = drop_prob[c]
        if dp < 0.000001:  # auto-tuning of the gains
            p /= 2048.0
        elif dp < 0.00001:
            p /= 512.0
        elif dp < 0.0001:
            p /= 128.0
        elif dp < 0.001:
            p /= 32.0
        elif dp < 0.01:
            p /= 8.0
        elif dp < 0.1:
            p /= 2.0
        if dp >= 0.1 and p > 0.02:
            p = 0.02  # limit the step at high probability
        dp += p
        if qdelay == 0.0 and qdelay_old[c] == 0.0:
            dp *= 0.98  # decay while the queue stays empty
        drop_prob[c] = min(max(dp, 0.0), 1.0)
        burst[c] = max(burst[c] - pie.update_s, 0.0)
        calm = qdelay < pie.target_s / 2 and qdelay_old[c] < pie.target_s / 2
        if drop_prob[c] == 0.0 and calm and burst[c] == 0.0:
            burst[c] = pie.max_burst_s  # a new burst allowance
        qdelay_old[c] = qdelay


@inline_kernel
def codel_verdict(
    c: int,
    now: float,
    sojourn: float,
    waiting_bytes: int,
    ect: bool,
    codel: CoDelParams,
    first_above: FloatArray,
    drop_next: FloatArray,
    count: IntArray,
    last_count: IntArray,
    dropping: BoolArray,
) -> int:
    """CoDel's dequeue (RFC 8289 clause 5.5 to 5.7) for a packet just taken from class ``c``
    after ``sojourn`` seconds, with ``waiting_bytes`` left behind it."""
    interval = codel.interval_s
    ok_to_drop = False
    if sojourn < codel.target_s or waiting_bytes <= MTU_BYTES:
        first_above[c] = 0.0
    elif first_above[c] == 0.0:
        first_above[c] = now + interval
    elif now >= first_above[c]:
        ok_to_drop = True
    if dropping[c]:
        if not ok_to_drop:
            dropping[c] = False
            return Verdict.PASS
        if now < drop_next[c]:
            return Verdict.PASS
        count[c] += 1
        drop_next[c] += interval / math.sqrt(count[c])
    elif ok_to_drop:
        dropping[c] = True
        delta = count[c] - last_count[c]
        recent = now - drop_next[c] < 16 * interval  # RFC 8289's Linux variant: resume the count
        count[c] = delta if delta > 1 and recent else 1
        drop_next[c] = now + interval / math.sqrt(count[c])
        last_count[c] = count[c]
    else:
        return Verdict.PASS
    if codel.ecn and ect:
        return Verdict.MARK  # clause 5: mark instead of drop; the packet is sent
    return Verdict.DROP
