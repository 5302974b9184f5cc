"""When the emulation's t0 falls: the set-up budget, planned once, checked when set-up ends."""

from __future__ import annotations

import threading

import pytest

from voipbed.emulation.setup_clock import SetupClock, SetupOverrun, setup_budget_s


class FakeClock:
    """A clock that reads ``now`` and moves only when told."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_budget_grows_with_everything_that_starts_before_t0() -> None:
    """Each link, account, light call and the phones' time lengthen the budget."""
    base = setup_budget_s(1, 2)
    assert setup_budget_s(2, 2) > base
    assert setup_budget_s(1, 4) > base
    assert setup_budget_s(1, 2, light_calls=4) > base
    assert setup_budget_s(1, 2, light_calls=192) > setup_budget_s(1, 2, light_calls=4)
    assert setup_budget_s(1, 2, phones_s=3.0) == pytest.approx(base + 3.0)


def test_budget_refuses_what_no_run_has() -> None:
    """A path without segments or negative counts are refused."""
    with pytest.raises(ValueError, match="segment"):
        setup_budget_s(0, 2)
    with pytest.raises(ValueError, match="negative"):
        setup_budget_s(1, -1)
    with pytest.raises(ValueError, match="positive"):
        SetupClock(0.0)


def test_t0_is_planned_once_budget_ahead_on_both_clocks() -> None:
    """The first plan fixes t0 and the wall-clock t0; later plans return the same instant."""
    monotonic, wall = FakeClock(100.0), FakeClock(1_700_000_000.0)
    clock = SetupClock(3.5, monotonic=monotonic, wall=wall)
    first = clock.plan()
    assert first.t0 == pytest.approx(103.5)
    assert first.wall_t0 == pytest.approx(1_700_000_003.5)
    monotonic.now, wall.now = 102.0, 1_700_000_002.0
    assert clock.plan() == first
    assert clock.planned == first


def test_plan_from_many_threads_gives_one_t0() -> None:
    """The links start together, each thread asking for the plan: all get the same t0."""
    clock = SetupClock(2.0)
    plans = []
    threads = [threading.Thread(target=lambda: plans.append(clock.plan())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({plan.t0 for plan in plans}) == 1


def test_planned_before_any_link_started_is_an_error() -> None:
    """Reading the plan before the first link has planned it raises."""
    with pytest.raises(RuntimeError, match="first link"):
        _ = SetupClock(1.0).planned


def test_ready_before_t0_gives_the_slack() -> None:
    """Set-up done before t0 returns the time left."""
    monotonic = FakeClock(10.0)
    clock = SetupClock(3.0, monotonic=monotonic)
    clock.plan()
    monotonic.now = 11.25
    assert clock.check_ready("registering") == pytest.approx(1.75)


def test_ready_past_t0_fails_loudly() -> None:
    """Set-up that ends after t0 raises SetupOverrun, saying what and by how much."""
    monotonic = FakeClock(10.0)
    clock = SetupClock(3.0, monotonic=monotonic)
    clock.plan()
    monotonic.now = 13.5
    with pytest.raises(SetupOverrun, match=r"registering 2 accounts took 0\.50 s past t0"):
        clock.check_ready("registering 2 accounts")
