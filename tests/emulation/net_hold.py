"""Test helper: build a scenario's network in pass-through mode and hold it until a signal.

Run as ``python -m tests.emulation.net_hold SCENARIO --run-id ID --state-dir DIR
--log-dir DIR [--ues N]``. Each link node also runs a ``sleep`` (standing in for the
userspace link process), and so does UE 0 (standing in for a SIP client), so that a SIGKILL
leaves real leftovers. Prints one JSON line
(tag and node shell pids) once the network is up, then ``down`` after teardown; exits 0
after SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from voipbed.emulation.network import (
    EmulatedNetwork,
    LinkStarter,
    NetNode,
    Terminated,
    pass_through,
)
from voipbed.emulation.process import ManagedProcess
from voipbed.emulation.topology import LinkNodeSpec, describe
from voipbed.loader import load_scenario


def link_with_sleeper(log_dir: Path) -> LinkStarter:
    """A start_link: pass-through forwarding plus a long-running process in the node."""

    @contextlib.contextmanager
    def start(node: NetNode, spec: LinkNodeSpec) -> Iterator[None]:
        with pass_through(node, spec):
            sleeper = ManagedProcess(
                ["sleep", "600"], name=f"{spec.name}-sleep", log_dir=log_dir, prefix=node.prefix
            )
            with sleeper:
                sleeper.start()
                yield

    return start


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", type=Path)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--log-dir", type=Path, required=True)
    parser.add_argument("--ues", type=int, default=1)
    args = parser.parse_args(argv)
    topology = describe(load_scenario(args.scenario), args.run_id, max_ue_hosts=args.ues)
    try:
        with EmulatedNetwork(
            topology, start_link=link_with_sleeper(args.log_dir), state_dir=args.state_dir
        ) as net:
            # A program in a UE too: after a SIGKILL its namespace keeps only the marker.
            ue = topology.ues[0]
            net.start(ue, ["sleep", "600"], name=f"{ue.name}-sleep", log_dir=args.log_dir)
            pids = {name: net.node(name).pid for name in topology.node_names}
            print(json.dumps({"tag": topology.tag, "pids": pids}), flush=True)
            while True:
                time.sleep(3600)
    except (KeyboardInterrupt, Terminated):
        print("down", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
