"""A ``QueueingLink`` driven one packet at a time on a clock passed in (a real-time link).

``QueueingLink.serve`` takes a whole batch and serves it to the end, and
``models.queue_window.QueueRun`` a window of packets at a time. A link
forwarding real packets learns of each packet only when it comes, and with
strict priority or CoDel a packet's fate depends on what arrives after it or
on when it is dequeued. ``QueueStepper`` runs the same event loop (the same
kernel, ``models.queue_events.run_events``) a little further at each call:
``arrive`` offers a packet, ``serve_until(now_s)`` serves up to ``now_s`` and
returns what left the link or was dropped, and ``next_event_s`` says when
the link next has something to do.

Any interleaving of ``arrive`` and ``serve_until`` calls gives what one
``serve`` of the same packets gives: the same drops, departures and CE
marks, and for PIE the same uniform draws (one per packet offered, from
``rng`` in arrival order). Packets arriving at the same instant keep the
order they were offered in.

Unresponsive ``Background`` packets (cross traffic) are offered by the
stepper itself at their times, after the caller's packets of the same
instant, as ``sim.path.SegmentLink`` merges them; they occupy the queue but
are not returned. Greedy bulk flows are not run here (``QueueRun`` runs
them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from voipbed.models.queue import Discipline, Fate, QueueingLink
from voipbed.models.queue_bulk import new_flows
from voipbed.models.queue_codes import Owner
from voipbed.models.queue_events import run_events
from voipbed.models.queue_sampling import new_sampling
from voipbed.models.queue_scheduler import WAITING_BYTES, WAITING_PACKETS
from voipbed.models.queue_service import opportunity_s
from voipbed.models.queue_state import (
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

__all__ = ["Background", "Departure", "QueueStepper"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

_DRAW_CHUNK = 256  # PIE uniforms drawn at a time (the same stream as one per packet)
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
    """One ``QueueingLink`` served as time passes; times never go back across calls."""

    def __init__(
        self,
        link: QueueingLink,
        rng: np.random.Generator,
        background: Background | None = None,
        slots: int = 1024,
    ) -> None:
        if slots < 2:
            raise ValueError(f"slots must be >= 2, got {slots}")
        # No bulk flows, and no sampling instants: the clock has no end known in advance.
        self._state = new_state(
            link,
            new_slots(slots, logged=True),
            new_flows((), 0.0, ring=1),
            new_sampling(np.zeros(0)),
            0,
        )
        self._plain = plain_state(self._state)  # what the kernel takes: the same arrays
        self._arrive = np.zeros(slots)  # per slot; the slots fill in arrival order
        self._known = 0  # slots filled (``NEXT_SLOT``, kept here too: read at each call)
        self._handles = 0  # the caller's packets offered
        self._time_s = -math.inf  # the latest time passed in
        self._rng = rng
        self._pie = self._state.discipline.kind == Discipline.PIE
        self._draws = np.zeros(0)
        self._next_draw = 0
        self._background = background
        self._next_background = 0
        self._settled: list[Departure] = []
        self.background_dropped = 0

    @property
    def background_offered(self) -> int:
        """Background packets offered to the queue so far."""
        return self._next_background

    @property
    def queued(self) -> int:
        """Packets waiting or in service (the caller's and background ones)."""
        state = self._state
        waiting = int(state.scheduler.waiting[WAITING_PACKETS])
        return waiting + int(state.progress.ints[IN_SERVICE] >= 0)

    @property
    def queued_bytes(self) -> int:
        """Bytes waiting (the packet in service is not waiting)."""
        return int(self._state.scheduler.waiting[WAITING_BYTES])

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
        self._offer_background(now_s)
        self._run(now_s)
        settled, self._settled = self._settled, []
        return settled

    def next_event_s(self) -> float:
        """When ``serve_until`` next has something to do: the next service event (a
        departure, a delivery opportunity) or background arrival; inf if none."""
        state = self._state
        floats, ints = state.progress
        t = math.inf
        in_service = int(ints[IN_SERVICE])
        if in_service >= 0 or state.scheduler.waiting[WAITING_PACKETS] > 0:
            if state.service.trace_mode:
                t = float(opportunity_s(int(ints[NEXT_OPP]), state.service.times_ms))
            elif in_service >= 0:
                t = float(floats[BUSY_UNTIL])
            else:
                t = float(floats[NOW])
        background = self._background
        if background is not None and self._next_background < background.time_s.size:
            # Offered once time has passed it: the caller's packets of that instant go first.
            due = float(background.time_s[self._next_background])
            t = min(t, math.nextafter(due, math.inf))
        return t

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
        k = self._known
        if k == self._arrive.size:
            room = make_room(self._state, self._arrive, 1)
            self._state, self._arrive = room.state, room.arrive
            self._plain = with_slots(self._plain, room.state.slots)
            k -= room.moved
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
        self._state.progress.ints[NEXT_SLOT] = k + 1

    def _run(self, horizon_s: float) -> None:
        ints = self._state.progress.ints
        run_events(self._plain, self._arrive, self._known, horizon_s)
        n_done = int(ints[DONE])
        if n_done == 0:
            return
        slots = self._state.slots
        for k in slots.done[:n_done].tolist():  # per packet in Python: a few per call
            fate = _FATES[int(slots.fate[k])]
            if slots.owner[k] == _BACKGROUND:
                self.background_dropped += fate is not _SENT
                continue
            self._settled.append(
                Departure(int(slots.ident[k]), float(slots.depart[k]), fate, bool(slots.ce[k]))
            )
        ints[DONE] = 0
