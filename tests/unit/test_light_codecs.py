"""Light calls' codecs beyond G.711: synthesized AMR, AMR-WB and G.722 payloads of the
models' sizes and well-formed headers, their SDP, the agents' plans, the refusals, and two
agents making an AMR-WB call over the loopback."""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.unit.test_light_calls import light_plans
from tests.unit.test_light_ipv6 import (
    AGENT_TIMEOUT_S,
    LOOPBACK,
    V6,
    _free_port,
    _log,
    call_through_relay,
)
from voipbed.emulation.engine import unsupported
from voipbed.emulation.frame_payload import (
    NO_MODE_REQUEST,
    amr_frame_type,
    amr_header,
    synthetic_payloads,
)
from voipbed.emulation.light_calls import PAYLOAD_S, light_payloads, unsupported_light
from voipbed.emulation.light_codecs import (
    LIGHT_CODECS,
    light_codec_problem,
    light_media,
)
from voipbed.emulation.light_plan import LightAgentPlan, audio_sdp
from voipbed.emulation.sip_text import uri_host
from voipbed.emulation.stacks.baresip import UnsupportedCodecError, baresip_codec
from voipbed.loader import parse_scenario
from voipbed.models.codecs import Codec, PayloadFormat, codec
from voipbed.payload_modes import AMR_NAMES, AMR_WB_NAMES, amr_mode
from voipbed.sdp import parse_sdp
from voipbed.sdp_codecs import FIRST_DYNAMIC, CodecChooser, CodecSource, StreamMedia

AMR_MODES = (*AMR_NAMES, *AMR_WB_NAMES)
SYNTHESIZED = tuple(name for name in LIGHT_CODECS if not name.startswith("PCM"))
BASE = (
    "name: e\nduration: 20s\ncalls: {count: 40, start_spread: 5s, hold_time: 10s}\n"
    "path: [{name: radio, one_way_delay: 10ms}]\n"
)


def octet_aligned(name: str) -> Codec:
    """AMR or AMR-WB mode ``name`` in RFC 4867 4.4's octet-aligned format."""
    return dataclasses.replace(codec(name), payload_format=PayloadFormat.AMR_OCTET_ALIGNED)


def no_speech() -> np.ndarray[Any, np.dtype[np.float64]]:
    """Speech that codecs other than G.711 never ask for."""
    raise AssertionError("speech asked for a codec whose frames are synthesized")


def heads(payloads: tuple[bytes, ...]) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Each payload's first three octets, big-endian, as capture import reads them."""
    return np.array([int.from_bytes(p[:3], "big") for p in payloads], dtype=np.int64)


def sizes(payloads: tuple[bytes, ...]) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Each payload's length."""
    return np.array([len(p) for p in payloads], dtype=np.int64)


@pytest.mark.parametrize("name", AMR_MODES)
@pytest.mark.parametrize("ptime_s", [0.020, 0.040])
def test_amr_payloads_have_the_models_octet_aligned_size(name: str, ptime_s: float) -> None:
    """Every AMR and AMR-WB mode, one or two frames a packet: each payload is as long as
    models.codecs sizes the mode's octet-aligned packet."""
    spec = octet_aligned(name)
    payloads = synthetic_payloads(spec, ptime_s, 20, np.random.default_rng(1))
    assert set(sizes(payloads)) == {spec.payload_bytes(ptime_s)}


@pytest.mark.parametrize("name", SYNTHESIZED)
def test_light_payloads_are_the_size_baresip_sends(name: str) -> None:
    """AMR 12.2, AMR-WB 23.85 and G.722: the light payloads are the size of the baresip
    calls' (octet-aligned AMR), a packet every 20 ms for PAYLOAD_S."""
    scenario = parse_scenario(BASE, "e.yaml", [f"calls.codec={name}"])
    payloads = light_payloads(scenario, "callers", no_speech)
    assert len(payloads) == round(PAYLOAD_S / scenario.calls.ptime_s)
    assert set(sizes(payloads)) == {baresip_codec(name).sent.payload_bytes(0.020)}


def test_g722_payloads_are_an_octet_per_two_samples() -> None:
    """G.722 at 20 and 30 ms: 160 and 240 bytes, one octet per 8 kHz RTP tick."""
    for ptime_s in (0.020, 0.030):
        payloads = synthetic_payloads(codec("G722"), ptime_s, 5, np.random.default_rng(2))
        ticks = codec("G722").rtp_ticks(ptime_s)
        assert set(sizes(payloads)) == {ticks} == {round(8000 * ptime_s)}


