"""TCP over a scripted channel: handshake, RFC 6298 timers, RFC 5681 recovery, in-order delivery.

Every expected time below is worked out by hand from the RFC rules with a one-way delay
D = 50 ms each way (RTT 100 ms). Channel messages are numbered in the order they are
sent (both directions together): 0 SYN, 1 SYN-ACK, 2 the phone's ACK, then data.
"""

from __future__ import annotations

import pytest

from voipbed.models.message_channel import DOWNLINK, UPLINK, ScriptedChannel
from voipbed.models.overhead import IpVersion
from voipbed.models.tcp_conn import Delivery, TcpConnection
from voipbed.models.tcp_endpoint import SegmentKind, TcpConfig, TcpState
from voipbed.models.tcp_rto import RtoConfig

D = 0.05
RTT = 2 * D
PLAIN = TcpConfig(options_bytes=0)  # full segments of 1460 bytes over IPv4 and 1500 MTU


def connection(lost: tuple[int, ...] = (), config: TcpConfig = PLAIN) -> TcpConnection:
    """A connection over a channel with delay D each way that loses the messages ``lost``."""
    conn = TcpConnection(ScriptedChannel(D, D, lost=lost), config)
    conn.connect(0.0)
    return conn


def data_segments(conn: TcpConnection, direction: int = UPLINK) -> list[tuple[float, int, bool]]:
    """(sent at, length, retransmission) of the data segments sent in ``direction``."""
    return [
        (r.sent_at_s, r.length, r.retransmission)
        for r in conn.timeline
        if r.direction == direction and r.kind is SegmentKind.DATA
    ]


def test_handshake_takes_one_round_trip() -> None:
    """SYN at 0, SYN-ACK back at RTT: the phone is connected at RTT, the core at 1.5 RTT."""
    conn = connection()
    conn.run()
    assert conn.established_at_s == pytest.approx(RTT)
    assert conn.server_established_at_s == pytest.approx(RTT + D)
    kinds = [r.kind for r in conn.timeline]
    assert kinds == [SegmentKind.SYN, SegmentKind.SYN_ACK, SegmentKind.ACK]
    syn = conn.timeline[0]
    assert syn.wire_bytes == 20 + 20 + 20  # IPv4, TCP, SYN options (MSS, SACK, TS, WS)


def test_lost_syn_connects_after_the_initial_rto() -> None:
    """A lost SYN is resent at the 1 s initial RTO: connected at 1 s + RTT, then 3 s RTO."""
    conn = connection(lost=(0,))
    conn.run()
    syns = [r.sent_at_s for r in conn.timeline if r.kind is SegmentKind.SYN]
    assert syns == [0.0, pytest.approx(1.0)]
    assert conn.established_at_s == pytest.approx(1.0 + RTT)
    # RFC 6298 5.7: no sample from a retransmitted SYN, so the RTO is re-initialised to 3 s;
    # RFC 5681 3.1: the initial window after a lost SYN is one segment.
    assert conn.client.rto.rto_s == pytest.approx(3.0)
    assert conn.client.cwnd == PLAIN.smss_bytes


def test_syn_retries_back_off_then_give_up() -> None:
    """tcp_syn_retries = 6: SYNs at 0, 1, 3, 7, 15, 31, 63 s, and the connect fails at 127 s."""
    conn = connection(lost=tuple(range(100)))
    conn.send(0.0, UPLINK, 500, label="REGISTER")
    conn.run()
    syns = [r.sent_at_s for r in conn.timeline if r.kind is SegmentKind.SYN]
    assert syns == pytest.approx([0, 1, 3, 7, 15, 31, 63])
    assert conn.failed_at_s == pytest.approx(127.0)
    assert conn.client.state is TcpState.FAILED
    assert conn.deliveries[0].delivered_at_s is None


def test_syn_retries_are_configurable() -> None:
    """Two SYN retries: SYNs at 0, 1, 3 s; the third timer (4 s) expires at 7 s."""
    conn = connection(lost=tuple(range(10)), config=TcpConfig(syn_retries=2))
    conn.run()
    assert [r.sent_at_s for r in conn.timeline] == pytest.approx([0, 1, 3])
    assert conn.failed_at_s == pytest.approx(7.0)


