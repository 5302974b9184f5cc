"""Jitter buffers: when does each received packet play, which arrive too late, what is stretched.

Every buffer takes one flow's packets in sequence order (media time from the
RTP timestamp, receive time or NaN when lost) and returns a ``Playout``;
``playout_flows`` does the same for many flows laid end to end (``bounds``:
where each flow starts, then the total) and returns a ``FlowPlayouts`` with
per-flow summaries. Pure: no clock, times in seconds on the receiver's clock.

- ``FixedJitterBuffer``: one playout delay for the whole flow.
- ``AdaptiveJitterBuffer``: Ramjee, Kurose, Towsley, Schulzrinne, "Adaptive
  playout mechanisms for packetized audio applications in wide-area networks",
  IEEE INFOCOM 1994, algorithm 1; the delay changes only between talk spurts.
- ``NetEqJitterBuffer``: a frame-level model of WebRTC NetEq (a delay
  quantile target plus time stretching), see its docstring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum
from typing import NamedTuple, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from voipbed.models._jit import kernel

__all__ = [
    "AdaptiveJitterBuffer",
    "FixedJitterBuffer",
    "FlowPlayouts",
    "FlowSummary",
    "JitterBuffer",
    "NetEqJitterBuffer",
    "Playout",
    "PlayoutSummary",
    "StretchEvents",
    "StretchKind",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]
KindArray = NDArray[np.int8]

TIMING_TOLERANCE_S = 1e-9
"""Adaptive and NetEq-like: a packet arriving within 1 ns of its playout time is in time.

Media and receive times are float seconds; without it, rounding alone would
make a jitter-free packet late by 1e-17 s.
"""


class StretchKind(IntEnum):
    """What a time-stretch operation did to the playout (``StretchEvents.kind`` codes)."""

    ACCELERATE = 0  # audio removed: the buffer drains faster than real time
    PREEMPTIVE = 1  # audio inserted while a packet was there (preemptive expand)
    EXPAND = 2  # audio inserted because the next packet was not there (underrun)


@dataclass(frozen=True)
class StretchEvents:
    """Time-stretch operations, one row each: when (playout clock), what, how much audio."""

    time_s: FloatArray
    kind: KindArray
    amount_ms: FloatArray

    @staticmethod
    def none() -> StretchEvents:
        """No operation at all."""
        return StretchEvents(np.empty(0), np.empty(0, dtype=np.int8), np.empty(0))


class PlayoutSummary(NamedTuple):
    """One flow's figures; ``mean_buffer_delay_s`` is NaN when nothing played."""

    packets: int
    played: int
    late_discards: int
    mean_buffer_delay_s: float
    stretch_events: int
    accelerate_ms: float
    preemptive_ms: float
    expand_ms: float
    stretch_ratio: float


class FlowSummary(NamedTuple):
    """``PlayoutSummary``'s figures as arrays, one element per flow."""

    packets: IntArray
    played: IntArray
    late_discards: IntArray
    mean_buffer_delay_s: FloatArray
    stretch_events: IntArray
    accelerate_ms: FloatArray
    preemptive_ms: FloatArray
    expand_ms: FloatArray
    stretch_ratio: FloatArray


