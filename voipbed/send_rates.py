"""What the senders sent: each flow's mean bit rate, and target and sent rates over time.

Rates are of IP packets as the packets table gives them (``wire_bytes``:
RTP/UDP/IP and SRTP headers included; RTCP and rate-control feedback are not
in the table). Every packet carries ``calls.ptime`` of audio, so a flow's
time sending is its packets times the ptime.

- ``mean_sent_bps``: a flow's bits over its span, from its first packet's
  send time to its last one's plus a ptime (the audio the last one carries).
- ``rate_bins``: per direction and bin of run time (send time), the mean
  over the flows that sent in the bin of their target (the mean of
  ``target_bps`` over their packets in the bin) and of their sending rate
  (their bits in the bin over their packets' audio time, packets times
  ptime, so a call that starts or ends inside a bin is not diluted by the
  part of the bin it was silent).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from voipbed.columns import Columns

__all__ = ["RATE_BIN_S", "empty_rate_bins", "mean_sent_bps", "rate_bins"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

RATE_BIN_S = 1.0
"""Bins of the rates over time: 1 s, GCC's incoming-rate window is 0.5 to 1 s
(draft-ietf-rmcat-gcc-02 section 5.5)."""


def mean_sent_bps(
    wire_bytes: npt.NDArray[Any], send_s: FloatArray, bounds: IntArray, ptime_s: float
) -> FloatArray:
    """Each flow's wire bits per second over its span; flow i is packets
    ``bounds[i]:bounds[i + 1]`` (at least one each)."""
    starts = bounds[:-1]
    if starts.size == 0:
        return np.empty(0)
    bits = 8.0 * np.add.reduceat(np.asarray(wire_bytes, dtype=np.float64), starts)
    span = np.maximum.reduceat(send_s, starts) - np.minimum.reduceat(send_s, starts) + ptime_s
    rate: FloatArray = bits / span
    return rate


def empty_rate_bins() -> Columns:
    """A ``rate_bins`` table without rows."""
    return Columns(
        {
            "direction": np.empty(0, dtype=object),
            "start_s": np.empty(0),
            "flows": np.empty(0, dtype=np.int64),
            "target_bps": np.empty(0),
            "sent_bps": np.empty(0),
        }
    )


def rate_bins(
    flow_direction: npt.NDArray[Any],
    bounds: IntArray,
    send_s: FloatArray,
    wire_bytes: npt.NDArray[Any],
    target_bps: FloatArray,
    ptime_s: float,
    bin_s: float = RATE_BIN_S,
) -> Columns:
    """Target and sent rates per direction and ``bin_s`` of send time, mean over flows.

    ``flow_direction`` is each flow's direction; flow i is packets
    ``bounds[i]:bounds[i + 1]``, with their send times, sizes and targets (NaN
    at a fixed rate). Columns: ``direction``, ``start_s`` (the bin's start),
    ``flows`` (that sent in it), ``target_bps`` (NaN when none had a target)
    and ``sent_bps``; rows by direction, then time.
    """
    if send_s.size == 0:
        return empty_rate_bins()
    if not bin_s > 0:
        raise ValueError(f"bin_s must be > 0, got {bin_s}")
    flow = np.repeat(np.arange(bounds.size - 1, dtype=np.int64), np.diff(bounds))
    slot = np.floor(send_s / bin_s).astype(np.int64)
    slot -= slot.min()
    first = float(np.floor(send_s.min() / bin_s)) * bin_s
    slots = int(slot.max()) + 1
    # One entry per flow and bin it sent in.
    pair, at = np.unique(flow * slots + slot, return_inverse=True)
    packets = np.bincount(at)
    bits = 8.0 * np.bincount(at, weights=np.asarray(wire_bytes, dtype=np.float64))
    known = np.isfinite(target_bps)
    targeted = np.bincount(at, weights=known)
    target_sum = np.bincount(at, weights=np.where(known, target_bps, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        pair_target = np.where(targeted > 0, target_sum / targeted, np.nan)
    pair_sent = bits / (packets * ptime_s)
    # Mean over the flows of each direction and bin.
    names, direction_code = np.unique(flow_direction.astype(str), return_inverse=True)
    pair_flow, pair_slot = np.divmod(pair, slots)
    group, into = np.unique(direction_code[pair_flow] * slots + pair_slot, return_inverse=True)
    flows = np.bincount(into)
    has_target = np.isfinite(pair_target)
    with_target = np.bincount(into, weights=has_target)
    with np.errstate(invalid="ignore", divide="ignore"):
        target = np.where(
            with_target > 0,
            np.bincount(into, weights=np.where(has_target, pair_target, 0.0)) / with_target,
            np.nan,
        )
    group_direction, group_slot = np.divmod(group, slots)
    order = np.lexsort((group_slot, group_direction, _direction_rank(names)[group_direction]))
    return Columns(
        {
            "direction": names.astype(object)[group_direction][order],
            "start_s": (first + group_slot * bin_s)[order],
            "flows": flows[order].astype(np.int64),
            "target_bps": target[order],
            "sent_bps": (np.bincount(into, weights=pair_sent) / flows)[order],
        }
    )


def _direction_rank(names: npt.NDArray[Any]) -> IntArray:
    """Uplink first, downlink second, any other after them."""
    known = {"uplink": 0, "downlink": 1}
    return np.array([known.get(str(name), 2) for name in names.tolist()], dtype=np.int64)
