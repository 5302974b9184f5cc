"""voipbed against ns-3 on one G.711 bottleneck: speed, loss, delay and jitter side by side.

N calls (N = 10, 100, 1000) of G.711 (200-byte IP packets every 20 ms) cross
one bottleneck: 20 ms one-way delay, a drop-tail queue of 100 packets, 1 %
Bernoulli loss, for 60 s; the capacity is 2 Mbit/s, or scaled with N
(N x 80 kbit/s x 1.25, a load of 0.8). A voipbed call has an uplink and a
downlink flow, each direction with its own link; ns-3 (``bench/ns3_peer.py``)
runs N flows each way, each direction on its own point-to-point link (the two
halves of a full-duplex link), so both carry 2N flows and packet counts cover
both directions.

Timing: voipbed's ``simulate(scenario)`` (calls, packet path, trace table),
best of ``--repeat`` after one warm-up run that absorbs numba's compile or
cache load; ns-3's ``Simulator::Run()`` alone, one run without per-packet trace
sinks (building the topology and the 6-8 s import left out), and a second run
with them for the metrics. Loss is over all packets, delay the mean
over received packets, jitter the RFC 3550 interarrival jitter computed from
per-packet times the same way on both sides (mean per flow, then over flows).
By default ns-3's flows start at voipbed's first send times, so both engines
see the same arrivals and differ only in the path and its random draws.

    python bench/vs_ns3.py [--flows 10 100 1000] [--seconds 60] [--skip-ns3]
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import os
import platform
import time
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from voipbed.allocator import keep_large_arrays_in_heap
from voipbed.loader import parse_scenario
from voipbed.models.jitter import interarrival_jitter
from voipbed.scenario import Scenario
from voipbed.sim.engine import simulate
from voipbed.trace import Trace
from voipbed.units import format_rate

# The engine alone, timed beyond the command's budget for a whole run with its report.
ENGINE_ONLY = 1 << 40

FIXED_CAPACITY_BPS = 2e6
G711_IP_BPS = 80e3  # 200 bytes every 20 ms
HEADROOM = 1.25
PTIME_S = 0.020
LOSS_TARGET_PP = 1.0  # acceptance: loss within 1 percentage point of ns-3's
DELAY_TARGET_MS = 2.0  # acceptance: mean delay within 2 ms of ns-3's
SPEED_TARGET = 100.0  # acceptance: voipbed 100x ns-3's packets per wall second


class PathMetrics(NamedTuple):
    """What the two engines are compared on."""

    packets: int
    loss_percent: float
    delay_ms: float
    jitter_ms: float


class Row(NamedTuple):
    """One scenario's outcome: voipbed's metrics and speed, and ns-3's if it ran."""

    calls: int
    capacity_bps: float
    scaled: bool
    voipbed: PathMetrics
    voipbed_pps: float
    ns3: PathMetrics | None
    ns3_pps: float | None


def scenario_yaml(calls: int, capacity_bps: float, seconds: float, seed: int) -> str:
    """The benchmark scenario as voipbed YAML."""
    return f"""
name: vs-ns3
seed: {seed}
duration: {seconds}s
calls: {{count: {calls}, start_spread: 20ms, codec: PCMU, ptime: 20ms}}
path:
  - name: bottleneck
    one_way_delay: 20ms
    capacity: {format_rate(capacity_bps)}
    queue: {{packets: 100}}
    loss: 1%
radio: {{rrc: null}}  # a point-to-point link: no radio control plane, as in ns-3
"""


def path_metrics(
    flow: NDArray[np.int64],
    seq: NDArray[np.int64],
    send_s: NDArray[np.float64],
    recv_s: NDArray[np.float64],
) -> PathMetrics:
    """Loss over all packets, mean delay over received ones, RFC 3550 jitter per flow averaged."""
    order = np.lexsort((seq, flow))
    flow, seq, send_s, recv_s = flow[order], seq[order], send_s[order], recv_s[order]
    received = ~np.isnan(recv_s)
    bounds = np.flatnonzero(np.r_[True, flow[1:] != flow[:-1], True])
    per_flow = []
    for start, end in itertools.pairwise(bounds):
        # Media time from the sequence number, as voipbed's scoring does from the RTP timestamp.
        media_s = seq[start:end].astype(np.float64) * PTIME_S
        jitter = interarrival_jitter(media_s, recv_s[start:end])
        if jitter.size:
            per_flow.append(jitter.mean())
    delay_s = recv_s[received] - send_s[received]
    return PathMetrics(
        packets=int(flow.size),
        loss_percent=100.0 * float((~received).mean()),
        delay_ms=1e3 * float(delay_s.mean()) if delay_s.size else float("nan"),
        jitter_ms=1e3 * float(np.mean(per_flow)) if per_flow else float("nan"),
    )


