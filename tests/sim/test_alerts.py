"""Alerts: one-way audio, media gaps, low MOS, loss bursts and echo risk, with their evidence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from voipbed.capture_import import import_captures
from voipbed.expectations import check_summary, parse_expectation
from voipbed.frame_fields import udp_fields
from voipbed.loader import parse_scenario
from voipbed.models.echo_tolerance import EchoTolerance, echo_delay_limit_s
from voipbed.pcap_export import export_pcaps
from voipbed.pcap_file import read_capture, write_pcap
from voipbed.runner import run_scenario

CLEAN = """
name: clean
seed: 2
duration: 30s
calls: {count: 2, codec: AMR-WB-12.65}
path:
  - {name: radio, one_way_delay: 30ms, jitter: {distribution: uniform, scale: 2ms}}
  - {name: core, one_way_delay: 20ms}
"""


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("clean")
    run_dir = run_scenario(parse_scenario(CLEAN, "clean.yaml"), out).run_dir
    export_pcaps(run_dir, out / "captures")
    return run_dir, out / "captures"


def _blocked(clean: tuple[Path, Path], out: Path, *, both: bool) -> Path:
    """The two captures with call 0's downlink (and with ``both``, its uplink) not
    received from 10 s to 16 s; the run imported from them."""
    run_dir, captures = clean
    for name, to in (("ue.pcap", 10), ("far_end.pcap", 172)):
        capture = read_capture(captures / name)
        fields = udp_fields(capture)
        t = capture.time_ns / 1e9
        call0 = (fields.dst[:, 3] == 2) | (fields.src[:, 3] == 2)  # call 0's addresses end in .2
        received_here = fields.dst[:, 0] == to
        blocked = call0 & received_here & (t >= 10.0) & (t < 16.0)
        if name == "far_end.pcap" and not both:
            blocked[:] = False
        frames = [(int(capture.time_ns[k]), capture.frame(k)) for k in np.flatnonzero(~blocked)]
        write_pcap(out / name, frames)
    scenario = run_dir / "scenario.yaml"
    result = import_captures([out / "ue.pcap", out / "far_end.pcap"], out, scenario_file=scenario)
    return result.run_dir


def _alerts(run_dir: Path) -> list[dict[str, Any]]:
    rows = pq.read_table(run_dir / "events.parquet").to_pylist()
    return [r | json.loads(r["fields"]) for r in rows if r["kind"] == "alert"]


def test_one_direction_blocked_mid_call_is_one_way_audio(
    clean: tuple[Path, Path], tmp_path: Path
) -> None:
    """Call 0's downlink blocked from 10 s to 16 s while its uplink flows: exactly one
    alert, one-way audio on that call and direction, from the last packet before the block
    to the first after it; the summary counts it and an expectation of none fails."""
    run_dir = _blocked(clean, tmp_path, both=False)
    alerts = _alerts(run_dir)
    assert [(a["alert"], a["call"], a["direction"]) for a in alerts] == [
        ("one_way_audio", 0, "downlink")
    ]
    (alert,) = alerts
    assert 9.9 < alert["start_s"] <= 10.0 and 16.0 <= alert["end_s"] < 16.1
    assert alert["other_direction_received"] > 250  # 6 s of 20 ms packets the other way
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["alerts"]["one_way_audio"] == 1 and sum(summary["alerts"].values()) == 1
    (outcome,) = check_summary([parse_expectation("alerts.one_way_audio <= 0")], summary)
    assert not outcome.passed


def test_both_directions_blocked_is_a_gap_each_way(
    clean: tuple[Path, Path], tmp_path: Path
) -> None:
    """Both directions blocked: a media gap on each flow, no one-way audio."""
    alerts = _alerts(_blocked(clean, tmp_path, both=True))
    assert sorted((a["alert"], a["direction"]) for a in alerts) == [
        ("media_gap", "downlink"),
        ("media_gap", "uplink"),
    ]


def test_a_clean_run_raises_none_and_bursts_raise_low_mos(
    clean: tuple[Path, Path], tmp_path: Path
) -> None:
    """No alert on a clean path; bursty 25 % loss raises low-MOS windows whose evidence is
    under the threshold."""
    assert _alerts(clean[0]) == []
    lossy = CLEAN.replace(
        "jitter: {distribution: uniform, scale: 2ms}",
        "loss: {model: gilbert_elliott, rate: 25%, burst: 4}",
    )
    run_dir = run_scenario(parse_scenario(lossy, "lossy.yaml"), tmp_path).run_dir
    low = [a for a in _alerts(run_dir) if a["alert"] == "low_mos"]
    assert low and all(a["mos_min"] < 3.1 for a in low)


def test_an_unknown_alert_in_expect_is_named() -> None:
    """alerts.KIND must be a kind the runs raise (or all)."""
    with pytest.raises(ValueError, match="unknown alert"):
        parse_expectation("alerts.echo <= 0")
    assert parse_expectation("alerts.all <= 0").metric.family == "alerts"


ECHO = """
name: echo
seed: 3
duration: 20s
calls: {count: 2, codec: AMR-WB-12.65}
emodel: {telr: TELR}
path:
  - {name: radio, one_way_delay: 30ms}
  - {name: core, one_way_delay: CORE}
