"""A ``QueueingLink`` served window by window, with the outcomes of one batch.

``QueueRun.feed`` takes the caller's packets that arrive in a window
``[previous horizon, horizon_s)``, sorted by time, merges in the
``Background`` packets (unresponsive cross traffic) that arrive before
``horizon_s`` (the caller's first on ties), runs the event loop
(``models.queue_events``) up to ``horizon_s`` and returns ``Settled``: the
caller's packets whose fate became known, whichever window they came in.
Greedy bulk flows (``models.queue_bulk``) run across the windows, each sending
until its ``stop_s`` or the run's ``end_s``. ``finish`` returns the run's
``RunTotals``: the backlog and the bytes out sampled on the grid, the bulk
flows' statistics and the background packets dropped.

Where the windows are cut changes nothing: every packet gets the same
departure, fate and CE mark as in one feed with horizon inf, and the totals
are the same. PIE draws one uniform per caller's or background packet, from
``rng`` in the merged arrival order, and one per bulk segment, in the order
the segments are sent, from ``bulk_generator(rng)`` (``rng``'s first spawned
child, made at construction, and only when PIE runs with bulk flows).

The packet slots are used once and grow as needed (``models.queue_state.make_room``:
settled slots dropped, the rest doubled while more than half full); so do the
bulk flows' feedback rings and PIE's draws for their segments. What settled is
read from the event loop's log (``models.queue_events.read_log``), or, when a
window's packets are all that settled, from their slots; a window served to the
end from an idle link (one batch: ``QueueingLink.serve``) keeps no log at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from voipbed.models._jit import kernel
from voipbed.models.queue_bulk import (
    BulkFlow,
    BulkStats,
    bulk_stats,
    new_flows,
    new_tally,
    tally_slots,
    wider_ring,
)
from voipbed.models.queue_codes import Fate, Owner
from voipbed.models.queue_discipline import Pie
from voipbed.models.queue_events import read_log, run_events
from voipbed.models.queue_samples import Occupancy, SampleGrid
from voipbed.models.queue_sampling import OUT_BACKGROUND, OUT_BULK, OUT_GIVEN, new_sampling
from voipbed.models.queue_scheduler import WAITING_PACKETS
from voipbed.models.queue_state import (
    ARRIVED,
    DONE,
    IN_SERVICE,
    NEXT_DRAW,
    NEXT_SLOT,
    QueueState,
    make_room,
    new_slots,
    new_state,
    plain_state,
    with_slots,
)

if TYPE_CHECKING:
    from voipbed.models.queue import QueueingLink
    from voipbed.models.queue_stepper import Background

__all__ = ["QueueRun", "RunTotals", "Settled", "bulk_generator", "bulk_room"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

_SLOTS = 1024  # packet slots to start with
_RING = 64  # feedback entries per bulk flow to start with
_DRAW_CHUNK = 4096  # PIE uniforms drawn at a time for bulk segments (the same stream)


@dataclass(frozen=True)
class Settled:
    """The caller's packets whose fate became known, by their index over every packet fed
    so far (ascending): departure (NaN if dropped), ``Fate`` and CE mark. The arrays may
    be views of the run's own, which never change once a packet is settled."""

    index: IntArray
    depart_s: FloatArray
    fate: NDArray[np.int8]
    ce: BoolArray


@dataclass(frozen=True)
class RunTotals:
    """What a run adds up to: the bulk flows' statistics (with a grid, their bytes out per
    interval), the background packets dropped, and with a grid the backlog at its instants
    and the bytes out per interval of the caller's packets and of the background ones."""

    bulk: BulkStats
    background_dropped: int
    occupancy: Occupancy | None = None
    delivered_bytes_per_interval: IntArray | None = None
    background_bytes_per_interval: IntArray | None = None


def bulk_generator(rng: np.random.Generator) -> np.random.Generator:
    """The generator of PIE's draws for bulk segments: ``rng``'s next spawned child (which
    leaves ``rng``'s own stream as it is)."""
    (child,) = rng.spawn(1)
    return child


