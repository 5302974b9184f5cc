"""IPv6 in the emulation: namespaces on the run's unique local prefix, neighbour discovery
across the userspace links, and calls whose SIP and media are IPv6 with the simulator's
packet sizes."""

from __future__ import annotations

import ipaddress
import json
import re
import time
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.emulation.conftest import require
from tests.emulation.helpers import mac_of, new_run_id
from voipbed.emulation.engine import link_starter
from voipbed.emulation.frames import IPPROTO_ICMPV6, IPPROTO_UDP, parse_frame
from voipbed.emulation.network import EmulatedNetwork, NetNode
from voipbed.emulation.topology import describe, ula_subnet
from voipbed.loader import parse_scenario
from voipbed.pcap_file import read_capture
from voipbed.runner import run_scenario

pytestmark = pytest.mark.emulation

SCENARIO = """\
name: ipv6-sizes
seed: 4
duration: 10s
calls: {count: 1, codec: PCMU, ptime: 20ms, ip_version: 6}
path:
  - {name: radio, one_way_delay: 10ms, capacity: 2Mbps}
  - {name: core, one_way_delay: 5ms}
radio: {rrc: null}
"""
MIN_PCMU_PESQ = 3.5  # a clean PCMU call scores about 4.0 (test_baresip_call.py)
HOST_IPV6 = ("all/disable_ipv6", "default/disable_ipv6", "all/forwarding", "all/accept_dad")


def host_ipv6_settings() -> dict[str, str]:
    """The host namespace's IPv6 settings that the run sets in its own namespaces."""
    root = Path("/proc/sys/net/ipv6/conf")
    return {name: (root / name).read_text() for name in HOST_IPV6 if (root / name).exists()}


def sysctl(node: NetNode, key: str) -> str:
    """A sysctl's value in ``node``'s namespace."""
    return node.run(["sysctl", "-n", key]).stdout.strip()


def test_ipv6_hosts_resolve_each_other_across_the_userspace_links(tmp_path: Path) -> None:
    """Hosts have their ULA address at once (no DAD, not tentative), link nodes and bridges
    no IPv6; neighbour solicitations and advertisements pass the userspace links at once,
    counted but not impaired, and resolve the far end's MAC, while the echoes are delayed
    like any IP packet; nothing host-wide changes."""
    require("mnexec", "ethtool", "ping")
    text = SCENARIO.replace("count: 1", "count: 2")
    scenario = parse_scenario(text, "ipv6-nd.yaml")
    topology = describe(scenario, new_run_id("ipv6nd"))
    settings = host_ipv6_settings()
    t0 = time.monotonic() - 1.0  # the links' clocks run: every IP packet meets the models
    start_link = link_starter(scenario, tmp_path, t0)
    with EmulatedNetwork(topology, start_link=start_link, state_dir=tmp_path / "state") as net:
        for host in topology.hosts:
            node = net.node(host)
            shown = node.run(["ip", "-6", "-o", "address", "show", "dev", host.interface]).stdout
            assert f"inet6 {host.address} " in shown
            assert "tentative" not in shown and "dadfailed" not in shown
            assert sysctl(node, "net.ipv6.conf.all.forwarding") == "0"
        for name in (*(n.name for n in topology.link_nodes), topology.access_bridge.name):
            assert sysctl(net.node(name), "net.ipv6.conf.all.disable_ipv6") == "1"
        ue = net.node(topology.ues[1])
        far = topology.far_end
        ue.run(["ip", "-6", "neigh", "flush", "dev", topology.ues[1].interface])
        ue.run(["ping", "-c", "2", "-i", "0.2", "-W", "2", "-n", far.ip], timeout_s=10)
        neighbours = ue.run(["ip", "-6", "neigh", "show", far.ip]).stdout
        assert f"lladdr {mac_of(topology, far)}" in neighbours
        assert host_ipv6_settings() == settings
    table = pq.read_table(tmp_path / "link-radio.parquet")
    records = table.to_pandas()
    icmp = records[records["protocol"] == IPPROTO_ICMPV6]
    print(icmp[["direction", "src", "dst", "wire_bytes", "arrive_s", "depart_s", "drop_reason"]])
    assert not icmp["dst"].str.startswith("ff02::1:ff").any()  # no solicitation recorded
    assert set(icmp["direction"]) == {"uplink", "downlink"}  # the echo requests and replies
    assert icmp["drop_reason"].isna().all()
    delay_s = scenario.path[0].one_way_delay_s
    assert ((icmp["depart_s"] - icmp["arrive_s"]) >= delay_s - 1e-6).all()
    passed_nd = json.loads(table.schema.metadata[b"voipbed.link"])["passed_nd"]
    print("neighbour discovery passed:", passed_nd)
    assert passed_nd["uplink"] >= 1 and passed_nd["downlink"] >= 1


