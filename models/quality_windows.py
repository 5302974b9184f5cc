"""Windowed ("instantaneous") E-model R and MOS over flows, for monitoring plots.

Role: cut each flow's packets into consecutive media-time windows (5 s by
default), measure in each the decoder's packet loss Ppl and burst ratio
BurstR, and rate every window of every flow with the narrowband E-model of
ITU-T G.107 (:mod:`models.emodel`) or the wideband one of G.107.1
(:mod:`models.emodel_wb`) in one vectorized call. Pure: numpy only, no clock,
no I/O; no Python loop over packets, windows or flows.

The E-model is a planning model for a whole call. A per-window R is what
monitoring tools plot (an "instantaneous" R) and shows where in a call the
quality went; it is not what listeners would rate for that stretch, since
G.107 has no memory or recency effect.

Definitions used here, for each flow on its own:

- Window k covers media times [start + k w, start + (k + 1) w), with ``start``
  the flow's first packet's media time unless given. Windows run up to the
  one holding the flow's last packet: for packets every ``ptime`` over D
  seconds of media (D a multiple of ptime), that is ceil(D / w) windows. The
  last one keeps its nominal end even when the call stops inside it.
- Ppl is the percentage of the window's packets not played (lost in the
  network or discarded late), as in :mod:`voipbed.scoring`.
- BurstR is :func:`models.emodel.burst_ratio` of the window's loss sequence,
  counting only the packet pairs inside the window; a window is a call of
  its own for the burst estimate, with the same edge cases.
- Ta is the flow's mouth-to-ear delay. Given per packet, a window takes the
  mean over its played packets; a window where nothing was played takes the
  mean over every played packet of the flow (its rating is dominated by
  100 % loss anyway). If nothing at all was played in a flow, a per-packet
  delay gives no value to use: the flow takes ``nothing_played_ta_s`` if
  given, else ``ValueError`` asks for a constant.
- A window with no packet (a gap in media time, e.g. discontinuous
  transmission) has NaN Ppl, BurstR, Ta, R and MOS.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from voipbed.models import emodel, emodel_wb
from voipbed.models.codecs import Bandwidth
from voipbed.models.emodel import FloatArray, FloatOrArray

__all__ = [
    "DEFAULT_WINDOW_S",
    "QualityWindows",
    "QualityWindowsByFlow",
    "window_quality",
    "window_quality_flows",
]

DEFAULT_WINDOW_S = 5.0
"""Window length: 5 s, a common monitoring interval (not from a standard)."""

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_MEASURED = ("ppl_percent", "burst_r", "ta_s")


@dataclass(frozen=True)
class QualityWindows:
    """Per-window loss, delay and E-model rating; every array has one entry a window."""

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


@dataclass(frozen=True)
class QualityWindowsByFlow:
    """Every flow's windows laid end to end, flow by flow."""

    windows: QualityWindows
    """All windows: flow i's are entries ``bounds[i]:bounds[i + 1]``, in media-time order."""
    bounds: IntArray
    """Offsets of each flow's windows (one more entry than flows; ``bounds[0]`` is 0)."""

    def flow(self, index: int) -> QualityWindows:
        """The windows of flow ``index`` alone."""
        part = slice(int(self.bounds[index]), int(self.bounds[index + 1]))
        values = {
            field.name: getattr(self.windows, field.name)[part] for field in fields(self.windows)
        }
        return QualityWindows(**values)

    def min_mos(self) -> FloatArray:
        """Each flow's lowest window MOS, ignoring empty windows (a flow's first one never is)."""
        if self.bounds.size < 2:
            return np.empty(0)
        lowest: FloatArray = np.fmin.reduceat(self.windows.mos, self.bounds[:-1])
        return lowest


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
    if media.size == 0:
        raise ValueError("window_quality needs at least one packet")
    return window_quality_flows(
        media,
        ok,
        mouth_to_ear_s,
        np.array([0, media.size], dtype=np.int64),
        window_s=window_s,
        start_s=None if start_s is None else [start_s],
        bandwidth=bandwidth,
        nothing_played_ta_s=None,
        **emodel_inputs,
    ).windows


