"""The network's link starts: every link node's starter runs at once, and teardown stops them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager

import pytest

from voipbed.emulation.network import EmulatedNetwork, NetNode
from voipbed.emulation.topology import LinkNodeSpec, describe
from voipbed.scenario import Scenario

RUN_ID = "links-20261205T083000Z-1a2b3c4d"


def network(segments: int) -> EmulatedNetwork:
    """A network of ``segments`` link nodes whose nodes are known but never built."""
    path = [{"name": f"seg{i}", "one_way_delay": "5ms"} for i in range(segments)]
    scenario = Scenario.model_validate({"name": "t", "calls": {"count": 1}, "path": path})
    net = EmulatedNetwork(describe(scenario, RUN_ID))
    net._nodes = {
        spec.name: NetNode(spec.name, 1000 + i) for i, spec in enumerate(net.topology.link_nodes)
    }
    return net


def test_every_link_starts_at_the_same_time() -> None:
    """Each starter waits for all the others to have begun: only concurrent starts pass."""
    net = network(3)
    barrier = threading.Barrier(3, timeout=10.0)
    exited: list[str] = []

    @contextmanager
    def running(name: str) -> Iterator[None]:
        yield
        exited.append(name)

    def start(node: NetNode, spec: LinkNodeSpec) -> AbstractContextManager[None]:
        barrier.wait()
        return running(spec.name)

    net.start_link = start
    with ExitStack() as stack:
        net._start_links(stack)
        assert exited == []
    assert sorted(exited) == sorted(spec.name for spec in net.topology.link_nodes)


def test_a_failed_start_raises_after_the_others_are_registered() -> None:
    """One starter's error is raised, and the links that did start are stopped at teardown."""
    net = network(3)
    failing = net.topology.link_nodes[1].name
    exited: list[str] = []

    @contextmanager
    def running(name: str) -> Iterator[None]:
        yield
        exited.append(name)

    def start(node: NetNode, spec: LinkNodeSpec) -> AbstractContextManager[None]:
        if spec.name == failing:
            raise RuntimeError(f"{spec.name} would not start")
        return running(spec.name)

    net.start_link = start
    stack = ExitStack()
    with pytest.raises(RuntimeError, match="would not start"):
        net._start_links(stack)
    stack.close()
    assert sorted(exited) == sorted(s.name for s in net.topology.link_nodes if s.name != failing)
