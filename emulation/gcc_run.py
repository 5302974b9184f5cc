"""Running a run's GCC flows (``gcc_calls``) in the emulated network.

:func:`start_flows` pins the neighbour entries between the calls' UE hosts
and the far end (the first packets wait for no ARP), then starts every
receiver and waits until all are ready (they print
``gcc_endpoint.READY_LINE``), then every sender. The endpoints of a kind
start together, not one after the other: each is a Python interpreter
loading the models, and a call has four. Each is an argument list started
with ``EmulatedNetwork.start``: its own session, registered with the network
so teardown stops its process group (SIGTERM, then SIGKILL), also after
Ctrl-C, SIGTERM or an error.

:func:`finish_flows` waits for each sender to send its last packet and
exit, then for each receiver to reach its end. Each must exit 0 (it then
printed its summary and closed its logs); otherwise a ``ProcessError`` says
which, with its exit code and the tail of its stderr.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voipbed.emulation.gcc_calls import (
    RECEIVER_TAIL_S,
    SENDER_DRAIN_S,
    FlowPlan,
    receiver_settings,
    sender_settings,
)
from voipbed.emulation.gcc_endpoint import DONE_LINE, READY_LINE, receiver_argv, sender_argv
from voipbed.emulation.network import EmulatedNetwork
from voipbed.emulation.process import ManagedProcess
from voipbed.emulation.topology import HostSpec, Topology
from voipbed.scenario import Scenario

__all__ = [
    "EXIT_GRACE_S",
    "READY_TIMEOUT_S",
    "RunningFlow",
    "endpoint_summaries",
    "finish_flows",
    "start_flows",
]

READY_TIMEOUT_S = 60.0  # a batch of cold interpreters importing numpy and the models
EXIT_GRACE_S = 15.0  # past a process's planned end before it counts as stuck
_POLL_S = 0.05


@dataclass(frozen=True)
class RunningFlow:
    """A flow's plan and its two processes."""

    plan: FlowPlan
    sender: ManagedProcess
    receiver: ManagedProcess


def start_flows(
    net: EmulatedNetwork,
    topology: Topology,
    plans: Sequence[FlowPlan],
    scenario: Scenario,
    t0: float,
    work: Path,
) -> list[RunningFlow]:
    """Start every flow's receiver, then its sender, on the links' clock ``t0``; return once
    all are ready."""
    _pin_neighbours(net, topology, plans)
    receivers = [
        net.start(
            plan.receiver,
            receiver_argv(receiver_settings(plan, scenario, t0, work)),
            name=f"{plan.name}-rx",
            log_dir=work,
        )
        for plan in plans
    ]
    _wait_ready(receivers, READY_TIMEOUT_S)
    senders = [
        net.start(
            plan.sender,
            sender_argv(sender_settings(plan, scenario, t0, work)),
            name=f"{plan.name}-tx",
            log_dir=work,
        )
        for plan in plans
    ]
    _wait_ready(senders, READY_TIMEOUT_S)
    return [
        RunningFlow(plan, sender, receiver)
        for plan, sender, receiver in zip(plans, senders, receivers, strict=True)
    ]


def finish_flows(flows: Sequence[RunningFlow], t0: float) -> None:
    """Wait for every sender, then every receiver, to end as planned and exit 0."""
    for flow in flows:
        end = t0 + flow.plan.end_s + SENDER_DRAIN_S
        flow.sender.wait(timeout_s=max(end - time.monotonic(), 0.0) + EXIT_GRACE_S)
    for flow in flows:
        end = t0 + flow.plan.end_s + SENDER_DRAIN_S + RECEIVER_TAIL_S
        flow.receiver.wait(timeout_s=max(end - time.monotonic(), 0.0) + EXIT_GRACE_S)


def endpoint_summaries(flows: Sequence[RunningFlow]) -> dict[str, dict[str, Any]]:
    """What each flow's sender and receiver said of their run (the JSON after their done
    line), by flow name; an endpoint that said nothing has an empty summary."""
    return {
        flow.plan.name: {
            "sender": _summary(flow.sender.stdout_path),
            "receiver": _summary(flow.receiver.stdout_path),
        }
        for flow in flows
    }


def _summary(stdout: Path) -> dict[str, Any]:
    for line in stdout.read_text(errors="replace").splitlines():
        if line.startswith(DONE_LINE):
            summary: dict[str, Any] = json.loads(line[len(DONE_LINE) :])
            return summary
    return {}


def _wait_ready(processes: Sequence[ManagedProcess], timeout_s: float) -> None:
    """Return once each of ``processes`` has printed the endpoints' ready line; ProcessError
    if one exits first or they are not all ready within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    waiting = list(processes)
    while True:
        waiting = [process for process in waiting if not _ready(process)]
        if not waiting:
            return
        if time.monotonic() >= deadline:
            raise waiting[0].error(f"not ready within {timeout_s:g} s (no {READY_LINE!r})")
        time.sleep(_POLL_S)


def _ready(process: ManagedProcess) -> bool:
    """Whether ``process`` printed the ready line; ProcessError if it exited without."""
    exited = process.poll() is not None  # before reading: a line printed before exiting counts
    try:
        said = process.stdout_path.read_text(errors="replace")
    except OSError:
        said = ""
    if READY_LINE in said:
        return True
    if exited:
        raise process.error(f"exited before it was ready (no {READY_LINE!r})")
    return False


def _pin_neighbours(net: EmulatedNetwork, topology: Topology, plans: Sequence[FlowPlan]) -> None:
    """Permanent neighbour entries both ways between each flow's sender and receiver."""
    pairs = {(plan.sender, plan.receiver) for plan in plans}
    for at, to in sorted(pairs, key=lambda pair: (pair[0].name, pair[1].name)):
        argv = ["ip", "neigh", "replace", to.ip, "lladdr", _mac(topology, to)]
        net.node(at).run([*argv, "dev", at.interface, "nud", "permanent"])


def _mac(topology: Topology, host: HostSpec) -> str:
    """The MAC address of ``host``'s interface."""
    for veth in topology.veths:
        for node, interface, mac in (
            (veth.node_a, veth.iface_a, veth.mac_a),
            (veth.node_b, veth.iface_b, veth.mac_b),
        ):
            if (node, interface) == (host.name, host.interface):
                return mac
    raise KeyError(f"no interface {host.interface} of {host.name} in the topology")
