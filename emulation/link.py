"""The userspace impaired link: real frames between two interfaces, fates from ``models/``.

A link node (a network namespace with two veth ends) runs one process of this
module per path segment. Frames arriving on interface ``a`` travel one
direction of the segment (``uplink`` by default), frames arriving on ``b``
the other. Each direction's :class:`DirectionChain` decides every IP packet's
fate with the same pure models, in the same order and with the same random
streams (``path/{segment}/{direction}/{stage}``) as the simulator's segment:
DSCP bleaching, the queue and link (constant rate or Mahimahi trace), HARQ,
loss, then one-way delay and jitter (in sequence per flow). A packet
sequence thus gets the same departures and drop reasons in both engines.

A drop-tail FIFO queue decides each packet's departure when it arrives. A
queue with an AQM (CoDel, PIE), DSCP scheduling or unresponsive cross traffic
decides as time passes (``models.queue_stepper``): the forwarder wakes at the
queue's next service event, the stages behind the queue act on what it lets go of,
and a CE mark is written into the frame. The cross traffic's packets are
drawn here as the simulator draws them (up to ``LinkSpec.run_end_s``); they
only occupy the queue. Greedy bulk (TCP-like) cross traffic runs inside the queue's event
loop on the link's clock; its segments and acknowledgements are simulated, not frames.

Time is ``time.monotonic()`` minus ``t0``, an instant shared by all link
processes of a run, so trace-driven capacity (and cross traffic) starts with
the run. A frame arrives when the kernel received it (``packet_socket``: its
receive time, moved onto that clock), not when this process reads it: a
frame read late is decided as arriving at its kernel time, so its departure
is due sooner (at once, if already past), and its record's ``arrive_s`` is
the time tcpdump's captures hold. ``sent_s`` is when it was really written
out (as its send() began). Arrivals reach each direction's models in order:
a frame stamped before one already decided (possible across CPUs), or
before the time a queue was already served to, takes that time.

The radio segment's link first holds each UE's packets as the simulator's
radio control plane does: every packet in the UE's RRC/DRX machine
(``rrc_gate``), then media in the handovers (``radio_gate``); a held packet
enters the segment at its release.

Frames without an IP packet (ARP), IPv6 Neighbour Discovery (``frames.nd_type``:
router and neighbour solicitations and advertisements, redirects, RFC 4861
section 4; the simulator has no such packets), and every frame before ``t0``
(while the run is being set up), are passed on at once, unimpaired and
unrecorded, past the radio's gates too; they are only counted. The
forwarder keeps a record per IP packet and writes them on stop (SIGTERM or
SIGINT) to a Parquet file (``RECORD_SCHEMA``).

Start one process per link node with ``link_argv(spec_file)`` run inside the
node; the spec is a JSON :class:`LinkSpec`. The process prints
``READY_LINE`` on stdout once both sockets are bound.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import heapq
import json
import logging
import math
import os
import select
import signal
import socket
import sys
import time
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from voipbed.emulation.frames import FlowKey, IpPacket, nd_type, parse_frame, remark
from voipbed.emulation.link_chain import (
    DEFAULT_RUN_END_S,
    DirectionChain,
)
from voipbed.emulation.packet_socket import ArrivalClock, PacketSocket
from voipbed.emulation.radio_gate import HandoverGate, HandoverPlan
from voipbed.emulation.rrc_gate import RrcLinkGate, RrcPlan
from voipbed.json_log import configure
from voipbed.metric_names import DropReason
from voipbed.scenario import Segment
from voipbed.trace import DIRECTIONS, DROP_REASONS

__all__ = [
    "READY_LINE",
    "RECORD_SCHEMA",
    "Forwarder",
    "LinkSpec",
    "link_argv",
    "main",
    "warm_up",
]

log = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

READY_LINE = "voipbed-link ready"

PR_SET_TIMERSLACK = 29  # prctl(2): this thread's timer slack, in ns

_BATCH = 256  # frames read from one socket before serving the other and the due frames


class LinkSpec(BaseModel):
    """What one link process forwards, and how: the JSON given with ``--spec``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    iface_a: str = Field(description="Interface towards the UE: its frames go ``a_to_b``.")
    iface_b: str = Field(description="Interface towards the far end.")
    segment: dict[str, Any] = Field(description="The path segment as its scenario YAML dict.")
    base_dir: str = Field(".", description="Where relative trace paths are looked up.")
    a_to_b: Literal["uplink", "downlink"] = "uplink"
    seed: int = Field(ge=0)
    t0: float = Field(
        description=(
            "The run's start, a time.monotonic() instant; packets before it (the run being "
            "set up) pass unimpaired and unrecorded."
        )
    )
    output: str = Field(description="Parquet file the records are written to on stop.")
    realtime_priority: int = Field(
        10, ge=0, le=99, description="SCHED_FIFO priority of the link process; 0: normal."
    )
    run_end_s: float | None = Field(
        None,
        gt=0,
        description=(
            "The run's end, seconds after t0 (the scenario's duration): cross traffic is "
            f"drawn up to it as the simulator draws it. None: {DEFAULT_RUN_END_S:.0f} s."
        ),
    )
    handovers: dict[str, Any] | None = Field(
        None,
        description=(
            "The radio segment's handovers (a radio_gate.HandoverPlan as a dict): media "
            "packets are held or lost at this hop as they are in the simulator."
        ),
    )
    rrc: dict[str, Any] | None = Field(
        None,
        description=(
            "The radio segment's RRC/DRX machines (an rrc_gate.RrcPlan as a dict): every IP "
            "packet of a UE waits at this hop until its radio can carry it, before the "
            "handovers act, as in the simulator."
        ),
    )

    @property
    def b_to_a(self) -> str:
        """The direction of frames arriving on ``iface_b``."""
        return "downlink" if self.a_to_b == "uplink" else "uplink"

    def validated_segment(self) -> Segment:
        """The segment, checked as the scenario loader checks it (trace paths resolved)."""
        return Segment.model_validate(self.segment, context={"base_dir": self.base_dir})

    @classmethod
    def for_segment(cls, segment: Segment, **fields: Any) -> LinkSpec:
        """A spec carrying ``segment`` (already validated, traces resolved) and ``fields``."""
        return cls(segment=segment.model_dump(mode="json", by_alias=True), **fields)


