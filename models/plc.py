"""Packet loss concealment: what a receiver plays in place of a lost frame, and its Bpl.

Role: the receiver's choice of concealment, as pure functions on numpy audio
frames (one row per packet), and the E-model packet-loss robustness factor
Bpl that each choice stands for. No clock, no I/O.

The three choices:

- ``none``: a lost frame plays as silence (zeros).
- ``repetition``: the last frame that played is repeated, faded out with the
  envelope of ITU-T G.711 (09/1999) Appendix I: no attenuation for the first
  10 ms of an erasure, then a linear ramp of 20 % of full scale per 10 ms, so
  the output is silent 60 ms after the erasure began (its reference code:
  ``ATTENFAC`` 0.2 per 10 ms frame, applied per sample). Only the fade is
  taken from Appendix I; its pitch-synchronous waveform substitution and
  overlap-add are not reproduced: this is plain frame repetition.
- ``codec``: the codec's own concealment (for G.711, Appendix I). For scoring
  it is expressed through the codec's Bpl with PLC (G.113 Appendix I); for the
  audio rendered here it is a stand-in that plays exactly as ``repetition``,
  because the codecs' own concealment algorithms are not implemented.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "REPETITION_BPL_FACTOR",
    "Plc",
    "RepetitionConfig",
    "bpl_for",
    "conceal",
    "repetition_gain",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


class Plc(StrEnum):
    """Packet loss concealment at the receiver."""

    NONE = "none"  # silence in place of a lost frame
    REPETITION = "repetition"  # last good frame repeated, G.711 App. I fade-out
    CODEC = "codec"  # the codec's own PLC (rendered here as REPETITION)


REPETITION_BPL_FACTOR = 1.3
"""Bpl with plain repetition over Bpl without PLC: an estimate of this project, not a standard.

