"""DTLS-SRTP in the emulation against the simulator: the caller's media wait for the
handshake as long in both engines, no RTP leaves before it, and the handshake's datagrams
on the link are the model's flights, byte for byte."""

from __future__ import annotations

import json
import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.emulation.conftest import require
from voipbed.frame_fields import UDP, address_text, udp_fields
from voipbed.loader import parse_scenario
from voipbed.models.dtls_handshake import DtlsConfig, baresip_flight_bytes
from voipbed.pcap_file import read_capture
from voipbed.runner import run_scenario

pytestmark = pytest.mark.emulation

ONE_WAY_S = 0.050  # the path below: 35 ms + 15 ms
SCENARIO = """\
name: dtls-srtp-setup
seed: 2
duration: 6s
calls: {count: 1, codec: PCMU, ptime: 20ms, srtp_tag_bits: 80, srtp_keying: dtls}
signalling: {setup: true}
path:
  - {name: radio, one_way_delay: 35ms}
  - {name: core, one_way_delay: 15ms}
radio: {rrc: null}
"""
# Between two baresips on a loopback the audio started 1.003 to 1.009 s after the 200 OK
# (three runs) against the model's 1 s: OpenSSL's timer, RSA signatures and ctrl_tcp's
# events cost milliseconds, the links' delays are within a millisecond a packet. 50 ms
# leaves room for a busy machine and still tells 1 s plus a round trip (1.1 s) from 1 s.
TOLERANCE_S = 0.050

# DTLS on the wire (RFC 5246 appendix A.1 and A.4, RFC 6347 sections 4.1 and 4.3.2)
_CHANGE_CIPHER_SPEC, _HANDSHAKE = 20, 22
_CLIENT_HELLO, _SERVER_HELLO, _HELLO_VERIFY_REQUEST, _CERTIFICATE = 1, 2, 3, 11
_RSA_ENCRYPTION_OID = bytes.fromhex("2a864886f70d010101")  # 1.2.840.113549.1.1.1
# OpenSSL encrypts the NewSessionTicket's session (the client's certificate in it) in
# 16-byte AES-CBC blocks: a client certificate shorter than any seen may cost one block.
_TICKET_BLOCK_BYTES = 16


@dataclass(frozen=True)
class DtlsRecord:
    """One record of a datagram: its content type and epoch; for a plaintext handshake
    record, the message's type and whether the record holds all of it."""

    content_type: int
    epoch: int
    handshake_type: int | None = None
    whole: bool = True
    certificate: bytes = b""  # a Certificate message's first certificate (DER)


@dataclass(frozen=True)
class DtlsDatagram:
    """A UDP datagram of DTLS records as captured."""

    time_s: float
    source: tuple[str, int]
    destination: tuple[str, int]
    udp_bytes: int
    ip_bytes: int
    records: tuple[DtlsRecord, ...]

    def has(self, handshake_type: int) -> bool:
        """Whether a plaintext handshake message of this type is in it."""
        return any(r.handshake_type == handshake_type for r in self.records)


@dataclass(frozen=True)
class DtlsHandshake:
    """One handshake's datagrams in capture order, each with its flight (RFC 6347 4.2.4)."""

    client: tuple[str, int]
    flights: tuple[tuple[int, DtlsDatagram], ...]

    def datagrams(self, flight: int) -> list[DtlsDatagram]:
        """The transmissions of one flight."""
        return [d for n, d in self.flights if n == flight]

    def certificate(self, flight: int) -> bytes:
        """The certificate (DER) that a flight carries (2: the server's, 3: the client's;
        empty: none)."""
        found = [r.certificate for d in self.datagrams(flight) for r in d.records]
        return next((c for c in found if c), b"")


