"""The link takes each frame's arrival from the kernel's receive time, on its own clock.

``packet_socket.FrameRing`` is read over an anonymous mapping laid out as the kernel lays out a
TPACKET_V2 ring; ``ArrivalClock`` runs on made-up clocks; the forwarder reads frames that
waited in a ring as a link process that was late to read them does.
"""

from __future__ import annotations

import contextlib
import ipaddress
import mmap
import socket
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from types import SimpleNamespace
from typing import cast

import pytest

from voipbed.emulation.frames import ipv4_checksum
from voipbed.emulation.link import Forwarder, LinkSpec, _Port
from voipbed.emulation.packet_socket import (
    NS_PER_S,
    PACKET_OUTGOING,
    STEP_TOLERANCE_NS,
    TP_STATUS_COPY,
    TP_STATUS_USER,
    ArrivalClock,
    FrameRing,
    PacketSocket,
    RingGeometry,
    realtime_offset_ns,
)
from voipbed.emulation.radio_gate import HandoverGate, HandoverPlan
from voipbed.scenario import Segment
from voipbed.scenario_radio import Handovers

HEADER = struct.Struct("=IIIHHII")  # struct tpacket2_hdr up to tp_nsec
MAC = 66  # where tpacket_rcv puts a SOCK_RAW frame's Ethernet header in its slot
PKTTYPE = 42  # sockaddr_ll.sll_pkttype, after the 32-byte header
OFFSET_NS = 1_700_000_000 * NS_PER_S  # made-up realtime minus monotonic
SMALL = RingGeometry(block_bytes=4096, blocks=2, slot_bytes=2048)  # 4 slots, 2 per block
TIGHT = RingGeometry(block_bytes=4096, blocks=1, slot_bytes=512)  # 8 slots of 446 bytes
UE = "10.0.0.1"


def frame(seq: int, size: int = 200) -> bytes:
    """An Ethernet frame holding an IPv4/UDP/RTP packet of ``size`` bytes from the UE."""
    src, dst = ipaddress.IPv4Address(UE).packed, ipaddress.IPv4Address("10.0.1.1").packed
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, size, 0, 0, 64, 17, 0, src, dst)
    header = header[:10] + ipv4_checksum(header).to_bytes(2, "big") + header[12:]
    rtp = struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x5EED)
    datagram = struct.pack("!HHHH", 5000, 6000, size - 20, 0) + rtp + bytes(size - 40)
    return bytes(12) + b"\x08\x00" + header + datagram


class Ring:
    """A mapping laid out as a TPACKET_V2 ring, filled as the kernel fills it."""

    def __init__(self, geometry: RingGeometry = SMALL) -> None:
        self.geometry = geometry
        self.buffer = mmap.mmap(-1, geometry.block_bytes * geometry.blocks)
        self.queued: list[bytes] = []  # whole frames the kernel queued on the socket
        self.reader = FrameRing(self.buffer, geometry, self._recv)
        self._next = 0

    def _recv(self) -> bytes:
        if not self.queued:
            raise BlockingIOError
        return self.queued.pop(0)

    def offset(self, slot: int) -> int:
        """Where slot ``slot`` starts."""
        per_block = self.geometry.block_bytes // self.geometry.slot_bytes
        block, within = divmod(slot, per_block)
        return block * self.geometry.block_bytes + within * self.geometry.slot_bytes

    def put(self, data: bytes, stamp_ns: int, *, pkttype: int = 0, queued: bool = True) -> None:
        """The kernel writes ``data`` received at ``stamp_ns`` into the next slot; cut short
        if longer than the slot, and then also queued whole on the socket if ``queued``."""
        offset = self.offset(self._next)
        snap = min(len(data), self.geometry.slot_bytes - MAC)
        status = TP_STATUS_USER
        if snap < len(data) and queued:
            status |= TP_STATUS_COPY
            self.queued.append(data)
        sec, nsec = divmod(stamp_ns, NS_PER_S)
        HEADER.pack_into(self.buffer, offset, status, len(data), snap, MAC, MAC + 14, sec, nsec)
        self.buffer[offset + PKTTYPE] = pkttype
        self.buffer[offset + MAC : offset + MAC + snap] = data[:snap]
        self._next = (self._next + 1) % self.geometry.slots

    def status(self, slot: int) -> int:
        """The slot's tp_status (0: the kernel's)."""
        return int(HEADER.unpack_from(self.buffer, self.offset(slot))[0])


def clocks(
    monotonic: Sequence[int], realtime: Sequence[int]
) -> tuple[Callable[[], int], Callable[[], int]]:
    """Clocks that return these readings in turn (ns)."""
    mono, real = iter(monotonic), iter(realtime)
    return (lambda: next(mono)), (lambda: next(real))


