"""ICE for each call set up on the path (``signalling.ice``): gathering, checks, the chosen pair.

Each call runs its own ICE session (``models.ice``, RFC 8445) between its phone
(the controlling agent, as the caller) and the far end:

- The phone's access is the scenario's path (the UE's signalling channel:
  its segments, loss, jitter and RRC), behind ``signalling.nat`` if there is
  one; the far end sits at the path's end, behind ``ice.far_end_nat`` or on a
  public address. The STUN and TURN servers are ``ice.servers_delay`` beyond
  the path's end, so a relayed pair's media go twice that further one way.
- At the dial both agents gather (host; server-reflexive from STUN; relayed
  from a TURN Allocate with its 401 challenge); the phone sends its INVITE,
  whose SDP offer carries its candidates, when it has gathered. The far end
  gathers over its own wired access, without loss, so its gathering takes the
  same time whenever it starts: it is run at the dial, and the far end's 200 OK
  (its SDP answer) waits for it when it takes longer than the far end's delays.
- When the phone has the answer both agents check, paced every Ta, and the
  phone nominates a pair; the media start then. A call whose checks fail has no
  media.
- ``fallback.relay``: the agents gather no relayed candidate at first; when
  the checks find no pair (or none by ``fallback.deadline``), both gather
  again with their TURN servers, the phone sends its new offer in a
  re-INVITE (over the call's transport, on the path) and both check again
  from its answer (an ICE restart, RFC 8445 section 9).
- ``ice.pre_established``: ICE ran at registration, a minute before the dial,
  over the path's base delays without loss; the call's set-up has no ICE in it,
  and the pair chosen then carries the media.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from voipbed.ice_agents import IceAgents
from voipbed.metric_names import EventKind
from voipbed.models.ice import IceResult, IceSession, run_ice, session_result
from voipbed.models.ice_candidates import CandidateType
from voipbed.models.ice_net import AgentMessage
from voipbed.models.ice_session import IceConfig
from voipbed.models.message_channel import UPLINK, MessageChannel, ScriptedChannel
from voipbed.scenario import Scenario
from voipbed.sim.control_plane import Event

__all__ = ["PAIR_NAMES", "CallIce", "IceCalls"]

_PRE_ESTABLISHED_S = 60.0  # media pre-established at registration: this long before the dial

PAIR_NAMES = {
    CandidateType.HOST: "host",
    CandidateType.SERVER_REFLEXIVE: "srflx",
    CandidateType.PEER_REFLEXIVE: "prflx",
    CandidateType.RELAYED: "relay",
}
"""RFC 8839's names of the candidate types (the SDP ``typ``)."""


@dataclass(frozen=True)
class CallIce:
    """One call's ICE: when the phone had gathered, when checks started and ended, the pair.

    ``gathered_s`` and ``checks_start_s`` are None when ICE ran before the dial
    (pre-established media) or the checks never started (the call was not answered).
    """

    result: IceResult  # the last session's (the restart's, after a relay fallback)
    gathered_s: float | None
    checks_start_s: float | None
    relay_delay_s: float  # added to the media's one-way delay on a relayed pair
    timeline: tuple[AgentMessage, ...] = ()  # every session's messages
    relay_fallback_s: float | None = None  # when ICE restarted with a relay (None: it did not)

    @property
    def succeeded(self) -> bool:
        """Whether a pair was nominated."""
        return self.result.succeeded

    @property
    def nominated_s(self) -> float | None:
        """When the phone's nomination succeeded (None: ICE failed, or ran before the dial)."""
        return self.result.nominated_s if self.checks_start_s is not None else None

    @property
    def checks_s(self) -> float | None:
        """From the start of the checks to the nomination (None: no checks in the set-up)."""
        if self.checks_start_s is None or self.nominated_s is None:
            return None
        return self.nominated_s - self.checks_start_s

    @property
    def pair(self) -> str | None:
        """The nominated pair as the phone sees it, ``local-remote`` (e.g. ``srflx-relay``)."""
        selected = self.result.selected
        if selected is None:
            return None
        local, remote = selected.types
        return f"{PAIR_NAMES[local]}-{PAIR_NAMES[remote]}"

    @property
    def relayed(self) -> bool:
        """Whether the media go through a TURN relay."""
        selected = self.result.selected
        return selected is not None and selected.relayed

    def events(self, call: int) -> list[Event]:
        """One ``ice_message`` event per STUN message the set-up's ICE sent on either agent's
        access (none when it ran before the dial)."""
        if self.gathered_s is None:
            return []
        return [_message_event(call, message) for message in self.timeline]


def _message_event(call: int, message: AgentMessage) -> Event:
    fields = {
        "agent": message.agent,
        "direction": "uplink" if message.direction == UPLINK else "downlink",
        "label": message.kind,
        "retransmission": message.retransmission,
        "bytes": message.size_bytes,
        "arrival_s": message.arrival_s,
    }
    return (message.time_s, EventKind.ICE_MESSAGE, call, fields)


class IceCalls:
    """Builds the ICE sessions of a run's calls (the set-up loop drives them)."""

    def __init__(self, scenario: Scenario) -> None:
        self._scenario = scenario
        self._agents = IceAgents(scenario)
        fallback = scenario.signalling.fallback
        self.relay_later = fallback is not None and fallback.relay
        self.give_up_after_s = math.inf  # from the checks' start, before a relay fallback
        if fallback is not None and fallback.relay:
            self.give_up_after_s = fallback.deadline_s
        probe = self.session(ScriptedChannel(0.0, 0.0), relay=not self.relay_later)
        self.far_gathering_s = probe.gather(0.0)[1]  # lossless: the same for every call

    @property
    def pre_established(self) -> bool:
        """Whether ICE ran at registration, before every dial."""
        return self._agents.settings.pre_established

    def session(self, channel: MessageChannel, *, relay: bool) -> IceSession:
        """A call's new session, the phone over ``channel``; ``relay`` False: no TURN."""
        return IceSession(self._agents.pair(channel, relay=relay), self._agents.wan, IceConfig())

    def call_ice(
        self,
        session: IceSession,
        start_s: float,
        end_s: float,
        checks_start_s: float | None,
        *,
        failed: CallIce | None = None,
    ) -> CallIce:
        """The call's ICE from ``session`` (started at ``start_s``, run to ``end_s``;
        its checks from ``checks_start_s``), after ``failed`` when it is a relay restart."""
        result = session_result(session, start_s, end_s)
        delay_s = self._agents.relay_delay_s(result)
        if failed is None:
            gathered_s = result.gathered_s[0]
            return CallIce(result, gathered_s, checks_start_s, delay_s, result.timeline)
        return CallIce(
            result,
            failed.gathered_s,
            failed.checks_start_s,
            delay_s,
            failed.timeline + result.timeline,
            start_s,
        )

    def before_dial(self, dial_s: float) -> CallIce:
        """ICE run at registration, ahead of ``dial_s``, over the path's base delays."""
        one_way = sum(segment.one_way_delay_s for segment in self._scenario.path)
        channel = ScriptedChannel(one_way, one_way)
        agents = self._agents.pair(channel, relay=not self.relay_later)
        result = run_ice(*agents, wan=self._agents.wan, start_s=dial_s - _PRE_ESTABLISHED_S)
        restart_s = None
        if not result.succeeded and self.relay_later:
            agents = self._agents.pair(channel)
            restart_s = result.end_s
            result = run_ice(*agents, wan=self._agents.wan, start_s=restart_s)
        delay_s = self._agents.relay_delay_s(result)
        return CallIce(result, None, None, delay_s, result.timeline, restart_s)
