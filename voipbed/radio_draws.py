"""Each UE's RRC/DRX machine as a run draws it, the same in both engines.

A machine's DRX on-durations and paging occasions fall at offsets drawn uniformly over the
long DRX cycle and over the paging cycle (every UE's DRX offset first, then every UE's
paging offset). The calls' UEs draw from the ``radio/rrc`` stream, UE c for call c, and
start in ``radio.rrc.initial_state``; the idle phones of ``signalling.phones`` draw from
``phones/rrc`` and each starts IDLE (an idle phone has sent nothing for long).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from voipbed.models.rrc import RrcConfig, RrcState
from voipbed.rng import component_rng
from voipbed.scenario import Scenario

__all__ = ["RadioDraws", "call_radios", "phone_radios"]


@dataclass(frozen=True)
class RadioDraws:
    """The machines' timers and powers, and each UE's offsets (seconds)."""

    config: RrcConfig
    drx_offset_s: NDArray[np.float64]
    paging_offset_s: NDArray[np.float64]


def _draw(config: RrcConfig, seed: int, stream: str, count: int) -> RadioDraws:
    rng = component_rng(seed, stream)
    drx = rng.uniform(0.0, config.long_drx_cycle_s, count)
    paging = rng.uniform(0.0, config.paging_cycle_s, count)
    return RadioDraws(config, drx, paging)


def call_radios(scenario: Scenario, count: int) -> RadioDraws | None:
    """The machines of ``count`` calls' UEs; None without ``radio.rrc``."""
    rrc = scenario.radio.rrc
    if rrc is None:
        return None
    return _draw(rrc.to_model(), scenario.seed, "radio/rrc", count)


def phone_radios(scenario: Scenario) -> RadioDraws | None:
    """The idle phones' machines, each IDLE at the start; None without ``radio.rrc`` or
    without ``signalling.phones``."""
    rrc, phones = scenario.radio.rrc, scenario.signalling.phones
    if rrc is None or phones is None:
        return None
    config = replace(rrc.to_model(), initial_state=RrcState.IDLE)
    return _draw(config, scenario.seed, "phones/rrc", phones.count)
