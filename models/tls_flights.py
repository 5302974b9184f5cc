"""TLS 1.2 and 1.3 handshakes as flights of bytes, and the size of protected application data.

A handshake is a list of :class:`Flight`: who sends it, what it holds, its size in bytes
on the TCP stream (records with their headers), and whether it carries the sender's
Finished. :func:`handshake_flights` builds it for a :class:`TlsConfig`:

- TLS 1.2 full handshake (RFC 5246 section 7.3), 2 RTT: ClientHello / ServerHello,
  Certificate, ServerKeyExchange, ServerHelloDone / ClientKeyExchange, ChangeCipherSpec,
  Finished / NewSessionTicket (RFC 5077 section 3.3, when tickets are on),
  ChangeCipherSpec, Finished.
- TLS 1.2 abbreviated handshake, 1 RTT: a session ID (RFC 5246 section 7.3) or a ticket
  (RFC 5077 section 3.1) in the ClientHello / ServerHello, ChangeCipherSpec, Finished /
  ChangeCipherSpec, Finished.
- TLS 1.3 full handshake (RFC 8446 section 2), 1 RTT: ClientHello / ServerHello,
  (ChangeCipherSpec), EncryptedExtensions, Certificate, CertificateVerify, Finished /
  (ChangeCipherSpec), Finished; then the server's NewSessionTicket messages (section
  4.6.1), which nothing waits for.
- TLS 1.3 PSK resumption (section 2.2), 1 RTT: the ticket in the ClientHello / ServerHello,
  (ChangeCipherSpec), EncryptedExtensions, Finished / (ChangeCipherSpec), Finished; with
  0-RTT early data (section 2.3) the client's first flight also carries application data,
  and its second flight an EndOfEarlyData.

The ChangeCipherSpec records in TLS 1.3 are the middlebox-compatibility mode (RFC 8446
appendix D.4) that OpenSSL, BoringSSL and most stacks use.

Message sizes were measured on this project's machine with OpenSSL 3.0.22 on loopback:
``openssl s_server -accept 127.0.0.1:PORT -tls1_2|-tls1_3 -cert ... -key ...
[-cert_chain ca.pem]`` and ``openssl s_client -connect 127.0.0.1:PORT -servername
sip.example.com -msg [-sess_in/-sess_out FILE]`` (the client offering TLS 1.2 and 1.3,
as a phone's stack does; X25519 key share; TLS_AES_256_GCM_SHA384 and
ECDHE-*-AES256-GCM-SHA384 negotiated), with certificates made like the emulation's own
(emulation/tls.py): a throwaway CA and a server certificate for sip.example.com, EC
P-256 (455-byte leaf, 442-byte CA in DER) or RSA-2048 (851 and 839 bytes). The server
sends the leaf alone or the leaf and the CA (a chain of two). Each handshake message
went in its own record, and the totals match the ``SSL handshake has read N bytes and
written M bytes`` lines OpenSSL printed (e.g. TLS 1.3 with an EC leaf: 401 written,
825 read). Each size below is a whole handshake message with its 4-byte header (RFC 8446
section 4, RFC 5246 section 7.4); signatures vary by a byte or two between runs.

Record sizes: a plaintext record adds its 5-byte header (RFC 5246 section 6.2.1, RFC 8446
section 5.1); a protected TLS 1.3 record adds
:func:`~voipbed.models.overhead.record_overhead_bytes` (header, inner content type, AEAD
tag); a protected TLS 1.2 record with an AES-GCM suite adds the header, the 8-byte
explicit nonce and the tag (RFC 5246 section 6.2.3.3, RFC 5288 section 3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from voipbed.models.message_channel import DOWNLINK, UPLINK
from voipbed.models.overhead import (
    RecordLayer,
    RecordProtocol,
    record_overhead_bytes,
    secured_bytes,
)

__all__ = [
    "CertificateChain",
    "Flight",
    "Resumption",
    "TlsConfig",
    "TlsVersion",
    "application_wire_bytes",
    "handshake_flights",
]

_RECORD_HEADER_BYTES = 5  # RFC 5246 section 6.2.1, RFC 8446 section 5.1
_GCM_EXPLICIT_NONCE_BYTES = 8  # RFC 5288 section 3 (TLS 1.2 AES-GCM)
_MAX_PLAINTEXT_BYTES = 2**14  # RFC 5246 section 6.2.1
_CCS_RECORD_BYTES = _RECORD_HEADER_BYTES + 1  # ChangeCipherSpec: one byte of content

# Handshake messages, bytes with their 4-byte header, measured as the module docstring says.
_CLIENT_HELLO = 316  # offers TLS 1.2 and 1.3, SNI, X25519 key share, empty ticket extension
_CLIENT_HELLO_TLS12_TICKET = 492  # with a TLS 1.2 session ticket (RFC 5077)
_CLIENT_HELLO_TLS13_PSK = 587  # with a TLS 1.3 ticket as PSK identity and binder
_EARLY_DATA_EXTENSION = 4  # RFC 8446 section 4.2.10: empty early_data extension
_TLS12_SERVER_HELLO = 65
_TLS12_SERVER_HELLO_RESUMED = 85
_TLS12_SERVER_HELLO_DONE = 4
_TLS12_CLIENT_KEY_EXCHANGE = 37  # an uncompressed P-256 or X25519 point
_TLS12_FINISHED = 16  # 12-byte verify_data (RFC 5246 section 7.4.9)
_TLS12_NEW_SESSION_TICKET = 186
_TLS13_SERVER_HELLO = 122
_TLS13_SERVER_HELLO_PSK = 128
_TLS13_ENCRYPTED_EXTENSIONS = 6
_TLS13_FINISHED = 52  # SHA-384 verify_data; 36 with a SHA-256 suite
_TLS13_NEW_SESSION_TICKET = 233  # OpenSSL's stateless ticket
_TLS13_END_OF_EARLY_DATA = 4  # RFC 8446 section 4.5


class TlsVersion(StrEnum):
    """Protocol version."""

    TLS_1_2 = "tls1.2"  # RFC 5246
    TLS_1_3 = "tls1.3"  # RFC 8446


class Resumption(StrEnum):
    """How the client resumes an earlier session, if at all."""

    NONE = "none"  # a full handshake
    SESSION_ID = "session_id"  # TLS 1.2 only (RFC 5246 section 7.3)
    TICKET = "ticket"  # TLS 1.2 RFC 5077; TLS 1.3 PSK from a NewSessionTicket


class CertificateChain(StrEnum):
    """The server's certificate chain and key type (sizes in the module docstring)."""

    ECDSA_P256 = "ecdsa-p256"  # the leaf alone
    ECDSA_P256_WITH_CA = "ecdsa-p256+ca"  # leaf and CA
    RSA_2048 = "rsa-2048"
    RSA_2048_WITH_CA = "rsa-2048+ca"


