"""Light calls: which calls they are, their agents' plans and SDP, their logs, the refusals,
and the real-audio count of the summary and report."""

from __future__ import annotations

import numpy as np
import pytest

from voipbed.columns import Columns
from voipbed.emulation.calls import MAX_AUDIO_CALLS, audio_call_count
from voipbed.emulation.engine import MAX_CALLS, unsupported
from voipbed.emulation.light_agent import with_sdp_body
from voipbed.emulation.light_calls import (
    light_ue_addresses,
    plan_light_agents,
    unsupported_light,
)
from voipbed.emulation.light_logs import light_events, light_facts
from voipbed.emulation.light_plan import LightAgentPlan, audio_sdp
from voipbed.emulation.sip_text import parse_sip, request_text, response_text
from voipbed.emulation.topology import describe
from voipbed.loader import parse_scenario
from voipbed.media_mix import media_mix
from voipbed.reports.tables import headline
from voipbed.schedule import call_times
from voipbed.sdp import parse_sdp
from voipbed.trace import EventKind

BASE = (
    "name: e\nduration: 20s\ncalls: {count: 40, start_spread: 5s, hold_time: 10s}\n"
    "path: [{name: radio, one_way_delay: 10ms}]\n"
)


def light_plans(
    overrides: list[str] | None = None, *, text: str = BASE, run_id: str = "run-1"
) -> tuple[LightAgentPlan, LightAgentPlan]:
    """The callers' and answerers' plans of the scenario ``text`` (with ``overrides``)."""
    scenario = parse_scenario(text, "e.yaml", overrides or [])
    light = range(audio_call_count(scenario.calls.count), scenario.calls.count)
    topology = describe(scenario, run_id, max_ue_hosts=light.start + 1)
    return plan_light_agents(
        scenario,
        light,
        ue_host=topology.ues[-1],
        far_end=topology.far_end,
        registrar=(topology.sip_core.ip, 5060),
        t0=100.0,
        payload_paths=("up.g711", "down.g711"),
        log_paths=("callers.jsonl", "answerers.jsonl"),
    )


@pytest.mark.parametrize("count", [1, 5, MAX_AUDIO_CALLS])
def test_runs_of_up_to_eight_calls_stay_all_baresip(count: int) -> None:
    """Every call of a run of at most MAX_AUDIO_CALLS calls is a baresip call."""
    assert audio_call_count(count) == count


@pytest.mark.parametrize("count", [MAX_AUDIO_CALLS + 1, 50, MAX_CALLS])
def test_larger_runs_make_the_first_calls_with_baresip_and_the_rest_light(count: int) -> None:
    """Beyond MAX_AUDIO_CALLS calls, the first MAX_AUDIO_CALLS are baresip calls."""
    assert audio_call_count(count) == MAX_AUDIO_CALLS


def test_each_light_call_has_its_own_ue_address_and_far_port() -> None:
    """Light calls' UE addresses are distinct, on the last UE host's subnet, and none is a
    baresip call's host; far ports are distinct and even."""
    callers, answerers = light_plans()
    scenario = parse_scenario(BASE, "e.yaml")
    topology = describe(scenario, "run-1", max_ue_hosts=audio_call_count(40) + 1)
    addresses = [c.ue_address for c in callers.calls]
    assert len(set(addresses)) == len(addresses) == 40 - audio_call_count(40)
    assert addresses[0] == topology.ues[-1].ip
    assert not {ue.ip for ue in topology.ues[:-1]} & set(addresses)
    light = range(audio_call_count(40), 40)
    assert light_ue_addresses(topology, light) == addresses
    ports = [c.far_port for c in answerers.calls]
    assert len(set(ports)) == len(ports) and all(p % 2 == 0 for p in ports)


