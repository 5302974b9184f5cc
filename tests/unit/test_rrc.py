"""LTE RRC/DRX gate: agrees with a plain per-packet reference; delays, tails and energy."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voipbed.models.rrc import (
    STATE_NAMES,
    RrcConfig,
    RrcOutcome,
    RrcState,
    keepalive_energy,
    rrc_gate,
)

IDLE, PROMOTION, CONNECTED, SHORT, LONG = (int(s) for s in RrcState)


# --- reference: one UE, one packet at a time, timers as deadlines ---------------------------


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


@dataclass
class ReferenceUe:
    """A UE as a chain of timers: each state, once entered, ends at its own deadline."""

    cfg: RrcConfig
    drx_offset: int
    paging_offset: int
    state: int = IDLE
    since: int = 0
    deadline: int | None = None
    short_end: int = 0
    time_in: list[int] = field(default_factory=lambda: [0] * 5)
    changes: list[tuple[int, int, int]] = field(default_factory=list)
    promotions: int = 0
    waiting: list[int] = field(default_factory=list)
    wake: int = 0
    woken_from_idle: bool = False

    def __post_init__(self) -> None:
        c = self.cfg
        self.ti, self.tis, self.tail = (
            _ns(c.drx_inactivity_s),
            _ns(c.short_drx_timer_s),
            _ns(c.rrc_inactivity_s),
        )
        self.short_cycle, self.long_cycle = _ns(c.short_drx_cycle_s), _ns(c.long_drx_cycle_s)
        self.on, self.paging = _ns(c.on_duration_s), _ns(c.paging_cycle_s)
        self.sr, self.promotion = _ns(c.uplink_sr_delay_s), _ns(c.promotion_delay_s)
        self._enter(int(c.initial_state), 0, record=False)

    def _duration(self, state: int) -> int | None:
        return {
            CONNECTED: self.ti,
            SHORT: self.tis,
            LONG: self.tail - self.ti - self.tis,
        }.get(state)

    def _enter(self, state: int, at: int, record: bool = True) -> None:
        """Switch to ``state`` at ``at``, skipping states that would last no time."""
        state = self._next_real(state)
        if record and state != self.state:
            self.time_in[self.state] += at - self.since
            self.changes.append((at, self.state, state))
        self.state, self.since = state, at
        duration = self._duration(state)
        self.deadline = None if duration is None else at + duration
        if state == SHORT:
            self.short_end = at + self.tis
        if state == CONNECTED:
            self.short_end = at + self.ti + self.tis

    def _run_timers(self, until: int, hold: bool) -> None:
        """Let the timers fire up to ``until``; ``hold`` keeps the connection (data waits)."""
        while self.deadline is not None and self.deadline <= until:
            nxt = {CONNECTED: SHORT, SHORT: LONG, LONG: IDLE}[self.state]
            if hold and self._next_real(nxt) == IDLE:
                if self.state != LONG and self.deadline < until:  # timers out with the tail
                    self.time_in[self.state] += self.deadline - self.since
                    self.changes.append((self.deadline, self.state, LONG))
                    self.state, self.since, self.deadline = LONG, self.deadline, None
                return
            self._enter(nxt, self.deadline)

    def _next_real(self, state: int) -> int:
        """``state``, or the first one after it that lasts some time."""
        while self._duration(state) == 0:
            state = LONG if state == SHORT else IDLE
        return state

    def _on_duration_wake(self, t: int) -> int:
        """Start of the on-duration that lets the eNodeB reach the UE (t if one is running)."""
        cycle = self.short_cycle if self.state == SHORT else self.long_cycle
        offset = self.drx_offset % cycle
        last_start = t - (t - offset) % cycle
        if t - last_start < self.on:
            return t
        candidates = []
        if self.state == SHORT:
            first_short = last_start + cycle
            if first_short < self.short_end:
                candidates.append(first_short)
            start = self.short_end
        else:
            start = t
        k = -((self.drx_offset - start) // self.long_cycle)
        candidates.append(self.drx_offset + k * self.long_cycle)
        return min(candidates)

    def _wake_for(self, t: int, downlink: bool) -> int:
        """When the UE, asleep in its current state, could carry a packet arriving at ``t``."""
        if self.state == IDLE:
            if not downlink:
                return t + self.promotion
            periods = (t - self.paging_offset + self.paging - 1) // self.paging
            return self.paging_offset + periods * self.paging + self.promotion
        if not downlink:
            return t + self.sr
        return self._on_duration_wake(t)

    def _wake_up(self, release: dict[int, int]) -> None:
        if self.woken_from_idle:
            start = self.wake - self.promotion
            if self.promotion > 0:
                self._enter(PROMOTION, start)
                self.deadline = None
            self._enter(CONNECTED, self.wake)
            self.promotions += 1
        else:
            self._run_timers(self.wake, hold=True)
            self._enter(CONNECTED, self.wake)
        for index in self.waiting:
            release[index] = self.wake
        self.waiting = []

    def packet(self, index: int, t: int, downlink: bool, release: dict[int, int]) -> None:
        """One packet arriving at ``t`` (ns); its release goes into ``release``."""
        if self.waiting and t >= self.wake:
            self._wake_up(release)
        if self.waiting:  # asleep with data waiting: this packet may wake the UE sooner
            self._run_timers(t, hold=True)
            self.wake = min(self.wake, self._wake_for(t, downlink))
            self.waiting.append(index)
            return
        self._run_timers(t, hold=False)
        if self.state == CONNECTED:
            release[index] = t
            self.deadline = t + self.ti
            self.short_end = t + self.ti + self.tis
            return
        self.woken_from_idle = self.state == IDLE
        self.wake = self._wake_for(t, downlink)
        self.waiting = [index]
        if self.wake == t:
            self._wake_up(release)

    def finish(self, end: int, release: dict[int, int]) -> int:
        """Carry what still waits, follow the tail to IDLE; return the accounting horizon."""
        if self.waiting:
            self._wake_up(release)
        self._run_timers(end, hold=False)
        while self.deadline is not None:
            self._run_timers(self.deadline, hold=False)
        horizon = max(end, self.since)
        self.time_in[self.state] += horizon - self.since
        return horizon


def reference_gate(
    ue: np.ndarray,
    time_s: np.ndarray,
    downlink: np.ndarray,
    end_s: np.ndarray,
    cfg: RrcConfig,
    drx_offset_s: np.ndarray,
    paging_offset_s: np.ndarray,
) -> dict[str, np.ndarray]:
    """Per-packet reference of ``rrc_gate``: releases, state changes and time per state."""
    users = end_s.size
    ues = [ReferenceUe(cfg, _ns(drx_offset_s[u]), _ns(paging_offset_s[u])) for u in range(users)]
    release: dict[int, int] = {}
    for index, (u, t, down) in enumerate(zip(ue, time_s, downlink, strict=True)):
        ues[u].packet(index, _ns(t), bool(down), release)
    horizons = [ues[u].finish(_ns(end_s[u]), release) for u in range(users)]
    t_ns = np.array([_ns(t) for t in time_s], dtype=np.int64)
    release_ns = np.array([release[i] for i in range(time_s.size)], dtype=np.int64)
    release_s = np.where(release_ns == t_ns, time_s, np.maximum(time_s, release_ns / 1e9))
    changes = [(u, at, old, new) for u in range(users) for at, old, new in ues[u].changes]
    table = np.array(changes, dtype=np.int64).reshape(-1, 4)
    return {
        "release_s": release_s,
        "transitions": table,
        "time_in_ns": np.array([r.time_in for r in ues], dtype=np.int64).reshape(users, 5),
        "promotions": np.array([r.promotions for r in ues], dtype=np.int64),
        "horizon_ns": np.array(horizons, dtype=np.int64),
    }


def _transition_table(out: RrcOutcome) -> np.ndarray:
    return np.column_stack(
        [
            out.transition_ue,
            np.rint(out.transition_time_s * 1e9).astype(np.int64),
            out.transition_from.astype(np.int64),
            out.transition_to.astype(np.int64),
        ]
    ).reshape(-1, 4)


# --- agreement with the reference --------------------------------------------------------------


_long_drx_ms = st.one_of(st.just(0), st.integers(0, 3000))  # 0: no long DRX at all


@st.composite
def _configs(draw: st.DrawFn) -> RrcConfig:
    short_ms = draw(st.sampled_from([2, 5, 10, 20, 40]))
    inactivity_ms = draw(st.integers(1, 200))
    short_timer_ms = short_ms * draw(st.integers(0, 4))
    return RrcConfig(
        promotion_delay_s=draw(st.sampled_from([0, 50, 260, 400])) / 1000,
        drx_inactivity_s=inactivity_ms / 1000,
        short_drx_cycle_s=short_ms / 1000,
        short_drx_timer_s=short_timer_ms / 1000,
        long_drx_cycle_s=short_ms * draw(st.integers(1, 8)) / 1000,
        on_duration_s=draw(st.integers(1, short_ms - 1)) / 1000,
        rrc_inactivity_s=(inactivity_ms + short_timer_ms + draw(_long_drx_ms)) / 1000,
        paging_cycle_s=draw(st.sampled_from([320, 640, 1280])) / 1000,
        uplink_sr_delay_s=draw(st.sampled_from([0, 0, 1, 9, 20])) / 1000,
        initial_state=draw(
            st.sampled_from(
                [RrcState.IDLE, RrcState.CONNECTED, RrcState.SHORT_DRX, RrcState.LONG_DRX]
            )
        ),
    )


_gap_ms = st.one_of(
    st.integers(0, 30),  # dense: a VoIP stream
    st.integers(30, 600),  # DRX territory
    st.integers(600, 6000),  # tails and IDLE
)


@st.composite
def _traffic(draw: st.DrawFn) -> tuple[RrcConfig, dict[str, np.ndarray]]:
    cfg = draw(_configs())
    users = draw(st.integers(1, 4))
    ue, times, down, ends, drx_off, page_off = [], [], [], [], [], []
    for u in range(users):
        gaps = draw(st.lists(_gap_ms, min_size=0, max_size=60))
        jitter = draw(st.booleans())
        now = 0.0
        for gap in gaps:
            now += gap / 1000 + (draw(st.integers(0, 999)) * 1e-6 if jitter else 0.0)
            ue.append(u)
            times.append(now)
            down.append(draw(st.booleans()))
        ends.append(max(0.0, now + draw(st.integers(-2000, 5000)) / 1000))
        drx_off.append(draw(st.integers(0, _ns(cfg.long_drx_cycle_s) // 1_000_000 - 1)) / 1000)
        page_off.append(draw(st.integers(0, _ns(cfg.paging_cycle_s) // 1_000_000 - 1)) / 1000)
    arrays = {
        "ue": np.array(ue, dtype=np.int64),
        "time_s": np.array(times, dtype=np.float64),
        "downlink": np.array(down, dtype=np.bool_),
        "end_s": np.array(ends),
        "drx_offset_s": np.array(drx_off),
        "paging_offset_s": np.array(page_off),
    }
    return cfg, arrays


@settings(max_examples=int(os.environ.get("VOIPBED_RRC_EXAMPLES", "200")), deadline=None)
@given(case=_traffic())
def test_kernel_matches_per_packet_reference(case: tuple[RrcConfig, dict[str, np.ndarray]]) -> None:
    """Releases, state changes, time per state and promotions equal the plain reference."""
    cfg, a = case
    out = rrc_gate(
        a["ue"],
        a["time_s"],
        a["downlink"],
        a["end_s"],
        cfg,
        drx_offset_s=a["drx_offset_s"],
        paging_offset_s=a["paging_offset_s"],
    )
    ref = reference_gate(
        a["ue"],
        a["time_s"],
        a["downlink"],
        a["end_s"],
        cfg,
        a["drx_offset_s"],
        a["paging_offset_s"],
    )
    np.testing.assert_array_equal(out.release_s, ref["release_s"])
    np.testing.assert_array_equal(_transition_table(out), ref["transitions"])
    np.testing.assert_array_equal(np.rint(out.state_time_s * 1e9), ref["time_in_ns"])
    np.testing.assert_array_equal(out.promotions, ref["promotions"])
    np.testing.assert_array_equal(np.rint(out.horizon_s * 1e9), ref["horizon_ns"])
    assert np.all(out.release_s >= a["time_s"])
    np.testing.assert_allclose(out.state_time_s.sum(axis=1), out.horizon_s, rtol=0, atol=1e-9)
    power_w = np.array(cfg.state_power_mw) / 1000
    np.testing.assert_allclose(out.energy_j, out.state_time_s @ power_w, rtol=1e-12)


# --- behaviour -----------------------------------------------------------------------------------

DEFAULT = RrcConfig()


def _one_ue(times: list[float], downlink: list[bool], end_s: float, **kwargs: object) -> RrcOutcome:
    config = kwargs.pop("config", DEFAULT)
    assert isinstance(config, RrcConfig)
    return rrc_gate(
        np.zeros(len(times), dtype=np.int64),
        np.array(times, dtype=np.float64),
        np.array(downlink, dtype=np.bool_),
        np.array([end_s]),
        config,
        **kwargs,  # type: ignore[arg-type]
    )


def _changes(out: RrcOutcome) -> list[tuple[float, str, str]]:
    return [
        (round(float(t), 9), STATE_NAMES[old], STATE_NAMES[new])
        for t, old, new in zip(
            out.transition_time_s, out.transition_from, out.transition_to, strict=True
        )
    ]


def test_uplink_from_idle_waits_for_the_promotion() -> None:
    """An uplink packet in IDLE starts a promotion at once and leaves 260 ms later."""
    out = _one_ue([1.0], [False], end_s=2.0)
    assert out.release_s[0] == pytest.approx(1.26)
    assert _changes(out)[:2] == [(1.0, "idle", "promotion"), (1.26, "promotion", "connected")]
    assert out.promotions.tolist() == [1]


def test_downlink_from_idle_waits_for_paging_then_promotion() -> None:
    """A downlink packet in IDLE waits for the UE's next paging occasion, then the promotion."""
    out = _one_ue([0.5], [True], end_s=2.0, paging_offset_s=np.array([0.1]))
    assert out.release_s[0] == pytest.approx(0.1 + 1.28 + 0.26)
    assert _changes(out)[0] == (1.38, "idle", "promotion")
    offsets = np.linspace(0.0, 1.27, 50)
    many = rrc_gate(
        np.arange(50),
        np.full(50, 3.0),
        np.ones(50, dtype=np.bool_),
        np.full(50, 4.0),
        paging_offset_s=offsets,
    )
    delay = many.release_s - 3.0
    assert np.all(delay >= 0.26 - 1e-12) and np.all(delay < 0.26 + 1.28)
    assert delay.max() - delay.min() > 1.0  # the paging wait spreads over the whole cycle


