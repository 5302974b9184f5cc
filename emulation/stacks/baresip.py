"""The baresip adapter: configuration builders, a ctrl_tcp client and parsers of baresip's output.

Role: everything the emulation engine needs to make a real call with baresip 1.0 (Debian's
``baresip-core``) that plays a WAV file and records the audio it receives:

- pure builders of the ``config`` and ``accounts`` files and of the argv
  (:func:`baresip_config`, :func:`baresip_accounts`, :func:`baresip_argv`) from a frozen
  :class:`BaresipSpec`; :func:`write_config_dir` is the one function here that writes them;
- the map from voipbed codec names (:data:`voipbed.models.codecs.CODECS`) to baresip's
  (:func:`baresip_codec`), which names the codecs baresip cannot send;
- :class:`BaresipControl`, a client of the ``ctrl_tcp`` module (netstring-framed JSON over
  TCP: commands ``dial``, ``hangup``, ``quit``; responses and events back), with the
  framing and message parsing as pure functions;
- :func:`parse_baresip_log`, a pure parser of what baresip prints (readiness, negotiated
  codecs, the ``sndfile`` recordings, errors).

Facts of baresip 1.0 this module relies on (checked on Debian 12's 1.0.0):

- It loads only the modules the config names: here the codec module, ``aufile`` (the audio
  source: a mono 16-bit WAV at the codec's rate, or at ``ausrc_srate``), ``sndfile`` (dumps
  ``dump-<time>-enc.wav`` and ``dump-<time>-dec.wav`` per call into ``snd_path``),
  ``account`` (reads ``accounts``), ``menu`` (it registers the ``dial``, ``hangup`` and
  ``quit`` commands) and ``ctrl_tcp``. No console module (``stdio``, ``cons``) and no audio
  device: the received audio is decoded and recorded but played nowhere.
- ``sip_listen`` binds UDP and TCP on its port and **TLS on the next port**, so two
  instances on one address need SIP ports at least 2 apart.
- ``net_interface`` takes an IP address; it picks the address written in SDP, so media stays
  on that address (without it baresip advertises the host's default-route address).
- A call needs an audio source: without one the ``aufile`` default fails and the call ends.
- SIP over TLS (libre 1.1 built with OpenSSL): an account ``<sip:user@host:port;transport=tls>``
  registers and calls over TLS. ``sip_certificate`` is one PEM file with the certificate and
  its key, served by the TLS listener (which has none without it, so a proxy that connects
  to the contact to deliver a request fails its handshake); ``sip_cafile`` adds CAs to
  trust. baresip 1.0 has no ``sip_verify_server``: it does not check the server's
  certificate (libre's ``tls_set_verify_server`` is never called).
- SRTP (:class:`MediaEncryption`, from ``modules/srtp`` and ``modules/dtls_srtp`` at tag
  v1.0.0, checked in calls): media encryption is per account (``mediaenc``), each kind from
  its module. SDES (``srtp-mand``: RTP/SAVP, the key in the SDP's ``a=crypto``, RFC 4568)
  always offers AES_CM_128_HMAC_SHA1_80 (``preferred_suite``, no config key) and the answerer
  takes the first suite it supports; DTLS-SRTP lists SRTP_AES128_CM_SHA1_80 first and
  OpenSSL's DTLS server picks by its own list. So between two baresips the tag is always 80
  bits (:data:`SRTP_TAG_BITS`), with no MKI (libre's SRTP has none). baresip sends its first
  RTCP packet (an APP "PING" opening NAT pinholes) before SRTP is on: the peer drops it
  with the warning ``srtp: failed to decrypt RTCP packet with 16 bytes``; RTP is not
  affected. DTLS-SRTP needs no certificate file (the module makes a self-signed RSA key at
  load and puts its SHA-256 fingerprint in the SDP); the answerer is the DTLS client. The
  call is established at the 200 OK, but its audio waits for the handshake (``CALL_MENC``
  events on ctrl_tcp): the answerer's first ClientHello leaves with its 200 OK and reaches
  the offerer before the answer, whose DTLS listener starts only with the answer, so it is
  dropped and OpenSSL sends it again after its initial 1 s timer (RFC 6347 clause 4.2.4.1):
  audio starts about 1 s and one and a half round trips after the answer.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

from voipbed.emulation.netns import connect_in_namespace
from voipbed.emulation.sip_text import uri_host
from voipbed.emulation.stacks import Transport
from voipbed.models.codecs import CODECS, Codec, PayloadFormat, codec

if TYPE_CHECKING:  # only the type: the adapter works on any object with these fields
    from voipbed.scenario import Calls

__all__ = [
    "BARESIP_BINARY",
    "MODULE_DIR",
    "READY_PATTERN",
    "SRTP_TAG_BITS",
    "AnswerMode",
    "AudioFormat",
    "BaresipCodec",
    "BaresipControl",
    "BaresipControlError",
    "BaresipLog",
    "BaresipSpec",
    "CtrlEvent",
    "CtrlResponse",
    "MediaEncryption",
    "NetstringError",
    "SndfileDump",
    "UnsupportedCodecError",
    "UnsupportedSrtpError",
    "baresip_accounts",
    "baresip_argv",
    "baresip_codec",
    "baresip_config",
    "baresip_spec",
    "ctrl_command",
    "netstring_encode",
    "netstring_split",
    "parse_baresip_log",
    "parse_ctrl_message",
    "registered_pattern",
    "srtp_problem",
    "write_config_dir",
]

BARESIP_BINARY = "baresip"
MODULE_DIR = Path("/usr/lib/baresip/modules")
"""Where Debian's ``baresip-core`` installs its modules."""

