"""The emulation engine: a scenario's calls made by real SIP and RTP stacks over impaired links.

For a run, :func:`emulate` builds the scenario's network (``topology``,
``network``) with one userspace link per path segment (``link``: the same
models as the simulator, on real frames), starts Kamailio on the SIP core
host and a baresip caller and callee per baresip call (``calls``), lets every
account register, then dials each call at its start in the scenario's
schedule, measured from ``t0``, the instant the links' clocks start. Each
call lasts its hold time (the caller's speech ends it). Then everything is
stopped, the links' records become the packets table (``capture``), and
each direction's received audio is scored with PESQ against the speech sent.
Meanwhile tcpdump captures the UDP at both ends of the path, into
``captures/ue.pcap`` and ``captures/far_end.pcap`` of the run folder
(``capture_files``), in either kind of run.

A run of more calls than ``calls.MAX_AUDIO_CALLS`` makes that many with baresip and the
rest as light calls (``light_calls``): SIP through Kamailio and RTP of the scenario's
codec both ways from two agent processes, traced by the links like every call, scored by
the E-model only; the PESQ table marks which flows carried real audio (``real_audio``).
Kamailio and baresip then run at the links' real-time priority
(``light_calls.group_on_time``).

Rate-controlled calls (``calls.rate_control.algorithm: gcc``) are made by
the project's GCC endpoints instead (``gcc_calls``, ``gcc_run``): a sender
and a receiver per flow, started before ``t0`` and sending over each call's
span in the schedule, without SIP (Kamailio runs only for a
``signalling.load``) and without audio, so without PESQ. The senders' logs
give each packet's codec mode and target (``gcc_logs``), the receivers'
the feedback each direction carried.

With ``signalling.phones``, idle phones behind a NAT (``phones``: the phones' own host
behind the NAT node, ``nat.udp_timeout`` as conntrack's UDP timeouts) register with
Kamailio, keep their bindings alive with STUN and are called from the far end, by the
simulator's plan, from ``t0`` to the run's end; their figures are the simulator's
``incoming_call`` and ``phone`` events.

What the scenario asks that the emulation cannot do yet is refused up front
(:class:`EmulationUnsupported`), and so is a machine without root or the
tools (:class:`EmulationUnavailable`); nothing is built then.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import select
import shutil
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from voipbed.columns import Columns
from voipbed.emulation.audio import (
    make_speech_wav,
    read_wav,
    score_call,
    tile_to_length,
    write_wav,
)
from voipbed.emulation.calls import (
    CALLEE_TEXT,
    CALLER_TEXT,
    TLS_DIR,
    CallPlan,
    audio_call_count,
    plan_calls,
)
from voipbed.emulation.capture import packets_from_records
from voipbed.emulation.capture_files import captures_manifest, start_captures
from voipbed.emulation.cleanup import DEFAULT_STATE_DIR
from voipbed.emulation.dtmf import DtmfRun, split_event_rows
from voipbed.emulation.gcc_calls import bound_problems, plan_flows
from voipbed.emulation.gcc_logs import feedback_events, sent_logs
from voipbed.emulation.gcc_run import endpoint_summaries, finish_flows, start_flows
from voipbed.emulation.ip_version import ip_version_problems
from voipbed.emulation.light_calls import (
    LightRun,
    finish_light_calls,
    group_on_time,
    light_ue_addresses,
    sip_core_on_time,
    start_light_calls,
    unsupported_light,
)
from voipbed.emulation.link import READY_LINE, LinkSpec, link_argv, warm_up
from voipbed.emulation.link_chain import UnsupportedSegment, check_supported
from voipbed.emulation.nat_box import NatSpec
from voipbed.emulation.network import EmulatedNetwork, NetNode
from voipbed.emulation.phones import (
    PhoneRun,
    finish_phones,
    phones_nat,
    start_phones,
    unsupported_phones,
)
from voipbed.emulation.process import LogLine, ManagedProcess, run_command
from voipbed.emulation.radio_gate import HandoverPlan
from voipbed.emulation.rrc_events import rrc_events, with_phone_radio
from voipbed.emulation.rrc_gate import RrcPlan, rrc_output, warm_up_rrc
from voipbed.emulation.setup_clock import SetupClock, setup_budget_s
from voipbed.emulation.sip_core import parse_request_log, start_kamailio
from voipbed.emulation.sip_load import SipLoadRun, finish_sip_load, start_sip_load
from voipbed.emulation.stacks import Transport
from voipbed.emulation.stacks.baresip import (
    BaresipControl,
    BaresipSpec,
    MediaEncryption,
    UnsupportedCodecError,
    baresip_argv,
    baresip_codec,
    parse_baresip_log,
    registered_pattern,
    srtp_problem,
    write_config_dir,
)
from voipbed.emulation.stacks.kamailio import MODULES_DIR, TLS_MODULE, TmTimers
from voipbed.emulation.tls import TlsFiles, make_certificates
from voipbed.emulation.topology import MAX_UE_HOSTS, LinkNodeSpec, Topology, describe
from voipbed.handover_recovery import handover_configs, resolved_handovers
from voipbed.models import handover as ho
from voipbed.models.codecs import AmrPayloadFormat, Bandwidth, Codec, PayloadFormat, codec
from voipbed.models.overhead import Overhead
from voipbed.models.pesq import PesqMode
from voipbed.scenario import Scenario
from voipbed.scenario_rate import Algorithm
from voipbed.schedule import call_times, handover_events, handover_schedule
from voipbed.trace import DIRECTIONS, EventKind, Trace, events_table, host_facts

__all__ = [
    "MAX_CALLS",
    "MAX_GCC_CALLS",
    "Emulated",
    "EmulationUnavailable",
    "EmulationUnsupported",
    "emulate",
    "missing_prerequisites",
    "rate_controlled",
    "unsupported",
]

log = logging.getLogger(__name__)

MAX_CALLS = 200
"""Calls one emulation runs: the first ``calls.MAX_AUDIO_CALLS`` by baresip pairs, the rest
light calls (``light_calls``). Measured on this 2-core machine: 200 calls (400 streams,
some 20,000 packets a second through each userspace link) set up every call, with no
packet dropped by a link's socket (``kernel_drops``) and the links' delay within 1 ms of
their model's."""
MAX_GCC_CALLS = 20
"""Rate-controlled calls one emulation runs: each is four Python endpoints (about 45 MB and
0.5 s of start-up each) and its own UE host; RFC 8867's 5.1 test shared by 20 voice calls."""

