"""``GccBank``'s sender, one feedback report of one flow at a time, as a numba kernel.

The same steps, in the same order and with the same arithmetic, as
``GccSender.on_feedback`` (``LossBasedControl``, ``EcnController``,
``CongestionWindowPushback``) followed by ``GccFlow``'s clamp to the flow's
bounds. The delay-based estimate is the flow's A_hat (``f[BITRATE_BPS]``),
always initialised in the bank; the RTTs are the flow's ``FeedbackRtt``
state (``gcc_bank_rtt``): the latest min RTT for ECN, the least max RTT in
its ring for the congestion window. Unknown input: ``in_flight_bytes``
negative.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from voipbed.models import gcc_bank_layout as col
from voipbed.models._jit import inline_kernel
from voipbed.models.gcc_pushback import (
    FILL_EMPTY,
    FILL_FULL,
    FILL_OVER,
    SCALE_FULL,
    SCALE_OVER,
    SCALE_UP,
)

__all__ = ["on_feedback"]

FloatRow = NDArray[np.float64]
IntRow = NDArray[np.int64]


@inline_kernel
def _set_loss_based(f: FloatRow, bitrate_bps: float, p: FloatRow) -> None:
    """LossBasedControl.set: As_hat clamped to the loss controller's bounds."""
    f[col.LOSS_BPS] = min(max(bitrate_bps, p[col.P_LOSS_MIN_BPS]), p[col.P_LOSS_MAX_BPS])


@inline_kernel
def _loss_update(f: FloatRow, loss: float, ceiling_bps: float, p: FloatRow) -> None:
    """LossBasedControl.update (draft section 6)."""
    rate = f[col.LOSS_BPS]
    if loss > p[col.P_HIGH_LOSS]:
        rate *= 1.0 - p[col.P_LOSS_DECREASE_GAIN] * loss
    elif loss < p[col.P_LOW_LOSS]:
        rate *= p[col.P_LOSS_INCREASE]
    _set_loss_based(f, min(rate, ceiling_bps), p)


@inline_kernel
def _set_window(f: FloatRow, target_bps: float, rtt_s: float, p: FloatRow) -> None:
    """CongestionWindowPushback.set_window: the window averaged with target x (RTT + queue)."""
    data_window = target_bps * (rtt_s + p[col.P_PUSHBACK_QUEUE_S]) / 8.0
    if not math.isnan(f[col.WINDOW_BYTES]):
        data_window = (data_window + f[col.WINDOW_BYTES]) / 2.0
    f[col.WINDOW_BYTES] = max(data_window, p[col.P_PUSHBACK_MIN_WINDOW_BYTES])


@inline_kernel
def _pushback(f: FloatRow, target_bps: float, outstanding_bytes: int, p: FloatRow) -> float:
    """CongestionWindowPushback.update: the rate to send at."""
    if math.isnan(f[col.WINDOW_BYTES]):
        return target_bps
    fill = outstanding_bytes / f[col.WINDOW_BYTES]
    if fill > FILL_OVER:
        f[col.PUSHBACK_RATIO] *= SCALE_OVER
    elif fill > FILL_FULL:
        f[col.PUSHBACK_RATIO] *= SCALE_FULL
    elif fill < FILL_EMPTY:
        f[col.PUSHBACK_RATIO] = 1.0
    else:
        f[col.PUSHBACK_RATIO] = min(f[col.PUSHBACK_RATIO] * SCALE_UP, 1.0)
    pushed: float = target_bps * f[col.PUSHBACK_RATIO]
    if pushed < p[col.P_PUSHBACK_MIN_BPS]:
        floor: float = min(target_bps, p[col.P_PUSHBACK_MIN_BPS])
        return floor
    return pushed


@inline_kernel
def on_feedback(
    f: FloatRow,
    n: IntRow,
    now_s: float,
    expected: int,
    lost: int,
    ce_marked: int,
    in_flight_bytes: int,
    p: FloatRow,
    q: IntRow,
) -> float:
    """GccSender.on_feedback, then GccFlow's clamp; the flow's target afterwards."""
    f[col.DELAY_BPS] = f[col.BITRATE_BPS]
    ceiling = f[col.DELAY_BPS]
    loss = 0.0 if expected == 0 else min(lost / expected, 1.0)
    congested = False
    factor = 1.0
    if q[col.Q_ECN] != 0:
        received = expected - lost
        if received != 0:
            gain = p[col.P_ECN_GAIN]
            f[col.ECN_ALPHA] = (1.0 - gain) * f[col.ECN_ALPHA] + gain * (ce_marked / received)
            if ce_marked != 0:
                congested = True
                rtt_s = f[col.LATEST_MIN_RTT_S]
                rtt = p[col.P_ECN_DEFAULT_RTT_S] if math.isnan(rtt_s) else rtt_s
                if not now_s - f[col.ECN_LAST_REDUCTION_S] < rtt:
                    f[col.ECN_LAST_REDUCTION_S] = now_s
                    beta = p[col.P_ECN_CLASSIC_BETA]
                    factor = 1.0 - f[col.ECN_ALPHA] / 2.0 if math.isnan(beta) else beta
    if congested:  # no increase on a marked report, scale on the RTT edge
        ceiling = min(ceiling, f[col.LOSS_BPS])
        _loss_update(f, loss, ceiling, p)
        _set_loss_based(f, f[col.LOSS_BPS] * factor, p)
    else:
        _loss_update(f, loss, ceiling, p)
    network = min(f[col.LOSS_BPS], f[col.DELAY_BPS])
    send = network
    if q[col.Q_PUSHBACK] != 0:
        if n[col.MAX_RTT_COUNT] > 0:
            _set_window(f, network, n[col.MAX_RTT_MIN_MS] / 1000.0, p)
        if in_flight_bytes >= 0:
            send = _pushback(f, network, in_flight_bytes, p)
    target: float = min(max(send, f[col.FLOW_MIN_BPS]), f[col.FLOW_MAX_BPS])
    f[col.TARGET_BPS] = target
    return target