def test_uplink_during_a_paging_wait_starts_the_promotion_sooner() -> None:
    """Downlink data waiting for paging leaves with an uplink packet's UE-initiated promotion."""
    out = _one_ue([0.5, 0.6], [True, False], end_s=2.0)
    np.testing.assert_allclose(out.release_s, [0.86, 0.86])
    assert out.promotions.tolist() == [1]


def test_packets_every_20ms_keep_the_ue_connected_without_delay() -> None:
    """A two-way 20 ms stream pays only the first promotion, then never leaves CONNECTED."""
    up = np.arange(500) * 0.02 + 1.0
    times = np.sort(np.concatenate([up, up + 0.01]))
    down = np.tile([False, True], 500)
    out = _one_ue(list(times), list(down), end_s=11.0)
    delayed = out.release_s > times
    assert delayed.sum() == 26  # the packets of the first 260 ms wait for the promotion
    np.testing.assert_allclose(out.release_s[delayed], 1.26)
    np.testing.assert_array_equal(out.release_s[~delayed], times[~delayed])
    changes = _changes(out)
    assert changes[:2] == [(1.0, "idle", "promotion"), (1.26, "promotion", "connected")]
    assert all(t > times[-1] for t, _, _ in changes[2:])  # DRX only after the last packet


def test_downlink_200ms_after_activity_waits_for_a_long_drx_on_duration() -> None:
    """200 ms after the last packet the UE is in long DRX: downlink waits < one long cycle."""
    users = 40
    offsets = np.arange(users) * 0.001  # every phase of the 40 ms long cycle
    ue = np.repeat(np.arange(users), 2)
    times = np.tile([0.0, 0.2], users)
    down = np.tile([False, True], users)
    cfg = RrcConfig(initial_state=RrcState.CONNECTED)
    out = rrc_gate(ue, times, down, np.full(users, 1.0), cfg, drx_offset_s=offsets)
    delay = out.release_s[1::2] - 0.2
    assert np.all(delay >= 0) and np.all(delay < DEFAULT.long_drx_cycle_s)
    assert np.count_nonzero(delay > 0.01) > users // 2
    on_grid = np.isclose(((0.2 + delay - offsets) / 0.04) % 1, 0, atol=1e-6) | np.isclose(
        ((0.2 + delay - offsets) / 0.04) % 1, 1, atol=1e-6
    )
    assert np.all(on_grid | (delay == 0))  # wakes at an on-duration start, or one is running
    first = _changes(rrc_gate(np.zeros(2, dtype=np.int64), times[:2], down[:2], np.ones(1), cfg))
    assert first[:2] == [(0.1, "connected", "short_drx"), (0.12, "short_drx", "long_drx")]


