"""Headers in a run: IP version and SRTP size the packets; ROHC and link framing size each hop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voipbed.loader import parse_scenario
from voipbed.runner import run_scenario
from voipbed.sim.engine import simulate

BASE = """
name: headers
duration: 3s
calls: {count: 2, codec: PCMU, ptime: 20ms}
path:
  - {name: radio, one_way_delay: 10ms}
  - {name: core, one_way_delay: 20ms}
"""


def wire_bytes(*overrides: str) -> set[int]:
    trace = simulate(parse_scenario(BASE, overrides=overrides))
    return set(trace.packets.column("wire_bytes").to_numpy().tolist())


@pytest.mark.parametrize(
    ("overrides", "size"),
    [
        ((), 160 + 12 + 8 + 20),  # RTP, UDP (RFC 768), IPv4 (RFC 791)
        (("calls.ip_version=6",), 160 + 12 + 8 + 40),  # IPv6 (RFC 8200)
        (("calls.srtp_tag_bits=80",), 160 + 10 + 12 + 8 + 20),  # HMAC-SHA1-80 (RFC 3711)
        (("calls.srtp_tag_bits=32", "calls.ip_version=6"), 160 + 4 + 12 + 8 + 40),
    ],
)
def test_packets_carry_the_ip_size_the_headers_make(overrides: tuple[str, ...], size: int) -> None:
    """Every media packet's wire_bytes is payload plus SRTP tag, RTP, UDP and IP headers."""
    assert wire_bytes(*overrides) == {size}


def test_summary_states_bytes_and_bandwidth_per_segment(tmp_path: Path) -> None:
    """ROHC and LTE framing on the radio hop: 168 B and 70.56 kbit/s there, 84 on the core."""
    scenario = parse_scenario(
        BASE,
        overrides=["path[0].header_compression=rohc", "path[0].link_layer=lte"],
    )
    summary = run_scenario(scenario, tmp_path).summary["bandwidth"]
    assert summary["payload_bytes"] == 160
    assert summary["ip"]["bytes_per_packet"] == 200
    radio, core = summary["segments"]
    assert (radio["segment"], radio["bytes_per_packet"]) == ("radio", 168)
    # 168 B every 20 ms, plus the 5 % RTCP share of RFC 3550 clause 6.2.
    assert radio["kbps_per_call_direction"] == pytest.approx(168 * 8 / 0.020 * 1.05 / 1e3)
    assert core["bytes_per_packet"] == 200
    assert core["kbps_per_call_direction"] == pytest.approx(84.0)
    html = (next(tmp_path.iterdir()) / "report.html").read_text(encoding="utf-8")
    assert "Bandwidth per call" in html and "ROHC + lte" in html


def test_default_headers_keep_the_trace_unchanged() -> None:
    """Spelling out the default headers gives the very same packets."""
    plain = simulate(parse_scenario(BASE)).packets
    spelled = simulate(
        parse_scenario(
            BASE,
            overrides=[
                "calls.ip_version=4",
                "calls.srtp_tag_bits=0",
                "path[0].header_compression=none",
                "path[0].link_layer=none",
            ],
        )
    ).packets
    assert plain.equals(spelled)
    assert np.isfinite(plain.column("recv_s").to_numpy()).all()


def test_rohc_on_a_narrow_hop_shortens_serialization_by_the_header_bytes_saved() -> None:
    """On an 88 kbit/s hop a 200 B packet takes 18.2 ms; ROHC (163 B there) 14.8 ms."""
    narrow = BASE.replace("{name: radio, one_way_delay: 10ms}", "{name: radio, capacity: 88kbps}")
    one_call = ["calls.count=1"]
    plain = simulate(parse_scenario(narrow, overrides=one_call)).packets.to_pandas()
    rohc_on = [*one_call, "path[0].header_compression=rohc"]
    rohc = simulate(parse_scenario(narrow, overrides=rohc_on))
    squeezed = rohc.packets.to_pandas()
    for packets, carried in ((plain, 200), (squeezed, 160 + 3)):  # UO-0 + UDP checksum
        delay = packets["recv_s"] - packets["send_s"]
        assert packets["wire_bytes"].eq(200).all()  # the IP packets are the same
        assert delay.to_numpy() == pytest.approx(0.020 + carried * 8 / 88_000, abs=1e-9)
