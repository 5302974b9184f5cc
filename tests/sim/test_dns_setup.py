"""Locating the SIP proxy by DNS in each call's set-up (signalling.dns), by hand."""

from __future__ import annotations

import json
from typing import Any

import pytest

from voipbed.loader import parse_scenario
from voipbed.signalling_figures import setup_figures
from voipbed.sim.engine import simulate
from voipbed.trace import Trace

SCENARIO = """
name: dns-timeline
seed: 3
duration: 20s
calls: {count: 3, start_spread: 5s, hold_time: 5s, codec: AMR-WB-12.65}
signalling: {setup: true, dns: {}}
path:
  - {name: radio, one_way_delay: 20ms}
  - {name: core, one_way_delay: 15ms}
radio: {rrc: null}
"""


def _run(*sets: str) -> Trace:
    return simulate(parse_scenario(SCENARIO, "dns.yaml", overrides=list(sets)))


def _rows(trace: Trace, kind: str) -> list[dict[str, Any]]:
    rows = trace.events.to_pylist()
    return [r | {"f": json.loads(r["fields"])} for r in rows if r["kind"] == kind]


def test_naptr_srv_then_both_families_by_hand() -> None:
    """A lossless 35 ms path, the resolver at its end: NAPTR, SRV, then AAAA and A side by
    side (RFC 8305) take three 70 ms round trips before the INVITE, whose 200 OK comes one
    more round trip later; with IPv4 only, A alone still takes the third."""
    for trace in (_run(), _run("signalling.dns.families=ipv4")):
        for setup in _rows(trace, "call_setup"):
            fields = setup["f"]
            assert fields["dns_s"] == pytest.approx(0.210)
            assert fields["sip_s"] == pytest.approx(0.070)
            assert fields["setup_s"] == pytest.approx(0.280)
    queries = [r["f"]["label"] for r in _rows(_run(), "dns_message") if r["call"] == 0]
    asked = queries[::2]  # each query, then its answer
    assert asked[:3] == [
        "NAPTR voip.example",
        "SRV _sip._udp.voip.example",
        "AAAA sip.voip.example",
    ]


def test_from_idle_the_promotion_falls_on_the_first_query() -> None:
    """From RRC_IDLE the radio's hold is its own part, and the lookup after it unchanged."""
    idle = _rows(_run("radio.rrc={initial_state: idle}"), "call_setup")
    for setup in idle:
        assert setup["f"]["radio_s"] > 0.1
        assert setup["f"]["dns_s"] == pytest.approx(0.210)


def test_a_lookup_that_never_answers_fails_the_call() -> None:
    """A path that loses everything: every query times out (5 s, twice), the call sends no
    INVITE and is dns_failed; the summary counts it."""
    trace = _run("path[0].loss=100%")
    outcomes = [r["f"]["outcome"] for r in _rows(trace, "call_setup")]
    assert outcomes == ["dns_failed"] * 3
    assert not _rows(trace, "sip_message")
    figures = setup_figures(trace.events)
    assert figures is not None and figures["outcomes"] == {"dns_failed": 3}
