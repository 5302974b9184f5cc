"""SDP bodies, RTP payload formats and the codec each stream is given from them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voipbed.models.codecs import CODECS
from voipbed.payload_modes import AMR_NAMES, AMR_WB_NAMES, amr_mode, evs_rate, ilbc_frame_ms
from voipbed.sdp import AudioMedia, Encoding, address_key, parse_sdp
from voipbed.sdp_codecs import CodecChooser, CodecSource, CodecUnknownError, StreamMedia

AMR_SID_BITS, AMR_WB_SID_BITS = 39, 40  # RFC 4867 / TS 26.101, TS 26.201: SID frames
NO_DATA = 15


def amr_be(ft: int, frame_bits: int, *, follows: bool = False) -> bytes:
    """One bandwidth-efficient AMR payload (RFC 4867 4.3): CMR 15, one ToC entry, the frame
    (alternating bits), zero padding to an octet."""
    bits = "1111" + ("1" if follows else "0") + f"{ft:04b}" + "1"
    bits += ("10" * frame_bits)[:frame_bits]
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


def amr_oa(ft: int, frame_bits: int) -> bytes:
    """One octet-aligned AMR payload (RFC 4867 4.4): CMR octet, ToC octet, padded frame."""
    return bytes([0xF0, (ft << 3) | 0x04]) + b"\xa5" * math.ceil(frame_bits / 8)


def heads(payloads: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """What the importer gives the readers: each payload's first three octets and size."""
    head = np.array([int.from_bytes(p[:3].ljust(3, b"\0"), "big") for p in payloads])
    return head.astype(np.int64), np.array([len(p) for p in payloads], dtype=np.int64)


def media(payloads: list[bytes], *, pt: int = 96, span: int = 0) -> StreamMedia:
    head, size = heads(payloads)
    return StreamMedia(("10.0.0.2", 4000), pt, size, head, span)


def speech(names: tuple[str, ...], mode: str) -> tuple[int, int]:
    return names.index(mode), CODECS[mode].frame_bits


def test_an_offer_reads_as_its_audio_media() -> None:
    """Session-level c= unless the media has its own; rtpmap, fmtp and ptime per type;
    a video section's attributes belong to no audio media."""
    body = "\r\n".join(
        [
            "v=0",
            "c=IN IP4 10.0.0.2",
            "m=audio 4000 RTP/AVP 96 97 0",
            "a=rtpmap:96 AMR-WB/16000",
            "a=fmtp:96 octet-align=1; mode-set=0,1,2",
            "a=rtpmap:97 AMR/8000/1",
            "a=ptime:20",
            "m=video 5000 RTP/AVP 98",
            "a=rtpmap:98 H264/90000",
            "m=audio 4002 RTP/SAVP 100",
            "c=IN IP6 2001:DB8::1",
            "a=rtpmap:100 EVS/16000",
        ]
    )
    first, second = parse_sdp(body)
    assert (first.address, first.port, first.payload_types) == ("10.0.0.2", 4000, (96, 97, 0))
    assert first.encodings[96] == Encoding(
        "AMR-WB", 16000, 1, (("octet-align", "1"), ("mode-set", "0,1,2"))
    )
    assert first.encodings[97].param("mode-set") is None and first.ptime_ms == 20
    assert 98 not in first.encodings
    assert second.address == "2001:db8:0:0:0:0:0:1" == address_key("2001:db8::1")
    assert str(second.encodings[100]) == "EVS/16000"


def test_garbage_and_huge_numbers_in_an_sdp_are_left_out() -> None:
    """Lines that do not read as RFC 4566 writes them, out-of-range and enormous numbers,
    non-ASCII digits: the lines are dropped, the rest still read."""
    body = "\n".join(
        [
            "c=IN IP4 10.0.0.2",
            "m=audio 99999999999999999999 RTP/AVP 96",
            "m=audio 4000 RTP/AVP 96 200 " + "9" * 5000 + " ²",
            "a=rtpmap:" + "9" * 5000 + " AMR/8000",
            "a=rtpmap:300 AMR/8000",
            "a=rtpmap:96 AMR-WB/" + "9" * 5000,
            "a=rtpmap:96",
            "a=rtpmap:96 /8000",
            "a=fmtp:96 mode-set=" + "9" * 5000,
            "a=ptime:" + "9" * 5000,
            "a=rtpmap:96 AMR-WB/16000",
            "\x00\xff garbage",
        ]
    )
    (audio,) = parse_sdp(body)
    assert (audio.port, audio.payload_types) == (4000, (96,))
    assert audio.encodings[96] == Encoding("AMR-WB", 16000)  # the over-long fmtp left out
    assert audio.ptime_ms is None


