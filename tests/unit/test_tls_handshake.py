"""TLS 1.2 and 1.3 handshakes over the TCP model: round trips, resumption, record overhead.

One-way delay D = 50 ms each way; the TCP handshake completes at the phone at RTT = 100 ms,
when the ClientHello goes out. TCP messages on the channel are numbered in sending order:
0 SYN, 1 SYN-ACK, 2 ACK, 3 ClientHello, 4 the core's ACK of it, 5 the core's first flight.
"""

from __future__ import annotations

import pytest

from voipbed.models.message_channel import DOWNLINK, UPLINK, ScriptedChannel
from voipbed.models.overhead import RecordLayer, record_overhead_bytes
from voipbed.models.tcp_conn import TcpConnection
from voipbed.models.tcp_endpoint import SegmentKind
from voipbed.models.tls_flights import (
    CertificateChain,
    Resumption,
    TlsConfig,
    TlsVersion,
    application_wire_bytes,
    handshake_flights,
)
from voipbed.models.tls_handshake import TlsConnection, TlsDelivery

D = 0.05
RTT = 2 * D
TCP_DONE = RTT


def session(config: TlsConfig, lost: tuple[int, ...] = ()) -> TlsConnection:
    """A TLS session over a fresh TCP connection opened at 0 on a scripted channel."""
    tls = TlsConnection(TcpConnection(ScriptedChannel(D, D, lost=lost)), config)
    tls.connect(0.0)
    return tls


@pytest.mark.parametrize(
    ("config", "round_trips"),
    [
        (TlsConfig(version=TlsVersion.TLS_1_3), 1),
        (TlsConfig(version=TlsVersion.TLS_1_3, chain=CertificateChain.RSA_2048_WITH_CA), 1),
        (TlsConfig(version=TlsVersion.TLS_1_3, resumption=Resumption.TICKET), 1),
        (TlsConfig(version=TlsVersion.TLS_1_2), 2),
        (TlsConfig(version=TlsVersion.TLS_1_2, resumption=Resumption.TICKET), 1),
        (TlsConfig(version=TlsVersion.TLS_1_2, resumption=Resumption.SESSION_ID), 1),
    ],
)
def test_handshake_round_trips(config: TlsConfig, round_trips: int) -> None:
    """TLS 1.3 (full or resumed) and 1.2 resumption take 1 RTT after TCP, a full 1.2 takes 2."""
    tls = session(config)
    tls.run()
    assert tls.tcp.established_at_s == pytest.approx(TCP_DONE)
    assert tls.handshake_started_at_s == pytest.approx(TCP_DONE)
    assert tls.handshake_done_at_s == pytest.approx(TCP_DONE + round_trips * RTT)
    assert tls.handshake_s == pytest.approx(round_trips * RTT)
    awaited = [f for f in tls.flights if f.flight.awaited]
    assert len(awaited) == 2 * round_trips + (1 if round_trips == 1 else 0)


def test_request_written_early_waits_for_the_handshake() -> None:
    """A REGISTER written at 0 goes when TLS 1.3 is ready (2 RTT) and arrives D later."""
    tls = session(TlsConfig())
    tls.send(0.0, UPLINK, 700, label="REGISTER")
    tls.run()
    (delivery,) = tls.deliveries
    assert delivery.sent_at_s == 0.0
    assert delivery.delivered_at_s == pytest.approx(TCP_DONE + RTT + D)
    assert not delivery.early_data


def test_early_data_travels_with_the_client_hello() -> None:
    """With TLS 1.3 0-RTT the INVITE goes behind the ClientHello: it arrives 1 RTT sooner."""
    config = TlsConfig(resumption=Resumption.TICKET, early_data=True)
    answers: list[TlsDelivery] = []

    def answer(tls: TlsConnection, delivery: TlsDelivery) -> None:
        if delivery.direction == UPLINK and delivery.delivered_at_s is not None:
            tls.send(delivery.delivered_at_s, DOWNLINK, 400, label="100 Trying")
        else:
            answers.append(delivery)

    tls = TlsConnection(TcpConnection(ScriptedChannel(D, D)), config, on_deliver=answer)
    tls.send(0.0, UPLINK, 1000, label="INVITE")
    tls.connect(0.0)
    tls.run()
    invite = tls.deliveries[0]
    assert invite.early_data
    assert invite.delivered_at_s == pytest.approx(TCP_DONE + D)
    # The core has sent its Finished when the INVITE arrives: its answer goes at once.
    assert answers[0].delivered_at_s == pytest.approx(TCP_DONE + RTT)


