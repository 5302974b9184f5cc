"""IPv6 in the emulation's plan: the run's address plan, host settings, SIP and media configs,
and what an IPv6 scenario has refused."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from voipbed.emulation.calls import plan_calls
from voipbed.emulation.engine import unsupported
from voipbed.emulation.nat_box import NatSpec
from voipbed.emulation.network import (
    IPV6_HOST_SETTINGS,
    address_add_argv,
    ipv6_sysctl_argv,
    ping_argv,
)
from voipbed.emulation.sip_core import parse_request_log
from voipbed.emulation.stacks.baresip import baresip_accounts, baresip_config
from voipbed.emulation.stacks.kamailio import REQUEST_LOG_PREFIX
from voipbed.emulation.topology import DEFAULT_SUBNET, describe, ula_subnet
from voipbed.loader import parse_scenario
from voipbed.scenario import Scenario

RUN_ID = "ipv6-20261205T120000Z-0a1b2c3d"
BASE = (
    "name: v6\nduration: 10s\ncalls: {count: 2, ip_version: 6}\n"
    "path: [{name: radio, one_way_delay: 10ms}, {name: core, one_way_delay: 5ms}]\n"
)
ULA = ipaddress.IPv6Network("fc00::/7")  # RFC 4193 3.1


def scenario(text: str = BASE, overrides: tuple[str, ...] = ()) -> Scenario:
    return parse_scenario(text, "v6.yaml", list(overrides))


def test_ula_subnet_is_a_unique_local_64_of_the_run() -> None:
    """The run's prefix is fd00::/8 (L bit set), /64, the same for a run id, other for another."""
    subnet = ula_subnet(RUN_ID)
    assert subnet.prefixlen == 64 and subnet.subnet_of(ULA)
    assert subnet.network_address.packed[0] == 0xFD
    assert not subnet.is_global
    assert ula_subnet(RUN_ID) == subnet
    assert ula_subnet(RUN_ID + "x") != subnet


def test_an_ipv6_scenario_gets_ipv6_hosts_numbered_as_in_ipv4() -> None:
    """Every host of an IPv6 run has an address of the run's /64, host numbers as IPv4's."""
    v6 = describe(scenario(), RUN_ID)
    v4 = describe(scenario(overrides=("calls.ip_version=4",)), RUN_ID)
    assert v6.ip_version == 6 and v4.ip_version == 4
    assert v6.subnet == ula_subnet(RUN_ID) and v4.subnet == DEFAULT_SUBNET
    assert [h.name for h in v6.hosts] == [h.name for h in v4.hosts]
    for host6, host4 in zip(v6.hosts, v4.hosts, strict=True):
        assert host6.address.version == 6 and host6.address.network == v6.subnet
        offset4 = int(host4.address.ip) - int(v4.subnet.network_address)
        assert int(host6.address.ip) - int(v6.subnet.network_address) == offset4
    assert len({h.ip for h in v6.hosts}) == len(v6.hosts)


def test_ipv6_addresses_are_written_as_the_links_record_them() -> None:
    """A host's address text is inet_ntop's (how the links' records name it), so UEs match."""
    for run in range(50):
        topology = describe(scenario(), f"{RUN_ID}-{run}")
        for host in topology.hosts:
            packed = host.address.ip.packed
            assert host.ip == socket.inet_ntop(socket.AF_INET6, packed)


def test_uri_host_brackets_ipv6_only() -> None:
    """In a URI an IPv6 address is in brackets (RFC 3261 25.1); an IPv4 one is bare."""
    core6 = describe(scenario(), RUN_ID).sip_core
    core4 = describe(scenario(overrides=("calls.ip_version=4",)), RUN_ID).sip_core
    assert core6.uri_host == f"[{core6.ip}]"
    assert core4.uri_host == core4.ip == "10.0.0.1"


def test_a_subnet_of_the_other_version_or_a_nat_on_ipv6_is_refused() -> None:
    """describe refuses an IPv4 subnet for an IPv6 scenario, and a NAT on an IPv6 network."""
    with pytest.raises(ValueError, match="not IPv6"):
        describe(scenario(), RUN_ID, subnet=DEFAULT_SUBNET)
    with pytest.raises(ValueError, match="NAT44"):
        describe(scenario(), RUN_ID, nat=NatSpec())
    with pytest.raises(ValueError, match="NAT44"):
        describe(scenario(), RUN_ID, phones=NatSpec())


def test_ipv6_addresses_are_added_without_dad() -> None:
    """An IPv6 address is added with nodad (usable at once); an IPv4 one without the flag."""
    v6 = describe(scenario(), RUN_ID).ues[0]
    v4 = describe(scenario(overrides=("calls.ip_version=4",)), RUN_ID).ues[0]
    assert address_add_argv(v6) == [
        *("ip", "address", "add", str(v6.address), "dev", v6.interface, "nodad")
    ]
    assert address_add_argv(v4) == ["ip", "address", "add", str(v4.address), "dev", v4.interface]