def link_argv(spec_file: Path | str, python: str = sys.executable) -> list[str]:
    """The argv that runs one link process (inside the link node's namespace)."""
    return [python, "-m", "voipbed.emulation.link", "--spec", str(spec_file)]


RECORD_SCHEMA = pa.schema(
    [
        pa.field("direction", pa.dictionary(pa.int8(), pa.string()), nullable=False),
        pa.field("flow", pa.int32(), nullable=False),  # per direction, numbered as first seen
        pa.field("arrive_s", pa.float64(), nullable=False),  # since t0
        pa.field("depart_s", pa.float64(), nullable=False),  # the model's; NaN when dropped
        pa.field("sent_s", pa.float64(), nullable=False),  # when written out; NaN if never
        pa.field("drop_reason", pa.dictionary(pa.int8(), pa.string()), nullable=True),
        pa.field("wire_bytes", pa.int32(), nullable=False),  # IP packet size
        pa.field("dscp", pa.uint8(), nullable=False),  # on arrival
        pa.field("dscp_out", pa.uint8(), nullable=False),  # as written out (bleaching applied)
        pa.field("ecn", pa.uint8(), nullable=False),
        pa.field("protocol", pa.uint8(), nullable=False),
        pa.field("src", pa.string(), nullable=False),
        pa.field("dst", pa.string(), nullable=False),
        pa.field("sport", pa.int32(), nullable=False),
        pa.field("dport", pa.int32(), nullable=False),
        pa.field("rtp_ssrc", pa.int64(), nullable=True),
        pa.field("rtp_seq", pa.int32(), nullable=True),
        pa.field("rtp_ts", pa.int64(), nullable=True),
    ]
)


