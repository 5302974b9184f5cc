"""The pure parts of emulation/sip_core.py: Kamailio's request log and the REGISTER client."""

from __future__ import annotations

from pathlib import Path

import pytest

from voipbed.emulation.sip_core import (
    ANSWERER_PORT,
    REGISTER_PORT,
    SIP_PORT,
    KamailioRequest,
    parse_request_log,
    register_spec,
)
from voipbed.emulation.stacks import Transport
from voipbed.emulation.stacks.kamailio import KamailioSpec, kamailio_config
from voipbed.emulation.stacks.sipp import SippRole, SippSpec, register_scenario

# Lines of a real Kamailio 5.6.3 log (log_requests on), between lines of other kinds.
LOG = """\
 0(28822) INFO: <core> [main.c:2910]: main(): processes (at least): 7 - shm size: 33554432
 1(28823) ALERT: <script>: voipbed: kamailio ready
 1(28823) NOTICE: <script>: voipbed-sip: initial REGISTER sip:10.0.0.1 from 10.0.0.2:5071 \
proto udp call-id 1-28829@10.0.0.2
 2(28824) NOTICE: <script>: voipbed-sip: initial INVITE sip:bob@10.0.0.1:5060 from \
10.0.0.11:5080 proto tcp call-id 1-28830@10.0.0.11
 2(28824) NOTICE: <script>: voipbed-sip: in-dialog ACK sip:10.0.0.2:5070;transport=UDP from \
10.0.0.11:5080 proto udp call-id 1-28830@10.0.0.11
 2(28824) WARNING: <core> [core/udp_server.c:100]: something unrelated
"""


def answerer(tmp_path: Path, transport: Transport = Transport.UDP) -> SippSpec:
    return SippSpec(
        SippRole.UAS, "uas", tmp_path, "10.0.0.2", ANSWERER_PORT, transport=transport, user="bob"
    )


def test_request_log_lines_become_records_in_order() -> None:
    """Each request line gives its kind, method, URI, source, transport and Call-ID."""
    requests = parse_request_log(LOG)
    assert [(r.kind, r.method) for r in requests] == [
        ("initial", "REGISTER"),
        ("initial", "INVITE"),
        ("in-dialog", "ACK"),
    ]
    assert requests[1] == KamailioRequest(
        kind="initial",
        method="INVITE",
        uri="sip:bob@10.0.0.1:5060",
        source_ip="10.0.0.11",
        source_port=5080,
        proto="tcp",
        call_id="1-28830@10.0.0.11",
    )
    assert requests[2].uri == "sip:10.0.0.2:5070;transport=UDP"


def test_request_log_reads_requests_over_tls() -> None:
    """A request that came over TLS (a real Kamailio 5.6.3 line) says proto tls."""
    line = (
        " 7(22512) NOTICE: <script>: voipbed-sip: initial INVITE"
        " sip:far0@10.0.0.1:5061;transport=tls from 10.0.0.11:56146 proto tls"
        " call-id 193cdd01306ee679 at 1796132703.401558\n"
    )
    (request,) = parse_request_log(line)
    assert (request.method, request.proto, request.source_port) == ("INVITE", "tls", 56146)
    assert request.uri == "sip:far0@10.0.0.1:5061;transport=tls"
    assert request.time_unix_s == pytest.approx(1796132703.401558)


def test_request_log_without_requests_is_empty() -> None:
    """A log with no request lines (log_requests off) gives no records."""
    assert parse_request_log(LOG.splitlines()[0] + "\n") == ()
    assert parse_request_log("") == ()


def test_config_request_log_format_is_what_the_parser_reads() -> None:
    """The xlog format Kamailio's config writes names the fields the parser expects."""
    config = kamailio_config(KamailioSpec("10.0.0.1", log_requests=True))
    assert "voipbed-sip: initial $rm $ru from $si:$sp proto $pr call-id $ci" in config


def test_register_spec_binds_the_answerer_at_the_registrar(tmp_path: Path) -> None:
    """The REGISTER client sits next to the answerer and binds its user to its address and
    port, over its transport, at the registrar's SIP port."""
    uas = answerer(tmp_path, Transport.TCP)
    spec = register_spec(uas, "10.0.0.1")
    assert spec.role is SippRole.REGISTER
    assert (spec.local_address, spec.local_port) == (uas.local_address, REGISTER_PORT)
    assert (spec.remote_address, spec.remote_port) == ("10.0.0.1", SIP_PORT)
    assert (spec.contact_address, spec.contact_port) == ("10.0.0.2", ANSWERER_PORT)
    assert (spec.user, spec.transport, spec.call_count) == ("bob", Transport.TCP, 1)
    assert spec.name != uas.name and spec.scenario_path != uas.scenario_path
    xml = register_scenario(spec)
    # SIPp's keywords: [local_ip] is the answerer's address (-i), [remote_ip] the registrar
    assert "Contact: <sip:bob@[local_ip]:5070;transport=[transport]>" in xml
    assert "REGISTER sip:[remote_ip] SIP/2.0" in xml


def test_register_spec_rejects_a_caller_and_a_shared_port(tmp_path: Path) -> None:
    """Only a uas can be registered, and not from its own port."""
    uas = answerer(tmp_path)
    caller = SippSpec(SippRole.UAC, "uac", tmp_path, "10.0.0.11", remote_address="10.0.0.1")
    with pytest.raises(ValueError, match="only a uas"):
        register_spec(caller, "10.0.0.1")
    with pytest.raises(ValueError, match="port other than"):
        register_spec(uas, "10.0.0.1", local_port=ANSWERER_PORT)
