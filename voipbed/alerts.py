"""Alerts: what in a run a listener would have noticed, each an event with its evidence.

:func:`find_alerts` reads a run's packets and its 2 s quality windows (every
engine's, and imported captures') and raises, per flow:

- ``one_way_audio``: the flow receives nothing for ``one_way_audio`` or longer
  while the other direction of its call keeps receiving (at least one packet
  a second of the gap): one party hears the other, not the reverse;
- ``media_gap``: the flow receives nothing for ``media_gap`` or longer
  mid-call, both directions at once or the other direction not flowing either;
- ``low_mos``: consecutive quality windows whose MOS is under ``mos_below``;
- ``loss_burst``: consecutive windows whose packet loss seen by the decoder
  (network loss and late discards) reaches ``loss_burst``;
- ``echo_risk``: consecutive windows where the flow's talker (its sender)
  would hear their own voice back later than ITU-T G.131's talker echo
  tolerance ``echo_risk`` allows for the E-model's TELR
  (:mod:`models.echo_tolerance`). The echo is reflected at the far
  terminal: the voice goes out on the flow and comes back on the other
  direction of its call, so the mean one-way delay of the echo path T is
  the mean of the two directions' mouth-to-ear delays in the windows at the
  same time (both must play something), or the E-model's
  ``talker_echo_delay`` when the scenario sets one. Both directions of a
  call share T, so each party's echo is judged alike.

A window that overlaps a silence alert of its flow belongs to that alert and
raises no window alert of its own: a one-way call is one alert, not three.

The thresholds are the scenario's ``alerts`` section. An alert is an ``alert``
event at the start of what it reports, for the flow's call, with its kind,
direction and evidence (start, end, duration, and what was measured).

The windows come flow by flow, each flow's in time order, one window length
apart (as ``voipbed.scoring`` lays them out); runs of windows are found with
array operations, one Python step per alert.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from numpy.typing import NDArray

from voipbed.arrow_numpy import to_numpy
from voipbed.columns import Columns
from voipbed.metric_names import ALERT_KINDS, EventKind
from voipbed.models.echo_tolerance import EchoTolerance, echo_delay_limit_s
from voipbed.scenario import Scenario
from voipbed.scenario_alerts import EchoRisk

__all__ = ["ALERT_KINDS", "Alert", "WindowRuns", "alert_counts", "find_alerts", "window_runs"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class Alert:
    """One alert: its kind, where and when, and its evidence."""

    kind: str
    call: int
    direction: str
    start_s: float
    evidence: dict[str, Any]

    def event(self) -> tuple[float, str, int, dict[str, Any]]:
        """The alert as an ``alert`` event."""
        fields = {"alert": self.kind, "direction": self.direction, **self.evidence}
        return (self.start_s, EventKind.ALERT, self.call, fields)


def find_alerts(packets: pa.Table, windows: Columns, scenario: Scenario) -> list[Alert]:
    """Every alert of a run, by flow, in time order within each kind."""
    settings = scenario.alerts
    alerts: list[Alert] = []
    if packets.num_rows:
        alerts += _gaps(packets, settings.one_way_audio_s, settings.media_gap_s)
    if len(windows):
        free = ~_in_gaps(windows, alerts)  # a silence's windows are its alert's, not theirs
        low = free & (windows["mos"] < settings.mos_below)
        lossy = free & (windows["ppl_percent"] >= 100.0 * settings.loss_burst)
        alerts += _window_alerts(windows, "low_mos", low)
        alerts += _window_alerts(windows, "loss_burst", lossy)
        if settings.echo_risk is not EchoRisk.OFF:
            alerts += _echo_alerts(windows, scenario, EchoTolerance(settings.echo_risk.value), free)
    return alerts


def _in_gaps(windows: Columns, gaps: list[Alert]) -> NDArray[np.bool_]:
    """Whether each window overlaps a silence alert of its own flow."""
    inside = np.zeros(len(windows), dtype=np.bool_)
    for gap in gaps:
        flow = 2 * gap.call + (0 if gap.direction == "uplink" else 1)
        inside |= (
            (windows["flow"] == flow)
            & (windows["start_s"] < gap.evidence["end_s"])
            & (windows["end_s"] > gap.evidence["start_s"])
        )
    return inside


def alert_counts(alerts: list[Alert]) -> dict[str, int]:
    """How many alerts of each kind (every kind named, zeros included)."""
    counts = dict.fromkeys(ALERT_KINDS, 0)
    for alert in alerts:
        counts[alert.kind] += 1
    return counts


def _gaps(packets: pa.Table, one_way_s: float, gap_s: float) -> list[Alert]:
    """Silences at the receiving end of each flow, told one-way when the other side flows."""
    flow = to_numpy(packets.column("flow")).astype(np.int64)
    call = to_numpy(packets.column("call"))
    recv = to_numpy(packets.column("recv_s"))
    send = to_numpy(packets.column("send_s"))
    order = np.lexsort((recv, flow))  # by flow, then arrival (the lost last)
    flow, call, recv, send = flow[order], call[order], recv[order], send[order]
    starts = np.flatnonzero(np.r_[True, flow[1:] != flow[:-1]])
    ends = np.r_[starts[1:], flow.size]
    first_sent = np.minimum.reduceat(send, starts)
    last_sent = np.maximum.reduceat(send, starts)
    heard = {
        int(flow[a]): recv[a:b][~np.isnan(recv[a:b])]
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True)
    }
    shortest = min(gap_s, one_way_s)
    alerts = []
    for k, a in enumerate(starts.tolist()):
        f = int(flow[a])
        edges = np.r_[first_sent[k], heard[f], last_sent[k]]
        for g in np.flatnonzero(np.diff(edges) >= shortest).tolist():
            begin, end = float(edges[g]), float(edges[g + 1])
            duration = end - begin
            theirs = heard.get(f ^ 1, np.empty(0))  # the call's other direction: 2c, 2c + 1
            other = int(np.count_nonzero((theirs >= begin) & (theirs < end)))
            one_way = duration >= one_way_s and other >= max(duration, 1.0)
            if not one_way and duration < gap_s:
                continue
            evidence = {
                "start_s": begin,
                "end_s": end,
                "duration_s": duration,
                "other_direction_received": other,
            }
            kind = "one_way_audio" if one_way else "media_gap"
            direction = "uplink" if f % 2 == 0 else "downlink"
            alerts.append(Alert(kind, int(call[a]), direction, begin, evidence))
    return alerts


class WindowRuns(NamedTuple):
    """Runs of consecutive windows of one flow, by the indices of their ends."""

    first: IntArray
    """Each run's first window."""
    last: IntArray
    """Each run's last window (inclusive)."""


