"""One segment's stages, built once for both engines: queue kind, streams, stages behind it."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voipbed.metric_names import DROP_REASONS, DropReason
from voipbed.models.link import RateLink, TraceLink
from voipbed.models.overhead import IpVersion, Overhead
from voipbed.rng import component_rng
from voipbed.scenario import Segment
from voipbed.segment_stages import SegmentStages

LOSSY: dict[str, Any] = {
    "name": "air",
    "capacity": "2Mbps",
    "harq": {"bler": "30%", "max_transmissions": 2, "rtt": "8ms"},
    "loss": {"model": "gilbert_elliott", "p": "5%", "r": "40%", "good_loss": "1%"},
    "one_way_delay": "10ms",
    "jitter": {"distribution": "exponential", "scale": "3ms"},
}


def _stages(config: dict[str, Any], direction: str = "uplink", seed: int = 3) -> SegmentStages:
    return SegmentStages.build(Segment.model_validate(config), direction, seed, 10.0)


@pytest.mark.parametrize(
    ("config", "link", "queueing", "configured"),
    [
        ({"name": "wire"}, None, False, False),
        ({"name": "core", "capacity": "1Mbps"}, RateLink, False, False),
        ({"name": "core", "capacity": "1Mbps", "queue": {"packets": 5}}, RateLink, False, True),
        (
            {"name": "radio", "uplink_trace": "TMobile-UMTS-driving.up"},
            TraceLink,
            False,
            False,
        ),
        ({"name": "core", "capacity": "1Mbps", "queue": {"aqm": "codel"}}, None, True, True),
        (
            {"name": "core", "capacity": "1Mbps", "queue": {"scheduling": "strict"}},
            None,
            True,
            True,
        ),
        (
            {"name": "core", "capacity": "1Mbps", "cross_traffic": [{"kind": "bulk"}]},
            None,
            True,
            True,
        ),
    ],
)
def test_the_queue_stage_follows_the_segment(
    config: dict[str, Any], link: type | None, queueing: bool, configured: bool
) -> None:
    """No capacity: no queue; plain drop-tail: a link deciding at arrival; an AQM, DSCP
    scheduling or cross traffic: a queueing link; limits and those report their queue."""
    stages = _stages(config)
    assert (stages.link is None) == (link is None)
    if link is not None:
        assert isinstance(stages.link, link)
    assert (stages.queueing is not None) == queueing
    assert stages.has_queue == (link is not None or queueing)
    assert stages.configured_queue == configured


def test_cross_traffic_loads_only_its_direction() -> None:
    """Cross traffic of the downlink leaves the uplink a plain link with no arrivals."""
    config = {
        "name": "core",
        "capacity": "10Mbps",
        "cross_traffic": [{"kind": "cbr", "rate": "1Mbps", "direction": "downlink"}],
    }
    uplink, downlink = _stages(config, "uplink"), _stages(config, "downlink")
    assert uplink.link is not None and uplink.cross.time_s.size == 0
    assert downlink.queueing is not None and downlink.cross.time_s.size > 0


def test_queue_facts_describe_the_queue() -> None:
    """The queue_stats facts give the rate (None on a trace), limits, AQM and scheduling."""
    facts = _stages(
        {
            "name": "core",
            "capacity": "3Mbps",
            "queue": {"packets": 7, "bytes": "3000B", "aqm": "pie", "scheduling": "weighted"},
        }
    ).facts.fields()
    assert facts == {
        "rate_bps": 3e6,
        "limit_packets": 7,
        "limit_bytes": 3000,
        "aqm": "pie",
        "scheduling": "weighted",
    }
    traced = _stages({"name": "radio", "uplink_trace": "TMobile-UMTS-driving.up"})
    assert traced.facts.rate_bps is None


@pytest.mark.parametrize("direction", ["uplink", "downlink"])
def test_each_stage_draws_from_its_named_stream(direction: str) -> None:
    """HARQ, loss and jitter draw from path/{segment}/{direction}/{stage} of the seed."""
    stages = _stages(LOSSY, direction, seed=11)
    for stage, rng in (
        ("harq", stages.harq_rng),
        ("loss", stages.loss_rng),
        ("jitter", stages.delay.rng),
        ("queue", stages.queue_rng),
    ):
        expected = component_rng(11, f"path/air/{direction}/{stage}").random(4)
        np.testing.assert_array_equal(rng.random(4), expected)


@settings(max_examples=50, deadline=None)
@given(
    gaps=st.lists(st.floats(0.0, 0.01), min_size=1, max_size=200),
    flows=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
    cuts=st.lists(st.integers(0, 200), max_size=4),
)
def test_one_packet_at_a_time_matches_batches(
    gaps: list[float], flows: int, seed: int, cuts: list[int]
) -> None:
    """Behind the queue, packets one by one get the fates of the same packets in batches
    of any sizes (same streams, each flow's channel state carried over)."""
    leave_s = np.cumsum(gaps)
    flow = np.arange(leave_s.size, dtype=np.int64) % flows
    batched = _stages(LOSSY, seed=seed)
    bounds = [0, *sorted(min(cut, leave_s.size) for cut in cuts), leave_s.size]
    depart: list[float] = []
    reason: list[int] = []
    for lo, hi in itertools.pairwise(bounds):
        behind = batched.behind_queue(leave_s[lo:hi], flow[lo:hi])
        codes = np.full(hi - lo, -1)
        codes[behind.lost] = behind.reason
        times = np.full(hi - lo, np.nan)
        times[codes < 0] = behind.depart_s
        depart += times.tolist()
        reason += codes.tolist()
    single = _stages(LOSSY, seed=seed)
    one_by_one = [
        single.behind_queue_one(float(t), int(f)) for t, f in zip(leave_s, flow, strict=True)
    ]
    assert [code for _, code in one_by_one] == reason
    np.testing.assert_array_equal([t for t, _ in one_by_one], depart)
    lost = np.array(reason) >= 0
    assert set(np.array(reason)[lost].tolist()) <= {DropReason.HARQ, DropReason.CHANNEL}
    assert np.isnan(np.array(depart)[lost]).all()


@pytest.mark.parametrize(
    ("framing", "rtp", "carried"),
    [
        ({}, True, 200),
        ({"header_compression": "rohc"}, True, 160 + 3),  # UO-0 + UDP checksum
        ({"header_compression": "rohc"}, False, 200),  # ROHC profile 1 compresses RTP only
        ({"link_layer": "ethernet"}, False, 200 + 18),  # 802.3 header and FCS
    ],
)
def test_carried_bytes_count_the_hops_headers(
    framing: dict[str, str], rtp: bool, carried: int
) -> None:
    """The one-packet and the batch count agree, and give the IP size with the hop's headers."""
    stages = _stages({"name": "air", **framing})
    ip = Overhead(ip_version=IpVersion.V4)
    assert stages.carried_bytes_one(200, ip, rtp=rtp) == carried
    assert stages.carried_bytes(np.array([200, 200]), ip, rtp=rtp).tolist() == [carried] * 2


def test_drop_reasons_are_named_in_code_order() -> None:
    """A reason's code indexes DROP_REASONS, the trace's drop_reason dictionary."""
    assert [DROP_REASONS[reason] for reason in DropReason] == [r.label for r in DropReason]
    assert DROP_REASONS == ("queue", "aqm", "harq", "channel", "handover")
