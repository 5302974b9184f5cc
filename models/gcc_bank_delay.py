"""``GccBank``'s delay-based estimator, one packet of one flow at a time, as numba kernels.

The same steps, in the same order and with the same arithmetic, as
``DelayBasedEstimator.on_packet``: the packet measurements
(``gcc_bank_filters``), then ``OveruseDetector`` and ``AimdRateControl``.
Each kernel takes one flow's row of the bank's state (``f``: floats, ``n``:
ints, columns in ``gcc_bank_layout``), its ring rows and the parameter arrays
``p`` and ``q``. The AIMD starts initialised (``GccFlow`` gives it the start
rate, as libwebrtc does), so the initialisation from R_hat is not here.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from voipbed.models import gcc_bank_layout as col
from voipbed.models._jit import inline_kernel
from voipbed.models.gcc_bank_filters import arrival_add, kalman, rate_add, trendline
from voipbed.models.gcc_detector import BandwidthUsage
from voipbed.models.gcc_rate import (
    CAPACITY_DEVIATIONS,
    CAPACITY_VAR_MAX,
    CAPACITY_VAR_MIN,
    FAST_REDUCE_RATIO,
    LIBWEBRTC_RESPONSE_FACTOR,
    MAX_REDUCE_INTERVAL_S,
    MIN_REDUCE_INTERVAL_S,
    RateControlState,
)

__all__ = ["on_packet"]

FloatRow = NDArray[np.float64]
IntRow = NDArray[np.int64]

NORMAL = int(BandwidthUsage.NORMAL)
UNDERUSING = int(BandwidthUsage.UNDERUSING)
OVERUSING = int(BandwidthUsage.OVERUSING)
HOLD = int(RateControlState.HOLD)
INCREASE = int(RateControlState.INCREASE)
DECREASE = int(RateControlState.DECREASE)


@inline_kernel
def _detect(
    f: FloatRow,
    n: IntRow,
    modified: float,
    estimate: float,
    send_delta_ms: float,
    now_s: float,
    p: FloatRow,
) -> None:
    """OveruseDetector.detect and _adapt."""
    if n[col.DELTAS] < 2:
        n[col.USAGE] = NORMAL
        return
    threshold = f[col.THRESHOLD_MS]
    if modified > threshold:
        if f[col.TIME_OVER_MS] < 0.0:
            f[col.TIME_OVER_MS] = send_delta_ms / 2.0
        else:
            f[col.TIME_OVER_MS] += send_delta_ms
        n[col.OVER_COUNT] += 1
        if (
            f[col.TIME_OVER_MS] > p[col.P_OVERUSE_TIME_MS]
            and n[col.OVER_COUNT] > 1
            and estimate >= f[col.PREVIOUS_ESTIMATE]
        ):
            f[col.TIME_OVER_MS] = 0.0
            n[col.OVER_COUNT] = 0
            n[col.USAGE] = OVERUSING
    else:
        f[col.TIME_OVER_MS] = -1.0
        n[col.OVER_COUNT] = 0
        n[col.USAGE] = UNDERUSING if modified < -threshold else NORMAL
    f[col.PREVIOUS_ESTIMATE] = estimate
    magnitude = abs(modified)
    if math.isnan(f[col.DETECTOR_LAST_S]):
        f[col.DETECTOR_LAST_S] = now_s
    if magnitude > threshold + p[col.P_MAX_ADAPT_OFFSET_MS]:
        f[col.DETECTOR_LAST_S] = now_s
        return
    k = p[col.P_K_DOWN] if magnitude < threshold else p[col.P_K_UP]
    dt_ms = min((now_s - f[col.DETECTOR_LAST_S]) * 1000.0, p[col.P_MAX_TIME_DELTA_MS])
    updated = threshold + k * (magnitude - threshold) * dt_ms
    f[col.THRESHOLD_MS] = min(max(updated, p[col.P_MIN_THRESHOLD_MS]), p[col.P_MAX_THRESHOLD_MS])
    f[col.DETECTOR_LAST_S] = now_s


@inline_kernel
def _clamp_aimd(bitrate_bps: float, p: FloatRow) -> float:
    clamped: float = min(max(bitrate_bps, p[col.P_AIMD_MIN_BPS]), p[col.P_AIMD_MAX_BPS])
    return clamped


@inline_kernel
def _deviation_kbps(f: FloatRow) -> float:
    return math.sqrt(f[col.CAPACITY_VAR] * f[col.CAPACITY_KBPS])


@inline_kernel
def _increase(f: FloatRow, throughput_bps: float, now_s: float, p: FloatRow) -> None:
    """AimdRateControl._increase, with _multiplicative and _additive."""
    known = not math.isnan(f[col.CAPACITY_KBPS])
    if known:
        upper_kbps = f[col.CAPACITY_KBPS] + CAPACITY_DEVIATIONS * _deviation_kbps(f)
        if throughput_bps / 1000.0 > upper_kbps:
            f[col.CAPACITY_KBPS] = math.nan
            known = False
    limit = p[col.P_MAX_INCREASE_RATIO] * throughput_bps + p[col.P_INCREASE_HEADROOM_BPS]
    bitrate = f[col.BITRATE_BPS]
    if bitrate < limit:
        dt_s = now_s - f[col.LAST_CHANGE_S]
        finite = math.isfinite(dt_s)
        if known:
            bits_per_frame = bitrate / p[col.P_FRAME_RATE_HZ]
            packets_per_frame = math.ceil(bits_per_frame / (p[col.P_PACKET_BYTES] * 8.0))
            packet_bits = bits_per_frame / max(packets_per_frame, 1)
            response_s = p[col.P_RESPONSE_OFFSET_S] + f[col.RTT_S]
            floor = p[col.P_ADDITIVE_FLOOR_BPS_PER_S]
            if math.isnan(floor):
                alpha = 0.5 * min(dt_s / response_s, 1.0) if finite else 0.5
                increased = bitrate + max(p[col.P_MIN_ADDITIVE_BPS], alpha * packet_bits)
            else:
                per_second = max(floor, packet_bits / (LIBWEBRTC_RESPONSE_FACTOR * response_s))
                increased = bitrate + per_second * (dt_s if finite else response_s)
        else:
            eta = p[col.P_ETA] ** min(dt_s, 1.0) if finite else p[col.P_ETA]
            increased = bitrate + max(bitrate * (eta - 1.0), p[col.P_MIN_MULTIPLICATIVE_BPS])
        f[col.BITRATE_BPS] = _clamp_aimd(min(increased, limit), p)
    f[col.LAST_CHANGE_S] = now_s


@inline_kernel
def _decrease(f: FloatRow, n: IntRow, throughput_bps: float, now_s: float, p: FloatRow) -> None:
    """AimdRateControl._decrease, with the link capacity's on_overuse."""
    beta = p[col.P_BETA]
    decreased = beta * throughput_bps
    if decreased > f[col.BITRATE_BPS] and not math.isnan(f[col.CAPACITY_KBPS]):
        decreased = beta * f[col.CAPACITY_KBPS] * 1000.0
    if decreased < f[col.BITRATE_BPS]:
        f[col.BITRATE_BPS] = _clamp_aimd(decreased, p)
    throughput_kbps = throughput_bps / 1000.0
    if not math.isnan(f[col.CAPACITY_KBPS]):
        lower_kbps = max(0.0, f[col.CAPACITY_KBPS] - CAPACITY_DEVIATIONS * _deviation_kbps(f))
        if throughput_kbps < lower_kbps:
            f[col.CAPACITY_KBPS] = math.nan
    alpha = p[col.P_CAPACITY_SMOOTHING]
    if math.isnan(f[col.CAPACITY_KBPS]):
        f[col.CAPACITY_KBPS] = throughput_kbps
    else:
        f[col.CAPACITY_KBPS] = (1.0 - alpha) * f[col.CAPACITY_KBPS] + alpha * throughput_kbps
    norm = max(f[col.CAPACITY_KBPS], 1.0)
    error = f[col.CAPACITY_KBPS] - throughput_kbps
    variance = (1.0 - alpha) * f[col.CAPACITY_VAR] + alpha * error * error / norm
    f[col.CAPACITY_VAR] = min(max(variance, CAPACITY_VAR_MIN), CAPACITY_VAR_MAX)
    n[col.AIMD_STATE] = HOLD
    f[col.LAST_CHANGE_S] = now_s


