"""SIP messages as text and STUN Binding messages as bytes, for the phone and light agents;
pure.

Just what an idle phone and the core-side caller of ``phone_agent``, and the light calls'
``light_agent``, exchange with Kamailio over UDP: requests and responses built from header
lists (RFC 3261 7, 8.1.1, 8.2.6), the host and ``host:port`` of an address in a URI or a
Via's sent-by (an IPv6 address in brackets, RFC 3261 25.1), a parser that keeps every
header value in order, the digest answer to a 401
challenge (RFC 2617 3.2.2, without qop as Kamailio's auth module offers it by default, and
with ``qop=auth``), and RFC 5389 Binding requests and success responses (section 6), the
keep-alives of RFC 5626 3.5.2.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass

__all__ = [
    "STUN_HEADER_BYTES",
    "SipText",
    "digest_authorization",
    "host_port",
    "is_stun",
    "param",
    "parse_sip",
    "request_text",
    "response_text",
    "stun_binding_request",
    "stun_transaction_id",
    "uri_host",
    "uri_of",
]

STUN_MAGIC_COOKIE = 0x2112A442  # RFC 5389 6
STUN_BINDING_REQUEST = 0x0001  # RFC 5389 18.1: Binding, class request
STUN_BINDING_SUCCESS = 0x0101  # Binding, class success response
STUN_HEADER_BYTES = 20
BRANCH_MAGIC = "z9hG4bK"  # RFC 3261 8.1.1.7

_REASONS = {180: "Ringing", 200: "OK", 405: "Method Not Allowed", 408: "Request Timeout"}
_PARAM = re.compile(r";\s*([A-Za-z0-9_.!~*'-]+)(?:=([^;,\s]+))?")
_AUTH_PARAM = re.compile(r'(\w+)=("([^"]*)"|[^,\s]+)')


@dataclass(frozen=True)
class SipText:
    """One parsed SIP message: a request (``method``, ``uri``) or a response (``status``),
    its headers (lower-case names, every value in order) and its body."""

    method: str | None
    uri: str | None
    status: int | None
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: str

    def all(self, name: str) -> list[str]:
        """Every value of header ``name`` (case-insensitive), in order."""
        key = name.lower()
        return [value for header, value in self.headers if header == key]

    def get(self, name: str) -> str | None:
        """The first value of header ``name``, or None."""
        values = self.all(name)
        return values[0] if values else None

    def header(self, name: str) -> str:
        """The first value of header ``name``; ValueError when it is missing."""
        value = self.get(name)
        if value is None:
            raise ValueError(f"SIP message without {name}")
        return value

    @property
    def cseq_method(self) -> str:
        """The method of the CSeq header (a response's request)."""
        return self.header("CSeq").split()[-1].upper()

    @property
    def branch(self) -> str | None:
        """The top Via's branch parameter."""
        return param(self.header("Via"), "branch")

    @property
    def to_tag(self) -> str | None:
        """The To header's tag."""
        return param(self.header("To"), "tag")


_COMPACT = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
}