def test_downlink_in_short_drx_waits_less_than_a_short_cycle() -> None:
    """Just after the DRX inactivity timer the short cycle applies."""
    cfg = RrcConfig(initial_state=RrcState.CONNECTED, short_drx_timer_s=0.08)
    out = _one_ue([0.0, 0.105], [False, True], end_s=1.0, config=cfg)
    assert 0 < out.release_s[1] - 0.105 < cfg.short_drx_cycle_s
    assert out.release_s[1] == pytest.approx(0.12)


def test_uplink_in_drx_goes_without_waiting_for_an_on_duration() -> None:
    """An uplink packet in DRX sends a scheduling request; only the SR delay is added."""
    base = RrcConfig(initial_state=RrcState.CONNECTED)
    out = _one_ue([0.0, 0.205], [False, False], end_s=1.0, config=base)
    assert out.release_s[1] == 0.205
    sr = RrcConfig(initial_state=RrcState.CONNECTED, uplink_sr_delay_s=0.01)
    out = _one_ue([0.0, 0.205, 0.207], [False, True, False], end_s=1.0, config=sr)
    # the downlink packet would wait for the 240 ms on-duration; the uplink SR wakes it sooner
    np.testing.assert_allclose(out.release_s[1:], [0.217, 0.217])


def test_after_the_tail_the_ue_is_idle_and_pays_a_promotion_again() -> None:
    """The RRC inactivity timer releases the UE; the next packet promotes again."""
    last_activity = 0.26
    idle_at = last_activity + DEFAULT.rrc_inactivity_s
    out = _one_ue([0.0, idle_at - 0.5, idle_at - 0.5 + idle_at + 1.0], [False] * 3, end_s=30.0)
    changes = _changes(out)
    second_idle = idle_at - 0.5 + DEFAULT.rrc_inactivity_s
    assert (round(second_idle, 9), "long_drx", "idle") in changes
    assert out.release_s[1] == pytest.approx(idle_at - 0.5)  # still in DRX: no promotion
    assert out.release_s[2] - (idle_at - 0.5 + idle_at + 1.0) == pytest.approx(0.26)
    assert out.promotions.tolist() == [2]
    assert [c for c in changes if c[2] == "idle"] == [
        (round(second_idle, 9), "long_drx", "idle"),
        (round(out.release_s[2] + DEFAULT.rrc_inactivity_s, 9), "long_drx", "idle"),
    ]


