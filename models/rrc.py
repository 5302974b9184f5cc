"""LTE RRC and DRX state machine: the delay it adds to packets, its state changes, its energy.

One UE carries one call. The UE is in one of five states (``RrcState``):
IDLE (RRC_IDLE, TS 36.331 clause 4.2.1), PROMOTION (RRC connection set-up,
TS 36.331 clause 5.3.3, with random access first), CONNECTED (RRC_CONNECTED,
continuous reception), SHORT_DRX and LONG_DRX (RRC_CONNECTED with the short or
long DRX cycle, TS 36.321 clause 5.7).

Packets reach the radio hop at ``time_s``: an uplink packet when the UE wants
to send it, a downlink packet when it reaches the eNodeB. Each one is carried
at ``release_s >= time_s``:

- Activity (a packet carried) at time ``a`` puts the UE in CONNECTED and
  (re)starts both inactivity timers. Without further activity the UE is
  CONNECTED on ``[a, a + drx_inactivity_s)``, SHORT_DRX on
  ``[.., a + drx_inactivity_s + short_drx_timer_s)``, LONG_DRX on
  ``[.., a + rrc_inactivity_s)`` and IDLE after that (the RRC release). A
  packet arriving exactly at a boundary finds the later state.
- CONNECTED: a packet is carried at once.
- SHORT_DRX / LONG_DRX, downlink: carried at once if an on-duration is in
  progress (one began less than ``on_duration_s`` ago on the grid of the
  current cycle), else at the start of the next on-duration. On-durations
  start on an absolute grid (TS 36.321 clause 5.7: ``[(SFN * 10) + subframe]
  modulo cycle = drxStartOffset``): the long grid is ``drx_offset + k *
  long_drx_cycle_s``, the short grid is the same offset modulo the short
  cycle, so the long grid is a subset of the short one. Short-grid starts
  count until the short phase ends, long-grid starts after it. A downlink
  packet buffered at the eNodeB keeps the connection: the UE is released to
  IDLE only if nothing is waiting when the RRC inactivity timer expires.
- SHORT_DRX / LONG_DRX, uplink: the UE does not wait for DRX, it sends a
  scheduling request; the packet is carried ``uplink_sr_delay_s`` later.
- IDLE, uplink: the UE starts a promotion at once and the packet is carried
  when it ends, ``promotion_delay_s`` later.
- IDLE, downlink: the UE is paged at its next paging occasion (grid
  ``paging_offset + k * paging_cycle_s``, TS 36.304 clause 7), then promotes.
- A UE asleep (IDLE or DRX sleep) with packets waiting wakes at the earliest
  time any of them would wake it (an uplink packet during a paging wait starts
  the promotion earlier); every packet that arrives before that wake-up,
  including those that arrive during the promotion, is carried at it.

Times are rounded to whole nanoseconds inside the kernel, so that a packet
exactly on a timer boundary is decided by the rules above and not by a
rounding error.

The packets may come window after window (``RrcGate``): a waiting packet's
release is settled once the UE's wake-up falls before the horizon of the
window (no later packet can move it) or a later packet arrives at or after
it; until then the packet stays with the gate. The releases, state changes
and energy are those of one batch (``rrc_gate``, a single window).

Time per state is counted from 0 up to each UE's ``horizon_s``: its ``end_s``
(the call end) or, if later, when the UE is back in IDLE after its last
activity, so the tail after the call counts too. Energy is the time in each
state times that state's mean power (``RrcConfig.state_power_mw``): on- and
off-duration powers weighted by the DRX or paging duty cycle, the promotion
power during promotions. IDLE sleep counts 0 mW, as in ARO's profile: the
handset's base power with the screen off (11.4 mW in Huang et al. 2012,
Table 3) is left out, so the energy is the radio's. The throughput-dependent
part of Huang's power model (Table 4, alpha_u and alpha_d, about 40 mW at
G.711 rates) is not counted either.

Defaults are the typical LTE values measured by Huang et al., "A Close
Examination of Performance and Power Characteristics of 4G LTE Networks",
ACM MobiSys 2012 (Table 3: timers and the power model; Table 4: the data
power model), measured on one US operator's network; AT&T's ARO analyser,
from the same group, ships nearly the same values in its LTE profile
(``lte.conf``: 0.26 s promotion, 0.1 s inactivity, 20 and 40 ms cycles,
1.28 s paging, 1.21 / 1.68 / 1.06 / 0.594 W). Operators set these timers
themselves, so they vary by network: TS 36.331 (MAC-MainConfig, DRX-Config)
allows longDRX-Cycle 10-2560 ms, shortDRX-Cycle 2-640 ms, drx-InactivityTimer
1-2560 and onDurationTimer 1-200 PDCCH subframes, and the RRC inactivity
timer is an eNodeB setting outside the standard (tails of 10-12 s are
commonly measured; many networks now use longer DRX cycles such as 320 ms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from voipbed.models import rrc_kernels as _k
from voipbed.models.grouping import group_order

__all__ = [
    "STATE_NAMES",
    "KeepAliveEnergy",
    "RrcConfig",
    "RrcGate",
    "RrcOutcome",
    "RrcReleases",
    "RrcState",
    "keepalive_energy",
    "rrc_gate",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
Int8Array = NDArray[np.int8]


class RrcState(IntEnum):
    """Radio states of a UE; the values are the codes in ``RrcOutcome``."""

    IDLE = 0
    PROMOTION = 1
    CONNECTED = 2
    SHORT_DRX = 3
    LONG_DRX = 4


STATE_NAMES: tuple[str, ...] = tuple(state.name.lower() for state in RrcState)


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


@dataclass(frozen=True)
class RrcConfig:
    """Timers (seconds) and powers (milliwatts) of the RRC/DRX machine; defaults: typical LTE.

    Timers, all from Huang et al. 2012 Table 3 unless noted:

    - ``promotion_delay_s`` 0.260: IDLE to CONNECTED (T_pro = 260.1 +- 15.8 ms,
      random access plus RRC connection set-up, UE-initiated). Used after
      paging too (the network-triggered case was not measured separately).
    - ``drx_inactivity_s`` 0.100: drx-InactivityTimer (T_i = 100 ms).
    - ``short_drx_cycle_s`` 0.020: shortDRX-Cycle (T_ps = 20 ms).
    - ``short_drx_timer_s`` 0.020: time spent in short DRX, drxShortCycleTimer
      times the short cycle (T_is = 20 ms, one short cycle); 0 = no short DRX.
    - ``long_drx_cycle_s`` 0.040: longDRX-Cycle (T_pl = 40 ms); a multiple of
      the short cycle, as TS 36.331 requires.
    - ``on_duration_s`` 0.001: onDurationTimer (T_on = 1 ms; ARO uses 2 ms).
    - ``rrc_inactivity_s`` 11.576: RRC inactivity timer, the tail from the last
      activity to RRC release (T_tail = 11576 +- 26 ms; operator-specific,
      often 5-12 s).
    - ``paging_cycle_s`` 1.28: IDLE paging cycle (T_pi = 1280 ms, i.e.
      defaultPagingCycle rf128 of TS 36.331 PCCH-Config; rf32 to rf256 allowed).
    - ``paging_on_duration_s`` 0.0432: time awake per paging occasion
      (T_oni = 43.2 ms), used for IDLE power only.
    - ``uplink_sr_delay_s`` 0.0: extra delay of an uplink packet that arrives in
      DRX (scheduling request, then grant). A real SR costs up to one SR period
      (sr-ConfigIndex, 5-80 ms, TS 36.213 Table 10.1.5-1) plus 4 subframes from
      grant to PUSCH (TS 36.213 clause 8.0), but it costs the same in continuous
      reception, so by default it is left to the radio link stage.

    Powers, Huang et al. 2012 Table 3 (Table 4 for ``connected_mw``):

    - ``idle_sleep_mw`` 0.0: IDLE between paging occasions (radio off; ARO 0 W).
    - ``paging_on_mw`` 594.3: awake at a paging occasion in IDLE.
    - ``promotion_mw`` 1210.7: during a promotion.
    - ``connected_mw`` 1288.04: continuous reception, the intercept beta of the
      throughput power model (Table 4) = an active radio moving ~no data.
    - ``drx_sleep_mw`` 1060.0: RRC_CONNECTED tail base power between on-durations.
    - ``drx_on_mw`` 1680.2: during a DRX on-duration.

    ``initial_state`` is the state at time 0, as if just entered (not PROMOTION).
    """

    promotion_delay_s: float = 0.260
    drx_inactivity_s: float = 0.100
    short_drx_cycle_s: float = 0.020
    short_drx_timer_s: float = 0.020
    long_drx_cycle_s: float = 0.040
    on_duration_s: float = 0.001
    rrc_inactivity_s: float = 11.576
    paging_cycle_s: float = 1.28
    paging_on_duration_s: float = 0.0432
    uplink_sr_delay_s: float = 0.0
    idle_sleep_mw: float = 0.0
    paging_on_mw: float = 594.3
    promotion_mw: float = 1210.7
    connected_mw: float = 1288.04
    drx_sleep_mw: float = 1060.0
    drx_on_mw: float = 1680.2
    initial_state: RrcState = RrcState.IDLE

    def __post_init__(self) -> None:
        for name in (
            "promotion_delay_s",
            "short_drx_timer_s",
            "uplink_sr_delay_s",
            "idle_sleep_mw",
            "paging_on_mw",
            "promotion_mw",
            "connected_mw",
            "drx_sleep_mw",
            "drx_on_mw",
        ):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {value}")
        for name in (
            "drx_inactivity_s",
            "short_drx_cycle_s",
            "long_drx_cycle_s",
            "on_duration_s",
            "rrc_inactivity_s",
            "paging_cycle_s",
        ):
            value = getattr(self, name)
            if not (np.isfinite(value) and _ns(value) > 0):
                raise ValueError(f"{name} must be finite and > 0 (at least 1 ns), got {value}")
        if _ns(self.long_drx_cycle_s) % _ns(self.short_drx_cycle_s) != 0:
            raise ValueError(
                f"long_drx_cycle_s ({self.long_drx_cycle_s}) must be a multiple of "
                f"short_drx_cycle_s ({self.short_drx_cycle_s}) (TS 36.331 DRX-Config)"
            )
        if self.on_duration_s >= self.short_drx_cycle_s:
            raise ValueError(
                f"on_duration_s ({self.on_duration_s}) must be shorter than "
                f"short_drx_cycle_s ({self.short_drx_cycle_s})"
            )
        if not 0 <= self.paging_on_duration_s <= self.paging_cycle_s:
            raise ValueError(
                f"paging_on_duration_s must be in [0, paging_cycle_s], got "
                f"{self.paging_on_duration_s}"
            )
        if _ns(self.rrc_inactivity_s) < _ns(self.drx_inactivity_s) + _ns(self.short_drx_timer_s):
            raise ValueError(
                "rrc_inactivity_s must be >= drx_inactivity_s + short_drx_timer_s, got "
                f"{self.rrc_inactivity_s} < {self.drx_inactivity_s} + {self.short_drx_timer_s}"
            )
        if not isinstance(self.initial_state, RrcState) or self.initial_state == RrcState.PROMOTION:
            raise ValueError(
                f"initial_state must be IDLE, CONNECTED, SHORT_DRX or LONG_DRX, "
                f"got {self.initial_state!r}"
            )

    @property
    def state_power_mw(self) -> tuple[float, float, float, float, float]:
        """Mean power of each state, indexed by ``RrcState``, duty cycles included."""
        idle = self.idle_sleep_mw + (self.paging_on_mw - self.idle_sleep_mw) * (
            self.paging_on_duration_s / self.paging_cycle_s
        )
        on_extra = self.drx_on_mw - self.drx_sleep_mw
        short = self.drx_sleep_mw + on_extra * self.on_duration_s / self.short_drx_cycle_s
        long = self.drx_sleep_mw + on_extra * self.on_duration_s / self.long_drx_cycle_s
        return (idle, self.promotion_mw, self.connected_mw, short, long)


@dataclass(frozen=True)
class RrcOutcome:
    """What the RRC/DRX gate did to a batch of packets of U UEs.

    Per packet: ``release_s``. Per state change, in (ue, time) order:
    ``transition_ue``, ``transition_time_s``, ``transition_from``,
    ``transition_to`` (``RrcState`` codes; names in ``STATE_NAMES``). Per UE:
    ``state_time_s`` (U x 5, seconds in each state from 0 to ``horizon_s``),
    ``energy_j``, ``promotions`` (IDLE to CONNECTED set-ups) and ``horizon_s``.
    """

    release_s: FloatArray
    transition_ue: IntArray
    transition_time_s: FloatArray
    transition_from: Int8Array
    transition_to: Int8Array
    state_time_s: FloatArray
    energy_j: FloatArray
    promotions: IntArray
    horizon_s: FloatArray

    @property
    def state_names(self) -> tuple[str, ...]:
        """Names of the state codes, indexed by code."""
        return STATE_NAMES


def kernel_timers(config: RrcConfig) -> IntArray:
    """The config's timers in whole ns, in the order the kernels take them
    (``models.rrc_kernels``)."""
    return np.array(
        [
            _ns(config.drx_inactivity_s),
            _ns(config.short_drx_timer_s),
            _ns(config.rrc_inactivity_s),
            _ns(config.short_drx_cycle_s),
            _ns(config.long_drx_cycle_s),
            _ns(config.on_duration_s),
            _ns(config.paging_cycle_s),
            _ns(config.uplink_sr_delay_s),
            _ns(config.promotion_delay_s),
        ],
        dtype=np.int64,
    )


def per_ue_offsets_ns(
    offset_s: FloatArray | None, users: int, period_s: float, name: str
) -> IntArray:
    """Each UE's grid offset in whole ns (0 without ``offset_s``); ``name`` for errors."""
    if offset_s is None:
        return np.zeros(users, dtype=np.int64)
    offsets = np.asarray(offset_s, dtype=np.float64)
    if offsets.shape != (users,):
        raise ValueError(f"{name} must have one value per UE ({users}), got shape {offsets.shape}")
    if not np.all((offsets >= 0) & (offsets < period_s)):
        raise ValueError(f"{name} must be in [0, {period_s}) s")
    return np.minimum(np.rint(offsets * 1e9).astype(np.int64), _ns(period_s) - 1)