def test_lost_server_flight_costs_the_core_rto() -> None:
    """The core's first flight lost: resent after its 1 s RTO, the handshake ends 1 s later."""
    tls = session(TlsConfig(), lost=(5,))
    tls.run()
    # The core's RTO after its 100 ms SYN-ACK sample is max(1 s, 0.1 + 4 * 0.05) = 1 s.
    assert tls.handshake_done_at_s == pytest.approx(TCP_DONE + D + 1.0 + D)
    server_flight = next(f for f in tls.flights if f.flight.direction == DOWNLINK)
    assert server_flight.retransmissions == 1


@pytest.mark.parametrize("version", [TlsVersion.TLS_1_2, TlsVersion.TLS_1_3])
def test_application_message_carries_record_overhead(version: TlsVersion) -> None:
    """A message's bytes on TCP are its plaintext plus one record's header, tag (and type)."""
    config = TlsConfig(version=version)
    tls = session(config)
    tls.send(0.0, UPLINK, 1000, label="INVITE")
    tls.run()
    if version is TlsVersion.TLS_1_3:
        per_record = record_overhead_bytes(RecordLayer())  # 5 header + 1 type + 16 tag
    else:
        per_record = 5 + 8 + 16  # header, GCM explicit nonce (RFC 5288), tag
    (delivery,) = tls.deliveries
    assert delivery.wire_bytes == 1000 + per_record
    last_uplink = [
        r for r in tls.tcp.timeline if r.direction == UPLINK and r.kind is SegmentKind.DATA
    ][-1]
    assert last_uplink.length == 1000 + per_record
    # Past 2^14 bytes of plaintext a message takes two records.
    assert application_wire_bytes(20_000, config) == 20_000 + 2 * per_record


def test_flights_add_up_to_the_measured_handshake() -> None:
    """TLS 1.3 with an EC leaf: the client writes 401 bytes and reads 826 (OpenSSL printed 825)."""
    flights = handshake_flights(TlsConfig())
    awaited = [f for f in flights if f.awaited]
    written = sum(f.size_bytes for f in awaited if f.direction == UPLINK)
    read = sum(f.size_bytes for f in awaited if f.direction == DOWNLINK)
    assert written == 401
    assert read == pytest.approx(825, abs=1)


def test_bigger_chain_means_a_bigger_server_flight() -> None:
    """An RSA-2048 chain of two makes the core's first flight the largest of the four chains."""
    sizes = {
        chain: handshake_flights(TlsConfig(chain=chain))[1].size_bytes for chain in CertificateChain
    }
    assert max(sizes, key=sizes.__getitem__) is CertificateChain.RSA_2048_WITH_CA
    assert sizes[CertificateChain.ECDSA_P256] < sizes[CertificateChain.ECDSA_P256_WITH_CA]


def test_failed_tcp_fails_the_queued_messages() -> None:
    """No SYN-ACK ever: the TCP connect gives up and the queued REGISTER is reported lost."""
    tls = session(TlsConfig(), lost=tuple(range(20)))
    tls.send(0.0, UPLINK, 700, label="REGISTER")
    tls.run()
    assert tls.handshake_done_at_s is None
    (delivery,) = tls.deliveries
    assert not delivery.delivered


def test_config_refuses_impossible_combinations() -> None:
    """0-RTT without a TLS 1.3 ticket, or TLS 1.3 with a session ID, is refused."""
    with pytest.raises(ValueError, match="early data"):
        TlsConfig(version=TlsVersion.TLS_1_2, resumption=Resumption.TICKET, early_data=True)
    with pytest.raises(ValueError, match="session ID"):
        TlsConfig(version=TlsVersion.TLS_1_3, resumption=Resumption.SESSION_ID)
