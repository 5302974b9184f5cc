"""ICE: RFC 8445 priorities, pairing and pacing; which pair wins behind which NAT; restart."""

from __future__ import annotations

import pytest

from voipbed.models.ice import (
    IceAgentSpec,
    IceConfig,
    IceSession,
    Wan,
    ice_restart,
    run_ice,
    session_result,
)
from voipbed.models.ice_candidates import (
    CandidateType,
    PairState,
    candidate_priority,
    form_pairs,
    make_candidate,
    pair_priority,
)
from voipbed.models.message_channel import ScriptedChannel
from voipbed.models.nat import FilteringBehaviour, MappingBehaviour, Nat, NatConfig

HOST, SRFLX, RELAY = CandidateType.HOST, CandidateType.SERVER_REFLEXIVE, CandidateType.RELAYED
STUN = ("192.0.2.1", 3478)
TURN = ("192.0.2.2", 3478)
EIM = MappingBehaviour.ENDPOINT_INDEPENDENT
APDM = MappingBehaviour.ADDRESS_AND_PORT_DEPENDENT
APDF = FilteringBehaviour.ADDRESS_AND_PORT_DEPENDENT


def _nat(mapping: MappingBehaviour, address: str) -> Nat:
    config = NatConfig(mapping=mapping, filtering=APDF, external_addresses=(address,))
    return Nat(config)


def _agent(name: str, host: tuple[str, int], nat: Nat | None, **kw: object) -> IceAgentSpec:
    return IceAgentSpec(
        name, host, ScriptedChannel(0.02, 0.02), nat, stun_server=STUN, turn_server=TURN, **kw
    )


def _pair(mapping: MappingBehaviour) -> tuple[IceAgentSpec, IceAgentSpec]:
    phone = _agent("phone", ("10.0.0.2", 5000), _nat(mapping, "198.51.100.1"))
    peer = _agent("peer", ("10.1.0.2", 6000), _nat(mapping, "198.51.100.9"))
    return phone, peer


def test_candidate_priorities_by_hand() -> None:
    """Host, srflx, relayed priorities for local preference 65535, component 1 (5.1.2.1)."""
    assert candidate_priority(126) == 126 * 2**24 + 65535 * 2**8 + 255 == 2130706431
    assert candidate_priority(100) == 100 * 2**24 + 65535 * 2**8 + 255 == 1694498815
    assert candidate_priority(0) == 65535 * 2**8 + 255 == 16777215
    host = make_candidate(HOST, ("10.0.0.2", 1), ("10.0.0.2", 1))
    assert host.priority == 2130706431


def test_pair_priority_by_hand() -> None:
    """2^32 min(G, D) + 2 max(G, D) + (G > D) (6.1.2.3)."""
    g, d = 2130706431, 1694498815
    assert pair_priority(g, d) == 2**32 * d + 2 * g + 1
    assert pair_priority(d, g) == 2**32 * d + 2 * g


def test_pairs_are_pruned_ordered_and_frozen_by_foundation() -> None:
    """A srflx local candidate is replaced by its base; one Waiting pair per foundation."""
    base = ("10.0.0.2", 5000)
    local = [
        make_candidate(HOST, base, base),
        make_candidate(SRFLX, ("198.51.100.1", 5000), base, server=STUN[0]),
    ]
    r_host = ("10.1.0.2", 6000)
    remote = [
        make_candidate(HOST, r_host, r_host),
        make_candidate(SRFLX, ("198.51.100.9", 6000), r_host, server=STUN[0]),
    ]
    pairs = form_pairs(local, remote, controlling=True)
    assert [(p.local.type, p.remote.type) for p in pairs] == [(HOST, HOST), (HOST, SRFLX)]
    assert pairs[0].priority > pairs[1].priority
    assert [p.state for p in pairs] == [PairState.WAITING, PairState.WAITING]


def test_endpoint_independent_nats_select_a_server_reflexive_pair() -> None:
    """Both behind EIM (APDF) NATs: the server-reflexive pair is nominated."""
    result = run_ice(*_pair(EIM))
    assert result.succeeded
    assert result.selected is not None
    assert result.selected.types == (SRFLX, SRFLX)
    assert result.controlled_nominated_s is not None
    assert result.time_to_nomination_s > 0


