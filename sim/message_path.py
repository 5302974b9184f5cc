"""The path for signalling messages: one message at a time, through the same stages as media.

Signalling is sparse and event-like: a message's answer depends on when it
arrived, so the signalling plane carries each message through the path as it
is sent and learns its arrival (or loss) at once. Each direction crosses the
scenario's segments in order (uplink as listed, downlink reversed); at each
segment the message meets the stages ``SegmentStages`` builds for media (the
drop-tail link at its capacity or trace, HARQ, loss on the medium, delay and
jitter), from random streams of its own (``{streams}/{segment}/{direction}/
{stage}``, ``streams`` naming the plane), so adding signalling to a scenario
leaves its media draws as they were; each segment (``sim.message_hop``) takes
them in blocks and hands them out one message at a time. At the radio segment
the UE's RRC/DRX machine (``RadioHold``) holds the message until the UE can
carry it: promotion from IDLE, paging for a downlink message, DRX
on-durations, the uplink scheduling request; then the UE's handovers
(``handovers``, the calls' schedule) hold it through an X2 interruption or
lose it in an interruption that loses, or in a vertical handover's breakage
(until the application's recovery ends it: the phone's new address is not
known before), as they do media packets.

The signalling plane is separate from the media's packets: its messages take
the links' capacity and the radio's states of their own UE, but they do not
queue behind media, nor media behind them (signalling is a few kilobytes per
call). A segment whose queue decides later (an AQM, DSCP scheduling or cross
traffic) is refused (``scenario_signalling.unsupported_path``): it is not
carried for signalling yet.
A message crosses every hop when it is sent, so at a later hop it may be
served after a message sent before it that arrives there later; this matters
only when messages follow each other closer than the path's jitter.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from voipbed.models.handover import HandoverRun
from voipbed.models.message_channel import DOWNLINK, UPLINK
from voipbed.models.overhead import Overhead
from voipbed.scenario import Scenario
from voipbed.scenario_signalling import unsupported_path
from voipbed.segment_stages import SegmentStages
from voipbed.sim.message_hop import MessageHop
from voipbed.trace import DIRECTIONS

__all__ = ["MessagePath", "RadioHold", "UeChannel"]


class RadioHold(Protocol):
    """The UEs' RRC/DRX machines, one message at a time (``models.rrc_cursor``)."""

    def release(self, ue: int, time_s: float, downlink: bool) -> float:
        """When a message reaching UE ``ue``'s radio at ``time_s`` crosses it."""
        ...


class MessagePath:
    """Both directions of the scenario's path for the signalling of UEs ``0 .. ues - 1``."""

    def __init__(
        self,
        scenario: Scenario,
        run_end_s: float,
        end_to_end: Overhead,
        rrc: RadioHold | None,
        *,
        streams: str = "signalling",
        handovers: HandoverRun | None = None,
    ) -> None:
        why = unsupported_path(scenario.path)
        if why is not None:
            raise ValueError(why)  # a scenario that validates has none
        path = scenario.path
        radio = scenario.radio
        radio_place = 0 if radio.segment is None else [s.name for s in path].index(radio.segment)
        self.end_to_end = end_to_end
        self.rrc = rrc
        self.handovers = handovers
        self._hops: list[tuple[MessageHop, ...]] = []
        self._radio_hop: list[int] = []
        for direction in DIRECTIONS:
            places = list(range(len(path)))
            if direction == "downlink":
                places.reverse()
            stages = [
                SegmentStages.build(path[p], direction, scenario.seed, run_end_s, streams=streams)
                for p in places
            ]
            self._hops.append(tuple(MessageHop(segment, end_to_end) for segment in stages))
            self._radio_hop.append(places.index(radio_place))

    def carry(self, ue: int, sent_s: float, ip_bytes: int, direction: int) -> float | None:
        """When a message of ``ip_bytes`` (IP packet) that UE ``ue``'s side sends at
        ``sent_s`` in ``direction`` arrives at the far end; None when the path loses it."""
        time_s = sent_s
        rrc = self.rrc
        radio_hop = self._radio_hop[direction]
        for place, hop in enumerate(self._hops[direction]):
            if place == radio_hop:
                if rrc is not None:
                    time_s = rrc.release(ue, time_s, direction == DOWNLINK)
                if self.handovers is not None:
                    time_s = self._handed_over(ue, time_s, direction == DOWNLINK)
                    if math.isnan(time_s):
                        return None
            time_s = hop.carry(ue, time_s, ip_bytes)
            if math.isnan(time_s):
                return None
        return time_s

    def _handed_over(self, ue: int, time_s: float, downlink: bool) -> float:
        """When UE ``ue``'s handovers let a message at its radio at ``time_s`` on (NaN: lost
        in an interruption or a vertical handover's breakage)."""
        assert self.handovers is not None
        outcome = self.handovers.feed(
            np.array([ue], dtype=np.int64), np.array([time_s]), np.array([downlink])
        )
        return math.nan if outcome.lost[0] else float(outcome.release_s[0])

    def channel(self, ue: int, header_bytes: int) -> UeChannel:
        """UE ``ue``'s messages as a ``MessageChannel``: each of a payload's size plus
        ``header_bytes`` (transport and IP headers)."""
        return UeChannel(self, ue, header_bytes)


class UeChannel:
    """One UE's signalling over a ``MessagePath``: a ``models.message_channel.MessageChannel``
    whose messages are payloads (SIP, STUN, TCP segments' data) plus fixed headers."""

    __slots__ = ("_header_bytes", "_path", "_ue")

    def __init__(self, path: MessagePath, ue: int, header_bytes: int) -> None:
        self._path = path
        self._ue = ue
        self._header_bytes = header_bytes

    def carry(self, sent_at: float, size_bytes: int, direction: int) -> float | None:
        """The arrival of a ``size_bytes`` payload sent at ``sent_at``, or None if lost."""
        if direction not in (UPLINK, DOWNLINK):
            raise ValueError(f"direction must be UPLINK or DOWNLINK, got {direction}")
        return self._path.carry(self._ue, sent_at, size_bytes + self._header_bytes, direction)
