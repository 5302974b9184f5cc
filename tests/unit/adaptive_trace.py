"""Hand-made packets tables of calls whose senders change codec mode, for the scoring and
report tests: one packet per ptime, a fixed network delay, optional periodic loss."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from voipbed.loader import parse_scenario
from voipbed.metric_names import DROP_REASONS
from voipbed.models.codecs import CODECS
from voipbed.scenario import Scenario
from voipbed.trace import packets_table

PTIME_S = 0.020
DELAY_S = 0.040
CHANNEL = DROP_REASONS.index("channel")


def scenario(codec: str, *, gcc: bool, count: int = 1, path: str = "[{name: radio}]") -> Scenario:
    """A 10 s scenario of ``count`` calls of ``codec`` over ``path`` (YAML), rate-controlled by
    GCC or not."""
    rate = ", rate_control: {algorithm: gcc}" if gcc else ""
    text = (
        f"name: adaptive-test\nduration: 10s\n"
        f"calls: {{count: {count}, codec: {codec}{rate}}}\npath: {path}\n"
    )
    return parse_scenario(text, "adaptive-test.yaml")


def packets(
    flows: Sequence[Sequence[str]],
    *,
    lost_every: int = 0,
    targets: Sequence[float] | None = None,
    dictionary: Sequence[str] | None = None,
) -> pa.Table:
    """A packets table: flow i (call i // 2, uplink if even) sends one packet per ptime coded
    with ``flows[i][k]``; every ``lost_every``-th packet is lost on the channel; ``targets``
    gives each flow a constant target rate (none: a fixed rate)."""
    names = list(dictionary) if dictionary is not None else sorted({n for f in flows for n in f})
    code: list[int] = []
    flow_ids: list[int] = []
    seq: list[int] = []
    for index, modes in enumerate(flows):
        code += [names.index(name) for name in modes]
        flow_ids += [index] * len(modes)
        seq += list(range(len(modes)))
    n = len(code)
    flow = np.array(flow_ids, dtype=np.int64)
    number = np.array(seq, dtype=np.int64)
    send_s = number * PTIME_S + 0.003 * flow
    lost = (number % lost_every == lost_every - 1) if lost_every else np.zeros(n, dtype=bool)
    payload = np.array([CODECS[names[c]].payload_bytes(PTIME_S) for c in code], dtype=np.int32)
    ticks = CODECS[names[0]].rtp_ticks(PTIME_S) if names else 1
    target = np.full(n, np.nan) if targets is None else np.asarray(targets)[flow]
    return packets_table(
        call=flow // 2,
        flow=flow,
        direction=flow % 2,
        seq=number,
        rtp_ts=number * ticks,
        payload_bytes=payload,
        wire_bytes=payload + 40,  # IPv4 + UDP + RTP
        dscp=np.full(n, 46),
        dscp_received=np.where(lost, -1, 46),
        send_s=send_s,
        recv_s=np.where(lost, np.nan, send_s + DELAY_S),
        lost_at=np.where(lost, 0, -1),
        places=["radio"],
        drop_reason=np.where(lost, CHANNEL, -1),
        reasons=DROP_REASONS,
        ce=np.zeros(n, dtype=bool),
        codec=np.array(code, dtype=np.int64),
        codecs=names,
        target_bps=target,
    )
