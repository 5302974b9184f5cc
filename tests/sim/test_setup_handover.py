"""Handovers during a call's set-up: its messages held or lost at the radio as media are."""

from __future__ import annotations

import json

import pytest

from voipbed.loader import parse_scenario
from voipbed.sim.engine import simulate

SCENARIO = """
name: setup-handover
seed: 1
duration: 20s
calls: {{count: 1, start_spread: 0s, hold_time: 10s}}
signalling: {{setup: true}}
path:
  - {{name: radio, one_way_delay: 20ms}}
  - {{name: core, one_way_delay: 15ms}}
radio:
  rrc: null
  handovers: {{schedule: [{{time: 0s, kind: {kind}}}]}}
"""


def _setup(kind: str) -> dict[str, object]:
    events = simulate(parse_scenario(SCENARIO.format(kind=kind), "h.yaml")).events.to_pylist()
    (setup,) = [json.loads(r["fields"]) for r in events if r["kind"] == "call_setup"]
    return setup


def test_an_x2_interruption_holds_the_invite_by_hand() -> None:
    """X2 at the dial (50 ms, the uplink buffered): the INVITE waits 50 ms at the radio,
    so the 200 OK comes 50 ms after the 70 ms round trip."""
    setup = _setup("x2")
    assert setup["setup_s"] == pytest.approx(0.120)
    assert setup["retransmissions"] == {}


def test_a_vertical_handover_loses_the_invite_until_its_breakage_ends_by_hand() -> None:
    """Wi-Fi to LTE at the dial breaks the path for 7 beacons (716.8 ms), the LTE set-up
    (100 ms) and the re-INVITE recovery (500 ms), to 1.3168 s: the INVITE and its Timer A
    retransmission at 0.5 s are lost, the one at 1.5 s gets through, answered 70 ms later."""
    setup = _setup("wifi_to_lte")
    assert setup["setup_s"] == pytest.approx(1.570)
    assert setup["retransmissions"] == {"INVITE": 2}
