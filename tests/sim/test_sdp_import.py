"""Codecs of dynamic payload types told by the SDP in the same capture, their modes by the
RTP payloads, as ``voipbed import`` records them."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tests.sim.test_sip_import import udp
from tests.unit.test_sdp_codecs import AMR_SID_BITS, NO_DATA, amr_be, amr_oa
from voipbed.capture_import import import_captures
from voipbed.cli import main
from voipbed.models.codecs import CODECS
from voipbed.payload_modes import AMR_NAMES, AMR_WB_NAMES
from voipbed.pcap_file import write_pcap

Endpoint = tuple[bytes, int]
PHONE_A, PHONE_B = (bytes([10, 0, 0, 2]), 4000), (bytes([10, 0, 0, 3]), 4002)
FAR_A, FAR_B = (bytes([172, 16, 0, 2]), 5004), (bytes([172, 16, 0, 2]), 5006)
PROXY = (bytes([172, 16, 0, 9]), 5060)


def text(endpoint: Endpoint) -> str:
    return ".".join(str(b) for b in endpoint[0])


def sdp(endpoint: Endpoint, pt: int, rtpmap: str, fmtp: str = "") -> str:
    lines = [
        "v=0",
        f"o=- 1 1 IN IP4 {text(endpoint)}",
        "s=-",
        f"c=IN IP4 {text(endpoint)}",
        "t=0 0",
        f"m=audio {endpoint[1]} RTP/AVP {pt} 101",
        f"a=rtpmap:{pt} {rtpmap}",
        "a=rtpmap:101 telephone-event/8000",
    ]
    lines += [f"a=fmtp:{pt} {fmtp}"] if fmtp else []
    return "\r\n".join([*lines, "a=ptime:20", ""])


def sip(first_line: str, call_id: str, cseq: str, body: str = "") -> bytes:
    headers = [
        first_line,
        f"Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-{call_id}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq}",
        f"Content-Type: application/sdp\r\nContent-Length: {len(body)}",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode()


def offer_answer(
    call_id: str, phone: Endpoint, far: Endpoint, offer: str, answer: str, at_s: float
) -> list[tuple[int, bytes]]:
    """INVITE with the phone's SDP, 200 with the far end's, ACK."""
    signalling = (bytes(phone[0]), 5060)
    messages = [
        (signalling, PROXY, sip("INVITE sip:b@x SIP/2.0", call_id, "1 INVITE", offer)),
        (PROXY, signalling, sip("SIP/2.0 200 OK", call_id, "1 INVITE", answer)),
        (signalling, PROXY, sip("ACK sip:b@x SIP/2.0", call_id, "1 ACK")),
    ]
    return [(round((at_s + 0.1 * k) * 1e9), udp(*m)) for k, m in enumerate(messages)]


def rtp_stream(
    src: Endpoint, dst: Endpoint, pt: int, payloads: list[bytes], ssrc: int, clock_hz: int
) -> list[tuple[int, bytes]]:
    """One RTP packet per payload every 20 ms from 2 s on (the phones' a little earlier, so
    that theirs are the uplinks)."""
    start_s = 2.0 if src[0].startswith(b"\x0a") else 2.005
    frames = []
    for k, payload in enumerate(payloads):
        header = struct.pack(">BBHII", 0x80, pt, k, k * clock_hz // 50, ssrc)
        frames.append((round((start_s + 0.02 * k) * 1e9), udp(src, dst, header + payload)))
    return frames


def amr_payloads(
    build: Any, names: tuple[str, ...], mode: str, *, sid_ft: int, sid_bits: int
) -> list[bytes]:
    """40 frames of ``mode``, 10 of the next lower mode, SID and NO_DATA frames."""
    ft = names.index(mode)
    speech = [build(ft, CODECS[mode].frame_bits)] * 40
    other = [build(ft - 1, CODECS[names[ft - 1]].frame_bits)] * 10
    silence = [build(sid_ft, sid_bits), build(NO_DATA, 0)] * 15
    return speech[:20] + silence + other + speech[20:]


WB = {"sid_ft": 9, "sid_bits": 40}
NB = {"sid_ft": 8, "sid_bits": AMR_SID_BITS}


def wb_call() -> list[tuple[int, bytes]]:
    """An AMR-WB call on payload type 96, octet-aligned: 12.65 kbit/s up, 23.85 down."""
    wb, oa = "AMR-WB/16000/1", "octet-align=1; mode-set=0,1,2,8"
    frames = offer_answer("wb", PHONE_A, FAR_A, sdp(PHONE_A, 96, wb, oa), sdp(FAR_A, 96, wb, oa), 0)
    up = amr_payloads(amr_oa, AMR_WB_NAMES, "AMR-WB-12.65", **WB)
    down = amr_payloads(amr_oa, AMR_WB_NAMES, "AMR-WB-23.85", **WB)
    frames += rtp_stream(PHONE_A, FAR_A, 96, up, 1, 16000)
    return frames + rtp_stream(FAR_A, PHONE_A, 96, down, 2, 16000)


def two_calls() -> list[tuple[int, bytes]]:
    """``wb_call`` and an AMR call on 97, bandwidth-efficient: 12.2 kbit/s up, 7.4 down."""
    nb = "AMR/8000/1"
    frames = offer_answer("nb", PHONE_B, FAR_B, sdp(PHONE_B, 97, nb), sdp(FAR_B, 97, nb), 0.5)
    up = amr_payloads(amr_be, AMR_NAMES, "AMR-12.2", **NB)
    down = amr_payloads(amr_be, AMR_NAMES, "AMR-7.4", **NB)
    frames += rtp_stream(PHONE_B, FAR_B, 97, up, 3, 8000)
    frames += rtp_stream(FAR_B, PHONE_B, 97, down, 4, 8000)
    return sorted(frames + wb_call())


def chosen(run_dir: Path) -> dict[int, dict[str, Any]]:
    """The manifest's codec record of each stream, by SSRC."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return {c["ssrc"]: c for c in manifest["stream_codecs"]}


