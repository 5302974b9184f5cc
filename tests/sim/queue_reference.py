"""A plain event-driven twin of ``voipbed.models.queue``: objects, deques and a clock.

Written from the RFCs' pseudocode (RFC 8289 section 5 for CoDel, RFC 8033
section 4 for PIE, RFC 5681 for the Reno-like bulk flows) and Mahimahi's
link_queue.cc for trace service, without looking at the numba kernel's
structure, so that agreement between the two means something.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from voipbed.models.queue_codes import Fate

MTU = 1500
OPPORTUNITY = 1504
TUN_HEADER = 4  # mm-link's TUN device has no IFF_NO_PI: each packet carries struct tun_pi


@dataclass
class Packet:
    ident: int
    size: int
    klass: int
    ect: bool
    draw: float
    owner: int = -1  # bulk flow, or -1
    enqueued: float = 0.0
    depart: float = math.nan
    fate: Fate = Fate.SENT
    ce: bool = False


class CoDelState:
    def __init__(self, target: float, interval: float, ecn: bool) -> None:
        self.target, self.interval, self.ecn = target, interval, ecn
        self.first_above = 0.0
        self.drop_next = 0.0
        self.count = 0
        self.last_count = 0
        self.dropping = False


class PieState:
    def __init__(self, p: dict[str, float]) -> None:
        self.p = p
        self.drop_prob = 0.0
        self.qdelay_old = 0.0
        self.burst = p["max_burst"]

    def update(self, qdelay: float) -> None:
        p = self.p["alpha"] * (qdelay - self.p["target"]) + self.p["beta"] * (
            qdelay - self.qdelay_old
        )
        for bound, divisor in (
            (1e-6, 2048),
            (1e-5, 512),
            (1e-4, 128),
            (1e-3, 32),
            (1e-2, 8),
            (0.1, 2),
        ):
            if self.drop_prob < bound:
                p /= divisor
                break
        if self.drop_prob >= 0.1 and p > 0.02:
            p = 0.02
        prob = self.drop_prob + p
        if qdelay == 0 and self.qdelay_old == 0:
            prob *= 0.98
        self.drop_prob = min(max(prob, 0.0), 1.0)
        self.burst = max(self.burst - self.p["update"], 0.0)
        half = self.p["target"] / 2
        if self.drop_prob == 0 and qdelay < half and self.qdelay_old < half and self.burst == 0:
            self.burst = self.p["max_burst"]
        self.qdelay_old = qdelay


@dataclass
class Bulk:
    rtt: float
    start: float
    stop: float
    size: int
    klass: int
    ecn: bool
    cwnd: float = 10.0
    ssthresh: float = 1e9
    inflight: int = 0
    recover_until: float = -math.inf
    started: bool = False
    feedback: deque[tuple[float, str]] = field(default_factory=deque)


class ReferenceQueueingLink:
    """Queues per class, a scheduler, an AQM, and a rate or opportunity server."""

    def __init__(
        self,
        *,
        discipline: str,
        params: dict[str, float],
        scheduling: str,
        weights: tuple[float, float, float],
        limit_packets: int | None,
        limit_bytes: int | None,
        rate_bps: float | None,
        times_ms: list[int] | None,
    ) -> None:
        self.discipline, self.params = discipline, params
        self.scheduling, self.weights = scheduling, weights
        self.limit_packets, self.limit_bytes = limit_packets, limit_bytes
        self.rate_bps, self.times_ms = rate_bps, times_ms
        self.queues: list[deque[Packet]] = [deque(), deque(), deque()]
        self.deficit = [0.0, 0.0, 0.0]
        self.rr = 0
        self.fresh_turn = True
        self.codel = [
            CoDelState(
                params.get("target", 0), params.get("interval", 0), bool(params.get("ecn", 0))
            )
            for _ in range(3)
        ]
        self.pie = [PieState(params) for _ in range(3)] if discipline == "pie" else []
        self.bulk: list[Bulk] = []
        self.extra: list[Packet] = []
        self.bulk_draws: list[float] = []

    # -- queue occupancy
    def waiting_packets(self) -> int:
        return sum(len(q) for q in self.queues)

    def waiting_bytes(self) -> int:
        return sum(p.size for q in self.queues for p in q)

    def klass(self, packet: Packet) -> int:
        return 0 if self.scheduling == "fifo" else packet.klass

    # -- enqueue
    def offer(self, packet: Packet, now: float) -> bool:
        if (self.limit_packets is not None and self.waiting_packets() + 1 > self.limit_packets) or (
            self.limit_bytes is not None and self.waiting_bytes() + packet.size > self.limit_bytes
        ):
            packet.fate = Fate.OVERFLOW
            return False
        c = self.klass(packet)
        if self.discipline == "pie" and self.pie[c].burst <= 0:
            pie = self.pie[c]
            calm = pie.qdelay_old < self.params["target"] / 2 and pie.drop_prob < 0.2
            if not (calm or self.waiting_bytes() <= 2 * MTU) and packet.draw < pie.drop_prob:
                if self.params["ecn"] and packet.ect and pie.drop_prob <= self.params["ecn_max"]:
                    packet.ce = True
                else:
                    packet.fate = Fate.AQM
                    return False
        packet.enqueued = now
        self.queues[c].append(packet)
        return True

    # -- dequeue
    def pick(self) -> int:
        if self.scheduling != "weighted":
            return next((c for c in range(3) if self.queues[c]), -1)
        for c in range(3):
            if not self.queues[c]:
                self.deficit[c] = 0.0  # an empty class keeps no credit
        if all(not q for q in self.queues):
            self.fresh_turn = True
            return -1
        while True:
            c = self.rr
            if not self.queues[c]:
                self.rr, self.fresh_turn = (c + 1) % 3, True
                continue
            if self.fresh_turn:
                self.deficit[c] += self.weights[c] * MTU
                self.fresh_turn = False
            if self.queues[c][0].size <= self.deficit[c]:
                self.deficit[c] -= self.queues[c][0].size
                return c
            self.rr, self.fresh_turn = (c + 1) % 3, True

    def next_packet(self, now: float) -> Packet | None:
        while True:
            c = self.pick()
            if c < 0:
                return None
            packet = self.queues[c].popleft()
            if self.discipline != "codel":
                return packet
            state = self.codel[c]
            ok = False
            if now - packet.enqueued < state.target or self.waiting_bytes() <= MTU:
                state.first_above = 0.0
            elif state.first_above == 0.0:
                state.first_above = now + state.interval
            elif now >= state.first_above:
                ok = True
            if state.dropping:
                if not ok:
                    state.dropping = False
                    return packet
                if now < state.drop_next:
                    return packet
                state.count += 1
                state.drop_next += state.interval / math.sqrt(state.count)
            elif ok:
                state.dropping = True
                delta = state.count - state.last_count
                recent = now - state.drop_next < 16 * state.interval
                state.count = delta if delta > 1 and recent else 1
                state.drop_next = now + state.interval / math.sqrt(state.count)
                state.last_count = state.count
            else:
                return packet
            if state.ecn and packet.ect:
                packet.ce = True
                return packet
            packet.fate = Fate.AQM
            self.feedback(packet, now, "loss")

    # -- bulk flows
    def feedback(self, packet: Packet, now: float, kind: str) -> None:
        if packet.owner >= 0:
            flow = self.bulk[packet.owner]
            flow.feedback.append((now + flow.rtt, kind))

    def bulk_event(self, index: int, now: float) -> None:
        flow = self.bulk[index]
        if not flow.started:
            flow.started = True
        else:
            _, kind = flow.feedback.popleft()
            flow.inflight -= 1
            if kind == "ack":
                flow.cwnd += 1.0 if flow.cwnd < flow.ssthresh else 1.0 / flow.cwnd
            elif now >= flow.recover_until:
                flow.ssthresh = max(flow.cwnd / 2, 2.0)
                flow.cwnd = flow.ssthresh
                flow.recover_until = now + flow.rtt
        while flow.inflight < math.floor(flow.cwnd) and now < flow.stop:
            draw = self.bulk_draws[len(self.extra)]
            packet = Packet(-1, flow.size, flow.klass, flow.ecn, draw, owner=index)
            self.extra.append(packet)
            flow.inflight += 1
            if not self.offer(packet, now):
                self.feedback(packet, now, "loss")

    def next_bulk(self) -> tuple[float, int]:
        best = (math.inf, -1)
        for index, flow in enumerate(self.bulk):
            t = flow.start if not flow.started else math.inf
            if flow.feedback:
                t = min(t, flow.feedback[0][0])
            if t < best[0]:
                best = (t, index)
        return best

    # -- the whole batch
    def run(self, packets: list[Packet], arrive: list[float], bulk: list[Bulk]) -> None:
        self.bulk = bulk
        i, now = 0, -math.inf
        in_service: Packet | None = None
        left = 0
        busy_until = -math.inf
        opp = 0
        next_update = self.params["update"] if self.discipline == "pie" else math.inf
        times = self.times_ms or [1]
        period = times[-1]
        while True:
            t_arrival = arrive[i] if i < len(packets) else math.inf
            t_bulk, b = self.next_bulk()
            idle = in_service is None and self.waiting_packets() == 0
            if self.times_ms is not None:
                if idle:
                    t_next = min(t_arrival, t_bulk)
                    if t_next == math.inf:
                        return
                    ms = t_next * 1000.0
                    whole = math.floor(ms / period)
                    inside = sum(1 for t in times if t <= ms - whole * period)
                    opp = max(opp, whole * len(times) + inside)
                t_server = ((opp // len(times)) * period + times[opp % len(times)]) / 1000.0
            elif in_service is not None:
                t_server = busy_until
            elif self.waiting_packets():
                t_server = now
            else:
                if t_arrival == math.inf and t_bulk == math.inf:
                    return
                t_server = math.inf
            while next_update <= min(t_arrival, t_server, t_bulk):
                for c in range(3):
                    q = self.queues[c]
                    self.pie[c].update(next_update - q[0].enqueued if q else 0.0)
                next_update += self.params["update"]
            if t_server <= t_arrival and t_server <= t_bulk:
                now = t_server
                if self.times_ms is None:
                    if in_service is not None:
                        self.finish(in_service, now)
                    in_service = self.next_packet(now)
                    if in_service is not None:
                        busy_until = now + in_service.size * (8.0 / self.rate_bps)  # type: ignore[operator]
                    continue
                opp += 1
                budget = OPPORTUNITY
                while budget > 0:
                    if in_service is None:
                        in_service = self.next_packet(now)
                        if in_service is None:
                            break
                        left = in_service.size + TUN_HEADER
                    amount = min(budget, left)
                    budget -= amount
                    left -= amount
                    if left == 0:
                        self.finish(in_service, now)
                        in_service = None
            elif t_bulk < t_arrival:
                now = t_bulk
                self.bulk_event(b, now)
            else:
                now = t_arrival
                self.offer(packets[i], now)
                i += 1

    def finish(self, packet: Packet, now: float) -> None:
        packet.depart = now
        self.feedback(packet, now, "ce" if packet.ce else "ack")


def reference_serve(link, arrive, size, klass, ect, draw, bulk_flows):  # type: ignore[no-untyped-def]
    """The reference on ``QueueingLink.serve``'s inputs: (depart, fate, ce, bulk goodput)."""
    from voipbed.models.queue import CoDel, Pie

    d = link.discipline
    if isinstance(d, CoDel):
        discipline, params = "codel", {"target": d.target_s, "interval": d.interval_s, "ecn": d.ecn}
    elif isinstance(d, Pie):
        discipline = "pie"
        params = {
            "target": d.target_s, "update": d.update_s, "alpha": d.alpha, "beta": d.beta,
            "max_burst": d.max_burst_s, "ecn": d.ecn, "ecn_max": d.ecn_max_probability,
        }  # fmt: skip
    else:
        discipline, params = "droptail", {}
    reference = ReferenceQueueingLink(
        discipline=discipline,
        params=params,
        scheduling=link.scheduling.name.lower(),
        weights=link.weights,
        limit_packets=link.limit_packets,
        limit_bytes=link.limit_bytes,
        rate_bps=link.rate_bps,
        times_ms=None if link.schedule is None else [int(t) for t in link.schedule.times_ms],
    )
    packets = [
        Packet(k, int(size[k]), int(klass[k]), bool(ect[k]), float(draw[k]))
        for k in range(len(arrive))
    ]
    end = float(arrive[-1]) if len(arrive) else 0.0
    flows = [
        Bulk(f.rtt_s, f.start_s, min(f.stop_s, end), f.size_bytes, f.klass, f.ecn)
        for f in bulk_flows
    ]
    reference.bulk_draws = list(draw[len(arrive) :])
    reference.run(packets, list(arrive), flows)
    depart = np.array([p.depart for p in packets])
    fate = np.array([int(p.fate) for p in packets])
    ce = np.array([p.ce for p in packets])
    delivered = [0] * len(flows)
    for p in reference.extra:
        if p.fate == Fate.SENT:
            delivered[p.owner] += p.size
    return depart, fate, ce, delivered