@pytest.mark.parametrize("name", AMR_MODES)
def test_the_cmr_and_toc_octets_name_the_mode(name: str) -> None:
    """Octet 0 is CMR 15 with zero reserved bits; each ToC octet has F set but on the last
    frame, the mode's frame type, Q set and zero padding bits (RFC 4867 4.4)."""
    spec = octet_aligned(name)
    frame_type = amr_frame_type(spec)
    names = AMR_WB_NAMES if name in AMR_WB_NAMES else AMR_NAMES
    assert names[frame_type] == name
    for payload in synthetic_payloads(spec, 0.060, 10, np.random.default_rng(3)):
        assert payload[0] == NO_MODE_REQUEST << 4
        tocs = payload[1:4]
        assert [toc >> 7 for toc in tocs] == [1, 1, 0]
        assert {(toc >> 3) & 0x0F for toc in tocs} == {frame_type}
        assert {(toc >> 2) & 1 for toc in tocs} == {1} and {toc & 0x03 for toc in tocs} == {0}


@pytest.mark.parametrize("name", AMR_MODES)
def test_each_frame_is_padded_with_zero_bits(name: str) -> None:
    """The bits after each frame's last speech bit, to the octet, are zero; the speech bits
    themselves vary (they are drawn, not constant)."""
    spec = octet_aligned(name)
    octets = math.ceil(spec.frame_bits / 8)
    pad = 8 * octets - spec.frame_bits
    payloads = synthetic_payloads(spec, 0.040, 50, np.random.default_rng(4))
    for payload in payloads:
        frames = payload[3:]
        assert len(frames) == 2 * octets
        for end in (octets - 1, 2 * octets - 1):
            assert frames[end] & ((1 << pad) - 1) == 0
    assert len({payload[3:] for payload in payloads}) == len(payloads)


@pytest.mark.parametrize("name", AMR_MODES)
def test_capture_import_reads_the_mode_back(name: str) -> None:
    """payload_modes.amr_mode, reading the payloads as octet-aligned (as the SDP's
    octet-align=1 says), finds the mode in every packet."""
    spec = octet_aligned(name)
    payloads = synthetic_payloads(spec, 0.020, 30, np.random.default_rng(5))
    wideband = name in AMR_WB_NAMES
    read = amr_mode(heads(payloads), sizes(payloads), wideband=wideband, octet_aligned=True)
    assert read is not None and (read.name, read.packets, read.read) == (name, 30, 30)


def test_a_seed_gives_the_same_payloads_again() -> None:
    """The same generator state gives the same payloads; another seed others."""
    spec = octet_aligned("AMR-WB-23.85")
    first = synthetic_payloads(spec, 0.020, 10, np.random.default_rng(7))
    assert synthetic_payloads(spec, 0.020, 10, np.random.default_rng(7)) == first
    assert synthetic_payloads(spec, 0.020, 10, np.random.default_rng(8)) != first
    scenario = parse_scenario(BASE, "e.yaml", ["calls.codec=AMR-WB-23.85"])
    callers = light_payloads(scenario, "callers", no_speech)
    answerers = light_payloads(scenario, "answerers", no_speech)
    assert callers == light_payloads(scenario, "callers", no_speech)
    assert callers != answerers


@pytest.mark.parametrize("name", ["AMR-WB-23.85", "EVS-WB-13.2"])
def test_formats_not_synthesized_are_refused(name: str) -> None:
    """Bandwidth-efficient AMR (the simulator's) and EVS payloads are refused by name."""
    with pytest.raises(ValueError, match=f"{name}: payloads in the"):
        synthetic_payloads(codec(name), 0.020, 1, np.random.default_rng(0))


def test_the_header_refuses_impossible_frames() -> None:
    """A frame type beyond 4 bits or no frame at all has no header; a codec not AMR no FT."""
    with pytest.raises(ValueError):
        amr_header(16, 1)
    with pytest.raises(ValueError):
        amr_header(7, 0)
    with pytest.raises(ValueError, match="not an AMR"):
        amr_frame_type(codec("G722"))