class RrcReleases(NamedTuple):
    """Release times that a feed of ``RrcGate`` settled.

    ``release_s``: one per packet of the feed, in its order; NaN for a packet
    that still waits (its UE wakes after the feed's horizon, and a later
    packet may wake it sooner). Packets are numbered by tickets in the order
    they were fed, over all feeds, from 0: the feed's first is
    ``first_ticket``. ``late_ticket`` and ``late_release_s``: packets of
    earlier feeds that waited and are released now, by ascending ticket.
    """

    release_s: FloatArray
    first_ticket: int
    late_ticket: IntArray
    late_release_s: FloatArray


class RrcGate:
    """The RRC/DRX machines of U UEs, fed packets window after window (rules: module docstring).

    ``end_s`` gives each UE's call end (U = its length); ``drx_offset_s`` (in
    [0, long_drx_cycle_s)) and ``paging_offset_s`` (in [0, paging_cycle_s))
    place each UE's on-durations and paging occasions, both 0 by default.
    Every UE starts in ``config.initial_state`` at time 0.

    ``feed`` takes the packets that reach the radio hop in one window, with
    the window's ``horizon_s``: no later feed brings a packet of that UE
    before it. The release time of a packet whose UE wakes after the horizon
    is not settled yet; a later feed (at the latest one with horizon inf)
    reports it. ``finish``, after the last feed, gives the state changes,
    time per state and energy. Any cut of the packets into feeds gives the
    release times and the outcome of one feed of all of them (``rrc_gate``).
    A feed refused for its packets (unsorted, unknown UE, bad time, before an
    earlier horizon) may have run part of them: the gate takes no more.
    """

    def __init__(
        self,
        end_s: FloatArray,
        config: RrcConfig | None = None,
        *,
        drx_offset_s: FloatArray | None = None,
        paging_offset_s: FloatArray | None = None,
    ) -> None:
        cfg = config or RrcConfig()
        ends = np.ascontiguousarray(end_s, dtype=np.float64)
        if ends.ndim != 1:
            raise ValueError("end_s must be one-dimensional")
        if not np.all(np.isfinite(ends) & (ends >= 0)):
            raise ValueError("end_s must be finite and >= 0")
        users = ends.size
        self.config = cfg
        self.users = users
        self._end_ns = np.rint(ends * 1e9).astype(np.int64)
        self._drx_offset_ns = per_ue_offsets_ns(
            drx_offset_s, users, cfg.long_drx_cycle_s, "drx_offset_s"
        )
        self._paging_offset_ns = per_ue_offsets_ns(
            paging_offset_s, users, cfg.paging_cycle_s, "paging_offset_s"
        )
        self._timers = kernel_timers(cfg)
        self._rows = _k.initial_rows(users, self._timers, int(cfg.initial_state))
        self._acc = np.zeros((users, _k.STATES), dtype=np.int64)
        self._promotions = np.zeros(users, dtype=np.int64)
        self._buf = np.empty((max(64, 8 * users), 4), dtype=np.int64)
        self._count = 0
        self._fed = 0  # tickets given so far
        self._held = _Waiting.none()
        self._closed: str | None = None  # why the gate takes no more packets

    @property
    def waiting(self) -> int:
        """How many packets fed so far still wait for their release time."""
        return int(self._held.ticket.size)

    def feed(
        self,
        ue: IntArray,
        time_s: FloatArray,
        downlink: BoolArray,
        horizon_s: float | FloatArray = math.inf,
    ) -> RrcReleases:
        """Carry one window's packets; see ``RrcReleases`` for what comes back.

        ``ue`` (ids 0..U-1), ``time_s`` (>= 0) and ``downlink`` describe the
        packets, sorted by (ue, time_s), each at or after the horizon of every
        earlier feed (per UE). ``horizon_s`` (one value, or one per UE): no
        later feed brings a packet of that UE before it; inf (the default)
        ends the packets.
        """
        if self._closed is not None:
            raise ValueError(f"the gate takes no more packets: {self._closed}")
        ue_ids = np.ascontiguousarray(ue, dtype=np.int64)
        times = np.ascontiguousarray(time_s, dtype=np.float64)
        down = np.ascontiguousarray(downlink, dtype=np.bool_)
        if not (ue_ids.ndim == times.ndim == down.ndim == 1):
            raise ValueError("ue, time_s and downlink must be one-dimensional")
        if not ue_ids.size == times.size == down.size:
            raise ValueError(
                f"ue, time_s and downlink differ in length: "
                f"{ue_ids.size}, {times.size}, {down.size}"
            )
        horizon_ns = self._horizon_ns(horizon_s)
        with np.errstate(invalid="ignore"):  # NaN times become negative and are refused below
            t_ns = np.rint(times * 1e9).astype(np.int64)
        held = self._held
        release, held_release, waiting, self._buf, self._count, status = _k.feed_kernel(
            ue_ids,
            times,
            t_ns,
            down,
            held.ue,
            held.time_s,
            held.t_ns,
            horizon_ns,
            self._drx_offset_ns,
            self._paging_offset_ns,
            self._timers,
            self._rows,
            self._acc,
            self._promotions,
            self._buf,
            self._count,
        )
        if status != _k.OK:
            message = _FEED_ERRORS[status].format(users=self.users)
            self._closed = f"a feed was refused ({message})"
            raise ValueError(message)
        floor = self._rows[:, _k.COL_FLOOR]
        np.maximum(floor, horizon_ns, out=floor)
        first_ticket = self._fed
        self._fed += ue_ids.size
        self._held, late_ticket, late_release_s = self._held.after_feed(
            held_release, release, waiting, first_ticket, ue_ids, times, t_ns
        )
        return RrcReleases(release, first_ticket, late_ticket, late_release_s)

    def finish(self) -> RrcOutcome:
        """State changes, time per state, energy and promotions of every UE, from time 0 to
        its horizon; ``release_s`` is empty (the feeds gave the packets' releases).

        Raises ValueError if packets still wait: the last feed must have horizon inf.
        """
        if self._closed is not None:
            raise ValueError(f"the gate cannot finish: {self._closed}")
        if self.waiting:
            raise ValueError(
                f"{self.waiting} packets still wait for the radio: "
                "the last feed must have horizon_s=inf"
            )
        self._closed = "it has finished"
        horizon, buf, count = _k.finish_kernel(
            self._end_ns, self._rows, self._timers, self._acc, self._buf, self._count
        )
        rows = buf[:count]
        if count and np.any(rows[1:, 0] < rows[:-1, 0]):  # each UE's changes together
            rows = rows[group_order(rows[:, 0])]
        state_time_s = self._acc / 1e9
        power_w = np.array(self.config.state_power_mw) / 1000.0
        return RrcOutcome(
            release_s=np.empty(0),
            transition_ue=rows[:, 0].copy(),
            transition_time_s=rows[:, 1] / 1e9,
            transition_from=rows[:, 2].astype(np.int8),
            transition_to=rows[:, 3].astype(np.int8),
            state_time_s=state_time_s,
            energy_j=state_time_s @ power_w,
            promotions=self._promotions.copy(),
            horizon_s=horizon / 1e9,
        )

    def _horizon_ns(self, horizon_s: float | FloatArray) -> IntArray:
        """Per UE, the horizon in whole ns, rounded as packet times are; inf: the int64 max.
        (A finite horizon past ``_FAR_S`` counts as ``_FAR_S``: an earlier horizon only
        settles fewer packets.)"""
        horizon = np.broadcast_to(np.asarray(horizon_s, dtype=np.float64), (self.users,))
        if np.any(np.isnan(horizon) | (horizon < 0)):
            raise ValueError("horizon_s must be >= 0 (inf: no more packets)")
        out = np.rint(np.minimum(horizon, _FAR_S) * 1e9).astype(np.int64)
        out[np.isinf(horizon)] = _NEVER
        return out


