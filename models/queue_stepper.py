"""A ``QueueingLink`` driven one packet at a time on a clock passed in (a real-time link).

``QueueingLink.serve`` takes a whole batch and serves it to the end, and
``models.queue_window.QueueRun`` a window of packets at a time. A link
forwarding real packets learns of each packet only when it comes, and with
strict priority or CoDel a packet's fate depends on what arrives after it or
on when it is dequeued. ``QueueStepper`` runs the same event loop (the same
kernel, ``models.queue_events.run_events``) a little further at each call:
``arrive`` offers a packet, ``serve_until(now_s)`` serves up to ``now_s`` and
returns what left the link or was dropped, ``next_event_s`` says when the
link next has something to do, and ``next_service_s`` when it may next let a
packet go (what a forwarder needs to wake for).

Any interleaving of ``arrive`` and ``serve_until`` calls gives what one
``serve`` of the same packets gives: the same drops, departures and CE
marks, and for PIE the same uniform draws (one per packet offered, from
``rng`` in arrival order). Packets arriving at the same instant keep the
order they were offered in.

Unresponsive ``Background`` packets (cross traffic) are offered by the
stepper itself at their times, after the caller's packets of the same
instant, as ``sim.path.SegmentLink`` merges them; they occupy the queue but
are not returned. Greedy ``BulkFlow``s (``models.queue_bulk``: Reno AIMD, the
feedback ``rtt_s`` after each segment settled) run in the same loop: a call
runs their starts, the feedback they hear and the segments they send before
its time, in time order with everything else, so their window moves on the
stepper's clock. Their segments occupy the queue and are not returned;
``bulk_stats`` tallies them. Each sends until its own ``stop_s`` (the caller
caps it at the run's end, as ``voipbed.cross_traffic.bulk_flows`` does), so
the flows are those of a ``QueueRun`` ending at any later time, and PIE draws
for their segments from ``rng``'s first spawned child in the order they are
sent (``models.queue_window.bulk_generator``), as there: the stepper's
outcomes equal the batch's with bulk flows too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from voipbed.models.queue import Fate, Pie, QueueingLink
from voipbed.models.queue_bulk import (
    BulkFlow,
    BulkStats,
    bulk_stats,
    new_flows,
    new_tally,
    next_bulk_event,
)
from voipbed.models.queue_codes import Owner
from voipbed.models.queue_events import read_log, run_events
from voipbed.models.queue_sampling import new_sampling
from voipbed.models.queue_scheduler import WAITING_BYTES, WAITING_PACKETS
from voipbed.models.queue_service import opportunity_s
from voipbed.models.queue_state import (
    ARRIVED,
    BUSY_UNTIL,
    DONE,
    IN_SERVICE,
    NEXT_OPP,
    NEXT_SLOT,
    NOW,
    make_room,
    new_slots,
    new_state,
    plain_state,
    with_slots,
)
from voipbed.models.queue_window import bulk_generator, bulk_room

__all__ = ["Background", "Departure", "QueueStepper"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

_DRAW_CHUNK = 256  # PIE uniforms drawn at a time (the same stream as one per packet)
_RING = 64  # feedback entries per bulk flow to start with (widened as windows grow)
# Per settled packet, as plain values: an enum's lookup by name or value costs a microsecond.
_FATES = {int(fate): fate for fate in Fate}
_SENT = Fate.SENT
_GIVEN, _BACKGROUND = int(Owner.GIVEN), int(Owner.BACKGROUND)


@dataclass(frozen=True)
class Background:
    """Unresponsive packets that share the queue, sorted by ``time_s``."""

    time_s: FloatArray
    size_bytes: IntArray
    klass: IntArray
    ect: BoolArray

    def __post_init__(self) -> None:
        n = self.time_s.size
        if not self.size_bytes.size == self.klass.size == self.ect.size == n:
            raise ValueError("background columns must have one value per packet")
        if n > 1 and np.any(np.diff(self.time_s) < 0):
            raise ValueError("background packets must be sorted by time")


class Departure(NamedTuple):
    """A caller's packet that left the link (``depart_s``) or was dropped (NaN, ``fate``)."""

    handle: int  # what ``arrive`` returned for it
    depart_s: float
    fate: Fate
    ce: bool  # marked Congestion Experienced (it was sent)


