"""Numba kernels of the RRC/DRX machine (rules: ``models.rrc``), resumable over feeds.

Each UE's machine lives in one row of an int64 array (columns ``COL_*``), so a
feed of packets picks up where the previous feed left it. Times are whole
nanoseconds. ``timers`` (ns): drx inactivity, short DRX time, RRC inactivity,
short cycle, long cycle, on-duration, paging cycle, uplink SR delay,
promotion delay.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from voipbed.models._jit import kernel

__all__ = [
    "COLUMNS",
    "COL_FLOOR",
    "STATES",
    "carry_one",
    "feed_kernel",
    "finish_kernel",
    "follow",
    "initial_rows",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

IDLE = 0
PROMOTION = 1
CONNECTED = 2
SHORT = 3
LONG = 4
STATES = 5

OK = 0
UNSORTED = 1
BAD_UE = 2
NEGATIVE_TIME = 3
EARLY = 4  # a packet before the horizon of an earlier feed

# Columns of a UE's row.
COL_ACTIVITY = 0  # last activity (ns): what the timers run from
COL_STATE = 1
COL_ENTERED = 2  # when the UE entered its state
COL_PENDING = 3  # 1 while packets wait for the UE to wake
COL_FROM_IDLE = 4  # 1 if that wake-up is a promotion from IDLE
COL_WAKE = 5
COL_FLOOR = 6  # no later packet may arrive before this (the last horizon, the last packet)
COLUMNS = 7


@kernel
def _prev_point(t: int, offset: int, period: int) -> int:
    """Latest grid point offset + k * period at or before t."""
    return offset + ((t - offset) // period) * period


@kernel
def _next_point(t: int, offset: int, period: int) -> int:
    """Earliest grid point offset + k * period at or after t."""
    return offset - ((offset - t) // period) * period


@kernel
def _push(buf: IntArray, count: int, ue: int, t: int, old: int, new: int) -> IntArray:
    """Append one state change, doubling the buffer when it is full."""
    if count == buf.shape[0]:
        grown = np.empty((2 * buf.shape[0], 4), dtype=np.int64)
        grown[:count] = buf[:count]
        buf = grown
    buf[count, 0] = ue
    buf[count, 1] = t
    buf[count, 2] = old
    buf[count, 3] = new
    return buf


@kernel
def _state_at(t: int, e1: int, e2: int, e3: int) -> int:
    if t < e1:
        return CONNECTED
    if t < e2:
        return SHORT
    if t < e3:
        return LONG
    return IDLE


@kernel
def _decay(
    until: int,
    a: int,
    state: int,
    entered: int,
    timers: IntArray,
    keep_connection: bool,
    acc: IntArray,
    buf: IntArray,
    count: int,
    ue: int,
) -> tuple[int, int, IntArray, int]:
    """Follow the timers after activity ``a`` up to ``until``; record each state change.

    With ``keep_connection`` (data waits for the UE) the RRC release never happens.
    """
    e1 = a + timers[0]
    e2 = e1 + timers[1]
    e3 = a + timers[2]
    for k in range(3):
        b = e1 if k == 0 else (e2 if k == 1 else e3)
        if entered < b <= until:
            new = _state_at(b, e1, e2, e3)
            if new == IDLE and keep_connection:  # data waits: no RRC release
                if state != LONG and b < until:  # DRX timers ran out with the tail: long DRX
                    acc[state] += b - entered
                    buf = _push(buf, count, ue, b, state, LONG)
                    count += 1
                    state = LONG
                    entered = b
                break
            if new != state:
                acc[state] += b - entered
                buf = _push(buf, count, ue, b, state, new)
                count += 1
                state = new
                entered = b
    return state, entered, buf, count


@kernel
def _drx_wake(
    t: int,
    downlink: bool,
    a: int,
    timers: IntArray,
    drx_offset: int,
) -> int:
    """When a UE in DRX (last activity ``a``) can carry a packet arriving at ``t``."""
    if not downlink:
        return t + int(timers[7])
    short_cycle = int(timers[3])
    long_cycle = int(timers[4])
    on = int(timers[5])
    e2 = a + int(timers[0]) + int(timers[1])
    if t < e2:
        short_offset = drx_offset % short_cycle
        prev = _prev_point(t, short_offset, short_cycle)
        if t < prev + on:
            return t
        if prev + short_cycle < e2:
            return prev + short_cycle
        return _next_point(e2, drx_offset, long_cycle)
    prev = _prev_point(t, drx_offset, long_cycle)
    if t < prev + on:
        return t
    return prev + long_cycle


@kernel
def _idle_wake(t: int, downlink: bool, timers: IntArray, paging_offset: int) -> int:
    """When a promotion triggered by a packet arriving at ``t`` in IDLE ends."""
    start = _next_point(t, paging_offset, int(timers[6])) if downlink else t
    return start + int(timers[8])


@kernel
def _close(
    wake: int,
    from_idle: bool,
    a: int,
    state: int,
    entered: int,
    timers: IntArray,
    acc: IntArray,
    buf: IntArray,
    count: int,
    ue: int,
) -> tuple[int, int, IntArray, int]:
    """The UE wakes at ``wake`` and carries what waits: record the way to CONNECTED."""
    if from_idle:
        start = wake - timers[8]
        acc[IDLE] += start - entered
        if timers[8] > 0:
            buf = _push(buf, count, ue, start, IDLE, PROMOTION)
            count += 1
            acc[PROMOTION] += timers[8]
            buf = _push(buf, count, ue, wake, PROMOTION, CONNECTED)
        else:
            buf = _push(buf, count, ue, wake, IDLE, CONNECTED)
        return CONNECTED, wake, buf, count + 1
    state, entered, buf, count = _decay(wake, a, state, entered, timers, True, acc, buf, count, ue)
    acc[state] += wake - entered
    buf = _push(buf, count, ue, wake, state, CONNECTED)
    return CONNECTED, wake, buf, count + 1


@kernel
def follow(
    until: int,
    a: int,
    state: int,
    entered: int,
    timers: IntArray,
    acc: IntArray,
    buf: IntArray,
    count: int,
    ue: int,
) -> tuple[int, int, IntArray, int]:
    """Follow the timers after activity ``a`` up to ``until`` with nothing waiting (the RRC
    release happens); record each state change. Returns state, entered, buf, count."""
    return _decay(until, a, state, entered, timers, False, acc, buf, count, ue)


@kernel
def carry_one(
    t: int,
    downlink: bool,
    a: int,
    state: int,
    entered: int,
    timers: IntArray,
    drx_offset: int,
    paging_offset: int,
    acc: IntArray,
    buf: IntArray,
    count: int,
    ue: int,
) -> tuple[int, int, int, IntArray, int, bool]:
    """One packet arrives at ``t`` (>= ``a``, the last activity) with nothing waiting, and
    no packet arrives before it is carried: when it is carried (the new last activity).

    Records the way there (timers up to ``t``, then the wake-up), as ``feed_kernel``
    does for such a packet. Returns carried, state, entered, buf, count and whether the
    wake-up was a promotion from IDLE.
    """
    if t - a < timers[0]:  # CONNECTED: carried at once
        return t, state, entered, buf, count, False
    state, entered, buf, count = _decay(t, a, state, entered, timers, False, acc, buf, count, ue)
    from_idle = state == IDLE
    if from_idle:
        wake = _idle_wake(t, downlink, timers, paging_offset)
    else:
        wake = _drx_wake(t, downlink, a, timers, drx_offset)
    state, entered, buf, count = _close(
        wake, from_idle, a, state, entered, timers, acc, buf, count, ue
    )
    return wake, state, entered, buf, count, from_idle


@kernel
def _release_group(
    release: FloatArray, time_s: FloatArray, t_ns: IntArray, first: int, stop: int, wake: int
) -> None:
    """Packets first..stop-1 waited for the wake-up at ``wake`` (ns); never before arrival."""
    for k in range(first, stop):
        release[k] = time_s[k] if t_ns[k] == wake else max(time_s[k], wake / 1e9)


@kernel
def initial_rows(users: int, timers: IntArray, initial_state: int) -> IntArray:
    """Each UE's row at time 0: in ``initial_state`` as if just entered, nothing waiting."""
    ti = timers[0]
    if initial_state == CONNECTED:
        a = 0
    elif initial_state == SHORT:
        a = -ti
    elif initial_state == LONG:
        a = -(ti + timers[1])
    else:
        a = -timers[2]
    rows = np.zeros((users, COLUMNS), dtype=np.int64)
    for u in range(users):
        rows[u, COL_ACTIVITY] = a
        rows[u, COL_STATE] = _state_at(0, a + ti, a + ti + timers[1], a + timers[2])
    return rows


