"""From the userspace links' records to the trace's packets table: the emulation's capture.

Every link process records each IP packet it saw (``link.RECORD_SCHEMA``):
when it arrived, when the model said it leaves, when it really left, and why
it was dropped. A media packet of a call crosses the links of its direction
in path order (uplink: segment 0 first); joined on its RTP SSRC, sequence
number and timestamp, its records give the trace's row as the simulator
writes it:

- ``send_s``: its arrival at the first link of its direction (the sender's
  host is one veth away), ``recv_s``: its real departure from the last link;
- ``dscp``: as it reached the first link (as sent), ``dscp_received``: as the
  last link wrote it out (the far end is one veth away), so every bleaching
  segment counts, the last one's too;
- ``lost_at`` / ``drop_reason``: the segment that dropped it, and why. A
  packet that left one link and never reached the next was lost by the
  emulator itself (a socket or veth between them): reason ``forwarder``;
- packets still inside a link when the run stopped are left out, as the
  simulator leaves out packets sent after the run's end.

Flows are told apart by their UE's address: call ``c``'s uplink is sent by
``ue_addresses[c]``, its downlink is sent to it; flow ids are ``2c`` and
``2c + 1``, as in the simulator.

Senders at a fixed rate send one codec; a packet's payload is its IP size
less the headers of the media end to end (``models.overhead``: RTP/UDP/IP,
and with SRTP its authentication tag and MKI after the encrypted payload), so
the payload and wire sizes are the simulator's for the same codec and
headers. Rate-controlled senders log each
RTP packet they send (``SentLog``: its codec mode, payload size and the
target it was sent under); with their logs, each row takes these from its
flow's log, its sequence number counts from the sender's first packet, and
packets of another SSRC on the flow's addresses (the receiver's feedback,
whose RTCP header a link may take for RTP, RFC 5761 multiplexing) are left
out. Pure: tables in, table out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from voipbed.models.overhead import Overhead, header_bytes
from voipbed.trace import DIRECTIONS, DROP_REASONS, packets_table

__all__ = [
    "FORWARDER",
    "PLAIN_RTP",
    "REASONS",
    "AdaptiveSenders",
    "SentLog",
    "packets_from_records",
]

FORWARDER = "forwarder"  # lost between two links, in the emulator's own plumbing
REASONS = (*DROP_REASONS, FORWARDER)

PLAIN_RTP = Overhead()  # RTP/UDP/IPv4, no SRTP
_KEY = ("rtp_ssrc", "rtp_seq", "rtp_ts")
_SEQ_PERIOD = 1 << 16


@dataclass(frozen=True)
class SentLog:
    """What a rate-controlled sender logged of its RTP packets, in send order: entry ``k``
    is the packet with RTP sequence number ``k`` mod 2**16 (the sender numbers from 0)."""

    ssrc: int
    mode: NDArray[np.int64]  # index into AdaptiveSenders.codecs
    payload_bytes: NDArray[np.int64]
    target_bps: NDArray[np.float64]

    def __post_init__(self) -> None:
        sizes = {self.mode.size, self.payload_bytes.size, self.target_bps.size}
        if len(sizes) != 1:
            raise ValueError("a sender log's columns must be of one length")


@dataclass(frozen=True)
class AdaptiveSenders:
    """The logs of a run's rate-controlled senders: the modes they move between, and each
    flow's log by flow id."""

    codecs: tuple[str, ...]
    flows: Mapping[int, SentLog]


