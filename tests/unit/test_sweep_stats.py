"""Means over seeds: Student's t quantile, 95 % intervals, and ranks that say ties."""

from __future__ import annotations

import math

import numpy as np
import pytest

from voipbed.sweep_stats import MOS_TIE, MeanCI, mean_ci95, t_quantile_975, tie_ranks


def t_cdf(x: float, df: int) -> float:
    """Student's t CDF at ``x`` > 0 by Simpson's rule over the density (independent of the
    table under test)."""
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    grid = np.linspace(0.0, x, 20_001)
    density = np.exp(log_norm - (df + 1) / 2 * np.log1p(grid**2 / df))
    step = grid[1] - grid[0]
    weights = np.ones_like(grid)
    weights[1:-1:2], weights[2:-1:2] = 4.0, 2.0
    return 0.5 + float(step / 3 * np.dot(weights, density))


@pytest.mark.parametrize("df", [1, 2, 3, 4, 5, 7, 10, 15, 20, 25, 29, 30, 40, 60, 120])
def test_table_rows_are_the_975_quantile(df: int) -> None:
    """Each row of the table is where the t distribution's CDF reaches 0.975."""
    assert t_cdf(t_quantile_975(df), df) == pytest.approx(0.975, abs=2e-6)


@pytest.mark.parametrize("df", [31, 35, 45, 50, 75, 100, 150, 500, 10_000])
def test_interpolated_quantiles_are_within_a_thousandth(df: int) -> None:
    """Between and beyond the rows, interpolation in 1/df stays within 0.001 of the quantile."""
    t = t_quantile_975(df)
    assert t_cdf(t - 0.001, df) < 0.975 < t_cdf(t + 0.001, df)


def test_known_quantiles_and_the_normal_limit() -> None:
    """Textbook values (NIST/SEMATECH table) and the normal quantile for very large df."""
    assert t_quantile_975(1) == pytest.approx(12.706, abs=5e-4)
    assert t_quantile_975(9) == pytest.approx(2.262, abs=5e-4)
    assert t_quantile_975(10**9) == pytest.approx(1.959964, abs=1e-6)
    assert all(t_quantile_975(df) > t_quantile_975(df + 1) for df in range(1, 300))
    with pytest.raises(ValueError, match="degrees of freedom"):
        t_quantile_975(0)


def test_mean_ci95_of_three_values() -> None:
    """1, 2, 3: mean 2, s = 1, half-width t(0.975, 2)/sqrt(3); NaN values are left out."""
    interval = mean_ci95([1.0, 2.0, 3.0, math.nan])
    assert interval.n == 3 and interval.mean == pytest.approx(2.0)
    assert interval.half_width == pytest.approx(4.302652730 / math.sqrt(3))
    assert interval.low < 2.0 < interval.high


def test_mean_ci95_of_one_and_no_value() -> None:
    """One value has a mean and no interval; no value has neither."""
    one = mean_ci95([3.5])
    assert (one.mean, one.n) == (3.5, 1) and math.isnan(one.half_width)
    assert math.isnan(mean_ci95([]).mean) and mean_ci95([]).n == 0


def test_overlapping_intervals_share_a_rank() -> None:
    """A point whose interval overlaps the one just above shares its rank; a gap ends it."""
    intervals = [
        MeanCI(4.2, 0.1, 3),
        MeanCI(4.05, 0.1, 3),
        MeanCI(3.5, 0.1, 3),
        MeanCI(3.0, 0.1, 3),
    ]
    assert tie_ranks(intervals) == ["1=", "1=", "3", "4"]


def test_single_measurements_tie_within_the_mos_tolerance() -> None:
    """With one seed, means within 0.005 MOS tie and means further apart do not."""
    close = [MeanCI(4.0, math.nan, 1), MeanCI(4.0 - MOS_TIE * 0.9, math.nan, 1)]
    apart = [MeanCI(4.0, math.nan, 1), MeanCI(4.0 - MOS_TIE * 1.5, math.nan, 1)]
    assert tie_ranks(close) == ["1=", "1="]
    assert tie_ranks(apart) == ["1", "2"]


def test_points_without_a_mean_never_tie() -> None:
    """Failed points (no mean) get their own ranks after the others."""
    intervals = [MeanCI(4.0, 0.5, 2), MeanCI(math.nan, math.nan, 0), MeanCI(math.nan, math.nan, 0)]
    assert tie_ranks(intervals) == ["1", "2", "3"]
