"""Call-flow ladder diagrams: each message of a call as an arrow between its hosts, as
sngrep draws them.

:func:`call_ladders` picks a few calls of a run's events (the first one set up,
the slowest answered, the first that failed) and draws each as an SVG ladder:
the hosts as columns (the phone, the SIP core; a DNS resolver, STUN/TURN
servers and the far end's media agent when the call's set-up used them), one
row per message in the order sent, the time since the dial on the left, the
method or status above the arrow. A retransmission is dashed and marked; a
message that was lost stops halfway at a cross. Each arrow's tooltip gives
its send and arrival times and its size.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from voipbed.columns import Columns
from voipbed.metric_names import EventKind

from .svg import escape, text_width

__all__ = ["MAX_ROWS", "Ladder", "call_ladders", "ladder_svg"]

MAX_ROWS = 60  # messages drawn per call; the rest are counted in the title
_ROW_PX = 22.0
_TOP_PX = 46.0
_TIME_PX = 70.0  # the time column on the left
_COLUMN_PX = 150.0
_FONT_PX = 12.0
_PHONE, _CORE, _DNS, _STUN, _FAR = "phone", "SIP core", "DNS", "STUN/TURN", "far end"
_ORDER = (_DNS, _PHONE, _CORE, _STUN, _FAR)
_LOST_COLOR = "#b3261e"
_RETX_COLOR = "#c05a00"


@dataclass(frozen=True)
class _Message:
    sent_s: float
    arrival_s: float | None
    src: str
    dst: str
    label: str
    retransmission: bool
    size_bytes: int


@dataclass(frozen=True)
class Ladder:
    """One call's ladder: its title and SVG."""

    title: str
    svg: Markup  # built from escaped text only


def call_ladders(events: Columns, *, limit: int = 3) -> list[Ladder]:
    """Ladders of up to ``limit`` calls of ``events`` (a run's events table): the first
    call set up, the one that took longest, the first that failed."""
    kinds = events["kind"].tolist() if len(events) else []
    if EventKind.CALL_SETUP not in kinds:
        return []
    times = events["time_s"].tolist()
    calls = events["call"].tolist()
    texts = events["fields"].tolist()
    dials: dict[int, float] = {}
    setups: dict[int, dict[str, Any]] = {}
    messages: dict[int, list[_Message]] = defaultdict(list)
    for kind, time_s, call, text in zip(kinds, times, calls, texts, strict=True):
        if kind == EventKind.CALL_DIAL:
            dials[call] = time_s
        elif kind == EventKind.CALL_SETUP:
            setups[call] = json.loads(text)
        elif kind in (EventKind.SIP_MESSAGE, EventKind.DNS_MESSAGE, EventKind.ICE_MESSAGE):
            messages[call].append(_message(kind, time_s, json.loads(text)))
    chosen = _chosen(setups, limit)
    return [
        Ladder(title, Markup(ladder_svg(messages[call], dials.get(call, 0.0), title)))
        for call, title in chosen
    ]


def _chosen(setups: dict[int, dict[str, Any]], limit: int) -> list[tuple[int, str]]:
    """(call, title) of the first answered call, the slowest answered and the first that
    failed, without repeats, at most ``limit``."""
    answered = [c for c, s in sorted(setups.items()) if s.get("setup_s") is not None]
    failed = [c for c, s in sorted(setups.items()) if s.get("setup_s") is None]
    picks: list[tuple[int, str]] = []
    if answered:
        first = answered[0]
        picks.append((first, f"Call {first}: set up in {setups[first]['setup_s']:.3f} s"))
        slowest = max(answered, key=lambda c: setups[c]["setup_s"])
        seconds = setups[slowest]["setup_s"]
        picks.append((slowest, f"Call {slowest}: the slowest set-up, {seconds:.3f} s"))
    if failed:
        first_failed = failed[0]
        outcome = setups[first_failed].get("outcome", "failed")
        picks.append((first_failed, f"Call {first_failed}: failed ({outcome})"))
    unique = list(dict.fromkeys(call for call, _ in picks))
    return [next(p for p in picks if p[0] == call) for call in unique][:limit]