@inline_kernel
def _rate_update(f: FloatRow, n: IntRow, throughput_bps: float, now_s: float, p: FloatRow) -> None:
    """AimdRateControl.update on an initialised controller."""
    if not math.isnan(throughput_bps):
        f[col.LATEST_THROUGHPUT_BPS] = throughput_bps
    throughput = f[col.LATEST_THROUGHPUT_BPS]
    usage = n[col.USAGE]
    if usage == OVERUSING:
        n[col.AIMD_STATE] = DECREASE
    elif usage == UNDERUSING:
        n[col.AIMD_STATE] = HOLD
    elif n[col.AIMD_STATE] == HOLD:
        f[col.LAST_CHANGE_S] = now_s
        n[col.AIMD_STATE] = INCREASE
    if n[col.AIMD_STATE] == INCREASE:
        _increase(f, throughput, now_s, p)
    elif n[col.AIMD_STATE] == DECREASE:
        _decrease(f, n, throughput, now_s, p)


@inline_kernel
def on_packet(
    f: FloatRow,
    n: IntRow,
    ring_a: FloatRow,
    ring_b: FloatRow,
    rate_s: FloatRow,
    rate_bytes: IntRow,
    send_s: float,
    arrival_s: float,
    size: int,
    p: FloatRow,
    q: IntRow,
) -> None:
    """DelayBasedEstimator.on_packet for one flow; A_hat is left in ``f[col.BITRATE_BPS]``."""
    throughput = rate_add(f, n, rate_s, rate_bytes, arrival_s, size, p)
    found, send_delta, arrival_delta, delta_arrival = arrival_add(f, n, send_s, arrival_s, size, p)
    if found:
        if q[col.Q_KALMAN] != 0:
            modified, estimate = kalman(f, n, ring_a, send_delta, arrival_delta, p, q)
        else:
            modified, estimate = trendline(
                f, n, ring_a, ring_b, send_delta, arrival_delta, delta_arrival, p
            )
        _detect(f, n, modified, estimate, send_delta * 1000.0, delta_arrival, p)
    if n[col.USAGE] == OVERUSING:
        interval_s = min(max(f[col.RTT_S], MIN_REDUCE_INTERVAL_S), MAX_REDUCE_INTERVAL_S)
        due = arrival_s - f[col.LAST_CHANGE_S] >= interval_s or (
            not math.isnan(throughput) and throughput < FAST_REDUCE_RATIO * f[col.BITRATE_BPS]
        )
    else:
        due = arrival_s - f[col.LAST_UPDATE_S] >= p[col.P_UPDATE_INTERVAL_S]
    if due:
        _rate_update(f, n, throughput, arrival_s, p)
        f[col.LAST_UPDATE_S] = arrival_s
