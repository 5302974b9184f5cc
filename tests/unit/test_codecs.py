"""Codec facts: timing, payload sizes with payload-format headers, DTX, Ie and Bpl with sources."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voipbed.models.codecs import (
    CODECS,
    Bandwidth,
    Basis,
    Codec,
    PayloadFormat,
    codec,
)
from voipbed.models.overhead import wire_bytes

ALL = sorted(CODECS)
PACKETIZATIONS = [(name, p) for name in ALL for p in CODECS[name].ptimes_s]


@pytest.mark.parametrize("name,payload_type", [("PCMU", 0), ("PCMA", 8)])
def test_g711_facts(name: str, payload_type: int) -> None:
    """G.711 at 20 ms: 160 payload bytes, 160 RTP ticks, Ie 0, Bpl 4.3 / 25.1 (G.113 App. I)."""
    g711 = codec(name)
    assert g711.rtp_payload_type == payload_type
    assert g711.payload_bytes(0.020) == 160
    assert g711.rtp_ticks(0.020) == 160
    assert g711.ie == 0.0
    assert g711.bpl(concealment=False) == 4.3
    assert g711.bpl(concealment=True) == 25.1


def test_g711_packet_is_200_bytes_on_the_wire() -> None:
    """160 bytes of G.711 + RTP 12 + UDP 8 + IPv4 20 = 200 bytes: 80 kbit/s at 50 packets/s."""
    assert wire_bytes(codec("PCMU").payload_bytes(0.020)) == 200


def test_unknown_codec_names_the_known_ones() -> None:
    """Asking for a codec that does not exist says which do."""
    with pytest.raises(ValueError, match="PCMA, PCMU"):
        codec("G.729")
    with pytest.raises(ValueError, match=r"AMR-WB-12\.65"):
        codec("AMR-WB")


def test_every_family_and_mode_is_there() -> None:
    """G.711, G.722, G.729, all 8 AMR and 9 AMR-WB modes, EVS WB/SWB, Opus NB/WB/FB and iLBC."""
    amr = {f"AMR-{m}" for m in ("4.75", "5.15", "5.9", "6.7", "7.4", "7.95", "10.2", "12.2")}
    amr_wb = {
        f"AMR-WB-{m}"
        for m in ("6.6", "8.85", "12.65", "14.25", "15.85", "18.25", "19.85", "23.05", "23.85")
    }
    evs = {f"EVS-{b}-{r}" for b in ("WB", "SWB") for r in ("9.6", "13.2", "24.4")}
    assert {"PCMU", "PCMA", "G722", "G729", "iLBC-20", "iLBC-30"} | amr | amr_wb | evs <= set(
        CODECS
    )
    assert {"OPUS-NB-12", "OPUS-WB-24", "OPUS-FB-32"} <= set(CODECS)
    assert all(CODECS[name].name == name for name in CODECS)


@pytest.mark.parametrize("name,ptime_s", PACKETIZATIONS)
def test_payload_rate_is_the_bitrate_plus_payload_headers(name: str, ptime_s: float) -> None:
    """Payload bits = codec bits + payload-format header + under one octet of padding per frame."""
    c = codec(name)
    codec_bits = c.bitrate_bps * ptime_s
    extra_bits = c.payload_bytes(ptime_s) * 8 - codec_bits - c.payload_header_bits(ptime_s)
    assert -1e-6 <= extra_bits < 8 * c.frames(ptime_s)
    rate_bps = c.payload_bytes(ptime_s) * 8 / ptime_s
    assert rate_bps >= c.bitrate_bps - 1e-6


def test_payload_headers_follow_the_rfcs() -> None:
    """AMR BE adds 4 + 6 bits/frame, AMR OA 1 + 1 octet/frame, EVS compact nothing for one frame."""
    amr = codec("AMR-12.2")  # 244-bit frames
    assert amr.payload_format is PayloadFormat.AMR_BANDWIDTH_EFFICIENT
    assert amr.payload_bytes(0.020) == 32  # ceil((4 + 6 + 244) / 8)
    assert amr.payload_bytes(0.040) == 63  # ceil((4 + 2 * (6 + 244)) / 8)
    octet = dataclasses.replace(amr, payload_format=PayloadFormat.AMR_OCTET_ALIGNED)
    assert octet.payload_bytes(0.020) == 33  # CMR + ToC + 31 octets
    assert octet.payload_bytes(0.040) == 65  # CMR + 2 x (ToC + 31)
    assert codec("AMR-WB-12.65").payload_bytes(0.020) == 33  # ceil((4 + 6 + 253) / 8)
    evs = codec("EVS-WB-13.2")  # 264-bit frames
    assert evs.payload_bytes(0.020) == 33  # compact: the frame alone
    assert evs.payload_bytes(0.040) == 68  # header-full: 2 x (ToC + 33)
    assert codec("G729").payload_bytes(0.020) == 20
    assert codec("iLBC-20").payload_bytes(0.020) == 38  # RFC 3952: 304 bits
    assert codec("iLBC-30").payload_bytes(0.030) == 50  # 400 bits
    assert codec("OPUS-WB-24").payload_bytes(0.020) == 60


def test_rtp_clocks_follow_the_payload_formats() -> None:
    """RTP ticks per 20 ms: G.722 160 (RFC 3551), AMR-WB and EVS 320, Opus 960 (RFC 7587)."""
    assert codec("G722").rtp_ticks(0.020) == 160
    assert codec("AMR-7.4").rtp_ticks(0.020) == 160
    assert codec("AMR-WB-23.85").rtp_ticks(0.020) == 320
    assert codec("EVS-SWB-24.4").rtp_ticks(0.020) == 320
    assert codec("OPUS-NB-12").rtp_ticks(0.020) == 960
    assert codec("OPUS-FB-64").rtp_ticks(0.060) == 2880


@pytest.mark.parametrize("name", ALL)
def test_allows_only_whole_frames_from_the_list(name: str) -> None:
    """``allows`` accepts the listed ptimes and rejects 1.5 frames and unlisted multiples."""
    c = codec(name)
    assert all(c.allows(p) for p in c.ptimes_s)
    assert not c.allows(1.5 * c.frame_s)
    assert not c.allows(max(c.ptimes_s) + c.frame_s)
    assert not c.allows(0.0)
    assert not c.allows(-c.frame_s)


def test_a_fraction_of_a_frame_has_no_payload_size() -> None:
    """Asking for the payload of 30 ms of a 20 ms codec raises and says why."""
    with pytest.raises(ValueError, match=r"not a whole number of AMR-12\.2 frames of 20 ms"):
        codec("AMR-12.2").payload_bytes(0.030)
    assert not codec("AMR-12.2").allows(0.030)
    assert not codec("G729").allows(0.015)


@pytest.mark.parametrize("name", ALL)
def test_bandwidth_class_matches_the_sample_rate(name: str) -> None:
    """Narrowband codecs sample at 8 kHz, wideband 16, super-wideband 32, fullband 48."""
    c = codec(name)
    assert c.sample_rate_hz == c.bandwidth.sample_rate_hz


def test_each_bandwidth_class_names_its_e_model() -> None:
    """Ie is on G.107 for narrowband, G.107.1 for wideband, G.107.2 above."""
    assert Bandwidth.NARROW.emodel == "G.107"
    assert Bandwidth.WIDE.emodel == "G.107.1"
    assert Bandwidth.SUPER_WIDE.emodel == Bandwidth.FULL.emodel == "G.107.2"
    assert codec("EVS-SWB-13.2").bandwidth is Bandwidth.SUPER_WIDE
    assert codec("OPUS-FB-32").bandwidth is Bandwidth.FULL


@pytest.mark.parametrize("name", ALL)
def test_ie_and_bpl_are_present_positive_and_sourced(name: str) -> None:
    """Ie >= 0, Bpl > 0 wherever defined, and both carry a non-empty source note."""
    c = codec(name)
    assert 0.0 <= c.ie < 95.0
    assert c.bpl_with_plc > 0.0
    assert c.bpl_without_plc is None or 0.0 < c.bpl_without_plc < c.bpl_with_plc
    assert c.ie_source.note and c.bpl_source.note
    assert c.ie_source.note != "not specified"


def test_values_without_an_itu_row_are_flagged_as_estimates() -> None:
    """Opus, EVS, iLBC and the interpolated AMR modes carry Ie marked as estimated."""
    for name in CODECS:
        if name.startswith(("OPUS-", "EVS-", "iLBC-")):
            assert codec(name).ie_source.estimated, name
            assert codec(name).bpl_source.estimated, name
    assert codec("AMR-6.7").ie_source.estimated
    assert codec("AMR-12.2").ie_source.basis is Basis.SAME_ALGORITHM  # GSM-EFR
    assert codec("AMR-7.4").ie == 10.0  # IS-641
    assert codec("G729A").ie_source.basis is Basis.ITU
    assert not codec("G729A").bpl_source.estimated


def test_g113_values_for_the_rated_codecs() -> None:
    """G.729 Ie 10, G.729A+VAD 11 / Bpl 19, EFR-twin AMR 12.2 5 / 10, AMR-WB 12.65 13 / 4.3."""
    assert (codec("G729").ie, codec("G729A").ie, codec("G729A").bpl_with_plc) == (10, 11, 19.0)
    assert (codec("AMR-12.2").ie, codec("AMR-12.2").bpl_with_plc) == (5.0, 10.0)
    assert (codec("AMR-WB-12.65").ie, codec("AMR-WB-12.65").bpl_with_plc) == (13.0, 4.3)
    assert codec("AMR-WB-23.05").ie == 1.0 and codec("AMR-WB-6.6").ie == 41.0


def test_amr_ie_falls_as_the_mode_rate_rises() -> None:
    """Within AMR-NB, a higher mode never has a larger Ie."""
    amr = [c for c in CODECS.values() if c.name.startswith("AMR-") and "WB" not in c.name]
    modes = sorted(amr, key=lambda c: c.bitrate_bps)
    assert len(modes) == 8
    assert all(a.ie >= b.ie for a, b in itertools.pairwise(modes))


def test_built_in_concealment_cannot_be_switched_off() -> None:
    """``bpl(concealment=False)`` raises for codecs whose decoder always conceals, naming why."""
    with pytest.raises(ValueError, match="always conceals"):
        codec("AMR-WB-12.65").bpl(concealment=False)
    with pytest.raises(ValueError, match="no source gives"):
        codec("G722").bpl(concealment=False)
    assert codec("G722").bpl(concealment=True) == 4.3
    assert not codec("PCMU").plc_builtin and codec("EVS-WB-9.6").plc_builtin


def test_dtx_sid_frames() -> None:
    """SID payloads: AMR 7 bytes (39 bits + BE header), EVS 6 (48 bits), G.729B 2, G.711 none."""
    assert codec("AMR-12.2").sid_payload_bytes() == 7
    assert codec("AMR-WB-12.65").sid_payload_bytes() == 7
    assert codec("EVS-WB-13.2").sid_payload_bytes() == 6
    assert codec("G729A").sid_payload_bytes() == 2
    assert codec("PCMU").sid_payload_bytes() is None and codec("PCMU").dtx is None
    dtx = codec("AMR-4.75").dtx
    assert dtx is not None and dtx.sid_interval_s == 0.160


def test_bad_codec_definitions_raise() -> None:
    """A fractional frame size or a ptime that is not whole frames is refused at construction."""
    good = codec("G729")
    with pytest.raises(ValueError, match="whole number"):
        dataclasses.replace(good, bitrate_bps=8050.0)
    with pytest.raises(ValueError, match="whole number of frames"):
        dataclasses.replace(good, ptimes_s=(0.015,))
    assert isinstance(dataclasses.replace(good, ptimes_s=(0.010,)), Codec)


@given(name=st.sampled_from(ALL), frames=st.integers(min_value=1, max_value=12))
def test_payload_grows_with_the_number_of_frames(name: str, frames: int) -> None:
    """One more frame in a packet grows its payload by at most a frame and two header octets."""
    c = codec(name)
    small = dataclasses.replace(c, ptimes_s=(frames * c.frame_s, (frames + 1) * c.frame_s))
    before = small.payload_bytes(frames * c.frame_s)
    after = small.payload_bytes((frames + 1) * c.frame_s)
    assert before < after <= before + c.frame_bits // 8 + 2
