"""The baresip adapter's pure parts: builders, codec map, ctrl_tcp framing, log parsing, and the
alignment of a recording to its reference."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from voipbed.emulation.audio import (
    Audio,
    align,
    espeak_argv,
    read_wav,
    rms_dbfs,
    score_call,
    sox_convert_argv,
    write_wav,
)
from voipbed.emulation.stacks import Transport
from voipbed.emulation.stacks.baresip import (
    AnswerMode,
    AudioFormat,
    BaresipControl,
    BaresipControlError,
    BaresipSpec,
    CtrlEvent,
    CtrlResponse,
    MediaEncryption,
    NetstringError,
    UnsupportedCodecError,
    UnsupportedSrtpError,
    baresip_accounts,
    baresip_argv,
    baresip_codec,
    baresip_config,
    baresip_spec,
    ctrl_command,
    netstring_encode,
    netstring_split,
    parse_baresip_log,
    parse_ctrl_message,
)
from voipbed.models.codecs import CODECS, PayloadFormat

FIXTURES = Path(__file__).parent.parent / "fixtures" / "baresip"


def _spec(**changes: Any) -> BaresipSpec:
    spec = BaresipSpec(
        user="alice",
        address="127.0.0.1",
        sip_port=5160,
        ctrl_port=5170,
        rtp_ports=(20000, 20009),
        codec="PCMU",
        ptime_s=0.020,
        audio_source=Path("/tmp/run/speech.wav"),
        record_dir=Path("/tmp/run/alice-rec"),
    )
    return replace(spec, **changes)


def _config(spec: BaresipSpec) -> list[tuple[str, str]]:
    """The config file's (key, value) lines, comments skipped."""
    lines = [line.split(None, 1) for line in baresip_config(spec).splitlines()]
    return [(parts[0], parts[1].strip()) for parts in lines if parts and parts[0][0] != "#"]


def _values(spec: BaresipSpec, key: str) -> list[str]:
    return [value for name, value in _config(spec) if name == key]


# --- codec map -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "module", "sdp_name", "rate"),
    [
        ("PCMU", "g711", "PCMU/8000/1", 8000),
        ("PCMA", "g711", "PCMA/8000/1", 8000),
        ("G722", "g722", "G722/16000/1", 16000),
        ("AMR-12.2", "amr", "AMR/8000/1", 8000),
        ("AMR-WB-23.85", "amr", "AMR-WB/16000/1", 16000),
        ("OPUS-NB-8", "opus", "opus/8000/1", 8000),
        ("OPUS-WB-24", "opus", "opus/16000/1", 16000),
        ("OPUS-FB-64", "opus", "opus/48000/1", 48000),
    ],
)
def test_codec_map_names_module_and_baresip_codec(
    name: str, module: str, sdp_name: str, rate: int
) -> None:
    """Each supported voipbed codec maps to its baresip module, codec name and PCM rate."""
    media = baresip_codec(name)
    assert (media.module, media.sdp_name, media.pcm_rate_hz) == (module, sdp_name, rate)


def test_opus_parameters_follow_the_codec_rate_and_bandwidth() -> None:
    """Opus is configured at the voipbed codec's bit rate, CBR, capped at its bandwidth."""
    for name in ("OPUS-NB-12", "OPUS-WB-16", "OPUS-FB-32"):
        params = dict(baresip_codec(name).params)
        assert params["opus_bitrate"] == str(round(CODECS[name].bitrate_bps))
        assert params["opus_samplerate"] == str(CODECS[name].sample_rate_hz)
        assert params["opus_cbr"] == "yes"


@pytest.mark.parametrize("name", ["G729", "AMR-7.95", "AMR-WB-12.65", "EVS-WB-13.2", "iLBC-20"])
def test_codecs_baresip_cannot_send_raise_a_clear_error(name: str) -> None:
    """A known codec baresip cannot send raises, naming it and what baresip can do."""
    with pytest.raises(UnsupportedCodecError, match=rf"cannot send codec '{name}'.*PCMU"):
        baresip_codec(name)


def test_unknown_codec_raises_the_codec_tables_error() -> None:
    """An unknown codec name is a ValueError from the codec table, not an unsupported one."""
    with pytest.raises(ValueError, match="unknown codec") as error:
        baresip_codec("SPEEX")
    assert not isinstance(error.value, UnsupportedCodecError)


