"""The two ICE agents of one session: gathering, paced checks, triggered checks, nomination.

``IceSession`` drives a controlling and a controlled agent over an
``IceNetwork`` in time order (a heap of events; at equal times packets, then
timers, then pacing ticks). The rules it follows, with their RFC 8445
sections, are listed in ``voipbed.models.ice``.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from voipbed.models.ice_candidates import (
    MAX_PAIRS,
    TYPE_PREFERENCE,
    Candidate,
    CandidatePair,
    CandidateType,
    PairState,
    candidate_priority,
    form_pairs,
    make_candidate,
    make_pair,
)
from voipbed.models.ice_net import IceAgentSpec, IceNetwork, Packet, Purpose, Wan
from voipbed.models.nat import Endpoint
from voipbed.models.stun import (
    StunClientTransaction,
    StunRetransmitConfig,
    TransactionState,
    binding_request_bytes,
    ice_check_request_bytes,
    ice_check_response_bytes,
)
from voipbed.models.turn import TurnCredentials

__all__ = ["CheckRecord", "IceConfig", "IceSession", "SelectedPair"]

TA_S = 0.05  # RFC 8445 section 14.2: default pacing Ta = 50 ms
MIN_CHECK_RTO_S = 0.5  # RFC 8445 section 14.3: RTO = max(500 ms, Ta * (Waiting + In-Progress))
TIMER = 1
TICK = 2
_LIVE = (PairState.FROZEN, PairState.WAITING, PairState.IN_PROGRESS)


@dataclass(frozen=True)
class IceConfig:
    """Tunables of a session; the source of each default is in its comment."""

    ta_s: float = TA_S
    gathering: StunRetransmitConfig = field(default_factory=StunRetransmitConfig)
    check_rc: int = 7  # RFC 8489 section 6.2.1 Rc
    check_rm: int = 16  # RFC 8489 section 6.2.1 Rm
    min_check_rto_s: float = MIN_CHECK_RTO_S
    # after the first valid pair, the wait for higher-priority pairs still being checked: the
    # agent's choice (RFC 8445 8.1.1 leaves the stopping criterion open); one initial RTO
    nomination_wait_s: float = 0.5
    max_pairs: int = MAX_PAIRS
    lan_delay_s: float = 0.001
    signalling_s: float = 0.0  # offer/answer between the end of gathering and the checks
    turn_credentials: TurnCredentials = field(default_factory=TurnCredentials)

    def __post_init__(self) -> None:
        for name in ("ta_s", "min_check_rto_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and > 0, got {value}")
        for name in ("nomination_wait_s", "lan_delay_s", "signalling_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {value}")
        if self.check_rc < 1 or self.check_rm < 1 or self.max_pairs < 1:
            raise ValueError("check_rc, check_rm and max_pairs must be >= 1")


@dataclass(frozen=True)
class SelectedPair:
    """A nominated valid pair, as one agent sees it, with its pair priority."""

    local: Candidate
    remote: Candidate
    priority: int

    @property
    def types(self) -> tuple[CandidateType, CandidateType]:
        """Local and remote candidate types."""
        return (self.local.type, self.remote.type)

    @property
    def relayed(self) -> bool:
        """Whether media on this pair goes through a TURN relay (either side)."""
        return CandidateType.RELAYED in self.types


@dataclass(frozen=True)
class CheckRecord:
    """One connectivity-check request sent."""

    agent: str
    time_s: float
    local: Candidate
    remote: Candidate
    retransmission: bool
    use_candidate: bool


@dataclass(slots=True)
class _Txn:
    machine: StunClientTransaction
    packet: Packet
    pair: CandidatePair | None = None


@dataclass(eq=False)
class _Agent:
    index: int
    spec: IceAgentSpec
    controlling: bool
    candidates: list[Candidate] = field(default_factory=list)
    remote: list[Candidate] = field(default_factory=list)
    pairs: list[CandidatePair] = field(default_factory=list)
    triggered: deque[tuple[CandidatePair, bool]] = field(default_factory=deque)
    valid: list[tuple[Candidate, Candidate, CandidatePair]] = field(default_factory=list)
    txns: dict[int, _Txn] = field(default_factory=dict)
    relay: Endpoint | None = None
    pending: int = 0
    gathered_s: float | None = None
    checking: bool = False
    ticking: bool = False
    last_check_s: float = -math.inf
    first_valid_s: float | None = None
    nominating: bool = False
    wait_scheduled: bool = False
    use_candidate_seen: set[int] = field(default_factory=set)
    selected: SelectedPair | None = None
    nominated_s: float | None = None
    failed_s: float | None = None


class IceSession:
    """One ICE session between a controlling (first) and a controlled (second) agent."""

    def __init__(
        self, agents: tuple[IceAgentSpec, IceAgentSpec], wan: Wan, config: IceConfig
    ) -> None:
        self.cfg = config
        self.agents = (_Agent(0, agents[0], True), _Agent(1, agents[1], False))
        self.heap: list[tuple[float, int, int, Callable[..., None], tuple[Any, ...]]] = []
        self.seq = 0
        self.next_tid = 0
        self.checks: list[CheckRecord] = []
        self.checks_start_s: float | None = None
        self._checks_when_gathered = True
        self.net = IceNetwork(
            agents,
            wan,
            self.at,
            self.receive,
            lan_delay_s=config.lan_delay_s,
            credentials=config.turn_credentials,
        )

    def at(self, time_s: float, order: int, fn: Callable[..., None], *args: Any) -> None:
        """Schedule ``fn(time_s, *args)``."""
        heapq.heappush(self.heap, (time_s, order, self.seq, fn, args))
        self.seq += 1

    def run(self, start_s: float) -> float:
        """Gather from ``start_s`` and run until the nomination, failure or quiet; the end time."""
        for agent in self.agents:
            self.at(start_s, TIMER, self._gather, agent)
        return self._run_until(start_s, self.finished)

    def begin_gathering(self, start_s: float) -> None:
        """Both agents gather from ``start_s``; the checks wait for ``begin_checks`` (the
        offer/answer that carries the candidates is the caller's to run). The caller drives
        the session with ``next_event_s`` and ``step``, or with ``gather``."""
        self._checks_when_gathered = False
        for agent in self.agents:
            self.at(start_s, TIMER, self._gather, agent)

    def begin_checks(self, start_s: float, *, give_up_s: float = math.inf) -> None:
        """After the gathering: both agents start their checks at ``start_s`` (each has the
        other's candidates); the controlling agent fails at ``give_up_s`` if it has not
        nominated by then."""
        if any(a.gathered_s is None or a.gathered_s > start_s for a in self.agents):
            raise ValueError("checks start only after both agents have gathered")
        self.at(start_s, TIMER, self._start_checks)
        if give_up_s < math.inf:
            self.at(give_up_s, TIMER, self._give_up)

    def gather(self, start_s: float) -> tuple[float, float]:
        """``begin_gathering`` and run until both agents have gathered; when each has."""
        self.begin_gathering(start_s)
        self._run_until(start_s, lambda: all(a.gathered_s is not None for a in self.agents))
        ctl, ctd = self.agents
        if ctl.gathered_s is None or ctd.gathered_s is None:  # every transaction ends
            raise RuntimeError("gathering stopped before both agents had gathered")
        return ctl.gathered_s, ctd.gathered_s

    def check(self, start_s: float, *, give_up_s: float = math.inf) -> float:
        """``begin_checks`` and run until the nomination, failure or quiet; the end time."""
        self.begin_checks(start_s, give_up_s=give_up_s)
        return self._run_until(start_s, self.finished)

    def finished(self) -> bool:
        """Whether the controlling agent failed, or both agents have their nomination."""
        ctl, ctd = self.agents
        return ctl.failed_s is not None or (
            ctl.nominated_s is not None and ctd.nominated_s is not None
        )

    def gathered_s(self) -> tuple[float | None, float | None]:
        """When each agent (controlling, controlled) finished gathering (None: not yet)."""
        ctl, ctd = self.agents
        return ctl.gathered_s, ctd.gathered_s

    def next_event_s(self) -> float:
        """When the session's next event is due (infinity: none, or it has finished)."""
        return self.heap[0][0] if self.heap and not self.finished() else math.inf

    def step(self) -> float:
        """Take the next event; its time."""
        now, _, _, fn, args = heapq.heappop(self.heap)
        fn(now, *args)
        return now

    def _give_up(self, now: float) -> None:
        controlling = self.agents[0]
        if controlling.nominated_s is None and controlling.failed_s is None:
            controlling.failed_s = now

    def _run_until(self, now: float, done: Callable[[], bool]) -> float:
        """Take events in time order until ``done()`` or none is left; the last one's time."""
        while self.heap and not done():
            now = self.step()
        return now

    # --- transactions ------------------------------------------------------------------------

    def _send(self, now: float, agent: _Agent, p: Packet, base: Endpoint) -> None:
        self.net.send(now, agent.index, p, base, agent.relay)

    def _start_txn(
        self,
        now: float,
        agent: _Agent,
        purpose: Purpose,
        base: Endpoint,
        dst: Endpoint,
        *,
        pair: CandidatePair | None = None,
        use_candidate: bool = False,
        config: StunRetransmitConfig | None = None,
    ) -> int:
        tid = self.next_tid
        self.next_tid += 1
        if purpose == Purpose.STUN:
            kind, size = "stun_binding_request", binding_request_bytes()
        elif purpose == Purpose.ALLOCATE:
            kind, size = "turn_allocate", self.net.allocate_sizes[0]
        elif purpose == Purpose.ALLOCATE_AUTH:
            kind, size = "turn_allocate_auth", self.net.allocate_auth_sizes[0]
        else:
            kind, size = "ice_check", ice_check_request_bytes(use_candidate=use_candidate)
        p = Packet(kind, size, base, dst, tid, purpose, True, use_candidate=use_candidate)
        if pair is not None:
            prflx = TYPE_PREFERENCE[CandidateType.PEER_REFLEXIVE]  # RFC 8445 7.1.1 PRIORITY
            p.priority = candidate_priority(
                prflx, agent.spec.local_preference, pair.local.component
            )
        machine = StunClientTransaction(config if config is not None else self.cfg.gathering)
        txn = _Txn(machine, p, pair)
        agent.txns[tid] = txn
        machine.start(now)
        self._transmit(now, agent, txn, retransmission=False)
        return tid

    def _transmit(self, now: float, agent: _Agent, txn: _Txn, *, retransmission: bool) -> None:
        t = txn.packet
        p = Packet(t.kind, t.size, t.src, t.dst, t.tid, t.purpose, True)
        p.priority, p.use_candidate, p.retransmission = t.priority, t.use_candidate, retransmission
        pair = txn.pair
        if pair is not None:
            record = CheckRecord(
                agent.spec.name, now, pair.local, pair.remote, retransmission, t.use_candidate
            )
            self.checks.append(record)
        self._send(now, agent, p, t.src)
        deadline = txn.machine.next_deadline_s
        if deadline is not None:
            self.at(deadline, TIMER, self._on_timer, agent, t.tid, deadline)

    def _on_timer(self, now: float, agent: _Agent, tid: int, deadline: float) -> None:
        txn = agent.txns.get(tid)
        if txn is None or txn.machine.next_deadline_s != deadline:
            return
        if txn.machine.on_timer(now) is not None:
            self._transmit(now, agent, txn, retransmission=True)
            return
        if txn.machine.state != TransactionState.FAILED:
            return
        if txn.packet.purpose != Purpose.CHECK:
            self._gathered_one(now, agent)
            return
        pair = txn.pair
        if pair is not None and pair.transaction == tid and pair.state == PairState.IN_PROGRESS:
            pair.state = PairState.FAILED
        if txn.packet.use_candidate:
            agent.nominating = False
            agent.valid = [v for v in agent.valid if v[2] is not pair]
        self._maybe_nominate(now, agent)

    def receive(self, now: float, index: int, p: Packet, base: Endpoint) -> None:
        """A packet reached agent ``index`` at local ``base``."""
        agent = self.agents[index]
        if p.inner is not None:
            if agent.relay is None:
                return
            p, base = p.inner, agent.relay
        if p.request:
            if p.purpose == Purpose.CHECK:
                self._on_check_request(now, agent, p, base)
            return
        txn = agent.txns.get(p.tid)
        if txn is None or txn.packet.src != base or not txn.machine.on_response(now):
            return
        purpose = txn.packet.purpose
        if purpose == Purpose.STUN:
            if p.mapped is not None and p.mapped != agent.spec.host:
                self._add_local(agent, CandidateType.SERVER_REFLEXIVE, p.mapped, txn.packet.dst)
            self._gathered_one(now, agent)
        elif purpose == Purpose.ALLOCATE:
            self._start_txn(now, agent, Purpose.ALLOCATE_AUTH, agent.spec.host, txn.packet.dst)
        elif purpose == Purpose.ALLOCATE_AUTH:
            if p.mapped is not None:
                agent.relay = p.mapped
                self._add_local(agent, CandidateType.RELAYED, p.mapped, txn.packet.dst)
            self._gathered_one(now, agent)
        else:
            self._on_check_response(now, agent, txn, p, base)

    # --- gathering ---------------------------------------------------------------------------

    def _add_local(
        self, agent: _Agent, kind: CandidateType, address: Endpoint, server: Endpoint
    ) -> None:
        if any(c.address == address for c in agent.candidates):
            return
        base = address if kind == CandidateType.RELAYED else agent.spec.host
        preference = agent.spec.local_preference
        agent.candidates.append(
            make_candidate(kind, address, base, server=server[0], local_preference=preference)
        )

    def _gather(self, now: float, agent: _Agent) -> None:
        spec = agent.spec
        host = make_candidate(
            CandidateType.HOST, spec.host, spec.host, local_preference=spec.local_preference
        )
        agent.candidates.append(host)
        if spec.stun_server is not None:
            agent.pending += 1
            self._start_txn(now, agent, Purpose.STUN, spec.host, spec.stun_server)
        if spec.turn_server is not None:
            agent.pending += 1
            self._start_txn(now, agent, Purpose.ALLOCATE, spec.host, spec.turn_server)
        if agent.pending == 0:
            self._gathered_one(now, agent, step=False)

    def _gathered_one(self, now: float, agent: _Agent, *, step: bool = True) -> None:
        if step:
            agent.pending -= 1
        if agent.pending > 0 or agent.gathered_s is not None:
            return
        agent.gathered_s = now
        done = [a.gathered_s for a in self.agents]
        if self._checks_when_gathered and all(t is not None for t in done):
            start = max(t for t in done if t is not None) + self.cfg.signalling_s
            self.at(start, TIMER, self._start_checks)

    # --- checks ------------------------------------------------------------------------------

    def _start_checks(self, now: float) -> None:
        self.checks_start_s = now
        ctl, ctd = self.agents
        for agent, other in ((ctl, ctd), (ctd, ctl)):
            agent.remote = list(other.candidates)
            agent.pairs = form_pairs(
                agent.candidates, agent.remote, agent.controlling, max_pairs=self.cfg.max_pairs
            )
            agent.checking = True
            if agent.relay is not None:
                self.net.permit(agent.relay, {c.address[0] for c in agent.remote})
        for agent in self.agents:
            self._wake(now, agent)

    def _wake(self, now: float, agent: _Agent) -> None:
        if agent.checking and not agent.ticking:
            agent.ticking = True
            self.at(max(now, agent.last_check_s + self.cfg.ta_s), TICK, self._tick, agent)

    def _tick(self, now: float, agent: _Agent) -> None:
        chosen = self._next_check(agent) if agent.checking else None
        if chosen is None:
            agent.ticking = False
            self._maybe_nominate(now, agent)
            return
        pair, use_candidate = chosen
        busy = sum(p.state in (PairState.WAITING, PairState.IN_PROGRESS) for p in agent.pairs)
        rto = max(self.cfg.min_check_rto_s, self.cfg.ta_s * busy)
        config = StunRetransmitConfig(rto_s=rto, rc=self.cfg.check_rc, rm=self.cfg.check_rm)
        agent.last_check_s = now
        tid = self._start_txn(
            now,
            agent,
            Purpose.CHECK,
            pair.local.base,
            pair.remote.address,
            pair=pair,
            use_candidate=use_candidate,
            config=config,
        )
        if pair.state != PairState.SUCCEEDED:
            pair.state = PairState.IN_PROGRESS
            pair.transaction = tid
        self.at(now + self.cfg.ta_s, TICK, self._tick, agent)

    def _next_check(self, agent: _Agent) -> tuple[CandidatePair, bool] | None:
        while agent.triggered:
            pair, use_candidate = agent.triggered.popleft()
            if use_candidate or pair.state != PairState.SUCCEEDED:
                return pair, use_candidate
        if agent.nominating or agent.selected is not None:
            return None
        waiting = [p for p in agent.pairs if p.state == PairState.WAITING]
        if waiting:
            return max(waiting, key=lambda p: p.priority), False
        busy = {
            p.foundation
            for p in agent.pairs
            if p.state in (PairState.WAITING, PairState.IN_PROGRESS)
        }
        frozen = [
            p for p in agent.pairs if p.state == PairState.FROZEN and p.foundation not in busy
        ]
        if frozen:
            return max(frozen, key=lambda p: p.priority), False
        return None

    def _pair_for(self, agent: _Agent, local: Candidate, remote: Candidate) -> CandidatePair:
        for pair in agent.pairs:
            if pair.local.base == local.base and pair.remote.address == remote.address:
                return pair
        pair = make_pair(local, remote, agent.controlling)
        agent.pairs.append(pair)
        return pair

    def _on_check_request(self, now: float, agent: _Agent, p: Packet, base: Endpoint) -> None:
        size = ice_check_response_bytes()
        reply = Packet("ice_check_response", size, base, p.src, p.tid, p.purpose, False, p.src)
        self._send(now, agent, reply, base)
        if not agent.checking and agent.controlling:
            return
        local = next((c for c in agent.candidates if c.address == base), None)
        if local is None or not agent.pairs:
            return
        remote = next((c for c in agent.remote if c.address == p.src), None)
        if remote is None:  # RFC 8445 7.3.1.3: peer-reflexive remote candidate
            remote = Candidate(
                CandidateType.PEER_REFLEXIVE, p.src, p.src, p.priority, f"prflx|{p.src}"
            )
            agent.remote.append(remote)
        pair = self._pair_for(agent, local, remote)
        if p.use_candidate and not agent.controlling:
            agent.use_candidate_seen.add(id(pair))
        if pair.state == PairState.SUCCEEDED:
            if p.use_candidate and not agent.controlling:
                self._controlled_nominated(now, agent, pair)
            return
        if agent.selected is not None:
            return
        self._trigger(now, agent, pair)

    def _trigger(self, now: float, agent: _Agent, pair: CandidatePair) -> None:
        """RFC 8445 7.3.1.4: (re)check ``pair`` next; an In-Progress check stops retransmitting."""
        tid = pair.transaction
        txn = agent.txns.get(tid) if tid is not None else None
        if pair.state == PairState.IN_PROGRESS and txn is not None:
            before = txn.machine.next_deadline_s
            txn.machine.cancel()
            after = txn.machine.next_deadline_s
            if after is not None and after != before:
                self.at(after, TIMER, self._on_timer, agent, tid, after)
        pair.state = PairState.WAITING
        if all(queued is not pair for queued, _ in agent.triggered):
            agent.triggered.append((pair, False))
        self._wake(now, agent)

    def _on_check_response(
        self, now: float, agent: _Agent, txn: _Txn, p: Packet, base: Endpoint
    ) -> None:
        pair = txn.pair
        if pair is None or p.mapped is None:
            return
        if p.src != pair.remote.address or base != pair.local.base:  # RFC 8445 7.2.5.2.1
            if pair.transaction == p.tid and pair.state == PairState.IN_PROGRESS:
                pair.state = PairState.FAILED
            self._maybe_nominate(now, agent)
            return
        local = next((c for c in agent.candidates if c.address == p.mapped), None)
        if local is None:  # RFC 8445 7.2.5.3.1: peer-reflexive local candidate
            local = Candidate(
                CandidateType.PEER_REFLEXIVE,
                p.mapped,
                pair.local.base,
                txn.packet.priority,
                f"prflx|{p.mapped}",
            )
            agent.candidates.append(local)
        if all(v[2] is not pair for v in agent.valid):
            agent.valid.append((local, pair.remote, pair))
        if agent.first_valid_s is None:
            agent.first_valid_s = now
        if pair.state != PairState.SUCCEEDED:
            pair.state = PairState.SUCCEEDED
            for other in agent.pairs:  # RFC 8445 7.2.5.3.3: unfreeze the same foundation
                if other.state == PairState.FROZEN and other.foundation == pair.foundation:
                    other.state = PairState.WAITING
        if txn.packet.use_candidate and agent.controlling and agent.selected is None:
            agent.selected = self._selected(agent, pair)
            agent.nominated_s = now
            agent.checking = False
            for pending in agent.txns.values():
                pending.machine.cancel()
            return
        if not agent.controlling and id(pair) in agent.use_candidate_seen:
            self._controlled_nominated(now, agent, pair)
            return
        self._maybe_nominate(now, agent)

    def _selected(self, agent: _Agent, pair: CandidatePair) -> SelectedPair:
        local, remote, _ = next(v for v in agent.valid if v[2] is pair)
        g, d = (local, remote) if agent.controlling else (remote, local)
        return SelectedPair(local, remote, make_pair(g, d, True).priority)

    def _controlled_nominated(self, now: float, agent: _Agent, pair: CandidatePair) -> None:
        if agent.nominated_s is None:
            agent.selected = self._selected(agent, pair)
            agent.nominated_s = now

    def _maybe_nominate(self, now: float, agent: _Agent) -> None:
        """RFC 8445 8.1.1 regular nomination by the controlling agent."""
        if not agent.controlling or agent.nominating or not agent.checking:
            return
        if not agent.valid:
            if not agent.triggered and all(p.state not in _LIVE for p in agent.pairs):
                agent.failed_s = now
            return
        best = max(agent.valid, key=lambda v: self._selected(agent, v[2]).priority)
        pending = any(p.state in _LIVE and p.priority > best[2].priority for p in agent.pairs)
        deadline = (agent.first_valid_s or now) + self.cfg.nomination_wait_s
        if pending and now < deadline:
            if not agent.wait_scheduled:
                agent.wait_scheduled = True
                self.at(deadline, TIMER, self._maybe_nominate, agent)
            return
        agent.nominating = True
        agent.triggered.appendleft((best[2], True))
        self._wake(now, agent)
