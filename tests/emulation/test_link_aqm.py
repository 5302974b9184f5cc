"""CoDel in the userspace link, for real: voice beside unresponsive cross traffic on a slow link.

A 2 Mbit/s backhaul with a 150-packet buffer (600 ms of 1000-byte packets) carries
constant-rate cross traffic slightly above its capacity, generated inside the link
process, and RTP-like voice from the UE (200-byte IP packets every 20 ms). With
drop-tail the buffer fills and voice waits hundreds of ms; with CoDel (RFC 8289,
target 5 ms) it waits about its target plus the packets CoDel lets stand. The link's
fates equal the simulator's for the same packets, and the link sends them when those fates
say, as punctually as a real-time probe through a kernel bridge beside it
(tests/emulation/timing.py). Needs root, mnexec, ethtool and ping (``require`` skips,
saying why).
"""

from __future__ import annotations

import json
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.emulation.test_userspace_link import (
    PORT,
    SEED,
    SETUP_S,
    assert_as_predicted,
    link_lateness,
    one_hop,
    send_through,
)
from tests.emulation.timing import NotAsPlanned, Timed, kernel_baseline, on_time_or_once_more
from voipbed.emulation.link_chain import DEFAULT_RUN_END_S
from voipbed.scenario import Segment
from voipbed.sim.path import DirectionPackets, carry
from voipbed.sim.segment_link import SegmentLink
from voipbed.trace import DROP_REASONS

pytestmark = pytest.mark.emulation

ONE_WAY_DELAY_S = 0.005
CAPACITY_BPS = 2e6
VOICE_BYTES = 200  # IP packet: 20 + 8 + 12 + 160 (G.711, 20 ms)
COUNT, GAP_S = 400, 0.020  # 8 s of voice
SETTLED_S = 3.0  # the drop-tail buffer has built up by then, and CoDel has reacted

BACKHAUL: dict[str, Any] = {
    "name": "backhaul",
    "capacity": "2Mbps",
    "one_way_delay": "5ms",
    "queue": {"packets": 150},
    "cross_traffic": [
        {"kind": "cbr", "rate": "2.05Mbps", "packet_size": "1000B", "direction": "uplink"}
    ],
}


def _predicted(records: Any, segment: Segment) -> tuple[np.ndarray, list[str | None]]:
    """The simulator's fates for the packets the link recorded, at their recorded arrivals
    (the link drew its cross traffic up to ``DEFAULT_RUN_END_S``: the spec gave no end)."""
    arrive = records["arrive_s"].to_numpy()
    n = arrive.size
    result = carry(
        DirectionPackets(
            arrive,
            np.zeros(n, dtype=np.int64),
            records["wire_bytes"].to_numpy().astype(np.int64),
            records["dscp"].to_numpy().astype(np.int64),
            records["ecn"].to_numpy() != 0,
        ),
        [SegmentLink(segment, "uplink", SEED, run_end_s=DEFAULT_RUN_END_S)],
    )
    return result.recv_s, [None if c < 0 else DROP_REASONS[c] for c in result.drop_reason]


def _queueing_delays(aqm: str, work: Path, attempt: int) -> Timed[np.ndarray]:
    """Send the voice through the backhaul with ``aqm``, beside a kernel-bridge probe; check
    the link against the model; the queueing delays the model gave the voice packets
    arriving after SETTLED_S (which the link sent them with), and the link's and the probe's
    lateness. Set-up gets ``attempt`` times SETUP_S."""
    config = {**BACKHAUL, "queue": {**BACKHAUL["queue"], "aqm": aqm}}
    with kernel_baseline(work / "baseline") as probe:
        t0 = time.monotonic() + attempt * SETUP_S  # cross traffic starts at t0
        with one_hop(config, t0, work) as hop:
            send_through(hop, work, t0, COUNT, GAP_S, not_before_s=t0 + 0.1, probe=probe)
        baseline = probe.lateness(timeout_s=10.0)

    table = pq.read_table(work / "link-backhaul.parquet")
    meta = json.loads(table.schema.metadata[b"voipbed.link"])
    assert meta["cross_traffic"]["uplink"]["offered"] > 1000  # the link made its own load
    records = table.to_pandas()
    voice = records[(records["direction"] == "uplink") & (records["dport"] == PORT)]
    assert voice["rtp_seq"].tolist() == list(range(COUNT))

    forwarded = assert_as_predicted(voice, *_predicted(voice, Segment.model_validate(config)))
    received = dict(json.loads((work / "rx.json").read_text()))
    assert sorted(received) == voice["rtp_seq"].to_numpy()[forwarded].tolist()

    arrive_s = voice["arrive_s"].to_numpy()
    settled = forwarded & (arrive_s > SETTLED_S)
    if settled.sum() < COUNT // 4:
        raise NotAsPlanned(f"only {settled.sum()} voice packets after {SETTLED_S:g} s")
    service_s = VOICE_BYTES * 8 / CAPACITY_BPS
    depart_s = voice["depart_s"].to_numpy()[settled]
    waited_s = depart_s - arrive_s[settled] - ONE_WAY_DELAY_S - service_s
    return Timed(waited_s, link_lateness(voice, forwarded, received), baseline)


def test_codel_keeps_real_packets_near_its_target(tmp_path: Path) -> None:
    """Behind unresponsive cross traffic a drop-tail buffer makes voice wait hundreds of ms;
    CoDel (5 ms target) keeps the real packets' queueing delay within a few times its
    target; what each packet met is what the simulator says, and the link sent it then."""
    droptail = on_time_or_once_more(partial(_queueing_delays, "droptail"), tmp_path / "droptail")
    codel = on_time_or_once_more(partial(_queueing_delays, "codel"), tmp_path / "codel")
    assert np.median(droptail) > 0.200
    assert np.median(codel) < 0.020
    assert np.quantile(codel, 0.95) < 0.030