READY_PATTERN = r"baresip is ready\."
"""The line baresip prints once its modules, accounts and listeners are up."""


def registered_pattern(user: str) -> str:
    """The line baresip prints when ``user``'s account got a 200 to its REGISTER.

    baresip 1.0 prints ``<user>@<registrar>: {<n>/<transport>/<af>} 200 OK (<server>)``.
    """
    return rf"^{re.escape(user)}@\S+: \{{.*\}} 200 "


MAX_NETSTRING_BYTES = 1 << 20
"""Longest netstring payload accepted; ctrl_tcp's messages are a few hundred bytes."""

_SAFE_PATH = re.compile(r"[^\s,;<>\"]+")  # baresip's config and account syntax split on these
_SAFE_USER = re.compile(r"[A-Za-z0-9_.!~*'()-]+")  # RFC 3261 'unreserved' characters


class UnsupportedCodecError(ValueError):
    """A voipbed codec baresip 1.0 cannot send (no module for it, or no control of its mode)."""


@dataclass(frozen=True)
class BaresipCodec:
    """How baresip sends one voipbed codec.

    ``sdp_name`` is what the account's ``audio_codecs`` takes (name/clock/channels as
    baresip registers it); ``pcm_rate_hz`` is the rate of the PCM baresip feeds the encoder
    and gets from the decoder, so of the ``aufile`` WAV (unless ``ausrc_srate`` resamples)
    and of the ``sndfile`` recordings (mono); ``params`` are extra config lines the module reads.
    """

    voipbed_name: str
    module: str
    sdp_name: str
    pcm_rate_hz: int
    params: tuple[tuple[str, str], ...] = ()
    ptimes_s: tuple[float, ...] = ()  # what the module can packetize; (): every codec ptime
    ptime_note: str = ""  # why only ``ptimes_s``
    payload_format: PayloadFormat | None = None  # what the module sends; None: the codec's

    @property
    def sent(self) -> Codec:
        """The voipbed codec as baresip sends it (its payload format where that differs)."""
        spec = codec(self.voipbed_name)
        if self.payload_format is None:
            return spec
        return replace(spec, payload_format=self.payload_format)

    def ptime_problem(self, ptime_s: float) -> str | None:
        """Why baresip cannot send this codec at ``ptime_s`` (None: it can)."""
        if not self.ptimes_s or any(math.isclose(ptime_s, p) for p in self.ptimes_s):
            return None
        allowed = ", ".join(f"{p * 1e3:g}" for p in self.ptimes_s)
        return (
            f"baresip sends {self.voipbed_name} at {allowed} ms only, not"
            f" {ptime_s * 1e3:g} ms: {self.ptime_note}"
        )


def _opus(name: str) -> BaresipCodec:
    spec = CODECS[name]
    rate = spec.sample_rate_hz
    # baresip 1.0's opus module registers itself as opus/<opus_samplerate>/<1, or 2 with
    # opus_stereo> and runs its PCM at that rate; the rate also caps the coded audio
    # bandwidth at NB, WB or FB as the voipbed codec says.
    return BaresipCodec(
        voipbed_name=name,
        module="opus",
        sdp_name=f"opus/{rate}/1",
        pcm_rate_hz=rate,
        params=(
            ("opus_bitrate", str(round(spec.bitrate_bps))),
            ("opus_samplerate", str(rate)),
            ("opus_stereo", "no"),
            ("opus_sprop_stereo", "no"),
            ("opus_cbr", "yes"),  # voipbed's Opus codecs are CBR at the named rate
            ("opus_dtx", "no"),
            ("opus_application", "voip"),
        ),
    )