@dataclass(frozen=True)
class Playout:
    """Per packet: its scheduled playout time (NaN if never received) and whether it came late.

    ``buffer_delay_s`` is playout minus arrival for played packets, NaN for
    the others (all NaN when the Playout was built without it). ``stretch``
    lists time-stretch operations; ``audio_s``, the flow's audio (packets x
    frame), is the denominator of the stretch ratio.
    """

    playout_s: FloatArray
    late: BoolArray
    buffer_delay_s: FloatArray = field(default_factory=lambda: np.empty(0))
    stretch: StretchEvents = field(default_factory=StretchEvents.none)
    audio_s: float = 0.0

    def __post_init__(self) -> None:
        if self.late.shape != self.playout_s.shape:
            raise ValueError("playout_s and late must have one element per packet")
        if self.buffer_delay_s.size == 0 and self.playout_s.size:
            object.__setattr__(self, "buffer_delay_s", np.full(self.playout_s.shape, np.nan))
        if self.buffer_delay_s.shape != self.playout_s.shape:
            raise ValueError("buffer_delay_s must have one element per packet")

    @property
    def played(self) -> BoolArray:
        """Packets that reached the decoder in time."""
        return ~np.isnan(self.playout_s) & ~self.late

    def summary(self) -> PlayoutSummary:
        """Packets, played, late discards, mean buffer delay, and time stretching by kind."""
        flows = _summaries(
            self.played,
            self.late,
            self.buffer_delay_s,
            np.array([0, self.late.size]),
            self.stretch,
            np.array([0, self.stretch.kind.size]),
            np.array([self.audio_s]),
        )
        return PlayoutSummary(*(value[0].item() for value in flows))


@dataclass(frozen=True)
class FlowPlayouts:
    """Many flows' playouts end to end: per packet as in ``Playout``, per flow in ``summary``.

    Flow ``f`` owns packets ``bounds[f]:bounds[f + 1]`` and stretch events
    ``stretch_bounds[f]:stretch_bounds[f + 1]``.
    """

    bounds: IntArray
    playout_s: FloatArray
    late: BoolArray
    buffer_delay_s: FloatArray
    stretch: StretchEvents
    stretch_bounds: IntArray
    audio_s: FloatArray
    summary: FlowSummary

    @property
    def played(self) -> BoolArray:
        """Packets that reached the decoder in time."""
        return ~np.isnan(self.playout_s) & ~self.late

    def flow(self, index: int) -> Playout:
        """One flow's ``Playout``."""
        packets = slice(self.bounds[index], self.bounds[index + 1])
        events = slice(self.stretch_bounds[index], self.stretch_bounds[index + 1])
        stretch = StretchEvents(
            self.stretch.time_s[events], self.stretch.kind[events], self.stretch.amount_ms[events]
        )
        return Playout(
            self.playout_s[packets],
            self.late[packets],
            self.buffer_delay_s[packets],
            stretch,
            float(self.audio_s[index]),
        )


class JitterBuffer(Protocol):
    """What every jitter buffer here offers."""

    def playout(self, media_s: FloatArray, recv_s: FloatArray) -> Playout: ...

    def playout_flows(
        self, media_s: ArrayLike, recv_s: ArrayLike, bounds: ArrayLike
    ) -> FlowPlayouts: ...


@dataclass(frozen=True)
class FixedJitterBuffer:
    """A fixed playout delay, anchored on the first packet to arrive.

    The first packet to arrive plays ``delay_s`` after its arrival; every
    other packet plays at that anchor plus its media-time offset, so all
    packets of the flow have the same playout delay. A packet arriving after
    its playout time is discarded as late.
    """

    delay_s: float

    def __post_init__(self) -> None:
        if not self.delay_s >= 0:
            raise ValueError(f"delay_s must be >= 0, got {self.delay_s}")

    def playout(self, media_s: FloatArray, recv_s: FloatArray) -> Playout:
        """Schedule one flow: ``media_s`` is RTP time in seconds, ``recv_s`` NaN when lost."""
        received = ~np.isnan(recv_s)
        if not received.any():
            return Playout(np.full(recv_s.size, np.nan), np.zeros(recv_s.size, dtype=np.bool_))
        first = int(np.nanargmin(recv_s))
        schedule = recv_s[first] + self.delay_s + (media_s - media_s[first])
        playout_s = np.where(received, schedule, np.nan)
        late = received & (recv_s > schedule)
        return Playout(playout_s, late, np.where(late, np.nan, playout_s - recv_s))

    def playout_flows(
        self, media_s: ArrayLike, recv_s: ArrayLike, bounds: ArrayLike
    ) -> FlowPlayouts:
        """Schedule many flows at once (see the module docstring), as ``playout`` does each."""
        media, recv, edges = _flows_input(media_s, recv_s, bounds, increasing=False)
        playout_s, late = _fixed_kernel(media, recv, edges, float(self.delay_s))
        return _flow_playouts(
            edges, recv, playout_s, late, _no_events(edges), np.zeros(edges.size - 1)
        )


