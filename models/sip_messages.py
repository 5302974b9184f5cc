"""Sizes of SIP messages on the phone's hop, from realistic message templates.

Each size is the UTF-8 length of a message rendered here in full (``sip_message_text``),
so every byte has a visible source. The templates follow what the emulation's stacks
send, read from their sources:

- the phone and the far end are baresip 1.0.0 (Debian 12) on libre 1.1.0. Requests are
  built as libre's ``sip_drequestf`` writes them (src/sip/request.c, dialog.c): request
  line; ``Via`` with a ``z9hG4bK`` + 16 hex digit branch and ``;rport``; ``Contact``
  (``<user>-<pointer>`` contact user, ``;transport=`` for TCP and TLS, src/sip/contact.c);
  ``Max-Forwards: 70``; ``Authorization`` when answering a challenge (src/sip/auth.c);
  ``Route`` from the Record-Route set; ``To``; ``From`` with a 16 hex digit tag;
  ``Call-ID`` of 16 hex digits; ``CSeq`` (libre starts at a random 16-bit number, so 5
  digits here); ``User-Agent``; then baresip's ``Allow`` and ``Supported`` (src/ua.c;
  ``Supported:`` is empty without extensions); ``Content-Type``/``Content-Length``.
  REGISTER puts ``;expires=`` on the Contact (src/sipreg/reg.c). Responses copy Via,
  To (tag added), From, Call-ID, CSeq (and Record-Route in dialog-forming responses),
  then ``Server``, Contact and Allow (src/sip/reply.c, src/sipsess/reply.c); baresip
  answers ``180 Ringing`` and ``200 Answering`` (src/call.c).
- SDP as libre's ``sdp_encode`` writes it (src/sdp/msg.c) with baresip's attributes
  (src/call.c, stream.c, audio.c): ``o=- <id> <version>``, ``s=-``, ``a=tool:baresip
  1.0.0``, one ``m=audio`` line, the codec's ``a=rtpmap`` (and ``a=fmtp``) lines,
  ``a=sendrecv``, ``a=label:1``, ``a=rtcp-rsize``, ``a=ssrc:<ssrc> cname:<uri>``,
  ``a=minptime`` and ``a=ptime``.
- the SIP core is Kamailio 5.6 (tm, sl, rr, registrar, auth), as in
  emulation/stacks/kamailio.py: ``100 trying -- your call is important to us`` from tm,
  ``Record-Route: <sip:proxy;lr=on;ftag=...>`` (``enable_full_lr`` and
  ``append_fromtag`` as configured there; two entries with ``r2=on`` when the two legs
  use different transports), ``Max-Forwards`` lowered to 69 in what it forwards, its
  own ``Via`` on top of forwarded requests, ``;rport=<port>;received=<address>`` on the
  phone's Via in responses when the phone is behind a NAT, To-tags of 32 + 8 hex digits
  (as in the captured 404 of tests/fixtures/sipp/uac_404_errors.log), and a digest
  challenge with a 32-character nonce and ``qop="auth"`` (auth module). The server
  header is Kamailio's default one; the emulation's config replaces it with
  ``Server: voipbed-kamailio`` (16 bytes shorter), and loads no auth module.

The Kamailio parts were checked against the messages of a run of
tests/emulation/test_sip_loopback.py (Kamailio 5.6.3 on Debian 12, captured on the
loopback): the 100's reason phrase, the forwarded Via's ``z9hG4bK<4 hex>.<32 hex>.0``
branch, ``Record-Route: <sip:...;lr=on;ftag=...>``, To-tags of 32 + 8 hex digits and the
registrar's ``Contact: <...>;expires=3600``. The SIPp scenarios there
(emulation/stacks/sipp.py) carry fewer headers (no Allow, Supported or RFC 5626
parameters, a 7-line SDP), so the sizes here are those of the baresip calls.

What varies with the ``SipProfile``: the transport (the Via token, ``;transport=`` in
Contact, AOR and Record-Route, port 5061 for TLS, double Record-Route when the far leg
differs), the IP version (addresses in Via, Contact, ``received=``, SDP ``o=``/``c=``;
addresses are from the documentation ranges, with realistic lengths), the codec (its
rtpmap/fmtp lines), RFC 5626 outbound (``+sip.instance`` and ``reg-id`` on the REGISTER
Contact, ``;ob`` on dialog Contacts, ``Supported: gruu,path,outbound``, and the
registrar's ``Require: outbound`` and ``Flow-Timer``), and NAT (``received=``).

Keep-alives (RFC 5626): over TCP/TLS a CRLFCRLF ping (4 bytes) and a CRLF pong
(2 bytes) (section 3.5.1); over UDP a STUN Binding request and its response (section
3.5.2, 4.4.2; RFC 5389 section 6: a 20-byte header, attributes in 4-byte TLVs padded to 4
bytes): libre's request carries a SOFTWARE attribute ("libre v1.1.0 (x86_64/linux)",
src/sip/keepalive_udp.c, src/stun/stun.c), the response the XOR-MAPPED-ADDRESS that RFC
5389 section 7.3.1 requires.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from types import MappingProxyType

from voipbed.models.codecs import AmrPayloadFormat, codec

__all__ = [
    "SipMessageKind",
    "SipProfile",
    "SipTransport",
    "sdp_body",
    "sdp_format_lines",
    "sip_message_size",
    "sip_message_sizes",
    "sip_message_text",
    "stun_message_size",
]

CRLF = "\r\n"
USER_AGENT = "baresip v1.0.0 (x86_64/linux)"  # baresip src/main.c: "baresip v<ver> (<arch>/<os>)"
KAMAILIO_SERVER = "kamailio (5.6.3 (x86_64/linux))"  # Kamailio's default server_header
ALLOW = "INVITE,ACK,BYE,CANCEL,OPTIONS,NOTIFY,SUBSCRIBE,INFO,MESSAGE"  # baresip ua_print_allowed
TRYING_REASON = "trying -- your call is important to us"  # Kamailio tm's 100 reason phrase
LIBRE_SOFTWARE = "libre v1.1.0 (x86_64/linux)"  # libre src/stun/stun.c stun_software
STUN_HEADER_BYTES = 20  # RFC 5389 section 6
STUN_ATTRIBUTE_HEADER_BYTES = 4  # RFC 5389 section 15: type and length
CRLF_PING_BYTES = 4  # RFC 5626 3.5.1: CRLFCRLF
CRLF_PONG_BYTES = 2  # RFC 5626 3.5.1: CRLF

# Values with the length real ones have (random in the stacks).
PHONE_USER = "4915112345678"
PEER_USER = "4915187654321"
DOMAIN = "sip.example.net"
PHONE_CUSER = f"{PHONE_USER}-0x5581b4f1c2a0"  # baresip src/ua.c: "%r-%p" (user, pointer)
PEER_CUSER = f"{PEER_USER}-0x55d3c0a8e2b0"
CALL_ID = "6b8d2f0e91a4c357"  # libre: 16 hex digits
PHONE_TAG = "3f9a0c7d51e2b846"  # libre: 16 hex digits
PEER_TAG = "c41e8b2d7f096a53"
PHONE_BRANCHES = ("z9hG4bK9e1c3a5f7b2d4068", "z9hG4bK0d8f6b4a2c1e3957")  # libre: 16 hex
PEER_BRANCH = "z9hG4bK5a7c9e1b3d2f4680"
PROXY_BRANCH = "z9hG4bK4b2e.1d8f0c2a6b7e9d3f5a4c8e1b2d7f6a90.0"  # Kamailio tm branch
PROXY_TO_TAG = "28258de36a5e2c4b6c1a1b3c042d6cd4-7666f2a4"  # Kamailio sl (captured)
CSEQ = 21873  # libre: random 16-bit start
PHONE_PORT = 5060  # baresip sip_listen default port
NAT_PORT = 41873  # the NAT's mapping of the phone's port
SIP_PORT = 5060  # RFC 3261 19.1.2
SIPS_PORT = 5061  # RFC 3261 19.1.2 (TLS)
RTP_PORT = 10046
SDP_SESSION_ID = 3548217709  # libre: rand_u32
SDP_VERSION = 1129357442
SSRC = 2876512094
NONCE = "Zw3VwGcN1JQ5m7sAPoa7DdxPh8JF9gf7"  # Kamailio auth: base64 of 24 bytes
DIGEST_RESPONSE = "8d1e6f0b2a4c93e75f18d2b6c0a94e37"  # MD5, 32 hex digits
CNONCE = "b7e2a91c4d6f8035"  # libre: 16 hex digits
INSTANCE = "urn:uuid:0f3c2e7a-5b1d-4c8e-9a6f-2d7b1e4c9a53"  # RFC 5626 4.1
FLOW_TIMER_S = 120  # RFC 5626 4.4.1 Flow-Timer the registrar may send (libre's TCP default)


class SipTransport(StrEnum):
    """The SIP transport on the phone's hop (RFC 3261 18)."""

    UDP = "udp"
    TCP = "tcp"
    TLS = "tls"