# baresip 1.0.0's amr module (modules/amr/amr.c and sdp.c at tag v1.0.0; Debian 12 builds it
# with opencore-amrnb, vo-amrwbenc and opencore-amrwb), checked against the payloads of
# emulated calls (AMR-WB: tests/emulation/test_amr_wb.py; AMR: 33-byte payloads, CMR 15, ToC
# FT 7):
# - encode_nb passes the constant MR122 to Encoder_Interface_Encode, encode_wb the constant
#   mode 8 to E_IF_encode: every AMR frame is 12.2 kbit/s, every AMR-WB frame 23.85. The
#   encoder reads no config key, ignores the fmtp (mode-set) it is given and sends a CMR of
#   15 (no request); a CMR received is skipped, never obeyed. No other mode can be sent.
# - Payloads are RFC 4867's octet-aligned format (clause 4.4): the CMR octet, one ToC octet,
#   the frame padded to octets (AMR 12.2: 33 bytes, AMR-WB 23.85: 62). Its SDP says
#   octet-align=1 and it takes no peer format without it (sdp.c, amr_fmtp_cmp), so the
#   bandwidth-efficient format (clause 4.3) of voipbed's AMR codecs, one byte shorter,
#   cannot be sent.
# - encode_nb/encode_wb take exactly one 20 ms frame (160 or 320 samples) and fail on any
#   other count, and baresip hands the encoder a whole ptime's samples: 20 ms packets only.
def _amr(name: str, sdp_name: str) -> BaresipCodec:
    """The one AMR or AMR-WB mode baresip sends, as its amr module sends it."""
    return BaresipCodec(
        voipbed_name=name,
        module="amr",
        sdp_name=sdp_name,
        pcm_rate_hz=CODECS[name].sample_rate_hz,
        ptimes_s=(0.020,),
        ptime_note=(
            "its amr module encodes exactly one 20 ms frame per packet (modules/amr/amr.c:"
            " encode_nb and encode_wb refuse any other sample count)"
        ),
        payload_format=PayloadFormat.AMR_OCTET_ALIGNED,
    )


_BARESIP_CODECS: dict[str, BaresipCodec] = {
    "PCMU": BaresipCodec("PCMU", "g711", "PCMU/8000/1", 8000),
    "PCMA": BaresipCodec("PCMA", "g711", "PCMA/8000/1", 8000),
    # G.722's RTP clock is 8000 (RFC 3551 clause 4.5.2) but baresip names it by its
    # 16 kHz sampling rate, as it registers it.
    "G722": BaresipCodec("G722", "g722", "G722/16000/1", 16000),
    "AMR-12.2": _amr("AMR-12.2", "AMR/8000/1"),
    "AMR-WB-23.85": _amr("AMR-WB-23.85", "AMR-WB/16000/1"),
    **{name: _opus(name) for name in CODECS if name.startswith("OPUS-")},
}

_WHY_NOT = {  # by name prefix, the first that matches
    "G729": "Debian's baresip has no G.729 module",
    "AMR-WB-": (
        "baresip's amr module encodes AMR-WB at mode 8 (23.85 kbit/s) only: modules/amr/amr.c"
        " passes the constant 8 to E_IF_encode and reads no mode-set, CMR or config key"
    ),
    "AMR-": (
        "baresip's amr module encodes AMR at mode 7 (12.2 kbit/s) only: modules/amr/amr.c"
        " passes the constant MR122 to Encoder_Interface_Encode and reads no mode-set, CMR"
        " or config key"
    ),
    "EVS": "baresip has no EVS module",
    "iLBC": "Debian's baresip has no iLBC module",
}


def baresip_codec(name: str) -> BaresipCodec:
    """How baresip sends voipbed codec ``name``; UnsupportedCodecError if it cannot."""
    codec(name)  # an unknown name raises the codec table's own error
    try:
        return _BARESIP_CODECS[name]
    except KeyError:
        family = next((f for f in _WHY_NOT if name.startswith(f)), None)
        reason = _WHY_NOT[family] if family else "no baresip module for it"
        supported = ", ".join(sorted(_BARESIP_CODECS))
        raise UnsupportedCodecError(
            f"baresip cannot send codec {name!r}: {reason} (baresip can do: {supported})"
        ) from None


class UnsupportedSrtpError(ValueError):
    """An SRTP authentication tag baresip 1.0 cannot send."""


SRTP_TAG_BITS = 80
"""The one SRTP authentication tag baresip 1.0 sends to another baresip, keyed by SDES or
DTLS-SRTP: HMAC-SHA1-80 (RFC 3711 clause 5.2); see the module's notes."""


def srtp_problem(tag_bits: int) -> str | None:
    """Why baresip cannot send SRTP with a ``tag_bits`` authentication tag (None: it can;
    0 is plain RTP)."""
    if tag_bits in (0, SRTP_TAG_BITS):
        return None
    return (
        f"baresip 1.0 sends SRTP with an {SRTP_TAG_BITS}-bit tag only, not {tag_bits}: its"
        " srtp module (SDES) always offers AES_CM_128_HMAC_SHA1_80 (modules/srtp/srtp.c:"
        " preferred_suite, no config key) and the answerer takes the first suite it supports;"
        " dtls_srtp lists SRTP_AES128_CM_SHA1_80 first and OpenSSL's DTLS server picks by"
        " that list"
    )


