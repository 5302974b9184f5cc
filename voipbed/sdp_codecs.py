"""Which voipbed codec each RTP stream of a capture carries: from the SDP, the payloads,
``--codec`` or the scenario.

:class:`CodecChooser` names the codec (``models.codecs.CODECS``) of one stream
from the payload type most of its packets carry:

1. A static payload type (below 96) by RFC 3551 6's table, as voipbed's codecs
   carry it (PCMU 0, PCMA 8, G722 9, G729 18).
2. A dynamic one (96-127): ``--codec`` when it is given; else the encoding that
   the SDP of the stream's receiver binds the type to: the last offer or answer
   in the captures whose audio address and port are where the stream was sent
   (RFC 3264 5 and 6: the types an SDP lists are those its sender expects to
   receive); else the one encoding every SDP in the captures that binds the type
   agrees on; else the scenario's ``calls.codec``; else the stream cannot be
   imported.

voipbed's codecs are per mode, so an SDP encoding is turned into one:

- AMR, AMR-WB: the mode most speech packets carry, read from the payloads'
  ToC (``payload_modes.amr_mode``, in the payload format the fmtp's
  ``octet-align`` gives, RFC 4867 8.1); failing that, the highest mode the
  fmtp's ``mode-set`` allows (all modes when it is absent, RFC 4867 8.1).
- EVS: the bit rate most speech packets carry (``payload_modes.evs_rate``) or
  else the top of the fmtp's ``br``; voipbed's EVS mode of the nearest bit rate,
  in super-wideband when the fmtp's ``bw`` reaches ``swb`` or ``fb``, else in
  wideband (TS 26.445 A.3.2); AMR-WB IO frames are AMR-WB's mode.
- Opus: voipbed's Opus mode nearest the stream's mean payload bit rate (its
  bytes over its RTP timestamps' span at Opus's 48 kHz clock, RFC 7587 4.1), or
  else the fmtp's ``maxaveragebitrate`` (RFC 7587 7.1): a guess that the choice
  says it is.
- iLBC: 20 or 30 ms mode by its frames' size (``payload_modes.ilbc_frame_ms``),
  else the fmtp's ``mode`` (30 when absent, RFC 3952 5).
- PCMU, PCMA, G722, G729 by name; ``telephone-event`` (RFC 4733) and ``CN``
  (RFC 3389) carry no voice: such a stream is not imported.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from voipbed.models.codecs import CODECS
from voipbed.payload_modes import AMR_NAMES, AMR_WB_NAMES, amr_mode, evs_rate, ilbc_frame_ms
from voipbed.sdp import AudioMedia, Encoding

__all__ = [
    "CodecChoice",
    "CodecChooser",
    "CodecSource",
    "CodecUnknownError",
    "StreamMedia",
]

FIRST_DYNAMIC = 96  # RFC 3551 3: 96-127 are bound by SDP
_OPUS_CLOCK_HZ = 48000  # RFC 7587 4.1
_NO_VOICE = ("TELEPHONE-EVENT", "CN")
_BY_NAME = {"PCMU": "PCMU", "PCMA": "PCMA", "G722": "G722", "G729": "G729"}
_NUMBER = re.compile(r"\d{1,3}(?:\.\d{1,3})?", re.ASCII)
_STATIC = {c.rtp_payload_type: name for name, c in CODECS.items() if c.rtp_payload_type < 96}


class CodecSource(StrEnum):
    """Where a stream's codec was told."""

    STATIC = "static"  # its static payload type
    SDP = "sdp"  # the SDP's encoding and parameters
    PAYLOAD = "payload"  # the SDP's encoding, the mode read from the RTP payloads
    OPTION = "option"  # --codec
    SCENARIO = "scenario"  # the scenario's calls.codec


class CodecUnknownError(ValueError):
    """A stream whose codec cannot be told, or is one voipbed does not model."""


@dataclass(frozen=True)
class StreamMedia:
    """What the chooser sees of one stream: its receiver, its main payload type, and the
    payloads of its packets of that type."""

    receiver: tuple[str, int]  # destination address (``frame_fields.address_text``), port
    payload_type: int
    payload_bytes: NDArray[np.int64]
    head: NDArray[np.int64]  # each payload's first three octets, big-endian
    rtp_span_ticks: int  # RTP timestamp advance from its first packet to its last

    @property
    def where(self) -> str:
        address, port = self.receiver
        return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


