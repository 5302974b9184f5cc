"""The simulator end to end: calls, path, reproducibility, agreement with the references."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from tests.sim.reference import (
    ReferenceBernoulliLoss,
    ReferenceDelay,
    ReferenceGilbertElliott,
    ReferenceHarq,
    ReferenceMahimahiLink,
    ReferenceRateLink,
)
from voipbed.loader import parse_scenario
from voipbed.metric_names import DROP_REASONS, DropReason, EventKind
from voipbed.models.loss import GilbertElliott
from voipbed.rng import component_rng
from voipbed.scenario import Scenario, Segment
from voipbed.sim.engine import simulate
from voipbed.trace import Trace, write_trace
from voipbed.traces import read_schedule

LOSSY = """
name: lossy
seed: 7
duration: 8s
calls: {count: 6, start_spread: 3s, hold_time: 4s}
path:
  - {name: radio, one_way_delay: 10ms, uplink_trace: TMobile-LTE-short.up,
     downlink_trace: TMobile-LTE-short.down, queue: {packets: 4},
     harq: {bler: 20%, max_transmissions: 2},
     loss: {model: gilbert_elliott, rate: 3%, burst: 3},
     jitter: {distribution: exponential, scale: 4ms}}
  - {name: core, one_way_delay: 20ms, loss: 1%, capacity: 1Mbps, queue: {bytes: 1200B},
     jitter: {distribution: uniform, scale: 2ms}}
  - {name: peer, one_way_delay: 5ms, capacity: 500kbps,
     jitter: {distribution: half_normal, scale: 3ms, reorder: true}}
"""


class _ReferenceHop:
    """One segment in one direction, built from the per-packet references."""

    def __init__(self, scenario: Scenario, segment: Segment, direction: str) -> None:
        def rng(stage: str) -> np.random.Generator:
            return component_rng(scenario.seed, f"path/{segment.name}/{direction}/{stage}")

        limit = segment.queue
        limit_bytes = None if limit.limit_bytes is None else int(limit.limit_bytes)
        trace = segment.trace_for(direction)
        self.trace = None
        self.rate = None
        if trace is not None:
            times = list(read_schedule(Path(trace)).times_ms)
            self.trace = ReferenceMahimahiLink(times, limit.limit_packets, limit_bytes)
        elif segment.capacity_bps is not None:
            self.rate = ReferenceRateLink(segment.capacity_bps, limit.limit_packets, limit_bytes)
        self.harq = None
        if segment.harq is not None:
            self.harq = ReferenceHarq(
                segment.harq.bler_ratio, segment.harq.max_transmissions, rng("harq")
            )
            self.harq_rtt_s = segment.harq.rtt_s
        model = segment.loss.to_model()
        if isinstance(model, GilbertElliott):
            self.loss: ReferenceGilbertElliott | ReferenceBernoulliLoss = ReferenceGilbertElliott(
                model.p, model.r, model.good_loss, model.bad_loss, rng("loss")
            )
        else:
            self.loss = ReferenceBernoulliLoss(model.ratio, rng("loss"))
        self.delay = ReferenceDelay(segment.one_way_delay_s, segment.jitter, rng("jitter"))

    def carry(
        self,
        rows: list[int],
        times: dict[int, float],
        frame: pd.DataFrame,
        name: str,
        lost_at: list[str | None],
    ) -> list[int]:
        """Carry ``rows`` (in arrival order) across this hop; return the survivors."""
        sizes = frame["wire_bytes"].to_numpy()
        flows = frame["flow"].to_numpy()
        served = []
        for row in rows:
            if self.trace is not None:
                if self.trace.arrive(row, math.floor(times[row] * 1000.0), int(sizes[row])):
                    served.append(row)
                else:
                    lost_at[row] = name
            elif self.rate is not None:
                leave = self.rate.arrive(times[row], int(sizes[row]))
                if leave is None:
                    lost_at[row] = name
                else:
                    times[row] = leave
                    served.append(row)
            else:
                served.append(row)
        if self.trace is not None:
            self.trace.drain()
            for row in served:
                times[row] = self.trace.departures[row] / 1000.0
        survivors = []
        for row in served:
            extra = 0.0
            if self.harq is not None:
                transmissions, failed = self.harq.transmissions()
                if failed:
                    lost_at[row] = name
                    continue
                extra = (transmissions - 1) * self.harq_rtt_s
            lost = (
                self.loss.lost(int(flows[row]))
                if isinstance(self.loss, ReferenceGilbertElliott)
                else self.loss.lost()
            )
            if lost:
                lost_at[row] = name
                continue
            times[row] = self.delay.leave(times[row] + extra, int(flows[row]))
            survivors.append(row)
        return survivors


def _reference_fates(scenario: Scenario, packets: pa.Table) -> tuple[np.ndarray, list[str | None]]:
    """Every packet's receive time and loss place, carried one packet at a time."""
    frame = packets.to_pandas()
    recv = np.full(len(frame), np.nan)
    lost_at: list[str | None] = [None] * len(frame)
    for direction in ("uplink", "downlink"):
        segments = list(scenario.path) if direction == "uplink" else list(reversed(scenario.path))
        mine = frame.index[frame["direction"] == direction].to_numpy()
        times = dict(zip(mine, frame["send_s"].to_numpy()[mine], strict=True))
        alive = list(mine)  # in send order, ties by flow: the order the sender emits them
        for segment in segments:
            alive.sort(key=lambda row: times[row])  # stable: ties keep the previous order
            hop = _ReferenceHop(scenario, segment, direction)
            alive = hop.carry(alive, times, frame, segment.name, lost_at)
        for row in alive:
            recv[row] = times[row]
    return recv, lost_at


