"""Light calls over IPv6: a run of twelve calls with ``calls.ip_version: 6``, eight made by
baresip and four by the light agents, every call set up, hung up and scored, the light
calls' SIP routed by Kamailio from their IPv6 addresses and their RTP on the links IPv6
with the simulator's packet sizes."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.emulation.conftest import require
from tests.emulation.helpers import emulated_run, light_callers_plan
from voipbed.emulation.calls import audio_call_count
from voipbed.emulation.topology import ula_subnet
from voipbed.loader import parse_scenario
from voipbed.models.codecs import codec
from voipbed.models.overhead import IpVersion, Overhead, wire_bytes_per_packet
from voipbed.runner import run_scenario

pytestmark = [pytest.mark.emulation, pytest.mark.slow]

CALLS = 12
SCENARIO = f"""\
name: light-ipv6
seed: 6
duration: 5s
calls: {{count: {CALLS}, codec: PCMU, ptime: 20ms, ip_version: 6, start_spread: 1s, hold_time: 3s}}
path:
  - {{name: radio, one_way_delay: 10ms}}
  - {{name: core, one_way_delay: 5ms}}
radio: {{rrc: null}}
"""
LIGHT = range(audio_call_count(CALLS), CALLS)
IPPROTO_UDP = 17


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The twelve-call IPv6 run, shared by the tests that read it."""
    require("mnexec", "ethtool", "kamailio", "baresip", "espeak-ng", "sox")
    return emulated_run(tmp_path_factory.mktemp("light-ipv6"), "light-ipv6", SCENARIO)


def test_every_call_is_set_up_hung_up_and_scored(run_dir: Path) -> None:
    """Each of the 12 calls was dialled, answered and ended, the 4 light ones by a BYE
    answered 200; each of the 24 flows has packets sent and received and a MOS in G.107's
    range, the baresip calls' a PESQ score too."""
    events = pd.read_parquet(run_dir / "events.parquet")
    for kind in ("call_dial", "call_start", "call_end"):
        assert sorted(events.loc[events["kind"] == kind, "call"]) == list(range(CALLS)), kind
    ends = [json.loads(f) for f in events.loc[events["kind"] == "call_end", "fields"]]
    light = [end for end in ends if end.get("light")]
    assert len(light) == len(LIGHT)
    assert all(end["reason"] == "bye" and end["status"] == 200 for end in light)
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    assert len(metrics) == 2 * CALLS
    assert (metrics["sent"] > 0).all() and (metrics["received"] > 0).all()
    assert metrics["mos"].between(1.0, 4.5).all()
    real = metrics["real_audio"].to_numpy(dtype=bool)
    assert real.sum() == 2 * audio_call_count(CALLS)
    assert metrics.loc[real, "pesq_mos_lqo"].notna().all()


def test_the_light_calls_signal_over_ipv6(run_dir: Path) -> None:
    """Kamailio routed each light call's INVITE, ACK and BYE, sent from the light UE host's
    IPv6 address on the run's prefix, to a bracketed IPv6 URI."""
    prefix = ula_subnet(run_dir.name)
    plan = light_callers_plan(run_dir)
    events = pd.read_parquet(run_dir / "events.parquet")
    sip = [json.loads(f) for f in events.loc[events["kind"] == "sip_request", "fields"]]
    light = [s for s in sip if str(s["call_id"]).startswith("light")]
    for method in ("INVITE", "ACK", "BYE"):
        routed = [s for s in light if s["method"] == method]
        assert len({s["call_id"] for s in routed}) == len(LIGHT), method
        for request in routed:
            host, _, _ = str(request["from"]).rpartition(":")
            assert host == plan["sip_address"]
            assert ipaddress.ip_address(host) in prefix
            assert "@[" in str(request["uri"]) and "]" in str(request["uri"])


def test_the_light_calls_rtp_is_ipv6_with_the_simulators_sizes(run_dir: Path) -> None:
    """On both links every RTP packet to or from a light call's address is IPv6, of the
    run's prefix, sized as models.overhead sizes an IPv6 PCMU packet, in both directions;
    the light flows' traced sizes are the simulator's for the same scenario."""
    prefix = ula_subnet(run_dir.name)
    plan = light_callers_plan(run_dir)
    calls = plan["calls"]
    assert isinstance(calls, list)
    addresses = {str(call["ue_address"]) for call in calls}
    assert len(addresses) == len(LIGHT)
    used = codec("PCMU")
    payload = used.payload_bytes(0.020)
    size = wire_bytes_per_packet(payload, Overhead(ip_version=IpVersion.V6))
    assert size == payload + 12 + 8 + 40  # RTP, UDP, IPv6 (RFC 3550 5.1, RFC 768, RFC 8200)
    for segment in ("radio", "core"):
        records = pq.read_table(run_dir / "emulation" / f"link-{segment}.parquet").to_pandas()
        light = records[
            (records["protocol"] == IPPROTO_UDP)
            & (records["src"].isin(addresses) | records["dst"].isin(addresses))
            & records["rtp_ssrc"].notna()
        ]
        print(segment, light.groupby("direction", observed=True)["wire_bytes"].describe())
        assert set(light["direction"]) == {"uplink", "downlink"}
        ends = {ipaddress.ip_address(a) for a in (*light["src"], *light["dst"])}
        assert all(a.version == 6 and a in prefix for a in ends)
        assert set(light["wire_bytes"]) == {size}
    emulated = pd.read_parquet(run_dir / "packets.parquet")
    scenario = parse_scenario(SCENARIO, "light-ipv6.yaml")
    sim_dir = run_scenario(scenario, run_dir.parent.parent / "sim").run_dir
    sim = pd.read_parquet(sim_dir / "packets.parquet")
    for column in ("payload_bytes", "wire_bytes"):
        traced = set(emulated.loc[emulated["call"].isin(LIGHT), column])
        assert (
            traced
            == set(sim.loc[sim["call"].isin(LIGHT), column])
            == {payload if column == "payload_bytes" else size}
        )
