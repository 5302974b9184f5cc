"""Many GCC senders at once: every flow's state in numpy arrays, reports run by numba kernels.

``GccBank`` is the fast form of one ``GccFlow`` per flow (libwebrtc's
send-side GCC with transport-wide feedback): ``on_reports`` takes a batch of
feedback reports of any flows, sorted by time, with the packets each report
says were received, and returns each report's target, the same as the flow's
``GccFlow.on_report`` would. The kernels (``gcc_bank_filters``,
``gcc_bank_delay``, ``gcc_bank_sender``) repeat the models' arithmetic in the
models' order, so the targets are equal, not merely close; the state layout is
``gcc_bank_layout``. Like ``GccFlow``, the bank measures each report's RTTs
from its packets (``gcc_bank_rtt`` repeats ``gcc_rtt``): no RTT comes from
outside. Flows are independent, so only each flow's own reports need to be
in order; while it runs one report the kernel starts loading the
state of the flow two reports on (``gcc_bank_prefetch``), since consecutive
reports are usually of different flows.

Inputs that the models would refuse are refused here, before any state
changes, with a ``ValueError`` naming the array.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from voipbed.models import (
    gcc_bank_delay,
    gcc_bank_filters,
    gcc_bank_layout,
    gcc_bank_prefetch,
    gcc_bank_rtt,
    gcc_bank_sender,
    gcc_detector,
    gcc_pushback,
    gcc_rate,
    gcc_rtt,
)
from voipbed.models import gcc_bank_layout as col
from voipbed.models._jit import inline_kernel, kernel
from voipbed.models.gcc import GccConfig
from voipbed.models.gcc_bank_delay import on_packet
from voipbed.models.gcc_bank_layout import new_state, params
from voipbed.models.gcc_bank_prefetch import prefetch
from voipbed.models.gcc_bank_rtt import report_rtt
from voipbed.models.gcc_bank_sender import on_feedback

__all__ = ["GccBank"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

PREFETCH_AHEAD = 2  # reports ahead whose flow state the kernel starts loading
RATE_CAPACITY = 32  # initial incoming-rate ring per flow; grows by doubling when a report needs it


@inline_kernel
def _prefetch_flow(
    floats: FloatArray,
    ints: IntArray,
    ring_a: FloatArray,
    ring_b: FloatArray,
    rate_s: FloatArray,
    rate_bytes: IntArray,
    max_rtt_ms: IntArray,
    flow: int,
) -> None:
    """Start loading every cache line of ``flow``'s state (8 values a line)."""
    for k in range(0, floats.shape[1], 8):
        prefetch(floats, flow, k)
    for k in range(0, ints.shape[1], 8):
        prefetch(ints, flow, k)
    for k in range(0, ring_a.shape[1], 8):
        prefetch(ring_a, flow, k)
    for k in range(0, ring_b.shape[1], 8):
        prefetch(ring_b, flow, k)
    for k in range(0, rate_s.shape[1], 8):
        prefetch(rate_s, flow, k)
        prefetch(rate_bytes, flow, k)
    for k in range(0, max_rtt_ms.shape[1], 8):
        prefetch(max_rtt_ms, flow, k)


