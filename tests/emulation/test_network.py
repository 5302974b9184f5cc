"""The emulated network for real: Mininet namespaces, pass-through links, teardown, cleanup.

Needs root, mnexec and ping (``require`` skips, saying why, otherwise). Every test uses its
own run id, so its tag is unique, and its own state folder; traffic stays inside the
namespaces the test creates.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.emulation.conftest import require
from tests.emulation.helpers import DEFAULT, ROOT, default_topology, new_run_id, rx_packets
from voipbed.cli import main
from voipbed.emulation.cleanup import (
    Leftovers,
    RunRecord,
    RunRegistration,
    clean_dead_runs,
    find_leftovers,
    namespace_of,
)
from voipbed.emulation.network import EmulatedNetwork, NetNode, Terminated, pass_through
from voipbed.emulation.topology import MAX_UE_HOSTS, LinkNodeSpec

pytestmark = pytest.mark.emulation
RUN_PREFIX = "nettest"

# What Mininet's fixLimits() would raise, and what the run turns off in its own namespaces.
HOST_SETTINGS = (
    "fs/file-max",
    "net/core/wmem_max",
    "net/core/rmem_max",
    "net/ipv4/tcp_rmem",
    "net/ipv4/tcp_wmem",
    "net/core/netdev_max_backlog",
    "net/ipv4/neigh/default/gc_thresh1",
    "net/ipv4/neigh/default/gc_thresh3",
    "net/ipv4/route/max_size",
    "kernel/pty/max",
    "net/ipv6/conf/all/disable_ipv6",
    "net/ipv6/conf/default/disable_ipv6",
)


def host_settings() -> dict[str, str]:
    """The host namespace's values of HOST_SETTINGS (those this kernel has)."""
    paths = (Path("/proc/sys", name) for name in HOST_SETTINGS)
    return {str(path): path.read_text() for path in paths if path.exists()}


def ping(node: NetNode, ip: str) -> bool:
    """Three pings from ``node`` to ``ip``; True when all are answered."""
    argv = ["ping", "-c", "3", "-i", "0.2", "-W", "1", ip]
    return node.run(argv, timeout_s=10, check=False).returncode == 0


@pytest.fixture
def root_tools() -> None:
    require("mnexec", "ping", "ethtool", "nsenter")


# ---------------------------------------------------------------- in-process


@pytest.mark.usefixtures("root_tools")
def test_default_scenario_pings_across_every_link_node(tmp_path: Path) -> None:
    """Default scenario in pass-through mode: UEs reach the far end and the SIP host, through
    L0 then L1; the link hook runs once per segment in path order; no host-wide setting
    changes; teardown leaves nothing."""
    topo = default_topology(RUN_PREFIX, max_ue_hosts=MAX_UE_HOSTS)
    calls: list[tuple[str, int, str, str]] = []
    settings = host_settings()

    def start_link(node: NetNode, spec: LinkNodeSpec) -> contextlib.AbstractContextManager[object]:
        calls.append((node.name, spec.segment_index, spec.iface_a, spec.iface_b))
        return pass_through(node, spec)

    with EmulatedNetwork(topo, start_link=start_link, state_dir=tmp_path) as net:
        assert calls == [(n.name, i, n.iface_a, n.iface_b) for i, n in enumerate(topo.link_nodes)]
        assert (tmp_path / f"{topo.tag}.json").exists()
        before = [rx_packets(net.node(n), n.iface_a) for n in topo.link_nodes]
        assert ping(net.node(topo.ues[0]), topo.far_end.ip)
        assert ping(net.node(topo.ues[-1]), topo.sip_core.ip)
        after = [rx_packets(net.node(n), n.iface_a) for n in topo.link_nodes]
        assert all(b - a >= 6 for a, b in zip(before, after, strict=True))  # 6 echo requests
        left = find_leftovers(topo.tag, topo.run_id)
        assert len(left.shells) == len(topo.node_names)
        assert host_settings() == settings  # nothing host-wide changed
    assert not find_leftovers(topo.tag, topo.run_id)
    assert not list(tmp_path.iterdir())


@pytest.mark.usefixtures("root_tools")
def test_link_node_carries_the_traffic(tmp_path: Path) -> None:
    """With a link node's forwarding down, the UE no longer reaches the far end."""
    topo = default_topology(RUN_PREFIX)
    with EmulatedNetwork(topo, state_dir=tmp_path) as net:
        ue = net.node(topo.ues[0])
        assert ping(ue, topo.far_end.ip)
        last = topo.link_nodes[-1]
        net.node(last).run(["ip", "link", "set", "dev", f"{last.name}-br", "down"])
        assert not ping(ue, topo.far_end.ip)


