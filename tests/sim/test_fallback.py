"""Fallbacks in a call's set-up (signalling.fallback): to the next transport, and to a relay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from voipbed.loader import load_scenario, parse_scenario
from voipbed.scenario_issues import ScenarioError
from voipbed.signalling_figures import setup_figures
from voipbed.sim.engine import simulate
from voipbed.trace import Trace

ICE = Path(__file__).resolve().parents[2] / "scenarios" / "ice-behind-cgnat.yaml"

SLOW = """
name: slow-path
seed: 1
duration: 20s
calls: {{count: 2, start_spread: 0s, hold_time: 10s, codec: AMR-WB-12.65}}
signalling:
  setup: true
  transport: udp
  fallback: {{deadline: {deadline}, transports: {transports}}}
path:
  - {{name: radio, one_way_delay: 150ms, loss: {loss}}}
  - {{name: core, one_way_delay: 250ms}}
radio: {{rrc: null}}
"""


def _slow(deadline: str = "500ms", loss: str = "0%", transports: str = "[tcp]") -> Trace:
    text = SLOW.format(deadline=deadline, loss=loss, transports=transports)
    return simulate(parse_scenario(text, "slow.yaml"))


def _rows(trace: Trace, kind: str) -> list[dict[str, Any]]:
    rows = trace.events.to_pylist()
    return [r | {"f": json.loads(r["fields"])} for r in rows if r["kind"] == kind]


def test_an_invite_unanswered_by_the_deadline_falls_back_to_tcp_by_hand() -> None:
    """A 400 ms one-way path and a 500 ms deadline: the UDP INVITE's first response is due
    at 800 ms, so at 500 ms the phone opens TCP (SYN, SYN-ACK: 800 ms), sends its INVITE
    (400 ms) and gets the 200 OK 400 ms later: set-up 2.1 s = 0.5 s lost to UDP + 0.8 s
    handshake + 0.8 s SIP, over TCP."""
    trace = _slow()
    for setup in _rows(trace, "call_setup"):
        fields = setup["f"]
        assert fields["transport"] == "tcp" and fields["outcome"] == "answered"
        assert fields["fallback_s"] == pytest.approx(0.5)
        assert fields["tcp_s"] == pytest.approx(0.8)
        assert fields["sip_s"] == pytest.approx(0.8)
        assert fields["setup_s"] == pytest.approx(2.1)
    invites = [r for r in _rows(trace, "sip_message") if r["f"]["label"] == "INVITE"]
    mine = sorted(
        (r["time_s"], r["f"]["arrival_s"], r["f"]["branch"]) for r in invites if r["call"] == 0
    )  # the TCP INVITE is written at the fallback and leaves when the connection is up
    assert mine == [
        (pytest.approx(0.0), pytest.approx(0.4), "c01"),
        (pytest.approx(0.5), pytest.approx(1.7), "c0f11"),
    ]


def test_every_transport_unanswered_fails_after_each_deadline() -> None:
    """A path that loses everything: UDP and TCP each give up at the deadline, TLS at
    Timer B; the call fails having spent two deadlines in the attempts before it."""
    for setup in _rows(_slow("2s", "100%", "[tcp, tls]"), "call_setup"):
        fields = setup["f"]
        assert fields["outcome"] == "timeout" and fields["transport"] == "tls"
        assert fields["fallback_s"] == pytest.approx(4.0)


def test_on_a_lossy_radio_only_unanswered_calls_fall_back() -> None:
    """Bursty 30 % loss, a 3 s deadline: a call that fell back spent the deadline over UDP
    and was set up over TCP, or twice it and over TLS; the others stayed on UDP."""
    text = SLOW.format(
        deadline="3s",
        loss="{model: gilbert_elliott, rate: 30%, burst: 3}",
        transports="[tcp, tls]",
    )
    trace = simulate(parse_scenario(text, "slow.yaml", overrides=["calls.count=60"]))
    setups = [r["f"] for r in _rows(trace, "call_setup")]
    fell = [s for s in setups if s["fallback_s"] > 0]
    stayed = [s for s in setups if s["fallback_s"] == 0]
    assert fell and stayed
    spent = {"tcp": 3.0, "tls": 6.0}
    assert all(s["fallback_s"] == pytest.approx(spent[s["transport"]]) for s in fell)
    assert all(s["transport"] == "udp" for s in stayed)
    figures = setup_figures(trace.events)
    assert figures is not None and sum(figures["transports"].values()) == figures["answered"]


def _ice(*sets: str) -> Trace:
    return simulate(load_scenario(ICE, ["calls.count=10", "duration=40s", *sets]))


def test_a_relay_only_when_no_direct_pair_connects() -> None:
    """With TURN as a fallback: behind a symmetric NAT every call's checks give up at the
    3 s deadline, ICE restarts with a relayed candidate and the media go through TURN;
    behind an endpoint-independent one no call allocates a relay at all."""
    fallback = "signalling.fallback={relay: true, deadline: 3s}"
    symmetric = _ice(fallback)
    for setup in _rows(symmetric, "call_setup"):
        fields = setup["f"]
        assert fields["relay_fallback"] and fields["relayed"]
        assert fields["ice_checks_s"] > 3.0
    for call in range(10):
        checks = [r for r in _rows(symmetric, "ice_message") if r["call"] == call]
        first_check = min(r["time_s"] for r in checks if r["f"]["label"] == "ice_check")
        allocations = [r["time_s"] for r in checks if r["f"]["label"] == "turn_allocate"]
        assert allocations and min(allocations) >= first_check + 3.0
    direct = _ice(fallback, "signalling.nat.mapping=endpoint_independent")
    labels = {r["f"]["label"] for r in _rows(direct, "ice_message")}
    assert not any(label.startswith("turn") for label in labels)
    figures = setup_figures(direct.events)
    assert figures is not None and figures["relayed"] == figures["relay_fallbacks"] == 0


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        ("{transport: udp, fallback: {transports: [tcp, udp]}}", "tried once"),
        ("{fallback: {relay: true}}", "needs signalling.ice"),
        ("{ice: {turn: false}, fallback: {relay: true}}", "needs signalling.ice"),
    ],
)
def test_fallbacks_that_cannot_be_tried_are_refused(setting: str, said: str) -> None:
    """A transport listed twice, or a relay fallback without a TURN server: scenario errors."""
    text = (
        "name: p\nduration: 10s\ncalls: {count: 1}\n"
        "path: [{name: radio, one_way_delay: 10ms}]\nsignalling: " + setting + "\n"
    )
    with pytest.raises(ScenarioError, match=said):
        parse_scenario(text, "p.yaml")