@pytest.mark.parametrize(
    ("name", "payload_type", "encoding", "clock_hz", "fmtp"),
    [
        ("PCMU", 0, "PCMU", 8000, ""),
        ("PCMA", 8, "PCMA", 8000, ""),
        ("G722", 9, "G722", 8000, ""),  # RFC 3551 4.5.2: an 8000 Hz RTP clock
        ("AMR-12.2", FIRST_DYNAMIC, "AMR", 8000, "octet-align=1"),  # baresip's number
        ("AMR-WB-23.85", FIRST_DYNAMIC, "AMR-WB", 16000, "octet-align=1"),
    ],
)
def test_each_codec_is_named_as_its_sdp_binds_it(
    name: str, payload_type: int, encoding: str, clock_hz: int, fmtp: str
) -> None:
    """Payload type, a=rtpmap name and clock, a=fmtp of every codec the light agents send;
    the codec sent is baresip's (its payload format)."""
    media = light_media(name)
    assert (media.payload_type, media.encoding, media.clock_hz, media.fmtp) == (
        payload_type,
        encoding,
        clock_hz,
        fmtp,
    )
    assert media.sent == baresip_codec(name).sent
    assert light_codec_problem(name) is None


def test_the_sdp_binds_the_dynamic_type_with_its_fmtp() -> None:
    """audio_sdp's a=rtpmap and a=fmtp read back as AMR-WB/16000 with octet-align=1."""
    media = light_media("AMR-WB-23.85")
    text = audio_sdp(
        "10.0.0.40", 30000, media.payload_type, media.encoding, media.clock_hz, 0.020, media.fmtp
    )
    assert f"a=fmtp:{media.payload_type} octet-align=1\r\n" in text
    (read,) = parse_sdp(text)
    encoding = read.encodings[media.payload_type]
    assert str(encoding) == "AMR-WB/16000" and encoding.param("octet-align") == "1"
    assert read.payload_types == (media.payload_type,) and read.ptime_ms == 20
    assert "a=fmtp" not in audio_sdp("10.0.0.40", 30000, 0, "PCMU", 8000, 0.020)


@pytest.mark.parametrize("name", ["AMR-12.2", "AMR-WB-23.85"])
def test_capture_import_names_the_codec_from_sdp_and_payloads(name: str) -> None:
    """A stream of light payloads sent to an address whose SDP is the light agents' is
    imported as the light calls' AMR mode, read from the payloads' ToC."""
    media = light_media(name)
    sdp = audio_sdp(
        "10.0.0.40", 30000, media.payload_type, media.encoding, media.clock_hz, 0.020, media.fmtp
    )
    payloads = synthetic_payloads(media.sent, 0.020, 25, np.random.default_rng(6))
    stream = StreamMedia(
        receiver=("10.0.0.40", 30000),
        payload_type=media.payload_type,
        payload_bytes=sizes(payloads),
        head=heads(payloads),
        rtp_span_ticks=24 * media.sent.rtp_ticks(0.020),
    )
    choice = CodecChooser([parse_sdp(sdp)])(stream)
    assert (choice.codec, choice.source) == (name, CodecSource.PAYLOAD)
    assert "octet-aligned" in choice.detail


@pytest.mark.parametrize(
    ("name", "clock_hz", "payload_type"),
    [("AMR-WB-23.85", 16000, FIRST_DYNAMIC), ("AMR-12.2", 8000, FIRST_DYNAMIC), ("G722", 8000, 9)],
)
def test_the_plans_carry_the_codecs_sdp_size_and_clock(
    name: str, clock_hz: int, payload_type: int
) -> None:
    """Both agents' plans name the codec's payload type, a=rtpmap, a=fmtp and clock, the
    baresip calls' payload size and the RTP ticks of 20 ms at that clock; they read back
    from JSON."""
    callers, answerers = light_plans([f"calls.codec={name}"])
    media = light_media(name)
    for plan in (callers, answerers):
        assert (plan.payload_type, plan.encoding, plan.clock_hz, plan.fmtp) == (
            media.payload_type,
            media.encoding,
            media.clock_hz,
            media.fmtp,
        )
        assert plan.payload_type == payload_type
        assert plan.payload_bytes == baresip_codec(name).sent.payload_bytes(0.020)
        assert plan.ticks_per_packet == round(clock_hz * 0.020) == codec(name).rtp_ticks(0.020)
        assert LightAgentPlan.from_json(plan.to_json()) == plan


def test_opus_is_refused_for_light_calls_with_the_reason() -> None:
    """Opus, which baresip sends, is refused beyond the baresip calls, saying they
    synthesize no Opus packets; the plan raises the same."""
    problem = light_codec_problem("OPUS-WB-24")
    assert problem is not None and "no Opus packets" in problem and "OPUS-WB-24" in problem
    with pytest.raises(ValueError, match="no Opus packets"):
        light_plans(["calls.codec=OPUS-WB-24"])