def _message(kind: str, time_s: float, fields: dict[str, Any]) -> _Message:
    """A message event as an arrow between two hosts."""
    uplink = fields.get("direction") == "uplink"
    label = str(fields.get("label", ""))
    if kind == EventKind.SIP_MESSAGE:
        far = _CORE
    elif kind == EventKind.DNS_MESSAGE:
        far = _DNS
    elif label.startswith(("stun", "turn")):
        far = _STUN
    else:
        far = _FAR
    near = _PHONE
    if kind == EventKind.ICE_MESSAGE and fields.get("agent") == "far_end":
        near, far = _FAR, (_STUN if label.startswith(("stun", "turn")) else _PHONE)
    src, dst = (near, far) if uplink else (far, near)
    arrival = fields.get("arrival_s")
    return _Message(
        time_s,
        None if arrival is None else float(arrival),
        src,
        dst,
        label,
        bool(fields.get("retransmission", False)),
        int(fields.get("bytes", 0)),
    )


def ladder_svg(messages: Sequence[_Message], dial_s: float, title: str) -> str:
    """The ladder of ``messages`` (one call's), times from ``dial_s``."""
    ordered = sorted(messages, key=lambda m: m.sent_s)
    shown = ordered[:MAX_ROWS]
    hosts = [h for h in _ORDER if any(h in (m.src, m.dst) for m in shown)] or [_PHONE, _CORE]
    x = {host: _TIME_PX + _COLUMN_PX * (k + 0.5) for k, host in enumerate(hosts)}
    width = _TIME_PX + _COLUMN_PX * len(hosts) + 10
    height = _TOP_PX + _ROW_PX * (len(shown) + 1)
    if len(ordered) > len(shown):
        title += f" (first {len(shown)} of {len(ordered)} messages)"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" role="img" aria-label="{escape(title)}" '
        f'font-family="system-ui, sans-serif" font-size="{_FONT_PX:.0f}">',
        f"<title>{escape(title)}</title>",
    ]
    for host in hosts:
        parts.append(
            f'<text x="{x[host]:.1f}" y="18" text-anchor="middle" font-weight="600">'
            f"{escape(host)}</text>"
        )
        parts.append(
            f'<line x1="{x[host]:.1f}" y1="26" x2="{x[host]:.1f}" y2="{height - 6:.1f}" '
            'stroke="#9aa5b1" stroke-width="1"/>'
        )
    for row, message in enumerate(shown):
        parts.append(_arrow(message, row, x, dial_s))
    parts.append("</svg>")
    return "\n".join(parts)


def _arrow(message: _Message, row: int, x: dict[str, float], dial_s: float) -> str:
    y = _TOP_PX + _ROW_PX * row + 12
    x1, x2 = x[message.src], x[message.dst]
    lost = message.arrival_s is None
    end = (x1 + x2) / 2 if lost else x2
    color = _LOST_COLOR if lost else (_RETX_COLOR if message.retransmission else "#1d2430")
    dash = ' stroke-dasharray="5 3"' if message.retransmission else ""
    step = math.copysign(6.0, x2 - x1)
    label = message.label + (" (retx)" if message.retransmission else "")
    arrival = "lost" if lost else f"arrived {message.arrival_s - dial_s:+.3f} s"  # type: ignore[operator]
    tooltip = f"{label}: sent {message.sent_s - dial_s:+.3f} s, {arrival}, {message.size_bytes} B"
    if lost:
        head = (
            f'<path d="M{end - 4:.1f} {y - 4:.1f} L{end + 4:.1f} {y + 4:.1f} '
            f'M{end - 4:.1f} {y + 4:.1f} L{end + 4:.1f} {y - 4:.1f}" stroke="{color}" '
            'stroke-width="1.6"/>'
        )
    else:
        head = (
            f'<path d="M{end:.1f} {y:.1f} L{end - step:.1f} {y - 3.5:.1f} '
            f'L{end - step:.1f} {y + 3.5:.1f} Z" fill="{color}"/>'
        )
    mid = (x1 + end) / 2
    label_x = mid if text_width(label, _FONT_PX) < abs(end - x1) else min(x1, end) + 4
    anchor = "middle" if label_x == mid else "start"
    return (
        f"<g><title>{escape(tooltip)}</title>"
        f'<text x="8" y="{y + 4:.1f}" fill="#5f6b7a">{message.sent_s - dial_s:+.3f}</text>'
        f'<line x1="{x1:.1f}" y1="{y:.1f}" x2="{end:.1f}" y2="{y:.1f}" stroke="{color}" '
        f'stroke-width="1.4"{dash}/>{head}'
        f'<text x="{label_x:.1f}" y="{y - 4:.1f}" text-anchor="{anchor}" fill="{color}">'
        f"{escape(label)}</text></g>"
    )
