"""SIP across the emulated network: Kamailio in the SIP core host, a registered SIPp answerer in
the far-end host, a SIPp caller in a UE host whose calls cross every link node.

Link nodes are pass-through kernel bridges here, so the scenario's delays do not apply yet;
these tests check that signalling works across the namespaces, not impairment. Each test has
its own run id and state folder; traffic stays inside the namespaces it creates.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.emulation.conftest import require
from tests.emulation.helpers import default_topology, rx_packets, sipp_caller
from voipbed.emulation.cleanup import find_leftovers
from voipbed.emulation.network import EmulatedNetwork
from voipbed.emulation.process import ProcessError, process_group_alive
from voipbed.emulation.sip_core import (
    ANSWERER_PORT,
    CALLER_PORT,
    SIP_PORT,
    parse_request_log,
    register_spec,
    register_user,
    start_answerer,
    start_kamailio,
    start_sipp,
)
from voipbed.emulation.stacks import Transport
from voipbed.emulation.stacks.sipp import (
    SippRole,
    SippSpec,
    parse_rtt_csv,
    parse_stat_csv,
)
from voipbed.emulation.topology import Topology

pytestmark = pytest.mark.emulation

RUN_PREFIX = "siptest"  # the default scenario's network, with one UE host
CALLS = 10
USER = "bob"


def link_counters(net: EmulatedNetwork, topo: Topology) -> list[tuple[int, int]]:
    """Per link node, packets received from the UE side and from the far side."""
    return [
        (rx_packets(net.node(n), n.iface_a), rx_packets(net.node(n), n.iface_b))
        for n in topo.link_nodes
    ]


@pytest.mark.parametrize("transport", [Transport.UDP, Transport.TCP])
def test_calls_from_a_ue_reach_the_registered_far_end(transport: Transport, tmp_path: Path) -> None:
    """Every call a UE places through Kamailio reaches the far end's registered answerer, and
    Kamailio saw each INVITE, ACK and BYE come from the UE's address over each link node."""
    require("mnexec", "kamailio", "sipp")
    topo = default_topology(RUN_PREFIX)
    ue, core, far = topo.ues[0], topo.sip_core, topo.far_end
    logs = tmp_path / "logs"
    answerer = SippSpec(
        SippRole.UAS,
        "uas",
        logs,
        far.ip,
        ANSWERER_PORT,
        transport=transport,
        user=USER,
        call_count=CALLS,
        timeout_s=15.0,
    )
    caller = sipp_caller(
        logs,
        ue.ip,
        CALLER_PORT,
        proxy=(core.ip, SIP_PORT),
        transport=transport,
        user=USER,
        calls=CALLS,
    )
    with EmulatedNetwork(topo, state_dir=tmp_path / "state") as net:
        # One worker: with two, a 180 may overtake its 200 and SIPp's caller aborts the call.
        kamailio = start_kamailio(
            net, core, logs, transports=(transport,), children=1, log_requests=True
        )
        uas = start_answerer(net, far, answerer, core)
        before = link_counters(net, topo)
        calls = start_sipp(net, ue, caller)
        calls.wait(15.0)
        uas.wait(10.0)
        after = link_counters(net, topo)
    processes = [kamailio, uas, calls]

    placed = parse_stat_csv(caller.stat_path.read_text())
    assert (placed.successful_calls, placed.failed_calls) == (CALLS, 0)
    answered = parse_stat_csv(answerer.stat_path.read_text())
    assert (answered.incoming_calls, answered.successful_calls) == (CALLS, CALLS)
    rtt_files = list(caller.run_dir.glob(caller.rtt_glob))
    assert len(rtt_files) == 1  # written in the run folder, not the test's working directory
    setups = [s for s in parse_rtt_csv(rtt_files[0].read_text()) if s.rtd == 1]
    assert len(setups) == CALLS

    requests = parse_request_log(kamailio.stderr_path.read_text())
    registers = [r for r in requests if r.method == "REGISTER"]
    assert [r.source_ip for r in registers] == [far.ip]
    invites = [r for r in requests if (r.kind, r.method) == ("initial", "INVITE")]
    assert len(invites) == CALLS
    assert {(r.source_ip, r.uri) for r in invites} == {(ue.ip, f"sip:{USER}@{core.ip}:{SIP_PORT}")}
    for method in ("ACK", "BYE"):  # along the Record-Route; a retransmission may repeat one
        in_dialog = [r for r in requests if (r.kind, r.method) == ("in-dialog", method)]
        assert {r.source_ip for r in in_dialog} == {ue.ip}
        assert {r.call_id for r in in_dialog} == {r.call_id for r in invites}
    assert {r.proto for r in requests} == {transport.value}

    # INVITE, ACK and BYE went up through every link node; 180, 200 and 200 came back.
    for (up_0, down_0), (up_1, down_1) in zip(before, after, strict=True):
        assert up_1 - up_0 >= 3 * CALLS and down_1 - down_0 >= 3 * CALLS

    for process in processes:
        assert process.poll() is not None and not process_group_alive(process.pid)
    assert not find_leftovers(topo.tag, topo.run_id)


def test_registration_to_an_address_without_a_registrar_fails(tmp_path: Path) -> None:
    """A REGISTER to the far end, where no registrar listens, raises ProcessError naming SIPp,
    and the network still comes down clean."""
    require("mnexec", "sipp")
    topo = default_topology(RUN_PREFIX)
    answerer = SippSpec(
        SippRole.UAS, "uas", tmp_path / "logs", topo.ues[0].ip, ANSWERER_PORT, user=USER
    )
    spec = register_spec(answerer, topo.far_end.ip, timeout_s=1.0)
    with (
        EmulatedNetwork(topo, state_dir=tmp_path / "state") as net,
        pytest.raises(ProcessError, match="uas-register"),
    ):
        register_user(net, topo.ues[0], spec)
    assert not find_leftovers(topo.tag, topo.run_id)
