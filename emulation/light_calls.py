"""The light calls of an emulation run: set up, carried and counted, as ``calls`` plans them.

A run with more calls than baresip pairs (``calls.audio_call_count``) makes the first
calls with baresip and the rest light: real SIP calls through Kamailio, each carrying
RTP of the scenario's codec both ways through the impaired links for its span of the
schedule, packets of the baresip calls' size and payload format (``light_codecs``), from
two agent processes (``light_agent``: the callers on the light calls' UE host, the last
UE host, and the answerers on the far-end host). Each light call's UE side has its own
address on the light calls' UE host, so the capture tells its streams apart as it does
every call's; the far end and the light UE host know each other's link-layer addresses
from the start (permanent neighbour entries), so no ARP (IPv6: neighbour discovery) of a
light call crosses the impaired links. Over IPv6 (``calls.ip_version: 6``) the calls'
addresses are of the run's unique local /64, added without duplicate address detection
(``nodad``) so that the agents bind them at once, as the topology adds its hosts'. The
links' records trace and score the light calls' packets like the baresip calls'; what
they carry (G.711: speech; other codecs: synthesized frames, drawn from the seed) is
decoded by nothing, so PESQ does not score them.

:func:`plan_light_agents` plans both agents from the scenario's schedule and seed;
:func:`start_light_calls` writes the plans and starts the agents (the answerers ready
once every callee is registered); :func:`finish_light_calls` waits for both, and turns
their logs into the run's ``call_dial``, ``call_start`` and ``call_end`` events
and the figures the manifest keeps (``light_logs``).
"""

from __future__ import annotations

import ipaddress
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from voipbed.emulation.audio import make_speech_wav, tile_to_length
from voipbed.emulation.frame_payload import synthetic_payloads
from voipbed.emulation.g711_payload import g711_frames
from voipbed.emulation.light_agent import READY_LINE, REGISTER_TIMEOUT_S
from voipbed.emulation.light_codecs import light_codec_problem, light_media
from voipbed.emulation.light_logs import Event, light_events, light_facts, read_lines
from voipbed.emulation.light_plan import (
    AGENT_SIP_PORT,
    FAR_FIRST_PORT,
    REALTIME_PRIORITY,
    STOP_GRACE_S,
    UE_MEDIA_PORT,
    LightAgentPlan,
    LightCall,
)
from voipbed.emulation.network import EmulatedNetwork, address_add_argv
from voipbed.emulation.process import LogLine, ManagedProcess
from voipbed.emulation.sip_core import SIP_PORT
from voipbed.emulation.sip_text import uri_host
from voipbed.emulation.topology import FIRST_UE_HOST, HostSpec, Topology
from voipbed.models.degrade import G711_LAW_BY_CODEC, G711_SAMPLE_RATE_HZ
from voipbed.rng import component_rng
from voipbed.scenario import Scenario
from voipbed.schedule import call_times

__all__ = [
    "LightRun",
    "finish_light_calls",
    "group_on_time",
    "light_address",
    "light_payloads",
    "light_ue_addresses",
    "plan_light_agents",
    "sip_core_on_time",
    "start_light_calls",
    "unsupported_light",
]

AGENT_START_TIMEOUT_S = 10.0
AGENT_END_GRACE_S = 10.0  # past an agent's own stop before it counts as stuck
PAYLOAD_S = 30.0  # the payloads each side loops: long enough not to repeat within most calls


def unsupported_light(scenario: Scenario, light_calls: int) -> list[str]:
    """What of ``scenario`` its ``light_calls`` light calls cannot do (empty when none)."""
    if light_calls == 0:
        return []
    problems = []
    codec_problem = light_codec_problem(scenario.calls.codec)
    if codec_problem is not None:
        problems.append(f"calls.codec: {codec_problem}")
    if scenario.signalling.transport.value != "udp":
        problems.append(
            f"signalling.transport: light calls (beyond the baresip calls) signal over udp "
            f"only, not {scenario.signalling.transport.value}"
        )
    if scenario.dtmf is not None:
        problems.append("dtmf: light calls (beyond the baresip calls) send no telephone events")
    return problems  # SRTP: the engine's own check names the light calls


def light_address(host: HostSpec, call: int) -> str:
    """The UE-side address of light call ``call``: host ``FIRST_UE_HOST + call`` of the
    subnet of ``host`` (the light calls' UE host); ValueError when the subnet ends first."""
    network = host.address.network
    number = FIRST_UE_HOST + call
    if number >= network.num_addresses - 1:
        last = network.num_addresses - 2 - FIRST_UE_HOST
        raise ValueError(f"call {call}: subnet {network} holds UE addresses of calls 0..{last}")
    return str(network[number])


