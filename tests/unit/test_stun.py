"""STUN and TURN: message sizes, RFC 8489 retransmissions, TURN allocation, the relay path."""

from __future__ import annotations

import pytest

from voipbed.models.message_channel import DOWNLINK, UPLINK, ScriptedChannel
from voipbed.models.stun import (
    StunAttr,
    StunClientTransaction,
    StunRetransmitConfig,
    TransactionState,
    attribute_bytes,
    binding_response_bytes,
    ice_check_request_bytes,
    ice_check_response_bytes,
    message_bytes,
    retransmit_schedule,
    run_stun_transaction,
)
from voipbed.models.turn import (
    RelayedChannel,
    RelayPoint,
    TurnConfig,
    TurnMessage,
    channel_data_bytes,
    refresh_times,
    run_turn_allocation,
    send_indication_bytes,
    turn_message_bytes,
)

RFC_EXAMPLE_SENDS = [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]  # RFC 8489 section 6.2.1 example
RFC_EXAMPLE_FAILURE = 31.5 + 16 * 0.5  # Rm x RTO after the last request: 39.5 s


def test_fixed_attribute_sizes() -> None:
    """Header 4 bytes plus value: the sizes RFC 8489, 8445 and 8656 give."""
    assert attribute_bytes(StunAttr.XOR_MAPPED_ADDRESS) == 12
    assert attribute_bytes(StunAttr.XOR_MAPPED_ADDRESS, ipv6=True) == 24
    assert attribute_bytes(StunAttr.FINGERPRINT) == 8
    assert attribute_bytes(StunAttr.MESSAGE_INTEGRITY) == 24
    assert attribute_bytes(StunAttr.PRIORITY) == 8
    assert attribute_bytes(StunAttr.ICE_CONTROLLING) == 12
    assert attribute_bytes(StunAttr.ICE_CONTROLLED) == 12
    assert attribute_bytes(StunAttr.USE_CANDIDATE) == 4
    assert attribute_bytes(StunAttr.LIFETIME) == 8


def test_variable_attributes_are_padded_to_four_bytes() -> None:
    """USERNAME of 9 bytes takes 4 + 12; SOFTWARE of 8 takes 4 + 8; a 401 ERROR-CODE 4 + 16."""
    assert attribute_bytes(StunAttr.USERNAME, 9) == 16
    assert attribute_bytes(StunAttr.SOFTWARE, 8) == 12
    assert attribute_bytes(StunAttr.ERROR_CODE, len("Unauthorized")) == 20
    with pytest.raises(ValueError, match="variable length"):
        attribute_bytes(StunAttr.NONCE)


def test_message_sizes_by_hand() -> None:
    """Binding response 20 + 12; ICE check 20 + 16 + 8 + 12 (+4) + 24 + 8; its response 64."""
    assert binding_response_bytes() == 32
    assert binding_response_bytes(ipv6=True, fingerprint=True) == 20 + 24 + 8
    assert ice_check_request_bytes() == 20 + 16 + 8 + 12 + 24 + 8
    assert ice_check_request_bytes(use_candidate=True) == 20 + 16 + 8 + 12 + 4 + 24 + 8
    assert ice_check_response_bytes() == 20 + 12 + 24 + 8
    assert message_bytes([]) == 20


def test_retransmission_schedule_is_the_rfc_example() -> None:
    """Requests at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s; failure at 39.5 s."""
    sends, failure = retransmit_schedule(StunRetransmitConfig())
    assert list(sends) == RFC_EXAMPLE_SENDS
    assert failure == RFC_EXAMPLE_FAILURE


def test_unanswered_transaction_over_a_channel_fails_at_39_5_s() -> None:
    """Every request lost: seven requests at the RFC times, failure at 39.5 s."""
    channel = ScriptedChannel(0.05, 0.05, lost=range(100))
    outcome = run_stun_transaction(channel, 0.0, 20, 32)
    assert not outcome.succeeded
    assert outcome.completed_s == RFC_EXAMPLE_FAILURE
    assert [r.time_s for r in outcome.timeline] == RFC_EXAMPLE_SENDS
    assert [r.retransmission for r in outcome.timeline] == [False] + [True] * 6
    assert outcome.requests_sent == 7


