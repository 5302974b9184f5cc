"""Which operating point an adaptive sender uses as its target rate moves, and the call's Ie.

Role: :class:`RateFollower` turns successive target rates (from
:mod:`models.gcc`) into the operating point of a :class:`CodecFamily` the
sender uses; :func:`follow` runs it over a call and returns the step
function; :func:`effective_ie` combines the Ie of the modes used into one Ie
for the call. Pure: times are passed in.

The target includes the packet overhead. GCC's estimate is of the rate the
path carries, so each point is compared at its rate on the wire
(:func:`point_wire_bps`): its own payload for the configured ptime
(:func:`models.codec_modes.point_payload_bytes`, from the point's rate, not
its rating entry's, in the configured AMR payload format) with the configured
headers (RTP/UDP/IP, SRTP) and RTCP share, voice active, as
:func:`models.overhead.bandwidth_bps` counts a codec. The follower chooses
the highest point whose wire rate is not above the target; below the
family's lowest point it stays at that point and reports ``below_min``.

Reaction. Down-switches are immediate by default; ``step_down=ONE_STEP``
moves one point per change instead, as an AMR sender under
``mode-change-neighbor=1`` must (RFC 4867 clause 8.1: changes only to a
neighbouring mode of the mode set), the sender then being above the target
until it has stepped down. Up-switches wait until the target has allowed a
higher point for ``hold_up_s`` without interruption, then move one point (or
all the way with ``step_up=JUMP``); the hold starts again after each step.
``min_change_interval_s`` spaces changes: RFC 4867 clause 8.1
``mode-change-period=2`` allows a change every second frame (40 ms). A CMR
(RFC 4867 clause 4.3.1; TS 26.114 clause 10.2) requests one mode per
request; the follower's ``update`` is one such request.

Ie over time. The call's Ie is the time-weighted mean of the Ie of the
intervals, on one E-model scale: Ie = sum(d_i Ie_i) / sum(d_i). The E-model
is additive on the R scale (G.107 clause 7.1, G.107.1 eq. 7-1), so with the
other terms fixed this is the mean of R over the intervals, the R-domain
(not MOS-domain) integration of a time-varying condition. It gives no weight
to recency and no penalty for the switches themselves. A subjective test of
switches between AMR and SILK modes within talk spurts (S. Voran and A.
Catellier, NTIA; known here from its abstract only) found a quality increase
worth having only in the first 2.8 s of a talk spurt (1.8 s when the
bandwidth also rises), so for calls that switch up this mean is optimistic.

Mixed bandwidth classes are put on the scale of the widest class present:
narrowband to wideband Ie,WB = Ie + (129 - 93.2) = Ie + 35.8, the narrowband
connection keeping its R on the extended scale (G.107.1 eq. 7-2: Ro,WB =
129; G.107's default R = 93.2; G.711 thus at Ie,WB 35.8; an assumption not
checked against a G.113 Appendix IV row for a narrowband codec); wideband to the G.107.2 scale
+ 19 (G.113 Appendix V, the step :mod:`models.codecs` uses).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from voipbed.models.codec_modes import CodecFamily, OperatingPoint, point_payload_bytes
from voipbed.models.codecs import CODECS, AmrPayloadFormat, Bandwidth
from voipbed.models.overhead import Overhead, wire_bytes_per_packet

__all__ = [
    "EffectiveIe",
    "FollowerConfig",
    "IeInterval",
    "ModeStep",
    "RateFollower",
    "Step",
    "effective_ie",
    "follow",
    "ie_on_scale",
    "intervals_from_steps",
    "point_wire_bps",
]

_NB_TO_WB = 129.0 - 93.2  # G.107.1 Ro,WB minus G.107's default R
_TIME_EPS_S = 1e-9  # float slack when comparing elapsed times
_WB_TO_FB = 19.0  # G.113 Appendix V: Ie,FB = Ie,WB + 19
_SCALE_RANK = {
    Bandwidth.NARROW: 0,
    Bandwidth.WIDE: 1,
    Bandwidth.SUPER_WIDE: 2,  # rated on the G.107.2 scale, as FULL
    Bandwidth.FULL: 2,
}


class Step(StrEnum):
    """How far one change moves."""

    JUMP = "jump"  # straight to the point the target allows
    ONE_STEP = "one-step"  # to the neighbouring point (RFC 4867 mode-change-neighbor=1)


@dataclass(frozen=True)
class FollowerConfig:
    """Tunables of :class:`RateFollower`.

    ``hold_up_s`` (1 s) is a modelling choice, not a standard's value: no
    3GPP or IETF text fixes how long a receiver waits before a CMR asks for a
    higher mode. ``ptime_s`` 20 ms is TS 26.114's default packetization
    (one frame per packet). ``overhead`` is plain RTP/UDP/IPv4 with the 5 %
    RTCP share of RFC 3550 clause 6.2. ``amr_format`` is the RFC 4867 payload
    format AMR and AMR-WB points are sized in (bandwidth-efficient, clause
    4.3, unless SDP says ``octet-align=1``, clause 8.1).
    """

    hold_up_s: float = 1.0
    step_up: Step = Step.ONE_STEP
    step_down: Step = Step.JUMP
    min_change_interval_s: float = 0.0
    ptime_s: float = 0.020
    overhead: Overhead = field(default_factory=Overhead)
    amr_format: AmrPayloadFormat = AmrPayloadFormat.BANDWIDTH_EFFICIENT

    def __post_init__(self) -> None:
        if self.hold_up_s < 0 or self.min_change_interval_s < 0:
            raise ValueError("hold_up_s and min_change_interval_s must be >= 0")
        if self.ptime_s <= 0:
            raise ValueError(f"ptime_s must be > 0, got {self.ptime_s}")


class ModeStep(NamedTuple):
    """The sender uses ``point`` from ``time_s`` on (until the next step)."""

    time_s: float
    point: OperatingPoint
    wire_bps: float  # the point's rate on the wire
    target_bps: float  # the target when the step was taken
    below_min: bool  # the target is below the family's lowest point


def point_wire_bps(
    point: OperatingPoint,
    ptime_s: float,
    overhead: Overhead,
    amr_format: AmrPayloadFormat = AmrPayloadFormat.BANDWIDTH_EFFICIENT,
) -> float:
    """The rate ``point`` costs on the wire, voice active: its packets of ``ptime_s`` (AMR
    and AMR-WB in ``amr_format``) with ``overhead``'s headers, plus the RTCP share."""
    payload = point_payload_bytes(point, ptime_s, amr_format)
    wire_bytes = wire_bytes_per_packet(payload, overhead)
    return 8.0 * wire_bytes / ptime_s * (1.0 + overhead.rtcp_share)


