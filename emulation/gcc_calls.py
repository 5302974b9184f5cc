"""The rate-controlled calls of an emulation run: a GCC sender and receiver per flow.

A scenario whose ``calls.rate_control.algorithm`` is ``gcc`` is emulated
with the project's GCC RTP endpoints (``gcc_endpoint``) instead of baresip.
Call ``c`` is two flows, as in the simulator: its uplink (flow ``2c``) from
the call's UE host to the far end, its downlink (flow ``2c + 1``) back. Each
flow is a receiver in the host it goes to and a sender in the host it comes
from, both bound to the flow's port (:func:`flow_port`), so the receiver's
feedback returns to the sender's port (RTCP multiplexed with RTP, RFC 5761);
on each host a call thus runs one sender and one receiver.

There is no SIP: what SIP gave a baresip call, its start and end, the
senders take from the scenario's schedule (``voipbed.schedule``) on the
links' clock ``t0``, the downlink at the simulator's phase, so both engines
send over the same spans. A receiver runs until its flow's end plus
:data:`RECEIVER_TAIL_S`, so the packets still crossing the path at the end
arrive, and are reported.

Each sender gets the scenario's codec (its starting mode), packet time,
DSCP, ECN, feedback interval, delay filter, CE response and adaptation, and
of GCC's start, floor and ceiling only those the scenario sets: the sender
fills in the others counting the RTP header extension it adds. Pure: this
module plans and builds settings; ``gcc_run`` runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from voipbed.emulation.gcc_arrivals import FeedbackFormat
from voipbed.emulation.gcc_receiver import ReceiverSettings
from voipbed.emulation.gcc_sender import SenderSettings
from voipbed.emulation.topology import HostSpec, Topology
from voipbed.scenario import Scenario
from voipbed.scenario_rate import Bitrates
from voipbed.schedule import call_times
from voipbed.trace import DIRECTIONS

__all__ = [
    "FIRST_PORT",
    "RECEIVER_TAIL_S",
    "SENDER_DRAIN_S",
    "FlowPlan",
    "bound_problems",
    "flow_port",
    "plan_flows",
    "receiver_settings",
    "sender_settings",
]

FIRST_PORT = 30000  # flow f's sender and receiver bind FIRST_PORT + f
SENDER_DRAIN_S = 0.5  # the sender listens this long after its last packet for the last reports
RECEIVER_TAIL_S = 2.0  # past its flow's end: a 300 ms buffer and the path's delays drain
_SENDER_SSRC = 0x56420000  # flow f's sender: _SENDER_SSRC + f; its receiver: + 0x8000
_RECEIVER_SSRC = _SENDER_SSRC + 0x8000


def flow_port(flow: int) -> int:
    """The UDP port flow ``flow``'s sender and receiver bind, each in its host."""
    return FIRST_PORT + flow


@dataclass(frozen=True)
class FlowPlan:
    """One flow of a call: who sends, who receives, and when (seconds since ``t0``)."""

    call: int
    flow: int  # 2 * call (uplink) or 2 * call + 1 (downlink)
    sender: HostSpec
    receiver: HostSpec
    start_s: float
    end_s: float

    @property
    def direction(self) -> str:
        """``uplink`` or ``downlink``."""
        return DIRECTIONS[self.flow % 2]

    @property
    def port(self) -> int:
        """The port both ends bind."""
        return flow_port(self.flow)

    @property
    def sender_ssrc(self) -> int:
        """The SSRC of the flow's RTP packets."""
        return _SENDER_SSRC + self.flow

    @property
    def receiver_ssrc(self) -> int:
        """The SSRC of the receiver's feedback."""
        return _RECEIVER_SSRC + self.flow

    @property
    def name(self) -> str:
        """The flow's name in process and log names: ``gcc-c0-uplink``."""
        return f"gcc-c{self.call}-{self.direction}"

    def sender_log(self, work: Path) -> Path:
        """The sender's per-packet log (``gcc_sender.PACKET_COLUMNS``)."""
        return work / f"{self.name}-tx.csv"

    def sender_feedback_log(self, work: Path) -> Path:
        """The sender's per-report log (``gcc_sender.FEEDBACK_COLUMNS``)."""
        return work / f"{self.name}-tx-feedback.csv"

    def receiver_log(self, work: Path) -> Path:
        """The receiver's per-packet log (``gcc_receiver.PACKET_COLUMNS``)."""
        return work / f"{self.name}-rx.csv"

    def receiver_feedback_log(self, work: Path) -> Path:
        """The receiver's log of the feedback it sent (``gcc_receiver.FEEDBACK_COLUMNS``)."""
        return work / f"{self.name}-rx-feedback.csv"


