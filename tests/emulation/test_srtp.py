"""SRTP in the emulation: baresip calls keyed by SDES carry packets of the simulator's size,
encrypted, whose audio still decodes; DTLS-SRTP works between two baresips, its audio waiting
for the handshake."""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.emulation.conftest import require
from tests.emulation.helpers import LOOPBACK as HOST
from tests.emulation.helpers import free_ports
from tests.emulation.test_baresip_call import free_udp_range, start_baresip
from voipbed.emulation.audio import make_silence_wav, make_speech_wav, read_wav, score_call
from voipbed.emulation.frames import parse_frame
from voipbed.emulation.stacks.baresip import (
    BaresipControl,
    BaresipSpec,
    CtrlEvent,
    MediaEncryption,
    parse_baresip_log,
)
from voipbed.loader import parse_scenario
from voipbed.models.pesq import PesqMode
from voipbed.pcap_file import read_capture
from voipbed.runner import run_scenario

pytestmark = pytest.mark.emulation

SCENARIO = """\
name: srtp-sizes
seed: 2
duration: 10s
calls: {count: 1, codec: PCMU, ptime: 20ms, srtp_tag_bits: 80}
path:
  - {name: radio, one_way_delay: 10ms, capacity: 2Mbps}
  - {name: core, one_way_delay: 5ms}
radio: {rrc: null}
"""
RTP_HEADER_BYTES = 12
TAG_BYTES = 10  # HMAC-SHA1-80
# Bytes of encrypted payloads are uniform: their chi-square over 256 values has 255 degrees
# of freedom (mean 255, standard deviation 22.6); 400 is 6 deviations above. G.711 speech is
# far from uniform (tens of thousands).
MAX_UNIFORM_CHI2 = 400.0
MIN_PCMU_PESQ = 3.5  # a clean PCMU call scores about 4.0 (test_baresip_call.py)


def rtp_payloads(pcap: Path) -> list[bytes]:
    """The payload (after the RTP header, before the SRTP tag) of every RTP packet in ``pcap``."""
    payloads = []
    capture = read_capture(pcap)
    for index in range(len(capture)):
        frame = capture.frame(index)
        packet = parse_frame(frame)
        if packet is None or packet.rtp is None or packet.dport % 2:  # RTCP on odd ports
            continue
        start = packet.ip_offset + 20 + 8 + RTP_HEADER_BYTES  # IPv4 and UDP headers
        payloads.append(frame[start : packet.ip_offset + packet.wire_bytes - TAG_BYTES])
    return payloads


def sip_text(pcap: Path) -> str:
    """The SIP messages over UDP in ``pcap``, as text."""
    capture = read_capture(pcap)
    texts = []
    for index in range(len(capture)):
        frame = capture.frame(index)
        packet = parse_frame(frame)
        if packet is not None and 5060 in (packet.sport, packet.dport):
            texts.append(frame[packet.ip_offset + 28 :].decode("utf-8", errors="replace"))
    return "\n".join(texts)


def chi2_uniform(payloads: list[bytes]) -> float:
    """Pearson's chi-square of the payloads' bytes against a uniform distribution."""
    counts = np.bincount(np.frombuffer(b"".join(payloads), dtype=np.uint8), minlength=256)
    expected = counts.sum() / 256
    return float(((counts - expected) ** 2 / expected).sum())


@pytest.mark.slow
def test_emulated_srtp_packets_have_the_simulators_sizes_encrypted_and_decodable(
    tmp_path: Path,
) -> None:
    """With srtp_tag_bits 80 every emulated packet has the simulator's wire and payload size,
    the summary's bytes per packet; the SDP carries baresip's a=crypto, the payloads on the
    wire are ciphertext, and the audio decodes to a good PESQ."""
    require("mnexec", "ethtool", "kamailio", "baresip", "espeak-ng", "sox", "tcpdump")
    scenario = parse_scenario(SCENARIO, "srtp-sizes.yaml")
    sim_dir = run_scenario(scenario, tmp_path / "sim").run_dir
    emu_dir = run_scenario(scenario, tmp_path / "emu", engine="emulation").run_dir
    sim = pd.read_parquet(sim_dir / "packets.parquet")
    emulated = pd.read_parquet(emu_dir / "packets.parquet")
    sizes = ["payload_bytes", "wire_bytes"]
    print("sim:", sim.groupby("direction", observed=True)[sizes].agg(["min", "max"]))
    print("emulation:", emulated.groupby("direction", observed=True)[sizes].agg(["min", "max"]))
    assert len(emulated) > 0.9 * len(sim)
    for column in sizes:  # one size a codec at a fixed rate: every packet of both engines
        assert set(emulated[column]) == set(sim[column])
        assert emulated[column].nunique() == 1
    summary = json.loads((emu_dir / "summary.json").read_text())
    assert set(emulated["wire_bytes"]) == {summary["bandwidth"]["ip"]["bytes_per_packet"]}

    sip = sip_text(emu_dir / "captures" / "ue.pcap")
    assert "m=audio" in sip and "RTP/SAVP" in sip
    assert sip.count("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:") >= 2  # offer and answer
    payloads = rtp_payloads(emu_dir / "captures" / "ue.pcap")
    assert {len(p) for p in payloads} == {int(sim["payload_bytes"].iloc[0])}
    chi2 = chi2_uniform(payloads)
    print(f"chi-square of {len(payloads)} payloads' bytes: {chi2:.0f}")
    assert chi2 < MAX_UNIFORM_CHI2

    pesq = pd.read_parquet(emu_dir / "metrics.parquet")["pesq_mos_lqo"]
    print("PESQ:", pesq.tolist())
    assert (pesq > MIN_PCMU_PESQ).all()