@inline_kernel
def _run_reports(
    p: FloatArray,
    q: IntArray,
    floats: FloatArray,
    ints: IntArray,
    ring_a: FloatArray,
    ring_b: FloatArray,
    rate_s: FloatArray,
    rate_bytes: IntArray,
    max_rtt_ms: IntArray,
    report_flow: IntArray,
    report_time_s: FloatArray,
    report_in_flight: IntArray,
    report_expected: IntArray,
    report_lost: IntArray,
    report_ce: IntArray,
    bounds: IntArray,
    packet_send_s: FloatArray,
    packet_arrival_s: FloatArray,
    packet_size: IntArray,
    first: int,
    target: FloatArray,
) -> int:
    """Run reports from ``first`` on; the first report not run (its flow's rate ring is too
    small for its packets), or the number of reports when all ran."""
    capacity = rate_s.shape[1]
    for r in range(first, report_flow.size):
        if r + PREFETCH_AHEAD < report_flow.size:
            _prefetch_flow(
                floats,
                ints,
                ring_a,
                ring_b,
                rate_s,
                rate_bytes,
                max_rtt_ms,
                report_flow[r + PREFETCH_AHEAD],
            )
        flow = report_flow[r]
        f = floats[flow]
        n = ints[flow]
        start = bounds[r]
        end = bounds[r + 1]
        if n[col.RATE_COUNT] + (end - start) > capacity:
            return r
        now_s = report_time_s[r]
        report_rtt(f, n, max_rtt_ms[flow], now_s, packet_send_s, packet_arrival_s, start, end)
        a, b, s, z = ring_a[flow], ring_b[flow], rate_s[flow], rate_bytes[flow]
        for k in range(start, end):
            on_packet(f, n, a, b, s, z, packet_send_s[k], packet_arrival_s[k], packet_size[k], p, q)
        target[r] = on_feedback(
            f,
            n,
            now_s,
            report_expected[r],
            report_lost[r],
            report_ce[r],
            report_in_flight[r],
            p,
            q,
        )
    return report_flow.size


# Modules whose kernels or constants the report loop compiles in: numba keys a cached kernel
# on its own file only, so their sources' digest goes into the key (a closure variable).
_PARTS = (
    gcc_bank_delay,
    gcc_bank_filters,
    gcc_bank_layout,
    gcc_bank_prefetch,
    gcc_bank_rtt,
    gcc_bank_sender,
    gcc_detector,
    gcc_pushback,
    gcc_rate,
    gcc_rtt,
)


def _parts_digest() -> str:
    """A digest of the source of every module in ``_PARTS``."""
    digest = hashlib.sha256()
    for module in _PARTS:
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()


def _compile(digest: str) -> Callable[..., int]:
    """``_run_reports`` as a cached kernel keyed also on ``digest``."""

    @kernel
    def run_reports(
        p: FloatArray,
        q: IntArray,
        floats: FloatArray,
        ints: IntArray,
        ring_a: FloatArray,
        ring_b: FloatArray,
        rate_s: FloatArray,
        rate_bytes: IntArray,
        max_rtt_ms: IntArray,
        report_flow: IntArray,
        report_time_s: FloatArray,
        report_in_flight: IntArray,
        report_expected: IntArray,
        report_lost: IntArray,
        report_ce: IntArray,
        bounds: IntArray,
        packet_send_s: FloatArray,
        packet_arrival_s: FloatArray,
        packet_size: IntArray,
        first: int,
        target: FloatArray,
    ) -> int:
        _ = digest
        return _run_reports(
            p,
            q,
            floats,
            ints,
            ring_a,
            ring_b,
            rate_s,
            rate_bytes,
            max_rtt_ms,
            report_flow,
            report_time_s,
            report_in_flight,
            report_expected,
            report_lost,
            report_ce,
            bounds,
            packet_send_s,
            packet_arrival_s,
            packet_size,
            first,
            target,
        )

    return run_reports


_run_compiled = _compile(_parts_digest())


def _flow_values(name: str, value: ArrayLike, flows: int) -> FloatArray:
    try:
        return np.broadcast_to(np.asarray(value, dtype=np.float64), (flows,)).copy()
    except ValueError as error:
        raise ValueError(f"{name} must be a number or one value per flow") from error


def _ints(name: str, value: ArrayLike, size: int | None = None) -> IntArray:
    array = np.ascontiguousarray(value, dtype=np.int64)
    if array.ndim != 1 or (size is not None and array.size != size):
        raise ValueError(f"{name} must be one-dimensional, one value per entry")
    return array


def _floats(name: str, value: ArrayLike, size: int | None = None) -> FloatArray:
    array = np.ascontiguousarray(value, dtype=np.float64)
    if array.ndim != 1 or (size is not None and array.size != size):
        raise ValueError(f"{name} must be one-dimensional, one value per entry")
    return array


