"""Unit tests for the talker echo delay limits of voipbed.models.echo_tolerance."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from voipbed.models import emodel
from voipbed.models.echo_tolerance import (
    ECHO_ALONE_R_FLOOR,
    EchoTolerance,
    echo_alone_r,
    echo_delay_limit_s,
)

TELRS = st.integers(min_value=5, max_value=65).map(float)


def test_no_echo_delay_rates_as_g107_defaults() -> None:
    """With no echo delay and the default TELR the echo-alone rating is G.107's default R."""
    default = float(emodel.evaluate(emodel.EModelInputs()).r)
    assert float(echo_alone_r(0.0, 65.0)) == pytest.approx(default)


@given(TELRS, st.sampled_from(list(EchoTolerance)))
def test_rating_crosses_the_floor_at_the_limit(telr_db: float, tolerance: EchoTolerance) -> None:
    """Just short of the limit the echo alone keeps R at or above the category's floor; at
    the limit it falls under it."""
    limit = echo_delay_limit_s(telr_db, tolerance)
    floor = ECHO_ALONE_R_FLOOR[tolerance]
    if math.isinf(limit):
        grid = np.geomspace(0.001, 100.0, 500)
        assert np.all(np.asarray(echo_alone_r(grid, telr_db)) >= floor)
        return
    assert float(echo_alone_r(limit, telr_db)) < floor
    if limit > 0.001:
        assert float(echo_alone_r(limit * (1 - 1e-6), telr_db)) >= floor


@given(TELRS, TELRS)
def test_more_echo_loss_bears_longer_delay(a_db: float, b_db: float) -> None:
    """The limit never shortens as TELR rises, and the limiting case never comes first."""
    low, high = sorted((a_db, b_db))
    for tolerance in EchoTolerance:
        assert echo_delay_limit_s(low, tolerance) <= echo_delay_limit_s(high, tolerance)
    for telr in (low, high):
        acceptable = echo_delay_limit_s(telr, EchoTolerance.ACCEPTABLE)
        assert acceptable <= echo_delay_limit_s(telr, EchoTolerance.LIMITING)


def test_default_telr_bears_any_delay_and_55_db_about_200_ms() -> None:
    """TELR 65 dB (G.107 Table 3) never breaks the acceptable tolerance; 55 dB does between
    150 and 250 ms of mean one-way delay, and 50 dB sooner."""
    assert math.isinf(echo_delay_limit_s(65.0, EchoTolerance.ACCEPTABLE))
    at_55 = echo_delay_limit_s(55.0, EchoTolerance.ACCEPTABLE)
    assert 0.15 < at_55 < 0.25
    assert echo_delay_limit_s(50.0, EchoTolerance.ACCEPTABLE) < at_55
