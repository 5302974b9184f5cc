"""Idle phones (signalling.phones): keep-alives against a NAT timeout, and their energy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from voipbed.loader import load_scenario, parse_scenario
from voipbed.scenario_issues import ScenarioError
from voipbed.signalling_figures import phone_figures
from voipbed.sim.engine import simulate

SWEEP = Path(__file__).resolve().parents[2] / "scenarios" / "keepalive-vs-nat-vs-battery.yaml"
NAT_TIMEOUT_S = 120.0  # the scenario's signalling.nat.udp_timeout


def _figures(keepalive: str) -> dict[str, Any]:
    scenario = load_scenario(
        SWEEP,
        [
            f"signalling.phones.keepalive={keepalive}",
            "signalling.phones.count=60",
            "signalling.phones.incoming_calls_per_hour=20",
            "duration=900s",
        ],
    )
    figures = phone_figures(simulate(scenario).events, scenario.duration_s)
    assert figures is not None
    return figures


def test_keepalives_below_the_nat_timeout_keep_every_incoming_call() -> None:
    """Keep-alives every 29 s and 110 s, under the 120 s NAT timeout: no incoming call fails
    and the NAT drops nothing; every phone registered once."""
    for keepalive in ("29s", "110s"):
        figures = _figures(keepalive)
        assert figures["incoming_calls"] > 100
        assert figures["incoming_failed"] == 0
        assert figures["nat_drops"] == 0
        assert figures["registrations"] >= figures["phones"]


def test_keepalives_above_the_nat_timeout_lose_incoming_calls() -> None:
    """Every 180 s and 300 s, above the NAT timeout: calls that come after a binding has
    expired fail at the NAT, more of them at the longer interval."""
    failed = [_figures(keepalive)["incoming_failed_ratio"] for keepalive in ("180s", "300s")]
    assert 0.05 < failed[0] < failed[1]


def test_energy_per_hour_falls_as_the_interval_grows() -> None:
    """Each keep-alive wakes the radio: fewer of them cost less energy per hour."""
    energy = [_figures(k)["energy_per_hour_j"]["mean"] for k in ("20s", "60s", "180s", "600s")]
    assert energy == sorted(energy, reverse=True)
    assert energy[0] > 3 * energy[-1]


def test_each_incoming_call_is_an_event_that_adds_up_to_the_phones_figures() -> None:
    """Every ended call is an incoming_call event with its outcome; answered ones carry a
    set-up time within Timer B (a retransmission can pass a binding a keep-alive renewed);
    their counts are the phone events'."""
    scenario = load_scenario(
        SWEEP, ["signalling.phones.keepalive=300s", "signalling.phones.count=30", "duration=900s"]
    )
    events = simulate(scenario).events.to_pylist()
    calls = [e for e in events if e["kind"] == "incoming_call"]
    phones = [e for e in events if e["kind"] == "phone"]
    assert len(phones) == 30 and calls
    outcomes = [json.loads(e["fields"])["outcome"] for e in calls]
    assert {"answered", "timeout"} <= set(outcomes)
    assert len(calls) == sum(json.loads(e["fields"])["incoming_calls"] for e in phones)
    answered = [json.loads(e["fields"]) for e in calls]
    answered = [f for f in answered if f["outcome"] == "answered"]
    assert len(answered) == sum(json.loads(e["fields"])["incoming_answered"] for e in phones)
    assert all(0.0 < f["setup_s"] < 64 * 0.5 for f in answered)  # RFC 3261: Timer B


@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_phones_over_a_connection_keep_it_with_crlf_pings(transport: str) -> None:
    """Over TCP or TLS each phone's one connection carries its CRLF keep-alives: every
    120 s, under a 300 s TCP binding timeout, no call fails; every 600 s, calls after the
    binding expired do, and pings go unanswered."""

    def figures(keepalive: str) -> dict[str, Any]:
        scenario = load_scenario(
            SWEEP,
            [
                f"signalling.transport={transport}",
                f"signalling.phones.keepalive={keepalive}",
                "signalling.phones.count=30",
                "signalling.phones.incoming_calls_per_hour=10",
                "signalling.nat.tcp_timeout=300s",
                "duration=1800s",
                "sweep=null",
            ],
        )
        result = phone_figures(simulate(scenario).events, scenario.duration_s)
        assert result is not None
        return result

    kept, lapsed = figures("120s"), figures("600s")
    assert kept["incoming_calls"] > 100 and kept["incoming_failed"] == 0
    assert kept["keepalives"] >= 30 * (1800 - 30) // 120 - 30 and kept["keepalives_failed"] == 0
    assert lapsed["incoming_failed"] > 0 and lapsed["keepalives_failed"] > 0
    assert lapsed["energy_per_hour_j"]["mean"] < kept["energy_per_hour_j"]["mean"]


def test_phones_are_reproducible() -> None:
    """One seed: the same phone events, byte for byte."""
    scenario = load_scenario(SWEEP, ["signalling.phones.count=20", "duration=300s"])
    assert pa.Table.equals(simulate(scenario).events, simulate(scenario).events)


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        (
            "signalling: {setup: true}\n"
            "path: [{name: radio, capacity: 1Mbps, queue: {aqm: codel}}]",
            "AQM",
        ),
    ],
)
def test_what_signalling_cannot_run_is_a_scenario_error(setting: str, said: str) -> None:
    """Signalling through an AQM: refused at load, with the reason."""
    text = "name: p\nduration: 60s\ncalls: {count: 1}\n" + setting + "\n"
    if "path:" not in setting:
        text += "path: [{name: radio, one_way_delay: 10ms}]\n"
    with pytest.raises(ScenarioError, match=said):
        parse_scenario(text, "p.yaml")


def test_a_keepalive_as_short_as_its_pong_timeout_is_refused() -> None:
    """An interval whose 80 % is not above RFC 5626's 10 s pong wait is a scenario error."""
    with pytest.raises(ScenarioError, match="phones"):
        load_scenario(SWEEP, ["signalling.phones.keepalive=10s"])
