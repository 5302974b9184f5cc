"""The emulated radio hop's RRC gate against the simulator's, on the same packet times."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from voipbed.emulation.rrc_events import rrc_events, state_seconds, with_phone_radio
from voipbed.emulation.rrc_gate import RrcLinkGate, RrcPlan, rrc_output, ue_of_calls
from voipbed.loader import parse_scenario
from voipbed.models.rrc import RrcState
from voipbed.radio_draws import phone_radios
from voipbed.rng import component_rng
from voipbed.scenario import Scenario
from voipbed.schedule import call_times
from voipbed.sim.control_plane import RadioGate
from voipbed.sim.phones import phone_machines
from voipbed.trace import EventKind

UE = "10.0.0.11"
OTHER = "10.0.0.12"

SCENARIO = """
name: rrc-link-gate
seed: {seed}
duration: 30s
calls: {{count: {count}, start_spread: 21s, hold_time: 8s, codec: PCMU, ptime: 20ms}}
path: [{{name: radio, one_way_delay: 10ms}}]
radio: {{rrc: {{initial_state: idle, uplink_sr_delay: 5ms}}}}
"""


def scenario(seed: int = 96, count: int = 1) -> Scenario:
    return parse_scenario(SCENARIO.format(seed=seed, count=count), "rrc-link-gate.yaml")


def packed(address: str) -> bytes:
    return ipaddress.ip_address(address).packed


def traffic(
    gate: RrcLinkGate, start_s: float, rng: np.random.Generator
) -> list[tuple[float, bool, float]]:
    """A UE's packets from ``start_s``: talk both ways, pauses that reach DRX and IDLE, each
    packet arriving no sooner than the previous one's release (where the packet-at-a-time
    machine and the batch gate agree); (time, downlink, release) as the link's gate gave."""
    out: list[tuple[float, bool, float]] = []
    t, previous = start_s, start_s
    for _ in range(600):
        gap = rng.choice([0.0, 0.02, 0.05, 0.3, 2.0, 13.0], p=[0.2, 0.5, 0.1, 0.1, 0.08, 0.02])
        t = max(t + gap + rng.uniform(0.0, 0.01), previous)
        downlink = bool(rng.random() < 0.5) if out else False  # an INVITE goes first
        previous = gate.release(packed(UE), t, downlink)
        out.append((t, downlink, previous))
    return out


@pytest.mark.parametrize("seed", [96, 7, 11])
def test_releases_equal_the_simulators_radio_gate(seed: int, tmp_path: Path) -> None:
    """Every packet is carried when the simulator's radio gate carries it, to the ns."""
    case = scenario(seed)
    times = call_times(case)
    plan = RrcPlan.of(case, [UE], times.start_s.tolist(), rrc_output(tmp_path, "radio"))
    assert plan is not None
    gate = RrcLinkGate(plan)
    packets = traffic(gate, float(times.start_s[0]), np.random.default_rng(seed))
    assert gate.held > 0
    sim = RadioGate(case, times.start_s, times.end_s)
    up = [(t, r) for t, down, r in packets if not down]
    down = [(t, r) for t, down, r in packets if down]
    outcome = sim.cross(
        np.zeros(len(up), dtype=np.int64),
        np.array([t for t, _ in up]),
        np.ones(len(down), dtype=np.int64),
        np.array([t for t, _ in down]),
    )
    assert outcome.up_time_s == pytest.approx([r for _, r in up], abs=1e-9)
    assert outcome.down_time_s == pytest.approx([r for _, r in down], abs=1e-9)