@dataclass(frozen=True)
class _Addresses:
    phone: str  # the phone's own address (Via, Contact, SDP)
    public: str  # the phone's address seen by the core (received=)
    proxy: str
    far: str


_ADDRESSES = {
    # RFC 5737 documentation ranges; the phone in a private range behind the NAT.
    4: _Addresses("10.148.37.212", "198.51.100.37", "203.0.113.10", "192.0.2.145"),
    # RFC 3849 documentation prefix; SLAAC-style interface identifiers.
    6: _Addresses(
        "2001:db8:85a3:4d1c:a8f2:13ff:fe6b:29c4",
        "2001:db8:85a3:4d1c:a8f2:13ff:fe6b:29c4",
        "2001:db8:100::10",
        "2001:db8:7e02:5c4d:2bff:fe91:e013:1a2",
    ),
}


@dataclass(frozen=True)
class SipProfile:
    """What shapes the messages: transport, IP version, codec, RFC 5626 outbound, NAT.

    ``far_transport`` is the transport between the core and the far end (a different one
    than the phone's makes Kamailio record-route twice); ``reject_status`` is the final
    status of a rejected call; ``expires_s`` the registration lifetime asked for;
    ``amr_format`` the AMR payload format offered (octet-aligned says so in the fmtp).
    """

    transport: SipTransport = SipTransport.UDP
    ip_version: int = 4
    codec: str = "PCMU"
    ptime_ms: int = 20
    outbound: bool = False
    behind_nat: bool = True
    far_transport: SipTransport = SipTransport.UDP
    reject_status: int = 486
    expires_s: int = 3600
    amr_format: AmrPayloadFormat = AmrPayloadFormat.BANDWIDTH_EFFICIENT

    def __post_init__(self) -> None:
        if self.ip_version not in _ADDRESSES:
            raise ValueError(f"ip_version must be 4 or 6, got {self.ip_version}")
        codec(self.codec)  # an unknown codec raises the codec table's error
        if not 1 <= self.ptime_ms <= 1000:
            raise ValueError(f"ptime_ms must be in 1..1000, got {self.ptime_ms}")
        if not 300 <= self.reject_status <= 699:
            raise ValueError(f"reject_status must be in 300..699, got {self.reject_status}")
        if self.expires_s < 0:
            raise ValueError(f"expires_s must be >= 0, got {self.expires_s}")


