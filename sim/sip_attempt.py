"""One attempt at a call's INVITE over one transport: its flow, its connection, its sizes.

An attempt over UDP sends each SIP message as a datagram on the UE's channel; over TCP
or TLS it writes them to a connection (``models.tcp_conn``, ``models.tls_handshake``)
opened when the attempt starts, or, for the first attempt with ``reuse_connection``,
opened before the dial (an RFC 5626 flow kept from the registration): its handshakes
ran over the path's base delays without loss, ending before the dial, so its RTO has a
sample of the base round trip, and the call's messages then take the path as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from voipbed.models.message_channel import MessageChannel, ScriptedChannel
from voipbed.models.overhead import UDP_HEADER_BYTES
from voipbed.models.sip_driver import FlowRun, StreamTransport
from voipbed.models.sip_flows import CallConfig, OutgoingCall
from voipbed.models.sip_messages import SipMessageKind, SipProfile, sip_message_sizes
from voipbed.models.sip_messages import SipTransport as MessageTransport
from voipbed.models.tcp_conn import TcpConnection
from voipbed.models.tcp_endpoint import TcpConfig
from voipbed.models.tls_flights import TlsConfig, TlsVersion
from voipbed.models.tls_handshake import TlsConnection
from voipbed.scenario import Scenario, SipTransport
from voipbed.sim.message_path import MessagePath

__all__ = ["SipAttempt", "connection", "handshakes", "start_attempt"]

_KEPT_BEFORE_S = 60.0  # a kept connection opened this long before the dial


@dataclass(frozen=True)
class SipAttempt:
    """An attempt under way: its transport, start, flow and connection (None over UDP)."""

    transport: SipTransport
    start_s: float
    flow: OutgoingCall
    stream: StreamTransport | None
    run: FlowRun


def start_attempt(
    scenario: Scenario,
    path: MessagePath,
    ue: int,
    transport: SipTransport,
    start_s: float,
    config: CallConfig,
    *,
    reuse: bool,
    label: str,
    stream: StreamTransport | None = None,
) -> SipAttempt:
    """UE ``ue``'s INVITE over ``transport`` from ``start_s`` (branches named after
    ``label``); over TCP or TLS on ``stream`` if given, else on a connection of its own."""
    overhead = scenario.overhead()
    flow = OutgoingCall(
        config,
        sizes=_sizes(scenario, transport),
        timers=scenario.signalling.timers.to_model(),
        reliable=transport is not SipTransport.UDP,
        prefix=label,
    )
    if stream is None:
        stream = _stream(scenario, path, ue, start_s, transport, reuse)
    channel = path.channel(ue, overhead.ip_version.header_bytes + UDP_HEADER_BYTES)
    run = FlowRun(flow, channel, start_s, stream=stream)
    return SipAttempt(transport, start_s, flow, stream, run)


def _sizes(scenario: Scenario, transport: SipTransport) -> Mapping[SipMessageKind, int]:
    """The SIP messages' sizes over ``transport``."""
    overhead = scenario.overhead()
    profile = SipProfile(
        transport=MessageTransport(transport.value),
        ip_version=int(overhead.ip_version),
        codec=scenario.calls.codec,
        ptime_ms=round(scenario.calls.ptime_s * 1000),
        amr_format=scenario.calls.amr_payload_format,
    )
    return sip_message_sizes(profile)


def _stream(
    scenario: Scenario,
    path: MessagePath,
    ue: int,
    start_s: float,
    transport: SipTransport,
    reuse: bool,
) -> StreamTransport | None:
    """The attempt's TCP (or TLS) connection over the path; None over UDP."""
    if transport is SipTransport.UDP:
        return None
    channel = path.channel(ue, 0)  # TCP counts its own headers
    one_way = sum(segment.one_way_delay_s for segment in scenario.path)
    opened_s = start_s
    if reuse:  # long enough before for 8 round trips of handshakes
        opened_s -= _KEPT_BEFORE_S + 16 * one_way
    stream = connection(scenario, channel, opened_s, transport)
    tcp, tls = stream.tcp, stream.tls
    if reuse:
        tcp.channel = ScriptedChannel(one_way, one_way)
        stream.open(opened_s)
        while not _ready(tcp, tls):
            tcp.step()
        tcp.channel = channel
    return stream


def connection(
    scenario: Scenario, channel: MessageChannel, start_s: float, transport: SipTransport
) -> StreamTransport:
    """A new TCP connection (TLS on it for ``tls``) over ``channel``, whose clock starts at
    ``start_s``; it opens with the first flow that uses it."""
    config = TcpConfig(ip_version=scenario.overhead().ip_version)
    tcp = TcpConnection(channel, config, keep_timeline=False, start_s=start_s)
    tls = None
    if transport is SipTransport.TLS:
        version = TlsVersion(scenario.signalling.tls_version)
        tls = TlsConnection(tcp, TlsConfig(version=version))
    return StreamTransport(tcp, tls)


def _ready(tcp: TcpConnection, tls: TlsConnection | None) -> bool:
    """Whether the connection (and its TLS session) is open at both ends."""
    if tls is not None:
        return tls.handshake_done_at_s is not None and tls.server_ready_at_s is not None
    return tcp.established_at_s is not None and tcp.server_established_at_s is not None


def handshakes(attempt: SipAttempt) -> tuple[float | None, float | None]:
    """How long the attempt's TCP and TLS handshakes took (None: none, done before the
    attempt, or never done)."""
    stream = attempt.stream
    if stream is None or (stream.tcp.connect_started_at_s or 0.0) < attempt.start_s:
        return None, None
    tcp = stream.tcp
    tcp_s = None
    if tcp.established_at_s is not None and tcp.connect_started_at_s is not None:
        tcp_s = tcp.established_at_s - tcp.connect_started_at_s
    tls_s = None if stream.tls is None else stream.tls.handshake_s
    return tcp_s, tls_s
