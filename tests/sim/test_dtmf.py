"""DTMF in the simulator: telephone events cross the uplink with the media, and the far end's
detection falls as the path loses more packets."""

from __future__ import annotations

import json

import pytest

from voipbed.loader import parse_scenario
from voipbed.metric_names import EventKind
from voipbed.scenario import Scenario
from voipbed.scoring import score_run
from voipbed.sim.engine import simulate

CALLS = 100
DIGITS = "1" * 20  # a repeated digit: libre's receiver tells them apart by the end packets
# 50 ms tone at 50 ms: one update and three ends, four packets a digit (RFC 4733's 50 ms).
DTMF = f"{{digits: '{DIGITS}', start: 1s, tone: 50ms, gap: 150ms, interval: 50ms"


def scenario(loss: str, receiver: str) -> Scenario:
    """CALLS calls over a radio hop losing ``loss`` of packets (Bernoulli) and a core hop."""
    return parse_scenario(
        f"""\
name: dtmf-loss
duration: 6s
seed: 3
calls: {{count: {CALLS}}}
path:
  - {{name: radio, one_way_delay: 10ms, loss: {loss}}}
  - {{name: core, one_way_delay: 20ms}}
dtmf: {DTMF}, receiver: {receiver}}}
"""
    )


def totals(scenario: Scenario) -> dict[str, int]:
    """The run's dtmf events summed over calls."""
    trace = simulate(scenario)
    rows = trace.events.to_pylist()
    fields = [json.loads(row["fields"]) for row in rows if row["kind"] == EventKind.DTMF]
    assert len(fields) == CALLS  # one per caller
    keys = ("sent", "detected", "missed", "duplicated", "packets_sent", "packets_received")
    return {key: sum(f[key] for f in fields) for key in keys}


@pytest.mark.parametrize("receiver", ["rfc4733", "event_code"])
def test_detection_is_exact_without_loss_and_falls_as_loss_rises(receiver: str) -> None:
    """0 %: every digit detected once; 5 % and 20 %: more packets lost, more digits missed."""
    runs = {loss: totals(scenario(loss, receiver)) for loss in ("0%", "5%", "20%")}
    clean = runs["0%"]
    assert clean["sent"] == CALLS * len(DIGITS)
    assert clean["packets_sent"] == clean["packets_received"] == 4 * clean["sent"]
    assert (clean["detected"], clean["missed"], clean["duplicated"]) == (clean["sent"], 0, 0)
    for loss, share in (("5%", 0.05), ("20%", 0.20)):
        run = runs[loss]
        assert run["sent"] == clean["sent"]
        assert run["detected"] + run["missed"] == run["sent"]
        lost = 1 - run["packets_received"] / run["packets_sent"]
        assert lost == pytest.approx(share, abs=0.02)
    assert runs["0%"]["missed"] <= runs["5%"]["missed"] < runs["20%"]["missed"]


def test_libre_receiver_misses_a_digit_whose_update_is_lost() -> None:
    """libre's receiver starts events on updates only: with one update a digit, a digit is
    missed when its update is lost (20 %) or, repeated, when the three ends before it are
    (0.8 % of the rest); the RFC 4733 receiver only when all four packets are (0.16 %)."""
    libre = totals(scenario("20%", "event_code"))
    expected = libre["sent"] * (0.2 + 0.8 * 0.2**3)
    assert libre["missed"] == pytest.approx(expected, rel=0.15)
    rfc = totals(scenario("20%", "rfc4733"))
    assert rfc["missed"] < libre["missed"] / 10


def test_dtmf_figures_join_the_uplink_flows_metrics() -> None:
    """metrics gets dtmf_sent/detected/missed on uplink flows, NaN on downlink ones."""
    trace = simulate(scenario("5%", "rfc4733"))
    metrics = score_run(trace.packets, scenario("5%", "rfc4733"), trace.events).metrics
    uplink = metrics["direction"] == "uplink"
    assert (metrics["dtmf_sent"][uplink] == len(DIGITS)).all()
    detected = metrics["dtmf_detected"][uplink] + metrics["dtmf_missed"][uplink]
    assert (detected == len(DIGITS)).all()
    assert all(value != value for value in metrics["dtmf_sent"][~uplink])  # NaN


def test_telephone_events_are_not_voice_packets() -> None:
    """The packets table and the voice figures are those of a run without DTMF."""
    with_dtmf = scenario("5%", "rfc4733")
    without = with_dtmf.model_copy(update={"dtmf": None})
    assert simulate(with_dtmf).packets.num_rows == simulate(without).packets.num_rows


def test_windows_do_not_change_the_telephone_events_fate() -> None:
    """Cutting the run into windows gives the same dtmf events and packets."""
    lossy = scenario("20%", "rfc4733")
    whole, cut = simulate(lossy), simulate(lossy, cuts=[1.33, 2.5, 4.1])
    assert cut.packets.to_pandas().equals(whole.packets.to_pandas())  # NaN equals NaN
    cut_dtmf, whole_dtmf = (
        [row for row in trace.events.to_pylist() if row["kind"] == EventKind.DTMF]
        for trace in (cut, whole)
    )
    assert len(cut_dtmf) == CALLS
    assert cut_dtmf == whole_dtmf