TOOLS = ("mnexec", "ethtool", "kamailio", "baresip", "espeak-ng", "sox", "tcpdump")
GCC_TOOLS = ("mnexec", "ethtool", "tcpdump")  # and kamailio for a SIP load
PHONE_TOOLS = ("nft",)  # the phones' NAT
PHONES_MIN_EXPIRES_S = 1  # the registrar grants what the phones ask, as the simulator's
SETUP_S = 6.0  # rate-controlled runs, from building the network to t0
PHONES_SETUP_S = 3.0  # before t0: the phones' agents start and register (setup_clock)
GCC_SETUP_S_PER_FLOW = 0.5  # and per GCC flow: two interpreters start on the shared cores
REGISTER_TIMEOUT_S = 10.0
ANSWER_TIMEOUT_S = 10.0
END_GRACE_S = 15.0  # past a call's planned end before it counts as stuck
LINK_READY_TIMEOUT_S = 60.0  # the first start may compile the models' kernels
NO_NAT_MARGIN_S = 60  # without signalling.nat, the phones' bindings outlive the run by this


class EmulationUnavailable(RuntimeError):
    """This machine cannot run the emulation (not root, or a tool is missing); says which."""


class EmulationUnsupported(ValueError):
    """The scenario asks for what the emulation does not do yet; lists every such thing."""


@dataclass(frozen=True)
class Emulated:
    """An emulation run's trace, and PESQ per flow (``flow``, ``pesq_mos_lqo``, ...)."""

    trace: Trace
    pesq: Columns


def missing_prerequisites(scenario: Scenario | None = None) -> list[str]:
    """Why this machine cannot emulate (``scenario``, if given); empty when it can."""
    reasons = []
    if os.geteuid() != 0:
        reasons.append("the emulation needs root (network namespaces)")
    tools = TOOLS if scenario is None else _tools(scenario)
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        reasons.append(f"not installed: {', '.join(missing)} (make sysdeps installs them)")
    if (
        scenario is not None
        and "kamailio" in _tools(scenario)
        and scenario.signalling.transport.value == Transport.TLS.value
    ):
        module = Path(MODULES_DIR) / f"{TLS_MODULE}.so"
        if not module.exists():
            reasons.append(
                f"SIP over TLS needs Kamailio's tls module: {module} is missing"
                " (Debian: kamailio-tls-modules; make sysdeps installs it)"
            )
        if shutil.which("openssl") is None:
            reasons.append("SIP over TLS needs the openssl command")
    return reasons


def rate_controlled(scenario: Scenario) -> bool:
    """Whether ``scenario``'s calls are rate-controlled (made by the GCC endpoints)."""
    return scenario.calls.rate_control.algorithm.value == Algorithm.GCC.value


def _tools(scenario: Scenario) -> tuple[str, ...]:
    """The programs a run of ``scenario`` needs."""
    if not rate_controlled(scenario):
        return TOOLS if scenario.signalling.phones is None else (*TOOLS, *PHONE_TOOLS)
    return GCC_TOOLS if scenario.signalling.load is None else (*GCC_TOOLS, "kamailio")