class MediaEncryption(StrEnum):
    """How an account protects its media (baresip's ``mediaenc`` account parameter)."""

    NONE = ""  # plain RTP (RTP/AVP)
    SDES = "srtp-mand"  # SRTP keyed in the SDP (a=crypto, RFC 4568); offers RTP/SAVP only
    DTLS_SRTP = "dtls_srtp"  # SRTP keyed by DTLS on the media ports (RFC 5763, RFC 5764)

    @property
    def module(self) -> str | None:
        """The baresip module that provides it (None: no module needed)."""
        return {"": None, "srtp-mand": "srtp", "dtls_srtp": "dtls_srtp"}[self.value]

    @classmethod
    def for_tag(cls, tag_bits: int) -> MediaEncryption:
        """What sends SRTP with a ``tag_bits`` tag: SDES for 80 (keys in the SIP exchange,
        no handshake on the media path), none for 0; UnsupportedSrtpError otherwise."""
        if (why := srtp_problem(tag_bits)) is not None:
            raise UnsupportedSrtpError(why)
        return cls.SDES if tag_bits else cls.NONE

    @classmethod
    def for_keying(cls, tag_bits: int, keying: str) -> MediaEncryption:
        """What sends SRTP with a ``tag_bits`` tag keyed by ``keying`` (a scenario's
        ``calls.srtp_keying``: ``sdes`` or ``dtls``): DTLS-SRTP for an 80-bit tag keyed by
        ``dtls``, else :meth:`for_tag`; UnsupportedSrtpError for a tag baresip cannot send,
        ValueError for ``dtls`` without SRTP."""
        if keying != "dtls":
            return cls.for_tag(tag_bits)
        if cls.for_tag(tag_bits) is cls.NONE:
            raise ValueError("DTLS-SRTP keys SRTP: srtp_tag_bits must not be 0")
        return cls.DTLS_SRTP


class AnswerMode(StrEnum):
    """What an account does with an incoming call (baresip's ``answermode``)."""

    MANUAL = "manual"
    AUTO = "auto"
    EARLY = "early"


def _check_port(name: str, port: int) -> None:
    if not 1 <= port <= 65535:
        raise ValueError(f"{name} must be in 1..65535, got {port}")


MAX_PATH_CHARS = 120
"""baresip 1.0 keeps audio device strings ("aufile,<path>") and snd_path in 128-byte
buffers and cuts longer ones silently: longer paths are refused here instead."""


def _check_path(name: str, path: Path, *, relative_ok: bool = False, short: bool = False) -> None:
    """A path baresip can take: absolute (or relative to its working directory, where
    allowed), in its config syntax, and (``short``) within its device-string buffers."""
    if not (path.is_absolute() or relative_ok) or not _SAFE_PATH.fullmatch(str(path)):
        kind = "a path" if relative_ok else "an absolute path"
        raise ValueError(
            f"{name} must be {kind} without whitespace, commas, semicolons, quotes"
            f" or angle brackets (baresip's config syntax), got {str(path)!r}"
        )
    if short and len(str(path)) > MAX_PATH_CHARS:
        raise ValueError(
            f"{name} is {len(str(path))} characters; baresip cuts paths beyond"
            f" {MAX_PATH_CHARS}: use a shorter or relative path, got {str(path)!r}"
        )