class Udp(NamedTuple):
    """One captured UDP packet."""

    version: int
    src: str
    dst: str
    sport: int
    dport: int
    payload: bytes


def captured(pcap: Path) -> list[Udp]:
    """The UDP packets of ``pcap``, in capture order."""
    rows = []
    capture = read_capture(pcap)
    for index in range(len(capture)):
        frame = capture.frame(index)
        packet = parse_frame(frame)
        if packet is None or packet.protocol != IPPROTO_UDP:
            continue
        start = packet.ip_offset + (40 if packet.version == 6 else 20) + 8
        rows.append(
            Udp(
                packet.version,
                str(ipaddress.ip_address(packet.src)),
                str(ipaddress.ip_address(packet.dst)),
                packet.sport,
                packet.dport,
                frame[start : packet.ip_offset + packet.wire_bytes],
            )
        )
    return rows


@pytest.mark.slow
def test_an_ipv6_call_is_ipv6_end_to_end_with_the_simulators_sizes(tmp_path: Path) -> None:
    """With ip_version 6 every emulated packet has the simulator's wire and payload size
    (40-byte IPv6 header); the captures hold IPv6 only, on the run's prefix: SIP with
    bracketed addresses and record-routing, SDP c=IN IP6, RTP; the audio decodes well."""
    require("mnexec", "ethtool", "kamailio", "baresip", "espeak-ng", "sox", "tcpdump")
    scenario = parse_scenario(SCENARIO, "ipv6-sizes.yaml")
    sim_dir = run_scenario(scenario, tmp_path / "sim").run_dir
    emu_dir = run_scenario(scenario, tmp_path / "emu", engine="emulation").run_dir
    sim = pd.read_parquet(sim_dir / "packets.parquet")
    emulated = pd.read_parquet(emu_dir / "packets.parquet")
    sizes = ["payload_bytes", "wire_bytes"]
    print("sim:", sim.groupby("direction", observed=True)[sizes].agg(["min", "max"]))
    print("emulation:", emulated.groupby("direction", observed=True)[sizes].agg(["min", "max"]))
    assert len(emulated) > 0.9 * len(sim)
    for column in sizes:  # one size a codec at a fixed rate: every packet of both engines
        assert set(emulated[column]) == set(sim[column])
        assert emulated[column].nunique() == 1
    summary = json.loads((emu_dir / "summary.json").read_text())
    assert set(emulated["wire_bytes"]) == {summary["bandwidth"]["ip"]["bytes_per_packet"]}
    headers = 40 + 8 + 12  # IPv6 (RFC 8200 3), UDP (RFC 768), RTP (RFC 3550 5.1)
    assert (emulated["wire_bytes"] - emulated["payload_bytes"] == headers).all()

    prefix = ula_subnet(emu_dir.name)  # the run id is the run folder's name
    core, far_end, ue = (str(prefix[number]) for number in (1, 2, 11))
    for side in ("ue", "far_end"):
        packets = captured(emu_dir / "captures" / f"{side}.pcap")
        assert packets and {p.version for p in packets} == {6}
        addresses = {ipaddress.ip_address(a) for p in packets for a in (p.src, p.dst)}
        assert all(address in prefix for address in addresses)
    packets = captured(emu_dir / "captures" / "ue.pcap")
    sip = "\n".join(
        p.payload.decode("utf-8", "replace") for p in packets if 5060 in (p.sport, p.dport)
    )
    assert f"INVITE sip:far0@[{core}]:5060 SIP/2.0" in sip
    assert re.search(rf"Record-Route: <sip:\[{re.escape(core)}\];lr", sip)
    assert f"c=IN IP6 {ue}" in sip  # the offer
    assert f"c=IN IP6 {far_end}" in sip  # the answer, relayed to the UE
    rtp = {(p.src, p.dst) for p in packets if p.dport >= 20000 and len(p.payload) == 12 + 160}
    assert rtp == {(ue, far_end), (far_end, ue)}

    pesq = pd.read_parquet(emu_dir / "metrics.parquet")["pesq_mos_lqo"]
    print("PESQ:", pesq.tolist())
    assert (pesq > MIN_PCMU_PESQ).all()