# Certificate message bytes (TLS 1.2, TLS 1.3) and signature message bytes
# (ServerKeyExchange in 1.2, CertificateVerify in 1.3) per chain.
_CERTIFICATE = {
    CertificateChain.ECDSA_P256: (465, 468),
    CertificateChain.ECDSA_P256_WITH_CA: (910, 915),
    CertificateChain.RSA_2048: (861, 864),
    CertificateChain.RSA_2048_WITH_CA: (1703, 1708),
}
_SIGNATURE = {
    CertificateChain.ECDSA_P256: (115, 79),
    CertificateChain.ECDSA_P256_WITH_CA: (115, 79),
    CertificateChain.RSA_2048: (300, 264),
    CertificateChain.RSA_2048_WITH_CA: (300, 264),
}


@dataclass(frozen=True)
class TlsConfig:
    """A TLS session's settings; the source of each default is in its comment."""

    version: TlsVersion = TlsVersion.TLS_1_3
    resumption: Resumption = Resumption.NONE
    early_data: bool = False  # TLS 1.3 with a ticket only (RFC 8446 section 2.3)
    chain: CertificateChain = CertificateChain.ECDSA_P256  # as the emulation's certificates
    aead_tag_bytes: int = 16  # AES-GCM, ChaCha20-Poly1305; 8 for AES-CCM-8
    tls12_tickets: bool = True  # the server issues RFC 5077 tickets (OpenSSL does)
    tls13_tickets: int = 2  # NewSessionTickets after a full handshake (OpenSSL's default)

    def __post_init__(self) -> None:
        if self.version is TlsVersion.TLS_1_3 and self.resumption is Resumption.SESSION_ID:
            raise ValueError("TLS 1.3 resumes with a ticket (PSK), not a session ID")
        if self.early_data and (
            self.version is not TlsVersion.TLS_1_3 or self.resumption is not Resumption.TICKET
        ):
            raise ValueError("early data needs TLS 1.3 resuming with a ticket")
        if self.aead_tag_bytes not in (8, 16):
            raise ValueError(f"aead_tag_bytes must be 8 or 16, got {self.aead_tag_bytes}")
        if self.tls13_tickets < 0:
            raise ValueError(f"tls13_tickets must be >= 0, got {self.tls13_tickets}")

    @property
    def record_layer(self) -> RecordLayer:
        """The TLS 1.3 record layer of this session (its tag size)."""
        return RecordLayer(RecordProtocol.TLS_1_3, aead_tag_bytes=self.aead_tag_bytes)