class SipMessageKind(StrEnum):
    """The messages that cross the phone's hop; ``_UP`` ones the phone sends."""

    # a call from the phone
    INVITE_UP = "invite_up"
    TRYING_DOWN = "trying_down"
    RINGING_DOWN = "ringing_down"
    OK_INVITE_DOWN = "ok_invite_down"
    REJECT_DOWN = "reject_down"
    ACK_UP = "ack_up"
    ACK_ERROR_UP = "ack_error_up"
    BYE_UP = "bye_up"
    OK_BYE_DOWN = "ok_bye_down"
    # a call to the phone
    INVITE_DOWN = "invite_down"
    RINGING_UP = "ringing_up"
    OK_INVITE_UP = "ok_invite_up"
    REJECT_UP = "reject_up"
    ACK_DOWN = "ack_down"
    ACK_ERROR_DOWN = "ack_error_down"
    BYE_DOWN = "bye_down"
    OK_BYE_UP = "ok_bye_up"
    # registration
    REGISTER = "register"
    UNAUTHORIZED = "unauthorized"
    REGISTER_AUTH = "register_auth"
    OK_REGISTER = "ok_register"
    # RFC 5626 keep-alives
    CRLF_PING = "crlf_ping"
    CRLF_PONG = "crlf_pong"
    STUN_REQUEST = "stun_request"
    STUN_RESPONSE = "stun_response"


REASONS = {
    180: "Ringing",
    200: "OK",
    401: "Unauthorized",
    404: "Not Found",
    408: "Request Timeout",
    480: "Temporarily Unavailable",
    486: "Busy Here",
    487: "Request Terminated",
    603: "Decline",
}  # RFC 3261 21


# ------------------------------------------------------------------------- SDP


def _amr_fmtp(name: str, rates: tuple[str, ...], amr_format: AmrPayloadFormat) -> str:
    """One mode in mode-set; ``octet-align=1`` for the octet-aligned format (RFC 4867 8.1:
    absent means bandwidth-efficient)."""
    mode_set = f"mode-set={rates.index(name.rsplit('-', 1)[1])}"
    if amr_format is AmrPayloadFormat.OCTET_ALIGNED:
        return f"{mode_set};octet-align=1"
    return mode_set


