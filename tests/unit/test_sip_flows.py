"""SIP flows over a scripted channel, against timelines worked out by hand from RFC 3261.

Unless a test says otherwise: UDP, 50 ms one way in each direction (d), T1 = 0.5 s.
Channel message numbers count every transmission, both directions, in sending order.
"""

from __future__ import annotations

import pytest

from voipbed.models.message_channel import DOWNLINK, UPLINK, ScriptedChannel
from voipbed.models.sip_driver import MessageRecord, count_retransmissions, run_flow
from voipbed.models.sip_flows import CallConfig, CallOutcome, IncomingCall, OutgoingCall
from voipbed.models.sip_keepalive import KeepAlive, KeepAliveConfig
from voipbed.models.sip_messages import SipMessageKind, SipProfile, sip_message_sizes
from voipbed.models.sip_registration import Registration, RegistrationConfig

D = 0.05


def channel(*lost: int) -> ScriptedChannel:
    return ScriptedChannel(D, D, lost=set(lost))


def sends(records: list[MessageRecord], label: str) -> list[float]:
    return [r.sent_s for r in records if r.label == label]


def arrivals(records: list[MessageRecord], label: str) -> list[float | None]:
    return [r.arrival_s for r in records if r.label == label]


def test_first_invite_lost_is_retransmitted_at_t1() -> None:
    """INVITE lost: resent at 0.5 s (Timer A), reaches the proxy at 0.55, its 100 arrives at 0.6."""
    call = OutgoingCall()
    records = run_flow(call, channel(0))
    assert sends(records, "INVITE") == [0.0, 0.5]
    assert call.result(records).first_provisional_s == pytest.approx(0.5 + 2 * D)


def test_invite_lost_three_times() -> None:
    """INVITE lost thrice: sent at 0, 0.5, 1.5, 3.5 s; 100 at 3.6 s; 3 INVITE retransmissions."""
    call = OutgoingCall()
    records = run_flow(call, channel(0, 1, 2))
    result = call.result(records)
    assert sends(records, "INVITE") == [0.0, 0.5, 1.5, 3.5]
    assert result.first_provisional_s == pytest.approx(3.5 + 2 * D)
    assert result.retransmissions["INVITE"] == 3 and result.success


def test_all_invites_lost_fail_on_timer_b() -> None:
    """Every INVITE lost: 7 sent (0 ... 31.5 s), the call fails at 64*T1 = 32 s."""
    call = OutgoingCall()
    records = run_flow(call, channel(*range(100)))
    result = call.result(records)
    assert sends(records, "INVITE") == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert result.outcome is CallOutcome.TIMEOUT and result.ended_s == 32.0
    assert not result.success and result.setup_time_s is None


def test_post_dial_delay_and_setup_time() -> None:
    """Ring 0.3 s and answer 2 s after the INVITE arrives: PDD = d + 0.3 + d, set-up d + 2 + d;
    the ACK reaches the far end d later."""
    call = OutgoingCall(CallConfig(ring_delay_s=0.3, answer_delay_s=2.0))
    records = run_flow(call, channel())
    result = call.result(records)
    assert result.post_dial_delay_s == pytest.approx(0.4)
    assert result.setup_time_s == pytest.approx(2.1)
    assert result.ack_arrived_s == pytest.approx(2.15)
    assert [r.label for r in records] == ["INVITE", "100", "180", "200", "ACK"]
    assert [r.direction for r in records] == [UPLINK, DOWNLINK, DOWNLINK, DOWNLINK, UPLINK]
    assert result.retransmissions == {}


def test_lost_200_is_retransmitted_by_the_uas_core() -> None:
    """Answer 1 s after arrival: 200 sent at 1.05 and 1.55 (+T1) both lost, again at 2.55
    (+2*T1); it arrives at 2.6, the ACK at 2.65. Messages: 0 INVITE, 1 100, 2 180, 3-5 200."""
    call = OutgoingCall(CallConfig(answer_delay_s=1.0))
    records = run_flow(call, channel(3, 4))
    result = call.result(records)
    assert sends(records, "200") == pytest.approx([1.05, 1.55, 2.55])
    assert result.setup_time_s == pytest.approx(2.6)
    assert result.ack_arrived_s == pytest.approx(2.65)
    assert sends(records, "INVITE") == [0.0]  # Proceeding: no INVITE retransmission


