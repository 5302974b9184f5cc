"""SIPp as registration and call load: scenario XML and argv builders, and output parsers.

All functions here are pure. ``sipp_scenario(spec)`` gives the XML of the role's scenario
(a caller, an answerer, or a REGISTER client), written by this module rather than taken
from SIPp's built-ins, because the built-in ``uac`` ignores Record-Route and so cannot end a
call through a record-routing proxy. ``sipp_argv(spec)`` runs it in the foreground (no
``-bg``: the managed-process helper owns the process) with every trace file in the run
folder. ``parse_stat_csv`` and ``parse_rtt_csv`` read ``-trace_stat`` and ``-trace_rtt``.

Transports: UDP (``-t u1``) and TCP (``-t t1``). TLS is not offered: Debian's SIPp 3.6.1 is
built without OpenSSL ("To use a TLS transport you must compile SIPp with OpenSSL").
"""

from __future__ import annotations

import csv
import ipaddress
import math
import re
import statistics
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from xml.sax.saxutils import quoteattr

from voipbed.emulation.sip_text import uri_host
from voipbed.emulation.stacks import Transport

SIPP_BINARY = "/usr/bin/sipp"
TRANSPORT_FLAGS = {Transport.UDP: "u1", Transport.TCP: "t1"}
# Response-time buckets (ms) and call-length buckets (ms) SIPp reports in -trace_stat.
RESPONSE_TIME_BUCKETS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
CALL_LENGTH_BUCKETS_MS = (10, 50, 100, 500, 1000, 5000, 10000)
# Response-time measure numbers (rtd) in the scenarios below.
RTD_SETUP = 1  # INVITE sent -> 200 OK received (uac); REGISTER -> 200 OK (register)
RTD_BYE = 2  # BYE sent -> 200 OK received (uac)
ABSURD_S = 86400.0  # a standard deviation this large is SIPp's overflow, not a measurement


class SippRole(StrEnum):
    """Which scenario SIPp plays."""

    UAC = "uac"  # places calls: INVITE, ACK, pause, BYE, following Record-Route
    UAS = "uas"  # answers calls: 180, 200 with SDP, waits for ACK and BYE
    REGISTER = "register"  # registers a user's contact with the registrar


