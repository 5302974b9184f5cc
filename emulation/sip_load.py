"""SIP call load beside an emulation run's media calls, as ``signalling.load`` says.

A SIPp answerer on the far-end host registers a user with Kamailio; a SIPp
caller on the first UE host calls it through Kamailio at the scenario's rate,
over the scenario's transport, across the impaired path. What SIPp counted
(calls placed, answered, failed, retransmissions, INVITE-to-200 times)
becomes a ``sip_load`` event of the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voipbed.emulation.network import EmulatedNetwork
from voipbed.emulation.process import ManagedProcess
from voipbed.emulation.sip_core import (
    ANSWERER_PORT,
    CALLER_PORT,
    SIP_PORT,
    start_answerer,
    start_sipp,
)
from voipbed.emulation.stacks import Transport
from voipbed.emulation.stacks.sipp import (
    SippRole,
    SippSpec,
    parse_rtt_csv,
    parse_stat_csv,
    summarize_rtt,
)
from voipbed.emulation.topology import Topology
from voipbed.scenario import SipLoad

__all__ = ["LOAD_USER", "SipLoadRun", "finish_sip_load", "load_specs", "start_sip_load"]

LOAD_USER = "load"
_GRACE_S = 30.0  # beyond the last call's planned end before SIPp gives up


@dataclass(frozen=True)
class SipLoadRun:
    """The running caller of a SIP load, and its spec (where its files are)."""

    caller: SippSpec
    process: ManagedProcess


def load_specs(
    load: SipLoad, topology: Topology, transport: Transport, work: Path
) -> tuple[SippSpec, SippSpec]:
    """The answerer (far end) and caller (first UE host) of ``load``."""
    timeout_s = load.calls / load.calls_per_second + load.hold_s + _GRACE_S
    answerer = SippSpec(
        SippRole.UAS,
        "load-uas",
        work,
        topology.far_end.ip,
        ANSWERER_PORT,
        transport=transport,
        user=LOAD_USER,
        call_count=load.calls,
        timeout_s=timeout_s,
    )
    caller = SippSpec(
        SippRole.UAC,
        "load-uac",
        work,
        topology.ues[0].ip,
        CALLER_PORT,
        remote_address=topology.sip_core.ip,
        remote_port=SIP_PORT,
        transport=transport,
        user=LOAD_USER,
        rate_cps=load.calls_per_second,
        call_count=load.calls,
        call_duration_s=load.hold_s,
        timeout_s=timeout_s,
    )
    return answerer, caller


def start_sip_load(
    net: EmulatedNetwork, topology: Topology, load: SipLoad, transport: Transport, work: Path
) -> SipLoadRun:
    """Register the answerer, then start the caller (both stopped at the network's end)."""
    answerer, caller = load_specs(load, topology, transport, work)
    start_answerer(net, topology.far_end, answerer, topology.sip_core)
    return SipLoadRun(caller, start_sipp(net, topology.ues[0], caller))


def finish_sip_load(run: SipLoadRun) -> dict[str, Any]:
    """Wait for the caller to finish its calls; what SIPp counted, as event fields."""
    code = run.process.wait(run.caller.timeout_s + _GRACE_S, check=False)
    stats = parse_stat_csv(run.caller.stat_path.read_text())
    fields: dict[str, Any] = {
        "sipp_exit_code": code,
        "calls_placed": stats.outgoing_calls,
        "calls_successful": stats.successful_calls,
        "calls_failed": stats.failed_calls,
        "retransmissions": stats.retransmissions,
        "failed_by_reason": dict(stats.failed_by_reason),
    }
    rtt_files = sorted(run.caller.run_dir.glob(run.caller.rtt_glob))
    if rtt_files:
        try:
            setup = summarize_rtt(parse_rtt_csv(rtt_files[-1].read_text()))
        except ValueError:  # no call got its 200
            return fields
        fields.update(setup_p50_s=setup.p50_s, setup_p95_s=setup.p95_s, setup_max_s=setup.max_s)
    return fields
