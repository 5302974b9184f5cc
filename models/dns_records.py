"""DNS records a SIP client looks up (NAPTR, SRV, A, AAAA), their wire sizes, and a TTL cache.

A :class:`DnsZone` maps (name, type) to a :class:`RecordSet` with its TTL; a missing
entry is a negative answer (NODATA or NXDOMAIN), cached for the zone's negative TTL (RFC
2308 section 5). :func:`sip_zone` builds the usual RFC 3263 chain for a SIP domain: NAPTR
records pointing at SRV names, SRV records pointing at a host, and its A and AAAA
records.

Message sizes follow RFC 1035 section 4.1: a 12-byte header, the question (the name in
labels, each with a length byte, and the root's zero byte, then 2-byte type and class),
and for each answer the owner name (a 2-byte compression pointer to the question, section
4.1.4), type, class, TTL and RDLENGTH (10 bytes) and the RDATA: A 4 bytes (RFC 1035
section 3.4.1), AAAA 16 (RFC 3596 section 2.2), SRV priority, weight and port then the
target uncompressed (RFC 2782), NAPTR order and preference, three character strings and
the replacement uncompressed (RFC 3403 section 4.1). A negative answer carries the zone's
SOA in its authority section (RFC 2308 section 3), sized here with the MNAME and RNAME
compressed against the zone (one label each plus a pointer). With EDNS(0) (RFC 6891
section 6.1.2) the query and the answer each carry an 11-byte OPT record. Additional
records are not counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "DnsCache",
    "DnsZone",
    "Naptr",
    "RecordSet",
    "RecordType",
    "SipTransport",
    "Srv",
    "name_bytes",
    "query_bytes",
    "response_bytes",
    "sip_zone",
]

_HEADER_BYTES = 12  # RFC 1035 section 4.1.1
_QUESTION_FIXED_BYTES = 4  # QTYPE + QCLASS, RFC 1035 section 4.1.2
_RR_FIXED_BYTES = 2 + 10  # compressed owner + TYPE, CLASS, TTL, RDLENGTH (section 4.1.3)
_POINTER_BYTES = 2  # RFC 1035 section 4.1.4
_OPT_BYTES = 11  # RFC 6891 section 6.1.2: root name, type, class, TTL, RDLENGTH 0
_SOA_FIXED_BYTES = 20  # SERIAL, REFRESH, RETRY, EXPIRE, MINIMUM (RFC 1035 section 3.3.13)
_SOA_MNAME_LABEL = "ns1"
_SOA_RNAME_LABEL = "hostmaster"


class RecordType(StrEnum):
    """The record types of RFC 3263 server location."""

    NAPTR = "NAPTR"  # RFC 3403
    SRV = "SRV"  # RFC 2782
    A = "A"  # RFC 1035
    AAAA = "AAAA"  # RFC 3596


class SipTransport(StrEnum):
    """A SIP transport with its NAPTR service, SRV prefix and default port."""

    UDP = "udp"
    TCP = "tcp"
    TLS = "tls"

    @property
    def naptr_service(self) -> str:
        """The NAPTR service field (RFC 3263 section 4.1)."""
        return {"udp": "SIP+D2U", "tcp": "SIP+D2T", "tls": "SIPS+D2T"}[self.value]

    @property
    def srv_prefix(self) -> str:
        """The SRV service and protocol labels (RFC 3263 section 4.1, RFC 2782)."""
        return {"udp": "_sip._udp", "tcp": "_sip._tcp", "tls": "_sips._tcp"}[self.value]

    @property
    def default_port(self) -> int:
        """5060, or 5061 for TLS (RFC 3261 section 19.1.2, RFC 3263 section 4.2)."""
        return 5061 if self is SipTransport.TLS else 5060


@dataclass(frozen=True)
class Naptr:
    """One NAPTR record (RFC 3403 section 4.1)."""

    order: int
    preference: int
    service: str
    replacement: str
    flags: str = "s"  # the next lookup is SRV (RFC 3263 section 4.1)
    regexp: str = ""


@dataclass(frozen=True)
class Srv:
    """One SRV record (RFC 2782)."""

    priority: int
    weight: int
    port: int
    target: str


Rdata = Naptr | Srv | str  # str: an IPv4 or IPv6 address


@dataclass(frozen=True)
class RecordSet:
    """The records of one name and type, with their TTL."""

    rtype: RecordType
    records: tuple[Rdata, ...]
    ttl_s: float

    def __post_init__(self) -> None:
        if not self.records:
            raise ValueError("a record set holds at least one record; leave it out instead")
        if not (math.isfinite(self.ttl_s) and self.ttl_s >= 0):
            raise ValueError(f"ttl_s must be finite and >= 0, got {self.ttl_s}")


def name_bytes(name: str) -> int:
    """Bytes of a domain name in uncompressed wire format (RFC 1035 section 3.1)."""
    labels = [label for label in name.rstrip(".").split(".") if label]
    for label in labels:
        if len(label) > 63:
            raise ValueError(f"label {label!r} of {name!r} is longer than 63 bytes")
    return sum(len(label) + 1 for label in labels) + 1


def _rdata_bytes(rtype: RecordType, rdata: Rdata) -> int:
    if isinstance(rdata, Srv):
        return 6 + name_bytes(rdata.target)
    if isinstance(rdata, Naptr):
        strings = (rdata.flags, rdata.service, rdata.regexp)
        return 4 + sum(1 + len(s) for s in strings) + name_bytes(rdata.replacement)
    return 4 if rtype is RecordType.A else 16


def query_bytes(name: str, *, edns0: bool = False) -> int:
    """Size of a query for ``name`` (any type)."""
    return _HEADER_BYTES + name_bytes(name) + _QUESTION_FIXED_BYTES + (_OPT_BYTES if edns0 else 0)


def response_bytes(name: str, answer: RecordSet | None, *, edns0: bool = False) -> int:
    """Size of the response to a query for ``name``: ``answer`` None is a negative one."""
    size = query_bytes(name, edns0=edns0)
    if answer is None:
        soa_names = (1 + len(_SOA_MNAME_LABEL) + _POINTER_BYTES) + (
            1 + len(_SOA_RNAME_LABEL) + _POINTER_BYTES
        )
        return size + _RR_FIXED_BYTES + soa_names + _SOA_FIXED_BYTES
    return size + sum(_RR_FIXED_BYTES + _rdata_bytes(answer.rtype, r) for r in answer.records)


def _key(name: str, rtype: RecordType) -> tuple[str, RecordType]:
    return name.rstrip(".").lower(), rtype


@dataclass(frozen=True)
class DnsZone:
    """What the resolver answers: record sets by (name, type), and the negative TTL."""

    records: dict[tuple[str, RecordType], RecordSet] = field(default_factory=dict)
    negative_ttl_s: float = 300.0  # the SOA MINIMUM many zones use (RFC 2308 section 5)

    def answer(self, name: str, rtype: RecordType) -> RecordSet | None:
        """The record set for ``name`` and ``rtype``, None when there is none."""
        return self.records.get(_key(name, rtype))

    def with_records(self, name: str, records: RecordSet) -> DnsZone:
        """A copy of this zone with ``records`` under ``name``."""
        merged = dict(self.records)
        merged[_key(name, records.rtype)] = records
        return DnsZone(merged, self.negative_ttl_s)


def sip_zone(
    domain: str,
    *,
    transports: tuple[SipTransport, ...] = (SipTransport.TLS, SipTransport.TCP, SipTransport.UDP),
    naptr: bool = True,
    host: str | None = None,
    ipv4: tuple[str, ...] = ("192.0.2.10",),
    ipv6: tuple[str, ...] = ("2001:db8::10",),
    ttl_s: float = 3600.0,
    negative_ttl_s: float = 300.0,
) -> DnsZone:
    """A SIP domain's records: NAPTR (when ``naptr``) and SRV per transport, then addresses.

    Every SRV record points at ``host`` (``sip.<domain>`` when None) on the transport's
    default port; the NAPTR records list the transports in the given order (RFC 3263
    section 4.1 example). ``ipv4`` or ``ipv6`` empty leaves that address type out.
    """
    target = host or f"sip.{domain}"
    zone = DnsZone(negative_ttl_s=negative_ttl_s)
    if naptr and transports:
        entries = tuple(
            Naptr(50 + 10 * i, 50, t.naptr_service, f"{t.srv_prefix}.{domain}")
            for i, t in enumerate(transports)
        )
        zone = zone.with_records(domain, RecordSet(RecordType.NAPTR, entries, ttl_s))
    for transport in transports:
        srv = Srv(0, 1, transport.default_port, target)
        zone = zone.with_records(
            f"{transport.srv_prefix}.{domain}", RecordSet(RecordType.SRV, (srv,), ttl_s)
        )
    if ipv4:
        zone = zone.with_records(target, RecordSet(RecordType.A, ipv4, ttl_s))
    if ipv6:
        zone = zone.with_records(target, RecordSet(RecordType.AAAA, ipv6, ttl_s))
    return zone


class DnsCache:
    """The stub's cache: answers (negative ones too) until their TTL runs out."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, RecordType], tuple[float, RecordSet | None]] = {}

    def get(self, name: str, rtype: RecordType, now_s: float) -> tuple[bool, RecordSet | None]:
        """(True, answer) when a fresh answer is cached; (False, None) otherwise."""
        entry = self._entries.get(_key(name, rtype))
        if entry is None or entry[0] <= now_s:
            return False, None
        return True, entry[1]

    def put(
        self, name: str, rtype: RecordType, answer: RecordSet | None, now_s: float, ttl_s: float
    ) -> None:
        """Keep ``answer`` (None: negative) for ``ttl_s`` from ``now_s``."""
        if ttl_s > 0:
            self._entries[_key(name, rtype)] = (now_s + ttl_s, answer)
