"""Unit tests for the window alerts of voipbed.alerts (runs of windows, echo risk) on
hand-made quality windows, and for their row in the report."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from voipbed.alerts import Alert, find_alerts, window_runs
from voipbed.columns import Columns
from voipbed.loader import parse_scenario
from voipbed.metric_names import EventKind
from voipbed.models.echo_tolerance import EchoTolerance, echo_delay_limit_s
from voipbed.reports.alerts import alerts_table
from voipbed.scenario import Scenario

WINDOW_S = 2.0
NO_PACKETS = pa.table(
    {
        "flow": pa.array([], pa.int64()),
        "call": pa.array([], pa.int64()),
        "send_s": pa.array([], pa.float64()),
        "recv_s": pa.array([], pa.float64()),
    }
)


def scenario(alerts: str = "{}", emodel: str = "{telr: 55}") -> Scenario:
    return parse_scenario(f"name: t\nalerts: {alerts}\nemodel: {emodel}\n", "t.yaml")


def one_call(ta_up: list[float], ta_down: list[float], *, down_offset_s: float = 0.0) -> Columns:
    """Windows of call 0: uplink (flow 0) from 0 s, downlink (flow 1) from ``down_offset_s``,
    every window played in full with MOS 4.2 and the given mouth-to-ear delays."""
    n_up, n_down = len(ta_up), len(ta_down)
    starts = np.r_[np.arange(n_up) * WINDOW_S, down_offset_s + np.arange(n_down) * WINDOW_S]
    n = n_up + n_down
    return Columns(
        {
            "call": np.zeros(n, dtype=np.int64),
            "flow": np.r_[np.zeros(n_up, dtype=np.int64), np.ones(n_down, dtype=np.int64)],
            "direction": ["uplink"] * n_up + ["downlink"] * n_down,
            "start_s": starts,
            "end_s": starts + WINDOW_S,
            "packets": np.full(n, 100, dtype=np.int64),
            "ppl_percent": np.zeros(n),
            "ta_s": np.r_[ta_up, ta_down],
            "r_factor": np.full(n, 85.0),
            "mos": np.full(n, 4.2),
        }
    )


def echoes(alerts: list[Alert]) -> list[Alert]:
    return [alert for alert in alerts if alert.kind == "echo_risk"]


def test_a_long_echo_path_raises_echo_risk_on_both_directions_at_its_windows() -> None:
    """Windows 3-5 of a call have T past the TELR 55 limit: one echo_risk alert each way,
    from 6 s to 12 s, with the delay, the limit and TELR as evidence."""
    limit = echo_delay_limit_s(55.0, EchoTolerance.ACCEPTABLE)
    ta = [limit - 0.05] * 3 + [limit + 0.03] * 3 + [limit - 0.05] * 4
    found = echoes(find_alerts(NO_PACKETS, one_call(ta, ta), scenario()))
    assert sorted(alert.direction for alert in found) == ["downlink", "uplink"]
    for alert in found:
        assert (alert.start_s, alert.evidence["end_s"]) == (6.0, 12.0)
        assert alert.evidence["windows"] == 3
        assert alert.evidence["echo_delay_s"] == pytest.approx(limit + 0.03)
        assert alert.evidence["limit_s"] == limit
        assert alert.evidence["telr_db"] == 55.0
        assert alert.evidence["tolerance"] == "acceptable"


def test_the_echo_path_delay_is_the_mean_of_both_directions() -> None:
    """T is the mean of the two directions' delays: one direction far past the limit and the
    other short raise echo_risk only when their mean passes it."""
    limit = echo_delay_limit_s(55.0, EchoTolerance.ACCEPTABLE)
    over = one_call([limit + 0.08] * 5, [limit - 0.06] * 5)
    under = one_call([limit + 0.08] * 5, [limit - 0.10] * 5)
    (up, down) = sorted(echoes(find_alerts(NO_PACKETS, over, scenario())), key=str)
    assert up.evidence["echo_delay_s"] == pytest.approx(limit + 0.01)
    assert down.evidence["echo_delay_s"] == pytest.approx(limit + 0.01)
    assert echoes(find_alerts(NO_PACKETS, under, scenario())) == []


def test_windows_of_the_other_direction_pair_by_time() -> None:
    """With the downlink's windows 1.2 s later, each window pairs with the other direction's
    window holding its midpoint, and a window with no such pair raises nothing."""
    limit = echo_delay_limit_s(55.0, EchoTolerance.ACCEPTABLE)
    ta_up = [limit + 0.02] * 6  # 0 s to 12 s
    ta_down = [limit - 0.10] * 3 + [limit + 0.02] * 3  # 1.2 s to 13.2 s, long from 7.2 s
    windows = one_call(ta_up, ta_down, down_offset_s=1.2)
    found = {a.direction: a for a in echoes(find_alerts(NO_PACKETS, windows, scenario()))}
    # Uplink [6, 8) pairs with downlink [5.2, 7.2), short; [8, 10) with [7.2, 9.2), long.
    assert (found["uplink"].start_s, found["uplink"].evidence["end_s"]) == (8.0, 12.0)
    # Downlink [11.2, 13.2) has its midpoint past the uplink's last window: no pair.
    downlink = (found["downlink"].start_s, found["downlink"].evidence["end_s"])
    assert downlink == pytest.approx((7.2, 11.2))


def test_a_short_echo_path_or_telr_65_raises_none() -> None:
    """Delays under the limit raise nothing; at TELR 65 dB no delay does, nor with echo_risk off."""
    limit = echo_delay_limit_s(55.0, EchoTolerance.ACCEPTABLE)
    short = one_call([limit - 0.02] * 5, [limit - 0.02] * 5)
    long = one_call([2.0] * 5, [2.0] * 5)
    assert echoes(find_alerts(NO_PACKETS, short, scenario())) == []
    assert echoes(find_alerts(NO_PACKETS, long, scenario(emodel="{telr: 65}"))) == []
    assert echoes(find_alerts(NO_PACKETS, long, scenario(alerts="{echo_risk: off}"))) == []
    assert len(echoes(find_alerts(NO_PACKETS, long, scenario()))) == 2


def test_the_limiting_case_bears_a_longer_delay() -> None:
    """A delay between the acceptable and the limiting limits raises only with acceptable."""
    acceptable = echo_delay_limit_s(50.0, EchoTolerance.ACCEPTABLE)
    limiting = echo_delay_limit_s(50.0, EchoTolerance.LIMITING)
    assert acceptable < limiting
    middle = 0.5 * (acceptable + limiting)
    windows = one_call([middle] * 4, [middle] * 4)
    assert len(echoes(find_alerts(NO_PACKETS, windows, scenario(emodel="{telr: 50}")))) == 2
    limited = scenario(alerts="{echo_risk: limiting}", emodel="{telr: 50}")
    assert echoes(find_alerts(NO_PACKETS, windows, limited)) == []


def test_a_configured_talker_echo_delay_is_the_echo_path_delay() -> None:
    """With the E-model's talker_echo_delay set, T is that delay, whatever the windows carry."""
    windows = one_call([0.05] * 4, [0.05] * 4)
    configured = scenario(emodel="{telr: 55, talker_echo_delay: 400ms}")
    found = echoes(find_alerts(NO_PACKETS, windows, configured))
    assert len(found) == 2
    assert all(alert.evidence["echo_delay_s"] == pytest.approx(0.4) for alert in found)