_AMR_RATES = ("4.75", "5.15", "5.9", "6.7", "7.4", "7.95", "10.2", "12.2")  # RFC 4867 Table 1
_AMR_WB_RATES = ("6.6", "8.85", "12.65", "14.25", "15.85", "18.25", "19.85", "23.05", "23.85")


def sdp_format_lines(
    codec_name: str, amr_format: AmrPayloadFormat = AmrPayloadFormat.BANDWIDTH_EFFICIENT
) -> tuple[int, tuple[str, ...]]:
    """The payload type and the ``a=rtpmap``/``a=fmtp`` lines offering ``codec_name``.

    Encoding names and clocks: RFC 3551 Table 4 (PCMU, PCMA, G722, G729), RFC 4867 (AMR,
    AMR-WB, one mode in mode-set, ``amr_format``: octet-align=1 or none), 3GPP TS 26.445
    Annex A (EVS), RFC 7587 (opus/48000/2), RFC 3952 (iLBC mode).
    """
    spec = codec(codec_name)
    pt = spec.rtp_payload_type
    lines: tuple[str, ...]
    if codec_name.startswith("AMR-WB-"):
        fmtp = _amr_fmtp(codec_name, _AMR_WB_RATES, amr_format)
        lines = (f"AMR-WB/{spec.rtp_clock_hz}", fmtp)
    elif codec_name.startswith("AMR-"):
        lines = (f"AMR/{spec.rtp_clock_hz}", _amr_fmtp(codec_name, _AMR_RATES, amr_format))
    elif codec_name.startswith("EVS-"):
        _, band, rate = codec_name.split("-")
        lines = (f"EVS/{spec.rtp_clock_hz}", f"br={rate};bw={band.lower()}")
    elif codec_name.startswith("OPUS-"):
        fmtp = f"maxplaybackrate={spec.sample_rate_hz};stereo=0;sprop-stereo=0;useinbandfec=1"
        lines = (f"opus/{spec.rtp_clock_hz}/2", fmtp)
    elif codec_name.startswith("iLBC-"):
        lines = (f"iLBC/{spec.rtp_clock_hz}", f"mode={round(spec.frame_s * 1000)}")
    elif codec_name.startswith("G729"):
        lines = (f"G729/{spec.rtp_clock_hz}", "annexb=no")
    else:  # PCMU, PCMA, G722: static payload types without parameters
        lines = (f"{codec_name}/{spec.rtp_clock_hz}",)
    rtpmap = f"a=rtpmap:{pt} {lines[0]}"
    fmtps = tuple(f"a=fmtp:{pt} {params}" for params in lines[1:])
    return pt, (rtpmap, *fmtps)


def sdp_body(profile: SipProfile, *, far: bool = False) -> str:
    """The SDP baresip offers (or answers with, the same lines) for one audio stream."""
    addresses = _ADDRESSES[profile.ip_version]
    address = addresses.far if far else addresses.phone
    user = PEER_USER if far else PHONE_USER
    ipv = f"IP{profile.ip_version}"
    pt, format_lines = sdp_format_lines(profile.codec, profile.amr_format)
    lines = [
        "v=0",
        f"o=- {SDP_SESSION_ID} {SDP_VERSION} IN {ipv} {address}",
        "s=-",
        f"c=IN {ipv} {address}",
        "t=0 0",
        "a=tool:baresip 1.0.0",
        f"m=audio {RTP_PORT} RTP/AVP {pt}",
        *format_lines,
        "a=sendrecv",
        "a=label:1",
        "a=rtcp-rsize",
        f"a=ssrc:{SSRC} cname:sip:{user}@{DOMAIN}",
        f"a=minptime:{profile.ptime_ms}",
        f"a=ptime:{profile.ptime_ms}",
    ]
    return CRLF.join(lines) + CRLF


# ------------------------------------------------------------------------- headers


def _hostport(address: str, port: int | None) -> str:
    host = f"[{address}]" if ":" in address else address
    return host if port is None else f"{host}:{port}"


def _tp_param(transport: SipTransport) -> str:
    # libre sip_transp_param: nothing for UDP
    return "" if transport is SipTransport.UDP else f";transport={transport.value}"