def _records(payload: bytes) -> tuple[DtlsRecord, ...]:
    records: list[DtlsRecord] = []
    position = 0
    while position + 13 <= len(payload):
        content_type = payload[position]
        epoch, length = struct.unpack_from(">H6xH", payload, position + 3)
        body = payload[position + 13 : position + 13 + length]
        position += 13 + length
        if content_type != _HANDSHAKE or epoch != 0 or len(body) < 12:
            records.append(DtlsRecord(content_type, epoch))
            continue
        message_bytes = int.from_bytes(body[1:4], "big")
        offset, fragment = int.from_bytes(body[6:9], "big"), int.from_bytes(body[9:12], "big")
        certificate = b""
        if body[0] == _CERTIFICATE and len(body) >= 18:
            der_bytes = int.from_bytes(body[15:18], "big")
            certificate = body[18 : 18 + der_bytes]
        whole = offset == 0 and fragment == message_bytes == len(body) - 12
        records.append(DtlsRecord(content_type, epoch, body[0], whole, certificate))
    return tuple(records)


def dtls_datagrams(pcap: Path) -> list[DtlsDatagram]:
    """Every UDP datagram of ``pcap`` whose first byte is a DTLS content type (20 to 63,
    RFC 7983 section 7), with its records."""
    capture = read_capture(pcap)
    fields = udp_fields(capture)
    datagrams: list[DtlsDatagram] = []
    for i in range(len(capture)):
        if fields.status[i] != UDP:
            continue
        start = int(fields.payload_start[i])
        payload = capture.data[start : start + int(fields.payload_bytes[i])]
        if not payload or not 20 <= payload[0] <= 63:
            continue
        version = int(fields.ip_version[i])
        datagrams.append(
            DtlsDatagram(
                time_s=int(capture.time_ns[i]) / 1e9,
                source=(address_text(fields.src[i], version), int(fields.sport[i])),
                destination=(address_text(fields.dst[i], version), int(fields.dport[i])),
                udp_bytes=len(payload),
                ip_bytes=int(fields.ip_bytes[i]),
                records=_records(payload),
            )
        )
    return datagrams


def _flight(datagram: DtlsDatagram, client: tuple[str, int]) -> int | None:
    """Which flight of a full handshake a datagram is (None: alerts or data, no handshake)."""
    kinds = {r.content_type for r in datagram.records}
    if not kinds & {_HANDSHAKE, _CHANGE_CIPHER_SPEC}:
        return None
    if datagram.source == client:
        return 1 if datagram.has(_CLIENT_HELLO) else 3
    return 2 if datagram.has(_SERVER_HELLO) else 4


def dtls_handshakes(pcap: Path) -> list[DtlsHandshake]:
    """The handshakes in ``pcap``, one per pair of ports, the client being the side that
    sent a ClientHello; in the order of their clients' ports."""
    datagrams = dtls_datagrams(pcap)
    clients = {d.source: d.destination for d in datagrams if d.has(_CLIENT_HELLO)}
    handshakes = []
    for client, server in sorted(clients.items(), key=lambda item: item[0][1]):
        pair = {client, server}
        flights = [
            (flight, d)
            for d in datagrams
            if {d.source, d.destination} == pair and (flight := _flight(d, client)) is not None
        ]
        handshakes.append(DtlsHandshake(client, tuple(flights)))
    return handshakes


def _secure(run_dir: Path) -> dict[str, Any]:
    events = pd.read_parquet(run_dir / "events.parquet")
    rows = events[events["kind"] == "media_secure"]
    assert len(rows) == 1, f"media_secure events: {len(rows)}"
    fields: dict[str, Any] = json.loads(rows["fields"].iloc[0])
    return fields | {"time_s": float(rows["time_s"].iloc[0])}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The scenario's simulated and emulated runs."""
    require("mnexec", "ethtool", "kamailio", "baresip", "tcpdump")
    root = tmp_path_factory.mktemp("dtls")
    scenario = parse_scenario(SCENARIO, "dtls-srtp-setup.yaml")
    sim_dir = run_scenario(scenario, root / "sim").run_dir
    emu_dir = run_scenario(scenario, root / "emu", engine="emulation").run_dir
    return sim_dir, emu_dir