def test_events_equal_the_simulators(tmp_path: Path) -> None:
    """State changes, time per state, energy and promotions of the call as the simulator's."""
    case = scenario()
    times = call_times(case)
    start, end = float(times.start_s[0]), float(times.end_s[0])
    plan = RrcPlan.of(case, [UE], [start], rrc_output(tmp_path, "radio"))
    assert plan is not None
    gate = RrcLinkGate(plan)
    talk = np.arange(start, end, 0.02)
    for t in talk:
        gate.release(packed(UE), float(t), False)
        gate.release(packed(UE), float(t) + 0.005, True)
    gate.write(end + 1.0)
    calls: list[tuple[float, str, int, dict[str, Any]]] = [
        (start, EventKind.CALL_START, 0, {}),
        (end, EventKind.CALL_END, 0, {}),
    ]
    emulated = rrc_events(case, tmp_path, [UE], calls)
    sim = RadioGate(case, times.start_s, times.end_s)
    sim.cross(np.zeros(talk.size, np.int64), talk, np.ones(talk.size, np.int64), talk + 0.005)
    expected = sim.finish()
    assert [e[1:3] for e in emulated] == [e[1:3] for e in expected]
    assert [e[0] for e in emulated] == pytest.approx([e[0] for e in expected], abs=1e-9)
    changes = [e[3] for e in emulated if e[1] == EventKind.RRC]
    assert changes == [e[3] for e in expected if e[1] == EventKind.RRC]
    assert changes[:2] == [
        {"from": "idle", "to": "promotion"},
        {"from": "promotion", "to": "connected"},
    ]
    mine, theirs = emulated[-1][3], expected[-1][3]
    assert mine["promotions"] == theirs["promotions"] == 1
    assert mine["energy_j"] == pytest.approx(theirs["energy_j"], rel=1e-9)
    for name, seconds in theirs["seconds_in_state"].items():
        assert mine["seconds_in_state"][name] == pytest.approx(seconds, abs=1e-9)


def test_first_packet_after_silence_pays_the_promotion(tmp_path: Path) -> None:
    """An uplink packet after 20 s of silence waits the promotion; one of no UE goes at once."""
    case = scenario()
    plan = RrcPlan.of(case, [UE], [20.0], rrc_output(tmp_path, "radio"))
    assert plan is not None
    gate = RrcLinkGate(plan)
    promotion = plan.model().promotion_delay_s
    assert gate.release(packed(UE), 20.0, False) == pytest.approx(20.0 + promotion)
    assert gate.release(packed(OTHER), 20.1, False) == 20.1
    assert gate.release(packed(UE), 20.1, True) == pytest.approx(20.0 + promotion)
    assert gate.release(packed(UE), 20.3, True) == 20.3  # connected


def test_a_packet_a_little_out_of_order_keeps_its_arrival(tmp_path: Path) -> None:
    """A packet stamped just before one already carried, the UE connected, goes at its time."""
    case = scenario()
    plan = RrcPlan.of(case, [UE], [0.0], rrc_output(tmp_path, "radio"))
    assert plan is not None
    gate = RrcLinkGate(plan)
    awake = gate.release(packed(UE), 1.0, False)
    assert gate.release(packed(UE), awake + 0.010, True) == awake + 0.010
    assert gate.release(packed(UE), awake + 0.009, False) == awake + 0.009


def test_each_ue_runs_on_its_first_calls_clock_with_the_simulators_offsets(
    tmp_path: Path,
) -> None:
    """Each UE's machine starts at its first call's scheduled start, with the DRX and paging
    offsets the simulator draws for that call; a UE's packet before then goes on at once."""
    case = scenario(seed=5, count=3)
    times = call_times(case)
    addresses = [UE, OTHER, UE]  # call 2 shares call 0's UE host
    plan = RrcPlan.of(case, addresses, times.start_s.tolist(), tmp_path / "x.json")
    assert plan is not None
    assert plan.ue_addresses == (UE, OTHER)
    config = plan.model()
    rng = component_rng(case.seed, "radio/rrc")
    drx = rng.uniform(0.0, config.long_drx_cycle_s, 3)
    paging = rng.uniform(0.0, config.paging_cycle_s, 3)
    for ue, call in ((0, 0), (1, 1)):
        assert plan.start_s[ue] == float(times.start_s[call])
        assert plan.drx_offset_s[ue] == drx[call]
        assert plan.paging_offset_s[ue] == paging[call]
    gate = RrcLinkGate(plan)
    before = plan.start_s[1] / 2.0
    assert gate.release(packed(OTHER), before, False) == before


def test_no_plan_without_rrc_or_without_ues(tmp_path: Path) -> None:
    """Without an RRC, or without UE addresses, the link has no RRC gate."""
    off = parse_scenario(
        SCENARIO.format(seed=1, count=1).replace(
            "{rrc: {initial_state: idle, uplink_sr_delay: 5ms}}", "{rrc: null}"
        ),
        "off.yaml",
    )
    assert RrcPlan.of(off, [UE], [0.0], tmp_path / "x.json") is None
    assert RrcPlan.of(scenario(), [], [], tmp_path / "x.json") is None


