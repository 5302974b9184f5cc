"""RFC 3263 server location, the stub resolver's retries and cache, and Happy Eyeballs.

DNS messages cross a scripted channel with a one-way delay D = 50 ms each way, so a query
costs RTT = 100 ms; the resolver answers at once. Channel messages are numbered in the
order they are sent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest

from voipbed.models.dns_lookup import (
    Address,
    ConnectAttempt,
    Connectionless,
    Families,
    HappyEyeballsConfig,
    ResolverConfig,
    connect_host,
    locate_sip_server,
    udp_connector,
)
from voipbed.models.dns_records import (
    DnsCache,
    RecordSet,
    RecordType,
    SipTransport,
    Srv,
    name_bytes,
    query_bytes,
    response_bytes,
    sip_zone,
)
from voipbed.models.message_channel import ScriptedChannel
from voipbed.models.overhead import IpVersion
from voipbed.models.tcp_conn import TcpConnection

D = 0.05
RTT = 2 * D
DOMAIN = "example.com"
HOST = "sip.example.com"
V4_ONLY = HappyEyeballsConfig(families=Families.IPV4)


@dataclass
class LateChannel:
    """A scripted channel that delivers chosen messages ``extra`` seconds later."""

    base: ScriptedChannel
    extra: dict[int, float] = field(default_factory=dict)

    def carry(self, sent_at: float, size_bytes: int, direction: int) -> float | None:
        """The base channel's arrival, later for the messages listed in ``extra``."""
        number = len(self.base.log)
        arrival = self.base.carry(sent_at, size_bytes, direction)
        return None if arrival is None else arrival + self.extra.get(number, 0.0)


def test_query_and_answer_sizes_follow_rfc_1035() -> None:
    """Header 12 + name in labels + type and class; each answer adds 12 bytes and its data."""
    host_name = (3 + 1) + (7 + 1) + (3 + 1) + 1  # sip, example, com, root
    assert name_bytes(HOST) == host_name
    assert query_bytes(HOST) == 12 + host_name + 4
    assert query_bytes(HOST, edns0=True) == 12 + host_name + 4 + 11
    two_a = RecordSet(RecordType.A, ("192.0.2.1", "192.0.2.2"), 60)
    assert response_bytes(HOST, two_a) == 12 + host_name + 4 + 2 * (12 + 4)
    srv = RecordSet(RecordType.SRV, (Srv(0, 1, 5061, HOST),), 60)
    assert response_bytes("_sips._tcp.example.com", srv) == (
        query_bytes("_sips._tcp.example.com") + 12 + 6 + host_name
    )


def test_naptr_srv_a_takes_three_round_trips_and_none_cached() -> None:
    """NAPTR, SRV and A in turn cost 3 RTT; the same lookup from the cache costs nothing."""
    cache = DnsCache()
    channel = ScriptedChannel(D, D)
    zone = sip_zone(DOMAIN)
    first = locate_sip_server(DOMAIN, channel=channel, zone=zone, cache=cache, eyeballs=V4_ONLY)
    assert first.dns_s == pytest.approx(3 * RTT)
    assert [q.rtype for q in first.queries] == [RecordType.NAPTR, RecordType.SRV, RecordType.A]
    assert (first.transport, first.target, first.port) == (SipTransport.TLS, HOST, 5061)
    assert first.family is IpVersion.V4
    assert len(channel.log) == 6
    # The UDP-style connector is ready at once: nothing is spent connecting.
    assert first.connect_s == 0.0
    again = locate_sip_server(
        DOMAIN, channel=channel, zone=zone, cache=cache, eyeballs=V4_ONLY, started_at_s=600.0
    )
    assert again.dns_s == 0.0
    assert len(channel.log) == 6
    assert all(q.cached for q in again.queries)


def test_cached_answers_expire_with_their_ttl() -> None:
    """Past the records' TTL the three round trips come back."""
    cache = DnsCache()
    zone = sip_zone(DOMAIN, ttl_s=60.0)
    channel = ScriptedChannel(D, D)
    locate_sip_server(DOMAIN, channel=channel, zone=zone, cache=cache, eyeballs=V4_ONLY)
    later = locate_sip_server(
        DOMAIN, channel=channel, zone=zone, cache=cache, eyeballs=V4_ONLY, started_at_s=61.0
    )
    assert later.dns_s == pytest.approx(3 * RTT)


def test_dual_stack_asks_aaaa_and_a_together() -> None:
    """Dual stack: AAAA then A at the same moment, still 3 RTT in all, and IPv6 wins."""
    channel = ScriptedChannel(D, D)
    outcome = locate_sip_server(DOMAIN, channel=channel, zone=sip_zone(DOMAIN))
    queries = [m for m in outcome.messages if m.direction == 0]
    assert [m.rtype for m in queries[2:]] == [RecordType.AAAA, RecordType.A]
    assert [m.sent_at_s for m in queries[2:]] == pytest.approx([2 * RTT, 2 * RTT])
    assert outcome.dns_s == pytest.approx(3 * RTT)
    assert outcome.family is IpVersion.V6