def test_light_calls_follow_the_schedule_with_distinct_ssrcs() -> None:
    """Start and end are the schedule's; the 2n streams have distinct SSRCs; both agents
    share the calls; the seed gives the same plan again."""
    callers, answerers = light_plans()
    scenario = parse_scenario(BASE, "e.yaml")
    times = call_times(scenario)
    for spec in callers.calls:
        assert spec.start_s == pytest.approx(times.start_s[spec.call])
        assert spec.end_s == pytest.approx(times.end_s[spec.call])
    ssrcs = [s for c in callers.calls for s in (c.ssrc_up, c.ssrc_down)]
    assert len(set(ssrcs)) == len(ssrcs)
    assert callers.calls == answerers.calls
    assert light_plans()[0].calls == callers.calls
    assert light_plans(["seed=2"])[0].calls != callers.calls


def test_the_plan_sends_the_scenarios_codec_at_its_packet_size() -> None:
    """PCMA at 30 ms: payload type 8, 240 bytes and 240 ticks a packet."""
    callers, _ = light_plans(["calls.codec=PCMA", "calls.ptime=30ms"])
    assert (callers.payload_type, callers.encoding) == (8, "PCMA")
    assert (callers.payload_bytes, callers.ticks_per_packet) == (240, 240)
    assert callers.ptime_s == pytest.approx(0.030)


def test_a_plan_reads_back_from_its_json() -> None:
    """to_json then from_json gives the same plan."""
    callers, _ = light_plans()
    assert LightAgentPlan.from_json(callers.to_json()) == callers


def test_the_sdp_names_the_address_port_and_payload_type() -> None:
    """voipbed's SDP reader finds the stream, its codec and ptime in audio_sdp's text."""
    (media,) = parse_sdp(audio_sdp("10.0.0.40", 30000, 0, "PCMU", 8000, 0.020))
    assert (media.address, media.port, media.payload_types) == ("10.0.0.40", 30000, (0,))
    assert str(media.encodings[0]) == "PCMU/8000" and media.ptime_ms == 20


def test_a_200_carries_the_sdp_with_its_length() -> None:
    """with_sdp_body puts the SDP in a bodiless response, Content-Type and -Length right."""
    invite = parse_sip(
        request_text(
            "INVITE",
            "sip:lt3@10.0.0.1",
            [
                ("Via", "SIP/2.0/UDP 10.0.0.13:5200;branch=z9hG4bK1"),
                ("From", "<sip:a@b>;tag=1"),
                ("To", "<sip:lt3@b>"),
                ("Call-ID", "c1"),
                ("CSeq", "1 INVITE"),
            ],
        )
    )
    sdp = audio_sdp("10.0.0.2", 30006, 0, "PCMU", 8000, 0.020)
    ok = parse_sip(with_sdp_body(response_text(invite, 200, to_tag="x"), sdp))
    assert ok.status == 200 and ok.header("Content-Type") == "application/sdp"
    assert int(ok.header("Content-Length")) == len(sdp.encode())
    assert ok.body == sdp.replace("\r\n", "\n")  # parse_sip reads CRLF as LF
    assert parse_sdp(ok.body)[0].port == 30006


def test_the_callers_log_becomes_dial_start_and_end_events() -> None:
    """invite, answered, ended and failed lines give call_dial, call_start and call_end."""
    lines = [
        {"t": 0.5, "what": "invite", "call": 9, "call_id": "x"},
        {"t": 0.6, "what": "ringing", "call": 9},
        {"t": 0.7, "what": "answered", "call": 9, "setup_s": 0.2},
        {"t": 8.0, "what": "bye", "call": 9},
        {"t": 8.1, "what": "ended", "call": 9, "status": 200},
        {"t": 1.0, "what": "invite", "call": 10, "call_id": "y"},
        {"t": 33.0, "what": "failed", "call": 10, "reason": "timeout", "status": None},
        {"t": 40.0, "what": "pacing", "packets": 3},
    ]
    events = light_events(lines)
    kinds = [(kind, call, at) for at, kind, call, _ in events]
    assert kinds == [
        (EventKind.CALL_DIAL, 9, 0.5),
        (EventKind.CALL_START, 9, 0.7),
        (EventKind.CALL_END, 9, 8.1),
        (EventKind.CALL_DIAL, 10, 1.0),
        (EventKind.CALL_END, 10, 33.0),
    ]
    assert events[-1][3]["reason"] == "timeout"


