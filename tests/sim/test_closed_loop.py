"""The closed loop: GCC-controlled senders react to what their receivers report."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from voipbed.loader import parse_scenario
from voipbed.sim.engine import simulate
from voipbed.trace import Trace

BOTTLENECK = """
name: gcc-bottleneck
seed: 5
duration: 30s
calls: {count: 1, codec: AMR-WB-23.85, ptime: 20ms, rate_control: {algorithm: gcc}}
path:
  - {name: bottleneck, one_way_delay: 25ms, capacity: 30kbps, queue: {packets: 30}}
"""


def _run(text: str, *overrides: str) -> Trace:
    return simulate(parse_scenario(text, "closed.yaml", overrides=overrides))


def _late(packets: pa.Table, after_s: float) -> dict[str, np.ndarray]:
    """The columns of the packets sent after ``after_s``."""
    send_s = packets.column("send_s").to_numpy()
    keep = send_s > after_s
    return {
        "wire_bytes": packets.column("wire_bytes").to_numpy()[keep],
        "recv_s": packets.column("recv_s").to_numpy()[keep],
        "send_s": send_s[keep],
    }


def test_gcc_brings_the_sender_under_a_bottleneck_a_fixed_rate_overflows() -> None:
    """AMR-WB 23.85 needs ~41 kbit/s on the wire; behind 30 kbit/s GCC steps down, loses little."""
    adaptive = _late(_run(BOTTLENECK).packets, 10.0)
    fixed = _late(_run(BOTTLENECK, "calls.rate_control.algorithm=none").packets, 10.0)
    adaptive_lost = np.isnan(adaptive["recv_s"]).mean()
    fixed_lost = np.isnan(fixed["recv_s"]).mean()
    assert fixed_lost > 0.15  # the fixed sender overflows the queue
    assert adaptive_lost < fixed_lost / 3
    assert adaptive["wire_bytes"].mean() < fixed["wire_bytes"].mean()
    duration_s = 20.0
    sent_bps = adaptive["wire_bytes"].sum() * 8 / duration_s / 2  # both directions
    assert 0.5 * 30_000 < sent_bps < 1.05 * 30_000


def test_packets_carry_the_codec_mode_and_target_they_were_sent_with() -> None:
    """A mode's rows have its payload size; targets are set; fixed-rate rows have none."""
    packets = _run(BOTTLENECK).packets
    codec = packets.column("codec").to_pylist()
    payload = packets.column("payload_bytes").to_numpy()
    assert len(set(codec)) > 1  # the sender changed mode
    for mode in set(codec):
        sizes = {int(b) for b, c in zip(payload, codec, strict=True) if c == mode}
        assert len(sizes) == 1  # one payload size per mode at one ptime
    assert packets.column("target_bps").null_count == 0
    fixed = _run(BOTTLENECK, "calls.rate_control.algorithm=none").packets
    assert fixed.column("target_bps").null_count == fixed.num_rows
    assert set(fixed.column("codec").to_pylist()) == {"AMR-WB-23.85"}


def test_feedback_travels_the_reverse_path_and_takes_its_bytes() -> None:
    """Each direction carries reports; the bottleneck's queue counts their bytes with media's."""
    trace = _run(BOTTLENECK, "path[0].queue.packets=1000")
    events = trace.events.to_pylist()
    feedback = [json.loads(e["fields"]) for e in events if e["kind"] == "feedback"]
    assert {f["direction"] for f in feedback} == {"uplink", "downlink"}
    for f in feedback:
        assert f["packets"] > 100  # ten a second for most of 30 s
        assert f["bytes"] >= f["packets"] * (20 + 28)  # RFC 8888 header, IPv4 and UDP
    samples = [json.loads(e["fields"]) for e in events if e["kind"] == "queue_samples"]
    packets = trace.packets
    for sample in samples:
        direction = packets.column("direction").to_pylist()
        mine = np.array([d == sample["direction"] for d in direction])
        media = int(packets.column("wire_bytes").to_numpy()[mine].sum())
        other = next(f for f in feedback if f["direction"] == sample["direction"])
        assert sum(sample["media_bytes"]) <= media + other["bytes"]
        assert sum(sample["media_bytes"]) > media  # the reports went through the queue too


def test_same_seed_gives_the_same_closed_loop_trace() -> None:
    """Two closed-loop runs of one scenario write byte-identical packets and events."""

    def parquet(table: pa.Table) -> bytes:
        sink = io.BytesIO()
        pq.write_table(table, sink)
        return sink.getvalue()

    first, second = _run(BOTTLENECK), _run(BOTTLENECK)
    assert parquet(first.packets) == parquet(second.packets)
    assert parquet(first.events) == parquet(second.events)


def test_a_mode_set_bounds_the_modes_the_sender_uses() -> None:
    """With mode_set [0, 2], every packet is coded in AMR-WB mode 0 or 2 (6.6 or 12.65)."""
    text = BOTTLENECK.replace("AMR-WB-23.85", "AMR-WB-12.65").replace(
        "{algorithm: gcc}", "{algorithm: gcc, mode_set: [0, 2]}"
    )
    codecs = set(_run(text).packets.column("codec").to_pylist())
    assert codecs <= {"AMR-WB-6.6", "AMR-WB-12.65"}
    assert len(codecs) == 2  # behind 30 kbit/s the sender steps down to mode 0