def test_host_settings_turn_ipv6_on_without_dad_router_or_forwarding() -> None:
    """The hosts' sysctl enables IPv6 with DAD, router advertisements, SLAAC and forwarding
    off, for the interfaces there and those still to come."""
    argv = ipv6_sysctl_argv()
    assert argv[:3] == ["sysctl", "-q", "-w"]
    settings = dict(item.split("=") for item in argv[3:])
    for scope in ("all", "default"):
        for key, value in {
            "disable_ipv6": "0",
            "accept_dad": "0",
            "accept_ra": "0",
            "autoconf": "0",
            "forwarding": "0",
        }.items():
            assert settings[f"net.ipv6.conf.{scope}.{key}"] == value
    assert len(settings) == 2 * len(IPV6_HOST_SETTINGS)
    assert all(key.startswith("net.ipv6.conf.") for key in settings)  # nothing host-wide


def test_neighbour_resolution_pings_once_numerically() -> None:
    """The build's resolution is one echo request to the address, without name lookups."""
    argv = ping_argv("fd12:3456:789a::2")
    assert argv[0] == "ping" and argv[-1] == "fd12:3456:789a::2"
    assert argv[argv.index("-c") + 1] == "1" and "-n" in argv


def test_baresip_accounts_and_listeners_use_the_ipv6_addresses() -> None:
    """Each baresip listens on its host's IPv6 address and registers at the core's, in
    brackets; calls dial the callee at the bracketed core."""
    topology = describe(scenario(), RUN_ID)
    core = topology.sip_core.ip
    for plan in plan_calls(scenario(), topology):
        assert plan.dial_uri == f"sip:{plan.callee.user}@[{core}]:5060"
        for spec, host in ((plan.caller, plan.caller_host), (plan.callee, plan.callee_host)):
            config = dict(
                line.split(None, 1) for line in baresip_config(spec).splitlines()[1:] if line
            )
            assert config["sip_listen"] == f"[{host.ip}]:{spec.sip_port}"
            assert config["net_interface"] == host.ip
            assert config["ctrl_tcp_listen"] == f"[{host.ip}]:{spec.ctrl_port}"
            assert baresip_accounts(spec).startswith(f"<sip:{spec.user}@[{core}]:5060>;")


def test_tls_registrar_is_the_bracketed_core_at_5061() -> None:
    """Over TLS the accounts register at the core's bracketed address, port 5061."""
    tls = scenario(overrides=("signalling.transport=tls",))
    topology = describe(tls, RUN_ID)
    (first, *_) = plan_calls(tls, topology)
    assert first.caller.aor == f"sip:ue0@[{topology.sip_core.ip}]:5061;transport=tls"


def test_kamailio_request_log_parses_ipv6_sources() -> None:
    """A request from an IPv6 source parses to its address and port."""
    line = (
        f"{REQUEST_LOG_PREFIX} initial INVITE sip:far0@[fd12:3456:789a::1]:5060 "
        "from fd12:3456:789a::b:5062 proto udp call-id abc at 1796469942.720910"
    )
    (request,) = parse_request_log(line)
    assert (request.source_ip, request.source_port) == ("fd12:3456:789a::b", 5062)
    assert request.uri == "sip:far0@[fd12:3456:789a::1]:5060"


def test_baresip_calls_gcc_endpoints_and_a_sip_load_over_ipv6_are_not_refused() -> None:
    """Baresip calls over IPv6 (UDP, TCP or TLS; DTMF), the GCC endpoints' calls and a SIP
    load raise no ip_version refusal."""
    gcc = ("calls.rate_control.algorithm=gcc", "calls.codec=OPUS-WB-24")
    load = ("signalling.load={calls: 10, calls_per_second: 5}",)
    transports = (("signalling.transport=tcp",), ("signalling.transport=tls",))
    for overrides in ((), *transports, gcc, load):
        problems = unsupported(scenario(overrides=overrides))
        assert not [p for p in problems if "ip_version" in p], problems


@pytest.mark.parametrize(
    ("extra", "overrides", "says"),
    [
        ("signalling: {phones: {count: 2}}\n", (), "NAT66"),
    ],
)
def test_what_is_not_emulated_over_ipv6_is_refused_with_its_reason(
    extra: str, overrides: tuple[str, ...], says: str
) -> None:
    """Idle phones over IPv6 are refused at calls.ip_version, naming why; over IPv4 the
    same scenario has no such refusal."""
    problems = unsupported(scenario(BASE + extra, overrides))
    refusals = [p for p in problems if p.startswith("calls.ip_version")]
    assert len(refusals) == 1 and says in refusals[0], problems
    v4 = unsupported(scenario(BASE + extra, (*overrides, "calls.ip_version=4")))
    assert not [p for p in v4 if p.startswith("calls.ip_version")]