def test_every_voipbed_codec_is_mapped_or_refused() -> None:
    """No voipbed codec falls through: each maps, or raises UnsupportedCodecError."""
    mapped = 0
    for name in CODECS:
        try:
            assert baresip_codec(name).voipbed_name == name
            mapped += 1
        except UnsupportedCodecError:
            pass
    assert mapped == 5 + sum(name.startswith("OPUS-") for name in CODECS)


@pytest.mark.parametrize(
    ("wideband", "kept", "sent"),
    [
        (True, "AMR-WB-23.85", "AMR-WB at mode 8 (23.85 kbit/s)"),
        (False, "AMR-12.2", "AMR at mode 7 (12.2 kbit/s)"),
    ],
)
def test_other_amr_modes_are_refused_naming_the_mode_baresip_encodes(
    wideband: bool, kept: str, sent: str
) -> None:
    """Each AMR or AMR-WB mode but the one baresip encodes is refused, naming that mode."""
    names = [n for n in CODECS if n.startswith("AMR-") and n.startswith("AMR-WB-") == wideband]
    refused = [n for n in names if n != kept]
    assert len(refused) == (8 if wideband else 7)  # TS 26.201 / 26.101: 9 and 8 modes
    for name in refused:
        with pytest.raises(UnsupportedCodecError, match=r"encodes .*only: modules/amr/amr\.c") as e:
            baresip_codec(name)
        assert sent in str(e.value)


@pytest.mark.parametrize(("name", "payload_bytes"), [("AMR-12.2", 33), ("AMR-WB-23.85", 62)])
def test_amr_is_sent_octet_aligned(name: str, payload_bytes: int) -> None:
    """baresip sends AMR octet-aligned: one byte more than the model's bandwidth-efficient."""
    sent = baresip_codec(name).sent
    assert sent.payload_format is PayloadFormat.AMR_OCTET_ALIGNED
    assert sent.payload_bytes(0.020) == payload_bytes
    assert CODECS[name].payload_bytes(0.020) == payload_bytes - 1


def test_codecs_sent_in_their_own_format_are_the_models() -> None:
    """A codec baresip sends as modelled is the codec table's own entry."""
    assert baresip_codec("G722").sent is CODECS["G722"]


@pytest.mark.parametrize("name", ["AMR-12.2", "AMR-WB-23.85"])
def test_amr_is_sent_at_20_ms_only(name: str) -> None:
    """baresip's amr module packs one 20 ms frame a packet: 40 ms is refused with why."""
    media = baresip_codec(name)
    assert media.ptime_problem(0.020) is None
    problem = media.ptime_problem(0.040)
    assert problem is not None
    assert "at 20 ms only, not 40 ms" in problem and "one 20 ms frame per packet" in problem
    with pytest.raises(UnsupportedCodecError, match="at 20 ms only, not 40 ms"):
        _spec(codec=name, ptime_s=0.040)


def test_other_codecs_take_every_ptime_of_the_codec() -> None:
    """Codecs without a module limit have no ptime problem at any of their ptimes."""
    for name in ("PCMU", "G722", "OPUS-WB-24"):
        assert all(baresip_codec(name).ptime_problem(p) is None for p in CODECS[name].ptimes_s)


# --- spec validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ctrl_port": 5161}, "collides with SIP"),
        ({"sip_port": 65535}, "TLS"),
        ({"rtp_ports": (20000, 20000)}, "at least 2 ports"),
        ({"codec": "G729"}, "cannot send"),
        ({"ptime_s": 0.025}, "not sent at 25 ms"),
        ({"audio_source": Path("/tmp/my speech.wav")}, "without whitespace"),
        ({"audio_source": Path("/a" * 61)}, "baresip cuts paths beyond 120"),
        ({"record_dir": Path("r" * 121)}, "baresip cuts paths beyond 120"),
        ({"address": "localhost"}, "IP address"),
        ({"user": "al ice"}, "SIP user name"),
        ({"jitter_buffer_frames": (10, 5)}, "min <= max"),
        ({"dscp": 64}, "0..63"),
        ({"transport": Transport.TLS}, "TLS needs tls_certificate"),
        ({"tls_ca": Path("/tmp/my ca.pem")}, "without whitespace"),
    ],
)
def test_invalid_specs_raise(changes: dict[str, Any], message: str) -> None:
    """A spec baresip could not run as meant is refused when it is built."""
    with pytest.raises(ValueError, match=message):
        _spec(**changes)