def unsupported(scenario: Scenario) -> list[str]:
    """What of ``scenario`` the emulation cannot run yet (empty when it can run it all)."""
    problems = []
    gcc = rate_controlled(scenario)
    limit = MAX_GCC_CALLS if gcc else MAX_CALLS
    if scenario.calls.count > limit:
        kind = "rate-controlled calls" if gcc else "calls"
        problems.append(f"calls.count {scenario.calls.count} > {limit} {kind} per emulation")
    if gcc:
        problems += _gcc_unsupported(scenario)
    else:
        try:
            media = baresip_codec(scenario.calls.codec)
        except UnsupportedCodecError as error:
            problems.append(f"calls.codec: {error}")
        else:
            if (why := media.ptime_problem(scenario.calls.ptime_s)) is not None:
                problems.append(f"calls.ptime: {why}")
            if (why := _amr_format_problem(scenario, media.sent)) is not None:
                problems.append(f"calls.amr_payload_format: {why}")
    if not gcc:
        count = scenario.calls.count
        problems += unsupported_light(scenario, count - audio_call_count(count))
    problems += ip_version_problems(scenario)
    if (srtp := _srtp_problem(scenario)) is not None:
        problems.append(f"calls.srtp_tag_bits: {srtp}")
    signalling = scenario.signalling
    if signalling.load is not None and signalling.transport.value == Transport.TLS.value:
        problems.append(
            "signalling.load: SIPp cannot place calls over TLS (Debian's SIPp 3.6.1 is "
            "built without OpenSSL); use udp or tcp for a SIP load"
        )
    problems += unsupported_phones(scenario)
    simulated = [key for key in ("ice", "dns", "fallback") if getattr(signalling, key)]
    if simulated:
        keys = ", ".join(f"signalling.{key}" for key in simulated)
        problems.append(
            f"{keys}: simulated only; the emulation's phones reach the SIP core at a known "
            "address, over one transport, with media straight to the far end"
        )
    if gcc and signalling.phones is not None:
        problems.append(
            "signalling.phones: not emulated beside rate-controlled calls (the GCC "
            "endpoints run without Kamailio)"
        )
    for index, segment in enumerate(scenario.path):
        for direction in DIRECTIONS:
            try:
                check_supported(segment, direction)
            except UnsupportedSegment as error:
                problems.append(f"path[{index}]: {error}")
    return list(dict.fromkeys(problems))


def _gcc_unsupported(scenario: Scenario) -> list[str]:
    """What of a rate-controlled scenario the GCC endpoints cannot send as the simulator
    does."""
    problems = []
    if scenario.calls.sent_codec().payload_format is PayloadFormat.AMR_OCTET_ALIGNED:
        problems.append(
            "calls.amr_payload_format: the GCC endpoints size AMR payloads bandwidth-efficient "
            "(emulation/gcc_sender.py); octet_aligned is emulated on baresip and light calls"
        )
    if scenario.calls.rate_control.mode_set is not None:
        problems.append("calls.rate_control.mode_set: the GCC endpoints use every mode as yet")
    endpoint_share = Overhead().rtcp_share
    if scenario.calls.rtcp_share_ratio != endpoint_share:
        problems.append(
            f"calls.rtcp_share: the GCC endpoints choose their modes counting RFC 3550's "
            f"{endpoint_share:.0%} RTCP share; {scenario.calls.rtcp_share_ratio:.2%} is "
            "not emulated with calls.rate_control.algorithm gcc"
        )
        return problems  # the bounds below count the endpoints' share
    return problems + bound_problems(scenario)


def _amr_format_problem(scenario: Scenario, sent: Codec) -> str | None:
    """Why baresip cannot send the scenario's AMR payload format (None: it can, or the
    codec is not AMR). Its amr module sends octet-aligned payloads only (``stacks.baresip``),
    and the light calls send baresip's format."""
    if sent.payload_format is not PayloadFormat.AMR_OCTET_ALIGNED:
        return None
    if scenario.calls.amr_payload_format is AmrPayloadFormat.OCTET_ALIGNED:
        return None
    return (
        "baresip's amr module sends RFC 4867 octet-aligned payloads only (its SDP says "
        "octet-align=1 and it takes no peer format without it), one byte a packet more than "
        "bandwidth_efficient: set calls.amr_payload_format: octet_aligned"
    )


def _srtp_problem(scenario: Scenario) -> str | None:
    """Why the emulation cannot send the scenario's SRTP (None: it can, or it is plain RTP).
    baresip calls key SRTP with SDES or DTLS-SRTP (``MediaEncryption.for_keying``)."""
    tag_bits = scenario.calls.srtp_tag_bits
    if not tag_bits:
        return None
    if rate_controlled(scenario):
        return "the GCC endpoints send plain RTP; SRTP is emulated on baresip calls only"
    if audio_call_count(scenario.calls.count) < scenario.calls.count:
        return "light calls send plain RTP; SRTP is emulated on baresip calls only"
    return srtp_problem(tag_bits)