@pytest.mark.usefixtures("root_tools")
def test_processes_in_nodes_are_stopped_at_teardown(tmp_path: Path) -> None:
    """A program started with start() runs in the node's namespace; it and a stray popen()
    process are both gone after teardown."""
    topo = default_topology(RUN_PREFIX)
    with EmulatedNetwork(topo, state_dir=tmp_path) as net:
        far = net.node(topo.far_end)
        managed = net.start(topo.far_end, ["sleep", "600"], name="sleeper", log_dir=tmp_path)
        stray = far.popen(["sleep", "600"])
        deadline = time.monotonic() + 5
        while namespace_of(stray.pid) != namespace_of(far.pid) and time.monotonic() < deadline:
            time.sleep(0.02)  # mnexec -a enters the namespace, then execs
        assert namespace_of(managed.pid) == namespace_of(far.pid) != namespace_of(os.getpid())
        assert namespace_of(stray.pid) == namespace_of(far.pid)
    assert managed.poll() is not None
    assert stray.wait(timeout=5) is not None
    assert not find_leftovers(topo.tag, topo.run_id)


@pytest.mark.usefixtures("root_tools")
def test_exception_during_build_and_inside_tear_down(tmp_path: Path) -> None:
    """A link hook that fails mid-build, and an exception inside the block, leave nothing."""
    topo = default_topology(RUN_PREFIX)

    def failing(node: NetNode, spec: LinkNodeSpec) -> contextlib.AbstractContextManager[object]:
        if spec.segment_index == 1:
            raise RuntimeError("link failed to start")
        return pass_through(node, spec)

    with (
        pytest.raises(RuntimeError, match="link failed"),
        EmulatedNetwork(topo, start_link=failing, state_dir=tmp_path),
    ):
        pass
    assert not find_leftovers(topo.tag, topo.run_id)
    with pytest.raises(ValueError, match="inside"), EmulatedNetwork(topo, state_dir=tmp_path):
        raise ValueError("inside")
    assert not find_leftovers(topo.tag, topo.run_id)
    assert not list(tmp_path.iterdir())


@pytest.mark.usefixtures("root_tools")
def test_sigterm_raises_terminated_and_handler_is_restored(tmp_path: Path) -> None:
    """SIGTERM while the network is up raises Terminated; the old handler is back after."""
    topo = default_topology(RUN_PREFIX)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated), EmulatedNetwork(topo, state_dir=tmp_path):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert signal.getsignal(signal.SIGTERM) == before
    assert not find_leftovers(topo.tag, topo.run_id)


# ---------------------------------------------------------------- subprocesses


