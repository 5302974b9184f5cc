"""Render what a receiver plays for a packet trace: codec quantization, loss, concealment.

Role: turn a clean reference signal and a per-packet "played" trace (from the
jitter buffer: False for a packet lost or discarded late) into the audio the
receiver would play, for scoring with PESQ next to the E-model. Pure: numpy
only, no clock, no I/O.

Audio is float64 in [-1, 1] (full scale 1.0, as a 16-bit PCM sample / 32768).
Each packet carries ``frame_s`` (the ptime) of audio; packet ``i`` covers
samples ``[i * n, (i + 1) * n)`` with ``n = frame_s * sample_rate_hz``. The
output has exactly the input's length, sample-aligned with it: playout delay
is not rendered, since PESQ compares time-aligned signals and delay is scored
by the E-model.

G.711 companding follows the segment laws of ITU-T G.711 (11/1988), clause 2
(A-law: 13-bit linear, segments of 16 levels, even bits inverted) and clause 3
(µ-law: 14-bit linear, bias 33, all bits inverted), written here in numpy. The
encoder takes 16-bit PCM and drops the low bits, as the G.191 (STL) reference
``g711.c`` does, negative samples by one's complement; decoded values are the
midpoints of the quantization intervals.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from voipbed.models.plc import Plc, RepetitionConfig, conceal

__all__ = [
    "G711_LAW_BY_CODEC",
    "G711_SAMPLE_RATE_HZ",
    "G711Law",
    "alaw_decode",
    "alaw_encode",
    "compand",
    "degrade",
    "frame_count",
    "pcm16_from_float",
    "samples_per_frame",
    "ulaw_decode",
    "ulaw_encode",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
Int16Array = NDArray[np.int16]
UInt8Array = NDArray[np.uint8]

G711_SAMPLE_RATE_HZ = 8000
"""G.711 is defined for 8 kHz sampling (G.711 clause 1)."""

_PCM16_FULL_SCALE = 32768.0
_ULAW_BIAS = 33  # G.711 clause 3: the µ-law segments start at 33 - 33 = 0 in 14-bit units
_ULAW_MAX_BIASED = 0x1FFF  # 14-bit magnitude + bias saturates here: overload at +-8159
_ALAW_EVEN_BIT_MASK = 0x55  # G.711 clause 2: even bits of the A-law character are inverted
_FRAME_TOLERANCE_SAMPLES = 1e-6


class G711Law(StrEnum):
    """The two G.711 companding laws."""

    MU = "mu-law"  # PCMU, RTP payload type 0
    A = "A-law"  # PCMA, RTP payload type 8


G711_LAW_BY_CODEC: dict[str, G711Law] = {"PCMU": G711Law.MU, "PCMA": G711Law.A}
"""Companding law of each G.711 codec, by its RTP encoding name (RFC 3551 Table 4)."""


def pcm16_from_float(audio: FloatArray) -> Int16Array:
    """Float audio (full scale 1.0) as 16-bit PCM, rounded and saturated."""
    scaled = np.rint(np.asarray(audio, dtype=np.float64) * _PCM16_FULL_SCALE)
    return np.clip(scaled, -_PCM16_FULL_SCALE, _PCM16_FULL_SCALE - 1).astype(np.int16)


def _floor_log2(values: NDArray[np.int64]) -> NDArray[np.int64]:
    """floor(log2(v)) for integers v >= 1, exact (frexp has no rounding)."""
    _, exponent = np.frexp(values.astype(np.float64))
    return exponent.astype(np.int64) - 1


def _magnitude_and_sign(pcm16: Int16Array, shift: int) -> tuple[NDArray[np.int64], BoolArray]:
    """Magnitude after dropping ``shift`` low bits (one's complement below 0), and x >= 0."""
    pcm = np.asarray(pcm16, dtype=np.int64)
    positive = pcm >= 0
    magnitude = np.where(positive, pcm, ~pcm) >> shift
    return magnitude, positive


def ulaw_encode(pcm16: Int16Array) -> UInt8Array:
    """G.711 µ-law characters of 16-bit PCM samples (clause 3, 14-bit linear in)."""
    magnitude, positive = _magnitude_and_sign(pcm16, 2)
    biased = np.minimum(magnitude + _ULAW_BIAS, _ULAW_MAX_BIASED)
    segment = _floor_log2(biased) - 5  # segment s spans biased values [2**(s+5), 2**(s+6))
    mantissa = (biased >> (segment + 1)) & 0x0F  # 16 intervals of 2**(s+1) per segment
    code = ((segment << 4) | mantissa) ^ 0x7F  # G.711 clause 3: magnitude bits inverted
    return np.where(positive, code | 0x80, code).astype(np.uint8)  # sign bit 1: positive


def ulaw_decode(codes: UInt8Array) -> Int16Array:
    """16-bit PCM of G.711 µ-law characters: the midpoint of each interval."""
    code = np.asarray(codes, dtype=np.int64)
    positive = (code & 0x80) != 0
    code = code ^ 0x7F
    segment = (code >> 4) & 0x07
    mantissa = code & 0x0F
    biased = (1 << (segment + 5)) + mantissa * (1 << (segment + 1)) + (1 << segment)
    magnitude = (biased - _ULAW_BIAS) << 2  # 14-bit units back to 16-bit
    return np.where(positive, magnitude, -magnitude).astype(np.int16)


def alaw_encode(pcm16: Int16Array) -> UInt8Array:
    """G.711 A-law characters of 16-bit PCM samples (clause 2, 13-bit linear in)."""
    # 12-bit magnitude in units of one 13-bit step pair: segments 0 and 1 both
    # have 16 intervals of 1 unit, segment s >= 1 spans [16 * 2**(s-1), 16 * 2**s).
    magnitude, positive = _magnitude_and_sign(pcm16, 4)
    segment = np.maximum(_floor_log2(np.maximum(magnitude, 1)) - 3, 0)
    mantissa = np.where(segment == 0, magnitude, magnitude >> np.maximum(segment - 1, 0)) & 0x0F
    code = (segment << 4) | mantissa
    code = np.where(positive, code | 0x80, code)
    return (code ^ _ALAW_EVEN_BIT_MASK).astype(np.uint8)


def alaw_decode(codes: UInt8Array) -> Int16Array:
    """16-bit PCM of G.711 A-law characters: the midpoint of each interval."""
    code = np.asarray(codes, dtype=np.int64) ^ _ALAW_EVEN_BIT_MASK
    segment = (code >> 4) & 0x07
    mantissa = code & 0x0F
    level = np.where(segment == 0, mantissa, mantissa + 16)
    magnitude = ((level << 4) + 8) << np.maximum(segment - 1, 0)
    positive = (code & 0x80) != 0
    decoded: Int16Array = np.where(positive, magnitude, -magnitude).astype(np.int16)
    return decoded


_Encoder = Callable[[Int16Array], UInt8Array]
_Decoder = Callable[[UInt8Array], Int16Array]
_CODERS: dict[G711Law, tuple[_Encoder, _Decoder]] = {
    G711Law.MU: (ulaw_encode, ulaw_decode),
    G711Law.A: (alaw_encode, alaw_decode),
}


def compand(audio: FloatArray, law: G711Law) -> FloatArray:
    """Float audio after a G.711 encode/decode round trip under ``law``."""
    encode, decode = _CODERS[G711Law(law)]
    return decode(encode(pcm16_from_float(audio))).astype(np.float64) / _PCM16_FULL_SCALE


def samples_per_frame(sample_rate_hz: int, frame_s: float) -> int:
    """Samples in one packet's frame; ``frame_s`` must be a whole number of samples."""
    if not sample_rate_hz > 0:
        raise ValueError(f"sample_rate_hz must be > 0, got {sample_rate_hz}")
    if not (np.isfinite(frame_s) and frame_s > 0):
        raise ValueError(f"frame_s must be > 0, got {frame_s}")
    exact = frame_s * sample_rate_hz
    samples = round(exact)
    if samples < 1 or abs(exact - samples) > _FRAME_TOLERANCE_SAMPLES:
        raise ValueError(
            f"frame_s = {frame_s} s is not a whole number of samples at {sample_rate_hz} Hz"
        )
    return samples


def frame_count(num_samples: int, sample_rate_hz: int, frame_s: float) -> int:
    """Packets needed to carry ``num_samples`` of audio (the last one may be partial)."""
    return -(-num_samples // samples_per_frame(sample_rate_hz, frame_s))


def degrade(
    audio: FloatArray,
    sample_rate_hz: int,
    frame_s: float,
    played: BoolArray,
    plc: Plc,
    *,
    law: G711Law | None = None,
    repetition: RepetitionConfig | None = None,
) -> FloatArray:
    """What the receiver plays: ``audio`` coded (G.711 if ``law``), lost frames concealed.

    ``played`` has one flag per packet, :func:`frame_count` of them (False:
    lost, or discarded late by the jitter buffer). The sender codes the whole
    signal; the receiver decodes the packets that played and conceals the rest
    with ``plc`` working on decoded audio. The result has the input's length.
    """
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim != 1:
        raise ValueError(f"audio must be 1-D (mono), got shape {audio.shape}")
    if not np.all(np.isfinite(audio)):
        raise ValueError("audio must be finite")
    samples = samples_per_frame(sample_rate_hz, frame_s)
    packets = -(-audio.size // samples)
    played = np.asarray(played)
    if played.dtype != np.bool_:
        raise ValueError(f"played must be a boolean array, got dtype {played.dtype}")
    if played.shape != (packets,):
        raise ValueError(
            f"played must have one flag per packet: {audio.size} samples at {sample_rate_hz} Hz"
            f" in {frame_s} s frames need {packets}, got shape {played.shape}"
        )
    if law is not None:
        if sample_rate_hz != G711_SAMPLE_RATE_HZ:
            raise ValueError(
                f"G.711 companding needs {G711_SAMPLE_RATE_HZ} Hz audio, got {sample_rate_hz} Hz"
            )
        audio = compand(audio, law)
    frames = np.zeros(packets * samples, dtype=np.float64)
    frames[: audio.size] = audio
    out = conceal(frames.reshape(packets, samples), played, plc, sample_rate_hz, repetition)
    return out.reshape(-1)[: audio.size]