@pytest.mark.parametrize("name", ["G729", "AMR-WB-12.65", "AMR-5.9", "EVS-WB-13.2", "iLBC-20"])
def test_codecs_baresip_cannot_send_are_refused_once_in_its_words(name: str) -> None:
    """A codec baresip cannot send is refused for light calls with baresip's reason, so a
    40-call run lists one calls.codec problem, the engine's."""
    with pytest.raises(UnsupportedCodecError) as error:
        baresip_codec(name)
    assert light_codec_problem(name) == str(error.value)
    scenario = parse_scenario(BASE, "e.yaml", [f"calls.codec={name}"])
    codec_problems = [p for p in unsupported(scenario) if p.startswith("calls.codec")]
    assert codec_problems == [f"calls.codec: {error.value}"]


@pytest.mark.parametrize("name", ["AMR-12.2", "AMR-WB-23.85", "G722"])
def test_a_forty_call_run_of_a_light_codec_is_not_refused(name: str) -> None:
    """40 calls (8 baresip, 32 light) of AMR 12.2, AMR-WB 23.85 (octet-aligned, as baresip
    sends them) or G.722 at 20 ms raise no refusal at all."""
    overrides = [f"calls.codec={name}", "calls.amr_payload_format=octet_aligned"]
    scenario = parse_scenario(BASE, "e.yaml", overrides)
    assert unsupported_light(scenario, 32) == []
    assert unsupported(scenario) == []


def _amr_wb_loopback_plans(
    tmp_path: Path, registrar_port: int
) -> tuple[LightAgentPlan, LightAgentPlan]:
    """One AMR-WB light call moved onto the IPv6 loopback (as test_light_ipv6 moves a PCMU
    one), each side playing the payloads light_calls synthesizes for it."""
    callers, answerers = light_plans(
        ["calls.codec=AMR-WB-23.85"], text=V6, run_id="amr-wb-loopback"
    )
    scenario = parse_scenario(V6, "e.yaml", ["calls.codec=AMR-WB-23.85"])
    call = dataclasses.replace(
        callers.calls[0],
        ue_address=LOOPBACK,
        ue_port=_free_port(),
        far_port=_free_port(),
        start_s=0.0,
        end_s=0.5,
    )
    common: dict[str, Any] = {
        "t0": time.monotonic(),
        "stop_s": AGENT_TIMEOUT_S,
        "registrar": (LOOPBACK, registrar_port),
        "domain": uri_host(LOOPBACK),
        "media_address": LOOPBACK,
        "sip_address": LOOPBACK,
        "calls": (call,),
        "realtime_priority": 0,
    }
    plans = []
    for plan in (callers, answerers):
        payload = tmp_path / f"{plan.role}.payload"
        payload.write_bytes(b"".join(light_payloads(scenario, plan.role, no_speech)))
        plans.append(
            dataclasses.replace(
                plan,
                sip_port=_free_port(),
                log_path=str(tmp_path / f"{plan.role}.jsonl"),
                payload_path=str(payload),
                **common,
            )
        )
    return plans[0], plans[1]


def test_both_agents_make_an_amr_wb_call(tmp_path: Path) -> None:
    """Over the loopback through a stand-in registrar, offer and answer bind the AMR-WB
    payload type with octet-align=1, the call is answered and ended, and each side
    receives RTP packets of the octet-aligned AMR-WB 23.85 size."""
    callers, answerers, relay, ended = call_through_relay(tmp_path, _amr_wb_loopback_plans)
    assert [code for code, _ in ended] == [0, 0], ended
    media = light_media("AMR-WB-23.85")
    bodies = [m.body for m in relay.seen if m.body and ("INVITE" in (m.method, m.cseq_method))]
    assert len(bodies) >= 2  # the offer and the answer
    for body in bodies:
        (read,) = parse_sdp(body)
        encoding = read.encodings[media.payload_type]
        assert str(encoding) == "AMR-WB/16000" and encoding.param("octet-align") == "1"
    packet = 12 + baresip_codec("AMR-WB-23.85").sent.payload_bytes(0.020)  # RTP header
    for plan in (callers, answerers):
        (line,) = [entry for entry in _log(plan.log_path) if entry["what"] == "media"]
        received = int(str(line["received"]))
        assert received > 0, plan.role
        assert int(str(line["received_bytes"])) == received * packet, plan.role
