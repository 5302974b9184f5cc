"""Scoring throughput: jitter-buffer playout plus the E-model, packets per second on one core.

Generates ``--flows`` x ``--packets`` G.711 packets (default 1000 x 10 000 =
10 M, 20 ms frames, seeded): per flow a base one-way delay drawn in
[20, 80] ms, exponential jitter (mean 5 ms), delay spikes (2 per 10 000
packets on average, 100-400 ms high, draining by one frame per frame: the
packets queued behind the spike arrive back to back) and 1 % random loss.
Generating the trace is not timed.

For each buffer (fixed 60 ms, adaptive, NetEq-like) it times, best of
``--repeat`` runs after one warm-up (numba's compile and cache load
excluded), on one thread:

- playout: ``playout_flows`` over all flows (schedule, late discards, buffer
  delay, stretch events, per-flow summaries);
- + E-model: the same, then per flow the decoder loss Ppl and BurstR
  (vectorised; equal to ``emodel.burst_ratio`` flow by flow, checked before
  timing), the mouth-to-ear delay Ta (device latencies + ptime + mean
  playout - send of played packets) and one ``emodel.evaluate`` over all
  flows (Bpl = 25.1, G.711 with PLC).

    python bench/scoring.py [--flows 1000] [--packets 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from functools import partial

import numpy as np
from numpy.typing import NDArray

from voipbed.models import emodel
from voipbed.models.codecs import codec
from voipbed.models.jitter_buffer import (
    AdaptiveJitterBuffer,
    FixedJitterBuffer,
    FlowPlayouts,
    JitterBuffer,
    NetEqJitterBuffer,
)

PTIME_S = 0.020
SEND_LATENCY_S = 0.015  # the scenario's device defaults (voipbed.scenario.Device)
RECEIVE_LATENCY_S = 0.015

FloatArray = NDArray[np.float64]


def make_trace(
    flows: int, packets: int, seed: int
) -> tuple[FloatArray, FloatArray, NDArray[np.int64]]:
    """Media (= send) times, receive times (NaN lost) and flow bounds, flows end to end."""
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    media = np.broadcast_to(np.arange(packets) * PTIME_S, (flows, packets))
    base = rng.uniform(0.020, 0.080, (flows, 1))
    jitter = rng.exponential(0.005, (flows, packets))
    spikes = np.where(rng.random((flows, packets)) < 2e-4, rng.uniform(0.1, 0.4), 0.0)
    # A spike of height h at packet s delays packet i >= s by h - (i - s) ptime.
    spike_delay = np.maximum.accumulate(spikes + media, axis=1) - media
    recv = media + base + jitter + spike_delay
    recv[rng.random((flows, packets)) < 0.01] = np.nan
    bounds = np.arange(flows + 1, dtype=np.int64) * packets
    return media.ravel().copy(), recv.ravel(), bounds


def score(playouts: FlowPlayouts, media: FloatArray) -> emodel.EModelResult:
    """Ppl, BurstR and Ta per flow, then the E-model over all flows in one call."""
    played = playouts.played
    bounds = playouts.bounds
    sent = np.diff(bounds)
    n_played = playouts.summary.played
    ppl_percent = 100.0 * (sent - n_played) / sent
    delay = np.add.reduceat(np.where(played, playouts.playout_s - media, 0.0), bounds[:-1])
    playout_delay = np.divide(delay, n_played, out=np.zeros(sent.size), where=n_played > 0)
    used = codec("PCMU")
    ta_s = SEND_LATENCY_S + PTIME_S + used.lookahead_s + playout_delay + RECEIVE_LATENCY_S
    inputs = emodel.for_mouth_to_ear(
        ta_s,
        ie=used.ie,
        ppl_percent=ppl_percent,
        burst_r=emodel.burst_ratios(~played, bounds),
        bpl=used.bpl(concealment=True),
    )
    return emodel.evaluate(inputs)


def _playout_and_score(
    buffer: JitterBuffer, media: FloatArray, recv: FloatArray, bounds: NDArray[np.int64]
) -> emodel.EModelResult:
    return score(buffer.playout_flows(media, recv, bounds), media)


def _best_of(repeat: int, work: Callable[[], object]) -> float:
    work()  # warm-up: numba compile or cache load
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=1000)
    parser.add_argument("--packets", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    media, recv, bounds = make_trace(args.flows, args.packets, args.seed)
    total = media.size
    buffers: dict[str, JitterBuffer] = {
        "fixed 60 ms": FixedJitterBuffer(0.060),
        "adaptive": AdaptiveJitterBuffer(frame_s=PTIME_S),
        "neteq-like": NetEqJitterBuffer(frame_s=PTIME_S),
    }
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
        f"(one used), Python {platform.python_version()}; {args.flows} flows x "
        f"{args.packets} packets = {total:,} packets"
    )
    print(
        f"{'buffer':>12} {'playout s':>10} {'pkt/s':>12} {'+E-model s':>11} {'pkt/s':>12} "
        f"{'MOS mean':>9} {'late %':>7} {'buffer ms':>10} {'stretch %':>10}"
    )
    for name, buffer in buffers.items():
        playouts = buffer.playout_flows(media, recv, bounds)
        lost = ~playouts.played
        vectorised = emodel.burst_ratios(lost, bounds)
        for flow in range(min(20, args.flows)):
            expected = emodel.burst_ratio(lost[bounds[flow] : bounds[flow + 1]])
            if not np.isclose(vectorised[flow], expected):
                raise RuntimeError(f"flow {flow}: BurstR {vectorised[flow]} != {expected}")
        result = score(playouts, media)
        summary = playouts.summary
        playout_s = _best_of(args.repeat, partial(buffer.playout_flows, media, recv, bounds))
        scored_s = _best_of(args.repeat, partial(_playout_and_score, buffer, media, recv, bounds))
        print(
            f"{name:>12} {playout_s:>10.3f} {total / playout_s:>12,.0f} {scored_s:>11.3f} "
            f"{total / scored_s:>12,.0f} {np.mean(result.mos):>9.2f} "
            f"{100 * summary.late_discards.sum() / total:>7.2f} "
            f"{1e3 * np.nanmean(summary.mean_buffer_delay_s):>10.1f} "
            f"{100 * np.mean(summary.stretch_ratio):>10.2f}"
        )


if __name__ == "__main__":
    main()