class RateFollower:
    """Chooses the operating point of one sender from the target rates it is given."""

    def __init__(self, family: CodecFamily, config: FollowerConfig | None = None) -> None:
        self.family = family
        self.config = config or FollowerConfig()
        self._wire = tuple(self.wire_bps(p) for p in family.points)
        self._index: int | None = None
        self._last_change_s = float("-inf")
        self._up_since_s: float | None = None
        self._last_s = float("-inf")

    def wire_bps(self, point: OperatingPoint) -> float:
        """The rate ``point`` costs on the wire with the configured ptime, overhead and AMR
        payload format."""
        config = self.config
        return point_wire_bps(point, config.ptime_s, config.overhead, config.amr_format)

    def affordable(self, target_bps: float) -> int:
        """Index of the highest point whose wire rate is not above ``target_bps`` (0 if none)."""
        fits = [i for i, w in enumerate(self._wire) if w <= target_bps]
        return fits[-1] if fits else 0

    def update(self, now_s: float, target_bps: float) -> ModeStep:
        """The point in use from ``now_s``, given the target rate at ``now_s``."""
        if now_s < self._last_s:
            raise ValueError(f"time went backwards: {now_s} after {self._last_s}")
        if target_bps < 0:
            raise ValueError(f"target_bps must be >= 0, got {target_bps}")
        self._last_s = now_s
        goal = self.affordable(target_bps)
        if self._index is None:
            self._move(now_s, goal)
        elif goal > self._index:
            self._maybe_up(now_s, goal)
        else:
            self._up_since_s = None
            if goal < self._index and self._may_change(now_s):
                down = goal if self.config.step_down is Step.JUMP else self._index - 1
                self._move(now_s, down)
        index = self._current()
        return ModeStep(
            now_s,
            self.family.points[index],
            self._wire[index],
            target_bps,
            below_min=self._wire[0] > target_bps,
        )

    def _current(self) -> int:
        if self._index is None:
            raise RuntimeError("no point chosen yet")
        return self._index

    def _may_change(self, now_s: float) -> bool:
        return now_s - self._last_change_s + _TIME_EPS_S >= self.config.min_change_interval_s

    def _maybe_up(self, now_s: float, goal: int) -> None:
        if self._up_since_s is None:
            self._up_since_s = now_s
        if now_s - self._up_since_s + _TIME_EPS_S >= self.config.hold_up_s and self._may_change(
            now_s
        ):
            up = goal if self.config.step_up is Step.JUMP else self._current() + 1
            self._move(now_s, up)
            self._up_since_s = now_s  # the next step up waits a full hold again

    def _move(self, now_s: float, index: int) -> None:
        if index != self._index:
            self._index = index
            self._last_change_s = now_s