def window_runs(flow: npt.ArrayLike, bad: npt.ArrayLike) -> WindowRuns:
    """The runs of consecutive ``bad`` windows, a run ending where its flow does, in order.

    ``flow`` holds each window's flow: windows of one flow are adjacent, in time order.
    """
    marked = np.asarray(bad, dtype=np.bool_)
    flows = np.asarray(flow)
    if marked.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return WindowRuns(empty, empty.copy())
    goes_on = marked[1:] & marked[:-1] & (flows[1:] == flows[:-1])  # k + 1 continues k's run
    first = np.flatnonzero(marked & ~np.r_[False, goes_on]).astype(np.int64)
    last = np.flatnonzero(marked & ~np.r_[goes_on, False]).astype(np.int64)
    return WindowRuns(first, last)


def _over_runs(ufunc: np.ufunc, values: FloatArray, runs: WindowRuns) -> FloatArray:
    """``ufunc`` reduced over each run's windows (``np.fmin``/``np.fmax`` skip NaN)."""
    padded = np.r_[values, np.nan]  # so that a run ending at the last window has an end index
    bounds = np.column_stack((runs.first, runs.last + 1)).ravel()
    reduced: FloatArray = ufunc.reduceat(padded, bounds)[::2]
    return reduced


def _run_alerts(
    windows: Columns, kind: str, runs: WindowRuns, measured: dict[str, list[Any]]
) -> list[Alert]:
    """One alert per run: its span and window count, and ``measured`` (one value a run)."""
    starts = windows["start_s"][runs.first].tolist()
    ends = windows["end_s"][runs.last].tolist()
    counts = (runs.last - runs.first + 1).tolist()
    calls = windows["call"][runs.first].tolist()
    directions = windows["direction"][runs.first].tolist()
    alerts = []
    for k, start in enumerate(starts):
        evidence = {"start_s": float(start), "end_s": float(ends[k]), "windows": int(counts[k])}
        evidence |= {name: values[k] for name, values in measured.items()}
        alerts.append(Alert(kind, int(calls[k]), str(directions[k]), float(start), evidence))
    return alerts