def _prepare_speech(plan: CallPlan, work: Path) -> None:
    """Each side's speech, as long as it must play, at the codec's PCM rate."""
    rate = plan.caller.media.pcm_rate_hz
    for spec, text, seconds in (
        (plan.caller, CALLER_TEXT, plan.caller_speech_s),
        (plan.callee, CALLEE_TEXT, plan.callee_speech_s),
    ):
        path = work / spec.audio_source
        path.parent.mkdir(parents=True, exist_ok=True)
        speech = make_speech_wav(path, rate, text)
        write_wav(path, tile_to_length(speech, seconds))


def link_starter(
    scenario: Scenario,
    work: Path,
    t0: float | SetupClock,
    ue_addresses: Sequence[str] = (),
    phone_addresses: Sequence[str] = (),
) -> Callable[[NetNode, LinkNodeSpec], ManagedProcess]:
    """Start a userspace link in each link node, its clock at ``t0`` (a SetupClock's: the
    instant it plans as the first link starts); the radio segment's also holds the packets
    of the calls' UEs (call c's at ``ue_addresses[c]``) and of the idle phones (phone p's at
    ``phone_addresses[p]``) in their RRC/DRX machines and gates the calls' media through
    the handovers. The links' numba kernels are loaded here first, and compiled the first
    time on a machine (some seconds), so that the links, within their set-up budget, load
    them from numba's cache."""
    names = [segment.name for segment in scenario.path]
    radio = names.index(scenario.radio.segment) if scenario.radio.segment else 0
    schedule = handover_schedule(scenario)
    plan = HandoverPlan.of(schedule, resolved_handovers(scenario), ue_addresses)
    starts = call_times(scenario).start_s.tolist()
    output = rrc_output(work, names[radio])
    rrc = RrcPlan.of(scenario, ue_addresses, starts, output, phone_addresses)
    for segment in scenario.path:
        warm_up(segment)
    if rrc is not None:
        warm_up_rrc(rrc.model())

    def start(node: NetNode, spec: LinkNodeSpec) -> ManagedProcess:
        segment = scenario.path[spec.segment_index]
        gated = spec.segment_index == radio and len(schedule) > 0
        link = LinkSpec.for_segment(
            segment,
            iface_a=spec.iface_a,
            iface_b=spec.iface_b,
            seed=scenario.seed,
            t0=t0.plan().t0 if isinstance(t0, SetupClock) else t0,
            output=str(work / f"link-{segment.name}.parquet"),
            run_end_s=scenario.duration_s,
            handovers=asdict(plan) if gated else None,
            rrc=asdict(rrc) if rrc is not None and spec.segment_index == radio else None,
        )
        spec_file = work / f"link-{segment.name}.json"
        spec_file.write_text(link.model_dump_json(indent=2))
        process = ManagedProcess(
            link_argv(spec_file), name=f"link-{segment.name}", log_dir=work, prefix=node.prefix
        )
        return process.start(LogLine(READY_LINE, "stdout"), timeout_s=LINK_READY_TIMEOUT_S)

    return start


def _start_baresip(
    net: EmulatedNetwork, spec: BaresipSpec, host: str, work: Path
) -> ManagedProcess:
    """Start baresip in ``host`` (in ``work``, which its audio paths are relative to);
    return it once its account has registered (its log says so)."""
    config = write_config_dir(spec, work / f"{spec.user}-config", cwd=work)
    return net.start(
        host,
        baresip_argv(config),
        name=spec.user,
        log_dir=work,
        ready=LogLine(registered_pattern(spec.user)),
        timeout_s=REGISTER_TIMEOUT_S,
        cwd=work,
    )


def _sleep_until(instant: float) -> None:
    delay = instant - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def _read_until(instant: float, controls: Sequence[BaresipControl]) -> None:
    """Wait until ``instant``, reading the events of ``controls`` as they arrive."""
    while (delay := instant - time.monotonic()) > 0:
        ready, _, _ = select.select(controls, [], [], delay)
        for control in ready:
            control.read_ready()