def bulk_room(state: QueueState, segments: int, bulk_rng: np.random.Generator | None) -> QueueState:
    """``state`` with room for a bulk flow's event that may send ``segments`` (its slots
    already made): each flow's feedback ring as wide as its window allows, and PIE draws
    for the segments from ``bulk_rng`` (None: no PIE)."""
    ints = state.progress.ints
    flows = state.flows
    ring = flows.fb_time.shape[1]
    wanted = int(np.floor(flows.cwnd).max()) + 2  # what ``most_sent`` checks against
    if ring < wanted:
        state = state._replace(flows=wider_ring(flows, max(2 * ring, wanted)))
    if bulk_rng is not None:
        left = state.bulk_draws[int(ints[NEXT_DRAW]) :]
        if left.size < segments:
            fresh = bulk_rng.random(max(segments, _DRAW_CHUNK))
            state = state._replace(bulk_draws=np.concatenate([left, fresh]))
            ints[NEXT_DRAW] = 0
    return state


class QueueRun:
    """One queueing link served window by window; times never go back across feeds."""

    def __init__(
        self,
        link: QueueingLink,
        rng: np.random.Generator,
        bulk: tuple[BulkFlow, ...] = (),
        background: Background | None = None,
        grid: SampleGrid | None = None,
        end_s: float = math.inf,
        slots: int = _SLOTS,
    ) -> None:
        """``slots`` is how many packet slots to start with (more come as needed)."""
        if math.isnan(end_s):
            raise ValueError("end_s must be a time, got NaN")
        self._rng = rng
        self._pie = isinstance(link.discipline, Pie)
        self._bulk_rng = bulk_generator(rng) if self._pie and bulk else None
        times = grid.times_s if grid is not None else np.zeros(0)
        size = max(slots, 2)
        self._state = new_state(
            link,
            new_slots(size, logged=True),
            new_flows(bulk, end_s, ring=_RING),
            new_sampling(times),
            0,
        )
        self._plain = plain_state(self._state)  # what the kernel takes: the same arrays
        self._arrive = np.zeros(size)  # by slot, the times of the known arrivals
        self._own_arrive = True  # ``_arrive`` is the run's (not a caller's array)
        self._grid = grid
        self._background = background
        self._next_background = 0
        self._fed = 0  # the caller's packets fed so far
        self._settled = 0  # of them, settled
        # Whether a slot may be someone else's than the caller's (or counted as background):
        # the log is then read in a kernel, to tell them apart.
        self._mixed = bool(bulk)
        self._window = _Placed(0, 0, 0, False, False)
        self._horizon = -math.inf
        self._tally = new_tally(len(bulk))
        self._background_dropped = 0
        self._finished = False

    def feed(
        self,
        arrive_s: FloatArray,
        size_bytes: IntArray,
        klass: IntArray,
        ect: BoolArray,
        horizon_s: float,
        as_background: BoolArray | None = None,
    ) -> Settled:
        """Serve up to ``horizon_s`` with the caller's packets arriving from the last
        horizon until before this one (sorted by time): the caller's packets settled in
        this window, this feed's or earlier ones'. Those marked ``as_background`` count as
        cross traffic in the bytes out and in ``background_dropped``, and are settled like
        the others. A departure settled here is at or before ``horizon_s``."""
        arrive_s = np.asarray(arrive_s, dtype=np.float64)
        size_bytes, klass, ect = np.asarray(size_bytes), np.asarray(klass), np.asarray(ect)
        if as_background is not None:
            as_background = np.asarray(as_background, dtype=np.bool_)
        self._check(arrive_s, (size_bytes, klass, ect, as_background), horizon_s)
        idle = self._idle()
        self._place(arrive_s, size_bytes, klass, ect, as_background, horizon_s)
        self._horizon = horizon_s
        if horizon_s == math.inf and idle:
            return self._serve_window_out()
        parts: list[Settled] = []
        while True:
            n_known = self._window.first + self._window.packets
            short = run_events(self._plain, self._arrive, n_known, horizon_s)
            part = self._read_log(first=not parts)
            if part is not None:
                parts.append(part)
            if short == 0:
                break
            self._room_for_bulk(short, keep=None)
        if len(parts) == 1:
            return parts[0]
        return _joined(parts)

    def finish(self) -> RunTotals:
        """The run's totals; no feed may follow. Segments not settled yet (after a feed
        with a finite horizon) count as sent only."""
        self._finished = True
        state = self._state
        flows = self._tally.shape[1]
        unsettled = np.zeros(flows, dtype=np.int64)
        if flows:
            slots = state.slots
            used = int(state.progress.ints[NEXT_SLOT])
            owner = slots.owner[:used]
            live = (owner >= 0) & np.isnan(slots.depart[:used]) & (slots.fate[:used] == Fate.SENT)
            unsettled = np.bincount(owner[live], minlength=flows).astype(np.int64)
        stats = bulk_stats(self._tally, unsettled)
        if self._grid is None:
            return RunTotals(stats, self._background_dropped)
        sampling = state.sampling
        out = sampling.out_bytes.T.copy()  # one row per OUT_* column
        return RunTotals(
            replace(stats, delivered_bytes_per_interval=out[OUT_BULK]),
            self._background_dropped,
            Occupancy(sampling.packets, sampling.size_bytes),
            out[OUT_GIVEN],
            out[OUT_BACKGROUND],
        )

    # ---- internals ------------------------------------------------------------------------

    def _check(
        self,
        arrive_s: FloatArray,
        columns: tuple[NDArray[np.generic] | None, ...],
        horizon_s: float,
    ) -> None:
        if self._finished:
            raise ValueError("the run has finished: no feed may follow")
        if not horizon_s >= self._horizon:  # also refuses NaN
            raise ValueError(f"horizon went back: {horizon_s} after {self._horizon}")
        flows = self._state.flows
        if horizon_s == math.inf and np.any(np.isinf(flows.stop_s) & ~np.isinf(flows.start_s)):
            raise ValueError("a bulk flow never stops (no stop_s, no end_s): no horizon inf")
        n = arrive_s.size
        if any(column is not None and column.size != n for column in columns):
            raise ValueError("packet columns must have one value per packet")
        if n and not (arrive_s[0] >= self._horizon and arrive_s[-1] < horizon_s):
            raise ValueError(
                f"packets must arrive in [{self._horizon}, {horizon_s}), "
                f"got {arrive_s[0]} to {arrive_s[-1]}"
            )
        if n > 1 and not np.all(arrive_s[1:] >= arrive_s[:-1]):  # also refuses NaN
            raise ValueError("packets must be sorted by arrival time")

    def _place(
        self,
        arrive_s: FloatArray,
        size_bytes: IntArray,
        klass: IntArray,
        ect: BoolArray,
        as_background: BoolArray | None,
        horizon_s: float,
    ) -> None:
        """Put the window's packets, with the background ones, in the next free slots (the
        arrival order)."""
        n = arrive_s.size
        crossing = as_background if as_background is not None and as_background.any() else None
        window = _Window(arrive_s, size_bytes, klass, ect, crossing, None)
        cross = self._background_until(horizon_s)
        if cross is not None:
            window = _merged(window, cross, self._fed)
        count = window.time_s.size
        ints = self._state.progress.ints
        ints[ARRIVED] = ints[NEXT_SLOT]  # every packet fed before has arrived
        if self._state.slots.size.size - int(ints[NEXT_SLOT]) < count:
            self._make_room(count)
        first = int(ints[NEXT_SLOT])
        end = first + count
        slots = self._state.slots
        times = np.ascontiguousarray(window.time_s)
        if first == 0:  # slot j arrives at times[j]: read as it is
            self._arrive, self._own_arrive = times, False
        else:
            if not self._own_arrive or self._arrive.size < end:
                self._arrive, self._own_arrive = np.zeros(slots.size.size), True
            self._arrive[first:end] = times
        slots.size[first:end] = window.size_bytes
        slots.cls[first:end] = window.klass
        slots.ect[first:end] = window.ect
        if window.background is not None:
            slots.owner[first:end][window.background] = Owner.BACKGROUND
            self._mixed = True
        if window.ident is None:
            _number(slots.ident[first:end], self._fed)
        else:
            slots.ident[first:end] = window.ident
        if self._pie:
            slots.draw[first:end] = self._rng.random(count)
        ints[ARRIVED] = first
        ints[NEXT_SLOT] = end
        self._window = _Placed(
            first, count, self._fed, cross is None, window.background is not None
        )
        self._fed += n

    def _background_until(self, horizon_s: float) -> _Window | None:
        """The background packets arriving before ``horizon_s`` not offered yet."""
        background = self._background
        if background is None:
            return None
        first = self._next_background
        end = max(int(np.searchsorted(background.time_s, horizon_s, side="left")), first)
        self._next_background = end
        if end == first:
            return None
        part = slice(first, end)
        return _Window(
            background.time_s[part],
            background.size_bytes[part],
            background.klass[part],
            background.ect[part],
            None,
            None,
        )

    def _read_log(self, first: bool) -> Settled | None:
        """The caller's packets settled since the log was last read, if any (``first``:
        the first any are read in this feed); the log emptied (its slots may move after)."""
        ints = self._state.progress.ints
        n_done = int(ints[DONE])
        if n_done == 0:
            return None
        slots = self._state.slots
        ascending: bool | None = None  # unknown
        if self._mixed:
            found = np.empty(n_done, dtype=np.int64)
            n, ascending, dropped = read_log(self._plain[0], n_done, found, self._tally)
            found = found[:n]
            self._background_dropped += dropped
        else:  # every slot settled is a caller's packet
            found = slots.done[:n_done]
        ints[DONE] = 0
        if found.size == 0:
            return None
        settled_before = self._settled
        self._settled += found.size
        window = self._window
        if first and window.alone and settled_before == window.fed and self._settled == self._fed:
            # Every packet fed before had settled, and the window's all settle here.
            return self._window_settled()
        if ascending is None:
            ascending = bool(np.all(found[1:] > found[:-1]))
        if not ascending:  # slots ascend with the caller's numbers
            found = np.sort(found, kind="stable")
        return Settled(slots.ident[found], slots.depart[found], slots.fate[found], slots.ce[found])

    def _idle(self) -> bool:
        """Whether the link holds no packet: none waiting, none on the wire."""
        state = self._state
        on_wire = int(state.progress.ints[IN_SERVICE]) >= 0
        return not on_wire and int(state.scheduler.waiting[WAITING_PACKETS]) == 0

    def _serve_window_out(self) -> Settled:
        """Serve to the end a window that came to an idle link: every packet of the window
        settles, and no other but the bulk segments sent after them (in the slots after
        theirs, all kept), so the outcomes are read from those slots and the log is not
        kept."""
        window = self._window
        while True:
            unlogged = self._state.slots._replace(done=np.zeros(0, dtype=np.int64))
            plain = with_slots(self._plain, unlogged)
            short = run_events(plain, self._arrive, window.first + window.packets, math.inf)
            if short == 0:
                break
            self._room_for_bulk(short, keep=window.first)
            window = self._window
        self._settled = self._fed
        slots = self._state.slots
        span = slice(window.first, window.first + window.packets)
        if window.background:
            background = slots.owner[span] == Owner.BACKGROUND
            self._background_dropped += int(np.sum(slots.fate[span][background] != Fate.SENT))
        if self._tally.size:
            segments = slice(span.stop, int(self._state.progress.ints[NEXT_SLOT]))
            tally_slots(
                self._tally,
                slots.owner[segments],
                slots.fate[segments],
                slots.ce[segments],
                slots.size[segments],
            )
        return self._window_settled()

    def _window_settled(self) -> Settled:
        """The last window's packets that are the caller's (each settled)."""
        slots = self._state.slots
        window = self._window
        span = slice(window.first, window.first + window.packets)
        if window.alone:
            return Settled(slots.ident[span], slots.depart[span], slots.fate[span], slots.ce[span])
        mine = np.flatnonzero(slots.ident[span] >= 0) + window.first
        return Settled(slots.ident[mine], slots.depart[mine], slots.fate[mine], slots.ce[mine])

    def _room_for_bulk(self, segments: int, keep: int | None) -> None:
        """Make room for a bulk flow's event that may send ``segments``: free slots (those
        from ``keep`` on kept), PIE draws, and each flow's feedback ring as wide as its
        window allows."""
        ints = self._state.progress.ints
        if self._state.slots.size.size - int(ints[NEXT_SLOT]) < segments:
            self._make_room(segments, keep)
        self._state = bulk_room(self._state, segments, self._bulk_rng)
        self._plain = plain_state(self._state)

    def _make_room(self, free: int, keep: int | None = None) -> None:
        """At least ``free`` slots free, those from ``keep`` on kept."""
        room = make_room(self._state, self._arrive, free, keep)
        self._state, self._arrive, self._own_arrive = room.state, room.arrive, True
        self._plain = with_slots(self._plain, room.state.slots)
        window = self._window
        self._window = window._replace(first=window.first - room.moved)


