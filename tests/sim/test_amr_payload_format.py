"""The simulator sends AMR and AMR-WB in the scenario's RFC 4867 payload format."""

from __future__ import annotations

import numpy as np
import pytest

from voipbed.loader import parse_scenario
from voipbed.models.codecs import AmrPayloadFormat, sent_codec
from voipbed.scenario import Scenario
from voipbed.sim.engine import simulate

BE = AmrPayloadFormat.BANDWIDTH_EFFICIENT
OA = AmrPayloadFormat.OCTET_ALIGNED


def scenario(fmt: AmrPayloadFormat, calls: str) -> Scenario:
    """Two calls over a 200 kbit/s radio hop, where each byte costs 40 us to send."""
    return parse_scenario(
        f"name: amr-format\nseed: 3\nduration: 4s\n"
        f"calls: {{count: 2, start_spread: 1s, amr_payload_format: {fmt.value}, {calls}}}\n"
        "path: [{name: radio, one_way_delay: 10ms, capacity: 200kbps}]\n"
    )


@pytest.mark.parametrize(
    ("codec", "ptime_ms"), [("AMR-WB-23.85", 20), ("AMR-12.2", 20), ("AMR-WB-23.85", 60)]
)
def test_octet_aligned_packets_are_larger_by_the_formats_difference(
    codec: str, ptime_ms: int
) -> None:
    """The same calls octet-aligned send the same packets at the same times, each larger by
    the payload formats' difference (one byte at 20 ms, two with three frames), and take
    longer over a capacity-limited hop."""
    calls = f"codec: {codec}, ptime: {ptime_ms}ms"
    efficient = simulate(scenario(BE, calls)).packets.to_pandas()
    aligned = simulate(scenario(OA, calls)).packets.to_pandas()
    ptime_s = ptime_ms / 1000
    gap = sent_codec(codec, OA).payload_bytes(ptime_s) - sent_codec(codec, BE).payload_bytes(
        ptime_s
    )
    assert gap == (2 if ptime_ms == 60 else 1)
    assert len(aligned) == len(efficient) > 0
    for column in ("flow", "seq", "rtp_ts", "send_s"):
        np.testing.assert_array_equal(aligned[column], efficient[column])
    assert (aligned["payload_bytes"] == sent_codec(codec, OA).payload_bytes(ptime_s)).all()
    assert (aligned["payload_bytes"] - efficient["payload_bytes"] == gap).all()
    assert (aligned["wire_bytes"] - efficient["wire_bytes"] == gap).all()
    delay = {
        name: float((frame["recv_s"] - frame["send_s"]).mean())
        for name, frame in (("efficient", efficient), ("aligned", aligned))
    }
    assert delay["aligned"] > delay["efficient"]


def test_non_amr_calls_are_unchanged_by_the_format() -> None:
    """G.722 calls send the same packets whichever AMR format the scenario names."""
    calls = "codec: G722, ptime: 20ms"
    efficient = simulate(scenario(BE, calls)).packets
    aligned = simulate(scenario(OA, calls)).packets
    assert aligned.equals(efficient)


def test_rate_controlled_modes_are_sized_octet_aligned() -> None:
    """Under GCC every AMR-WB packet has its own mode's octet-aligned size."""
    calls = "codec: AMR-WB-12.65, ptime: 20ms, rate_control: {algorithm: gcc}"
    packets = simulate(scenario(OA, calls)).packets.to_pandas()
    modes = packets["codec"].astype(str)
    assert len(packets) > 0
    expected = modes.map(lambda name: sent_codec(name, OA).payload_bytes(0.020))
    efficient = modes.map(lambda name: sent_codec(name, BE).payload_bytes(0.020))
    np.testing.assert_array_equal(packets["payload_bytes"], expected)
    assert (expected > efficient).all()
