"""The userspace link's per-direction chain decides the same fates as the simulator's segment."""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import math
import socket
import struct
import time
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voipbed.cross_traffic import unresponsive_arrivals
from voipbed.emulation.frames import ipv4_checksum, parse_frame
from voipbed.emulation.link import Forwarder, LinkSpec, _Port, link_argv
from voipbed.emulation.link_chain import DirectionChain, Release
from voipbed.models.delay import DelayStage, JitterSpec
from voipbed.models.link import TraceLink
from voipbed.models.overhead import Overhead
from voipbed.rng import component_rng
from voipbed.scenario import CrossTraffic, Segment
from voipbed.sim.path import DirectionPackets, carry
from voipbed.sim.segment_link import SegmentLink
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
            "name": "core",
            "capacity_steps": [
                {"at": "0s", "capacity": "2Mbps"},
                {"at": "150ms", "capacity": "300kbps"},
                {"at": "400ms", "capacity": "5Mbps"},
            ],
            "queue": {"packets": 8},
            "loss": "5%",
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
    result = carry(
        DirectionPackets(
            arrive, flow, size, np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.bool_)
        ),
        [SegmentLink(segment, direction, seed, run_end_s=float(arrive[-1]) + 1.0)],
    )
    reasons = [None if code < 0 else DROP_REASONS[code] for code in result.drop_reason]
    return result.recv_s, reasons