def follow(
    family: CodecFamily,
    times_s: Sequence[float],
    targets_bps: Sequence[float],
    config: FollowerConfig | None = None,
) -> tuple[ModeStep, ...]:
    """The step function of a call: the first point, then one entry per change of point."""
    if len(times_s) != len(targets_bps):
        raise ValueError("times_s and targets_bps must have the same length")
    follower = RateFollower(family, config)
    steps: list[ModeStep] = []
    for now_s, target in zip(times_s, targets_bps, strict=True):
        step = follower.update(now_s, target)
        if not steps or step.point != steps[-1].point:
            steps.append(step)
    return tuple(steps)


class IeInterval(NamedTuple):
    """A span of a call coded at one Ie, on the scale of ``bandwidth``."""

    duration_s: float
    ie: float
    bandwidth: Bandwidth


class EffectiveIe(NamedTuple):
    """A call's Ie and the class whose E-model scale it is on."""

    ie: float
    bandwidth: Bandwidth


def ie_on_scale(ie: float, source: Bandwidth, scale: Bandwidth) -> float:
    """``ie`` of a codec of class ``source`` on the E-model scale of class ``scale`` or wider."""
    low, high = _SCALE_RANK[source], _SCALE_RANK[scale]
    if low > high:
        raise ValueError(f"cannot rate a {source.value} codec on the {scale.emodel} scale")
    steps = (_NB_TO_WB, _WB_TO_FB)
    return ie + sum(steps[low:high])


def effective_ie(intervals: Iterable[IeInterval]) -> EffectiveIe:
    """The time-weighted mean Ie of ``intervals``, on the scale of the widest class among them."""
    spans = [i for i in intervals]
    if any(i.duration_s < 0 for i in spans):
        raise ValueError("interval durations must be >= 0")
    total_s = sum(i.duration_s for i in spans)
    if total_s <= 0:
        raise ValueError("effective_ie needs intervals of positive total duration")
    widest = max((i.bandwidth for i in spans), key=_SCALE_RANK.__getitem__)
    weighted = sum(i.duration_s * ie_on_scale(i.ie, i.bandwidth, widest) for i in spans)
    return EffectiveIe(weighted / total_s, widest)


def intervals_from_steps(steps: Sequence[ModeStep], end_s: float) -> tuple[IeInterval, ...]:
    """The Ie intervals of a step function from :func:`follow`, the call ending at ``end_s``."""
    if steps and end_s < steps[-1].time_s:
        raise ValueError(f"end_s {end_s} is before the last step at {steps[-1].time_s}")
    ends = [s.time_s for s in steps[1:]] + [end_s]
    return tuple(
        IeInterval(stop - s.time_s, CODECS[s.point.codec].ie, s.point.bandwidth)
        for s, stop in zip(steps, ends, strict=True)
    )
