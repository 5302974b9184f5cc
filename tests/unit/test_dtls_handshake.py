"""The DTLS-SRTP handshake model: flights, the early ClientHello, RFC 6347's timer."""

from __future__ import annotations

import itertools

import pytest

from voipbed.models.dtls_handshake import (
    CERTIFICATE_DER_BYTES,
    DtlsConfig,
    baresip_flight_bytes,
    dtls_handshake,
)
from voipbed.models.message_channel import DOWNLINK, UPLINK, ScriptedChannel

ONE_WAY_S = 0.04


def test_without_loss_the_server_is_keyed_after_three_and_the_client_four_one_way_delays() -> None:
    """A ClientHello taken at once keys the server 1.5 and the client 2 round trips later."""
    channel = ScriptedChannel(ONE_WAY_S, ONE_WAY_S)
    result = dtls_handshake(channel, client_start_s=2.0, server_ready_s=0.0, until_s=60.0)
    assert result.server_secure_s == pytest.approx(2.0 + 3 * ONE_WAY_S)
    assert result.client_secure_s == pytest.approx(2.0 + 4 * ONE_WAY_S)
    assert [f.number for f in result.flights] == [1, 2, 3, 4]
    assert [f.direction for f in result.flights] == [DOWNLINK, UPLINK, DOWNLINK, UPLINK]
    assert result.retransmissions == 0


def test_a_client_hello_before_the_answer_is_dropped_and_resent_after_one_second() -> None:
    """The offerer drops a ClientHello that arrives with the 200 OK; the handshake waits 1 s."""
    channel = ScriptedChannel(ONE_WAY_S, ONE_WAY_S)
    result = dtls_handshake(channel, client_start_s=0.0, server_ready_s=ONE_WAY_S, until_s=60.0)
    first, again = result.flights[:2]
    assert first.dropped and not again.dropped
    assert again.sent_s == pytest.approx(1.0)
    assert result.server_secure_s == pytest.approx(1.0 + 3 * ONE_WAY_S)
    assert result.client_secure_s == pytest.approx(1.0 + 4 * ONE_WAY_S)


def test_lost_client_hellos_are_resent_at_one_two_and_four_second_intervals() -> None:
    """Each lost ClientHello doubles the timer: copies at 1, 3 and 7 s (RFC 6347 4.2.4.1)."""
    channel = ScriptedChannel(ONE_WAY_S, ONE_WAY_S, lost={0, 1, 2})
    result = dtls_handshake(channel, client_start_s=0.0, server_ready_s=-1.0, until_s=60.0)
    hellos = [f.sent_s for f in result.flights if f.number == 1]
    assert hellos == pytest.approx([0.0, 1.0, 3.0, 7.0])
    assert result.server_secure_s == pytest.approx(7.0 + 3 * ONE_WAY_S)


def test_a_lost_final_flight_is_resent_when_the_client_resends_its_flight() -> None:
    """Flight 4 lost: the client's timer resends flight 3 and the server answers it again."""
    channel = ScriptedChannel(ONE_WAY_S, ONE_WAY_S, lost={3})
    result = dtls_handshake(channel, client_start_s=0.0, server_ready_s=-1.0, until_s=60.0)
    assert result.server_secure_s == pytest.approx(3 * ONE_WAY_S)
    resent_at = 2 * ONE_WAY_S + 1.0  # flight 3's timer
    assert result.client_secure_s == pytest.approx(resent_at + 2 * ONE_WAY_S)
    assert [f.number for f in result.flights if f.retransmission] == [3, 4]


def test_the_timer_stops_doubling_at_its_maximum() -> None:
    """With every message lost, the gaps between copies double up to the 60 s maximum."""
    channel = ScriptedChannel(ONE_WAY_S, ONE_WAY_S, lost=range(100))
    result = dtls_handshake(channel, client_start_s=0.0, server_ready_s=0.0, until_s=300.0)
    sent = [f.sent_s for f in result.flights]
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert gaps[:6] == pytest.approx([1.0, 2.0, 4.0, 8.0, 16.0, 32.0])
    assert max(gaps) == pytest.approx(DtlsConfig().max_timeout_s)
    assert result.server_secure_s is None and result.client_secure_s is None


def test_an_endless_deadline_is_refused() -> None:
    """A handshake needs a finite deadline."""
    with pytest.raises(ValueError, match="finite"):
        dtls_handshake(
            ScriptedChannel(0.0, 0.0), client_start_s=0.0, server_ready_s=0.0, until_s=float("inf")
        )


def test_each_flight_is_sent_with_its_configured_size() -> None:
    """Every transmission of flight n carries the config's n-th size."""
    config = DtlsConfig(flight_bytes=(101, 202, 303, 404))
    channel = ScriptedChannel(ONE_WAY_S, ONE_WAY_S, lost={1})
    result = dtls_handshake(
        channel, client_start_s=0.0, server_ready_s=-1.0, until_s=60.0, config=config
    )
    assert result.retransmissions > 0
    for flight in result.flights:
        assert flight.size_bytes == config.flight_bytes[flight.number - 1]
    assert [size for _, _, size, _, _ in channel.log] == [f.size_bytes for f in result.flights]


def test_the_default_sizes_are_baresips_with_its_usual_certificates() -> None:
    """The default flights are baresip's with two certificates of the common DER length."""
    assert DtlsConfig().flight_bytes == baresip_flight_bytes()
    assert baresip_flight_bytes() == baresip_flight_bytes(
        CERTIFICATE_DER_BYTES, CERTIFICATE_DER_BYTES
    )


def test_the_server_certificate_sizes_flight_two_and_the_client_certificate_flight_three() -> None:
    """A certificate a byte longer makes its sender's certificate flight a byte longer."""
    base = baresip_flight_bytes()
    longer_server = baresip_flight_bytes(CERTIFICATE_DER_BYTES + 1, CERTIFICATE_DER_BYTES)
    longer_client = baresip_flight_bytes(CERTIFICATE_DER_BYTES, CERTIFICATE_DER_BYTES + 1)
    assert [b - a for a, b in zip(base, longer_server, strict=True)] == [0, 1, 0, 0]
    assert [b - a for a, b in zip(base, longer_client, strict=True)] == [0, 0, 1, 0]


def test_every_flight_fits_one_datagram_of_a_1500_byte_mtu_over_ipv6() -> None:
    """No flight needs fragmenting: each fits 1500 bytes with IPv6 and UDP headers."""
    assert max(baresip_flight_bytes()) + 40 + 8 <= 1500
    assert min(baresip_flight_bytes()) > 0


def test_a_certificate_without_bytes_is_refused() -> None:
    """Certificate sizes must be positive."""
    with pytest.raises(ValueError, match="positive"):
        baresip_flight_bytes(0, CERTIFICATE_DER_BYTES)