def _columns(rows: list[tuple[float, int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arrive = np.cumsum([row[0] for row in rows])
    size = np.array([row[1] for row in rows], dtype=np.int64)
    flow = np.array([row[2] for row in rows], dtype=np.int64)
    return arrive, size, flow


def _frame(flow: int, size: int, dscp: int = 0, ecn: int = 0) -> bytes:
    """An Ethernet frame holding an IPv4/UDP packet of ``size`` bytes of flow ``flow``."""
    src = ipaddress.IPv4Address("10.0.0.1").packed
    dst = ipaddress.IPv4Address("10.0.1.1").packed
    tos = dscp << 2 | ecn
    header = struct.pack("!BBHHHBBH4s4s", 0x45, tos, size, 0, 0, 64, 17, 0, src, dst)
    header = header[:10] + ipv4_checksum(header).to_bytes(2, "big") + header[12:]
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
    assert isinstance(chain.stages.link, TraceLink)
    opportunities_ms = set(chain.stages.link.schedule.times_ms.tolist())
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
    "extra",
    [
        {"queue": {"aqm": "codel"}},
        {"queue": {"aqm": "pie"}},
        {"queue": {"scheduling": "strict"}},
        {"queue": {"scheduling": "weighted"}},
        {"cross_traffic": [{"kind": "cbr", "rate": "1Mbps"}]},
        {"cross_traffic": [{"kind": "bulk"}]},
    ],
)
def test_aqm_scheduling_and_cross_traffic_queue_as_time_passes(extra: dict[str, Any]) -> None:
    """AQM, DSCP scheduling and cbr or bulk cross traffic give a chain that decides later."""
    segment = Segment.model_validate({"name": "backhaul", "capacity": "10Mbps", **extra})
    chain = DirectionChain(segment, "uplink", 1, run_end_s=10.0)
    assert chain.queued and chain.stages.link is None
    with pytest.raises(TypeError, match="offer and release"):
        chain.decide(0.0, 100, 0)


def test_cross_traffic_of_the_other_direction_is_fine() -> None:
    """Cross traffic that only loads the downlink leaves the uplink a drop-tail link."""
    segment = Segment.model_validate(
        {
            "name": "backhaul",
            "capacity": "10Mbps",
            "cross_traffic": [{"kind": "bulk", "direction": "downlink"}],
        }
    )
    uplink = DirectionChain(segment, "uplink", 1)
    assert uplink.stages.link is not None and not uplink.queued
    assert DirectionChain(segment, "downlink", 1).queued


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


# ---- queues that decide as time passes: AQM, DSCP scheduling, cross traffic ---------------

CBR = {"kind": "cbr", "rate": "400kbps", "packet_size": "1000B", "count": 2}
ONOFF = {"kind": "onoff", "rate": "1Mbps", "on": "200ms", "off": "100ms", "dscp": 46, "ecn": True}

# (segment, whether the calls' packets may use several DSCP classes): stages behind a
# scheduler that lets one class overtake another draw in leaving order (see DirectionChain),
# so those segments get one class of call packets, or no random stage behind the queue.
QUEUED_SEGMENTS: list[tuple[dict[str, Any], bool]] = [
    (
        {
            "name": "backhaul",
            "capacity": "1Mbps",
            "queue": {"packets": 60, "aqm": "codel"},
            "cross_traffic": [CBR],
            "harq": {"bler": "20%", "max_transmissions": 2},
            "loss": {"model": "gilbert_elliott", "p": "5%", "r": "40%", "good_loss": "1%"},
            "one_way_delay": "5ms",
            "jitter": {"distribution": "exponential", "scale": "2ms"},
        },
        True,
    ),
    (
        {
            "name": "backhaul",
            "capacity": "1.5Mbps",
            "queue": {"bytes": "30KB", "scheduling": "strict"},
            "cross_traffic": [CBR, ONOFF],
            "loss": "5%",
            "one_way_delay": "5ms",
            "jitter": {"distribution": "uniform", "scale": "4ms"},
        },
        False,
    ),
    (
        {
            "name": "backhaul",
            "capacity": "1.5Mbps",
            "queue": {"packets": 40, "aqm": "codel", "scheduling": "strict"},
            "cross_traffic": [CBR, ONOFF],
            "one_way_delay": "5ms",
        },
        True,
    ),
    (
        {
            "name": "backhaul",
            "capacity_steps": [
                {"at": "0s", "capacity": "1.5Mbps"},
                {"at": "200ms", "capacity": "400kbps"},
                {"at": "500ms", "capacity": "3Mbps"},
            ],
            "queue": {"packets": 40, "aqm": "codel", "scheduling": "strict"},
            "cross_traffic": [CBR],
            "one_way_delay": "5ms",
        },
        True,
    ),
    (
        {
            "name": "radio",
            "uplink_trace": "TMobile-UMTS-driving.up",
            "downlink_trace": "TMobile-UMTS-driving.down",
            "queue": {"packets": 50, "aqm": "pie", "scheduling": "weighted"},
            "cross_traffic": [{**ONOFF, "dscp": 0}],
            "loss": "2%",
        },
        False,
    ),
]

queued_packets = st.lists(
    st.tuples(st.floats(0.0, 0.004), st.integers(40, 1500), st.integers(0, 4), st.booleans()),
    min_size=1,
    max_size=300,
)


def _sim_queued_fates(
    segment: Segment, direction: str, seed: int, arrive: np.ndarray, size: np.ndarray,
    flow: np.ndarray, dscp: np.ndarray, ect: np.ndarray, run_end_s: float,
) -> tuple[np.ndarray, list[str | None], list[bool]]:  # fmt: skip
    """The simulator's SegmentLink and PathWalk: receive times, drop reasons, CE marks."""
    result = carry(
        DirectionPackets(arrive, flow, size, dscp, ect),
        [SegmentLink(segment, direction, seed, run_end_s=run_end_s)],
    )
    reasons = [None if code < 0 else DROP_REASONS[code] for code in result.drop_reason]
    return result.recv_s, reasons, result.ce.tolist()


@settings(max_examples=40, deadline=None)
@given(
    case=st.sampled_from(QUEUED_SEGMENTS),
    rows=queued_packets,
    classes=st.sampled_from([(46,), (0,), (46, 26, 0)]),
    seed=st.integers(0, 2**32 - 1),
    direction=st.sampled_from(["uplink", "downlink"]),
    wakes=st.lists(st.floats(0.0, 1.0), max_size=300),
)
def test_queued_chain_matches_simulator(
    case: tuple[dict[str, Any], bool],
    rows: list[tuple[float, int, int, bool]],
    classes: tuple[int, ...],
    seed: int,
    direction: str,
    wakes: list[float],
) -> None:
    """Packets offered as they come, released at any times in between, leave when, are lost
    where and are marked as the simulator's segment says (cross traffic, same seed)."""
    config, mixed_classes = case
    if not mixed_classes:
        classes = classes[:1]
    segment = Segment.model_validate(config)
    arrive = np.cumsum([row[0] for row in rows]) + 0.05
    size = np.array([row[1] for row in rows], dtype=np.int64)
    flow = np.array([row[2] for row in rows], dtype=np.int64)
    dscp = np.array([classes[f % len(classes)] for f in flow], dtype=np.int64)
    ect = np.array([row[3] for row in rows], dtype=np.bool_)
    run_end_s = float(arrive[-1]) + 0.5
    expected_s, expected_reason, expected_ce = _sim_queued_fates(
        segment, direction, seed, arrive, size, flow, dscp, ect, run_end_s
    )
    chain = DirectionChain(segment, direction, seed, run_end_s=run_end_s)
    released: dict[int, Release] = {}
    handles = []
    last = 0.0
    wake = iter(wakes)
    for a, b, f, d, e in zip(arrive, size, flow, dscp, ect, strict=True):
        for fraction in sorted(w for w in (next(wake, None), next(wake, None)) if w is not None):
            for r in chain.release(min(last + fraction * (a - last), a)):
                released[r.handle] = r
        handles.append(chain.offer(float(a), int(b), int(f), int(d), 2 if e else 0))
        last = float(a)
    while (t := chain.next_event_s()) < run_end_s + 10:
        released.update((r.handle, r) for r in chain.release(t))
    released.update((r.handle, r) for r in chain.release(math.inf))
    got = [released[h] for h in handles]
    assert [None if r.reason < 0 else DROP_REASONS[r.reason] for r in got] == expected_reason
    np.testing.assert_allclose([r.depart_s for r in got], expected_s, rtol=0, atol=1e-9)
    assert [r.ce for r in got] == expected_ce


def test_cross_traffic_sends_at_its_rate_within_its_periods() -> None:
    """cbr sends rate x time worth of packets; on/off only between its start and stop."""
    cbr = CrossTraffic.model_validate(CBR)
    limited = CrossTraffic.model_validate({**ONOFF, "stop": "3s", "start": "0.5s"})
    bulk = CrossTraffic.model_validate({"kind": "bulk"})
    alone = unresponsive_arrivals((cbr, bulk), 20.0, component_rng(5, "x"))
    assert cbr.rate_bps is not None
    expected = cbr.count * (20.0 - cbr.start_s) * cbr.rate_bps / (8 * cbr.packet_bytes)
    assert abs(alone.time_s.size - expected) <= cbr.count  # bulk flows are not arrivals
    assert np.all(np.diff(alone.time_s) >= 0)
    bounded = unresponsive_arrivals((limited,), 20.0, component_rng(5, "x"))
    assert bounded.time_s.size > 0
    assert bounded.time_s.min() >= 0.5 and bounded.time_s.max() < 3.0


def test_forwarder_writes_ce_marks_into_the_frames() -> None:
    """Frames CoDel marks leave with ECN = CE and a valid IPv4 checksum; the others as
    they came; the records get each packet's fate."""
    segment = Segment.model_validate(
        {"name": "backhaul", "capacity": "1Mbps", "queue": {"aqm": "codel"}, "bleach_dscp": True}
    )
    spec = LinkSpec.for_segment(
        segment, iface_a="a", iface_b="b", seed=3, t0=time.monotonic() - 100.0, output="x"
    )
    forwarder = Forwarder(spec, segment)
    with contextlib.ExitStack() as stack:
        a, b = (stack.enter_context(s) for s in socket.socketpair())
        chain = forwarder.chains["uplink"]
        forwarder._ports = [_Port(a, chain, 0, 1), _Port(b, forwarder.chains["downlink"], 1, 0)]
        frames = [_frame(0, 1000, dscp=46, ecn=2) for _ in range(400)]  # 2 Mbit/s for 1.6 s
        forwarder._offer(forwarder._ports[0], frames, (np.arange(400) * 0.004).tolist(), b)
    assert not forwarder._waiting[0]
    sent = [parse_frame(item[3]) for item in forwarder._due]
    marked = [p for p in sent if p is not None and p.ecn == 3]
    assert 10 < len(marked) < len(sent) == 400  # ECN-capable: marked, none dropped
    assert all(p is not None and p.dscp == 0 for p in sent)
    for item in forwarder._due:
        header = item[3][14:34]
        assert ipv4_checksum(header[:10] + b"\0\0" + header[12:]) == int.from_bytes(
            header[10:12], "big"
        )
    table = forwarder.table().to_pandas()
    assert table["drop_reason"].isna().all() and table["depart_s"].notna().all()
    assert (table["ecn"] == 2).all()  # as they arrived
    assert forwarder.ce_marked == [len(marked), 0]


@pytest.mark.parametrize(
    ("framing", "rtp_bytes", "other_bytes"),
    [
        ({}, 200, 200),
        ({"header_compression": "rohc"}, 160 + 3, 200),  # UO-0 + UDP checksum; RTP only
        ({"header_compression": "rohc", "link_layer": "lte"}, 168, 200 + 5),  # + PDCP/RLC/MAC
        ({"link_layer": "ethernet"}, 200 + 18, 200 + 18),  # 802.3 header and FCS
    ],
)
def test_the_hop_counts_its_own_headers_as_the_simulator_does(
    framing: dict[str, str], rtp_bytes: int, other_bytes: int
) -> None:
    """ROHC shrinks RTP packets only; link framing adds to every packet, as in sim.path."""
    segment = Segment.model_validate({**RADIO, **framing})
    chain = DirectionChain(segment, "uplink", seed=1)
    plain = _frame(0, 200)
    rtp = plain[:42] + b"\x80" + plain[43:]  # RTP version 2 in the first payload byte
    rtp_packet, other_packet = parse_frame(rtp), parse_frame(plain)
    assert rtp_packet is not None and rtp_packet.rtp is not None
    assert other_packet is not None and other_packet.rtp is None
    assert (chain.carried_bytes(rtp_packet), chain.carried_bytes(other_packet)) == (
        rtp_bytes,
        other_bytes,
    )
    sim = SegmentLink(segment, "uplink", 1, 10.0, Overhead())
    assert sim.carried_bytes(np.array([200]))[0] == rtp_bytes
