"""Fitting the path models to what a run (a capture, an emulated or simulated call) saw.

:func:`fit_path` reads every media packet of a run, both directions pooled, and
fits one path segment that the simulator can run:

- **Delay**: the base one-way delay is the least delay seen; what each packet
  took beyond it is fitted by each jitter distribution the simulator has
  (uniform: the largest excess, the maximum-likelihood scale; exponential: the
  mean excess; half-normal: the root mean square excess), and the one whose
  distribution is closest to the excesses (the Kolmogorov-Smirnov distance,
  the largest gap between the two cumulative distributions) is kept, with that
  distance as its goodness of fit. A flow whose packets arrive out of sequence
  order makes the jitter reorder.
- **Loss**: each flow's sequence of received and lost packets, in sequence
  order, is a two-state Markov chain; its transition probabilities, counted
  over all flows (maximum likelihood), are the Gilbert-Elliott model's p
  (received to lost) and r (lost to received), a loss state losing every
  packet (Gilbert's model). When the chain's burst ratio 1 / (p + r) is
  within ``BERNOULLI_BURST`` of 1, losses are independent and the loss is
  Bernoulli at the same rate.

- **Capacity**: when the excess delays of consecutive packets of a flow move
  together (lag-1 correlation above ``QUEUEING_CORRELATION``: packets waiting
  in a queue, not drawn one by one), the link's capacity is fitted instead of
  a jitter distribution, as a Mahimahi delivery schedule per direction: in each
  millisecond packets left, the opportunities their bytes needed; none while one
  waited; elsewhere as many as the waits of the packets around suggest
  (``_schedule``).
  A capacity drop (a coverage hole, a handover) is then reproduced where it
  happened, with the queueing it caused. Losses that came while the queue held
  as many packets as it ever did are its overflows: the queue's limit is that
  many packets, and they are left out of the loss chain.

Handover-like outages show as losses (fitted by the chain) or as capacity
gaps; per-direction differences other than capacity are not fitted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from voipbed.arrow_numpy import to_numpy
from voipbed.models._jit import kernel
from voipbed.models.mahimahi import OPPORTUNITY_BYTES, TUN_HEADER_BYTES

__all__ = [
    "BERNOULLI_BURST",
    "QUEUEING_CORRELATION",
    "DelayFit",
    "LossFit",
    "PathFit",
    "fit_path",
    "loss_transitions",
]

BERNOULLI_BURST = 0.1  # a burst ratio within this of 1 is taken as independent loss
QUEUEING_CORRELATION = 0.5  # lag-1 correlation of excess delays above which a queue is fitted
_QUEUED_S = 5e-4  # an excess delay above 0.5 ms: the packet waited in the queue
_KS_SAMPLE = 20_000  # excesses the goodness of fit is computed on (evenly spaced in order)
_NO_JITTER_S = 1e-4  # a mean excess under 0.1 ms: no jitter
# The span whose waits set a schedule's spacing where nothing else is known: a modelling
# choice, ten packets of each of two 20 ms flows, short against a cellular link's changes.
_LOCAL_MS = 200.0

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class DelayFit:
    """The fitted delay: base, jitter distribution and scale, goodness of fit per candidate."""

    base_s: float
    distribution: str  # "none", "uniform", "exponential" or "half_normal"
    scale_s: float
    reorder: bool
    ks: dict[str, float]  # each candidate's Kolmogorov-Smirnov distance
    correlation: float  # lag-1 correlation of consecutive packets' excess delays
    schedules: dict[str, list[int]] | None = None  # per direction: opportunity times, ms


@dataclass(frozen=True)
class LossFit:
    """The fitted loss: the rate, the chain's p and r, and the model kept."""

    rate: float
    p: float
    r: float
    model: str  # "none", "bernoulli" or "gilbert_elliott"

    @property
    def burst_ratio(self) -> float:
        """The chain's burst ratio 1 / (p + r) (1: independent loss)."""
        return 1.0 / (self.p + self.r) if self.p + self.r > 0 else 1.0


