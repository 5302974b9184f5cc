"""Light calls over IPv6: bracketed addresses in SIP, ``c=IN IP6`` SDP, sockets of the
address's family, plans on the run's ULA prefix, no ip_version refusal, and both agents
making a call over the IPv6 loopback through a relay that stands in for Kamailio."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_light_calls import light_plans
from voipbed.emulation.agent_loop import udp_socket
from voipbed.emulation.calls import MAX_AUDIO_CALLS
from voipbed.emulation.engine import unsupported
from voipbed.emulation.light_calls import light_ue_addresses
from voipbed.emulation.light_plan import LightAgentPlan, audio_sdp
from voipbed.emulation.sip_text import (
    SipText,
    host_port,
    parse_sip,
    response_text,
    uri_host,
    uri_of,
)
from voipbed.emulation.topology import describe, ula_subnet
from voipbed.loader import parse_scenario
from voipbed.sdp import parse_sdp

RUN_ID = "v6-light-1"
V6 = (
    "name: v6\nduration: 10s\n"
    f"calls: {{count: {MAX_AUDIO_CALLS + 4}, ip_version: 6, start_spread: 1s, hold_time: 5s}}\n"
    "path: [{name: radio, one_way_delay: 10ms}]\n"
)
LOOPBACK = "::1"
AGENT_TIMEOUT_S = 20.0  # generous: a busy machine must pass
CALLERS_START_S = 1.0  # the callers' process starts and binds before its t0


def _v6_plans() -> tuple[LightAgentPlan, LightAgentPlan]:
    return light_plans(text=V6, run_id=RUN_ID)


@pytest.mark.parametrize(
    ("address", "host"),
    [
        ("fd12:3456:789a::b", "[fd12:3456:789a::b]"),
        ("::1", "[::1]"),
        ("[::1]", "[::1]"),
        ("10.0.0.11", "10.0.0.11"),
        ("example.net", "example.net"),
    ],
)
def test_uri_host_brackets_ipv6_addresses_only(address: str, host: str) -> None:
    """An IPv6 address is bracketed as RFC 3261 25.1's IPv6reference; anything else is not."""
    assert uri_host(address) == host
    assert host_port(address, 5200) == f"{host}:5200"


@pytest.mark.parametrize(
    ("address", "family"), [("::1", socket.AF_INET6), ("127.0.0.1", socket.AF_INET)]
)
def test_udp_socket_is_of_the_addresss_family(address: str, family: socket.AddressFamily) -> None:
    """udp_socket opens an AF_INET6 socket for an IPv6 address, AF_INET for an IPv4 one."""
    with udp_socket(address, 0) as sock:
        assert sock.family == family
        assert ipaddress.ip_address(sock.getsockname()[0]) == ipaddress.ip_address(address)
        assert not sock.getblocking()


def test_ipv6_light_calls_are_not_refused() -> None:
    """A run of baresip and light calls over IPv6 raises no ip_version refusal."""
    problems = unsupported(parse_scenario(V6, "v6.yaml"))
    assert not [p for p in problems if "ip_version" in p], problems


def test_ipv6_plans_are_on_the_runs_prefix_with_a_bracketed_domain() -> None:
    """Over IPv6 both agents' and every light call's addresses are distinct addresses of the
    run's ULA /64; the SIP domain is the registrar's address in brackets, the registrar
    itself the bare address for sendto."""
    callers, answerers = _v6_plans()
    prefix = ula_subnet(RUN_ID)
    addresses = [call.ue_address for call in callers.calls]
    assert len(set(addresses)) == len(addresses) == 4
    every = [*addresses, callers.sip_address, answerers.sip_address, answerers.media_address]
    assert all(ipaddress.ip_address(a) in prefix for a in every)
    scenario = parse_scenario(V6, "v6.yaml")
    topology = describe(scenario, RUN_ID, max_ue_hosts=MAX_AUDIO_CALLS + 1)
    assert light_ue_addresses(topology, range(MAX_AUDIO_CALLS, MAX_AUDIO_CALLS + 4)) == addresses
    assert callers.registrar == (topology.sip_core.ip, 5060)
    assert callers.domain == answerers.domain == f"[{topology.sip_core.ip}]"


