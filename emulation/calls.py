"""The calls of an emulation run: who calls whom, from which host, with what, when.

Call ``c`` is a baresip caller ``ue<c>`` on its UE host and a baresip callee
``far<c>`` on the far-end host; both register with Kamailio on the SIP core
host, and the caller dials ``sip:far<c>@<core>`` at the call's start in the
scenario's schedule (``voipbed.schedule``), so both engines start calls at
the same times. Each side plays speech (different texts, so the two
directions cannot be confused) and records what it receives. The caller's
speech lasts the call: baresip ends the call when its source ends. With
``signalling.transport: tls`` everyone registers at Kamailio's TLS port and
serves the run's user-agent certificate from :data:`TLS_DIR`, which the engine
fills (``voipbed.emulation.tls``). Pure: this module plans; ``engine`` runs the plan.

A run's first :data:`MAX_AUDIO_CALLS` calls are made this way, any others as light calls
(``light_calls``): :func:`audio_call_count` says how many are baresip calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from voipbed.emulation.stacks import Transport
from voipbed.emulation.stacks.baresip import BaresipSpec, baresip_codec, baresip_spec
from voipbed.emulation.stacks.kamailio import SIP_TLS_PORT
from voipbed.emulation.tls import tls_files
from voipbed.emulation.topology import HostSpec, Topology
from voipbed.scenario import Scenario
from voipbed.schedule import call_times

__all__ = [
    "CALLEE_TEXT",
    "CALLER_TEXT",
    "MAX_AUDIO_CALLS",
    "TLS_DIR",
    "CallPlan",
    "audio_call_count",
    "plan_calls",
]

CALLER_TEXT = (
    "The quick brown fox jumps over the lazy dog. A mobile voice call carries speech"
    " across the radio network, and every lost packet matters to the listener."
)
CALLEE_TEXT = (
    "Please call me back when you reach the station. The train leaves at half past"
    " seven, and the platform changes often on weekends."
)

SIP_PORT = 5060  # Kamailio's, on the SIP core host (UDP, TCP; TLS on SIP_TLS_PORT)
TLS_DIR = Path("tls")  # the run's certificates, relative to the working folder
_FIRST_SIP_PORT = 5062  # baresip also listens on sip_port + 1 (TLS): steps of 4
_FIRST_CTRL_PORT = 4444
_FIRST_RTP_PORT = 20000
_RTP_PORTS_PER_CALL = 20
CALLEE_TAIL_S = 10.0  # the callee's speech outlasts the call: its end would end the call

MAX_AUDIO_CALLS = 8
"""Calls made by baresip pairs: a run's first calls up to this many, the rest light calls.
Each pair is two processes on the UE host of its own and the far end, registered one after
another before the calls start; measured on this 2-core machine, 8 pairs beside 192 light
calls (10 s each) ran in 30 s of wall time, every call set up, mean MOS 4.2, and each
baresip process used about 0.03 s of CPU."""


def audio_call_count(count: int) -> int:
    """How many of a run's ``count`` calls are baresip calls (with audio and PESQ): the
    first ``MAX_AUDIO_CALLS``; the others are light calls."""
    return min(count, MAX_AUDIO_CALLS)


@dataclass(frozen=True)
class CallPlan:
    """One call: both baresip instances, their hosts, and when it starts and how long."""

    call: int
    caller: BaresipSpec
    callee: BaresipSpec
    caller_host: HostSpec
    callee_host: HostSpec
    start_s: float
    hold_s: float

    @property
    def dial_uri(self) -> str:
        """What the caller dials: the callee's user at the registrar (the caller's account
        adds its own transport)."""
        return f"sip:{self.callee.user}@{self.callee.registrar}"

    @property
    def caller_speech_s(self) -> float:
        return self.hold_s

    @property
    def callee_speech_s(self) -> float:
        return self.hold_s + CALLEE_TAIL_S


def _side(
    scenario: Scenario,
    user: str,
    host: HostSpec,
    slot: int,
    registrar: str,
    audio: Path,
    record_dir: Path,
) -> BaresipSpec:
    rtp = _FIRST_RTP_PORT + _RTP_PORTS_PER_CALL * slot
    transport = Transport(scenario.signalling.transport.value)
    tls = tls_files(TLS_DIR) if transport is Transport.TLS else None
    return baresip_spec(
        scenario.calls,
        user=user,
        address=host.ip,
        sip_port=_FIRST_SIP_PORT + 4 * slot,
        ctrl_port=_FIRST_CTRL_PORT + slot,
        rtp_ports=(rtp, rtp + _RTP_PORTS_PER_CALL - 1),
        audio_source=audio,
        record_dir=record_dir,
        registrar=registrar,
        transport=transport,
        tls_certificate=None if tls is None else tls.user_agents.bundle,
        tls_ca=None if tls is None else tls.ca_certificate,
    )


def plan_calls(scenario: Scenario, topology: Topology) -> list[CallPlan]:
    """The baresip calls of ``scenario`` on ``topology``: the first ``audio_call_count``.

    Audio paths are relative to the run's working folder, where baresip runs
    (baresip cuts long paths). Raises UnsupportedCodecError when baresip cannot
    send the scenario's codec.
    """
    baresip_codec(scenario.calls.codec)
    times = call_times(scenario)
    tls = scenario.signalling.transport.value == Transport.TLS.value
    registrar = f"{topology.sip_core.uri_host}:{SIP_TLS_PORT if tls else SIP_PORT}"
    plans = []
    for call in range(audio_call_count(scenario.calls.count)):
        ue = topology.ue_for_call(call)
        side = Path(f"call{call}")
        caller = _side(
            scenario, f"ue{call}", ue, call, registrar, side / "caller-speech.wav", side / "ue"
        )
        callee = _side(
            scenario,
            f"far{call}",
            topology.far_end,
            call,
            registrar,
            side / "callee-speech.wav",
            side / "far",
        )
        start_s = float(times.start_s[call])
        hold_s = float(times.end_s[call]) - start_s
        plans.append(CallPlan(call, caller, callee, ue, topology.far_end, start_s, hold_s))
    return plans
