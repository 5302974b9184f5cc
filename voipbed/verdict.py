"""One plain sentence saying what limits a run's quality: direction, place and cause.

Pure: from per-direction figures (built from the metrics by
``voipbed.scoring``) to a :class:`Verdict`. The rules:

1. No packet sent in any direction: nothing to rate ("no_media").
2. The direction whose flows have the lowest mean MOS is the one described
   (ties: the larger total impairment, then uplink first).
3. In that direction, three E-model impairments compete, each in R points
   averaged over its flows: loss (Ie,eff - Ie, ITU-T G.107 eq. 7-29, or
   G.107.1 eq. 7-15), delay (Idd, G.107 eq. 7-27) and the codec itself (Ie).
   The largest is the cause. If it is below ``NOTABLE_R`` the verdict says
   nothing limits quality much ("none").
4. For loss, the packets not played are split into late discards at the
   jitter buffer and network losses by reason (handover, channel, HARQ,
   queue, AQM, no reason recorded); the largest share names the cause, and
   for a network reason, the segment that lost most of them names the place.
   For late discards and delay, a segment whose queue (or AQM) dropped
   packets is named as where queueing builds (a queue that drops was full).
5. Another direction within ``CLOSE_MOS`` of the worst, limited by the same
   cause at the same place, is named with it ("in both directions"), its
   figure in parentheses; the codec is the same both ways and names no
   direction.
6. A runner-up impairment costing at least ``RUNNER_UP_SHARE`` of the
   largest (and at least ``NOTABLE_R``) is named in a second clause.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "CLOSE_MOS",
    "NOTABLE_R",
    "RUNNER_UP_SHARE",
    "DirectionFigures",
    "Verdict",
    "limiting_factor",
]

NOTABLE_R = 5.0
"""An impairment under 5 R points moves MOS by about 0.2 or less near R 80-90 (G.107 Annex B):
below it, nothing is said to limit quality."""
RUNNER_UP_SHARE = 0.5
"""A second impairment costing at least half the first is named too."""
CLOSE_MOS = 0.1
"""Directions whose mean MOS differ by at most this, for the same cause, are named together."""

LATE = "late"
"""The loss reason of packets that arrived after their playout time."""
UNKNOWN = "unattributed"
"""The loss reason of network losses without a recorded drop reason."""

_REASON_TEXT = {
    "handover": "lost during handovers",
    "channel": "lost on the channel",
    "harq": "lost after HARQ ran out of retransmissions",
    "queue": "dropped by a full queue",
    "aqm": "dropped by the AQM",
    UNKNOWN: "lost in the network (no reason recorded)",
}
_CAUSE_NAME = {
    "handover": "handover losses",
    "channel": "channel losses",
    "harq": "HARQ losses",
    "queue": "queue drops",
    "aqm": "AQM drops",
    UNKNOWN: "network losses",
}


@dataclass(frozen=True)
class DirectionFigures:
    """What one direction's flows showed; impairments are means over its flows, in R points."""

    direction: str
    flows: int
    sent: int
    late: int
    """Packets discarded late by the jitter buffer."""
    lost: Mapping[tuple[str, str], int]
    """Network losses by (reason, segment); reason ``UNKNOWN`` when none was recorded."""
    mos_mean: float
    loss_impairment: float
    """Ie,eff - Ie: what lost and late packets cost."""
    delay_impairment: float
    """Idd: what mouth-to-ear delay costs."""
    codec_impairment: float
    """Ie: what the codec costs without any loss."""
    ta_mean_s: float
    network_delay_mean_s: float
    network_delay_p99_s: float
    buffer_delay_mean_s: float


@dataclass(frozen=True)
class Verdict:
    """The sentence and what it is made of (for summary.json and tests)."""

    sentence: str
    cause: str
    """``no_media``, ``none``, ``late``, a network loss reason, ``delay`` or ``codec``."""
    direction: str | None = None
    segment: str | None = None
    share_percent: float | None = None
    """For loss causes: packets of that cause, % of the direction's packets sent."""
    impairments: dict[str, float] = field(default_factory=dict)
    """Loss, delay and codec impairments (R points) of the described direction."""


def limiting_factor(
    directions: Sequence[DirectionFigures], *, jitter_buffer: str, codec: str
) -> Verdict:
    """The verdict of a run (rules in the module docstring).

    ``jitter_buffer`` describes the buffer in words ("60 ms fixed jitter
    buffer"), ``codec`` names the codec; both only go into the sentence.
    """
    sending = sorted((d for d in directions if d.sent > 0), key=_severity)
    if not sending:
        return Verdict(
            "No media packets were sent (no call was up long enough to send one: too short, "
            "or its set-up failed), so there is no quality to rate.",
            "no_media",
        )
    worst = sending[0]
    impairments = _impairments(worst)
    ranked = sorted(impairments.items(), key=lambda item: -item[1])
    (first, cost), (second, second_cost) = ranked[0], ranked[1]
    if cost < NOTABLE_R:
        return Verdict(
            f"Nothing limits quality much: the largest impairment on the {worst.direction} is "
            f"{_impairment_name(first)} at {cost:.1f} R points (mean MOS {worst.mos_mean:.2f}).",
            "none",
            worst.direction,
            impairments=impairments,
        )
    cause = _cause(worst, first)
    # Another direction almost as bad for the same reason is named with it.
    alike = [
        (d, _cause(d, first))
        for d in sending[1:]
        if d.mos_mean - worst.mos_mean <= CLOSE_MOS
        and max(_impairments(d).items(), key=lambda item: item[1])[0] == first
        and _cause(d, first)[:2] == cause[:2]
    ]
    if first == "codec":
        sentence = (
            f"Quality is limited by the codec: {codec} costs {cost:.1f} R points before any "
            "loss or delay"
        )
    else:
        where = "in both directions" if alike else f"on the {worst.direction}"
        others = "".join(f" ({d.direction} {c[2]})" for d, c in alike)
        sentence = _sentence(worst, first, cause, where, others, jitter_buffer, cost)
    if second_cost >= max(NOTABLE_R, RUNNER_UP_SHARE * cost):
        sentence += f"; {_impairment_name(second)} also costs {second_cost:.1f} R points"
    reason, segment, _ = cause
    return Verdict(
        sentence + ".",
        "codec" if first == "codec" else reason,
        worst.direction,
        segment,
        _share(worst, reason) if first == "loss" else None,
        impairments,
    )


