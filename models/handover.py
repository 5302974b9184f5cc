"""Handovers and what they do to a call's packets: an LTE X2 handover, and vertical LTE/Wi-Fi ones.

A handover is a ``(ue, time_s, kind)``. It opens a window that starts at
``time_s``:

- An **X2** intra-frequency handover interrupts the user plane for
  ``interruption_s``. Downlink packets reaching the source eNodeB in that
  window are forwarded over X2 and buffered by the target (TS 36.300 clause
  10.1.2.3), leaving at ``max(t + forwarding_delay_s, interruption end)``, or
  are lost without forwarding. Uplink packets wait in the UE (its PDCP keeps
  them while it moves, TS 36.300 clause 10.1.2.2) and leave at the end of the
  interruption, or are lost if configured so. The window is the interruption.
- A **vertical** handover (LTE to Wi-Fi, Wi-Fi to LTE) interrupts for
  detection + link set-up + IP configuration, and then the IP address has
  changed: the media path stays broken until the application moves it, by a
  SIP re-INVITE or an ICE restart started at the end of the interruption, or
  never (``Recovery.NONE``). Every packet of either direction in the window
  [start, end of breakage) is lost.

A packet's ``time_s`` is when it reaches the radio hop (the source
eNodeB or access point for downlink, the UE's modem for uplink). Windows are
half-open: a packet at a handover's start is affected, one at its end is not.
A forwarded packet that reached the source less than ``forwarding_delay_s``
before the interruption's end leaves after it, possibly after later packets
that the target delivers on time: the hop can reorder, as X2 forwarding does.

Overlapping handovers of one UE act as gates in order of start. A packet
presents itself at ``time_s``; each handover of its UE, taken in that order,
whose window contains the packet's current time acts on it: it loses the
packet (and no later handover sees it), or holds it, and the release time
becomes the packet's current time for the handovers after it. So a packet
held by one X2 interruption and released into a second one is held again,
and one released into a vertical handover's breakage is lost. Each window is
its handover's own, whatever other handovers do: a later handover neither
shortens nor lengthens an earlier one, so breakages add up as a union and a
``NONE`` recovery is never repaired. The outcome names, per packet, the last
handover that acted on it (for a lost packet, the one that lost it).

A packet's fate depends on nothing but its own time, direction and UE, so
``HandoverRun`` takes packets window after window, in any order, and gives
each the fate of one batch (``apply_handovers``), with the same counts.

Handovers act only on calls in progress (``HandoverSchedule.during``): a
handover reaches a call, with its whole window (a vertical one's breakage
included, even past the call's end), only if it starts while the call is up,
in [call start, call end). One that starts before the call is not applied,
even when its interruption would reach past the call's start: a call is set
up over the UE's radio, so its media start on the cell (or network, with
the address) the UE holds once that handover is over; call set-up itself is
not modelled.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from voipbed.models._jit import kernel

__all__ = [
    "KINDS",
    "Handover",
    "HandoverConfigs",
    "HandoverCounts",
    "HandoverIntervals",
    "HandoverKind",
    "HandoverOutcome",
    "HandoverRun",
    "HandoverSchedule",
    "Recovery",
    "RecoveryConfig",
    "VerticalConfig",
    "X2Config",
    "apply_handovers",
    "handover_intervals",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


class HandoverKind(StrEnum):
    X2 = "x2"  # LTE intra-frequency, eNodeB to eNodeB over X2
    LTE_TO_WIFI = "lte_to_wifi"
    WIFI_TO_LTE = "wifi_to_lte"


KINDS: tuple[HandoverKind, ...] = tuple(HandoverKind)
"""Kinds in code order: ``HandoverSchedule.kind`` holds indices into this tuple."""


class Recovery(StrEnum):
    """How the application moves its media to the new IP address after a vertical handover."""

    REINVITE = "reinvite"  # SIP re-INVITE with the new address in its SDP
    ICE_RESTART = "ice_restart"  # new candidates, new offer/answer, connectivity checks
    NONE = "none"  # media stays broken for the rest of the call


def _check_duration(owner: object, *names: str) -> None:
    for name in names:
        value = getattr(owner, name)
        if not (math.isfinite(value) and value >= 0.0):
            raise ValueError(f"{name} must be a finite duration >= 0 s, got {value}")


@dataclass(frozen=True)
class X2Config:
    """LTE X2 intra-frequency handover.

    ``interruption_s`` 50 ms: TS 36.133 clause 5.1.2.1 bounds the interruption
    of an intra-frequency handover to a known cell by T_search + T_IU + 20 ms,
    with T_search = 0 and T_IU (waiting for the target's first PRACH occasion)
    up to 30 ms. For comparison, ITU-R M.2134 (2008) required 27.5 ms of
    IMT-Advanced intra-frequency handovers, ITU-R M.2410 (2017) requires 0 ms
    of IMT-2020 (NR with make-before-break); Han et al., "Measurement and
    stochastic modeling of handover delay and interruption time of smartphone
    real-time applications on LTE networks", IEEE Commun. Mag. 53(3), 2015,
    measure it on commercial networks.

    ``forwarding`` (TS 36.300 clause 10.1.2.3: the source eNodeB forwards
    downlink data to the target over X2) and ``forwarding_delay_s`` 10 ms, the
    one-way X2 latency of a fibre backhaul (TR 36.932 Table 6.1-1 puts fibre
    access at 2-30 ms one way). ``uplink_buffering``: the UE keeps the packets
    it wants to send during the interruption and sends them once in the target
    cell (TS 36.300 clause 10.1.2.2); False loses them.
    """

    interruption_s: float = 0.050
    forwarding: bool = True
    forwarding_delay_s: float = 0.010
    uplink_buffering: bool = True

    def __post_init__(self) -> None:
        _check_duration(self, "interruption_s", "forwarding_delay_s")


@dataclass(frozen=True)
class VerticalConfig:
    """A vertical handover's interruption: detection + link set-up + IP configuration.

    Defaults per direction come from ``lte_to_wifi()`` and ``wifi_to_lte()``.
    """

    detection_s: float  # until the UE knows it must move (0 when it moves by choice)
    link_setup_s: float  # association / connection on the target network
    ip_config_s: float  # until the new IP address can be used

    def __post_init__(self) -> None:
        _check_duration(self, "detection_s", "link_setup_s", "ip_config_s")

    @property
    def interruption_s(self) -> float:
        """Total interruption."""
        return self.detection_s + self.link_setup_s + self.ip_config_s

    @classmethod
    def lte_to_wifi(cls) -> VerticalConfig:
        """LTE to Wi-Fi, 1.3 s: a move by choice while LTE still works, so no detection.

        Link set-up 300 ms: 802.11 scan, authentication and (re)association take
        a few hundred ms, the probe phase more than 90 % of it (Mishra, Shin
        and Arbaugh, "An empirical analysis of the IEEE 802.11 MAC layer
        handoff process", ACM SIGCOMM CCR 33(2), 2003). IP configuration 1 s:
        DHCP, whose duplicate address detection dominates a layer-3 handoff
        (Shin, Forte and Schulzrinne, "Passive duplicate address detection for
        DHCP", IEEE GLOBECOM 2006; Forte, Shin and Schulzrinne, "Improving
        layer 3 handoff delay in IEEE 802.11 wireless networks", WICON 2006).
        """
        return cls(detection_s=0.0, link_setup_s=0.300, ip_config_s=1.0)

    @classmethod
    def wifi_to_lte(cls) -> VerticalConfig:
        """Wi-Fi to LTE, 817 ms: the UE leaves when its Wi-Fi link fades.

        Detection 716.8 ms: Linux mac80211 declares the AP lost after
        IEEE80211_BEACON_LOSS_COUNT = 7 missed beacons (net/mac80211/mlme.c),
        at the usual beacon interval of 100 TU = 102.4 ms. Link set-up 100 ms:
        the UE is attached with an idle default bearer, and 3GPP TR 25.913
        clause 7.1 asks less than 100 ms from idle to active. IP configuration
        0: the always-on default bearer got its address at attach (TS 23.401
        clause 5.3.2.1), no DHCP.
        """
        return cls(detection_s=7 * 0.1024, link_setup_s=0.100, ip_config_s=0.0)


@dataclass(frozen=True)
class RecoveryConfig:
    """How and how fast the application moves its media after a vertical handover.

    ``reinvite_s`` 500 ms: one re-INVITE transaction (INVITE, 200 OK, ACK)
    through the SIP proxies, taken as RFC 3261's round-trip estimate T1 =
    500 ms (clause 17.1.1.1); mid-call mobility by re-INVITE is Wedlund and
    Schulzrinne, "Mobility support using SIP", ACM WoWMoM 1999.
    ``ice_restart_s`` 1.5 s, an estimate composed from RFC 8445: an ICE
    restart (clause 9) gathers new candidates (a STUN or TURN exchange with
    the server, about 500 ms with TURN's two round trips), exchanges them in
    a new offer/answer (a re-INVITE, RFC 8839, 500 ms as above), then runs
    connectivity checks paced at Ta = 50 ms (clause 14.2) and nominates a
    pair (about 500 ms).
    """

    mode: Recovery = Recovery.REINVITE
    reinvite_s: float = 0.500
    ice_restart_s: float = 1.500

    def __post_init__(self) -> None:
        _check_duration(self, "reinvite_s", "ice_restart_s")
        # Accept the scenario's spelling ("reinvite"); an unknown mode raises ValueError.
        object.__setattr__(self, "mode", Recovery(self.mode))

    @property
    def duration_s(self) -> float:
        """From the end of the interruption to media flowing again (inf for ``NONE``)."""
        if self.mode == Recovery.REINVITE:
            return self.reinvite_s
        if self.mode == Recovery.ICE_RESTART:
            return self.ice_restart_s
        return math.inf


@dataclass(frozen=True)
class HandoverConfigs:
    """One configuration per kind, and the application's recovery for vertical handovers."""

    x2: X2Config = field(default_factory=X2Config)
    lte_to_wifi: VerticalConfig = field(default_factory=VerticalConfig.lte_to_wifi)
    wifi_to_lte: VerticalConfig = field(default_factory=VerticalConfig.wifi_to_lte)
    recovery: RecoveryConfig = field(default_factory=RecoveryConfig)

    def vertical(self, kind: HandoverKind) -> VerticalConfig:
        """The configuration of a vertical ``kind``."""
        if kind == HandoverKind.LTE_TO_WIFI:
            return self.lte_to_wifi
        if kind == HandoverKind.WIFI_TO_LTE:
            return self.wifi_to_lte
        raise ValueError(f"{kind} is not a vertical handover")


class Handover(NamedTuple):
    """One handover of one UE, for building schedules by hand."""

    ue: int
    time_s: float
    kind: HandoverKind


@dataclass(frozen=True, eq=False)
class HandoverSchedule:
    """Handovers sorted by (ue, time_s); ``kind`` holds indices into ``KINDS``."""

    ue: IntArray
    time_s: FloatArray
    kind: NDArray[np.int8]

    def __post_init__(self) -> None:
        # The kernel is compiled for these dtypes; asarray copies only if they differ.
        object.__setattr__(self, "ue", np.asarray(self.ue, dtype=np.int64))
        object.__setattr__(self, "time_s", np.asarray(self.time_s, dtype=np.float64))
        object.__setattr__(self, "kind", np.asarray(self.kind, dtype=np.int8))
        if not (self.ue.ndim == self.time_s.ndim == self.kind.ndim == 1):
            raise ValueError("a schedule's ue, time_s and kind must be 1-D arrays")
        if not (self.ue.size == self.time_s.size == self.kind.size):
            raise ValueError(
                f"ue, time_s and kind differ in length: "
                f"{self.ue.size}, {self.time_s.size}, {self.kind.size}"
            )
        if not np.all(np.isfinite(self.time_s)) or np.any(self.time_s < 0.0):
            raise ValueError("handover times must be finite and >= 0 s")
        if np.any((self.kind < 0) | (self.kind >= len(KINDS))):
            raise ValueError(f"kind codes must be in [0, {len(KINDS)})")
        same_ue = self.ue[1:] == self.ue[:-1]
        if np.any(self.ue[1:] < self.ue[:-1]) or np.any(
            same_ue & (self.time_s[1:] < self.time_s[:-1])
        ):
            raise ValueError("a schedule must be sorted by (ue, time_s)")

    def __len__(self) -> int:
        return int(self.ue.size)

    def handovers(self) -> list[Handover]:
        """The handovers, in order."""
        return [
            Handover(int(u), float(t), KINDS[k])
            for u, t, k in zip(self.ue, self.time_s, self.kind, strict=True)
        ]

    @classmethod
    def from_arrays(
        cls, ue: Sequence[int] | IntArray, time_s: Sequence[float] | FloatArray, kind: Sequence[str]
    ) -> HandoverSchedule:
        """Explicit handovers in any order (``kind`` by name); ties keep their given order."""
        ues = np.asarray(ue, dtype=np.int64)
        times = np.asarray(time_s, dtype=np.float64)
        codes = np.array([KINDS.index(HandoverKind(k)) for k in kind], dtype=np.int8)
        if not (ues.shape == times.shape == codes.shape):
            raise ValueError("ue, time_s and kind must have the same length")
        order = np.lexsort((times, ues))
        return cls(ues[order], times[order], codes[order])

    @classmethod
    def from_handovers(cls, handovers: Iterable[Handover]) -> HandoverSchedule:
        """Explicit handovers in any order."""
        listed = list(handovers)
        return cls.from_arrays(
            [h.ue for h in listed], [h.time_s for h in listed], [h.kind for h in listed]
        )

    @classmethod
    def poisson(
        cls,
        ue_count: int,
        duration_s: float,
        rate_per_min: float,
        rng: np.random.Generator,
        kinds: Sequence[HandoverKind] = (HandoverKind.X2,),
    ) -> HandoverSchedule:
        """Each UE hands over as a Poisson process of ``rate_per_min`` over [0, duration_s).

        Draws the count of every UE (UE 0 first), then all the times, from
        ``rng``. The i-th handover of a UE is of kind ``kinds[i % len(kinds)]``:
        ``(LTE_TO_WIFI, WIFI_TO_LTE)`` alternates, starting on LTE.
        """
        if ue_count < 0:
            raise ValueError(f"ue_count must be >= 0, got {ue_count}")
        if not (math.isfinite(duration_s) and duration_s >= 0.0):
            raise ValueError(f"duration_s must be finite and >= 0, got {duration_s}")
        if not (math.isfinite(rate_per_min) and rate_per_min >= 0.0):
            raise ValueError(f"rate_per_min must be finite and >= 0, got {rate_per_min}")
        if not kinds:
            raise ValueError("kinds must name at least one handover kind")
        counts = rng.poisson(rate_per_min * duration_s / 60.0, ue_count).astype(np.int64)
        total = int(counts.sum())
        ue = np.repeat(np.arange(ue_count, dtype=np.int64), counts)
        # uniform(0, d) may round up to d itself; keep the interval half-open.
        times = np.minimum(rng.uniform(0.0, duration_s, total), np.nextafter(duration_s, 0.0))
        order = np.lexsort((times, ue))
        first = np.repeat(np.cumsum(counts) - counts, counts)
        rank = np.arange(total, dtype=np.int64) - first
        codes = np.array([KINDS.index(HandoverKind(k)) for k in kinds], dtype=np.int8)
        return cls(ue[order], times[order], codes[rank % codes.size])

    @classmethod
    def merge(cls, *schedules: HandoverSchedule) -> HandoverSchedule:
        """One schedule with the handovers of all; at equal (ue, time) earlier arguments first."""
        if not schedules:
            return cls(np.empty(0, np.int64), np.empty(0), np.empty(0, np.int8))
        ue = np.concatenate([s.ue for s in schedules])
        time_s = np.concatenate([s.time_s for s in schedules])
        kind = np.concatenate([s.kind for s in schedules])
        order = np.lexsort((time_s, ue))
        return cls(ue[order], time_s[order], kind[order])

    def during(
        self, call_start_s: Sequence[float] | FloatArray, call_end_s: Sequence[float] | FloatArray
    ) -> HandoverSchedule:
        """The handovers that start while their UE's call is up: in [start, end) of call ``ue``.

        ``call_start_s[u]`` and ``call_end_s[u]`` bound UE u's call (one UE per
        call). Raises ValueError for a UE without a call.
        """
        start = np.asarray(call_start_s, dtype=np.float64)
        end = np.asarray(call_end_s, dtype=np.float64)
        if start.shape != end.shape or start.ndim != 1:
            raise ValueError("call_start_s and call_end_s must be 1-D of one length")
        if self.ue.size and int(self.ue.max()) >= start.size:
            raise ValueError(f"a handover names UE {int(self.ue.max())}; calls are {start.size}")
        keep = (start[self.ue] <= self.time_s) & (self.time_s < end[self.ue])
        return type(self)(self.ue[keep], self.time_s[keep], self.kind[keep])


@dataclass(frozen=True, eq=False)
class HandoverIntervals:
    """Per handover of a schedule: its start, interruption end and media breakage end (s).

    ``media_end_s`` equals ``interruption_end_s`` for X2 and is inf when a
    vertical handover is never recovered. Each handover's own, ignoring the
    others (see the module docstring).
    """

    start_s: FloatArray
    interruption_end_s: FloatArray
    media_end_s: FloatArray


@dataclass(frozen=True, eq=False)
class HandoverOutcome:
    """Per packet: when it can go on (NaN if lost), whether lost, and which handover acted last.

    ``handover`` indexes the schedule, -1 for a packet no handover touched.
    """

    release_s: FloatArray
    lost: BoolArray
    handover: IntArray
    intervals: HandoverIntervals

    def counts(self) -> HandoverCounts:
        """Per handover of the schedule, the packets it held and those it lost."""
        handovers = self.intervals.start_s.size
        acted = self.handover >= 0
        lost = np.bincount(self.handover[acted & self.lost], minlength=handovers)
        held = np.bincount(self.handover[acted & ~self.lost], minlength=handovers)
        return HandoverCounts(held.astype(np.int64), lost.astype(np.int64))


class HandoverCounts(NamedTuple):
    """Per handover: packets it held (and released) and packets it lost.

    A packet that several overlapping handovers acted on counts for the last
    (the one that lost it, or released it last).
    """

    held: IntArray
    lost: IntArray


class _KindTable(NamedTuple):
    """Per kind code: interruption, breakage after it, and per direction (0 up, 1 down) rules."""

    interruption_s: FloatArray
    recovery_s: FloatArray
    lose: NDArray[np.bool_]  # [kind, direction]
    delay_s: FloatArray  # [kind, direction], added to a held packet's time


def _kind_table(configs: HandoverConfigs) -> _KindTable:
    n = len(KINDS)
    interruption = np.zeros(n)
    recovery = np.zeros(n)
    lose = np.ones((n, 2), dtype=np.bool_)
    delay = np.zeros((n, 2))
    x2 = KINDS.index(HandoverKind.X2)
    interruption[x2] = configs.x2.interruption_s
    lose[x2] = (not configs.x2.uplink_buffering, not configs.x2.forwarding)
    delay[x2, 1] = configs.x2.forwarding_delay_s
    for kind in (HandoverKind.LTE_TO_WIFI, HandoverKind.WIFI_TO_LTE):
        code = KINDS.index(kind)
        interruption[code] = configs.vertical(kind).interruption_s
        recovery[code] = configs.recovery.duration_s
    return _KindTable(interruption, recovery, lose, delay)


def handover_intervals(schedule: HandoverSchedule, configs: HandoverConfigs) -> HandoverIntervals:
    """Start, interruption end and media breakage end of each handover of ``schedule``."""
    table = _kind_table(configs)
    kind = schedule.kind.astype(np.intp)
    interruption_end = schedule.time_s + table.interruption_s[kind]
    return HandoverIntervals(
        schedule.time_s.copy(), interruption_end, interruption_end + table.recovery_s[kind]
    )


_UNSORTED = 1


@kernel
def _handover_kernel(
    ue: IntArray,
    time: FloatArray,
    downlink: BoolArray,
    check_sorted: bool,
    first: IntArray,
    stop: IntArray,
    lo_of: IntArray,
    seen_t: FloatArray,
    start: FloatArray,
    held_until: FloatArray,
    end: FloatArray,
    lose: NDArray[np.bool_],
    delay: FloatArray,
    held_count: IntArray,
    lost_count: IntArray,
) -> tuple[FloatArray, BoolArray, IntArray, int]:
    """Gate packets through their UE's handovers (module docstring rules), in any order.

    UE u's handovers are [first[u], stop[u]); UEs from ``first.size`` on have
    none. ``lose`` and ``delay`` are per handover and direction (0 up, 1
    down); a held packet leaves at max(its time + delay, ``held_until``).
    ``lo_of[u]`` skips UE u's handovers whose window ended at or before
    ``seen_t[u]``, the time of its latest packet: they act on no packet from
    then on, and a packet before ``seen_t[u]`` starts over from ``first[u]``.
    Counts each handover's held and lost packets. With ``check_sorted``,
    packets out of (ue, time) order stop the gate (status ``_UNSORTED``), as
    a NaN time always does.
    """
    n = time.size
    users = first.size
    release = np.empty(n)
    lost = np.zeros(n, dtype=np.bool_)
    which = np.full(n, -1, dtype=np.int64)
    # The UE of the packets at hand: whether it has handovers, those [lo, hi) that can
    # still act, and the time of its latest packet.
    u = -1
    mine = False
    lo = 0
    hi = 0
    last = -np.inf
    for i in range(n):
        t = time[i]
        if t != t or (
            check_sorted
            and i > 0
            and (ue[i] < ue[i - 1] or (ue[i] == ue[i - 1] and t < time[i - 1]))
        ):
            return release, lost, which, _UNSORTED
        if ue[i] != u:
            if mine:
                lo_of[u] = lo
                seen_t[u] = last
            u = ue[i]
            mine = 0 <= u < users
            if not mine:
                release[i] = t
                continue
            lo, hi, last = lo_of[u], stop[u], seen_t[u]
        elif not mine:
            release[i] = t
            continue
        if t < last:
            lo = first[u]
        last = t
        while lo < hi and end[lo] <= t:
            lo += 1
        d = 1 if downlink[i] else 0
        x = t
        k = lo
        while k < hi and start[k] <= x:
            if x < end[k]:
                which[i] = k
                if lose[k, d]:
                    lost[i] = True
                    break
                x = max(x + delay[k, d], held_until[k])
            k += 1
        release[i] = np.nan if lost[i] else x
        if which[i] >= 0:
            if lost[i]:
                lost_count[which[i]] += 1
            else:
                held_count[which[i]] += 1
    if mine:
        lo_of[u] = lo
        seen_t[u] = last
    return release, lost, which, 0


class HandoverRun:
    """A schedule's handovers acting on packets fed window after window, in any order.

    A packet's fate depends on its own UE, time and direction only, so feeds
    may come in any cut and order; ``counts`` totals each handover's held and
    lost packets over all feeds so far.
    """

    def __init__(self, schedule: HandoverSchedule, configs: HandoverConfigs) -> None:
        table = _kind_table(configs)
        kind = schedule.kind.astype(np.intp)
        self.schedule = schedule
        self.intervals = handover_intervals(schedule, configs)
        self._lose = table.lose[kind]
        self._delay = table.delay_s[kind]
        users = int(schedule.ue.max()) + 1 if len(schedule) else 0
        ids = np.arange(users)
        self._first = np.searchsorted(schedule.ue, ids, side="left").astype(np.int64)
        self._stop = np.searchsorted(schedule.ue, ids, side="right").astype(np.int64)
        self._lo = self._first.copy()
        self._seen_t = np.full(users, -np.inf)
        self._held = np.zeros(len(schedule), dtype=np.int64)
        self._lost = np.zeros(len(schedule), dtype=np.int64)

    def feed(self, ue: IntArray, time_s: FloatArray, downlink: BoolArray) -> HandoverOutcome:
        """What the handovers do to these packets (``time_s``: when each reaches the radio
        hop, ``downlink``: its direction). Raises ValueError for a NaN time."""
        return self._feed(ue, time_s, downlink, check_sorted=False)

    def counts(self) -> HandoverCounts:
        """Per handover of the schedule, the packets it held and those it lost, so far."""
        return HandoverCounts(self._held.copy(), self._lost.copy())

    def _feed(
        self, ue: IntArray, time_s: FloatArray, downlink: BoolArray, *, check_sorted: bool
    ) -> HandoverOutcome:
        ues = np.asarray(ue, dtype=np.int64)
        times = np.asarray(time_s, dtype=np.float64)
        down = np.asarray(downlink, dtype=np.bool_)
        if not (ues.ndim == times.ndim == down.ndim == 1 and ues.size == times.size == down.size):
            raise ValueError(
                f"ue, time_s and downlink must be 1-D of one length, got shapes "
                f"{ues.shape}, {times.shape}, {down.shape}"
            )
        if not check_sorted and np.isnan(times).any():  # refused before anything is counted
            raise ValueError("packet times must not be NaN")
        # X2 windows are the interruption; vertical ones run to the end of the breakage.
        release, lost, which, status = _handover_kernel(
            ues,
            times,
            down,
            check_sorted,
            self._first,
            self._stop,
            self._lo,
            self._seen_t,
            self.intervals.start_s,
            self.intervals.interruption_end_s,
            self.intervals.media_end_s,
            self._lose,
            self._delay,
            self._held,
            self._lost,
        )
        if status == _UNSORTED:
            raise ValueError("packets must be sorted by (ue, time_s), with no NaN time")
        return HandoverOutcome(release, lost, which, self.intervals)


def apply_handovers(
    ue: IntArray,
    time_s: FloatArray,
    downlink: BoolArray,
    schedule: HandoverSchedule,
    configs: HandoverConfigs,
) -> HandoverOutcome:
    """What ``schedule``'s handovers do to packets sorted by (ue, time_s).

    ``time_s`` is when each packet reaches the radio hop and ``downlink``
    its direction (False: uplink). Raises ValueError if the packets are not
    sorted by (ue, time_s) or a time is NaN. One feed of a ``HandoverRun``.
    """
    return HandoverRun(schedule, configs)._feed(ue, time_s, downlink, check_sorted=True)
