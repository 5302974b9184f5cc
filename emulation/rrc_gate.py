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
and paging offsets the simulator draws for its call (``radio_draws.call_radios``),
on that same clock, so the on-durations and paging occasions fall at
the same instants of the run in both engines.
A UE host that carries several calls is one UE, with its first call's offsets.

Uplink and downlink frames are read from two sockets, so a packet may reach
the gate a little after a later one of the other direction (stamped by the
kernel a few microseconds apart). The cursor takes it at that later time;
unless the machine holds it past that time, it goes on at its own arrival.

The idle phones of ``signalling.phones``, each at its own address of the
phones' host, have machines of their own as in the simulator
(``sim/phones.py``): each IDLE at the link's t0, with the offsets
``radio_draws.phone_radios`` draws, so that a keep-alive, a registration and a
call to a phone pay the promotion (or the wait for a paging occasion) in both
engines.

On stop the link follows the timers until every UE is back in IDLE and writes
the state changes (``RrcPlan.output``, JSON) for ``rrc_events``, and each
phone's energy and promotions from t0 to the run's end, counted as the
simulator counts them (``RrcCursors.usage``).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from voipbed.models.rrc import RrcConfig, RrcState
from voipbed.models.rrc_cursor import RrcCursors
from voipbed.radio_draws import RadioDraws, call_radios, phone_radios
from voipbed.scenario import Scenario

__all__ = ["RrcLinkGate", "RrcPlan", "rrc_output", "ue_of_calls", "warm_up_rrc"]


@dataclass(frozen=True)
class RrcPlan:
    """What a link needs to run the UEs' and the phones' RRC/DRX machines.

    ``ue_addresses[u]`` is UE u's IP; ``config`` the ``RrcConfig`` fields
    (``initial_state`` by name); ``start_s`` when each UE's machine starts (its first
    call's scheduled start, on the link's clock); ``drx_offset_s`` and
    ``paging_offset_s`` each UE's offsets on its machine's clock; ``output`` where the
    state changes go. ``phone_addresses[p]`` is phone p's IP; the phones' machines
    (``phone_config``, the same fields) start at the link's t0, phone p's with offsets
    ``phone_drx_offset_s[p]`` and ``phone_paging_offset_s[p]``, and their energy counts up
    to ``phone_until_s``.
    """

    ue_addresses: tuple[str, ...]
    config: dict[str, Any]
    start_s: tuple[float, ...]
    drx_offset_s: tuple[float, ...]
    paging_offset_s: tuple[float, ...]
    output: str
    phone_addresses: tuple[str, ...] = ()
    phone_config: dict[str, Any] = field(default_factory=dict)
    phone_drx_offset_s: tuple[float, ...] = ()
    phone_paging_offset_s: tuple[float, ...] = ()
    phone_until_s: float = 0.0

    @classmethod
    def of(
        cls,
        scenario: Scenario,
        call_addresses: Sequence[str],
        call_start_s: Sequence[float],
        output: Path | str,
        phone_addresses: Sequence[str] = (),
    ) -> RrcPlan | None:
        """The plan of ``scenario``'s calls, call c by the UE at ``call_addresses[c]`` from
        its scheduled start ``call_start_s[c]``, and of its phones, phone p at
        ``phone_addresses[p]``; None without an RRC, or without calls and phones."""
        draws = call_radios(scenario, scenario.calls.count)
        phones = phone_radios(scenario) if phone_addresses else None
        if draws is None or not (call_addresses or phones):
            return None
        addresses, call_ue = ue_of_calls(call_addresses)
        first = [call_ue.index(u) for u in range(len(addresses))]  # each UE's first call
        start = np.asarray(call_start_s, dtype=np.float64)[first]
        plan = cls(
            ue_addresses=addresses,
            config=_fields(draws.config),
            start_s=tuple(float(x) for x in start),
            drx_offset_s=tuple(float(x) for x in draws.drx_offset_s[first]),
            paging_offset_s=tuple(float(x) for x in draws.paging_offset_s[first]),
            output=str(output),
        )
        return plan if phones is None else plan.with_phones(phones, phone_addresses, scenario)

    def with_phones(
        self, phones: RadioDraws, addresses: Sequence[str], scenario: Scenario
    ) -> RrcPlan:
        """This plan with the phones' machines, phone p at ``addresses[p]``."""
        if len(addresses) != phones.drx_offset_s.size:
            raise ValueError(f"{len(addresses)} addresses for {phones.drx_offset_s.size} phones")
        return replace(
            self,
            phone_addresses=tuple(addresses),
            phone_config=_fields(phones.config),
            phone_drx_offset_s=tuple(phones.drx_offset_s.tolist()),
            phone_paging_offset_s=tuple(phones.paging_offset_s.tolist()),
            phone_until_s=scenario.duration_s,
        )

    def model(self) -> RrcConfig:
        """The calls' UEs' machines' timers and powers."""
        return _model(self.config)

    def phone_model(self) -> RrcConfig:
        """The phones' machines' timers and powers (the calls' UEs' without phones)."""
        return _model(self.phone_config or self.config)


def _fields(config: RrcConfig) -> dict[str, Any]:
    """``config`` as JSON-ready fields, ``initial_state`` by name."""
    fields = asdict(config)
    fields["initial_state"] = config.initial_state.name
    return fields


def _model(fields: dict[str, Any]) -> RrcConfig:
    """The RrcConfig of ``_fields``' output."""
    named = dict(fields)
    named["initial_state"] = RrcState[str(named["initial_state"])]
    return RrcConfig(**named)


