"""ICE (RFC 8445) between two agents behind NAT models: gathering, checks, nomination, restart.

``run_ice`` computes one ICE session between a controlling and a controlled
agent (``IceAgentSpec``), each with its access path (a ``MessageChannel``,
uplink away from the agent), optionally a ``Nat`` at the end of that path, a
STUN server and a TURN server. Packets are events in time order:

- Gathering (5.1.1): a host candidate; a server-reflexive one from a STUN
  Binding to the STUN server through the NAT; a relayed one from a TURN
  Allocate (401 challenge, then authenticated Allocate, RFC 8656). Each is a
  STUN transaction with RFC 8489 retransmissions (``voipbed.models.stun``).
- When both agents have gathered, and ``signalling_s`` later (the
  offer/answer), each forms its checklist (``voipbed.models.ice_candidates``)
  and starts checks: one check every Ta (50 ms, section 14.2), from the
  triggered-check queue first, else the highest-priority Waiting pair, else
  a Frozen pair whose foundation has nothing Waiting or In-Progress
  (6.1.4.2). A check is a STUN transaction whose RTO is
  ``max(500 ms, Ta * (Waiting + In-Progress pairs))`` (14.3), Rc and Rm as
  RFC 8489.
- A check succeeds only if the request passes the far NAT's filter (or
  reaches the far relay from a permitted address) and the response comes
  back to the address the request was sent from, from the address it was
  sent to (7.2.5.2.1). The mapped address of the response gives the valid
  pair (7.2.5.3.2), a peer-reflexive local candidate if unknown (7.2.5.3.1).
  A request from an unknown address creates a peer-reflexive remote
  candidate (7.3.1.3); every request received triggers a check on its pair
  (7.3.1.4: an In-Progress check stops retransmitting and the pair is
  checked again).
- Regular nomination (8.1.1): the controlling agent nominates the best valid
  pair once no higher-priority pair is still Frozen, Waiting or In-Progress,
  or ``nomination_wait_s`` after its first valid pair (when to stop is the
  agent's choice in the RFC), by checking again, with USE-CANDIDATE, the pair
  that produced it (through the triggered queue). Its success is the
  nomination; the controlled agent records it when it has received
  USE-CANDIDATE on a pair whose own check succeeded (7.3.1.5).

Addresses that belong to no agent, server or relay are unreachable (a
private host address seen from another network); agents with the same
``site`` reach each other's host addresses directly, ``lan_delay_s`` apart.
Between public addresses the one-way delay is ``Wan.delay_s``: each address
sits ``hub_delay_s`` from a common hub. TURN permissions for all remote
candidate addresses are installed when checks start (in a real agent a
CreatePermission round trip to the relay, which runs while the higher-priority
pairs are checked). Relayed traffic crosses the access path in Send/Data
indications.

The modules: ``ice_candidates`` (priorities, pairs), ``ice_net`` (routing
through paths, NATs and servers), ``ice_session`` (the agents), this one (the
entry points and results).

A caller that runs the offer/answer itself uses ``IceSession`` in two
phases: ``gather``, then ``check`` once the candidates have been exchanged,
and ``session_result`` for the figures.

``ice_restart`` runs a session again from a changed local agent (new address,
NAT and path after a vertical handover) with new credentials, and gives its
duration and outcome. The NATs keep their state between runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from voipbed.models.ice_candidates import Candidate
from voipbed.models.ice_net import AgentMessage, IceAgentSpec, Wan
from voipbed.models.ice_session import CheckRecord, IceConfig, IceSession, SelectedPair

__all__ = [
    "AgentMessage",
    "CheckRecord",
    "IceAgentSpec",
    "IceConfig",
    "IceRestartResult",
    "IceResult",
    "IceSession",
    "SelectedPair",
    "Wan",
    "ice_restart",
    "run_ice",
    "session_result",
]


@dataclass(frozen=True)
class IceResult:
    """What a session gave: the nominated pair and when, the candidates, checks and messages.

    ``nominated_s`` is when the controlling agent received the success
    response to its USE-CANDIDATE check, ``controlled_nominated_s`` when the
    controlled agent took the nomination; ``end_s`` when the run stopped
    (both nominated, the controlling agent failed, or nothing left to do).
    """

    succeeded: bool
    selected: SelectedPair | None
    start_s: float
    gathered_s: tuple[float | None, float | None]
    checks_start_s: float | None
    nominated_s: float | None
    controlled_nominated_s: float | None
    end_s: float
    local_candidates: tuple[Candidate, ...]
    remote_candidates: tuple[Candidate, ...]
    checks: tuple[CheckRecord, ...]
    timeline: tuple[AgentMessage, ...]

    @property
    def time_to_nomination_s(self) -> float:
        """From the start of checks to the nomination (infinity if none)."""
        if self.nominated_s is None or self.checks_start_s is None:
            return math.inf
        return self.nominated_s - self.checks_start_s

    @property
    def duration_s(self) -> float:
        """From the start of gathering to the nomination (infinity if none)."""
        return math.inf if self.nominated_s is None else self.nominated_s - self.start_s


def run_ice(
    controlling: IceAgentSpec,
    controlled: IceAgentSpec,
    *,
    wan: Wan | None = None,
    config: IceConfig | None = None,
    start_s: float = 0.0,
) -> IceResult:
    """One ICE session, from the start of gathering at ``start_s`` to the nomination or failure."""
    session = IceSession(
        (controlling, controlled),
        wan if wan is not None else Wan(),
        config if config is not None else IceConfig(),
    )
    return session_result(session, start_s, session.run(start_s))


def session_result(session: IceSession, start_s: float, end_s: float) -> IceResult:
    """What ``session``, which started gathering at ``start_s``, gave by ``end_s``."""
    ctl, ctd = session.agents
    return IceResult(
        succeeded=ctl.selected is not None,
        selected=ctl.selected,
        start_s=start_s,
        gathered_s=(ctl.gathered_s, ctd.gathered_s),
        checks_start_s=session.checks_start_s,
        nominated_s=ctl.nominated_s,
        controlled_nominated_s=ctd.nominated_s,
        end_s=end_s,
        local_candidates=tuple(ctl.candidates),
        remote_candidates=tuple(ctd.candidates),
        checks=tuple(session.checks),
        timeline=tuple(session.net.timeline),
    )


@dataclass(frozen=True)
class IceRestartResult:
    """An ICE restart: how long from its start to the nomination, and what it selected."""

    duration_s: float
    succeeded: bool
    selected: SelectedPair | None
    result: IceResult


def ice_restart(
    moved: IceAgentSpec,
    peer: IceAgentSpec,
    *,
    wan: Wan | None = None,
    config: IceConfig | None = None,
    start_s: float = 0.0,
) -> IceRestartResult:
    """An ICE restart (RFC 8445 section 9) after the controlling agent's address changed.

    ``moved`` is the controlling agent after the handover (its new host
    address, NAT and access path); gathering and checks run again with new
    credentials from ``start_s``; ``peer`` keeps its NAT's state. The duration
    runs from ``start_s`` to the nomination (``config.signalling_s`` holds the
    new offer/answer).
    """
    result = run_ice(moved, peer, wan=wan, config=config, start_s=start_s)
    return IceRestartResult(result.duration_s, result.succeeded, result.selected, result)
