"""The userspace link's per-direction chain decides the same fates as the simulator's segment."""

from __future__ import annotations

import ipaddress
import itertools
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voipbed.emulation.link import (
    DirectionChain,
    LinkSpec,
    UnsupportedSegment,
    link_argv,
)
from voipbed.models.delay import DelayStage, JitterSpec
from voipbed.models.link import TraceLink
from voipbed.scenario import Segment
from voipbed.sim.path import DirectionPackets, PathWalk, SegmentLink
from voipbed.trace import DROP_REASONS

RADIO: dict[str, Any] = {
    "name": "radio",
    "uplink_trace": "TMobile-UMTS-driving.up",
    "downlink_trace": "TMobile-UMTS-driving.down",
    "queue": {"packets": 20},
    "harq": {"bler": "30%", "max_transmissions": 2, "rtt": "8ms"},
    "loss": {"model": "gilbert_elliott", "p": "5%", "r": "40%", "good_loss": "1%"},
    "one_way_delay": "10ms",
    "jitter": {"distribution": "exponential", "scale": "3ms"},
}

segments = st.sampled_from(
    [
        RADIO,
        {
            **RADIO,
            "queue": {"bytes": "3KiB"},
            "jitter": {"distribution": "uniform", "scale": "9ms"},
        },
        {**RADIO, "jitter": {"distribution": "half_normal", "scale": "5ms", "reorder": True}},
        {
            "name": "core",
            "capacity": "2Mbps",
            "queue": {"packets": 5},
            "loss": "10%",
            "one_way_delay": "20ms",
        },
        {
            "name": "air",
            "harq": {},
            "loss": "3%",
            "jitter": {"distribution": "uniform", "scale": "40ms"},
        },
        {"name": "wire", "one_way_delay": "1ms"},
    ]
)

packets = st.lists(
    st.tuples(st.floats(0.0, 0.004), st.integers(40, 1500), st.integers(0, 4)),
    min_size=1,
    max_size=300,
)


def _sim_fates(
    segment: Segment,
    direction: str,
    seed: int,
    arrive: np.ndarray,
    size: np.ndarray,
    flow: np.ndarray,
) -> tuple[np.ndarray, list[str | None]]:
    """The simulator's batch path over one segment: receive times and drop reasons."""
    n = arrive.size
    walk = PathWalk(
        DirectionPackets(
            arrive, flow, size, np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.bool_)
        )
    )
    walk.cross([SegmentLink(segment, direction, seed, run_end_s=float(arrive[-1]) + 1.0)], 0)
    result = walk.result()
    reasons = [None if code < 0 else DROP_REASONS[code] for code in result.drop_reason]
    return result.recv_s, reasons


