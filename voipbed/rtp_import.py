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
  from its stream's first packet. A stream's packets of payload types other than
  its most frequent one (RFC 4733 telephone events, comfort noise) are left out
  once matched, and counted.
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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from voipbed.frame_fields import STATUS_NAMES, UDP, UdpFields, address_text
from voipbed.models.codecs import CODECS
from voipbed.pcap_file import Capture
from voipbed.trace import packets_table

__all__ = ["MIN_PACKETS", "PLACE", "REASON", "ImportedStreams", "rtp_packets"]

MIN_PACKETS = 5
PLACE = "network"  # where an imported packet was lost: somewhere between the captures
REASON = "unseen"  # why: it was not seen at the receiving end
_RTCP_TYPES = range(72, 77)
_ECN_CE = 3


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


def rtp_packets(
    captures: Sequence[tuple[Capture, UdpFields]], *, codec_for_type: Mapping[int, str]
) -> ImportedStreams:
    """The RTP streams of ``captures`` (one, or one per end: the phones' first) as a
    packets table; ``codec_for_type`` names the codec of each dynamic payload type."""
    frames = [_candidates(k, capture, fields) for k, (capture, fields) in enumerate(captures)]
    table = pd.concat(frames, ignore_index=True)
    skipped = _skipped(captures)
    origin_ns = _origin(captures)
    table["time_s"] = (table["time_ns"] - origin_ns) / 1e9
    streams = _streams(table)
    kept = streams[streams["kept"]]
    skipped["datagrams in no RTP stream"] = int(len(table) - kept["packets"].sum())
    packets = table.merge(kept[["stream"]], on="stream")
    if packets.empty:
        return ImportedStreams(_empty_table(), (), 0, 0, skipped, origin_ns)
    packets = _unwrapped(packets)
    codecs = _codecs(packets, codec_for_type)
    two_ends = len(captures) > 1
    rows = _matched(packets) if two_ends else _received_here(packets, codecs)
    rows, others = _main_type_only(rows)
    if others:
        skipped["packets of a stream's other payload types (e.g. telephone-event)"] = others
    rows, calls = _calls(rows, two_ends=two_ends)
    names = tuple(sorted(set(codecs.values())))
    return ImportedStreams(
        _table(rows, codecs, names),
        names,
        int(rows["flow"].nunique()),
        calls,
        skipped,
        origin_ns,
        _endpoints(rows),
    )


def _endpoints(rows: pd.DataFrame) -> dict[tuple[str, int], int]:
    """Each RTP endpoint (address as text, port) and its call."""
    ends: dict[tuple[str, int], int] = {}
    for side, port in (("src", "sport"), ("dst", "dport")):
        unique = rows[["ipv", f"{side}_hi", f"{side}_lo", port, "call"]].drop_duplicates()
        for ipv, hi, lo, number, call in unique.itertuples(index=False):
            raw = np.array([hi, lo], dtype=">i8").view(np.uint8)
            ends[(address_text(raw, int(ipv)), int(number))] = int(call)
    return ends


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
        }
    )


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


def _origin(captures: Sequence[tuple[Capture, UdpFields]]) -> int:
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


def _codecs(packets: pd.DataFrame, codec_for_type: Mapping[int, str]) -> dict[int, str]:
    """The codec of each payload type the streams carry."""
    static = {codec.rtp_payload_type: name for name, codec in CODECS.items()}
    codecs: dict[int, str] = {}
    for pt in sorted(set(packets["pt"].tolist())):
        name = codec_for_type.get(pt) or (static.get(pt) if pt < 96 else None)
        if name is None:
            raise ValueError(
                f"RTP payload type {pt} is dynamic and no SDP or --codec names its codec"
            )
        codecs[pt] = name
    return codecs


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
    clock = rows["pt"].map({pt: CODECS[name].rtp_clock_hz for pt, name in codecs.items()})
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
    pieces = []
    for _, stream in got.groupby("stream", sort=False):
        seq = stream["seq"].to_numpy()
        full = np.arange(seq[0], seq[-1] + 1)
        if full.size == seq.size:
            pieces.append(stream)
            continue
        filled = stream.set_index("seq").reindex(full)
        filled["rtp_ts"] = np.round(np.interp(full, seq, stream["rtp_ts"].to_numpy()))
        missing = filled["recv_s"].isna()
        keep = ["recv_s", "time_s", "tclass_rx"]
        rest = [c for c in filled.columns if c not in (*keep, "rtp_ts")]
        filled[rest] = filled[rest].ffill()
        filled.loc[missing, "tclass_rx"] = -1
        pieces.append(filled.reset_index(names="seq"))
    rows = pd.concat(pieces, ignore_index=True)
    for column in ("rtp_ts", "pt", "tclass", "tclass_rx", "ip_bytes", "payload", "ssrc"):
        rows[column] = rows[column].astype(np.int64)
    return rows


def _main_type_only(rows: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Each stream's packets of its most frequent payload type (its voice), and how many of
    other types were left out: RFC 4733 telephone events and comfort noise share a voice
    stream's SSRC and sequence numbers (which is why a one-end capture counts its gaps
    before they go)."""
    main = rows.groupby("ssrc")["pt"].agg(lambda types: types.mode().iloc[0])
    keep = rows["pt"].to_numpy() == rows["ssrc"].map(main).to_numpy()
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
    rows = rows.sort_values(["direction", "flow", "seq"], kind="stable")
    lost = rows["recv_s"].isna().to_numpy()
    tclass_rx = rows["tclass_rx"].to_numpy()
    codec_index = rows["pt"].map({pt: names.index(name) for pt, name in codecs.items()})
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
