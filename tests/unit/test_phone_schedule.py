"""The idle phones' plan: first registrations in the first 30 s, calls from 40 s on."""

from __future__ import annotations

import numpy as np

from voipbed.models.phone_schedule import CALLS_FROM_S, REGISTRATION_SPREAD_S, phone_schedule


def test_registrations_fall_in_the_spread_and_calls_after_them() -> None:
    """Every first REGISTER is in the first 30 s; every call comes later, sorted, in the run."""
    plan = phone_schedule(np.random.default_rng(3), 50, 600.0, 20.0)
    assert len(plan.register_s) == len(plan.incoming_s) == 50
    assert all(0.0 <= t < REGISTRATION_SPREAD_S for t in plan.register_s)
    calls = [t for mine in plan.incoming_s for t in mine]
    assert calls and all(CALLS_FROM_S <= t < 600.0 for t in calls)
    assert all(list(mine) == sorted(mine) for mine in plan.incoming_s)


def test_call_count_follows_the_rate() -> None:
    """2000 phones called 6 times an hour over an hour get about 6 * 56/60 calls each."""
    plan = phone_schedule(np.random.default_rng(4), 2000, 3600.0, 6.0)
    mean = np.mean([len(mine) for mine in plan.incoming_s])
    assert abs(mean - 6.0 * (3600.0 - CALLS_FROM_S) / 3600.0) < 0.2


def test_a_seed_gives_one_plan_and_no_rate_gives_no_calls() -> None:
    """The same generator seed gives the same plan; a zero rate gives registrations only."""
    first = phone_schedule(np.random.default_rng(9), 5, 300.0, 30.0)
    assert first == phone_schedule(np.random.default_rng(9), 5, 300.0, 30.0)
    quiet = phone_schedule(np.random.default_rng(9), 5, 300.0, 0.0)
    assert quiet.register_s == first.register_s and quiet.incoming_s == ((),) * 5
