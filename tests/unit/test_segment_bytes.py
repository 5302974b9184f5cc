"""What a simulated segment's link carries for each packet (sim.segment_link)."""

from __future__ import annotations

import numpy as np
import pytest

from voipbed.loader import parse_scenario
from voipbed.sim.segment_link import SegmentLink

_SCENARIO = """
name: bytes
duration: 10s
calls: {{count: 1, codec: AMR-WB-12.65}}
path:
  - {{name: radio, one_way_delay: 10ms, capacity: 1Mbps, header_compression: {compression},
     link_layer: {framing}}}
"""


@pytest.mark.parametrize(
    ("compression", "framing"), [("none", "none"), ("rohc", "lte"), ("none", "ethernet")]
)
def test_carried_bytes_of_mixed_packets_match_each_packet_alone(
    compression: str, framing: str
) -> None:
    """RTP and other packets of many sizes, in batches that widen the sizes seen, carry what
    the segment's stages give each packet alone."""
    text = _SCENARIO.format(compression=compression, framing=framing)
    scenario = parse_scenario(text, "bytes.yaml")
    link = SegmentLink(scenario.path[0], "uplink", 1, 10.0, scenario.overhead())
    rng = np.random.default_rng(5)
    for low, high in ((80, 90), (60, 120), (100, 300)):
        ip_bytes = rng.integers(low, high, 50).astype(np.int64)
        rtp = rng.random(50) < 0.7
        ids = rng.permutation(50)[:30].astype(np.int64)
        carried = link.carried_bytes_mixed(ids, ip_bytes, rtp)
        for k, i in enumerate(ids):
            alone = link.stages.carried_bytes_one(
                int(ip_bytes[i]), scenario.overhead(), rtp=bool(rtp[i])
            )
            assert carried[k] == alone
        media = link.carried_bytes(ip_bytes)
        expected = link.stages.carried_bytes(ip_bytes, scenario.overhead())
        np.testing.assert_array_equal(media, expected)