def test_data_waiting_at_the_tail_expiry_holds_the_connection() -> None:
    """A packet waiting for a wake-up when the RRC timer expires is carried without a promotion."""
    cfg = RrcConfig(initial_state=RrcState.CONNECTED)
    out = _one_ue([0.0, 11.575], [False, True], end_s=30.0, config=cfg, drx_offset_s=[0.039])
    assert out.release_s[1] == pytest.approx(11.599)  # next on-duration, after 11.576
    assert out.promotions.tolist() == [0]
    assert [c for c in _changes(out) if c[2] == "idle"] == [(11.599 + 11.576, "long_drx", "idle")]
    # no long DRX at all (tail = inactivity + short DRX): an SR wake-up exactly at the expiry
    tight = RrcConfig(
        initial_state=RrcState.CONNECTED,
        rrc_inactivity_s=0.12,
        uplink_sr_delay_s=0.001,
    )
    out = _one_ue([0.0, 0.119], [False, False], end_s=1.0, config=tight)
    assert out.release_s[1] == pytest.approx(0.12)
    assert _changes(out) == [
        (0.1, "connected", "short_drx"),
        (0.12, "short_drx", "connected"),  # not short_drx -> idle -> connected
        (0.22, "connected", "short_drx"),
        (0.24, "short_drx", "idle"),
    ]