@dataclass(frozen=True)
class CodecChoice:
    """A stream's codec (None: it carries no voice), where it came from, and how."""

    codec: str | None
    source: CodecSource
    detail: str
    encoding: str | None = None  # the SDP's, e.g. "AMR-WB/16000"
    guessed: bool = False  # the nearest of voipbed's modes, not the one the stream used


_Mode = tuple[str, CodecSource, str, bool]  # codec, source, how, guessed


class CodecChooser:
    """Names each stream's codec (see the module docstring) from the captures' SDPs."""

    def __init__(
        self,
        sdps: Iterable[Sequence[AudioMedia]],
        *,
        option: str | None = None,
        scenario: str | None = None,
    ) -> None:
        """``sdps``: the audio media of each SDP body, in the captures' time order."""
        self._option = option
        self._scenario = scenario
        self._received: dict[tuple[str, int, int], Encoding] = {}
        bound: dict[int, set[Encoding]] = defaultdict(set)
        for sdp in sdps:
            for media in sdp:
                for pt, encoding in media.encodings.items():
                    if media.address and media.port:
                        self._received[(media.address, media.port, pt)] = encoding
                    bound[pt].add(encoding)
        self._agreed = {pt: next(iter(seen)) for pt, seen in bound.items() if len(seen) == 1}

    def __call__(self, media: StreamMedia) -> CodecChoice:
        """The codec of the stream ``media``; raises :class:`CodecUnknownError`."""
        pt = media.payload_type
        if pt < FIRST_DYNAMIC:
            return _static(media)
        if self._option is not None:
            return CodecChoice(self._option, CodecSource.OPTION, "--codec")
        received = self._received.get((*media.receiver, pt))
        if received is not None:
            return _from_encoding(received, media, f"the SDP of its receiver, {media.where}")
        agreed = self._agreed.get(pt)
        if agreed is not None:
            return _from_encoding(agreed, media, f"every SDP that binds payload type {pt}")
        if self._scenario is not None:
            return CodecChoice(self._scenario, CodecSource.SCENARIO, "the scenario's calls.codec")
        raise CodecUnknownError(
            f"RTP payload type {pt} is dynamic and no SDP or --codec names its codec "
            f"(the stream to {media.where})"
        )


def _static(media: StreamMedia) -> CodecChoice:
    pt = media.payload_type
    name = _STATIC.get(pt)
    if name is None:
        raise CodecUnknownError(
            f"RTP payload type {pt} (the stream to {media.where}) is a static type of no "
            "codec voipbed models"
        )
    return CodecChoice(name, CodecSource.STATIC, f"static payload type {pt} (RFC 3551 6)")


def _from_encoding(encoding: Encoding, media: StreamMedia, where: str) -> CodecChoice:
    """The voipbed codec of ``encoding`` as the stream ``media`` carries it."""
    name = encoding.name.upper()
    said = f"{encoding} by {where}"
    if name in _NO_VOICE:
        return CodecChoice(None, CodecSource.SDP, f"{said}: no voice", str(encoding))
    if name in _BY_NAME:
        return CodecChoice(_BY_NAME[name], CodecSource.SDP, said, str(encoding))
    reader = _READERS.get(name)
    if reader is None:
        raise CodecUnknownError(
            f"RTP payload type {media.payload_type} (the stream to {media.where}) is "
            f"{said}, a codec voipbed does not model; name one with --codec"
        )
    codec, source, how, guessed = reader(encoding, media)
    return CodecChoice(codec, source, f"{said}; {how}", str(encoding), guessed)


def _amr(encoding: Encoding, media: StreamMedia, *, wideband: bool) -> _Mode:
    names = AMR_WB_NAMES if wideband else AMR_NAMES
    flag = {key: encoding.param(key) for key in ("octet-align", "crc", "robust-sorting")}
    interleaved = encoding.param("interleaving") is not None
    octet = interleaved or any(value == "1" for value in flag.values())  # RFC 4867 8.1
    crc = flag["crc"] == "1"
    form = "octet-aligned" if octet else "bandwidth-efficient"
    read = amr_mode(
        media.head,
        media.payload_bytes,
        wideband=wideband,
        octet_aligned=octet,
        interleaved=interleaved,
        crc=crc,
    )
    if read is not None:
        how = f"{read.packets} of {read.read} speech frames' ToC ({form}) in this mode"
        return read.name, CodecSource.PAYLOAD, how, False
    allowed = [int(m) for m in re.findall(r"\d{1,2}", encoding.param("mode-set") or "")]
    allowed = [m for m in allowed if m < len(names)]
    if allowed:
        how = f"no {form} speech frame read; the highest mode of mode-set"
        return names[max(allowed)], CodecSource.SDP, how, True
    how = f"no {form} speech frame read and no mode-set: the highest mode (RFC 4867 8.1)"
    return names[-1], CodecSource.SDP, how, True


