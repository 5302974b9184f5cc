"""Where ``GccBank`` keeps each flow's GCC state, and the tunables its kernels read.

Each flow is one row of ``BankState.floats`` and ``BankState.ints``, indexed
by the column names below (the fields of the ``gcc_*`` models' objects), and
one row of each ring buffer: the trendline's window (or the Kalman filter's
send-delta history), the incoming-rate window's samples and the recent
reports' max RTTs (``gcc_rtt.FeedbackRtt``, whole milliseconds). ``params`` packs
a ``GccConfig`` into the arrays the kernels take, indexed by the ``P_*`` and
``Q_*`` names; every value comes from the config objects, so the defaults and
their sources stay in the ``gcc_*`` modules.

Encodings: None is NaN (times, estimates); booleans are 0 and 1; a ring's
oldest entry is at its ``*_HEAD`` column and it holds ``*_COUNT`` entries.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from voipbed.models.gcc import DelayFilter, GccConfig
from voipbed.models.gcc_detector import BandwidthUsage
from voipbed.models.gcc_rate import CAPACITY_VAR_MIN, RateControlState
from voipbed.models.gcc_rtt import RTT_WINDOW

__all__ = ["BankState", "new_state", "params"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# ``BankState.floats`` columns.
(
    CUR_FIRST_SEND,  # InterArrival: the group being built
    CUR_SEND,
    CUR_FIRST_ARRIVAL,
    CUR_LAST_ARRIVAL,
    PREV_SEND,  # InterArrival: the last complete group
    PREV_LAST_ARRIVAL,
    TREND_FIRST_ARRIVAL,  # TrendlineEstimator (NaN: no delta yet)
    TREND_ACCUMULATED_MS,
    TREND_SMOOTHED_MS,
    TREND_SLOPE,
    KALMAN_ESTIMATE_MS,  # KalmanDelayFilter
    KALMAN_ERROR,
    KALMAN_NOISE_VAR,
    THRESHOLD_MS,  # OveruseDetector
    DETECTOR_LAST_S,
    PREVIOUS_ESTIMATE,
    TIME_OVER_MS,
    BITRATE_BPS,  # AimdRateControl and its link capacity
    CAPACITY_KBPS,
    CAPACITY_VAR,
    LAST_CHANGE_S,
    LATEST_THROUGHPUT_BPS,
    RTT_S,
    LAST_UPDATE_S,  # DelayBasedEstimator
    RATE_FIRST_S,  # IncomingRate
    LOSS_BPS,  # GccSender: LossBasedControl, EcnController, pushback
    ECN_ALPHA,
    ECN_LAST_REDUCTION_S,
    PUSHBACK_RATIO,
    WINDOW_BYTES,  # NaN: no window yet
    DELAY_BPS,
    TARGET_BPS,  # GccFlow: the clamped target, and its bounds
    FLOW_MIN_BPS,
    FLOW_MAX_BPS,
    LATEST_MIN_RTT_S,  # FeedbackRtt (NaN: none yet)
) = range(35)
FLOAT_COLUMNS = 35

# ``BankState.ints`` columns.
(
    CUR_EMPTY,
    CUR_SIZE,
    PREV_EMPTY,
    PREV_SIZE,
    REORDERED,
    DELTAS,  # the delay filter's group deltas, capped
    OVER_COUNT,
    USAGE,  # BandwidthUsage
    AIMD_STATE,  # RateControlState
    RATE_HEAD,
    RATE_COUNT,
    RATE_BYTES,
    RING_HEAD,  # the delay filter's ring
    RING_COUNT,
    MAX_RTT_HEAD,  # FeedbackRtt: the max-RTT ring, the sum and the least of its entries (ms)
    MAX_RTT_COUNT,
    MAX_RTT_SUM_MS,
    MAX_RTT_MIN_MS,
) = range(18)
INT_COLUMNS = 18

# ``params`` floats.
(
    P_GROUP_LENGTH_S,
    P_SMOOTHING,
    P_THRESHOLD_GAIN,
    P_PROCESS_NOISE,
    P_CHI,
    P_K_UP,
    P_K_DOWN,
    P_MIN_THRESHOLD_MS,
    P_MAX_THRESHOLD_MS,
    P_OVERUSE_TIME_MS,
    P_MAX_ADAPT_OFFSET_MS,
    P_MAX_TIME_DELTA_MS,
    P_BETA,
    P_ETA,
    P_MIN_MULTIPLICATIVE_BPS,
    P_MIN_ADDITIVE_BPS,
    P_RESPONSE_OFFSET_S,
    P_FRAME_RATE_HZ,
    P_PACKET_BYTES,
    P_MAX_INCREASE_RATIO,
    P_INCREASE_HEADROOM_BPS,
    P_CAPACITY_SMOOTHING,
    P_AIMD_MIN_BPS,
    P_AIMD_MAX_BPS,
    P_RATE_WINDOW_S,
    P_UPDATE_INTERVAL_S,
    P_LOW_LOSS,
    P_HIGH_LOSS,
    P_LOSS_INCREASE,
    P_LOSS_DECREASE_GAIN,
    P_LOSS_MIN_BPS,
    P_LOSS_MAX_BPS,
    P_ECN_GAIN,
    P_ECN_DEFAULT_RTT_S,
    P_PUSHBACK_QUEUE_S,
    P_PUSHBACK_MIN_BPS,
    P_PUSHBACK_MIN_WINDOW_BYTES,
    P_ADDITIVE_FLOOR_BPS_PER_S,
    P_ECN_CLASSIC_BETA,
) = range(39)
# ``params`` ints.
Q_KALMAN, Q_SCALE_BY_DELTAS, Q_ECN, Q_PUSHBACK = range(4)


class BankState(NamedTuple):
    """Every flow's state: scalars by column, and the ring buffers, one row per flow."""

    floats: FloatArray
    ints: IntArray
    ring_a: FloatArray  # trendline: arrival times (ms); Kalman: send deltas (ms)
    ring_b: FloatArray  # trendline: smoothed delays (ms); Kalman: unused
    rate_s: FloatArray  # IncomingRate samples: arrival times
    rate_bytes: IntArray  # IncomingRate samples: sizes
    max_rtt_ms: IntArray  # FeedbackRtt: the recent reports' max RTTs, whole ms


