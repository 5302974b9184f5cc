"""The sender stage: constant-bit-rate RTP packets for each flow while its call is up."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from voipbed.models.codecs import Codec
from voipbed.models.overhead import Overhead, wire_bytes_per_packet
from voipbed.sim.stages import FloatArray, IntArray

__all__ = ["FlowSpan", "SentPackets", "send_packets"]


@dataclass(frozen=True)
class FlowSpan:
    """A flow's media from its first packet time to the end of its call."""

    call: int
    flow: int
    direction: int  # index into voipbed.trace.DIRECTIONS
    first_s: float
    end_s: float


@dataclass(frozen=True)
class SentPackets:
    """Packets sorted by send time (ties by flow), one entry per packet in every array."""

    call: IntArray
    flow: IntArray
    seq: IntArray
    rtp_ts: IntArray
    send_s: FloatArray
    payload_bytes: int
    wire_bytes: int


def send_packets(
    spans: list[FlowSpan], codec: Codec, ptime_s: float, overhead: Overhead | None = None
) -> SentPackets:
    """One packet every ``ptime_s`` from each span's first packet until its end (exclusive).

    Packets are IP packets as ``overhead`` sizes them (RTP/UDP/IPv4 by default).

    ``spans`` must be sorted by flow. All flows share the packet time, so
    packet k of a flow goes in period floor(first / ptime) + k; within a
    period, flows go in the order of their phase. Emitting period by period
    gives send-time order without sorting every packet.
    """
    if any(a.flow >= b.flow for a, b in itertools.pairwise(spans)):
        raise ValueError("spans must be sorted by flow, each flow once")
    first = np.array([span.first_s for span in spans], dtype=np.float64)
    end = np.array([span.end_s for span in spans], dtype=np.float64)
    counts = np.maximum(np.ceil((end - first) / ptime_s - 1e-9).astype(np.int64), 0)
    period = np.floor(first / ptime_s).astype(np.int64)
    offset = int(period.min()) if spans else 0
    periods = int((period + counts).max()) - offset if spans else 0
    if periods * len(spans) <= 4 * int(counts.sum()) + 1_000_000:
        owner, seq = _by_period(first, period, counts, offset, periods, ptime_s)
    else:  # calls far apart in time: a period-by-flow table would be mostly empty
        owner = np.repeat(np.arange(len(spans)), counts)
        seq = np.arange(owner.size, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    send_s = first[owner] + seq * ptime_s
    step = np.diff(send_s)
    if np.any((step < 0) | ((step == 0) & (np.diff(owner) < 0))):
        # Out of (time, flow) order: calls listed flow by flow, or phases within rounding.
        order = np.lexsort((owner, send_s))
        owner, seq, send_s = owner[order], seq[order], send_s[order]
    payload = codec.payload_bytes(ptime_s)
    return SentPackets(
        call=np.array([s.call for s in spans], dtype=np.int64)[owner],
        flow=np.array([s.flow for s in spans], dtype=np.int64)[owner],
        seq=seq,
        rtp_ts=seq * codec.rtp_ticks(ptime_s),
        send_s=send_s,
        payload_bytes=payload,
        wire_bytes=wire_bytes_per_packet(payload, overhead or Overhead()),
    )


def _by_period(
    first: FloatArray, period: IntArray, counts: IntArray, offset: int, periods: int, ptime_s: float
) -> tuple[IntArray, IntArray]:
    """Each packet's flow index and sequence number, period by period, by phase within one."""
    by_phase = np.lexsort((np.arange(first.size), first - period * ptime_s))
    rows = np.arange(periods, dtype=np.int64)[:, None] + offset
    start = period[by_phase][None, :]
    active = (rows >= start) & (rows < start + counts[by_phase][None, :])
    round_index, column = np.nonzero(active)  # row-major: period, then phase
    owner = by_phase[column]
    return owner, round_index + offset - period[owner]