def test_batch_path_matches_per_packet_reference() -> None:
    """Every packet's fate (receive time, loss place) equals the per-packet reference's."""
    scenario = parse_scenario(LOSSY)
    packets = simulate(scenario).packets
    recv, lost_at = _reference_fates(scenario, packets)
    np.testing.assert_allclose(packets.column("recv_s").to_numpy(), recv, rtol=0, atol=1e-9)
    assert packets.column("lost_at").to_pylist() == lost_at
    assert any(lost_at) and not all(lost_at)  # the comparison covered both fates
    reasons = set(packets.column("drop_reason").drop_null().to_pylist())
    assert reasons == {"queue", "harq", "channel"}  # and every way to be lost


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    """The same scenario and seed write byte-identical parquet files; another seed does not."""
    scenario = parse_scenario(LOSSY)

    def written(trace: Trace, name: str) -> bytes:
        write_trace(trace, tmp_path / name)
        return (tmp_path / name / "packets.parquet").read_bytes()

    first = written(simulate(scenario), "a")
    assert first == written(simulate(scenario), "b")
    assert (tmp_path / "a" / "events.parquet").read_bytes() == (
        tmp_path / "b" / "events.parquet"
    ).read_bytes()
    other = parse_scenario(LOSSY, seed=8)
    assert written(simulate(other), "c") != first


def test_lossless_constant_path_delivers_everything_at_fixed_delay() -> None:
    """No loss, jitter or capacity limit: every packet arrives after exactly the summed delays."""
    scenario = parse_scenario(
        "name: clean\nduration: 5s\ncalls: {count: 3, start_spread: 1s}\n"
        "path: [{name: a, one_way_delay: 12ms}, {name: b, one_way_delay: 30ms}]"
    )
    frame = simulate(scenario).packets.to_pandas()
    assert frame["lost_at"].isna().all()
    np.testing.assert_allclose(frame["recv_s"] - frame["send_s"], 0.042, rtol=0, atol=1e-12)


def test_calls_and_packets_follow_the_scenario() -> None:
    """Each call starts in the spread, has two flows, sends one packet per ptime until it ends."""
    scenario = parse_scenario(
        "name: calls\nduration: 10s\n"
        "calls: {count: 5, start_spread: 4s, hold_time: 3s, ptime: 20ms}"
    )
    trace = simulate(scenario)
    events = trace.events.to_pandas()
    starts = events[events["kind"] == "call_start"].set_index("call")["time_s"]
    ends = events[events["kind"] == "call_end"].set_index("call")["time_s"]
    assert sorted(starts.index) == list(range(5))
    assert ((starts >= 0) & (starts <= 4.0)).all()
    np.testing.assert_allclose(ends - starts, 3.0)
    frame = trace.packets.to_pandas()
    per_flow = frame.groupby("flow")["seq"].agg(["count", "min", "max"])
    assert len(per_flow) == 10
    assert (per_flow["count"] == 150).all()  # 3 s / 20 ms
    assert (per_flow["max"] - per_flow["min"] + 1 == per_flow["count"]).all()
    assert (frame.groupby("flow")["rtp_ts"].diff().dropna() == 160).all()  # 20 ms at 8 kHz
    assert (frame["wire_bytes"] == 200).all() and (frame["payload_bytes"] == 160).all()
    assert (frame["dscp"] == 46).all()