"""


def _echo_run(out: Path, telr: float, core: str) -> Path:
    text = ECHO.replace("TELR", str(telr)).replace("CORE", core)
    return run_scenario(parse_scenario(text, "echo.yaml"), out).run_dir


@pytest.fixture(scope="module")
def long_echo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run with 200 ms one-way network delay and TELR 55 dB."""
    return _echo_run(tmp_path_factory.mktemp("long_echo"), 55, "170ms")


def test_a_long_echo_path_raises_echo_risk_on_every_flow(long_echo: Path) -> None:
    """200 ms one way at TELR 55 dB: one echo_risk alert per flow over its whole call, whose
    delay is the mean mouth-to-ear delay of the call's two directions, past the limit."""
    echoes = [a for a in _alerts(long_echo) if a["alert"] == "echo_risk"]
    metrics = pq.read_table(long_echo / "metrics.parquet").to_pylist()
    flows = {(m["call"], m["direction"]): m for m in metrics}
    assert sorted((a["call"], a["direction"]) for a in echoes) == sorted(flows)
    limit = echo_delay_limit_s(55.0, EchoTolerance.ACCEPTABLE)
    for alert in echoes:
        call = [m for m in metrics if m["call"] == alert["call"]]
        mean_ta = sum(m["ta_s"] for m in call) / len(call)
        assert alert["echo_delay_s"] == pytest.approx(mean_ta, abs=0.005)
        assert alert["echo_delay_s"] > alert["limit_s"] == pytest.approx(limit)
        assert alert["telr_db"] == 55.0
        assert alert["start_s"] < 2.0 and alert["end_s"] >= 20.0 - 2.0
        assert alert["windows"] == pytest.approx((alert["end_s"] - alert["start_s"]) / 2.0)
    summary = json.loads((long_echo / "summary.json").read_text())
    assert summary["alerts"]["echo_risk"] == len(echoes)
    (outcome,) = check_summary([parse_expectation("alerts.echo_risk <= 0")], summary)
    assert not outcome.passed
    assert "echo risk" in (long_echo / "report.html").read_text()


def test_a_short_echo_path_raises_no_echo_risk(tmp_path: Path) -> None:
    """50 ms one way at TELR 55 dB: no echo_risk, and alerts.echo_risk <= 0 holds."""
    run_dir = _echo_run(tmp_path, 55, "20ms")
    assert [a for a in _alerts(run_dir) if a["alert"] == "echo_risk"] == []
    summary = json.loads((run_dir / "summary.json").read_text())
    (outcome,) = check_summary([parse_expectation("alerts.echo_risk <= 0")], summary)
    assert outcome.passed


@pytest.mark.parametrize("telr", [58, 65])
def test_telr_moves_the_limit(long_echo: Path, tmp_path: Path, telr: int) -> None:
    """The same 200 ms path raises echo_risk at TELR 55 dB, and at a higher TELR exactly when
    its mean mouth-to-ear delay passes that TELR's longer limit."""
    assert any(a["alert"] == "echo_risk" for a in _alerts(long_echo))
    run_dir = _echo_run(tmp_path, telr, "170ms")
    metrics = pq.read_table(run_dir / "metrics.parquet").to_pylist()
    longest = max(m["ta_s"] for m in metrics)
    limit = echo_delay_limit_s(float(telr), EchoTolerance.ACCEPTABLE)
    assert limit > echo_delay_limit_s(55.0, EchoTolerance.ACCEPTABLE)
    raised = [a for a in _alerts(run_dir) if a["alert"] == "echo_risk"]
    assert bool(raised) == (longest > limit)