@pytest.mark.slow
def test_emulated_dtls_handshake_delays_the_media_as_simulated(runs: tuple[Path, Path]) -> None:
    """The caller's SRTP is keyed a round trip after the 200 OK in both engines (within
    50 ms), plus 1 s when the offerer dropped the first ClientHello (always in the
    simulator; in the emulation when it beat Kamailio's 200 OK); the callee's one way
    later; the set-up time holds it, and no RTP is sent before."""
    sim_dir, emu_dir = runs
    sim, emulated = _secure(sim_dir), _secure(emu_dir)
    print("sim:", sim, "\nemulation:", emulated)
    assert sim["dtls_s"] == pytest.approx(1.0 + 2 * ONE_WAY_S)
    # The RTP and the RTCP port each have a handshake; the first keyed starts the audio.
    handshakes = dtls_handshakes(emu_dir / "captures" / "ue.pcap")
    dropped = all(len(h.datagrams(1)) > 1 for h in handshakes)
    print("first ClientHello dropped:", dropped)
    expected_s = sim["dtls_s"] - (0.0 if dropped else DtlsConfig().initial_timeout_s)
    assert emulated["dtls_s"] == pytest.approx(expected_s, abs=TOLERANCE_S)
    for fields in (sim, emulated):  # the callee is keyed by the server's last flight
        callee_after = fields["callee_secure_s"] - fields["caller_secure_s"]
        assert callee_after == pytest.approx(ONE_WAY_S, abs=TOLERANCE_S)

    packets = pd.read_parquet(emu_dir / "packets.parquet")
    first_uplink = packets.loc[packets["direction"] == "uplink", "send_s"].min()
    answered_s = emulated["time_s"] - emulated["dtls_s"]
    assert first_uplink >= answered_s + expected_s - TOLERANCE_S
    assert first_uplink == pytest.approx(emulated["time_s"], abs=TOLERANCE_S)
    metrics = pd.read_parquet(emu_dir / "metrics.parquet")
    sim_metrics = pd.read_parquet(sim_dir / "metrics.parquet")
    print("set-up time, emulation:", metrics["setup_time_s"].tolist())
    print("set-up time, sim:", sim_metrics["setup_time_s"].tolist())
    assert (metrics["setup_time_s"] > emulated["dtls_s"]).all()


@pytest.mark.slow
def test_captured_dtls_flights_are_the_models(runs: tuple[Path, Path]) -> None:
    """Each captured handshake is the model's four flights, one datagram per transmission,
    of the model's sizes for the RSA certificates sent (libre's random serials make them a
    byte longer or shorter), every message whole, no HelloVerifyRequest; a dropped first
    ClientHello is sent again when the 1 s timer fires."""
    handshakes = dtls_handshakes(runs[1] / "captures" / "ue.pcap")
    assert handshakes, "no DTLS ClientHello in the capture"
    timer_s = DtlsConfig().initial_timeout_s
    start_s = min(d.time_s for h in handshakes for _, d in h.flights)
    for handshake in handshakes:
        datagrams = [d for _, d in handshake.flights]
        for number, d in handshake.flights:
            at_s = d.time_s - start_s
            print(f"{handshake.client} flight {number} at {at_s:.4f} s: {d.udp_bytes} B UDP")
        assert not any(d.has(_HELLO_VERIFY_REQUEST) for d in datagrams)
        assert all(r.whole for d in datagrams for r in d.records)
        numbers = [n for n, _ in handshake.flights]
        assert numbers == sorted(numbers)  # a loss-free path: no flight resent after the next
        counts = Counter(numbers)
        assert [counts[2], counts[3], counts[4]] == [1, 1, 1]
        assert counts[1] in (1, 2)  # 2: the first ClientHello was dropped
        certificates = [handshake.certificate(n) for n in (2, 3)]
        assert all(_RSA_ENCRYPTION_OID in c for c in certificates)  # RSA keys, as modelled
        expected = baresip_flight_bytes(*(len(c) for c in certificates))
        for number, d in handshake.flights:
            assert d.ip_bytes == d.udp_bytes + 20 + 8  # IPv4
            if number == 4:
                assert d.udp_bytes in (expected[3], expected[3] - _TICKET_BLOCK_BYTES)
            else:
                assert d.udp_bytes == expected[number - 1], f"flight {number}"
        hellos = handshake.datagrams(1)
        if len(hellos) == 2:
            gap_s = hellos[1].time_s - hellos[0].time_s
            assert gap_s == pytest.approx(timer_s, abs=TOLERANCE_S)
            assert handshake.datagrams(2)[0].time_s > hellos[1].time_s
