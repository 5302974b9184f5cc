"""What the phone agents of an emulation run do and when: the simulator's plan, as JSON.

The instants come from ``models.phone_schedule.phone_schedule`` drawn from the same
random stream as the simulator's (``phones/schedule``), so both engines register the
same phones at the same instants and call them at the same instants. The phones' agent
(role ``phones``, in the phones' host behind the NAT) registers each phone at its
instant and refreshes at ``refresh_fraction`` of the granted expiry
(``models.sip_registration``), pings every ``keepalive_s`` from an interval after its
first REGISTER (``models.sip_keepalive`` without a random generator), and answers every
call at once. The caller's agent (role ``core``, on the far-end host) sends each INVITE
through Kamailio at its instant. Times are seconds from ``t0`` on ``time.monotonic``'s
clock, which every process of the machine shares. Pure: builds and reads plans.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from voipbed.models.phone_schedule import phone_schedule
from voipbed.models.sip_keepalive import PONG_TIMEOUT_S, STUN_MAX_REQUESTS, STUN_RTO_S
from voipbed.rng import component_rng
from voipbed.scenario import Scenario

__all__ = [
    "CALLER_PORT",
    "FIRST_PHONE_PORT",
    "AgentPlan",
    "CallSpec",
    "PhoneSpec",
    "phone_user",
    "plan_agents",
]

FIRST_PHONE_PORT = 5100  # phone i listens on 5100 + i, at its own address of the phones' host
CALLER_PORT = 5090  # the core-side caller, on the far-end host (baresip uses 5062 + 4k)
REFRESH_FRACTION = 0.9  # libre's rwait, as models.sip_registration refreshes
PASSWORD = "voipbed"  # answers a digest challenge, should the registrar send one

Role = Literal["phones", "core"]


def phone_user(index: int) -> str:
    """The SIP user (and AOR user part) of phone ``index``."""
    return f"phone{index}"


@dataclass(frozen=True)
class PhoneSpec:
    """One phone: its user, its address and UDP port, its first REGISTER and keep-alive
    interval."""

    index: int
    user: str
    address: str
    port: int
    register_s: float
    keepalive_s: float | None


@dataclass(frozen=True)
class CallSpec:
    """One call to phone ``phone`` (its ``call``-th), sent at ``at_s``."""

    phone: int
    call: int
    user: str
    at_s: float


@dataclass(frozen=True)
class AgentPlan:
    """Everything one agent process needs (``role`` says which side it plays)."""

    role: Role
    t0: float
    duration_s: float
    local_address: str
    registrar: tuple[str, int]
    domain: str
    t1_s: float
    t2_s: float
    expires_s: float
    log_path: str
    phones: tuple[PhoneSpec, ...] = ()
    calls: tuple[CallSpec, ...] = ()
    caller_port: int = CALLER_PORT
    refresh_fraction: float = REFRESH_FRACTION
    password: str = PASSWORD
    pong_timeout_s: float = PONG_TIMEOUT_S
    stun_rto_s: float = STUN_RTO_S
    stun_max_requests: int = STUN_MAX_REQUESTS

    def to_json(self) -> str:
        """The plan as JSON text (``from_json`` reads it back)."""
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> AgentPlan:
        """A plan from ``to_json``'s text."""
        raw: dict[str, Any] = json.loads(text)
        raw["registrar"] = (str(raw["registrar"][0]), int(raw["registrar"][1]))
        raw["phones"] = tuple(PhoneSpec(**phone) for phone in raw["phones"])
        raw["calls"] = tuple(CallSpec(**call) for call in raw["calls"])
        return cls(**raw)


def plan_agents(
    scenario: Scenario,
    *,
    t0: float,
    phone_addresses: Sequence[str],
    caller_address: str,
    registrar: tuple[str, int],
    work: Path,
) -> tuple[AgentPlan, AgentPlan]:
    """The phones' plan and the caller's plan of ``scenario`` (which must have phones),
    phone i at ``phone_addresses[i]``; their logs go to ``work``."""
    phones = scenario.signalling.phones
    if phones is None:
        raise ValueError("the scenario has no signalling.phones")
    schedule = phone_schedule(
        component_rng(scenario.seed, "phones/schedule"),
        phones.count,
        scenario.duration_s,
        phones.incoming_calls_per_hour,
    )
    timers = scenario.signalling.timers
    specs = tuple(
        PhoneSpec(i, phone_user(i), address, FIRST_PHONE_PORT + i, at, phones.keepalive_s)
        for i, (at, address) in enumerate(zip(schedule.register_s, phone_addresses, strict=True))
    )
    calls = sorted(
        (
            CallSpec(i, k, phone_user(i), at)
            for i, ats in enumerate(schedule.incoming_s)
            for k, at in enumerate(ats)
        ),
        key=lambda call: call.at_s,
    )
    common: dict[str, Any] = {
        "t0": t0,
        "duration_s": scenario.duration_s,
        "registrar": registrar,
        "domain": registrar[0],
        "t1_s": timers.t1_s,
        "t2_s": timers.t2_s,
        "expires_s": phones.registration_expires_s,
    }
    phone_plan = AgentPlan(
        role="phones",
        local_address=phone_addresses[0],
        log_path=str(work / "phones.jsonl"),
        phones=specs,
        **common,
    )
    caller_plan = AgentPlan(
        role="core",
        local_address=caller_address,
        log_path=str(work / "caller.jsonl"),
        calls=tuple(calls),
        **common,
    )
    return phone_plan, caller_plan