@dataclass(frozen=True)
class BaresipSpec:
    """One baresip instance: where it listens, what it sends and what it records.

    Every socket binds ``address`` (loopback, or the host's address in its namespace): SIP
    on ``sip_port`` (UDP and TCP; TLS on ``sip_port + 1``), RTP and RTCP in ``rtp_ports``
    (inclusive), ctrl_tcp on ``ctrl_port``. ``audio_source`` is the WAV played into every
    call (mono, 16-bit, at the codec's PCM rate or at ``source_rate_hz``, which baresip
    resamples from); ``record_dir`` receives the ``sndfile`` dumps (None: no recording).
    ``registrar`` (host:port) makes the account register there and send calls through it;
    without it the account does not register and calls go to the URI dialled.
    ``jitter_buffer_frames`` is baresip's adaptive jitter buffer range (min-max packets);
    ``dscp`` marks RTP (``rtp_tos`` = DSCP << 2). With ``transport`` TLS,
    ``tls_certificate`` (certificate and key in one PEM, needed: see the module's notes) is
    what its TLS listener serves and ``tls_ca`` the CA it is given for the registrar's.
    ``media_encryption`` protects the media with SRTP (both sides of a call need the same).
    """

    user: str
    address: str
    sip_port: int
    ctrl_port: int
    rtp_ports: tuple[int, int]
    codec: str
    ptime_s: float
    audio_source: Path
    record_dir: Path | None = None
    source_rate_hz: int | None = None
    answer_mode: AnswerMode = AnswerMode.AUTO
    registrar: str | None = None
    register_interval_s: int = 600
    jitter_buffer_frames: tuple[int, int] = (5, 10)
    dscp: int = 46
    module_dir: Path = MODULE_DIR
    transport: Transport = Transport.UDP  # SIP to the registrar and in calls
    tls_certificate: Path | None = None  # sip_certificate: PEM certificate and key
    tls_ca: Path | None = None  # sip_cafile: PEM CA certificates
    media_encryption: MediaEncryption = MediaEncryption.NONE

    def __post_init__(self) -> None:
        if not _SAFE_USER.fullmatch(self.user):
            raise ValueError(f"user {self.user!r} must be a SIP user name ([A-Za-z0-9_.!~*'()-])")
        try:
            ipaddress.ip_address(self.address)
        except ValueError:
            raise ValueError(f"address must be an IP address, got {self.address!r}") from None
        _check_port("sip_port", self.sip_port)
        _check_port("sip_port + 1 (baresip's TLS listener)", self.sip_port + 1)
        _check_port("ctrl_port", self.ctrl_port)
        if self.ctrl_port in (self.sip_port, self.sip_port + 1):
            raise ValueError(
                f"ctrl_port {self.ctrl_port} collides with SIP on {self.sip_port} (UDP, TCP)"
                f" and {self.sip_port + 1} (TLS)"
            )
        low, high = self.rtp_ports
        _check_port("rtp_ports[0]", low)
        _check_port("rtp_ports[1]", high)
        if high - low < 1:
            raise ValueError(f"rtp_ports must span at least 2 ports (RTP, RTCP), got {low}-{high}")
        media = baresip_codec(self.codec)
        if not codec(self.codec).allows(self.ptime_s):
            allowed = ", ".join(f"{p * 1e3:g}" for p in codec(self.codec).ptimes_s)
            raise ValueError(
                f"{self.codec} is not sent at {self.ptime_s * 1e3:g} ms (allowed: {allowed} ms)"
            )
        if (why := media.ptime_problem(self.ptime_s)) is not None:
            raise UnsupportedCodecError(why)
        _check_path("audio_source", self.audio_source, relative_ok=True, short=True)
        if self.record_dir is not None:
            _check_path("record_dir", self.record_dir, relative_ok=True, short=True)
        _check_path("module_dir", self.module_dir)
        if self.source_rate_hz is not None and self.source_rate_hz <= 0:
            raise ValueError(f"source_rate_hz must be > 0, got {self.source_rate_hz}")
        if self.registrar is not None and not re.fullmatch(r"[A-Za-z0-9.:\[\]-]+", self.registrar):
            raise ValueError(f"registrar must be host or host:port, got {self.registrar!r}")
        if self.register_interval_s <= 0:
            raise ValueError(f"register_interval_s must be > 0, got {self.register_interval_s}")
        jb_min, jb_max = self.jitter_buffer_frames
        if not 1 <= jb_min <= jb_max:
            raise ValueError(
                f"jitter_buffer_frames must be 1 <= min <= max, got {self.jitter_buffer_frames}"
            )
        if not 0 <= self.dscp <= 63:
            raise ValueError(f"dscp must be in 0..63, got {self.dscp}")
        if self.transport is Transport.TLS and self.tls_certificate is None:
            raise ValueError(
                "TLS needs tls_certificate: baresip's TLS listener serves it when the"
                " registrar connects to its contact"
            )
        for name, path in (("tls_certificate", self.tls_certificate), ("tls_ca", self.tls_ca)):
            if path is not None:
                _check_path(name, path, relative_ok=True, short=True)

    @property
    def media(self) -> BaresipCodec:
        """How baresip sends this spec's codec."""
        return baresip_codec(self.codec)

    @property
    def contact_uri(self) -> str:
        """The URI that reaches this instance directly (no registrar): sip:user@address:port."""
        return f"sip:{self.user}@{uri_host(self.address)}:{self.sip_port}"

    @property
    def aor(self) -> str:
        """The account's address of record: at the registrar if any, else the contact URI."""
        if self.registrar is None:
            return self.contact_uri
        uri = f"sip:{self.user}@{self.registrar}"
        return uri if self.transport is Transport.UDP else f"{uri};transport={self.transport}"


def baresip_spec(calls: Calls, **fields: object) -> BaresipSpec:
    """A BaresipSpec sending what the scenario's calls send (codec, ptime, DSCP, SRTP: keyed
    by SDES or DTLS-SRTP as ``srtp_keying`` says, :meth:`MediaEncryption.for_keying`).

    ``fields`` are the other BaresipSpec fields (user, address, ports, audio_source, ...).
    UnsupportedSrtpError for a tag baresip cannot send.
    """
    return BaresipSpec(
        codec=calls.codec,
        ptime_s=calls.ptime_s,
        dscp=calls.dscp,
        media_encryption=MediaEncryption.for_keying(calls.srtp_tag_bits, calls.srtp_keying),
        **fields,  # type: ignore[arg-type]
    )