class _Placed(NamedTuple):
    """Where the last feed's packets went: their first slot and how many, the caller's
    packets fed before them, whether no background packet came between them, and whether
    any counts as background."""

    first: int
    packets: int
    fed: int
    alone: bool
    background: bool  # some count as background


class _Window(NamedTuple):
    """Packets to place in slots, in arrival order."""

    time_s: FloatArray
    size_bytes: IntArray
    klass: IntArray
    ect: BoolArray
    background: BoolArray | None  # which count as background (None: none)
    ident: IntArray | None  # the caller's number for each (-1: none); None: from the next on


def _merged(mine: _Window, cross: _Window, fed: int) -> _Window:
    """The caller's packets (numbered from ``fed`` on) and the ``cross`` ones (background)
    in time order, the caller's first on ties."""
    n, m = mine.time_s.size, cross.time_s.size
    crossing = mine.background
    if crossing is None:
        crossing = np.zeros(n, dtype=np.bool_)
    # Each one's place: its own number plus the other side's packets before it.
    mine_at = np.arange(n) + np.searchsorted(cross.time_s, mine.time_s, side="left")
    cross_at = np.arange(m) + np.searchsorted(mine.time_s, cross.time_s, side="right")

    def merged(a: NDArray[np.generic], b: NDArray[np.generic]) -> Any:
        out = np.empty(n + m, dtype=a.dtype)
        out[mine_at] = a
        out[cross_at] = b
        return out

    return _Window(
        merged(mine.time_s, cross.time_s),
        merged(mine.size_bytes, cross.size_bytes),
        merged(mine.klass, cross.klass),
        merged(mine.ect, cross.ect),
        merged(crossing, np.ones(m, dtype=np.bool_)),
        merged(np.arange(fed, fed + n, dtype=np.int64), np.full(m, -1, dtype=np.int64)),
    )


@kernel
def _number(ident: IntArray, start: int) -> None:
    """Number the packets ``start``, ``start + 1``... (one pass, no temporary array)."""
    for j in range(ident.size):
        ident[j] = start + j


def _joined(parts: list[Settled]) -> Settled:
    """The packets of ``parts`` (each ascending), by their index."""
    if not parts:
        return Settled(
            np.zeros(0, dtype=np.int64),
            np.zeros(0),
            np.zeros(0, dtype=np.int8),
            np.zeros(0, dtype=np.bool_),
        )
    index = np.concatenate([part.index for part in parts])
    order = np.argsort(index, kind="stable")  # ascending runs: a merge
    return Settled(
        index[order],
        np.concatenate([part.depart_s for part in parts])[order],
        np.concatenate([part.fate for part in parts])[order],
        np.concatenate([part.ce for part in parts])[order],
    )