def test_lost_query_is_sent_again_after_the_timeout() -> None:
    """The NAPTR query lost: resent after the 5 s timeout, so DNS takes 5 s + 3 RTT."""
    outcome = locate_sip_server(
        DOMAIN,
        channel=ScriptedChannel(D, D, lost=(0,)),
        zone=sip_zone(DOMAIN),
        eyeballs=V4_ONLY,
    )
    naptr = [m for m in outcome.messages if m.rtype is RecordType.NAPTR and m.direction == 0]
    assert [m.sent_at_s for m in naptr] == [0.0, 5.0]
    assert outcome.dns_s == pytest.approx(5.0 + 3 * RTT)
    assert outcome.queries[0].tries == 2


def test_unanswered_query_gives_up_after_its_attempts() -> None:
    """Every query lost: two tries 5 s apart, then failure at 10 s (glibc's defaults)."""
    outcome = connect_host(
        HOST,
        5060,
        channel=ScriptedChannel(D, D, lost=range(100)),
        zone=sip_zone(DOMAIN),
        eyeballs=V4_ONLY,
    )
    assert [m.sent_at_s for m in outcome.messages] == [0.0, 5.0]
    assert not outcome.succeeded
    assert outcome.failed_at_s == pytest.approx(10.0)


def test_several_name_servers_share_the_timeout() -> None:
    """Three servers: timeouts 5, 5*2/3 and 5*4/3 s in turn, for two rounds."""
    resolver = ResolverConfig(nameservers=3)
    outcome = connect_host(
        HOST,
        5060,
        channel=ScriptedChannel(D, D, lost=range(100)),
        zone=sip_zone(DOMAIN),
        eyeballs=V4_ONLY,
        resolver=resolver,
    )
    waits = [5.0, 10 / 3, 20 / 3] * 2
    sent = [sum(waits[:i]) for i in range(6)]
    assert [m.sent_at_s for m in outcome.messages] == pytest.approx(sent)
    assert outcome.failed_at_s == pytest.approx(sum(waits))


def test_without_naptr_or_srv_the_domain_itself_is_used() -> None:
    """No NAPTR, no SRV: SRV tried per transport, then the domain's A record on port 5060, UDP."""
    zone = sip_zone("other.example", ipv6=()).with_records(
        DOMAIN, RecordSet(RecordType.A, ("192.0.2.7",), 300)
    )
    outcome = locate_sip_server(
        DOMAIN,
        channel=ScriptedChannel(D, D),
        zone=zone,
        transports=(SipTransport.TCP, SipTransport.UDP),
        eyeballs=V4_ONLY,
    )
    names = [q.name for q in outcome.queries]
    assert names == [DOMAIN, "_sip._tcp.example.com", "_sip._udp.example.com", DOMAIN]
    assert outcome.dns_s == pytest.approx(4 * RTT)
    assert (outcome.transport, outcome.port) == (SipTransport.UDP, 5060)
    assert outcome.address == Address(IpVersion.V4, "192.0.2.7", 5060)


def test_without_naptr_the_srv_of_the_preferred_transport_is_used() -> None:
    """No NAPTR: the client asks SRV for its own first choice, TCP, and connects over it."""
    outcome = locate_sip_server(
        DOMAIN,
        channel=ScriptedChannel(D, D),
        zone=sip_zone(DOMAIN, naptr=False),
        transports=(SipTransport.TCP, SipTransport.UDP),
        eyeballs=V4_ONLY,
    )
    assert outcome.queries[1].name == "_sip._tcp.example.com"
    assert (outcome.transport, outcome.port) == (SipTransport.TCP, 5060)
    assert outcome.dns_s == pytest.approx(3 * RTT)


def test_aaaa_within_the_resolution_delay_uses_ipv6() -> None:
    """The AAAA answer 30 ms after the A answer (within 50 ms): IPv6 is used, from then."""
    # Messages: 0 AAAA query, 1 A query, 2 AAAA answer (30 ms late), 3 A answer.
    channel = LateChannel(ScriptedChannel(D, D), {2: 0.03})
    outcome = connect_host(HOST, 5061, channel=channel, zone=sip_zone(DOMAIN))
    assert outcome.family is IpVersion.V6
    assert outcome.dns_done_at_s == pytest.approx(RTT + 0.03)


def test_aaaa_after_the_resolution_delay_loses_to_ipv4() -> None:
    """The AAAA answer 80 ms after the A answer: IPv4 starts when the 50 ms delay ends."""
    channel = LateChannel(ScriptedChannel(D, D), {2: 0.08})
    outcome = connect_host(HOST, 5061, channel=channel, zone=sip_zone(DOMAIN))
    assert outcome.family is IpVersion.V4
    assert outcome.dns_done_at_s == pytest.approx(RTT + 0.05)