_NEVER = np.iinfo(np.int64).max
_FAR_S = 9e9  # s; in ns, still an int64
_FEED_ERRORS = {
    _k.UNSORTED: "packets must be sorted by (ue, time_s) with ue >= 0",
    _k.BAD_UE: "ue ids must be in [0, {users}) (one end_s per UE)",
    _k.NEGATIVE_TIME: "time_s must be finite and >= 0",
    _k.EARLY: "a packet arrives before the horizon_s of an earlier feed",
}


@dataclass(frozen=True)
class _Waiting:
    """Packets fed that still wait for their UE to wake, sorted by UE (each UE's in arrival
    order, which is ticket order)."""

    ticket: IntArray
    ue: IntArray
    time_s: FloatArray
    t_ns: IntArray

    @classmethod
    def none(cls) -> _Waiting:
        """No packet waiting."""
        return cls(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), np.empty(0, np.int64))

    def after_feed(
        self,
        held_release_s: FloatArray,
        release_s: FloatArray,
        new_waiting: int,
        first_ticket: int,
        ue: IntArray,
        time_s: FloatArray,
        t_ns: IntArray,
    ) -> tuple[_Waiting, IntArray, FloatArray]:
        """After a feed that released these packets at ``held_release_s`` (NaN: still
        waiting) and the feed's at ``release_s`` (``new_waiting`` of them NaN): the
        packets still waiting, and the tickets and release times of those released now,
        by ascending ticket."""
        settled = ~np.isnan(held_release_s)
        new = np.flatnonzero(np.isnan(release_s)) if new_waiting else np.empty(0, np.int64)
        late_ticket, late_release_s = self.ticket[settled], held_release_s[settled]
        if late_ticket.size > 1:
            by_ticket = np.argsort(late_ticket)
            late_ticket, late_release_s = late_ticket[by_ticket], late_release_s[by_ticket]
        if not settled.any() and not new.size:
            return self, late_ticket, late_release_s
        kept = ~settled
        ues = np.concatenate([self.ue[kept], ue[new]])
        by_ue = group_order(ues)  # stable: each UE's earlier packets first
        waiting = _Waiting(
            np.concatenate([self.ticket[kept], first_ticket + new])[by_ue],
            ues[by_ue],
            np.concatenate([self.time_s[kept], time_s[new]])[by_ue],
            np.concatenate([self.t_ns[kept], t_ns[new]])[by_ue],
        )
        return waiting, late_ticket, late_release_s


