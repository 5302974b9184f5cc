"""The userspace link passes IPv6 Neighbour Discovery on at once, as it passes ARP."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import struct
import time
from dataclasses import asdict

import pytest

from tests.unit.test_link_rrc import PROMOTION_S
from tests.unit.test_link_rrc import forwarder as rrc_forwarder
from tests.unit.test_link_timestamps import TIGHT, Ring, forwarder_reading, stamp_at
from voipbed.emulation.frames import IPPROTO_ICMPV6, IPPROTO_UDP, ND_HOP_LIMIT
from voipbed.emulation.rrc_gate import RrcPlan
from voipbed.models.rrc import RrcConfig, RrcState

UE6 = ipaddress.IPv6Address("fd00::b").packed
FAR6 = ipaddress.IPv6Address("fd00::2").packed
SOLICITED = ipaddress.IPv6Address("ff02::1:ff00:2").packed  # FAR6's solicited-node group
ROUTERS = ipaddress.IPv6Address("ff02::2").packed
RS, NS, NA = 133, 135, 136  # RFC 4861 sections 4.1, 4.3, 4.4
ARP = bytes(12) + b"\x08\x06" + bytes(28)

LOSSY: dict[str, object] = {"name": "radio", "loss": "100%", "one_way_delay": "10ms"}
SLOW: dict[str, object] = {"name": "radio", "one_way_delay": "10s"}  # modelled: 10 s later
QUEUED: dict[str, object] = {
    "name": "radio",
    "capacity": "1Mbps",
    "queue": {"aqm": "codel"},
    "loss": "100%",
}


def ipv6_frame(proto: int, hop_limit: int, dst: bytes, payload: bytes) -> bytes:
    """An Ethernet frame holding an IPv6 packet from the UE."""
    header = struct.pack("!IHBB16s16s", 6 << 28, len(payload), proto, hop_limit, UE6, dst)
    return bytes(12) + b"\x86\xdd" + header + payload


def nd_frame(kind: int, dst: bytes = SOLICITED) -> bytes:
    """An ND message of type ``kind`` from the UE: hop limit 255, target FAR6."""
    icmp = struct.pack("!BBHI16s", kind, 0, 0, 0, FAR6)
    return ipv6_frame(IPPROTO_ICMPV6, ND_HOP_LIMIT, dst, icmp)


def rtp_frame(seq: int) -> bytes:
    """An IPv6/UDP/RTP frame (160 bytes of PCMU) from the UE to FAR6."""
    rtp = struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x5EED) + bytes(160)
    return ipv6_frame(IPPROTO_UDP, 64, FAR6, struct.pack("!HHHH", 5000, 6000, 8 + 172, 0) + rtp)


def drained(far: socket.socket) -> list[bytes]:
    """Every frame that has come out of the link so far, in order."""
    frames = []
    with contextlib.suppress(BlockingIOError):
        while True:
            frames.append(far.recv(4096))
    return frames


@pytest.mark.parametrize("segment", [LOSSY, SLOW, QUEUED])
@pytest.mark.parametrize("behind", [0, 4])
def test_neighbour_discovery_passes_at_once_unrecorded(
    segment: dict[str, object], behind: int
) -> None:
    """Solicitations and advertisements leave as they are read, alone or in a batch, on a
    link that loses, delays or queues every IP packet; they are counted, not recorded."""
    t0 = time.monotonic() - 20.0
    frames = [nd_frame(NS), *[rtp_frame(seq) for seq in range(behind)], nd_frame(NA), ARP]
    frames.append(nd_frame(RS, ROUTERS))
    ring = Ring(TIGHT)
    for k, frame in enumerate(frames):
        ring.put(frame, stamp_at(t0, 19.9 + k * 1e-4))
    with forwarder_reading(ring, segment, t0) as (link, far):
        link._read(link._ports[0])
        out = drained(far)
        table = link.table()
    assert out == [nd_frame(NS), nd_frame(NA), ARP, nd_frame(RS, ROUTERS)]
    records = table.to_pandas()
    assert len(records) == behind and (records["protocol"] == IPPROTO_UDP).all()
    assert records["sent_s"].isna().all()
    meta = json.loads(table.schema.metadata[b"voipbed.link"])
    assert meta["passed_nd"] == {"uplink": 3, "downlink": 0}
    assert (meta["passed_non_ip"], meta["passed_before_t0"]) == (1, 0)


def test_an_rtp_packet_still_meets_the_models() -> None:
    """On a link that delays by 10 s, an IPv6 RTP packet is recorded and waits its delay."""
    t0 = time.monotonic() - 20.0
    ring = Ring()
    ring.put(rtp_frame(7), stamp_at(t0, 19.9))
    with forwarder_reading(ring, SLOW, t0) as (link, far):
        link._read(link._ports[0])
        assert drained(far) == []
        records = link.table().to_pandas()
    assert records["depart_s"].tolist() == pytest.approx([19.9 + 10.0], abs=1e-3)
    assert records["rtp_seq"].tolist() == [7]


def test_neighbour_discovery_does_not_wait_for_an_idle_radio() -> None:
    """An IDLE UE's solicitation passes while its RTP packet, 50 ms behind, waits for the
    promotion that packet starts: the solicitation does not wake the RRC machine."""
    t0 = time.monotonic() - 100.0
    config = asdict(RrcConfig(initial_state=RrcState.IDLE))
    config["initial_state"] = "IDLE"
    address = str(ipaddress.IPv6Address(UE6))
    plan = asdict(RrcPlan((address,), config, (0.0,), (0.0,), (0.0,), "unused.json"))
    ring = Ring()
    ring.put(nd_frame(NS), stamp_at(t0, 20.0))
    ring.put(rtp_frame(1), stamp_at(t0, 20.05))
    with rrc_forwarder(ring, t0, plan) as (link, far):
        link._read(link._ports[0])
        out = drained(far)
        held = [(item[0] - t0, item[2]) for item in link._held[0]]
        meta = json.loads(link.table().schema.metadata[b"voipbed.link"])
    assert out == [nd_frame(NS)]
    assert len(held) == 1 and held[0][1] == rtp_frame(1)
    assert held[0][0] == pytest.approx(20.05 + PROMOTION_S, abs=1e-4)
    assert meta["rrc_held_packets"] == 1 and meta["passed_nd"]["uplink"] == 1