def test_the_ipv6_sdp_says_ip6_and_reads_back() -> None:
    """audio_sdp writes ``c=IN IP6`` and ``o=... IN IP6`` for an IPv6 address; voipbed's SDP
    reader gives back the same address and port."""
    address = "fd12:3456:789a::13"
    text = audio_sdp(address, 30016, 0, "PCMU", 8000, 0.020)
    assert f"\r\nc=IN IP6 {address}\r\n" in text
    assert f" IN IP6 {address}\r\n" in text.split("\r\n", 2)[1] + "\r\n"
    (media,) = parse_sdp(text)
    assert ipaddress.ip_address(media.address) == ipaddress.ip_address(address)
    assert media.port == 30016


def _free_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _loopback_plans(tmp_path: Path, registrar_port: int) -> tuple[LightAgentPlan, LightAgentPlan]:
    """One light call of the IPv6 plans, moved onto the IPv6 loopback: the callers' and the
    answerers' SIP on ports of their own, their RTP too, the relay as the registrar; the
    callers' ``t0`` is set when they start."""
    callers, answerers = _v6_plans()
    call = dataclasses.replace(
        callers.calls[0],
        ue_address=LOOPBACK,
        ue_port=_free_port(),
        far_port=_free_port(),
        start_s=0.0,
        end_s=0.5,
    )
    payload = tmp_path / "silence.g711"
    payload.write_bytes(b"\xff" * callers.payload_bytes * 5)  # PCMU silence
    common: dict[str, Any] = {
        "t0": time.monotonic(),
        "stop_s": AGENT_TIMEOUT_S,
        "registrar": (LOOPBACK, registrar_port),
        "domain": uri_host(LOOPBACK),
        "media_address": LOOPBACK,
        "sip_address": LOOPBACK,
        "payload_path": str(payload),
        "calls": (call,),
        "realtime_priority": 0,
    }
    return (
        dataclasses.replace(
            callers, sip_port=_free_port(), log_path=str(tmp_path / "callers.jsonl"), **common
        ),
        dataclasses.replace(
            answerers, sip_port=_free_port(), log_path=str(tmp_path / "answerers.jsonl"), **common
        ),
    )