def rrc_gate(
    ue: IntArray,
    time_s: FloatArray,
    downlink: BoolArray,
    end_s: FloatArray,
    config: RrcConfig | None = None,
    *,
    drx_offset_s: FloatArray | None = None,
    paging_offset_s: FloatArray | None = None,
) -> RrcOutcome:
    """Pass packets of U UEs through their RRC/DRX machines (rules: module docstring).

    ``ue`` (ids 0..U-1), ``time_s`` (>= 0) and ``downlink`` describe the packets,
    sorted by (ue, time_s); ``end_s`` gives each UE's call end (U = its length).
    ``drx_offset_s`` (in [0, long_drx_cycle_s)) and ``paging_offset_s`` (in
    [0, paging_cycle_s)) place each UE's on-durations and paging occasions;
    both default to 0. Each call starts every UE afresh in
    ``config.initial_state`` at time 0: one feed of an ``RrcGate``.
    """
    gate = RrcGate(end_s, config, drx_offset_s=drx_offset_s, paging_offset_s=paging_offset_s)
    released = gate.feed(ue, time_s, downlink)
    return replace(gate.finish(), release_s=released.release_s)


@dataclass(frozen=True)
class KeepAliveEnergy:
    """Steady-state cost of one small packet every ``interval_s``.

    ``energy_j`` is the radio energy of one interval (the keep-alive, its tail
    and any IDLE time up to the next one), ``mean_power_mw`` that energy over
    the interval, ``promotions`` the IDLE to CONNECTED set-ups per keep-alive
    (0 when the tail outlasts the interval, 1 when the UE idles in between).
    """

    interval_s: float
    energy_j: float
    mean_power_mw: float
    promotions: float

    @property
    def energy_per_hour_j(self) -> float:
        """Energy the keep-alives cost in an hour."""
        return self.mean_power_mw * 3.6


