"""Every call's set-up in one loop, in time order: SIP attempts and ICE sessions together.

Each call is a process that moves through phases:

- ``GATHER`` (with ICE in the set-up): the phone and the far end gather from the dial;
  the phone's INVITE goes when it has gathered.
- ``DNS`` (``signalling.dns``): then the phone locates the SIP proxy (RFC 3263 NAPTR,
  SRV, A/AAAA with Happy Eyeballs, ``models.dns_lookup``) from a cold cache, its
  resolver at the path's far end; the INVITE goes when the address is known, and a
  call whose lookup fails sends none. Fallback attempts reuse that address.
- ``SIP``: an INVITE over ``signalling.transport``; with ``signalling.fallback`` an
  attempt whose INVITE gets no response by the deadline gives way, at that instant, to
  one over the next transport (RFC 3263 4.3).
- ``CHECKS`` (with ICE): from the 200 OK reaching the phone; the media can start at the
  nomination.
- ``REGATHER``, ``REOFFER``, ``RECHECKS`` (``fallback.relay``): the checks found no pair
  (or none by the deadline) without TURN: both agents gather again with it, the phone
  sends its new offer in a re-INVITE, and both check again from its answer.

The SIP flows run in one ``models.sip_driver.FlowLoop``, each call's ICE session and DNS
lookup on their own (``models.ice_session.IceSession``, ``models.dns_lookup``); the loop
always takes the earliest event of all of them (a flow's first at equal times), so every
message crosses the path in the order it is sent, whatever its phase or call: the path's
stages, and each UE's RRC, see time run forward.
"""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass, field, replace
from enum import Enum, auto
from typing import Protocol

from voipbed.models.dns_lookup import (
    Families,
    HappyEyeballsConfig,
    LookupOutcome,
    ResolverConfig,
    SipServerLookup,
)
from voipbed.models.dns_records import DnsZone, sip_zone
from voipbed.models.dns_records import SipTransport as DnsTransport
from voipbed.models.ice_session import IceSession
from voipbed.models.overhead import UDP_HEADER_BYTES
from voipbed.models.sip_driver import FlowLoop, MessageRecord
from voipbed.models.sip_flows import CallConfig, CallOutcome
from voipbed.scenario import Scenario
from voipbed.sim.call_ice import CallIce, IceCalls
from voipbed.sim.message_path import MessagePath
from voipbed.sim.sip_attempt import SipAttempt, start_attempt

__all__ = ["CallProcess", "run_setups"]

_DOMAIN = "voip.example"  # the SIP domain the phones call through (RFC 2606 name)


class _Source(Protocol):
    """A call's own event source beside the SIP flows: an ICE session or a DNS lookup."""

    def next_event_s(self) -> float: ...

    def step(self) -> object: ...


class _Phase(Enum):
    GATHER = auto()
    DNS = auto()
    SIP = auto()
    CHECKS = auto()
    REGATHER = auto()
    REOFFER = auto()
    RECHECKS = auto()
    DONE = auto()


@dataclass(eq=False)
class CallProcess:
    """One call's set-up as it went: its SIP attempts (the last one decides), its ICE, and
    with a relay fallback the re-INVITE that carried the new offer."""

    call: int
    dial_s: float
    config: CallConfig
    attempts: list[SipAttempt] = field(default_factory=list)
    records: list[tuple[MessageRecord, ...]] = field(default_factory=list)
    ice: CallIce | None = None
    dns: LookupOutcome | None = None
    reoffer: SipAttempt | None = None
    phase: _Phase = _Phase.SIP
    session: IceSession | None = None
    session_start_s: float = 0.0
    checks_start_s: float | None = None
    failed_ice: CallIce | None = None
    lookup: SipServerLookup | None = None
    flows: list[int] = field(default_factory=list)  # the FlowLoop's index of each flow


def run_setups(
    scenario: Scenario, path: MessagePath, dial_s: list[float], ice: IceCalls | None
) -> list[CallProcess]:
    """Every call's set-up, call c on UE c dialling at ``dial_s[c]``."""
    return _SetupLoop(scenario, path, ice).run(dial_s)