def _severity(figures: DirectionFigures) -> tuple[float, float, int]:
    """Sort key: lowest mean MOS first, then the larger total impairment, then uplink."""
    total = sum(_impairments(figures).values())
    return (figures.mos_mean, -total, 0 if figures.direction == "uplink" else 1)


def _impairments(figures: DirectionFigures) -> dict[str, float]:
    return {
        "loss": figures.loss_impairment,
        "delay": figures.delay_impairment,
        "codec": figures.codec_impairment,
    }


def _impairment_name(kind: str) -> str:
    return {"loss": "packet loss", "delay": "mouth-to-ear delay", "codec": "the codec"}[kind]


def _by_reason(figures: DirectionFigures) -> dict[str, int]:
    """Packets not played by reason: network reasons and ``LATE``."""
    counts: dict[str, int] = {}
    for (reason, _), packets in figures.lost.items():
        counts[reason] = counts.get(reason, 0) + packets
    return counts


def _share(figures: DirectionFigures, reason: str) -> float:
    """Packets not played for ``reason``, % of the direction's packets sent."""
    packets = figures.late if reason == LATE else _by_reason(figures).get(reason, 0)
    return 100.0 * packets / figures.sent


def _cause(figures: DirectionFigures, impairment: str) -> tuple[str, str | None, str]:
    """Cause, segment and its figure in words, for the direction's ``impairment``.

    For loss: late discards if they outnumber every network reason, else the
    largest network reason and the segment that lost most of those packets.
    """
    if impairment == "delay":
        return "delay", None, f"{figures.ta_mean_s * 1e3:.0f} ms"
    if impairment == "codec":
        return "codec", None, ""
    by_reason = _by_reason(figures)
    if figures.late >= max(by_reason.values(), default=0):
        return LATE, None, f"{_share(figures, LATE):.1f} %"
    reason = max(by_reason, key=lambda name: (by_reason[name], name))
    segments = {seg: n for (why, seg), n in figures.lost.items() if why == reason and seg}
    segment = max(segments, key=lambda name: (segments[name], name)) if segments else None
    return reason, segment, f"{_share(figures, reason):.1f} %"


def _queue_hint(figures: DirectionFigures) -> str:
    """Where delay builds, when a queue overflowed: the segment whose queue or AQM dropped most."""
    drops: dict[str, int] = {}
    for (reason, segment), packets in figures.lost.items():
        if reason in {"queue", "aqm"} and segment:
            drops[segment] = drops.get(segment, 0) + packets
    if not drops:
        return ""
    segment = max(drops, key=lambda name: (drops[name], name))
    count = drops[segment]
    plural = "s" if count != 1 else ""
    return f"; queueing at the {segment} segment, whose queue dropped {count:,} packet{plural}"


def _sentence(
    figures: DirectionFigures,
    impairment: str,
    cause: tuple[str, str | None, str],
    where: str,
    others: str,
    jitter_buffer: str,
    cost: float,
) -> str:
    """The sentence for a delay or loss cause, the worst direction's figures first."""
    reason, segment, figure = cause
    of = f"of {figures.direction} packets"
    if impairment == "delay":
        return (
            f"Quality is limited by mouth-to-ear delay {where}: {figure} on average on the "
            f"{figures.direction}{others}, of which network "
            f"{figures.network_delay_mean_s * 1e3:.0f} ms and jitter buffer "
            f"{figures.buffer_delay_mean_s * 1e3:.0f} ms (handsets and codec the rest), "
            f"costing {cost:.1f} R points{_queue_hint(figures)}"
        )
    network = 100.0 * sum(_by_reason(figures).values()) / figures.sent
    if reason == LATE:
        return (
            f"Quality is limited by late discards {where}: {figure} {of}{others} arrived after "
            f"the {jitter_buffer}'s playout time (network delay mean "
            f"{figures.network_delay_mean_s * 1e3:.0f} ms, p99 "
            f"{figures.network_delay_p99_s * 1e3:.0f} ms{_queue_hint(figures)})"
            + (f", and {network:.1f} % were lost in the network" if network >= 0.05 else "")
        )
    place = f" at the {segment} segment" if segment else ""
    rest = network + _share(figures, LATE) - _share(figures, reason)
    return (
        f"Quality is limited by {_CAUSE_NAME.get(reason, reason)} {where}: "
        f"{figure} {of}{others} were {_REASON_TEXT.get(reason, reason)}{place}"
        + (f"; {rest:.1f} % more were lost or late otherwise" if rest >= 0.05 else "")
    )
