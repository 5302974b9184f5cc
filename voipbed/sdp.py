"""The audio media of an SDP body (RFC 4566): where each side expects to receive what.

:func:`parse_sdp` reads, for each ``m=audio`` section of a session description,
its connection address (``c=``: the media section's, else the session's,
RFC 4566 5.7), its port and payload types (``m=``, 5.14), and per payload type
the ``a=rtpmap`` encoding (name, clock rate, channels: RFC 4566 6), the
``a=fmtp`` parameters (RFC 4566 6, each payload format's own syntax of
``key=value`` pairs separated by ``;``) and the section's ``a=ptime``. By
RFC 3264 5 and 6, the payload types an offer or answer lists are those its
sender expects to receive at that address and port.

The body comes from a captured datagram: a line that does not read as the
RFC writes it is left out, every number is read from a bounded count of
digits and checked against its range, so no input raises.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

__all__ = ["AudioMedia", "Encoding", "address_key", "parse_sdp"]

_A = re.ASCII  # digits are 0-9 only
_CONNECTION = re.compile(r"c=IN IP[46] ([0-9A-Fa-f.:]{1,64})(?:/\d{1,5}){0,2}\s*$", _A)
_RTPMAP = re.compile(r"a=rtpmap:(\d{1,3}) ([!-.0-~]{1,64})/(\d{1,9})(?:/(\d{1,2}))?\s*$", _A)
_FMTP = re.compile(r"a=fmtp:(\d{1,3}) (.{0,1024})$", _A)
_PTIME = re.compile(r"a=ptime:(\d{1,5})(?:\.\d{0,6})?\s*$", _A)
_NUMBER = re.compile(r"\d{1,5}", _A)
_MAX_PORT = 65535
_MAX_TYPE = 127  # RTP's payload type field is 7 bits (RFC 3550 5.1)


@dataclass(frozen=True)
class Encoding:
    """What an ``a=rtpmap`` (and its ``a=fmtp``) bind one payload type to."""

    name: str  # as the SDP writes it; compare with ``upper``: RFC 4855 3 names are case-blind
    clock_hz: int
    channels: int = 1
    params: tuple[tuple[str, str], ...] = ()  # fmtp: (key lowercased, value) in order

    def param(self, key: str) -> str | None:
        """The value of fmtp parameter ``key`` (lowercase); ``""`` for a bare flag."""
        return next((value for name, value in self.params if name == key), None)

    def __str__(self) -> str:
        channels = f"/{self.channels}" if self.channels != 1 else ""
        return f"{self.name}/{self.clock_hz}{channels}"


@dataclass(frozen=True)
class AudioMedia:
    """One ``m=audio`` section: where its sender receives, and what each payload type is."""

    address: str  # as ``address_key`` writes it; "" when the SDP names none
    port: int
    payload_types: tuple[int, ...]
    encodings: dict[int, Encoding] = field(default_factory=dict)
    ptime_ms: int | None = None


def address_key(text: str) -> str:
    """``text`` written as ``frame_fields.address_text`` writes captured addresses: IPv4
    dotted, IPv6 as eight hexadecimal words without leading zeros or ``::``."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text.lower()
    if address.version == 4:
        return str(address)
    return ":".join(f"{int(word, 16):x}" for word in address.exploded.split(":"))


def parse_sdp(body: str) -> list[AudioMedia]:
    """The ``m=audio`` sections of the SDP ``body`` (empty when it holds none)."""
    session_address = ""
    sections: list[_Section] = []
    current: _Section | None = None
    for raw in body.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            current = _section(line)
            if current is not None:
                sections.append(current)
            else:
                current = _Section(audio=False)  # its lines belong to no audio section
        elif line.startswith("c="):
            connection = _CONNECTION.match(line)
            if connection is None:
                continue
            if current is None:
                session_address = address_key(connection.group(1))
            else:
                current.address = address_key(connection.group(1))
        elif current is not None and current.audio and line.startswith("a="):
            current.attribute(line)
    return [s.media(session_address) for s in sections if s.audio]


@dataclass
class _Section:
    """A media section while it is read."""

    audio: bool
    port: int = 0
    payload_types: tuple[int, ...] = ()
    address: str = ""
    rtpmap: dict[int, tuple[str, int, int]] = field(default_factory=dict)
    fmtp: dict[int, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    ptime_ms: int | None = None

    def attribute(self, line: str) -> None:
        """Take in one ``a=`` line of the section."""
        if rtpmap := _RTPMAP.match(line):
            pt, clock = int(rtpmap.group(1)), int(rtpmap.group(3))
            channels = int(rtpmap.group(4) or 1)
            if pt <= _MAX_TYPE and clock > 0 and channels > 0:
                self.rtpmap.setdefault(pt, (rtpmap.group(2), clock, channels))
        elif fmtp := _FMTP.match(line):
            pt = int(fmtp.group(1))
            if pt <= _MAX_TYPE:
                self.fmtp.setdefault(pt, _params(fmtp.group(2)))
        elif ptime := _PTIME.match(line):
            self.ptime_ms = int(ptime.group(1)) or None

    def media(self, session_address: str) -> AudioMedia:
        encodings = {
            pt: Encoding(name, clock, channels, self.fmtp.get(pt, ()))
            for pt, (name, clock, channels) in self.rtpmap.items()
            if pt in self.payload_types
        }
        address = self.address or session_address
        return AudioMedia(address, self.port, self.payload_types, encodings, self.ptime_ms)


def _section(line: str) -> _Section | None:
    """The section an ``m=`` line opens, or None when it is not RTP audio that reads."""
    tokens = line[2:].split()
    if len(tokens) < 3 or tokens[0] != "audio" or "RTP" not in tokens[2]:
        return None
    port = tokens[1].split("/")[0]
    if not _NUMBER.fullmatch(port) or int(port) > _MAX_PORT:
        return None
    types = [int(t) for t in tokens[3:] if _NUMBER.fullmatch(t) and int(t) <= _MAX_TYPE]
    return _Section(audio=True, port=int(port), payload_types=tuple(types))


def _params(text: str) -> tuple[tuple[str, str], ...]:
    """``key=value; key2=value2; flag`` as pairs, keys lowercased."""
    pairs = []
    for item in text.split(";"):
        key, _, value = item.strip().partition("=")
        if key:
            pairs.append((key.strip().lower(), value.strip()))
    return tuple(pairs)
