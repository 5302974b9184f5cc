"""SIPp call setup rate through Kamailio across the emulated network.

Builds the default scenario's network (one UE host, link nodes in pass-through mode: kernel
bridges, no impairment), starts Kamailio in the SIP core host and, per transport, a SIPp
answerer in the far-end host registered as a user. A SIPp caller in the UE host then places
short calls (INVITE, 200, ACK, BYE; no hold) to that user through Kamailio at each offered
rate, ``--seconds`` of calls per step. A rate is *sustained* when at least 99 % of its calls
succeed and setups complete at 95 % of the offered rate or more (not merely late, queued
behind the offered load). After the given rates the bench keeps doubling the rate while it
is sustained, up to ``--max-rate``, stops at the first rate that is not, and bisects
``--refine`` times between the two. Each row: offered and achieved call rate (successful
setups per second between the first and the last), success, SIP response time INVITE ->
200 (p50, p95, as SIPp's coarse clock measures it) and retransmissions. Prints the machine
and a Markdown table (progress rows go to stderr as they finish).

Needs root, Mininet's mnexec, kamailio and sipp. Everything (namespaces, processes, logs
unless ``--keep``) is removed at the end, also after Ctrl-C or SIGTERM.

    python bench/sip_load.py [--rates 50 100 200 400] [--seconds 4] [--transports udp tcp]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from voipbed.emulation.network import EmulatedNetwork, Terminated
from voipbed.emulation.process import ManagedProcess, run_command
from voipbed.emulation.sip_core import (
    ANSWERER_PORT,
    CALLER_PORT,
    SIP_PORT,
    start_answerer,
    start_kamailio,
    start_sipp,
)
from voipbed.emulation.stacks import Transport
from voipbed.emulation.stacks.kamailio import KAMAILIO_BINARY
from voipbed.emulation.stacks.sipp import (
    RTD_SETUP,
    SIPP_BINARY,
    TRANSPORT_FLAGS,
    SippRole,
    SippSpec,
    parse_rtt_csv,
    parse_stat_csv,
    summarize_rtt,
)
from voipbed.emulation.topology import Topology, describe
from voipbed.loader import load_scenario

DEFAULT_SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "default.yaml"
SUCCESS_TARGET = 0.99  # a rate is sustained when this share of calls succeeds ...
RATE_TARGET = 0.95  # ... and setups complete at this share of the offered rate or more
MIN_CALLS = 100
STEP_GRACE_S = 10.0  # beyond the offered calls' duration, for the last calls to finish
SETTLE_S = 6.0  # after a step that fell short: tm's wait timer (5 s) and a margin
ANSWERER_LIFETIME_S = 900.0  # SIPp's global timeout for the answerer: longer than any bench


@dataclass(frozen=True)
class Step:
    """One offered rate's result; times in seconds, NaN where no call completed."""

    transport: Transport
    offered_cps: float
    calls: int
    successful: int
    achieved_cps: float
    setup_p50_s: float
    setup_p95_s: float
    retransmissions: int
    smallest_rtt_s: float

    @property
    def success(self) -> float:
        """Successful calls over calls offered."""
        return self.successful / self.calls

    @property
    def sustained(self) -> bool:
        """Nearly every call succeeded, at nearly the offered rate (not queued behind)."""
        return (
            self.success >= SUCCESS_TARGET and self.achieved_cps >= RATE_TARGET * self.offered_cps
        )

    def markdown(self) -> str:
        """This step as a row of the results table."""
        cells = [
            self.transport.value.upper(),
            f"{self.offered_cps:g}",
            str(self.calls),
            f"{self.achieved_cps:.0f}",
            f"{100 * self.success:.1f}",
            f"{1000 * self.setup_p50_s:.0f}",
            f"{1000 * self.setup_p95_s:.0f}",
            str(self.retransmissions),
            "yes" if self.sustained else "no",
        ]
        return "| " + " | ".join(cells) + " |"