def params(config: GccConfig) -> tuple[FloatArray, IntArray]:
    """``config`` as the kernels' float and int parameter arrays."""
    aimd, detector, loss = config.aimd, config.detector, config.loss
    ecn, pushback = config.ecn, config.pushback
    floats = np.zeros(P_ECN_CLASSIC_BETA + 1)
    floats[P_GROUP_LENGTH_S] = config.group_length_s
    floats[P_SMOOTHING] = config.trendline.smoothing
    floats[P_THRESHOLD_GAIN] = config.trendline.threshold_gain
    floats[P_PROCESS_NOISE] = config.kalman.process_noise
    floats[P_CHI] = config.kalman.chi
    floats[P_K_UP] = detector.k_up
    floats[P_K_DOWN] = detector.k_down
    floats[P_MIN_THRESHOLD_MS] = detector.min_threshold_ms
    floats[P_MAX_THRESHOLD_MS] = detector.max_threshold_ms
    floats[P_OVERUSE_TIME_MS] = detector.overuse_time_ms
    floats[P_MAX_ADAPT_OFFSET_MS] = detector.max_adapt_offset_ms
    floats[P_MAX_TIME_DELTA_MS] = detector.max_time_delta_ms
    floats[P_BETA] = aimd.beta
    floats[P_ETA] = aimd.eta
    floats[P_MIN_MULTIPLICATIVE_BPS] = aimd.min_multiplicative_bps
    floats[P_MIN_ADDITIVE_BPS] = aimd.min_additive_bps
    floor = aimd.additive_floor_bps_per_s
    floats[P_ADDITIVE_FLOOR_BPS_PER_S] = math.nan if floor is None else floor
    floats[P_RESPONSE_OFFSET_S] = aimd.response_offset_s
    floats[P_FRAME_RATE_HZ] = aimd.frame_rate_hz
    floats[P_PACKET_BYTES] = aimd.packet_bytes
    floats[P_MAX_INCREASE_RATIO] = aimd.max_increase_ratio
    floats[P_INCREASE_HEADROOM_BPS] = aimd.increase_headroom_bps
    floats[P_CAPACITY_SMOOTHING] = aimd.capacity_smoothing
    floats[P_AIMD_MIN_BPS] = aimd.min_bps
    floats[P_AIMD_MAX_BPS] = aimd.max_bps
    floats[P_RATE_WINDOW_S] = config.rate_window_s
    floats[P_UPDATE_INTERVAL_S] = config.update_interval_s
    floats[P_LOW_LOSS] = loss.low_loss
    floats[P_HIGH_LOSS] = loss.high_loss
    floats[P_LOSS_INCREASE] = loss.increase
    floats[P_LOSS_DECREASE_GAIN] = loss.decrease_gain
    floats[P_LOSS_MIN_BPS] = loss.min_bps
    floats[P_LOSS_MAX_BPS] = loss.max_bps
    if ecn is not None:
        floats[P_ECN_GAIN] = ecn.gain
        floats[P_ECN_DEFAULT_RTT_S] = ecn.default_rtt_s
        beta = ecn.classic_beta
        floats[P_ECN_CLASSIC_BETA] = math.nan if beta is None else beta
    if pushback is not None:
        floats[P_PUSHBACK_QUEUE_S] = pushback.queue_s
        floats[P_PUSHBACK_MIN_BPS] = pushback.min_bps
        floats[P_PUSHBACK_MIN_WINDOW_BYTES] = pushback.min_window_bytes
    ints = np.zeros(Q_PUSHBACK + 1, dtype=np.int64)
    ints[Q_KALMAN] = config.delay_filter is DelayFilter.KALMAN
    ints[Q_SCALE_BY_DELTAS] = config.kalman.scale_by_deltas
    ints[Q_ECN] = ecn is not None
    ints[Q_PUSHBACK] = pushback is not None
    return floats, ints


