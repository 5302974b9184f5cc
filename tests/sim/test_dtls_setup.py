"""DTLS-SRTP keying in the simulated set-up (calls.srtp_keying: dtls), by hand."""

from __future__ import annotations

import json
from typing import Any

import pytest

from voipbed.loader import parse_scenario
from voipbed.scenario_issues import ScenarioError
from voipbed.scoring import score_trace
from voipbed.signalling_figures import setup_figures
from voipbed.sim.engine import simulate
from voipbed.trace import Trace, events_table

ONE_WAY_S = 0.035  # the path below: 20 ms + 15 ms
SCENARIO = """
name: dtls-timeline
seed: 5
duration: 30s
calls: {count: 4, start_spread: 5s, hold_time: 10s, codec: PCMU, srtp_tag_bits: 80,
        srtp_keying: dtls}
signalling: {setup: true}
path:
  - {name: radio, one_way_delay: 20ms}
  - {name: core, one_way_delay: 15ms}
radio: {rrc: null}
"""


def _run(*sets: str) -> Trace:
    return simulate(parse_scenario(SCENARIO, "dtls.yaml", overrides=list(sets)))


def _rows(trace: Trace, kind: str) -> dict[int, dict[str, Any]]:
    rows = trace.events.to_pylist()
    return {r["call"]: r | json.loads(r["fields"]) for r in rows if r["kind"] == kind}


def test_the_dropped_client_hello_keys_the_caller_one_second_and_a_round_trip_later() -> None:
    """Lossless: the early ClientHello is dropped, its copy 1 s later keys the caller one
    round trip after it reaches the phone; the set-up time holds that wait as dtls_s."""
    trace = _run()
    setups, secure = _rows(trace, "call_setup"), _rows(trace, "media_secure")
    assert set(secure) == set(setups) == {0, 1, 2, 3}
    for call, setup in setups.items():
        assert setup["dtls_s"] == pytest.approx(1.0 + 2 * ONE_WAY_S)
        assert setup["setup_s"] == pytest.approx(setup["sip_s"] + setup["dtls_s"])
        assert secure[call]["dropped_client_hellos"] == 1
        assert secure[call]["callee_secure_s"] - secure[call]["caller_secure_s"] == (
            pytest.approx(ONE_WAY_S)
        )
    figures = setup_figures(trace.events)
    assert figures is not None
    assert figures["parts_median_s"]["dtls_s"] == pytest.approx(1.0 + 2 * ONE_WAY_S)


def test_no_media_leave_a_side_before_its_keys() -> None:
    """Each side's first packet leaves once that side's handshake is done, not before."""
    trace = _run()
    secure = _rows(trace, "media_secure")
    packets = trace.packets.to_pandas()
    first = packets.groupby(["call", "direction"])["send_s"].min()
    for call, row in secure.items():
        assert first[(call, "uplink")] == pytest.approx(row["caller_secure_s"])
        assert first[(call, "downlink")] >= row["callee_secure_s"] - 1e-9


def test_sdes_keying_adds_no_handshake() -> None:
    """With SDES the media start at the answer: no dtls_s part and no media_secure event."""
    trace = _run("calls.srtp_keying=sdes")
    assert not _rows(trace, "media_secure")
    for setup in _rows(trace, "call_setup").values():
        assert "dtls_s" not in setup
        assert setup["setup_s"] == pytest.approx(2 * ONE_WAY_S)


def test_a_lossy_path_resends_flights_and_lengthens_the_handshake() -> None:
    """With 40% loss some flights are resent after RFC 6347's timer: some handshakes last
    a second longer than without loss, none less than a round trip after the answer (a
    resent 200 OK can come after the ClientHello); the same seed gives the same ones."""
    sets = ("path[0].loss=40%", "calls.count=20")
    secure = _rows(_run(*sets), "media_secure")
    assert secure == _rows(_run(*sets), "media_secure")
    lossless = 1.0 + 2 * ONE_WAY_S
    waits = [row["dtls_s"] for row in secure.values()]
    assert all(wait >= 2 * ONE_WAY_S - 1e-9 for wait in waits)
    assert any(row["retransmissions"] > 1 for row in secure.values())
    assert max(waits) >= lossless + 1.0


def test_dtls_keying_of_plain_rtp_is_refused_with_its_key() -> None:
    """srtp_keying dtls with srtp_tag_bits 0 is refused, naming the calls key."""
    with pytest.raises(ScenarioError, match="srtp_tag_bits 80"):
        parse_scenario(SCENARIO, "dtls.yaml", overrides=["calls.srtp_tag_bits=0"])


def test_the_set_up_time_metric_runs_to_the_callers_keys_in_either_engines_events() -> None:
    """setup_time_s runs from the dial to media_secure, also when call_start is at the
    answer (as the emulation writes it, at baresip's CALL_ESTABLISHED)."""
    scenario = parse_scenario(SCENARIO, "dtls.yaml")
    trace = simulate(scenario)
    setups = _rows(trace, "call_setup")
    answered_at = {call: r["time_s"] - r["dtls_s"] for call, r in setups.items()}
    as_emulated = [
        (
            answered_at[row["call"]] if row["kind"] == "call_start" else row["time_s"],
            row["kind"],
            row["call"],
            json.loads(row["fields"]),
        )
        for row in trace.events.to_pylist()
    ]
    for events in (trace.events, events_table(as_emulated)):
        metrics = score_trace(trace.packets, scenario, events)
        for flow, setup_time in zip(metrics["flow"], metrics["setup_time_s"], strict=True):
            assert setup_time == pytest.approx(setups[int(flow) // 2]["setup_s"])
