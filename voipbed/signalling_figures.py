"""A run's signalling figures for its summary: call set-ups (``call_setup`` events) and idle
phones (``phone`` events)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pyarrow as pa

from voipbed.metric_names import EventKind

__all__ = ["phone_figures", "setup_figures"]

_PARTS = (
    "radio_s",
    "gather_s",
    "dns_s",
    "fallback_s",
    "tcp_s",
    "tls_s",
    "sip_s",
    "ice_checks_s",
    "dtls_s",
)
"""Each call's set-up parts, in their order; ICE's, the fallback's and DTLS-SRTP's only
where set."""


def _fields(events: pa.Table, kind: EventKind) -> list[dict[str, Any]]:
    kinds = events.column("kind").to_pylist()
    return [
        json.loads(fields)
        for k, fields in zip(kinds, events.column("fields").to_pylist(), strict=True)
        if k == kind
    ]


def setup_figures(events: pa.Table) -> dict[str, Any] | None:
    """Calls dialled and answered, the success ratio, set-up time and post-dial delay
    percentiles of the answered calls (seconds), each part's median (the radio's hold, ICE
    gathering, the DNS lookup, attempts that timed out, the TCP and TLS handshakes, the SIP
    exchange, ICE checks, the DTLS-SRTP handshake: those the run has), the outcomes, the
    retransmissions of each message, the transport each answered call ended on, and with
    ICE how many calls took each candidate pair (``ice_pairs``, e.g. ``srflx-srflx``,
    ``relay-relay``), how many were relayed, and how many of those only after a relay
    fallback; None when the run set no call up."""
    setups = _fields(events, EventKind.CALL_SETUP)
    if not setups:
        return None
    answered = [s for s in setups if s["outcome"] == "answered"]
    outcomes: dict[str, int] = {}
    retransmissions: dict[str, int] = {}
    for setup in setups:
        outcomes[setup["outcome"]] = outcomes.get(setup["outcome"], 0) + 1
        for label, count in setup["retransmissions"].items():
            retransmissions[label] = retransmissions.get(label, 0) + count
    parts = [part for part in _PARTS if part in setups[0]]
    transports: dict[str, int] = {}
    for setup in answered:
        transport = str(setup["transport"])
        transports[transport] = transports.get(transport, 0) + 1
    figures: dict[str, Any] = {
        "calls": len(setups),
        "answered": len(answered),
        "success_ratio": len(answered) / len(setups),
        "outcomes": outcomes,
        "setup_s": _percentiles([s["setup_s"] for s in answered]),
        "post_dial_delay_s": _percentiles([s["post_dial_delay_s"] for s in answered]),
        "parts_median_s": {part: _median([s[part] for s in answered]) for part in parts},
        "retransmissions": retransmissions,
        "transports": transports,
    }
    if "ice_pair" in setups[0]:
        pairs: dict[str, int] = {}
        for setup in answered:
            pairs[str(setup["ice_pair"])] = pairs.get(str(setup["ice_pair"]), 0) + 1
        figures["ice_pairs"] = pairs
        figures["relayed"] = sum(bool(setup["relayed"]) for setup in answered)
        figures["relay_fallbacks"] = sum(bool(setup["relay_fallback"]) for setup in answered)
    return figures


def phone_figures(events: pa.Table, duration_s: float) -> dict[str, Any] | None:
    """The idle phones' totals: incoming calls that ended, how many failed (their INVITE
    never reached the phone), keep-alives and their failures, messages the NAT dropped,
    registrations, and the radio energy per phone and hour (mean, p50, p95, in joules)
    with the promotions per phone and hour; None without phones."""
    phones = _fields(events, EventKind.PHONE)
    if not phones:
        return None

    def total(key: str) -> int:
        return sum(int(phone[key]) for phone in phones)

    calls, answered = total("incoming_calls"), total("incoming_answered")
    per_hour = 3600.0 / duration_s if duration_s > 0 else math.nan
    energy = _known([phone["energy_j"] for phone in phones]) * per_hour
    return {
        "phones": len(phones),
        "incoming_calls": calls,
        "incoming_failed": calls - answered,
        "incoming_failed_ratio": (calls - answered) / calls if calls else None,
        "keepalives": total("keepalives"),
        "keepalives_failed": total("keepalives_failed"),
        "nat_drops": total("nat_drops"),
        "registrations": total("registrations"),
        "registrations_failed": total("registrations_failed"),
        "energy_per_hour_j": {
            "mean": float(energy.mean()) if energy.size else None,
            **{k: v for k, v in _percentiles(list(energy)).items() if k != "max"},
        },
        "promotions_per_hour": total("promotions") / len(phones) * per_hour,
    }


def _known(values: list[float | None]) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.array([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)


def _percentiles(values: list[float | None]) -> dict[str, float | None]:
    known = _known(values)
    if not known.size:
        return {"p50": None, "p95": None, "max": None}
    return {
        "p50": float(np.percentile(known, 50)),
        "p95": float(np.percentile(known, 95)),
        "max": float(known.max()),
    }


def _median(values: list[float | None]) -> float | None:
    known = _known(values)
    return float(np.median(known)) if known.size else None