def _run_calls(
    net: EmulatedNetwork,
    topology: Topology,
    plans: list[CallPlan],
    clock: SetupClock,
    work: Path,
    at_t0: Callable[[], None] = lambda: None,
    dtmf: DtmfRun | None = None,
    *,
    on_time: bool = False,
) -> list[tuple[float, str, int, dict[str, Any]]]:
    """Register everyone (SetupOverrun if that ends past ``clock``'s t0), call ``at_t0`` at
    t0, dial each call at its start, send ``dtmf``'s digits once the calls are answered,
    wait for the calls to end. With ``on_time`` baresip runs at the links' real-time
    priority (``light_calls.group_on_time``): beside 192 light calls' agents, at normal
    priority, AMR-WB encoders fell up to 1.6 s behind their packets' instants."""
    t0 = clock.planned.t0
    stack = net.stack
    controls: dict[str, BaresipControl] = {}
    for plan in plans:
        for spec, host in ((plan.callee, plan.callee_host), (plan.caller, plan.caller_host)):
            process = _start_baresip(net, spec, host.name, work)
            if on_time:  # before its call: the threads it starts then inherit the policy
                group_on_time(process)
            control = BaresipControl(
                spec.address, spec.ctrl_port, timeout_s=5.0, netns_pid=net.node(host.name).pid
            )
            controls[spec.user] = stack.enter_context(control)
    slack_s = clock.check_ready(f"registering {len(controls)} baresip accounts")
    log.info("set-up done %.2f s before t0", slack_s)
    ready = {"setup_overrun_s": 0.0, "setup_slack_s": slack_s}
    events: list[tuple[float, str, int, dict[str, Any]]] = [
        (0.0, EventKind.EMULATION_READY, -1, ready)
    ]
    _sleep_until(t0)
    at_t0()
    callers = [controls[plan.caller.user] for plan in plans]
    for plan in sorted(plans, key=lambda p: p.start_s):
        _read_until(t0 + plan.start_s, callers)  # events get their time as they come
        controls[plan.caller.user].dial(plan.dial_uri)
        events.append(
            (time.monotonic() - t0, EventKind.CALL_DIAL, plan.call, {"uri": plan.dial_uri})
        )
    for plan in plans:
        control = controls[plan.caller.user]
        established = control.wait_event("CALL_ESTABLISHED", timeout_s=ANSWER_TIMEOUT_S)
        events.append((established.received_s - t0, EventKind.CALL_START, plan.call, {}))
    _await_dtls_keys(plans, controls, t0)
    if dtmf is not None:
        answered = {e[2]: e[0] for e in events if e[1] == EventKind.CALL_START}
        ends = {p.call: p.start_s + p.hold_s for p in plans}
        callers_by = {p.call: controls[p.caller.user] for p in plans}
        callees_by = {p.call: controls[p.callee.user] for p in plans}
        dtmf.send(answered, ends, callers_by, callees_by, t0, _read_until)
    for plan in plans:
        control = controls[plan.caller.user]
        remaining = t0 + plan.start_s + plan.hold_s + END_GRACE_S - time.monotonic()
        closed = control.wait_event("CALL_CLOSED", timeout_s=max(remaining, 1.0))
        events.append(
            (time.monotonic() - t0, EventKind.CALL_END, plan.call, {"reason": closed.param})
        )
    return events + _secure_events(plans, controls, t0)


def _dtls_plans(plans: list[CallPlan]) -> list[CallPlan]:
    return [p for p in plans if p.caller.media_encryption is MediaEncryption.DTLS_SRTP]


def _await_dtls_keys(plans: list[CallPlan], controls: dict[str, BaresipControl], t0: float) -> None:
    """Read both sides' events of the DTLS-SRTP calls until each side has said ``CALL_MENC``
    (or the last of those calls ends), so that each gets its time as it comes."""
    keyed = _dtls_plans(plans)
    sides = [controls[user] for p in keyed for user in (p.caller.user, p.callee.user)]
    deadline = t0 + max((p.start_s + p.hold_s for p in keyed), default=0.0)
    while time.monotonic() < deadline and not all(
        any(e.type == "CALL_MENC" for e in side.events) for side in sides
    ):
        _read_until(min(time.monotonic() + 0.05, deadline), sides)


def _secure_events(
    plans: list[CallPlan], controls: dict[str, BaresipControl], t0: float
) -> list[tuple[float, str, int, dict[str, Any]]]:
    """A ``media_secure`` event for each DTLS-SRTP call whose caller's SRTP was keyed: its
    first ``CALL_MENC`` after its ``CALL_ESTABLISHED`` (the 200 OK), with the callee's."""
    events: list[tuple[float, str, int, dict[str, Any]]] = []
    for plan in _dtls_plans(plans):
        caller = controls[plan.caller.user].events
        answered = next((e.received_s for e in caller if e.type == "CALL_ESTABLISHED"), None)
        if answered is None:
            continue
        keyed = [e.received_s for e in caller if e.type == "CALL_MENC" and e.received_s >= answered]
        if not keyed:
            continue
        callee = controls[plan.callee.user].events
        callee_keyed = next((e.received_s for e in callee if e.type == "CALL_MENC"), None)
        fields = {
            "keying": "dtls",
            "caller_secure_s": keyed[0] - t0,
            "callee_secure_s": None if callee_keyed is None else callee_keyed - t0,
            "dtls_s": keyed[0] - answered,
        }
        events.append((keyed[0] - t0, EventKind.MEDIA_SECURE, plan.call, fields))
    return events