@dataclass(frozen=True)
class SippSpec:
    """One SIPp run. Files are ``<run_dir>/<name>.xml``, ``<name>_stats.csv``, ...

    ``user`` is the callee (uac: the request-URI user) or the user registered (register);
    ``remote_*`` is where requests go (the proxy), required for uac and register;
    ``contact_*`` is the contact a REGISTER binds (defaults: this SIPp's own address and
    port), so a REGISTER client can register a separate answering SIPp;
    ``call_count`` is ``-m`` (the uas exits after answering that many calls);
    ``timeout_s`` is SIPp's global ``-timeout``, after which it exits with an error;
    ``local_port`` None lets SIPp choose, and it takes 5060 when that is free: give a port
    wherever Kamailio or another SIPp may want 5060 on the same address.
    """

    role: SippRole
    name: str
    run_dir: Path
    local_address: str
    local_port: int | None = None
    remote_address: str | None = None
    remote_port: int = 5060
    transport: Transport = Transport.UDP
    user: str = "service"
    domain: str | None = None
    rate_cps: float = 1.0
    call_count: int = 1
    max_concurrent_calls: int | None = None
    call_duration_s: float = 0.0
    linger_s: float = 0.0
    timeout_s: float = 30.0
    stats_interval_s: float = 1.0
    contact_address: str | None = None
    contact_port: int | None = None
    expires_s: int = 3600
    binary: str = SIPP_BINARY

    def __post_init__(self) -> None:
        if self.transport not in TRANSPORT_FLAGS:
            raise ValueError(
                f"SIPp cannot use {self.transport}: Debian's SIPp 3.6.1 is built without "
                f"OpenSSL (it takes {', '.join(t.value for t in TRANSPORT_FLAGS)})"
            )
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.name):
            raise ValueError(f"name {self.name!r} must be usable as a file name")
        if not re.fullmatch(r"[A-Za-z0-9_.!~*'()-]+", self.user):
            raise ValueError(f"user {self.user!r} is not a plain SIP user part")
        for address in (self.local_address, self.remote_address, self.contact_address):
            if address is not None:
                ipaddress.ip_address(address)
        if self.role is not SippRole.UAS and self.remote_address is None:
            raise ValueError(f"a {self.role.value} needs remote_address (the proxy)")
        if self.role is SippRole.UAS and self.local_port is None:
            raise ValueError("a uas needs local_port: callers must know where it listens")
        for port in (self.local_port, self.remote_port, self.contact_port):
            if port is not None and not 0 < port < 65536:
                raise ValueError(f"port {port} is not in 1..65535")
        positive = {
            "rate_cps": self.rate_cps,
            "call_count": self.call_count,
            "timeout_s": self.timeout_s,
            "stats_interval_s": self.stats_interval_s,
            "expires_s": self.expires_s,
        }
        for key, value in positive.items():
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{key} must be positive, not {value}")
        if self.call_duration_s < 0 or self.linger_s < 0:
            raise ValueError("call_duration_s and linger_s must not be negative")
        if self.max_concurrent_calls is not None and self.max_concurrent_calls < 1:
            raise ValueError("max_concurrent_calls must be at least 1")

    @property
    def scenario_path(self) -> Path:
        """Where the caller writes ``sipp_scenario(self)``."""
        return self.run_dir / f"{self.name}.xml"

    @property
    def stat_path(self) -> Path:
        """The ``-trace_stat`` CSV."""
        return self.run_dir / f"{self.name}_stats.csv"

    @property
    def error_path(self) -> Path:
        """The ``-trace_err`` log of unexpected messages."""
        return self.run_dir / f"{self.name}_errors.log"

    @property
    def screen_path(self) -> Path:
        """The final statistics screens (``-trace_screen``)."""
        return self.run_dir / f"{self.name}_screen.log"

    @property
    def rtt_glob(self) -> str:
        """The ``-trace_rtt`` file's name pattern in ``run_dir`` (SIPp adds its pid)."""
        return f"{self.name}_*_rtt.csv"


def _ms(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


def _ip_type(address: str) -> str:
    return str(ipaddress.ip_address(address).version)


def _document(name: str, body: str) -> str:
    """A scenario document; ``body`` holds the messages (CDATA) and actions."""
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
        '<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
        f"<scenario name={quoteattr(name)}>\n{body}</scenario>\n"
    )


def _message(lines: list[str], attributes: str = "") -> str:
    """A <send> element: SIP message lines (SIPp strips indentation, adds CRLFs)."""
    text = "\n".join(f"      {line}" if line else "" for line in lines)
    return f"  <send{attributes}>\n    <![CDATA[\n\n{text}\n\n    ]]>\n  </send>\n\n"


SDP = [
    "v=0",
    "o=voipbed 1 1 IN IP[local_ip_type] [local_ip]",
    "s=voipbed",
    "c=IN IP[media_ip_type] [media_ip]",
    "t=0 0",
    "m=audio [media_port] RTP/AVP 0",
    "a=rtpmap:0 PCMU/8000",
]


def register_scenario(spec: SippSpec) -> str:
    """A REGISTER client: binds ``user`` to the contact, expects 200 (measure 1)."""
    if spec.remote_address is None:
        raise ValueError("a REGISTER needs remote_address (the registrar)")
    # SIPp's keywords, not literals: it reads a bracketed IPv6 literal as a keyword, and
    # writes [remote_ip] and [local_ip] in brackets for IPv6 itself.
    domain = spec.domain or "[remote_ip]"
    contact_host = "[local_ip]"
    if spec.contact_address not in (None, spec.local_address):
        contact_host = uri_host(spec.contact_address)
        if contact_host.startswith("["):
            raise ValueError(
                "an IPv6 contact other than this SIPp's own address cannot be written: SIPp "
                "reads a bracketed literal as one of its [keywords]"
            )
    contact_port = str(spec.contact_port) if spec.contact_port else "[local_port]"
    register = [
        f"REGISTER sip:{domain} SIP/2.0",
        "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
        f"From: <sip:{spec.user}@{domain}>;tag=[pid]SIPpTag00[call_number]",
        f"To: <sip:{spec.user}@{domain}>",
        "Call-ID: [call_id]",
        "CSeq: 1 REGISTER",
        f"Contact: <sip:{spec.user}@{contact_host}:{contact_port};transport=[transport]>",
        f"Expires: {spec.expires_s}",
        "Max-Forwards: 70",
        "User-Agent: voipbed-sipp",
        "Content-Length: 0",
    ]
    body = _message(register, f' retrans="500" start_rtd="{RTD_SETUP}"')
    body += f'  <recv response="200" rtd="{RTD_SETUP}"/>\n\n' + _repartitions()
    return _document("voipbed register", body)