def _start(plan: LightAgentPlan, folder: Path) -> subprocess.Popen[str]:
    path = folder / f"{plan.role}.json"
    path.write_text(plan.to_json(), encoding="utf-8")
    argv = [sys.executable, "-m", "voipbed.emulation.light_agent", str(path)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


class _Relay:
    """Stands in for Kamailio between the two agents: answers each REGISTER 200,
    record-routes each INVITE, passes every other message from one agent to the other, and
    keeps every message it received."""

    def __init__(self, sock: socket.socket, callers_port: int, answerers_port: int) -> None:
        self.sock = sock
        self.route = f"<sip:{host_port(LOOPBACK, sock.getsockname()[1])};lr>"
        self.peers = {callers_port: answerers_port, answerers_port: callers_port}
        self.seen: list[SipText] = []
        self.registered = False

    def serve(self, done: Callable[[], bool]) -> None:
        """Relay until ``done()``, or for at most AGENT_TIMEOUT_S."""
        deadline = time.monotonic() + AGENT_TIMEOUT_S
        with selectors.DefaultSelector() as selector:
            selector.register(self.sock, selectors.EVENT_READ)
            while not done() and time.monotonic() < deadline:
                if selector.select(0.05):
                    self._relay()

    def _relay(self) -> None:
        data, source = self.sock.recvfrom(65535)
        text = data.decode()
        message = parse_sip(text)
        self.seen.append(message)
        if message.method == "REGISTER":
            contact = [("Contact", f"{message.header('Contact')};expires=60")]
            self.sock.sendto(response_text(message, 200, extra=contact).encode(), source[:2])
            self.registered = True
            return
        if message.method == "INVITE":  # a Record-Route after the start line, as a proxy adds
            start, _, rest = text.partition("\r\n")
            text = f"{start}\r\nRecord-Route: {self.route}\r\n{rest}"
        self.sock.sendto(text.encode(), (LOOPBACK, self.peers[source[1]]))


def _stop(agents: list[subprocess.Popen[str]]) -> list[tuple[int, str]]:
    """Each agent's exit code and stderr; one still running is stopped (SIGTERM) first."""
    ended = []
    for agent in agents:
        if agent.poll() is None:
            agent.terminate()
        _, stderr = agent.communicate(timeout=AGENT_TIMEOUT_S)
        ended.append((agent.returncode, stderr))
    return ended


def _log(path: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def call_through_relay(
    tmp_path: Path, make_plans: Callable[[Path, int], tuple[LightAgentPlan, LightAgentPlan]]
) -> tuple[LightAgentPlan, LightAgentPlan, _Relay, list[tuple[int, str]]]:
    """Both agents of ``make_plans(tmp_path, registrar port)`` over the IPv6 loopback through
    a ``_Relay`` standing in for the registrar: the answerers start and register, then the
    callers call; the plans (the callers' with their t0), the relay and how each agent
    ended."""
    agents: list[subprocess.Popen[str]] = []
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as registrar:
        registrar.bind((LOOPBACK, 0))
        callers, answerers = make_plans(tmp_path, registrar.getsockname()[1])
        relay = _Relay(registrar, callers.sip_port, answerers.sip_port)
        try:
            agents.append(_start(answerers, tmp_path))
            relay.serve(lambda: relay.registered)
            callers = dataclasses.replace(callers, t0=time.monotonic() + CALLERS_START_S)
            agents.append(_start(callers, tmp_path))
            relay.serve(lambda: all(agent.poll() is not None for agent in agents))
        finally:
            ended = _stop(agents)
    return callers, answerers, relay, ended


def test_both_agents_make_a_call_over_ipv6(tmp_path: Path) -> None:
    """Over the IPv6 loopback the answerers register and the callers call: Via sent-bys,
    Contacts and the request URI bracket the IPv6 addresses, offer and answer say
    ``c=IN IP6``, ACK and BYE follow the Record-Route and the answer's Contact, the call
    is answered and ended by a 200, and RTP flows both ways."""
    callers, answerers, relay, ended = call_through_relay(tmp_path, _loopback_plans)
    assert [code for code, _ in ended] == [0, 0], ended
    route, seen = relay.route, relay.seen
    (spec,) = callers.calls
    by_method: dict[str, SipText] = {}
    for message in seen:
        by_method.setdefault(message.method or f"{message.status} {message.cseq_method}", message)
    register = by_method["REGISTER"]
    assert (
        uri_of(register.header("Contact")) == f"sip:{spec.callee_user}@[::1]:{answerers.sip_port}"
    )
    assert f"SIP/2.0/UDP [::1]:{answerers.sip_port};" in register.header("Via")
    invite = by_method["INVITE"]
    assert invite.uri == f"sip:{spec.callee_user}@[::1]"
    assert f"SIP/2.0/UDP [::1]:{callers.sip_port};" in invite.header("Via")
    assert uri_of(invite.header("Contact")) == f"sip:{spec.caller_user}@[::1]:{callers.sip_port}"
    assert "c=IN IP6 ::1" in invite.body
    ok = by_method["200 INVITE"]
    assert "c=IN IP6 ::1" in ok.body
    assert ok.all("Record-Route") == [route]
    for method in ("ACK", "BYE"):
        request = by_method[method]
        assert request.uri == f"sip:{spec.callee_user}@[::1]:{answerers.sip_port}"
        assert request.all("Route") == [route]
    caller_log, answerer_log = _log(callers.log_path), _log(answerers.log_path)
    assert [line["what"] for line in caller_log if "call" in line][:2] == ["invite", "ringing"]
    assert any(line["what"] == "ended" and line["status"] == 200 for line in caller_log)
    for log in (caller_log, answerer_log):
        (media,) = [line for line in log if line["what"] == "media"]
        assert isinstance(media["sent"], int) and media["sent"] > 0
        assert isinstance(media["received"], int) and media["received"] > 0
        assert media["send_errors"] == 0