@kernel
def feed_kernel(
    ue: IntArray,
    time_s: FloatArray,
    t_ns: IntArray,
    downlink: BoolArray,
    held_ue: IntArray,
    held_time_s: FloatArray,
    held_t_ns: IntArray,
    horizon_ns: IntArray,
    drx_offset_ns: IntArray,
    paging_offset_ns: IntArray,
    timers: IntArray,
    rows: IntArray,
    acc: IntArray,
    promotions: IntArray,
    buf: IntArray,
    count: int,
) -> tuple[FloatArray, FloatArray, int, IntArray, int, int]:
    """Run the machines of the UEs that have packets in this feed or waiting from earlier ones.

    The feed's packets are sorted by (ue, time); the waiting (held) ones by UE,
    each UE's in arrival order. Returns the release time (s) of each, NaN for
    those that still wait: their UE wakes after its ``horizon_ns``, and a later
    packet (arriving at or after it) may wake it sooner; and how many of the
    feed's packets wait. State changes go to ``buf`` (``count`` rows used),
    time per state to ``acc``.
    """
    n = t_ns.size
    nh = held_t_ns.size
    users = rows.shape[0]
    release = np.empty(n)
    held_release = np.empty(nh)
    ti = timers[0]
    waiting = 0
    i = 0
    h = 0
    while i < n or h < nh:
        u = ue[i] if i < n else held_ue[h]
        if h < nh and held_ue[h] < u:
            u = held_ue[h]
        if u < 0:
            return release, held_release, waiting, buf, count, UNSORTED
        if u >= users:
            return release, held_release, waiting, buf, count, BAD_UE
        row = rows[u]
        a = row[COL_ACTIVITY]
        state = row[COL_STATE]
        entered = row[COL_ENTERED]
        pending = row[COL_PENDING] != 0  # packets wait for the UE to wake at ``wake``:
        from_idle = row[COL_FROM_IDLE] != 0  # held[held_first..h-1] and packets first..i-1
        wake = row[COL_WAKE]
        floor = row[COL_FLOOR]
        held_first = h
        while h < nh and held_ue[h] == u:
            h += 1
        first = i
        prev_t = -1
        while i < n and ue[i] == u:
            t = t_ns[i]
            if t < 0:
                return release, held_release, waiting, buf, count, NEGATIVE_TIME
            if t < prev_t:
                return release, held_release, waiting, buf, count, UNSORTED
            if t < floor:
                return release, held_release, waiting, buf, count, EARLY
            prev_t = t
            dl = downlink[i]
            if pending:
                if t < wake:
                    if from_idle:
                        wake = min(wake, _idle_wake(t, dl, timers, paging_offset_ns[u]))
                    else:
                        wake = min(wake, _drx_wake(t, dl, a, timers, drx_offset_ns[u]))
                    i += 1
                    continue
                state, entered, buf, count = _close(
                    wake, from_idle, a, state, entered, timers, acc[u], buf, count, u
                )
                if from_idle:
                    promotions[u] += 1
                _release_group(release, time_s, t_ns, first, i, wake)
                _release_group(held_release, held_time_s, held_t_ns, held_first, h, wake)
                held_first = h
                a = wake
                pending = False
            if t - a < ti:  # CONNECTED: carried at once
                release[i] = time_s[i]
                a = t
                i += 1
                continue
            state, entered, buf, count = _decay(
                t, a, state, entered, timers, False, acc[u], buf, count, u
            )
            if state == IDLE:
                from_idle = True
                wake = _idle_wake(t, dl, timers, paging_offset_ns[u])
            else:
                from_idle = False
                wake = _drx_wake(t, dl, a, timers, drx_offset_ns[u])
            if wake > t:
                pending = True
                first = i
            else:  # awake now: an on-duration, an uplink without SR delay, a 0 s promotion
                state, entered, buf, count = _close(
                    t, from_idle, a, state, entered, timers, acc[u], buf, count, u
                )
                if from_idle:
                    promotions[u] += 1
                release[i] = time_s[i]
                a = t
            i += 1
        if i < n and ue[i] < u:
            return release, held_release, waiting, buf, count, UNSORTED
        if pending and wake <= horizon_ns[u]:  # no later packet can come before the wake-up
            state, entered, buf, count = _close(
                wake, from_idle, a, state, entered, timers, acc[u], buf, count, u
            )
            if from_idle:
                promotions[u] += 1
            _release_group(release, time_s, t_ns, first, i, wake)
            _release_group(held_release, held_time_s, held_t_ns, held_first, h, wake)
            a = wake
            pending = False
        if pending:  # still waiting
            waiting += i - first
            release[first:i] = np.nan
            held_release[held_first:h] = np.nan
        row[COL_ACTIVITY] = a
        row[COL_STATE] = state
        row[COL_ENTERED] = entered
        row[COL_PENDING] = 1 if pending else 0
        row[COL_FROM_IDLE] = 1 if from_idle else 0
        row[COL_WAKE] = wake
        row[COL_FLOOR] = max(floor, prev_t)
    return release, held_release, waiting, buf, count, OK


@kernel
def finish_kernel(
    end_ns: IntArray, rows: IntArray, timers: IntArray, acc: IntArray, buf: IntArray, count: int
) -> tuple[IntArray, IntArray, int]:
    """Follow each UE's timers to its horizon (returned, ns): ``end_ns`` or, if later, when
    it is back in IDLE. No packet may still wait."""
    users = end_ns.size
    horizon = np.empty(users, dtype=np.int64)
    tail = timers[2]
    for u in range(users):
        a = rows[u, COL_ACTIVITY]
        stop = max(end_ns[u], rows[u, COL_ENTERED], a + tail)
        state, entered, buf, count = _decay(
            stop, a, rows[u, COL_STATE], rows[u, COL_ENTERED], timers, False, acc[u], buf, count, u
        )
        acc[u, state] += stop - entered
        horizon[u] = stop
        rows[u, COL_STATE] = state
        rows[u, COL_ENTERED] = stop
    return horizon, buf, count