def test_spec_from_scenario_takes_codec_ptime_and_dscp() -> None:
    """baresip_spec takes the codec, ptime and DSCP from the scenario's calls."""

    class Calls:
        codec = "G722"
        ptime_s = 0.030
        dscp = 34
        srtp_tag_bits = 0
        srtp_keying = "sdes"

    spec = baresip_spec(
        Calls(),  # type: ignore[arg-type]
        user="bob",
        address="10.0.0.2",
        sip_port=5060,
        ctrl_port=4444,
        rtp_ports=(10000, 10099),
        audio_source=Path("/tmp/s.wav"),
    )
    assert (spec.codec, spec.ptime_s, spec.dscp) == ("G722", 0.030, 34)
    assert "ptime=30" in baresip_accounts(spec)
    assert _values(spec, "rtp_tos") == [str(34 << 2)]


# --- config, accounts, argv ----------------------------------------------------------------


def test_config_loads_only_the_modules_a_call_needs() -> None:
    """The config loads the codec, aufile, sndfile, account, menu and ctrl_tcp, nothing else."""
    modules = [value for key, value in _config(_spec(codec="G722")) if key.startswith("module")]
    assert modules == [
        "/usr/lib/baresip/modules",
        "g722.so",
        "aufile.so",
        "sndfile.so",
        "account.so",
        "menu.so",
        "ctrl_tcp.so",
    ]


def test_amr_wb_config_and_account_name_the_amr_module_and_codec() -> None:
    """An AMR-WB spec loads amr.so and offers AMR-WB/16000/1 at 20 ms."""
    spec = _spec(codec="AMR-WB-23.85")
    assert "amr.so" in _values(spec, "module")
    params = baresip_accounts(spec).strip().split(";")
    assert "audio_codecs=AMR-WB/16000/1" in params and "ptime=20" in params


def test_config_without_recording_loads_no_sndfile() -> None:
    """Without record_dir there is no sndfile module and no snd_path."""
    spec = _spec(record_dir=None)
    assert "sndfile.so" not in _values(spec, "module")
    assert _values(spec, "snd_path") == []


def test_config_binds_everything_to_the_spec_address() -> None:
    """SIP, ctrl_tcp and the SDP address (net_interface) are all the spec's address."""
    spec = _spec(address="10.0.0.1", sip_port=5062, ctrl_port=4445, rtp_ports=(30000, 30019))
    assert _values(spec, "sip_listen") == ["10.0.0.1:5062"]
    assert _values(spec, "ctrl_tcp_listen") == ["10.0.0.1:4445"]
    assert _values(spec, "net_interface") == ["10.0.0.1"]
    assert _values(spec, "rtp_ports") == ["30000-30019"]
    assert _values(spec, "audio_source") == ["aufile,/tmp/run/speech.wav"]
    assert _values(spec, "snd_path") == ["/tmp/run/alice-rec"]
    assert _values(spec, "ausrc_srate") == []
    assert _values(spec, "audio_player") == []  # no audio device at all


def test_config_brackets_ipv6_and_sets_source_rate() -> None:
    """IPv6 addresses are bracketed in host:port; source_rate_hz sets ausrc_srate."""
    spec = _spec(address="fd00::1", source_rate_hz=16000)
    assert _values(spec, "sip_listen") == ["[fd00::1]:5160"]
    assert _values(spec, "ausrc_srate") == ["16000"]
    assert spec.contact_uri == "sip:alice@[fd00::1]:5160"


def test_accounts_line_without_registrar_does_not_register() -> None:
    """Without a registrar the account is the contact URI, regint=0, codec and ptime set."""
    text = baresip_accounts(_spec(codec="PCMA", ptime_s=0.040))
    assert text.endswith("\n") and text.count("\n") == 1
    aor, *params = text.strip().split(";")
    assert aor == "<sip:alice@127.0.0.1:5160>"
    assert "regint=0" in params
    assert "audio_codecs=PCMA/8000/1" in params
    assert "ptime=40" in params
    assert "answermode=auto" in params


