"""SIP signalling across the emulated network: Kamailio in the SIP core, SIPp in the hosts.

The small steps every SIP run repeats, on top of the pure builders in ``stacks/``:

- :func:`start_kamailio`: write a kamailio.cfg for the SIP core host's address and start
  Kamailio there, ready once every worker takes requests (with TLS, also its tls.cfg, for
  the certificates ``voipbed.emulation.tls`` made);
- :func:`start_sipp`: write a SIPp scenario and start SIPp in a host (ready, for a uas,
  once its port is bound in that host's namespace);
- :func:`register_user` and :func:`start_answerer`: a SIPp uas in a host, registered with
  the registrar as a user, so that calls to that user reach it;
- :func:`parse_request_log`: the requests Kamailio logged (``log_requests``), as records.

Every process is registered in the network's teardown stack as it is started, so it stops
(process group, SIGTERM then SIGKILL) before the network goes, also on Ctrl-C. Ports are
fixed (:data:`SIP_PORT`, ...): every host is its own namespace, so nothing else holds them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from voipbed.emulation.cleanup import namespace_of
from voipbed.emulation.network import EmulatedNetwork
from voipbed.emulation.process import LogLine, ManagedProcess, Probe, port_bound
from voipbed.emulation.stacks import Transport
from voipbed.emulation.stacks.kamailio import (
    READY_LINE,
    REQUEST_LOG_PREFIX,
    SIP_TLS_PORT,
    KamailioSpec,
    TmTimers,
    kamailio_argv,
    kamailio_config,
    kamailio_tls_config,
)
from voipbed.emulation.stacks.sipp import (
    SippRole,
    SippSpec,
    SippStats,
    parse_stat_csv,
    sipp_argv,
    sipp_scenario,
)
from voipbed.emulation.tls import TlsFiles
from voipbed.emulation.topology import HostSpec

__all__ = [
    "ANSWERER_PORT",
    "CALLER_PORT",
    "REGISTER_PORT",
    "SIP_PORT",
    "SIP_TLS_PORT",
    "KamailioRequest",
    "parse_request_log",
    "register_spec",
    "register_user",
    "start_answerer",
    "start_kamailio",
    "start_sipp",
]

SIP_PORT = 5060  # Kamailio, in the SIP core host (UDP and TCP; TLS on SIP_TLS_PORT, 5061)
ANSWERER_PORT = 5070  # a SIPp uas
REGISTER_PORT = 5071  # the SIPp REGISTER client next to it (same host, another port)
CALLER_PORT = 5080  # a SIPp uac

KAMAILIO_READY_TIMEOUT_S = 10.0
KAMAILIO_SHM_MB = 32  # kamailio_argv's default: some 200 calls/s of short calls
SIPP_READY_TIMEOUT_S = 5.0

_REQUEST_LINE = re.compile(
    re.escape(REQUEST_LOG_PREFIX)
    + r" (?P<kind>initial|in-dialog) (?P<method>\S+) (?P<uri>\S+)"
    + r" from (?P<ip>[^\s]+):(?P<port>\d+) proto (?P<proto>\w+) call-id (?P<call_id>\S+)"
    + r"(?: at (?P<time>\d+\.\d+))?"
)


@dataclass(frozen=True)
class KamailioRequest:
    """One request Kamailio routed: initial or in-dialog, method, request-URI, where it came
    from (address, port, transport) and its Call-ID."""

    kind: Literal["initial", "in-dialog"]
    method: str
    uri: str
    source_ip: str
    source_port: int
    proto: str
    call_id: str
    time_unix_s: float | None = None  # when Kamailio routed it (wall clock)


def parse_request_log(text: str) -> tuple[KamailioRequest, ...]:
    """The requests in Kamailio's log (``KamailioSpec(log_requests=True)``), in log order;
    other lines are ignored."""
    requests = []
    for found in _REQUEST_LINE.finditer(text):
        kind: Literal["initial", "in-dialog"] = (
            "initial" if found["kind"] == "initial" else "in-dialog"
        )
        requests.append(
            KamailioRequest(
                kind=kind,
                method=found["method"],
                uri=found["uri"],
                source_ip=found["ip"],
                source_port=int(found["port"]),
                proto=found["proto"],
                call_id=found["call_id"],
                time_unix_s=float(found["time"]) if found["time"] else None,
            )
        )
    return tuple(requests)


def register_spec(
    answerer: SippSpec,
    registrar: str,
    *,
    registrar_port: int = SIP_PORT,
    local_port: int = REGISTER_PORT,
    timeout_s: float = SIPP_READY_TIMEOUT_S,
) -> SippSpec:
    """A REGISTER client next to ``answerer`` (same host and transport) that binds
    ``answerer.user`` to the answerer's address and port at ``registrar``."""
    if answerer.role is not SippRole.UAS:
        raise ValueError(f"only a uas answers calls, not a {answerer.role.value}")
    if local_port == answerer.local_port:
        raise ValueError(f"the REGISTER client needs a port other than the uas's {local_port}")
    return replace(
        answerer,
        role=SippRole.REGISTER,
        name=f"{answerer.name}-register",
        local_port=local_port,
        remote_address=registrar,
        remote_port=registrar_port,
        contact_address=answerer.local_address,
        contact_port=answerer.local_port,
        call_count=1,
        timeout_s=timeout_s,
    )


