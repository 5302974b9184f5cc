"""Windowed ("instantaneous") E-model R and MOS over one flow, for monitoring plots.

Role: cut a flow's packets into consecutive media-time windows (5 s by
default), measure in each the decoder's packet loss Ppl and burst ratio
BurstR, and rate every window with the narrowband E-model of ITU-T G.107
(:mod:`models.emodel`) or the wideband one of G.107.1 (:mod:`models.emodel_wb`)
in one vectorized call. Pure: numpy only, no clock, no I/O; no Python loop
over packets or windows.

The E-model is a planning model for a whole call. A per-window R is what
monitoring tools plot (an "instantaneous" R) and shows where in a call the
quality went; it is not what listeners would rate for that stretch, since
G.107 has no memory or recency effect.

Definitions used here:

- Window k covers media times [start + k w, start + (k + 1) w), with ``start``
  the first packet's media time unless given. Windows run up to the one
  holding the last packet: for packets every ``ptime`` over D seconds of
  media (D a multiple of ptime), that is ceil(D / w) windows. The last one
  keeps its nominal end even when the call stops inside it.
- Ppl is the percentage of the window's packets not played (lost in the
  network or discarded late), as in :mod:`voipbed.scoring`.
- BurstR is :func:`models.emodel.burst_ratio` of the window's loss sequence,
  counting only the packet pairs inside the window; a window is a call of
  its own for the burst estimate, with the same edge cases.
- Ta is the flow's mouth-to-ear delay. Given per packet, a window takes the
  mean over its played packets; a window where nothing was played takes the
  mean over every played packet of the call (its rating is dominated by
  100 % loss anyway). If nothing at all was played, a per-packet delay gives
  no value to use, and ``ValueError`` asks for a constant.
- A window with no packet (a gap in media time, e.g. discontinuous
  transmission) has NaN Ppl, BurstR, Ta, R and MOS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from voipbed.models import emodel, emodel_wb
from voipbed.models.codecs import Bandwidth
from voipbed.models.emodel import FloatArray, FloatOrArray

__all__ = ["DEFAULT_WINDOW_S", "QualityWindows", "window_quality"]

DEFAULT_WINDOW_S = 5.0
"""Window length: 5 s, a common monitoring interval (not from a standard)."""

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_MEASURED = ("ppl_percent", "burst_r", "ta_s")


@dataclass(frozen=True)
class QualityWindows:
    """Per-window loss, delay and E-model rating of one flow; every array has one entry a window."""

    start_s: FloatArray
    """Media time at which each window starts."""
    end_s: FloatArray
    """Media time at which each window ends (start + window length)."""
    packets: IntArray
    """Packets whose media time falls in the window."""
    ppl_percent: FloatArray
    """Packets not played, in percent of ``packets`` (NaN for an empty window)."""
    burst_r: FloatArray
    """Burst ratio BurstR of the window's loss sequence (NaN for an empty window)."""
    ta_s: FloatArray
    """Mouth-to-ear delay Ta used for the window (NaN for an empty window)."""
    r: FloatArray
    """Transmission rating R: G.107's 0-100 scale, or G.107.1's 0-129 scale for wideband."""
    mos: FloatArray
    """MOS from R (G.107 Annex B, or G.107.1 Annex A for wideband)."""


