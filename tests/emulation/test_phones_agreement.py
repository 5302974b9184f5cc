"""Sim and emulation agree on which calls to idle phones behind a NAT fail, and on what
the phones' radio spends.

Four phones behind a NAT whose UDP bindings live 20 s are called about every 15 s each.
With keep-alives every 15 s every binding stays and every call is answered; with
keep-alives every 60 s a binding lapses for 40 s of each 60, and a call that comes then is
lost at the NAT, unless the phone's next keep-alive reopens the binding before the core
gives up (Timer B, 64*T1 = 6.4 s: a retransmitted INVITE then gets through). Kamailio
retransmits and gives up (408) on the scenario's T1 as the simulator's core does. Both
engines run the same plan (``models.phone_schedule``); the test checks from that plan that
the outcomes do not change if every binding lived ``MARGIN_S`` shorter or longer, so that
milliseconds of path or process delay decide no call. Calls from ``duration - 64*T1 - 1 s``
on may end after the run and are left out of the comparison.

With keep-alives every 15 s the phones' radios run the RRC model (its keep-alive interval
is longer than the 11.6 s inactivity timer, so each keep-alive after a quiet spell wakes
the radio); with keep-alives every 60 s there is no RRC, so that no promotion delay moves a
refresh relative to the plan.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.emulation.conftest import require
from voipbed.emulation.phone_logs import read_lines
from voipbed.loader import parse_scenario
from voipbed.models.phone_schedule import phone_schedule
from voipbed.rng import component_rng
from voipbed.runner import run_scenario
from voipbed.scenario import Scenario

pytestmark = [pytest.mark.emulation, pytest.mark.slow]

SCENARIO = """
name: phones-nat-{keepalive}
seed: 48
duration: 70s
calls: {{count: 1, hold_time: 5s, codec: PCMU}}
signalling:
  transport: udp
  timers: {{t1: 100ms}}
  nat: {{udp_timeout: 20s}}
  phones:
    count: 4
    keepalive: {keepalive}s
    registration_expires: {expires}s
    incoming_calls_per_hour: 240
path:
  - {{name: radio, one_way_delay: 10ms}}
  - {{name: core, one_way_delay: 5ms}}
