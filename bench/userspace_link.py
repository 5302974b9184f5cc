"""Packets per second the userspace link sustains, and the latency it adds when idle.

Three Mininet hosts (no controller, no host-wide setting changed): a sender
and a receiver joined through a link node running ``voipbed.emulation.link``,
and directly by a second veth pair for the baseline. Needs root, mnexec and
ethtool (``make sysdeps``).

- Throughput: small UDP packets (``--payload`` bytes) offered at each of
  ``--rates`` for ``--seconds``, through the full model chain (a 1 Gbit/s
  rate link or a dense Mahimahi trace, drop-tail queue, HARQ at 10 % BLER,
  Gilbert-Elliott loss at 0 %, 5 ms delay with exponential 1 ms jitter).
  Sustained is the highest offered rate delivered with under 0.1 % loss.
- Idle latency: 200 packets/s for ``--seconds``, one-way sender to receiver
  (kernel receive timestamps), through a link with no impairment and over
  the direct veth; added = link minus direct, at p50 and p99.

Targets (issue 6): >= 50k packets/s, < 0.5 ms p99 added when idle.

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
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from voipbed.emulation.link import READY_LINE, LinkSpec, link_argv
from voipbed.emulation.process import LogLine, ManagedProcess, mininet_prefix, run_command
from voipbed.scenario import Segment

VIA_LINK = ("10.77.0.1", "10.77.0.2")
DIRECT = ("10.78.0.1", "10.78.0.2")

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
class Hosts:
    """Shell pids of the three hosts, and the link node's two interfaces."""

    sender: int
    link: int
    receiver: int
    link_a: str
    link_b: str


def _run(pid: int, argv: list[str]) -> str:
    return run_command(argv, timeout_s=5.0, prefix=mininet_prefix(pid)).stdout


def _mac(pid: int, iface: str) -> str:
    words = _run(pid, ["ip", "-o", "link", "show", "dev", iface]).split()
    return words[words.index("link/ether") + 1]