def test_accounts_line_with_registrar_registers_there() -> None:
    """With a registrar the AOR is at the registrar and the account registers periodically."""
    spec = _spec(registrar="10.0.0.9:5060", register_interval_s=120, answer_mode=AnswerMode.MANUAL)
    text = baresip_accounts(spec)
    assert text.startswith("<sip:alice@10.0.0.9:5060>;")
    assert "regint=120" in text and "answermode=manual" in text
    assert spec.contact_uri == "sip:alice@127.0.0.1:5160"


def test_tls_account_registers_over_tls_and_serves_its_certificate() -> None:
    """A TLS spec's account is ;transport=tls at the registrar; the config names its
    certificate (sip_certificate) and CA (sip_cafile)."""
    spec = _spec(
        registrar="10.0.0.1:5061",
        transport=Transport.TLS,
        tls_certificate=Path("tls/user-agents-bundle.pem"),
        tls_ca=Path("tls/ca.pem"),
    )
    assert baresip_accounts(spec).startswith("<sip:alice@10.0.0.1:5061;transport=tls>;")
    assert _values(spec, "sip_certificate") == ["tls/user-agents-bundle.pem"]
    assert _values(spec, "sip_cafile") == ["tls/ca.pem"]


def test_config_without_tls_names_no_certificate() -> None:
    """UDP and TCP specs leave sip_certificate and sip_cafile out."""
    spec = _spec(registrar="10.0.0.1:5060", transport=Transport.TCP)
    assert _values(spec, "sip_certificate") == _values(spec, "sip_cafile") == []


def test_plain_rtp_loads_no_srtp_module_and_sets_no_mediaenc() -> None:
    """Without media encryption neither srtp.so nor dtls_srtp.so is loaded; mediaenc is empty."""
    spec = _spec()
    assert not {"srtp.so", "dtls_srtp.so"} & set(_values(spec, "module"))
    assert "mediaenc=" in baresip_accounts(spec).strip().split(";")


@pytest.mark.parametrize(
    ("encryption", "module", "mediaenc"),
    [
        (MediaEncryption.SDES, "srtp.so", "mediaenc=srtp-mand"),
        (MediaEncryption.DTLS_SRTP, "dtls_srtp.so", "mediaenc=dtls_srtp"),
    ],
)
def test_media_encryption_loads_its_module_and_names_it_in_the_account(
    encryption: MediaEncryption, module: str, mediaenc: str
) -> None:
    """SDES loads srtp.so, DTLS-SRTP dtls_srtp.so, each once; the account's mediaenc names it."""
    spec = _spec(media_encryption=encryption)
    assert _values(spec, "module").count(module) == 1
    assert mediaenc in baresip_accounts(spec).strip().split(";")


@pytest.mark.parametrize(
    ("tag_bits", "keying", "expected"),
    [(0, "sdes", "none"), (80, "sdes", "sdes"), (80, "dtls", "dtls_srtp")],
)
def test_spec_from_scenario_keys_srtp_as_the_scenario_says(
    tag_bits: int, keying: str, expected: str
) -> None:
    """An 80-bit SRTP tag keyed by sdes becomes srtp-mand, by dtls dtls_srtp; 0 plain RTP."""

    class Calls:
        codec = "PCMU"
        ptime_s = 0.020
        dscp = 46
        srtp_tag_bits = tag_bits
        srtp_keying = keying

    spec = baresip_spec(
        Calls(),  # type: ignore[arg-type]
        user="bob",
        address="10.0.0.2",
        sip_port=5060,
        ctrl_port=4444,
        rtp_ports=(10000, 10099),
        audio_source=Path("/tmp/s.wav"),
    )
    assert spec.media_encryption is MediaEncryption[expected.upper()]


def test_a_32_bit_srtp_tag_is_refused_naming_the_suite_baresip_offers() -> None:
    """baresip offers HMAC-SHA1-80 only: a 32-bit tag is refused with that fact."""
    with pytest.raises(UnsupportedSrtpError, match="AES_CM_128_HMAC_SHA1_80") as error:
        MediaEncryption.for_tag(32)
    assert "modules/srtp/srtp.c" in str(error.value) and "not 32" in str(error.value)


