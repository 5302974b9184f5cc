"""The link behind the queue: its clock, a rate (constant or in steps) or a Mahimahi schedule.

At a rate, a packet of ``size`` bytes whose service begins at b is on the
wire until the bits carried since b at the rates in force add up to
``size * 8`` (``models.link.carried_s``; at one rate, b + size * 8 /
rate_bps). A delivery schedule (``models.mahimahi``) repeats its millisecond
opportunities forever, each carrying up to ``OPPORTUNITY_BYTES`` of the
packets waiting, a packet charged its bytes plus ``TUN_HEADER_BYTES``
(mm-link's charge, as in ``models.link``). Opportunities are numbered from 0
over the repetitions.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from voipbed.models._jit import inline_kernel
from voipbed.models.link import carried_s
from voipbed.models.mahimahi import OPPORTUNITY_BYTES, TUN_HEADER_BYTES, DeliverySchedule
from voipbed.models.rate_steps import RateSteps

__all__ = [
    "OPPORTUNITY_BYTES",
    "Service",
    "carried_s",
    "charged_bytes",
    "new_service",
    "next_opportunity",
    "opportunity_s",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


class Service(NamedTuple):
    """How the link serves: a delivery schedule (``trace_mode``) or a rate's steps."""

    trace_mode: bool
    step_start_s: FloatArray  # when each step of the rate begins (empty in trace mode)
    seconds_per_byte: FloatArray  # at each step's rate (empty in trace mode)
    times_ms: IntArray  # the schedule's opportunities in one period (empty at a rate)


def new_service(rate_bps: float | RateSteps | None, schedule: DeliverySchedule | None) -> Service:
    """The service of a link with one of ``rate_bps`` (one rate or its steps) and
    ``schedule``."""
    if schedule is not None:
        return Service(True, np.zeros(0), np.zeros(0), schedule.times_ms)
    if rate_bps is None:
        raise ValueError("a link needs exactly one of rate_bps and schedule")
    steps = rate_bps if isinstance(rate_bps, RateSteps) else RateSteps.constant(rate_bps)
    return Service(False, steps.start_s, steps.seconds_per_byte, np.zeros(0, np.int64))


@inline_kernel
def opportunity_s(opp: int, times_ms: IntArray) -> float:
    """When opportunity number ``opp`` of the repeating schedule comes."""
    slots = times_ms.size
    period = times_ms[slots - 1]
    at_s: float = ((opp // slots) * period + times_ms[opp % slots]) / 1000.0
    return at_s


@inline_kernel
def next_opportunity(t_s: float, times_ms: IntArray, next_opp: int) -> int:
    """The first opportunity from ``next_opp`` on that comes after ``t_s`` (an idle link lets
    the ones before pass: they carry nothing)."""
    slots = times_ms.size
    period = times_ms[slots - 1]
    t_ms = t_s * 1000.0
    periods = math.floor(t_ms / period)
    inside = int(np.searchsorted(times_ms, t_ms - periods * period, side="right"))
    first: int = max(next_opp, periods * slots + inside)
    return first


@inline_kernel
def charged_bytes(size: int) -> int:
    """What a packet of ``size`` bytes takes from the schedule's opportunities."""
    return size + TUN_HEADER_BYTES
