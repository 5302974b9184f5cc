"""Reading captures: pcap and pcapng, link layers, and what cannot be read."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from voipbed.frame_fields import STATUS_NAMES, UDP, address_text, udp_fields
from voipbed.pcap_file import LINKTYPE_ETHERNET, CaptureError, read_capture, write_pcap


def rtp_ip(seq: int, *, payload: int = 20, src: bytes = bytes([10, 0, 0, 2])) -> bytes:
    """An IPv4 UDP packet holding an RTP packet (PT 0, SSRC 0x01020304)."""
    rtp = struct.pack(">BBHII", 0x80, 0, seq, seq * 160, 0x01020304) + bytes(payload)
    udp = struct.pack(">HHHH", 4000, 5004, 8 + len(rtp), 0) + rtp
    return (
        struct.pack(">BBHHHBBH", 0x45, 0xB8, 20 + len(udp), 0, 0, 64, 17, 0)
        + src
        + bytes([172, 16, 0, 2])
        + udp
    )


def _pcapng(frames: list[tuple[int, bytes]], *, linktype: int = 101) -> bytes:
    """A pcapng file: a section, one interface with nanosecond stamps, a block per frame."""
    shb_body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
    blocks = [struct.pack("<II", 0x0A0D0D0A, 12 + len(shb_body)) + shb_body]
    blocks[-1] += struct.pack("<I", 12 + len(shb_body))
    options = struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0)  # if_tsresol 10^-9
    idb_body = struct.pack("<HHI", linktype, 0, 0) + options
    blocks.append(
        struct.pack("<II", 1, 12 + len(idb_body)) + idb_body + struct.pack("<I", 12 + len(idb_body))
    )
    for time_ns, frame in frames:
        padded = frame + bytes(-len(frame) % 4)
        body = struct.pack("<IIIII", 0, time_ns >> 32, time_ns & 0xFFFFFFFF, len(frame), len(frame))
        body += padded
        blocks.append(
            struct.pack("<II", 6, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
        )
    return b"".join(blocks)


def test_pcap_and_pcapng_give_the_same_frames_and_times(tmp_path: Path) -> None:
    """A nanosecond pcap and a pcapng with if_tsresol 9 read back the same bytes and times."""
    frames = [(1_000_000_007 + k * 20_000_001, rtp_ip(k)) for k in range(5)]
    write_pcap(tmp_path / "a.pcap", frames)
    (tmp_path / "a.pcapng").write_bytes(_pcapng(frames))
    for name in ("a.pcap", "a.pcapng"):
        capture = read_capture(tmp_path / name)
        assert capture.time_ns.tolist() == [t for t, _ in frames]
        assert [capture.frame(k) for k in range(5)] == [f for _, f in frames]
        assert capture.skipped == {}


def test_link_layers_reach_the_same_datagram(tmp_path: Path) -> None:
    """Ethernet, 802.1Q-tagged Ethernet and Linux SLL frames all give the RTP header."""
    ip = rtp_ip(7)
    ethernet = bytes(12) + b"\x08\x00" + ip
    tagged = bytes(12) + b"\x81\x00\x00\x05\x08\x00" + ip
    for linktype, frame in (
        (LINKTYPE_ETHERNET, ethernet),
        (LINKTYPE_ETHERNET, tagged),
        (113, bytes(14) + b"\x08\x00" + ip),
    ):
        write_pcap(tmp_path / "l.pcap", [(0, frame)], linktype=linktype)
        fields = udp_fields(read_capture(tmp_path / "l.pcap"))
        assert fields.status[0] == UDP
        assert (fields.rtp_seq[0], fields.rtp_ssrc[0], fields.tclass[0]) == (7, 0x01020304, 0xB8)
        assert address_text(fields.src[0], 4) == "10.0.0.2"
        assert fields.rtp_payload_bytes[0] == 20


def test_what_is_not_a_whole_udp_datagram_is_named(tmp_path: Path) -> None:
    """TCP, a fragment and a cut packet are told apart; a record cut at the end is counted
    and the frames before it kept."""
    tcp = bytearray(rtp_ip(1))
    tcp[9] = 6
    fragment = bytearray(rtp_ip(2))
    fragment[6:8] = b"\x20\x00"  # more fragments
    cut = rtp_ip(3)[:30]
    write_pcap(
        tmp_path / "m.pcap", [(0, rtp_ip(0)), (1, bytes(tcp)), (2, bytes(fragment)), (3, cut)]
    )
    data = (tmp_path / "m.pcap").read_bytes()
    (tmp_path / "m.pcap").write_bytes(data + struct.pack("<IIII", 0, 4, 100, 100) + bytes(10))
    capture = read_capture(tmp_path / "m.pcap")
    assert len(capture) == 4 and capture.skipped == {"record cut short at the end of the file": 1}
    names = [STATUS_NAMES[code] for code in udp_fields(capture).status.tolist()]
    assert names == ["udp", "not UDP", "IP fragment (not reassembled)", "truncated"]


def test_a_file_that_is_no_capture_is_an_error(tmp_path: Path) -> None:
    """Text with a capture's name is refused with what its first bytes are."""
    (tmp_path / "x.pcap").write_text("hello, not a capture")
    with pytest.raises(CaptureError, match="not a pcap or pcapng"):
        read_capture(tmp_path / "x.pcap")


def test_a_corrupt_record_length_stops_reading_there(tmp_path: Path) -> None:
    """An impossible record length keeps what came before and says why the rest is unread."""
    write_pcap(tmp_path / "c.pcap", [(0, rtp_ip(0)), (1, rtp_ip(1))])
    data = bytearray((tmp_path / "c.pcap").read_bytes())
    second = 24 + 16 + len(rtp_ip(0))
    data[second + 8 : second + 12] = struct.pack("<I", 10_000_000)
    (tmp_path / "c.pcap").write_bytes(bytes(data))
    capture = read_capture(tmp_path / "c.pcap")
    assert len(capture) == 1
    assert list(capture.skipped) == ["impossible record length (corrupt file): the rest is unread"]
    assert np.array_equal(capture.time_ns, [0])