def test_argv_is_a_list_with_the_config_dir() -> None:
    """The argv runs baresip on the config dir, options only when asked for."""
    assert baresip_argv(Path("/tmp/a")) == ["baresip", "-f", "/tmp/a"]
    assert baresip_argv(Path("/tmp/a"), sip_trace=True, verbose=True) == [
        "baresip",
        "-f",
        "/tmp/a",
        "-s",
        "-v",
    ]
    with pytest.raises(ValueError, match="absolute"):
        baresip_argv(Path("relative"))


# --- netstrings and ctrl_tcp messages ------------------------------------------------------


def test_netstring_round_trip_and_partial_input() -> None:
    """Encoded netstrings split back into their payloads; a partial one is kept for later."""
    wire = netstring_encode(b"hello") + netstring_encode(b"") + netstring_encode(b"x:y,z")
    assert wire == b"5:hello,0:,5:x:y,z,"
    for cut in range(len(wire) + 1):
        first, rest = netstring_split(wire[:cut])
        second, left = netstring_split(rest + wire[cut:])
        assert first + second == [b"hello", b"", b"x:y,z"]
        assert left == b""


@pytest.mark.parametrize("bad", [b"5:hello;", b"x5:hello,", b"05:hello,", b"abc", b"-1:,"])
def test_malformed_netstrings_raise(bad: bytes) -> None:
    """Bad length prefixes and missing trailing commas are framing errors."""
    with pytest.raises(NetstringError):
        netstring_split(bad)


def test_ctrl_command_is_a_netstring_of_json() -> None:
    """A command goes out as a netstring of {command, params, token}."""
    payloads, rest = netstring_split(ctrl_command("dial", "sip:bob@127.0.0.1:5162", "t1"))
    assert rest == b""
    assert json.loads(payloads[0]) == {
        "command": "dial",
        "params": "sip:bob@127.0.0.1:5162",
        "token": "t1",
    }


def test_captured_ctrl_stream_parses_into_responses_and_events() -> None:
    """A real caller's ctrl_tcp stream gives the dial response, call events and a failure."""
    payloads, rest = netstring_split((FIXTURES / "ctrl_tcp_caller.netstrings").read_bytes())
    assert rest == b""
    messages = [parse_ctrl_message(payload) for payload in payloads]
    responses = [m for m in messages if isinstance(m, CtrlResponse)]
    events = [m for m in messages if isinstance(m, CtrlEvent)]
    assert responses == [
        CtrlResponse(ok=True, data="", token="voipbed-1"),
        CtrlResponse(ok=False, data="command not found (nosuchcommand)\n", token="voipbed-2"),
    ]
    types = [event.type for event in events]
    assert types.index("CALL_RINGING") < types.index("CALL_ESTABLISHED") < len(types) - 1
    assert types[-2:] == ["AUDIO_ERROR", "CALL_CLOSED"]
    closed = events[-1]
    assert closed.param == "end of file"
    assert closed.peer_uri == "sip:bob@127.0.0.1:5162"
    ringing = events[types.index("CALL_RINGING")]
    assert closed.call_id is not None and closed.call_id == ringing.call_id
    rtcp = [event for event in events if event.type == "CALL_RTCP"]
    assert rtcp and "rtcp_stats" in rtcp[-1].fields


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]", b'{"something": true}'])
def test_unparseable_ctrl_messages_raise(payload: bytes) -> None:
    """Non-JSON, non-objects and objects that are neither response nor event raise."""
    with pytest.raises(ValueError, match="ctrl_tcp message"):
        parse_ctrl_message(payload)


class _FakeBaresip:
    """A one-connection ctrl_tcp server on loopback that answers each command by script."""

    def __init__(self, reply: Any) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self.received: list[dict[str, str]] = []
        self._reply = reply
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        connection, _ = self.server.accept()
        with connection:
            buffer = b""
            while data := connection.recv(4096):
                payloads, buffer = netstring_split(buffer + data)
                for payload in payloads:
                    command = json.loads(payload)
                    self.received.append(command)
                    for message in self._reply(command):
                        connection.sendall(netstring_encode(json.dumps(message).encode()))

    def close(self) -> None:
        self.server.close()
        self._thread.join(timeout=2)


