"""SIP message templates: well-formed, sized by their bytes, varying as the profile says."""

from __future__ import annotations

import re

import pytest

from voipbed.models.codecs import AmrPayloadFormat
from voipbed.models.sip_messages import (
    SipMessageKind,
    SipProfile,
    SipTransport,
    sdp_format_lines,
    sip_message_size,
    sip_message_sizes,
    sip_message_text,
    stun_message_size,
)

K = SipMessageKind
STUN = {K.STUN_REQUEST, K.STUN_RESPONSE}
KEEPALIVE = {K.CRLF_PING, K.CRLF_PONG}
SIP_KINDS = [kind for kind in SipMessageKind if kind not in STUN | KEEPALIVE]


def split(text: str) -> tuple[list[str], str]:
    head, body = text.split("\r\n\r\n", 1)
    return head.split("\r\n"), body


def header(lines: list[str], name: str) -> list[str]:
    return [line.split(":", 1)[1].strip() for line in lines if line.startswith(f"{name}:")]


@pytest.mark.parametrize("kind", SIP_KINDS)
@pytest.mark.parametrize(
    "profile",
    [SipProfile(), SipProfile(transport=SipTransport.TLS, ip_version=6, outbound=True)],
)
def test_size_is_the_rendered_byte_count(kind: SipMessageKind, profile: SipProfile) -> None:
    """Each size is the UTF-8 length of the rendered message, and Content-Length is the body's."""
    text = sip_message_text(kind, profile)
    lines, body = split(text)
    assert sip_message_size(kind, profile) == len(text.encode())
    assert header(lines, "Content-Length") == [str(len(body.encode()))]
    assert re.fullmatch(r"(SIP/2\.0 \d{3} .+|[A-Z]+ sips?:\S+ SIP/2\.0)", lines[0])
    assert all(re.fullmatch(r"[A-Za-z-]+:( .*)?", line) for line in lines[1:])
    assert header(lines, "Call-ID") and header(lines, "CSeq") and header(lines, "Via")


def test_invite_carries_an_sdp_offer_with_the_codec() -> None:
    """The INVITE has one audio m= line with the codec's payload type and rtpmap line."""
    lines, body = split(sip_message_text(K.INVITE_UP, SipProfile(codec="AMR-WB-12.65")))
    sdp = body.split("\r\n")
    assert header(lines, "Content-Type") == ["application/sdp"]
    assert [line for line in sdp if line.startswith("m=")] == ["m=audio 10046 RTP/AVP 98"]
    assert "a=rtpmap:98 AMR-WB/16000" in sdp and "a=fmtp:98 mode-set=2" in sdp
    assert sdp[0] == "v=0" and "a=ptime:20" in sdp


def test_an_octet_aligned_amr_offer_says_so_and_grows_the_invite() -> None:
    """Octet-aligned AMR offers ``octet-align=1`` in its fmtp (RFC 4867 8.1), 14 bytes more
    in the INVITE than the bandwidth-efficient offer, which says nothing."""
    aligned = SipProfile(codec="AMR-WB-12.65", amr_format=AmrPayloadFormat.OCTET_ALIGNED)
    _, body = split(sip_message_text(K.INVITE_UP, aligned))
    assert "a=fmtp:98 mode-set=2;octet-align=1" in body.split("\r\n")
    plain = SipProfile(codec="AMR-WB-12.65")
    grown = sip_message_size(K.INVITE_UP, aligned) - sip_message_size(K.INVITE_UP, plain)
    assert grown == len(";octet-align=1")
    pcmu = SipProfile(amr_format=AmrPayloadFormat.OCTET_ALIGNED)
    assert sip_message_size(K.INVITE_UP, pcmu) == sip_message_size(K.INVITE_UP, SipProfile())


@pytest.mark.parametrize(
    ("name", "rtpmap"),
    [
        ("PCMU", "a=rtpmap:0 PCMU/8000"),
        ("G722", "a=rtpmap:9 G722/8000"),
        ("OPUS-WB-16", "a=rtpmap:111 opus/48000/2"),
        ("AMR-12.2", "a=rtpmap:97 AMR/8000"),
        ("EVS-WB-13.2", "a=rtpmap:100 EVS/16000"),
    ],
)
def test_rtpmap_lines_name_the_codec(name: str, rtpmap: str) -> None:
    """Encoding names and clocks as RFC 3551, 4867, 7587 and TS 26.445 register them."""
    assert sdp_format_lines(name)[1][0] == rtpmap


def phone_address(kind: SipMessageKind, profile: SipProfile) -> str:
    via = header(split(sip_message_text(kind, profile))[0], "Via")[0]
    host = via.split()[1].split(";")[0].rsplit(":", 1)[0]
    return host.strip("[]")


@pytest.mark.parametrize(
    ("kind", "hostports", "bare"),
    [(K.INVITE_UP, 2, 2), (K.REGISTER, 2, 0)],  # Via, Contact; SDP o= and c=
)
def test_ipv6_grows_messages_by_the_address_lengths(
    kind: SipMessageKind, hostports: int, bare: int
) -> None:
    """IPv6 adds (address length difference) per address, plus 2 brackets where a port follows."""
    v4, v6 = SipProfile(ip_version=4), SipProfile(ip_version=6)
    grow = len(phone_address(kind, v6)) - len(phone_address(kind, v4))
    expected = hostports * (grow + 2) + bare * grow
    assert grow > 0
    assert sip_message_size(kind, v6) - sip_message_size(kind, v4) == expected