def loopback_call(encryption: MediaEncryption, root: Path) -> tuple[list[CtrlEvent], Path, float]:
    """A PCMU call on 127.0.0.1 with ``encryption`` from a speaking caller to a recording
    callee: the caller's ctrl_tcp events, the callee's log, and the PESQ of what it heard."""
    sent = make_speech_wav(root / "speech.wav", 8000, "The quick brown fox jumps over the dog.")
    make_silence_wav(root / "silence.wav", 8000, sent.duration_s + 10.0)
    caller_sip, callee_sip = free_ports(2, tls_neighbour=True)
    caller_ctrl, callee_ctrl = free_ports(2)
    caller = BaresipSpec(
        user="alice",
        address=HOST,
        sip_port=caller_sip,
        ctrl_port=caller_ctrl,
        rtp_ports=free_udp_range(10),
        codec="PCMU",
        ptime_s=0.020,
        audio_source=root / "speech.wav",
        media_encryption=encryption,
    )
    callee = replace(
        caller,
        user="bob",
        sip_port=callee_sip,
        ctrl_port=callee_ctrl,
        rtp_ports=free_udp_range(10),
        audio_source=root / "silence.wav",
        record_dir=root / "bob-received",
    )
    with contextlib.ExitStack() as stack:
        callee_process = start_baresip(callee, root, stack)
        start_baresip(caller, root, stack)
        control = stack.enter_context(BaresipControl(HOST, caller.ctrl_port, timeout_s=5.0))
        control.dial(callee.contact_uri)
        closed = control.wait_event("CALL_CLOSED", timeout_s=sent.duration_s + 10.0)
        assert closed.param == "end of file", f"call ended early: {closed.param}"
    log = callee_process.stdout_path
    (recording,) = parse_baresip_log(log.read_text()).recordings("decode")
    score = score_call(sent, read_wav(recording), PesqMode.NB)
    return control.events, log, score.mos_lqo


def _index(events: list[CtrlEvent], event_type: str) -> int:
    return next(i for i, event in enumerate(events) if event.type == event_type)


@pytest.mark.slow
@pytest.mark.parametrize("encryption", [MediaEncryption.SDES, MediaEncryption.DTLS_SRTP])
def test_sdes_secures_at_the_answer_and_dtls_srtp_after_its_handshake(
    encryption: MediaEncryption, tmp_path: Path
) -> None:
    """SDES media are secure by the answer; DTLS-SRTP's only after the call is established,
    with the 80-bit tag, and the first RTP after that; both decode to a good PESQ."""
    require("baresip", "espeak-ng", "sox")
    events, callee_log, mos = loopback_call(encryption, tmp_path)
    t_dial = events[0].received_s
    times = {e.type: round(e.received_s - t_dial, 4) for e in reversed(events)}
    print(f"{encryption.name}: events since the first, s: {times}; PESQ {mos:.2f}")
    secure, established = _index(events, "CALL_MENC"), _index(events, "CALL_ESTABLISHED")
    assert _index(events, "CALL_RTPESTAB") > secure
    if encryption is MediaEncryption.SDES:
        assert secure < established
        assert events[secure].param == "0,audio,AES_CM_128_HMAC_SHA1_80"
    else:
        assert secure > established
        assert events[secure].param == "0,audio,RTP"
        assert "Profile=AES_CM_128_HMAC_SHA1_80" in callee_log.read_text()
    assert mos > MIN_PCMU_PESQ