def test_two_lost_requests_then_a_response() -> None:
    """Requests 0 and 1 lost: the third (1.5 s) is answered, arriving at 1.5 + up + down."""
    up, down = 0.04, 0.06
    channel = ScriptedChannel(up, down, lost=[0, 1])
    outcome = run_stun_transaction(channel, 10.0, 20, 32)
    assert outcome.succeeded
    assert outcome.completed_s == pytest.approx(10.0 + 1.5 + up + down)
    kinds = [(r.time_s - 10.0, r.direction, r.delivered) for r in outcome.timeline]
    assert kinds == [
        (0.0, UPLINK, False),
        (0.5, UPLINK, False),
        (pytest.approx(1.5), UPLINK, True),
        (pytest.approx(1.5 + up), DOWNLINK, True),
    ]


def test_reliable_transport_sends_once_and_waits_ti() -> None:
    """Over TCP/TLS: one request, failure after Ti = 39.5 s."""
    channel = ScriptedChannel(0.05, 0.05, lost=[0])
    outcome = run_stun_transaction(channel, 0.0, 20, 32, config=StunRetransmitConfig(reliable=True))
    assert not outcome.succeeded
    assert outcome.completed_s == 39.5
    assert len(outcome.timeline) == 1


def test_transaction_machine_states() -> None:
    """The first response ends it; later responses are ignored; cancel keeps the timeout."""
    machine = StunClientTransaction()
    machine.start(0.0)
    assert machine.next_deadline_s == 0.5
    machine.cancel()
    assert machine.next_deadline_s == RFC_EXAMPLE_FAILURE
    assert machine.on_timer(RFC_EXAMPLE_FAILURE) is None
    assert machine.state == TransactionState.FAILED
    machine = StunClientTransaction()
    machine.start(0.0)
    assert machine.on_response(0.1)
    assert not machine.on_response(0.2)
    assert machine.state == TransactionState.SUCCEEDED


def test_turn_message_sizes_by_hand() -> None:
    """Allocate 20 + 8 + 8; its 401: 20 + 20 + REALM 16 + NONCE 20 + 8 (default credentials)."""
    assert turn_message_bytes(TurnMessage.ALLOCATE) == (36, 84)
    auth = 24 + 16 + 20 + 24  # USERNAME 20, REALM 11 -> 12, NONCE 16, MESSAGE-INTEGRITY
    assert turn_message_bytes(TurnMessage.ALLOCATE_AUTH)[0] == 20 + 8 + auth + 8
    assert turn_message_bytes(TurnMessage.CREATE_PERMISSION, peers=2)[0] == 20 + 24 + auth + 8
    assert send_indication_bytes(160) == 20 + 12 + 4 + 160
    assert channel_data_bytes(161) == 165
    assert channel_data_bytes(161, padded=True) == 168


def test_turn_allocation_timeline() -> None:
    """Allocate, 401, Allocate again, success, CreatePermission: three round trips."""
    rtt = 0.03 + 0.05
    outcome = run_turn_allocation(ScriptedChannel(0.03, 0.05), 1.0, TurnConfig())
    assert outcome.succeeded
    assert outcome.allocated_s == pytest.approx(1.0 + 2 * rtt)
    assert outcome.ready_s == pytest.approx(1.0 + 3 * rtt)
    kinds = [r.kind for r in outcome.timeline]
    assert kinds[0] == "turn_allocate" and kinds[2] == "turn_allocate_auth"
    assert len(kinds) == 6


def test_turn_allocation_fails_when_the_server_is_unreachable() -> None:
    """No response to the first Allocate: the allocation fails at 39.5 s."""
    outcome = run_turn_allocation(ScriptedChannel(0.03, 0.05, lost=range(50)), 0.0)
    assert not outcome.succeeded
    assert outcome.completed_s == RFC_EXAMPLE_FAILURE
    assert outcome.allocated_s is None


def test_relayed_channel_adds_both_legs_and_framing() -> None:
    """Through the relay a message takes the path, then the relay's two legs, with 4 bytes more."""
    access = ScriptedChannel(0.02, 0.03)
    relayed = RelayedChannel(access, RelayPoint(from_path_s=0.01, to_peer_s=0.04))
    assert relayed.carry(1.0, 100, UPLINK) == pytest.approx(1.0 + 0.02 + 0.05)
    assert relayed.carry(2.0, 100, DOWNLINK) == pytest.approx(2.0 + 0.05 + 0.03)
    assert [entry[2] for entry in access.log] == [104, 104]


def test_refresh_times_one_minute_before_expiry() -> None:
    """A 600 s allocation is refreshed every 540 s; a 100 s one every 50 s."""
    assert refresh_times(0.0, 600.0, 1700.0) == (540.0, 1080.0, 1620.0)
    assert refresh_times(0.0, 100.0, 160.0) == (50.0, 100.0, 150.0)
