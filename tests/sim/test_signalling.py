"""Call set-up on the simulated path (signalling.setup): timelines worked out by hand."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from voipbed.loader import parse_scenario
from voipbed.sim.engine import simulate

RADIO_S = 0.020  # one-way delay of the radio segment
CORE_S = 0.015  # one-way delay of the core segment
RTT_S = 2 * (RADIO_S + CORE_S)
PROMOTION_S = 0.26  # models.rrc.RrcConfig.promotion_delay_s (Huang et al. 2012)


def _scenario(
    transport: str, loss: str, *, calls: int = 200, rrc: str = "null", reuse: bool = False
) -> Any:
    text = f"""
name: setup-test
seed: 11
duration: 40s
calls: {{count: {calls}, start_spread: 20s, hold_time: 5s, codec: AMR-WB-12.65}}
signalling: {{setup: true, transport: {transport}, reuse_connection: {str(reuse).lower()}}}
path:
  - {{name: radio, one_way_delay: {RADIO_S * 1000:g}ms, loss: {loss}}}
  - {{name: core, one_way_delay: {CORE_S * 1000:g}ms}}
radio: {{rrc: {rrc}}}
"""
    return parse_scenario(text, "setup-test.yaml")


def _events(trace: Any, kind: str) -> list[dict[str, Any]]:
    rows = trace.events.to_pylist()
    return [{**row, **json.loads(row["fields"] or "{}")} for row in rows if row["kind"] == kind]


def _by_call(messages: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    calls: dict[int, list[dict[str, Any]]] = {}
    for message in messages:
        calls.setdefault(message["call"], []).append(message)
    return calls


def _offsets(first: float, second: float, cap: float | None, count: int = 7) -> list[float]:
    """Cumulative retransmission times: intervals ``first``, doubling (up to ``cap``)."""
    times, interval, total = [0.0], first, 0.0
    for _ in range(count):
        total += interval
        times.append(total)
        interval = interval * 2 if cap is None else min(interval * 2, cap)
    return times


def test_udp_setup_times_fall_on_timer_a_steps() -> None:
    """20 % radio loss over UDP: every set-up is the RTT plus INVITE (Timer A: 0.5, 1.5,
    3.5 s ...) and 200 OK (T1 doubling to T2) retransmission offsets, and both steps show."""
    trace = simulate(_scenario("udp", "20%"))
    setups = _events(trace, "call_setup")
    assert len(setups) == 200
    invite = _offsets(0.5, 0.0, None)  # RFC 3261 17.1.1.2: A doubles, no cap
    ok = _offsets(0.5, 0.0, 4.0)  # RFC 3261 13.3.1.4: T1 doubling up to T2
    steps = sorted({round(a + b, 9) for a in invite for b in ok})
    extra = [s["setup_s"] - RTT_S for s in setups if s["outcome"] == "answered"]
    assert len(extra) >= 190
    nearest = np.array([min(steps, key=lambda step: abs(step - x)) for x in extra])
    assert np.allclose(extra, nearest, atol=1e-9)
    counts = {step: int(np.sum(np.isclose(nearest, step))) for step in (0.0, 0.5, 1.0, 1.5)}
    assert counts[0.0] > 80  # most set-ups lose nothing that matters
    assert counts[0.5] > 20  # one INVITE or one 200 OK lost: one T1 later
    assert counts[1.0] + counts[1.5] > 3  # two losses: both lost once, or one lost twice


def test_udp_loss_rate_moves_calls_to_later_steps() -> None:
    """5 % loss: fewer set-ups off the first step than 20 % loss."""
    late = []
    for loss in ("5%", "20%"):
        setups = _events(simulate(_scenario("udp", loss)), "call_setup")
        late.append(sum(s["setup_s"] is None or s["setup_s"] > RTT_S + 1e-6 for s in setups))
    assert late[0] < late[1]
    assert late[0] < 40


def test_a_lossless_udp_setup_is_one_round_trip() -> None:
    """No loss, no RRC: INVITE up and 200 OK down, the set-up one RTT; every message once."""
    trace = simulate(_scenario("udp", "0%", calls=5))
    for setup in _events(trace, "call_setup"):
        assert setup["setup_s"] == pytest.approx(RTT_S, abs=1e-9)
        assert setup["post_dial_delay_s"] == pytest.approx(RTT_S, abs=1e-9)
        assert setup["retransmissions"] == {}
    labels = [m["label"] for m in _events(trace, "sip_message") if m["call"] == 0]
    assert labels == ["INVITE", "100", "180", "200", "ACK"]


def test_tcp_holds_later_messages_behind_a_lost_segment() -> None:
    """TCP at 20 % loss: each direction's messages arrive in the order written, and a
    message whose segment arrived waits for an earlier lost one's retransmission (RTO,
    at least RFC 6298's 1 s): 180 and 200 arrive together with a late 100 Trying."""
    trace = simulate(_scenario("tcp", "20%"))
    held = 0
    for messages in _by_call(_events(trace, "sip_message")).values():
        for direction in ("uplink", "downlink"):
            arrived = [m["arrival_s"] for m in messages if m["direction"] == direction]
            known = [a for a in arrived if a is not None]
            assert known == sorted(known)
        by_label = {m["label"]: m for m in messages if not m["retransmission"]}
        trying, ringing = by_label.get("100"), by_label.get("180")
        if trying and ringing and trying["arrival_s"] is not None:
            late = trying["arrival_s"] - trying["time_s"]
            if late >= 1.0 and ringing["arrival_s"] == trying["arrival_s"]:
                held += 1
    assert held >= 1
    tcp = [s["tcp_s"] for s in _events(trace, "call_setup") if s["tcp_s"] is not None]
    assert min(tcp) == pytest.approx(RTT_S, abs=1e-9)  # SYN, SYN-ACK: one round trip


