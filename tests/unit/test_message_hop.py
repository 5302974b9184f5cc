"""A segment for signalling messages one at a time: the stages' fates and times, drawn in blocks."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from voipbed.models.overhead import IpVersion, Overhead
from voipbed.scenario import Segment
from voipbed.segment_stages import SegmentStages
from voipbed.sim.message_hop import BLOCK, MessageHop

HEADERS = Overhead(ip_version=IpVersion.V4)
MESSAGE_BYTES = 600


def _stages(config: dict[str, Any]) -> SegmentStages:
    return SegmentStages.build(Segment.model_validate(config), "uplink", 5, 3600.0)


def _messages(count: int) -> list[tuple[int, float]]:
    """(UE, time reaching the segment): in time order, UEs interleaved, some close together."""
    rng = np.random.default_rng(11)
    times = np.cumsum(rng.exponential(0.004, count))
    return list(zip(rng.integers(0, 7, count).tolist(), times.tolist(), strict=True))


def _by_stages(stages: SegmentStages, messages: list[tuple[int, float]]) -> list[float]:
    """What ``SegmentStages`` gives each message, drawing one number at a time."""
    left = []
    for ue, time_s in messages:
        if stages.link is not None:
            carried = stages.carried_bytes_one(MESSAGE_BYTES, HEADERS, rtp=False)
            served = stages.link.process(np.array([time_s]), np.array([carried]))
            if served.dropped[0]:
                left.append(math.nan)
                continue
            time_s = float(served.depart_s[0])
        leave_s, code = stages.behind_queue_one(time_s, ue)
        left.append(math.nan if code >= 0 else leave_s)
    return left


@pytest.mark.parametrize(
    "config",
    [
        {"loss": "3%", "jitter": {"distribution": "exponential", "scale": "20ms"}},
        {"loss": "3%", "jitter": {"distribution": "uniform", "scale": "20ms"}},
        {"loss": "3%", "jitter": {"distribution": "half_normal", "scale": "20ms"}},
        {"loss": "3%", "jitter": {"distribution": "exponential", "scale": "20ms", "reorder": True}},
        {"loss": "0%", "jitter": {"distribution": "none"}},
        {"loss": "50%"},
        {"loss": {"model": "gilbert_elliott", "rate": "5%", "burst": 2}},
        {"harq": {"bler": "30%", "max_transmissions": 2, "rtt": "8ms"}, "loss": "2%"},
        {"capacity": "200kbps", "queue": {"packets": 3}, "loss": "1%"},
    ],
)
def test_a_hop_gives_each_message_what_the_stages_give_it(config: dict[str, Any]) -> None:
    """Over several blocks of draws, every message is lost or leaves exactly as
    ``SegmentStages.behind_queue_one`` (after the link) decides, one message at a time."""
    segment = {"name": "radio", "one_way_delay": "20ms", **config}
    messages = _messages(3 * BLOCK + 17)
    expected = _by_stages(_stages(segment), messages)
    hop = MessageHop(_stages(segment), HEADERS)
    left = [hop.carry(ue, time_s, MESSAGE_BYTES) for ue, time_s in messages]
    np.testing.assert_array_equal(left, expected)
    assert any(math.isnan(t) for t in left) or segment.get("loss") == "0%"


def test_in_sequence_each_ue_keeps_its_order() -> None:
    """Without reordering no message of a UE leaves before the one it sent before it, while
    messages of other UEs may overtake it."""
    hop = MessageHop(
        _stages({"name": "radio", "jitter": {"distribution": "exponential", "scale": "50ms"}}),
        HEADERS,
    )
    last: dict[int, float] = {}
    overtaken = 0
    previous = -math.inf
    for ue, time_s in _messages(2000):
        leave_s = hop.carry(ue, time_s, MESSAGE_BYTES)
        assert leave_s >= last.get(ue, -math.inf)
        last[ue] = leave_s
        overtaken += leave_s < previous
        previous = leave_s
    assert overtaken > 0