def _sip_events(kamailio_log: Path, wall_t0: float) -> list[tuple[float, str, int, dict[str, Any]]]:
    """The requests Kamailio routed, as events at their time since t0 (negative: set-up)."""
    requests = parse_request_log(kamailio_log.read_text(errors="replace"))
    return [
        (
            (r.time_unix_s or wall_t0) - wall_t0,
            EventKind.SIP_REQUEST,
            -1,
            {
                "method": r.method,
                "uri": r.uri,
                "from": f"{r.source_ip}:{r.source_port}",
                "transport": r.proto,
                "call_id": r.call_id,
            },
        )
        for r in requests
    ]


def _score_audio(plans: list[CallPlan], work: Path, light: range = range(0)) -> Columns:
    """PESQ per flow: each side's recording against the other side's speech; ``real_audio``
    False and no score for the flows of the ``light`` calls."""
    rows = []
    for plan in plans:
        wideband = codec(plan.caller.codec).bandwidth is Bandwidth.WIDE
        mode = PesqMode.WB if wideband else PesqMode.NB
        for code, (speaker, listener) in enumerate(
            ((plan.caller, plan.callee), (plan.callee, plan.caller))
        ):
            row: dict[str, Any] = {"flow": 2 * plan.call + code, "pesq_mode": mode.value}
            row["real_audio"] = True
            stdout = work / f"{listener.user}.stdout.log"
            listened = parse_baresip_log(stdout.read_text(errors="replace"))
            recordings = listened.recordings()
            if not recordings:
                said = "; ".join(listened.errors) or "no error logged"
                row.update(
                    pesq_mos_lqo=float("nan"),
                    pesq_note=f"{listener.user} recorded nothing ({said}); see {stdout.name}",
                )
                rows.append(row)
                continue
            sent, received = work / speaker.audio_source, work / recordings[-1]
            score = score_call(read_wav(sent), read_wav(received), mode)
            row.update(
                pesq_mos_lqo=score.mos_lqo,
                pesq_scored_s=score.scored_s,
                pesq_lag_s=score.lag_s,
                pesq_note="",
            )
            rows.append(row)
    note = "light call: RTP without audio to score (E-model only)"
    for call in light:
        for code in (0, 1):
            flow = 2 * call + code
            rows.append({"flow": flow, "real_audio": False, "pesq_note": note})
    return Columns.from_records(rows)


def _tool_versions(tools: Sequence[str] = ("kamailio", "baresip")) -> dict[str, str]:
    """The first line each tool prints of its version (asked once per process)."""
    return {tool: _tool_version(tool) for tool in tools}


