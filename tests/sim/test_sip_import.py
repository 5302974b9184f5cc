"""SIP in an imported capture: dialogs by Call-ID, each message an event, the set-up timed."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pyarrow.parquet as pq

from tests.unit.test_pcap_reading import rtp_ip
from voipbed.capture_import import import_captures
from voipbed.pcap_file import write_pcap

PHONE = (bytes([10, 0, 0, 2]), 5060)
PROXY = (bytes([172, 16, 0, 2]), 5060)


def udp(src: tuple[bytes, int], dst: tuple[bytes, int], payload: bytes) -> bytes:
    datagram = struct.pack(">HHHH", src[1], dst[1], 8 + len(payload), 0) + payload
    header = struct.pack(">BBHHHBBH", 0x45, 0, 20 + len(datagram), 0, 0, 64, 17, 0)
    return header + src[0] + dst[0] + datagram


def sip(first_line: str, method: str, branch: str, body: str = "") -> bytes:
    headers = [
        first_line,
        f"Via: SIP/2.0/UDP 10.0.0.2:5060;branch={branch}",
        "Call-ID: abc@10.0.0.2",
        f"CSeq: 1 {method}",
        f"Content-Length: {len(body)}",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode()


SDP = "v=0\r\nc=IN IP4 10.0.0.2\r\nm=audio 4000 RTP/AVP 0\r\n"


def test_a_dialog_is_timed_and_drawn_beside_its_media(tmp_path: Path) -> None:
    """INVITE (sent twice) with an SDP naming the RTP stream's endpoint, 100, 180 and 200 at
    1.30 s, ACK: one call, the media's; each message an event, the second INVITE a
    retransmission; set-up 1.3 s, post-dial delay 1.2 s; the report draws its ladder."""
    invite = "INVITE sip:bob@example.com SIP/2.0"
    messages = [
        (0.0, PHONE, PROXY, sip(invite, "INVITE", "z9hG4bK1", SDP)),
        (0.5, PHONE, PROXY, sip(invite, "INVITE", "z9hG4bK1", SDP)),
        (1.1, PROXY, PHONE, sip("SIP/2.0 100 Trying", "INVITE", "z9hG4bK1")),
        (1.2, PROXY, PHONE, sip("SIP/2.0 180 Ringing", "INVITE", "z9hG4bK1")),
        (1.3, PROXY, PHONE, sip("SIP/2.0 200 OK", "INVITE", "z9hG4bK1", SDP)),
        (1.31, PHONE, PROXY, sip("ACK sip:bob@example.com SIP/2.0", "ACK", "z9hG4bK2")),
    ]
    frames = [(round(t * 1e9), udp(s, d, p)) for t, s, d, p in messages]
    frames += [(round((2 + k * 0.02) * 1e9), rtp_ip(k)) for k in range(50)]
    write_pcap(tmp_path / "call.pcap", sorted(frames))
    imported = import_captures([tmp_path / "call.pcap"], tmp_path / "out", codec="PCMU")
    rows = pq.read_table(imported.run_dir / "events.parquet").to_pylist()
    sent = [
        json.loads(r["fields"]) | {"call": r["call"]} for r in rows if r["kind"] == "sip_message"
    ]
    assert [m["label"] for m in sent] == ["INVITE", "INVITE", "100", "180", "200", "ACK"]
    assert [m["retransmission"] for m in sent] == [False, True, False, False, False, False]
    assert [m["direction"] for m in sent] == [
        "uplink",
        "uplink",
        "downlink",
        "downlink",
        "downlink",
        "uplink",
    ]
    assert {m["call"] for m in sent} == {0}  # the RTP stream's call
    (setup,) = [json.loads(r["fields"]) for r in rows if r["kind"] == "call_setup"]
    assert setup["outcome"] == "answered" and setup["retransmissions"] == {"INVITE": 1}
    assert abs(setup["setup_s"] - 1.3) < 1e-6 and abs(setup["post_dial_delay_s"] - 1.2) < 1e-6
    summary = json.loads((imported.run_dir / "summary.json").read_text())
    assert summary["setup"]["answered"] == 1
    assert "Call flows" in (imported.run_dir / "report.html").read_text()
