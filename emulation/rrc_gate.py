"""The UEs' RRC/DRX machines at the emulated radio hop, one real packet at a time.

The simulator holds packets where they reach the radio hop in the UE's
RRC/DRX machine (``models.rrc``; ``sim/control_plane.py`` for the media,
``models.rrc_cursor`` for the signalling). The radio segment's userspace link
does the same for every IP packet a UE sends or receives there (media, SIP,
RTCP, anything): an uplink packet in IDLE waits for the promotion, one in DRX
for the scheduling request; a downlink packet in IDLE waits for the UE's
paging occasion and the promotion, one in DRX sleep for the next on-duration.
Packets are identified by address as the handover gate identifies them: a
packet's UE is the one whose address sent it (uplink) or receives it
(downlink); a packet of no UE goes on at once.

The machines are ``RrcCursors``, each UE's on a clock that starts at its
first call's scheduled start in the scenario's ``radio.rrc.initial_state``, as
the simulator's are (``sim.signalling.radio_hold``, ``sim.control_plane``);
a packet of a UE before that start (its registration) goes on at once, as in
the simulator, where a UE has no traffic before its dial. Each UE has the DRX
and paging offsets the simulator draws for its call from the ``radio/rrc``
stream, on that same clock, so the on-durations and paging occasions fall at
the same instants of the run in both engines.
A UE host that carries several calls is one UE, with its first call's offsets.

Uplink and downlink frames are read from two sockets, so a packet may reach
the gate a little after a later one of the other direction (stamped by the
kernel a few microseconds apart). The cursor takes it at that later time;
unless the machine holds it past that time, it goes on at its own arrival.

On stop the link follows the timers until every UE is back in IDLE and writes
the state changes (``RrcPlan.output``, JSON) for ``rrc_events``.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voipbed.models.rrc import RrcConfig, RrcState
from voipbed.models.rrc_cursor import RrcCursors
from voipbed.rng import component_rng
from voipbed.scenario import Scenario

__all__ = ["RrcLinkGate", "RrcPlan", "rrc_output", "ue_of_calls"]


@dataclass(frozen=True)
class RrcPlan:
    """What a link needs to run the UEs' RRC/DRX machines.

    ``ue_addresses[u]`` is UE u's IP; ``config`` the ``RrcConfig`` fields
    (``initial_state`` by name); ``start_s`` when each UE's machine starts (its first
    call's scheduled start, on the link's clock); ``drx_offset_s`` and
    ``paging_offset_s`` each UE's offsets on its machine's clock; ``output`` where the
    state changes go.
    """

    ue_addresses: tuple[str, ...]
    config: dict[str, Any]
    start_s: tuple[float, ...]
    drx_offset_s: tuple[float, ...]
    paging_offset_s: tuple[float, ...]
    output: str

    @classmethod
    def of(
        cls,
        scenario: Scenario,
        call_addresses: Sequence[str],
        call_start_s: Sequence[float],
        output: Path | str,
    ) -> RrcPlan | None:
        """The plan of ``scenario``'s calls, call c by the UE at ``call_addresses[c]`` from
        its scheduled start ``call_start_s[c]``; None without an RRC or without calls."""
        section = scenario.radio.rrc
        if section is None or not call_addresses:
            return None
        config = section.to_model()
        rng = component_rng(scenario.seed, "radio/rrc")  # as sim.control_plane.RadioGate
        count = scenario.calls.count
        drx = rng.uniform(0.0, config.long_drx_cycle_s, count)
        paging = rng.uniform(0.0, config.paging_cycle_s, count)
        addresses, call_ue = ue_of_calls(call_addresses)
        first = [call_ue.index(u) for u in range(len(addresses))]  # each UE's first call
        start = np.asarray(call_start_s, dtype=np.float64)[first]
        fields = asdict(config)
        fields["initial_state"] = config.initial_state.name
        return cls(
            ue_addresses=addresses,
            config=fields,
            start_s=tuple(float(x) for x in start),
            drx_offset_s=tuple(float(x) for x in drx[first]),
            paging_offset_s=tuple(float(x) for x in paging[first]),
            output=str(output),
        )

    def model(self) -> RrcConfig:
        """The machines' timers and powers."""
        fields = dict(self.config)
        fields["initial_state"] = RrcState[str(fields["initial_state"])]
        return RrcConfig(**fields)