def _config_lines(spec: BaresipSpec) -> list[tuple[str, str]]:
    media = spec.media
    host = uri_host(spec.address)
    lines: list[tuple[str, str]] = [
        ("poll_method", "epoll"),
        ("sip_listen", f"{host}:{spec.sip_port}"),
        ("call_local_timeout", "120"),
        ("call_max_calls", "4"),
        ("audio_source", f"aufile,{spec.audio_source}"),
    ]
    if spec.source_rate_hz is not None:
        lines.append(("ausrc_srate", str(spec.source_rate_hz)))
    jb_min, jb_max = spec.jitter_buffer_frames
    lines += [
        ("audio_level", "no"),
        ("rtp_tos", str(spec.dscp << 2)),
        ("rtp_ports", f"{spec.rtp_ports[0]}-{spec.rtp_ports[1]}"),
        ("rtcp_mux", "no"),
        ("jitter_buffer_delay", f"{jb_min}-{jb_max}"),
        ("rtp_stats", "no"),
        ("net_interface", spec.address),
        ("module_path", str(spec.module_dir)),
        ("module", f"{media.module}.so"),
        ("module", "aufile.so"),
    ]
    if (encryption := spec.media_encryption.module) is not None:
        lines.append(("module", f"{encryption}.so"))
    if spec.record_dir is not None:
        lines.append(("module", "sndfile.so"))
    lines += [
        ("module_tmp", "account.so"),
        ("module_app", "menu.so"),
        ("module_app", "ctrl_tcp.so"),
        ("ctrl_tcp_listen", f"{host}:{spec.ctrl_port}"),
        ("statmode_default", "off"),  # menu's per-second status line
        ("ringback_disabled", "yes"),  # no audio device to ring on
        *media.params,
    ]
    if spec.record_dir is not None:
        lines.append(("snd_path", str(spec.record_dir)))
    if spec.tls_certificate is not None:
        lines.append(("sip_certificate", str(spec.tls_certificate)))
    if spec.tls_ca is not None:
        lines.append(("sip_cafile", str(spec.tls_ca)))
    return lines


def baresip_config(spec: BaresipSpec) -> str:
    """The text of baresip's ``config`` file for ``spec`` (only the modules it needs)."""
    header = f"# baresip config written by voipbed for {spec.aor}\n"
    return header + "".join(f"{key}\t\t{value}\n" for key, value in _config_lines(spec))


def baresip_accounts(spec: BaresipSpec) -> str:
    """The text of baresip's ``accounts`` file: one account sending ``spec``'s codec."""
    params = [f"answermode={spec.answer_mode.value}"]
    if spec.registrar is None:
        params.append("regint=0")  # no registrar: do not register, be called directly
    else:
        params.append(f"regint={spec.register_interval_s}")
    params += [
        f"audio_codecs={spec.media.sdp_name}",
        f"ptime={round(spec.ptime_s * 1000)}",
        "medianat=",  # no STUN, TURN or ICE: addresses are the emulated network's
        f"mediaenc={spec.media_encryption.value}",
    ]
    return f"<{spec.aor}>;" + ";".join(params) + "\n"