class GccBank:
    """``flows`` GCC senders (``GccFlow``), their state in arrays, run a batch of reports at a time.

    ``start_bps``, ``min_bps`` and ``max_bps`` are one number for every flow or
    one value per flow.
    """

    def __init__(
        self,
        flows: int,
        config: GccConfig,
        start_bps: ArrayLike,
        min_bps: ArrayLike,
        max_bps: ArrayLike,
    ) -> None:
        if flows < 0:
            raise ValueError("the number of flows must not be negative")
        self.config = config
        self.flows = flows
        start = _flow_values("start_bps", start_bps, flows)
        low = _flow_values("min_bps", min_bps, flows)
        high = _flow_values("max_bps", max_bps, flows)
        if not np.all((low > 0.0) & (low <= start) & (start <= high)):
            raise ValueError("bitrates must satisfy 0 < min <= start <= max for every flow")
        for part, bounds in (("aimd", self.config.aimd), ("loss", self.config.loss)):
            if not np.all((bounds.min_bps <= start) & (start <= bounds.max_bps)):
                raise ValueError(f"start_bps must lie within the {part} config's bounds")
        self._params = params(self.config)
        self._state = new_state(self.config, start, low, high, RATE_CAPACITY)

    @property
    def target_bps(self) -> FloatArray:
        """Each flow's rate to send at after its latest report (its start rate before any)."""
        return self._state.floats[:, col.TARGET_BPS].copy()

    @property
    def delay_based_bps(self) -> FloatArray:
        """Each flow's delay-based estimate A_hat."""
        return self._state.floats[:, col.BITRATE_BPS].copy()

    @property
    def threshold_ms(self) -> FloatArray:
        """Each flow's over-use detector threshold."""
        return self._state.floats[:, col.THRESHOLD_MS].copy()

    @property
    def usage(self) -> IntArray:
        """Each flow's over-use hypothesis, as ``BandwidthUsage`` values."""
        return self._state.ints[:, col.USAGE].copy()

    @property
    def loss_based_bps(self) -> FloatArray:
        """Each flow's loss-based estimate As_hat."""
        return self._state.floats[:, col.LOSS_BPS].copy()

    @property
    def rtt_s(self) -> FloatArray:
        """Each flow's delay-based AIMD RTT: the mean of its recent max RTTs."""
        return self._state.floats[:, col.RTT_S].copy()

    @property
    def window_bytes(self) -> FloatArray:
        """Each flow's congestion window (NaN: pushback off, or no window yet)."""
        return self._state.floats[:, col.WINDOW_BYTES].copy()

    def on_reports(
        self,
        report_flow: ArrayLike,
        report_time_s: ArrayLike,
        report_in_flight: ArrayLike,
        report_expected: ArrayLike,
        report_lost: ArrayLike,
        report_ce: ArrayLike,
        packet_report: ArrayLike,
        packet_send_s: ArrayLike,
        packet_arrival_s: ArrayLike,
        packet_size: ArrayLike,
        *,
        check: bool = True,
        bounds: IntArray | None = None,
    ) -> FloatArray:
        """Run a batch of reports; each report's target, in report order.

        Reports are sorted by time (each its arrival at the sender); ``report_in_flight``
        is negative where unknown. ``packet_report`` is each received packet's report
        (index into this batch): packets grouped by report, each report's in arrival order,
        none sent after its report's time. ``check=False`` skips checking these rules and
        the values' ranges, for a caller that builds its arrays to them. ``bounds``, when
        given, says where each report's packets start (``bounds[r]`` to ``bounds[r + 1]``),
        as ``packet_report`` does.
        """
        flow = _ints("report_flow", report_flow)
        count = flow.size
        time_s = _floats("report_time_s", report_time_s, count)
        in_flight = _ints("report_in_flight", report_in_flight, count)
        expected = _ints("report_expected", report_expected, count)
        lost = _ints("report_lost", report_lost, count)
        ce = _ints("report_ce", report_ce, count)
        owner = _ints("packet_report", packet_report)
        send_s = _floats("packet_send_s", packet_send_s, owner.size)
        arrival_s = _floats("packet_arrival_s", packet_arrival_s, owner.size)
        size = _ints("packet_size", packet_size, owner.size)
        if bounds is None or check:
            bounds = np.searchsorted(owner, np.arange(count + 1)).astype(np.int64)
        else:
            bounds = _ints("bounds", bounds, count + 1)
        if check:
            self._check_batch(flow, time_s, expected, lost, ce, owner, send_s, arrival_s, size)
            filled = bounds[1:] > bounds[:-1]
            latest_s = np.maximum.reduceat(send_s, bounds[:-1][filled]) if owner.size else send_s
            if np.any(latest_s > time_s[filled]):
                raise ValueError("packet_send_s must not be after its report's time")
        target = np.empty(count)
        done = 0
        while done < count:
            done = self._run(
                flow,
                time_s,
                in_flight,
                expected,
                lost,
                ce,
                bounds,
                send_s,
                arrival_s,
                size,
                done,
                target,
            )
            if done < count:
                needed = (
                    self._state.ints[flow[done], col.RATE_COUNT] + bounds[done + 1] - bounds[done]
                )
                self._grow_rate_ring(max(2 * self._state.rate_s.shape[1], int(needed)))
        return target

    def _run(
        self,
        flow: IntArray,
        time_s: FloatArray,
        in_flight: IntArray,
        expected: IntArray,
        lost: IntArray,
        ce: IntArray,
        bounds: IntArray,
        send_s: FloatArray,
        arrival_s: FloatArray,
        size: IntArray,
        first: int,
        target: FloatArray,
    ) -> int:
        state = self._state
        return int(
            _run_compiled(
                self._params[0],
                self._params[1],
                state.floats,
                state.ints,
                state.ring_a,
                state.ring_b,
                state.rate_s,
                state.rate_bytes,
                state.max_rtt_ms,
                flow,
                time_s,
                in_flight,
                expected,
                lost,
                ce,
                bounds,
                send_s,
                arrival_s,
                size,
                first,
                target,
            )
        )

    def _check_batch(
        self,
        flow: IntArray,
        time_s: FloatArray,
        expected: IntArray,
        lost: IntArray,
        ce: IntArray,
        owner: IntArray,
        send_s: FloatArray,
        arrival_s: FloatArray,
        size: IntArray,
    ) -> None:
        if np.any((flow < 0) | (flow >= self.flows)):
            raise ValueError(f"report_flow must be flow indices in [0, {self.flows})")
        if not np.all(np.isfinite(time_s)) or np.any(np.diff(time_s) < 0.0):
            raise ValueError("report_time_s must be finite and sorted")
        if np.any(expected < 0) or np.any(lost < 0):
            raise ValueError("report_expected and report_lost must not be negative")
        if self.config.ecn is not None:
            received = expected - lost
            if np.any(received < 0) or np.any((ce < 0) | (ce > received)):
                raise ValueError("report_ce must be within [0, expected - lost] with ECN")
        if owner.size and (owner[0] < 0 or owner[-1] >= flow.size or np.any(np.diff(owner) < 0)):
            raise ValueError("packet_report must be report indices, grouped in report order")
        if not (np.all(np.isfinite(send_s)) and np.all(np.isfinite(arrival_s))):
            raise ValueError("packet_send_s and packet_arrival_s must be finite")
        if np.any(size < 0):
            raise ValueError("packet_size must not be negative")

    def _grow_rate_ring(self, capacity: int) -> None:
        """Re-lay every flow's incoming-rate samples, oldest first, in rings of ``capacity``."""
        state = self._state
        old = state.rate_s.shape[1]
        order = (state.ints[:, col.RATE_HEAD, None] + np.arange(old)) % old
        rate_s = np.zeros((self.flows, capacity))
        rate_bytes = np.zeros((self.flows, capacity), dtype=np.int64)
        rate_s[:, :old] = np.take_along_axis(state.rate_s, order, axis=1)
        rate_bytes[:, :old] = np.take_along_axis(state.rate_bytes, order, axis=1)
        state.ints[:, col.RATE_HEAD] = 0
        self._state = state._replace(rate_s=rate_s, rate_bytes=rate_bytes)
