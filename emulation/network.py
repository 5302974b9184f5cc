"""Builds a :class:`~voipbed.emulation.topology.Topology` with Mininet, and tears it down.

:class:`EmulatedNetwork` is a context manager. Every node is a Mininet ``Host`` (a shell in
its own network namespace, no controller, no OpenFlow switch): the UEs, the SIP core, the
far end, one link node per path segment, and the two bridge nodes, whose Linux bridge lives
inside their own namespace so that no bridge, address or packet of the run is in the host's
namespace. Mininet creates the nodes and the veth pairs (with names and MACs from the
topology); everything else is configured with argument lists through ``run_command``.

Each link node forwards between its two interfaces through ``start_link(node, spec)``, a
callable returning a context manager (a started ``ManagedProcess`` is one): the userspace
link, or :func:`pass_through`, a kernel bridge in the link node (no impairment, a baseline).
A topology with a NAT node gets it configured (:func:`voipbed.emulation.nat_box.configured`,
inside the node's namespace) and the default route of the hosts behind it through it.

An IPv6 topology (``Topology.ip_version`` 6) has IPv6 on in its addressed hosts only, set
in each host's own namespace before its interface arrives: no duplicate address detection
(addresses are usable at once, and unique by construction), no router advertisements or
autoconfiguration (there is no router: the path is one subnet), no forwarding. Neighbour
discovery resolves addresses as ARP does in IPv4; its multicast solicitations cross the
bridges (multicast snooping off: flooded to every port) and the link nodes, which pass its
messages at once, unimpaired, as they pass ARP (``frames.nd_type``). The build ends with
each UE host resolving the SIP core and the far end (:func:`ping_argv`), so that a call's
first packets find their neighbours resolved, as over IPv4.

Everything is registered in an ``ExitStack`` as it is created, so teardown runs on normal
exit, on an exception, on Ctrl-C (KeyboardInterrupt) and on SIGTERM (turned into
:class:`Terminated` in the main thread while the network is up). The run is recorded in the
state folder (``cleanup.RunRegistration``) for ``voipbed clean`` after a SIGKILL.
Host-wide settings are never changed (Mininet's ``fixLimits`` is skipped).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self

from voipbed.emulation._mininet import new_mininet
from voipbed.emulation.cleanup import (
    DEFAULT_STATE_DIR,
    RunRegistration,
    clean_dead_runs,
    namespace_marker,
    namespace_of,
    remove_run,
    stop_namespace_processes,
)
from voipbed.emulation.names import bridge_device_name
from voipbed.emulation.nat_box import NatBox, configured, route_via_nat_argv
from voipbed.emulation.process import (
    ManagedProcess,
    Readiness,
    mininet_prefix,
    run_command,
)
from voipbed.emulation.topology import HostSpec, LinkNodeSpec, Topology, VethSpec

__all__ = [
    "IPV6_HOST_SETTINGS",
    "EmulatedNetwork",
    "LinkStarter",
    "NetNode",
    "Terminated",
    "address_add_argv",
    "ipv6_sysctl_argv",
    "kernel_bridge",
    "offload_off_argv",
    "pass_through",
    "ping_argv",
]

log = logging.getLogger(__name__)

COMMAND_TIMEOUT_S = 5.0


class Terminated(BaseException):
    """SIGTERM arrived while a network was up (raised in the main thread, like Ctrl-C)."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(f"terminated by signal {signum}")
        self.signum = signum


