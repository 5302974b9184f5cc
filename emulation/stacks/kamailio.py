"""Kamailio as the SIP core: a registrar and record-routing proxy, built by pure functions.

``kamailio_config(spec)`` writes a kamailio.cfg with tm, sl, rr, usrloc (in memory) and
registrar: REGISTER is saved in the location table, initial requests (INVITE, MESSAGE, ...)
are routed to the registered contact of their request-URI user, INVITEs are record-routed,
and in-dialog requests follow their Route set. ``kamailio_argv`` runs it in the foreground
with its runtime directory inside the run folder, so nothing system-wide is read or written
(no /etc/kamailio, no /var/run, no pid file).

With ``nat_traversal`` it serves phones behind a NAT (RFC 5626 over UDP, the
``nathelper`` way): a request whose source differs from its top Via (``nat_uac_test``) gets
``rport`` and, for REGISTER, its source saved as the binding's ``received`` address
(``fix_nated_register``), so that requests to the phone go to the NAT's external address
and port; a reply whose Contact differs from its source gets the source as its Contact
(``fix_nated_contact``), so in-dialog requests reach the phone too; and the ``stun`` module
answers RFC 5389 Binding requests on the SIP UDP port (the RFC 5626 3.5.2 keep-alives).
Kamailio itself never pings the phones (nathelper's ``natping_interval`` is 0): only the
phones' own keep-alives keep their bindings.

With ``Transport.TLS`` among the spec's transports it also listens for SIP over TLS on
``tls_port`` with the tls module (Debian: ``kamailio-tls-modules``), configured by the
tls.cfg that :func:`kamailio_tls_config` writes: a server certificate and key, TLS 1.2 or
later, no client certificates asked for or checked.
"""

from __future__ import annotations

import ipaddress
import platform
from dataclasses import dataclass
from pathlib import Path

from voipbed.emulation.sip_text import uri_host
from voipbed.emulation.stacks import Transport

KAMAILIO_BINARY = "/usr/sbin/kamailio"
MODULES_DIR = f"/usr/lib/{platform.machine()}-linux-gnu/kamailio/modules"  # Debian multiarch
MODULES = (
    "kex",
    "corex",
    "tm",
    "tmx",
    "sl",
    "rr",
    "pv",
    "maxfwd",
    "usrloc",
    "registrar",
    "textops",
    "siputils",
    "xlog",
    "sanity",
)
NAT_MODULES = ("nathelper", "stun")
# nat_uac_test flags: 1 Contact has a private address, 2 the Via's address is not the
# source's, 16 the Via's port is not the source's (Kamailio nathelper documentation).
NAT_TEST_REQUEST = 19
# For replies: 1, and 64 the Contact's address is not the source's.
NAT_TEST_REPLY = 65
RECEIVED_AVP = "$avp(RECEIVED)"
# Printed by kamailio.cfg's startup route once every worker can take requests.
READY_LINE = "voipbed: kamailio ready"
# The prefix of the line logged per request when ``log_requests`` is on, followed by
# "initial" or "in-dialog", the method, request-URI, source, transport and Call-ID.
REQUEST_LOG_PREFIX = "voipbed-sip:"
TLS_MODULE = "tls"
# RFC 3261 18.2.1 (and 19.1.1): servers listen on 5060 for UDP and TCP, 5061 for TLS.
SIP_TLS_PORT = 5061
# TLS 1.0 and 1.1 are deprecated (RFC 8996); TLS 1.2 is what RFC 8996 leaves as the minimum.
TLS_METHOD = "TLSv1.2+"


