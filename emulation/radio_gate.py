"""Handovers at the emulated radio hop, one real packet at a time.

The simulator gates packets where they reach the radio hop with
``models.handover.apply_handovers`` (``sim/control_plane.py``). The radio
segment's userspace link does the same for each media packet as it arrives:
held by an X2 interruption (uplink in the UE's PDCP, downlink forwarded over
X2) until the model releases it, or lost in an interruption without
forwarding and in a vertical handover's media breakage. A packet's UE is the
call whose UE address sent it (uplink) or is its destination (downlink).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from voipbed.models import handover as ho
from voipbed.scenario_radio import Handovers

__all__ = ["GateDecision", "HandoverGate", "HandoverPlan"]


class GateDecision(NamedTuple):
    """When the packet may go on into the hop (NaN when lost), and whether it was lost."""

    release_s: float
    lost: bool


@dataclass(frozen=True)
class HandoverPlan:
    """What a link needs to gate its packets: the run's handovers, their settings, the UEs.

    ``handovers`` are (ue, start s since t0, kind); ``ue_addresses[u]`` is UE u's IP.
    """

    handovers: tuple[tuple[int, float, str], ...]
    settings: Mapping[str, Any]  # the scenario's radio.handovers section, as YAML keys
    ue_addresses: tuple[str, ...]

    @classmethod
    def of(
        cls, schedule: ho.HandoverSchedule, section: Handovers, ue_addresses: Sequence[str]
    ) -> HandoverPlan:
        """The plan of ``schedule`` under the scenario's handover ``section``."""
        handovers = tuple((h.ue, h.time_s, h.kind.value) for h in schedule.handovers())
        settings = section.model_dump(mode="json", by_alias=True)
        return cls(handovers, settings, tuple(ue_addresses))


class HandoverGate:
    """Decides, per media packet, what the run's handovers do to it at the radio hop."""

    def __init__(self, plan: HandoverPlan) -> None:
        self.ue_of = {address: ue for ue, address in enumerate(plan.ue_addresses)}
        self.schedule = ho.HandoverSchedule.from_handovers(
            ho.Handover(ue, time_s, ho.HandoverKind(kind)) for ue, time_s, kind in plan.handovers
        )
        self.configs = Handovers.model_validate(plan.settings).configs()
        intervals = ho.handover_intervals(self.schedule, self.configs)
        # Per UE, the windows in which a handover can act (start, end of breakage).
        self._windows: dict[int, list[tuple[float, float]]] = {}
        for k in range(len(self.schedule)):
            ue = int(self.schedule.ue[k])
            window = (float(intervals.start_s[k]), float(intervals.media_end_s[k]))
            self._windows.setdefault(ue, []).append(window)

    def decide(self, address: str, time_s: float, downlink: bool) -> GateDecision:
        """The fate of a packet of the UE at ``address`` reaching the hop at ``time_s``."""
        ue = self.ue_of.get(address)
        windows = self._windows.get(ue, []) if ue is not None else []
        if ue is None or not any(start <= time_s < end for start, end in windows):
            return GateDecision(time_s, False)  # the common case: no handover acts
        outcome = ho.apply_handovers(
            np.array([ue]), np.array([time_s]), np.array([downlink]), self.schedule, self.configs
        )
        lost = bool(outcome.lost[0])
        return GateDecision(float("nan") if lost else float(outcome.release_s[0]), lost)