def test_amr_modes_come_from_the_payloads_the_sdp_describes(tmp_path: Path) -> None:
    """AMR-WB on 96 (octet-aligned) and AMR on 97 (bandwidth-efficient): each stream takes
    the mode most of its speech frames carry, recorded as read from the payload, and its
    packets carry that codec."""
    write_pcap(tmp_path / "calls.pcap", two_calls())
    imported = import_captures([tmp_path / "calls.pcap"], tmp_path / "out")
    codecs = chosen(imported.run_dir)
    assert {s: c["codec"] for s, c in codecs.items()} == {
        1: "AMR-WB-12.65",
        2: "AMR-WB-23.85",
        3: "AMR-12.2",
        4: "AMR-7.4",
    }
    assert {c["source"] for c in codecs.values()} == {"payload"}
    assert codecs[2]["encoding"] == "AMR-WB/16000" and codecs[2]["receiver"] == ["10.0.0.2", 4000]
    assert "octet-aligned" in codecs[2]["detail"] and "bandwidth-efficient" in codecs[3]["detail"]
    packets = pq.read_table(imported.run_dir / "packets.parquet").to_pandas()
    by_flow = packets.groupby("flow")["codec"].agg(lambda c: set(c.astype(str)))
    for record in codecs.values():
        assert by_flow[record["flow"]] == {record["codec"]}
    assert imported.streams.calls == 2


def test_codecs_of_different_clocks_each_play_on_their_own_clock(tmp_path: Path) -> None:
    """AMR at 8 kHz beside AMR-WB at 16 kHz, nothing lost and no jitter: every flow plays
    every packet (none late on a clock it does not run at), each as well as its call
    imported alone."""
    write_pcap(tmp_path / "calls.pcap", two_calls())
    write_pcap(tmp_path / "wb.pcap", wb_call())
    both = import_captures([tmp_path / "calls.pcap"], tmp_path / "both")
    alone = import_captures([tmp_path / "wb.pcap"], tmp_path / "alone")
    mixed = pq.read_table(both.run_dir / "metrics.parquet").to_pandas()
    single = pq.read_table(alone.run_dir / "metrics.parquet").to_pandas()
    assert (mixed["late_percent"] == 0).all()
    wideband_flows = [c["flow"] for c in chosen(both.run_dir).values() if c["ssrc"] in (1, 2)]
    wideband = mixed[mixed["flow"].isin(wideband_flows)]
    assert sorted(wideband["mos"].round(3)) == sorted(single["mos"].round(3))


def test_the_receivers_sdp_binds_the_type_each_way(tmp_path: Path) -> None:
    """The phone's SDP binds 96 to AMR-WB, the far end's to AMR (RFC 3264 lets each side
    number what it receives): each stream is read as its receiver's SDP says."""
    wb = amr_payloads(amr_be, AMR_WB_NAMES, "AMR-WB-8.85", **WB)
    nb = amr_payloads(amr_be, AMR_NAMES, "AMR-5.9", **NB)
    frames = offer_answer(
        "x", PHONE_A, FAR_A, sdp(PHONE_A, 96, "AMR-WB/16000"), sdp(FAR_A, 96, "AMR/8000"), 0
    )
    frames += rtp_stream(FAR_A, PHONE_A, 96, wb, 7, 16000) + rtp_stream(
        PHONE_A, FAR_A, 96, nb, 8, 8000
    )
    write_pcap(tmp_path / "x.pcap", sorted(frames))
    codecs = chosen(import_captures([tmp_path / "x.pcap"], tmp_path / "out").run_dir)
    assert (codecs[7]["codec"], codecs[8]["codec"]) == ("AMR-WB-8.85", "AMR-5.9")
    assert "the SDP of its receiver, 10.0.0.2:4000" in codecs[7]["detail"]