radio: {{rrc: {rrc}}}
"""
CASES = {  # keep-alive s, registration expiry s, radio.rrc
    "below": (15, 30, "{}"),
    "above": (60, 3600, "null"),
}
MARGIN_S = 1.0  # no call this close to a binding's expiry decides its outcome
REFRESH_FRACTION = 0.9  # models.sip_registration: refresh at 90 % of the granted expiry
QUIET_MARGIN_S = 3.0  # past the inactivity timer: a call's last messages come after its INVITE


def scenario_of(case: str) -> Scenario:
    """The scenario of ``case`` (keep-alive below or above the NAT's timeout)."""
    keepalive, expires, rrc = CASES[case]
    text = SCENARIO.format(keepalive=keepalive, expires=expires, rrc=rrc)
    return parse_scenario(text, f"phones-{case}.yaml")


def retransmissions_s(scenario: Scenario) -> list[float]:
    """When the core sends an INVITE again after the first: Timer A from T1, doubling, until
    Timer B (64*T1; RFC 3261 17.1.1.2)."""
    t1 = scenario.signalling.timers.t1_s
    offsets, interval = [], t1
    while (offsets[-1] if offsets else 0.0) + interval < 64 * t1:
        offsets.append((offsets[-1] if offsets else 0.0) + interval)
        interval *= 2
    return offsets


def predicted(
    scenario: Scenario, slack_s: float = 0.0, *, last_retransmission: bool = True
) -> tuple[set[tuple[int, int]], list[int]]:
    """From the plan alone: the calls that fail, and each phone's registrations, when every
    binding lives ``slack_s`` longer than the NAT's timeout. A call that meets an expired
    binding is answered by the first INVITE retransmission after the phone's next refresh,
    if one comes before Timer B (without ``last_retransmission``, the one just before it:
    Kamailio's timer ticks may let Timer B fire first)."""
    phones, nat = scenario.signalling.phones, scenario.signalling.nat
    assert phones is not None and nat is not None and phones.keepalive_s is not None
    duration = scenario.duration_s
    schedule = phone_schedule(
        component_rng(scenario.seed, "phones/schedule"),
        phones.count,
        duration,
        phones.incoming_calls_per_hour,
    )
    again = retransmissions_s(scenario)
    again = again if last_retransmission else again[:-1]
    refresh_s = REFRESH_FRACTION * phones.registration_expires_s
    failed: set[tuple[int, int]] = set()
    registrations = []
    for phone, (first, calls) in enumerate(
        zip(schedule.register_s, schedule.incoming_s, strict=True)
    ):
        registered = [first + n * refresh_s for n in range(int(duration / refresh_s) + 1)]
        registered = [at for at in registered if at < duration]
        registrations.append(len(registered))
        pings = [first + k * phones.keepalive_s for k in range(1, int(duration) + 1)]
        refreshes = sorted(registered + [at for at in pings if at < duration])
        for k, at in enumerate(calls):
            last = max(r for r in refreshes if r <= at)
            if at - last <= nat.udp_timeout_s + slack_s:
                refreshes = sorted([*refreshes, at])  # the phone's answer refreshes it
                continue
            upcoming = [r for r in refreshes if r > at]
            late = [at + o for o in again if upcoming and at + o + slack_s >= upcoming[0]]
            if late:
                refreshes = sorted([*refreshes, late[0]])
            else:
                failed.add((phone, k))
    return failed, registrations


def compared_calls(scenario: Scenario) -> float:
    """Calls sent before this instant end in both engines before the run does."""
    return scenario.duration_s - 64 * scenario.signalling.timers.t1_s - 1.0


def calls_of(run_dir: Path, before_s: float) -> dict[tuple[int, int], str]:
    """(phone, call) -> outcome of the incoming calls sent before ``before_s``."""
    events = pd.read_parquet(run_dir / "events.parquet")
    calls = events[events["kind"] == "incoming_call"]
    outcomes = {}
    for row in calls.itertuples():
        fields: dict[str, Any] = json.loads(row.fields)
        if row.time_s < before_s:
            outcomes[(int(row.call), int(fields["call"]))] = str(fields["outcome"])
    return outcomes


def phone_fields(run_dir: Path) -> dict[int, dict[str, Any]]:
    """Each phone's ``phone`` event fields."""
    events = pd.read_parquet(run_dir / "events.parquet")
    phones = events[events["kind"] == "phone"]
    return {int(row.call): json.loads(row.fields) for row in phones.itertuples()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """Each case run in the simulator and in the emulation: (sim run, emulation run)."""
    require("mnexec", "ethtool", "kamailio", "baresip", "espeak-ng", "sox", "nft")
    out = tmp_path_factory.mktemp("phones")
    done = {}
    for case in CASES:
        scenario = scenario_of(case)
        sim = run_scenario(scenario, out / case / "sim").run_dir
        emulated = run_scenario(scenario, out / case / "emu", engine="emulation").run_dir
        done[case] = (sim, emulated)
    return done


@pytest.mark.parametrize("case", list(CASES))
def test_plan_keeps_calls_clear_of_expiries(case: str) -> None:
    """The plan's failures and registrations stay the same with bindings living MARGIN_S
    shorter or longer: no call is decided by a few milliseconds of delay."""
    scenario = scenario_of(case)
    assert predicted(scenario, -MARGIN_S) == predicted(scenario) == predicted(scenario, MARGIN_S)
    assert predicted(scenario, last_retransmission=False) == predicted(scenario)


def failed_calls(run_dir: Path, scenario: Scenario) -> tuple[set[tuple[int, int]], int]:
    """The (phone, call) pairs that failed among the compared calls, and how many there are."""
    calls = calls_of(run_dir, compared_calls(scenario))
    return {pair for pair, outcome in calls.items() if outcome != "answered"}, len(calls)


@pytest.mark.parametrize("case", list(CASES))
def test_emulation_fails_the_calls_the_plan_predicts(
    case: str, runs: dict[str, tuple[Path, Path]]
) -> None:
    """The emulation's failed calls are those that meet an expired binding; none below."""
    scenario = scenario_of(case)
    failed, count = failed_calls(runs[case][1], scenario)
    before = compared_calls(scenario)
    expected, _ = predicted(scenario)
    expected = {pair for pair in expected if pair in calls_of(runs[case][0], before)}
    print(f"\n{case}: {count} calls; failed in the emulation {sorted(failed)}")
    assert failed == expected
    assert bool(failed) == (case == "above")


@pytest.mark.parametrize("case", list(CASES))
def test_failed_calls_agree(case: str, runs: dict[str, tuple[Path, Path]]) -> None:
    """The same (phone, call) pairs fail in both engines."""
    scenario = scenario_of(case)
    sim_run, emulated_run = runs[case]
    failed_sim, sim_count = failed_calls(sim_run, scenario)
    failed_emulated, emulated_count = failed_calls(emulated_run, scenario)
    print(f"\n{case}: failed sim {sorted(failed_sim)}, emulation {sorted(failed_emulated)}")
    assert sim_count == emulated_count
    assert failed_sim == failed_emulated


def test_registration_refreshes_in_the_emulation(runs: dict[str, tuple[Path, Path]]) -> None:
    """With a 30 s expiry each phone re-registers at 27 s intervals, as in the simulator."""
    _, registrations = predicted(scenario_of("below"))
    sim_run, emulated_run = runs["below"]
    sim, emulated = phone_fields(sim_run), phone_fields(emulated_run)
    counts = [emulated[phone]["registrations"] for phone in range(len(registrations))]
    assert counts == registrations
    assert counts == [sim[phone]["registrations"] for phone in range(len(registrations))]
    assert max(counts) > 1
    assert all(emulated[phone]["registrations_failed"] == 0 for phone in emulated)
    assert sum(emulated[phone]["keepalives"] for phone in emulated) > 0
    assert all(emulated[phone]["keepalives_failed"] == 0 for phone in emulated)


def test_dropped_calls_are_counted_at_the_nat(runs: dict[str, tuple[Path, Path]]) -> None:
    """The NAT counts at least one dropped INVITE per failed call, and none without keep-alive
    gaps."""
    for case, least in (("below", 0), ("above", 1)):
        fields = phone_fields(runs[case][1])
        drops = [figures["nat_drops"] for figures in fields.values()]
        failed = [f["incoming_calls"] - f["incoming_answered"] for f in fields.values()]
        assert all(d >= f for d, f in zip(drops, failed, strict=True)), case
        assert (sum(drops) >= least) and (least or sum(drops) == 0), case


def test_the_phones_radios_spend_the_same_in_both_engines(
    runs: dict[str, tuple[Path, Path]],
) -> None:
    """Each phone's radio makes the same promotions in both engines and spends the same
    energy within 1 %: the radio link runs each phone's RRC machine on its real packets."""
    sim_run, emulated_run = runs["below"]
    sim, emulated = phone_fields(sim_run), phone_fields(emulated_run)
    for phone, figures in sim.items():
        print(
            f"\nphone {phone}: sim {figures['promotions']} promotions "
            f"{figures['energy_j']:.2f} J, emulation {emulated[phone]['promotions']} "
            f"{emulated[phone]['energy_j']:.2f} J"
        )
        assert emulated[phone]["promotions"] == figures["promotions"] >= 1
        assert emulated[phone]["energy_j"] == pytest.approx(figures["energy_j"], rel=0.01)


def test_an_idle_phones_registration_and_keepalive_wait_for_the_promotion(
    runs: dict[str, tuple[Path, Path]],
) -> None:
    """In the emulation each phone's first REGISTER (its radio IDLE since the start) takes
    the promotion delay more than the path's round trip, and so does a keep-alive sent
    after a quiet spell longer than the inactivity timer."""
    scenario = scenario_of("below")
    rrc = scenario.radio.rrc
    assert rrc is not None
    config = rrc.to_model()
    round_trip_s = 2 * sum(segment.one_way_delay_s for segment in scenario.path)
    records = read_lines((runs["below"][1] / "emulation" / "phones.jsonl").read_text())
    waits: dict[str, list[float]] = {"register": [], "ping": []}
    first_sent: dict[int, float] = {}
    last_seen: dict[int, float] = {}  # when each phone last received
    for record in records:
        what, phone, at = record.get("what"), record.get("phone"), record.get("t")
        if not isinstance(phone, int) or not isinstance(at, float):
            continue
        if what == "register":
            first_sent.setdefault(phone, at)
        elif what == "registered" and phone not in last_seen:  # its first registration
            waits["register"].append(at - first_sent[phone])
        elif what == "pong":
            sent = float(record["sent_s"])
            if sent - last_seen.get(phone, 0.0) > config.rrc_inactivity_s + QUIET_MARGIN_S:
                waits["ping"].append(at - sent)
        if what not in ("ping", "register"):
            last_seen[phone] = at
    print(f"\nwaits after idle: {waits}")
    for kind, seconds in waits.items():
        assert seconds, kind
        assert min(seconds) >= config.promotion_delay_s + round_trip_s - 0.005, kind