def rrc_output(work: Path, segment: str) -> Path:
    """Where the link of ``segment`` writes its UEs' state changes."""
    return work / f"link-{segment}.rrc.json"


def ue_of_calls(call_addresses: Sequence[str]) -> tuple[tuple[str, ...], list[int]]:
    """The distinct UE addresses, in order of first call, and each call's UE among them."""
    addresses = tuple(dict.fromkeys(call_addresses))
    index = {address: u for u, address in enumerate(addresses)}
    return addresses, [index[address] for address in call_addresses]


def warm_up_rrc(config: RrcConfig) -> None:
    """Carry a throwaway packet through a machine of ``config``, so that numba's kernel is
    loaded (compiled and cached on disk the first time on a machine)."""
    RrcCursors(1, config, keep_changes=False).release(0, 0.0, False)


class _Machines:
    """The machines of one kind of UE (the calls' or the phones'), each on a clock that
    starts at its own ``start_s`` on the link's clock."""

    def __init__(
        self,
        config: RrcConfig,
        start_s: Sequence[float],
        drx_offset_s: Sequence[float],
        paging_offset_s: Sequence[float],
        *,
        keep_changes: bool,
    ) -> None:
        users = len(start_s)
        self.cursors = RrcCursors(
            users,
            config,
            drx_offset_s=np.array(drx_offset_s, dtype=np.float64),
            paging_offset_s=np.array(paging_offset_s, dtype=np.float64),
            keep_changes=keep_changes,
        )
        self.start_s = list(start_s)
        self.latest = [0.0] * users  # per UE, the latest arrival given to its machine

    def release(self, ue: int, arrive_s: float, downlink: bool) -> float:
        """When UE ``ue``'s packet reaching the hop at ``arrive_s`` is carried."""
        start = self.start_s[ue]
        if arrive_s < start:  # before the UE's machine starts (its registration)
            return arrive_s
        latest = self.latest[ue]
        released = self.cursors.release(ue, arrive_s - start, downlink) + start
        if arrive_s < latest and released <= latest:  # out of order, not held past it
            return arrive_s
        self.latest[ue] = max(latest, arrive_s)
        return released


class RrcLinkGate:
    """When the radio carries each packet of the plan's UEs and phones (module docstring)."""

    def __init__(self, plan: RrcPlan) -> None:
        self.plan = plan
        self.config = plan.model()
        self._calls = _Machines(
            self.config, plan.start_s, plan.drx_offset_s, plan.paging_offset_s, keep_changes=True
        )
        phones = len(plan.phone_addresses)
        self._phones = _Machines(
            plan.phone_model(),
            [0.0] * phones,
            plan.phone_drx_offset_s,
            plan.phone_paging_offset_s,
            keep_changes=False,
        )
        self._owner = {
            ipaddress.ip_address(address).packed: (machines, ue)
            for machines, addresses in (
                (self._calls, plan.ue_addresses),
                (self._phones, plan.phone_addresses),
            )
            for ue, address in enumerate(addresses)
        }
        self.held = 0  # packets carried after their arrival

    def warm_up(self) -> None:
        """Load the machine's kernel with a throwaway packet, so that the first real one
        does not wait for it (numba loads a kernel in some 15 ms)."""
        warm_up_rrc(self.config)

    def release(self, address: bytes, arrive_s: float, downlink: bool) -> float:
        """When the packet of the UE or phone at ``address`` (packed, as in the IP header)
        reaching the hop at ``arrive_s`` (>= 0) is carried; ``arrive_s`` for a packet of
        neither."""
        owner = self._owner.get(address)
        if owner is None:
            return arrive_s
        released = owner[0].release(owner[1], arrive_s, downlink)
        if released > arrive_s:
            self.held += 1
        return released

    def finish(self, stop_s: float) -> dict[str, Any]:
        """Follow the UEs' timers until every one is back in IDLE (no packet comes after
        ``stop_s``) and return every state change, on the link's clock, and the phones'
        figures from t0 to the plan's ``phone_until_s``."""
        cfg = self.config
        calls = self._calls
        ahead_s = cfg.paging_cycle_s + cfg.promotion_delay_s + cfg.uplink_sr_delay_s
        last = max(stop_s, *calls.latest, 0.0) - min(calls.start_s, default=0.0)
        calls.cursors.advance(last + ahead_s + cfg.rrc_inactivity_s)
        changes = calls.cursors.changes()
        start = np.asarray(calls.start_s, dtype=np.float64)
        usage = self._phones.cursors.usage(self.plan.phone_until_s)
        return {
            "ue_addresses": list(self.plan.ue_addresses),
            "initial_state": int(cfg.initial_state),
            "start_s": list(calls.start_s),
            "ue": changes.ue.tolist(),
            "time_s": (changes.time_s + start[changes.ue]).tolist(),
            "from": changes.from_state.tolist(),
            "to": changes.to_state.tolist(),
            "held_packets": self.held,
            "late_packets": calls.cursors.late_packets + self._phones.cursors.late_packets,
            "phones": {
                "addresses": list(self.plan.phone_addresses),
                "energy_j": usage.energy_j.tolist(),
                "promotions": usage.promotions.tolist(),
                "seconds_in_state": usage.state_time_s.tolist(),
            },
        }

    def write(self, stop_s: float) -> None:
        """Write ``finish(stop_s)`` to the plan's output (through a temporary file)."""
        path = Path(self.plan.output)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(self.finish(stop_s)), encoding="utf-8")
        partial.replace(path)
