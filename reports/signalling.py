"""The report's signalling tables: call set-up (``summary["setup"]``) and idle phones
(``summary["phones"]``), as rows of a label and its figures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from voipbed.reports.tables import MISSING, Cell, Table, fmt_number

__all__ = ["phones_table", "setup_table"]

_PART_NAMES = {
    "radio_s": "radio's hold",
    "gather_s": "ICE gathering",
    "dns_s": "DNS lookup",
    "fallback_s": "attempts that timed out",
    "tcp_s": "TCP handshake",
    "tls_s": "TLS handshake",
    "sip_s": "SIP exchange",
    "ice_checks_s": "ICE checks",
    "dtls_s": "DTLS-SRTP handshake",
}
"""Each set-up part's name, in the order the parts happen."""


def _seconds(value: object) -> str:
    text = fmt_number(value, 3)
    return text if text == MISSING else f"{text} s"


def _spread(figures: Mapping[str, Any]) -> str:
    return ", ".join(f"{key} {_seconds(value)}" for key, value in figures.items())


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in counts.items()) or "none"


def _row(label: str, text: str) -> list[Cell]:
    return [Cell(label, "label"), Cell(text)]


def setup_table(summary: Mapping[str, Any]) -> Table:
    """The calls' set-up: answered of dialled, outcomes, set-up time and post-dial delay
    percentiles, each part's median, retransmissions, and with ICE the candidate pairs."""
    setup = summary.get("setup")
    if not isinstance(setup, Mapping):
        return Table([], [])
    ratio = fmt_number(setup["success_ratio"], 1, 100.0)
    parts = setup["parts_median_s"]
    named = [
        f"{_PART_NAMES[part]} {_seconds(parts[part])}"
        for part in _PART_NAMES
        if part in parts and parts[part] is not None
    ]
    rows = [
        _row("Answered", f"{setup['answered']:,} of {setup['calls']:,} calls ({ratio} %)"),
        _row("Outcomes", _counts(setup["outcomes"])),
        _row("Set-up time, dial to media", _spread(setup["setup_s"])),
        _row("Post-dial delay, dial to 180", _spread(setup["post_dial_delay_s"])),
        _row("Parts (medians)", " · ".join(named) or MISSING),
        _row("Retransmissions", _counts(setup["retransmissions"])),
        _row("Transports (answered calls)", _counts(setup.get("transports", {}))),
    ]
    if "ice_pairs" in setup:
        rows.append(_row("ICE pairs (local-remote)", _counts(setup["ice_pairs"])))
        relayed = f"{setup['relayed']:,} calls"
        if setup.get("relay_fallbacks"):
            relayed += f" ({setup['relay_fallbacks']:,} after a relay fallback)"
        rows.append(_row("Relayed through TURN", relayed))
    return Table(["", "answered calls"], rows)


def phones_table(summary: Mapping[str, Any]) -> Table:
    """The idle phones: incoming calls and failures, keep-alives, NAT drops, registrations,
    and the radio energy per phone and hour."""
    phones = summary.get("phones")
    if not isinstance(phones, Mapping):
        return Table([], [])
    failed = phones["incoming_failed_ratio"]
    share = MISSING if failed is None else f"{fmt_number(failed, 1, 100.0)} %"
    energy = phones["energy_per_hour_j"]
    rows = [
        _row("Phones", f"{phones['phones']:,}"),
        _row(
            "Incoming calls",
            f"{phones['incoming_calls']:,}, {phones['incoming_failed']:,} failed ({share})",
        ),
        _row(
            "Keep-alives",
            f"{phones['keepalives']:,}, {phones['keepalives_failed']:,} unanswered",
        ),
        _row("Messages dropped at the NAT", f"{phones['nat_drops']:,}"),
        _row(
            "Registrations",
            f"{phones['registrations']:,}, {phones['registrations_failed']:,} failed",
        ),
        _row(
            "Radio energy per phone and hour",
            ", ".join(f"{key} {fmt_number(value, 0)} J" for key, value in energy.items()),
        ),
        _row("Promotions per phone and hour", fmt_number(phones["promotions_per_hour"], 1)),
    ]
    return Table(["", "over the run"], rows)
