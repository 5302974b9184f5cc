"""Plain per-packet twins of the sim's batch stages (``voipbed.models``): one packet at a time.

They are written the obvious way, from the definitions, so that a test can
check the vectorized stages against them on the same inputs.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from voipbed.models.delay import JitterSpec

PACKET_SIZE = 1504  # Mahimahi's LinkQueue::PACKET_SIZE (link_queue.hh): 1500 MTU + TUN header
TUN_HEADER = 4  # struct tun_pi: mm-link opens its TUN device without IFF_NO_PI (netdevice.cc)


class ReferenceFifoLink:
    """d_i = max(a_i, d_{i-1}) + 8 b_i / rate, packet by packet."""

    def __init__(self, rate_bps: float) -> None:
        self.rate_bps = rate_bps
        self.busy_until_s = -math.inf

    def send(self, arrive_s: float, size_bytes: int) -> float:
        start = max(arrive_s, self.busy_until_s)
        self.busy_until_s = start + size_bytes * 8.0 / self.rate_bps
        return self.busy_until_s


class ReferenceBernoulliLoss:
    def __init__(self, ratio: float, rng: np.random.Generator) -> None:
        self.ratio = ratio
        self.rng = rng

    def lost(self) -> bool:
        if self.ratio == 0.0:
            return False
        return bool(self.rng.random() < self.ratio)


class ReferenceDelay:
    def __init__(self, delay_s: float, jitter: JitterSpec, rng: np.random.Generator) -> None:
        self.delay_s = delay_s
        self.jitter = jitter
        self.rng = rng
        self.last_leave_s: dict[int, float] = {}

    def _jitter(self) -> float:
        scale = self.jitter.scale_s
        if self.jitter.distribution == "uniform":
            return float(self.rng.uniform(0.0, scale))
        if self.jitter.distribution == "exponential":
            return float(self.rng.exponential(scale))
        if self.jitter.distribution == "half_normal":
            return abs(float(self.rng.normal(0.0, scale)))
        return 0.0

    def leave(self, arrive_s: float, flow: int) -> float:
        leave_s = arrive_s + self.delay_s + self._jitter()
        if not self.jitter.reorder:
            leave_s = max(leave_s, self.last_leave_s.get(flow, -math.inf))
            self.last_leave_s[flow] = leave_s
        return leave_s


class ReferenceMahimahiLink:
    """Mahimahi's LinkQueue (link_queue.cc) written out: integer-ms clock, step by step.

    A packet of ``size`` bytes is what mm-link reads from its TUN device: ``size`` plus
    the 4-byte TUN header, all of which its opportunities of 1504 bytes must carry. The
    drop-tail limits count ``size`` alone (as voipbed's queues do).
    """

    def __init__(
        self, times_ms: list[int], limit_packets: int | None = None, limit_bytes: int | None = None
    ) -> None:
        self.schedule = times_ms
        self.next = 0
        self.base = 0
        self.limit_packets = limit_packets
        self.limit_bytes = limit_bytes
        self.queue: deque[tuple[int, int]] = deque()  # (packet id, size)
        self.queued_bytes = 0
        self.in_transit: int | None = None
        self.in_transit_left = 0
        self.departures: dict[int, int] = {}

    def _next_time(self) -> int:
        return self.schedule[self.next] + self.base

    def _rationalize(self, now: int) -> None:
        while self._next_time() <= now:
            this_delivery = self._next_time()
            left = PACKET_SIZE
            self.next += 1
            if self.next == len(self.schedule):
                self.next = 0
                self.base += self.schedule[-1]
            while left > 0:
                if self.in_transit is None:
                    if not self.queue:
                        break
                    self.in_transit, size = self.queue.popleft()
                    self.queued_bytes -= size
                    self.in_transit_left = size + TUN_HEADER
                amount = min(left, self.in_transit_left)
                self.in_transit_left -= amount
                left -= amount
                if self.in_transit_left == 0:
                    self.departures[self.in_transit] = this_delivery
                    self.in_transit = None

    def arrive(self, packet: int, now_ms: int, size: int) -> bool:
        """Offer a packet; False if the drop-tail queue refused it."""
        self._rationalize(now_ms)
        too_many = self.limit_packets is not None and len(self.queue) + 1 > self.limit_packets
        too_big = self.limit_bytes is not None and self.queued_bytes + size > self.limit_bytes
        if too_many or too_big:
            return False
        self.queue.append((packet, size))
        self.queued_bytes += size
        return True

    def drain(self) -> None:
        """Run the schedule on until every accepted packet has left."""
        while self.queue or self.in_transit is not None:
            self._rationalize(self._next_time())


class ReferenceRateLink:
    """A constant-rate link with a drop-tail queue, one packet at a time."""

    def __init__(
        self, rate_bps: float, limit_packets: int | None = None, limit_bytes: int | None = None
    ) -> None:
        self.rate_bps = rate_bps
        self.limit_packets = limit_packets
        self.limit_bytes = limit_bytes
        self.busy_until = -math.inf
        self.waiting: deque[tuple[float, int]] = deque()  # (service start, size)

    def arrive(self, arrive_s: float, size: int) -> float | None:
        """Leave time, or None if the queue refused the packet."""
        while self.waiting and self.waiting[0][0] <= arrive_s:
            self.waiting.popleft()
        queued = sum(item[1] for item in self.waiting)
        if (self.limit_packets is not None and len(self.waiting) + 1 > self.limit_packets) or (
            self.limit_bytes is not None and queued + size > self.limit_bytes
        ):
            return None
        start = max(arrive_s, self.busy_until)
        self.busy_until = self.finish_s(start, size)
        self.waiting.append((start, size))
        return self.busy_until

    def finish_s(self, start_s: float, size: int) -> float:
        """When a packet of ``size`` bytes whose service began at ``start_s`` has left."""
        return start_s + size * 8.0 / self.rate_bps


class ReferenceSteppedRateLink(ReferenceRateLink):
    """A drop-tail link whose rate steps, from the definition: with C(t) the bits the link
    can carry from 0 to t (the sum over the steps of rate x time in the step), a packet whose
    service begins at b leaves at the t where C(t) = C(b) + 8 x size."""

    def __init__(
        self,
        steps: list[tuple[float, float]],
        limit_packets: int | None = None,
        limit_bytes: int | None = None,
    ) -> None:
        super().__init__(steps[0][1], limit_packets, limit_bytes)
        self.starts = [start for start, _ in steps]
        self.rates = [rate for _, rate in steps]
        self.carried_at_start = [0.0]  # C at each step's start
        for k in range(1, len(steps)):
            span = self.starts[k] - self.starts[k - 1]
            self.carried_at_start.append(self.carried_at_start[-1] + self.rates[k - 1] * span)

    def carried(self, t_s: float) -> float:
        """C(t): bits the link can carry from 0 to ``t_s`` (t_s >= 0)."""
        k = max(i for i, start in enumerate(self.starts) if start <= t_s)
        return self.carried_at_start[k] + self.rates[k] * (t_s - self.starts[k])

    def when_carried(self, bits: float) -> float:
        """The t at which C(t) = ``bits``."""
        k = max(i for i, at in enumerate(self.carried_at_start) if at <= bits)
        return self.starts[k] + (bits - self.carried_at_start[k]) / self.rates[k]

    def finish_s(self, start_s: float, size: int) -> float:
        return self.when_carried(self.carried(start_s) + size * 8.0)


class ReferenceGilbertElliott:
    """A two-state chain per flow, stepped once per packet with two uniform draws."""

    def __init__(
        self, p: float, r: float, good_loss: float, bad_loss: float, rng: np.random.Generator
    ) -> None:
        self.p, self.r, self.good_loss, self.bad_loss, self.rng = p, r, good_loss, bad_loss, rng
        self.bad: dict[int, bool] = {}

    def lost(self, flow: int) -> bool:
        move, fate = self.rng.random(2)
        if flow not in self.bad:
            steady_bad = self.p / (self.p + self.r) if self.p + self.r > 0 else 0.0
            self.bad[flow] = move < steady_bad
        elif self.bad[flow]:
            self.bad[flow] = not move < self.r
        else:
            self.bad[flow] = move < self.p
        return bool(fate < (self.bad_loss if self.bad[flow] else self.good_loss))


class ReferenceHarq:
    """Transmissions of one block: attempts until one succeeds or the maximum is spent."""

    def __init__(self, bler: float, max_transmissions: int, rng: np.random.Generator) -> None:
        self.bler, self.max_transmissions, self.rng = bler, max_transmissions, rng

    def transmissions(self) -> tuple[int, bool]:
        """(transmissions used, whether the block was lost)."""
        if self.bler == 0.0:
            return 1, False
        if self.bler == 1.0:
            return self.max_transmissions, True
        needed = int(self.rng.geometric(1.0 - self.bler))
        return min(needed, self.max_transmissions), needed > self.max_transmissions