def new_state(
    config: GccConfig,
    start_bps: FloatArray,
    min_bps: FloatArray,
    max_bps: FloatArray,
    rate_capacity: int,
) -> BankState:
    """Every flow as the ``gcc_*`` objects start (one flow per entry of ``start_bps``)."""
    flows = start_bps.size
    floats = np.zeros((flows, FLOAT_COLUMNS))
    for column in (
        TREND_FIRST_ARRIVAL,
        DETECTOR_LAST_S,
        CAPACITY_KBPS,
        RATE_FIRST_S,
        DELAY_BPS,
        WINDOW_BYTES,
        LATEST_MIN_RTT_S,
    ):
        floats[:, column] = math.nan
    for column in (LAST_CHANGE_S, LAST_UPDATE_S, ECN_LAST_REDUCTION_S):
        floats[:, column] = -math.inf
    floats[:, KALMAN_ERROR] = config.kalman.initial_error
    floats[:, KALMAN_NOISE_VAR] = config.kalman.initial_noise_var
    floats[:, THRESHOLD_MS] = config.detector.initial_threshold_ms
    floats[:, TIME_OVER_MS] = -1.0  # OveruseDetector: -1, not over the threshold
    floats[:, BITRATE_BPS] = start_bps  # libwebrtc SetStartBitrate: initialised at the start
    floats[:, CAPACITY_VAR] = CAPACITY_VAR_MIN
    floats[:, LATEST_THROUGHPUT_BPS] = start_bps
    floats[:, RTT_S] = config.aimd.rtt_s
    floats[:, LOSS_BPS] = start_bps
    floats[:, ECN_ALPHA] = config.ecn.initial_alpha if config.ecn is not None else math.nan
    floats[:, PUSHBACK_RATIO] = 1.0
    floats[:, TARGET_BPS] = start_bps
    floats[:, FLOW_MIN_BPS] = min_bps
    floats[:, FLOW_MAX_BPS] = max_bps
    ints = np.zeros((flows, INT_COLUMNS), dtype=np.int64)
    ints[:, CUR_EMPTY] = 1
    ints[:, PREV_EMPTY] = 1
    ints[:, USAGE] = BandwidthUsage.NORMAL
    ints[:, AIMD_STATE] = RateControlState.HOLD
    kalman = config.delay_filter is DelayFilter.KALMAN
    ring = config.kalman.rate_history if kalman else config.trendline.window_size
    return BankState(
        floats,
        ints,
        np.zeros((flows, ring)),
        np.zeros((flows, 1 if kalman else ring)),
        np.zeros((flows, rate_capacity)),
        np.zeros((flows, rate_capacity), dtype=np.int64),
        np.zeros((flows, RTT_WINDOW), dtype=np.int64),
    )