def _event(kind: str) -> dict[str, Any]:
    return {"event": True, "type": kind, "class": "call", "id": "c1", "param": "p"}


def test_control_client_matches_responses_by_token_and_keeps_events() -> None:
    """dial returns its own response; events sent before it are kept and awaited in order."""

    def reply(command: dict[str, str]) -> list[dict[str, Any]]:
        ok = {"response": True, "ok": True, "data": "done", "token": command["token"]}
        stale = {"response": True, "ok": True, "data": "other", "token": "someone-else"}
        return [_event("CALL_RINGING"), stale, ok, _event("CALL_ESTABLISHED")]

    fake = _FakeBaresip(reply)
    try:
        with BaresipControl("127.0.0.1", fake.port, timeout_s=2.0) as control:
            assert control.dial("sip:bob@127.0.0.1:5162") == "done"
            established = control.wait_event("CALL_ESTABLISHED")
            assert established.call_id == "c1"
            assert [event.type for event in control.events] == ["CALL_RINGING", "CALL_ESTABLISHED"]
            with pytest.raises(BaresipControlError, match="no CALL_CLOSED"):
                control.wait_event("CALL_CLOSED", timeout_s=0.2)
    finally:
        fake.close()
    assert fake.received[0]["command"] == "dial"
    assert fake.received[0]["params"] == "sip:bob@127.0.0.1:5162"


def test_control_client_raises_on_a_failed_command() -> None:
    """A response with ok=false raises, carrying baresip's message."""

    def reply(command: dict[str, str]) -> list[dict[str, Any]]:
        return [{"response": True, "ok": False, "data": "no call", "token": command["token"]}]

    fake = _FakeBaresip(reply)
    try:
        with (
            BaresipControl("127.0.0.1", fake.port, timeout_s=2.0) as control,
            pytest.raises(BaresipControlError, match=r"hangup .* failed: no call"),
        ):
            control.hangup()
    finally:
        fake.close()


# --- baresip's printed output --------------------------------------------------------------


def test_callee_log_gives_codecs_and_recordings() -> None:
    """A real callee's log: ready, PCMU both ways, its decode recording, no errors."""
    log = parse_baresip_log((FIXTURES / "callee_pcmu.stdout.log").read_text())
    assert log.version == "1.0.0" and log.ready
    assert log.encoders == log.decoders == (AudioFormat("PCMU", 8000, 1),)
    (received,) = log.recordings("decode")
    (sent,) = log.recordings("encode")
    assert received.name.endswith("-dec.wav") and sent.name.endswith("-enc.wav")
    assert received.parent == sent.parent
    assert log.established == ("sip:alice@127.0.0.1:5160",)
    assert log.errors == ()


def test_opus_caller_log_reports_the_rate_opus_runs_at() -> None:
    """A real Opus NB caller's log shows opus at 8000 Hz mono, as the codec map expects
    (its one error line is the unknown command that run sent on purpose)."""
    log = parse_baresip_log((FIXTURES / "caller_opus_nb.stdout.log").read_text())
    media = baresip_codec("OPUS-NB-8")
    assert log.encoders == (AudioFormat("opus", media.pcm_rate_hz, 1),)
    assert log.errors == ("ctrl_tcp: error processing command (Operation not supported)",)


def test_failed_audio_source_shows_as_errors() -> None:
    """A callee with no audio source logs red errors, which the parser collects."""
    log = parse_baresip_log((FIXTURES / "callee_no_audio_source.stdout.log").read_text())
    assert log.ready
    assert any("failed to open file" in error for error in log.errors)
    assert any("start_source failed" in error for error in log.errors)
    assert all("\x1b" not in error for error in log.errors)
    with pytest.raises(ValueError, match="direction"):
        log.recordings("both")


# --- audio: argv builders, WAV, alignment ---------------------------------------------------