def uac_scenario(spec: SippSpec) -> str:
    """A caller: INVITE the ``-s`` user via the proxy, ACK, hold, BYE along the route set."""
    via = "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]"
    from_ = "From: <sip:voipbed@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]"
    contact = "Contact: <sip:voipbed@[local_ip]:[local_port];transport=[transport]>"
    invite = [
        "INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0",
        via,
        from_,
        "To: <sip:[service]@[remote_ip]:[remote_port]>",
        "Call-ID: [call_id]",
        "CSeq: 1 INVITE",
        contact,
        "Max-Forwards: 70",
        "User-Agent: voipbed-sipp",
        "Content-Type: application/sdp",
        "Content-Length: [len]",
        "",
        *SDP,
    ]
    in_dialog = [via, from_, "[last_To:]", "[routes]", "Call-ID: [call_id]"]
    ack = ["ACK [next_url] SIP/2.0", *in_dialog, "CSeq: 1 ACK", contact]
    ack += ["Max-Forwards: 70", "Content-Length: 0"]
    bye = ["BYE [next_url] SIP/2.0", *in_dialog, "CSeq: 2 BYE", contact]
    bye += ["Max-Forwards: 70", "Content-Length: 0"]
    body = _message(invite, f' retrans="500" start_rtd="{RTD_SETUP}"')
    # Provisional responses may come at any point, even after the 200 they preceded (a
    # proxy's workers can reorder them over UDP): optional for the whole scenario.
    body += '  <recv response="100" optional="global"/>\n'
    body += '  <recv response="180" optional="global"/>\n'
    body += '  <recv response="183" optional="global"/>\n'
    # rrs: keep the Record-Route set and the Contact for [routes] and [next_url].
    body += f'  <recv response="200" rrs="true" rtd="{RTD_SETUP}"/>\n\n'
    body += _message(ack)
    body += f'  <pause milliseconds="{round(spec.call_duration_s * 1000)}"/>\n\n'
    body += _message(bye, f' retrans="500" start_rtd="{RTD_BYE}"')
    body += f'  <recv response="200" crlf="true" rtd="{RTD_BYE}"/>\n\n' + _repartitions()
    return _document("voipbed uac", body)


def uas_scenario(spec: SippSpec) -> str:
    """An answerer: 180 and 200 with SDP to an INVITE, then ACK and BYE (answered 200)."""
    reply_headers = [
        "[last_Via:]",
        "[last_From:]",
        "[last_To:];tag=[pid]SIPpTag01[call_number]",
        "[last_Call-ID:]",
        "[last_CSeq:]",
    ]
    contact = "Contact: <sip:[local_ip]:[local_port];transport=[transport]>"
    ringing = ["SIP/2.0 180 Ringing", *reply_headers, "[last_Record-Route:]", contact]
    ringing += ["Content-Length: 0"]
    ok = ["SIP/2.0 200 OK", *reply_headers, "[last_Record-Route:]", contact]
    ok += ["Content-Type: application/sdp", "Content-Length: [len]", "", *SDP]
    bye_ok = ["SIP/2.0 200 OK", *reply_headers, contact, "Content-Length: 0"]
    body = '  <recv request="INVITE" crlf="true"/>\n\n'
    body += _message(ringing) + _message(ok, ' retrans="500"')
    body += '  <recv request="ACK" crlf="true"/>\n\n'
    body += '  <recv request="BYE"/>\n\n'
    body += _message(bye_ok)
    # Lingering absorbs a retransmitted BYE whose 200 OK was lost.
    body += f'  <pause milliseconds="{round(spec.linger_s * 1000)}"/>\n\n' + _repartitions()
    return _document("voipbed uas", body)


