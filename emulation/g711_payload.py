"""The G.711 payloads the light calls carry: recorded speech, companded sample by sample.

The light sender sends G.711 only (PCMU and PCMA, RFC 3551 payload types 0 and 8):
companding is per sample, so numpy encodes it (``models.degrade``), where every other
codec needs its encoder (baresip's). :func:`g711_frames` cuts 8 kHz speech into one
payload per packet. Pure.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from voipbed.models.codecs import codec
from voipbed.models.degrade import (
    G711_LAW_BY_CODEC,
    G711Law,
    alaw_encode,
    pcm16_from_float,
    ulaw_encode,
)

__all__ = ["LIGHT_CODECS", "g711_frames", "light_codec_problem"]

LIGHT_CODECS = tuple(G711_LAW_BY_CODEC)  # what the light sender sends


def light_codec_problem(name: str) -> str | None:
    """Why the light sender cannot send codec ``name``; None when it can."""
    if name in LIGHT_CODECS:
        return None
    return (
        f"light calls (beyond the baresip calls) send {' and '.join(LIGHT_CODECS)} only "
        f"(G.711, encoded sample by sample), not {name}"
    )


def g711_frames(samples: NDArray[np.float64], name: str, ptime_s: float) -> tuple[bytes, ...]:
    """``samples`` (8 kHz, full scale 1.0) as G.711 payloads of ``ptime_s`` each, the last
    partial one dropped; ValueError for a codec other than PCMU or PCMA, or audio shorter
    than one packet."""
    problem = light_codec_problem(name)
    if problem is not None:
        raise ValueError(problem)
    per_packet = codec(name).payload_bytes(ptime_s)  # G.711: one byte a sample
    count = samples.size // per_packet
    if count == 0:
        raise ValueError(f"{samples.size} samples make no packet of {per_packet}")
    pcm = pcm16_from_float(samples[: count * per_packet])
    law = G711_LAW_BY_CODEC[name]
    encoded = ulaw_encode(pcm) if law is G711Law.MU else alaw_encode(pcm)
    data = encoded.astype(np.uint8).tobytes()
    return tuple(data[k * per_packet : (k + 1) * per_packet] for k in range(count))