def window_quality_flows(
    media_s: npt.ArrayLike,
    played: npt.ArrayLike,
    mouth_to_ear_s: float | npt.ArrayLike,
    bounds: npt.ArrayLike,
    *,
    window_s: float = DEFAULT_WINDOW_S,
    start_s: npt.ArrayLike | None = None,
    bandwidth: Bandwidth = Bandwidth.NARROW,
    nothing_played_ta_s: float | None = None,
    **emodel_inputs: FloatOrArray,
) -> QualityWindowsByFlow:
    """Rate each ``window_s`` of many flows at once, as :func:`window_quality` does for one.

    Flow i is packets ``bounds[i]:bounds[i + 1]`` (each flow at least one
    packet, in sequence order); ``start_s``, if given, holds each flow's
    window origin. ``mouth_to_ear_s`` is a constant or one value per packet;
    with per-packet values, a flow of which nothing was played takes the
    constant ``nothing_played_ta_s`` (``ValueError`` without one). The other
    arguments are those of :func:`window_quality`, applied to every flow;
    one E-model evaluation rates all windows.
    """
    media, ok = _packets(media_s, played)
    edges = _flow_bounds(bounds, media.size)
    if not (np.isfinite(window_s) and window_s > 0.0):
        raise ValueError(f"window_s must be finite and > 0, got {window_s}")
    taken = sorted(set(_MEASURED) & set(emodel_inputs))
    if taken:
        raise TypeError(f"window_quality measures {taken} itself: do not pass them")
    steps = np.diff(media)
    steps[edges[1:-1] - 1] = 0.0  # from one flow's last packet to the next flow's first
    if np.any(steps < 0.0):
        raise ValueError("media_s must not decrease within a flow: packets go in sequence order")
    sizes = np.diff(edges)
    origin = _origins(media, edges, start_s)

    local = np.floor((media - np.repeat(origin, sizes)) / window_s).astype(np.int64)
    counts = local[edges[1:] - 1] + 1
    window_edges = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    total = int(window_edges[-1])
    index = local + np.repeat(window_edges[:-1], sizes)  # every flow's windows end to end

    packets = np.bincount(index, minlength=total)
    lost = ~ok
    n_lost = np.bincount(index, weights=lost, minlength=total)
    filled = packets > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        ppl = np.where(filled, 100.0 * n_lost / packets, np.nan)
    packet_edges = np.searchsorted(index, np.arange(total + 1))  # packets come by window
    burst = np.where(filled, emodel.burst_ratios(lost, packet_edges), np.nan)
    window_flow = np.repeat(np.arange(counts.size), counts)
    delays = _window_delays(index, ok, mouth_to_ear_s, edges, window_flow, nothing_played_ta_s)
    ta = np.where(filled, delays, np.nan)

    r, mos = _rate(ta, ppl, burst, filled, bandwidth, emodel_inputs)
    starts = np.repeat(origin, counts) + window_s * (
        np.arange(total, dtype=np.float64) - np.repeat(window_edges[:-1], counts)
    )
    windows = QualityWindows(
        start_s=starts,
        end_s=starts + window_s,
        packets=packets.astype(np.int64),
        ppl_percent=ppl,
        burst_r=burst,
        ta_s=ta,
        r=r,
        mos=mos,
    )
    return QualityWindowsByFlow(windows=windows, bounds=window_edges)


def _rate(
    ta: FloatArray,
    ppl: FloatArray,
    burst: FloatArray,
    filled: BoolArray,
    bandwidth: Bandwidth,
    emodel_inputs: dict[str, FloatOrArray],
) -> tuple[FloatArray, FloatArray]:
    """R and MOS of the windows with packets, from one E-model evaluation (NaN elsewhere)."""
    r = np.full(ta.size, np.nan)
    mos = np.full(ta.size, np.nan)
    if not np.any(filled):
        return r, mos
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
    return r, mos


