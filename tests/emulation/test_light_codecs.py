"""Light calls of AMR-WB: a run of twelve AMR-WB 23.85 calls, eight made by baresip and four
by the light agents, every call set up, hung up and scored on the wideband E-model, the
light calls' packets the baresip calls' size (octet-aligned, RFC 4867 4.4), stamped on the
16 kHz clock, and their captured payloads read as mode 8 by the capture import's reader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.emulation.conftest import require
from tests.emulation.helpers import emulated_run, light_callers_plan
from tests.emulation.test_amr_wb import octet_aligned_fields, rtp_payloads
from voipbed.emulation.calls import audio_call_count
from voipbed.emulation.frame_payload import NO_MODE_REQUEST, amr_frame_type
from voipbed.emulation.stacks.baresip import baresip_codec
from voipbed.loader import parse_scenario
from voipbed.models.codecs import codec
from voipbed.models.overhead import Overhead, wire_bytes_per_packet
from voipbed.payload_modes import amr_mode
from voipbed.runner import run_scenario

pytestmark = [pytest.mark.emulation, pytest.mark.slow]

CALLS = 12
CODEC = "AMR-WB-23.85"
PTIME_S = 0.020
SCENARIO = f"""\
name: light-amr-wb
seed: 4
duration: 5s
calls:
  {{count: {CALLS}, codec: {CODEC}, ptime: 20ms, start_spread: 1s, hold_time: 3s,
   amr_payload_format: octet_aligned}}
path:
  - {{name: radio, one_way_delay: 10ms}}
  - {{name: core, one_way_delay: 5ms}}
radio: {{rrc: null}}
"""
LIGHT = range(audio_call_count(CALLS), CALLS)
BARESIP = range(audio_call_count(CALLS))
IPPROTO_UDP = 17


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The twelve-call AMR-WB run, shared by the tests that read it."""
    require("mnexec", "ethtool", "kamailio", "baresip", "espeak-ng", "sox", "tcpdump")
    return emulated_run(tmp_path_factory.mktemp("light-amr-wb"), "light-amr-wb", SCENARIO)


def test_every_call_is_set_up_hung_up_and_scored(run_dir: Path) -> None:
    """Each of the 12 calls was dialled, answered and ended, the 4 light ones by a BYE
    answered 200; each of the 24 flows has packets sent and received, an AMR-WB Ie,eff and
    a MOS, the baresip calls' a wideband PESQ score too."""
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
    assert (metrics["ie_eff"] >= codec(CODEC).ie).all()
    real = metrics["real_audio"].to_numpy(dtype=bool)
    assert set(metrics.loc[real, "call"]) == set(BARESIP)
    assert metrics.loc[real, "pesq_mos_lqo"].notna().all()
    assert (metrics.loc[real, "pesq_mode"] == "wb").all()


def test_the_light_packets_are_the_baresip_calls_size_on_the_codecs_clock(run_dir: Path) -> None:
    """In packets.parquet every light packet carries the payload baresip's AMR-WB packets
    carry (the model's octet-aligned size) at the overhead model's wire size, and RTP
    timestamps advance 320 ticks (20 ms at 16 kHz) a packet; the simulator's packets of
    the same scenario (octet-aligned) are of the same size."""
    emulated = pd.read_parquet(run_dir / "packets.parquet")
    sent = baresip_codec(CODEC).sent
    payload = sent.payload_bytes(PTIME_S)
    light = emulated[emulated["call"].isin(LIGHT)]
    baresip = emulated[emulated["call"].isin(BARESIP)]
    assert set(light["direction"]) == set(baresip["direction"]) and len(light) > 0
    assert set(light["payload_bytes"]) == set(baresip["payload_bytes"]) == {payload}
    assert set(light["wire_bytes"]) == {wire_bytes_per_packet(payload, Overhead())}
    for _, flow in light.groupby("flow"):
        ordered = flow.sort_values("seq")
        steps = np.diff(ordered["rtp_ts"].to_numpy()) / np.diff(ordered["seq"].to_numpy())
        assert set(steps) == {sent.rtp_ticks(PTIME_S)} == {round(16000 * PTIME_S)}
    scenario = parse_scenario(SCENARIO, "light-amr-wb.yaml")
    sim_dir = run_scenario(scenario, run_dir.parent.parent / "sim").run_dir
    sim = pd.read_parquet(sim_dir / "packets.parquet")
    assert set(sim["payload_bytes"]) == {payload}
    assert set(sim["wire_bytes"]) == set(light["wire_bytes"])


def test_the_light_rtp_on_the_links_is_octet_aligned_mode_8(run_dir: Path) -> None:
    """On both links the light calls' RTP goes both ways at the model's wire size; in the
    UE side's capture every RTP payload has CMR 15 and one ToC of mode 8 with Q set, and
    payload_modes reads the light streams' payloads as AMR-WB 23.85."""
    plan = light_callers_plan(run_dir)
    calls = plan["calls"]
    assert isinstance(calls, list)
    addresses = {str(call["ue_address"]) for call in calls}
    assert len(addresses) == len(LIGHT)
    payload = baresip_codec(CODEC).sent.payload_bytes(PTIME_S)
    for segment in ("radio", "core"):
        records = pq.read_table(run_dir / "emulation" / f"link-{segment}.parquet").to_pandas()
        light = records[
            (records["protocol"] == IPPROTO_UDP)
            & (records["src"].isin(addresses) | records["dst"].isin(addresses))
            & records["rtp_ssrc"].notna()
        ]
        assert set(light["direction"]) == {"uplink", "downlink"}, segment
        assert set(light["wire_bytes"]) == {wire_bytes_per_packet(payload, Overhead())}
    payloads = rtp_payloads(run_dir / "captures" / "ue.pcap")
    frame_type = amr_frame_type(baresip_codec(CODEC).sent)
    heads = {(len(p), *octet_aligned_fields(p)) for p in payloads}
    assert heads == {(payload, NO_MODE_REQUEST, 0, frame_type, 1)}
    head = np.array([int.from_bytes(p[:3], "big") for p in payloads], dtype=np.int64)
    size = np.array([len(p) for p in payloads], dtype=np.int64)
    read = amr_mode(head, size, wideband=True, octet_aligned=True)
    assert read is not None and read.name == CODEC and read.packets == len(payloads)
    emulated = pd.read_parquet(run_dir / "packets.parquet")
    light_seen = emulated[emulated["call"].isin(LIGHT)]
    up = int((light_seen["direction"] == "uplink").sum())
    assert len(payloads) >= up  # the UE side's capture holds at least every uplink packet
