"""The emulated phones' pure parts: SIP and STUN text, plans, logs to events, topology,
Kamailio's NAT configuration and what the engine refuses."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest

from voipbed.emulation.engine import unsupported
from voipbed.emulation.phone_logs import drop_counters, phone_events, read_lines
from voipbed.emulation.phone_plan import FIRST_PHONE_PORT, AgentPlan, plan_agents
from voipbed.emulation.phones import MAX_PHONES, phones_nat, unsupported_phones
from voipbed.emulation.sip_text import (
    digest_authorization,
    is_stun,
    param,
    parse_sip,
    request_text,
    response_text,
    stun_binding_request,
    stun_transaction_id,
    uri_of,
)
from voipbed.emulation.stacks.kamailio import KamailioSpec, TmTimers, kamailio_config
from voipbed.emulation.topology import describe
from voipbed.loader import parse_scenario
from voipbed.models.phone_schedule import phone_schedule
from voipbed.rng import component_rng
from voipbed.scenario import Scenario
from voipbed.trace import EventKind

SCENARIO = """
name: phones
seed: 4
duration: 90s
calls: {{count: 2}}
signalling:
  nat: {{udp_timeout: {timeout}}}
  phones: {{count: {count}, keepalive: 15s, incoming_calls_per_hour: 200}}