def test_ipv6_that_does_not_answer_gives_way_to_ipv4_after_250_ms() -> None:
    """IPv6 SYNs vanish: the IPv4 attempt starts 250 ms after it and connects one RTT later."""
    channels = {
        IpVersion.V6: ScriptedChannel(D, D, lost=range(100)),
        IpVersion.V4: ScriptedChannel(D, D),
    }

    def tcp(address: Address, transport: SipTransport, at_s: float) -> TcpConnection:
        conn = TcpConnection(channels[address.family])
        conn.connect(at_s)
        return conn

    outcome = connect_host(
        HOST, 5060, channel=ScriptedChannel(D, D), zone=sip_zone(DOMAIN), connector=tcp
    )
    v6, v4 = outcome.attempts
    assert (v6.address.family, v6.started_at_s, v6.aborted) == (IpVersion.V6, RTT, True)
    assert v4.address.family is IpVersion.V4
    assert v4.started_at_s == pytest.approx(RTT + 0.25)
    assert outcome.family is IpVersion.V4
    assert outcome.connected_at_s == pytest.approx(RTT + 0.25 + RTT)
    assert outcome.connect_s == pytest.approx(0.25 + RTT)
    # The abandoned IPv6 connection sent one SYN and no more once IPv4 won.
    assert len(channels[IpVersion.V6].log) == 1
    assert isinstance(outcome.connection, TcpConnection)


@dataclass
class Refused:
    """A connection attempt refused 20 ms after it starts."""

    started_at: float
    connected_at_s: float | None = None
    failed_at_s: float | None = None

    @property
    def next_event_s(self) -> float | None:
        """The refusal, until it happened."""
        return None if self.failed_at_s is not None else self.started_at + 0.02

    def run(self, until_s: float = math.inf) -> None:
        """Fail once the refusal time is reached."""
        if until_s >= self.started_at + 0.02:
            self.failed_at_s = self.started_at + 0.02

    def abort(self, at_s: float) -> None:
        """Nothing to stop."""


def test_refused_ipv6_makes_way_for_ipv4_at_once() -> None:
    """An IPv6 attempt refused after 20 ms starts IPv4 then, not 250 ms after it."""

    def connector(address: Address, transport: SipTransport, at_s: float) -> ConnectAttempt:
        if address.family is IpVersion.V6:
            return Refused(at_s)
        return Connectionless(at_s)

    outcome = connect_host(
        HOST, 5060, channel=ScriptedChannel(D, D), zone=sip_zone(DOMAIN), connector=connector
    )
    assert outcome.family is IpVersion.V4
    assert outcome.connected_at_s == pytest.approx(RTT + 0.02)
    assert outcome.attempts[0].failed_at_s == pytest.approx(RTT + 0.02)


def test_negative_aaaa_is_cached_too() -> None:
    """A host without AAAA: the negative answer is cached, the second lookup sends nothing."""
    cache = DnsCache()
    channel = ScriptedChannel(D, D)
    zone = sip_zone(DOMAIN, ipv6=())
    first = connect_host(HOST, 5060, channel=channel, zone=zone, cache=cache)
    assert first.family is IpVersion.V4
    sent = len(channel.log)
    second = connect_host(HOST, 5060, channel=channel, zone=zone, cache=cache, started_at_s=10.0)
    assert second.dns_s == 0.0
    assert len(channel.log) == sent


def test_udp_connector_is_ready_at_once() -> None:
    """UDP has no handshake: the attempt is connected when it starts."""
    attempt = udp_connector(Address(IpVersion.V4, "192.0.2.1", 5060), SipTransport.UDP, 3.0)
    assert attempt.connected_at_s == 3.0
    assert attempt.next_event_s is None


def test_resolver_settings_are_checked() -> None:
    """A zero timeout or zero attempts is refused."""
    with pytest.raises(ValueError, match="timeout_s"):
        ResolverConfig(timeout_s=0.0)
    with pytest.raises(ValueError, match="attempts"):
        ResolverConfig(attempts=0)
    with pytest.raises(ValueError, match="10 ms"):
        HappyEyeballsConfig(connection_attempt_delay_s=0.001)


def test_late_aaaa_joins_the_attempts_after_ipv4_started() -> None:
    """AAAA 80 ms late while IPv4 goes unanswered: IPv6 starts 250 ms after IPv4 and wins."""
    channels = {
        IpVersion.V4: ScriptedChannel(D, D, lost=range(100)),
        IpVersion.V6: ScriptedChannel(D, D),
    }

    def tcp(address: Address, transport: SipTransport, at_s: float) -> TcpConnection:
        conn = TcpConnection(channels[address.family])
        conn.connect(at_s)
        return conn

    channel = LateChannel(ScriptedChannel(D, D), {2: 0.08})
    outcome = connect_host(HOST, 5060, channel=channel, zone=sip_zone(DOMAIN), connector=tcp)
    v4, v6 = outcome.attempts
    assert v4.address.family is IpVersion.V4 and v4.aborted
    assert v4.started_at_s == pytest.approx(RTT + 0.05)  # the Resolution Delay ran out
    assert v6.started_at_s == pytest.approx(RTT + 0.05 + 0.25)
    assert outcome.family is IpVersion.V6
    assert outcome.connected_at_s == pytest.approx(RTT + 0.05 + 0.25 + RTT)