@dataclass(frozen=True)
class AdaptiveJitterBuffer:
    """Ramjee et al. (INFOCOM 1994) algorithm 1: playout delay set at each talk spurt.

    Per received packet i (sequence order), with n_i = recv - media (the
    network delay plus the unknown sender/receiver clock offset, which a
    receiver cannot remove and need not: it cancels in the playout time)::

        d = alpha d + (1 - alpha) n_i
        v = alpha v + (1 - alpha) |d - n_i|

    At the first received packet of a talk spurt (after updating with it) the
    spurt's playout delay becomes D = d + beta v; every packet j of the spurt
    plays at media_j + D and is late if it arrives after that. The first
    received packet of the flow starts d = n, v = ``initial_variation_s``
    (the paper gives no start values).

    Talk spurts: a new spurt starts where the RTP timestamp jumps by more
    than 1.5 frames (DTX silence), and, for continuous flows, once a spurt
    has lasted ``max_spurt_s`` of media time. D may fall by at most the media
    step into the spurt (the silence plus one frame), so playout stays in
    order: in a continuous flow a decrease cuts at most the last frame of the
    previous spurt short.
    """

    alpha: float = 0.998002
    """Ramjee et al. 1994, the value used for algorithms 1 and 2 (the paper's choice)."""
    beta: float = 4.0
    """Safety factor on the variation estimate, Ramjee et al. 1994 (p = t + d + 4 v)."""
    frame_s: float = 0.020
    """Media per packet (the ptime; RFC 3551 clause 4.5's 20 ms default)."""
    max_spurt_s: float | None = 1.0
    """Longest spurt before the delay is revisited; about ITU-T P.59's mean talk spurt (1 s).

    None: only silence gaps in the RTP timestamps are spurt boundaries.
    """
    initial_variation_s: float = 0.0
    """v at the first received packet (an assumption: the paper gives no start value)."""

    def __post_init__(self) -> None:
        if not 0 <= self.alpha < 1:
            raise ValueError(f"alpha must be in [0, 1), got {self.alpha}")
        _require_non_negative(beta=self.beta, initial_variation_s=self.initial_variation_s)
        _require_positive(frame_s=self.frame_s)
        if self.max_spurt_s is not None:
            _require_positive(max_spurt_s=self.max_spurt_s)

    def playout(self, media_s: FloatArray, recv_s: FloatArray) -> Playout:
        """Schedule one flow: ``media_s`` is RTP time in seconds, ``recv_s`` NaN when lost."""
        return self.playout_flows(media_s, recv_s, [0, np.size(media_s)]).flow(0)

    def playout_flows(
        self, media_s: ArrayLike, recv_s: ArrayLike, bounds: ArrayLike
    ) -> FlowPlayouts:
        """Schedule many flows at once (see the module docstring)."""
        media, recv, edges = _flows_input(media_s, recv_s, bounds, increasing=True)
        max_spurt_s = math.inf if self.max_spurt_s is None else float(self.max_spurt_s)
        playout_s, late = _adaptive_kernel(
            media,
            recv,
            edges,
            float(self.alpha),
            float(self.beta),
            1.5 * float(self.frame_s),
            max_spurt_s,
            float(self.initial_variation_s),
        )
        return _flow_playouts(
            edges, recv, playout_s, late, _no_events(edges), np.zeros(edges.size - 1)
        )


