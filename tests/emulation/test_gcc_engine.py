"""`voipbed run --engine emulation` of rate-controlled calls: the GCC endpoints, end to end.

One call of AMR-WB starting at its top mode, over IPv6, through a link whose
capacity is below that mode's rate, for 15 s: the run exits 0 and writes the
simulator's trace, each packet with the mode its sender coded it with and
the target it was sent under, its size counting the 40-byte IPv6 header, the
receivers' feedback counted per direction and never taken for media; nothing
of the run is left behind, also when Ctrl-C stops it mid-call. (The GCC
agreement and endpoint tests run over IPv4.)
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tests.emulation.conftest import require
from tests.emulation.test_engine_signals import nothing_left, programs_of
from voipbed.cli import main
from voipbed.emulation.cleanup import find_leftovers
from voipbed.emulation.frames import IPPROTO_UDP
from voipbed.emulation.gcc_io import IPV6_UDP_BYTES
from voipbed.emulation.names import run_tag
from voipbed.models.codec_modes import AMR_WB
from voipbed.models.rtp_packet import extension_bytes
from voipbed.trace import PACKET_SCHEMA

pytestmark = [pytest.mark.emulation, pytest.mark.slow]

DURATION_S = 15.0
CALL = f"""\
name: emulated-gcc
seed: 5
duration: {DURATION_S:g}s
calls:
  count: 1
  codec: AMR-WB-23.85
  ptime: 20ms
  ip_version: 6
  rate_control: {{algorithm: gcc, feedback: rfc8888}}
path:
  - name: bottleneck
    capacity: 36kbps
    one_way_delay: 20ms
    queue: {{packets: 25}}