class Holder:
    """A ``tests.emulation.net_hold`` subprocess holding a network up."""

    def __init__(self, state_dir: Path, log_dir: Path) -> None:
        self.run_id = new_run_id(RUN_PREFIX)
        argv = [sys.executable, "-m", "tests.emulation.net_hold", str(DEFAULT)]
        argv += ["--run-id", self.run_id, "--state-dir", str(state_dir)]
        argv += ["--log-dir", str(log_dir)]
        self.popen = subprocess.Popen(
            argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.info = self._read_json(timeout_s=20)
        self.tag: str = self.info["tag"]
        self.pids: dict[str, int] = self.info["pids"]

    def _read_json(self, timeout_s: float) -> dict[str, Any]:
        assert self.popen.stdout is not None
        ready, _, _ = select.select([self.popen.stdout], [], [], timeout_s)
        line = self.popen.stdout.readline() if ready else ""
        if not line:
            self.popen.kill()
            _, err = self.popen.communicate()
            raise AssertionError(f"the network holder did not come up:\n{err}")
        data: dict[str, Any] = json.loads(line)
        return data

    def finish(self, sig: signal.Signals, timeout_s: float = 20) -> tuple[int, str]:
        self.popen.send_signal(sig)
        out, err = self.popen.communicate(timeout=timeout_s)
        return self.popen.returncode, out + err

    def node(self, name: str) -> NetNode:
        return NetNode(name, self.pids[name])


def wait_for_shells_to_exit(tag: str, run_id: str, timeout_s: float = 5) -> Leftovers:
    """Leftovers once the node shells of a killed owner have exited (they read EOF)."""
    deadline = time.monotonic() + timeout_s
    while (left := find_leftovers(tag, run_id)).shells and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


@contextlib.contextmanager
def holding(state_dir: Path, log_dir: Path) -> Iterator[Holder]:
    holder = Holder(state_dir, log_dir)
    try:
        yield holder
    finally:
        if holder.popen.poll() is None:
            holder.finish(signal.SIGTERM)


@pytest.mark.usefixtures("root_tools")
def test_sigint_tears_everything_down(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT) to a process holding a network: it exits cleanly, nothing is left."""
    with holding(tmp_path / "state", tmp_path / "logs") as holder:
        left = find_leftovers(holder.tag, holder.run_id)
        assert left.shells and left.processes  # node shells, and a sleeper per link node
        code, output = holder.finish(signal.SIGINT)
    assert code == 0, output
    assert "down" in output
    assert not find_leftovers(holder.tag, holder.run_id)
    assert not list((tmp_path / "state").iterdir())


@pytest.mark.usefixtures("root_tools")
def test_sigkill_leftovers_cleaned_live_run_untouched(tmp_path: Path) -> None:
    """After SIGKILL the run's processes and namespaces remain; clean_dead_runs removes them
    all and leaves a concurrently live run (which then stops cleanly on SIGTERM) alone."""
    state = tmp_path / "state"
    with holding(state, tmp_path / "live") as live, holding(state, tmp_path / "dead") as dead:
        live_before = find_leftovers(live.tag, live.run_id)
        code, _ = dead.finish(signal.SIGKILL)
        assert code == -signal.SIGKILL
        left = wait_for_shells_to_exit(dead.tag, dead.run_id)
        # L0, L1 and U0 stay, kept by their programs. U0's loses its only tagged interface
        # once the kernel has destroyed the access bridge's namespace (asynchronously);
        # then only its loopback marker says it is the run's. Reading that marker (nsenter)
        # can miss on a busy machine while the namespace changes: look again for a while.
        deadline = time.monotonic() + 5
        while len(left.namespaces) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
            left = find_leftovers(dead.tag, dead.run_id)
        assert len(left.processes) == len(left.namespaces) == 3
        deadline = time.monotonic() + 5
        while len(find_leftovers(dead.tag).namespaces) > 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(find_leftovers(dead.tag).namespaces) == 2
        report = clean_dead_runs(state)
        assert [run.run_id for run in report.cleaned] == [dead.run_id]
        assert report.live == (live.run_id,)
        assert report.ok, report.lines()
        assert set(left.processes) <= set(report.cleaned[0].stopped_pids)
        assert not find_leftovers(dead.tag, dead.run_id)
        assert sorted(p.name for p in state.iterdir()) == [f"{live.tag}.json"]
        assert find_leftovers(live.tag, live.run_id) == live_before
        assert ping(live.node(f"{live.tag}U0"), "10.0.0.2")
        code, output = live.finish(signal.SIGTERM)
        assert code == 0, output
    assert not find_leftovers(live.tag, live.run_id)
    assert not list(state.iterdir())


# ---------------------------------------------------------------- the registry


def test_registry_records_owner_and_nodes(tmp_path: Path) -> None:
    """A registration names this process as a live owner; a record whose start time does
    not match (a reused pid) is a dead owner; records round-trip through JSON."""
    registration = RunRegistration(tmp_path, "vb0a0b0c", "r-1")
    registration.write()
    registration.add_node("vb0a0b0cU0", os.getpid())
    record = RunRecord.from_json((tmp_path / "vb0a0b0c.json").read_text())
    assert record == registration.record
    assert record.owner_alive()
    assert record.nodes == {"vb0a0b0cU0": os.getpid()}
    assert record.namespaces == (namespace_of(os.getpid()),)
    reused = RunRecord("vb0a0b0c", "r-1", os.getpid(), record.owner_start_ticks + 1)
    assert not reused.owner_alive()
    registration.remove()
    assert not list(tmp_path.iterdir())


def test_clean_keeps_live_and_unreadable_records(tmp_path: Path) -> None:
    """clean_dead_runs leaves a live run's record and an unreadable one, and says so."""
    RunRegistration(tmp_path, "vb0d0e0f", "r-live").write()
    (tmp_path / "vb0000ff.json").write_text("not json")
    report = clean_dead_runs(tmp_path)
    assert report.live == ("r-live",)
    assert report.unreadable == (tmp_path / "vb0000ff.json",)
    assert not report.cleaned and not report.ok
    assert len(report.lines()) == 2
    assert clean_dead_runs(tmp_path / "missing").lines() == ["nothing to clean"]


def test_clean_command_reports_and_fails_on_what_it_cannot_remove(tmp_path: Path) -> None:
    """`voipbed clean` prints the account and exits 1 while something is left on record."""
    RunRegistration(tmp_path, "vb0d0e0f", "r-live").write()
    (tmp_path / "vb0000ff.json").write_text("not json")
    result = CliRunner().invoke(main, ["clean", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "left alone r-live: its owner is running",
        f"unreadable registry file {tmp_path / 'vb0000ff.json'} (kept)",
    ]
    (tmp_path / "vb0000ff.json").unlink()
    (tmp_path / "vb0d0e0f.json").unlink()
    result = CliRunner().invoke(main, ["clean", "--state-dir", str(tmp_path)])
    assert (result.exit_code, result.output) == (0, "nothing to clean\n")
