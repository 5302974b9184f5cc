"""The sender stage: constant-bit-rate RTP packets for each flow while its call is up."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from voipbed.models.codecs import Codec
from voipbed.models.overhead import wire_bytes
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
    direction: IntArray
    seq: IntArray
    rtp_ts: IntArray
    send_s: FloatArray
    payload_bytes: int
    wire_bytes: int


def send_packets(spans: list[FlowSpan], codec: Codec, ptime_s: float) -> SentPackets:
    """One packet every ``ptime_s`` from each span's first packet until its end (exclusive).

    ``spans`` must be sorted by flow.
    """
    if any(a.flow >= b.flow for a, b in itertools.pairwise(spans)):
        raise ValueError("spans must be sorted by flow, each flow once")
    first = np.array([span.first_s for span in spans], dtype=np.float64)
    end = np.array([span.end_s for span in spans], dtype=np.float64)
    counts = np.maximum(np.ceil((end - first) / ptime_s - 1e-9).astype(np.int64), 0)
    owner = np.repeat(np.arange(len(spans)), counts)
    starts = np.cumsum(counts) - counts
    seq = np.arange(owner.size, dtype=np.int64) - np.repeat(starts, counts)
    send_s = first[owner] + seq * ptime_s
    # Spans come sorted by flow, so a stable sort by time breaks ties by flow.
    order = np.argsort(send_s, kind="stable")
    owner, seq, send_s = owner[order], seq[order], send_s[order]
    payload = codec.payload_bytes(ptime_s)
    return SentPackets(
        call=np.array([s.call for s in spans], dtype=np.int64)[owner],
        flow=np.array([s.flow for s in spans], dtype=np.int64)[owner],
        direction=np.array([s.direction for s in spans], dtype=np.int64)[owner],
        seq=seq,
        rtp_ts=seq * codec.rtp_ticks(ptime_s),
        send_s=send_s,
        payload_bytes=payload,
        wire_bytes=wire_bytes(payload),
    )