def test_ipv6_grows_the_answer() -> None:
    """The 200 OK with SDP is larger over IPv6 (Via, received=, Contact, SDP)."""
    v4, v6 = SipProfile(ip_version=4), SipProfile(ip_version=6)
    assert sip_message_size(K.OK_INVITE_DOWN, v6) > sip_message_size(K.OK_INVITE_DOWN, v4)


@pytest.mark.parametrize("transport", [SipTransport.TCP, SipTransport.TLS])
def test_stream_transports_add_the_transport_parameter(transport: SipTransport) -> None:
    """Over TCP or TLS the INVITE's Contact and From gain ";transport=tcp|tls" (libre)."""
    udp = sip_message_size(K.INVITE_UP, SipProfile())
    other = sip_message_size(K.INVITE_UP, SipProfile(transport=transport))
    assert other - udp == 2 * len(f";transport={transport.value}")


def test_tls_answer_carries_a_double_record_route() -> None:
    """With the far leg on UDP, the 200 over TLS carries two r2=on Record-Routes, one on 5061."""
    lines, _ = split(sip_message_text(K.OK_INVITE_DOWN, SipProfile(transport=SipTransport.TLS)))
    routes = header(lines, "Record-Route")
    assert len(routes) == 2 and all("r2=on" in route for route in routes)
    assert ":5061;transport=tls" in routes[0]
    udp_lines, _ = split(sip_message_text(K.OK_INVITE_DOWN, SipProfile()))
    assert len(header(udp_lines, "Record-Route")) == 1
    tls = sip_message_size(K.OK_INVITE_DOWN, SipProfile(transport=SipTransport.TLS))
    assert tls > sip_message_size(K.OK_INVITE_DOWN, SipProfile())


def test_outbound_adds_rfc5626_parameters() -> None:
    """Outbound: +sip.instance and reg-id on REGISTER, ;ob on the INVITE's Contact,
    Require: outbound and Flow-Timer from the registrar."""
    on = SipProfile(outbound=True)
    register, _ = split(sip_message_text(K.REGISTER, on))
    assert '+sip.instance="<urn:uuid:' in header(register, "Contact")[0]
    assert header(register, "Contact")[0].endswith(";reg-id=1")
    assert ";ob>" in header(split(sip_message_text(K.INVITE_UP, on))[0], "Contact")[0]
    ok, _ = split(sip_message_text(K.OK_REGISTER, on))
    assert header(ok, "Require") == ["outbound"] and header(ok, "Flow-Timer")
    assert sip_message_size(K.REGISTER, on) > sip_message_size(K.REGISTER, SipProfile())


def test_digest_challenge_and_answer() -> None:
    """The 401 carries a digest challenge; the second REGISTER an Authorization with its nonce."""
    challenge, _ = split(sip_message_text(K.UNAUTHORIZED, SipProfile()))
    nonce = re.search(r'nonce="([^"]+)"', header(challenge, "WWW-Authenticate")[0])
    assert challenge[0] == "SIP/2.0 401 Unauthorized" and nonce is not None
    answer, _ = split(sip_message_text(K.REGISTER_AUTH, SipProfile()))
    assert f'nonce="{nonce.group(1)}"' in header(answer, "Authorization")[0]
    assert sip_message_size(K.REGISTER_AUTH) > sip_message_size(K.REGISTER)


def test_nat_adds_received_to_the_phones_via() -> None:
    """Behind a NAT the core's responses carry received=; without one, only rport's value."""
    natted = header(split(sip_message_text(K.TRYING_DOWN, SipProfile()))[0], "Via")[0]
    direct = SipProfile(behind_nat=False)
    plain = header(split(sip_message_text(K.TRYING_DOWN, direct))[0], "Via")[0]
    assert ";received=" in natted and ";rport=" in natted
    assert ";received=" not in plain and ";rport=5060" in plain


def test_keepalive_sizes() -> None:
    """CRLFCRLF ping 4 bytes, CRLF pong 2 (RFC 5626 3.5.1); STUN: 20-byte header, libre's
    SOFTWARE attribute (27 bytes padded to 28) on the request, XOR-MAPPED-ADDRESS on the
    response (8 bytes IPv4, 20 IPv6)."""
    assert sip_message_size(K.CRLF_PING) == 4 and sip_message_size(K.CRLF_PONG) == 2
    assert sip_message_text(K.CRLF_PING, SipProfile()) == "\r\n\r\n"
    assert stun_message_size(K.STUN_REQUEST, SipProfile()) == 20 + 4 + 28
    assert sip_message_size(K.STUN_RESPONSE, SipProfile(ip_version=4)) == 20 + 4 + 8
    assert sip_message_size(K.STUN_RESPONSE, SipProfile(ip_version=6)) == 20 + 4 + 20


def test_sizes_table_covers_every_kind() -> None:
    """The table has a positive size for every kind and is cached per profile."""
    sizes = sip_message_sizes(SipProfile())
    assert set(sizes) == set(SipMessageKind) and min(sizes.values()) > 0
    assert sip_message_sizes(SipProfile()) is sizes


@pytest.mark.parametrize(
    "kwargs",
    [{"ip_version": 5}, {"codec": "NOPE"}, {"reject_status": 200}, {"ptime_ms": 0}],
)
def test_bad_profiles_are_refused(kwargs: dict[str, object]) -> None:
    """An unknown IP version or codec, a non-error reject status or a zero ptime raise."""
    with pytest.raises(ValueError):
        SipProfile(**kwargs)  # type: ignore[arg-type]


def test_stun_kinds_have_no_text() -> None:
    """STUN is binary: asking for its text raises ValueError."""
    with pytest.raises(ValueError, match="STUN"):
        sip_message_text(K.STUN_REQUEST, SipProfile())
