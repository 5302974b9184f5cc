"""Call-flow ladders in the report, from a simulated set-up's messages."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from voipbed.columns import Columns
from voipbed.loader import parse_scenario
from voipbed.reports.ladder import MAX_ROWS, call_ladders
from voipbed.sim.engine import simulate

LOSSY = """
name: ladder
seed: 5
duration: 30s
calls: {count: 20, start_spread: 10s, hold_time: 5s}
signalling: {setup: true, dns: {}}
path:
  - {name: radio, one_way_delay: 20ms, loss: {model: gilbert_elliott, rate: 15%, burst: 2}}
  - {name: core, one_way_delay: 15ms}
radio: {rrc: null}
"""


def test_ladders_draw_each_message_of_the_chosen_calls() -> None:
    """The first call, the slowest and a failed one (if any) each get a well-formed SVG
    with one arrow per message (up to MAX_ROWS), lost ones crossed, retransmissions
    dashed, DNS and SIP hosts as columns."""
    events = simulate(parse_scenario(LOSSY, "ladder.yaml")).events
    ladders = call_ladders(Columns.from_arrow(events))
    assert 2 <= len(ladders) <= 3
    assert ladders[0].title.startswith("Call ") and "slowest" in ladders[1].title
    rows = events.to_pylist()
    for ladder in ladders:
        root = ET.fromstring(str(ladder.svg))
        call = int(ladder.title.split()[1].rstrip(":"))
        kinds = ("sip_message", "dns_message")
        ordered = sorted(
            (r for r in rows if r["call"] == call and r["kind"] in kinds), key=lambda r: r["time_s"]
        )
        mine = [json.loads(r["fields"]) for r in ordered]
        groups = root.findall("{http://www.w3.org/2000/svg}g")
        assert len(groups) == min(len(mine), MAX_ROWS)
        used = {r["kind"] for r in ordered[:MAX_ROWS]}
        expected = ["DNS", "phone"] + (["SIP core"] if "sip_message" in used else [])
        hosts = [t.text for t in root.findall("{http://www.w3.org/2000/svg}text")[: len(expected)]]
        assert hosts == expected
        svg = str(ladder.svg)
        lost = sum(m["arrival_s"] is None for m in mine[:MAX_ROWS])
        assert svg.count('stroke-width="1.6"') == lost  # one cross per lost message
        retransmitted = sum(m["retransmission"] for m in mine[:MAX_ROWS])
        assert svg.count('stroke-dasharray="5 3"') == retransmitted
    assert any(s.count('stroke-width="1.6"') for s in (str(x.svg) for x in ladders))


def test_a_run_without_set_ups_has_no_ladder() -> None:
    """No call_setup events: nothing to draw."""
    text = LOSSY.replace("signalling: {setup: true, dns: {}}\n", "")
    events = simulate(parse_scenario(text, "plain.yaml")).events
    assert call_ladders(Columns.from_arrow(events)) == []