SDP_LINE = st.tuples(
    st.sampled_from(["m=audio ", "c=IN IP4 ", "c=IN IP6 ", "a=rtpmap:", "a=fmtp:", ""]),
    st.text(max_size=40),
).map("".join)


@settings(max_examples=200, deadline=None)
@given(st.lists(SDP_LINE, max_size=12))
def test_no_sdp_body_raises(lines: list[str]) -> None:
    """Any text, lines starting as SDP lines do, parses without raising."""
    for media_ in parse_sdp("\r\n".join(lines)):
        assert 0 <= media_.port <= 65535
        assert all(0 <= pt <= 127 for pt in media_.encodings)


@pytest.mark.parametrize("wideband", [False, True])
def test_the_most_common_amr_mode_is_read_from_both_payload_formats(wideband: bool) -> None:
    """Bandwidth-efficient and octet-aligned payloads: the mode of most speech frames,
    SID and NO_DATA frames not counted even when they are the most frequent."""
    names = AMR_WB_NAMES if wideband else AMR_NAMES
    sid_ft, sid_bits = (9, AMR_WB_SID_BITS) if wideband else (8, AMR_SID_BITS)
    main, other = names[-2], names[1]
    for build, octet in ((amr_be, False), (amr_oa, True)):
        payloads = [build(*speech(names, main))] * 6 + [build(*speech(names, other))] * 3
        payloads += [build(sid_ft, sid_bits)] * 10 + [build(NO_DATA, 0)] * 10
        head, size = heads(payloads)
        read = amr_mode(head, size, wideband=wideband, octet_aligned=octet)
        assert read is not None and (read.name, read.packets, read.read) == (main, 6, 9)


def test_amr_payloads_read_in_the_wrong_format_do_not_vote() -> None:
    """Octet-aligned payloads read as bandwidth-efficient give no mode (their sizes do not
    fit), so the caller falls back to the SDP."""
    payloads = [amr_oa(*speech(AMR_WB_NAMES, "AMR-WB-12.65"))] * 20
    head, size = heads(payloads)
    assert amr_mode(head, size, wideband=True, octet_aligned=False) is None
    read = amr_mode(head, size, wideband=True, octet_aligned=True)
    assert read is not None and read.name == "AMR-WB-12.65"


def test_two_frames_in_a_packet_count_by_the_first_toc_entry() -> None:
    """A bandwidth-efficient packet whose first ToC entry says more frames follow counts
    for its first frame's mode."""
    ft, bits = speech(AMR_NAMES, "AMR-7.4")
    first = amr_be(ft, bits, follows=True)
    payload = first + bytes(20)  # the second entry and frame are not read
    head, size = heads([payload] * 5)
    read = amr_mode(head, size, wideband=False, octet_aligned=False)
    assert read is not None and read.name == "AMR-7.4"


def test_evs_rates_come_from_compact_sizes_and_header_full_tocs() -> None:
    """Compact payloads by their size (TS 26.445 Table A.1), header-full ones by their ToC
    (with or without CMR), AMR-WB IO frames as AMR-WB's rates; SID sizes not counted."""
    compact_13_2 = bytes(33)
    header_full_13_2 = bytes([0x04]) + bytes(33)  # ToC: primary, index 4 (13.2 kbit/s)
    with_cmr = bytes([0x80 | 0x7F, 0x04]) + bytes(33)
    sid = bytes(6)
    head, size = heads([compact_13_2, header_full_13_2, with_cmr] + [sid] * 10)
    read = evs_rate(head, size)
    assert read is not None and (read.bitrate_bps, read.amr_wb_io, read.read) == (13200, False, 3)
    io_12_65 = bytes(32)  # compact AMR-WB IO: 3-bit CMR and 253 bits in 32 octets
    head, size = heads([io_12_65] * 4 + [compact_13_2])
    read = evs_rate(head, size)
    assert read is not None and (read.bitrate_bps, read.amr_wb_io) == (12650, True)


def test_ilbc_mode_follows_its_frame_size() -> None:
    """Packets of 38-octet frames are 20 ms mode, of 50-octet frames 30 ms mode (RFC 3952)."""
    for sizes, name in (([38, 76, 38], "iLBC-20"), ([50, 100, 50], "iLBC-30")):
        read = ilbc_frame_ms(np.array(sizes))
        assert read is not None and read.name == name
    assert ilbc_frame_ms(np.array([0, 7])) is None