HEADER = (
    "| transport | offered calls/s | calls | achieved calls/s | success % "
    "| INVITE→200 p50 ms | p95 ms | retransmissions | sustained |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---|"
)


def tool_version(argv: Sequence[str]) -> str:
    """The first non-empty line a tool prints about its version."""
    done = run_command(argv, timeout_s=5.0, check=False)
    lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return lines[0] if lines else "unknown"


def machine() -> str:
    """Cores, load, Python and the SIP stacks' versions."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
        f"(load {load}), Python {platform.python_version()}, "
        f"{tool_version([KAMAILIO_BINARY, '-v'])}, {tool_version([SIPP_BINARY, '-v'])}"
    )


def achieved_rate(completed_s: Sequence[float]) -> float:
    """Setups per second between the first and the last completion (NaN for fewer than 2)."""
    if len(completed_s) < 2 or max(completed_s) <= min(completed_s):
        return math.nan
    return (len(completed_s) - 1) / (max(completed_s) - min(completed_s))


def run_step(
    net: EmulatedNetwork,
    topo: Topology,
    log_dir: Path,
    transport: Transport,
    user: str,
    rate_cps: float,
    seconds: float,
    local_port: int,
) -> Step:
    """Place ``seconds`` worth of calls at ``rate_cps`` from the UE to ``user``."""
    calls = max(MIN_CALLS, round(rate_cps * seconds))
    offered_s = calls / rate_cps
    caller = SippSpec(
        SippRole.UAC,
        f"uac-{transport.value}-{rate_cps:g}",
        log_dir,
        topo.ues[0].ip,
        local_port,
        remote_address=topo.sip_core.ip,
        remote_port=SIP_PORT,
        transport=transport,
        user=user,
        rate_cps=rate_cps,
        call_count=calls,
        timeout_s=offered_s + STEP_GRACE_S,
    )
    process = start_sipp(net, topo.ues[0], caller)
    process.wait(caller.timeout_s + STEP_GRACE_S, check=False)
    stats = parse_stat_csv(caller.stat_path.read_text())
    samples: tuple[float, ...] = ()
    p50 = p95 = smallest = math.nan
    rtt_files = list(log_dir.glob(caller.rtt_glob))
    if rtt_files:
        rtt = parse_rtt_csv(rtt_files[0].read_text())
        samples = tuple(s.since_start_s for s in rtt if s.rtd == RTD_SETUP)
        smallest = min((s.rtt_s for s in rtt if s.rtt_s > 0), default=math.nan)
        if samples:
            summary = summarize_rtt(rtt, RTD_SETUP)
            p50, p95 = summary.p50_s, summary.p95_s
    return Step(
        transport=transport,
        offered_cps=rate_cps,
        calls=calls,
        successful=stats.successful_calls,
        achieved_cps=achieved_rate(samples),
        setup_p50_s=p50,
        setup_p95_s=p95,
        retransmissions=stats.retransmissions,
        smallest_rtt_s=smallest,
    )


def rates_to_try(given: Sequence[float], max_rate: float) -> list[float]:
    """The given rates in order, then doublings of the highest up to ``max_rate``."""
    rates = sorted(set(given))
    while rates[-1] * 2 <= max_rate:
        rates.append(rates[-1] * 2)
    return rates


def bench_transport(
    net: EmulatedNetwork,
    topo: Topology,
    log_dir: Path,
    transport: Transport,
    rates: Sequence[float],
    seconds: float,
    refine: int,
) -> list[Step]:
    """Register an answerer for this transport, run the rates in order until one is not
    sustained, then bisect ``refine`` times between the highest sustained rate and the
    lowest that was not. The answerer is stopped at the end."""
    user = f"load-{transport.value}"
    answerer_spec = SippSpec(
        SippRole.UAS,
        f"uas-{transport.value}",
        log_dir,
        topo.far_end.ip,
        ANSWERER_PORT,
        transport=transport,
        user=user,
        call_count=10**9,
        timeout_s=ANSWERER_LIFETIME_S,
    )
    answerer: ManagedProcess = start_answerer(net, topo.far_end, answerer_spec, topo.sip_core)
    steps: list[Step] = []

    def measure(rate: float) -> Step:
        # A fresh local port per step: a closed TCP connection's port may be in TIME_WAIT.
        port = CALLER_PORT + len(steps)
        step = run_step(net, topo, log_dir, transport, user, rate, seconds, port)
        print(step.markdown(), file=sys.stderr, flush=True)
        steps.append(step)
        if not step.sustained:
            time.sleep(SETTLE_S)  # let Kamailio's and the answerer's transactions expire
        return step

    try:
        passed, failed = 0.0, math.inf
        for rate in rates:
            if not measure(rate).sustained:
                failed = rate
                break
            passed = rate
        for _ in range(refine if math.isfinite(failed) and passed > 0 else 0):
            middle = round((passed + failed) / 2, -1)
            if middle in (passed, failed):
                break
            if not measure(middle).sustained:
                failed = middle
            else:
                passed = middle
    finally:
        answerer.stop()
    return steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[50, 100, 200, 400])
    parser.add_argument("--max-rate", type=float, default=3200)
    parser.add_argument("--seconds", type=float, default=4.0, help="of calls per rate")
    parser.add_argument(
        "--refine", type=int, default=1, help="bisections below the first unsustained rate"
    )
    parser.add_argument(
        "--transports",
        nargs="+",
        choices=[t.value for t in TRANSPORT_FLAGS],
        default=["udp", "tcp"],
    )
    parser.add_argument(
        "--shm-mb", type=int, default=256, help="Kamailio's shared memory (transactions)"
    )
    parser.add_argument("--keep", type=Path, help="keep the logs in this folder")
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("needs root (network namespaces)")
    missing = [tool for tool in ("mnexec", "kamailio", "sipp") if shutil.which(tool) is None]
    if missing:
        parser.error(f"not installed: {', '.join(missing)} (make sysdeps installs them)")
    if min(args.rates) <= 0 or args.seconds <= 0:
        parser.error("rates and seconds must be positive")

    print(machine())
    print(f"links: pass-through (kernel bridges, no impairment); Kamailio shm {args.shm_mb} MB")
    topo = describe(
        load_scenario(DEFAULT_SCENARIO), f"sipload-{uuid.uuid4().hex[:12]}", max_ue_hosts=1
    )
    rates = rates_to_try(args.rates, args.max_rate)
    started = time.monotonic()
    steps: list[Step] = []
    try:
        with contextlib.ExitStack() as stack:
            if args.keep is None:
                log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sipload-")))
            else:
                log_dir = args.keep
                log_dir.mkdir(parents=True, exist_ok=True)
            net = stack.enter_context(EmulatedNetwork(topo))
            start_kamailio(net, topo.sip_core, log_dir, shm_mb=args.shm_mb)
            print(f"network {topo.tag} up; rows as they finish:", file=sys.stderr)
            for name in args.transports:
                transport = Transport(name)
                steps += bench_transport(
                    net, topo, log_dir, transport, rates, args.seconds, args.refine
                )
    except (KeyboardInterrupt, Terminated):
        print("interrupted: the network and its processes are down", file=sys.stderr)
        return 130
    print(HEADER)
    for step in sorted(steps, key=lambda s: (args.transports.index(s.transport), s.offered_cps)):
        print(step.markdown())
    print()
    step_s = min((s.smallest_rtt_s for s in steps if s.smallest_rtt_s > 0), default=math.nan)
    print(
        f"SIPp times responses with its own clock, here in steps of {1000 * step_s:g} ms "
        "(the smallest non-zero time it reported): 0 means less than one step."
    )
    for name in args.transports:
        passed = [s.offered_cps for s in steps if s.transport == name and s.sustained]
        best = f"{max(passed):g} calls/s" if passed else "none of the rates tried"
        print(f"highest sustained rate, {name.upper()}: {best}")
    print(f"bench took {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
