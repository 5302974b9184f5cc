"""DTLS-SRTP in the emulation against the simulator: the caller's media wait for the
handshake as long in both engines, and no RTP leaves before it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.emulation.conftest import require
from voipbed.loader import parse_scenario
from voipbed.runner import run_scenario

pytestmark = pytest.mark.emulation

ONE_WAY_S = 0.050  # the path below: 35 ms + 15 ms
SCENARIO = """\
name: dtls-srtp-setup
seed: 2
duration: 6s
calls: {count: 1, codec: PCMU, ptime: 20ms, srtp_tag_bits: 80, srtp_keying: dtls}
signalling: {setup: true}
path:
  - {name: radio, one_way_delay: 35ms}
  - {name: core, one_way_delay: 15ms}
radio: {rrc: null}
"""
# Between two baresips on a loopback the audio started 1.003 to 1.009 s after the 200 OK
# (three runs) against the model's 1 s: OpenSSL's timer, RSA signatures and ctrl_tcp's
# events cost milliseconds, the links' delays are within a millisecond a packet. 50 ms
# leaves room for a busy machine and still tells 1 s plus a round trip (1.1 s) from 1 s.
TOLERANCE_S = 0.050


def _secure(run_dir: Path) -> dict[str, Any]:
    events = pd.read_parquet(run_dir / "events.parquet")
    rows = events[events["kind"] == "media_secure"]
    assert len(rows) == 1, f"media_secure events: {len(rows)}"
    fields: dict[str, Any] = json.loads(rows["fields"].iloc[0])
    return fields | {"time_s": float(rows["time_s"].iloc[0])}


@pytest.mark.slow
def test_emulated_dtls_handshake_delays_the_media_as_simulated(tmp_path: Path) -> None:
    """The caller's SRTP is keyed about 1 s and a round trip after the 200 OK in both
    engines (within 50 ms), the callee's one way later; the set-up time holds it, and no
    RTP is sent before."""
    require("mnexec", "ethtool", "kamailio", "baresip", "tcpdump")
    scenario = parse_scenario(SCENARIO, "dtls-srtp-setup.yaml")
    sim_dir = run_scenario(scenario, tmp_path / "sim").run_dir
    emu_dir = run_scenario(scenario, tmp_path / "emu", engine="emulation").run_dir
    sim, emulated = _secure(sim_dir), _secure(emu_dir)
    print("sim:", sim, "\nemulation:", emulated)
    assert sim["dtls_s"] == pytest.approx(1.0 + 2 * ONE_WAY_S)
    assert emulated["dtls_s"] == pytest.approx(sim["dtls_s"], abs=TOLERANCE_S)
    for fields in (sim, emulated):  # the callee is keyed by the server's last flight
        callee_after = fields["callee_secure_s"] - fields["caller_secure_s"]
        assert callee_after == pytest.approx(ONE_WAY_S, abs=TOLERANCE_S)

    packets = pd.read_parquet(emu_dir / "packets.parquet")
    first_uplink = packets.loc[packets["direction"] == "uplink", "send_s"].min()
    answered_s = emulated["time_s"] - emulated["dtls_s"]
    assert first_uplink >= answered_s + 1.0
    assert first_uplink == pytest.approx(emulated["time_s"], abs=TOLERANCE_S)
    metrics = pd.read_parquet(emu_dir / "metrics.parquet")
    sim_metrics = pd.read_parquet(sim_dir / "metrics.parquet")
    print("set-up time, emulation:", metrics["setup_time_s"].tolist())
    print("set-up time, sim:", sim_metrics["setup_time_s"].tolist())
    assert (metrics["setup_time_s"] > emulated["dtls_s"]).all()