"""


def scenario(timeout: str = "20s", count: int = 3) -> Scenario:
    """A small phones scenario with a NAT of ``timeout``."""
    return parse_scenario(SCENARIO.format(timeout=timeout, count=count), "phones.yaml")


def invite() -> str:
    """An INVITE as Kamailio relays it: two Vias and a Record-Route."""
    return request_text(
        "INVITE",
        "sip:phone1@100.64.0.11:5101",
        [
            ("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKk1"),
            ("Via", "SIP/2.0/UDP 10.0.0.2:5090;rport=5090;branch=z9hG4bKc1"),
            ("Record-Route", "<sip:10.0.0.1;lr>"),
            ("From", "<sip:core@10.0.0.1>;tag=f1"),
            ("To", "<sip:phone1@10.0.0.1>"),
            ("Call-ID", "c1"),
            ("CSeq", "1 INVITE"),
        ],
    )


def test_request_round_trips_through_the_parser() -> None:
    """A built request parses back to its method, URI, headers in order and branch."""
    message = parse_sip(invite())
    assert (message.method, message.uri, message.status) == (
        "INVITE",
        "sip:phone1@100.64.0.11:5101",
        None,
    )
    assert len(message.all("via")) == 2
    assert message.branch == "z9hG4bKk1"
    assert message.get("content-length") == "0"


def test_response_copies_vias_and_tags_the_to() -> None:
    """A response keeps every Via, the Record-Route and CSeq, and adds the To tag once."""
    ok = parse_sip(response_text(parse_sip(invite()), 200, to_tag="a1"))
    assert ok.status == 200 and ok.reason == "OK"
    assert ok.all("Via") == parse_sip(invite()).all("Via")
    assert ok.to_tag == "a1" and ok.cseq_method == "INVITE"
    assert ok.all("Record-Route") == ["<sip:10.0.0.1;lr>"]
    again = parse_sip(response_text(ok, 200, to_tag="other"))  # a tagged To keeps its tag
    assert again.to_tag == "a1"


def test_parser_refuses_what_is_not_sip() -> None:
    """Garbage and a request line without a SIP version are errors."""
    for text in ("hello", "INVITE sip:x HTTP/1.1\r\n\r\n", "SIP/2.0 abc OK\r\n\r\n"):
        with pytest.raises(ValueError):
            parse_sip(text)


def test_header_parameters_and_uris() -> None:
    """Parameters after the URI are the header's; a URI's own parameters are not."""
    contact = "<sip:phone0@10.0.0.3:5100;transport=udp>;expires=27"
    assert param(contact, "expires") == "27"
    assert param(contact, "transport") is None
    assert uri_of(contact) == "sip:phone0@10.0.0.3:5100;transport=udp"
    assert param("SIP/2.0/UDP 1.2.3.4:5;rport;branch=z9", "rport") == ""


def test_digest_answers_the_challenge_as_rfc_2617_computes_it() -> None:
    """Without qop the response is MD5(HA1:nonce:HA2); with qop=auth it takes nc and cnonce."""

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ha1, ha2 = md5("phone0:voipbed:secret"), md5("REGISTER:sip:10.0.0.1")
    kwargs = {"method": "REGISTER", "uri": "sip:10.0.0.1", "user": "phone0"}
    plain = digest_authorization(
        'Digest realm="voipbed", nonce="n1"', password="secret", cnonce="c", **kwargs
    )
    assert f'response="{md5(f"{ha1}:n1:{ha2}")}"' in plain
    qop = digest_authorization(
        'Digest realm="voipbed", nonce="n1", qop="auth"', password="secret", cnonce="c", **kwargs
    )
    assert f'response="{md5(f"{ha1}:n1:00000001:c:auth:{ha2}")}"' in qop
    with pytest.raises(ValueError):
        digest_authorization('Basic realm="x"', password="s", cnonce="c", **kwargs)


def test_stun_binding_request_and_success() -> None:
    """A Binding request is STUN; only a success response yields its transaction id."""
    tid = bytes(range(12))
    request = stun_binding_request(tid)
    assert is_stun(request) and len(request) == 20
    assert stun_transaction_id(request) is None
    success = b"\x01\x01" + request[2:]
    assert stun_transaction_id(success) == tid
    assert not is_stun(b"REGISTER sip:10.0.0.1 SIP/2.0\r\n\r\n")
    with pytest.raises(ValueError):
        stun_binding_request(b"short")


def test_plans_follow_the_simulators_schedule(tmp_path: Path) -> None:
    """Both agents' instants are phone_schedule's from the phones/schedule stream."""
    s = scenario()
    phones, caller = plan_agents(
        s,
        t0=100.0,
        phone_addresses=["100.64.0.11", "100.64.0.12", "100.64.0.13"],
        caller_address="10.0.0.2",
        registrar=("10.0.0.1", 5060),
        work=tmp_path,
    )
    expected = phone_schedule(component_rng(s.seed, "phones/schedule"), 3, 90.0, 200.0)
    assert [p.register_s for p in phones.phones] == list(expected.register_s)
    assert [p.port for p in phones.phones] == [FIRST_PHONE_PORT + i for i in range(3)]
    assert [p.address for p in phones.phones] == ["100.64.0.11", "100.64.0.12", "100.64.0.13"]
    assert all(p.keepalive_s == 15.0 for p in phones.phones)
    by_phone = [[c.at_s for c in caller.calls if c.phone == i] for i in range(3)]
    assert by_phone == [list(at) for at in expected.incoming_s]
    assert [c.at_s for c in caller.calls] == sorted(c.at_s for c in caller.calls)
    assert AgentPlan.from_json(phones.to_json()) == phones
    assert AgentPlan.from_json(caller.to_json()) == caller


def test_logs_become_the_simulators_events() -> None:
    """Registrations, keep-alives and calls are tallied per phone; each ended call is an
    incoming_call event at its INVITE."""
    phone_log = read_lines(
        "\n".join(
            json.dumps(r)
            for r in (
                {"t": 1.0, "what": "registered", "phone": 0},
                {"t": 2.0, "what": "register_failed", "phone": 1},
                {"t": 16.0, "what": "pong", "phone": 0},
                {"t": 31.0, "what": "ping_failed", "phone": 0},
                {"t": 32.0, "what": "ping", "phone": 0},  # still waiting: not counted
            )
        )
        + '\n{"t": 40.0, "wh'  # a torn last line
    )
    caller_log = [
        {"t": 41.0, "what": "invite_sent", "phone": 0, "call": 0, "call_id": "a"},
        {"t": 41.1, "what": "call_ended", "phone": 0, "call": 0, "call_id": "a",
         "outcome": "answered", "setup_s": 0.1},
        {"t": 45.0, "what": "invite_sent", "phone": 1, "call": 0, "call_id": "b"},
        {"t": 50.0, "what": "call_ended", "phone": 1, "call": 0, "call_id": "b",
         "outcome": "timeout", "setup_s": None},
    ]  # fmt: skip
    events = phone_events(phone_log, caller_log, count=2, end_s=90.0, nat_drops={1: 4})
    calls = [e for e in events if e[1] == EventKind.INCOMING_CALL]
    assert calls == [
        (41.0, EventKind.INCOMING_CALL, 0, {"call": 0, "outcome": "answered", "setup_s": 0.1}),
        (45.0, EventKind.INCOMING_CALL, 1, {"call": 0, "outcome": "timeout"}),
    ]
    phones = {e[2]: e[3] for e in events if e[1] == EventKind.PHONE}
    assert all(e[0] == 90.0 for e in events if e[1] == EventKind.PHONE)
    assert phones[0]["registrations"] == 1 and phones[1]["registrations_failed"] == 1
    assert (phones[0]["keepalives"], phones[0]["keepalives_failed"]) == (2, 1)
    assert (phones[1]["incoming_calls"], phones[1]["incoming_answered"]) == (1, 0)
    assert (phones[0]["nat_drops"], phones[1]["nat_drops"]) == (0, 4)
    assert math.isnan(phones[0]["energy_j"]) and phones[0]["promotions"] == 0
    unobserved = phone_events([], [], count=1, end_s=1.0)
    assert math.isnan(unobserved[0][3]["nat_drops"])


def test_drop_counters_read_nft_json() -> None:
    """The packets of each counting rule with a udp dport match, by port."""
    listing = {
        "nftables": [
            {"metainfo": {"version": "1.0.6"}},
            {"chain": {"name": "drop_unsolicited_in"}},
            {
                "rule": {
                    "expr": [
                        {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "x"}},
                        {
                            "match": {
                                "op": "==",
                                "left": {"payload": {"protocol": "udp", "field": "dport"}},
                                "right": 5101,
                            }
                        },
                        {"counter": {"packets": 3, "bytes": 1500}},
                        {"drop": None},
                    ]
                }
            },
            {"rule": {"expr": [{"counter": {"packets": 9, "bytes": 1}}, {"drop": None}]}},
        ]
    }
    assert drop_counters(json.dumps(listing)) == {5101: 3}


def test_topology_puts_only_the_phones_behind_the_nat_at_the_cores_edge() -> None:
    """The phones' host is on the NAT's inside subnet, an address per phone, on the access
    bridge; the NAT's two interfaces are on the core bridge; the UEs stay on the path's
    subnet."""
    s = scenario()
    nat = phones_nat(s)
    assert nat is not None
    topo = describe(s, "phones-run", phones=nat)
    assert topo.phones is not None and topo.nat is not None
    assert topo.phones.ip == "100.64.0.11"
    assert topo.phone_addresses == ("100.64.0.11", "100.64.0.12", "100.64.0.13")
    assert [ue.ip for ue in topo.ues] == ["10.0.0.11", "10.0.0.12"]
    assert topo.behind_nat == (topo.phones,)
    assert str(topo.nat.outside_address.ip) == "10.0.0.3"
    joins = [(v.node_a, v.iface_a, v.node_b) for v in topo.veths]
    core = topo.core_bridge.name
    assert (topo.nat.name, topo.nat.outside_interface, core) in joins
    assert (topo.nat.name, topo.nat.inside_interface, core) in joins
    assert (topo.phones.name, topo.phones.interface, topo.access_bridge.name) in joins
    assert topo.phones.name in topo.node_names and topo.nat.name in topo.node_names
    plain = describe(s, "phones-run")
    assert plain.phones is None and plain.behind_nat == ()
    with pytest.raises(ValueError):
        describe(s, "phones-run", nat=nat, phones=nat)


def test_phones_nat_lives_the_scenarios_timeout_replied_or_not() -> None:
    """Both conntrack UDP timeouts are the scenario's udp_timeout."""
    nat = phones_nat(scenario("25s"))
    assert nat is not None
    assert (nat.udp_timeout_s, nat.udp_stream_timeout_s) == (25.0, 25.0)


