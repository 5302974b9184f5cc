"""The phone agents' logs and the NAT's drop counters, as the simulator's phone events; pure.

The phones' agent and the caller's agent (``phone_agent``) each write JSON lines; the
NAT's nftables counters (``nft -j list chain``) count, per phone port, the datagrams from
the core that met no live binding. :func:`phone_events` turns them into what
``sim.phones`` records: an ``incoming_call`` event per call that ended (at its first
INVITE, ``call`` = the phone; ``outcome`` and, answered, ``setup_s``) and a ``phone``
event per phone at the run's end. The agents know nothing of the radio: ``energy_j`` is
NaN and ``promotions`` 0 here, until ``rrc_events.with_phone_radio`` puts in the radio
link's figures (a scenario with an RRC).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from voipbed.trace import EventKind

__all__ = ["Event", "drop_counters", "phone_events", "read_lines"]

Event = tuple[float, str, int, dict[str, Any]]


def read_lines(text: str) -> list[dict[str, Any]]:
    """The records of a JSON-lines log (a torn last line, from a kill, is skipped)."""
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def drop_counters(nft_json: str) -> dict[int, int]:
    """Packets counted per UDP destination port by the rules of an ``nft -j list chain``
    listing that match one ``udp dport`` and hold a counter."""
    counts: dict[int, int] = {}
    for item in json.loads(nft_json).get("nftables", []):
        rule = item.get("rule") if isinstance(item, dict) else None
        if rule is None:
            continue
        port = packets = None
        for expr in rule.get("expr", []):
            match = expr.get("match")
            if match is not None:
                payload = match.get("left", {}).get("payload", {})
                if payload.get("protocol") == "udp" and payload.get("field") == "dport":
                    port = int(match["right"])
            if "counter" in expr:
                packets = int(expr["counter"]["packets"])
        if port is not None and packets is not None:
            counts[port] = counts.get(port, 0) + packets
    return counts


def phone_events(
    phone_log: Iterable[Mapping[str, Any]],
    caller_log: Iterable[Mapping[str, Any]],
    *,
    count: int,
    end_s: float,
    nat_drops: Mapping[int, int] | None = None,
) -> list[Event]:
    """Every ended call's ``incoming_call`` event and each of ``count`` phones' ``phone``
    event at ``end_s``; ``nat_drops`` maps phone to its dropped datagrams (absent: NaN,
    not observed)."""
    tallies = [dict.fromkeys(_TALLIES, 0) for _ in range(count)]
    for record in phone_log:
        phone = record.get("phone")
        if isinstance(phone, int) and 0 <= phone < count:
            for counter in _PHONE_RECORDS.get(str(record.get("what")), ()):
                tallies[phone][counter] += 1
    sent: dict[str, float] = {}
    events: list[Event] = []
    for record in caller_log:
        what = record.get("what")
        if what == "invite_sent":
            sent[str(record["call_id"])] = float(record["t"])
        elif what == "call_ended":
            phone = int(record["phone"])
            fields: dict[str, Any] = {"call": int(record["call"]), "outcome": record["outcome"]}
            if record.get("setup_s") is not None:
                fields["setup_s"] = float(record["setup_s"])
            at = sent.get(str(record["call_id"]), math.nan)
            events.append((at, EventKind.INCOMING_CALL, phone, fields))
            if 0 <= phone < count:
                tallies[phone]["incoming_calls"] += 1
                tallies[phone]["incoming_answered"] += record["outcome"] == "answered"
    events.sort(key=lambda event: (event[0], event[2]))
    for phone, tally in enumerate(tallies):
        drops = math.nan if nat_drops is None else nat_drops.get(phone, 0)
        fields = {**tally, "nat_drops": drops, "energy_j": math.nan, "promotions": 0}
        events.append((end_s, EventKind.PHONE, phone, fields))
    return events


_PHONE_RECORDS = {  # what each record of the phones' log counts towards
    "registered": ("registrations",),
    "register_failed": ("registrations_failed",),
    "pong": ("keepalives",),
    "ping_failed": ("keepalives", "keepalives_failed"),
}
_TALLIES = (
    "registrations",
    "registrations_failed",
    "keepalives",
    "keepalives_failed",
    "incoming_calls",
    "incoming_answered",
)