@pytest.mark.parametrize(("transport", "round_trips"), [("tcp", 2), ("tls", 3)])
def test_handshakes_add_their_round_trips(transport: str, round_trips: int) -> None:
    """No loss, a connection opened at the dial: TCP adds one RTT before the INVITE, TLS 1.3
    one more."""
    for setup in _events(simulate(_scenario(transport, "0%", calls=3)), "call_setup"):
        assert setup["setup_s"] == pytest.approx(round_trips * RTT_S, abs=1e-9)
        assert setup["tcp_s"] == pytest.approx(RTT_S, abs=1e-9)


@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_a_kept_connection_sets_up_in_one_round_trip(transport: str) -> None:
    """The connection kept from the registration: no handshake at the dial, one RTT."""
    trace = simulate(_scenario(transport, "0%", calls=3, reuse=True))
    for setup in _events(trace, "call_setup"):
        assert setup["setup_s"] == pytest.approx(RTT_S, abs=1e-9)
        assert setup["tcp_s"] is None and setup["tls_s"] is None


@pytest.mark.parametrize(("state", "hold_s"), [("idle", PROMOTION_S), ("connected", 0.0)])
def test_setup_from_idle_pays_the_promotion(state: str, hold_s: float) -> None:
    """From IDLE the INVITE waits for the RRC promotion; from CONNECTED it does not."""
    trace = simulate(_scenario("udp", "0%", calls=4, rrc=f"{{initial_state: {state}}}"))
    for setup in _events(trace, "call_setup"):
        assert setup["radio_s"] == pytest.approx(hold_s, abs=1e-9)
        assert setup["setup_s"] == pytest.approx(RTT_S + hold_s, abs=1e-9)


def test_media_start_at_the_answer_and_failed_calls_send_none() -> None:
    """Each call's first media packet leaves at or after its answer; with every uplink
    message lost, no call is set up and no media flow."""
    trace = simulate(_scenario("udp", "20%", calls=20))
    answered = {s["call"]: s["time_s"] for s in _events(trace, "call_setup")}
    calls = trace.packets.column("call").to_numpy()
    send = trace.packets.column("send_s").to_numpy()
    for call, at in answered.items():
        assert send[calls == call].min() >= at - 1e-9
    dead = simulate(_scenario("udp", "100%", calls=3))
    assert dead.packets.num_rows == 0
    outcomes = {s["outcome"] for s in _events(dead, "call_setup")}
    assert outcomes == {"timeout"}


def test_same_seed_same_setup() -> None:
    """Two runs with one seed: the same events, byte for byte."""
    first = simulate(_scenario("tls", "20%", calls=30)).events
    second = simulate(_scenario("tls", "20%", calls=30)).events
    assert pa.Table.equals(first, second)