class QueueStepper:
    """One ``QueueingLink`` served as time passes, with the greedy ``bulk`` flows; times never
    go back across calls."""

    def __init__(
        self,
        link: QueueingLink,
        rng: np.random.Generator,
        background: Background | None = None,
        slots: int = 1024,
        bulk: tuple[BulkFlow, ...] = (),
    ) -> None:
        if slots < 2:
            raise ValueError(f"slots must be >= 2, got {slots}")
        pie = isinstance(link.discipline, Pie)
        # The bulk segments' draws, spawned from ``rng`` as ``QueueRun`` spawns them.
        self._bulk_rng = bulk_generator(rng) if pie and bulk else None
        # No sampling instants: the clock has no end known in advance. Each flow stops at its
        # own ``stop_s``.
        self._state = new_state(
            link,
            new_slots(slots, logged=True),
            new_flows(bulk, math.inf, ring=_RING if bulk else 1),
            new_sampling(np.zeros(0)),
            0,
        )
        self._plain = plain_state(self._state)  # what the kernel takes: the same arrays
        self._arrive = np.zeros(slots)  # per slot: the arrival time of a given packet
        self._known = 0  # slots up to the last given packet placed (the loop's ``n_known``)
        self._handles = 0  # the caller's packets offered
        self._time_s = -math.inf  # the latest time passed in
        self._rng = rng
        self._pie = pie
        self._draws = np.zeros(0)
        self._next_draw = 0
        self._background = background
        self._next_background = 0
        self._settled: list[Departure] = []
        self._bulk = bool(bulk)
        self._tally = new_tally(len(bulk))
        self.background_dropped = 0

    @property
    def background_offered(self) -> int:
        """Background packets offered to the queue so far."""
        return self._next_background

    @property
    def queued(self) -> int:
        """Packets waiting or in service (the caller's, background ones and bulk segments)."""
        state = self._state
        waiting = int(state.scheduler.waiting[WAITING_PACKETS])
        return waiting + int(state.progress.ints[IN_SERVICE] >= 0)

    @property
    def queued_bytes(self) -> int:
        """Bytes waiting (the packet in service is not waiting)."""
        return int(self._state.scheduler.waiting[WAITING_BYTES])

    def bulk_stats(self) -> BulkStats:
        """Per bulk flow, its segments so far: sent, and of those settled, delivered, dropped
        and marked CE, and the bytes delivered (``QueueRun.finish``'s figures)."""
        flows = self._tally.shape[1]
        slots = self._state.slots
        used = int(self._state.progress.ints[NEXT_SLOT])
        owner = slots.owner[:used]
        live = (owner >= 0) & np.isnan(slots.depart[:used]) & (slots.fate[:used] == Fate.SENT)
        unsettled = np.bincount(owner[live], minlength=flows).astype(np.int64)
        return bulk_stats(self._tally, unsettled)

    def arrive(self, time_s: float, size_bytes: int, klass: int, ect: bool) -> int:
        """Offer a packet arriving at ``time_s``; its handle, which ``serve_until`` returns."""
        self._advance_to(time_s)
        self._offer_background(time_s)  # the caller's packets first on ties
        handle = self._handles
        self._handles += 1
        self._offer(time_s, size_bytes, klass, ect, owner=_GIVEN, ident=handle)
        self._run(time_s)
        return handle

    def serve_until(self, now_s: float) -> list[Departure]:
        """Serve up to ``now_s``; the caller's packets settled since the last call, in the
        order they were settled (departures and drops at their time)."""
        self._advance_to(now_s)
        flows = self._state.flows
        if now_s == math.inf and np.any(np.isinf(flows.stop_s) & ~np.isinf(flows.start_s)):
            raise ValueError("a bulk flow never stops (no stop_s): serve to a finite time")
        self._offer_background(now_s)
        self._run(now_s)
        settled, self._settled = self._settled, []
        return settled

    def next_event_s(self) -> float:
        """When ``serve_until`` next has something to do: the next service event
        (``next_service_s``), background arrival or bulk flow's event (its start, or
        feedback it hears); inf if none."""
        t = self.next_service_s()
        # Background packets and bulk events run once time has passed them: a caller's
        # packet of that instant goes first.
        background = self._background
        if background is not None and self._next_background < background.time_s.size:
            due = float(background.time_s[self._next_background])
            t = min(t, math.nextafter(due, math.inf))
        if self._bulk:
            flows = self._state.flows
            due, _ = next_bulk_event(
                flows.start_s, flows.started, flows.fb_time, flows.fb_head, flows.fb_tail
            )
            t = min(t, math.nextafter(float(due), math.inf))
        return t

    def next_service_s(self) -> float:
        """When the link next serves, as far as the calls so far tell: the departure of the
        packet in service or the next delivery opportunity; inf while the queue is empty.

        Only a service event lets a caller's packet go after its arrival (an AQM at
        enqueue decides as it arrives), and background and bulk packets arriving later
        never bring a service event forward; so a caller that serves up to each of these
        times learns every departure by the first call after it, and leaves the
        background arrivals and bulk events to be run, in time order, by its calls."""
        state = self._state
        floats, ints = state.progress
        in_service = int(ints[IN_SERVICE])
        if in_service < 0 and state.scheduler.waiting[WAITING_PACKETS] == 0:
            return math.inf
        if state.service.trace_mode:
            return float(opportunity_s(int(ints[NEXT_OPP]), state.service.times_ms))
        if in_service >= 0:
            return float(floats[BUSY_UNTIL])
        return float(floats[NOW])

    # ---- internals ------------------------------------------------------------------------

    def _advance_to(self, time_s: float) -> None:
        if not time_s >= self._time_s:  # also refuses NaN
            raise ValueError(f"time went back: {time_s} after {self._time_s}")
        self._time_s = time_s

    def _offer_background(self, until_s: float) -> None:
        """Offer the background packets that arrived before ``until_s``."""
        background = self._background
        if background is None:
            return
        times = background.time_s
        stop = int(np.searchsorted(times, until_s, side="left"))
        for j in range(self._next_background, stop):
            self._offer(
                float(times[j]),
                int(background.size_bytes[j]),
                int(background.klass[j]),
                bool(background.ect[j]),
                owner=_BACKGROUND,
                ident=-1,
            )
            if self._known == self._arrive.size:
                self._run(float(times[j]))  # serve what came so far, then make room
        self._next_background = max(self._next_background, stop)

    def _offer(
        self, time_s: float, size_bytes: int, klass: int, ect: bool, owner: int, ident: int
    ) -> None:
        """Place a given packet in the first free slot. Between two runs of the loop no bulk
        segment takes a slot, so the given packets not yet run are in consecutive slots."""
        ints = self._state.progress.ints
        bulk = self._bulk  # without bulk segments the given packets fill the slots alone
        k = int(ints[NEXT_SLOT]) if bulk else self._known
        if k == self._arrive.size:
            self._make_room(1)
            k = int(ints[NEXT_SLOT]) if bulk else self._known
        if bulk and ints[ARRIVED] == self._known:  # every given packet so far has been run
            ints[ARRIVED] = k
        slots = self._state.slots
        self._arrive[k] = time_s
        slots.size[k] = size_bytes
        slots.cls[k] = klass
        slots.ect[k] = ect
        slots.owner[k] = owner
        slots.ident[k] = ident
        if self._pie:
            if self._next_draw == self._draws.size:
                self._draws = self._rng.random(_DRAW_CHUNK)
                self._next_draw = 0
            slots.draw[k] = self._draws[self._next_draw]
            self._next_draw += 1
        self._known = k + 1
        ints[NEXT_SLOT] = k + 1

    def _run(self, horizon_s: float) -> None:
        """Run the loop up to ``horizon_s``, making room whenever a bulk flow's event needs
        more than there is: every given packet placed so far has then been run."""
        while True:
            short = run_events(self._plain, self._arrive, self._known, horizon_s)
            self._read_log()
            if short == 0:
                return
            self._room_for_bulk(short)

    def _read_log(self) -> None:
        """Take what settled from the loop's log: the caller's packets into ``_settled``,
        background drops counted, bulk segments tallied."""
        ints = self._state.progress.ints
        n_done = int(ints[DONE])
        if n_done == 0:
            return
        slots = self._state.slots
        if self._bulk:  # a kernel tallies the segments (a few hundred a second)
            found = np.empty(n_done, dtype=np.int64)
            n, _, dropped = read_log(self._plain[0], n_done, found, self._tally)
            self.background_dropped += dropped
            mine = found[:n].tolist()
        else:  # per packet in Python: a few per call
            mine = []
            for k in slots.done[:n_done].tolist():
                if slots.owner[k] == _BACKGROUND:
                    self.background_dropped += int(slots.fate[k]) != _SENT
                else:
                    mine.append(k)
        ints[DONE] = 0
        for k in mine:
            fate = _FATES[int(slots.fate[k])]
            self._settled.append(
                Departure(int(slots.ident[k]), float(slots.depart[k]), fate, bool(slots.ce[k]))
            )

    def _make_room(self, free: int) -> None:
        """At least ``free`` slots free (settled slots dropped, the rest moved down)."""
        room = make_room(self._state, self._arrive, free)
        self._state, self._arrive = room.state, room.arrive
        self._plain = with_slots(self._plain, room.state.slots)
        self._known -= room.moved

    def _room_for_bulk(self, segments: int) -> None:
        """Room for a bulk flow's event that may send ``segments``: free slots, each flow's
        feedback ring as wide as its window allows, and PIE draws (as ``QueueRun`` makes)."""
        ints = self._state.progress.ints
        if self._arrive.size - int(ints[NEXT_SLOT]) < segments:
            self._make_room(segments)
        self._state = bulk_room(self._state, segments, self._bulk_rng)
        self._plain = plain_state(self._state)