def write_config_dir(spec: BaresipSpec, directory: Path, *, cwd: Path | None = None) -> Path:
    """Write ``config``, ``accounts`` and an empty ``contacts`` into ``directory``; return it.

    Also creates ``spec.record_dir`` (a relative one in ``cwd``, baresip's working folder;
    default: this process's). baresip would otherwise write templates of the missing files.
    """
    _check_path("config directory", directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config").write_text(baresip_config(spec))
    (directory / "accounts").write_text(baresip_accounts(spec))
    (directory / "contacts").write_text("")
    if spec.record_dir is not None:
        ((cwd or Path.cwd()) / spec.record_dir).mkdir(parents=True, exist_ok=True)
    return directory


def baresip_argv(
    config_dir: Path,
    *,
    sip_trace: bool = False,
    verbose: bool = False,
    binary: str = BARESIP_BINARY,
) -> list[str]:
    """The argv that runs baresip on ``config_dir``: no console module is configured, so it
    reads nothing from stdin and is driven through ctrl_tcp only. ``sip_trace`` prints every
    SIP message (``-s``), ``verbose`` debug lines (``-v``)."""
    _check_path("config_dir", config_dir)
    argv = [binary, "-f", str(config_dir)]
    if sip_trace:
        argv.append("-s")
    if verbose:
        argv.append("-v")
    return argv


# --- ctrl_tcp: netstring-framed JSON ------------------------------------------------------


class NetstringError(ValueError):
    """Bytes that are not a netstring (``<length>:<payload>,``)."""


def netstring_encode(payload: bytes) -> bytes:
    """``payload`` framed as a netstring: ``b"5:hello,"``."""
    return b"%d:%s," % (len(payload), payload)


def netstring_split(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The complete netstrings' payloads at the start of ``buffer``, and the rest (a partial
    netstring, to be completed by more bytes); NetstringError on malformed framing."""
    payloads: list[bytes] = []
    start = 0
    while start < len(buffer):
        colon = buffer.find(b":", start)
        if colon < 0:
            digits = buffer[start:]
            if not digits.isdigit() or len(digits) > len(str(MAX_NETSTRING_BYTES)):
                raise NetstringError(f"bad netstring length prefix {digits[:20]!r}")
            break
        digits = buffer[start:colon]
        if not digits.isdigit() or (len(digits) > 1 and digits.startswith(b"0")):
            raise NetstringError(f"bad netstring length {digits[:20]!r}")
        length = int(digits)
        if length > MAX_NETSTRING_BYTES:
            raise NetstringError(f"netstring of {length} bytes exceeds {MAX_NETSTRING_BYTES}")
        end = colon + 1 + length
        if end >= len(buffer):
            break  # incomplete: payload or the trailing comma still to come
        if buffer[end : end + 1] != b",":
            raise NetstringError(f"netstring of {length} bytes not followed by ','")
        payloads.append(buffer[colon + 1 : end])
        start = end + 1
    return payloads, buffer[start:]


def ctrl_command(command: str, params: str = "", token: str | None = None) -> bytes:
    """A ctrl_tcp command as bytes on the wire (netstring of its JSON)."""
    message: dict[str, str] = {"command": command, "params": params}
    if token is not None:
        message["token"] = token
    return netstring_encode(json.dumps(message).encode("utf-8"))


@dataclass(frozen=True)
class CtrlResponse:
    """baresip's answer to one command: ``ok``, the command's output and the token sent."""

    ok: bool
    data: str
    token: str | None


@dataclass(frozen=True)
class CtrlEvent:
    """An event baresip pushes (``CALL_ESTABLISHED``, ``CALL_CLOSED``, ``CALL_RTCP``, ...)."""

    type: str
    event_class: str
    account_aor: str
    direction: str
    peer_uri: str
    call_id: str | None
    param: str
    fields: Mapping[str, object] = field(default_factory=dict)  # the whole message
    received_s: float = math.nan  # time.monotonic() when the client read it (NaN: not read)


def _text(message: Mapping[str, object], key: str) -> str:
    value = message.get(key, "")
    return value if isinstance(value, str) else str(value)


def parse_ctrl_message(payload: bytes) -> CtrlResponse | CtrlEvent:
    """One ctrl_tcp message (a netstring's payload) as a response or an event."""
    try:
        message = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"ctrl_tcp message is not JSON: {payload[:80]!r}") from error
    if not isinstance(message, dict):
        raise ValueError(f"ctrl_tcp message is not a JSON object: {payload[:80]!r}")
    if message.get("response") is True:
        token = message.get("token")
        return CtrlResponse(
            ok=message.get("ok") is True,
            data=_text(message, "data"),
            token=token if isinstance(token, str) else None,
        )
    if message.get("event") is True:
        call_id = message.get("id")
        return CtrlEvent(
            type=_text(message, "type"),
            event_class=_text(message, "class"),
            account_aor=_text(message, "accountaor"),
            direction=_text(message, "direction"),
            peer_uri=_text(message, "peeruri"),
            call_id=call_id if isinstance(call_id, str) else None,
            param=_text(message, "param"),
            fields=message,
        )
    raise ValueError(f"ctrl_tcp message is neither a response nor an event: {payload[:80]!r}")


class BaresipControlError(RuntimeError):
    """A ctrl_tcp command failed, the connection broke, or an awaited reply did not come."""


class BaresipControl:
    """A client of baresip's ctrl_tcp module at ``host:port``.

    Commands wait for their response (matched by token); events that arrive meanwhile are
    kept in :attr:`events`, in order, and :meth:`wait_event` waits for a given one. Use it as
    a context manager, or call :meth:`connect` and :meth:`close`. With ``netns_pid`` it
    connects from that process's network namespace (a Mininet node's shell).
    """

    def __init__(
        self, host: str, port: int, *, timeout_s: float = 5.0, netns_pid: int | None = None
    ) -> None:
        _check_port("port", port)
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self.netns_pid = netns_pid  # connect from this process's network namespace
        self.events: list[CtrlEvent] = []
        self._socket: socket.socket | None = None
        self._buffer = b""
        self._responses: dict[str | None, CtrlResponse] = {}
        self._next_token = 1
        self._seen = 0  # events already handed out by wait_event

    def connect(self) -> Self:
        """Open the TCP connection (ConnectionError/OSError if nothing listens)."""
        if self._socket is None and self.netns_pid is not None:
            self._socket = connect_in_namespace(
                self.netns_pid, self.host, self.port, self.timeout_s
            )
        elif self._socket is None:
            self._socket = socket.create_connection((self.host, self.port), self.timeout_s)
        return self

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> Self:
        return self.connect()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _receive(self, deadline: float) -> bool:
        """Read what arrives before ``deadline`` into responses and events; False on timeout."""
        if self._socket is None:
            raise BaresipControlError("not connected: call connect() first")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self._socket.settimeout(remaining)
        try:
            data = self._socket.recv(65536)
        except TimeoutError:
            return False
        if not data:
            raise BaresipControlError(f"baresip closed ctrl_tcp {self.host}:{self.port}")
        received_s = time.monotonic()
        payloads, self._buffer = netstring_split(self._buffer + data)
        for payload in payloads:
            message = parse_ctrl_message(payload)
            if isinstance(message, CtrlResponse):
                self._responses[message.token] = message
            else:
                self.events.append(replace(message, received_s=received_s))
        return True

    def fileno(self) -> int:
        """The connection's socket, for ``select`` (read events as they come with
        :meth:`read_ready`)."""
        if self._socket is None:
            raise BaresipControlError("not connected: call connect() first")
        return self._socket.fileno()

    def read_ready(self) -> None:
        """Read what ``select`` found waiting on :meth:`fileno` (events get their time)."""
        self._receive(time.monotonic() + self.timeout_s)

    def send(self, command: str, params: str = "") -> str:
        """Send a command without waiting; return its token."""
        if self._socket is None:
            raise BaresipControlError("not connected: call connect() first")
        token = f"voipbed-{self._next_token}"
        self._next_token += 1
        self._socket.sendall(ctrl_command(command, params, token))
        return token

    def command(self, command: str, params: str = "", *, timeout_s: float | None = None) -> str:
        """Run ``command`` and return its output; BaresipControlError if it fails or no
        response comes within ``timeout_s`` (default: the client's)."""
        token = self.send(command, params)
        deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
        while token not in self._responses:
            if not self._receive(deadline) and time.monotonic() >= deadline:
                raise BaresipControlError(f"no response to {command!r} from {self.host}")
        response = self._responses.pop(token)
        if not response.ok:
            raise BaresipControlError(f"{command} {params!r} failed: {response.data}")
        return response.data

    def wait_event(self, event_type: str, *, timeout_s: float | None = None) -> CtrlEvent:
        """The next event of ``event_type`` not yet returned (events before it are skipped
        by this call but stay in :attr:`events`); BaresipControlError after ``timeout_s``."""
        deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
        while True:
            for index in range(self._seen, len(self.events)):
                if self.events[index].type == event_type:
                    self._seen = index + 1
                    return self.events[index]
            if not self._receive(deadline) and time.monotonic() >= deadline:
                seen = ", ".join(event.type for event in self.events[self._seen :]) or "none"
                raise BaresipControlError(
                    f"no {event_type} event from {self.host}:{self.port} within the timeout"
                    f" (events since the last one awaited: {seen})"
                )

    def dial(self, uri: str) -> str:
        """Call ``uri`` (``sip:user@host:port``); returns once baresip has accepted it."""
        return self.command("dial", uri)

    def hangup(self) -> str:
        """Hang up the current call."""
        return self.command("hangup")

    def quit(self) -> None:
        """Ask baresip to exit; its response may not arrive before it does."""
        self.send("quit")


# --- baresip's printed output ----------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_RED = "\x1b[31m"
_VERSION = re.compile(r"^baresip v(\S+)")
_CODEC_SET = re.compile(r"^audio: Set audio (encoder|decoder): (\S+) (\d+)Hz (\d+)ch")
_DUMP = re.compile(r"^sndfile: dumping (encode|decode) audio to (.+?)\s*$")
_ESTABLISHED = re.compile(r": Call established: (\S+)")


@dataclass(frozen=True)
class AudioFormat:
    """A codec as baresip set it up for a call: name, PCM rate, channels."""

    name: str
    rate_hz: int
    channels: int


@dataclass(frozen=True)
class SndfileDump:
    """One ``sndfile`` recording: ``encode`` (what was sent) or ``decode`` (what arrived)."""

    direction: str
    path: Path


@dataclass(frozen=True)
class BaresipLog:
    """What baresip's printed output says, in order of appearance."""

    version: str | None
    ready: bool
    encoders: tuple[AudioFormat, ...]
    decoders: tuple[AudioFormat, ...]
    dumps: tuple[SndfileDump, ...]
    established: tuple[str, ...]  # peer URI of each call established
    errors: tuple[str, ...]  # lines baresip printed in red (its warnings and errors)

    def recordings(self, direction: str = "decode") -> tuple[Path, ...]:
        """The sndfile files of ``direction`` (``decode``: received audio), oldest first."""
        if direction not in ("encode", "decode"):
            raise ValueError(f"direction must be 'encode' or 'decode', got {direction!r}")
        return tuple(dump.path for dump in self.dumps if dump.direction == direction)


def parse_baresip_log(text: str) -> BaresipLog:
    """Parse baresip's stdout (colour codes and all) into a :class:`BaresipLog`."""
    version = None
    ready = False
    encoders: list[AudioFormat] = []
    decoders: list[AudioFormat] = []
    dumps: list[SndfileDump] = []
    established: list[str] = []
    errors: list[str] = []
    for raw in text.splitlines():
        line = _ANSI.sub("", raw).strip()
        if not line:
            continue
        if _RED in raw:  # baresip prints warnings as ESC[31m ... ESC[;m
            errors.append(line)
        if version is None and (match := _VERSION.match(line)):
            version = match.group(1)
        elif re.fullmatch(READY_PATTERN, line):
            ready = True
        elif match := _CODEC_SET.match(line):
            fmt = AudioFormat(match.group(2), int(match.group(3)), int(match.group(4)))
            (encoders if match.group(1) == "encoder" else decoders).append(fmt)
        elif match := _DUMP.match(line):
            dumps.append(SndfileDump(match.group(1), Path(match.group(2))))
        elif match := _ESTABLISHED.search(line):
            established.append(match.group(1))
    return BaresipLog(
        version=version,
        ready=ready,
        encoders=tuple(encoders),
        decoders=tuple(decoders),
        dumps=tuple(dumps),
        established=tuple(established),
        errors=tuple(errors),
    )