def _unwrap(values: NDArray[np.int64], period: int) -> NDArray[np.int64]:
    """A wrapping counter (RTP seq, timestamp) as a count from its first value."""
    steps = np.diff(values)
    steps = (steps + period // 2) % period - period // 2  # the shortest way round
    return np.concatenate([[0], np.cumsum(steps)]).astype(np.int64)


def _media(records: pa.Table, direction: str) -> pa.Table:
    """The RTP packets of one direction in one link's records."""
    mask = pc.and_(
        pc.equal(records.column("direction").cast(pa.string()), direction),
        pc.is_valid(records.column("rtp_ssrc")),
    )
    return records.filter(mask)


def packets_from_records(
    records: Sequence[pa.Table],
    segment_names: Sequence[str],
    ue_addresses: Sequence[str],
    codec: str,
    *,
    adaptive: AdaptiveSenders | None = None,
    overhead: Overhead = PLAIN_RTP,
) -> pa.Table:
    """The packets table (``trace.PACKET_SCHEMA``) of the calls whose UEs have these addresses,
    sent with ``codec`` at a fixed rate or, with ``adaptive``, by rate-controlled senders
    whose logs give each packet's mode, payload size and target.

    ``records[i]`` is the record table of path segment ``i``'s link. ``overhead`` holds the
    media's headers end to end (default: plain RTP/UDP/IPv4), which a fixed-rate packet's
    payload is its IP size less. ValueError when a packet of a rate-controlled flow is not
    in its sender's log.
    """
    if len(records) != len(segment_names) or not records:
        raise ValueError("one record table per path segment is needed")
    if overhead.rohc is not None or overhead.link is not None:
        raise ValueError("overhead describes IP packets end to end: no ROHC, no link layer")
    headers = header_bytes(0, overhead).total
    call_of = {address: call for call, address in enumerate(ue_addresses)}
    parts = []
    for code, direction in enumerate(DIRECTIONS):
        order = range(len(records)) if direction == "uplink" else range(len(records) - 1, -1, -1)
        hops = [_media(records[i], direction) for i in order]
        first = hops[0]
        ue = first.column("src" if direction == "uplink" else "dst").to_pylist()
        calls = np.array([call_of.get(address, -1) for address in ue], dtype=np.int64)
        keep = calls >= 0
        if adaptive is not None:
            keep &= _from_sender(first, 2 * calls + code, adaptive)
        first = first.filter(pa.array(keep))
        calls = calls[keep]
        n = first.num_rows
        recv_s = np.full(n, np.nan)
        dscp_received = np.full(n, -1, dtype=np.int64)
        lost_at = np.full(n, -1, dtype=np.int64)
        reason = np.full(n, -1, dtype=np.int64)
        in_flight = np.zeros(n, dtype=np.bool_)
        alive = np.ones(n, dtype=np.bool_)  # still travelling after the hops seen so far
        key = first.select(_KEY).append_column("row", pa.array(np.arange(n)))
        for hop, place in enumerate(order):
            seen = hops[hop].select([*_KEY, "sent_s", "drop_reason", "dscp_out"])
            joined = key.join(seen, list(_KEY), join_type="inner")
            rows = joined.column("row").to_numpy()
            at_hop = np.zeros(n, dtype=np.bool_)
            at_hop[rows] = True
            vanished = alive & ~at_hop  # left the previous link, never reached this one
            lost_at[vanished] = place
            reason[vanished] = REASONS.index(FORWARDER)
            alive &= at_hop
            dropped_here = joined.column("drop_reason").cast(pa.string()).to_pylist()
            sent_s = joined.column("sent_s").to_numpy(zero_copy_only=False)
            dscp_out = joined.column("dscp_out").to_pylist()
            for row, why, sent, out in zip(
                rows.tolist(), dropped_here, sent_s.tolist(), dscp_out, strict=True
            ):
                if not alive[row]:
                    continue
                if why is not None:
                    lost_at[row], reason[row], alive[row] = place, REASONS.index(why), False
                elif not np.isfinite(sent):  # still in this link when the run stopped
                    in_flight[row], alive[row] = True, False
                elif hop == len(order) - 1:
                    recv_s[row], dscp_received[row] = sent, out
        received = _Received(recv_s, dscp_received, lost_at, reason, in_flight)
        parts.append(
            _table(code, first, calls, received, segment_names, (codec, headers), adaptive)
        )
    return pa.concat_tables(parts)


def _from_sender(
    first: pa.Table, flows: NDArray[np.int64], adaptive: AdaptiveSenders
) -> NDArray[np.bool_]:
    """Which records carry their flow's sender's SSRC (a flow without a log has none)."""
    ssrc = first.column("rtp_ssrc").to_numpy(zero_copy_only=False)
    expected = np.array(
        [adaptive.flows[f].ssrc if f in adaptive.flows else -1 for f in flows.tolist()],
        dtype=np.int64,
    )
    return np.asarray(ssrc == expected, dtype=np.bool_)


class _Received(NamedTuple):
    """Per packet of one direction (rows of its first link's records): what became of it."""

    recv_s: NDArray[np.float64]  # NaN unless delivered
    dscp: NDArray[np.int64]  # as delivered; -1 unless delivered
    lost_at: NDArray[np.int64]  # segment, -1 unless lost
    reason: NDArray[np.int64]  # index into REASONS, -1 unless lost
    in_flight: NDArray[np.bool_]  # still inside a link when the run stopped


def _table(
    code: int,
    first: pa.Table,
    calls: NDArray[np.int64],
    received: _Received,
    places: Sequence[str],
    sent: tuple[str, int],
    adaptive: AdaptiveSenders | None,
) -> pa.Table:
    """One direction's rows, in send order, per flow numbered from its first packet (with
    ``adaptive``: from its sender's first packet); ``sent`` is the fixed-rate codec and the
    header bytes around its payloads."""
    codec, headers = sent
    in_flight = received.in_flight
    send_s = first.column("arrive_s").to_numpy()
    ssrc = first.column("rtp_ssrc").to_numpy()
    order = np.lexsort((send_s, ssrc, calls))
    keep = order[~in_flight[order]]
    seq = np.zeros(keep.size, dtype=np.int64)
    rtp_ts = np.zeros(keep.size, dtype=np.int64)
    raw_seq = first.column("rtp_seq").to_numpy().astype(np.int64)[keep]
    raw_ts = first.column("rtp_ts").to_numpy().astype(np.int64)[keep]
    group = calls[keep] * (1 << 33) + ssrc[keep]
    starts = np.flatnonzero(np.concatenate([[True], group[1:] != group[:-1]]))
    for begin, end in zip(starts, [*starts[1:], keep.size], strict=True):
        seq[begin:end] = _unwrap(raw_seq[begin:end], _SEQ_PERIOD)
        rtp_ts[begin:end] = _unwrap(raw_ts[begin:end], 1 << 32)
    wire = first.column("wire_bytes").to_numpy().astype(np.int64)[keep]
    coded = _Coded(np.zeros(keep.size, dtype=np.int64), wire - headers, np.full(keep.size, np.nan))
    codecs: Sequence[str] = [codec] if adaptive is None else adaptive.codecs
    if adaptive is not None and keep.size:
        for begin, end in zip(starts, [*starts[1:], keep.size], strict=True):
            flow = 2 * int(calls[keep[begin]]) + code
            part = slice(begin, end)
            seq[part] = _sender_numbers(flow, raw_seq[part], seq[part], adaptive.flows[flow])
            log = adaptive.flows[flow]
            coded.mode[part] = log.mode[seq[part]]
            coded.payload_bytes[part] = log.payload_bytes[seq[part]]
            coded.target_bps[part] = log.target_bps[seq[part]]
    ecn_ce = first.column("ecn").to_numpy()[keep] == 3  # CE (RFC 3168): as it reached the path
    by_time = np.argsort(first.column("arrive_s").to_numpy()[keep], kind="stable")
    take = keep[by_time]
    return packets_table(
        call=calls[take],
        flow=2 * calls[take] + code,
        direction=np.full(take.size, code, dtype=np.int16),
        seq=seq[by_time],
        rtp_ts=rtp_ts[by_time],
        payload_bytes=coded.payload_bytes[by_time],
        wire_bytes=wire[by_time],
        dscp=first.column("dscp").to_numpy()[take],
        dscp_received=received.dscp[take],
        send_s=send_s[take],
        recv_s=received.recv_s[take],
        lost_at=received.lost_at[take],
        places=list(places),
        drop_reason=received.reason[take],
        reasons=REASONS,
        ce=ecn_ce[by_time],
        codec=coded.mode[by_time],
        codecs=list(codecs),
        target_bps=coded.target_bps[by_time],
    )


class _Coded(NamedTuple):
    """Per row of one direction: codec (index into the codecs), payload size, target."""

    mode: NDArray[np.int64]
    payload_bytes: NDArray[np.int64]
    target_bps: NDArray[np.float64]


def _sender_numbers(
    flow: int, raw_seq: NDArray[np.int64], unwrapped: NDArray[np.int64], log: SentLog
) -> NDArray[np.int64]:
    """The entries of ``log`` that one flow's packets (in send order; RTP sequence numbers
    as sent, and unwrapped from the first) are: the first packet recorded is taken to be
    among the sender's first 2**16."""
    numbers: NDArray[np.int64] = unwrapped + raw_seq[0]
    bad = (numbers < 0) | (numbers >= log.mode.size)
    bad |= ~bad & (numbers % _SEQ_PERIOD != raw_seq)
    if bad.any():
        missing = int(raw_seq[np.flatnonzero(bad)[0]])
        raise ValueError(
            f"flow {flow}: RTP sequence number {missing} is not in its sender's log "
            f"({log.mode.size} packets)"
        )
    return numbers