@functools.cache
def _tool_version(tool: str) -> str:
    argv = [tool, "-v" if tool == "kamailio" else "-h"]
    result = run_command(argv, timeout_s=5.0, check=False)
    text = (result.stdout + result.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def emulate(
    scenario: Scenario,
    run_dir: Path,
    *,
    state_dir: Path = DEFAULT_STATE_DIR,
    on_step: Callable[[str], None] | None = None,
) -> Emulated:
    """Run ``scenario`` with real stacks; files of the run go to ``run_dir / "emulation"``."""
    missing = missing_prerequisites(scenario)
    if missing:
        raise EmulationUnavailable("; ".join(missing))
    problems = unsupported(scenario)
    if problems:
        raise EmulationUnsupported("\n".join(problems))
    step = on_step or (lambda _name: None)
    work = (run_dir / "emulation").resolve()
    work.mkdir(parents=True, exist_ok=True)
    if rate_controlled(scenario):
        return _emulate_gcc(scenario, run_dir.name, work, state_dir, step)
    transports: tuple[Transport, ...] = (Transport.UDP, Transport.TCP)
    if scenario.signalling.transport.value == Transport.TLS.value:
        transports = (*transports, Transport.TLS)
    phones = scenario.signalling.phones
    light = range(audio_call_count(scenario.calls.count), scenario.calls.count)
    topology = describe(  # with light calls, a UE host a baresip call and theirs last
        scenario,
        run_dir.name,
        phones=_phones_nat(scenario),
        max_ue_hosts=light.start + 1 if light else MAX_UE_HOSTS,
    )
    plans = plan_calls(scenario, topology)
    tls = _make_certificates(topology, plans, work) if Transport.TLS in transports else None
    step("speech")
    for plan in plans:
        _prepare_speech(plan, work)
    step("network")
    budget_s = setup_budget_s(
        len(scenario.path),
        2 * len(plans),
        light_calls=len(light),
        phones_s=PHONES_SETUP_S if phones is not None else 0.0,
    )
    clock = SetupClock(budget_s)
    ue_addresses = [topology.ue_for_call(plan.call).ip for plan in plans]
    ue_addresses += light_ue_addresses(topology, light)
    with ExitStack() as stack:
        net = stack.enter_context(
            EmulatedNetwork(
                topology,
                start_link=link_starter(
                    scenario, work, clock, ue_addresses, topology.phone_addresses
                ),
                state_dir=state_dir,
            )
        )
        t0, wall_t0 = clock.planned.t0, clock.planned.wall_t0
        captures = start_captures(net, work.parent, work)
        kamailio = start_kamailio(
            net,
            topology.sip_core,
            work,
            transports=transports,
            log_requests=True,
            tls=tls,
            nat_traversal=phones is not None,
            min_expires_s=PHONES_MIN_EXPIRES_S if phones is not None else 60,
            tm=_phones_tm(scenario) if phones is not None else None,
        )
        phone_run: PhoneRun | None = None
        if phones is not None:
            phone_run = start_phones(net, topology, scenario, t0, work)
        light_run: LightRun | None = None
        if light:
            sip_core_on_time(kamailio)
            texts = (CALLER_TEXT, CALLEE_TEXT)
            light_run = start_light_calls(net, topology, scenario, light, t0, work, texts)
        step("calls")
        load = scenario.signalling.load
        transport = Transport(scenario.signalling.transport.value)
        loads: list[SipLoadRun] = []

        def start_load() -> None:
            if load is not None:
                loads.append(start_sip_load(net, topology, load, transport, work))

        dtmf = DtmfRun(scenario.dtmf) if scenario.dtmf is not None else None
        events = _run_calls(
            net, topology, plans, clock, work, start_load, dtmf, on_time=bool(light)
        )
        light_facts: dict[str, Any] = {}
        if light_run is not None:
            light_events, light_facts = finish_light_calls(light_run)
            events += light_events
        for run in loads:
            events.append((time.monotonic() - t0, EventKind.SIP_LOAD, -1, finish_sip_load(run)))
        if phone_run is not None:
            step("phones")
            events += finish_phones(net, topology, phone_run)
    step("capture")
    records = [pq.read_table(work / f"link-{s.name}.parquet") for s in scenario.path]
    packets = packets_from_records(
        records,
        [s.name for s in scenario.path],
        ue_addresses,
        scenario.calls.codec,
        overhead=scenario.overhead(),
    )
    if dtmf is not None:  # the telephone events are not voice
        packets, event_rows = split_event_rows(packets)
        events += dtmf.events(event_rows, t0)
    events += _sip_events(kamailio.stderr_path, wall_t0)
    events += _handover_events(scenario)
    events += rrc_events(scenario, work, ue_addresses, events)
    events = with_phone_radio(scenario, work, events)
    manifest = {
        "engine": "emulation",
        "scenario": scenario.to_yaml_dict(),
        "seed": scenario.seed,
        "host": host_facts(),
        "tools": _tool_versions(),
        "topology": {"tag": topology.tag, "nodes": list(topology.node_names)},
        "links": {s.name: _link_facts(r) for s, r in zip(scenario.path, records, strict=True)},
        "captures": captures_manifest(captures),
        **({"light_calls": light_facts} if light_facts else {}),
    }
    step("pesq")
    pesq = _score_audio(plans, work, light)
    return Emulated(Trace(packets, events_table(events), manifest), pesq)


def _phones_nat(scenario: Scenario) -> NatSpec | None:
    """The phones' NAT (``phones.phones_nat``); without ``signalling.nat``, one whose UDP
    bindings outlive the run, so that the phones' calls meet none expired, as in the
    simulator; None without phones."""
    if scenario.signalling.phones is None:
        return None
    nat = phones_nat(scenario)
    if nat is not None:
        return nat
    lifetime_s = math.ceil(scenario.duration_s) + NO_NAT_MARGIN_S
    return NatSpec(udp_timeout_s=lifetime_s, udp_stream_timeout_s=lifetime_s)


def _phones_tm(scenario: Scenario) -> TmTimers:
    """Kamailio's transaction timers as the scenario's: a call to a phone retransmits and
    times out (408 at 64*T1) as the simulator's core does."""
    timers = scenario.signalling.timers
    return TmTimers.rfc3261(timers.t1_s, timers.t2_s)


def _emulate_gcc(
    scenario: Scenario, run_id: str, work: Path, state_dir: Path, step: Callable[[str], None]
) -> Emulated:
    """Run ``scenario``'s rate-controlled calls with the GCC endpoints (``gcc_run``), each
    flow over its span of the schedule; files go to ``work``."""
    topology = describe(scenario, run_id, max_ue_hosts=MAX_GCC_CALLS)
    plans = plan_flows(scenario, topology)
    ue_addresses = [topology.ue_for_call(call).ip for call in range(scenario.calls.count)]
    step("network")
    setup_s = SETUP_S + GCC_SETUP_S_PER_FLOW * len(plans)
    t0 = time.monotonic() + setup_s
    wall_t0 = time.time() + setup_s  # the same instant on the wall clock (Kamailio's log)
    load = scenario.signalling.load
    kamailio: ManagedProcess | None = None
    with EmulatedNetwork(
        topology,
        start_link=link_starter(scenario, work, t0, ue_addresses),
        state_dir=state_dir,
    ) as net:
        captures = start_captures(net, work.parent, work)
        if load is not None:
            kamailio = start_kamailio(
                net,
                topology.sip_core,
                work,
                transports=(Transport.UDP, Transport.TCP),
                log_requests=True,
            )
        step("calls")
        flows = start_flows(net, topology, plans, scenario, t0, work)
        overrun_s = time.monotonic() - t0
        events: list[tuple[float, str, int, dict[str, Any]]] = [
            (0.0, EventKind.EMULATION_READY, -1, {"setup_overrun_s": max(0.0, overrun_s)})
        ]
        if overrun_s > 0:
            log.warning("set-up took %.1f s longer than planned: calls start late", overrun_s)
        _sleep_until(t0)
        loads = []
        if load is not None:
            transport = Transport(scenario.signalling.transport.value)
            loads.append(start_sip_load(net, topology, load, transport, work))
        finish_flows(flows, t0)
        for run in loads:
            events.append((time.monotonic() - t0, EventKind.SIP_LOAD, -1, finish_sip_load(run)))
        summaries = endpoint_summaries(flows)
    step("capture")
    records = [pq.read_table(work / f"link-{s.name}.parquet") for s in scenario.path]
    calls = scenario.calls
    points = calls.rate_control.family(calls.codec).points
    modes = list(dict.fromkeys(point.codec for point in points))  # Opus: many points a name
    packets = packets_from_records(
        records,
        [s.name for s in scenario.path],
        ue_addresses,
        calls.codec,
        adaptive=sent_logs(plans, work, modes),
    )
    events += feedback_events(plans, work, scenario.duration_s)
    events += _call_events(scenario)
    events += _handover_events(scenario)
    events += rrc_events(scenario, work, ue_addresses, events)
    if kamailio is not None:
        events += _sip_events(kamailio.stderr_path, wall_t0)
    manifest = {
        "engine": "emulation",
        "scenario": scenario.to_yaml_dict(),
        "seed": scenario.seed,
        "host": host_facts(),
        "tools": _tool_versions(("kamailio",) if kamailio is not None else ()),
        "topology": {"tag": topology.tag, "nodes": list(topology.node_names)},
        "links": {s.name: _link_facts(r) for s, r in zip(scenario.path, records, strict=True)},
        "captures": captures_manifest(captures),
        "gcc_endpoints": summaries,
    }
    return Emulated(Trace(packets, events_table(events), manifest), Columns.from_records([]))


def _call_events(scenario: Scenario) -> list[tuple[float, str, int, dict[str, Any]]]:
    """Each call's start and end as the schedule has them (the simulator's events)."""
    times = call_times(scenario)
    events: list[tuple[float, str, int, dict[str, Any]]] = []
    spans = zip(times.start_s.tolist(), times.end_s.tolist(), strict=True)
    for call, (start_s, end_s) in enumerate(spans):
        events.append((start_s, EventKind.CALL_START, call, {}))
        events.append((end_s, EventKind.CALL_END, call, {"duration_s": end_s - start_s}))
    return events


def _handover_events(scenario: Scenario) -> list[tuple[float, str, int, dict[str, Any]]]:
    """The handovers that happened during their call, as the simulator tells them."""
    schedule = handover_schedule(scenario)
    if not len(schedule):
        return []
    intervals = ho.handover_intervals(schedule, handover_configs(scenario))
    times = call_times(scenario)
    return handover_events(schedule, intervals, times.start_s, times.end_s)


def _make_certificates(topology: Topology, plans: list[CallPlan], work: Path) -> TlsFiles:
    """The run's CA and certificates (SIP core, user agents), where the plans expect them."""
    addresses = tuple(spec.address for plan in plans for spec in (plan.caller, plan.callee))
    return make_certificates(work / TLS_DIR, topology.sip_core.ip, addresses)


def _link_facts(records: Any) -> dict[str, Any]:
    """What a link process said of itself in its records' metadata."""
    metadata = records.schema.metadata or {}
    raw = metadata.get(b"voipbed.link")
    if raw is None:
        return {}
    facts = json.loads(raw)
    facts.pop("spec", None)
    return dict(facts)
