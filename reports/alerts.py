"""The report's alerts table: what a listener would have noticed, from the ``alert`` events."""

from __future__ import annotations

import json

from voipbed.columns import Columns
from voipbed.metric_names import EventKind

from .tables import Cell, Table, fmt_number

__all__ = ["MAX_ALERT_ROWS", "alerts_table"]

MAX_ALERT_ROWS = 30
_NAMES = {
    "one_way_audio": "one-way audio",
    "media_gap": "media gap",
    "low_mos": "low MOS",
    "loss_burst": "loss burst",
    "echo_risk": "echo risk",
}


def alerts_table(events: Columns) -> Table:
    """One row per alert (the first ``MAX_ALERT_ROWS``, in time order): kind, call,
    direction, when, how long and what was measured."""
    if not len(events):
        return Table([], [])
    kinds = events["kind"].tolist()
    rows = []
    for kind, time_s, call, text in zip(
        kinds,
        events["time_s"].tolist(),
        events["call"].tolist(),
        events["fields"].tolist(),
        strict=True,
    ):
        if kind != EventKind.ALERT:
            continue
        fields = json.loads(text)
        end_s = fields.get("end_s")
        lasting = "" if end_s is None else f"{fmt_number(end_s - time_s, 2)} s"
        rows.append(
            [
                Cell(_NAMES.get(fields["alert"], fields["alert"]), "label"),
                Cell(str(call)),
                Cell(str(fields.get("direction", ""))),
                Cell(f"{fmt_number(time_s, 2)} s"),
                Cell(lasting),
                Cell(_evidence(fields)),
            ]
        )
    if not rows:
        return Table([], [])
    note = ""
    if len(rows) > MAX_ALERT_ROWS:
        note = f"The first {MAX_ALERT_ROWS} of {len(rows)} alerts; events.parquet holds all."
    headers = ["alert", "call", "direction", "from", "lasting", "evidence"]
    return Table(headers, rows[:MAX_ALERT_ROWS], note)


def _evidence(fields: dict[str, object]) -> str:
    if "other_direction_received" in fields:
        return f"{fields['other_direction_received']} packets received the other way meanwhile"
    if "echo_delay_s" in fields:
        delay = fmt_number(fields["echo_delay_s"], 0, scale=1000.0)
        limit = fmt_number(fields["limit_s"], 0, scale=1000.0)
        telr = fmt_number(fields["telr_db"], 1)
        return (
            f"{fields['windows']} windows of 2 s, echo path delay up to {delay} ms, over the "
            f"{limit} ms G.131 {fields['tolerance']} limit for TELR {telr} dB"
        )
    if "mos_min" in fields:
        mos = fmt_number(fields["mos_min"], 2)
        ppl = fmt_number(fields["ppl_percent_max"], 1)
        return f"{fields['windows']} windows of 2 s, MOS down to {mos}, loss up to {ppl} %"
    return ""
