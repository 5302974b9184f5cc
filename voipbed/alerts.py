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
  (network loss and late discards) reaches ``loss_burst``.

A window that overlaps a silence alert of its flow belongs to that alert and
raises no window alert of its own: a one-way call is one alert, not three.

The thresholds are the scenario's ``alerts`` section. An alert is an ``alert``
event at the start of what it reports, for the flow's call, with its kind,
direction and evidence (start, end, duration, and what was measured).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from voipbed.arrow_numpy import to_numpy
from voipbed.columns import Columns
from voipbed.metric_names import ALERT_KINDS, EventKind
from voipbed.scenario import Scenario

__all__ = ["ALERT_KINDS", "Alert", "alert_counts", "find_alerts"]

FloatArray = NDArray[np.float64]


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
        alerts += _window_runs(windows, "low_mos", low)
        alerts += _window_runs(windows, "loss_burst", lossy)
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


def _window_runs(windows: Columns, kind: str, bad: NDArray[np.bool_]) -> list[Alert]:
    """One alert per run of consecutive bad windows of a flow."""
    flow = windows["flow"]
    alerts = []
    k = 0
    n = len(windows)
    while k < n:
        if not bad[k]:
            k += 1
            continue
        first = k
        while k + 1 < n and bad[k + 1] and flow[k + 1] == flow[first]:
            k += 1
        evidence = {
            "start_s": float(windows["start_s"][first]),
            "end_s": float(windows["end_s"][k]),
            "windows": k - first + 1,
            "mos_min": float(np.nanmin(windows["mos"][first : k + 1])),
            "ppl_percent_max": float(np.nanmax(windows["ppl_percent"][first : k + 1])),
        }
        call = int(windows["call"][first])
        direction = str(windows["direction"][first])
        alerts.append(Alert(kind, call, direction, evidence["start_s"], evidence))
        k += 1
    return alerts
