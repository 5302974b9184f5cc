"""Carrying a run's packets in time windows gives the same trace as one batch, byte for byte."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voipbed.loader import parse_scenario
from voipbed.sim.engine import simulate

_DURATION_S = 6.0


@st.composite
def _segment(draw: st.DrawFn, index: int) -> str:
    """One path segment's YAML with a random mix of the stages."""
    parts = [f"name: s{index}", f"one_way_delay: {draw(st.integers(1, 30))}ms"]
    link = draw(st.sampled_from(["none", "capacity", "steps", "trace"]))
    if link == "capacity":
        parts.append(f"capacity: {draw(st.sampled_from([120, 300, 1000]))}kbps")
    elif link == "steps":
        later = sorted(draw(st.sets(st.sampled_from([0.5, 1.3, 2.0, 3.7, 5.0]), max_size=3)))
        n = len(later) + 1
        rates = draw(st.lists(st.sampled_from([60, 120, 300, 1000]), min_size=n, max_size=n))
        at = [0, *later]
        steps = [f"{{at: {t}s, capacity: {r}kbps}}" for t, r in zip(at, rates, strict=True)]
        parts.append(f"capacity_steps: [{', '.join(steps)}]")
    elif link == "trace":
        parts += ["uplink_trace: TMobile-LTE-short.up", "downlink_trace: TMobile-LTE-short.down"]
    if link != "none":
        aqm = draw(st.sampled_from(["droptail", "codel", "pie"]))
        scheduling = draw(st.sampled_from(["fifo", "strict", "weighted"]))
        limit = draw(st.sampled_from(["", "packets: 20, ", "bytes: 6000B, "]))
        parts.append(f"queue: {{{limit}aqm: {aqm}, scheduling: {scheduling}}}")
        cross = draw(st.sampled_from(["", "onoff", "bulk"]))
        if cross == "onoff":
            parts.append(
                "cross_traffic: [{kind: onoff, rate: 60kbps, packet_size: 500B,"
                " on: 200ms, off: 300ms}]"
            )
        elif cross == "bulk":
            parts.append("cross_traffic: [{kind: bulk, count: 1, rtt: 40ms, stop: 4s}]")
    if draw(st.booleans()):
        parts.append("harq: {bler: 20%, max_transmissions: 2}")
    loss = draw(
        st.sampled_from(["", "loss: 2%", "loss: {model: gilbert_elliott, rate: 3%, burst: 3}"])
    )
    if loss:
        parts.append(loss)
    jitter = draw(st.sampled_from(["", "exponential", "uniform"]))
    if jitter:
        reorder = draw(st.booleans())
        parts.append(
            f"jitter: {{distribution: {jitter}, scale: 3ms, reorder: {str(reorder).lower()}}}"
        )
    if draw(st.booleans()):
        parts.append("bleach_dscp: true")
    return "{" + ", ".join(parts) + "}"


@st.composite
def _scenario(draw: st.DrawFn) -> str:
    """A small scenario's YAML: a few calls over one to three random segments, maybe a radio."""
    segments = [draw(_segment(i)) for i in range(draw(st.integers(1, 3)))]
    calls = draw(st.integers(1, 4))
    dscp = draw(st.sampled_from([0, 46]))
    ecn = str(draw(st.booleans())).lower()
    lines = [
        "name: windows",
        f"seed: {draw(st.integers(0, 1000))}",
        f"duration: {_DURATION_S:g}s",
        f"calls: {{count: {calls}, start_spread: 1s, dscp: {dscp}, ecn: {ecn}}}",
        "path:",
        *(f"  - {segment}" for segment in segments),
    ]
    radio = draw(st.sampled_from(["", "rrc", "handovers", "both"]))
    if radio:
        lines.append("radio:")
        if radio in ("rrc", "both"):
            lines.append("  rrc: {}")
        if radio in ("handovers", "both"):
            lines.append("  handovers: {rate_per_min: 20, kinds: [x2, lte_to_wifi]}")
    return "\n".join(lines) + "\n"


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=_scenario(),
    cuts=st.lists(st.floats(0.0, _DURATION_S + 1.0), min_size=1, max_size=12),
)
def test_windows_give_the_packets_and_events_of_one_batch(text: str, cuts: list[float]) -> None:
    """Random scenarios cut at random times: packets.parquet and events.parquet are identical."""
    scenario = parse_scenario(text, "windows.yaml")
    whole = simulate(scenario)
    windowed = simulate(scenario, cuts=sorted(set(cuts)))
    assert _parquet(windowed.packets) == _parquet(whole.packets)
    assert _parquet(windowed.events) == _parquet(whole.events)


def test_a_window_per_packet_time_gives_one_batchs_trace() -> None:
    """Windows of 20 ms over a run with every stage give the one-batch packets, byte for byte."""
    text = """
name: fine
seed: 3
duration: 4s
calls: {count: 3, start_spread: 1s, dscp: 46, ecn: true}
path:
  - {name: radio, one_way_delay: 10ms, capacity: 200kbps,
     queue: {packets: 10, aqm: codel, scheduling: strict},
     cross_traffic: [{kind: bulk, count: 1, rtt: 40ms}],
     harq: {bler: 10%, max_transmissions: 3}, loss: {model: gilbert_elliott, rate: 2%, burst: 2},
     jitter: {distribution: exponential, scale: 4ms, reorder: true}}
  - {name: core, one_way_delay: 20ms, bleach_dscp: true}
radio:
  rrc: {}
  handovers: {rate_per_min: 30, kinds: [x2]}
"""
    scenario = parse_scenario(text, "fine.yaml")
    cuts = [0.02 * k for k in range(1, 250)]
    assert _parquet(simulate(scenario, cuts=cuts).packets) == _parquet(simulate(scenario).packets)
