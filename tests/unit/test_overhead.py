"""Header overhead: RTP/UDP/IP, IPv6, SRTP, ROHC, LTE and Ethernet framing, RTCP, DTX, TLS."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from voipbed.models.codecs import CODECS, codec
from voipbed.models.overhead import (
    Ethernet,
    IpVersion,
    LteRadio,
    Overhead,
    RecordLayer,
    RecordProtocol,
    Rohc,
    RohcState,
    bandwidth_bps,
    bytes_on_segment,
    header_bytes,
    record_overhead_bytes,
    secured_bytes,
    wire_bytes,
    wire_bytes_per_packet,
)

ALL = sorted(CODECS)
RTP_UDP_IPV4 = 12 + 8 + 20  # RFC 3550 5.1, RFC 768, RFC 791
RTP_UDP_IPV6 = 12 + 8 + 40  # RFC 8200
UO0, UOR2, UDP_CHECKSUM = 1, 3, 2  # RFC 3095 clauses 5.7.1, 5.7.4; checksum carried inline


def payload_20ms(name: str) -> int:
    """Payload of one packet of ``name`` at 20 ms (30 ms for iLBC-30)."""
    c = codec(name)
    return c.payload_bytes(0.020 if c.allows(0.020) else c.ptimes_s[0])


@pytest.mark.parametrize("name", ["PCMU", "AMR-WB-12.65"])
@pytest.mark.parametrize("link", [None, LteRadio()], ids=["ip", "lte"])
def test_rohc_cuts_what_the_rfc_header_sizes_say(name: str, link: LteRadio | None) -> None:
    """ROHC in SO replaces 40 bytes of RTP/UDP/IPv4 with UO-0 + UDP checksum: 37 bytes less."""
    payload = payload_20ms(name)
    plain = wire_bytes_per_packet(payload, Overhead(link=link))
    rohc = Rohc()
    assert plain - wire_bytes_per_packet(payload, Overhead(rohc=rohc, link=link)) == (
        RTP_UDP_IPV4 - (UO0 + UDP_CHECKSUM)
    )
    after_loss = wire_bytes_per_packet(
        payload, Overhead(rohc=rohc, link=link), rohc_state=RohcState.FO
    )
    assert plain - after_loss == RTP_UDP_IPV4 - (UOR2 + UDP_CHECKSUM)
    no_checksum = Overhead(rohc=Rohc(ipv4_udp_checksum=False), link=link)
    assert plain - wire_bytes_per_packet(payload, no_checksum) == RTP_UDP_IPV4 - UO0
    v6_plain = wire_bytes_per_packet(payload, Overhead(ip_version=IpVersion.V6, link=link))
    v6_rohc = wire_bytes_per_packet(
        payload, Overhead(ip_version=IpVersion.V6, rohc=rohc, link=link)
    )
    assert v6_plain - v6_rohc == RTP_UDP_IPV6 - (UO0 + UDP_CHECKSUM)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("link", [None, Ethernet(), Ethernet(vlan_tag=True, physical=True)])
def test_ipv6_adds_20_bytes_over_ipv4(name: str, link: Ethernet | None) -> None:
    """Without ROHC an IPv6 packet is 20 bytes bigger than the IPv4 one, framed or not."""
    payload = payload_20ms(name)
    v4 = wire_bytes_per_packet(payload, Overhead(link=link))
    v6 = wire_bytes_per_packet(payload, Overhead(ip_version=IpVersion.V6, link=link))
    assert v6 - v4 == 20


def test_rohc_state_sizes() -> None:
    """IR 38 / 61 bytes, FO UOR-2 3, SO UO-0 1; CID, UDP checksum and random IP-ID add on top."""
    v4, v6 = IpVersion.V4, IpVersion.V6
    bare = Rohc(ipv4_udp_checksum=False)
    assert bare.header_bytes(v4, RohcState.IR) == 38
    assert bare.header_bytes(v6, RohcState.IR) == 61
    assert bare.header_bytes(v4, RohcState.FO) == 3
    assert bare.header_bytes(v4, RohcState.SO) == 1
    assert bare.header_bytes(v6, RohcState.SO) == 3  # IPv6 always carries the UDP checksum
    assert Rohc(cid_bytes=1).header_bytes(v4, RohcState.SO) == 4
    assert Rohc(ipv4_random_ip_id=True).header_bytes(v4, RohcState.SO) == 5
    assert Rohc(ipv4_random_ip_id=True).header_bytes(v6, RohcState.SO) == 3  # no IP-ID in v6
    with pytest.raises(ValueError, match="cid_bytes"):
        Rohc(cid_bytes=3)


def test_header_breakdown_moves_rtp_udp_ip_into_rohc() -> None:
    """With ROHC the RTP, UDP and IP entries are 0 and the compressed header takes their place."""
    plain = header_bytes(160, Overhead())
    assert (plain.rtp, plain.udp, plain.ip, plain.rohc, plain.srtp, plain.link) == (
        12,
        8,
        20,
        0,
        0,
        0,
    )
    compressed = header_bytes(160, Overhead(rohc=Rohc(), srtp_tag_bits=80), rohc_state=RohcState.IR)
    assert (compressed.rtp, compressed.udp, compressed.ip) == (0, 0, 0)
    assert compressed.rohc == 38 and compressed.srtp == 10
    assert compressed.total == 48


@pytest.mark.parametrize("tag_bits,added", [(80, 10), (32, 4)])
def test_srtp_tag_adds_its_bytes(tag_bits: int, added: int) -> None:
    """An 80-bit HMAC-SHA1 tag adds 10 bytes, a 32-bit one 4, an MKI its own length (RFC 3711)."""
    payload = payload_20ms("AMR-12.2")
    plain = wire_bytes_per_packet(payload, Overhead())
    assert wire_bytes_per_packet(payload, Overhead(srtp_tag_bits=tag_bits)) == plain + added
    with_mki = Overhead(srtp_tag_bits=tag_bits, srtp_mki_bytes=4)
    assert wire_bytes_per_packet(payload, with_mki) == plain + added + 4
    with pytest.raises(ValueError, match="srtp_tag_bits"):
        Overhead(srtp_tag_bits=64)


@pytest.mark.parametrize("name", ["PCMU", "AMR-WB-12.65", "OPUS-FB-32"])
def test_rtcp_share_raises_bandwidth_by_5_percent(name: str) -> None:
    """RFC 3550 6.2's default 5 % RTCP share makes a direction 1.05 times its media rate."""
    without = bandwidth_bps(codec(name), 0.020, Overhead(rtcp_share=0.0))
    assert bandwidth_bps(codec(name), 0.020, Overhead()) == pytest.approx(1.05 * without)
    with pytest.raises(ValueError, match="rtcp_share"):
        Overhead(rtcp_share=1.0)