def test_lost_ack_makes_the_200_come_again() -> None:
    """200 at 1.05 arrives at 1.1; its ACK (message 4) is lost; the 200 comes again at 1.55,
    and the phone acknowledges it again (a retransmission) at 1.6."""
    call = OutgoingCall(CallConfig(answer_delay_s=1.0))
    records = run_flow(call, channel(4))
    result = call.result(records)
    assert sends(records, "200") == pytest.approx([1.05, 1.55])
    assert sends(records, "ACK") == pytest.approx([1.1, 1.6])
    assert [r.retransmission for r in records if r.label == "ACK"] == [False, True]
    assert result.ack_arrived_s == pytest.approx(1.65)
    assert result.setup_time_s == pytest.approx(1.1)
    assert result.retransmissions == {"200": 1, "ACK": 1}


def test_uas_gives_up_the_200_after_64_t1() -> None:
    """Every ACK lost: the 200 is resent at +0.5, 1.5, 3.5, 7.5, then every T2 up to +31.5 s
    (10 resends), and the callee notes the missing ACK."""
    call = OutgoingCall(CallConfig(answer_delay_s=1.0))
    acks = range(4, 200, 2)  # after the first 200 (message 3), messages alternate ACK, 200
    records = run_flow(call, channel(*acks))
    offsets = [t - 1.05 for t in sends(records, "200")]
    assert offsets == pytest.approx([0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5])
    assert call.result(records).ack_timed_out


def test_reliable_transport_sends_no_retransmission() -> None:
    """Over TCP/TLS without loss, nothing is retransmitted."""
    call = OutgoingCall(CallConfig(answer_delay_s=1.0), reliable=True)
    records = run_flow(call, channel())
    assert not any(r.retransmission for r in records) and call.result(records).success


def test_reliable_transport_still_times_out_on_timer_b() -> None:
    """Over TCP/TLS a lost INVITE is not resent by SIP; Timer B fails the call at 32 s."""
    call = OutgoingCall(reliable=True)
    records = run_flow(call, channel(0))
    result = call.result(records)
    assert sends(records, "INVITE") == [0.0]
    assert result.outcome is CallOutcome.TIMEOUT and result.ended_s == 32.0


def test_rejected_call_is_acknowledged_with_the_invite_branch() -> None:
    """A 486 after 1 s: the caller's INVITE transaction sends the ACK with the INVITE's branch."""
    call = OutgoingCall(CallConfig(answer_delay_s=1.0, answer_status=486))
    records = run_flow(call, channel())
    result = call.result(records)
    invite = next(r for r in records if r.label == "INVITE")
    ack = next(r for r in records if r.label == "ACK")
    assert result.outcome is CallOutcome.REJECTED and result.final_status == 486
    assert ack.branch == invite.branch and ack.sent_s == pytest.approx(1.1)


def test_no_answer_by_the_deadline() -> None:
    """The far end rings but never answers within 120 s: the call ends as no answer at 120 s."""
    call = OutgoingCall(CallConfig(answer_delay_s=500.0))
    records = run_flow(call, channel(), until_s=200.0)
    result = call.result(records)
    assert result.outcome is CallOutcome.NO_ANSWER and result.ended_s == 120.0
    assert result.post_dial_delay_s == pytest.approx(0.1)


def test_bye_after_the_call() -> None:
    """Hang up 2 s after the ACK (sent at 0.1): BYE at 2.1, its 200 back at 2.2."""
    call = OutgoingCall(CallConfig(hangup_after_s=2.0))
    records = run_flow(call, channel())
    assert sends(records, "BYE") == pytest.approx([2.1])
    assert call.result(records).bye_completed_s == pytest.approx(2.2)


def test_incoming_call_is_answered_without_trying() -> None:
    """The core's INVITE arrives at d; the phone rings and answers at once (no 100): 180 and 200
    reach the core at 2d; the ACK reaches the phone at 3d."""
    call = IncomingCall()
    records = run_flow(call, channel())
    result = call.result(records)
    assert [r.label for r in records] == ["INVITE", "180", "200", "ACK"]
    assert [r.direction for r in records] == [DOWNLINK, UPLINK, UPLINK, DOWNLINK]
    assert result.setup_time_s == pytest.approx(2 * D)
    assert result.ack_arrived_s == pytest.approx(3 * D)


def test_unreachable_phone_misses_the_incoming_call() -> None:
    """With the phone unreachable (an expired NAT binding) every INVITE is dropped before the
    channel: the core's transaction times out at 32 s and the phone never saw the call."""
    call = IncomingCall()
    scripted = channel()
    records = run_flow(call, scripted, reachable=lambda t: False)
    result = call.result(records)
    assert all(r.unreachable and r.lost for r in records) and scripted.log == []
    assert result.outcome is CallOutcome.TIMEOUT and result.invite_arrived_s is None


def test_incoming_call_with_a_proxy_timeout() -> None:
    """A proxy timer of 5 s in place of Timer B: INVITEs at 0, 0.5, 1.5, 3.5; failure at 5 s."""
    call = IncomingCall(CallConfig(invite_timeout_s=5.0))
    records = run_flow(call, channel(*range(10)))
    assert sends(records, "INVITE") == [0.0, 0.5, 1.5, 3.5]
    assert call.result(records).ended_s == 5.0


