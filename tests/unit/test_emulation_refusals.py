"""What the emulation refuses of the signalling the simulator models on its own."""

from __future__ import annotations

import pytest

from voipbed.emulation.engine import unsupported
from voipbed.loader import parse_scenario

BASE = "name: e\nduration: 10s\ncalls: {count: 1}\npath: [{name: radio, one_way_delay: 10ms}]\n"


@pytest.mark.parametrize(
    "signalling",
    [
        "{setup: true, ice: {}}",
        "{setup: true, dns: {}}",
        "{setup: true, fallback: {transports: [tcp]}}",
    ],
)
def test_ice_dns_and_fallbacks_are_refused_by_name(signalling: str) -> None:
    """ICE, DNS and fallbacks are simulated only: the emulation names the key it refuses."""
    scenario = parse_scenario(BASE + f"signalling: {signalling}\n", "e.yaml")
    key = signalling.split(",")[1].split(":")[0].strip()
    assert any(f"signalling.{key}" in problem for problem in unsupported(scenario))


def test_plain_setup_is_not_refused_for_its_signalling() -> None:
    """A scenario without them raises no signalling refusal."""
    scenario = parse_scenario(BASE + "signalling: {setup: true}\n", "e.yaml")
    assert not any("signalling." in problem for problem in unsupported(scenario))


@pytest.mark.parametrize("codec", ["AMR-12.2", "AMR-WB-23.85"])
def test_the_amr_modes_baresip_sends_are_not_refused(codec: str) -> None:
    """AMR 12.2 and AMR-WB 23.85 at 20 ms, octet-aligned, raise no refusal of the calls."""
    overrides = [f"calls.codec={codec}", "calls.amr_payload_format=octet_aligned"]
    scenario = parse_scenario(BASE, "e.yaml", overrides)
    assert not any(p.startswith("calls.") for p in unsupported(scenario))


@pytest.mark.parametrize("count", [1, 12])
def test_bandwidth_efficient_amr_is_refused_for_baresip_and_light_calls(count: int) -> None:
    """baresip (and the light calls, which send its format) send octet-aligned AMR only: the
    scenario's default bandwidth-efficient format is refused, naming the key and the fix;
    G.711 is not concerned."""
    overrides = [f"calls.count={count}", "calls.codec=AMR-WB-23.85"]
    problems = unsupported(parse_scenario(BASE, "e.yaml", overrides))
    refused = [p for p in problems if p.startswith("calls.amr_payload_format")]
    assert len(refused) == 1 and "octet_aligned" in refused[0]
    pcmu = unsupported(parse_scenario(BASE, "e.yaml", [f"calls.count={count}"]))
    assert not [p for p in pcmu if p.startswith("calls.amr_payload_format")]


def test_octet_aligned_amr_is_refused_for_the_gcc_endpoints() -> None:
    """The GCC endpoints size AMR bandwidth-efficient: octet_aligned is refused for them."""
    gcc = ["calls.codec=AMR-WB-23.85", "calls.rate_control.algorithm=gcc"]
    aligned = unsupported(
        parse_scenario(BASE, "e.yaml", [*gcc, "calls.amr_payload_format=octet_aligned"])
    )
    assert any(p.startswith("calls.amr_payload_format") for p in aligned)
    plain = unsupported(parse_scenario(BASE, "e.yaml", gcc))
    assert not any(p.startswith("calls.amr_payload_format") for p in plain)


@pytest.mark.parametrize(
    ("codec", "fact"),
    [
        ("AMR-WB-12.65", "encodes AMR-WB at mode 8 (23.85 kbit/s) only"),
        ("AMR-5.9", "encodes AMR at mode 7 (12.2 kbit/s) only"),
    ],
)
def test_amr_modes_baresip_cannot_send_are_refused_with_the_fact(codec: str, fact: str) -> None:
    """Another AMR mode is refused at calls.codec, naming the one mode baresip encodes."""
    scenario = parse_scenario(BASE, "e.yaml", [f"calls.codec={codec}"])
    refusals = [p for p in unsupported(scenario) if p.startswith("calls.codec")]
    assert len(refusals) == 1
    assert fact in refusals[0] and "modules/amr/amr.c" in refusals[0]


def test_amr_at_40_ms_is_refused_at_calls_ptime() -> None:
    """AMR-WB 23.85 in 40 ms packets is refused at calls.ptime: baresip sends one frame."""
    overrides = ["calls.codec=AMR-WB-23.85", "calls.ptime=40ms"]
    scenario = parse_scenario(
        BASE, "e.yaml", [*overrides, "calls.amr_payload_format=octet_aligned"]
    )
    refusals = [p for p in unsupported(scenario) if p.startswith("calls.")]
    assert len(refusals) == 1
    assert refusals[0].startswith("calls.ptime: ") and "one 20 ms frame per packet" in refusals[0]


def _call_refusals(overrides: list[str], base: str = BASE) -> list[str]:
    scenario = parse_scenario(base, "e.yaml", overrides)
    return [p for p in unsupported(scenario) if p.startswith("calls.")]


def test_srtp_with_an_80_bit_tag_is_not_refused() -> None:
    """baresip calls send SRTP with HMAC-SHA1-80: srtp_tag_bits 80 raises no refusal."""
    assert _call_refusals(["calls.srtp_tag_bits=80"]) == []


def test_a_32_bit_srtp_tag_is_refused_with_the_fact() -> None:
    """srtp_tag_bits 32 is refused at its key, naming the one suite baresip offers."""
    (refusal,) = _call_refusals(["calls.srtp_tag_bits=32"])
    assert refusal.startswith("calls.srtp_tag_bits: ")
    assert "AES_CM_128_HMAC_SHA1_80" in refusal and "modules/srtp/srtp.c" in refusal


def test_ipv6_baresip_calls_are_not_refused() -> None:
    """Baresip calls over IPv6 are emulated, with or without SRTP: no refusal."""
    assert _call_refusals(["calls.ip_version=6"]) == []
    assert _call_refusals(["calls.ip_version=6", "calls.srtp_tag_bits=80"]) == []


def test_srtp_on_rate_controlled_calls_is_refused() -> None:
    """The GCC endpoints send plain RTP: SRTP with rate control is refused, saying so."""
    base = BASE.replace(
        "{count: 1}", "{count: 1, codec: OPUS-WB-24, rate_control: {algorithm: gcc}}"
    )
    refusals = _call_refusals(["calls.srtp_tag_bits=80"], base)
    assert any(
        r.startswith("calls.srtp_tag_bits: ") and "GCC endpoints send plain RTP" in r
        for r in refusals
    )


def test_srtp_beside_light_calls_is_refused() -> None:
    """A run large enough for light calls, which send plain RTP, refuses SRTP, saying so."""
    refusals = _call_refusals(["calls.srtp_tag_bits=80", "calls.count=20"])
    assert any(
        r.startswith("calls.srtp_tag_bits: ") and "light calls send plain RTP" in r
        for r in refusals
    )
    assert not any(r.startswith("calls.srtp") for r in _call_refusals(["calls.count=20"]))