def test_energy_of_a_60s_g711_call_matches_a_hand_calculation() -> None:
    """60 s of 20 ms packets both ways: promotion, CONNECTED, then one full tail, in joules."""
    up = np.arange(3000) * 0.02
    times = np.sort(np.concatenate([up, up + 0.01]))
    down = np.tile([False, True], 3000)
    out = _one_ue(list(times), list(down), end_s=60.0)
    last = times[-1]  # 59.99 s, downlink
    # promotion 0..0.26; CONNECTED to last + 100 ms; short DRX 20 ms; long DRX to last + 11.576
    seconds = [0.0, 0.26, last + 0.1 - 0.26, 0.02, 11.576 - 0.12]
    np.testing.assert_allclose(out.state_time_s[0], seconds, atol=1e-9)
    assert out.horizon_s[0] == pytest.approx(last + 11.576)
    # Huang et al. 2012 Table 3 powers; DRX means: 1060 + (1680.2 - 1060) * 1 ms / cycle
    hand_j = 0.26 * 1.2107 + (last - 0.16) * 1.28804 + 0.02 * 1.09101 + 11.456 * 1.075505
    assert hand_j == pytest.approx(89.721, abs=1e-3)
    assert out.energy_j[0] == pytest.approx(hand_j, rel=1e-9)