@dataclass(frozen=True)
class NetEqJitterBuffer:
    """A frame-level model of WebRTC NetEq's playout: a quantile delay target and time stretching.

    Source: WebRTC ``modules/audio_coding/neteq`` (``delay_manager``,
    ``underrun_optimizer``, ``histogram``, ``packet_arrival_history``,
    ``decision_logic``) and its ``g3doc/index.md``, as in the 2022-2023
    trees (the arrival-history design); described here in our own words.

    Delay estimate (on each arrival, in arrival order): the relative delay of
    a packet is its recv - media minus the smallest recv - media among the
    packets whose media time is within ``history_s`` of the newest (the
    fastest recent packet defines zero). Every ``resample_s`` the largest
    relative delay seen in that interval goes into a histogram of
    ``bucket_s`` buckets, which forgets with ``forget_factor`` (ramping up
    from 0 as 1 - ``start_forget_weight`` / (updates + 1)); the target is the
    upper edge of the bucket holding the ``quantile``.

    Playout, one decision per frame at its playout time t:

    - its packet is there: play it. Then, at most once per
      ``min_stretch_interval_s`` and not right after an underrun, compare the
      buffer level, t - media - (smallest recent recv - media) (how long the
      fastest recent packet waits), with the thresholds of NetEq's
      stable-playout-delay mode (field trial ``enable_stable_playout_delay``;
      by default NetEq filters the packet buffer's span instead): at or
      above max(target, largest recent relative delay) + ``adjustment_s``
      accelerate (remove audio), below max(3/4 target, target -
      ``deceleration_offset_s``) preemptively expand (insert audio), by at
      most ``stretch_step_s`` and at most the gap to the next frame, to move
      the level towards the target;
    - it is not there and it will be the next packet to arrive: expand
      (conceal) until it arrives and play it then: the delay grows by the
      wait;
    - a later packet arrives first: conceal the frame on the original
      timeline (a loss, not a stretch); the packet, if it comes, is late.

    Simplifications: no 10 ms output tick (stalls are exact, not rounded up
    to ticks); time stretching succeeds whenever asked (NetEq's needs a
    periodic, voiced signal and removes a pitch period, up to 15 ms) and fast
    accelerate is not modelled; no reorder optimizer, comfort noise, DTMF,
    minimum/maximum delay settings or buffer flush; floats instead of Q30
    fixed point. Playout starts at the first packet to arrive,
    ``start_delay_s`` after its arrival; earlier packets in sequence are late
    (NetEq discards what is older than its playout position). NetEq starts
    with an 80 ms target and stretches towards the estimate; here the start
    delay is also the target until the first histogram update, and defaults
    to the 20 ms that a jitter-free flow's estimate gives, so a jitter-free
    flow is never stretched.
    """

    frame_s: float = 0.020
    """Media per packet (the ptime; RFC 3551 clause 4.5's 20 ms default)."""
    quantile: float = 0.95
    """Target quantile of the relative delay (DelayManager::Config quantile = 0.95)."""
    forget_factor: float = 0.983
    """Histogram forgetting factor per update (DelayManager::Config forget_factor = 0.983)."""
    start_forget_weight: float = 2.0
    """Forgetting ramp after a start (DelayManager::Config start_forget_weight = 2)."""
    resample_s: float = 0.5
    """Histogram update period (DelayManager::Config resample_interval_ms = 500)."""
    bucket_s: float = 0.020
    """Histogram bucket width (UnderrunOptimizer kBucketSizeMs = 20)."""
    buckets: int = 100
    """Histogram buckets, so delays up to 2 s (UnderrunOptimizer kDelayBuckets = 100)."""
    history_s: float = 2.0
    """Window of the arrival history (DecisionLogic::Config packet_history_size_ms = 2000)."""
    adjustment_s: float = 0.020
    """Margin of the accelerate threshold (DecisionLogic kDelayAdjustmentGranularityMs = 20)."""
    deceleration_offset_s: float = 0.085
    """Preemptive-expand threshold offset (deceleration_target_level_offset_ms = 85)."""
    stretch_step_s: float = 0.015
    """Most audio one operation removes or inserts (NetEq's 15 ms adjustment granularity)."""
    min_stretch_interval_s: float = 0.060
    """Shortest time between operations (kMinTimescaleInterval = 5 ticks of 10 ms, + 1)."""
    start_delay_s: float = 0.020
    """Playout delay of the first packet to arrive, and the target until the first update."""

    def __post_init__(self) -> None:
        if not 0 < self.quantile < 1:
            raise ValueError(f"quantile must be in (0, 1), got {self.quantile}")
        if not 0 <= self.forget_factor < 1:
            raise ValueError(f"forget_factor must be in [0, 1), got {self.forget_factor}")
        if self.buckets < 1:
            raise ValueError(f"buckets must be >= 1, got {self.buckets}")
        _require_positive(
            frame_s=self.frame_s,
            resample_s=self.resample_s,
            bucket_s=self.bucket_s,
            history_s=self.history_s,
        )
        _require_non_negative(
            start_forget_weight=self.start_forget_weight,
            adjustment_s=self.adjustment_s,
            deceleration_offset_s=self.deceleration_offset_s,
            stretch_step_s=self.stretch_step_s,
            min_stretch_interval_s=self.min_stretch_interval_s,
            start_delay_s=self.start_delay_s,
        )

    def playout(self, media_s: FloatArray, recv_s: FloatArray) -> Playout:
        """Schedule one flow: ``media_s`` is RTP time in seconds, ``recv_s`` NaN when lost."""
        return self.playout_flows(media_s, recv_s, [0, np.size(media_s)]).flow(0)

    def playout_flows(
        self, media_s: ArrayLike, recv_s: ArrayLike, bounds: ArrayLike
    ) -> FlowPlayouts:
        """Schedule many flows at once (see the module docstring)."""
        media, recv, edges = _flows_input(media_s, recv_s, bounds, increasing=True)
        playout_s, late, time_s, kind, amount_ms, counts = _neteq_kernel(
            media,
            recv,
            edges,
            float(self.frame_s),
            float(self.quantile),
            float(self.forget_factor),
            float(self.start_forget_weight),
            float(self.resample_s),
            float(self.bucket_s),
            int(self.buckets),
            float(self.history_s),
            float(self.adjustment_s),
            float(self.deceleration_offset_s),
            float(self.stretch_step_s),
            float(self.min_stretch_interval_s),
            float(self.start_delay_s),
        )
        events = StretchEvents(time_s, kind, amount_ms)
        audio_s = np.diff(edges) * float(self.frame_s)
        return _flow_playouts(edges, recv, playout_s, late, (events, counts), audio_s)