def test_bleaching_segment_shows_in_dscp_received_only() -> None:
    """A bleaching core: sent with DSCP 46, received with 0 both ways; null for lost packets."""
    scenario = parse_scenario(
        "name: bleach\nduration: 3s\ncalls: {count: 2}\npath:\n"
        "  - {name: radio, one_way_delay: 10ms, loss: 10%}\n"
        "  - {name: core, one_way_delay: 20ms, bleach_dscp: true}\n"
    )
    frame = simulate(scenario).packets.to_pandas()
    delivered = frame["recv_s"].notna()
    assert (frame["dscp"] == 46).all()
    assert set(frame.loc[delivered, "direction"]) == {"uplink", "downlink"}
    assert (frame.loc[delivered, "dscp_received"] == 0).all()
    assert (~delivered).any() and frame.loc[~delivered, "dscp_received"].isna().all()
    kept = simulate(scenario.model_copy(update={"path": scenario.path[:1]})).packets.to_pandas()
    assert (kept.loc[kept["recv_s"].notna(), "dscp_received"] == 46).all()


def test_capacity_limit_builds_a_queue() -> None:
    """Offered load above a segment's capacity makes delay grow through the call."""
    scenario = parse_scenario(
        "name: overload\nduration: 4s\ncalls: {count: 4}\n"
        "path: [{name: bottleneck, one_way_delay: 5ms, capacity: 256kbps}]"
    )
    frame = simulate(scenario).packets.to_pandas()
    uplink = frame[frame["direction"] == "uplink"]
    delay = (uplink["recv_s"] - uplink["send_s"]).to_numpy()
    # 4 flows x 80 kbit/s on 256 kbit/s: the queue grows at 64 kbit/s, ~0.25 s per s.
    assert delay[-1] > delay[0] + 0.5
    assert delay.min() >= 0.005 + 200 * 8 / 256e3 - 1e-12


@pytest.mark.parametrize("count", [1, 3])
def test_downlink_losses_are_named_by_segment(count: int) -> None:
    """A loss on the downlink is attributed to the segment it happened in, not its hop index."""
    scenario = parse_scenario(
        f"name: place\nduration: 3s\ncalls: {{count: {count}}}\n"
        "path: [{name: radio, loss: 100%}, {name: core}]"
    )
    frame = simulate(scenario).packets.to_pandas()
    assert (frame["lost_at"] == "radio").all()


def _every_mechanism() -> Scenario:
    """Traces, HARQ, bursty loss, RRC, handovers, AQM, DSCP scheduling and cross traffic."""
    everything = (
        LOSSY
        + """
radio:
  rrc: {initial_state: idle}
  handovers: {rate_per_min: 6, kinds: [x2, lte_to_wifi, wifi_to_lte]}
"""
    )
    return parse_scenario(
        everything,
        overrides=[
            "path[1].queue={bytes: 30KiB, aqm: pie, scheduling: strict}",
            "path[1].cross_traffic=[{kind: bulk, rtt: 30ms}, {kind: onoff, rate: 300kbps}]",
        ],
    )


def test_every_mechanism_at_once_is_reproducible(tmp_path: Path) -> None:
    """Traces, HARQ, bursty loss, RRC, handovers, AQM and cross traffic: same seed, same bytes."""
    scenario = _every_mechanism()
    first, second = simulate(scenario), simulate(scenario)
    write_trace(first, tmp_path / "a")
    write_trace(second, tmp_path / "b")
    for name in ("packets.parquet", "events.parquet"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    kinds = set(first.events.column("kind").to_pylist())
    assert {"rrc", "handover", "radio_energy", "queue_stats"} <= kinds


def test_events_and_drop_reasons_use_the_shared_names() -> None:
    """Every event kind written is an EventKind; drop reasons are coded as DropReason and
    named by DROP_REASONS in the packets' dictionary."""
    trace = simulate(_every_mechanism())
    kinds = set(trace.events.column("kind").to_pylist())
    assert kinds <= set(EventKind)
    assert {EventKind.RRC, EventKind.HANDOVER, EventKind.QUEUE_SAMPLES} <= kinds
    reasons = trace.packets.column("drop_reason").combine_chunks()
    assert reasons.dictionary.to_pylist() == list(DROP_REASONS)
    seen = {DropReason(code) for code in reasons.indices.to_pylist() if code is not None}
    assert {DropReason.QUEUE, DropReason.HARQ, DropReason.CHANNEL} <= seen
