"""Inter-arrival grouping (draft-ietf-rmcat-gcc-02 section 5.2)."""

from __future__ import annotations

import pytest

from voipbed.models.gcc_arrival import GroupDelta, InterArrival


def test_packets_sent_within_5ms_form_one_group() -> None:
    """Packets sent within 5 ms of a group's first one join it; the next one starts a group."""
    arrival = InterArrival()
    assert arrival.add(0.000, 0.050, 100) is None
    assert arrival.add(0.004, 0.054, 100) is None  # same group: 4 ms after its first send
    assert arrival.add(0.010, 0.060, 100) is None  # group 2 starts; group 1 has no predecessor
    assert arrival.add(0.011, 0.061, 100) is None  # joins group 2
    delta = arrival.add(0.020, 0.075, 300)  # group 3 starts: deltas of groups 2 and 1
    assert delta is not None
    assert delta.send_delta_s == pytest.approx(0.011 - 0.004)
    assert delta.arrival_delta_s == pytest.approx(0.061 - 0.054)
    assert delta.size_delta_bytes == 0


def test_delta_carries_the_delay_variation_of_the_later_group() -> None:
    """d(i) is the arrival spacing minus the send spacing of consecutive groups."""
    arrival = InterArrival()
    sends = [0.0, 0.010, 0.020, 0.030]
    arrivals = [0.050, 0.062, 0.075, 0.090]  # the queue grows 2, 3, 5 ms per group
    deltas = [arrival.add(s, a, 200) for s, a in zip(sends, arrivals, strict=True)]
    assert deltas[:2] == [None, None]
    assert isinstance(deltas[2], GroupDelta)
    assert deltas[2].delay_variation_s == pytest.approx(0.002)
    assert deltas[2].arrival_s == pytest.approx(0.062)
    assert isinstance(deltas[3], GroupDelta)
    assert deltas[3].delay_variation_s == pytest.approx(0.003)


def test_group_length_is_configurable() -> None:
    """With a 20 ms group length, packets 8 ms apart come in groups of three."""
    arrival = InterArrival(group_length_s=0.020)
    results = [arrival.add(0.008 * i, 0.050 + 0.008 * i, 100) for i in range(8)]
    produced = [r for r in results if r is not None]
    assert len(produced) == 1  # groups start at 0, 24 and 48 ms: one pair completes
    assert produced[0].send_delta_s == pytest.approx(0.040 - 0.016)
    assert produced[0].size_delta_bytes == 0


def test_burst_arriving_back_to_back_joins_the_group() -> None:
    """A packet arriving within 5 ms and ahead of its send spacing joins the group."""
    arrival = InterArrival()
    arrival.add(0.000, 0.100, 100)
    arrival.add(0.030, 0.101, 100)  # sent 30 ms later, delivered 1 ms later: a burst
    arrival.add(0.060, 0.102, 100)
    assert arrival.add(0.200, 0.250, 100) is None  # only one group has completed so far
    delta = arrival.add(0.400, 0.450, 100)
    assert delta is not None
    assert delta.size_delta_bytes == 100 - 300  # the burst group held three packets


def test_reordered_packet_is_ignored() -> None:
    """A packet sent before the current group's first packet changes nothing."""
    arrival = InterArrival()
    arrival.add(0.000, 0.050, 100)
    arrival.add(0.010, 0.060, 100)
    assert arrival.add(0.005, 0.065, 5000) is None
    delta = arrival.add(0.020, 0.070, 100)
    assert delta is not None
    assert delta.size_delta_bytes == 0


def test_invalid_group_length_raises() -> None:
    """A group length of zero is refused."""
    with pytest.raises(ValueError, match="positive"):
        InterArrival(group_length_s=0.0)