@dataclass(frozen=True)
class _View:
    """Header values of one profile, shared by the templates."""

    profile: SipProfile

    @property
    def addresses(self) -> _Addresses:
        return _ADDRESSES[self.profile.ip_version]

    @property
    def token(self) -> str:
        return self.profile.transport.value.upper()

    @property
    def phone_hp(self) -> str:
        return _hostport(self.addresses.phone, PHONE_PORT)

    @property
    def far_hp(self) -> str:
        return _hostport(self.addresses.far, SIP_PORT)

    @property
    def aor(self) -> str:
        return f"sip:{PHONE_USER}@{DOMAIN}{_tp_param(self.profile.transport)}"

    @property
    def ob(self) -> str:
        return ";ob" if self.profile.outbound else ""  # RFC 5626 4.3

    @property
    def phone_contact_uri(self) -> str:
        return f"sip:{PHONE_CUSER}@{self.phone_hp}{_tp_param(self.profile.transport)}"

    @property
    def far_contact_uri(self) -> str:
        return f"sip:{PEER_CUSER}@{self.far_hp}{_tp_param(self.profile.far_transport)}"

    @property
    def supported(self) -> str:
        # baresip src/ua.c: gruu (with a uuid), path and outbound with sipnat=outbound
        return "Supported: gruu,path,outbound" if self.profile.outbound else "Supported:"

    def phone_via(self, branch: str, *, answered: bool) -> str:
        """The phone's Via, as sent (``;rport``) or as the core's responses carry it."""
        base = f"Via: SIP/2.0/{self.token} {self.phone_hp};branch={branch};rport"
        if not answered:
            return base
        if self.profile.behind_nat:
            return f"{base}={NAT_PORT};received={self.addresses.public}"
        return f"{base}={PHONE_PORT}"

    def proxy_via(self) -> str:
        transport = self.profile.transport
        port = SIPS_PORT if transport is SipTransport.TLS else None
        proxy = _hostport(self.addresses.proxy, port)
        return f"Via: SIP/2.0/{self.token} {proxy};branch={PROXY_BRANCH}"

    def far_via(self) -> str:
        token = self.profile.far_transport.value.upper()
        return f"Via: SIP/2.0/{token} {self.far_hp};branch={PEER_BRANCH};rport={SIP_PORT}"

    def record_route(self, ftag: str) -> list[str]:
        """Kamailio rr's Record-Route entries (enable_full_lr, append_fromtag)."""
        proxy = self.addresses.proxy
        transport, far = self.profile.transport, self.profile.far_transport
        if transport is far:
            return [f"<sip:{_hostport(proxy, None)};lr=on;ftag={ftag}>"]
        return [self._rr_entry(proxy, t, ftag) for t in (transport, far)]

    @staticmethod
    def _rr_entry(proxy: str, transport: SipTransport, ftag: str) -> str:
        port = SIPS_PORT if transport is SipTransport.TLS else None
        return f"<sip:{_hostport(proxy, port)}{_tp_param(transport)};r2=on;lr=on;ftag={ftag}>"


def _message(start: str, headers: list[str], body: str = "", content_type: str = "") -> str:
    """Start line, headers, Content-Type/Length, blank line, body: each line CRLF-ended."""
    lines = [start, *headers]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(body.encode())}")
    return CRLF.join(lines) + CRLF + CRLF + body


def _status(code: int) -> str:
    return f"SIP/2.0 {code} {REASONS.get(code, 'Unknown')}"


# ------------------------------------------------------------------------- a call from the phone


def _invite_up(v: _View) -> str:
    headers = [
        v.phone_via(PHONE_BRANCHES[0], answered=False),
        f"Contact: <{v.phone_contact_uri}{v.ob}>",
        "Max-Forwards: 70",
        f"To: <sip:{PEER_USER}@{DOMAIN}>",
        f"From: <{v.aor}>;tag={PHONE_TAG}",
        f"Call-ID: {CALL_ID}",
        f"CSeq: {CSEQ} INVITE",
        f"User-Agent: {USER_AGENT}",
        f"Allow: {ALLOW}",
        v.supported,
    ]
    start = f"INVITE sip:{PEER_USER}@{DOMAIN} SIP/2.0"
    return _message(start, headers, sdp_body(v.profile), "application/sdp")


def _dialog_response_down(v: _View, code: int, reason: str, *, sdp: bool) -> str:
    """A far-end (baresip) response to the phone's INVITE, as the proxy forwards it."""
    headers = [f"Record-Route: {entry}" for entry in v.record_route(PHONE_TAG)]
    headers += [
        v.phone_via(PHONE_BRANCHES[0], answered=True),
        f"To: <sip:{PEER_USER}@{DOMAIN}>;tag={PEER_TAG}",
        f"From: <{v.aor}>;tag={PHONE_TAG}",
        f"Call-ID: {CALL_ID}",
        f"CSeq: {CSEQ} INVITE",
        f"Server: {USER_AGENT}",
        f"Contact: <{v.far_contact_uri}>",
        f"Allow: {ALLOW}",
    ]
    body = sdp_body(v.profile, far=True) if sdp else ""
    return _message(f"SIP/2.0 {code} {reason}", headers, body, "application/sdp" if sdp else "")