def run_voipbed(scenario: Scenario, repeat: int) -> tuple[Trace, float]:
    """The trace of one warm-up run and the best wall time of ``repeat`` further runs."""
    trace = simulate(scenario)
    best_s = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        simulate(scenario)
        best_s = min(best_s, time.perf_counter() - started)
    return trace, best_s


def trace_metrics(trace: Trace) -> PathMetrics:
    """``path_metrics`` of a voipbed trace's packets table."""
    packets = trace.packets
    return path_metrics(
        packets.column("flow").to_numpy().astype(np.int64),
        packets.column("seq").to_numpy().astype(np.int64),
        packets.column("send_s").to_numpy(),
        packets.column("recv_s").to_numpy(),
    )


def first_sends(trace: Trace, calls: int) -> NDArray[np.float64]:
    """Each voipbed flow's first send time, in ns-3's flow order (uplink flows, then downlink)."""
    packets = trace.packets
    flow = packets.column("flow").to_numpy()
    first = packets.column("seq").to_numpy() == 0
    start_s = np.empty(2 * calls)
    # voipbed's call c has flows 2c (uplink) and 2c + 1 (downlink); ns-3 has c and calls + c.
    send_s = packets.column("send_s").to_numpy()
    start_s[(flow[first] % 2) * calls + flow[first] // 2] = send_s[first]
    return start_s


def compare(calls: int, capacity_bps: float, scaled: bool, args: argparse.Namespace) -> Row:
    """Run one scenario in voipbed and, unless skipped, in ns-3 with the same arrivals."""
    text = scenario_yaml(calls, capacity_bps, args.seconds, args.seed)
    scenario = parse_scenario(text, max_packets=ENGINE_ONLY)
    trace, voipbed_s = run_voipbed(scenario, args.repeat)
    voipbed = trace_metrics(trace)
    if args.skip_ns3:
        return Row(calls, capacity_bps, scaled, voipbed, voipbed.packets / voipbed_s, None, None)
    from ns3_peer import run_ns3

    start_s = None if args.ns3_own_phases else first_sends(trace, calls)
    timed = run_ns3(calls, capacity_bps, args.seconds, args.seed, start_s=start_s, per_packet=False)
    peer = run_ns3(calls, capacity_bps, args.seconds, args.seed, start_s=start_s)
    if timed["packets_sent"] != peer["packets_sent"]:
        raise RuntimeError("ns-3 sent a different number of packets with its trace sinks")
    ns3 = path_metrics(peer["flow"], peer["seq"], peer["send_s"], peer["recv_s"])
    voipbed_pps = voipbed.packets / voipbed_s
    return Row(calls, capacity_bps, scaled, voipbed, voipbed_pps, ns3, timed["packets_per_wall_s"])


HEADER = (
    f"{'N':>5} {'capacity':>10} {'packets vb/ns3':>19} {'ns-3 pkt/s':>11} {'voipbed pkt/s':>13} "
    f"{'ratio':>6} {'loss % ns3/vb':>14} {'delay ms ns3/vb':>16} {'jitter ms ns3/vb':>17} "
    f"{'loss':>4} {'delay':>5}"
)
VOIPBED_HEADER = (
    f"{'N':>5} {'capacity':>10} {'packets':>19} {'':>11} {'voipbed pkt/s':>13} "
    f"{'':>6} {'loss %':>14} {'delay ms':>16} {'jitter ms':>17}"
)


def format_row(row: Row) -> str:
    capacity = format_rate(row.capacity_bps) + ("*" if row.scaled else " ")
    vb = row.voipbed
    if row.ns3 is None or row.ns3_pps is None:
        return (
            f"{row.calls:>5} {capacity:>10} {vb.packets:>19,} {'':>11} {row.voipbed_pps:>13,.0f} "
            f"{'':>6} {vb.loss_percent:>14.2f} {vb.delay_ms:>16.2f} {vb.jitter_ms:>17.4f}"
        )
    ns3 = row.ns3
    loss_ok = abs(vb.loss_percent - ns3.loss_percent) <= LOSS_TARGET_PP
    delay_ok = abs(vb.delay_ms - ns3.delay_ms) <= DELAY_TARGET_MS
    packets = f"{vb.packets:,}/{ns3.packets:,}"
    return (
        f"{row.calls:>5} {capacity:>10} {packets:>19} {row.ns3_pps:>11,.0f} "
        f"{row.voipbed_pps:>13,.0f} {row.voipbed_pps / row.ns3_pps:>5.1f}x "
        f"{f'{ns3.loss_percent:.2f}/{vb.loss_percent:.2f}':>14} "
        f"{f'{ns3.delay_ms:.2f}/{vb.delay_ms:.2f}':>16} "
        f"{f'{ns3.jitter_ms:.4f}/{vb.jitter_ms:.4f}':>17} "
        f"{'ok' if loss_ok else 'MISS':>4} {'ok' if delay_ok else 'MISS':>5}"
    )


def verdict(rows: list[Row]) -> list[str]:
    """The acceptance targets, met or not, over the rows that have an ns-3 side."""
    pairs = [(row, row.ns3, row.ns3_pps) for row in rows]
    compared = [(r, m, p) for r, m, p in pairs if m is not None and p is not None]
    if not compared:
        return []
    loss_ok = sum(
        abs(r.voipbed.loss_percent - m.loss_percent) <= LOSS_TARGET_PP for r, m, _ in compared
    )
    delay_ok = sum(abs(r.voipbed.delay_ms - m.delay_ms) <= DELAY_TARGET_MS for r, m, _ in compared)
    ratios = [r.voipbed_pps / p for r, _, p in compared]
    speed = "met" if min(ratios) >= SPEED_TARGET else "NOT met"
    return [
        f"loss within {LOSS_TARGET_PP:g} pp of ns-3: {loss_ok}/{len(compared)} rows; "
        f"mean delay within {DELAY_TARGET_MS:g} ms: {delay_ok}/{len(compared)} rows",
        f"speed: voipbed is {min(ratios):.1f}x to {max(ratios):.1f}x ns-3's packets per wall "
        f"second; the {SPEED_TARGET:g}x target is {speed}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--flows",
        type=int,
        nargs="+",
        default=[10, 100, 1000],
        help="numbers of calls N (2N flows)",
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="voipbed timed runs (best kept)")
    parser.add_argument("--skip-ns3", action="store_true", help="voipbed only")
    parser.add_argument(
        "--ns3-own-phases",
        action="store_true",
        help="ns-3 draws its own start phases instead of voipbed's send times",
    )
    args = parser.parse_args()
    keep_large_arrays_in_heap()

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    if args.skip_ns3:
        print("ns-3 skipped: --skip-ns3 given; voipbed columns only")
    elif importlib.util.find_spec("ns") is None:
        args.skip_ns3 = True
        print("ns-3 skipped: the ns3 package is not installed (pip install ns3==3.44.post0)")
    else:
        phases = (
            "own phases, uniform in [0, 20 ms)"
            if args.ns3_own_phases
            else ("flows start at voipbed's first send times")
        )
        print(f"ns-3 3.44: N flows each way, one point-to-point link per direction; {phases}")
    print(
        f"voipbed: simulate(), best of {args.repeat} after one warm-up run (numba compile and "
        "cache load excluded)"
        + ("" if args.skip_ns3 else "; ns-3: Simulator::Run() only, one run without trace sinks")
    )
    print("packets: both directions; jitter: RFC 3550 from per-packet times, mean per flow")
    print(VOIPBED_HEADER if args.skip_ns3 else HEADER)
    rows = []
    for calls in args.flows:
        for scaled in (False, True):
            capacity_bps = calls * G711_IP_BPS * HEADROOM if scaled else FIXED_CAPACITY_BPS
            rows.append(compare(calls, capacity_bps, scaled, args))
            print(format_row(rows[-1]), flush=True)
    print(f"* capacity scaled with N: N x {G711_IP_BPS / 1e3:g} kbit/s x {HEADROOM:g}")
    for line in verdict(rows):
        print(line)


if __name__ == "__main__":
    main()
