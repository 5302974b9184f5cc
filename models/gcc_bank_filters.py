"""``GccBank``'s packet measurements, one packet of one flow at a time, as numba kernels.

The same steps, in the same order and with the same arithmetic, as
``IncomingRate`` (R_hat's window), ``InterArrival`` (group deltas) and the
delay filters ``TrendlineEstimator`` and ``KalmanDelayFilter``. Each kernel
takes one flow's row of the bank's state (``f``: floats, ``n``: ints, columns
in ``gcc_bank_layout``), its ring rows and the parameter arrays ``p``, ``q``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from voipbed.models import gcc_bank_layout as col
from voipbed.models._jit import inline_kernel
from voipbed.models.gcc_arrival import BURST_DELTA_S, MAX_BURST_S, REORDERED_RESET
from voipbed.models.gcc_kalman import DELTA_COUNTER_MAX as KALMAN_DELTA_COUNTER_MAX
from voipbed.models.gcc_kalman import MIN_NUM_DELTAS as KALMAN_MIN_NUM_DELTAS
from voipbed.models.gcc_trendline import DELTA_COUNTER_MAX, MIN_NUM_DELTAS

__all__ = ["arrival_add", "kalman", "rate_add", "trendline"]

FloatRow = NDArray[np.float64]
IntRow = NDArray[np.int64]


@inline_kernel
def _rate_expire(
    n: IntRow, rate_s: FloatRow, rate_bytes: IntRow, now_s: float, window_s: float
) -> None:
    """IncomingRate._expire: drop the samples at or before ``now_s - window_s``."""
    horizon = now_s - window_s
    capacity = rate_s.size
    head = n[col.RATE_HEAD]
    count = n[col.RATE_COUNT]
    while count > 0 and rate_s[head] <= horizon:
        n[col.RATE_BYTES] -= rate_bytes[head]
        head += 1
        if head == capacity:
            head = 0
        count -= 1
    n[col.RATE_HEAD] = head
    n[col.RATE_COUNT] = count


@inline_kernel
def rate_add(
    f: FloatRow,
    n: IntRow,
    rate_s: FloatRow,
    rate_bytes: IntRow,
    now_s: float,
    size: int,
    p: FloatRow,
) -> float:
    """IncomingRate.add, then rate_bps at the same time (NaN for None)."""
    window_s = p[col.P_RATE_WINDOW_S]
    if math.isnan(f[col.RATE_FIRST_S]):
        f[col.RATE_FIRST_S] = now_s
    slot = n[col.RATE_HEAD] + n[col.RATE_COUNT]
    if slot >= rate_s.size:
        slot -= rate_s.size
    rate_s[slot] = now_s
    rate_bytes[slot] = size
    n[col.RATE_COUNT] += 1
    n[col.RATE_BYTES] += size
    _rate_expire(n, rate_s, rate_bytes, now_s, window_s)
    if now_s - f[col.RATE_FIRST_S] < window_s or n[col.RATE_COUNT] == 0:
        return math.nan
    rate_bps: float = n[col.RATE_BYTES] * 8.0 / window_s
    return rate_bps


@inline_kernel
def _start_group(f: FloatRow, n: IntRow, send_s: float, arrival_s: float) -> None:
    n[col.CUR_EMPTY] = 0
    f[col.CUR_FIRST_SEND] = send_s
    f[col.CUR_SEND] = send_s
    f[col.CUR_FIRST_ARRIVAL] = arrival_s
    n[col.CUR_SIZE] = 0


@inline_kernel
def _close_group(
    f: FloatRow, n: IntRow, send_s: float, arrival_s: float
) -> tuple[bool, float, float, float]:
    """InterArrival._close: (found, send delta, arrival delta, the later group's arrival)."""
    found = False
    send_delta = 0.0
    arrival_delta = 0.0
    if n[col.PREV_EMPTY] == 0:
        arrival_delta = f[col.CUR_LAST_ARRIVAL] - f[col.PREV_LAST_ARRIVAL]
        if arrival_delta < 0.0:
            n[col.REORDERED] += 1
            if n[col.REORDERED] >= REORDERED_RESET:
                n[col.REORDERED] = 0
                n[col.PREV_EMPTY] = 1
                _start_group(f, n, send_s, arrival_s)
                return False, 0.0, 0.0, 0.0
        else:
            n[col.REORDERED] = 0
            found = True
            send_delta = f[col.CUR_SEND] - f[col.PREV_SEND]
    later_arrival = f[col.CUR_LAST_ARRIVAL]
    f[col.PREV_SEND] = f[col.CUR_SEND]
    f[col.PREV_LAST_ARRIVAL] = f[col.CUR_LAST_ARRIVAL]
    n[col.PREV_SIZE] = n[col.CUR_SIZE]
    n[col.PREV_EMPTY] = n[col.CUR_EMPTY]
    _start_group(f, n, send_s, arrival_s)
    return found, send_delta, arrival_delta, later_arrival


@inline_kernel
def arrival_add(
    f: FloatRow, n: IntRow, send_s: float, arrival_s: float, size: int, p: FloatRow
) -> tuple[bool, float, float, float]:
    """InterArrival.add: (found, send delta, arrival delta, arrival) of the closed groups."""
    found = False
    send_delta = arrival_delta = delta_arrival = 0.0
    if n[col.CUR_EMPTY] != 0:
        _start_group(f, n, send_s, arrival_s)
    elif send_s < f[col.CUR_FIRST_SEND]:
        return False, 0.0, 0.0, 0.0  # reordered, ignored
    else:
        opens = True
        group_send_delta = send_s - f[col.CUR_SEND]
        if group_send_delta == 0.0:
            opens = False
        else:
            group_arrival_delta = arrival_s - f[col.CUR_LAST_ARRIVAL]
            if (
                group_arrival_delta - group_send_delta < 0.0
                and group_arrival_delta <= BURST_DELTA_S
                and arrival_s - f[col.CUR_FIRST_ARRIVAL] < MAX_BURST_S
            ):
                opens = False
            else:
                opens = send_s - f[col.CUR_FIRST_SEND] > p[col.P_GROUP_LENGTH_S]
        if opens:
            found, send_delta, arrival_delta, delta_arrival = _close_group(f, n, send_s, arrival_s)
        else:
            f[col.CUR_SEND] = max(f[col.CUR_SEND], send_s)
    n[col.CUR_SIZE] += size
    f[col.CUR_LAST_ARRIVAL] = arrival_s
    return found, send_delta, arrival_delta, delta_arrival


@inline_kernel
def trendline(
    f: FloatRow,
    n: IntRow,
    times_ms: FloatRow,
    delays_ms: FloatRow,
    send_delta_s: float,
    arrival_delta_s: float,
    arrival_s: float,
    p: FloatRow,
) -> tuple[float, float]:
    """TrendlineEstimator.update: (modified, trend)."""
    n[col.DELTAS] = min(n[col.DELTAS] + 1, DELTA_COUNTER_MAX)
    if math.isnan(f[col.TREND_FIRST_ARRIVAL]):
        f[col.TREND_FIRST_ARRIVAL] = arrival_s
    coefficient = p[col.P_SMOOTHING]
    f[col.TREND_ACCUMULATED_MS] += (arrival_delta_s - send_delta_s) * 1000.0
    f[col.TREND_SMOOTHED_MS] = (
        coefficient * f[col.TREND_SMOOTHED_MS] + (1.0 - coefficient) * f[col.TREND_ACCUMULATED_MS]
    )
    window = times_ms.size
    head = n[col.RING_HEAD]
    count = n[col.RING_COUNT]
    if count < window:
        slot = head + count
        n[col.RING_COUNT] = count + 1
    else:
        slot = head
        head = head + 1 if head + 1 < window else 0
        n[col.RING_HEAD] = head
    times_ms[slot] = (arrival_s - f[col.TREND_FIRST_ARRIVAL]) * 1000.0
    delays_ms[slot] = f[col.TREND_SMOOTHED_MS]
    if n[col.RING_COUNT] == window:
        # linear_fit_slope over the window, oldest first, summed left to right as sum() does.
        x_sum = 0.0
        y_sum = 0.0
        for k in range(head, window):
            x_sum += times_ms[k]
            y_sum += delays_ms[k]
        for k in range(head):
            x_sum += times_ms[k]
            y_sum += delays_ms[k]
        x_mean = x_sum / window
        y_mean = y_sum / window
        numerator = 0.0
        denominator = 0.0
        for k in range(head, window):
            dx = times_ms[k] - x_mean
            numerator += dx * (delays_ms[k] - y_mean)
            denominator += dx * dx
        for k in range(head):
            dx = times_ms[k] - x_mean
            numerator += dx * (delays_ms[k] - y_mean)
            denominator += dx * dx
        if denominator != 0.0:
            f[col.TREND_SLOPE] = numerator / denominator
    trend = f[col.TREND_SLOPE]
    return min(n[col.DELTAS], MIN_NUM_DELTAS) * trend * p[col.P_THRESHOLD_GAIN], trend


@inline_kernel
def kalman(
    f: FloatRow,
    n: IntRow,
    send_deltas_ms: FloatRow,
    send_delta_s: float,
    arrival_delta_s: float,
    p: FloatRow,
    q: IntRow,
) -> tuple[float, float]:
    """KalmanDelayFilter.update: (modified, estimate)."""
    n[col.DELTAS] = min(n[col.DELTAS] + 1, KALMAN_DELTA_COUNTER_MAX)
    send_delta_ms = send_delta_s * 1000.0
    history = send_deltas_ms.size
    if n[col.RING_COUNT] < history:
        send_deltas_ms[n[col.RING_HEAD] + n[col.RING_COUNT]] = send_delta_ms
        n[col.RING_COUNT] += 1
    else:
        send_deltas_ms[n[col.RING_HEAD]] = send_delta_ms
        n[col.RING_HEAD] = n[col.RING_HEAD] + 1 if n[col.RING_HEAD] + 1 < history else 0
    min_period_ms = send_deltas_ms[0]
    for k in range(1, n[col.RING_COUNT]):
        min_period_ms = min(min_period_ms, send_deltas_ms[k])
    min_period_ms = max(min_period_ms, 0.0)
    z = (arrival_delta_s - send_delta_s) * 1000.0 - f[col.KALMAN_ESTIMATE_MS]
    alpha = (1.0 - p[col.P_CHI]) ** (30.0 * min_period_ms / 1000.0)
    bound = 3.0 * math.sqrt(f[col.KALMAN_NOISE_VAR])
    clipped = min(max(z, -bound), bound)
    f[col.KALMAN_NOISE_VAR] = max(
        alpha * f[col.KALMAN_NOISE_VAR] + (1.0 - alpha) * clipped * clipped, 1.0
    )
    prior = f[col.KALMAN_ERROR] + p[col.P_PROCESS_NOISE]
    gain = prior / (f[col.KALMAN_NOISE_VAR] + prior)
    f[col.KALMAN_ESTIMATE_MS] += gain * z
    f[col.KALMAN_ERROR] = (1.0 - gain) * prior
    scale = min(n[col.DELTAS], KALMAN_MIN_NUM_DELTAS) if q[col.Q_SCALE_BY_DELTAS] != 0 else 1
    return scale * f[col.KALMAN_ESTIMATE_MS], f[col.KALMAN_ESTIMATE_MS]