def steady(offset_ns: int = OFFSET_NS) -> tuple[Callable[[], int], Callable[[], int], list[int]]:
    """A monotonic clock that reads ``now[0]`` and a realtime clock ``offset_ns`` ahead."""
    now = [10 * NS_PER_S]
    return (lambda: now[0]), (lambda: now[0] + offset_ns), now


def test_the_offset_comes_from_the_tightest_pair_of_reads() -> None:
    """An interrupted try (monotonic reads far apart) is left out of the offset."""
    # (before, realtime, after): the first try is interrupted for 5 ms after the realtime read.
    monotonic = [1_000_000, 6_000_000, 7_000_000, 7_000_200, 8_000_000, 8_000_400]
    # The second is the tightest (200 ns); the third (400 ns) would give OFFSET_NS + 100.
    realtime = [OFFSET_NS + 1_000_050, OFFSET_NS + 7_000_100, OFFSET_NS + 8_000_300]
    mono, real = clocks(monotonic, realtime)
    assert realtime_offset_ns(mono, real, pairs=3) == OFFSET_NS


def test_kernel_times_become_seconds_since_t0_on_the_monotonic_clock() -> None:
    """A frame stamped 40 ms before it is read arrives 40 ms before the read."""
    mono, real, now = steady()
    t0_s = 4.0
    clock = ArrivalClock(t0_s, mono, real)
    now[0] = 12 * NS_PER_S
    read_s = clock.read_s()
    stamp = now[0] - 40_000_000 + OFFSET_NS
    assert read_s == pytest.approx(8.0, abs=1e-12)
    assert clock.arrivals([stamp], read_s, -1.0) == [pytest.approx(read_s - 0.040, abs=1e-9)]
    assert clock.to_s(stamp) == pytest.approx(read_s - 0.040, abs=1e-9)


def test_frames_without_a_stamp_or_stamped_after_the_read_take_the_read_time() -> None:
    """No stamp (0) and a stamp in the future both fall back to the read time."""
    mono, real, now = steady()
    clock = ArrivalClock(0.0, mono, real)
    read_s = clock.read_s()
    future = now[0] + OFFSET_NS + 5_000_000
    assert clock.arrivals([0, future], read_s, -1.0) == [read_s, read_s]


def test_arrivals_never_go_back() -> None:
    """A frame stamped before the previous one (or before the floor) takes that time."""
    mono, real, now = steady()
    clock = ArrivalClock(0.0, mono, real)
    read_s = clock.read_s()
    stamps = [now[0] + OFFSET_NS - ago for ago in (30_000_000, 20_000_000, 25_000_000)]
    times = clock.arrivals(stamps, read_s, floor_s=read_s - 0.035)
    assert times == pytest.approx([read_s - 0.030, read_s - 0.020, read_s - 0.020], abs=1e-9)
    floored = clock.arrivals(stamps, read_s, floor_s=read_s - 0.022)
    assert floored == pytest.approx([read_s - 0.022, read_s - 0.020, read_s - 0.020], abs=1e-9)


def test_a_realtime_step_falls_back_to_the_read_time_then_uses_the_new_offset() -> None:
    """Frames read just after the realtime clock is stepped take their read time; frames
    stamped after the step are moved with the new offset."""
    offset = [OFFSET_NS]
    now = [10 * NS_PER_S]
    clock = ArrivalClock(0.0, lambda: now[0], lambda: now[0] + offset[0])
    offset[0] += 2 * NS_PER_S  # settimeofday: realtime jumps 2 s ahead
    now[0] += NS_PER_S
    read_s = clock.read_s()
    old_stamp = now[0] - 10_000_000 + OFFSET_NS  # received before the step
    assert clock.arrivals([old_stamp], read_s, -1.0) == [read_s]
    assert clock.steps == 1
    now[0] += NS_PER_S
    read_s = clock.read_s()
    new_stamp = now[0] - 10_000_000 + offset[0]
    assert clock.arrivals([new_stamp], read_s, -1.0) == [pytest.approx(read_s - 0.010, abs=1e-9)]
    assert clock.steps == 1


def test_an_interrupted_check_is_not_a_step() -> None:
    """A check whose two reads were interrupted measures again, finds the same offset and
    keeps the stamps."""
    start, later = 10 * NS_PER_S, 11 * NS_PER_S
    first = [start + k * 100 for k in range(10)]  # start-up: 5 tight pairs
    again = [later + 1000 + k * 100 for k in range(10)]  # the check's careful measure
    monotonic = [*first, later, *again]
    realtime = [OFFSET_NS + m + 50 for m in first[::2]]
    realtime.append(OFFSET_NS + later + 3 * STEP_TOLERANCE_NS)  # the check's read, late
    realtime += [OFFSET_NS + m + 50 for m in again[::2]]
    mono, real = clocks(monotonic, realtime)
    clock = ArrivalClock(0.0, mono, real)
    read_s = clock.read_s()
    stamp = OFFSET_NS + later - 5_000_000
    assert clock.arrivals([stamp], read_s, -1.0) == [pytest.approx(read_s - 0.005, abs=1e-9)]
    assert clock.steps == 0