class _Records:
    """Per-packet columns, appended as packets come (compact typed arrays)."""

    def __init__(self) -> None:
        self.direction = array("b")
        self.flow = array("i")
        self.arrive_s = array("d")
        self.depart_s = array("d")
        self.sent_s = array("d")
        self.reason = array("b")
        self.wire_bytes = array("i")
        self.dscp = array("B")
        self.dscp_out = array("B")
        self.ecn = array("B")
        self.rtp_ssrc = array("q")  # -1: not RTP
        self.rtp_seq = array("i")
        self.rtp_ts = array("q")

    def table(self, flow_keys: Sequence[Sequence[FlowKey]]) -> pa.Table:
        """The records as an Arrow table; ``flow_keys[d][f]`` is flow f's 5-tuple in d."""
        direction = np.frombuffer(self.direction, dtype=np.int8)
        flow = np.frombuffer(self.flow, dtype=np.int32)
        keys = [flow_keys[d][f] for d, f in zip(direction.tolist(), flow.tolist(), strict=True)]
        reason = np.frombuffer(self.reason, dtype=np.int8)
        rtp = np.frombuffer(self.rtp_ssrc, dtype=np.int64) >= 0
        columns = [
            pa.DictionaryArray.from_arrays(pa.array(direction), pa.array(DIRECTIONS)),
            pa.array(flow),
            pa.array(np.frombuffer(self.arrive_s)),
            pa.array(np.frombuffer(self.depart_s)),
            pa.array(np.frombuffer(self.sent_s)),
            pa.DictionaryArray.from_arrays(
                pa.array(reason, mask=reason < 0), pa.array(DROP_REASONS)
            ),
            pa.array(np.frombuffer(self.wire_bytes, dtype=np.int32)),
            pa.array(np.frombuffer(self.dscp, dtype=np.uint8)),
            pa.array(np.frombuffer(self.dscp_out, dtype=np.uint8)),
            pa.array(np.frombuffer(self.ecn, dtype=np.uint8)),
            pa.array([key[0] for key in keys], pa.uint8()),
            pa.array([_address(key[1]) for key in keys], pa.string()),
            pa.array([_address(key[2]) for key in keys], pa.string()),
            pa.array([key[3] for key in keys], pa.int32()),
            pa.array([key[4] for key in keys], pa.int32()),
            pa.array(np.frombuffer(self.rtp_ssrc, dtype=np.int64), mask=~rtp),
            pa.array(np.frombuffer(self.rtp_seq, dtype=np.int32), mask=~rtp),
            pa.array(np.frombuffer(self.rtp_ts, dtype=np.int64), mask=~rtp),
        ]
        return pa.Table.from_arrays(columns, schema=RECORD_SCHEMA)


def _address(raw: bytes) -> str:
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, raw)


def _on_time_scheduling(priority: int) -> None:
    """Wake from select() on time: 1 us timer slack (prctl(2)), and, with ``priority`` > 0,
    SCHED_FIFO at that priority (sched(7)), so other busy processes do not delay departures.

    Both apply to this process only; the loop blocks in select(), so it never spins.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_TIMERSLACK, 1000, 0, 0, 0)
    if priority > 0:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        except OSError as error:
            log.warning("no real-time scheduling (%s): departures may be late under load", error)


def warm_up(segment: Segment) -> None:
    """Run a throwaway chain of ``segment`` once so numba's kernels are loaded before the
    first real packet.

    Loading them takes a few hundred ms, during which frames would wait in the socket;
    compiling them, the first time on a machine, some seconds (numba then caches them on
    disk, ``models._jit``).
    """
    for direction in DIRECTIONS:
        chain = DirectionChain(segment, direction, 0, run_end_s=1.0)
        if chain.queued:
            for _ in range(2):
                chain.offer(0.0, 100, 0, 0, 0)
            chain.release(1.0)
        else:
            zeros = np.zeros(2, dtype=np.int64)
            chain.process(np.zeros(2), np.full(2, 100, dtype=np.int64), zeros)


@dataclass
class _Port:
    """One interface: its socket, the chain its arriving frames go through, and how far
    that chain's time has got."""

    sock: socket.socket
    chain: DirectionChain
    code: int  # index into DIRECTIONS
    out: int  # index of the port its frames leave by
    rx: PacketSocket | None = None  # the socket with its receive ring; None: sends only
    last_s: float = -math.inf  # the latest time given to the chain (arrival or service)


