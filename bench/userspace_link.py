"""Packets per second the userspace link sustains, and the latency it adds when idle.

The network is the emulation engine's (``EmulatedNetwork``, no controller, no host-wide
setting changed), built from a one-segment scenario: the UE host sends, the far-end host
receives, and every packet crosses the access bridge, the link node L0 and the core bridge.
L0 runs the userspace link as ``voipbed run --engine emulation`` starts it, or, for the
baseline, a kernel bridge (``pass_through``: the same hops, forwarded by the kernel without
impairment). Needs root, mnexec and ethtool (``make sysdeps``).

- Throughput: small UDP packets (``--payload`` bytes) offered at each of
  ``--rates`` for ``--seconds``, through the full model chain (a 1 Gbit/s
  rate link or a dense Mahimahi trace, drop-tail queue, HARQ at 10 % BLER,
  Gilbert-Elliott loss at 0 %, 5 ms delay with exponential 1 ms jitter).
  Sustained is the highest offered rate delivered with under 0.1 % loss.
- Idle latency: 200 packets/s for ``--seconds``, one-way UE to far end
  (kernel receive timestamps), through a link with no impairment and through
  the kernel bridge; added = link minus bridge, at p50 and p99.

Targets: >= 50k packets/s, < 0.5 ms p99 added when idle.

    python bench/userspace_link.py [--rates 25000 50000 75000 100000] [--seconds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from voipbed.emulation.engine import link_starter
from voipbed.emulation.network import EmulatedNetwork, LinkStarter, NetNode, pass_through
from voipbed.emulation.process import LogLine, ManagedProcess
from voipbed.emulation.topology import HostSpec, LinkNodeSpec, describe
from voipbed.scenario import Scenario

# Paced in 1 ms slots: by time t it has sent rate * t packets. Each carries its sequence
# number and its send time (monotonic) first. Prints how many it sent.
SENDER = """
import socket, struct, sys, time
dst, port, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
seconds, size = float(sys.argv[4]), int(sys.argv[5])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
pad = bytes(max(0, size - 12))
pack, clock, send = struct.Struct("!Id").pack, time.monotonic, sock.sendto
start = clock()
total = int(rate * seconds)
seq = 0
while seq < total:
    now = clock()
    due = min(total, int((now - start) * rate) + 1)
    while seq < due:
        send(pack(seq, clock()) + pad, (dst, port))
        seq += 1
    time.sleep(max(0.0, start + seq / rate - clock()))
print(seq)
"""

# Counts datagrams and their one-way latency (kernel receive timestamp, moved to the
# monotonic clock, minus the send time inside) until IDLE s pass after the first one.
RECEIVER = """
import json, socket, struct, sys, time
port, idle = int(sys.argv[1]), float(sys.argv[2])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, 35, 1)  # SO_TIMESTAMPNS
sock.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE: this socket only
sock.bind(("0.0.0.0", port))
sock.settimeout(30.0)
offset = time.time() - time.monotonic()
print("receiver ready", flush=True)
latency = []
unpack, ts = struct.Struct("!Id").unpack_from, struct.Struct("qq").unpack_from
try:
    while True:
        data, anc, _, _ = sock.recvmsg(2048, 64)
        sec, nsec = ts(anc[0][2])
        latency.append(sec + nsec * 1e-9 - offset - unpack(data)[1])
        sock.settimeout(idle)
except socket.timeout:
    pass