def plan_flows(scenario: Scenario, topology: Topology) -> list[FlowPlan]:
    """Every flow of ``scenario``'s calls on ``topology``, by flow id; a flow with nothing to
    send (a call of no length, or a downlink whose phase passes its end) is left out."""
    times = call_times(scenario)
    plans = []
    for call in range(scenario.calls.count):
        ue, far_end = topology.ue_for_call(call), topology.far_end
        start_s, end_s = float(times.start_s[call]), float(times.end_s[call])
        phase_s = float(times.downlink_phase_s[call])
        for flow, sender, receiver, first_s in (
            (2 * call, ue, far_end, start_s),
            (2 * call + 1, far_end, ue, start_s + phase_s),
        ):
            if end_s > first_s:
                plans.append(FlowPlan(call, flow, sender, receiver, first_s, end_s))
    return plans


def receiver_settings(
    plan: FlowPlan, scenario: Scenario, t0: float, work: Path
) -> ReceiverSettings:
    """The receiver of ``plan``: the scenario's feedback format and interval, until the
    flow's end plus :data:`RECEIVER_TAIL_S`."""
    control = scenario.calls.rate_control
    return ReceiverSettings(
        bind=(plan.receiver.ip, plan.port),
        t0=t0,
        ssrc=plan.receiver_ssrc,
        feedback=FeedbackFormat(control.feedback.value),
        feedback_interval_s=control.feedback_interval_s,
        duration_s=plan.end_s + SENDER_DRAIN_S + RECEIVER_TAIL_S,
        log=plan.receiver_log(work),
        feedback_log=plan.receiver_feedback_log(work),
    )


def sender_settings(plan: FlowPlan, scenario: Scenario, t0: float, work: Path) -> SenderSettings:
    """The sender of ``plan`` with the scenario's ``calls`` and ``calls.rate_control``."""
    calls = scenario.calls
    control = calls.rate_control
    # The adaptation as the simulator's followers resolve it (defaults by codec).
    adaptation = control.follower_config(calls.ptime_s, scenario.overhead(), calls.codec)
    return SenderSettings(
        peer=(plan.receiver.ip, plan.port),
        bind=(plan.sender.ip, plan.port),
        codec=calls.codec,
        t0=t0,
        start_s=plan.start_s,
        duration_s=plan.end_s - plan.start_s,
        ssrc=plan.sender_ssrc,
        ptime_s=calls.ptime_s,
        feedback_interval_s=control.feedback_interval_s,
        delay_filter=control.delay_filter,
        start_bps=control.start_bitrate_bps,
        min_bps=control.min_bitrate_bps,
        max_bps=control.max_bitrate_bps,
        hold_up_s=adaptation.hold_up_s,
        step_up=adaptation.step_up,
        step_down=adaptation.step_down,
        min_change_interval_s=adaptation.min_change_interval_s,
        ecn=calls.ecn,
        ce_response=control.ecn,
        dscp=calls.dscp,
        drain_s=SENDER_DRAIN_S,
        log=plan.sender_log(work),
        feedback_log=plan.sender_feedback_log(work),
    )


def bound_problems(scenario: Scenario) -> list[str]:
    """Why the GCC endpoints cannot start with ``scenario``'s start, floor and ceiling: the
    sender adds its RTP header extension to the bounds the scenario leaves unset, which can
    put them out of order with one it sets (empty when they are in order)."""
    calls = scenario.calls
    control = calls.rate_control
    settings = SenderSettings(
        peer=("::" if calls.ip_version == 6 else "0.0.0.0", 0),  # the headers counted
        codec=calls.codec,
        t0=0.0,
        duration_s=1.0,
        ssrc=0,
        ptime_s=calls.ptime_s,
        start_bps=control.start_bitrate_bps,
        min_bps=control.min_bitrate_bps,
        max_bps=control.max_bitrate_bps,
        ecn=calls.ecn,
        ce_response=control.ecn,
    )
    rates = settings.bitrates()
    if rates.min_bps <= rates.start_bps <= rates.max_bps:
        return []
    added = f"{settings.extension_bps / 1e3:.2f} kbit/s"
    return [
        f"calls.rate_control: the GCC endpoints send an RTP header extension and add its "
        f"{added} to the bounds the scenario leaves unset, which puts them out of order "
        f"({_bounds(rates)}); set start_bitrate, min_bitrate and max_bitrate together"
    ]


def _bounds(rates: Bitrates) -> str:
    return ", ".join(
        f"{name} {value / 1e3:.2f} kbit/s"
        for name, value in zip(("start", "min", "max"), rates, strict=True)
    )