def test_the_facts_sum_what_both_agents_sent_and_received() -> None:
    """Calls dialled, answered, ended and the packets per side are summed from the logs."""
    callers = [
        {"t": 0, "what": "invite", "call": 9},
        {"t": 0, "what": "answered", "call": 9},
        {"t": 0, "what": "ended", "call": 9, "status": 200},
        {"t": 0, "what": "media", "call": 9, "sent": 400, "received": 390},
        {"t": 0, "what": "media", "call": 10, "sent": 0, "received": 0},
        {"t": 0, "what": "cpu", "user_s": 1.5, "system_s": 0.5},
    ]
    answerers = [{"t": 0, "what": "media", "call": 9, "sent": 398, "received": 397}]
    facts = light_facts(callers, answerers)
    assert (facts["calls"], facts["dialled"], facts["answered"], facts["ended"]) == (2, 1, 1, 1)
    assert facts["callers"]["rtp_sent"] == 400 and facts["answerers"]["rtp_received"] == 397
    assert facts["callers"]["cpu"] == {"user_s": 1.5, "system_s": 0.5}


def test_light_calls_refuse_what_they_cannot_send_by_key() -> None:
    """Beyond the baresip calls: Opus (which baresip sends), SIP over TCP and DTMF are
    refused, each at its key; with 8 calls the same scenario raises none of these."""
    overrides = ["calls.codec=OPUS-WB-24", "signalling.transport=tcp", "dtmf={digits: '1'}"]
    problems = unsupported_light(parse_scenario(BASE, "e.yaml", overrides), 32)
    assert [p.split(":")[0] for p in problems] == ["calls.codec", "signalling.transport", "dtmf"]
    assert any("light calls" in p for p in unsupported(parse_scenario(BASE, "e.yaml", overrides)))
    few = parse_scenario(BASE, "e.yaml", [*overrides, "calls.count=8"])
    assert not any("light calls" in p for p in unsupported(few))


def test_two_hundred_calls_are_run_and_more_are_refused() -> None:
    """MAX_CALLS G.711 calls raise no refusal of the count; one more is refused at it."""
    at_limit = parse_scenario(BASE, "e.yaml", [f"calls.count={MAX_CALLS}"])
    assert not any(p.startswith("calls.count") for p in unsupported(at_limit))
    beyond = parse_scenario(BASE, "e.yaml", [f"calls.count={MAX_CALLS + 1}"])
    assert any(p.startswith("calls.count") for p in unsupported(beyond))


def test_the_summary_and_report_count_real_audio_and_light_streams() -> None:
    """media_mix counts flows and calls by real_audio; the headline says "4 of 10"."""
    metrics = Columns(
        {
            "call": np.repeat(np.arange(5), 2),
            "flow": np.arange(10),
            "real_audio": np.array([True] * 4 + [False] * 6),
            "pesq_mos_lqo": np.array([3.9, 4.0, np.nan, 3.8] + [np.nan] * 6),
        },
        rows=10,
    )
    media = media_mix(metrics)
    assert media == {
        "real_audio_flows": 4,
        "light_flows": 6,
        "real_audio_calls": 2,
        "light_calls": 3,
        "pesq_scored_flows": 3,
    }
    (item,) = [i for i in headline({"media": media}, metrics) if i.label == "Real-audio streams"]
    assert item.value == "4 of 10"
    assert "3 scored by PESQ" in item.detail and "6 light streams" in item.detail
    assert media_mix(Columns({"call": np.arange(2)}, rows=2)) is None
