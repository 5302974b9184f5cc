"""The scenario's ``signalling`` section: SIP between the handsets and the SIP core.

The emulation always runs real SIP stacks (Kamailio, baresip, SIPp) over the
transport given here. The simulator models each call's set-up on the path when
``setup`` is on: the INVITE transaction (and the TCP and TLS handshakes under
it) crosses the same segments and the UE's radio as the media, with RFC 3261's
timers, and the call's media start when the caller gets the 200 OK (with
``ice``, when ICE has nominated a pair).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

from pydantic import Field, StrictInt, model_validator

from voipbed.models.nat import FilteringBehaviour, MappingBehaviour, NatConfig
from voipbed.models.sip_keepalive import KeepAliveConfig
from voipbed.models.sip_timers import SipTimers
from voipbed.schema_types import Duration, Section

if TYPE_CHECKING:  # the scenario module imports this one
    from voipbed.scenario_path import Segment

__all__ = [
    "DnsSettings",
    "Fallback",
    "FarEnd",
    "IceSettings",
    "NatBehaviour",
    "NatSettings",
    "Phones",
    "Signalling",
    "SipLoad",
    "SipTimerSettings",
    "SipTransport",
    "unsupported_path",
]

_RFC3261 = SipTimers()
_NAT = NatConfig()


class SipTimerSettings(Section):
    """RFC 3261's base timers (section 17.1.1.1 and Table 4); the others derive from them."""

    t1_s: Duration = Field(
        _RFC3261.t1_s, alias="t1", gt=0, description="T1, the RTT estimate; RFC 3261: 500 ms."
    )
    t2_s: Duration = Field(
        _RFC3261.t2_s,
        alias="t2",
        gt=0,
        description="T2, the longest retransmit interval of non-INVITE requests; RFC 3261: 4 s.",
    )
    t4_s: Duration = Field(
        _RFC3261.t4_s,
        alias="t4",
        gt=0,
        description="T4, the longest a message stays in the network; RFC 3261: 5 s.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> SipTimerSettings:
        self.to_model()  # the model's own checks
        return self

    def to_model(self) -> SipTimers:
        return SipTimers(t1_s=self.t1_s, t2_s=self.t2_s, t4_s=self.t4_s)


class FarEnd(Section):
    """How the called party behaves (the simulator; the emulation's answers at once)."""

    ring_delay_s: Duration = Field(
        0.0,
        alias="ring_delay",
        description="From the INVITE reaching the core to its 180 Ringing, a duration.",
    )
    answer_delay_s: Duration = Field(
        0.0,
        alias="answer_delay",
        description="From the INVITE reaching the core to its 200 OK, a duration.",
    )


class SipTransport(StrEnum):
    """How SIP travels between handsets and the SIP core."""

    UDP = "udp"  # RFC 3261's default; lost requests are retransmitted by timer (T1 500 ms)
    TCP = "tcp"  # one connection per handset; TCP retransmits, SIP does not
    TLS = "tls"  # TLS over TCP, port 5061 (RFC 3261 26.2.1, 18.2.1; RFC 5630 for SIPS URIs)


class SipLoad(Section):
    """Extra SIP calls through the SIP core beside the media calls (SIPp, emulation only)."""

    calls: StrictInt = Field(ge=1, le=1_000_000, description="Calls SIPp places in all.")
    calls_per_second: float = Field(gt=0, le=10_000, description="Rate SIPp places them at.")
    hold_s: Duration = Field(0.0, alias="hold", description="How long each call lasts, a duration.")


class NatBehaviour(StrEnum):
    """RFC 4787's mapping and filtering behaviours (sections 4.1 and 5)."""

    ENDPOINT_INDEPENDENT = "endpoint_independent"
    ADDRESS_DEPENDENT = "address_dependent"
    ADDRESS_AND_PORT_DEPENDENT = "address_and_port_dependent"


class NatSettings(Section):
    """A NAT between the phones and the SIP core, as a carrier-grade NAT sits (RFC 4787)."""

    udp_timeout_s: Duration = Field(
        _NAT.udp_timeout_s,
        alias="udp_timeout",
        gt=0,
        description=(
            "Idle time after which a UDP binding expires, a duration; RFC 4787 REQ-5: at "
            "least 2 min, 5 min recommended; netfilter's stream default 120 s, home gateways "
            "from 30 s (models.nat_timeouts)."
        ),
    )
    tcp_timeout_s: Duration = Field(
        _NAT.tcp_established_timeout_s,
        alias="tcp_timeout",
        gt=0,
        description="Idle time after which an established TCP binding expires; RFC 5382: 2 h 4 m.",
    )
    mapping: NatBehaviour = Field(
        NatBehaviour.ENDPOINT_INDEPENDENT,
        description="Mapping behaviour (RFC 4787 4.1); netfilter masquerade: endpoint_independent.",
    )
    filtering: NatBehaviour = Field(
        NatBehaviour.ADDRESS_AND_PORT_DEPENDENT,
        description="Filtering behaviour (RFC 4787 5); netfilter: address_and_port_dependent.",
    )

    def to_model(self) -> NatConfig:
        return NatConfig(
            mapping=MappingBehaviour[self.mapping.name],
            filtering=FilteringBehaviour[self.filtering.name],
            udp_timeout_s=self.udp_timeout_s,
            tcp_established_timeout_s=self.tcp_timeout_s,
        )


class Fallback(Section):
    """What a call's set-up does when its INVITE gets no answer in time (the simulator)."""

    deadline_s: Duration = Field(
        32.0,
        alias="deadline",
        gt=0,
        description=(
            "How long an attempt waits for any response to its INVITE before the next "
            "transport is tried, a duration (it replaces Timer B; RFC 3263 4.3 moves on at a "
            "transaction timeout); 32 s: RFC 3261's Timer B, 64*T1."
        ),
    )
    transports: tuple[SipTransport, ...] = Field(
        (),
        description=(
            "Transports tried in turn after signalling.transport (e.g. [tcp, tls]), each over "
            "a connection opened when it starts."
        ),
    )
    relay: bool = Field(
        False,
        description=(
            "With signalling.ice: gather no relayed candidate at first, and only when no pair "
            "connects restart ICE with one (TURN as a fallback)."
        ),
    )


class DnsSettings(Section):
    """Locating the SIP proxy by DNS at each dial (the simulator): RFC 3263 NAPTR and SRV
    queries, then A and AAAA with Happy Eyeballs (RFC 8305), from a cold cache."""

    naptr: bool = Field(
        True,
        description=(
            "The domain publishes NAPTR records (RFC 3263 4.1); false: the phone's NAPTR query "
            "comes back empty and it queries SRV for its transport (RFC 3263 4.1)."
        ),
    )
    families: Literal["dual", "ipv4", "ipv6"] = Field(
        "dual",
        description="The phone's address families; dual: AAAA and A, Happy Eyeballs (RFC 8305).",
    )
    resolver_delay_s: Duration = Field(
        0.0,
        alias="resolver_delay",
        ge=0,
        description=(
            "The recursive resolver's own time per answer, a duration (it sits at the path's "
            "far end); 0: it has the answers cached."
        ),
    )
    timeout_s: Duration = Field(
        5.0,
        alias="timeout",
        gt=0,
        description="The stub resolver's wait per try, a duration; glibc and Android: 5 s.",
    )
    attempts: StrictInt = Field(
        2, ge=1, le=5, description="Tries per query; glibc and Android RES_DFLRETRY: 2."
    )


class IceSettings(Section):
    """ICE (RFC 8445) for the media of each call set up on the path (the simulator).

    The caller's NAT is ``signalling.nat`` (none: the phone has a public address);
    the far end's is ``far_end_nat``. The STUN and TURN servers sit
    ``servers_delay`` beyond the path's far end.
    """

    stun: bool = Field(
        True, description="Gather a server-reflexive candidate from a STUN server (RFC 8489)."
    )
    turn: bool = Field(
        True, description="Gather a relayed candidate from a TURN server (RFC 8656)."
    )
    servers_delay_s: Duration = Field(
        0.01,
        alias="servers_delay",
        ge=0,
        description=(
            "One-way delay from the path's far end to the STUN and TURN servers, a duration; "
            "media on a relayed pair take twice it longer one way."
        ),
    )
    far_end_nat: NatSettings | None = Field(
        None, description="The far end's NAT (RFC 4787 behaviours); null: a public address."
    )
    pre_established: bool = Field(
        False,
        description=(
            "Media pre-established at registration: ICE ran before the dial, so the set-up "
            "has no gathering and no checks (the pair it chose still carries the media)."
        ),
    )


class Phones(Section):
    """Idle phones registered for the whole run (the simulator), apart from the calls' UEs."""

    count: StrictInt = Field(ge=1, le=1_000_000, description="How many phones.")
    keepalive_s: Duration | None = Field(
        29.0,
        alias="keepalive",
        description=(
            "RFC 5626 keep-alive interval (STUN over UDP, CRLF over TCP and TLS), a "
            "duration; 29 s is libre's (baresip) UDP default, 120 s its TCP one; null: none."
        ),
    )
    registration_expires_s: Duration = Field(
        3600.0,
        alias="registration_expires",
        gt=0,
        description="REGISTER lifetime asked for, refreshed at 90 % (libre); baresip: 3600 s.",
    )
    incoming_calls_per_hour: float = Field(
        1.0, ge=0, le=3600, description="Calls to each phone per hour (Poisson)."
    )

    @model_validator(mode="after")
    def _pings_apart(self) -> Phones:
        self.keepalive_config()  # the model's own checks
        return self

    def keepalive_config(self) -> KeepAliveConfig:
        return KeepAliveConfig(interval_s=self.keepalive_s)


class Signalling(Section):
    """SIP between the handsets and the SIP core."""

    transport: SipTransport = Field(
        SipTransport.UDP,
        description=(
            "SIP transport: udp (RFC 3261's default), tcp, or tls (TLS over TCP, port 5061)."
        ),
    )
    setup: bool = Field(
        False,
        description=(
            "The simulator: model each call's set-up (INVITE to ACK, over the transport and "
            "its handshakes) on the path, the media starting when the caller gets the 200 OK "
            "and a call whose set-up fails carrying none; false: the media start at the "
            "call's start, as if set up before. The emulation always sets calls up for real."
        ),
    )
    reuse_connection: bool = Field(
        True,
        description=(
            "With tcp or tls: the phone registered before the call and kept its connection "
            "(an RFC 5626 flow), which the call reuses; false: the call opens one at the dial, "
            "its handshakes in the set-up time."
        ),
    )
    tls_version: Literal["tls1.2", "tls1.3"] = Field(
        "tls1.3", description="TLS version with transport tls (the simulator's handshake)."
    )

    timers: SipTimerSettings = Field(SipTimerSettings(), description="RFC 3261 timers.")
    far_end: FarEnd = Field(FarEnd(), description="How the called party answers.")
    nat: NatSettings | None = Field(
        None, description="A NAT between the phones and the core (the simulator); null: none."
    )
    dns: DnsSettings | None = Field(
        None,
        description=(
            "Locate the SIP proxy by DNS at each dial, after ICE's gathering (the simulator, "
            "with setup); null: its address is known."
        ),
    )
    fallback: Fallback | None = Field(
        None,
        description=(
            "Fall back to other transports, and with ICE to a relay, when a set-up gets no "
            "answer in time (the simulator, with setup); null: one attempt."
        ),
    )
    ice: IceSettings | None = Field(
        None,
        description=(
            "ICE for each call's media, gathered before the INVITE and checked after the "
            "answer (the simulator, with setup); null: media go straight to the far end."
        ),
    )
    phones: Phones | None = Field(
        None,
        description=(
            "Idle phones that register, keep their NAT binding alive and take incoming calls "
            "for the whole run (the simulator; the emulation over UDP); null: none."
        ),
    )

    @model_validator(mode="after")
    def _fallbacks_differ(self) -> Signalling:
        fallback = self.fallback
        if fallback is None:
            return self
        tried = [self.transport, *fallback.transports]
        if len(set(tried)) < len(tried):
            raise ValueError(
                "signalling.fallback.transports: each transport is tried once, "
                f"signalling.transport ({self.transport.value}) first"
            )
        if fallback.relay and (self.ice is None or not self.ice.turn):
            raise ValueError("signalling.fallback.relay needs signalling.ice with turn: true")
        return self

    load: SipLoad | None = Field(
        None,
        description=(
            "SIPp calls from the first UE host to the far end through the SIP core, "
            "started with the run, over the same transport; null: none."
        ),
    )


def unsupported_path(path: Sequence[Segment]) -> str | None:
    """Why the simulator cannot carry signalling messages over ``path``
    (``sim.message_path``), or None."""
    for segment in path:
        if not segment.queue.is_plain_droptail or segment.cross_traffic:
            return (
                f"segment {segment.name!r} has an AQM, DSCP scheduling or cross traffic, "
                "which the simulator does not carry signalling through yet"
            )
    return None