def window_quality(
    media_s: npt.ArrayLike,
    played: npt.ArrayLike,
    mouth_to_ear_s: float | npt.ArrayLike,
    *,
    window_s: float = DEFAULT_WINDOW_S,
    start_s: float | None = None,
    bandwidth: Bandwidth = Bandwidth.NARROW,
    **emodel_inputs: FloatOrArray,
) -> QualityWindows:
    """Rate each ``window_s`` of one flow with the E-model (see the module docstring).

    ``media_s`` is each packet's media time (RTP timestamp over the clock
    rate) and ``played`` whether it reached the decoder, both in sequence
    order. ``mouth_to_ear_s`` is a constant or one value per packet (NaN
    allowed for packets not played). ``bandwidth`` picks G.107 or G.107.1;
    ``emodel_inputs`` are scalar fields of :class:`models.emodel.EModelInputs`
    or :class:`models.emodel_wb.EModelWbInputs` (e.g. ``ie``/``ie_wb``,
    ``bpl``, ``advantage``, or ``t_s``/``tr_s`` to move the echo delays off
    T = Ta, Tr = 2 Ta); Ppl, BurstR and Ta come from the packets.
    """
    media, ok = _packets(media_s, played)
    if not (np.isfinite(window_s) and window_s > 0.0):
        raise ValueError(f"window_s must be finite and > 0, got {window_s}")
    taken = sorted(set(_MEASURED) & set(emodel_inputs))
    if taken:
        raise TypeError(f"window_quality measures {taken} itself: do not pass them")
    origin = float(media[0]) if start_s is None else float(start_s)
    if media[0] < origin:
        raise ValueError(f"start_s {origin} is after the first packet's media time {media[0]}")

    index = np.floor((media - origin) / window_s).astype(np.int64)
    count = int(index[-1]) + 1
    packets = np.bincount(index, minlength=count)
    lost = ~ok
    n_lost = np.bincount(index, weights=lost, minlength=count)
    filled = packets > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        ppl = np.where(filled, 100.0 * n_lost / packets, np.nan)
    window_bounds = np.searchsorted(index, np.arange(count + 1))  # packets come by window
    burst = np.where(filled, emodel.burst_ratios(lost, window_bounds), np.nan)
    ta = np.where(filled, _window_delays(index, ok, mouth_to_ear_s, media.size, count), np.nan)

    r = np.full(count, np.nan)
    mos = np.full(count, np.nan)
    result: emodel.EModelResult | emodel_wb.EModelWbResult
    if bandwidth is Bandwidth.WIDE:
        result = emodel_wb.evaluate(
            emodel_wb.for_mouth_to_ear(
                ta[filled], ppl_percent=ppl[filled], burst_r=burst[filled], **emodel_inputs
            )
        )
    else:
        result = emodel.evaluate(
            emodel.for_mouth_to_ear(
                ta[filled], ppl_percent=ppl[filled], burst_r=burst[filled], **emodel_inputs
            )
        )
    r[filled] = result.r
    mos[filled] = result.mos
    starts = origin + window_s * np.arange(count, dtype=np.float64)
    return QualityWindows(
        start_s=starts,
        end_s=starts + window_s,
        packets=packets.astype(np.int64),
        ppl_percent=ppl,
        burst_r=burst,
        ta_s=ta,
        r=r,
        mos=mos,
    )


def _packets(media_s: npt.ArrayLike, played: npt.ArrayLike) -> tuple[FloatArray, BoolArray]:
    """Validated media times (float) and played flags (bool), both 1-D and of equal length."""
    media = np.asarray(media_s, dtype=np.float64)
    ok = np.asarray(played)
    if media.ndim != 1 or ok.shape != media.shape:
        raise ValueError(
            f"media_s and played must be 1-D of equal length, got {media.shape} and {ok.shape}"
        )
    if media.size == 0:
        raise ValueError("window_quality needs at least one packet")
    if not np.all(np.isfinite(media)):
        raise ValueError("media_s must be finite")
    if np.any(np.diff(media) < 0.0):
        raise ValueError("media_s must not decrease: packets go in sequence order")
    if ok.dtype != np.bool_:
        if not np.all((ok == 0) | (ok == 1)):
            raise ValueError("played must be booleans or 0/1 (True = reached the decoder)")
        ok = ok.astype(np.bool_)
    return media, ok


def _window_delays(
    index: IntArray, ok: BoolArray, mouth_to_ear_s: float | npt.ArrayLike, n: int, count: int
) -> FloatArray:
    """Ta per window: the constant, or the mean over its (else the call's) played packets."""
    ta = np.asarray(mouth_to_ear_s, dtype=np.float64)
    if ta.ndim == 0:
        if not (np.isfinite(ta) and ta >= 0.0):
            raise ValueError(f"mouth_to_ear_s must be finite and >= 0, got {ta}")
        return np.full(count, float(ta))
    if ta.shape != (n,):
        raise ValueError(f"mouth_to_ear_s must be a scalar or one value a packet, got {ta.shape}")
    played_ta = ta[ok]
    if not np.all(np.isfinite(played_ta) & (played_ta >= 0.0)):
        raise ValueError("mouth_to_ear_s must be finite and >= 0 for every played packet")
    if played_ta.size == 0:
        raise ValueError(
            "no packet was played, so a per-packet mouth_to_ear_s gives no delay: pass a constant"
        )
    sums = np.bincount(index[ok], weights=played_ta, minlength=count)
    counts = np.bincount(index[ok], minlength=count)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, float(played_ta.mean()))
