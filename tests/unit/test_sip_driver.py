"""The flows' event loop: many flows in time order, with or without a record per message."""

from __future__ import annotations

from voipbed.models.message_channel import ScriptedChannel
from voipbed.models.sip_driver import FlowRun, run_flows
from voipbed.models.sip_flows import CallConfig, IncomingCall
from voipbed.models.sip_keepalive import KeepAlive, KeepAliveConfig
from voipbed.models.sip_registration import Registration, RegistrationConfig

LOST = set(range(3, 400, 7))  # every 7th message from the 4th on, both directions


def _phone_runs(
    channel: ScriptedChannel,
) -> tuple[list[FlowRun], Registration, KeepAlive, IncomingCall]:
    """One phone's registration, keep-alives and an incoming call over one lossy channel."""
    registration = Registration(RegistrationConfig(expires_s=120.0), prefix="r")
    keepalive = KeepAlive(KeepAliveConfig(interval_s=29.0), prefix="k")
    call = IncomingCall(CallConfig(), prefix="c")
    runs = [
        FlowRun(registration, channel, 0.3),
        FlowRun(keepalive, channel, 0.3),
        FlowRun(call, channel, 95.0),
    ]
    return runs, registration, keepalive, call


def test_without_records_the_flows_end_as_with_them() -> None:
    """keep_records=False: the same messages (losses and retransmissions among them) cross
    the channel and every flow ends the same, with no record kept."""
    kept_channel = ScriptedChannel(0.05, 0.07, lost=LOST)
    kept, kept_registration, kept_keepalive, kept_call = _phone_runs(kept_channel)
    records = run_flows(kept, until_s=600.0)
    bare_channel = ScriptedChannel(0.05, 0.07, lost=LOST)
    bare, bare_registration, bare_keepalive, bare_call = _phone_runs(bare_channel)
    assert run_flows(bare, until_s=600.0, keep_records=False) == [[], [], []]
    assert bare_channel.log == kept_channel.log
    assert sum(len(flow) for flow in records) == len(kept_channel.log) > 40
    assert bare_registration.result() == kept_registration.result()
    assert bare_keepalive.result() == kept_keepalive.result()
    assert bare_call.result() == kept_call.result()
    assert any(record.retransmission for flow in records for record in flow)


def test_keepalive_counts_are_its_results() -> None:
    """A keep-alive's counts are the number of its pings and of those that failed."""
    channel = ScriptedChannel(0.05, 0.05, lost=set(range(20, 60)))  # a 40-message outage
    keepalive = KeepAlive(KeepAliveConfig(interval_s=29.0))
    run_flows([FlowRun(keepalive, channel)], until_s=1000.0, keep_records=False)
    result = keepalive.result()
    counts = keepalive.counts()
    assert counts.pings == len(result.pings) > 30
    assert counts.failures == result.failures > 0