def test_g711_bandwidths() -> None:
    """G.711 at 20 ms: 80 kbit/s of IP, 87.2 over Ethernet (218-byte frames), 84 with RTCP."""
    g711 = codec("PCMU")
    assert bandwidth_bps(g711, 0.020, Overhead(rtcp_share=0.0)) == pytest.approx(80_000)
    on_ethernet = Overhead(rtcp_share=0.0, link=Ethernet())
    assert bandwidth_bps(g711, 0.020, on_ethernet) == pytest.approx(87_200)
    assert bandwidth_bps(g711, 0.020, Overhead()) == pytest.approx(84_000)
    assert bandwidth_bps(g711, 0.010, Overhead(rtcp_share=0.0)) == pytest.approx(96_000)


def test_lte_layer_2_headers() -> None:
    """PDCP 1 + RLC UM 1 + MAC 2 bytes for a small SDU; longer SNs and a 15-bit L add bytes."""
    radio = LteRadio()
    assert radio.header_bytes(36) == 4
    assert radio.header_bytes(200) == 5  # MAC SDU of 202 bytes needs the 15-bit L field
    assert LteRadio(pdcp_sn_bits=12, rlc_um_sn_bits=10).header_bytes(36) == 6
    assert LteRadio(pdcp_sn_bits=18).header_bytes(36) == 6
    with pytest.raises(ValueError, match="pdcp_sn_bits"):
        LteRadio(pdcp_sn_bits=8)
    with pytest.raises(ValueError, match="rlc_um_sn_bits"):
        LteRadio(rlc_um_sn_bits=7)


