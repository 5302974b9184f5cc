"""The G.711 payloads the light calls carry: recorded speech, companded sample by sample.

G.711 (PCMU and PCMA, RFC 3551 payload types 0 and 8) is companded per sample, so numpy
encodes it (``models.degrade``), where every other codec needs its encoder; the light
calls' other codecs carry synthesized frames (``frame_payload``). :func:`g711_frames`
cuts 8 kHz speech into one payload per packet. Pure.
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

__all__ = ["g711_frames"]


def g711_frames(samples: NDArray[np.float64], name: str, ptime_s: float) -> tuple[bytes, ...]:
    """``samples`` (8 kHz, full scale 1.0) as G.711 payloads of ``ptime_s`` each, the last
    partial one dropped; ValueError for a codec other than PCMU or PCMA, or audio shorter
    than one packet."""
    if name not in G711_LAW_BY_CODEC:
        raise ValueError(f"G.711 is {' and '.join(G711_LAW_BY_CODEC)}, not {name}")
    per_packet = codec(name).payload_bytes(ptime_s)  # G.711: one byte a sample
    count = samples.size // per_packet
    if count == 0:
        raise ValueError(f"{samples.size} samples make no packet of {per_packet}")
    pcm = pcm16_from_float(samples[: count * per_packet])
    law = G711_LAW_BY_CODEC[name]
    encoded = ulaw_encode(pcm) if law is G711Law.MU else alaw_encode(pcm)
    data = encoded.astype(np.uint8).tobytes()
    return tuple(data[k * per_packet : (k + 1) * per_packet] for k in range(count))
