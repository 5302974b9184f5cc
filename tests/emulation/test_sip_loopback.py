"""Real Kamailio and SIPp on 127.0.0.1: a registered SIPp answerer takes calls that a SIPp
caller places through Kamailio, which finds the answerer by its registration."""

from __future__ import annotations

import contextlib
import re
from dataclasses import replace
from pathlib import Path
from typing import Literal

import pytest

from tests.emulation.conftest import require
from tests.emulation.helpers import LOOPBACK as HOST
from tests.emulation.helpers import free_ports, sipp_caller
from voipbed.emulation.process import (
    LogLine,
    ManagedProcess,
    Probe,
    port_bound,
    process_group_alive,
    run_command,
)
from voipbed.emulation.stacks import Transport
from voipbed.emulation.stacks.kamailio import (
    READY_LINE,
    REQUEST_LOG_PREFIX,
    KamailioSpec,
    kamailio_argv,
    kamailio_check_argv,
    kamailio_config,
)
from voipbed.emulation.stacks.sipp import (
    SippRole,
    SippSpec,
    parse_stat_csv,
    sipp_argv,
    sipp_scenario,
)

pytestmark = pytest.mark.emulation

CALLS = 6
USER = "alice"


def start_sipp(spec: SippSpec, stack: contextlib.ExitStack, ready: bool) -> ManagedProcess:
    """Write the spec's scenario and start SIPp in the run folder, registered in ``stack``."""
    spec.scenario_path.write_text(sipp_scenario(spec))
    # The run folder is the working directory: SIPp writes its -trace_rtt file there.
    process = ManagedProcess(
        sipp_argv(spec), name=spec.name, log_dir=spec.run_dir, cwd=spec.run_dir
    )
    stack.enter_context(process)
    if not ready:
        return process.start()
    assert spec.local_port is not None
    port = spec.local_port
    protocol: Literal["udp", "tcp"] = "udp" if spec.transport is Transport.UDP else "tcp"
    return process.start(Probe(lambda: port_bound(process.pid, port, protocol)), timeout_s=5.0)


def test_generated_config_passes_kamailio_check(tmp_path: Path) -> None:
    """Kamailio's own syntax check accepts the generated config."""
    require("kamailio")
    config = tmp_path / "kamailio.cfg"
    config.write_text(kamailio_config(KamailioSpec(HOST, free_ports(1)[0])))
    done = run_command(kamailio_check_argv(config), timeout_s=15.0)
    assert done.returncode == 0


@pytest.mark.parametrize("transport", [Transport.UDP, Transport.TCP])
def test_calls_through_kamailio_reach_the_registered_user(
    transport: Transport, tmp_path: Path
) -> None:
    """Before REGISTER the user is unknown (404); after it, every call completes."""
    require("kamailio", "sipp")
    proxy_port, uas_port, register_port, early_port, uac_port = free_ports(5)
    caller = sipp_caller(
        tmp_path,
        HOST,
        uac_port,
        proxy=(HOST, proxy_port),
        transport=transport,
        user=USER,
        calls=CALLS,
    )
    early = replace(caller, name="early", local_port=early_port, call_count=1, timeout_s=5.0)
    register = replace(
        caller,
        role=SippRole.REGISTER,
        name="register",
        local_port=register_port,
        contact_port=uas_port,
        call_count=1,
        timeout_s=5.0,
    )
    uas = SippSpec(
        SippRole.UAS, "uas", tmp_path, HOST, uas_port, transport=transport, call_count=CALLS
    )
    config = tmp_path / "kamailio.cfg"
    config.write_text(kamailio_config(KamailioSpec(HOST, proxy_port, log_requests=True)))
    kamailio = ManagedProcess(
        kamailio_argv(config, run_dir=tmp_path), name="kamailio", log_dir=tmp_path
    )
    processes: list[ManagedProcess] = [kamailio]
    with contextlib.ExitStack() as stack:
        stack.enter_context(kamailio).start(LogLine(READY_LINE), timeout_s=10.0)
        answerer = start_sipp(uas, stack, ready=True)
        processes.append(answerer)
        unknown = start_sipp(early, stack, ready=False)
        processes.append(unknown)
        assert unknown.wait(10.0, check=False) != 0
        registration = start_sipp(register, stack, ready=False)
        processes.append(registration)
        registration.wait(10.0)
        calls = start_sipp(caller, stack, ready=False)
        processes.append(calls)
        calls.wait(15.0)
        answerer.wait(10.0)

    assert parse_stat_csv(early.stat_path.read_text()).failed_calls == 1
    assert "404 Not Found" in early.error_path.read_text()
    assert parse_stat_csv(register.stat_path.read_text()).successful_calls == 1
    placed = parse_stat_csv(caller.stat_path.read_text())
    assert (placed.successful_calls, placed.failed_calls) == (CALLS, 0)
    answered = parse_stat_csv(uas.stat_path.read_text())
    assert (answered.incoming_calls, answered.successful_calls) == (CALLS, CALLS)

    # Kamailio saw each INVITE addressed to the user at the proxy, not to the answerer,
    # then relayed each call's ACK and BYE along the Record-Route it had inserted.
    log = kamailio.stderr_path.read_text()
    pattern = rf"{REQUEST_LOG_PREFIX} (\S+) (\w+) (\S+) .* proto (\w+) call-id (\S+)"
    requests = re.findall(pattern, log)
    invites = [r[2] for r in requests if r[:2] == ("initial", "INVITE")]
    assert invites == [f"sip:{USER}@{HOST}:{proxy_port}"] * (CALLS + 1)
    for method in ("ACK", "BYE"):  # one per call (a retransmission may repeat one)
        call_ids = {r[4] for r in requests if r[:2] == ("in-dialog", method)}
        assert len(call_ids) == CALLS
    assert {r[3] for r in requests} == {transport.value}

    for process in processes:
        assert process.poll() is not None
        assert not process_group_alive(process.pid)
