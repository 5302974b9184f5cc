"""When idle phones first register and when the core calls them, drawn once for both engines.

Each phone first registers at a uniform instant of the run's first 30 s; every phone is
called at Poisson instants from 40 s on (every phone has registered by then). The draws
come from one generator in a fixed order (all first registrations, then each phone's calls
in turn), so a seed gives the simulator and the emulation the same plan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CALLS_FROM_S", "REGISTRATION_SPREAD_S", "PhoneSchedule", "phone_schedule"]

REGISTRATION_SPREAD_S = 30.0  # phones first register at random instants of this span
CALLS_FROM_S = REGISTRATION_SPREAD_S + 10.0  # calls come after every phone has registered


@dataclass(frozen=True)
class PhoneSchedule:
    """Per phone: the instant of its first REGISTER, and the instants it is called at."""

    register_s: tuple[float, ...]
    incoming_s: tuple[tuple[float, ...], ...]


def phone_schedule(
    rng: np.random.Generator, count: int, duration_s: float, incoming_calls_per_hour: float
) -> PhoneSchedule:
    """The plan of ``count`` phones over a run of ``duration_s``."""
    register_s = rng.uniform(0.0, min(REGISTRATION_SPREAD_S, duration_s), count)
    incoming = tuple(
        tuple(_arrivals(rng, incoming_calls_per_hour, CALLS_FROM_S, duration_s))
        for _ in range(count)
    )
    return PhoneSchedule(register_s=tuple(register_s.tolist()), incoming_s=incoming)


def _arrivals(rng: np.random.Generator, per_hour: float, from_s: float, to_s: float) -> list[float]:
    """Poisson instants at ``per_hour`` in ``[from_s, to_s)``."""
    if per_hour <= 0.0 or to_s <= from_s:
        return []
    count = int(rng.poisson(per_hour * (to_s - from_s) / 3600.0))
    return sorted(rng.uniform(from_s, to_s, count).tolist())
