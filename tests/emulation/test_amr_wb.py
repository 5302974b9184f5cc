"""AMR-WB calls made by baresip's amr module over the emulated network.

One baresip call per run through Kamailio across two userspace links, AMR-WB at 23.85 kbit/s,
Bernoulli loss on the first (``radio``) segment at 0, 3 and 10 %. What the UE side's capture
holds is RFC 4867's octet-aligned payload of mode 8, as the adapter says baresip sends; each
direction's recording is scored with PESQ (P.862.2 wideband) against the speech sent.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from tests.emulation.conftest import require
from voipbed.emulation.frames import parse_frame
from voipbed.emulation.stacks.baresip import baresip_codec
from voipbed.loader import parse_scenario
from voipbed.models.codecs import CODECS
from voipbed.models.emodel_wb import ie_eff_wb
from voipbed.pcap_file import read_capture
from voipbed.runner import run_scenario

pytestmark = [pytest.mark.emulation, pytest.mark.slow]

CODEC = "AMR-WB-23.85"
SCENARIO = f"""
name: amr-wb-loss
seed: 1
duration: 8s
calls: {{count: 1, codec: {CODEC}, ptime: 20ms, amr_payload_format: octet_aligned}}
path:
  - {{name: radio, one_way_delay: 10ms}}
  - {{name: core, one_way_delay: 10ms}}
radio: {{rrc: null}}
"""
LOSS_PCT = (0, 3, 10)
AMR_WB_MODE = 8  # 23.85 kbit/s, frame type 8 (3GPP TS 26.201 Table 1a)
NO_MODE_REQUEST = 15  # CMR 15 (RFC 4867 clause 4.3.1)
UDP_HEADER = 8
RTP_HEADER = 12

# Measured on the development VM (2 cores, under another session's CPU load), this scenario's
# 8 s call; PESQ-WB MOS-LQO uplink / downlink (loss % measured in brackets):
#
#   configured  seed 1 (three runs)                seed 2                     seed 3
#    0 %        3.07-3.10 / 3.20-3.22              3.07 / 3.19                3.10 / 3.23
#    3 %        2.18-2.21 / 2.41-2.66 (3.2/2.0)    2.56 / 2.02 (3.2/4.5)      2.77 / 2.37 (2.0/4.0)
#   10 %        1.61-1.67 / 1.71-1.80 (11.0/7.4)   1.53 / 1.30 (13.0/11.2)    1.84 / 1.57 (7.0/10.9)
#
# G.722 scores about 3.07 clean on the same espeak-ng speech (tests/emulation/test_pesq_loss.py);
# AMR-NB 12.2 through sox's own opencore encoder scores 2.87 in P.862 on it, an emulated AMR
# 12.2 call 2.89: the codec, not the emulation, holds such clean figures below G.711's 4.07.
# Thresholds, between these figures and a broken pipeline (as in test_pesq_loss.py): clean above
# 2.85, each step at least 0.2 lower (smallest measured 0.33), 0 -> 10 % at least 0.8 (1.26).
MIN_CLEAN_MOS = 2.85
MIN_STEP_DROP = 0.2
MIN_TOTAL_DROP = 0.8
LOSS_SIGMAS = 3.0


def rtp_payloads(capture: Path) -> list[bytes]:
    """The RTP payload of every RTP packet over IPv4 in ``capture``."""
    frames = read_capture(capture)
    payloads = []
    for index in range(len(frames.time_ns)):
        frame = frames.frame(index)
        packet = parse_frame(frame)
        if packet is None or packet.rtp is None or packet.version != 4:
            continue
        header = (frame[packet.ip_offset] & 0x0F) * 4
        start = packet.ip_offset + header + UDP_HEADER + RTP_HEADER
        payloads.append(bytes(frame[start : packet.ip_offset + packet.wire_bytes]))
    return payloads


def octet_aligned_fields(payload: bytes) -> tuple[int, int, int, int]:
    """(CMR, F, FT, Q) of an octet-aligned AMR payload's first ToC (RFC 4867 clause 4.4)."""
    toc = payload[1]
    return payload[0] >> 4, toc >> 7, (toc >> 3) & 0x0F, (toc >> 2) & 0x01