def _repartitions() -> str:
    response = ", ".join(str(ms) for ms in RESPONSE_TIME_BUCKETS_MS)
    length = ", ".join(str(ms) for ms in CALL_LENGTH_BUCKETS_MS)
    return (
        f"  <ResponseTimeRepartition value={quoteattr(response)}/>\n"
        f"  <CallLengthRepartition value={quoteattr(length)}/>\n"
    )


def sipp_scenario(spec: SippSpec) -> str:
    """The scenario XML for ``spec.role``."""
    builders = {
        SippRole.UAC: uac_scenario,
        SippRole.UAS: uas_scenario,
        SippRole.REGISTER: register_scenario,
    }
    return builders[spec.role](spec)


def sipp_argv(spec: SippSpec) -> list[str]:
    """The argv running ``spec`` in the foreground, traces in ``spec.run_dir``.

    Run it with ``spec.run_dir`` as working directory: SIPp writes the ``-trace_rtt`` file
    (``rtt_glob``) there, having no option to name it.
    """
    argv = [spec.binary]
    if spec.remote_address is not None:
        argv.append(f"{uri_host(spec.remote_address)}:{spec.remote_port}")
    argv += ["-sf", str(spec.scenario_path)]
    argv += ["-i", spec.local_address, "-bind_local"]
    if spec.local_port is not None:
        argv += ["-p", str(spec.local_port)]
    argv += ["-t", TRANSPORT_FLAGS[spec.transport]]
    if spec.role is not SippRole.UAS:
        argv += ["-s", spec.user]
        argv += ["-r", f"{spec.rate_cps:g}", "-rp", "1000ms"]
    if spec.max_concurrent_calls is not None:
        argv += ["-l", str(spec.max_concurrent_calls)]
    argv += ["-m", str(spec.call_count)]
    argv += ["-timeout", _ms(spec.timeout_s), "-timeout_error"]
    argv += ["-nostdin"]
    argv += ["-trace_stat", "-stf", str(spec.stat_path), "-fd", _ms(spec.stats_interval_s)]
    argv += ["-trace_rtt", "-rtt_freq", "1"]
    argv += ["-trace_err", "-error_file", str(spec.error_path)]
    argv += ["-trace_screen", "-screen_file", str(spec.screen_path)]
    return argv


# ---------------------------------------------------------------- parsers of SIPp output


@dataclass(frozen=True)
class SippStats:
    """The last row of a ``-trace_stat`` CSV (cumulative counters).

    ``response_time_mean_s[n]`` is the mean of response-time measure n+1 (``rtd``),
    ``failed_by_reason`` the non-zero ``Failed*`` counters by SIPp's name.
    """

    elapsed_s: float
    call_rate_cps: float
    incoming_calls: int
    outgoing_calls: int
    calls_created: int
    successful_calls: int
    failed_calls: int
    retransmissions: int
    out_of_call_messages: int
    dead_call_messages: int
    failed_by_reason: dict[str, int] = field(default_factory=dict)
    response_time_mean_s: tuple[float, ...] = ()
    response_time_stdev_s: tuple[float, ...] = ()
    call_length_mean_s: float = 0.0


def parse_sipp_duration(text: str) -> float:
    """Seconds in SIPp's ``HH:MM:SS:uuuuuu`` or ``HH:MM:SS`` form."""
    found = re.fullmatch(r"\s*(\d+):(\d{2}):(\d{2})(?:[:.](\d{1,6}))?\s*", text)
    if found is None:
        raise ValueError(f"not a SIPp duration: {text!r}")
    hours, minutes, seconds, micros = found.groups()
    fraction = int(micros) / 10 ** len(micros) if micros else 0.0
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds) + fraction


