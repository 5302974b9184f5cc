"""Sizes of congestion-control feedback packets: what a receiver's reports cost on the path.

A rate controller's feedback travels the reverse path as packets of its
own, so its bytes (and its losses) belong in the simulation. Two formats:

- **RFC 8888** (RTCP Congestion Control Feedback, FMT 11 of RTPFB): the
  RTCP header (4 octets) and the sender's SSRC (4); per media SSRC a report
  block of SSRC (4), begin_seq (2), num_reports (2) and one 16-bit metric
  block per packet reported (R, ECN, arrival time offset), padded to 32
  bits (clause 3.1: "padding to a 32-bit boundary ... if num_reports is
  odd"); then the 32-bit Report Timestamp.
- **Transport-wide congestion control** (draft-holmer-rmcat-transport-wide-
  cc-extensions-01 section 3.1, what libwebrtc sends as FMT 15): the RTCP
  header (4), packet sender SSRC (4), media source SSRC (4), base sequence
  number (2), packet status count (2), 24-bit reference time and 8-bit
  feedback packet count (4): 20 octets; then packet status chunks of 16 bits
  and one receive delta per received packet (8 bits when it fits 0 to 63.75
  ms in 250 us ticks, else 16 bits), padded to 32 bits. Chunks: a run-length
  chunk covers up to 8191 packets of one status (3.1.3); a status vector
  chunk 14 packets of 1-bit status or 7 of 2-bit status (3.1.4; 2-bit as
  soon as one large or negative delta is among them).

Both are sent as reduced-size RTCP (RFC 5506), each in its own UDP datagram;
the IP/UDP (and SRTCP) headers come from ``models.overhead``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from voipbed.models._jit import inline_kernel, kernel

__all__ = [
    "TWCC_CHUNK_BYTES",
    "TWCC_FIXED_BYTES",
    "TWCC_REFERENCE_S",
    "TWCC_RUN_LENGTH_MAX",
    "TWCC_SMALL_DELTA_MAX_S",
    "TWCC_TICK_S",
    "TWCC_VECTOR_1BIT",
    "TWCC_VECTOR_2BIT",
    "rfc8888_bytes",
    "twcc_bytes",
    "twcc_sizes",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_RTCP_HEADER = 4  # V, P, FMT, PT, length (RFC 3550 section 6.4)
_SSRC = 4
_RFC8888_BLOCK = 8  # SSRC, begin_seq, num_reports (RFC 8888 section 3.1)
_RFC8888_METRIC = 2  # R, ECN, arrival time offset: 16 bits per packet
_RFC8888_TIMESTAMP = 4  # Report Timestamp
TWCC_FIXED_BYTES = 20  # header, two SSRCs, base seq, status count, reference time, fb count
TWCC_CHUNK_BYTES = 2
TWCC_RUN_LENGTH_MAX = 8191  # 13-bit run length (draft 3.1.3)
TWCC_VECTOR_1BIT = 14  # packets per 1-bit status vector chunk (draft 3.1.4)
TWCC_VECTOR_2BIT = 7  # packets per 2-bit status vector chunk
TWCC_TICK_S = 250e-6  # receive delta unit (draft 3.1.5)
TWCC_REFERENCE_S = 0.064  # reference time unit (draft 3.1: multiples of 64 ms)
TWCC_SMALL_DELTA_MAX_S = 255 * TWCC_TICK_S
"""The largest receive delta an 8-bit field holds: 63.75 ms."""


def _padded(octets: int) -> int:
    return 4 * math.ceil(octets / 4)


def rfc8888_bytes(reports_per_ssrc: Sequence[int]) -> int:
    """Octets of one RFC 8888 feedback packet reporting ``reports_per_ssrc[i]`` packets of
    the i-th media SSRC (its RTCP part; IP/UDP headers not included)."""
    if any(n < 0 for n in reports_per_ssrc):
        raise ValueError("a report block covers zero or more packets")
    blocks = sum(_padded(_RFC8888_BLOCK + _RFC8888_METRIC * n) for n in reports_per_ssrc)
    return _RTCP_HEADER + _SSRC + blocks + _RFC8888_TIMESTAMP


def twcc_bytes(received: Sequence[bool], arrival_s: Sequence[float] | FloatArray) -> int:
    """Octets of one transport-wide feedback packet for consecutive transport sequence
    numbers: ``received[k]`` whether packet k arrived, ``arrival_s[k]`` when (ignored when
    not received). The first receive delta is from the reference time, taken as the
    first arrival rounded down to 64 ms (the reference time's unit, draft 3.1)."""
    flags = np.asarray(received, dtype=np.bool_)
    times = np.asarray(arrival_s, dtype=np.float64)
    if flags.shape != times.shape or flags.ndim != 1:
        raise ValueError("received and arrival_s need one value per packet")
    if flags.size == 0:
        raise ValueError("a feedback packet reports at least one packet")
    seq = np.flatnonzero(flags).astype(np.int64)
    bounds = np.array([0, seq.size], dtype=np.int64)
    first = np.zeros(1, dtype=np.int64)
    last = np.array([flags.size - 1], dtype=np.int64)
    return int(twcc_sizes(bounds, seq, times[flags], first, last)[0])


@kernel
def twcc_sizes(
    bounds: IntArray, seq: IntArray, arrival_s: FloatArray, first: IntArray, last: IntArray
) -> IntArray:
    """``twcc_bytes`` of many feedback packets: packet r covers the sequence numbers
    ``first[r]`` to ``last[r]``, and the received ones among them are the packets
    ``bounds[r]`` to ``bounds[r + 1]`` (``seq`` and ``arrival_s``; others are ignored)."""
    sizes = np.empty(first.size, dtype=np.int64)
    longest = 0
    for r in range(first.size):
        longest = max(longest, last[r] - first[r] + 1)
    status_space = np.empty(longest, dtype=np.int64)  # not received, small, large
    arrival_space = np.empty(longest)
    for r in range(first.size):
        status = status_space[: max(last[r] - first[r] + 1, 0)]
        arrival = arrival_space[: status.size]
        status[:] = 0
        arrival[:] = 0.0
        for k in range(bounds[r], bounds[r + 1]):
            if first[r] <= seq[k] <= last[r]:
                status[seq[k] - first[r]] = 1
                arrival[seq[k] - first[r]] = arrival_s[k]
        delta_bytes = 0
        previous = math.nan
        for k in range(status.size):
            if status[k] == 0:
                continue
            if math.isnan(previous):
                previous = math.floor(arrival[k] / TWCC_REFERENCE_S) * TWCC_REFERENCE_S
            ticks = _round_half_even((arrival[k] - previous) / TWCC_TICK_S)
            previous = arrival[k]
            if 0.0 <= ticks <= 255.0:
                delta_bytes += 1
            else:
                delta_bytes += 2
                status[k] = 2
        octets = TWCC_FIXED_BYTES + TWCC_CHUNK_BYTES * _status_chunks(status) + delta_bytes
        sizes[r] = 4 * ((octets + 3) // 4)
    return sizes


@inline_kernel
def _round_half_even(x: float) -> float:
    """``x`` rounded to the nearest integer, halves to even (as ``np.round``)."""
    low = math.floor(x)
    rest = x - low
    if rest > 0.5 or (rest == 0.5 and low % 2 == 1):
        return low + 1.0
    return low


@inline_kernel
def _status_chunks(status: IntArray) -> int:
    """Chunks to encode ``status``, greedily: a run-length chunk where at least a vector
    chunk's worth of packets share one status, else a status vector chunk (2-bit as soon
    as one of its packets has a large delta)."""
    chunks = 0
    k = 0
    n = status.size
    while k < n:
        run = 1
        while k + run < n and status[k + run] == status[k] and run < TWCC_RUN_LENGTH_MAX:
            run += 1
        chunks += 1
        if run >= TWCC_VECTOR_1BIT:
            k += run
            continue
        two_bit = False
        for j in range(k, min(k + TWCC_VECTOR_1BIT, n)):
            two_bit = two_bit or status[j] == 2
        k += TWCC_VECTOR_2BIT if two_bit else TWCC_VECTOR_1BIT
    return chunks
