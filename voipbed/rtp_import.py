"""RTP streams found in captures, as the trace's packets table.

:func:`rtp_packets` takes the UDP fields of one or more captures
(``frame_fields.udp_fields``) and finds the RTP streams in them:

- A datagram may be RTP when it reads as version 2, its header fits and its
  payload type is not RTCP's (RFC 5761 4: 72-76 after the marker bit, i.e.
  RTCP packet types 200-204). A stream is the datagrams of one SSRC between one
  pair of endpoints; it is kept when it has at least ``MIN_PACKETS`` packets
  whose sequence numbers mostly advance by one (as Wireshark's RTP heuristic
  asks for consecutive numbers), which leaves out UDP that only looks like RTP.
- Sequence numbers and timestamps are unwrapped (RFC 3550 appendix A.1), each
  from its stream's first packet. A stream's codec is that of the payload type
  most of its packets carry, as the caller's chooser names it from the stream's
  receiver and payloads (``sdp_codecs.CodecChooser``); a stream of a type that
  carries no voice (RFC 4733 telephone events, comfort noise) is left out and
  counted, and so are, once matched, a stream's packets of its other payload
  types.
- With two captures of the same streams (one at each end), a stream's packets
  are matched by SSRC and extended sequence number: the capture in which the
  stream is seen first (by the median over matched packets) is its sender's,
  giving each packet's send time, DSCP and ECN as sent; the other gives the
  receive time, the DSCP and the CE mark as received; a packet missing there was
  lost. With one capture every stream is taken as received there: a packet's
  send time is its stream's first arrival plus its RTP timestamp's advance
  (the clock rate of its codec), so delay is measured from the first packet,
  and a sequence number missing between a stream's first and last was lost
  (one lost after the last received cannot be told).
- The two streams of one pair of endpoints, one each way, are one call; its
  uplink is the stream sent from the first capture's end (``ue_first``) or,
  with one capture, the stream that starts first.

Times are seconds from the last whole second before the first packet of all
captures, so they keep nanosecond precision.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray

from voipbed.frame_fields import STATUS_NAMES, UDP, UdpFields, address_text
from voipbed.models.codecs import CODECS
from voipbed.pcap_file import Capture
from voipbed.sdp_codecs import CodecChoice, StreamMedia
from voipbed.trace import packets_table

__all__ = [
    "MIN_PACKETS",
    "PLACE",
    "REASON",
    "ImportedStreams",
    "capture_origin",
    "rtp_packets",
]

MIN_PACKETS = 5
PLACE = "network"  # where an imported packet was lost: somewhere between the captures
REASON = "unseen"  # why: it was not seen at the receiving end
_RTCP_TYPES = range(72, 77)
_ECN_CE = 3
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class ImportedStreams:
    """The packets table of the streams found, and what was found and skipped."""

    packets: pa.Table
    codecs: tuple[str, ...]  # every codec the streams carry, by name
    streams: int
    calls: int
    skipped: dict[str, int]
    origin_ns: int  # capture time of the table's time 0
    endpoints: dict[tuple[str, int], int] = field(default_factory=dict)  # (address, port): call
    codec_choices: list[dict[str, Any]] = field(default_factory=list)  # per flow and stream


Chooser = Callable[[StreamMedia], CodecChoice]
_NO_VOICE = "packets of streams that carry no voice (telephone-event, comfort noise)"


def rtp_packets(
    captures: Sequence[tuple[Capture, UdpFields]], *, choose: Chooser
) -> ImportedStreams:
    """The RTP streams of ``captures`` (one, or one per end: the phones' first) as a
    packets table; ``choose`` names each stream's codec (its errors propagate)."""
    frames = [_candidates(k, capture, fields) for k, (capture, fields) in enumerate(captures)]
    table = pd.concat(frames, ignore_index=True)
    skipped = _skipped(captures)
    origin_ns = capture_origin(captures)
    table["time_s"] = (table["time_ns"] - origin_ns) / 1e9
    streams = _streams(table)
    kept = streams[streams["kept"]]
    skipped["datagrams in no RTP stream"] = int(len(table) - kept["packets"].sum())
    packets = table.merge(kept[["stream"]], on="stream")
    if packets.empty:
        return ImportedStreams(_empty_table(), (), 0, 0, skipped, origin_ns)
    packets = _unwrapped(packets)
    choices, main = _choices(packets, choose)
    voiceless = [stream for stream, choice in choices.items() if choice.codec is None]
    if voiceless:
        gone = packets["stream"].isin(voiceless).to_numpy()
        skipped[_NO_VOICE] = int(gone.sum())
        packets = packets[~gone].reset_index(drop=True)
        if packets.empty:
            return ImportedStreams(_empty_table(), (), 0, 0, skipped, origin_ns)
    codecs = {stream: choice.codec for stream, choice in choices.items() if choice.codec}
    two_ends = len(captures) > 1
    rows = _matched(packets) if two_ends else _received_here(packets, codecs)
    rows, others = _main_type_only(rows, main)
    if others:
        skipped["packets of a stream's other payload types (e.g. telephone-event)"] = others
    rows, calls = _calls(rows, two_ends=two_ends)
    names = tuple(sorted({codecs[s] for s in rows["stream"].unique().tolist()}))
    return ImportedStreams(
        _table(rows, codecs, names),
        names,
        int(rows["flow"].nunique()),
        calls,
        skipped,
        origin_ns,
        _endpoints(rows),
        _choice_records(rows, choices),
    )


def _address(ipv: int, hi: int, lo: int) -> str:
    """An address kept as two integers (``_candidates``) as text."""
    return address_text(np.array([hi, lo], dtype=">i8").view(np.uint8), ipv)


def _endpoints(rows: pd.DataFrame) -> dict[tuple[str, int], int]:
    """Each RTP endpoint (address as text, port) and its call."""
    ends: dict[tuple[str, int], int] = {}
    for side, port in (("src", "sport"), ("dst", "dport")):
        unique = rows[["ipv", f"{side}_hi", f"{side}_lo", port, "call"]].drop_duplicates()
        for ipv, hi, lo, number, call in unique.itertuples(index=False):
            ends[(_address(int(ipv), hi, lo), int(number))] = int(call)
    return ends


def _choices(
    packets: pd.DataFrame, choose: Chooser
) -> tuple[dict[int, CodecChoice], dict[int, int]]:
    """Each stream's codec, as ``choose`` names it, and its main payload type: the one most
    of its packets carry (``packets`` is in stream order)."""
    stream = packets["stream"].to_numpy()
    cuts = np.flatnonzero(np.diff(stream)) + 1
    starts, ends = np.r_[0, cuts], np.r_[cuts, stream.size]
    pt = packets["pt"].to_numpy().astype(np.int64)
    head, size = packets["head"].to_numpy(), packets["payload"].to_numpy().astype(np.int64)
    ts = packets["rtp_ts"].to_numpy()
    receivers = ("ipv", "dst_hi", "dst_lo", "dport")
    ends_at = np.column_stack([packets[c].to_numpy()[starts] for c in receivers]).astype(np.int64)
    choices: dict[int, CodecChoice] = {}
    main: dict[int, int] = {}
    for start, end, (ipv, hi, lo, port) in zip(
        starts.tolist(), ends.tolist(), ends_at.tolist(), strict=True
    ):
        types = pt[start:end]
        kind = int(np.bincount(types).argmax())
        mine = types == kind
        stamps = ts[start:end][mine]
        media = StreamMedia(
            receiver=(_address(ipv, hi, lo), port),
            payload_type=kind,
            payload_bytes=size[start:end][mine],
            head=head[start:end][mine],
            rtp_span_ticks=int(stamps.max() - stamps.min()),
        )
        choices[int(stream[start])] = choose(media)
        main[int(stream[start])] = kind
    return choices, main


def _choice_records(rows: pd.DataFrame, choices: dict[int, CodecChoice]) -> list[dict[str, Any]]:
    """For each flow and each of its streams: the codec it got, from where, and how."""
    firsts = rows.drop_duplicates(["flow", "stream"]).sort_values(["flow", "send_s"])
    columns = ["stream", "flow", "call", "direction", "ssrc", "pt", "ipv", "dst_hi", "dst_lo"]
    records = []
    for values, port in zip(
        firsts[columns].to_numpy(dtype=np.int64).tolist(),
        firsts["dport"].tolist(),
        strict=True,
    ):
        stream, flow, call, direction, ssrc, pt, ipv, hi, lo = values
        choice = choices[stream]
        records.append(
            {
                "flow": flow,
                "call": call,
                "direction": "uplink" if direction == 0 else "downlink",
                "ssrc": ssrc,
                "payload_type": pt,
                "receiver": [_address(ipv, hi, lo), int(port)],
                "codec": choice.codec,
                "source": str(choice.source),
                "encoding": choice.encoding,
                "detail": choice.detail,
                "guessed": choice.guessed,
            }
        )
    return records


def _candidates(capture_index: int, capture: Capture, fields: UdpFields) -> pd.DataFrame:
    """The datagrams of one capture that may be RTP; each endpoint (address and port) as
    an integer pair, its text left for the streams found."""
    ok = (
        (fields.status == UDP)
        & (fields.rtp_version == 2)
        & (fields.rtp_payload_bytes >= 0)
        & ~np.isin(fields.rtp_type, _RTCP_TYPES)
    )
    idx = np.flatnonzero(ok)
    head = _payload_head(np.frombuffer(capture.data, dtype=np.uint8), fields, idx)
    src = fields.src[idx].view(">u8").astype(np.int64)  # [packet, 2]: the address's halves
    dst = fields.dst[idx].view(">u8").astype(np.int64)
    return pd.DataFrame(
        {
            "capture": capture_index,
            "time_ns": capture.time_ns[idx],
            "ipv": fields.ip_version[idx],
            "src_hi": src[:, 0],
            "src_lo": src[:, 1],
            "dst_hi": dst[:, 0],
            "dst_lo": dst[:, 1],
            "sport": fields.sport[idx],
            "dport": fields.dport[idx],
            "tclass": fields.tclass[idx],
            "ip_bytes": fields.ip_bytes[idx],
            "pt": fields.rtp_type[idx],
            "seq16": fields.rtp_seq[idx],
            "ts32": fields.rtp_ts[idx],
            "ssrc": fields.rtp_ssrc[idx],
            "payload": fields.rtp_payload_bytes[idx],
            "head": head,
        }
    )


def _payload_head(data: NDArray[np.uint8], fields: UdpFields, idx: NDArray[np.int64]) -> IntArray:
    """The first three octets of the RTP payload of each datagram ``idx`` (big-endian,
    zeros past the payload's end): after the fixed header, the CSRCs and an extension
    header (RFC 3550 5.1, 5.3.1), as ``frame_fields`` measured the payload."""
    at = fields.payload_start[idx]
    first = data[at].astype(np.int64)
    header = 12 + 4 * (first & 0x0F)
    extended = ((first & 0x10) != 0) & (fields.payload_bytes[idx] >= header + 4)
    words_at = np.where(extended, at + header + 2, at)
    words = (data[words_at].astype(np.int64) << 8) | data[words_at + 1]
    start = at + header + np.where(extended, 4 + 4 * words, 0)
    length = fields.rtp_payload_bytes[idx]
    head = np.zeros(idx.size, dtype=np.int64)
    for k in range(3):
        has = length > k
        octet = data[np.where(has, start + k, 0)].astype(np.int64)
        head |= np.where(has, octet << (16 - 8 * k), 0)
    return head


def _skipped(captures: Sequence[tuple[Capture, UdpFields]]) -> dict[str, int]:
    skipped: dict[str, int] = {}
    for capture, fields in captures:
        for reason, count in capture.skipped.items():
            skipped[reason] = skipped.get(reason, 0) + count
        codes, counts = np.unique(fields.status, return_counts=True)
        for code, count in zip(codes.tolist(), counts.tolist(), strict=True):
            if code != UDP:
                name = STATUS_NAMES[code]
                skipped[name] = skipped.get(name, 0) + int(count)
    return skipped


def capture_origin(captures: Sequence[tuple[Capture, UdpFields]]) -> int:
    """The import's time 0: the last whole second before the captures' first frame, in
    capture time (ns)."""
    firsts = [int(capture.time_ns.min()) for capture, _ in captures if len(capture)]
    first = min(firsts) if firsts else 0
    return first - first % 1_000_000_000


def _streams(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (capture, SSRC, endpoints): its id in ``table`` and whether it is kept."""
    keys = ["capture", "ssrc", "src_hi", "src_lo", "dst_hi", "dst_lo", "sport", "dport"]
    table["stream"] = table.groupby(keys, sort=False).ngroup()
    step = table.groupby("stream")["seq16"].diff().mod(65536)
    table["step_one"] = step.eq(1)
    stats = table.groupby("stream").agg(packets=("seq16", "size"), ones=("step_one", "sum"))
    stats["kept"] = (stats["packets"] >= MIN_PACKETS) & (stats["ones"] >= stats["packets"] / 2)
    return stats.reset_index()


def _unwrapped(packets: pd.DataFrame) -> pd.DataFrame:
    """Extended sequence numbers and timestamps, each stream from its first packet's."""
    packets = packets.sort_values(["stream", "time_ns"], kind="stable").reset_index(drop=True)
    for column, extended, period in (("seq16", "seq", 1 << 16), ("ts32", "rtp_ts", 1 << 32)):
        delta = packets.groupby("stream")[column].diff().fillna(0).astype(np.int64)
        delta = (delta + period // 2) % period - period // 2  # the nearest way round
        first = packets.groupby("stream")[column].transform("first").astype(np.int64)
        packets[extended] = first + delta.groupby(packets["stream"]).cumsum()
    return packets


def _matched(packets: pd.DataFrame) -> pd.DataFrame:
    """Each stream's packets as sent (at its sender's capture) with their arrival."""
    key = ["ssrc", "seq", "rtp_ts"]
    first = packets.drop_duplicates(["capture", *key])  # a duplicate: its first copy
    a, b = first[first["capture"] == 0], first[first["capture"] == 1]
    both = a.merge(b[[*key, "time_s", "tclass"]], on=key, suffixes=("", "_b"))
    both["later_s"] = both["time_s_b"] - both["time_s"]
    later = both.groupby("ssrc")["later_s"].median()
    sender = pd.Series(np.where(later >= 0, 0, 1), index=later.index, name="sender")
    first = first.merge(sender, left_on="ssrc", right_index=True, how="left")
    first["sender"] = first["sender"].fillna(first["capture"]).astype(int)
    sent = first[first["capture"] == first["sender"]]
    got = first[first["capture"] != first["sender"]][[*key, "time_s", "tclass"]]
    rows = sent.merge(got, on=key, how="left", suffixes=("", "_rx"))
    rows = rows.rename(columns={"time_s": "send_s", "time_s_rx": "recv_s"})
    rows["tclass_rx"] = rows["tclass_rx"].fillna(-1).astype(int)
    rows["from_first"] = rows["sender"] == 0
    return rows


def _received_here(packets: pd.DataFrame, codecs: dict[int, str]) -> pd.DataFrame:
    """Every stream as received at the one capture: send times from the RTP clock, and a
    row (lost) for every sequence number missing between a stream's first and last."""
    got = packets.drop_duplicates(["stream", "seq"]).sort_values(["stream", "seq"])
    got = got.assign(recv_s=got["time_s"], tclass_rx=got["tclass"])
    rows = _with_gaps(got)
    clock = rows["stream"].map({s: CODECS[name].rtp_clock_hz for s, name in codecs.items()})
    by_stream = rows.groupby("stream")
    first = rows["recv_s"].notna()
    start = rows["recv_s"].where(first).groupby(rows["stream"]).transform("first")
    ts0 = by_stream["rtp_ts"].transform("first")
    rows["send_s"] = start + (rows["rtp_ts"] - ts0) / clock
    return rows


def _with_gaps(got: pd.DataFrame) -> pd.DataFrame:
    """``got`` (one stream after another, in sequence order) with a row for each missing
    sequence number: its timestamp interpolated between its neighbours', its other fields
    the previous packet's, no arrival."""
    seq = got["seq"].to_numpy()
    ts = got["rtp_ts"].to_numpy()
    stream = got["stream"].to_numpy()
    first = np.r_[True, stream[1:] != stream[:-1]]
    step = np.r_[1, np.diff(seq)]
    count = np.where(first, 1, step)  # the rows up to each packet: those missing, then it
    if int(count.sum()) == seq.size:
        return _integers(got.reset_index(drop=True))
    owner = np.repeat(np.arange(seq.size), count)
    k = np.arange(owner.size) - np.repeat(np.cumsum(count) - count, count)
    missing = k < count[owner] - 1
    before = np.maximum(owner - 1, 0)
    rows = got.iloc[np.where(missing, before, owner)].reset_index(drop=True)
    ahead = (k + 1) / count[owner]  # the missing packet's place between its neighbours
    rows["seq"] = np.where(missing, seq[before] + k + 1, seq[owner])
    guess = np.round(ts[before] + (ts[owner] - ts[before]) * ahead).astype(np.int64)
    rows["rtp_ts"] = np.where(missing, guess, ts[owner])
    rows.loc[missing, ["recv_s", "time_s"]] = np.nan
    rows.loc[missing, "tclass_rx"] = -1
    return _integers(rows)


def _integers(rows: pd.DataFrame) -> pd.DataFrame:
    for column in ("pt", "tclass", "tclass_rx", "ip_bytes", "payload", "ssrc", "stream"):
        rows[column] = rows[column].astype(np.int64)
    return rows


def _main_type_only(rows: pd.DataFrame, main: dict[int, int]) -> tuple[pd.DataFrame, int]:
    """Each stream's packets of its ``main`` payload type (its voice), and how many of
    other types were left out: RFC 4733 telephone events and comfort noise share a voice
    stream's SSRC and sequence numbers (which is why a one-end capture counts its gaps
    before they go)."""
    keep = rows["pt"].to_numpy() == rows["stream"].map(main).to_numpy()
    return rows[keep], int((~keep).sum())


def _calls(rows: pd.DataFrame, *, two_ends: bool) -> tuple[pd.DataFrame, int]:
    """Calls (a pair of endpoints, both ways) and flows (2c uplink, 2c + 1 downlink)."""
    ends = ["hi", "lo", "port"]
    src = rows[["src_hi", "src_lo", "sport"]].set_axis(ends, axis=1)
    dst = rows[["dst_hi", "dst_lo", "dport"]].set_axis(ends, axis=1)
    endpoints = pd.concat([src, dst]).drop_duplicates().reset_index(drop=True)
    number = pd.Series(endpoints.index, index=pd.MultiIndex.from_frame(endpoints))
    a = number.reindex(pd.MultiIndex.from_frame(src)).to_numpy()
    b = number.reindex(pd.MultiIndex.from_frame(dst)).to_numpy()
    rows["pair"] = np.minimum(a, b) * len(endpoints) + np.maximum(a, b)
    starts = rows.groupby("pair")["send_s"].min().sort_values(kind="stable")
    call_of = pd.Series(np.arange(len(starts)), index=starts.index)
    rows["call"] = rows["pair"].map(call_of)
    if two_ends:
        uplink = rows["from_first"]
    else:  # one capture: the stream of each pair that starts first is taken as uplink
        first_s = rows.groupby("ssrc")["send_s"].transform("min")
        earliest = rows.groupby("pair")["send_s"].transform("min")
        uplink = first_s == earliest
    rows["direction"] = np.where(uplink, 0, 1)
    rows["flow"] = 2 * rows["call"] + rows["direction"]
    return rows, len(call_of)


def _table(rows: pd.DataFrame, codecs: dict[int, str], names: tuple[str, ...]) -> pa.Table:
    """The packets table of ``rows``; ``codecs`` names each stream's codec."""
    rows = rows.sort_values(["direction", "flow", "seq"], kind="stable")
    lost = rows["recv_s"].isna().to_numpy()
    tclass_rx = rows["tclass_rx"].to_numpy()
    index = {s: names.index(name) for s, name in codecs.items() if name in names}
    codec_index = rows["stream"].map(index)
    return packets_table(
        call=rows["call"].to_numpy(),
        flow=rows["flow"].to_numpy(),
        direction=rows["direction"].to_numpy(),
        seq=rows["seq"].to_numpy(),
        rtp_ts=rows["rtp_ts"].to_numpy(),
        payload_bytes=rows["payload"].to_numpy(),
        wire_bytes=rows["ip_bytes"].to_numpy(),
        dscp=(rows["tclass"].to_numpy() >> 2),
        dscp_received=np.where(lost, -1, tclass_rx >> 2),
        send_s=rows["send_s"].to_numpy(dtype=np.float64),
        recv_s=rows["recv_s"].to_numpy(dtype=np.float64),
        lost_at=np.where(lost, 0, -1),
        places=(PLACE,),
        drop_reason=np.where(lost, 0, -1),
        reasons=(REASON,),
        ce=~lost & ((tclass_rx & 3) == _ECN_CE),
        codec=codec_index.to_numpy(),
        codecs=names,
        target_bps=np.full(len(rows), np.nan),
    )


def _empty_table() -> pa.Table:
    none = np.empty(0, dtype=np.int64)
    return packets_table(
        call=none,
        flow=none,
        direction=none,
        seq=none,
        rtp_ts=none,
        payload_bytes=none,
        wire_bytes=none,
        dscp=none,
        dscp_received=none,
        send_s=np.empty(0),
        recv_s=np.empty(0),
        lost_at=none,
        places=(PLACE,),
        drop_reason=none,
        reasons=(REASON,),
        ce=np.empty(0, dtype=np.bool_),
        codec=none,
        codecs=(),
        target_bps=np.empty(0),
    )