def test_windows_inside_a_silence_raise_no_echo_risk() -> None:
    """The downlink silent from 6.5 s to 9.5 s (one-way audio): its windows overlapping the
    silence raise no echo_risk, so its alert splits in two; the uplink's stays whole."""
    limit = echo_delay_limit_s(55.0, EchoTolerance.ACCEPTABLE)
    windows = one_call([limit + 0.05] * 10, [limit + 0.05] * 10)
    send = np.arange(0.0, 20.0, 0.02)
    recv_down = np.where((send >= 6.4) & (send < 9.4), np.nan, send + 0.1)
    packets = pa.table(
        {
            "flow": np.r_[np.zeros(send.size, np.int64), np.ones(send.size, np.int64)],
            "call": np.zeros(2 * send.size, np.int64),
            "send_s": np.r_[send, send],
            "recv_s": np.r_[send + 0.1, recv_down],
        }
    )
    alerts = find_alerts(packets, windows, scenario())
    assert [(a.kind, a.direction) for a in alerts if a.kind != "echo_risk"] == [
        ("one_way_audio", "downlink")
    ]
    spans = sorted((a.direction, a.start_s, a.evidence["end_s"]) for a in echoes(alerts))
    assert spans == [("downlink", 0.0, 6.0), ("downlink", 10.0, 20.0), ("uplink", 0.0, 20.0)]


