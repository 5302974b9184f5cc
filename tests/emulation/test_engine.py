"""`voipbed run --engine emulation`: a real call through the emulated network, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from tests.emulation.conftest import require
from voipbed.cli import main
from voipbed.emulation.cleanup import find_leftovers
from voipbed.emulation.names import run_tag

pytestmark = [pytest.mark.emulation, pytest.mark.slow]

CALL = """\
name: emulated-call
duration: 8s
calls: {count: 1, codec: PCMU, ptime: 20ms}
path:
  - name: radio
    one_way_delay: 10ms
    capacity: 2Mbps
    queue: {packets: 50}
    loss: 5%
  - name: core
    one_way_delay: 20ms
    jitter: {distribution: uniform, scale: 4ms}
radio: {rrc: null}
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One emulated call, shared by the tests that read it."""
    require("mnexec", "ethtool", "kamailio", "baresip", "espeak-ng", "sox")
    root = tmp_path_factory.mktemp("emulated")
    scenario = root / "call.yaml"
    scenario.write_text(CALL, encoding="utf-8")
    out = root / "runs"
    result = CliRunner().invoke(
        main, ["run", "--engine", "emulation", str(scenario), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    (folder,) = out.iterdir()
    return folder


def test_the_run_folder_holds_what_a_simulated_run_holds(run_dir: Path) -> None:
    """Trace, metrics, summary and report, with PESQ beside the E-model."""
    for name in (
        "packets.parquet",
        "events.parquet",
        "manifest.json",
        "metrics.parquet",
        "summary.json",
        "report.html",
        "scenario.yaml",
    ):
        assert (run_dir / name).exists(), name
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["engine"] == "emulation"
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    assert sorted(metrics["flow"]) == [0, 1]
    assert metrics["pesq_mos_lqo"].between(1.0, 4.5).all()
    assert metrics["mos"].between(1.0, 4.5).all()
    assert "pesq_mos_lqo" in summary["metrics"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["engine"] == "emulation"
    assert set(manifest["links"]) == {"radio", "core"}


def test_every_packet_of_the_call_is_in_the_trace(run_dir: Path) -> None:
    """At least 8 s of 20 ms packets each way, no more than the time they flowed holds,
    numbered without gaps, delayed at least 30 ms."""
    packets = pd.read_parquet(run_dir / "packets.parquet")
    for _, flow in packets.groupby("direction", observed=True):
        # A busy machine plays the speech slower: the call, and the callee's media, last longer.
        flowed_s = flow["send_s"].max() - flow["send_s"].min()
        assert 0.95 * 400 <= len(flow) <= 1.05 * (flowed_s / 0.020 + 1)
        assert sorted(flow["seq"]) == list(range(len(flow)))  # nothing sent went unrecorded
        received = flow.dropna(subset=["recv_s"])
        delay = received["recv_s"] - received["send_s"]
        assert delay.min() >= 0.030  # 10 ms + 20 ms of one-way delay, plus serialization
        assert delay.median() < 0.030 + 0.004 + 0.005  # + jitter, + the emulator's own
        lost = flow["recv_s"].isna()
        assert 0.01 <= lost.mean() <= 0.10  # 5 % Bernoulli on the radio hop
        assert set(flow.loc[lost, "lost_at"]) == {"radio"}
        assert set(flow.loc[lost, "drop_reason"]) == {"channel"}
        assert (flow["wire_bytes"] == 200).all() and (flow["dscp"] == 46).all()


def test_events_tell_the_call_and_its_signalling(run_dir: Path) -> None:
    """The call starts, ends when its speech does, and its INVITE came from the UE."""
    events = pd.read_parquet(run_dir / "events.parquet")
    kinds = list(events["kind"])
    assert kinds.count("call_start") == 1 and kinds.count("call_end") == 1
    end = events[events["kind"] == "call_end"].iloc[0]
    assert json.loads(end["fields"])["reason"] == "end of file"
    start = events[events["kind"] == "call_start"].iloc[0]
    lasted_s = end["time_s"] - start["time_s"]
    assert lasted_s >= 8.0 - 1.0  # all 8 s of speech played (a busy machine takes longer)
    # It lasted as long as its media flowed, however long a busy machine took to play it.
    send_s = pd.read_parquet(run_dir / "packets.parquet")["send_s"]
    assert lasted_s == pytest.approx(send_s.max() - send_s.min(), abs=1.0)
    sip = [json.loads(f) for f in events.loc[events["kind"] == "sip_request", "fields"]]
    invites = [s for s in sip if s["method"] == "INVITE"]
    assert len(invites) == 1 and invites[0]["from"].startswith("10.0.0.11:")
    assert {s["method"] for s in sip} >= {"REGISTER", "INVITE", "ACK", "BYE"}
    times = events.loc[events["kind"] == "sip_request", "time_s"].to_numpy()
    assert np.all(np.diff(times) >= 0)


def test_nothing_of_the_run_is_left(run_dir: Path) -> None:
    """After the run no namespace, interface or process of its tag remains."""
    assert not find_leftovers(run_tag(run_dir.name), run_dir.name)


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("calls.codec=AMR-WB-12.65", "calls.codec"),
        ("calls.srtp_tag_bits=32", "calls.srtp_tag_bits"),
        ("calls.count=201", "calls.count"),
    ],
)
def test_what_the_emulation_cannot_do_is_refused_up_front(
    tmp_path: Path, override: str, named: str
) -> None:
    """A scenario the emulation cannot run exits 2 naming what, and builds nothing."""
    scenario = tmp_path / "call.yaml"
    scenario.write_text(CALL, encoding="utf-8")
    out = tmp_path / "runs"
    result = CliRunner().invoke(
        main, ["run", "--engine", "emulation", str(scenario), "--set", override, "--out", str(out)]
    )
    assert result.exit_code == 2, result.output
    assert named in result.output
    assert not out.exists()


def test_sip_over_tcp_sets_up_the_call_over_tcp(tmp_path: Path) -> None:
    """With signalling.transport tcp every request reaches Kamailio over TCP."""
    require("mnexec", "ethtool", "kamailio", "baresip", "espeak-ng", "sox")
    scenario = tmp_path / "call.yaml"
    scenario.write_text(CALL.replace("duration: 8s", "duration: 3s"), encoding="utf-8")
    out = tmp_path / "runs"
    args = ["run", "--engine", "emulation", str(scenario), "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--set", "signalling.transport=tcp"])
    assert result.exit_code == 0, result.output
    (run,) = out.iterdir()
    events = pd.read_parquet(run / "events.parquet")
    sip = [json.loads(f) for f in events.loc[events["kind"] == "sip_request", "fields"]]
    assert {s["method"] for s in sip} >= {"REGISTER", "INVITE", "ACK", "BYE"}
    assert {s["transport"] for s in sip} == {"tcp"}
    metrics = pd.read_parquet(run / "metrics.parquet")
    assert metrics["setup_time_s"].between(0.0, 5.0).all()


@pytest.mark.parametrize("ip_version", [4, 6])
def test_a_sip_load_runs_through_the_core_beside_the_media_call(
    tmp_path: Path, ip_version: int
) -> None:
    """signalling.load: SIPp's calls all complete through Kamailio and are counted, over
    IPv4 and IPv6."""
    require("mnexec", "ethtool", "kamailio", "baresip", "espeak-ng", "sox", "sipp")
    scenario = tmp_path / "call.yaml"
    scenario.write_text(CALL.replace("duration: 8s", "duration: 4s"), encoding="utf-8")
    out = tmp_path / "runs"
    load = "signalling.load={calls: 20, calls_per_second: 10, hold: 100ms}"
    args = ["run", "--engine", "emulation", str(scenario), "--out", str(out), "--set", load]
    args += ["--set", f"calls.ip_version={ip_version}"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    (run,) = out.iterdir()
    events = pd.read_parquet(run / "events.parquet")
    (fields,) = [json.loads(f) for f in events.loc[events["kind"] == "sip_load", "fields"]]
    assert fields["calls_placed"] == 20
    assert fields["calls_successful"] + fields["calls_failed"] == 20
    assert fields["calls_successful"] >= 18  # 5 % loss on the radio: SIP retransmits
    assert 0.0 < fields["setup_p50_s"] < 1.0
    sip = [json.loads(f) for f in events.loc[events["kind"] == "sip_request", "fields"]]
    loaded = [s for s in sip if s["method"] == "INVITE" and s["uri"].startswith("sip:load@")]
    assert len(loaded) >= 20
