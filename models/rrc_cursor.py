"""The RRC/DRX machines of many UEs, advanced one packet at a time (rules: ``models.rrc``).

``RrcCursors`` carries the packets of an event-driven plane (signalling: a
message, its answer, a timer's retransmission) across the radio hop as they
come, one call per packet, with the rules, timers and powers of the batch gate
(``rrc_gate``, ``RrcGate``): a packet in IDLE pays the promotion (a downlink
one first waits for its paging occasion), a downlink packet in DRX waits for
an on-duration, an uplink packet in DRX pays the scheduling-request delay.

Each packet's release is settled when it arrives: the UE's wake-up it waits
for is taken as final at once, and the UE's state changes up to it are
recorded. When each packet of a UE arrives at or after the release of the one
before (the UEs interleaved in any way), the release times, time per state,
energy and promotions are those ``rrc_gate`` gives for the same packets in one
batch, and so are the state changes once ``advance`` has followed the timers
to the batch gate's horizon. Where they may differ:

- A packet that arrives while the UE's settled wake-up is still ahead (before
  the previous packet's release) is carried at that wake-up. That is the batch
  gate's rule for every packet that arrives before a wake-up, except that in
  the batch gate a later packet can also bring the wake-up forward: an uplink
  packet while a downlink one waits for its paging occasion (the promotion
  starts at once) or for an on-duration (if the scheduling-request delay ends
  sooner), or a downlink packet that arrives in an on-duration while an uplink
  one waits for its scheduling request. The batch gate then carries both at
  that sooner wake-up; the cursor has already returned the earlier packet's
  release, so it keeps the wake-up it settled for both: the later packet is
  carried later than in the batch gate (never sooner), and the UE wakes later.
- A packet that arrives before an earlier packet of its UE (out of time order,
  e.g. two messages whose earlier hops delayed them differently), or before
  the time of an ``advance``, is taken as arriving at that later time: the
  machine does not go back. ``late_packets`` counts them. The batch gate
  refuses packets out of order.

State changes are recorded as far as the machine has gone: a UE's changes up
to its last packet's release. The timers' changes after it (CONNECTED to DRX
to IDLE) are recorded when its next packet arrives, or by ``advance``. Time
per state and energy are counted from 0 to a given time with those timers
followed on the way, as the batch gate counts them to its horizon.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from voipbed.models import rrc_kernels as _k
from voipbed.models._jit import kernel
from voipbed.models.rrc import RrcConfig, kernel_timers, per_ue_offsets_ns

__all__ = ["RrcChanges", "RrcCursors", "RrcUsage"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Int8Array = NDArray[np.int8]

# Columns of a UE's row (whole ns for times).
_ACTIVITY = 0  # last activity: what the timers run from (may be a wake-up still ahead)
_STATE = 1
_ENTERED = 2  # when the UE entered its state (its last recorded change)
_FLOOR = 3  # latest arrival or advance: the machine does not go back before it
_DRX_OFFSET = 4
_PAGING_OFFSET = 5
_PROMOTIONS = 6
_LATE = 7  # packets taken later than they arrived
_ACC = 8  # 5 columns: ns in each state up to _ENTERED
_COLUMNS = _ACC + _k.STATES

_ROOM = 16  # free change rows before each packet: one packet records at most 6 changes
_FAR_S = 9e9  # s; in ns still an int64


class RrcChanges(NamedTuple):
    """State changes of the UEs: ``ue``, ``time_s``, ``from_state``, ``to_state``
    (``RrcState`` codes), in time order (each UE's in the order they happened)."""

    ue: IntArray
    time_s: FloatArray
    from_state: Int8Array
    to_state: Int8Array


class RrcUsage(NamedTuple):
    """Per UE, from time 0 to ``horizon_s``: ``state_time_s`` (U x 5, seconds in each
    state, indexed by ``RrcState``), ``energy_j`` and ``promotions`` (IDLE to CONNECTED)."""

    state_time_s: FloatArray
    energy_j: FloatArray
    promotions: IntArray
    horizon_s: FloatArray


@kernel
def _release_kernel(
    u: int,
    time_s: float,
    t: int,
    downlink: bool,
    rows: IntArray,
    timers: IntArray,
    buf: IntArray,
    count: int,
) -> tuple[float, int]:
    """Carry UE ``u``'s packet arriving at ``time_s`` (``t`` in ns): its release (s) and
    the change rows used. ``buf`` has room for the packet's changes (it is not grown)."""
    row = rows[u]
    late = t < row[_FLOOR]
    if late:  # out of order: taken at the latest arrival
        row[_LATE] += 1
        t = row[_FLOOR]
    row[_FLOOR] = t
    a = row[_ACTIVITY]
    if t < a:  # before the settled wake-up: carried at it
        return max(time_s, a / 1e9), count
    carried, state, entered, buf, count, promoted = _k.carry_one(
        t,
        downlink,
        a,
        row[_STATE],
        row[_ENTERED],
        timers,
        row[_DRX_OFFSET],
        row[_PAGING_OFFSET],
        row[_ACC : _ACC + _k.STATES],
        buf,
        count,
        u,
    )
    row[_ACTIVITY] = carried
    row[_STATE] = state
    row[_ENTERED] = entered
    if promoted:
        row[_PROMOTIONS] += 1
    if carried == t and not late:
        return time_s, count
    return max(time_s, carried / 1e9), count


@kernel
def _usage_kernel(
    rows: IntArray, timers: IntArray, first: int, stop: int, until: int
) -> tuple[IntArray, IntArray]:
    """Time per state (ns) of UEs first..stop-1 from 0 to their horizon (returned): ``until``
    or their last recorded change if later. The rows are left as they are."""
    n = stop - first
    acc = np.empty((n, _k.STATES), dtype=np.int64)
    horizon = np.empty(n, dtype=np.int64)
    scratch = np.empty((_ROOM, 4), dtype=np.int64)  # the changes on the way are not kept
    for k in range(n):
        row = rows[first + k]
        acc[k] = row[_ACC : _ACC + _k.STATES]
        end = max(until, row[_ENTERED])
        state, entered, scratch, _ = _k.follow(
            end, row[_ACTIVITY], row[_STATE], row[_ENTERED], timers, acc[k], scratch, 0, first + k
        )
        acc[k, state] += end - entered
        horizon[k] = end
    return acc, horizon


@kernel
def _advance_kernel(
    rows: IntArray, timers: IntArray, until: int, buf: IntArray, count: int
) -> tuple[IntArray, int]:
    """Follow every UE's timers up to ``until``, recording the changes; no later packet is
    taken before it."""
    for u in range(rows.shape[0]):
        row = rows[u]
        if row[_ENTERED] < until:
            state, entered, buf, count = _k.follow(
                until,
                row[_ACTIVITY],
                row[_STATE],
                row[_ENTERED],
                timers,
                row[_ACC : _ACC + _k.STATES],
                buf,
                count,
                u,
            )
            row[_STATE] = state
            row[_ENTERED] = entered
        row[_FLOOR] = max(row[_FLOOR], until)
    return buf, count


class RrcCursors:
    """The RRC/DRX machines of UEs ``0 .. users - 1``, one packet at a time (module docstring).

    ``drx_offset_s`` (in [0, long_drx_cycle_s)) and ``paging_offset_s`` (in
    [0, paging_cycle_s)) place each UE's on-durations and paging occasions, both
    0 by default. Every UE starts in ``config.initial_state`` at time 0. With
    ``keep_changes=False`` no state change is kept (``changes`` gives none), so
    memory does not grow with the packets.
    """

    def __init__(
        self,
        users: int,
        config: RrcConfig | None = None,
        *,
        drx_offset_s: FloatArray | None = None,
        paging_offset_s: FloatArray | None = None,
        keep_changes: bool = True,
    ) -> None:
        if users < 0:
            raise ValueError(f"users must be >= 0, got {users}")
        cfg = config or RrcConfig()
        self.config = cfg
        self.users = int(users)
        self._timers = kernel_timers(cfg)
        self._power_w = np.array(cfg.state_power_mw) / 1000.0
        start = _k.initial_rows(self.users, self._timers, int(cfg.initial_state))
        rows = np.zeros((self.users, _COLUMNS), dtype=np.int64)
        rows[:, _ACTIVITY] = start[:, _k.COL_ACTIVITY]
        rows[:, _STATE] = start[:, _k.COL_STATE]
        rows[:, _DRX_OFFSET] = per_ue_offsets_ns(
            drx_offset_s, self.users, cfg.long_drx_cycle_s, "drx_offset_s"
        )
        rows[:, _PAGING_OFFSET] = per_ue_offsets_ns(
            paging_offset_s, self.users, cfg.paging_cycle_s, "paging_offset_s"
        )
        self._rows = rows
        self._buf = np.empty((max(64, 4 * self.users), 4), dtype=np.int64)
        self._room = self._buf.shape[0]  # change rows the buffer holds
        self._count = 0
        self._keep_changes = keep_changes

    def release(self, ue: int, time_s: float, downlink: bool) -> float:
        """When UE ``ue``'s packet reaching the radio hop at ``time_s`` (uplink, or
        ``downlink``) is carried (>= ``time_s``); the packet counts as activity then."""
        u = int(ue)
        if not (u == ue and 0 <= u < self.users):
            raise ValueError(f"ue must be an id in [0, {self.users}), got {ue}")
        if not 0 <= time_s < _FAR_S:
            raise ValueError(f"time_s must be finite and in [0, {_FAR_S:g}) s, got {time_s}")
        count = self._count
        if count + _ROOM > self._room:
            self._grow(_ROOM)
        released, count = _release_kernel(
            u,
            float(time_s),
            round(time_s * 1e9),
            bool(downlink),
            self._rows,
            self._timers,
            self._buf,
            count,
        )
        if self._keep_changes:
            self._count = count
        return released

    def promotions(self, ue: int) -> int:
        """UE ``ue``'s promotions (IDLE to CONNECTED) so far, those settled ahead included."""
        return int(self._rows[self._ue(ue), _PROMOTIONS])

    def state_time_s(self, ue: int, until_s: float) -> FloatArray:
        """Seconds UE ``ue`` spent in each state (indexed by ``RrcState``) from 0 to
        ``until_s``, or to its last recorded change if that is later."""
        row: FloatArray = self.usage(until_s, ue).state_time_s[0]
        return row

    def energy_j(self, ue: int, until_s: float) -> float:
        """UE ``ue``'s radio energy from 0 to ``until_s`` (or its last recorded change if
        later), with the batch gate's powers (``RrcConfig.state_power_mw``)."""
        return float(self.usage(until_s, ue).energy_j[0])

    def usage(self, until_s: float, ue: int | None = None) -> RrcUsage:
        """Time per state, energy and promotions from 0 to ``until_s`` of every UE, or of
        UE ``ue`` only (one row); a UE whose last recorded change is later counts to it."""
        until = self._time_ns(until_s, "until_s")
        first, stop = (0, self.users) if ue is None else (self._ue(ue), self._ue(ue) + 1)
        acc, horizon = _usage_kernel(self._rows, self._timers, first, stop, until)
        state_time_s = acc / 1e9
        return RrcUsage(
            state_time_s=state_time_s,
            energy_j=state_time_s @ self._power_w,
            promotions=self._rows[first:stop, _PROMOTIONS].copy(),
            horizon_s=horizon / 1e9,
        )

    def advance(self, until_s: float) -> None:
        """Follow every UE's timers up to ``until_s`` and record their state changes; a
        later packet that arrives before ``until_s`` is taken as arriving at it."""
        until = self._time_ns(until_s, "until_s")
        self._grow(3 * self.users + _ROOM)
        self._buf, count = _advance_kernel(self._rows, self._timers, until, self._buf, self._count)
        self._room = self._buf.shape[0]
        if self._keep_changes:
            self._count = count

    def changes(self) -> RrcChanges:
        """The state changes recorded since the last call, in time order (module docstring:
        a change recorded later may be earlier than one returned before)."""
        rows = self._buf[: self._count]
        order = np.argsort(rows[:, 1], kind="stable")
        rows = rows[order]
        self._count = 0
        return RrcChanges(
            ue=rows[:, 0].copy(),
            time_s=rows[:, 1] / 1e9,
            from_state=rows[:, 2].astype(np.int8),
            to_state=rows[:, 3].astype(np.int8),
        )

    @property
    def late_packets(self) -> int:
        """Packets taken later than they arrived (out of time order for their UE)."""
        return int(self._rows[:, _LATE].sum())

    def _ue(self, ue: int) -> int:
        if not (0 <= ue < self.users and ue == int(ue)):
            raise ValueError(f"ue must be an id in [0, {self.users}), got {ue}")
        return int(ue)

    def _time_ns(self, time_s: float, name: str) -> int:
        if not (math.isfinite(time_s) and 0 <= time_s < _FAR_S):
            raise ValueError(f"{name} must be finite and in [0, {_FAR_S:g}) s, got {time_s}")
        return round(time_s * 1e9)

    def _grow(self, room: int) -> None:
        """Make room for ``room`` more change rows."""
        need = self._count + room
        if need > self._buf.shape[0]:
            grown = np.empty((max(need, 2 * self._buf.shape[0]), 4), dtype=np.int64)
            grown[: self._count] = self._buf[: self._count]
            self._buf = grown
            self._room = grown.shape[0]