def reference_runs(flow: np.ndarray, bad: np.ndarray) -> list[tuple[int, int]]:
    """Runs of bad windows by a plain walk over the windows."""
    runs = []
    k = 0
    while k < bad.size:
        if not bad[k]:
            k += 1
            continue
        first = k
        while k + 1 < bad.size and bad[k + 1] and flow[k + 1] == flow[first]:
            k += 1
        runs.append((first, k))
        k += 1
    return runs


@pytest.mark.parametrize("seed", range(20))
def test_window_runs_match_a_plain_walk(seed: int) -> None:
    """Runs found with array operations are those of a window-by-window walk, on random
    flows and masks (empty and one-window tables included)."""
    rng = np.random.default_rng(seed)
    n = int(rng.choice([0, 1, 2, 7, 100, 5000]))
    flow = np.sort(rng.integers(0, max(n // 10, 1) + 1, n))
    bad = rng.random(n) < rng.uniform(0.05, 0.95)
    runs = window_runs(flow, bad)
    assert list(zip(runs.first.tolist(), runs.last.tolist(), strict=True)) == reference_runs(
        flow, bad
    )


def reference_window_alerts(windows: Columns, kind: str, bad: np.ndarray) -> list[Alert]:
    """Low-MOS and loss-burst alerts built window by window."""
    alerts = []
    for first, last in reference_runs(windows["flow"], bad):
        evidence: dict[str, Any] = {
            "start_s": float(windows["start_s"][first]),
            "end_s": float(windows["end_s"][last]),
            "windows": last - first + 1,
            "mos_min": float(np.nanmin(windows["mos"][first : last + 1])),
            "ppl_percent_max": float(np.nanmax(windows["ppl_percent"][first : last + 1])),
        }
        call, direction = int(windows["call"][first]), str(windows["direction"][first])
        alerts.append(Alert(kind, call, direction, evidence["start_s"], evidence))
    return alerts


@pytest.mark.parametrize("seed", range(5))
def test_low_mos_and_loss_burst_alerts_match_a_window_by_window_build(seed: int) -> None:
    """On random windows (some empty) the alerts equal, evidence and all, those built by
    walking the windows one by one."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 40, 30)
    flow = np.repeat(np.arange(counts.size), counts)
    n = flow.size
    empty = rng.random(n) < 0.1
    ppl = np.where(empty, np.nan, rng.choice([0.0, 5.0, 12.0, 40.0], n))
    mos = np.where(empty, np.nan, rng.uniform(1.0, 4.5, n))
    starts = np.concatenate([np.arange(c) * WINDOW_S for c in counts]) + 0.3
    windows = Columns(
        {
            "call": flow // 2,
            "flow": flow,
            "direction": np.where(flow % 2 == 0, "uplink", "downlink").tolist(),
            "start_s": starts,
            "end_s": starts + WINDOW_S,
            "packets": np.where(empty, 0, 100),
            "ppl_percent": ppl,
            "ta_s": np.where(empty, np.nan, 0.1),
            "r_factor": np.full(n, 70.0),
            "mos": mos,
        }
    )
    settings = scenario()
    with np.errstate(invalid="ignore"):
        low = mos < settings.alerts.mos_below
        lossy = ppl >= 100.0 * settings.alerts.loss_burst
    expected = reference_window_alerts(windows, "low_mos", low)
    expected += reference_window_alerts(windows, "loss_burst", lossy)
    assert find_alerts(NO_PACKETS, windows, settings) == expected


def test_the_report_names_echo_risk_with_its_evidence() -> None:
    """The alerts table shows an echo_risk alert as "echo risk", with the delay, limit and TELR."""
    fields = {
        "alert": "echo_risk",
        "direction": "uplink",
        "start_s": 6.0,
        "end_s": 12.0,
        "windows": 3,
        "echo_delay_s": 0.2531,
        "limit_s": 0.1938,
        "telr_db": 55.0,
        "tolerance": "acceptable",
    }
    events = Columns(
        {
            "time_s": np.array([6.0]),
            "kind": [str(EventKind.ALERT)],
            "call": np.array([0]),
            "fields": [json.dumps(fields)],
        }
    )
    table = alerts_table(events)
    (row,) = table.rows
    texts = [cell.text for cell in row]
    assert texts[0] == "echo risk"
    assert "253 ms" in texts[-1] and "194 ms" in texts[-1] and "55.0 dB" in texts[-1]
