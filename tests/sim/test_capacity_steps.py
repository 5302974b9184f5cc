"""A segment's capacity_steps carry the simulator's packets at each step's rate."""

from __future__ import annotations

import numpy as np
import pytest

from voipbed.loader import parse_scenario
from voipbed.models.mahimahi import TUN_HEADER_BYTES
from voipbed.sim.engine import simulate

# 20 G.711 calls offer 20 x 80 kbit/s (200-byte IP packets every 20 ms) each way: more than
# either step, so the link runs saturated and delivers its capacity.
STEPPED = """\
name: steps
duration: 4s
calls: {count: 20, codec: PCMU, ptime: 20ms}
path:
  - name: hop
    capacity_steps: [{at: 0s, capacity: 1Mbps}, {at: 2s, capacity: 400kbps}]
    queue: {packets: 20}
radio: {rrc: null}
"""


@pytest.mark.parametrize("direction", ["uplink", "downlink"])
def test_a_saturated_stepped_link_delivers_each_steps_rate(direction: str) -> None:
    """Received bytes (with mm-link's 4-byte header) per second match 1 Mbit/s before the
    step at 2 s and 400 kbit/s after it, in both directions; the excess is queue loss."""
    packets = simulate(parse_scenario(STEPPED)).packets.to_pandas()
    flow = packets[packets.direction == direction]
    received = flow[flow.recv_s.notna()]
    for start_s, end_s, rate_bps in [(0.5, 2.0, 1.0e6), (2.5, 4.0, 0.4e6)]:
        inside = received[(received.recv_s > start_s) & (received.recv_s <= end_s)]
        delivered = (inside.wire_bytes + TUN_HEADER_BYTES).sum() * 8 / (end_s - start_s)
        assert delivered == pytest.approx(rate_bps, rel=0.03)
    lost = flow[flow.recv_s.isna()]
    assert (lost.drop_reason.astype(str) == "queue").all()
    assert np.count_nonzero(lost.send_s > 2.0) > np.count_nonzero(lost.send_s <= 2.0)