def _trying_down(v: _View) -> str:
    headers = [
        v.phone_via(PHONE_BRANCHES[0], answered=True),
        f"To: <sip:{PEER_USER}@{DOMAIN}>",
        f"From: <{v.aor}>;tag={PHONE_TAG}",
        f"Call-ID: {CALL_ID}",
        f"CSeq: {CSEQ} INVITE",
        f"Server: {KAMAILIO_SERVER}",
    ]
    return _message(f"SIP/2.0 100 {TRYING_REASON}", headers)


def _reject_down(v: _View) -> str:
    code = v.profile.reject_status
    headers = [
        v.phone_via(PHONE_BRANCHES[0], answered=True),
        f"To: <sip:{PEER_USER}@{DOMAIN}>;tag={PEER_TAG}",
        f"From: <{v.aor}>;tag={PHONE_TAG}",
        f"Call-ID: {CALL_ID}",
        f"CSeq: {CSEQ} INVITE",
        f"Server: {USER_AGENT}",
    ]
    return _message(_status(code), headers)


def _in_dialog_up(v: _View, method: str, cseq: int, branch: str) -> str:
    """ACK (for a 2xx) or BYE from the phone along the route set (libre sip_drequestf)."""
    routes = v.record_route(PHONE_TAG)
    headers = [
        v.phone_via(branch, answered=False),
        "Max-Forwards: 70",
        *[f"Route: {entry}" for entry in reversed(routes)],  # RFC 3261 12.1.2: reversed
        f"To: <sip:{PEER_USER}@{DOMAIN}>;tag={PEER_TAG}",
        f"From: <{v.aor}>;tag={PHONE_TAG}",
        f"Call-ID: {CALL_ID}",
        f"CSeq: {cseq} {method}",
        f"User-Agent: {USER_AGENT}",
    ]
    return _message(f"{method} {v.far_contact_uri} SIP/2.0", headers)


def _ack_error_up(v: _View) -> str:
    """The INVITE client transaction's ACK for a 300-699 (RFC 3261 17.1.1.3)."""
    headers = [
        v.phone_via(PHONE_BRANCHES[0], answered=False),
        "Max-Forwards: 70",
        f"To: <sip:{PEER_USER}@{DOMAIN}>;tag={PEER_TAG}",
        f"From: <{v.aor}>;tag={PHONE_TAG}",
        f"Call-ID: {CALL_ID}",
        f"CSeq: {CSEQ} ACK",
    ]
    return _message(f"ACK sip:{PEER_USER}@{DOMAIN} SIP/2.0", headers)


def _ok_bye_down(v: _View) -> str:
    headers = [
        v.phone_via(PHONE_BRANCHES[1], answered=True),
        f"To: <sip:{PEER_USER}@{DOMAIN}>;tag={PEER_TAG}",
        f"From: <{v.aor}>;tag={PHONE_TAG}",
        f"Call-ID: {CALL_ID}",
        f"CSeq: {CSEQ + 1} BYE",
        f"Server: {USER_AGENT}",
    ]
    return _message(_status(200), headers)


# ------------------------------------------------------------------------- a call to the phone


def _from_peer() -> list[str]:
    return [
        f"From: <sip:{PEER_USER}@{DOMAIN}>;tag={PEER_TAG}",
        f"Call-ID: {CALL_ID}",
    ]


def _invite_down(v: _View) -> str:
    """The far end's INVITE as Kamailio forwards it to the registered contact."""
    headers = [f"Record-Route: {entry}" for entry in v.record_route(PEER_TAG)]
    headers += [
        v.proxy_via(),
        v.far_via(),
        f"Contact: <{v.far_contact_uri}>",
        "Max-Forwards: 69",
        f"To: <sip:{PHONE_USER}@{DOMAIN}>",
        *_from_peer(),
        f"CSeq: {CSEQ} INVITE",
        f"User-Agent: {USER_AGENT}",
        f"Allow: {ALLOW}",
        "Supported:",
    ]
    start = f"INVITE {v.phone_contact_uri} SIP/2.0"
    return _message(start, headers, sdp_body(v.profile, far=True), "application/sdp")


