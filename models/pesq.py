"""PESQ scores of rendered audio: a thin, validating wrapper over the PyPI ``pesq`` package.

Role: score a degraded signal against its reference with ITU-T P.862
(narrowband, mapped to MOS-LQO by P.862.1) or P.862.2 (wideband), next to the
E-model's prediction. Pure apart from calling the library: no clock, no I/O.

The ``pesq`` package (ludlows/python-pesq, an sdist built with a C compiler)
wraps the ITU-T reference C code. It returns ``mapped_mos``: the P.862.1
mapping of the raw P.862 score for ``nb`` (about 1.02 to 4.55) and the
P.862.2 mapping for ``wb`` (about 1.04 to 4.64). It scales both signals by
their common peak, so the input level matters only relative to each other.
The package has no type information; it is imported through :mod:`importlib`
so that the rest of voipbed stays typed, and only when a score is asked for.
"""

from __future__ import annotations

import importlib
from enum import StrEnum
from types import ModuleType

import numpy as np
from numpy.typing import NDArray

from voipbed.models.resample import resample_poly

__all__ = ["MIN_DURATION_S", "SAMPLE_RATES_HZ", "PesqMode", "pesq_mos", "resample"]

FloatArray = NDArray[np.float64]

SAMPLE_RATES_HZ = (8000, 16000)
"""The sampling rates P.862 and P.862.2 are defined for."""

MIN_DURATION_S = 0.25
"""The reference code rejects shorter signals ("at least 1/4 of a second long")."""

_SILENCE_RMS = 1e-4  # about -80 dBFS: below this a signal has no speech to score
_INSTALL_HINT = (
    "PESQ scoring needs the 'pesq' package (ITU-T P.862 reference code, built with a C"
    " compiler): install it with `pip install pesq`"
)


class PesqMode(StrEnum):
    """Which PESQ: narrowband P.862 (+ P.862.1 mapping) or wideband P.862.2."""

    NB = "nb"
    WB = "wb"


def _load_pesq() -> ModuleType:
    """The ``pesq`` module, or an ImportError saying how to install it."""
    try:
        return importlib.import_module("pesq")
    except ImportError as error:
        raise ImportError(_INSTALL_HINT) from error


def resample(audio: FloatArray, from_hz: int, to_hz: int) -> FloatArray:
    """``audio`` resampled from ``from_hz`` to ``to_hz`` by polyphase filtering.

    The filter and alignment are those of :func:`voipbed.models.resample.resample_poly`.
    """
    if from_hz <= 0 or to_hz <= 0:
        raise ValueError(f"sample rates must be > 0, got {from_hz} and {to_hz}")
    return resample_poly(audio, to_hz, from_hz)


def _checked(name: str, signal: FloatArray, sample_rate_hz: int) -> FloatArray:
    signal = np.asarray(signal, dtype=np.float64)
    if signal.ndim != 1:
        raise ValueError(f"{name} must be 1-D (mono), got shape {signal.shape}")
    if not np.all(np.isfinite(signal)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    if signal.size < MIN_DURATION_S * sample_rate_hz:
        raise ValueError(
            f"{name} is {signal.size / sample_rate_hz:.3f} s long; PESQ needs at least"
            f" {MIN_DURATION_S} s"
        )
    return signal


def pesq_mos(
    reference: FloatArray,
    degraded: FloatArray,
    sample_rate_hz: int,
    mode: PesqMode | str = PesqMode.NB,
) -> float:
    """MOS-LQO of ``degraded`` against ``reference`` (P.862 + P.862.1 for nb, P.862.2 for wb).

    Both signals are mono float arrays at ``sample_rate_hz`` (8000 or 16000;
    ``wb`` needs 16000), of equal length and sample-aligned, as
    :func:`voipbed.models.degrade.degrade` renders them; resample others with
    :func:`resample` first. Neither may be silent: the reference C code
    has no answer for a silent signal (the library fails inside its error
    handling), so a call with every packet lost is the caller's to score.
    """
    try:
        mode = PesqMode(mode)
    except ValueError:
        raise ValueError(f"mode must be 'nb' or 'wb', got {mode!r}") from None
    if sample_rate_hz not in SAMPLE_RATES_HZ:
        raise ValueError(
            f"sample_rate_hz must be 8000 or 16000 for PESQ, got {sample_rate_hz};"
            " resample with voipbed.models.pesq.resample"
        )
    if mode is PesqMode.WB and sample_rate_hz != 16000:
        raise ValueError(f"wideband PESQ (P.862.2) needs 16000 Hz audio, got {sample_rate_hz}")
    reference = _checked("reference", reference, sample_rate_hz)
    degraded = _checked("degraded", degraded, sample_rate_hz)
    if reference.shape != degraded.shape:
        raise ValueError(
            f"reference and degraded must have equal lengths (time-aligned), got"
            f" {reference.size} and {degraded.size} samples"
        )
    for name, signal in (("reference", reference), ("degraded", degraded)):
        if np.sqrt(np.mean(signal**2)) < _SILENCE_RMS:
            raise ValueError(f"{name} is silent (RMS below -80 dBFS): PESQ cannot score it")
    library = _load_pesq()
    try:
        score = library.pesq(sample_rate_hz, reference, degraded, mode.value)
    except library.PesqError as error:
        raise ValueError(f"PESQ could not score these signals: {error}") from error
    return float(score)
