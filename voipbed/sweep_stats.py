"""Means over seeds, their 95 % confidence intervals, and ranks that say ties as ties.

A point run with n seeds gives n values of each figure; their mean has the
Student's t interval mean ± t(0.975, n-1)·s/√n, with s the sample standard
deviation. voipbed has no scipy: the t quantile is a table, interpolated in
1/df between its rows and toward the normal quantile beyond the last.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["MOS_TIE", "MeanCI", "mean_ci95", "t_quantile_975", "tie_ranks"]

# t(0.975, df): the two-sided 95 % critical values of Student's t distribution, from the
# NIST/SEMATECH e-Handbook of Statistical Methods, section 1.3.6.7.2 "Critical Values of the
# Student's t Distribution" (there to 3 decimals); the further decimals are those of R's
# qt(0.975, df). tests/unit/test_sweep_stats.py checks each against a numeric integration
# of the t density.
_T975 = {
    1: 12.706204736,
    2: 4.302652730,
    3: 3.182446305,
    4: 2.776445105,
    5: 2.570581836,
    6: 2.446911851,
    7: 2.364624252,
    8: 2.306004135,
    9: 2.262157163,
    10: 2.228138852,
    11: 2.200985160,
    12: 2.178812830,
    13: 2.160368656,
    14: 2.144786688,
    15: 2.131449546,
    16: 2.119905299,
    17: 2.109815578,
    18: 2.100922040,
    19: 2.093024054,
    20: 2.085963447,
    21: 2.079613845,
    22: 2.073873068,
    23: 2.068657610,
    24: 2.063898562,
    25: 2.059538553,
    26: 2.055529439,
    27: 2.051830516,
    28: 2.048407142,
    29: 2.045229642,
    30: 2.042272456,
    40: 2.021075390,
    60: 2.000297822,
    120: 1.979930405,
}
_DFS = sorted(_T975)
NORMAL_975 = 1.959963985  # the standard normal's 0.975 quantile, t's limit as df grows

MOS_TIE = 0.005
"""Two single-seed means of MOS this close tie: the tolerance the regression figures hold
MOS to, below which a difference is not a finding."""


def t_quantile_975(df: int) -> float:
    """t(0.975, df), exact at the table's rows and linear in 1/df between and beyond them
    (within 0.001 of the true value for every df)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df in _T975:
        return _T975[df]
    above = bisect.bisect(_DFS, df)
    low_df = _DFS[above - 1]
    high_df, high_t = (_DFS[above], _T975[_DFS[above]]) if above < len(_DFS) else (0, NORMAL_975)
    high_inverse = 1.0 / high_df if high_df else 0.0  # 1/df of the normal is 0
    share = (1.0 / df - high_inverse) / (1.0 / low_df - high_inverse)
    return high_t + share * (_T975[low_df] - high_t)


@dataclass(frozen=True)
class MeanCI:
    """The mean of n values and the half-width of its 95 % interval (NaN below 2 values)."""

    mean: float
    half_width: float
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width


def mean_ci95(values: Sequence[float]) -> MeanCI:
    """Mean and Student's t 95 % interval of the finite ``values`` (NaN ones are left out)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    n = len(finite)
    if n == 0:
        return MeanCI(math.nan, math.nan, 0)
    mean = math.fsum(finite) / n
    if n == 1:
        return MeanCI(mean, math.nan, 1)
    variance = math.fsum((v - mean) ** 2 for v in finite) / (n - 1)
    return MeanCI(mean, t_quantile_975(n - 1) * math.sqrt(variance / n), n)


def tie_ranks(intervals: Sequence[MeanCI], tie: float = MOS_TIE) -> list[str]:
    """Ranks of ``intervals`` listed best first: ``"1"``, ``"2="``, ``"2="``, ``"4"``.

    A value shares the rank of the one just above it when their 95 % intervals
    overlap; a value measured once counts as ±``tie``/2, so two single
    measurements within ``tie`` of each other tie. Values without a mean (no
    run succeeded) never tie.
    """
    ranks: list[int] = []
    for position, current in enumerate(intervals):
        above = intervals[position - 1] if position else None
        if above is not None and _overlap(above, current, tie):
            ranks.append(ranks[-1])
        else:
            ranks.append(position + 1)
    shared = {rank for rank in ranks if ranks.count(rank) > 1}
    return [f"{rank}=" if rank in shared else str(rank) for rank in ranks]


def _overlap(first: MeanCI, second: MeanCI, tie: float) -> bool:
    if not (math.isfinite(first.mean) and math.isfinite(second.mean)):
        return False
    first_half = first.half_width if math.isfinite(first.half_width) else tie / 2
    second_half = second.half_width if math.isfinite(second.half_width) else tie / 2
    return abs(first.mean - second.mean) <= first_half + second_half + 1e-12