@dataclass(frozen=True)
class PathFit:
    """One fitted segment."""

    delay: DelayFit
    loss: LossFit
    packets: int
    queue_packets: int | None = None  # the queue's limit, where losses came at a full queue
    overflows: int = 0  # losses put down to the full queue (not in ``loss``)

    def segment(self, name: str = "fitted", traces: dict[str, str] | None = None) -> dict[str, Any]:
        """The segment as a scenario's ``path`` entry (YAML keys); ``traces`` names the files
        holding ``delay.schedules`` per direction."""
        segment: dict[str, Any] = {
            "name": name,
            "one_way_delay": f"{self.delay.base_s * 1e3:.3f}ms",
        }
        if traces:
            segment["uplink_trace"] = traces["uplink"]
            segment["downlink_trace"] = traces["downlink"]
            limit = self.queue_packets if self.queue_packets is not None else 100_000
            segment["queue"] = {"packets": limit}  # no limit seen: losses are the chain's
        if self.delay.distribution != "none":
            segment["jitter"] = {
                "distribution": self.delay.distribution,
                "scale": f"{self.delay.scale_s * 1e3:.3f}ms",
                "reorder": self.delay.reorder,
            }
        loss = self.loss
        if loss.model == "bernoulli":
            segment["loss"] = {"model": "bernoulli", "rate": f"{loss.rate * 100:.4f}%"}
        elif loss.model == "gilbert_elliott":
            segment["loss"] = {
                "model": "gilbert_elliott",
                "p": f"{loss.p * 100:.4f}%",
                "r": f"{loss.r * 100:.4f}%",
            }
        return segment


def fit_path(packets: pa.Table) -> PathFit:
    """The segment that best explains ``packets`` (a run's packets table)."""
    flow = to_numpy(packets.column("flow")).astype(np.int64)
    seq = to_numpy(packets.column("seq")).astype(np.int64)
    send = to_numpy(packets.column("send_s"))
    recv = to_numpy(packets.column("recv_s"))
    size = to_numpy(packets.column("wire_bytes")).astype(np.int64)
    order = np.lexsort((seq, flow))
    flow, send, recv, size = flow[order], send[order], recv[order], size[order]
    got = ~np.isnan(recv)
    if not got.any():
        raise ValueError("no packet was received: there is no delay to fit")
    delay = _delay(flow, send, recv, got, size)
    queue_limit, overflowed = None, np.zeros(flow.size, dtype=np.bool_)
    if delay.schedules is not None:
        queue_limit, overflowed = _queue_limit(flow, send, recv - delay.base_s, got)
    loss = _loss(flow[~overflowed], got[~overflowed])
    return PathFit(delay, loss, int(flow.size), queue_limit, int(overflowed.sum()))


def _queue_limit(
    flow: NDArray[np.int64], send: FloatArray, leave: FloatArray, got: NDArray[np.bool_]
) -> tuple[int | None, NDArray[np.bool_]]:
    """The queue's limit in packets, the most that waited at once (per direction, every
    flow's received packets: those that had arrived and not left), and the packets lost
    when it was that full (overflows, not losses on the medium); None when no loss came
    at a full queue."""
    overflowed = np.zeros(flow.size, dtype=np.bool_)
    limits = []
    for direction in (0, 1):
        mine = flow % 2 == direction
        arrivals = np.sort(send[mine & got])
        departures = np.sort(leave[mine & got])
        if not arrivals.size:
            continue
        waiting = np.searchsorted(arrivals, arrivals, side="left") - np.searchsorted(
            departures, arrivals, side="right"
        )
        limit = int(waiting.max())
        lost = np.flatnonzero(mine & ~got)
        at = send[lost]
        waiting_then = np.searchsorted(arrivals, at, side="left") - np.searchsorted(
            departures, at, side="right"
        )
        full = waiting_then >= max(limit - 1, 1)
        overflowed[lost[full]] = True
        limits.append(limit)
    if not overflowed.any():
        return None, overflowed
    return max(limits) + 1, overflowed