def test_rto_after_three_samples_of_100_ms() -> None:
    """Samples of 100 ms (handshake, then two messages): RTO = max(min, SRTT + 4 RTTVAR)."""
    linux = TcpConfig(options_bytes=0, rto=RtoConfig(min_s=0.2))
    for config, floor in ((linux, 0.2), (PLAIN, 1.0)):
        conn = connection(config=config)
        conn.send(0.2, UPLINK, 800)  # acknowledged at 0.3: sample 100 ms
        conn.send(0.4, UPLINK, 800)  # acknowledged at 0.5: sample 100 ms
        conn.run()
        # First sample: SRTT = 0.1, RTTVAR = 0.05; then RTTVAR = 3/4 RTTVAR + 1/4 |0.1 - 0.1|.
        rttvar = 0.05 * 0.75 * 0.75
        assert conn.client.rto.samples == 3
        assert conn.client.rto.srtt_s == pytest.approx(0.1)
        assert conn.client.rto.rttvar_s == pytest.approx(rttvar)
        assert conn.client.rto.rto_s == pytest.approx(max(floor, 0.1 + 4 * rttvar))


def test_linux_floor_bounds_the_variance_term() -> None:
    """Linux's 200 ms minimum applies to the variance term: RTO = SRTT + 200 ms here."""
    config = TcpConfig(options_bytes=0, rto=RtoConfig(min_s=0.2, floor_on_variance=True))
    conn = connection(config=config)
    conn.send(0.2, UPLINK, 800)
    conn.send(0.4, UPLINK, 800)
    conn.run()
    assert conn.client.rto.rto_s == pytest.approx(0.1 + max(4 * 0.05 * 0.75 * 0.75, 0.2))


def test_timeout_uses_the_measured_rto() -> None:
    """After three 100 ms samples with a 200 ms floor, a lost message is resent 212.5 ms later."""
    conn = connection(lost=(7,), config=TcpConfig(options_bytes=0, rto=RtoConfig(min_s=0.2)))
    conn.send(0.2, UPLINK, 800)  # messages 3 (data) and 4 (its ACK): second sample
    conn.send(0.4, UPLINK, 800)  # messages 5 and 6: third sample
    conn.send(0.6, UPLINK, 800)  # message 7: lost
    conn.run()
    rto = 0.1 + 4 * 0.05 * 0.75 * 0.75
    segments = data_segments(conn)
    assert segments[-1][0] == pytest.approx(0.6 + rto)
    assert segments[-1][2]
    assert conn.deliveries[-1].delivered_at_s == pytest.approx(0.6 + rto + D)


def test_consecutive_losses_double_the_rto() -> None:
    """A segment lost three times is resent 1, 2 and 4 s apart (rule 5.5); Karn keeps 8 s."""
    conn = connection(lost=(3, 4, 5))
    conn.send(0.2, UPLINK, 900, label="INVITE")
    conn.run()
    # After the handshake sample the RTO is max(1 s, 0.1 + 4 * 0.05) = 1 s.
    sent = [s[0] for s in data_segments(conn)]
    assert sent == pytest.approx([0.2, 1.2, 3.2, 7.2])
    (delivery,) = conn.deliveries
    assert delivery.delivered_at_s == pytest.approx(7.2 + D)
    assert delivery.retransmissions == 3
    # The ACK of a retransmitted segment gives no sample (Karn): the back-off stays.
    assert conn.client.rto.samples == 1
    assert conn.client.rto.rto_s == pytest.approx(8.0)


def test_lost_segment_holds_back_the_next_message() -> None:
    """Head-of-line blocking: the second message arrives first but is handed up after the first."""
    conn = connection(lost=(3,))
    first = conn.send(0.2, UPLINK, 900, label="INVITE")
    second = conn.send(0.2, UPLINK, 400, label="INFO")
    conn.run()
    segments = [r for r in conn.timeline if r.kind is SegmentKind.DATA]
    assert [r.arrival_s for r in segments[:2]] == [None, pytest.approx(0.2 + D)]
    by_id = {d.message_id: d for d in conn.deliveries}
    # RTO 1 s: the first message is resent at 1.2 s and both are handed up when it arrives.
    assert by_id[first].delivered_at_s == pytest.approx(1.2 + D)
    assert by_id[second].delivered_at_s == pytest.approx(1.2 + D)
    assert [d.message_id for d in conn.deliveries] == [first, second]
    assert (by_id[first].retransmissions, by_id[second].retransmissions) == (1, 0)