def test_an_explicit_codec_overrides_the_sdp(tmp_path: Path) -> None:
    """--codec names every dynamic stream's codec whatever the SDP says, recorded as the
    option's."""
    write_pcap(tmp_path / "calls.pcap", sorted(wb_call()))
    imported = import_captures([tmp_path / "calls.pcap"], tmp_path / "out", codec="AMR-WB-6.6")
    codecs = chosen(imported.run_dir)
    assert {(c["codec"], c["source"]) for c in codecs.values()} == {("AMR-WB-6.6", "option")}


def test_a_stream_no_sdp_describes_is_refused_clearly(tmp_path: Path) -> None:
    """A stream on a dynamic type that neither SDP binds, no --codec: exit 2 naming the type
    and the stream, no traceback."""
    frames = two_calls()
    stray = amr_payloads(amr_be, AMR_NAMES, "AMR-12.2", **NB)
    frames += rtp_stream(
        (bytes([10, 0, 0, 7]), 6000), (bytes([10, 0, 0, 8]), 6002), 98, stray, 9, 8000
    )
    write_pcap(tmp_path / "stray.pcap", sorted(frames))
    result = CliRunner().invoke(
        main, ["import", str(tmp_path / "stray.pcap"), "--out", str(tmp_path)]
    )
    assert result.exit_code == 2, result.output
    assert "RTP payload type 98 is dynamic and no SDP or --codec names its codec" in result.output
    assert "10.0.0.8:6002" in result.output and "Traceback" not in result.output


HOSTILE = "\r\n".join(
    [
        "v=0",
        "c=IN IP4 10.0.0.2",
        "m=audio 99999999999999999999999 RTP/AVP 96",
        "m=audio 4000 RTP/AVP 96 " + "7" * 6000,
        "a=rtpmap:" + "9" * 6000 + " AMR-WB/16000",
        "a=rtpmap:96 AMR-WB/" + "1" * 6000,
        "a=fmtp:96 mode-set=" + ",".join(["99999999999999"] * 50) + ";octet-align=²",
        "a=rtpmap:96 \x00\x01\x02/\xff",
        "a=rtpmap:96 AMR-WB/16000",
        "",
    ]
)


@pytest.mark.parametrize("cseq", ["1 INVITE", "9" * 6000 + " INVITE", "² INVITE"])
def test_hostile_sip_and_sdp_give_no_traceback(tmp_path: Path, cseq: str) -> None:
    """Garbage rtpmap lines, enormous numbers and non-ASCII digits in the SIP and its SDP:
    the lines that read are used, the rest ignored; the import ends with exit 0 or 2."""
    signalling = (PHONE_A[0], 5060)
    frames = [(0, udp(signalling, PROXY, sip("INVITE sip:b@x SIP/2.0", "h", cseq, HOSTILE)))]
    frames += rtp_stream(
        FAR_A, PHONE_A, 96, amr_payloads(amr_be, AMR_WB_NAMES, "AMR-WB-12.65", **WB), 5, 16000
    )
    write_pcap(tmp_path / "h.pcap", sorted(frames))
    result = CliRunner().invoke(main, ["import", str(tmp_path / "h.pcap"), "--out", str(tmp_path)])
    assert result.exit_code in (0, 2), result.output  # an uncaught exception exits 1
    assert "Traceback" not in result.output
    if cseq == "1 INVITE":  # a message that reads: its one good rtpmap tells the codec
        assert result.exit_code == 0, result.output
        run = next(p for p in tmp_path.iterdir() if p.is_dir())
        assert chosen(run)[5]["codec"] == "AMR-WB-12.65"


def test_two_captures_and_a_telephone_event_stream(tmp_path: Path) -> None:
    """Both ends' captures of the AMR-WB call, each stream's codec told once per flow; a
    stream of telephone events alone, bound to telephone-event by the SDP, is left out and
    counted."""
    events = rtp_stream(PHONE_A, FAR_A, 101, [bytes(4)] * 20, 11, 8000)
    ue = sorted(wb_call() + events)
    far = [(time_ns + 30_000_000, frame) for time_ns, frame in ue]
    write_pcap(tmp_path / "ue.pcap", ue)
    write_pcap(tmp_path / "far.pcap", far)
    imported = import_captures([tmp_path / "ue.pcap", tmp_path / "far.pcap"], tmp_path / "out")
    codecs = chosen(imported.run_dir)
    assert {s: c["codec"] for s, c in codecs.items()} == {1: "AMR-WB-12.65", 2: "AMR-WB-23.85"}
    skipped = imported.streams.skipped
    assert skipped["packets of streams that carry no voice (telephone-event, comfort noise)"] == 40
