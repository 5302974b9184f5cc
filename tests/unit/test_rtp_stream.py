"""The light sender's RTP packets and pacing, and its G.711 payloads."""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray

from voipbed.emulation.g711_payload import g711_frames
from voipbed.emulation.rtp_stream import RTP_HEADER_BYTES, Pacer, RtpSender, rtp_header
from voipbed.models.codecs import codec
from voipbed.models.degrade import alaw_decode, ulaw_decode


def _fields(packet: bytes) -> tuple[int, int, bool, int, int, int]:
    """Version, payload type, marker, sequence number, timestamp, SSRC of an RTP packet."""
    first, second, seq, stamp, ssrc = struct.unpack("!BBHII", packet[:RTP_HEADER_BYTES])
    return first >> 6, second & 0x7F, bool(second & 0x80), seq, stamp, ssrc


def test_the_header_carries_version_2_and_the_fields_given() -> None:
    """rtp_header packs RFC 3550's fixed header: version 2, PT, marker, seq, ts, SSRC."""
    header = rtp_header(8, 513, 123_456, 0xDEADBEEF, marker=True)
    assert len(header) == RTP_HEADER_BYTES
    assert _fields(header) == (2, 8, True, 513, 123_456, 0xDEADBEEF)


def test_a_payload_type_beyond_7_bits_is_refused() -> None:
    """RTP's payload type field holds 0..127."""
    with pytest.raises(ValueError, match="payload type"):
        rtp_header(128, 0, 0, 1)


def test_the_sender_counts_up_and_wraps_from_its_starting_values() -> None:
    """Sequence +1 and timestamp + the packet's samples each packet, both wrapping; the
    marker on the first packet only; the payloads played in a loop."""
    frames = [bytes([k]) * 160 for k in range(3)]
    sender = RtpSender(0, 77, 65_534, (1 << 32) - 160, ticks_per_packet=160, frames=frames)
    packets = [sender.next_packet() for _ in range(5)]
    fields = [_fields(packet) for packet in packets]
    assert [f[3] for f in fields] == [65_534, 65_535, 0, 1, 2]
    assert [f[4] for f in fields] == [(1 << 32) - 160, 0, 160, 320, 480]
    assert [f[2] for f in fields] == [True, False, False, False, False]
    assert {f[5] for f in fields} == {77}
    assert [p[RTP_HEADER_BYTES] for p in packets] == [0, 1, 2, 0, 1]
    assert sender.sent == 5


def test_each_stream_is_due_every_period_from_its_own_start() -> None:
    """Two streams started 7 ms apart are each due every 20 ms from their own start."""
    pacer = Pacer(0.020)
    pacer.add(1, 0.000)
    pacer.add(2, 0.007)
    seen: dict[int, list[float]] = {1: [], 2: []}
    now = 0.0
    while now < 0.1:
        for stream, planned in pacer.due(now):
            seen[stream].append(planned)
        now += 0.001
    assert np.allclose(seen[1], [0.0, 0.02, 0.04, 0.06, 0.08])
    assert np.allclose(seen[2], [0.007, 0.027, 0.047, 0.067, 0.087])


def test_a_late_stream_is_due_once_per_period_missed_then_back_on_schedule() -> None:
    """Asked 50 ms late, a 20 ms stream is due three times (0, 20, 40 ms), next at 60 ms."""
    pacer = Pacer(0.020)
    pacer.add(5, 0.0)
    assert pacer.due(0.050) == [(5, 0.0), (5, 0.020), (5, 0.040)]
    assert pacer.next_s() == pytest.approx(0.060)


def test_a_removed_stream_is_never_due_again() -> None:
    """After remove() a stream is not due, and the pacer has nothing scheduled."""
    pacer = Pacer(0.020)
    pacer.add(3, 0.0)
    pacer.due(0.0)
    pacer.remove(3)
    assert 3 not in pacer and len(pacer) == 0
    assert pacer.due(1.0) == []
    assert pacer.next_s() is None


def test_a_stream_added_twice_at_one_instant_is_sent_once() -> None:
    """Scheduling a stream again replaces its schedule: one packet per instant."""
    pacer = Pacer(0.020)
    pacer.add(4, 0.0)
    pacer.add(4, 0.0)
    assert pacer.due(0.0) == [(4, 0.0)]


@pytest.mark.parametrize(("name", "decode"), [("PCMU", ulaw_decode), ("PCMA", alaw_decode)])
def test_g711_frames_are_the_speech_companded_one_packet_each(
    name: str, decode: Callable[[NDArray[np.uint8]], NDArray[np.int16]]
) -> None:
    """Each payload is a packet's worth of samples; decoded they give the speech back
    within G.711's quantization."""
    t = np.arange(8000) / 8000.0
    speech = 0.5 * np.sin(2 * np.pi * 440.0 * t)
    frames = g711_frames(speech, name, 0.020)
    assert len(frames) == 50
    assert {len(f) for f in frames} == {codec(name).payload_bytes(0.020)}
    codes = np.frombuffer(b"".join(frames), dtype=np.uint8)
    decoded = decode(codes) / 32768.0
    assert np.max(np.abs(decoded - speech)) < 0.02


def test_codecs_other_than_g711_are_refused_with_the_fact() -> None:
    """g711_frames names what G.711 is when asked for another codec."""
    with pytest.raises(ValueError, match="PCMU and PCMA"):
        g711_frames(np.zeros(800), "G722", 0.020)
