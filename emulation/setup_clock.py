"""When an emulation's ``t0`` falls: planned once as the links start, checked when set-up ends.

``t0`` is the instant the links' clocks start and the calls' schedule is measured from; the
links take it when they start, so it is fixed then, before anything that registers.
:func:`setup_budget_s` gives the time from the links' start to ``t0``: what the links,
Kamailio and the accounts' registrations take on a busy 2-core machine, with room to spare
(the figures measured on a quiet one are beside each constant). :class:`SetupClock` plans
``t0`` that far ahead on its first :meth:`~SetupClock.plan` (the first link's start) and,
once every account has registered, :meth:`~SetupClock.check_ready` raises
:class:`SetupOverrun` if ``t0`` has already passed: a run whose set-up was not done before
its ``t0`` would measure calls dialled late, so it fails instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "EXTRA_LINK_START_S",
    "LIGHT_AGENTS_S",
    "LIGHT_CALL_S",
    "LINK_START_S",
    "REGISTER_S",
    "SIP_CORE_START_S",
    "SetupClock",
    "SetupOverrun",
    "SetupPlan",
    "setup_budget_s",
]

LINK_START_S = 1.5  # the links start together; measured 0.6 to 1.1 s for two
EXTRA_LINK_START_S = 0.5  # each link past the first, the 2 cores shared
SIP_CORE_START_S = 0.5  # tcpdump's captures and Kamailio; measured 0.1 s
REGISTER_S = 0.05  # each baresip account, started and registered in turn; measured 0.025 s
LIGHT_AGENTS_S = 0.5  # the light calls' two agents start; measured 0.13 s
LIGHT_CALL_S = 0.01  # and register each light callee; about 1 s for 192


class SetupOverrun(RuntimeError):
    """The set-up (links, Kamailio, registrations) was not done by ``t0``."""


@dataclass(frozen=True)
class SetupPlan:
    """``t0`` on the monotonic clock, the same instant on the wall clock (Kamailio's log's
    times), and how long before it the plan was made."""

    t0: float
    wall_t0: float
    budget_s: float


def setup_budget_s(
    segments: int, accounts: int, *, light_calls: int = 0, phones_s: float = 0.0
) -> float:
    """Seconds from the links' start to ``t0``: ``segments`` links, the SIP core,
    ``accounts`` baresip accounts registering one after another, the agents of
    ``light_calls`` light calls, then ``phones_s`` for the idle phones."""
    if segments < 1:
        raise ValueError(f"a path has at least one segment, got {segments}")
    if accounts < 0 or light_calls < 0 or phones_s < 0:
        raise ValueError("accounts, light calls and the phones' set-up cannot be negative")
    links_s = LINK_START_S + EXTRA_LINK_START_S * (segments - 1)
    light_s = LIGHT_AGENTS_S + LIGHT_CALL_S * light_calls if light_calls else 0.0
    return links_s + SIP_CORE_START_S + REGISTER_S * accounts + light_s + phones_s


class SetupClock:
    """Plans ``t0`` ``budget_s`` ahead the first time :meth:`plan` is called (from any
    thread: the links start together) and keeps it; ``monotonic`` and ``wall`` are the
    clocks read (``time.monotonic``, ``time.time``)."""

    def __init__(
        self,
        budget_s: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if not budget_s > 0:
            raise ValueError(f"the set-up budget must be positive, got {budget_s}")
        self.budget_s = budget_s
        self._monotonic = monotonic
        self._wall = wall
        self._lock = threading.Lock()
        self._plan: SetupPlan | None = None

    def plan(self) -> SetupPlan:
        """The run's plan, made now if it was not yet."""
        with self._lock:
            if self._plan is None:
                self._plan = SetupPlan(
                    t0=self._monotonic() + self.budget_s,
                    wall_t0=self._wall() + self.budget_s,
                    budget_s=self.budget_s,
                )
            return self._plan

    @property
    def planned(self) -> SetupPlan:
        """The plan; RuntimeError if :meth:`plan` was never called (no link started)."""
        if self._plan is None:
            raise RuntimeError("t0 is planned when the first link starts; none has")
        return self._plan

    def check_ready(self, what: str) -> float:
        """The time left before ``t0`` now that ``what`` is done; SetupOverrun if ``t0``
        has passed."""
        plan = self.planned
        slack_s = plan.t0 - self._monotonic()
        if slack_s < 0:
            raise SetupOverrun(
                f"{what} took {-slack_s:.2f} s past t0 ({plan.budget_s:.2f} s after the links "
                "started): the calls would be dialled late on the links' clock, so the run "
                "stops; a busy machine is the likely cause (emulation/setup_clock.py holds "
                "the set-up's budget)"
            )
        return slack_s