def test_symmetric_nats_leave_only_relayed_pairs() -> None:
    """Both behind APDM/APDF NATs: only a pair through a TURN relay is nominated."""
    result = run_ice(*_pair(APDM))
    assert result.succeeded
    assert result.selected is not None
    assert result.selected.relayed
    assert SRFLX not in result.selected.types


def test_symmetric_nats_without_turn_fail() -> None:
    """Both behind APDM/APDF NATs with no TURN server: ICE fails."""
    phone, peer = _pair(APDM)
    phone.turn_server = peer.turn_server = None
    result = run_ice(phone, peer)
    assert not result.succeeded
    assert result.nominated_s is None


def test_same_site_selects_the_host_pair() -> None:
    """Two agents on one LAN reach each other's host addresses: host pair nominated."""
    nat = _nat(EIM, "198.51.100.1")
    phone = _agent("phone", ("10.0.0.2", 5000), nat, site="home")
    peer = _agent("peer", ("10.0.0.3", 6000), nat, site="home")
    result = run_ice(phone, peer)
    assert result.selected is not None
    assert result.selected.types == (HOST, HOST)


def test_checks_are_paced_every_ta() -> None:
    """Check n of an agent starts at checks start + n * Ta, triggered or not."""
    config = IceConfig(ta_s=0.05)
    result = run_ice(*_pair(APDM), config=config)
    assert result.checks_start_s is not None
    firsts = [c.time_s for c in result.checks if c.agent == "phone" and not c.retransmission]
    n = 6  # host, relayed local x host, srflx, relayed remote: all checked before nomination
    assert firsts[:n] == [pytest.approx(result.checks_start_s + k * 0.05) for k in range(n)]


def test_gathering_timeline_by_hand() -> None:
    """Gathering ends with TURN: two round trips of path (2 x 20 ms) and WAN (2 x 20 ms)."""
    result = run_ice(*_pair(EIM), wan=Wan(default_hub_s=0.01))
    rtt = 2 * 0.02 + 2 * (0.01 + 0.01)
    assert result.gathered_s == (pytest.approx(2 * rtt), pytest.approx(2 * rtt))
    assert result.checks_start_s == pytest.approx(2 * rtt)
    kinds = {m.kind for m in result.timeline}
    assert {"stun_binding_request", "turn_allocate_401", "ice_check_response"} <= kinds


def test_runs_are_deterministic() -> None:
    """The same inputs give the same checks and timeline."""
    first, second = run_ice(*_pair(APDM)), run_ice(*_pair(APDM))
    assert first.timeline == second.timeline
    assert first.checks == second.checks
    assert first.nominated_s == second.nominated_s


def test_ice_restart_after_a_vertical_handover() -> None:
    """The phone moves to a symmetric CGN: the restart takes gathering plus checks and relays."""
    phone, peer = _pair(EIM)
    before = run_ice(phone, peer)
    assert before.selected is not None and before.selected.types == (SRFLX, SRFLX)
    moved = _agent("phone", ("100.64.0.7", 7000), _nat(APDM, "198.51.100.50"))
    config = IceConfig(signalling_s=0.3)
    restart = ice_restart(moved, peer, config=config, start_s=60.0)
    assert restart.succeeded
    assert restart.selected is not None and restart.selected.relayed
    result = restart.result
    assert result.checks_start_s == pytest.approx(max(result.gathered_s) + 0.3)
    assert restart.duration_s == pytest.approx(result.nominated_s - 60.0)
    assert restart.duration_s > result.checks_start_s - 60.0


def test_gathering_then_checks_at_a_later_offer_answer() -> None:
    """In two phases the checks start when asked, and the pair is the one-phase run's."""
    session = IceSession(_pair(EIM), Wan(), IceConfig())
    gathered = session.gather(1.0)
    assert all(1.0 < t < 1.5 for t in gathered) and session.checks_start_s is None
    end = session.check(3.0)
    result = session_result(session, 1.0, end)
    assert result.checks_start_s == 3.0 and result.nominated_s is not None
    assert result.selected is not None and result.selected.types == (SRFLX, SRFLX)
    with pytest.raises(ValueError, match="gathered"):
        IceSession(_pair(EIM), Wan(), IceConfig()).check(0.0)