def run(loss_pct: int, base: Path) -> Path:
    """Emulate the call at ``loss_pct`` and return its run folder."""
    scenario = parse_scenario(SCENARIO, overrides=[f"path[0].loss={loss_pct}%"])
    return run_scenario(scenario, base / f"loss-{loss_pct}", engine="emulation").run_dir


def test_amr_wb_pesq_falls_as_loss_rises(tmp_path: Path) -> None:
    """AMR-WB 23.85 goes out octet-aligned in mode 8; its wideband PESQ falls with loss."""
    require("mnexec", "kamailio", "baresip", "espeak-ng", "sox", "tcpdump")
    runs = {loss: run(loss, tmp_path) for loss in LOSS_PCT}
    metrics = {
        loss: pd.read_parquet(run_dir / "metrics.parquet").set_index("direction")
        for loss, run_dir in runs.items()
    }
    for loss, table in metrics.items():  # the figures, for the record (pytest -s)
        print(f"{loss:>2} %\n{table[['sent', 'loss_percent', 'mos', 'pesq_mos_lqo']]}")

    expected_bytes = baresip_codec(CODEC).sent.payload_bytes(0.020)
    assert expected_bytes == 2 + math.ceil(23850 * 0.020 / 8)  # CMR, ToC, 477 bits in octets
    for loss, run_dir in runs.items():
        heads = Counter(
            (len(p), *octet_aligned_fields(p)) for p in rtp_payloads(run_dir / "captures/ue.pcap")
        )
        assert set(heads) == {(expected_bytes, NO_MODE_REQUEST, 0, AMR_WB_MODE, 1)}, heads
        table = metrics[loss]  # the UE side sees the uplink as sent, the downlink as received
        seen = table.at["uplink", "sent"] + table.at["downlink", "received"]
        assert sum(heads.values()) >= 0.99 * seen, f"{loss} %: {heads} of {seen}"
        packets = pd.read_parquet(run_dir / "packets.parquet", columns=["codec", "payload_bytes"])
        assert set(packets["codec"]) == {CODEC}
        assert set(packets["payload_bytes"]) == {expected_bytes}

    amr_wb = CODECS[CODEC]
    for loss, table in metrics.items():
        scored_as = ie_eff_wb(
            amr_wb.ie, amr_wb.bpl_with_plc, table["ppl_percent"], table["burst_r"]
        )
        assert table["ie_eff"].to_numpy() == pytest.approx(scored_as), f"{loss} %: Ie,eff,WB"
        assert sorted(table.index) == ["downlink", "uplink"]
        assert (table["pesq_mode"] == "wb").all()
        p = loss / 100.0
        for direction, row in table.iterrows():
            tolerance = 100.0 * LOSS_SIGMAS * math.sqrt(p * (1.0 - p) / row["sent"])
            assert abs(row["loss_percent"] - loss) <= tolerance, f"{direction} at {loss} %"

    for direction in ("uplink", "downlink"):
        clean, some, much = (metrics[loss].at[direction, "pesq_mos_lqo"] for loss in LOSS_PCT)
        where = f"{direction}: PESQ {clean:.2f} / {some:.2f} / {much:.2f}"
        assert clean > MIN_CLEAN_MOS, where
        assert clean - some >= MIN_STEP_DROP, where
        assert some - much >= MIN_STEP_DROP, where
        assert clean - much >= MIN_TOTAL_DROP, where
        e_model = [metrics[loss].at[direction, "mos"] for loss in LOSS_PCT]
        assert e_model == sorted(e_model, reverse=True), f"{direction}: E-model {e_model}"