def plan_light_agents(
    scenario: Scenario,
    calls: range,
    *,
    ue_host: HostSpec,
    far_end: HostSpec,
    registrar: tuple[str, int],
    t0: float,
    payload_paths: tuple[str, str],
    log_paths: tuple[str, str],
) -> tuple[LightAgentPlan, LightAgentPlan]:
    """The callers' and the answerers' plans of the scenario's calls ``calls`` (the light
    ones); ``payload_paths`` and ``log_paths`` are the callers' then the answerers'.
    ValueError when the codec is not one the light agents send, or the UE subnet is too
    small."""
    media = light_media(scenario.calls.codec)
    used = media.sent
    ptime_s = scenario.calls.ptime_s
    times = call_times(scenario)
    # RFC 3550 5.1 and 8.1: random SSRCs and starting values; drawn from the seed, repeatably
    rng = component_rng(scenario.seed, "emulation/light-rtp")
    count = len(calls)
    ssrcs = rng.choice(1 << 32, size=2 * count, replace=False).tolist()
    seqs = rng.integers(0, 1 << 16, size=2 * count).tolist()
    stamps = rng.integers(0, 1 << 32, size=2 * count).tolist()
    specs = tuple(
        LightCall(
            call=call,
            caller_user=f"ue{call}",
            callee_user=f"lt{call}",
            ue_address=light_address(ue_host, call),
            ue_port=UE_MEDIA_PORT,
            far_port=FAR_FIRST_PORT + 2 * call,
            start_s=float(times.start_s[call]),
            end_s=float(times.end_s[call]),
            ssrc_up=int(ssrcs[2 * k]),
            ssrc_down=int(ssrcs[2 * k + 1]),
            seq_up=int(seqs[2 * k]),
            seq_down=int(seqs[2 * k + 1]),
            ts_up=int(stamps[2 * k]),
            ts_down=int(stamps[2 * k + 1]),
        )
        for k, call in enumerate(calls)
    )
    timers = scenario.signalling.timers
    stop_s = max((spec.end_s for spec in specs), default=0.0) + STOP_GRACE_S
    common: dict[str, Any] = {
        "t0": t0,
        "stop_s": stop_s,
        "sip_port": AGENT_SIP_PORT,
        "registrar": registrar,
        "domain": uri_host(registrar[0]),
        "t1_s": timers.t1_s,
        "t2_s": timers.t2_s,
        "expires_s": int(stop_s) + 60,  # the bindings outlive the run
        "payload_type": media.payload_type,
        "encoding": media.encoding,
        "clock_hz": media.clock_hz,
        "fmtp": media.fmtp,
        "ptime_s": ptime_s,
        "payload_bytes": used.payload_bytes(ptime_s),
        "ticks_per_packet": used.rtp_ticks(ptime_s),
        "media_address": far_end.ip,
        "calls": specs,
    }
    callers = LightAgentPlan(
        role="callers",
        sip_address=ue_host.ip,
        payload_path=payload_paths[0],
        log_path=log_paths[0],
        **common,
    )
    answerers = LightAgentPlan(
        role="answerers",
        sip_address=far_end.ip,
        payload_path=payload_paths[1],
        log_path=log_paths[1],
        **common,
    )
    return callers, answerers


def light_ue_addresses(topology: Topology, calls: range) -> list[str]:
    """The UE-side addresses of the light calls ``calls``, on the last UE host."""
    host = topology.ues[-1]
    return [light_address(host, call) for call in calls]


@dataclass(frozen=True)
class LightRun:
    """The running agents of a run's light calls, and their plans."""

    callers: LightAgentPlan
    answerers: LightAgentPlan
    agents: tuple[ManagedProcess, ...]


def light_payloads(
    scenario: Scenario, side: str, speech: Callable[[], NDArray[np.float64]]
) -> tuple[bytes, ...]:
    """The payloads one ``side`` of the light calls plays, ``PAYLOAD_S`` of them: G.711
    compands ``speech()`` (8 kHz); another codec's frames are synthesized from the seed."""
    name, ptime_s = scenario.calls.codec, scenario.calls.ptime_s
    if name in G711_LAW_BY_CODEC:
        return g711_frames(speech(), name, ptime_s)
    rng = component_rng(scenario.seed, f"emulation/light-payload-{side}")
    count = max(1, round(PAYLOAD_S / ptime_s))
    return synthetic_payloads(light_media(name).sent, ptime_s, count, rng)


def _payload(work: Path, name: str, text: str, scenario: Scenario) -> str:
    """Write the payloads one side of the light calls plays; its path."""
    folder = work / "light"
    folder.mkdir(parents=True, exist_ok=True)

    def speech() -> NDArray[np.float64]:
        spoken = make_speech_wav(folder / f"{name}.wav", G711_SAMPLE_RATE_HZ, text)
        return tile_to_length(spoken, PAYLOAD_S).samples

    path = folder / f"{name}.payload"
    path.write_bytes(b"".join(light_payloads(scenario, name, speech)))
    return str(path)


