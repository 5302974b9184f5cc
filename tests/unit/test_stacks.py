"""Kamailio and SIPp adapters: config, scenario and argv builders, and SIPp output parsers."""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from voipbed.emulation.stacks import Transport
from voipbed.emulation.stacks.kamailio import (
    READY_LINE,
    REQUEST_LOG_PREFIX,
    SIP_TLS_PORT,
    KamailioSpec,
    kamailio_argv,
    kamailio_config,
    kamailio_tls_config,
)
from voipbed.emulation.stacks.sipp import (
    RTD_BYE,
    RTD_SETUP,
    SippRole,
    SippSpec,
    parse_rtt_csv,
    parse_sipp_duration,
    parse_stat_csv,
    sipp_argv,
    sipp_scenario,
    summarize_rtt,
    unexpected_messages,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sipp"
RUN = Path("/runs/r1")


def fixture(name: str) -> str:
    """The text of a SIPp output saved from a real run (see tests/fixtures/sipp)."""
    return (FIXTURES / name).read_text()


def option(argv: list[str], flag: str) -> str:
    """The value following ``flag`` in ``argv``."""
    assert argv.count(flag) == 1, f"{flag} appears {argv.count(flag)} times in {argv}"
    return argv[argv.index(flag) + 1]


def uac(**changes: object) -> SippSpec:
    """A caller spec with a few fields changed."""
    fields: dict[str, object] = {
        "role": SippRole.UAC,
        "name": "uac",
        "run_dir": RUN,
        "local_address": "10.0.0.2",
        "local_port": 5070,
        "remote_address": "10.0.0.1",
        "remote_port": 5080,
        "user": "alice",
        "rate_cps": 2.5,
        "call_count": 40,
        "timeout_s": 20.0,
    }
    fields.update(changes)
    return SippSpec(**fields)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- Kamailio


def test_kamailio_config_loads_what_routing_needs() -> None:
    """The config loads tm, sl, rr, usrloc in memory and registrar, and uses each."""
    text = kamailio_config(KamailioSpec("10.0.0.1", 5080))
    for module in ("tm", "sl", "rr", "usrloc", "registrar"):
        assert f'loadmodule "{module}.so"' in text
    assert 'modparam("usrloc", "db_mode", 0)' in text
    assert 'save("location")' in text
    assert 'lookup("location")' in text
    assert "record_route()" in text
    assert "loose_route()" in text
    assert "t_relay()" in text
    assert READY_LINE in text


def test_kamailio_config_listens_as_asked() -> None:
    """Listen lines follow the spec's address, port and transports; TCP off without it."""
    both = kamailio_config(KamailioSpec("10.0.0.1", 5080))
    assert re.findall(r"^listen=(.*)$", both, re.MULTILINE) == [
        "udp:10.0.0.1:5080",
        "tcp:10.0.0.1:5080",
    ]
    assert "disable_tcp=no" in both
    udp_only = kamailio_config(KamailioSpec("10.0.0.1", 5080, transports=(Transport.UDP,)))
    assert re.findall(r"^listen=(.*)$", udp_only, re.MULTILINE) == ["udp:10.0.0.1:5080"]
    assert "disable_tcp=yes" in udp_only
    v6 = kamailio_config(KamailioSpec("fd00::1", 5060, transports=(Transport.TCP,)))
    assert "listen=tcp:[fd00::1]:5060" in v6


def test_kamailio_config_with_tls_loads_the_tls_module_and_listens_on_5061() -> None:
    """TLS adds a tls listener on the TLS port, the tls module first with its config file,
    and keeps TCP on (TLS runs on it); without TLS there is no trace of it."""
    all_three = (Transport.UDP, Transport.TCP, Transport.TLS)
    text = kamailio_config(KamailioSpec("10.0.0.1", transports=all_three, tls_config="/r/tls.cfg"))
    assert re.findall(r"^listen=(.*)$", text, re.MULTILINE) == [
        "udp:10.0.0.1:5060",
        "tcp:10.0.0.1:5060",
        f"tls:10.0.0.1:{SIP_TLS_PORT}",
    ]
    assert SIP_TLS_PORT == 5061
    assert "enable_tls=yes" in text
    modules = re.findall(r'^loadmodule "(\w+)\.so"$', text, re.MULTILINE)
    assert modules[0] == "tls"
    assert 'modparam("tls", "config", "/r/tls.cfg")' in text
    tls_only = kamailio_config(
        KamailioSpec("10.0.0.1", transports=(Transport.TLS,), tls_port=5071, tls_config="/t")
    )
    assert re.findall(r"^listen=(.*)$", tls_only, re.MULTILINE) == ["tls:10.0.0.1:5071"]
    assert "disable_tcp=no" in tls_only
    plain = kamailio_config(KamailioSpec("10.0.0.1"))
    assert "enable_tls=no" in plain and "tls.so" not in plain and '"tls"' not in plain


def test_kamailio_tls_needs_a_config_and_its_own_port() -> None:
    """TLS without its tls.cfg, or on the UDP/TCP port, is refused."""
    with pytest.raises(ValueError, match="tls_config"):
        KamailioSpec("10.0.0.1", transports=(Transport.TLS,))
    with pytest.raises(ValueError, match="tls_port"):
        KamailioSpec("10.0.0.1", transports=(Transport.TLS,), tls_port=5060, tls_config="/t")


def test_kamailio_tls_config_serves_the_certificate_over_tls_1_2_or_later() -> None:
    """The tls.cfg serves the certificate and key, TLS 1.2+, and asks no peer certificate
    as server or client; a CA list is named only when given."""
    text = kamailio_tls_config(Path("/r/tls/sip-core.pem"), Path("/r/tls/sip-core.key"))
    server, client = text.split("[client:default]")
    assert "[server:default]" in server
    assert "certificate = /r/tls/sip-core.pem" in server
    assert "private_key = /r/tls/sip-core.key" in server
    for section in (server, client):
        assert "method = TLSv1.2+" in section
        assert "verify_certificate = no" in section
        assert "require_certificate = no" in section
    assert "ca_list" not in text
    with_ca = kamailio_tls_config("/c.pem", "/k.pem", ca_list="/ca.pem")
    assert with_ca.count("ca_list = /ca.pem") == 2
    with pytest.raises(ValueError, match="cannot be written"):
        kamailio_tls_config("/c.pem\n[x]", "/k.pem")


def test_kamailio_alias_only_for_a_separate_domain() -> None:
    """A port-less alias of the listen address would make every local contact 'myself'."""
    assert "alias=" not in kamailio_config(KamailioSpec("127.0.0.1", 5080))
    named = kamailio_config(KamailioSpec("127.0.0.1", 5080, domain="core.voipbed.test"))
    assert 'alias="core.voipbed.test"' in named


def test_kamailio_request_log_is_optional() -> None:
    """log_requests logs initial and in-dialog requests; nothing is logged by default."""
    assert REQUEST_LOG_PREFIX not in kamailio_config(KamailioSpec("10.0.0.1"))
    logged = kamailio_config(KamailioSpec("10.0.0.1", log_requests=True))
    assert f"{REQUEST_LOG_PREFIX} initial $rm $ru" in logged
    assert f"{REQUEST_LOG_PREFIX} in-dialog $rm $ru" in logged


@pytest.mark.parametrize(
    "changes",
    [{"address": "core"}, {"port": 0}, {"transports": ()}, {"children": 0}],
)
def test_kamailio_spec_rejects_bad_values(changes: dict[str, object]) -> None:
    """Addresses must be IPs, ports in range, transports non-empty, workers positive."""
    fields: dict[str, object] = {"address": "10.0.0.1", **changes}
    with pytest.raises(ValueError):
        KamailioSpec(**fields)  # type: ignore[arg-type]


def test_kamailio_argv_stays_in_the_run_folder() -> None:
    """Foreground, stderr logging, runtime dir in the run folder, no pid file."""
    argv = kamailio_argv(RUN / "kamailio.cfg", run_dir=RUN, shm_mb=16)
    assert argv[0] == "/usr/sbin/kamailio"
    assert option(argv, "-f") == str(RUN / "kamailio.cfg")
    assert option(argv, "-Y") == str(RUN)
    assert option(argv, "-w") == str(RUN)
    assert option(argv, "-m") == "16"
    assert "-DD" in argv
    assert "-E" in argv
    assert "-P" not in argv
    assert not any("/var/run" in arg or "/etc/kamailio" in arg for arg in argv)


# ----------------------------------------------------------------------------------- SIPp


def test_uac_argv() -> None:
    """A caller targets the proxy with the user, rate, count, timeout and trace files."""
    spec = uac()
    argv = sipp_argv(spec)
    assert argv[:2] == ["/usr/bin/sipp", "10.0.0.1:5080"]
    assert option(argv, "-sf") == str(RUN / "uac.xml")
    assert option(argv, "-i") == "10.0.0.2"
    assert option(argv, "-p") == "5070"
    assert option(argv, "-t") == "u1"
    assert option(argv, "-s") == "alice"
    assert option(argv, "-r") == "2.5"
    assert option(argv, "-m") == "40"
    assert option(argv, "-timeout") == "20000ms"
    assert option(argv, "-stf") == str(spec.stat_path)
    assert option(argv, "-error_file") == str(spec.error_path)
    assert spec.stat_path.parent == spec.error_path.parent == RUN
    for flag in ("-timeout_error", "-nostdin", "-trace_stat", "-trace_rtt", "-trace_err"):
        assert flag in argv
    assert "-bg" not in argv
    assert "-l" not in argv


def test_tcp_and_limits_change_the_argv() -> None:
    """TCP is -t t1; a concurrency limit becomes -l; the rate keeps its fraction."""
    argv = sipp_argv(uac(transport=Transport.TCP, max_concurrent_calls=7, rate_cps=0.5))
    assert option(argv, "-t") == "t1"
    assert option(argv, "-l") == "7"
    assert option(argv, "-r") == "0.5"


def test_uas_argv_listens_and_takes_no_target() -> None:
    """An answerer has no remote host, no rate and no user, but a fixed port and -m."""
    spec = SippSpec(SippRole.UAS, "uas", RUN, "10.0.0.3", 5090, call_count=5)
    argv = sipp_argv(spec)
    assert argv[1] == "-sf"
    assert option(argv, "-p") == "5090"
    assert option(argv, "-m") == "5"
    assert "-r" not in argv
    assert "-s" not in argv


@pytest.mark.parametrize(
    "changes",
    [
        {"role": SippRole.UAS, "local_port": None},
        {"remote_address": None},
        {"rate_cps": 0.0},
        {"rate_cps": math.inf},
        {"call_count": 0},
        {"user": "a b"},
        {"name": "../x"},
        {"local_address": "localhost"},
        {"call_duration_s": -1.0},
        {"max_concurrent_calls": 0},
        {"transport": Transport.TLS},  # Debian's SIPp has no OpenSSL
    ],
)
def test_sipp_spec_rejects_bad_values(changes: dict[str, object]) -> None:
    """Specs that SIPp would misread or that cannot work are refused when built."""
    with pytest.raises(ValueError):
        uac(**changes)


def test_scenarios_are_well_formed_xml() -> None:
    """Each role's scenario parses as XML and has the messages SIPp plays."""
    register = uac(role=SippRole.REGISTER, name="reg")
    uas = SippSpec(SippRole.UAS, "uas", RUN, "10.0.0.3", 5090)
    for spec, first in ((uac(), "send"), (uas, "recv"), (register, "send")):
        root = ET.fromstring(sipp_scenario(spec).encode("iso-8859-1"))
        assert root.tag == "scenario"
        assert root[0].tag == first


def test_uac_scenario_follows_the_route_set() -> None:
    """The caller keeps the Record-Route set and sends ACK and BYE along it."""
    spec = uac(call_duration_s=1.5)
    root = ET.fromstring(sipp_scenario(spec))
    ok = [recv for recv in root.iter("recv") if recv.get("response") == "200"]
    assert ok[0].get("rrs") == "true"
    assert ok[0].get("rtd") == str(RTD_SETUP)
    assert ok[1].get("rtd") == str(RTD_BYE)
    messages = [(send.text or "").strip() for send in root.iter("send")]
    assert messages[0].startswith("INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0")
    for message, method in zip(messages[1:], ("ACK", "BYE"), strict=True):
        assert message.startswith(f"{method} [next_url] SIP/2.0")
        assert "[routes]" in message
    pause = root.find("pause")
    assert pause is not None
    assert pause.get("milliseconds") == "1500"


def test_uas_scenario_echoes_record_route() -> None:
    """The answerer copies Record-Route into 180 and 200 so the caller learns the route."""
    root = ET.fromstring(sipp_scenario(SippSpec(SippRole.UAS, "uas", RUN, "10.0.0.3", 5090)))
    replies = [(send.text or "").strip() for send in root.iter("send")]
    assert [reply.splitlines()[0] for reply in replies] == [
        "SIP/2.0 180 Ringing",
        "SIP/2.0 200 OK",
        "SIP/2.0 200 OK",
    ]
    assert all("[last_Record-Route:]" in reply for reply in replies[:2])
    assert [recv.get("request") for recv in root.iter("recv")] == ["INVITE", "ACK", "BYE"]


def test_register_scenario_binds_the_given_contact() -> None:
    """A REGISTER client can bind another SIPp's address and port to the user."""
    spec = uac(
        role=SippRole.REGISTER,
        name="reg",
        contact_address="10.0.0.3",
        contact_port=5090,
        expires_s=600,
    )
    text = sipp_scenario(spec)
    assert "REGISTER sip:[remote_ip] SIP/2.0" in text  # SIPp writes the registrar's address
    assert "Contact: <sip:alice@10.0.0.3:5090;transport=[transport]>" in text
    assert "Expires: 600" in text
    own = sipp_scenario(uac(role=SippRole.REGISTER, name="reg", domain="voipbed.test"))
    assert "Contact: <sip:alice@[local_ip]:[local_port];transport=[transport]>" in own
    assert "To: <sip:alice@voipbed.test>" in own
    v6 = uac(role=SippRole.REGISTER, name="reg", contact_address="fd00::3", contact_port=5090)
    with pytest.raises(ValueError, match="IPv6 contact"):
        sipp_scenario(v6)


# -------------------------------------------------------------------- parsers on fixtures


def test_parse_stat_csv_successful_caller() -> None:
    """The caller's fixture: 8 calls at 5 cps, all successful, 200 ms calls."""
    stats = parse_stat_csv(fixture("uac_stats.csv"))
    assert stats.outgoing_calls == stats.calls_created == 8
    assert stats.successful_calls == 8
    assert stats.failed_calls == 0
    assert stats.failed_by_reason == {}
    assert len(stats.response_time_mean_s) == 2
    assert 0.0 <= stats.response_time_mean_s[0] < 0.05
    assert 0.2 <= stats.call_length_mean_s < 0.3
    assert 0 < stats.call_rate_cps <= 5.0


def test_parse_stat_csv_answerer_and_registration() -> None:
    """The answerer counts incoming calls; the REGISTER client one successful 'call'."""
    uas = parse_stat_csv(fixture("uas_stats.csv"))
    assert uas.incoming_calls == uas.successful_calls == 8
    assert uas.outgoing_calls == 0
    assert uas.response_time_mean_s == ()
    register = parse_stat_csv(fixture("register_stats.csv"))
    assert register.successful_calls == 1
    assert register.failed_calls == 0


def test_parse_stat_csv_failures_by_reason() -> None:
    """Calls to an unregistered user fail on the unexpected 404, counted by reason."""
    stats = parse_stat_csv(fixture("uac_404_stats.csv"))
    assert stats.successful_calls == 0
    assert stats.failed_calls == 3
    assert stats.failed_by_reason == {"FailedUnexpectedMessage": 3}
    assert unexpected_messages(fixture("uac_404_errors.log")) == 3
    assert "404 Not Found" in fixture("uac_404_errors.log")


def test_parse_stat_csv_overflowed_stdev_is_nan() -> None:
    """A standard deviation SIPp overflowed (years) is reported as NaN, not as a time."""
    header, *rows = fixture("uac_stats.csv").splitlines()
    column = header.split(";").index("ResponseTime1StDev(C)")
    cells = rows[-1].split(";")
    cells[column] = "2562047788015:12:55:808000"
    stats = parse_stat_csv("\n".join([header, ";".join(cells)]))
    assert math.isnan(stats.response_time_stdev_s[0])
    assert stats.successful_calls == 8


def test_parse_stat_csv_needs_a_row() -> None:
    """A header alone is an error, not an empty result."""
    with pytest.raises(ValueError, match="at least one row"):
        parse_stat_csv(fixture("uac_stats.csv").splitlines()[0])


def test_parse_sipp_duration_forms() -> None:
    """SIPp writes durations as HH:MM:SS:micros or HH:MM:SS."""
    assert parse_sipp_duration("00:00:00:208000") == pytest.approx(0.208)
    assert parse_sipp_duration("01:02:03") == 3723.0
    with pytest.raises(ValueError):
        parse_sipp_duration("208 ms")


def test_parse_rtt_csv_and_summary() -> None:
    """Each call has one setup and one BYE response time; the summary matches numpy."""
    samples = parse_rtt_csv(fixture("uac_rtt.csv"))
    stats = parse_stat_csv(fixture("uac_stats.csv"))
    setup = [sample.rtt_s for sample in samples if sample.rtd == RTD_SETUP]
    bye = [sample.rtt_s for sample in samples if sample.rtd == RTD_BYE]
    assert len(setup) == len(bye) == stats.successful_calls
    assert all(b.since_start_s >= a.since_start_s for a, b in itertools.pairwise(samples))
    summary = summarize_rtt(samples, RTD_SETUP)
    assert summary.count == len(setup)
    assert summary.mean_s == pytest.approx(np.mean(setup))
    assert summary.p50_s == pytest.approx(np.percentile(setup, 50))
    assert summary.p95_s == pytest.approx(np.percentile(setup, 95))
    assert summary.max_s == max(setup)
    registration = parse_rtt_csv(fixture("register_rtt.csv"))
    assert [sample.rtd for sample in registration] == [RTD_SETUP]
    with pytest.raises(ValueError, match="no response-time samples"):
        summarize_rtt(registration, RTD_BYE)
