"""The report's call set-up and idle-phone tables, from a run's summary."""

from __future__ import annotations

from typing import Any

from voipbed.reports.signalling import phones_table, setup_table

SETUP: dict[str, Any] = {
    "calls": 50,
    "answered": 48,
    "success_ratio": 0.96,
    "outcomes": {"answered": 48, "ice_failed": 2},
    "setup_s": {"p50": 1.1234, "p95": 1.5, "max": 2.0},
    "post_dial_delay_s": {"p50": 0.25, "p95": 0.3, "max": 0.31},
    "parts_median_s": {
        "radio_s": 0.0,
        "tcp_s": None,
        "tls_s": None,
        "sip_s": 0.11,
        "gather_s": 0.19,
        "ice_checks_s": 0.7,
    },
    "retransmissions": {"INVITE": 3},
    "ice_pairs": {"srflx-srflx": 40, "prflx-relay": 8},
    "relayed": 8,
}


def _text(rows: list[list[Any]]) -> dict[str, str]:
    return {row[0].text: row[1].text for row in rows}


def test_setup_table_names_answers_parts_in_order_and_pairs() -> None:
    """Answered of dialled with the ratio, parts in their order with handshakes left out,
    outcomes, retransmissions and ICE pairs."""
    table = _text(setup_table({"setup": SETUP}).rows)
    assert table["Answered"] == "48 of 50 calls (96.0 %)"
    assert table["Outcomes"] == "answered 48, ice_failed 2"
    assert table["Set-up time, dial to media"] == "p50 1.123 s, p95 1.500 s, max 2.000 s"
    assert table["Parts (medians)"] == (
        "radio's hold 0.000 s · ICE gathering 0.190 s · SIP exchange 0.110 s · ICE checks 0.700 s"
    )
    assert table["ICE pairs (local-remote)"] == "srflx-srflx 40, prflx-relay 8"
    assert table["Relayed through TURN"] == "8 calls"


def test_tables_are_empty_without_signalling() -> None:
    """A run without set-ups or phones has no rows; no ICE, no pair rows."""
    assert setup_table({}).rows == [] and phones_table({}).rows == []
    plain = {k: v for k, v in SETUP.items() if k not in ("ice_pairs", "relayed")}
    assert "ICE pairs (local-remote)" not in _text(setup_table({"setup": plain}).rows)


def test_phones_table_gives_failures_and_energy() -> None:
    """Incoming calls with their failed share, and the energy per phone-hour."""
    phones = {
        "phones": 500,
        "incoming_calls": 1000,
        "incoming_failed": 250,
        "incoming_failed_ratio": 0.25,
        "keepalives": 62000,
        "keepalives_failed": 3,
        "nat_drops": 400,
        "registrations": 500,
        "registrations_failed": 0,
        "energy_per_hour_j": {"mean": 812.4, "p50": 800.0, "p95": 1001.0},
        "promotions_per_hour": 61.04,
    }
    table = _text(phones_table({"phones": phones}).rows)
    assert table["Incoming calls"] == "1,000, 250 failed (25.0 %)"
    assert table["Radio energy per phone and hour"] == "mean 812 J, p50 800 J, p95 1,001 J"
    assert table["Promotions per phone and hour"] == "61.0"