@dataclass(frozen=True)
class TmTimers:
    """The transaction timers of Kamailio's tm module, in ms: ``t1_ms`` and ``t2_ms`` (its
    ``retr_timer1``/``retr_timer2``, RFC 3261's T1 and T2; tm's defaults 500 and 4000) and
    ``final_ms``, how long it waits for a reply before answering 408 itself (``fr_timer``;
    voipbed's default 5000)."""

    t1_ms: int = 500
    t2_ms: int = 4000
    final_ms: int = 5000

    def __post_init__(self) -> None:
        if not 0 < self.t1_ms <= self.t2_ms or self.final_ms <= 0:
            raise ValueError(f"tm timers must be positive with t1 <= t2: {self}")

    @classmethod
    def rfc3261(cls, t1_s: float, t2_s: float) -> TmTimers:
        """RFC 3261's timers from T1 and T2: the 408 at Timer B's 64*T1 (17.1.1.2)."""
        t1_ms = max(1, round(t1_s * 1000))
        return cls(t1_ms=t1_ms, t2_ms=max(t1_ms, round(t2_s * 1000)), final_ms=64 * t1_ms)


@dataclass(frozen=True)
class KamailioSpec:
    """What the SIP core listens on and how it behaves.

    ``domain`` is the SIP domain it is responsible for (defaults to ``address``);
    ``children`` is the worker count per UDP listener and for TCP;
    ``max_expires_s`` caps registration lifetimes (RFC 3261 10.2.1.1 allows the registrar to
    shorten them) and ``min_expires_s`` is the shortest it grants (Kamailio's default, 60 s,
    unless set); ``tm`` its transaction timers; ``nat_traversal`` serves phones behind a NAT
    (see the module docstring); ``log_requests`` logs every initial request to stderr. With
    ``Transport.TLS`` in ``transports`` it listens for TLS on ``tls_port``, set up by the
    ``tls_config`` file.
    """

    address: str
    port: int = 5060
    transports: tuple[Transport, ...] = (Transport.UDP, Transport.TCP)
    domain: str | None = None
    children: int = 2
    max_expires_s: int = 3600
    min_expires_s: int = 60
    tm: TmTimers = TmTimers()
    nat_traversal: bool = False
    debug_level: int = 1
    log_requests: bool = False
    modules_dir: str = MODULES_DIR
    tls_port: int = SIP_TLS_PORT
    tls_config: str | None = None  # the tls.cfg (kamailio_tls_config), needed with TLS

    def __post_init__(self) -> None:
        ipaddress.ip_address(self.address)  # raises ValueError for a non-address
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} is not in 1..65535")
        if not self.transports or len(set(self.transports)) != len(self.transports):
            raise ValueError(f"transports {self.transports} must be distinct and not empty")
        if self.children < 1 or self.max_expires_s < 1:
            raise ValueError("children and max_expires_s must be positive")
        if not 0 <= self.min_expires_s <= self.max_expires_s:
            raise ValueError(f"min_expires_s {self.min_expires_s} must be in 0..max_expires_s")
        if Transport.TLS in self.transports:
            if not 0 < self.tls_port < 65536 or self.tls_port == self.port:
                raise ValueError(f"tls_port {self.tls_port} must be in 1..65535, not {self.port}")
            if self.tls_config is None:
                raise ValueError("TLS needs tls_config, the tls.cfg of kamailio_tls_config")

    @property
    def sip_domain(self) -> str:
        """The domain of the users it registers."""
        return self.domain or self.address