G.113 (11/2007) Appendix I Table I.3 gives Bpl only without concealment (G.711:
4.3) and with the codec's own PLC (G.711 with its Appendix I: 25.1); no ITU-T
table has a Bpl for plain frame repetition. The factor comes from PESQ on audio
rendered by :mod:`voipbed.models.degrade` (20 ms frames, random loss of 5, 15
and 30 %, six loss patterns each, espeak-ng and synthetic speech): converting
MOS-LQO to R with the inverse of G.107 Annex B and fitting Ie,eff = 95 Ppl /
(Ppl + Bpl) gave Bpl(repetition) / Bpl(none) = 1.41 to 1.47 narrowband (G.711
µ-law, P.862) and 1.21 to 1.28 wideband (P.862.2). PESQ's own fitted Bpl
without PLC (10 to 11 nb) is not G.113's 4.3, so only the ratio is carried
over: G.711 with repetition gets Bpl = 1.3 * 4.3 = 5.6, far below its
Appendix I PLC's 25.1, because repeating whole frames without pitch alignment
or smoothing leaves audible discontinuities. ``tests/unit/test_pesq.py`` repeats the fit.
"""


@dataclass(frozen=True)
class RepetitionConfig:
    """Fade-out of repeated frames over a run of lost frames.

    Defaults from ITU-T G.711 (09/1999) Appendix I: full level for the first
    10 ms of an erasure, then attenuation rising linearly by 20 % per 10 ms
    (``ATTENFAC`` = 0.2 per 80-sample frame at 8 kHz), silent after 60 ms.
    """

    hold_s: float = 0.010
    """Time into an erasure before attenuation starts (G.711 App. I: 10 ms)."""
    fade_s: float = 0.050
    """Time for the linear ramp from full level to silence (G.711 App. I: 0.2 per 10 ms)."""

    def __post_init__(self) -> None:
        if not (np.isfinite(self.hold_s) and self.hold_s >= 0):
            raise ValueError(f"RepetitionConfig.hold_s must be >= 0, got {self.hold_s}")
        if not (np.isfinite(self.fade_s) and self.fade_s > 0):
            raise ValueError(f"RepetitionConfig.fade_s must be > 0, got {self.fade_s}")


def repetition_gain(
    elapsed_samples: NDArray[np.int64], sample_rate_hz: float, config: RepetitionConfig
) -> FloatArray:
    """Gain, in [0, 1], of repeated audio ``elapsed_samples`` samples after an erasure began."""
    # In samples, so that the G.711 App. I points (80 and 480 samples at 8 kHz) are exact.
    hold = config.hold_s * sample_rate_hz
    fade = config.fade_s * sample_rate_hz
    gain = 1.0 - (np.asarray(elapsed_samples, dtype=np.float64) - hold) / fade
    return np.clip(gain, 0.0, 1.0)


def conceal(
    frames: FloatArray,
    played: BoolArray,
    plc: Plc,
    sample_rate_hz: float,
    config: RepetitionConfig | None = None,
) -> FloatArray:
    """Frames as played: rows of ``frames`` not ``played`` are replaced by concealment.

    ``frames`` has one row per packet (``n_packets`` x ``samples_per_frame``),
    ``played`` one flag per packet (False: lost, or discarded late). Played
    rows are returned unchanged. A lost frame before any frame has played is
    silence whatever the choice: there is nothing to repeat.
    """
    frames = np.asarray(frames, dtype=np.float64)
    played = np.asarray(played, dtype=np.bool_)
    if frames.ndim != 2:
        raise ValueError(f"frames must be 2-D (packets x samples), got shape {frames.shape}")
    if played.shape != (frames.shape[0],):
        raise ValueError(
            f"played must have one flag per frame ({frames.shape[0]}), got shape {played.shape}"
        )
    if not sample_rate_hz > 0:
        raise ValueError(f"sample_rate_hz must be > 0, got {sample_rate_hz}")
    plc = Plc(plc)
    out = np.where(played[:, np.newaxis], frames, 0.0)
    if plc is Plc.NONE or played.all():
        return out
    index = np.arange(frames.shape[0])
    last_good = np.maximum.accumulate(np.where(played, index, -1))  # -1: none played yet
    repeated = ~played & (last_good >= 0)
    lost_before = (index - last_good - 1)[repeated]  # lost frames earlier in the same run
    samples = frames.shape[1]
    elapsed = lost_before[:, np.newaxis] * samples + np.arange(samples)[np.newaxis, :]
    gain = repetition_gain(elapsed, sample_rate_hz, config or RepetitionConfig())
    out[repeated] = frames[last_good[repeated]] * gain
    return out


def bpl_for(codec_bpl_without: float | None, codec_bpl_with: float, plc: Plc) -> float:
    """The E-model Bpl (G.107 eq. 7-29) of a codec under the receiver's concealment.

    ``none`` gives the codec's Bpl without PLC and ``codec`` its Bpl with its
    own PLC, both from G.113 Appendix I Table I.3 (G.711: 4.3 and 25.1).
    ``repetition`` is :data:`REPETITION_BPL_FACTOR` times the Bpl without PLC
    (an estimate), never more than the Bpl with the codec's PLC.

    ``codec_bpl_without`` is None for a codec with no Bpl without PLC (its
    concealment is part of its decoder, or no source gives one): only
    ``codec`` has a Bpl then, and the other choices raise ``ValueError``.
    """
    _require_bpl("codec_bpl_with", codec_bpl_with)
    if codec_bpl_without is not None:
        _require_bpl("codec_bpl_without", codec_bpl_without)
        if codec_bpl_with < codec_bpl_without:
            raise ValueError(
                f"codec_bpl_with ({codec_bpl_with}) must be >= codec_bpl_without"
                f" ({codec_bpl_without})"
            )
    plc = Plc(plc)
    if plc is Plc.CODEC:
        return float(codec_bpl_with)
    if codec_bpl_without is None:
        raise ValueError(
            f"PLC {plc.value!r} needs the codec's Bpl without concealment, which is unknown"
            " for this codec; only 'codec' has a Bpl"
        )
    if plc is Plc.NONE:
        return float(codec_bpl_without)
    return float(min(REPETITION_BPL_FACTOR * codec_bpl_without, codec_bpl_with))


def _require_bpl(name: str, value: float) -> None:
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite Bpl > 0, got {value}")
