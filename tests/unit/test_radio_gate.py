"""The link's per-packet handover gate decides as the simulator's batch gate does."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from voipbed.emulation.radio_gate import HandoverGate, HandoverPlan
from voipbed.models import handover as ho
from voipbed.scenario_radio import Handovers

UES = ("10.0.0.11", "10.0.0.12")


def gate_for(section: Handovers, schedule: ho.HandoverSchedule) -> HandoverGate:
    return HandoverGate(HandoverPlan.of(schedule, section, UES))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.floats(0.0, 2.0), st.sampled_from(list(ho.KINDS))),
        min_size=1,
        max_size=4,
    ),
    st.lists(st.tuples(st.integers(0, 1), st.floats(0.0, 3.0), st.booleans()), max_size=40),
    st.booleans(),
)
def test_per_packet_gate_equals_the_batch_gate(
    handovers: list[tuple[int, float, ho.HandoverKind]],
    packets: list[tuple[int, float, bool]],
    forwarding: bool,
) -> None:
    """Each packet alone gets the fate the batch gate gives it among all the others."""
    section = Handovers.model_validate({"x2": {"forwarding": forwarding}})
    schedule = ho.HandoverSchedule.from_handovers(ho.Handover(*h) for h in handovers)
    gate = gate_for(section, schedule)
    packets.sort(key=lambda p: (p[0], p[1]))
    ue = np.array([p[0] for p in packets], dtype=np.int64)
    batch = ho.apply_handovers(
        ue,
        np.array([p[1] for p in packets]),
        np.array([p[2] for p in packets]),
        schedule,
        section.configs(),
    )
    for k, (u, time_s, down) in enumerate(packets):
        decision = gate.decide(UES[u], time_s, down)
        assert decision.lost == batch.lost[k]
        if not decision.lost:
            assert decision.release_s == batch.release_s[k]


def test_x2_holds_an_uplink_packet_to_the_end_of_the_interruption() -> None:
    """A packet inside an X2 interruption leaves at its end; others pass untouched."""
    section = Handovers()
    schedule = ho.HandoverSchedule.from_arrays([0], [1.0], ["x2"])
    gate = gate_for(section, schedule)
    end = 1.0 + section.configs().x2.interruption_s
    assert gate.decide(UES[0], 1.01, False).release_s == end
    assert gate.decide(UES[0], 0.99, False) == (0.99, False)
    assert gate.decide(UES[1], 1.01, False) == (1.01, False)  # another UE
    assert gate.decide("10.0.0.99", 1.01, False) == (1.01, False)  # not a UE of the run


def test_a_vertical_handover_loses_media_until_recovery() -> None:
    """Wi-Fi to LTE: lost through the interruption and the re-INVITE, fine after."""
    section = Handovers()
    schedule = ho.HandoverSchedule.from_arrays([1], [2.0], ["wifi_to_lte"])
    gate = gate_for(section, schedule)
    (media_end,) = ho.handover_intervals(schedule, section.configs()).media_end_s
    lost = gate.decide(UES[1], media_end - 0.001, True)
    assert lost.lost and math.isnan(lost.release_s)
    assert gate.decide(UES[1], media_end, True) == (media_end, False)