@dataclass(frozen=True)
class NetNode:
    """A running namespace node: its name and its Mininet shell's pid."""

    name: str
    pid: int

    @property
    def prefix(self) -> tuple[str, ...]:
        """The argv prefix that runs a command inside this node (``mnexec -a PID``)."""
        return mininet_prefix(self.pid)

    def run(
        self, argv: Sequence[str], *, timeout_s: float = COMMAND_TIMEOUT_S, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a short command (``ip``, ``ethtool``, ``ping``) in this node to completion."""
        return run_command(argv, timeout_s=timeout_s, prefix=self.prefix, check=check)

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start ``argv`` in this node (``subprocess.Popen`` keywords pass through); the
        caller owns it. Long-lived programs should use :meth:`EmulatedNetwork.start`."""
        if isinstance(argv, str):
            raise ValueError("argv must be a list of arguments, not a string")
        return subprocess.Popen([*self.prefix, *argv], **kwargs)


LinkStarter = Callable[[NetNode, LinkNodeSpec], AbstractContextManager[object]]
"""Starts forwarding in one link node between ``spec.iface_a`` and ``spec.iface_b``; the
context manager's exit stops it. Called once per path segment, every segment's call at once
from its own thread; their context managers are entered in path order."""


def offload_off_argv(interface: str) -> list[str]:
    """The ethtool argv that turns off segmentation, receive coalescing and checksum
    offloads, so every frame on ``interface`` is a real, checksummed packet."""
    features = ("tso", "gso", "gro", "rx", "tx")
    return ["ethtool", "-K", interface, *(word for f in features for word in (f, "off"))]


@contextlib.contextmanager
def kernel_bridge(node: NetNode, device: str, ports: Sequence[str]) -> Iterator[None]:
    """A Linux bridge ``device`` inside ``node`` joining ``ports`` (STP off: forwards at
    once; multicast snooping off: multicast, such as IPv6 neighbour solicitations, goes to
    every port); deleted on exit."""
    bridge = ["type", "bridge", "stp_state", "0", "mcast_snooping", "0"]
    node.run(["ip", "link", "add", "name", device, *bridge])
    try:
        for port in ports:
            node.run(["ip", "link", "set", "dev", port, "master", device])
        node.run(["ip", "link", "set", "dev", device, "up"])
        yield
    finally:
        node.run(["ip", "link", "del", "dev", device], check=False)


IPV6_HOST_SETTINGS = (
    ("disable_ipv6", 0),
    ("accept_dad", 0),  # RFC 4862 5.4: DAD off; the topology's addresses are unique
    ("dad_transmits", 0),
    ("accept_ra", 0),  # no router on the path's one subnet (RFC 4861 6.3.4)
    ("autoconf", 0),  # no SLAAC addresses (RFC 4862 5.5)
    ("forwarding", 0),  # a host, not a router
)
"""The IPv6 settings of an IPv6 topology's hosts, for ``all`` and ``default`` interfaces."""


def ipv6_sysctl_argv() -> list[str]:
    """The sysctl argv, run inside a host's namespace, that turns IPv6 on there as
    :data:`IPV6_HOST_SETTINGS` says (for the interfaces it has and those still to come)."""
    return [
        "sysctl",
        "-q",
        "-w",
        *(
            f"net.ipv6.conf.{scope}.{key}={value}"
            for scope in ("all", "default")
            for key, value in IPV6_HOST_SETTINGS
        ),
    ]


def address_add_argv(
    host: HostSpec, address: ipaddress.IPv4Interface | ipaddress.IPv6Interface | None = None
) -> list[str]:
    """The ip argv that gives ``host``'s interface its address, or ``address`` besides
    (IPv6: ``nodad``, usable at once)."""
    address = host.address if address is None else address
    argv = ["ip", "address", "add", str(address), "dev", host.interface]
    return [*argv, "nodad"] if address.version == 6 else argv


def ping_argv(address: str) -> list[str]:
    """One echo request to ``address``, waiting at most 2 s for the reply: neighbour
    discovery resolves it on the way."""
    return ["ping", "-c", "1", "-W", "2", "-q", "-n", address]


def pass_through(node: NetNode, spec: LinkNodeSpec) -> AbstractContextManager[object]:
    """A LinkStarter that forwards in the kernel, without impairment (a baseline)."""
    return kernel_bridge(node, bridge_device_name(spec.name), (spec.iface_a, spec.iface_b))


def _terminate_all(processes: Sequence[ManagedProcess]) -> None:
    """Send each of ``processes`` its SIGTERM (their ``stop`` then only waits)."""
    for process in processes:
        process.terminate()


class EmulatedNetwork:
    """A topology built in namespaces; use ``with EmulatedNetwork(topology) as net:``.

    ``state_dir`` holds the run registry; ``clean_first`` removes dead runs' leftovers
    before building. ``disable_ipv6`` keeps IPv6 (router solicitations, DAD) off every
    namespace without an IPv6 address (all of an IPv4 topology's; an IPv6 topology's link
    nodes and bridges), so only the traffic the run sends crosses the links.
    """

    def __init__(
        self,
        topology: Topology,
        *,
        start_link: LinkStarter = pass_through,
        state_dir: Path = DEFAULT_STATE_DIR,
        clean_first: bool = True,
        disable_ipv6: bool = True,
    ) -> None:
        self.topology = topology
        self.start_link = start_link
        self.state_dir = Path(state_dir)
        self.clean_first = clean_first
        self.disable_ipv6 = disable_ipv6
        self._stack: ExitStack | None = None
        self._nodes: dict[str, NetNode] = {}
        self._registration: RunRegistration | None = None
        self.nat: NatBox | None = None
        """The NAT configured by the last build (a topology with a NAT node), else None."""

    # ------------------------------------------------------------------ access

    @property
    def stack(self) -> ExitStack:
        """The teardown stack: what is entered here is undone before the network goes."""
        if self._stack is None:
            raise RuntimeError("the network is not up")
        return self._stack

    def node(self, name: str | HostSpec | LinkNodeSpec) -> NetNode:
        """A running node, by name or by its spec in the topology."""
        key = name if isinstance(name, str) else name.name
        try:
            return self._nodes[key]
        except KeyError:
            raise KeyError(f"no running node {key!r}") from None

    def start(
        self,
        node: str | HostSpec | LinkNodeSpec,
        argv: Sequence[str],
        *,
        name: str,
        log_dir: Path,
        ready: Readiness | None = None,
        timeout_s: float = 10.0,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> ManagedProcess:
        """Start a long-lived program in ``node``; it is stopped (process group, SIGTERM
        then SIGKILL) at teardown, before the network goes."""
        process = self.process(node, argv, name=name, log_dir=log_dir, env=env, cwd=cwd)
        process.start(ready, timeout_s)
        return process

    def process(
        self,
        node: str | HostSpec | LinkNodeSpec,
        argv: Sequence[str],
        *,
        name: str,
        log_dir: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> ManagedProcess:
        """A program for ``node``, registered to be stopped at teardown, not started yet."""
        process = ManagedProcess(
            argv, name=name, log_dir=log_dir, prefix=self.node(node).prefix, env=env, cwd=cwd
        )
        self.stack.enter_context(process)
        return process

    # ------------------------------------------------------------------ building

    def __enter__(self) -> Self:
        started = time.monotonic()
        stack = ExitStack()
        try:
            self._install_sigterm(stack)
            if self.clean_first:
                for line in clean_dead_runs(self.state_dir).lines():
                    log.info("clean before build: %s", line)
            registration = RunRegistration(self.state_dir, self.topology.tag, self.topology.run_id)
            registration.write()
            self._registration = registration
            stack.callback(self._final_sweep)
            self._build(stack, registration)
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        log.info(
            "network %s up: %d nodes in %.2f s",
            self.topology.tag,
            len(self._nodes),
            time.monotonic() - started,
        )
        return self

    def _build(self, stack: ExitStack, registration: RunRegistration) -> None:
        topo = self.topology
        mininet = new_mininet()
        hosts: dict[str, Any] = {}
        for name in topo.node_names:
            host = mininet.addHost(name, ip=None)
            hosts[name] = host
            stack.callback(self._stop_node, host)
            node = NetNode(name, int(host.pid))
            self._nodes[name] = node
            registration.add_node(name, node.pid)
            self._prepare_namespace(node)
        for veth in topo.veths:
            mininet.addLink(
                hosts[veth.node_a],
                hosts[veth.node_b],
                intfName1=veth.iface_a,
                intfName2=veth.iface_b,
                addr1=veth.mac_a,
                addr2=veth.mac_b,
            )
            stack.callback(self._delete_veth, veth)
            for node_name, iface in ((veth.node_a, veth.iface_a), (veth.node_b, veth.iface_b)):
                node = self._nodes[node_name]
                node.run(offload_off_argv(iface))
                node.run(["ip", "link", "set", "dev", iface, "up"])
        for bridge in topo.bridges:
            stack.enter_context(kernel_bridge(self.node(bridge.name), bridge.device, bridge.ports))
        for host in topo.hosts:
            node = self.node(host.name)
            node.run(address_add_argv(host))
        if topo.phones is not None:  # phone 0's is the host's own
            prefix = topo.phones.address.network.prefixlen
            for extra in topo.phone_addresses[1:]:
                address = ipaddress.ip_interface(f"{extra}/{prefix}")
                self.node(topo.phones).run(address_add_argv(topo.phones, address))
        if topo.nat is not None:
            self.nat = stack.enter_context(configured(self.node(topo.nat.name), topo.nat))
            for host in topo.behind_nat:
                self.node(host).run(route_via_nat_argv(topo.nat, host.interface))
        self._start_links(stack)
        if topo.ip_version == 6:
            for ue in topo.ues:
                for peer in (topo.sip_core, topo.far_end):
                    self.node(ue).run(ping_argv(peer.ip))

    def _start_links(self, stack: ExitStack) -> None:
        """Call ``start_link`` for every link node at once, one thread each (each waits for
        its own process to be ready), and register what each returned in ``stack``; the
        first error is raised once every call has returned. At teardown the link processes
        get their SIGTERM together, then each is waited for (each writes its records)."""
        specs = self.topology.link_nodes
        with ThreadPoolExecutor(max_workers=max(1, len(specs))) as pool:
            futures = [pool.submit(self.start_link, self.node(s.name), s) for s in specs]
        errors: list[BaseException] = []
        processes: list[ManagedProcess] = []
        for future in futures:
            try:
                started = stack.enter_context(future.result())
            except Exception as error:  # every started link is registered before raising
                errors.append(error)
                continue
            if isinstance(started, ManagedProcess):
                processes.append(started)
        stack.callback(_terminate_all, processes)
        if errors:
            raise errors[0]

    def _prepare_namespace(self, node: NetNode) -> None:
        """Mark the namespace as the run's (loopback alias), bring lo up; IPv6 on as
        :func:`ipv6_sysctl_argv` says in the hosts of an IPv6 topology, else off."""
        topo = self.topology
        marker = namespace_marker(topo.tag, topo.run_id)
        node.run(["ip", "link", "set", "dev", "lo", "alias", marker, "up"])
        # Per-namespace settings: /proc/sys/net is the namespace's own view, and "default"
        # is what the interfaces moved into the namespace afterwards start with.
        if topo.ip_version == 6 and node.name in {host.name for host in topo.hosts}:
            node.run(ipv6_sysctl_argv())
        elif self.disable_ipv6:
            node.run(
                [
                    "sysctl",
                    "-q",
                    "-w",
                    "net.ipv6.conf.all.disable_ipv6=1",
                    "net.ipv6.conf.default.disable_ipv6=1",
                ]
            )

    # ------------------------------------------------------------------ teardown

    def _delete_veth(self, veth: VethSpec) -> None:
        self._nodes[veth.node_a].run(["ip", "link", "del", "dev", veth.iface_a], check=False)

    def _stop_node(self, host: Any) -> None:
        """Stop whatever still runs in the node's namespace, then its shell."""
        pid = int(host.pid)
        ns = namespace_of(pid)
        if ns is not None:
            stop_namespace_processes([ns], spare=[pid])
        host.terminate()
        self._nodes.pop(host.name, None)

    def _final_sweep(self) -> None:
        """Remove anything of the run that escaped the stack (e.g. a shell being started
        when Ctrl-C came); keep the registry record if something could not be removed."""
        if self._registration is None:
            return
        result = remove_run(self._registration.record)
        if result.errors:
            log.warning("teardown of %s left: %s", self.topology.tag, "; ".join(result.errors))
        else:
            self._registration.remove()

    def _install_sigterm(self, stack: ExitStack) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers live in the main thread; that thread's owner handles it

        def raise_terminated(signum: int, frame: FrameType | None) -> None:
            raise Terminated(signum)

        previous = signal.signal(signal.SIGTERM, raise_terminated)
        stack.callback(signal.signal, signal.SIGTERM, previous)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            started = time.monotonic()
            stack.close()
            log.info("network %s down in %.2f s", self.topology.tag, time.monotonic() - started)