class _SetupLoop:
    def __init__(self, scenario: Scenario, path: MessagePath, ice: IceCalls | None) -> None:
        self._scenario = scenario
        self._path = path
        self._ice = ice
        signalling = scenario.signalling
        fallback = signalling.fallback
        self._transports = [
            signalling.transport,
            *(() if fallback is None else fallback.transports),
        ]
        self._deadline_s = None if fallback is None else fallback.deadline_s
        self._flows = FlowLoop()
        self._owner: list[CallProcess] = []  # per flow index
        self._sources: list[tuple[float, int, CallProcess, _Source]] = []  # a heap
        self._sequence = itertools.count()
        overhead = scenario.overhead()
        self._header_bytes = overhead.ip_version.header_bytes + UDP_HEADER_BYTES
        self._zone: DnsZone | None = None
        if signalling.dns is not None:
            self._zone = sip_zone(_DOMAIN, naptr=signalling.dns.naptr)

    def run(self, dial_s: list[float]) -> list[CallProcess]:
        far_end = self._scenario.signalling.far_end
        config = CallConfig(
            ring_delay_s=far_end.ring_delay_s, answer_delay_s=far_end.answer_delay_s
        )
        ice = self._ice
        in_setup = ice is not None and not ice.pre_established
        if ice is not None and in_setup and ice.far_gathering_s > config.answer_delay_s:
            config = replace(config, answer_delay_s=ice.far_gathering_s)  # the SDP answer
        calls = [CallProcess(call, dial, config) for call, dial in enumerate(dial_s)]
        for process in calls:
            if ice is not None and in_setup:
                process.phase = _Phase.GATHER
                self._begin_session(process, process.dial_s, relay=not ice.relay_later)
            else:
                self._before_sip(process, process.dial_s)
        self._loop()
        for process in calls:
            process.records = [tuple(self._flows.records[index]) for index in process.flows]
        return calls

    def _loop(self) -> None:
        flows, sources = self._flows, self._sources
        while True:
            flow_s = flows.next_event_s()
            source_s = sources[0][0] if sources else math.inf
            if flow_s == math.inf and source_s == math.inf:
                return
            if flow_s <= source_s:
                self._after_flow(self._owner[flows.step()])
                continue
            due, _, process, source = heapq.heappop(sources)
            if source.next_event_s() != due:
                continue  # an entry for an event since taken
            source.step()
            if source is process.session:
                self._after_session(process, due)
            elif source is process.lookup:
                self._after_lookup(process)
            self._push(process, source)

    # --- DNS ---------------------------------------------------------------------------

    def _before_sip(self, process: CallProcess, start_s: float) -> None:
        """The first INVITE from ``start_s``, after locating the proxy if the scenario asks."""
        settings = self._scenario.signalling.dns
        if settings is None or self._zone is None:
            self._start_sip(process, 0, start_s)
            return
        overhead = self._scenario.overhead()
        lookup = SipServerLookup(
            _DOMAIN,
            channel=self._path.channel(process.call, 0),  # the lookup adds UDP/IP headers
            zone=self._zone,
            transports=(DnsTransport(self._transports[0].value),),
            resolver=ResolverConfig(
                timeout_s=settings.timeout_s,
                attempts=settings.attempts,
                ip_version=overhead.ip_version,
                server_delay_s=settings.resolver_delay_s,
            ),
            eyeballs=HappyEyeballsConfig(families=Families(settings.families)),
            started_at_s=start_s,
        )
        process.lookup, process.phase = lookup, _Phase.DNS
        self._push(process, lookup)

    def _after_lookup(self, process: CallProcess) -> None:
        lookup = process.lookup
        if process.phase is not _Phase.DNS or lookup is None or not lookup.done:
            return
        outcome = lookup.outcome()
        process.dns = outcome
        if outcome.connected_at_s is not None:
            self._start_sip(process, 0, outcome.connected_at_s)
        else:
            self._finish_without_checks(process, outcome.failed_at_s or process.dial_s)

    # --- SIP ---------------------------------------------------------------------------

    def _start_sip(self, process: CallProcess, k: int, start_s: float) -> None:
        """Attempt ``k`` (over the k-th transport) from ``start_s``."""
        last = k == len(self._transports) - 1
        config = replace(process.config, invite_timeout_s=None if last else self._deadline_s)
        attempt = start_attempt(
            self._scenario,
            self._path,
            process.call,
            self._transports[k],
            start_s,
            config,
            reuse=k == 0 and self._scenario.signalling.reuse_connection,
            label=f"c{process.call}" + ("" if k == 0 else f"f{k}"),
        )
        process.attempts.append(attempt)
        self._add_flow(process, attempt)
        process.phase = _Phase.SIP

    def _add_flow(self, process: CallProcess, attempt: SipAttempt) -> None:
        process.flows.append(self._flows.add(attempt.run))
        self._owner.append(process)

    def _after_flow(self, process: CallProcess) -> None:
        """A flow of ``process`` took an event: the phase moves on when its current INVITE
        has ended."""
        if process.phase is _Phase.SIP:
            caller = process.attempts[-1].flow.phone
            outcome = caller.outcome
            if outcome is CallOutcome.PENDING:
                return
            k = len(process.attempts)
            if outcome is CallOutcome.TIMEOUT and k < len(self._transports):
                self._start_sip(process, k, caller.invite_sent_s + (self._deadline_s or 0.0))
            elif outcome is CallOutcome.ANSWERED and process.session is not None:
                self._begin_checks(process, caller.answered_s, _Phase.CHECKS)
            else:
                self._finish_without_checks(process, self._flows.now)
        elif process.phase is _Phase.REOFFER and process.reoffer is not None:
            caller = process.reoffer.flow.phone
            if caller.outcome is CallOutcome.PENDING:
                return
            if caller.outcome is CallOutcome.ANSWERED:
                self._begin_checks(process, caller.answered_s, _Phase.RECHECKS)
            else:
                self._finish_without_checks(process, self._flows.now)

    def _finish_without_checks(self, process: CallProcess, now: float) -> None:
        """The lookup or the INVITE failed at ``now``: no checks (with ICE, the call's ICE
        ends without a pair)."""
        session, ice = process.session, self._ice
        if session is not None and ice is not None:
            process.ice = ice.call_ice(
                session, process.session_start_s, now, None, failed=process.failed_ice
            )
            process.session = None
        process.phase = _Phase.DONE

    # --- ICE ---------------------------------------------------------------------------

    def _begin_session(self, process: CallProcess, start_s: float, *, relay: bool) -> None:
        assert self._ice is not None
        channel = self._path.channel(process.call, self._header_bytes)
        session = self._ice.session(channel, relay=relay)
        session.begin_gathering(start_s)
        process.session, process.session_start_s = session, start_s
        self._push(process, session)

    def _begin_checks(self, process: CallProcess, answered_s: float | None, phase: _Phase) -> None:
        session, ice = process.session, self._ice
        assert session is not None and ice is not None and answered_s is not None
        give_up_s = answered_s + ice.give_up_after_s if phase is _Phase.CHECKS else math.inf
        session.begin_checks(answered_s, give_up_s=give_up_s)
        if phase is _Phase.CHECKS:
            process.checks_start_s = answered_s
        process.phase = phase
        self._push(process, session)

    def _push(self, process: CallProcess, source: _Source) -> None:
        due = source.next_event_s()
        if due < math.inf:
            heapq.heappush(self._sources, (due, next(self._sequence), process, source))

    def _after_session(self, process: CallProcess, now: float) -> None:
        """``process``'s session took an event at ``now``: the phase moves on when the
        phone has gathered, or when the checks have ended."""
        session, ice = process.session, self._ice
        assert session is not None and ice is not None
        phase = process.phase
        gathered_s = session.gathered_s()[0]
        if phase is _Phase.GATHER and gathered_s is not None:
            self._before_sip(process, gathered_s)
        elif phase is _Phase.REGATHER and gathered_s is not None:
            self._reoffer(process, gathered_s)
        elif phase in (_Phase.CHECKS, _Phase.RECHECKS) and session.finished():
            failed = process.failed_ice
            result = ice.call_ice(
                session, process.session_start_s, now, process.checks_start_s, failed=failed
            )
            if result.succeeded or failed is not None or not ice.relay_later:
                process.ice, process.session, process.phase = result, None, _Phase.DONE
                return
            process.failed_ice = result
            process.phase = _Phase.REGATHER
            self._begin_session(process, now, relay=True)

    def _reoffer(self, process: CallProcess, offer_s: float) -> None:
        """The new offer, with the relayed candidate, in a re-INVITE answered at once over
        the transport (and connection) the call was answered on."""
        answered = process.attempts[-1]
        attempt = start_attempt(
            self._scenario,
            self._path,
            process.call,
            answered.transport,
            offer_s,
            CallConfig(),
            reuse=False,
            label=f"c{process.call}r",
            stream=answered.stream,
        )
        process.reoffer = attempt
        self._add_flow(process, attempt)
        process.phase = _Phase.REOFFER
