"""ICE in each call's set-up (signalling.ice): which pair behind which NAT, and what it costs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from voipbed.loader import load_scenario, parse_scenario
from voipbed.scenario_issues import ScenarioError
from voipbed.signalling_figures import setup_figures
from voipbed.sim.engine import simulate
from voipbed.trace import Trace

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "ice-behind-cgnat.yaml"
SERVERS_DELAY_S = 0.025  # the scenario's signalling.ice.servers_delay
GATHERING = ("stun_binding_request", "turn_allocate", "turn_allocate_auth")
EIM = "endpoint_independent"
APDM = "address_and_port_dependent"

LOSSLESS = """
name: ice-timeline
seed: 3
duration: 20s
calls: {{count: 3, start_spread: 5s, hold_time: 5s, codec: AMR-WB-12.65}}
signalling:
  setup: true
  far_end: {{answer_delay: {answer}}}
  nat: {{mapping: endpoint_independent}}
  ice: {{servers_delay: 25ms, pre_established: {pre}}}
path:
  - {{name: radio, one_way_delay: 20ms}}
  - {{name: core, one_way_delay: 15ms}}
radio: {{rrc: {rrc}}}
"""


def _run(*sets: str) -> Trace:
    return simulate(load_scenario(SCENARIO, ["calls.count=20", "duration=40s", *sets]))


def _setups(trace: Trace) -> list[dict[str, Any]]:
    rows = trace.events.to_pylist()
    return [json.loads(r["fields"]) for r in rows if r["kind"] == "call_setup"]


def _lossless(answer: str = "0s", pre: str = "false", rrc: str = "null") -> Trace:
    text = LOSSLESS.format(answer=answer, pre=pre, rrc=rrc)
    return simulate(parse_scenario(text, "ice-timeline.yaml"))


def test_endpoint_independent_nats_connect_a_server_reflexive_pair() -> None:
    """Behind endpoint-independent mappings on both sides every call takes srflx-srflx."""
    figures = setup_figures(_run(f"signalling.nat.mapping={EIM}").events)
    assert figures is not None
    assert figures["ice_pairs"] == {"srflx-srflx": 20} and figures["relayed"] == 0


def test_a_symmetric_nat_needs_the_relay() -> None:
    """Behind an address-and-port-dependent mapping only a relayed pair connects; without
    TURN every call's ICE fails and it carries no media."""
    relayed = setup_figures(_run().events)
    assert relayed is not None and relayed["answered"] == relayed["relayed"] == 20
    assert all("relay" in pair for pair in relayed["ice_pairs"])
    failed = _run("signalling.ice.turn=false")
    figures = setup_figures(failed.events)
    assert figures is not None and figures["outcomes"] == {"ice_failed": 20}
    assert failed.packets.num_rows == 0


def test_relayed_media_take_the_relays_detour() -> None:
    """A relayed pair's media arrive twice servers_delay later than a direct pair's."""

    def delay_s(trace: Trace) -> float:
        packets = trace.packets.to_pandas()
        return float((packets["recv_s"] - packets["send_s"]).mean())

    detour = delay_s(_run()) - delay_s(_run(f"signalling.nat.mapping={EIM}"))
    assert detour == pytest.approx(2 * SERVERS_DELAY_S, abs=0.002)


def test_gathering_precedes_the_invite_and_checks_follow_the_answer() -> None:
    """Each call's INVITE leaves when its gathering is done; its checks start when the 200 OK
    reaches the phone; its media start at the nomination."""
    rows = _run().events.to_pylist()
    for call in range(20):
        mine = [r | {"f": json.loads(r["fields"])} for r in rows if r["call"] == call]
        sip = [r for r in mine if r["kind"] == "sip_message"]
        ice = [r for r in mine if r["kind"] == "ice_message" and r["f"]["agent"] == "phone"]
        invite = min(r["time_s"] for r in sip if r["f"]["label"] == "INVITE")
        gathering = [r for r in ice if r["f"]["label"] in GATHERING]
        checks = [r for r in ice if r["f"]["label"] == "ice_check"]
        answer = min(r["f"]["arrival_s"] for r in sip if r["f"]["label"] == "200")
        start = next(r["time_s"] for r in mine if r["kind"] == "call_start")
        assert max(r["time_s"] for r in gathering) < invite
        assert min(r["time_s"] for r in checks) >= answer
        assert max(r["time_s"] for r in checks) < start


def test_gathering_and_the_far_ends_answer_by_hand() -> None:
    """Lossless 35 ms path, servers 25 ms beyond, a public far end: the phone's TURN
    Allocate, 401 and authenticated Allocate take two 120 ms round trips; the far end's own
    gathering (two 50 ms round trips) holds its 200 OK back 100 ms, so the SIP exchange takes
    35 + 100 + 35 ms, unless the far end answers later anyway (500 ms: 35 + 500 + 35 ms);
    the phone's server-reflexive candidate reaches the far end's host."""
    for answer, sip_s in (("0s", 0.170), ("500ms", 0.570)):
        for setup in _setups(_lossless(answer)):
            assert setup["gather_s"] == pytest.approx(0.240, abs=1e-6)
            assert setup["sip_s"] == pytest.approx(sip_s, abs=1e-6)
            assert setup["ice_pair"] == "srflx-host" and setup["ice_checks_s"] > 0


def test_from_idle_the_promotion_falls_on_the_first_stun_request() -> None:
    """From RRC_IDLE the radio's hold is its own part; gathering after it is unchanged."""
    idle = _setups(_lossless(rrc="{initial_state: idle}"))
    connected = _setups(_lossless(rrc="{initial_state: connected}"))
    for held, ready in zip(idle, connected, strict=True):
        assert held["radio_s"] > 0.1 and ready["radio_s"] == 0.0
        assert held["gather_s"] == pytest.approx(ready["gather_s"], abs=1e-6)


def test_pre_established_media_remove_ice_from_the_setup() -> None:
    """Media pre-established at registration: the set-up is the SIP exchange alone, no
    ICE message is sent in it, and the set-up time falls by the gathering and the checks."""
    during = _setups(_lossless())
    before = _lossless(pre="true")
    kinds = set(before.events.column("kind").to_pylist())
    assert "ice_message" not in kinds
    for pre, ice in zip(_setups(before), during, strict=True):
        assert pre["gather_s"] is None and pre["ice_checks_s"] is None
        assert pre["setup_s"] == pytest.approx(0.070, abs=1e-6)  # INVITE and 200 OK
        assert ice["setup_s"] - pre["setup_s"] == pytest.approx(
            ice["gather_s"] + ice["ice_checks_s"] + 0.100, abs=1e-6
        )  # and the far end's gathering behind its answer


def test_ice_runs_are_reproducible() -> None:
    """One seed: the same events and packets, byte for byte."""
    first, second = _run("calls.count=5"), _run("calls.count=5")
    assert pa.Table.equals(first.events, second.events)
    assert first.packets.to_pandas().equals(second.packets.to_pandas())  # NaN for the lost


def test_ice_with_rate_control_is_refused() -> None:
    """The closed loop does not carry a relay's detour: ICE with GCC is a scenario error."""
    text = (
        "name: p\nduration: 10s\ncalls: {count: 1, codec: AMR-WB-23.85, "
        "rate_control: {algorithm: gcc}}\nsignalling: {setup: true, ice: {}}\n"
        "path: [{name: radio, one_way_delay: 10ms}]\n"
    )
    with pytest.raises(ScenarioError, match="closed loop"):
        parse_scenario(text, "p.yaml")
