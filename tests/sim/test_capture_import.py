"""Captures in and out: a simulated run exported and imported back, one-end captures,
and captures that hold things that are not RTP."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from voipbed.capture_import import CaptureImportError, import_captures
from voipbed.cli import main
from voipbed.frame_fields import udp_fields
from voipbed.loader import parse_scenario
from voipbed.pcap_export import export_pcaps
from voipbed.pcap_file import read_capture, write_pcap
from voipbed.runner import run_scenario

SCENARIO = """
name: lossy
seed: 4
duration: 20s
calls: {count: 3, codec: AMR-WB-12.65, ptime: 20ms}
path:
  - name: radio
    one_way_delay: 30ms
    jitter: {distribution: exponential, scale: 8ms}
    loss: {model: gilbert_elliott, rate: 3%, burst: 2}
  - {name: core, one_way_delay: 20ms}
"""
COUNTS = ["sent", "received", "lost", "late_discarded"]
FIGURES = ["delay_mean_s", "delay_p95_s", "jitter_s", "burst_r", "r_factor", "mos"]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A simulated run and the two captures it exports."""
    out = tmp_path_factory.mktemp("runs")
    run_dir = run_scenario(parse_scenario(SCENARIO, "lossy.yaml"), out).run_dir
    export_pcaps(run_dir, out / "captures")
    return run_dir, out / "captures"


def _metrics(run_dir: Path) -> pd.DataFrame:
    table = pq.read_table(run_dir / "metrics.parquet").to_pandas()
    return table.sort_values("flow").reset_index(drop=True)


def test_an_exported_run_imported_back_scores_the_same(
    simulated: tuple[Path, Path], tmp_path: Path
) -> None:
    """Both ends' captures, imported with the run's scenario: every flow's counts equal,
    its delays, jitter, R and MOS to the captures' nanosecond."""
    run_dir, captures = simulated
    imported = import_captures(
        [captures / "ue.pcap", captures / "far_end.pcap"],
        tmp_path,
        scenario_file=run_dir / "scenario.yaml",
    )
    before, after = _metrics(run_dir), _metrics(imported.run_dir)
    assert before["lost"].sum() > 0
    assert before[["call", "flow", *COUNTS]].equals(after[["call", "flow", *COUNTS]])
    for column in FIGURES:
        np.testing.assert_allclose(after[column], before[column], rtol=0, atol=1e-6)
    assert list(before["direction"]) == list(after["direction"])


def test_a_receive_side_capture_finds_the_losses_in_the_sequence(
    simulated: tuple[Path, Path], tmp_path: Path
) -> None:
    """The far end's capture of what it received alone: each uplink's losses are the gaps
    in its sequence numbers (as sent, up to its last packet received); its jitter is the
    simulated one, as the RTP clock gives the send times."""
    run_dir, captures = simulated
    capture = read_capture(captures / "far_end.pcap")
    received = udp_fields(capture).dst[:, 0] == 172  # to the far end: the uplink
    frames = [(int(capture.time_ns[k]), capture.frame(k)) for k in np.flatnonzero(received)]
    write_pcap(tmp_path / "rx.pcap", frames)
    imported = import_captures([tmp_path / "rx.pcap"], tmp_path / "out", codec="AMR-WB-12.65")
    after = _metrics(imported.run_dir)
    packets = pq.read_table(run_dir / "packets.parquet").to_pandas()
    before = _metrics(run_dir)
    for call in range(3):
        up = packets[packets["flow"] == 2 * call].sort_values("seq")
        last = up["seq"][up["recv_s"].notna()].max()
        sent = int((up["seq"] <= last).sum())
        mine = after[after["call"] == call].iloc[0]
        assert (mine["sent"], mine["received"]) == (sent, up["recv_s"].notna().sum())
        original = before[before["flow"] == 2 * call].iloc[0]
        assert mine["jitter_s"] == pytest.approx(original["jitter_s"], abs=1e-6)


def test_frames_that_are_not_rtp_are_skipped_and_counted(tmp_path: Path) -> None:
    """A capture with an RTP stream among TCP, a fragment, a cut packet, stray UDP and a
    torn last record: the stream is imported, the rest counted by reason."""
    from tests.unit.test_pcap_reading import rtp_ip

    stream = [(k * 20_000_000, rtp_ip(k, payload=61)) for k in range(50)]
    tcp = bytearray(rtp_ip(100))
    tcp[9] = 6
    stray = rtp_ip(0)[:20] + bytes.fromhex("1f4000350010000001000001") + bytes(4)
    extra = [(1, bytes(tcp)), (2, rtp_ip(3)[:30]), (3, stray[:20] + stray[20:28])]
    write_pcap(tmp_path / "mixed.pcap", sorted(stream + extra))
    with (tmp_path / "mixed.pcap").open("ab") as torn:
        torn.write(bytes(20))
    result = CliRunner().invoke(
        main,
        ["import", str(tmp_path / "mixed.pcap"), "--out", str(tmp_path), "--codec", "AMR-WB-12.65"],
    )
    assert result.exit_code == 0, result.output
    assert "1 RTP streams in 1 calls" in result.output
    run = next(p for p in tmp_path.iterdir() if p.is_dir())
    skipped = json.loads((run / "manifest.json").read_text())["skipped"]
    assert skipped["not UDP"] == 1 and skipped["truncated"] >= 1
    assert skipped["record cut short at the end of the file"] == 1
    assert _metrics(run)["received"].tolist() == [50]


def test_a_capture_without_rtp_is_refused_with_what_it_held(tmp_path: Path) -> None:
    """Only TCP in the capture: exit 2, no traceback, the skipped frames named."""
    from tests.unit.test_pcap_reading import rtp_ip

    tcp = bytearray(rtp_ip(1))
    tcp[9] = 6
    write_pcap(tmp_path / "tcp.pcap", [(0, bytes(tcp))])
    result = CliRunner().invoke(
        main, ["import", str(tmp_path / "tcp.pcap"), "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "no RTP stream found" in result.output and "not UDP" in result.output
    assert "Traceback" not in result.output
    with pytest.raises(CaptureImportError):
        import_captures([tmp_path / "tcp.pcap"] * 3, tmp_path)


def test_telephone_events_in_a_voice_stream_are_left_out(tmp_path: Path) -> None:
    """RFC 4733 events (payload type 101) between a stream's PCMU packets, on its SSRC and
    sequence numbers: left out and counted, and their sequence numbers are not losses."""
    from tests.unit.test_pcap_reading import rtp_ip

    frames = []
    for k in range(60):
        packet = bytearray(rtp_ip(k, payload=160))
        if k % 10 == 5:
            packet[29] = 101  # the RTP header's second byte: marker off, PT 101
        frames.append((k * 20_000_000, bytes(packet)))
    write_pcap(tmp_path / "dtmf.pcap", frames)
    imported = import_captures([tmp_path / "dtmf.pcap"], tmp_path / "out", codec="PCMU")
    metrics = _metrics(imported.run_dir)
    assert metrics["sent"].tolist() == metrics["received"].tolist() == [54]
    skipped = imported.streams.skipped
    assert skipped["packets of a stream's other payload types (e.g. telephone-event)"] == 6