_KEEPALIVE_WARMUP = 4
_KEEPALIVE_MEASURED = 64


def keepalive_energy(
    interval_s: float, config: RrcConfig | None = None, *, downlink: bool = False
) -> KeepAliveEnergy:
    """Energy per keep-alive of one small packet every ``interval_s`` (e.g. a SIP keep-alive).

    Runs the gate on ``_KEEPALIVE_WARMUP`` and on ``_KEEPALIVE_WARMUP +
    _KEEPALIVE_MEASURED`` keep-alives and takes the difference, so the first
    promotion and the last tail cancel. Uplink by default (the UE sends it);
    the reply, if any, falls inside the same active period and is not counted.
    """
    if not (np.isfinite(interval_s) and interval_s > 0):
        raise ValueError(f"interval_s must be finite and > 0, got {interval_s}")
    cfg = config or RrcConfig()
    totals = []
    for count in (_KEEPALIVE_WARMUP, _KEEPALIVE_WARMUP + _KEEPALIVE_MEASURED):
        times = np.arange(count, dtype=np.float64) * float(interval_s)
        outcome = rrc_gate(
            np.zeros(count, dtype=np.int64),
            times,
            np.full(count, downlink),
            np.array([count * float(interval_s)]),
            cfg,
        )
        totals.append((float(outcome.energy_j[0]), float(outcome.promotions[0])))
    energy_j = (totals[1][0] - totals[0][0]) / _KEEPALIVE_MEASURED
    promotions = (totals[1][1] - totals[0][1]) / _KEEPALIVE_MEASURED
    return KeepAliveEnergy(
        interval_s=float(interval_s),
        energy_j=energy_j,
        mean_power_mw=energy_j / interval_s * 1000.0,
        promotions=promotions,
    )