def kamailio_config(spec: KamailioSpec) -> str:
    """The kamailio.cfg text for ``spec`` (Kamailio 5.x native script)."""
    host = uri_host(spec.address)
    tls = Transport.TLS in spec.transports
    listens = "\n".join(
        f"listen={t.value}:{host}:{spec.tls_port if t is Transport.TLS else spec.port}"
        for t in spec.transports
    )
    tcp = tls or Transport.TCP in spec.transports  # TLS runs on Kamailio's TCP layer
    # The tls module goes first: it must set up OpenSSL before any other module uses it.
    names = ((TLS_MODULE,) if tls else ()) + MODULES
    names += NAT_MODULES if spec.nat_traversal else ()
    modules = "\n".join(f'loadmodule "{name}.so"' for name in names)
    tls_params = f'\nmodparam("tls", "config", "{spec.tls_config}")' if tls else ""
    nat = spec.nat_traversal
    nat_params = _NAT_PARAMS if nat else ""
    nat_request = "    route(NATDETECT);\n" if nat else ""
    nat_routes = _NAT_ROUTES if nat else ""
    # An alias without a port makes every port of that host "myself": never alias the
    # listen address, or contacts on the same address (loopback tests) look local.
    alias = f'alias="{spec.domain}"\n' if spec.domain and spec.domain != spec.address else ""
    initial_log = _request_log("initial", 4) if spec.log_requests else ""
    in_dialog_log = _request_log("in-dialog", 8) if spec.log_requests else ""
    return f"""#!KAMAILIO
# Written by voipbed for one run: a registrar and record-routing proxy, state in memory.

####### Global parameters #########
debug={spec.debug_level}
log_stderror=yes
log_prefix=""
memdbg=5
memlog=5
fork=yes
children={spec.children}
auto_aliases=no
{alias}{listens}
disable_tcp={"no" if tcp else "yes"}
enable_tls={"yes" if tls else "no"}
tcp_children={spec.children}
tcp_connection_lifetime=3605
dns=no
rev_dns=no
use_dns_cache=no
server_header="Server: voipbed-kamailio"
user_agent_header="User-Agent: voipbed-kamailio"

####### Modules ########
mpath="{spec.modules_dir}/"
{modules}

modparam("usrloc", "db_mode", 0)
modparam("registrar", "max_expires", {spec.max_expires_s})
modparam("registrar", "default_expires", {min(3600, spec.max_expires_s)})
modparam("registrar", "min_expires", {spec.min_expires_s})
modparam("rr", "enable_full_lr", 1)
modparam("rr", "append_fromtag", 1)
modparam("tm", "fr_timer", {spec.tm.final_ms})
modparam("tm", "retr_timer1", {spec.tm.t1_ms})
modparam("tm", "retr_timer2", {spec.tm.t2_ms})
modparam("tm", "fr_inv_timer", 60000){tls_params}{nat_params}

####### Routing logic ########
event_route[core:worker-one-init] {{
    xlog("L_ALERT", "{READY_LINE}\\n");
}}

request_route {{
    route(REQINIT);
{nat_request}
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{
            route(RELAY);
        }}
        exit;
    }}

    # Absorb retransmissions of requests that already have a transaction.
    if (!is_method("ACK")) {{
        if (t_precheck_trans()) {{
            t_check_trans();
            exit;
        }}
        t_check_trans();
    }}

    route(WITHINDLG);

    # Initial requests from here on.
    remove_hf("Route");
    if (is_method("INVITE|SUBSCRIBE")) {{
        record_route();
    }}
{initial_log}    route(REGISTRAR);

    if ($rU == $null) {{
        sl_send_reply("484", "Address Incomplete");
        exit;
    }}
    route(LOCATION);
}}

route[REQINIT] {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (!sanity_check("17895", "7")) {{
        exit;
    }}
    if (is_method("OPTIONS") && uri == myself && $rU == $null) {{
        sl_send_reply("200", "Keepalive");
        exit;
    }}
}}

route[RELAY] {{
    if (!t_relay()) {{
        sl_reply_error();
    }}
    exit;
}}

# Requests inside a dialog follow the Route set that record_route() put there.
route[WITHINDLG] {{
    if (!has_totag()) {{
        return;
    }}
    if (loose_route()) {{
{in_dialog_log}        route(RELAY);
        exit;
    }}
    if (is_method("ACK")) {{
        # An ACK for a non-2xx final response belongs to a transaction here.
        if (t_check_trans()) {{
            route(RELAY);
        }}
        exit;
    }}
    sl_send_reply("404", "Not here");
    exit;
}}

route[REGISTRAR] {{
    if (!is_method("REGISTER")) {{
        return;
    }}
    if (!save("location")) {{
        sl_reply_error();
    }}
    exit;
}}

# Initial requests go to the contact registered for the request-URI's user.
route[LOCATION] {{
    if (!lookup("location")) {{
        $var(rc) = $rc;
        t_newtran();
        switch ($var(rc)) {{
            case -2:
                send_reply("405", "Method Not Allowed");
                exit;
            default:
                send_reply("404", "Not Found");
                exit;
        }}
    }}
    route(RELAY);
}}
{nat_routes}"""