def test_kamailio_nat_traversal_config() -> None:
    """With nat_traversal: nathelper without pings, stun, the NAT routes and min_expires;
    without it, none of them."""
    spec = KamailioSpec("10.0.0.1", nat_traversal=True, min_expires_s=1)
    config = kamailio_config(spec)
    for text in (
        'loadmodule "nathelper.so"',
        'loadmodule "stun.so"',
        'modparam("nathelper", "natping_interval", 0)',
        "fix_nated_register();",
        "fix_nated_contact();",
        "route(NATDETECT);",
        'modparam("registrar", "min_expires", 1)',
    ):
        assert text in config
    plain = kamailio_config(KamailioSpec("10.0.0.1"))
    assert "nathelper" not in plain and "stun" not in plain and "NATDETECT" not in plain
    with pytest.raises(ValueError):
        KamailioSpec("10.0.0.1", min_expires_s=7200)


def test_engine_refuses_what_it_cannot_emulate_of_phones() -> None:
    """A fractional NAT timeout, too many phones and a NAT without phones are refused,
    saying why; a small phones scenario is accepted."""
    assert unsupported_phones(scenario()) == []
    assert not any("phones" in problem for problem in unsupported(scenario()))
    (fraction,) = unsupported_phones(scenario("20.5s"))
    assert "whole seconds" in fraction
    (many,) = unsupported_phones(scenario(count=MAX_PHONES + 1))
    assert f"> {MAX_PHONES}" in many
    no_phones = parse_scenario("name: n\nsignalling: {nat: {udp_timeout: 20s}}\n", "nat.yaml")
    assert any("without signalling.phones" in p for p in unsupported(no_phones))


def test_kamailio_tm_timers_follow_rfc_3261() -> None:
    """T1 and T2 become retr_timer1/2 and the 408 comes at Timer B, 64*T1."""
    timers = TmTimers.rfc3261(0.1, 4.0)
    assert (timers.t1_ms, timers.t2_ms, timers.final_ms) == (100, 4000, 6400)
    config = kamailio_config(KamailioSpec("10.0.0.1", tm=timers))
    assert 'modparam("tm", "fr_timer", 6400)' in config
    assert 'modparam("tm", "retr_timer1", 100)' in config
    with pytest.raises(ValueError):
        TmTimers(t1_ms=500, t2_ms=100)
