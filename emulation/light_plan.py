"""The plans of the light calls' two agents, as JSON; and the SDP they exchange.

Light call ``c`` is a SIP call from user ``ue<c>`` to user ``lt<c>`` through Kamailio,
carrying RTP of the scenario's codec both ways (``rtp_stream``; ``light_codecs`` says how
each codec is sent). Its UE side has an address of its own on
the light calls' UE host; its far side has port ``FAR_FIRST_PORT + 2c`` on the far-end
host. One agent process plays every caller (role ``callers``, on the light calls' UE
host) and one every answerer (role ``answerers``, on the far-end host), both following
the plan's instants, in seconds from ``t0`` on ``time.monotonic``'s clock, which every
process of the machine shares. ``light_calls.plan_light_agents`` makes the plans. Pure,
and standard library only: the agents import it, and start fast.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = [
    "AGENT_SIP_PORT",
    "FAR_FIRST_PORT",
    "REALTIME_PRIORITY",
    "STOP_GRACE_S",
    "UE_MEDIA_PORT",
    "LightAgentPlan",
    "LightCall",
    "Role",
    "audio_sdp",
]

AGENT_SIP_PORT = 5200  # both agents' SIP port (baresip takes 5062 + 4k, phones 5090, 5100+)
UE_MEDIA_PORT = 30000  # every light call's UE-side RTP port: each call has its own address
FAR_FIRST_PORT = 30000  # call c's far-side RTP port is FAR_FIRST_PORT + 2c (RTP even)
STOP_GRACE_S = 8.0  # past the last call's end: its BYE's retransmissions (T1 .. T2)
REALTIME_PRIORITY = 10
"""The agents' SCHED_FIFO priority, the links' own: a phone's audio clock is real time, and
busy processes of normal priority delayed packets by up to seconds; at one priority neither
preempts the other (sched(7)), so a link's departures and an agent's packets each wait at
most for the other's burst. Measured with 200 calls on this 2-core machine: packets left
0.4 ms late at p50 and 1.4 ms at p99. With other real-time and busy processes on it:
0.7 and 2.7 ms, the links' delay within 0.7 ms of their model's, where priority 5 (below
the links) gave 6 and 67 to 149 ms, and 15 (above them) added 10 ms to the links' mean
delay. An agent blocks between packets (some 20 % of a core for 200 calls)."""


Role = Literal["callers", "answerers"]


@dataclass(frozen=True)
class LightCall:
    """One light call: its users, the UE side's address and both RTP ports, when it is
    dialled and hung up (seconds from t0), and each direction's RTP starting values."""

    call: int
    caller_user: str
    callee_user: str
    ue_address: str
    ue_port: int
    far_port: int
    start_s: float
    end_s: float
    ssrc_up: int
    ssrc_down: int
    seq_up: int
    seq_down: int
    ts_up: int
    ts_down: int


@dataclass(frozen=True)
class LightAgentPlan:
    """Everything one light agent process needs (``role`` says which side it plays)."""

    role: Role
    t0: float
    stop_s: float  # from t0: the agent exits then, or once every call is over
    sip_address: str
    sip_port: int
    registrar: tuple[str, int]  # address (no brackets) and port, for sendto
    domain: str  # as the host of the SIP URIs: an IPv6 address in brackets
    t1_s: float
    t2_s: float
    expires_s: int
    media_address: str  # the answerers' RTP address (callers: each call's ue_address)
    payload_type: int
    encoding: str
    ptime_s: float
    payload_bytes: int
    ticks_per_packet: int
    payload_path: str  # the payloads this side plays, ``payload_bytes`` a packet
    log_path: str
    calls: tuple[LightCall, ...]
    realtime_priority: int = REALTIME_PRIORITY  # 0: normal scheduling
    clock_hz: int = 8000  # the RTP clock, as the SDP's a=rtpmap names it
    fmtp: str = ""  # the SDP's a=fmtp parameters of ``payload_type``; "": none

    def to_json(self) -> str:
        """The plan as JSON text (``from_json`` reads it back)."""
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> LightAgentPlan:
        """A plan from ``to_json``'s text."""
        raw: dict[str, Any] = json.loads(text)
        raw["registrar"] = (str(raw["registrar"][0]), int(raw["registrar"][1]))
        raw["calls"] = tuple(LightCall(**call) for call in raw["calls"])
        return cls(**raw)


def audio_sdp(
    address: str,
    port: int,
    payload_type: int,
    encoding: str,
    clock_hz: int,
    ptime_s: float,
    fmtp: str = "",
) -> str:
    """A session description of one RTP audio stream, sent and received (RFC 4566: ``c=``
    and ``m=``, ``a=rtpmap`` and, when ``fmtp`` is given, ``a=fmtp``; RFC 3264 6: an
    answer lists the one payload type it takes)."""
    version = ipaddress.ip_address(address).version
    lines = [
        "v=0",
        f"o=voipbed {port} 1 IN IP{version} {address}",
        "s=voipbed",
        f"c=IN IP{version} {address}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {payload_type}",
        f"a=rtpmap:{payload_type} {encoding}/{clock_hz}",
        *([f"a=fmtp:{payload_type} {fmtp}"] if fmtp else []),
        f"a=ptime:{round(ptime_s * 1000)}",
        "a=sendrecv",
    ]
    return "\r\n".join(lines) + "\r\n"