def _evs(encoding: Encoding, media: StreamMedia) -> _Mode:
    read = evs_rate(media.head, media.payload_bytes)
    if read is not None and read.amr_wb_io:
        name = next(n for n in AMR_WB_NAMES if CODECS[n].bitrate_bps == read.bitrate_bps)
        how = f"{read.packets} of {read.read} speech frames in AMR-WB IO mode at this rate"
        return name, CodecSource.PAYLOAD, how, False
    bandwidth = (encoding.param("bw-recv") or encoding.param("bw") or "").lower()
    band = "SWB" if "swb" in bandwidth or "fb" in bandwidth else "WB"
    modes = [n for n in CODECS if n.startswith(f"EVS-{band}-")]
    if read is not None:
        bps, source = read.bitrate_bps, CodecSource.PAYLOAD
        how = f"{read.packets} of {read.read} speech frames at {bps / 1000:g} kbit/s"
    else:
        rates = _NUMBER.findall(encoding.param("br-recv") or encoding.param("br") or "")
        if not rates:
            raise CodecUnknownError(
                f"no packet of the EVS stream to {media.where} reads as speech and its SDP "
                "gives no br; name its codec with --codec"
            )
        bps, source = max(float(r) for r in rates) * 1000, CodecSource.SDP
        how = f"no speech frame read; the top of br, {bps / 1000:g} kbit/s"
    name = _nearest(modes, bps)
    guessed = CODECS[name].bitrate_bps != bps
    if guessed:
        how += f": the nearest of voipbed's EVS-{band} modes"
    return name, source, how, guessed


def _opus(encoding: Encoding, media: StreamMedia) -> _Mode:
    modes = [n for n in CODECS if n.startswith("OPUS-")]
    sizes = media.payload_bytes
    if media.rtp_span_ticks > 0 and sizes.size > 1:
        bps = float(sizes[1:].sum()) * 8 / (media.rtp_span_ticks / _OPUS_CLOCK_HZ)
        how = f"mean payload bit rate {bps / 1000:.1f} kbit/s"
        source = CodecSource.PAYLOAD
    else:
        text = encoding.param("maxaveragebitrate") or ""
        if not (text.isascii() and text.isdigit() and len(text) <= 9):
            raise CodecUnknownError(
                f"the Opus stream to {media.where} is too short to tell its bit rate and "
                "its SDP gives no maxaveragebitrate; name its codec with --codec"
            )
        bps, source = float(text), CodecSource.SDP
        how = f"maxaveragebitrate {bps / 1000:g} kbit/s"
    name = _nearest(modes, bps)
    return name, source, f"{how}: the nearest of voipbed's Opus modes", True


def _ilbc(encoding: Encoding, media: StreamMedia) -> _Mode:
    read = ilbc_frame_ms(media.payload_bytes)
    if read is not None:
        how = f"{read.packets} of {read.read} packets hold frames of this mode's size"
        return read.name, CodecSource.PAYLOAD, how, False
    mode = encoding.param("mode")
    if mode in ("20", "30"):
        return f"iLBC-{mode}", CodecSource.SDP, f"mode={mode}", False
    return "iLBC-30", CodecSource.SDP, "no mode: 30 ms (RFC 3952 5)", False


def _nearest(names: Sequence[str], bps: float) -> str:
    return min(names, key=lambda n: (abs(CODECS[n].bitrate_bps - bps), CODECS[n].bitrate_bps))


_READERS: dict[str, Callable[[Encoding, StreamMedia], _Mode]] = {
    "AMR": lambda e, m: _amr(e, m, wideband=False),
    "AMR-WB": lambda e, m: _amr(e, m, wideband=True),
    "EVS": _evs,
    "OPUS": _opus,
    "ILBC": _ilbc,
}