def _response_up(v: _View, code: int, reason: str, cseq: str, *, dialog: bool, sdp: bool) -> str:
    """The phone's response to a request the proxy forwarded (libre sip_reply)."""
    headers = [f"Record-Route: {entry}" for entry in v.record_route(PEER_TAG)] if dialog else []
    headers += [
        v.proxy_via(),
        v.far_via(),
        f"To: <sip:{PHONE_USER}@{DOMAIN}>;tag={PHONE_TAG}",
        *_from_peer(),
        f"CSeq: {cseq}",
        f"Server: {USER_AGENT}",
    ]
    if dialog:
        headers += [f"Contact: <{v.phone_contact_uri}{v.ob}>", f"Allow: {ALLOW}"]
    body = sdp_body(v.profile) if sdp else ""
    return _message(f"SIP/2.0 {code} {reason}", headers, body, "application/sdp" if sdp else "")


def _request_down(v: _View, method: str, cseq: int, *, forwarded_via: bool) -> str:
    """ACK or BYE reaching the phone through the proxy (its Route entries removed)."""
    vias = [v.proxy_via(), v.far_via()] if forwarded_via else [v.proxy_via()]
    headers = [
        *vias,
        "Max-Forwards: 69" if forwarded_via else "Max-Forwards: 70",
        f"To: <sip:{PHONE_USER}@{DOMAIN}>;tag={PHONE_TAG}",
        *_from_peer(),
        f"CSeq: {cseq} {method}",
    ]
    if forwarded_via:
        headers.append(f"User-Agent: {USER_AGENT}")
    return _message(f"{method} {v.phone_contact_uri} SIP/2.0", headers)


# ------------------------------------------------------------------------- registration


def _register(v: _View, *, authorized: bool) -> str:
    transport = v.profile.transport
    request_uri = f"sip:{DOMAIN}{_tp_param(transport)}"
    contact = f"Contact: <{v.phone_contact_uri}>;expires={v.profile.expires_s}"
    if v.profile.outbound:
        contact += f';+sip.instance="<{INSTANCE}>";reg-id=1'  # RFC 5626 4.2
    headers = [
        v.phone_via(PHONE_BRANCHES[1] if authorized else PHONE_BRANCHES[0], answered=False),
        contact,
        "Max-Forwards: 70",
    ]
    if authorized:
        headers.append(
            f'Authorization: Digest username="{PHONE_USER}", realm="{DOMAIN}", '
            f'nonce="{NONCE}", uri="{request_uri}", response="{DIGEST_RESPONSE}", '
            f'cnonce="{CNONCE}", qop=auth, nc=00000001'
        )
    headers += [
        f"To: <{v.aor}>",
        f"From: <{v.aor}>;tag={PHONE_TAG}",
        f"Call-ID: {CALL_ID}",
        f"CSeq: {CSEQ + (1 if authorized else 0)} REGISTER",
        f"User-Agent: {USER_AGENT}",
    ]
    if v.profile.outbound:
        headers.append("Supported: gruu, outbound, path")  # libre src/sipreg/reg.c
    headers.append(f"Allow: {ALLOW}")
    return _message(f"REGISTER {request_uri} SIP/2.0", headers)


def _register_response(v: _View, *, ok: bool) -> str:
    headers = [
        v.phone_via(PHONE_BRANCHES[1] if ok else PHONE_BRANCHES[0], answered=True),
        f"To: <{v.aor}>;tag={PROXY_TO_TAG}",
        f"From: <{v.aor}>;tag={PHONE_TAG}",
        f"Call-ID: {CALL_ID}",
        f"CSeq: {CSEQ + (1 if ok else 0)} REGISTER",
    ]
    if ok:
        contact = f"Contact: <{v.phone_contact_uri}>;expires={v.profile.expires_s}"
        if v.profile.outbound:
            contact += f';+sip.instance="<{INSTANCE}>";reg-id=1'
            headers += [contact, "Require: outbound", f"Flow-Timer: {FLOW_TIMER_S}"]
        else:
            headers.append(contact)
    else:
        headers.append(f'WWW-Authenticate: Digest realm="{DOMAIN}", nonce="{NONCE}", qop="auth"')
    headers.append(f"Server: {KAMAILIO_SERVER}")
    return _message(_status(200 if ok else 401), headers)


# ------------------------------------------------------------------------- rendering