@contextmanager
def network() -> Iterator[Hosts]:
    """sender -- link -- receiver, and sender -- receiver directly; torn down on exit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from mininet.net import Mininet
        from mininet.node import Host
    Mininet.inited = True  # Mininet.init() would rewrite host-wide sysctls (fixLimits)
    tag = secrets.token_hex(3)
    net = Mininet(topo=None, controller=None, host=Host, build=False, autoSetMacs=False)
    try:
        sender, link, receiver = (net.addHost(f"{r}{tag}", ip=None) for r in ("s", "l", "r"))
        pairs = [
            (sender, link, f"us{tag}", f"ua{tag}"),
            (link, receiver, f"ub{tag}", f"ur{tag}"),
            (sender, receiver, f"ud{tag}", f"ue{tag}"),
        ]
        for node_1, node_2, name_1, name_2 in pairs:
            net.addLink(node_1, node_2, intfName1=name_1, intfName2=name_2)
        for host in (sender, link, receiver):
            _run(int(host.pid), ["sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"])
        for node_1, node_2, name_1, name_2 in pairs:
            for pid, iface in ((int(node_1.pid), name_1), (int(node_2.pid), name_2)):
                _run(pid, ["ethtool", "-K", iface, "tso", "off", "gso", "off", "gro", "off"])
                _run(pid, ["ethtool", "-K", iface, "rx", "off", "tx", "off"])
                _run(pid, ["ip", "link", "set", "dev", iface, "up"])
        s, r = int(sender.pid), int(receiver.pid)
        for (ip_s, ip_r), if_s, if_r in (
            (VIA_LINK, f"us{tag}", f"ur{tag}"),
            (DIRECT, f"ud{tag}", f"ue{tag}"),
        ):
            _run(s, ["ip", "address", "add", f"{ip_s}/24", "dev", if_s])
            _run(r, ["ip", "address", "add", f"{ip_r}/24", "dev", if_r])
            _run(s, ["ip", "neigh", "replace", ip_r, "lladdr", _mac(r, if_r), "dev", if_s])
            _run(r, ["ip", "neigh", "replace", ip_s, "lladdr", _mac(s, if_s), "dev", if_r])
        yield Hosts(s, int(link.pid), r, f"ua{tag}", f"ub{tag}")
    finally:
        net.stop()


@contextmanager
def link_process(hosts: Hosts, segment: dict[str, Any], work: Path) -> Iterator[Path]:
    """The link process forwarding through ``segment``; yields its records file."""
    spec = LinkSpec.for_segment(
        Segment.model_validate(segment, context={"base_dir": str(work)}),
        iface_a=hosts.link_a,
        iface_b=hosts.link_b,
        seed=1,
        t0=time.monotonic(),
        output=str(work / f"{segment['name']}.parquet"),
    )
    spec_file = work / f"{segment['name']}.json"
    spec_file.write_text(spec.model_dump_json())
    process = ManagedProcess(
        link_argv(spec_file), name=segment["name"], log_dir=work, prefix=mininet_prefix(hosts.link)
    )
    try:
        process.start(LogLine(READY_LINE, "stdout"), timeout_s=30.0)
        yield Path(spec.output)
    finally:
        process.stop(grace_s=30.0)


def offer(
    hosts: Hosts, dst: str, port: int, rate: float, seconds: float, payload: int, work: Path
) -> tuple[int, dict[str, float]]:
    """Send at ``rate`` for ``seconds``; (packets sent, the receiver's count and latency)."""
    name = f"p{port}"
    receiver = ManagedProcess(
        [sys.executable, "-c", RECEIVER, str(port), "0.5"],
        name=f"rx-{name}",
        log_dir=work,
        prefix=mininet_prefix(hosts.receiver),
    )
    sender = ManagedProcess(
        [sys.executable, "-c", SENDER, dst, str(port), str(rate), str(seconds), str(payload)],
        name=f"tx-{name}",
        log_dir=work,
        prefix=mininet_prefix(hosts.sender),
    )
    try:
        receiver.start(LogLine("receiver ready", "stdout"), timeout_s=10.0)
        sender.start()
        sender.wait(timeout_s=seconds + 30.0)
        receiver.wait(timeout_s=60.0)
    finally:
        sender.stop()
        receiver.stop()
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
    with tempfile.TemporaryDirectory(prefix="voipbed-link-bench-") as tmp, network() as hosts:
        work = Path(tmp)
        trace = str(dense_trace(work, 100))
        configs: list[dict[str, Any]] = [
            {"name": "rate", "capacity": "1Gbps", "queue": {"packets": 100000}, **chain},
            {"name": "trace", "uplink_trace": trace, "downlink_trace": trace, **chain},
        ]
        print(f"# userspace link, {args.payload}-byte UDP payloads, {args.seconds:g} s per rate")
        print("| chain | offered pkt/s | delivered pkt/s | loss % | link p50 ms | link p99 ms |")
        print("|---|---:|---:|---:|---:|---:|")
        sustained: dict[str, float] = {}
        for config in configs:
            name = str(config["name"])
            with link_process(hosts, config, work):
                for step, rate in enumerate(args.rates):
                    port = 41000 + step
                    sent, got = offer(
                        hosts, VIA_LINK[1], port, rate, args.seconds, args.payload, work
                    )
                    loss = 100.0 * (1 - got["count"] / sent)
                    if loss < 0.1:
                        sustained[name] = max(sustained.get(name, 0.0), rate)
                    print(
                        f"| {name} | {rate:,.0f} | {got['count'] / args.seconds:,.0f} "
                        f"| {loss:.2f} | {got['p50'] * 1e3:.2f} | {got['p99'] * 1e3:.2f} |",
                        flush=True,
                    )
            meta = json.loads(pq.read_schema(work / f"{name}.parquet").metadata[b"voipbed.link"])
            print(f"| {name}: kernel socket drops {meta['kernel_drops']} | | | | | |")
        for name, rate in sustained.items():
            print(f"sustained ({name}): {rate:,.0f} packets/s (target >= 50,000)")

        idle_rate = 200.0
        with link_process(hosts, {"name": "wire"}, work):
            _, linked = offer(hosts, VIA_LINK[1], 42000, idle_rate, args.seconds, 160, work)
        _, direct = offer(hosts, DIRECT[1], 42001, idle_rate, args.seconds, 160, work)
        print("\n| idle, 200 pkt/s | p50 ms | p99 ms | max ms |")
        print("|---|---:|---:|---:|")
        for label, got in (("direct veth", direct), ("through the link", linked)):
            print(
                f"| {label} | {got['p50'] * 1e3:.3f} | {got['p99'] * 1e3:.3f} "
                f"| {got['max'] * 1e3:.3f} |"
            )
        added = {q: (linked[q] - direct[q]) * 1e3 for q in ("p50", "p99")}
        print(
            f"| added by the link | {added['p50']:.3f} | {added['p99']:.3f} | |\n"
            f"added latency p99 {added['p99']:.3f} ms (target < 0.5 ms)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
