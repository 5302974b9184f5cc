"""What several emulation tests share: the default scenario's network under a fresh run id,
interface counters, free ports on 127.0.0.1, a SIPp caller placing short calls, ARP
entries set before a test sends, and a scenario run with `voipbed run --engine emulation`."""

from __future__ import annotations

import contextlib
import json
import socket
import uuid
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from voipbed.cli import main
from voipbed.emulation.network import EmulatedNetwork, NetNode
from voipbed.emulation.stacks import Transport
from voipbed.emulation.stacks.sipp import SippRole, SippSpec
from voipbed.emulation.topology import HostSpec, Topology, describe
from voipbed.loader import load_scenario

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "scenarios" / "default.yaml"  # two path segments: radio, then core
LOOPBACK = "127.0.0.1"


def new_run_id(prefix: str) -> str:
    """A run id no other test uses (so is its tag): ``prefix`` and 12 random hex digits."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def default_topology(prefix: str, max_ue_hosts: int = 1) -> Topology:
    """The default scenario's network under a fresh run id starting with ``prefix``."""
    return describe(load_scenario(DEFAULT), new_run_id(prefix), max_ue_hosts=max_ue_hosts)


def rx_packets(node: NetNode, interface: str) -> int:
    """Packets received on ``interface`` of ``node`` (/proc/<pid>/net/dev)."""
    for line in Path(f"/proc/{node.pid}/net/dev").read_text().splitlines()[2:]:
        name, _, counters = line.partition(":")
        if name.strip() == interface:
            return int(counters.split()[1])
    raise KeyError(interface)


def free_ports(count: int, *, tls_neighbour: bool = False) -> list[int]:
    """Ports on 127.0.0.1 free for both UDP and TCP now (and the next one for TCP with
    ``tls_neighbour``: baresip's TLS listener), held until all are chosen."""
    ports: list[int] = []
    with contextlib.ExitStack() as held:
        while len(ports) < count:
            tcp = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            tcp.bind((LOOPBACK, 0))
            port = tcp.getsockname()[1]
            wanted = [(socket.SOCK_DGRAM, port)]
            if tls_neighbour:
                wanted.append((socket.SOCK_STREAM, port + 1))
            try:
                for kind, number in wanted:
                    held.enter_context(socket.socket(socket.AF_INET, kind)).bind((LOOPBACK, number))
            except OSError:
                continue
            ports.append(port)
    return ports


def sipp_caller(
    run_dir: Path,
    address: str,
    port: int,
    *,
    proxy: tuple[str, int],
    transport: Transport,
    user: str,
    calls: int,
) -> SippSpec:
    """A SIPp caller at ``address:port`` placing ``calls`` calls of 50 ms to ``user`` through
    the proxy, 20 a second, giving up after 10 s."""
    return SippSpec(
        SippRole.UAC,
        "uac",
        run_dir,
        address,
        port,
        remote_address=proxy[0],
        remote_port=proxy[1],
        transport=transport,
        user=user,
        rate_cps=20.0,
        call_count=calls,
        call_duration_s=0.05,
        timeout_s=10.0,
    )


def mac_of(topology: Topology, host: HostSpec) -> str:
    """The MAC address of ``host``'s interface."""
    for veth in topology.veths:
        for node, interface, mac in (
            (veth.node_a, veth.iface_a, veth.mac_a),
            (veth.node_b, veth.iface_b, veth.mac_b),
        ):
            if (node, interface) == (host.name, host.interface):
                return mac
    raise KeyError(host.name)


def pin_neighbour(net: EmulatedNetwork, topology: Topology, at: HostSpec, to: HostSpec) -> None:
    """A permanent ARP entry in ``at`` for ``to``: the first packets ``at`` sends to ``to``
    neither wait for ARP nor, when it resolves, get overtaken by the packets sent after them."""
    argv = ["ip", "neigh", "replace", to.ip, "lladdr", mac_of(topology, to)]
    net.node(at).run([*argv, "dev", at.interface, "nud", "permanent"])


def emulated_run(root: Path, name: str, text: str) -> Path:
    """The run folder of scenario ``text`` (written to ``root/name.yaml``) run by
    `voipbed run --engine emulation` into ``root/runs``; the run must exit 0."""
    scenario = root / f"{name}.yaml"
    scenario.write_text(text, encoding="utf-8")
    out = root / "runs"
    result = CliRunner().invoke(
        main, ["run", "--engine", "emulation", str(scenario), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    (folder,) = out.iterdir()
    return folder


def light_callers_plan(run_dir: Path) -> dict[str, Any]:
    """The light callers' agent plan of an emulated run, as its JSON file holds it."""
    path = run_dir / "emulation" / "light" / "callers.json"
    plan: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return plan