def test_register_challenge_register_ok() -> None:
    """REGISTER at 0, 401 back at 0.1, REGISTER with credentials (CSeq 2) at 0.1, 200 at 0.2;
    the refresh goes at 0.2 + 0.9 * 3600 s (libre's 90 %)."""
    flow = Registration(RegistrationConfig(max_registrations=2))
    records = run_flow(flow, channel())
    first = records[:4]
    assert [r.label for r in first] == ["REGISTER", "401", "REGISTER", "200"]
    assert [r.cseq for r in first] == [1, 1, 2, 2]
    assert [r.sent_s for r in first] == pytest.approx([0.0, 0.05, 0.1, 0.15])
    sizes = sip_message_sizes(SipProfile())
    assert first[0].size_bytes == sizes[SipMessageKind.REGISTER]
    assert first[2].size_bytes == sizes[SipMessageKind.REGISTER_AUTH]
    attempts = flow.result().attempts
    assert attempts[0].ended_s == pytest.approx(0.2) and attempts[0].challenged
    assert attempts[1].started_s == pytest.approx(0.2 + 0.9 * 3600.0)
    # 3240 s after the nonce was issued (over 300 s): the refresh is challenged again
    assert [r.label for r in records[4:]] == ["REGISTER", "401", "REGISTER", "200"]


def test_refresh_within_nonce_lifetime_is_not_challenged() -> None:
    """With a nonce valid for an hour, the refresh is one REGISTER (with credentials) and 200."""
    flow = Registration(RegistrationConfig(max_registrations=2, nonce_lifetime_s=3600.0))
    records = run_flow(flow, channel())
    assert [r.label for r in records[4:]] == ["REGISTER", "200"]
    assert flow.result().bound_until_s == pytest.approx(records[-1].sent_s + 3600.0)


def test_register_without_answer_fails_and_retries() -> None:
    """All lost: REGISTER at 0, 0.5, 1.5, 3.5, 7.5, 11.5 ... 31.5 (Timer E capped at T2),
    failure at 32 s (Timer F), a new REGISTER after libre's failwait, 60 s * 0.75."""
    flow = Registration()
    records = run_flow(flow, channel(*range(1000)), until_s=77.2)
    expected = [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5, 77.0]
    assert sends(records, "REGISTER") == pytest.approx(expected)
    attempt = flow.result().attempts[0]
    assert not attempt.success and attempt.ended_s == 32.0 and attempt.final_status is None


def test_crlf_keepalive_and_a_missing_pong() -> None:
    """TCP: CRLFCRLF (4 bytes) every 120 s, CRLF (2 bytes) back; the second pong lost
    (message 3) counts as a flow failure, 10 s after its ping."""
    flow = KeepAlive(KeepAliveConfig(count=3), reliable=True)
    records = run_flow(flow, channel(3))
    assert sends(records, "CRLFCRLF") == [120.0, 240.0, 360.0]
    assert {r.size_bytes for r in records if r.label == "CRLFCRLF"} == {4}
    assert {r.size_bytes for r in records if r.label == "CRLF"} == {2}
    pings = flow.result().pings
    assert [p.pong_s for p in pings] == pytest.approx([120.1, None, 360.1])
    assert flow.result().failures == 1


def test_stun_keepalive_is_retransmitted_then_fails() -> None:
    """UDP: a STUN request every 29 s; all lost: resent at +0.5, 1.5, 3.5, 7.5 s (RFC 5389
    RTO doubling), a failure at +10 s."""
    flow = KeepAlive(KeepAliveConfig(count=1))
    records = run_flow(flow, channel(*range(10)))
    assert sends(records, "STUN") == pytest.approx([29.0, 29.5, 30.5, 32.5, 36.5])
    assert flow.result().failures == 1
    assert arrivals(records, "STUN") == [None] * 5


def test_records_count_retransmissions_by_label() -> None:
    """count_retransmissions counts retransmitted records per label."""
    records = run_flow(OutgoingCall(), channel(0, 1))
    assert count_retransmissions(records) == {"INVITE": 2}


def test_ten_thousand_registrations() -> None:
    """10 000 challenged registrations (refresh every 30 s) carry 40 000 messages, none resent."""
    config = RegistrationConfig(
        expires_s=60.0, refresh_fraction=0.5, nonce_lifetime_s=1.0, max_registrations=10_000
    )
    flow = Registration(config)
    records = run_flow(flow, channel())
    assert len(records) == 40_000
    assert flow.result().successes == 10_000
    assert not any(r.retransmission for r in records)