def _require_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value}")


def _require_non_negative(**values: float) -> None:
    for name, value in values.items():
        if not value >= 0:
            raise ValueError(f"{name} must be >= 0, got {value}")


def _flows_input(
    media_s: ArrayLike, recv_s: ArrayLike, bounds: ArrayLike, *, increasing: bool
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Contiguous float64 media and receive times and int64 flow bounds, checked."""
    media = np.ascontiguousarray(media_s, dtype=np.float64)
    recv = np.ascontiguousarray(recv_s, dtype=np.float64)
    edges = np.ascontiguousarray(bounds, dtype=np.int64)
    if media.ndim != 1 or media.shape != recv.shape:
        raise ValueError("media_s and recv_s must be 1-D with one element per packet")
    if edges.ndim != 1 or edges.size < 2 or edges[0] != 0 or edges[-1] != media.size:
        raise ValueError("bounds must run from 0 to the number of packets")
    if np.any(np.diff(edges) < 0):
        raise ValueError("bounds must be non-decreasing")
    if not np.all(np.isfinite(media)) or np.any(np.isinf(recv)):
        raise ValueError("media_s must be finite and recv_s finite or NaN")
    if increasing and media.size > 1:
        step_ok = np.diff(media) > 0
        inner = edges[(edges > 0) & (edges < media.size)]
        step_ok[inner - 1] = True  # across flows anything goes
        if not step_ok.all():
            raise ValueError("media_s must increase within each flow (one frame per packet)")
    return media, recv, edges


def _no_events(edges: IntArray) -> tuple[StretchEvents, IntArray]:
    return StretchEvents.none(), np.zeros(edges.size - 1, dtype=np.int64)


def _flow_playouts(
    edges: IntArray,
    recv: FloatArray,
    playout_s: FloatArray,
    late: BoolArray,
    events: tuple[StretchEvents, IntArray],
    audio_s: FloatArray,
) -> FlowPlayouts:
    stretch, counts = events
    stretch_bounds = np.concatenate(([0], np.cumsum(counts)))
    played = ~np.isnan(playout_s) & ~late
    buffer_delay_s = np.where(played, playout_s - recv, np.nan)
    summary = _summaries(played, late, buffer_delay_s, edges, stretch, stretch_bounds, audio_s)
    return FlowPlayouts(
        edges, playout_s, late, buffer_delay_s, stretch, stretch_bounds, audio_s, summary
    )


def _summaries(
    played: BoolArray,
    late: BoolArray,
    buffer_delay_s: FloatArray,
    edges: IntArray,
    stretch: StretchEvents,
    stretch_bounds: IntArray,
    audio_s: FloatArray,
) -> FlowSummary:
    counts, delays, amounts = _summary_kernel(
        played, late, buffer_delay_s, edges, stretch.kind, stretch.amount_ms, stretch_bounds
    )
    n_played = counts[:, 1]
    mean_delay = np.full(n_played.size, np.nan)
    np.divide(delays, n_played, out=mean_delay, where=n_played > 0)
    stretched_s = amounts.sum(axis=1) / 1000.0
    ratio = np.zeros(n_played.size)
    np.divide(stretched_s, audio_s, out=ratio, where=audio_s > 0)
    return FlowSummary(
        counts[:, 0],
        n_played,
        counts[:, 2],
        mean_delay,
        counts[:, 3],
        amounts[:, StretchKind.ACCELERATE],
        amounts[:, StretchKind.PREEMPTIVE],
        amounts[:, StretchKind.EXPAND],
        ratio,
    )


@kernel
def _summary_kernel(
    played: BoolArray,
    late: BoolArray,
    buffer_delay_s: FloatArray,
    edges: IntArray,
    kind: KindArray,
    amount_ms: FloatArray,
    stretch_bounds: IntArray,
) -> tuple[NDArray[np.int64], FloatArray, FloatArray]:
    """Per flow: packets, played, late, events; summed buffer delay; stretched ms by kind."""
    flows = edges.size - 1
    counts = np.zeros((flows, 4), dtype=np.int64)
    delays = np.zeros(flows)
    amounts = np.zeros((flows, 3))
    for f in range(flows):
        counts[f, 0] = edges[f + 1] - edges[f]
        for i in range(edges[f], edges[f + 1]):
            if played[i]:
                counts[f, 1] += 1
                delays[f] += buffer_delay_s[i]
            elif late[i]:
                counts[f, 2] += 1
        counts[f, 3] = stretch_bounds[f + 1] - stretch_bounds[f]
        for e in range(stretch_bounds[f], stretch_bounds[f + 1]):
            amounts[f, kind[e]] += amount_ms[e]
    return counts, delays, amounts


@kernel
def _fixed_kernel(
    media: FloatArray, recv: FloatArray, edges: IntArray, delay_s: float
) -> tuple[FloatArray, BoolArray]:
    """``FixedJitterBuffer.playout`` per flow, same arithmetic."""
    playout_s = np.full(media.size, np.nan)
    late = np.zeros(media.size, dtype=np.bool_)
    for f in range(edges.size - 1):
        first = -1
        earliest = np.inf
        for i in range(edges[f], edges[f + 1]):
            if recv[i] < earliest:  # NaN never is
                earliest = recv[i]
                first = i
        if first < 0:
            continue
        for i in range(edges[f], edges[f + 1]):
            if not np.isnan(recv[i]):
                playout_s[i] = recv[first] + delay_s + (media[i] - media[first])
                late[i] = recv[i] > playout_s[i]
    return playout_s, late


@kernel
def _adaptive_kernel(
    media: FloatArray,
    recv: FloatArray,
    edges: IntArray,
    alpha: float,
    beta: float,
    silence_gap_s: float,
    max_spurt_s: float,
    initial_variation_s: float,
) -> tuple[FloatArray, BoolArray]:
    """``AdaptiveJitterBuffer`` per flow, one pass in sequence order."""
    playout_s = np.full(media.size, np.nan)
    late = np.zeros(media.size, dtype=np.bool_)
    for f in range(edges.size - 1):
        started = False
        d = 0.0
        v = 0.0
        delay = np.nan  # the current spurt's playout delay D
        spurt = edges[f]
        pending = True  # the current spurt's delay is still to be set
        for i in range(edges[f], edges[f + 1]):
            if i > spurt and (
                media[i] - media[i - 1] > silence_gap_s
                or media[i] - media[spurt] >= max_spurt_s - TIMING_TOLERANCE_S
            ):
                spurt = i
                pending = True
            if np.isnan(recv[i]):
                continue
            n = recv[i] - media[i]
            if started:
                d = alpha * d + (1.0 - alpha) * n
                v = alpha * v + (1.0 - alpha) * abs(d - n)
            else:
                d, v, started = n, initial_variation_s, True
            if pending:
                wanted = d + beta * v
                if not np.isnan(delay):  # keep playout in order across the boundary
                    wanted = max(wanted, delay - (media[spurt] - media[spurt - 1]))
                delay = wanted
                pending = False
            playout_s[i] = media[i] + delay
            late[i] = recv[i] > playout_s[i] + TIMING_TOLERANCE_S
    return playout_s, late


@kernel
def _neteq_kernel(
    media: FloatArray,
    recv: FloatArray,
    edges: IntArray,
    frame_s: float,
    quantile: float,
    forget_factor: float,
    start_forget_weight: float,
    resample_s: float,
    bucket_s: float,
    buckets: int,
    history_s: float,
    adjustment_s: float,
    deceleration_offset_s: float,
    stretch_step_s: float,
    min_stretch_interval_s: float,
    start_delay_s: float,
) -> tuple[FloatArray, BoolArray, FloatArray, KindArray, FloatArray, IntArray]:
    """``NetEqJitterBuffer`` per flow: arrivals (arrival order) merged with frame decisions."""
    playout_s = np.full(media.size, np.nan)
    late = np.zeros(media.size, dtype=np.bool_)
    ev_time = np.empty(media.size)
    ev_kind = np.empty(media.size, dtype=np.int8)
    ev_amount = np.empty(media.size)
    counts = np.zeros(edges.size - 1, dtype=np.int64)
    events = 0
    hist = np.zeros(buckets)
    for f in range(edges.size - 1):
        lo_i, hi_i = edges[f], edges[f + 1]
        n = hi_i - lo_i
        arrival = recv[lo_i:hi_i].copy()
        arrival[np.isnan(arrival)] = np.inf
        order = np.argsort(arrival, kind="mergesort")
        received = 0
        while received < n and arrival[order[received]] < np.inf:
            received += 1
        if received == 0:
            continue
        later = np.empty(n + 1)  # later[k]: first arrival among packets k..n-1
        later[n] = np.inf
        for k in range(n - 1, -1, -1):
            later[k] = min(arrival[k], later[k + 1])
        transit = np.empty(received)
        lows = np.empty(received, dtype=np.int64)  # monotone deques of arrival ranks
        highs = np.empty(received, dtype=np.int64)
        low_head = low_tail = high_head = high_tail = 0
        oldest = 0  # arrival rank of the oldest packet in the history
        newest_media = -np.inf
        ranked = 0  # arrivals processed so far
        for b in range(buckets):  # Histogram::Reset: 1/2, 1/4, ... (the first update forgets it)
            hist[b] = 0.5 ** (b + 1)
        forget = 0.0
        updates = 0
        watch_start = np.nan
        interval_max = 0.0
        target = start_delay_s
        first = order[0]
        t = arrival[first] + start_delay_s
        last_stretch = t
        after_expand = False
        for k in range(first):  # older than the playout position: discarded when they come
            if arrival[k] < np.inf:
                playout_s[lo_i + k] = t - (media[lo_i + first] - media[lo_i + k])
                late[lo_i + k] = True
        k = first
        while k < n:
            while ranked < received and arrival[order[ranked]] <= t + TIMING_TOLERANCE_S:
                j = order[ranked]
                transit[ranked] = arrival[j] - media[lo_i + j]
                newest_media = max(newest_media, media[lo_i + j])
                while low_tail > low_head and transit[lows[low_tail - 1]] >= transit[ranked]:
                    low_tail -= 1
                lows[low_tail] = ranked
                low_tail += 1
                while high_tail > high_head and transit[highs[high_tail - 1]] <= transit[ranked]:
                    high_tail -= 1
                highs[high_tail] = ranked
                high_tail += 1
                while media[lo_i + order[oldest]] + history_s < newest_media:
                    if lows[low_head] == oldest:
                        low_head += 1
                    if highs[high_head] == oldest:
                        high_head += 1
                    oldest += 1
                if ranked - oldest >= 1:  # two packets in the history: a relative delay
                    relative = max(transit[ranked] - transit[lows[low_head]], 0.0)
                    if np.isnan(watch_start):
                        watch_start = arrival[j]
                    elif arrival[j] - watch_start > resample_s:
                        bucket = int(interval_max / bucket_s)
                        if bucket < buckets:
                            hist *= forget
                            hist[bucket] += 1.0 - forget
                            updates += 1
                            if forget != forget_factor:
                                ramp = 1.0 - start_forget_weight / (updates + 1)
                                forget = max(0.0, min(forget_factor, ramp))
                        index = 0
                        tail = 1.0 - hist[0]
                        while tail > 1.0 - quantile and index < buckets - 1:
                            index += 1
                            tail -= hist[index]
                        target = (index + 1) * bucket_s
                        watch_start = arrival[j]
                        interval_max = 0.0
                    interval_max = max(interval_max, relative)
                ranked += 1
            step = media[lo_i + k + 1] - media[lo_i + k] if k + 1 < n else frame_s
            if arrival[k] <= t + TIMING_TOLERANCE_S:  # its packet is there: play it
                playout_s[lo_i + k] = t
                amount = 0.0
                if not after_expand and t - last_stretch >= min_stretch_interval_s - 1e-12:
                    fastest = transit[lows[low_head]]
                    level = t - media[lo_i + k] - fastest
                    high = max(target, transit[highs[high_head]] - fastest) + adjustment_s
                    low = max(0.75 * target, target - deceleration_offset_s)
                    if level >= high:
                        amount = -min(stretch_step_s, level - target, step)
                        ev_kind[events] = StretchKind.ACCELERATE
                    elif level < low:
                        amount = min(stretch_step_s, target - level)
                        ev_kind[events] = StretchKind.PREEMPTIVE
                if amount != 0.0:
                    ev_time[events] = t
                    ev_amount[events] = abs(amount) * 1000.0
                    events += 1
                    counts[f] += 1
                    last_stretch = t
                t += step + amount
                after_expand = False
                k += 1
            elif arrival[k] <= later[k + 1]:  # it comes next: expand until it arrives
                if arrival[k] == np.inf:
                    break  # nothing more arrives
                ev_time[events] = t
                ev_kind[events] = StretchKind.EXPAND
                ev_amount[events] = (arrival[k] - t) * 1000.0
                events += 1
                counts[f] += 1
                t = arrival[k]
                after_expand = True
            else:  # a later packet comes first: conceal this frame
                if arrival[k] < np.inf:
                    playout_s[lo_i + k] = t
                    late[lo_i + k] = True
                t += step
                after_expand = True
                k += 1
    return playout_s, late, ev_time[:events], ev_kind[:events], ev_amount[:events], counts
