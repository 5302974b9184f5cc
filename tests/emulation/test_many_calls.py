"""Two hundred emulated calls: eight baresip calls with audio, the rest light calls.

One run of 200 calls of 10 s, their starts spread over 3 s, through Kamailio and two
userspace links: every call is set up and hung up, every flow is scored, what each far
end received is what the links recorded, the summary and the report say how many
streams carried real audio, and nothing of the run is left afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from tests.emulation.conftest import require
from tests.emulation.test_engine_signals import programs_of
from voipbed.cli import main
from voipbed.emulation.calls import audio_call_count
from voipbed.emulation.cleanup import find_leftovers
from voipbed.emulation.engine import MAX_CALLS
from voipbed.emulation.names import run_tag

pytestmark = [pytest.mark.emulation, pytest.mark.slow]

CALLS = MAX_CALLS
MANY = f"""\
name: many-calls
duration: 14s
calls: {{count: {CALLS}, codec: PCMU, ptime: 20ms, start_spread: 3s, hold_time: 10s}}
path:
  - {{name: radio, one_way_delay: 10ms, loss: 1%}}
  - {{name: core, one_way_delay: 20ms}}
radio: {{rrc: null}}
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 200-call run, shared by the tests that read it."""
    require("mnexec", "ethtool", "kamailio", "baresip", "espeak-ng", "sox")
    root = tmp_path_factory.mktemp("many")
    scenario = root / "many.yaml"
    scenario.write_text(MANY, encoding="utf-8")
    out = root / "runs"
    result = CliRunner().invoke(
        main, ["run", "--engine", "emulation", str(scenario), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    (folder,) = out.iterdir()
    return folder


def _agent_lines(run_dir: Path, role: str) -> list[dict[str, Any]]:
    path = run_dir / "emulation" / "light" / f"{role}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_every_call_is_set_up_and_hung_up(run_dir: Path) -> None:
    """Each of the 200 calls was dialled, answered and ended; the light ones by a BYE
    answered 200, and Kamailio routed an INVITE, ACK and BYE for every call."""
    events = pd.read_parquet(run_dir / "events.parquet")
    for kind in ("call_dial", "call_start", "call_end"):
        calls = events.loc[events["kind"] == kind, "call"]
        assert sorted(calls) == list(range(CALLS)), kind
    ends = [json.loads(f) for f in events.loc[events["kind"] == "call_end", "fields"]]
    light = [end for end in ends if end.get("light")]
    assert len(light) == CALLS - audio_call_count(CALLS)
    assert all(end["reason"] == "bye" and end["status"] == 200 for end in light)
    sip = [json.loads(f) for f in events.loc[events["kind"] == "sip_request", "fields"]]
    for method in ("INVITE", "ACK", "BYE"):
        assert len({s["call_id"] for s in sip if s["method"] == method}) >= CALLS, method


def test_every_flow_is_scored(run_dir: Path) -> None:
    """400 flows, each with packets sent and received and a MOS in G.107's range."""
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    assert len(metrics) == 2 * CALLS
    assert (metrics["sent"] > 0).all() and (metrics["received"] > 0).all()
    assert metrics["mos"].between(1.0, 4.5).all()


def test_what_the_far_ends_received_is_what_the_links_recorded(run_dir: Path) -> None:
    """Per light call and direction: the packets the agent sent are the trace's sent, and
    what the receiving agent counted is what the last link delivered (a packet or two
    may reach a caller that has already hung up)."""
    metrics = pd.read_parquet(run_dir / "metrics.parquet").set_index("flow")
    sides = {"callers": (0, 1), "answerers": (1, 0)}  # flow offset sent, received
    for role, (sent_offset, received_offset) in sides.items():
        media = [line for line in _agent_lines(run_dir, role) if line["what"] == "media"]
        assert len(media) == CALLS - audio_call_count(CALLS)
        for line in media:
            assert line["sent"] == metrics.loc[2 * line["call"] + sent_offset, "sent"]
            traced = metrics.loc[2 * line["call"] + received_offset, "received"]
            assert line["received"] <= traced <= line["received"] + 2


def test_the_summary_and_report_say_how_many_streams_carried_real_audio(run_dir: Path) -> None:
    """summary.json's media: 16 real-audio flows (8 baresip calls, each PESQ-scored), 384
    light; the report's headline says "16 of 400"."""
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    audio = audio_call_count(CALLS)
    assert summary["media"]["real_audio_flows"] == 2 * audio
    assert summary["media"]["light_flows"] == 2 * (CALLS - audio)
    assert summary["media"]["pesq_scored_flows"] == 2 * audio
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    real = metrics["real_audio"].to_numpy(dtype=bool)
    assert np.isfinite(metrics.loc[real, "pesq_mos_lqo"]).all()
    assert metrics.loc[~real, "pesq_mos_lqo"].isna().all()
    report = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "Real-audio streams" in report and f"{2 * audio} of {2 * CALLS}" in report


def test_the_links_kept_up(run_dir: Path) -> None:
    """No link's socket dropped a frame (its kernel_drops), and both agents sent every
    packet they meant to."""
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert {name: facts["kernel_drops"] for name, facts in manifest["links"].items()} == {
        "radio": 0,
        "core": 0,
    }
    light = manifest["light_calls"]
    assert light["answered"] == light["dialled"] == CALLS - audio_call_count(CALLS)
    assert light["callers"]["send_errors"] == light["answerers"]["send_errors"] == 0


def test_nothing_of_the_run_is_left(run_dir: Path) -> None:
    """After the run no namespace, interface or process of it remains (the agents too)."""
    assert not find_leftovers(run_tag(run_dir.name), run_dir.name)
    assert programs_of(run_dir) == []
