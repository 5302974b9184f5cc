"""ICE candidates and candidate pairs (RFC 8445): priorities, foundations, pairing, pruning.

- Candidate priority (section 5.1.2.1):
  ``2^24 * type preference + 2^8 * local preference + (256 - component ID)``,
  type preferences 126 host, 110 peer-reflexive, 100 server-reflexive, 0
  relayed (5.1.2.2), local preference 65535 for a single-homed agent.
- Foundation (5.1.1.3): the same for candidates of one type, one base
  address, one STUN/TURN server address and one transport.
- Pairs (6.1.2.2): every local with every remote candidate of the same
  component and address family. Pruning (6.1.2.4): a server-reflexive local
  candidate is replaced by its base and pairs that then repeat one another
  keep the higher priority. Pair priority (6.1.2.3), with G the controlling
  and D the controlled agent's candidate priority:
  ``2^32 * min(G, D) + 2 * max(G, D) + (1 if G > D else 0)``. Pairs are
  ordered by priority, at most 100 kept (6.1.2.5), and for each foundation
  the highest-priority pair starts Waiting, the others Frozen (6.1.2.6).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from voipbed.models.nat import Address, Endpoint

__all__ = [
    "MAX_LOCAL_PREFERENCE",
    "TYPE_PREFERENCE",
    "Candidate",
    "CandidatePair",
    "CandidateType",
    "PairState",
    "candidate_priority",
    "form_pairs",
    "make_candidate",
    "make_pair",
    "pair_priority",
]

MAX_LOCAL_PREFERENCE = 65535  # RFC 8445 section 5.1.2.1: single-homed agents SHOULD use 65535
MAX_PAIRS = 100  # RFC 8445 section 6.1.2.5: default limit on a checklist


class CandidateType(IntEnum):
    """RFC 8445 section 5.1.1 candidate types."""

    HOST = 0
    SERVER_REFLEXIVE = 1
    PEER_REFLEXIVE = 2
    RELAYED = 3


TYPE_PREFERENCE: dict[CandidateType, int] = {
    CandidateType.HOST: 126,  # RFC 8445 section 5.1.2.2 recommended type preferences
    CandidateType.PEER_REFLEXIVE: 110,
    CandidateType.SERVER_REFLEXIVE: 100,
    CandidateType.RELAYED: 0,
}


def candidate_priority(
    type_preference: int, local_preference: int = MAX_LOCAL_PREFERENCE, component_id: int = 1
) -> int:
    """RFC 8445 section 5.1.2.1 candidate priority."""
    if not 0 <= type_preference <= 126:
        raise ValueError(f"type preference must be in [0, 126], got {type_preference}")
    if not 0 <= local_preference <= MAX_LOCAL_PREFERENCE:
        raise ValueError(f"local preference must be in [0, 65535], got {local_preference}")
    if not 1 <= component_id <= 256:
        raise ValueError(f"component ID must be in [1, 256], got {component_id}")
    return (1 << 24) * type_preference + (1 << 8) * local_preference + (256 - component_id)


def pair_priority(controlling: int, controlled: int) -> int:
    """RFC 8445 section 6.1.2.3 pair priority from the two agents' candidate priorities."""
    low, high = min(controlling, controlled), max(controlling, controlled)
    return (1 << 32) * low + 2 * high + (1 if controlling > controlled else 0)


def _family(address: Address) -> int:
    return 6 if isinstance(address, str) and ":" in address else 4


@dataclass(frozen=True)
class Candidate:
    """A transport address an agent can be reached at, with its base, priority and foundation."""

    type: CandidateType
    address: Endpoint
    base: Endpoint
    priority: int
    foundation: str
    component: int = 1


def make_candidate(
    kind: CandidateType,
    address: Endpoint,
    base: Endpoint,
    *,
    server: Address | None = None,
    local_preference: int = MAX_LOCAL_PREFERENCE,
    component: int = 1,
) -> Candidate:
    """A candidate with its RFC 8445 priority and foundation (type, base address, server)."""
    priority = candidate_priority(TYPE_PREFERENCE[kind], local_preference, component)
    foundation = f"{kind.name}|{base[0]}|{server if server is not None else ''}|udp"
    return Candidate(kind, address, base, priority, foundation, component)


class PairState(IntEnum):
    """RFC 8445 section 6.1.2.6 candidate pair states."""

    FROZEN = 0
    WAITING = 1
    IN_PROGRESS = 2
    SUCCEEDED = 3
    FAILED = 4


@dataclass(eq=False)
class CandidatePair:
    """A local and a remote candidate in a checklist, with its priority and state."""

    local: Candidate
    remote: Candidate
    priority: int
    state: PairState = PairState.FROZEN
    transaction: int | None = field(default=None, repr=False)

    @property
    def foundation(self) -> tuple[str, str]:
        """The pair foundation: the two candidates' foundations."""
        return (self.local.foundation, self.remote.foundation)


def make_pair(local: Candidate, remote: Candidate, controlling: bool) -> CandidatePair:
    """A pair of ``local`` and ``remote`` with its priority for this agent's role."""
    g, d = (local.priority, remote.priority) if controlling else (remote.priority, local.priority)
    return CandidatePair(local, remote, pair_priority(g, d))


def form_pairs(
    local: Sequence[Candidate],
    remote: Sequence[Candidate],
    controlling: bool,
    *,
    max_pairs: int = MAX_PAIRS,
) -> list[CandidatePair]:
    """The checklist: pairs formed, pruned, ordered, limited, with initial states set."""
    bases = {c.address: c for c in local if c.type == CandidateType.HOST}
    best: dict[tuple[Endpoint, Endpoint], CandidatePair] = {}
    for lc in local:
        own = bases.get(lc.base, lc) if lc.type == CandidateType.SERVER_REFLEXIVE else lc
        for rc in remote:
            if rc.component != own.component or _family(rc.address[0]) != _family(own.base[0]):
                continue
            pair = make_pair(own, rc, controlling)
            key = (own.base, rc.address)
            kept = best.get(key)
            if kept is None or pair.priority > kept.priority:
                best[key] = pair
    pairs = sorted(best.values(), key=lambda p: p.priority, reverse=True)[:max_pairs]
    seen: set[tuple[str, str]] = set()
    for pair in pairs:
        if pair.foundation not in seen:
            seen.add(pair.foundation)
            pair.state = PairState.WAITING
    return pairs