def test_the_ring_gives_frames_in_order_with_their_times_and_hands_slots_back() -> None:
    """Frames come oldest first with their stamps, across blocks and round the ring; each
    slot read is the kernel's again; reading stops at a slot the kernel still owns."""
    ring = Ring()
    sent = [(frame(k), (100 + k) * NS_PER_S + k) for k in range(6)]
    for data, stamp in sent[:3]:
        ring.put(data, stamp)
    assert ring.reader.next_stamp_ns() == sent[0][1]
    frames, stamps = ring.reader.read(2)
    assert (frames, stamps) == ([d for d, _ in sent[:2]], [s for _, s in sent[:2]])
    assert [ring.status(slot) for slot in range(4)] == [0, 0, TP_STATUS_USER, 0]
    for data, stamp in sent[3:]:  # slots 3, then 0 and 1 again
        ring.put(data, stamp)
    frames, stamps = ring.reader.read(10)
    assert (frames, stamps) == ([d for d, _ in sent[2:]], [s for _, s in sent[2:]])
    assert ring.reader.next_stamp_ns() is None
    assert ring.reader.read(10) == ([], [])


def test_frames_longer_than_a_slot_come_whole_from_the_socket_in_their_place() -> None:
    """A frame the kernel cut short is read whole from the socket's queue, in ring order
    and with its slot's time; one it could not queue is dropped and counted."""
    ring = Ring(TIGHT)
    long_frames = [frame(k, size=1400) for k in range(2)]
    ring.put(frame(0), NS_PER_S)
    ring.put(long_frames[0], 2 * NS_PER_S)
    ring.put(long_frames[1], 3 * NS_PER_S, queued=False)  # the socket's queue was full
    ring.put(frame(3), 4 * NS_PER_S)
    frames, stamps = ring.reader.read(10)
    assert frames == [frame(0), long_frames[0], frame(3)]
    assert stamps == [NS_PER_S, 2 * NS_PER_S, 4 * NS_PER_S]
    assert ring.reader.truncated == 1
    assert not ring.queued


def test_the_ring_skips_frames_this_host_sent() -> None:
    """Outgoing frames are not read (a long one's whole copy is taken off the socket too)."""
    ring = Ring(TIGHT)
    ring.put(frame(0), NS_PER_S, pkttype=PACKET_OUTGOING)
    ring.put(frame(1, size=1400), 2 * NS_PER_S, pkttype=PACKET_OUTGOING)
    ring.put(frame(2), 3 * NS_PER_S)
    frames, stamps = ring.reader.read(10)
    assert (frames, stamps) == ([frame(2)], [3 * NS_PER_S])
    assert not ring.queued and ring.reader.truncated == 0
    assert [ring.status(slot) for slot in range(3)] == [0, 0, 0]


def test_the_ring_is_whole_pages_of_whole_slots_that_fit_a_call_s_media() -> None:
    """Blocks are whole pages holding whole slots, as many as asked or more; the default
    slot holds a G.711 frame of 40 ms (RTP, UDP, IPv4, Ethernet)."""
    geometry = RingGeometry.of(slots=1000, slot_bytes=256)
    assert geometry.block_bytes % mmap.PAGESIZE == 0
    assert geometry.block_bytes % geometry.slot_bytes == 0
    assert 1000 <= geometry.slots < 1000 + geometry.block_bytes // geometry.slot_bytes
    assert RingGeometry.of().slot_bytes - MAC >= 320 + 12 + 8 + 20 + 14


@contextlib.contextmanager
def forwarder_reading(
    ring: Ring, segment: dict[str, object], t0: float, handovers: HandoverPlan | None = None
) -> Iterator[tuple[Forwarder, socket.socket]]:
    """A forwarder whose uplink port reads ``ring``; yields it and the socket its uplink
    frames come out of."""
    plan = None
    if handovers is not None:
        plan = {
            "handovers": handovers.handovers,
            "settings": handovers.settings,
            "ue_addresses": handovers.ue_addresses,
        }
    validated = Segment.model_validate(segment)
    spec = LinkSpec.for_segment(
        validated, iface_a="a", iface_b="b", seed=3, t0=t0, output="x", handovers=plan
    )
    forwarder = Forwarder(spec, validated)
    with contextlib.ExitStack() as stack:
        a, _ = (stack.enter_context(s) for s in socket.socketpair(type=socket.SOCK_DGRAM))
        b, far = (stack.enter_context(s) for s in socket.socketpair(type=socket.SOCK_DGRAM))
        far.setblocking(False)
        rx = cast(PacketSocket, SimpleNamespace(ring=ring.reader))
        forwarder._ports = [
            _Port(a, forwarder.chains["uplink"], 0, 1, rx),
            _Port(b, forwarder.chains["downlink"], 1, 0),
        ]
        yield forwarder, far