def test_speech_argv_builders() -> None:
    """espeak-ng and sox argv lists: text after '--', mono 16-bit at the rate asked for."""
    argv = espeak_argv("-hello", Path("/tmp/raw.wav"), voice="en", words_per_minute=150)
    assert argv == ["espeak-ng", "-v", "en", "-s", "150", "-w", "/tmp/raw.wav", "--", "-hello"]
    sox = sox_convert_argv(Path("/tmp/raw.wav"), Path("/tmp/s.wav"), 16000)
    assert sox[:2] == ["sox", "/tmp/raw.wav"] and sox[-2:] == ["rate", "16000"]
    assert sox[sox.index("-c") + 1] == "1" and sox[sox.index("-b") + 1] == "16"
    with pytest.raises(ValueError, match="empty"):
        espeak_argv("  ", Path("/tmp/raw.wav"))


def test_wav_round_trip(tmp_path: Path) -> None:
    """A written WAV reads back to within half a 16-bit step, at its rate."""
    rng = np.random.default_rng(3)
    audio = Audio(rng.uniform(-0.9, 0.9, 4000), 8000)
    back = read_wav(write_wav(tmp_path / "a.wav", audio))
    assert back.sample_rate_hz == 8000
    assert np.max(np.abs(back.samples - audio.samples)) <= 0.5 / 32768 + 1e-12


def _speechlike(rng: np.random.Generator, n: int) -> np.ndarray:
    """Noise bursts with pauses: a signal whose autocorrelation has one clear peak."""
    envelope = np.repeat(rng.random(n // 400 + 1) > 0.3, 400)[:n]
    return rng.normal(0.0, 0.1, n) * envelope


@pytest.mark.parametrize("lag", [0, 1, 37, 1600, -25, -800])
def test_align_finds_a_known_lag(lag: int) -> None:
    """A delayed (or late-starting) copy with noise is found at its lag, overlap aligned."""
    rng = np.random.default_rng(abs(lag) + 1)
    reference = _speechlike(rng, 16000)
    if lag >= 0:
        recorded = np.concatenate([np.zeros(lag), 0.5 * reference])
    else:
        recorded = 0.5 * reference[-lag:]
    recorded = recorded + rng.normal(0.0, 0.005, recorded.size)
    result = align(reference, recorded)
    assert result.lag_samples == lag
    assert result.reference.size == result.degraded.size == reference.size - abs(min(lag, 0))
    assert result.correlation > 0.95
    assert np.allclose(result.degraded, 0.5 * result.reference, atol=0.03)


def test_align_respects_max_lag_and_reports_unrelated_signals() -> None:
    """Outside max_lag the true lag is not found, and the correlation says so."""
    rng = np.random.default_rng(7)
    reference = _speechlike(rng, 8000)
    recorded = np.concatenate([np.zeros(3000), reference])
    assert align(reference, recorded, max_lag_samples=3000).lag_samples == 3000
    limited = align(reference, recorded, max_lag_samples=1000)
    assert abs(limited.lag_samples) <= 1000
    assert limited.correlation < 0.3
    with pytest.raises(ValueError, match="silent"):
        align(reference, np.zeros(100))


def test_score_call_of_a_delayed_copy_is_near_perfect() -> None:
    """A clean copy recorded 120 ms late scores as PESQ's best, with the lag reported."""
    rng = np.random.default_rng(11)
    # Voiced-speech-like: a 150 Hz pulse train through bursts, with pauses.
    t = np.arange(3 * 8000) / 8000
    voiced = np.sign(np.sin(2 * np.pi * 150 * t)) * 0.2
    sent = Audio(voiced * np.repeat(rng.random(61) > 0.3, 400)[: t.size], 8000)
    received = Audio(np.concatenate([np.zeros(960), sent.samples]), 8000)
    score = score_call(sent, received, "nb")
    assert score.lag_s == pytest.approx(0.120)
    assert score.mos_lqo > 4.4
    assert score.correlation == pytest.approx(1.0)
    assert rms_dbfs(received.samples) < 0.0


def test_dtls_keying_without_srtp_is_refused() -> None:
    """DTLS-SRTP keying of plain RTP (tag 0) is an error, not silently plain RTP."""
    with pytest.raises(ValueError, match="DTLS-SRTP"):
        MediaEncryption.for_keying(0, "dtls")
