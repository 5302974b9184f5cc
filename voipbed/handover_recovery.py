"""A scenario's handover configurations, an ICE restart's duration run on its own path.

With ``radio.handovers.recovery.mode: ice_restart`` and no ``ice_restart``
duration given, a vertical handover's media stay broken for as long as the ICE
model's restart takes on the scenario's path (``ice_agents.ice_restart_s``:
new gathering, a re-INVITE's offer/answer, checks, nomination), not for a
constant. Where no pair connects again (behind symmetric NATs without TURN)
the media stay broken, as with ``mode: none``. Both engines take their
handover configurations from here.
"""

from __future__ import annotations

import math
from dataclasses import replace

from voipbed.ice_agents import ice_restart_s
from voipbed.models import handover as ho
from voipbed.scenario import Scenario
from voipbed.scenario_radio import Handovers

__all__ = ["handover_configs", "resolved_handovers"]


def _restart_s(scenario: Scenario) -> float | None:
    """The modelled restart's duration (infinite: it fails), where the scenario asks for
    one; else None."""
    recovery = scenario.radio.handovers.recovery
    if recovery.mode != "ice_restart" or recovery.ice_restart_s is not None:
        return None
    return ice_restart_s(scenario)


def handover_configs(scenario: Scenario) -> ho.HandoverConfigs:
    """The handover model's configurations for ``scenario``."""
    restart = _restart_s(scenario)
    if restart is None or math.isfinite(restart):
        return scenario.radio.handovers.configs(restart)
    configs = scenario.radio.handovers.configs()
    return replace(configs, recovery=replace(configs.recovery, mode=ho.Recovery.NONE))


def resolved_handovers(scenario: Scenario) -> Handovers:
    """``scenario``'s handover section with the modelled restart's duration written in, for
    a process that has the section but not the scenario."""
    handovers = scenario.radio.handovers
    duration = _restart_s(scenario)
    if duration is None:
        return handovers
    update: dict[str, object] = {"ice_restart_s": duration}
    if not math.isfinite(duration):
        update = {"mode": "none"}
    recovery = handovers.recovery.model_copy(update=update)
    return handovers.model_copy(update={"recovery": recovery})