class Forwarder:
    """Forwards frames both ways between two interfaces, each IP packet at its model time."""

    def __init__(self, spec: LinkSpec, segment: Segment) -> None:
        self.spec = spec
        self.segment = segment
        self.t0 = spec.t0
        self.clock = ArrivalClock(spec.t0)
        self.chains = {
            direction: DirectionChain(segment, direction, spec.seed, spec.run_end_s)
            for direction in (spec.a_to_b, spec.b_to_a)
        }
        self.records = _Records()
        self.passed_non_ip = 0
        self.passed_before_t0 = 0
        self.passed_nd = [0 for _ in DIRECTIONS]  # Neighbour Discovery passed, per direction
        self.kernel_drops = 0
        self.truncated = 0  # frames too long for a receive ring's slots
        self.ce_marked = [0 for _ in DIRECTIONS]  # packets this link marked CE, per direction
        self._ports: list[_Port] = []
        self._due: list[tuple[float, int, int, bytes]] = []  # (monotonic, record, port, frame)
        # Per direction, the packets in a queue that decides later: handle -> (record, frame).
        self._waiting: list[dict[int, tuple[int, bytes]]] = [{} for _ in DIRECTIONS]
        self.gate = HandoverGate(HandoverPlan(**spec.handovers)) if spec.handovers else None
        self.rrc = RrcLinkGate(RrcPlan(**spec.rrc)) if spec.rrc else None
        # Per port, packets the radio's gates hold: (monotonic release, order, frame, reached_s).
        self._held: list[list[tuple[float, int, bytes, float]]] = [[], []]
        self._held_count = 0
        self._stop = False

    def open(self) -> None:
        """Load the model kernels, then bind both sockets (they see frames from then on)."""
        warm_up(self.segment)
        if self.rrc is not None:
            self.rrc.warm_up()
        gc.freeze()  # what start-up made lives on: later collections need not walk it
        for iface, direction, out in (
            (self.spec.iface_a, self.spec.a_to_b, 1),
            (self.spec.iface_b, self.spec.b_to_a, 0),
        ):
            rx = PacketSocket(iface)
            chain = self.chains[direction]
            self._ports.append(_Port(rx.sock, chain, DIRECTIONS.index(direction), out, rx))

    def stop(self) -> None:
        """Ask ``run`` to return (safe from a signal handler)."""
        self._stop = True

    def run(self, wake_fd: int | None = None) -> None:
        """Forward until ``stop``; ``wake_fd`` becoming readable makes select() return."""
        readers: list[Any] = [port.sock for port in self._ports]
        if wake_fd is not None:
            readers.append(wake_fd)
        queued = [port for port in self._ports if port.chain.queued]
        while not self._stop:
            wake = self._due[0][0] if self._due else math.inf
            for port in queued:  # the queue's next service event
                wake = min(wake, self.t0 + port.chain.next_event_s())
            for held in self._held:
                if held:
                    wake = min(wake, held[0][0])
            timeout = None if wake == math.inf else max(0.0, wake - time.monotonic())
            ready, _, _ = select.select(readers, [], [], timeout)
            for port in self._ports:
                if port.sock in ready:
                    self._read(port)
            now = time.monotonic()
            for index in range(len(self._ports)):  # after the frames that came before
                self._release_held(index, now)
            for port in queued:
                self._release(port, self._horizon(port, now - self.t0))
            self._send_due()

    def _read(self, port: _Port) -> None:
        """Decide the first frame waiting on ``port`` at once (what an idle link's latency
        is made of), then up to a batch of those behind it together (what throughput is);
        each arrives at its kernel receive time."""
        if port.rx is None:
            raise TypeError("a port opened without a receive ring cannot be read")
        ring = port.rx.ring
        clock = self.clock
        out = self._ports[port.out].sock
        budget = _BATCH
        if not port.chain.queued:  # a queue deciding later takes every frame alike
            frames, stamps = ring.read(1)
            if not frames:
                return
            self._take(port, frames, clock.arrivals(stamps, clock.read_s(), port.last_s), out)
            budget -= 1
        frames, stamps = ring.read(budget)
        if frames:
            self._take(port, frames, clock.arrivals(stamps, clock.read_s(), port.last_s), out)

    def _take(
        self, port: _Port, frames: list[bytes], arrive: list[float], out: socket.socket
    ) -> None:
        """Frames that reached ``port`` at ``arrive`` (in order) into its chain, through the
        radio's gates: what they released by a frame's arrival goes before it."""
        if self.gate is None and self.rrc is None:
            self._submit(port, frames, arrive, out)
            return
        index = self._ports.index(port)
        held = self._held[index]
        kept: list[bytes] = []
        times: list[float] = []
        for frame, arrive_s in zip(frames, arrive, strict=True):
            if held and held[0][0] <= self.t0 + arrive_s:
                self._submit(port, kept, times, out)
                kept, times = [], []
                self._release_held(index, self.t0 + arrive_s)
            if self._through_gate(port, frame, arrive_s):
                kept.append(frame)
                times.append(arrive_s)
        self._submit(port, kept, times, out)

    def _submit(
        self, port: _Port, frames: list[bytes], arrive: list[float], out: socket.socket
    ) -> None:
        """Frames to be decided at ``arrive`` (in order, none before ``port.last_s``): one
        at once, several together; a queue deciding later takes them to be served."""
        if not frames:
            return
        port.last_s = max(port.last_s, arrive[-1])
        if port.chain.queued:
            self._enqueue(port, frames, arrive, out)
        elif len(frames) == 1:
            self._forward_one(port, frames[0], arrive[0], out)
        else:
            self._admit(port, frames, arrive, out)

    def _horizon(self, port: _Port, now_s: float) -> float:
        """How far ``port``'s queue may be served: to ``now_s``, or to the arrival of a frame
        still waiting in its ring, which must reach the queue before that time passes."""
        if port.rx is not None:
            stamp = port.rx.ring.next_stamp_ns()
            if stamp:
                return min(now_s, self.clock.to_s(stamp))
        return now_s

    def _forward_one(self, port: _Port, frame: bytes, arrive_s: float, out: socket.socket) -> None:
        """One frame, decided and (when due now) sent before any bookkeeping."""
        packet = parse_frame(frame)
        if packet is None or arrive_s < 0.0:
            out.send(frame)  # ARP, ND and the like, and set-up before t0: at once
            self._count_passed(port.code, frame, packet)
            return
        chain = port.chain
        flow = chain.flow_id(packet.flow_key)
        depart_s, reason = chain.decide(arrive_s, chain.carried_bytes(packet), flow)
        index = len(self.records.sent_s)
        self.records.sent_s.append(math.nan)
        if depart_s == depart_s:  # not NaN: forwarded
            data = remark(frame, 0) if chain.stages.bleach_dscp else frame
            heapq.heappush(self._due, (self.t0 + depart_s, index, port.out, data))
            self._send_due()
        self._record(port.code, packet, flow, arrive_s, depart_s, reason)

    def _admit(
        self, port: _Port, frames: list[bytes], arrive: list[float], out: socket.socket
    ) -> None:
        """Frames that waited behind another, decided together (the models' array path)."""
        chain = port.chain
        packets = []
        times: list[float] = []
        for frame, packet, arrive_s in self._ip_packets(port.code, frames, arrive, out):
            packets.append((frame, packet, chain.flow_id(packet.flow_key)))
            times.append(arrive_s)
        if not packets:
            return
        fates = chain.process(
            np.array(times),
            np.array([chain.carried_bytes(p[1]) for p in packets], dtype=np.int64),
            np.array([p[2] for p in packets], dtype=np.int64),
        )
        depart, reason = fates.depart_s.tolist(), fates.reason.tolist()
        first = len(self.records.sent_s)
        self.records.sent_s.extend([math.nan] * len(packets))
        for index, (frame, _, _), depart_s in zip(
            range(first, first + len(packets)), packets, depart, strict=True
        ):
            if depart_s == depart_s:
                data = remark(frame, 0) if chain.stages.bleach_dscp else frame
                heapq.heappush(self._due, (self.t0 + depart_s, index, port.out, data))
        self._send_due()  # the bookkeeping below can wait; a packet due now cannot
        for (_, packet, flow), arrive_s, depart_s, why in zip(
            packets, times, depart, reason, strict=True
        ):
            self._record(port.code, packet, flow, arrive_s, depart_s, why)

    def _offer(
        self, port: _Port, frames: list[bytes], arrive: list[float], out: socket.socket
    ) -> None:
        """Frames into a queue that decides later (``_enqueue``), then the queue served up
        to now."""
        self._enqueue(port, frames, arrive, out)
        self._release(port, self._horizon(port, time.monotonic() - self.t0))

    def _enqueue(
        self, port: _Port, frames: list[bytes], arrive: list[float], out: socket.socket
    ) -> None:
        """Frames into a queue that decides later: recorded now, their fates filled in
        by ``_release``."""
        chain = port.chain
        waiting = self._waiting[port.code]
        for frame, packet, arrive_s in self._ip_packets(port.code, frames, arrive, out):
            flow = chain.flow_id(packet.flow_key)
            handle = chain.offer(
                arrive_s, chain.carried_bytes(packet), flow, packet.dscp, packet.ecn
            )
            waiting[handle] = (len(self.records.sent_s), frame)
            self.records.sent_s.append(math.nan)
            self._record(port.code, packet, flow, arrive_s, math.nan, -1)

    def _release(self, port: _Port, now_s: float) -> None:
        """What ``port``'s queue let go of by ``now_s`` (or the latest time it was given):
        dropped, or due to be sent (its DSCP bleached and CE marked in the frame as the
        models say)."""
        chain = port.chain
        waiting = self._waiting[port.code]
        rec = self.records
        bleach = 0 if chain.stages.bleach_dscp else None
        now_s = port.last_s = max(port.last_s, now_s)
        for released in chain.release(now_s):
            index, frame = waiting.pop(released.handle)
            rec.depart_s[index] = released.depart_s
            rec.reason[index] = released.reason
            self.ce_marked[port.code] += released.ce
            if released.reason < 0:
                data = remark(frame, bleach, ce=released.ce)
                heapq.heappush(self._due, (self.t0 + released.depart_s, index, port.out, data))

    def _through_gate(self, port: _Port, frame: bytes, arrive_s: float) -> bool:
        """Whether a frame goes on now. As in the simulator (``sim/control_plane.py``), a
        UE's packet meets its RRC/DRX machine (``rrc_gate``: every packet), then the
        handovers (``radio_gate``: media only) at the time the RRC carries it: one a
        handover loses is recorded as such, one either holds waits in ``_held``."""
        packet = parse_frame(frame)
        if packet is None or arrive_s < 0.0:
            return True
        uplink = DIRECTIONS[port.code] == "uplink"
        address = packet.src if uplink else packet.dst
        release_s = arrive_s
        if self.rrc is not None:
            release_s = self.rrc.release(address, arrive_s, not uplink)
        if self.gate is not None and packet.rtp is not None:
            decision = self.gate.decide(_address(address), release_s, downlink=not uplink)
            if decision.lost:
                flow = port.chain.flow_id(packet.flow_key)
                self.records.sent_s.append(math.nan)
                self._record(port.code, packet, flow, arrive_s, math.nan, DropReason.HANDOVER)
                return False
            release_s = decision.release_s
        if release_s > arrive_s:
            held = self._held[self._ports.index(port)]
            heapq.heappush(held, (self.t0 + release_s, self._held_count, frame, arrive_s))
            self._held_count += 1
            return False
        return True

    def _release_held(self, index: int, until: float) -> None:
        """Send on into the segment the packets the radio's gates held at port ``index`` and
        released by ``until`` (a monotonic instant).

        Each is decided as arriving at its release; its record keeps when it reached
        the hop (the trace's send time for the first hop)."""
        held = self._held[index]
        if not held:
            return
        port = self._ports[index]
        out = self._ports[port.out].sock
        while held and held[0][0] <= until:
            release, _, frame, reached_s = heapq.heappop(held)
            record = len(self.records.arrive_s)
            self._submit(port, [frame], [max(release - self.t0, port.last_s)], out)
            if len(self.records.arrive_s) > record:
                self.records.arrive_s[record] = reached_s

    def _ip_packets(
        self, code: int, frames: list[bytes], arrive: list[float], out: socket.socket
    ) -> Iterator[tuple[bytes, IpPacket, float]]:
        """The frames the models decide, parsed; ARP, ND and the like, and frames before
        t0, are passed on at once (those of direction ``code``)."""
        for frame, arrive_s in zip(frames, arrive, strict=True):
            packet = parse_frame(frame)
            if packet is None or arrive_s < 0.0:
                out.send(frame)
                self._count_passed(code, frame, packet)
                continue
            yield frame, packet, arrive_s

    def _count_passed(self, code: int, frame: bytes, packet: IpPacket | None) -> None:
        """Count a frame of direction ``code`` passed at once: ND (at any time), other
        frames without a packet the models carry, or an IP packet before t0."""
        if packet is not None:
            self.passed_before_t0 += 1
        elif nd_type(frame):
            self.passed_nd[code] += 1
        else:
            self.passed_non_ip += 1

    def _record(
        self, code: int, packet: IpPacket, flow: int, arrive_s: float, depart_s: float, why: int
    ) -> None:
        """Keep one packet's record (its ``sent_s`` slot is already there)."""
        rec = self.records
        rec.direction.append(code)
        rec.flow.append(flow)
        rec.arrive_s.append(arrive_s)
        rec.depart_s.append(depart_s)
        rec.reason.append(why)
        rec.wire_bytes.append(packet.wire_bytes)
        rec.dscp.append(packet.dscp)
        rec.dscp_out.append(0 if self.chains[DIRECTIONS[code]].stages.bleach_dscp else packet.dscp)
        rec.ecn.append(packet.ecn)
        rtp = packet.rtp
        if rtp is None:
            rec.rtp_ssrc.append(-1)
            rec.rtp_seq.append(-1)
            rec.rtp_ts.append(-1)
        else:
            rec.rtp_ssrc.append(rtp.ssrc)
            rec.rtp_seq.append(rtp.seq)
            rec.rtp_ts.append(rtp.timestamp)

    def _send_due(self) -> None:
        """Send every frame whose departure has come. Its ``sent_s`` is the clock read just
        before its send(): the kernel hands the frame to the next hop (which stamps it, as
        the captures do) as send() begins; what send() does after that (the next hops'
        work, run in this process) is not the frame's time."""
        due = self._due
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, index, out, frame = heapq.heappop(due)
            try:
                self._ports[out].sock.send(frame)
            except OSError as error:  # a full transmit queue: the frame is lost, say so
                log.warning("could not send a frame: %s", error)
                now = time.monotonic()
                continue
            self.records.sent_s[index] = now - self.t0
            now = time.monotonic()

    def close(self) -> None:
        """Close the sockets, counting the frames the kernel dropped for lack of room in a
        ring, and those too long for its slots."""
        for port in self._ports:
            if port.rx is None:
                port.sock.close()
                continue
            with contextlib.suppress(OSError):
                self.kernel_drops += port.rx.kernel_drops()
            self.truncated += port.rx.ring.truncated
            port.rx.close()
        self._ports = []

    def table(self) -> pa.Table:
        """Every IP packet seen so far, with its fate (``RECORD_SCHEMA``)."""
        keys = [list(self.chains[direction].flows) for direction in DIRECTIONS]
        table = self.records.table(keys)
        meta = {
            "spec": self.spec.model_dump(),
            "passed_non_ip": self.passed_non_ip,
            "passed_before_t0": self.passed_before_t0,
            "passed_nd": dict(zip(DIRECTIONS, self.passed_nd, strict=True)),
            "kernel_drops": self.kernel_drops,
            "truncated_frames": self.truncated,
            "clock_steps": self.clock.steps,
            "unsent_at_stop": len(self._due),
            "queued_at_stop": sum(len(waiting) for waiting in self._waiting),
            "ce_marked": dict(zip(DIRECTIONS, self.ce_marked, strict=True)),
            "cross_traffic": {
                direction: chain.cross_traffic_totals()
                for direction, chain in self.chains.items()
                if chain.stepper is not None
            },
        }
        if self.rrc is not None:
            meta["rrc_held_packets"] = self.rrc.held
        return table.replace_schema_metadata({"voipbed.link": json.dumps(meta)})

    def write(self, path: Path) -> None:
        """Write the records to ``path`` (through a temporary file, then renamed), and the
        RRC machines' state changes to their plan's output."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        pq.write_table(self.table(), partial, compression="zstd")
        os.replace(partial, path)
        if self.rrc is not None:  # the UEs' state changes, for the run's events
            self.rrc.write(time.monotonic() - self.t0)


@contextlib.contextmanager
def _stop_on_signals(forwarder: Forwarder) -> Iterator[int]:
    """SIGTERM and SIGINT stop the forwarder; yields an fd select() wakes on."""
    receive, send = socket.socketpair()
    receive.setblocking(False)
    send.setblocking(False)
    previous_fd = signal.set_wakeup_fd(send.fileno())
    handlers = {
        signum: signal.signal(signum, lambda _signum, _frame: forwarder.stop())
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        yield receive.fileno()
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(previous_fd)
        receive.close()
        send.close()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m voipbed.emulation.link --spec FILE.json``: forward until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m voipbed.emulation.link")
    parser.add_argument("--spec", type=Path, required=True, help="the link's LinkSpec as JSON")
    args = parser.parse_args(argv)
    configure(logging.INFO, sys.stderr)
    spec = LinkSpec.model_validate_json(args.spec.read_text())
    forwarder = Forwarder(spec, spec.validated_segment())
    _on_time_scheduling(spec.realtime_priority)
    with _stop_on_signals(forwarder) as wake_fd:
        forwarder.open()
        try:
            print(READY_LINE, flush=True)
            forwarder.run(wake_fd)
        finally:
            forwarder.close()
            forwarder.write(Path(spec.output))
    rec = forwarder.records
    log.info(
        "stopped: %d IP packets, %d forwarded, %d non-IP frames, %d neighbour discovery "
        "and %d before t0 passed, %d kernel drops",
        len(rec.arrive_s),
        sum(1 for sent in rec.sent_s if sent == sent),
        forwarder.passed_non_ip,
        sum(forwarder.passed_nd),
        forwarder.passed_before_t0,
        forwarder.kernel_drops,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
