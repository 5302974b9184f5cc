"""What the light calls' agents logged, as the run's events and the manifest's figures.

Each agent writes JSON lines (``light_agent``); :func:`light_events` makes the callers'
into each light call's ``call_dial``, ``call_start`` and ``call_end`` events (each
marked ``light``), as the baresip calls' are made from baresip's events, and
:func:`light_facts` sums both agents' into what the manifest keeps. Pure but for
:func:`read_lines`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from voipbed.trace import EventKind

__all__ = ["Event", "light_events", "light_facts", "read_lines"]

Event = tuple[float, str, int, dict[str, Any]]


def read_lines(path: str) -> list[dict[str, Any]]:
    """The JSON objects of an agent's log, one a line."""
    lines = []
    for text in Path(path).read_text(encoding="utf-8").splitlines():
        if text.strip():
            lines.append(json.loads(text))
    return lines


def light_events(callers: Sequence[dict[str, Any]]) -> list[Event]:
    """The callers' log as the run's events: each call's ``call_dial`` (its INVITE),
    ``call_start`` (its 2xx), and ``call_end`` (its BYE answered or timed out, ``reason``
    ``bye``; or its failure, ``reason`` as logged)."""
    events: list[Event] = []
    for line in callers:
        what, call, at = line["what"], line.get("call"), float(line["t"])
        if call is None:
            continue
        if what == "invite":
            events.append((at, EventKind.CALL_DIAL, int(call), {"light": True}))
        elif what == "answered":
            events.append((at, EventKind.CALL_START, int(call), {"light": True}))
        elif what == "ended":
            fields = {"light": True, "reason": "bye", "status": line.get("status")}
            events.append((at, EventKind.CALL_END, int(call), fields))
        elif what == "failed":
            fields = {"light": True, "reason": line.get("reason"), "status": line.get("status")}
            events.append((at, EventKind.CALL_END, int(call), fields))
    return events


def light_facts(
    callers: Sequence[dict[str, Any]], answerers: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """What the agents did, as the manifest keeps it: calls dialled, answered, ended by an
    answered BYE and failed; RTP packets each side sent and received; how late packets
    left; each agent's CPU time."""

    def count(lines: Sequence[dict[str, Any]], what: str) -> int:
        return sum(1 for line in lines if line["what"] == what)

    def side(lines: Sequence[dict[str, Any]]) -> dict[str, Any]:
        media = [line for line in lines if line["what"] == "media"]
        facts: dict[str, Any] = {
            "rtp_sent": sum(int(line["sent"]) for line in media),
            "rtp_received": sum(int(line["received"]) for line in media),
            "send_errors": sum(int(line.get("send_errors", 0)) for line in media),
        }
        for what in ("pacing", "cpu"):
            found = [line for line in lines if line["what"] == what]
            if found:
                facts[what] = {k: v for k, v in found[-1].items() if k not in ("t", "what")}
        return facts

    return {
        "calls": len({line["call"] for line in callers if line["what"] == "media"}),
        "dialled": count(callers, "invite"),
        "answered": count(callers, "answered"),
        "ended": sum(
            1 for line in callers if line["what"] == "ended" and line.get("status") == 200
        ),
        "failed": count(callers, "failed"),
        "sender": "voipbed light_agent (RTP)",
        "callers": side(callers),
        "answerers": side(answerers),
    }
