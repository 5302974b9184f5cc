"""Idle phones behind a NAT in an emulation run, as ``signalling.phones`` and ``nat`` say.

The phones live in their own host behind the NAT node (``topology.describe(phones=...)``),
whose conntrack keeps a UDP binding ``nat.udp_timeout`` after its last packet: both of
netfilter's UDP timeouts are set to it, since a phone's flow has seen replies (its
REGISTER's 200) and so lives the stream timeout, which the simulator's one timeout must
equal. Kamailio registers them with ``nat_traversal`` (INVITEs to the NAT's external
address and port; it never pings them itself). One ``phone_agent`` process plays every
phone in the phones' host and another, on the far-end host, calls them through
Kamailio; both follow the simulator's plan (``phone_plan``). A counting drop rule per
phone port in the NAT's table counts what the core sent into an expired binding.
:func:`finish_phones` turns the agents' logs and those counters into the simulator's
events (``phone_logs``).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from voipbed.emulation.nat_box import NatSpec, NatSpecError
from voipbed.emulation.network import EmulatedNetwork
from voipbed.emulation.phone_agent import READY_LINE
from voipbed.emulation.phone_logs import Event, drop_counters, phone_events, read_lines
from voipbed.emulation.phone_plan import AgentPlan, plan_agents
from voipbed.emulation.process import LogLine, ManagedProcess
from voipbed.emulation.sip_core import SIP_PORT
from voipbed.emulation.topology import Topology
from voipbed.models.nat import FilteringBehaviour, MappingBehaviour
from voipbed.scenario import Scenario

__all__ = [
    "MAX_PHONES",
    "PhoneRun",
    "finish_phones",
    "phones_nat",
    "start_phones",
    "unsupported_phones",
]

MAX_PHONES = 20
"""Phones one emulation runs. They share one Python process and event loop on a 2-core
machine also running Kamailio, baresip and the userspace links; agreement with the
simulator to the second needs each message sent within milliseconds of its instant,
and 20 phones (a port, a socket and a counting nftables rule each) keep that loop idle
between a few messages a second. More phones add no new behaviour to emulate."""

AGENT_READY_TIMEOUT_S = 10.0
AGENT_END_GRACE_S = 10.0  # past the run's end before an agent counts as stuck
DROP_CHAIN = "drop_unsolicited_in"  # nat_box's chain for new inbound packets to the NAT


def unsupported_phones(scenario: Scenario) -> list[str]:
    """What of ``signalling.phones`` and ``signalling.nat`` the emulation cannot run."""
    signalling = scenario.signalling
    phones, nat = signalling.phones, signalling.nat
    problems = []
    if nat is not None and phones is None:
        problems.append(
            "signalling.nat without signalling.phones: the emulated NAT carries the idle "
            "phones only (the calls' UEs meet no NAT)"
        )
    if phones is None:
        return problems
    if signalling.transport.value != "udp":
        problems.append("signalling.phones: emulated over udp only")
    if phones.count > MAX_PHONES:
        problems.append(
            f"signalling.phones.count {phones.count} > {MAX_PHONES} phones per emulation "
            "(one agent process plays them all, to the millisecond)"
        )
    if nat is not None:
        timeout = nat.udp_timeout_s
        if timeout != int(timeout):
            problems.append(
                f"signalling.nat.udp_timeout {timeout:g} s: the emulation needs whole "
                "seconds (conntrack holds its timeouts in whole seconds)"
            )
            return problems
        try:
            phones_nat(scenario)
        except NatSpecError as error:
            problems.append(f"signalling.nat: {error}")
    return problems


def phones_nat(scenario: Scenario) -> NatSpec | None:
    """The phones' NAT: the scenario's behaviours, every UDP binding living ``udp_timeout``
    (replied or not; whole seconds); None without ``signalling.nat``. NatSpecError for
    what netfilter cannot do."""
    nat = scenario.signalling.nat
    if nat is None:
        return None
    return NatSpec(
        mapping=MappingBehaviour[nat.mapping.name],
        filtering=FilteringBehaviour[nat.filtering.name],
        udp_timeout_s=nat.udp_timeout_s,
        udp_stream_timeout_s=nat.udp_timeout_s,
        tcp_established_timeout_s=math.ceil(nat.tcp_timeout_s),  # no TCP phones: unused
    )


@dataclass(frozen=True)
class PhoneRun:
    """The running agents of a run's phones, their plans, and the NAT's table if any."""

    phones: AgentPlan
    caller: AgentPlan
    agents: tuple[ManagedProcess, ...]
    nat_table: str | None


def _agent_argv(plan_file: Path) -> list[str]:
    return [sys.executable, "-m", "voipbed.emulation.phone_agent", str(plan_file)]


def _count_drops(net: EmulatedNetwork, topology: Topology, plan: AgentPlan) -> str | None:
    """Insert a counting drop rule per phone port before the NAT's own drop rule; the
    table's name (None without a NAT)."""
    nat = topology.nat
    if nat is None:
        return None
    node = net.node(nat.name)
    for phone in plan.phones:
        rule = (
            f'insert rule ip {nat.table} {DROP_CHAIN} iifname "{nat.outside_interface}" '
            f"udp dport {phone.port} ct state new counter drop"
        )
        node.run(["nft", rule])
    return nat.table


def start_phones(
    net: EmulatedNetwork, topology: Topology, scenario: Scenario, t0: float, work: Path
) -> PhoneRun:
    """Write the agents' plans and start them (phones, then the caller), ready before
    ``t0`` when the set-up allows; both stop at the network's teardown."""
    phones_host = topology.phones
    if phones_host is None:
        raise ValueError("the topology has no phones' host (describe(phones=...))")
    phones, caller = plan_agents(
        scenario,
        t0=t0,
        phone_addresses=topology.phone_addresses,
        caller_address=topology.far_end.ip,
        registrar=(topology.sip_core.ip, SIP_PORT),
        work=work,
    )
    table = _count_drops(net, topology, phones)
    agents = []
    for plan, host in ((phones, phones_host), (caller, topology.far_end)):
        plan_file = work / f"{plan.role}-agent.json"
        plan_file.write_text(plan.to_json(), encoding="utf-8")
        Path(plan.log_path).unlink(missing_ok=True)
        agent = net.start(
            host,
            _agent_argv(plan_file),
            name=f"{plan.role}-agent",
            log_dir=work,
            ready=LogLine(READY_LINE, "stdout"),
            timeout_s=AGENT_READY_TIMEOUT_S,
        )
        agents.append(agent)
    return PhoneRun(phones, caller, tuple(agents), table)


def finish_phones(net: EmulatedNetwork, topology: Topology, run: PhoneRun) -> list[Event]:
    """Wait for the agents to reach the run's end; the phones' events (``phone_logs``)."""
    end = run.phones.t0 + run.phones.duration_s + AGENT_END_GRACE_S
    for agent in run.agents:
        agent.wait(max(0.0, end - time.monotonic()), check=True)
    drops = None
    nat = topology.nat
    if run.nat_table is not None and nat is not None:
        listing = net.node(nat.name).run(
            ["nft", "-j", "list", "chain", "ip", run.nat_table, DROP_CHAIN]
        )
        by_port = drop_counters(listing.stdout)
        drops = {phone.index: by_port.get(phone.port, 0) for phone in run.phones.phones}
    return phone_events(
        read_lines(Path(run.phones.log_path).read_text(encoding="utf-8")),
        read_lines(Path(run.caller.log_path).read_text(encoding="utf-8")),
        count=len(run.phones.phones),
        end_s=run.phones.duration_s,
        nat_drops=drops,
    )