def parse_stat_csv(text: str) -> SippStats:
    """The final cumulative figures of a ``-trace_stat`` file (';'-separated)."""
    rows = [row for row in csv.reader(text.splitlines(), delimiter=";") if any(row)]
    if len(rows) < 2:
        raise ValueError("a -trace_stat file needs a header and at least one row")
    header, last = rows[0], rows[-1]
    values = dict(zip(header, last, strict=False))

    def count(key: str) -> int:
        return int(values[key])

    def seconds(key: str) -> float:
        return parse_sipp_duration(values[key])

    means, stdevs = [], []
    rtd = 1
    while f"ResponseTime{rtd}(C)" in values:
        means.append(seconds(f"ResponseTime{rtd}(C)"))
        stdev = seconds(f"ResponseTime{rtd}StDev(C)")
        # SIPp prints garbage (thousands of years) when rounding makes the variance negative.
        stdevs.append(stdev if stdev < ABSURD_S else math.nan)
        rtd += 1
    failed = {
        key.removesuffix("(C)"): int(value)
        for key, value in values.items()
        if key.startswith("Failed") and key.endswith("(C)") and key != "FailedCall(C)"
        if int(value)
    }
    return SippStats(
        elapsed_s=seconds("ElapsedTime(C)"),
        call_rate_cps=float(values["CallRate(C)"]),
        incoming_calls=count("IncomingCall(C)"),
        outgoing_calls=count("OutgoingCall(C)"),
        calls_created=count("TotalCallCreated"),
        successful_calls=count("SuccessfulCall(C)"),
        failed_calls=count("FailedCall(C)"),
        retransmissions=count("Retransmissions(C)"),
        out_of_call_messages=count("OutOfCallMsgs(C)"),
        dead_call_messages=count("DeadCallMsgs(C)"),
        failed_by_reason=failed,
        response_time_mean_s=tuple(means),
        response_time_stdev_s=tuple(stdevs),
        call_length_mean_s=seconds("CallLength(C)"),
    )


@dataclass(frozen=True)
class RttSample:
    """One response time from ``-trace_rtt``: when (s since SIPp started), how long (s, SIPp
    measures in whole milliseconds), which measure (``rtd``)."""

    since_start_s: float
    rtt_s: float
    rtd: int


@dataclass(frozen=True)
class RttSummary:
    """Response times of one measure: count, mean, median, p95 and max, in seconds."""

    rtd: int
    count: int
    mean_s: float
    p50_s: float
    p95_s: float
    max_s: float


def parse_rtt_csv(text: str) -> tuple[RttSample, ...]:
    """Every sample of a ``-trace_rtt`` file (``Date_ms;response_time_ms;rtd_no``)."""
    samples = []
    for row in csv.reader(text.splitlines(), delimiter=";"):
        if not row or not row[0].strip() or not row[0].strip()[0].isdigit():
            continue  # header or blank
        samples.append(
            RttSample(
                since_start_s=float(row[0]) / 1000.0,
                rtt_s=float(row[1]) / 1000.0,
                rtd=int(row[2]),
            )
        )
    return tuple(samples)


def summarize_rtt(samples: tuple[RttSample, ...], rtd: int = RTD_SETUP) -> RttSummary:
    """Count, mean and percentiles of the samples of measure ``rtd``."""
    values = sorted(sample.rtt_s for sample in samples if sample.rtd == rtd)
    if not values:
        raise ValueError(f"no response-time samples for measure {rtd}")
    return RttSummary(
        rtd=rtd,
        count=len(values),
        mean_s=statistics.fmean(values),
        p50_s=_quantile(values, 0.50),
        p95_s=_quantile(values, 0.95),
        max_s=values[-1],
    )


def _quantile(ordered: list[float], q: float) -> float:
    """Linear-interpolated quantile of sorted values (numpy's default method)."""
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def unexpected_messages(text: str) -> int:
    """How many unexpected messages a ``-trace_err`` log records."""
    return text.count("Aborting call on unexpected message")