def test_volte_packet_with_rohc_on_the_radio() -> None:
    """AMR-WB 12.65 over LTE with ROHC: 33 payload + 3 ROHC + 4 layer 2 = 40 bytes, not 77."""
    payload = payload_20ms("AMR-WB-12.65")
    assert wire_bytes_per_packet(payload, Overhead(link=LteRadio())) == 33 + 40 + 4
    assert wire_bytes_per_packet(payload, Overhead(rohc=Rohc(), link=LteRadio())) == 40


def test_ethernet_pads_small_frames_to_64_bytes() -> None:
    """A 30-byte IP packet still takes a 64-byte frame; preamble and gap add 20 on the medium."""
    assert Ethernet().header_bytes(30) == 34
    assert Ethernet().header_bytes(100) == 18
    assert Ethernet(vlan_tag=True).header_bytes(100) == 22
    assert Ethernet(physical=True).header_bytes(100) == 38


def test_dtx_saves_bandwidth_in_silence() -> None:
    """At 50 % activity AMR sends SIDs every 160 ms in silence; G.711 without DTX saves nothing."""
    amr, overhead = codec("AMR-12.2"), Overhead(rtcp_share=0.0)
    talk = bandwidth_bps(amr, 0.020, overhead)
    sid = 8 * wire_bytes_per_packet(7, overhead) / 0.160
    assert bandwidth_bps(amr, 0.020, overhead, voice_activity=0.5) == pytest.approx(
        0.5 * talk + 0.5 * sid
    )
    assert bandwidth_bps(amr, 0.020, overhead, voice_activity=0.0) == pytest.approx(sid)
    g711 = codec("PCMU")
    assert bandwidth_bps(g711, 0.020, overhead, voice_activity=0.3) == pytest.approx(
        bandwidth_bps(g711, 0.020, overhead)
    )
    assert bandwidth_bps(codec("G729A"), 0.020, overhead, voice_activity=0.0) == 0.0
    with pytest.raises(ValueError, match="voice_activity"):
        bandwidth_bps(amr, 0.020, overhead, voice_activity=1.5)


def test_bandwidth_refuses_a_fraction_of_a_frame() -> None:
    """A ptime that is not whole frames of the codec raises instead of rounding."""
    with pytest.raises(ValueError, match="whole number"):
        bandwidth_bps(codec("AMR-12.2"), 0.030, Overhead())


def test_tls_and_dtls_record_overhead() -> None:
    """TLS 1.3 adds 22 bytes a record, DTLS 1.3 22 (19 minimal), DTLS 1.2 with GCM 37."""
    assert record_overhead_bytes(RecordLayer()) == 5 + 1 + 16
    dtls13 = RecordLayer(protocol=RecordProtocol.DTLS_1_3)
    assert record_overhead_bytes(dtls13) == 1 + 2 + 2 + 1 + 16
    minimal = RecordLayer(
        protocol=RecordProtocol.DTLS_1_3, dtls_sequence_bytes=1, dtls_length_field=False
    )
    assert record_overhead_bytes(minimal) == 1 + 1 + 1 + 16
    assert record_overhead_bytes(RecordLayer(protocol=RecordProtocol.DTLS_1_2)) == 13 + 8 + 16
    assert record_overhead_bytes(RecordLayer(aead_tag_bytes=8)) == 14


def test_long_signalling_messages_span_records() -> None:
    """A 20 000-byte message needs two TLS 1.3 records of at most 2^14 bytes; an empty one, one."""
    tls = RecordLayer()
    assert secured_bytes(1200, tls) == 1222
    assert secured_bytes(20_000, tls) == 20_000 + 2 * 22
    assert secured_bytes(0, tls) == 22
    with pytest.raises(ValueError):
        secured_bytes(-1, tls)