def rrc_output(work: Path, segment: str) -> Path:
    """Where the link of ``segment`` writes its UEs' state changes."""
    return work / f"link-{segment}.rrc.json"


def ue_of_calls(call_addresses: Sequence[str]) -> tuple[tuple[str, ...], list[int]]:
    """The distinct UE addresses, in order of first call, and each call's UE among them."""
    addresses = tuple(dict.fromkeys(call_addresses))
    index = {address: u for u, address in enumerate(addresses)}
    return addresses, [index[address] for address in call_addresses]


class RrcLinkGate:
    """When the radio carries each packet of the plan's UEs (module docstring)."""

    def __init__(self, plan: RrcPlan) -> None:
        self.plan = plan
        self.config = plan.model()
        self._ue_of = {
            ipaddress.ip_address(address).packed: ue for ue, address in enumerate(plan.ue_addresses)
        }
        users = len(plan.ue_addresses)
        self._cursors = RrcCursors(
            users,
            self.config,
            drx_offset_s=np.array(plan.drx_offset_s),
            paging_offset_s=np.array(plan.paging_offset_s),
        )
        self._start_s = list(plan.start_s)
        self._latest = [0.0] * users  # per UE, the latest arrival given to its machine
        self.held = 0  # packets carried after their arrival

    def warm_up(self) -> None:
        """Load the machine's kernel with a throwaway packet, so that the first real one
        does not wait for it (numba loads a kernel in some 15 ms)."""
        RrcCursors(1, self.config, keep_changes=False).release(0, 0.0, False)

    def release(self, address: bytes, arrive_s: float, downlink: bool) -> float:
        """When the packet of the UE at ``address`` (packed, as in the IP header) reaching
        the hop at ``arrive_s`` (>= 0) is carried; ``arrive_s`` for a packet of no UE."""
        ue = self._ue_of.get(address)
        if ue is None:
            return arrive_s
        start = self._start_s[ue]
        if arrive_s < start:  # before the UE's machine starts (its registration)
            return arrive_s
        latest = self._latest[ue]
        released = self._cursors.release(ue, arrive_s - start, downlink) + start
        if arrive_s < latest and released <= latest:  # out of order, not held past it
            return arrive_s
        self._latest[ue] = max(latest, arrive_s)
        if released > arrive_s:
            self.held += 1
        return released

    def finish(self, stop_s: float) -> dict[str, Any]:
        """Follow the timers until every UE is back in IDLE (no packet comes after
        ``stop_s``) and return every state change, on the link's clock."""
        cfg = self.config
        ahead_s = cfg.paging_cycle_s + cfg.promotion_delay_s + cfg.uplink_sr_delay_s
        last = max(stop_s, *self._latest, 0.0) - min(self._start_s, default=0.0)
        self._cursors.advance(last + ahead_s + cfg.rrc_inactivity_s)
        changes = self._cursors.changes()
        start = np.asarray(self._start_s, dtype=np.float64)
        return {
            "ue_addresses": list(self.plan.ue_addresses),
            "initial_state": int(cfg.initial_state),
            "start_s": list(self._start_s),
            "ue": changes.ue.tolist(),
            "time_s": (changes.time_s + start[changes.ue]).tolist(),
            "from": changes.from_state.tolist(),
            "to": changes.to_state.tolist(),
            "held_packets": self.held,
            "late_packets": self._cursors.late_packets,
        }

    def write(self, stop_s: float) -> None:
        """Write ``finish(stop_s)`` to the plan's output (through a temporary file)."""
        path = Path(self.plan.output)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(self.finish(stop_s)), encoding="utf-8")
        partial.replace(path)