def test_state_seconds_count_each_state_over_the_span() -> None:
    """Time per state over a span cut out of a UE's changes."""
    idle, promotion, connected = RrcState.IDLE, RrcState.PROMOTION, RrcState.CONNECTED
    seconds = state_seconds(idle, [10.0, 10.26, 20.0], [promotion, connected, idle], 5.0, 25.0)
    assert seconds[idle] == pytest.approx(10.0)
    assert seconds[promotion] == pytest.approx(0.26)
    assert seconds[connected] == pytest.approx(9.74)
    assert sum(seconds) == pytest.approx(20.0)


def test_calls_on_one_host_share_its_ue() -> None:
    """Calls on one UE address are one UE, numbered by first call."""
    assert ue_of_calls([OTHER, UE, OTHER]) == ((OTHER, UE), [0, 1, 0])


PHONES = """
name: rrc-link-phones
seed: 31
duration: 60s
calls: {count: 1, hold_time: 5s, codec: PCMU}
signalling:
  transport: udp
  phones: {count: 2, keepalive: 15s, incoming_calls_per_hour: 60}
path: [{name: radio, one_way_delay: 10ms}]
radio: {rrc: {initial_state: connected}}
"""
PHONE_ADDRESSES = ("100.64.0.11", "100.64.0.12")


def test_phones_run_machines_of_their_own_idle_at_t0_with_the_simulators_draws(
    tmp_path: Path,
) -> None:
    """Each phone's machine starts IDLE at t0 (whatever the calls' initial state) with the
    offsets the simulator draws for it; its energy and promotions are the simulator's
    machine's for the same packets."""
    case = parse_scenario(PHONES, "rrc-link-phones.yaml")
    plan = RrcPlan.of(case, [UE], [0.0], tmp_path / "x.json", PHONE_ADDRESSES)
    assert plan is not None
    assert plan.phone_addresses == PHONE_ADDRESSES
    draws = phone_radios(case)
    assert draws is not None
    assert plan.phone_drx_offset_s == tuple(draws.drx_offset_s.tolist())
    assert plan.phone_paging_offset_s == tuple(draws.paging_offset_s.tolist())
    assert plan.model().initial_state is RrcState.CONNECTED
    assert plan.phone_model().initial_state is RrcState.IDLE
    gate = RrcLinkGate(plan)
    reference = phone_machines(case)
    assert reference is not None
    rng = np.random.default_rng(4)
    packets = sorted(
        (float(t), int(p), bool(d))
        for t, p, d in zip(
            rng.uniform(1.0, 55.0, 40), rng.integers(0, 2, 40), rng.random(40) < 0.5, strict=True
        )
    )
    for at, phone, downlink in packets:
        released = gate.release(packed(PHONE_ADDRESSES[phone]), at, downlink)
        assert released == reference.release(phone, at, downlink)
    assert gate.held > 0  # an IDLE machine holds the first packet at least
    figures = gate.finish(60.0)["phones"]
    usage = reference.usage(case.duration_s)
    assert figures["addresses"] == list(PHONE_ADDRESSES)
    assert figures["energy_j"] == usage.energy_j.tolist()
    assert figures["promotions"] == usage.promotions.tolist()
    assert min(figures["promotions"]) >= 1


def test_phone_events_take_the_radio_links_figures(tmp_path: Path) -> None:
    """``with_phone_radio`` puts each phone's energy and promotions from the link's record
    into its ``phone`` event and leaves other events alone."""
    case = parse_scenario(PHONES, "rrc-link-phones.yaml")
    plan = RrcPlan.of(case, [UE], [0.0], rrc_output(tmp_path, "radio"), PHONE_ADDRESSES)
    assert plan is not None
    gate = RrcLinkGate(plan)
    gate.release(packed(PHONE_ADDRESSES[1]), 3.0, False)
    gate.write(60.0)
    events: list[tuple[float, str, int, dict[str, Any]]] = [
        (60.0, EventKind.PHONE, phone, {"keepalives": 1, "energy_j": float("nan"), "promotions": 0})
        for phone in (0, 1)
    ]
    events.append((1.0, EventKind.CALL_START, 0, {}))
    out = with_phone_radio(case, tmp_path, events)
    assert out[0][3]["promotions"] == 0 and out[1][3]["promotions"] == 1
    assert 0.0 < out[0][3]["energy_j"] < out[1][3]["energy_j"]
    assert out[1][3]["keepalives"] == 1 and out[2] == events[2]