radio: {{rrc: null}}
"""
RTP_HEADER_BYTES = 12  # RFC 3550 section 5.1


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One emulated rate-controlled call, shared by the tests that read it."""
    require("mnexec", "ethtool")
    root = tmp_path_factory.mktemp("emulated-gcc")
    scenario = root / "gcc.yaml"
    scenario.write_text(CALL, encoding="utf-8")
    out = root / "runs"
    result = CliRunner().invoke(
        main, ["run", "--engine", "emulation", str(scenario), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    (folder,) = out.iterdir()
    return folder


def sent_rows(run_dir: Path) -> dict[int, list[dict[str, str]]]:
    """Each flow's sender log, by flow id (uplink 0, downlink 1)."""
    logs = {}
    for flow, direction in enumerate(("uplink", "downlink")):
        path = run_dir / "emulation" / f"gcc-c0-{direction}-tx.csv"
        with path.open() as handle:
            logs[flow] = list(csv.DictReader(handle))
    return logs


def test_the_trace_has_the_simulators_columns_and_the_senders_modes(run_dir: Path) -> None:
    """Both flows' packets are rows of the packets schema, each with a mode of the codec's
    family and a target; the sender moved between several modes."""
    packets = pq.read_table(run_dir / "packets.parquet")
    assert packets.schema == PACKET_SCHEMA
    frame = packets.to_pandas()
    assert sorted(frame["flow"].unique()) == [0, 1]
    modes = {point.codec for point in AMR_WB.points}
    assert set(frame["codec"].astype(str)) <= modes
    assert frame["codec"].nunique() > 1
    assert frame["target_bps"].notna().all()
    assert (frame["target_bps"] > 0).all()
    for _, flow in frame.groupby("flow"):
        assert len(flow) >= 0.9 * DURATION_S / 0.020
        assert flow["seq"].is_unique
    records = pq.read_table(run_dir / "emulation" / "link-bottleneck.parquet").to_pandas()
    udp = records[records["protocol"] == IPPROTO_UDP]
    assert len(udp) > 0 and udp["src"].str.contains(":").all()  # every datagram IPv6


def test_each_row_is_the_packet_its_sender_logged(run_dir: Path) -> None:
    """Rows match the sender's log by sequence number (mode, payload, target), and every
    row is an RTP packet of its mode's size: no feedback packet became a row."""
    frame = pd.read_parquet(run_dir / "packets.parquet")
    headers = IPV6_UDP_BYTES + RTP_HEADER_BYTES + extension_bytes(True, False)
    assert (frame["wire_bytes"] - frame["payload_bytes"] == headers).all()
    for flow, rows in sent_rows(run_dir).items():
        mine = frame[frame["flow"] == flow]
        assert len(mine) <= len(rows)
        for _, packet in mine.iterrows():
            logged = rows[int(packet["seq"])]
            assert logged["mode"] == packet["codec"]
            assert int(logged["payload_bytes"]) == packet["payload_bytes"]
            assert float(logged["target_bps"]) == pytest.approx(packet["target_bps"])


def test_feedback_is_counted_per_direction(run_dir: Path) -> None:
    """One feedback event per direction, with the reports its receivers sent and their
    bytes on the wire; the call starts and ends as scheduled."""
    events = pd.read_parquet(run_dir / "events.parquet")
    feedback = [json.loads(f) for f in events.loc[events["kind"] == "feedback", "fields"]]
    assert sorted(f["direction"] for f in feedback) == ["downlink", "uplink"]
    for fields in feedback:
        about = "uplink" if fields["direction"] == "downlink" else "downlink"
        path = run_dir / "emulation" / f"gcc-c0-{about}-rx-feedback.csv"
        with path.open() as handle:
            sent = list(csv.DictReader(handle))
        assert fields["packets"] == len(sent) >= 0.5 * DURATION_S / 0.1
        rtcp = sum(int(row["bytes"]) for row in sent)
        assert fields["bytes"] == rtcp + IPV6_UDP_BYTES * len(sent)
    kinds = list(events["kind"])
    assert kinds.count("call_start") == 1 and kinds.count("call_end") == 1
    assert "sip_request" not in kinds  # no SIP for rate-controlled calls


def test_nothing_of_the_run_is_left(run_dir: Path) -> None:
    """After the run no namespace, interface or process of its tag remains, and no process
    names the run's folder (the endpoints' logs are in their arguments)."""
    assert not find_leftovers(run_tag(run_dir.name), run_dir.name)
    assert programs_of(run_dir) == []


@pytest.mark.parametrize(
    ("override", "named"),
    [("calls.rtcp_share=10%", "calls.rtcp_share"), ("calls.count=21", "calls.count")],
)
def test_what_the_endpoints_cannot_do_is_refused_up_front(
    tmp_path: Path, override: str, named: str
) -> None:
    """A rate-controlled scenario the GCC endpoints cannot run exits 2 naming what, and
    builds nothing."""
    scenario = tmp_path / "gcc.yaml"
    scenario.write_text(CALL, encoding="utf-8")
    out = tmp_path / "runs"
    result = CliRunner().invoke(
        main, ["run", "--engine", "emulation", str(scenario), "--set", override, "--out", str(out)]
    )
    assert result.exit_code == 2, result.output
    assert named in result.output
    assert not out.exists()


def test_ctrl_c_mid_call_stops_the_endpoints_and_tears_down_everything(tmp_path: Path) -> None:
    """SIGINT while the endpoints send: exit 130 naming the run, no process, namespace or
    interface of the run left."""
    require("mnexec", "ethtool")
    scenario = tmp_path / "gcc.yaml"
    scenario.write_text(CALL.replace(f"duration: {DURATION_S:g}s", "duration: 60s"), "utf-8")
    out = tmp_path / "runs"
    voipbed = Path(sys.executable).with_name("voipbed")
    process = subprocess.Popen(
        [str(voipbed), "run", "--engine", "emulation", str(scenario), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90.0
        sending: list[Path] = []
        while not sending and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
            logs = list(out.glob("*/emulation/gcc-c0-uplink-tx.csv"))
            sending = [log for log in logs if len(log.read_text().splitlines()) > 50]
        assert sending, "the sender never sent"
        run_dir = sending[0].parents[1]
        assert programs_of(run_dir)  # the endpoints are running
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=60)[0].decode(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, output
    assert "interrupted" in output and str(run_dir) in output
    assert not nothing_left(run_dir)
    assert programs_of(run_dir) == []