def stamp_at(t0: float, since_t0_s: float) -> int:
    """The kernel's realtime stamp of an instant ``since_t0_s`` after ``t0``."""
    return realtime_offset_ns() + round((t0 + since_t0_s) * NS_PER_S)


def received(far: socket.socket) -> list[int]:
    """RTP sequence numbers of the frames that came out, in order."""
    seqs = []
    with contextlib.suppress(BlockingIOError):
        while True:
            seqs.append(struct.unpack_from("!H", far.recv(4096), 44)[0])
    return seqs


def test_a_frame_read_late_is_decided_at_its_kernel_time_and_sent_at_once() -> None:
    """Frames that waited 50 ms in the ring keep their kernel times as arrivals; their
    departures (10 ms later) have passed, so they leave at once, in order."""
    t0 = time.monotonic() - 100.0
    ring = Ring()
    arrive = [99.950, 99.951, 99.952]
    for k, since_t0 in enumerate(arrive):
        ring.put(frame(k), stamp_at(t0, since_t0))
    with forwarder_reading(ring, {"name": "radio", "one_way_delay": "10ms"}, t0) as (fwd, far):
        fwd._read(fwd._ports[0])
        records = fwd.table().to_pandas()
        assert received(far) == [0, 1, 2]
    assert records["arrive_s"].tolist() == pytest.approx(arrive, abs=5e-5)
    depart = records["depart_s"].to_numpy()
    assert depart.tolist() == pytest.approx([a + 0.010 for a in arrive], abs=5e-5)
    assert (records["sent_s"].to_numpy() > 99.96).all()  # sent when read, after departure


def test_a_queue_is_served_no_further_than_the_frames_still_in_the_ring() -> None:
    """More frames than one read takes: the queue is served up to the first one left in
    the ring, so every frame reaches it at its kernel time, none in its past."""
    t0 = time.monotonic() - 100.0
    geometry = RingGeometry(block_bytes=1 << 16, blocks=16, slot_bytes=2048)  # 512 slots
    ring = Ring(geometry)
    arrive = [50.0 + k * 0.001 for k in range(300)]  # more than one read's 256
    for k, since_t0 in enumerate(arrive):
        ring.put(frame(k), stamp_at(t0, since_t0))
    segment = {"name": "backhaul", "capacity": "2Mbps", "queue": {"aqm": "codel"}}
    with forwarder_reading(ring, segment, t0) as (fwd, _):
        port = fwd._ports[0]
        fwd._read(port)
        fwd._release(port, fwd._horizon(port, time.monotonic() - t0))
        assert port.last_s == pytest.approx(arrive[256], abs=5e-5)
        fwd._read(port)
        fwd._release(port, fwd._horizon(port, time.monotonic() - t0))
        records = fwd.table().to_pandas()
    assert records["arrive_s"].tolist() == pytest.approx(arrive, abs=5e-5)
    assert records["depart_s"].notna().all()


def test_media_held_by_a_handover_goes_before_frames_that_came_after_its_release() -> None:
    """Read late, a frame stamped inside an X2 interruption is decided at the interruption's
    end, after the frame before it and before the frame after it."""
    t0 = time.monotonic() - 100.0
    plan = HandoverPlan(
        ((0, 1.0, "x2"),), Handovers().model_dump(mode="json", by_alias=True), (UE,)
    )
    end_s = HandoverGate(plan).decide(UE, 1.001, downlink=False).release_s
    assert end_s > 1.001
    arrive = [0.990, 1.001, end_s + 0.005]
    ring = Ring()
    for k, since_t0 in enumerate(arrive):
        ring.put(frame(k), stamp_at(t0, since_t0))
    segment = {"name": "radio", "one_way_delay": "10ms"}
    with forwarder_reading(ring, segment, t0, plan) as (fwd, far):
        fwd._read(fwd._ports[0])
        assert received(far) == [0, 1, 2]
        records = fwd.table().to_pandas()
    assert records["rtp_seq"].tolist() == [0, 1, 2]
    assert records["arrive_s"].tolist() == pytest.approx(arrive, abs=5e-5)
    expected = [arrive[0] + 0.010, end_s + 0.010, arrive[2] + 0.010]
    assert records["depart_s"].tolist() == pytest.approx(expected, abs=5e-5)