_NAT_PARAMS = f"""
modparam("nathelper", "natping_interval", 0)
modparam("nathelper", "received_avp", "{RECEIVED_AVP}")
modparam("registrar", "received_avp", "{RECEIVED_AVP}")"""

_NAT_ROUTES = f"""
# A phone behind a NAT: answer to where it sent from; bind its REGISTER to that address.
route[NATDETECT] {{
    if (nat_uac_test("{NAT_TEST_REQUEST}")) {{
        force_rport();
        if (is_method("REGISTER")) {{
            fix_nated_register();
        }}
    }}
}}

# A reply from behind a NAT: its Contact becomes where it came from.
onreply_route {{
    if (nat_uac_test("{NAT_TEST_REPLY}")) {{
        fix_nated_contact();
    }}
}}
"""


def kamailio_tls_config(
    certificate: Path | str, private_key: Path | str, *, ca_list: Path | str | None = None
) -> str:
    """The tls.cfg text: Kamailio serves ``certificate`` (PEM) with ``private_key`` over
    TLS 1.2 or later and, as a server and as a client (when it connects to a registered
    contact), asks for no peer certificate and checks none. ``ca_list`` (PEM) names the
    CAs it would check them against.
    """
    ca_line = f"ca_list = {ca_list}\n" if ca_list is not None else ""
    for name, path in (("certificate", certificate), ("private_key", private_key)):
        if not str(path) or any(c in str(path) for c in "\n[]="):
            raise ValueError(f"{name} path {str(path)!r} cannot be written in tls.cfg")
    return f"""# Written by voipbed for one run: SIP over TLS with a throwaway certificate.
[server:default]
method = {TLS_METHOD}
verify_certificate = no
require_certificate = no
certificate = {certificate}
private_key = {private_key}
{ca_line}
[client:default]
method = {TLS_METHOD}
verify_certificate = no
require_certificate = no
{ca_line}"""


def _request_log(kind: str, indent: int) -> str:
    """An xlog line naming the request, for events and tests (``REQUEST_LOG_PREFIX``)."""
    # $TV(Sn): "seconds.microseconds" since the epoch, when the request was routed.
    text = f"{REQUEST_LOG_PREFIX} {kind} $rm $ru from $si:$sp proto $pr call-id $ci at $TV(Sn)\\n"
    return " " * indent + f'xlog("L_NOTICE", "{text}");\n'


def kamailio_argv(
    config_path: Path | str,
    *,
    run_dir: Path | str,
    binary: str = KAMAILIO_BINARY,
    shm_mb: int = 32,
    pkg_mb: int = 8,
) -> list[str]:
    """The argv running Kamailio with ``config_path`` in the foreground, logging to stderr.

    ``-DD`` keeps the creator process in the foreground (its workers are its children, in
    its process group); ``-Y`` and ``-w`` keep the runtime and working directory in
    ``run_dir``; no ``-P``, so no pid file is written anywhere.
    """
    if shm_mb < 1 or pkg_mb < 1:
        raise ValueError("shm_mb and pkg_mb must be positive")
    return [
        binary,
        "-f",
        str(config_path),
        "-DD",
        "-E",
        "-Y",
        str(run_dir),
        "-w",
        str(run_dir),
        "-m",
        str(shm_mb),
        "-M",
        str(pkg_mb),
        "-a",
        "no",
    ]


def kamailio_check_argv(config_path: Path | str, *, binary: str = KAMAILIO_BINARY) -> list[str]:
    """The argv that only checks ``config_path`` for errors (``kamailio -c``)."""
    return [binary, "-c", "-f", str(config_path)]