def _mac(topology: Topology, host: HostSpec) -> str:
    """The MAC address of ``host``'s interface."""
    for veth in topology.veths:
        if (veth.node_a, veth.iface_a) == (host.name, host.interface):
            return veth.mac_a
        if (veth.node_b, veth.iface_b) == (host.name, host.interface):
            return veth.mac_b
    raise ValueError(f"no veth ends at {host.name}:{host.interface}")


def _configure_hosts(
    net: EmulatedNetwork, topology: Topology, addresses: Sequence[str], work: Path
) -> None:
    """Give the light UE host its calls' addresses (as the topology's hosts get theirs:
    ``network.address_add_argv``), and the far end and that host each other's MAC for them
    (``ip -batch``: one command per host)."""
    ue, far = topology.ues[-1], topology.far_end
    prefix = ue.address.network.prefixlen
    ue_mac, far_mac = _mac(topology, ue), _mac(topology, far)
    ue_lines = [
        " ".join(address_add_argv(ue, ipaddress.ip_interface(f"{a}/{prefix}"))[1:])
        for a in addresses
        if a != ue.ip
    ]
    ue_lines.append(f"neighbour replace {far.ip} lladdr {far_mac} dev {ue.interface} nud permanent")
    far_lines = [
        f"neighbour replace {a} lladdr {ue_mac} dev {far.interface} nud permanent"
        for a in addresses
    ]
    for host, lines in ((ue, ue_lines), (far, far_lines)):
        batch = work / "light" / f"{host.name}.ip-batch"
        batch.write_text("\n".join(lines) + "\n", encoding="utf-8")
        net.node(host.name).run(["ip", "-batch", str(batch)])


def group_on_time(process: ManagedProcess, priority: int = REALTIME_PRIORITY) -> int:
    """Put every process of ``process``'s process group at SCHED_FIFO ``priority``, the
    links' and the agents'; how many processes. Threads a process starts afterwards
    inherit the policy (sched(7)); threads it already has keep theirs."""
    changed = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            group = int(stat.rsplit(")", 1)[1].split()[2])  # proc(5): field 5, pgrp
            if group == process.pid:
                os.sched_setscheduler(int(entry.name), os.SCHED_FIFO, os.sched_param(priority))
                changed += 1
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to change
    return changed


def sip_core_on_time(kamailio: ManagedProcess, priority: int = REALTIME_PRIORITY) -> int:
    """Kamailio's processes at the links' priority (``group_on_time``). With 200 calls the
    real-time links and agents keep both cores of this machine busy, and Kamailio, at
    normal priority, waited for them: set-up times grew to 3 to 4 s (p95 3.2 s); at their
    priority, p95 63 ms. Kamailio's processes block on their sockets and timers, so they
    never spin."""
    return group_on_time(kamailio, priority)


def start_light_calls(
    net: EmulatedNetwork,
    topology: Topology,
    scenario: Scenario,
    calls: range,
    t0: float,
    work: Path,
    texts: tuple[str, str],
) -> LightRun:
    """Configure the hosts, write the plans, start the answerers (ready once registered)
    then the callers; both stop at the network's teardown. ``texts``: what the callers
    and the answerers say."""
    from_work = work / "light"
    from_work.mkdir(parents=True, exist_ok=True)
    payloads = (
        _payload(work, "callers", texts[0], scenario),
        _payload(work, "answerers", texts[1], scenario),
    )
    logs = (str(from_work / "callers.jsonl"), str(from_work / "answerers.jsonl"))
    callers, answerers = plan_light_agents(
        scenario,
        calls,
        ue_host=topology.ues[-1],
        far_end=topology.far_end,
        registrar=(topology.sip_core.ip, SIP_PORT),
        t0=t0,
        payload_paths=payloads,
        log_paths=logs,
    )
    _configure_hosts(net, topology, [c.ue_address for c in callers.calls], work)
    agents = []
    for plan, host in ((answerers, topology.far_end), (callers, topology.ues[-1])):
        plan_file = from_work / f"{plan.role}.json"
        plan_file.write_text(plan.to_json(), encoding="utf-8")
        Path(plan.log_path).unlink(missing_ok=True)
        agent = net.start(
            host,
            [sys.executable, "-m", "voipbed.emulation.light_agent", str(plan_file)],
            name=f"light-{plan.role}",
            log_dir=work,
            ready=LogLine(READY_LINE, "stdout"),
            timeout_s=AGENT_START_TIMEOUT_S + REGISTER_TIMEOUT_S,
        )
        agents.append(agent)
    return LightRun(callers, answerers, tuple(agents))


def finish_light_calls(run: LightRun) -> tuple[list[Event], dict[str, Any]]:
    """Wait for both agents to finish their calls; the events and facts of their logs."""
    end = run.callers.t0 + run.callers.stop_s + AGENT_END_GRACE_S
    for agent in run.agents:
        agent.wait(max(1.0, end - time.monotonic()), check=True)
    callers = read_lines(run.callers.log_path)
    answerers = read_lines(run.answerers.log_path)
    return light_events(callers), light_facts(callers, answerers)
