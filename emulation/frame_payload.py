"""Synthesized RTP payloads of the light calls' codecs other than G.711: right size, right
payload format, no speech.

Light streams are decoded by nobody (they are scored by the E-model from the links'
records), so what a payload must get right is its size, which the links and the trace
see, and its payload-format header, which a capture's import reads to tell the codec mode
(``voipbed.payload_modes``). :func:`synthetic_payloads` draws the coded bits from a
generator passed in, so a seed gives the same payloads again:

- :attr:`PayloadFormat.RAW` (G.722, RFC 3551 4.5.2: one octet per two 16 kHz samples, no
  header): the packet's octets, random.
- :attr:`PayloadFormat.AMR_OCTET_ALIGNED` (AMR, AMR-WB; RFC 4867 4.4): the CMR octet with
  CMR 15, no mode request (4.4.1, R bits zero), one ToC octet per frame, F set on all but
  the last, the mode's frame type FT and Q = 1 (4.4.2, P bits zero), then each frame's
  speech bits (random) padded with zero bits to an octet (4.4.3).

Other formats (AMR bandwidth-efficient, EVS) are refused with ValueError. Pure.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from voipbed.models.codecs import Codec, PayloadFormat
from voipbed.payload_modes import AMR_NAMES, AMR_WB_NAMES

__all__ = [
    "NO_MODE_REQUEST",
    "amr_frame_type",
    "amr_header",
    "synthetic_payloads",
]

NO_MODE_REQUEST = 15  # CMR value 15: no mode request, RFC 4867 4.3.1
_FOLLOWS = 0x80  # ToC F bit: another frame follows, RFC 4867 4.4.2
_GOOD_FRAME = 0x04  # ToC Q bit: the frame is not damaged, RFC 4867 4.3.2


def amr_frame_type(spec: Codec) -> int:
    """The ToC frame type of an AMR or AMR-WB mode: its index in bit-rate order (3GPP TS
    26.101 and TS 26.201 Table 1a); ValueError for another codec."""
    for names in (AMR_WB_NAMES, AMR_NAMES):
        if spec.name in names:
            return names.index(spec.name)
    raise ValueError(f"{spec.name} is not an AMR or AMR-WB mode")


def amr_header(frame_type: int, frames: int) -> bytes:
    """The octet-aligned payload header of ``frames`` speech frames of ``frame_type``: the
    CMR octet and one ToC octet per frame (RFC 4867 4.4.1, 4.4.2)."""
    if not 0 <= frame_type < 16 or frames < 1:
        raise ValueError(f"no header for {frames} frames of frame type {frame_type}")
    toc = (frame_type << 3) | _GOOD_FRAME
    tocs = [toc | _FOLLOWS] * (frames - 1) + [toc]
    return bytes([NO_MODE_REQUEST << 4, *tocs])


def _random_octets(rng: np.random.Generator, count: int, size: int) -> NDArray[np.uint8]:
    """``count`` rows of ``size`` random octets."""
    return rng.integers(0, 256, size=(count, size), dtype=np.uint8)


def _amr_payloads(spec: Codec, ptime_s: float, count: int, rng: np.random.Generator) -> list[bytes]:
    frames = spec.frames(ptime_s)
    header = amr_header(amr_frame_type(spec), frames)
    octets = math.ceil(spec.frame_bits / 8)
    pad_mask = (0xFF << (8 * octets - spec.frame_bits)) & 0xFF  # padding bits are zero
    bits = _random_octets(rng, count * frames, octets)
    bits[:, -1] &= pad_mask
    per_packet = bits.reshape(count, frames * octets)
    return [header + row.tobytes() for row in per_packet]


def synthetic_payloads(
    spec: Codec, ptime_s: float, count: int, rng: np.random.Generator
) -> tuple[bytes, ...]:
    """``count`` payloads of ``ptime_s`` each in ``spec``'s payload format, each exactly
    ``spec.payload_bytes(ptime_s)`` long; ValueError for a format not synthesized."""
    if count < 1:
        raise ValueError(f"count must be >= 1, not {count}")
    size = spec.payload_bytes(ptime_s)
    if spec.payload_format is PayloadFormat.RAW:
        payloads = [row.tobytes() for row in _random_octets(rng, count, size)]
    elif spec.payload_format is PayloadFormat.AMR_OCTET_ALIGNED:
        payloads = _amr_payloads(spec, ptime_s, count, rng)
    else:
        raise ValueError(
            f"{spec.name}: payloads in the {spec.payload_format.value} format are not "
            "synthesized (raw and octet-aligned AMR are)"
        )
    if any(len(payload) != size for payload in payloads):  # the model and the format disagree
        raise ValueError(f"{spec.name}: synthesized payloads are not {size} bytes")
    return tuple(payloads)