def parse_sip(text: str) -> SipText:
    """Parse one SIP message (CRLF or LF line ends); ValueError if it is not one."""
    head, _, body = text.replace("\r\n", "\n").partition("\n\n")
    lines = head.split("\n")
    start = lines[0].split(" ", 2)
    if len(start) < 3:
        raise ValueError(f"not a SIP start line: {lines[0]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # a folded continuation (RFC 3261 7.3.1)
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise ValueError(f"not a SIP header line: {line!r}")
        key = name.strip().lower()
        headers.append((_COMPACT.get(key, key), value.strip()))
    if start[0].startswith("SIP/"):
        if not start[1].isdigit():
            raise ValueError(f"not a SIP status line: {lines[0]!r}")
        return SipText(None, None, int(start[1]), start[2], tuple(headers), body)
    if not start[2].startswith("SIP/"):
        raise ValueError(f"not a SIP request line: {lines[0]!r}")
    return SipText(start[0].upper(), start[1], None, "", tuple(headers), body)


def param(value: str, name: str) -> str | None:
    """Parameter ``name`` of a header value (``;name=value``; '' for a flag), or None."""
    for found in _PARAM.finditer(value.split(">")[-1] if ">" in value else value):
        if found[1].lower() == name.lower():
            return found[2] or ""
    return None


def uri_of(value: str) -> str:
    """The URI of a name-addr or addr-spec header value (``<sip:a@b>;tag=x`` -> ``sip:a@b``)."""
    if "<" in value:
        return value[value.index("<") + 1 : value.index(">")]
    return value.split(";")[0].strip()


def uri_host(address: str) -> str:
    """``address`` as the host of a SIP URI or a Via's sent-by: an IPv6 address in brackets
    (RFC 3261 25.1, ``IPv6reference``; RFC 5118 4), anything else (an IPv4 address, a
    name, an address already in brackets) as it is."""
    if ":" in address and not address.startswith("["):
        return f"[{address}]"
    return address


def host_port(address: str, port: int) -> str:
    """``address`` and ``port`` as a URI's or a Via's ``hostport`` (RFC 3261 25.1):
    ``10.0.0.11:5200``, ``[fd12:3456:789a::b]:5200``."""
    return f"{uri_host(address)}:{port}"


def _text(start: str, headers: list[tuple[str, str]], body: str) -> str:
    lines = [start, *(f"{name}: {value}" for name, value in headers)]
    lines.append(f"Content-Length: {len(body.encode())}")
    return "\r\n".join(lines) + "\r\n\r\n" + body


def request_text(method: str, uri: str, headers: list[tuple[str, str]], body: str = "") -> str:
    """A request: its start line, ``headers`` in order, Content-Length, ``body``."""
    return _text(f"{method} {uri} SIP/2.0", headers, body)


def response_text(
    request: SipText,
    status: int,
    *,
    to_tag: str | None = None,
    extra: list[tuple[str, str]] | None = None,
) -> str:
    """A response to ``request`` (RFC 3261 8.2.6.2): its Vias, From, To (with ``to_tag``
    added when it has none), Call-ID, CSeq and Record-Routes copied, then ``extra``."""
    headers = [("Via", via) for via in request.all("Via")]
    to = request.header("To")
    if to_tag is not None and param(to, "tag") is None:
        to = f"{to};tag={to_tag}"
    headers += [("From", request.header("From")), ("To", to)]
    headers += [("Call-ID", request.header("Call-ID")), ("CSeq", request.header("CSeq"))]
    headers += [("Record-Route", route) for route in request.all("Record-Route")]
    headers += extra or []
    return _text(f"SIP/2.0 {status} {_REASONS.get(status, 'Unknown')}", headers, "")


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # RFC 2617 digests are MD5


def digest_authorization(
    challenge: str, *, method: str, uri: str, user: str, password: str, cnonce: str
) -> str:
    """The Authorization header value answering a WWW-Authenticate ``challenge`` (RFC 2617
    3.2.2: with ``qop=auth`` when offered, nonce count 1)."""
    scheme, _, rest = challenge.partition(" ")
    if scheme.lower() != "digest":
        raise ValueError(f"not a digest challenge: {challenge!r}")
    fields = {key.lower(): quoted or bare for key, bare, quoted in _AUTH_PARAM.findall(rest)}
    realm, nonce = fields.get("realm", ""), fields["nonce"]
    ha1 = _md5(f"{user}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    parts = [f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
    qops = [q.strip() for q in fields.get("qop", "").split(",") if q.strip()]
    if "auth" in qops:
        nc = "00000001"
        answer = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        parts += ["qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
    else:
        answer = _md5(f"{ha1}:{nonce}:{ha2}")
    parts += [f'response="{answer}"', "algorithm=MD5"]
    if "opaque" in fields:
        parts.append(f'opaque="{fields["opaque"]}"')
    return "Digest " + ", ".join(parts)


def stun_binding_request(transaction_id: bytes) -> bytes:
    """An RFC 5389 Binding request without attributes (RFC 5626 3.5.2's keep-alive)."""
    if len(transaction_id) != 12:
        raise ValueError("a STUN transaction id is 12 bytes")
    return struct.pack("!HHI", STUN_BINDING_REQUEST, 0, STUN_MAGIC_COOKIE) + transaction_id


def is_stun(data: bytes) -> bool:
    """Whether ``data`` is a STUN message (RFC 5389 6: top bits 00, the magic cookie); SIP
    text never starts with a zero byte."""
    if len(data) < STUN_HEADER_BYTES or data[0] & 0xC0:
        return False
    return bool(struct.unpack_from("!I", data, 4)[0] == STUN_MAGIC_COOKIE)


def stun_transaction_id(data: bytes) -> bytes | None:
    """The transaction id of a Binding success response, or None for anything else."""
    if not is_stun(data) or struct.unpack_from("!H", data)[0] != STUN_BINDING_SUCCESS:
        return None
    return data[8:STUN_HEADER_BYTES]