def _columns(rows: list[tuple[float, int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arrive = np.cumsum([row[0] for row in rows])
    size = np.array([row[1] for row in rows], dtype=np.int64)
    flow = np.array([row[2] for row in rows], dtype=np.int64)
    return arrive, size, flow


def _frame(flow: int, size: int) -> bytes:
    """An Ethernet frame holding an IPv4/UDP packet of ``size`` bytes of flow ``flow``."""
    src = ipaddress.IPv4Address("10.0.0.1").packed
    dst = ipaddress.IPv4Address("10.0.1.1").packed
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, size, 0, 0, 64, 17, 0, src, dst)
    datagram = struct.pack("!HHHH", 5000 + flow, 6000, size - 20, 0) + bytes(size - 28)
    return bytes(12) + b"\x08\x00" + header + datagram


@settings(max_examples=60, deadline=None)
@given(
    config=segments,
    rows=packets,
    seed=st.integers(0, 2**32 - 1),
    direction=st.sampled_from(["uplink", "downlink"]),
)
def test_one_packet_at_a_time_matches_simulator(
    config: dict[str, Any], rows: list[tuple[float, int, int]], seed: int, direction: str
) -> None:
    """Frames admitted one by one leave when, or are lost where, the simulator says."""
    segment = Segment.model_validate(config)
    arrive, size, flow = _columns(rows)
    expected_s, expected_reason = _sim_fates(segment, direction, seed, arrive, size, flow)
    chain = DirectionChain(segment, direction, seed)
    fates = [
        chain.admit(float(a), _frame(int(f), int(b)))
        for a, b, f in zip(arrive, size, flow, strict=True)
    ]
    assert [fate.reason for fate in fates] == expected_reason
    np.testing.assert_allclose([fate.depart_s for fate in fates], expected_s, rtol=0, atol=1e-9)
    assert len(chain.flows) == np.unique(flow).size


@settings(max_examples=60, deadline=None)
@given(
    config=segments,
    rows=packets,
    seed=st.integers(0, 2**32 - 1),
    cuts=st.lists(st.integers(0, 300), max_size=6),
)
def test_batches_of_any_size_match_simulator(
    config: dict[str, Any], rows: list[tuple[float, int, int]], seed: int, cuts: list[int]
) -> None:
    """Packets handed over in batches of any sizes get the simulator's fates."""
    segment = Segment.model_validate(config)
    arrive, size, flow = _columns(rows)
    expected_s, expected_reason = _sim_fates(segment, "uplink", seed, arrive, size, flow)
    chain = DirectionChain(segment, "uplink", seed)
    bounds = [0, *sorted(min(cut, arrive.size) for cut in cuts), arrive.size]
    depart: list[float] = []
    reason: list[str | None] = []
    for lo, hi in itertools.pairwise(bounds):
        fates = chain.process(arrive[lo:hi], size[lo:hi], flow[lo:hi])
        depart.extend(fates.depart_s.tolist())
        reason.extend(None if code < 0 else DROP_REASONS[code] for code in fates.reason)
    assert reason == expected_reason
    np.testing.assert_allclose(depart, expected_s, rtol=0, atol=1e-9)


def test_overloaded_trace_link_queues_and_drops() -> None:
    """At 4 Mbit/s into a ~1 Mbit/s trace, packets leave at opportunities, in order; some drop."""
    segment = Segment.model_validate({**RADIO, "harq": None, "loss": "0%", "jitter": {}})
    chain = DirectionChain(segment, "uplink", 1)
    assert isinstance(chain.link, TraceLink)
    opportunities_ms = set(chain.link.schedule.times_ms.tolist())
    arrive = np.arange(500) * 0.002
    fates = chain.process(arrive, np.full(500, 1000, dtype=np.int64), np.zeros(500, np.int64))
    delivered = fates.reason < 0
    assert 0 < (~delivered).sum() < 500
    assert set(fates.reason[~delivered].tolist()) == {DROP_REASONS.index("queue")}
    served_ms = np.round((fates.depart_s[delivered] - 0.010) * 1000).astype(int)
    assert set(served_ms.tolist()) <= opportunities_ms
    assert np.all(served_ms >= arrive[delivered] * 1000)
    assert np.all(np.diff(served_ms) >= 0)


@pytest.mark.parametrize(
    ("extra", "feature"),
    [
        ({"queue": {"aqm": "codel"}}, "AQM codel"),
        ({"queue": {"aqm": "pie"}}, "AQM pie"),
        ({"queue": {"scheduling": "strict"}}, "DSCP scheduling strict"),
        ({"cross_traffic": [{"kind": "cbr", "rate": "1Mbps"}]}, "cross traffic"),
    ],
)
def test_batch_only_queues_are_refused_by_name(extra: dict[str, Any], feature: str) -> None:
    """AQM, DSCP scheduling and cross traffic raise an error naming the segment and feature."""
    segment = Segment.model_validate({"name": "backhaul", "capacity": "10Mbps", **extra})
    with pytest.raises(UnsupportedSegment, match=f"'backhaul'.*{feature}"):
        DirectionChain(segment, "uplink", 1)


def test_cross_traffic_of_the_other_direction_is_fine() -> None:
    """Cross traffic that only loads the downlink leaves the uplink chain buildable."""
    segment = Segment.model_validate(
        {
            "name": "backhaul",
            "capacity": "10Mbps",
            "cross_traffic": [{"kind": "cbr", "rate": "1Mbps", "direction": "downlink"}],
        }
    )
    assert DirectionChain(segment, "uplink", 1).link is not None
    with pytest.raises(UnsupportedSegment, match="cross traffic"):
        DirectionChain(segment, "downlink", 1)


def test_admit_refuses_non_ip_frames() -> None:
    """An ARP frame has no fate to decide."""
    chain = DirectionChain(Segment.model_validate({"name": "wire"}), "uplink", 1)
    with pytest.raises(ValueError, match="no IP packet"):
        chain.admit(0.0, bytes(12) + b"\x08\x06" + bytes(28))


@settings(max_examples=100, deadline=None)
@given(
    gaps=st.lists(st.floats(0.0, 0.05), max_size=100),
    distribution=st.sampled_from(["none", "uniform", "exponential", "half_normal"]),
    reorder=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_delay_leave_matches_process(
    gaps: list[float], distribution: str, reorder: bool, seed: int
) -> None:
    """The delay stage's one-packet path equals its batch path on the same stream."""
    spec = JitterSpec(distribution, 0.0 if distribution == "none" else 0.02, reorder)
    arrive = np.cumsum(gaps)
    flow = np.arange(arrive.size, dtype=np.int64) % 3
    batch = DelayStage(0.005, spec, np.random.default_rng(seed)).process(arrive, flow)
    single = DelayStage(0.005, spec, np.random.default_rng(seed))
    one_by_one = [single.leave(float(a), int(f)) for a, f in zip(arrive, flow, strict=True)]
    np.testing.assert_array_equal(batch, one_by_one)


def test_spec_round_trips_the_segment() -> None:
    """A spec written to JSON gives back the same validated segment, traces resolved."""
    segment = Segment.model_validate(RADIO)
    spec = LinkSpec.for_segment(
        segment, iface_a="l1-eth0", iface_b="l1-eth1", seed=7, t0=12.5, output="/tmp/x.parquet"
    )
    again = LinkSpec.model_validate_json(spec.model_dump_json())
    assert again.validated_segment() == segment
    assert (again.a_to_b, again.b_to_a) == ("uplink", "downlink")
    argv = link_argv("/tmp/spec.json", python="/venv/bin/python")
    assert argv == ["/venv/bin/python", "-m", "voipbed.emulation.link", "--spec", "/tmp/spec.json"]


def test_spec_rejects_unknown_keys() -> None:
    """A misspelt spec key is an error, not ignored."""
    with pytest.raises(ValueError, match="iface_c"):
        LinkSpec.model_validate(
            {
                "iface_a": "a",
                "iface_b": "b",
                "iface_c": "c",
                "segment": {},
                "seed": 1,
                "t0": 0.0,
                "output": "x",
            }
        )