def test_three_duplicate_acks_trigger_fast_retransmit() -> None:
    """Five segments, the first lost: the third duplicate ACK resends it one RTT later."""
    conn = connection(lost=(3,))
    for _ in range(5):
        conn.send(0.2, UPLINK, 1000)
    conn.run()
    # Segments 2-5 arrive at 0.25 and each draws a duplicate ACK, back at 0.3: the third
    # one resends segment 1 at 0.3, which arrives at 0.35 and releases all five messages.
    retransmitted = [s for s in data_segments(conn) if s[2]]
    assert [s[0] for s in retransmitted] == [pytest.approx(0.2 + RTT)]
    assert [d.delivered_at_s for d in conn.deliveries] == [pytest.approx(0.2 + RTT + D)] * 5
    smss = PLAIN.smss_bytes
    ssthresh = max(5000 // 2, 2 * smss)  # RFC 5681 equation 4 with FlightSize 5000
    assert conn.client.ssthresh == ssthresh
    assert conn.client.cwnd == ssthresh  # the full ACK ends recovery with cwnd = ssthresh


def test_two_duplicate_acks_wait_for_the_rto() -> None:
    """Three segments, the first lost: only two duplicate ACKs, so the RTO resends it at 1.2 s."""
    conn = connection(lost=(3,))
    for _ in range(3):
        conn.send(0.2, UPLINK, 1000)
    conn.run()
    retransmitted = [s[0] for s in data_segments(conn) if s[2]]
    assert retransmitted == [pytest.approx(1.2)]


def test_large_message_is_cut_into_mss_segments() -> None:
    """4000 bytes with a 1460-byte MSS go as 1460 + 1460 + 1080, each with 40 header bytes."""
    conn = connection()
    conn.send(0.2, UPLINK, 4000)
    conn.run()
    segments = [r for r in conn.timeline if r.kind is SegmentKind.DATA]
    assert [r.length for r in segments] == [1460, 1460, 1080]
    assert [r.wire_bytes for r in segments] == [1500, 1500, 1120]
    assert conn.deliveries[0].delivered_at_s == pytest.approx(0.2 + D)


def test_timestamps_and_ipv6_shrink_the_segments() -> None:
    """IPv6 (40-byte header) and timestamps (12 bytes) leave 1428 bytes per segment."""
    config = TcpConfig(ip_version=IpVersion.V6)
    assert config.mss_bytes == 1500 - 40 - 20
    assert config.smss_bytes == 1500 - 40 - 20 - 12
    conn = connection(config=config)
    conn.send(0.2, UPLINK, 4000)
    conn.run()
    lengths = [r.length for r in conn.timeline if r.kind is SegmentKind.DATA]
    assert lengths == [1428, 1428, 4000 - 2 * 1428]


def test_request_and_answer_reuse_one_connection() -> None:
    """Messages both ways share one handshake; an answer sent on delivery arrives D later."""
    answers: list[Delivery] = []

    def answer(conn: TcpConnection, delivery: Delivery) -> None:
        if delivery.direction == UPLINK and delivery.delivered_at_s is not None:
            conn.send(delivery.delivered_at_s, DOWNLINK, 600, label="200 OK")
        else:
            answers.append(delivery)

    conn = connection()
    conn.on_deliver = answer
    for start in (0.2, 5.0, 30.0):  # idle gaps: the connection stays open
        conn.send(start, UPLINK, 900, label="INVITE")
    conn.run()
    assert [a.delivered_at_s for a in answers] == pytest.approx([0.3, 5.1, 30.1])
    assert sum(r.kind is SegmentKind.SYN for r in conn.timeline) == 1
    assert conn.closed_at_s is None and conn.failed_at_s is None


def test_fin_from_the_phone_closes_both_ends() -> None:
    """The phone's FIN at 0.2, the core's at 0.25 on its arrival, its ACK back at 0.35."""
    conn = connection()
    conn.close(0.2)
    conn.run()
    fins = [r for r in conn.timeline if r.kind is SegmentKind.FIN]
    assert [r.direction for r in fins] == [UPLINK, DOWNLINK]
    assert [r.sent_at_s for r in fins] == pytest.approx([0.2, 0.2 + D])
    assert conn.closed_at_s == pytest.approx(0.2 + 3 * D)
    conn.send(1.0, UPLINK, 10)  # after its own FIN: reported undelivered
    conn.run()
    assert not conn.deliveries[-1].delivered


def test_delayed_ack_waits_for_the_timer() -> None:
    """With a 40 ms delayed ACK a lone segment is acknowledged 40 ms after it arrives."""
    conn = connection(config=TcpConfig(options_bytes=0, delayed_ack_s=0.04))
    conn.send(0.2, UPLINK, 500)
    conn.run()
    acks = [
        r.sent_at_s for r in conn.timeline if r.direction == DOWNLINK and r.kind is SegmentKind.ACK
    ]
    assert acks == [pytest.approx(0.2 + D + 0.04)]


def test_delayed_ack_rides_on_the_answer() -> None:
    """With delayed ACKs an answer written on delivery carries the ACK: no pure ACK is sent."""

    def answer(conn: TcpConnection, delivery: Delivery) -> None:
        if delivery.direction == UPLINK and delivery.delivered_at_s is not None:
            conn.send(delivery.delivered_at_s, DOWNLINK, 300)

    conn = connection(config=TcpConfig(options_bytes=0, delayed_ack_s=0.2))
    conn.on_deliver = answer
    conn.send(0.2, UPLINK, 500)
    conn.run(until_s=0.3)
    downlink = [r.kind for r in conn.timeline if r.direction == DOWNLINK]
    assert downlink == [SegmentKind.SYN_ACK, SegmentKind.DATA]


def test_repeated_timeouts_abort_the_connection() -> None:
    """After data_retries timeouts the connection fails and its message is reported lost."""
    config = TcpConfig(options_bytes=0, data_retries=2)
    conn = connection(lost=tuple(range(3, 50)), config=config)
    conn.send(0.2, UPLINK, 900)
    conn.run()
    # Sent at 0.2, resent at 1.2 and 3.2; the third timeout (4 s later) gives up.
    assert conn.failed_at_s == pytest.approx(7.2)
    assert not conn.deliveries[0].delivered


def test_send_refuses_bad_input() -> None:
    """A message of no bytes, an unknown direction or a time in the past is refused."""
    conn = connection()
    conn.run()
    with pytest.raises(ValueError, match="at least 1 byte"):
        conn.send(1.0, UPLINK, 0)
    with pytest.raises(ValueError, match="direction"):
        conn.send(1.0, 7, 10)
    with pytest.raises(ValueError, match="before"):
        conn.send(0.0, UPLINK, 10)


def test_ten_thousand_exchanges_over_one_connection() -> None:
    """10 000 request/answer exchanges on one connection: every message is handed up once."""
    count = 10_000

    def answer(conn: TcpConnection, delivery: Delivery) -> None:
        if delivery.direction == UPLINK and delivery.delivered_at_s is not None:
            conn.send(delivery.delivered_at_s, DOWNLINK, 400)

    conn = TcpConnection(
        ScriptedChannel(D, D, lost=range(50, 200_000, 97)), PLAIN, keep_timeline=False
    )
    conn.on_deliver = answer
    conn.connect(0.0)
    for i in range(count):
        conn.send(1.0 + 0.5 * i, UPLINK, 900)
    conn.run()
    uplink = [d for d in conn.deliveries if d.direction == UPLINK]
    downlink = [d for d in conn.deliveries if d.direction == DOWNLINK]
    assert len(uplink) == len(downlink) == count
    assert all(d.delivered for d in conn.deliveries)
    assert sum(d.retransmissions > 0 for d in conn.deliveries) > 0


def test_rto_ceiling_caps_the_syn_back_off() -> None:
    """With RFC 6298's 60 s ceiling the last SYN timer is 60 s, not 64: failure at 123 s."""
    config = TcpConfig(options_bytes=0, rto=RtoConfig(max_s=60.0))
    conn = connection(lost=tuple(range(100)), config=config)
    conn.run()
    assert conn.failed_at_s == pytest.approx(63.0 + 60.0)


def test_abort_runs_up_to_its_time_then_fails_what_is_left() -> None:
    """Aborted at 0.5 s: the handshake and a message at 0.2 s complete, a later one fails."""
    conn = connection()
    conn.send(0.2, UPLINK, 500)
    conn.send(0.8, UPLINK, 500)
    conn.abort(0.5)
    assert conn.failed_at_s == 0.5
    assert [d.delivered for d in conn.deliveries] == [True]
    conn.run()
    assert [d.delivered for d in conn.deliveries] == [True, False]


@pytest.mark.parametrize(("nagle", "second_at"), [(False, 1.0 + D), (True, 1.0 + 3 * D + 0.04)])
def test_nagle_holds_a_small_message_for_the_delayed_ack(nagle: bool, second_at: float) -> None:
    """The core writes two small messages at 1 s to a phone that delays its ACKs 40 ms: with
    Nagle the second waits for that ACK (1 s + D, + 40 ms, + D), then crosses (+ D)."""
    phone = TcpConfig(options_bytes=0, delayed_ack_s=0.04)
    core = TcpConfig(options_bytes=0, nagle=nagle)
    conn = TcpConnection(ScriptedChannel(D, D), phone, server_config=core)
    conn.connect(0.0)
    conn.run(0.5)
    first = conn.send(1.0, DOWNLINK, 300)
    second = conn.send(1.0, DOWNLINK, 400)
    conn.run()
    arrived = {d.message_id: d.delivered_at_s for d in conn.deliveries}
    assert arrived[first] == pytest.approx(1.0 + D)
    assert arrived[second] == pytest.approx(second_at)