def start_kamailio(
    net: EmulatedNetwork,
    host: HostSpec,
    run_dir: Path,
    *,
    port: int = SIP_PORT,
    transports: tuple[Transport, ...] = (Transport.UDP, Transport.TCP),
    children: int = 2,
    log_requests: bool = False,
    shm_mb: int = KAMAILIO_SHM_MB,
    name: str = "kamailio",
    tls: TlsFiles | None = None,
    tls_port: int = SIP_TLS_PORT,
    nat_traversal: bool = False,
    min_expires_s: int = 60,
    tm: TmTimers | None = None,
) -> ManagedProcess:
    """Kamailio as registrar and proxy on ``host``'s address, started in that host; returns
    once its workers take requests. Config and logs are in ``run_dir``.

    With ``Transport.TLS`` in ``transports`` it also listens for TLS on ``tls_port``,
    serving ``tls``'s server certificate (made for ``host.ip``; ValueError without it).

    ``shm_mb`` bounds the transactions it holds: each stays about 5 s after its final
    response (tm's wait timer), so the sustainable call rate scales with it (see
    ``bench/sip_load.py``). ``nat_traversal``, ``min_expires_s`` and ``tm`` are
    ``KamailioSpec``'s (``tm`` None: tm's own timers).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    tls_config = None
    if Transport.TLS in transports:
        if tls is None:
            raise ValueError("Kamailio over TLS needs tls: the certificates of make_certificates")
        tls_config = run_dir / f"{name}-tls.cfg"
        tls_config.write_text(
            kamailio_tls_config(tls.server.certificate, tls.server.key, ca_list=tls.ca_certificate)
        )
    spec = KamailioSpec(
        host.ip,
        port,
        transports=transports,
        children=children,
        log_requests=log_requests,
        tls_port=tls_port,
        tls_config=None if tls_config is None else str(tls_config),
        nat_traversal=nat_traversal,
        min_expires_s=min_expires_s,
        tm=TmTimers() if tm is None else tm,
    )
    config = run_dir / f"{name}.cfg"
    config.write_text(kamailio_config(spec))
    return net.start(
        host,
        kamailio_argv(config, run_dir=run_dir, shm_mb=shm_mb),
        name=name,
        log_dir=run_dir,
        ready=LogLine(READY_LINE),
        timeout_s=KAMAILIO_READY_TIMEOUT_S,
    )


def start_sipp(
    net: EmulatedNetwork, host: HostSpec, spec: SippSpec, *, wait_bound: bool = False
) -> ManagedProcess:
    """Write ``spec``'s scenario and start SIPp in ``host`` (stopped at teardown); with
    ``wait_bound``, return once its SIP port is bound there (a uas taking calls)."""
    if spec.local_address != host.ip:
        raise ValueError(f"{spec.name} binds {spec.local_address}, but {host.name} is {host.ip}")
    spec.run_dir.mkdir(parents=True, exist_ok=True)
    spec.scenario_path.write_text(sipp_scenario(spec))
    # SIPp writes its -trace_rtt file into its working directory: the run folder.
    node = net.node(host)
    process = net.process(
        host, sipp_argv(spec), name=spec.name, log_dir=spec.run_dir, cwd=spec.run_dir
    )
    if not wait_bound:
        return process.start()
    port = spec.local_port
    if port is None:
        raise ValueError(f"{spec.name}: wait_bound needs a local_port")
    protocol: Literal["udp", "tcp"] = "udp" if spec.transport is Transport.UDP else "tcp"
    host_namespace = namespace_of(node.pid)

    def bound() -> bool:
        # Until mnexec has entered the host, /proc/<pid>/net is the caller's namespace.
        in_host = namespace_of(process.pid) == host_namespace
        return in_host and port_bound(process.pid, port, protocol)

    ready = Probe(bound)
    return process.start(ready, timeout_s=SIPP_READY_TIMEOUT_S)


def register_user(net: EmulatedNetwork, host: HostSpec, spec: SippSpec) -> SippStats:
    """Run the REGISTER client ``spec`` in ``host`` to completion; its statistics (one
    successful call). Raises ProcessError when the registrar does not answer 200 in time."""
    if spec.role is not SippRole.REGISTER:
        raise ValueError(f"{spec.name} is a {spec.role.value}, not a register client")
    process = start_sipp(net, host, spec)
    process.wait(spec.timeout_s + SIPP_READY_TIMEOUT_S)
    stats = parse_stat_csv(spec.stat_path.read_text())
    if stats.successful_calls != 1:
        raise process.error(f"registration of {spec.user} did not succeed: {stats}")
    return stats


def start_answerer(
    net: EmulatedNetwork, host: HostSpec, answerer: SippSpec, registrar: HostSpec
) -> ManagedProcess:
    """Start the uas ``answerer`` in ``host`` and register its user with ``registrar`` (at
    :data:`SIP_PORT`, over the answerer's transport); return the running uas."""
    process = start_sipp(net, host, answerer, wait_bound=True)
    register_user(net, host, register_spec(answerer, registrar.ip))
    return process