def _delay(
    flow: NDArray[np.int64],
    send: FloatArray,
    recv: FloatArray,
    got: NDArray[np.bool_],
    size: NDArray[np.int64],
) -> DelayFit:
    delay = recv[got] - send[got]
    base = float(delay.min())
    excess = delay - base
    same = np.diff(flow[got]) == 0
    reorder = bool(np.any(same & (np.diff(recv[got]) < 0)))
    correlation = _lag_one(excess, same)
    if float(excess.mean()) < _NO_JITTER_S:
        return DelayFit(base, "none", 0.0, reorder, {}, correlation)
    if correlation > QUEUEING_CORRELATION:
        mine = [(flow[got] % 2) == k for k in (0, 1)]
        schedules = {
            name: _schedule(send[got][mine[k]], excess[mine[k]], size[got][mine[k]])
            for k, name in enumerate(("uplink", "downlink"))
        }
        return DelayFit(base, "none", 0.0, reorder, {}, correlation, schedules)
    ordered = np.sort(excess)
    scales = {
        "uniform": float(ordered[-1]),
        "exponential": float(ordered.mean()),
        "half_normal": float(math.sqrt(float(np.mean(ordered**2)))),
    }
    sample = ordered[np.linspace(0, ordered.size - 1, min(ordered.size, _KS_SAMPLE)).astype(int)]
    ks = {name: _ks(sample, name, scale) for name, scale in scales.items()}
    best = min(ks, key=lambda name: ks[name])
    return DelayFit(base, best, scales[best], reorder, ks, correlation)


