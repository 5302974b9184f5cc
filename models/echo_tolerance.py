"""Talker echo tolerance: how long a talker's echo may be delayed at a given echo loss.

ITU-T G.131 (11/2003), "Talker echo and its control", draws against the
mean one-way delay T of the echo path the talker echo loudness rating TELR a
connection needs: an "acceptable" curve (1 % of users complain of the echo)
and a "limiting case" (10 %), the latter to be allowed only exceptionally.
The values of that figure could not be consulted for this module, so the
limit is derived from the talker-echo impairment of the narrowband E-model
(G.107 clause 7.4: Idte, eq. 7-19 to 7-23, in :mod:`models.emodel`):

- the echo alone rates a connection as the E-model does with T and TELR
  given and every other input at its G.107 Table 3 default (R = 93.2
  without echo, clause 7.7); Ta stays 0, so the delay impairment Idd, which
  the quality windows already count, does not enter;
- the delay limit for a TELR is the shortest T at which that rating falls
  under the floor of a G.107 Table B.1 category: R 80 ("users satisfied")
  for ``acceptable``, R 70 ("some users dissatisfied") for ``limiting``.

Reading G.131's 1 % and 10 % complaint curves as these two Table B.1
categories is this module's choice, not a G.131 or G.107 statement. G.131
is narrowband; the same limits serve wideband calls. Pure: numpy only.
"""

from __future__ import annotations

import math
from enum import StrEnum
from functools import cache

import numpy as np

from voipbed.models import emodel
from voipbed.models.emodel import FloatOrArray

__all__ = ["ECHO_ALONE_R_FLOOR", "EchoTolerance", "echo_alone_r", "echo_delay_limit_s"]


class EchoTolerance(StrEnum):
    """Which of G.131's talker echo tolerance curves a limit follows."""

    ACCEPTABLE = "acceptable"  # G.131: 1 % of users complain of the echo
    LIMITING = "limiting"  # G.131: 10 % complain; only exceptionally


ECHO_ALONE_R_FLOOR = {
    EchoTolerance.ACCEPTABLE: 80.0,  # G.107 Table B.1: R 80-90, "users satisfied"
    EchoTolerance.LIMITING: 70.0,  # G.107 Table B.1: R 70-80, "some users dissatisfied"
}
"""R under which the talker echo alone breaks each tolerance (see the module docstring)."""

_SIDETONE_BELOW_S = 0.001  # G.107 clause 7.4: for T < 1 ms the echo is sidetone, Idte = 0
_LONGEST_S = 100.0  # past this Idte is within 0.1 of its limit as T grows (eq. 7-22's log term)
_GRID_POINTS = 2001
_BISECTIONS = 40  # narrows a grid step (0.58 % of T) to under a nanosecond


def echo_alone_r(t_s: FloatOrArray, telr_db: float) -> FloatOrArray:
    """R of a connection impaired only by talker echo of mean one-way delay ``t_s`` (seconds)
    and loudness rating ``telr_db``, every other G.107 input at its Table 3 default."""
    rated: FloatOrArray = emodel.evaluate(emodel.EModelInputs(t_s=t_s, telr_db=telr_db)).r
    return rated


@cache
def echo_delay_limit_s(telr_db: float, tolerance: EchoTolerance) -> float:
    """The shortest mean one-way echo delay T, in seconds, at which an echo of ``telr_db``
    breaks ``tolerance``; ``math.inf`` when no delay up to 100 s does."""
    floor = ECHO_ALONE_R_FLOOR[tolerance]
    grid = np.geomspace(_SIDETONE_BELOW_S, _LONGEST_S, _GRID_POINTS)
    below = np.flatnonzero(np.asarray(echo_alone_r(grid, telr_db)) < floor)
    if below.size == 0:
        return math.inf
    first = int(below[0])
    if first == 0:
        return _SIDETONE_BELOW_S
    low, high = float(grid[first - 1]), float(grid[first])
    for _ in range(_BISECTIONS):
        middle = 0.5 * (low + high)
        if float(echo_alone_r(middle, telr_db)) < floor:
            high = middle
        else:
            low = middle
    return high