def _window_alerts(windows: Columns, kind: str, bad: BoolArray) -> list[Alert]:
    """One alert per run of consecutive bad windows of a flow, with its lowest MOS and
    highest loss."""
    runs = window_runs(windows["flow"], bad)
    measured = {
        "mos_min": _over_runs(np.fmin, windows["mos"], runs).tolist(),
        "ppl_percent_max": _over_runs(np.fmax, windows["ppl_percent"], runs).tolist(),
    }
    return _run_alerts(windows, kind, runs, measured)


def _echo_alerts(
    windows: Columns, scenario: Scenario, tolerance: EchoTolerance, free: BoolArray
) -> list[Alert]:
    """One alert per run of windows whose echo path delay T passes the G.131 limit."""
    telr_db = scenario.emodel.telr_db
    limit_s = echo_delay_limit_s(telr_db, tolerance)
    if math.isinf(limit_s):
        return []
    configured_s = scenario.emodel.talker_echo_delay_s
    delay_s = _echo_path_delay_s(windows, configured_s)
    late = free & (delay_s > limit_s)  # NaN (no echo path) is never late
    runs = window_runs(windows["flow"], late)
    measured: dict[str, list[Any]] = {
        "echo_delay_s": _over_runs(np.fmax, delay_s, runs).tolist(),
        "limit_s": [limit_s] * runs.first.size,
        "telr_db": [telr_db] * runs.first.size,
        "tolerance": [tolerance.value] * runs.first.size,
    }
    return _run_alerts(windows, "echo_risk", runs, measured)


def _echo_path_delay_s(windows: Columns, configured_s: float | None) -> FloatArray:
    """Each window's mean one-way echo path delay T: ``configured_s`` where the window played
    something, else the mean of its mouth-to-ear delay and that of the window of the call's
    other direction holding its midpoint (NaN where either played nothing)."""
    played = (windows["packets"] > 0) & (windows["ppl_percent"] < 100.0)
    if configured_s is not None:
        return np.where(played, configured_s, np.nan)
    flow = np.asarray(windows["flow"], dtype=np.int64)
    start, end = windows["start_s"], windows["end_s"]
    firsts = np.flatnonzero(np.r_[True, flow[1:] != flow[:-1]])
    counts = np.diff(np.r_[firsts, flow.size])
    order = np.argsort(flow[firsts], kind="stable")
    known = flow[firsts][order]
    other = flow ^ 1  # the call's other direction: flows 2c and 2c + 1
    at = np.minimum(np.searchsorted(known, other), known.size - 1)
    found = known[at] == other
    block = order[at]
    lo = firsts[block]
    with np.errstate(invalid="ignore", divide="ignore"):
        step = np.floor((0.5 * (start + end) - start[lo]) / (end[lo] - start[lo]))
    inside = found & (step >= 0) & (step < counts[block])
    mate = lo + np.where(inside, step, 0).astype(np.int64)
    both = inside & played & played[mate]
    delay: FloatArray = np.where(both, 0.5 * (windows["ta_s"] + windows["ta_s"][mate]), np.nan)
    return delay