def _lag_one(excess: FloatArray, same: NDArray[np.bool_]) -> float:
    """The correlation of consecutive excess delays within flows (0 if undefined)."""
    a, b = excess[:-1][same], excess[1:][same]
    if a.size < 3 or a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _schedule(send: FloatArray, excess: FloatArray, size: NDArray[np.int64]) -> list[int]:
    """A direction's delivery opportunities (ms), rebuilt from what its packets waited.

    Each packet's wait (its excess delay above the median) tells two things for
    certain: the link had opportunities in the millisecond the packet left, as many as
    the bytes leaving then needed (``OPPORTUNITY_BYTES`` each, Mahimahi's TUN header
    counted: a queue drains as fast as it did), and none from its arrival until then. A
    wait that ran past the next packet's arrival (one a millisecond or more later:
    packets sent within one are a burst) is an outage; the others sample how often
    opportunities come where nothing else is known: a packet arriving at a random
    instant waits half the spacing on average, so one every twice the mean of those
    waits within ``_LOCAL_MS``, and where that mean is under ``_QUEUED_S`` one every
    millisecond. An outage that a packet found the queue empty for began somewhere
    between the previous packet's departure and its arrival: the middle, the expected
    instant, is taken as its start."""
    if not send.size:
        return [1]
    order = np.argsort(send)
    send_ms, excess_ms = send[order] * 1000.0, excess[order] * 1000.0
    leave_ms = send_ms + excess_ms
    end_ms = math.ceil(float(leave_ms.max())) + 1
    wait = excess_ms - float(np.median(excess_ms))
    later = np.searchsorted(send_ms, send_ms + 1.0, side="right")
    next_arrival = np.r_[send_ms, np.inf][later]
    outage = leave_ms >= next_arrival
    clock = np.arange(end_ms + 1, dtype=np.float64)
    local = _local_mean_wait(clock, send_ms[~outage], np.clip(wait[~outage], 0.0, None))
    previous_leave = np.r_[send_ms[0], leave_ms[:-1]]  # none before the first
    began_ms = np.where(
        outage & (previous_leave < send_ms), (previous_leave + send_ms) / 2.0, send_ms
    )
    leaves = np.maximum(np.round(leave_ms).astype(np.int64), np.ceil(send_ms).astype(np.int64))
    waited = wait > _QUEUED_S * 1000.0
    change = np.zeros(end_ms + 2, dtype=np.int64)
    np.add.at(change, np.ceil(began_ms[waited]).astype(np.int64), 1)
    np.add.at(change, leaves[waited], -1)
    blocked = np.cumsum(change)[: end_ms + 1] > 0
    opportunities = _spaced(local > _QUEUED_S * 1000.0, blocked, 2.0 * local).astype(np.int64)
    left = leaves <= end_ms
    carried = np.zeros(end_ms + 1, dtype=np.int64)
    np.add.at(carried, leaves[left], size[order][left] + TUN_HEADER_BYTES)
    needed = -(-carried // OPPORTUNITY_BYTES)  # what left in each millisecond needed
    opportunities = np.maximum(opportunities, needed)
    times = np.repeat(np.arange(end_ms + 1), opportunities)
    return [int(t) for t in times[times > 0]] or [1]


def _local_mean_wait(clock: FloatArray, at: FloatArray, waits: FloatArray) -> FloatArray:
    """At each millisecond of ``clock``, the mean of the ``waits`` of packets sent (``at``,
    sorted) within ``_LOCAL_MS`` of it (interpolated where there are none)."""
    if not at.size:
        return np.zeros(clock.size)
    lo = np.searchsorted(at, clock - _LOCAL_MS / 2.0)
    hi = np.searchsorted(at, clock + _LOCAL_MS / 2.0)
    total = np.r_[0.0, np.cumsum(waits)]
    mean: FloatArray = (total[hi] - total[lo]) / np.maximum(hi - lo, 1)
    none = hi == lo
    mean[none] = np.interp(clock[none], at, waits)
    return mean


@kernel
def _spaced(
    slow: NDArray[np.bool_], blocked: NDArray[np.bool_], spacing: FloatArray
) -> NDArray[np.bool_]:
    """One opportunity a millisecond where the link is not slow; in slow milliseconds that
    no waiting packet blocks, one every ``spacing`` (ms) on average: each millisecond adds
    1 / ``spacing`` of an opportunity, one is given when a whole has gathered, and what is
    left over carries on (a spacing of 1.5 ms gives two opportunities in three ms, not
    one every two)."""
    opportunities = np.zeros(slow.size, dtype=np.bool_)
    gathered = 1.0
    for t in range(slow.size):
        if blocked[t]:
            gathered = 0.0
            continue
        if not slow[t]:
            opportunities[t] = True
            gathered = 1.0
            continue
        gathered += 1.0 / spacing[t]
        if gathered >= 1.0:
            opportunities[t] = True
            gathered -= 1.0
    return opportunities


def _ks(sorted_sample: FloatArray, distribution: str, scale: float) -> float:
    """The Kolmogorov-Smirnov distance between ``sorted_sample`` and ``distribution``."""
    x = sorted_sample / scale
    if distribution == "uniform":
        cdf = np.clip(x, 0.0, 1.0)
    elif distribution == "exponential":
        cdf = 1.0 - np.exp(-x)
    else:
        cdf = np.array([math.erf(v) for v in (x / math.sqrt(2.0)).tolist()])
    n = sorted_sample.size
    above = np.arange(1, n + 1) / n - cdf
    below = cdf - np.arange(n) / n
    return float(max(above.max(), below.max()))


def loss_transitions(
    flow: NDArray[np.int64], lost: NDArray[np.bool_]
) -> tuple[float | None, float | None]:
    """The loss chain's transition probabilities, counted within flows over every flow
    (``flow`` in sequence order within each): p, a received packet followed by a lost one,
    and r, a lost one by a received one (None where no packet of that state is followed)."""
    same = flow[1:] == flow[:-1]
    before, after = lost[:-1][same], lost[1:][same]
    from_received, from_lost = np.count_nonzero(~before), np.count_nonzero(before)
    p = np.count_nonzero(~before & after) / from_received if from_received else None
    r = np.count_nonzero(before & ~after) / from_lost if from_lost else None
    return p, r


def _loss(flow: NDArray[np.int64], got: NDArray[np.bool_]) -> LossFit:
    lost = ~got
    rate = float(lost.mean())
    if rate == 0.0:
        return LossFit(0.0, 0.0, 1.0, "none")
    p, r = loss_transitions(flow, lost)
    p = float(min(max(rate if p is None else p, 1e-9), 1.0))
    r = float(min(max(1.0 if r is None else r, 1e-9), 1.0))
    independent = abs(1.0 / (p + r) - 1.0) <= BERNOULLI_BURST
    return LossFit(rate, p, r, "bernoulli" if independent else "gilbert_elliott")