@dataclass(frozen=True)
class Flight:
    """Handshake messages one side writes at once; ``size_bytes`` on the TCP stream."""

    direction: int  # UPLINK: sent by the phone (the client)
    name: str
    size_bytes: int
    finished: bool  # carries the sender's Finished
    awaited: bool = True  # False: nothing waits for it (NewSessionTicket in TLS 1.3)


def _plain(*messages: int) -> int:
    return sum(m + _RECORD_HEADER_BYTES for m in messages)


def _tls13_protected(config: TlsConfig, *messages: int) -> int:
    overhead = record_overhead_bytes(config.record_layer)
    return sum(m + overhead for m in messages)


def _tls12_protected(config: TlsConfig, *messages: int) -> int:
    overhead = _RECORD_HEADER_BYTES + _GCM_EXPLICIT_NONCE_BYTES + config.aead_tag_bytes
    return sum(m + overhead for m in messages)


def handshake_flights(config: TlsConfig) -> tuple[Flight, ...]:
    """The flights of the handshake ``config`` describes, in order."""
    if config.version is TlsVersion.TLS_1_2:
        return _tls12_flights(config)
    return _tls13_flights(config)


def _tls12_flights(config: TlsConfig) -> tuple[Flight, ...]:
    finished = _CCS_RECORD_BYTES + _tls12_protected(config, _TLS12_FINISHED)
    if config.resumption is not Resumption.NONE:
        hello = (
            _CLIENT_HELLO_TLS12_TICKET if config.resumption is Resumption.TICKET else _CLIENT_HELLO
        )
        return (
            Flight(UPLINK, "ClientHello", _plain(hello), False),
            Flight(
                DOWNLINK,
                "ServerHello ChangeCipherSpec Finished",
                _plain(_TLS12_SERVER_HELLO_RESUMED) + finished,
                True,
            ),
            Flight(UPLINK, "ChangeCipherSpec Finished", finished, True),
        )
    certificate = _CERTIFICATE[config.chain][0]
    key_exchange = _SIGNATURE[config.chain][0]
    server_hello = _plain(_TLS12_SERVER_HELLO, certificate, key_exchange, _TLS12_SERVER_HELLO_DONE)
    ticket = _plain(_TLS12_NEW_SESSION_TICKET) if config.tls12_tickets else 0
    return (
        Flight(UPLINK, "ClientHello", _plain(_CLIENT_HELLO), False),
        Flight(
            DOWNLINK,
            "ServerHello Certificate ServerKeyExchange ServerHelloDone",
            server_hello,
            False,
        ),
        Flight(
            UPLINK,
            "ClientKeyExchange ChangeCipherSpec Finished",
            _plain(_TLS12_CLIENT_KEY_EXCHANGE) + finished,
            True,
        ),
        Flight(
            DOWNLINK,
            ("NewSessionTicket " if ticket else "") + "ChangeCipherSpec Finished",
            ticket + finished,
            True,
        ),
    )