def _packets(media_s: npt.ArrayLike, played: npt.ArrayLike) -> tuple[FloatArray, BoolArray]:
    """Validated media times (float) and played flags (bool), both 1-D and of equal length."""
    media = np.asarray(media_s, dtype=np.float64)
    ok = np.asarray(played)
    if media.ndim != 1 or ok.shape != media.shape:
        raise ValueError(
            f"media_s and played must be 1-D of equal length, got {media.shape} and {ok.shape}"
        )
    if not np.all(np.isfinite(media)):
        raise ValueError("media_s must be finite")
    if ok.dtype != np.bool_:
        if not np.all((ok == 0) | (ok == 1)):
            raise ValueError("played must be booleans or 0/1 (True = reached the decoder)")
        ok = ok.astype(np.bool_)
    return media, ok


def _flow_bounds(bounds: npt.ArrayLike, n: int) -> IntArray:
    """Validated flow offsets: integers from 0 to ``n``, strictly rising (no empty flow)."""
    edges = np.asarray(bounds)
    if edges.ndim != 1 or edges.size == 0 or not np.issubdtype(edges.dtype, np.integer):
        raise ValueError(f"bounds must be a 1-D array of integers, got {edges.dtype} {edges.shape}")
    if edges[0] != 0 or edges[-1] != n or np.any(np.diff(edges) <= 0):
        raise ValueError(f"bounds must rise strictly from 0 to the {n} packets (no empty flow)")
    return edges.astype(np.int64)


def _origins(media: FloatArray, edges: IntArray, start_s: npt.ArrayLike | None) -> FloatArray:
    """Each flow's window origin: its first packet's media time, or the validated ``start_s``."""
    first = media[edges[:-1]]
    if start_s is None:
        return first
    origin = np.asarray(start_s, dtype=np.float64)
    if origin.shape != first.shape:
        raise ValueError(f"start_s must have one value a flow, got {origin.shape}")
    late = np.flatnonzero(~(origin <= first))
    if late.size:
        k = int(late[0])
        raise ValueError(
            f"start_s {origin[k]} of flow {k} is after its first packet's media time {first[k]}"
        )
    return origin


def _window_delays(
    index: IntArray,
    ok: BoolArray,
    mouth_to_ear_s: float | npt.ArrayLike,
    edges: IntArray,
    window_flow: IntArray,
    nothing_played_ta_s: float | None,
) -> FloatArray:
    """Ta per window: the constant, or the mean over its (else its flow's) played packets."""
    ta = np.asarray(mouth_to_ear_s, dtype=np.float64)
    count = window_flow.size
    if ta.ndim == 0:
        _check_delay("mouth_to_ear_s", float(ta))
        return np.full(count, float(ta))
    if ta.shape != ok.shape:
        raise ValueError(f"mouth_to_ear_s must be a scalar or one value a packet, got {ta.shape}")
    played_ta = ta[ok]
    if not np.all(np.isfinite(played_ta) & (played_ta >= 0.0)):
        raise ValueError("mouth_to_ear_s must be finite and >= 0 for every played packet")
    played_index = index[ok]
    sums = np.bincount(played_index, weights=played_ta, minlength=count)
    counts = np.bincount(played_index, minlength=count)
    fallback = _flow_means(played_ta, ok, edges, nothing_played_ta_s)[window_flow]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, fallback)


def _flow_means(
    played_ta: FloatArray, ok: BoolArray, edges: IntArray, nothing_played_ta_s: float | None
) -> FloatArray:
    """Each flow's mean Ta over its played packets; ``nothing_played_ta_s`` where none was."""
    played_before = np.concatenate(([0], np.cumsum(ok, dtype=np.int64)))[edges]
    played_count = np.diff(played_before)
    some = played_count > 0
    means = np.full(played_count.size, np.nan)
    if not np.all(some):
        if nothing_played_ta_s is None:
            raise ValueError(
                f"no packet was played in flow {int(np.argmin(some))}, so a per-packet "
                "mouth_to_ear_s gives no delay: pass a constant"
            )
        _check_delay("nothing_played_ta_s", nothing_played_ta_s)
        means[~some] = nothing_played_ta_s
    if np.any(some):  # reduceat over non-empty runs only: each ends where the next starts
        means[some] = np.add.reduceat(played_ta, played_before[:-1][some]) / played_count[some]
    return means


def _check_delay(name: str, value: float) -> None:
    """A constant delay must be finite and non-negative."""
    if not (np.isfinite(value) and value >= 0.0):
        raise ValueError(f"{name} must be finite and >= 0, got {value}")