latency.sort()
n = len(latency)
pick = lambda q: latency[min(n - 1, int(q * n))] if n else float("nan")
print(json.dumps({"count": n, "p50": pick(0.5), "p99": pick(0.99), "max": pick(1.0)}))
"""


@dataclass
class Hop:
    """A running one-segment network: the sender's and the receiver's hosts."""

    net: EmulatedNetwork
    sender: HostSpec
    receiver: HostSpec


def keeping(
    links: list[ManagedProcess], start: Callable[[NetNode, LinkNodeSpec], ManagedProcess]
) -> LinkStarter:
    """``start``, keeping in ``links`` each link process it starts."""

    def start_and_keep(node: NetNode, spec: LinkNodeSpec) -> ManagedProcess:
        links.append(start(node, spec))
        return links[-1]

    return start_and_keep


@contextmanager
def one_hop(segment: dict[str, Any], work: Path, *, userspace: bool = True) -> Iterator[Hop]:
    """The network of a one-call scenario whose path is ``segment``, L0 running the userspace
    link (records in ``work/link-<segment>.parquet``) or, without ``userspace``, a kernel
    bridge; torn down on exit."""
    scenario = Scenario.model_validate(
        {"name": "link-bench", "seed": 1, "calls": {"count": 1}, "path": [segment]},
        context={"base_dir": str(work)},
    )
    topology = describe(scenario, f"linkbench-{secrets.token_hex(6)}")
    links: list[ManagedProcess] = []
    start_link: LinkStarter = pass_through
    if userspace:
        start_link = keeping(links, link_starter(scenario, work, time.monotonic()))
    with EmulatedNetwork(topology, start_link=start_link) as net:
        yield Hop(net, topology.ues[0], topology.far_end)
        for link in links:  # it writes its records on stop: give it time
            link.stop(grace_s=30.0)


def offer(
    hop: Hop, port: int, rate: float, seconds: float, payload: int, work: Path
) -> tuple[int, dict[str, float]]:
    """Send at ``rate`` for ``seconds``; (packets sent, the receiver's count and latency)."""
    receiver = hop.net.start(
        hop.receiver,
        [sys.executable, "-c", RECEIVER, str(port), "0.5"],
        name=f"rx-p{port}",
        log_dir=work,
        ready=LogLine("receiver ready", "stdout"),
    )
    argv = [SENDER, hop.receiver.ip, str(port), str(rate), str(seconds), str(payload)]
    sender = hop.net.start(
        hop.sender, [sys.executable, "-c", *argv], name=f"tx-p{port}", log_dir=work
    )
    sender.wait(timeout_s=seconds + 30.0)
    receiver.wait(timeout_s=60.0)
    sent = int(sender.stdout_path.read_text().split()[-1])
    received: dict[str, float] = json.loads(receiver.stdout_path.read_text().splitlines()[-1])
    return sent, received


def dense_trace(work: Path, per_ms: int) -> Path:
    """A Mahimahi trace with ``per_ms`` opportunities every ms (per_ms * 12 Mbit/s)."""
    path = work / "dense.trace"
    path.write_text("".join(f"{ms}\n" * per_ms for ms in range(1, 1001)))
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[25e3, 50e3, 75e3, 100e3])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--payload", type=int, default=64, help="UDP payload bytes")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/userspace_link.py needs root (network namespaces)", file=sys.stderr)
        return 2
    chain: dict[str, Any] = {
        "harq": {"bler": "10%"},
        "loss": {"model": "gilbert_elliott", "rate": "0%", "burst": 1},
        "one_way_delay": "5ms",
        "jitter": {"distribution": "exponential", "scale": "1ms"},
    }
    with tempfile.TemporaryDirectory(prefix="voipbed-link-bench-") as tmp:
        work = Path(tmp)
        trace = str(dense_trace(work, 100))
        configs: list[dict[str, Any]] = [
            {"name": "rate", "capacity": "1Gbps", "queue": {"packets": 100000}, **chain},
            {"name": "trace", "uplink_trace": trace, "downlink_trace": trace, **chain},
        ]
        print(
            f"# userspace link in L0 (UE - bridge - L0 - bridge - far end), "
            f"{args.payload}-byte UDP payloads, {args.seconds:g} s per rate"
        )
        print("| chain | offered pkt/s | delivered pkt/s | loss % | link p50 ms | link p99 ms |")
        print("|---|---:|---:|---:|---:|---:|")
        sustained: dict[str, float] = {}
        for config in configs:
            name = str(config["name"])
            with one_hop(config, work) as hop:
                for step, rate in enumerate(args.rates):
                    sent, got = offer(hop, 41000 + step, rate, args.seconds, args.payload, work)
                    loss = 100.0 * (1 - got["count"] / sent)
                    if loss < 0.1:
                        sustained[name] = max(sustained.get(name, 0.0), rate)
                    print(
                        f"| {name} | {rate:,.0f} | {got['count'] / args.seconds:,.0f} "
                        f"| {loss:.2f} | {got['p50'] * 1e3:.2f} | {got['p99'] * 1e3:.2f} |",
                        flush=True,
                    )
            records = work / f"link-{name}.parquet"
            meta = json.loads(pq.read_schema(records).metadata[b"voipbed.link"])
            print(f"| {name}: kernel socket drops {meta['kernel_drops']} | | | | | |")
        for name, rate in sustained.items():
            print(f"sustained ({name}): {rate:,.0f} packets/s (target >= 50,000)")

        idle_rate = 200.0
        with one_hop({"name": "wire"}, work) as hop:
            _, linked = offer(hop, 42000, idle_rate, args.seconds, 160, work)
        with one_hop({"name": "bridge"}, work, userspace=False) as hop:
            _, bridged = offer(hop, 42001, idle_rate, args.seconds, 160, work)
        print(
            "\n# idle latency, UE to far end; baseline: the same network with a kernel "
            "bridge in L0 (pass_through)"
        )
        print("| idle, 200 pkt/s | p50 ms | p99 ms | max ms |")
        print("|---|---:|---:|---:|")
        for label, got in (("kernel bridge in L0", bridged), ("userspace link in L0", linked)):
            print(
                f"| {label} | {got['p50'] * 1e3:.3f} | {got['p99'] * 1e3:.3f} "
                f"| {got['max'] * 1e3:.3f} |"
            )
        added = {q: (linked[q] - bridged[q]) * 1e3 for q in ("p50", "p99")}
        print(
            f"| added by the link | {added['p50']:.3f} | {added['p99']:.3f} | |\n"
            f"added latency p99 {added['p99']:.3f} ms (target < 0.5 ms)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