def _tls13_flights(config: TlsConfig) -> tuple[Flight, ...]:
    client_finished = _tls13_protected(config, _TLS13_FINISHED)
    tickets = 1 if config.resumption is Resumption.TICKET else config.tls13_tickets
    if config.resumption is Resumption.TICKET:
        extensions = _TLS13_ENCRYPTED_EXTENSIONS
        if config.early_data:
            extensions += _EARLY_DATA_EXTENSION
            hello = _plain(_CLIENT_HELLO_TLS13_PSK + _EARLY_DATA_EXTENSION) + _CCS_RECORD_BYTES
            second = _tls13_protected(config, _TLS13_END_OF_EARLY_DATA) + client_finished
            second_name = "EndOfEarlyData Finished"
        else:
            hello = _plain(_CLIENT_HELLO_TLS13_PSK)
            second = _CCS_RECORD_BYTES + client_finished
            second_name = "ChangeCipherSpec Finished"
        server = (
            _plain(_TLS13_SERVER_HELLO_PSK)
            + _CCS_RECORD_BYTES
            + _tls13_protected(config, extensions, _TLS13_FINISHED)
        )
        server_name = "ServerHello ChangeCipherSpec EncryptedExtensions Finished"
    else:
        hello = _plain(_CLIENT_HELLO)
        certificate = _CERTIFICATE[config.chain][1]
        verify = _SIGNATURE[config.chain][1]
        server = (
            _plain(_TLS13_SERVER_HELLO)
            + _CCS_RECORD_BYTES
            + _tls13_protected(
                config, _TLS13_ENCRYPTED_EXTENSIONS, certificate, verify, _TLS13_FINISHED
            )
        )
        server_name = (
            "ServerHello ChangeCipherSpec EncryptedExtensions Certificate "
            "CertificateVerify Finished"
        )
        second = _CCS_RECORD_BYTES + client_finished
        second_name = "ChangeCipherSpec Finished"
    flights = [
        Flight(
            UPLINK, "ClientHello" + (" ChangeCipherSpec" if config.early_data else ""), hello, False
        ),
        Flight(DOWNLINK, server_name, server, True),
        Flight(UPLINK, second_name, second, True),
    ]
    if tickets:
        ticket_bytes = _tls13_protected(config, *([_TLS13_NEW_SESSION_TICKET] * tickets))
        flights.append(Flight(DOWNLINK, "NewSessionTicket", ticket_bytes, False, awaited=False))
    return tuple(flights)


def application_wire_bytes(plaintext_bytes: int, config: TlsConfig) -> int:
    """Bytes a message of ``plaintext_bytes`` takes on the TCP stream once in records."""
    if plaintext_bytes < 0:
        raise ValueError(f"plaintext_bytes must be >= 0, got {plaintext_bytes}")
    if config.version is TlsVersion.TLS_1_3:
        return secured_bytes(plaintext_bytes, config.record_layer)
    records = max(1, math.ceil(plaintext_bytes / _MAX_PLAINTEXT_BYTES))
    overhead = _RECORD_HEADER_BYTES + _GCM_EXPLICIT_NONCE_BYTES + config.aead_tag_bytes
    return plaintext_bytes + records * overhead