def _render(kind: SipMessageKind, v: _View) -> str:
    k = SipMessageKind
    if kind is k.INVITE_UP:
        return _invite_up(v)
    if kind is k.TRYING_DOWN:
        return _trying_down(v)
    if kind is k.RINGING_DOWN:
        return _dialog_response_down(v, 180, "Ringing", sdp=False)
    if kind is k.OK_INVITE_DOWN:
        return _dialog_response_down(v, 200, "Answering", sdp=True)  # baresip src/call.c
    if kind is k.REJECT_DOWN:
        return _reject_down(v)
    if kind is k.ACK_UP:
        return _in_dialog_up(v, "ACK", CSEQ, PHONE_BRANCHES[1])
    if kind is k.ACK_ERROR_UP:
        return _ack_error_up(v)
    if kind is k.BYE_UP:
        return _in_dialog_up(v, "BYE", CSEQ + 1, PHONE_BRANCHES[1])
    if kind is k.OK_BYE_DOWN:
        return _ok_bye_down(v)
    if kind is k.INVITE_DOWN:
        return _invite_down(v)
    if kind is k.RINGING_UP:
        return _response_up(v, 180, "Ringing", f"{CSEQ} INVITE", dialog=True, sdp=False)
    if kind is k.OK_INVITE_UP:
        return _response_up(v, 200, "Answering", f"{CSEQ} INVITE", dialog=True, sdp=True)
    if kind is k.REJECT_UP:
        code = v.profile.reject_status
        reason = REASONS.get(code, "Unknown")
        return _response_up(v, code, reason, f"{CSEQ} INVITE", dialog=False, sdp=False)
    if kind is k.ACK_DOWN:
        return _request_down(v, "ACK", CSEQ, forwarded_via=True)
    if kind is k.ACK_ERROR_DOWN:
        return _request_down(v, "ACK", CSEQ, forwarded_via=False)  # Kamailio tm's own ACK
    if kind is k.BYE_DOWN:
        return _request_down(v, "BYE", CSEQ + 1, forwarded_via=True)
    if kind is k.OK_BYE_UP:
        return _response_up(v, 200, "OK", f"{CSEQ + 1} BYE", dialog=False, sdp=False)
    if kind is k.REGISTER:
        return _register(v, authorized=False)
    if kind is k.REGISTER_AUTH:
        return _register(v, authorized=True)
    if kind is k.UNAUTHORIZED:
        return _register_response(v, ok=False)
    if kind is k.OK_REGISTER:
        return _register_response(v, ok=True)
    if kind is k.CRLF_PING:
        return CRLF + CRLF
    if kind is k.CRLF_PONG:
        return CRLF
    raise ValueError(f"{kind.value} is a binary STUN message: use stun_message_size")


def sip_message_text(kind: SipMessageKind, profile: SipProfile) -> str:
    """The full text of message ``kind`` under ``profile`` (not for the STUN kinds)."""
    return _render(kind, _View(profile))


def _stun_attribute(value_bytes: int) -> int:
    padded = -(-value_bytes // 4) * 4  # RFC 5389 section 15: values padded to 4 bytes
    return STUN_ATTRIBUTE_HEADER_BYTES + padded


def stun_message_size(kind: SipMessageKind, profile: SipProfile) -> int:
    """Bytes of the STUN keep-alive request (libre) or response (XOR-MAPPED-ADDRESS)."""
    if kind is SipMessageKind.STUN_REQUEST:
        return STUN_HEADER_BYTES + _stun_attribute(len(LIBRE_SOFTWARE.encode()))
    if kind is SipMessageKind.STUN_RESPONSE:
        # RFC 5389 15.2: family, port and address (4 bytes IPv4, 16 IPv6)
        address = 4 if profile.ip_version == 4 else 16
        return STUN_HEADER_BYTES + _stun_attribute(4 + address)
    raise ValueError(f"{kind.value} is not a STUN message")


@cache
def sip_message_sizes(profile: SipProfile) -> MappingProxyType[SipMessageKind, int]:
    """Bytes of every message kind under ``profile`` (UTF-8 text; STUN in binary)."""
    view = _View(profile)
    sizes: dict[SipMessageKind, int] = {}
    for kind in SipMessageKind:
        if kind in (SipMessageKind.STUN_REQUEST, SipMessageKind.STUN_RESPONSE):
            sizes[kind] = stun_message_size(kind, profile)
        else:
            sizes[kind] = len(_render(kind, view).encode())
    return MappingProxyType(sizes)


def sip_message_size(kind: SipMessageKind, profile: SipProfile | None = None) -> int:
    """Bytes of one message kind (default profile: UDP, IPv4, PCMU, behind a NAT)."""
    return sip_message_sizes(profile or SipProfile())[kind]