def test_negative_payload_rejected() -> None:
    """A negative payload size is an error, in the plain and the configured sizes."""
    with pytest.raises(ValueError):
        wire_bytes(-1)
    with pytest.raises(ValueError):
        header_bytes(-1, Overhead(link=LteRadio()))


overheads = st.builds(
    Overhead,
    ip_version=st.sampled_from(list(IpVersion)),
    srtp_tag_bits=st.sampled_from([0, 32, 80]),
    srtp_mki_bytes=st.integers(min_value=0, max_value=4),
    rtcp_share=st.floats(min_value=0.0, max_value=0.2),
    rohc=st.none()
    | st.builds(
        Rohc,
        cid_bytes=st.integers(min_value=0, max_value=2),
        ipv4_udp_checksum=st.booleans(),
        ipv4_random_ip_id=st.booleans(),
    ),
    link=st.none()
    | st.builds(LteRadio, pdcp_sn_bits=st.sampled_from([7, 12, 15, 18]))
    | st.builds(Ethernet, vlan_tag=st.booleans(), physical=st.booleans()),
)


@given(
    overhead=overheads,
    state=st.sampled_from(list(RohcState)),
    a=st.integers(min_value=0, max_value=2000),
    b=st.integers(min_value=0, max_value=2000),
)
def test_wire_bytes_monotone_and_never_below_payload(
    overhead: Overhead, state: RohcState, a: int, b: int
) -> None:
    """More payload never gives fewer wire bytes, and the wire is never smaller than the payload."""
    small, large = sorted((a, b))
    wire_small = wire_bytes_per_packet(small, overhead, rohc_state=state)
    wire_large = wire_bytes_per_packet(large, overhead, rohc_state=state)
    assert small <= wire_small <= wire_large
    assert wire_large >= large


@given(overhead=overheads, name=st.sampled_from(ALL))
def test_rohc_never_costs_more_in_steady_state(overhead: Overhead, name: str) -> None:
    """In SO a ROHC header is smaller than the RTP/UDP/IP headers it replaces."""
    payload = payload_20ms(name)
    plain = Overhead(
        ip_version=overhead.ip_version,
        srtp_tag_bits=overhead.srtp_tag_bits,
        srtp_mki_bytes=overhead.srtp_mki_bytes,
        link=overhead.link,
    )
    compressed = Overhead(
        ip_version=plain.ip_version,
        srtp_tag_bits=plain.srtp_tag_bits,
        srtp_mki_bytes=plain.srtp_mki_bytes,
        link=plain.link,
        rohc=overhead.rohc or Rohc(),
    )
    assert wire_bytes_per_packet(payload, compressed) < wire_bytes_per_packet(payload, plain)


def test_bytes_on_segment_swaps_end_to_end_headers_for_the_segments() -> None:
    """IP packets of 200 B (G.711 over IPv4) become 168 B with ROHC and LTE layer 2."""
    volte = Overhead(rohc=Rohc(), link=LteRadio())
    ip = np.array([200, 200, 60], dtype=np.int64)
    carried = bytes_on_segment(ip, Overhead(), volte)
    assert carried.tolist() == [
        wire_bytes_per_packet(160, volte),
        wire_bytes_per_packet(160, volte),
        wire_bytes_per_packet(20, volte),
    ]
    assert carried[0] == 160 + 3 + 1 + 1 + 3  # UO-0 + checksum, PDCP, RLC, MAC (TS 36.321)
    assert bytes_on_segment(ip, Overhead(), Overhead()).tolist() == ip.tolist()


def test_bytes_on_segment_wants_ip_packets_end_to_end() -> None:
    """End-to-end sizes are IP packets: a link layer there is a mistake."""
    with pytest.raises(ValueError, match="end_to_end describes IP packets"):
        bytes_on_segment(np.array([200]), Overhead(link=Ethernet()), Overhead())