def sdp_of(pt: int, name: str, params: tuple[tuple[str, str], ...] = ()) -> list[AudioMedia]:
    return [AudioMedia("10.0.0.2", 4000, (pt,), {pt: Encoding(name, 8000, 1, params)})]


def test_the_receivers_sdp_decides_and_an_explicit_codec_overrides_it() -> None:
    """The SDP whose address and port receive the stream binds its type (a later one
    replacing an earlier); --codec wins over it; static types stay static."""
    later = [AudioMedia("10.0.0.2", 4000, (96,), {96: Encoding("PCMA", 8000)})]
    chooser = CodecChooser([sdp_of(96, "PCMU"), later, sdp_of(96, "G722")[:0]])
    choice = chooser(media([bytes(160)] * 5))
    assert (choice.codec, choice.source, choice.encoding) == ("PCMA", CodecSource.SDP, "PCMA/8000")
    forced = CodecChooser([later], option="G729")(media([bytes(160)] * 5))
    assert (forced.codec, forced.source) == ("G729", CodecSource.OPTION)
    static = CodecChooser([later], option="G729")(media([bytes(160)] * 5, pt=8))
    assert (static.codec, static.source) == ("PCMA", CodecSource.STATIC)


def test_elsewhere_the_one_encoding_every_sdp_agrees_on_is_taken() -> None:
    """A stream sent where no SDP receives takes the type's encoding when every SDP binds
    it alike, else the scenario's codec, else the import fails saying so."""
    elsewhere = StreamMedia(("192.0.2.9", 7000), 96, np.array([160] * 5), np.zeros(5, "i8"), 0)
    agree = CodecChooser([sdp_of(96, "PCMU"), sdp_of(96, "PCMU")])
    assert agree(elsewhere).codec == "PCMU"
    assert "every SDP" in agree(elsewhere).detail
    disagree = [sdp_of(96, "PCMU"), sdp_of(96, "PCMA")]
    assert CodecChooser(disagree, scenario="G722")(elsewhere).source == CodecSource.SCENARIO
    with pytest.raises(CodecUnknownError, match="dynamic and no SDP or --codec names its codec"):
        CodecChooser(disagree)(elsewhere)


def test_amr_without_readable_frames_takes_the_top_of_mode_set() -> None:
    """Payloads that read as no AMR speech: the highest mode of mode-set, or without one the
    highest mode of all, marked as a guess."""
    junk = media([bytes(3)] * 5)
    with_set = CodecChooser([sdp_of(96, "AMR", (("mode-set", "0,2,5"),))])(junk)
    assert (with_set.codec, with_set.source, with_set.guessed) == (
        AMR_NAMES[5],
        CodecSource.SDP,
        True,
    )
    assert CodecChooser([sdp_of(96, "amr")])(junk).codec == AMR_NAMES[-1]


def test_opus_takes_the_nearest_mode_by_mean_payload_bit_rate_and_says_so() -> None:
    """60-octet packets every 20 ms (960 ticks at 48 kHz) are 24 kbit/s: OPUS-WB-24, a
    choice marked as a guess that names the bit rate."""
    stream = media([bytes(60)] * 50, span=49 * 960)
    choice = CodecChooser([sdp_of(96, "opus")])(stream)
    assert (choice.codec, choice.source, choice.guessed) == (
        "OPUS-WB-24",
        CodecSource.PAYLOAD,
        True,
    )
    assert "24.0 kbit/s" in choice.detail and "nearest" in choice.detail


def test_evs_bandwidth_comes_from_bw_and_the_rate_from_the_payload() -> None:
    """bw=swb gives voipbed's super-wideband EVS; an EVS rate voipbed lacks takes the
    nearest it has."""
    stream = media([bytes(41)] * 10)  # compact 16.4 kbit/s
    choice = CodecChooser([sdp_of(96, "EVS", (("bw", "nb-swb"),))])(stream)
    assert choice.codec == "EVS-SWB-13.2" and choice.guessed
    assert CodecChooser([sdp_of(96, "EVS")])(media([bytes(61)] * 4)).codec == "EVS-WB-24.4"


def test_telephone_events_carry_no_voice_and_unknown_codecs_are_named() -> None:
    """A type bound to telephone-event gives no codec (the stream is left out); one bound
    to a codec voipbed does not model is an error naming it."""
    assert CodecChooser([sdp_of(96, "telephone-event")])(media([bytes(4)] * 5)).codec is None
    with pytest.raises(CodecUnknownError, match="SPEEX/8000"):
        CodecChooser([sdp_of(96, "SPEEX")])(media([bytes(20)] * 5))