def test_keepalives_further_apart_than_the_tail_let_the_ue_idle() -> None:
    """Closer than the tail: never IDLE, no promotions; further: one promotion each, less power."""
    tail = DEFAULT.rrc_inactivity_s
    close = [keepalive_energy(s) for s in (2.0, 5.0, 10.0)]
    apart = [keepalive_energy(s) for s in (15.0, 30.0, 60.0, 300.0)]
    assert all(k.promotions == 0 for k in close)
    assert all(k.promotions == 1 for k in apart)
    per_hour = [k.energy_per_hour_j for k in close + apart]
    assert all(b < a for a, b in itertools.pairwise(per_hour))
    # past the tail a keep-alive costs one promotion and one tail; the rest of the gap is IDLE
    promotion_and_tail = 0.26 * 1.2107 + 0.1 * 1.28804 + 0.02 * 1.09101 + 11.456 * 1.075505
    idle_w = DEFAULT.state_power_mw[IDLE] / 1000
    for k in apart:
        gap = k.interval_s - 0.26 - tail
        assert k.energy_j == pytest.approx(promotion_and_tail + gap * idle_w, rel=1e-9)
    # energy per keep-alive falls once they are further apart than the tail, per unit time
    assert apart[0].mean_power_mw < 0.85 * close[-1].mean_power_mw
    times = np.arange(0.0, 100.0, 10.0)
    out = _one_ue(list(times), [False] * times.size, end_s=100.0)
    into_idle = out.transition_time_s[out.transition_to == IDLE]
    assert into_idle.size == 1 and into_idle[0] > times[-1]


def test_ue_without_packets_decays_from_its_initial_state() -> None:
    """No packets: IDLE stays IDLE to end_s; CONNECTED runs its tail to IDLE first."""
    idle = rrc_gate(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, bool), np.array([5.0]))
    np.testing.assert_allclose(idle.state_time_s[0], [5.0, 0, 0, 0, 0])
    assert idle.transition_ue.size == 0
    cfg = RrcConfig(initial_state=RrcState.CONNECTED)
    conn = rrc_gate(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, bool), np.array([1.0]), cfg)
    np.testing.assert_allclose(conn.state_time_s[0], [0, 0, 0.1, 0.02, 11.456], atol=1e-12)
    assert conn.horizon_s[0] == pytest.approx(11.576)
    assert (
        conn.state_names
        == STATE_NAMES
        == (
            "idle",
            "promotion",
            "connected",
            "short_drx",
            "long_drx",
        )
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"promotion_delay_s": -0.1},
        {"drx_inactivity_s": 0.0},
        {"long_drx_cycle_s": 0.05},  # not a multiple of the 20 ms short cycle
        {"on_duration_s": 0.02},
        {"rrc_inactivity_s": 0.1},
        {"paging_on_duration_s": 2.0},
        {"connected_mw": float("nan")},
        {"initial_state": RrcState.PROMOTION},
    ],
)
def test_config_rejects_impossible_values(kwargs: dict[str, object]) -> None:
    """Each invalid timer or power is refused with ValueError."""
    with pytest.raises(ValueError):
        RrcConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ue", "time_s", "match"),
    [
        ([0, 0], [1.0, 0.5], "sorted"),
        ([1, 0], [0.0, 1.0], "sorted"),
        ([0, 2], [0.0, 1.0], r"\[0, 2\)"),
        ([0, 0], [0.0, np.nan], ">= 0"),
        ([0, 0], [-1.0, 0.0], ">= 0"),
    ],
)
def test_gate_rejects_bad_packets(ue: list[int], time_s: list[float], match: str) -> None:
    """Unsorted packets, unknown UEs and negative or NaN times are refused."""
    with pytest.raises(ValueError, match=match):
        rrc_gate(np.array(ue), np.array(time_s), np.zeros(2, bool), np.array([5.0, 5.0]))
