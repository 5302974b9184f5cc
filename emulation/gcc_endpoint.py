"""A real GCC sender and receiver: RTP with transport-wide sequence numbers, real feedback.

How the emulation engine will run one GCC call ``c`` of a scenario whose
``calls.rate_control.algorithm`` is ``gcc`` (baresip keeps the fixed-rate
calls): the receiver first, in the far-end host, then the sender, in the
call's UE host, each with ``EmulatedNetwork.start`` (ready on
:data:`READY_LINE`; stopped at teardown), every time on the links' clock
``t0``. The argv come from the builders here::

    receiver_argv(ReceiverSettings(
        bind=(far_end.ip, PORT_c), t0=t0, ssrc=...,
        feedback=FeedbackFormat(rate_control.feedback.value),
        feedback_interval_s=rate_control.feedback_interval_s,
        duration_s=call_end_s + grace_s, log=work / "gcc-c-rx.csv",
        feedback_log=work / "gcc-c-rx-feedback.csv"))
    # python -m voipbed.emulation.gcc_endpoint receive --bind FAR:PORT
    #   --feedback rfc8888 --feedback-interval 0.1 --duration D --t0 T0 --ssrc N
    #   --log FILE --feedback-log FILE

    sender_argv(SenderSettings(
        peer=(far_end.ip, PORT_c), bind=(ue.ip, PORT_c), codec=calls.codec,
        ptime_s=calls.ptime_s, t0=t0, start_s=call_start_s, duration_s=hold_s,
        ssrc=..., feedback_interval_s=rate_control.feedback_interval_s,
        delay_filter=rate_control.delay_filter, ecn=calls.ecn,
        ce_response=rate_control.ecn, dscp=calls.dscp,
        start_bps=rate_control.start_bitrate_bps,   # only what the scenario sets;
        min_bps=rate_control.min_bitrate_bps,       # None lets the sender fill it
        max_bps=rate_control.max_bitrate_bps,       # in, header extension counted
        hold_up_s=..., step_up=..., step_down=..., min_change_interval_s=...,
        log=work / "gcc-c-tx.csv", feedback_log=work / "gcc-c-tx-feedback.csv"))
    # python -m voipbed.emulation.gcc_endpoint send --to FAR:PORT --bind UE:PORT
    #   --codec OPUS-WB-24 --ptime 0.02 --start S --duration D --feedback-interval 0.1
    #   --delay-filter trendline [--ecn --ce-response] --dscp 46 --t0 T0 --ssrc N
    #   --log FILE --feedback-log FILE

The sender sends from ``t0 + start`` for ``duration`` seconds, then listens
``--drain`` seconds for the last reports; the receiver stops at ``t0 +
duration``, after ``--idle-timeout`` seconds without RTP, or on SIGTERM,
which also stops the sender; both then print :data:`DONE_LINE` with a JSON
summary and exit 0, their logs complete. The userspace links' records
(``capture``) hold the same RTP packets (SSRC, sequence number, timestamp)
for the trace; the logs add what the links cannot see (each packet's codec
mode and the target it was sent under, each report's RTT, losses and
estimates) for the events table.

The work is split by role: ``gcc_sender`` and ``gcc_receiver`` run the
loops, ``gcc_history`` and ``gcc_arrivals`` keep the sender's and the
receiver's bookkeeping, ``gcc_io`` holds the socket and log helpers, and
``models.rtp_packet`` and ``models.rtcp_*`` the packet formats. This module is the command line and
its argv builders (pure functions, argument lists only).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from pydantic import ValidationError

from voipbed.emulation.gcc_arrivals import FeedbackFormat
from voipbed.emulation.gcc_io import StopSignal, parse_address
from voipbed.emulation.gcc_receiver import ReceiverSettings, ReceiverSummary, run_receiver
from voipbed.emulation.gcc_sender import SenderSettings, SenderSummary, run_sender
from voipbed.json_log import configure
from voipbed.models.codec_adaptation import Step
from voipbed.models.gcc import DelayFilter
from voipbed.models.rtp_packet import ExtensionIds

__all__ = ["DONE_LINE", "READY_LINE", "main", "parse_settings", "receiver_argv", "sender_argv"]

log = logging.getLogger(__name__)

READY_LINE = "voipbed-gcc ready"
DONE_LINE = "voipbed-gcc done"  # followed by the run's summary as JSON
_MODULE = "voipbed.emulation.gcc_endpoint"


def _address(text: str) -> tuple[str, int]:
    try:
        return parse_address(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0.0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive finite number")
    return value


def _non_negative(text: str) -> float:
    return 0.0 if text.strip() in ("0", "0.0") else _positive(text)


def _ssrc(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value <= 0xFFFFFFFF:
        raise argparse.ArgumentTypeError(f"an SSRC is 0..4294967295, got {value}")
    return value


def _extension_id(text: str) -> int:
    value = int(_ssrc(text))
    if not 1 <= value <= 14:
        raise argparse.ArgumentTypeError(f"a one-byte header extension ID is 1..14, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m {_MODULE}", description=__doc__.split("\n")[0]
    )
    roles = parser.add_subparsers(dest="role", required=True)
    for role in ("send", "receive"):
        sub = roles.add_parser(role)
        sub.add_argument("--t0", type=float, help="time.monotonic() instant the logs count from")
        sub.add_argument("--duration", type=_positive, help="seconds to run (send: to send)")
        sub.add_argument("--ssrc", type=_ssrc, help="this endpoint's SSRC (default: random)")
        sub.add_argument("--log", type=Path, help="per-packet CSV log")
        sub.add_argument("--feedback-log", type=Path, help="per-report CSV log")
        sub.add_argument(
            "--transport-seq-id", type=_extension_id, default=ExtensionIds().transport_seq
        )
        sub.add_argument(
            "--abs-send-time-id", type=_extension_id, default=ExtensionIds().abs_send_time
        )
        sub.add_argument("-v", "--verbose", action="store_true", help="debug logging")
        if role == "send":
            sub.add_argument("--to", type=_address, required=True, help="receiver's HOST:PORT")
            sub.add_argument("--bind", type=_address, default=("0.0.0.0", 0))
            sub.add_argument("--codec", required=True, help="adaptive codec: the starting mode")
            sub.add_argument("--ptime", type=_positive, default=0.020, help="seconds per packet")
            sub.add_argument("--start", type=_non_negative, default=0.0, help="s after t0")
            sub.add_argument("--feedback-interval", type=_positive, default=0.1, help="seconds")
            sub.add_argument(
                "--delay-filter", choices=[f.value for f in DelayFilter], default="trendline"
            )
            sub.add_argument("--start-bps", type=_positive, help="default: the codec's rate")
            sub.add_argument("--min-bps", type=_positive, help="default: lowest mode's rate")
            sub.add_argument("--max-bps", type=_positive, help="default: highest mode's rate")
            sub.add_argument(
                "--hold-up", type=_non_negative, default=1.0, help="s before a step up"
            )
            sub.add_argument("--step-up", choices=[s.value for s in Step], default="one-step")
            sub.add_argument("--step-down", choices=[s.value for s in Step], default="jump")
            sub.add_argument("--min-change-interval", type=_non_negative, default=0.0)
            sub.add_argument("--ecn", action="store_true", help="send ECT(0)")
            sub.add_argument("--ce-response", action="store_true", help="answer CE marks")
            sub.add_argument("--payload-type", type=int, choices=range(96, 128), default=96)
            sub.add_argument("--dscp", type=int, choices=range(64), default=0, metavar="0..63")
            sub.add_argument("--abs-send-time", action="store_true")
            sub.add_argument("--drain", type=_non_negative, default=0.5, help="s to listen after")
        else:
            sub.add_argument("--bind", type=_address, required=True, help="HOST:PORT to receive on")
            sub.add_argument(
                "--feedback", choices=[f.value for f in FeedbackFormat], default="twcc"
            )
            sub.add_argument("--feedback-interval", type=_positive, default=0.1, help="seconds")
            sub.add_argument("--idle-timeout", type=_positive, help="stop after this long quiet")
    return parser


def _settings(args: argparse.Namespace) -> SenderSettings | ReceiverSettings:
    """The settings the parsed arguments describe; ValueError if they do not hold together."""
    t0 = time.monotonic() if args.t0 is None else args.t0
    ssrc = random.SystemRandom().getrandbits(32) if args.ssrc is None else args.ssrc
    ids = ExtensionIds(args.transport_seq_id, args.abs_send_time_id)
    if args.role == "receive":
        return ReceiverSettings(
            bind=args.bind,
            t0=t0,
            ssrc=ssrc,
            feedback=FeedbackFormat(args.feedback),
            feedback_interval_s=args.feedback_interval,
            duration_s=args.duration,
            idle_timeout_s=args.idle_timeout,
            ids=ids,
            log=args.log,
            feedback_log=args.feedback_log,
        )
    if args.duration is None:
        raise ValueError("send needs --duration")
    return SenderSettings(
        peer=args.to,
        codec=args.codec,
        t0=t0,
        duration_s=args.duration,
        ssrc=ssrc,
        bind=args.bind,
        ptime_s=args.ptime,
        start_s=args.start,
        feedback_interval_s=args.feedback_interval,
        delay_filter=DelayFilter(args.delay_filter),
        start_bps=args.start_bps,
        min_bps=args.min_bps,
        max_bps=args.max_bps,
        hold_up_s=args.hold_up,
        step_up=Step(args.step_up),
        step_down=Step(args.step_down),
        min_change_interval_s=args.min_change_interval,
        ecn=args.ecn,
        ce_response=args.ce_response,
        payload_type=args.payload_type,
        dscp=args.dscp,
        abs_send_time=args.abs_send_time,
        ids=ids,
        drain_s=args.drain,
        log=args.log,
        feedback_log=args.feedback_log,
    )


def _common_argv(
    t0: float, ssrc: int, ids: ExtensionIds, log_path: Path | None, feedback_log: Path | None
) -> list[str]:
    argv = ["--t0", repr(t0), "--ssrc", str(ssrc)]
    argv += ["--transport-seq-id", str(ids.transport_seq)]
    argv += ["--abs-send-time-id", str(ids.abs_send_time)]
    if log_path is not None:
        argv += ["--log", str(log_path)]
    if feedback_log is not None:
        argv += ["--feedback-log", str(feedback_log)]
    return argv


def _host_port(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def receiver_argv(settings: ReceiverSettings, python: str = sys.executable) -> list[str]:
    """The argv that runs a receiver with ``settings`` (inside its node)."""
    argv = [python, "-m", _MODULE, "receive", "--bind", _host_port(settings.bind)]
    argv += ["--feedback", settings.feedback.value]
    argv += ["--feedback-interval", repr(settings.feedback_interval_s)]
    if settings.duration_s is not None:
        argv += ["--duration", repr(settings.duration_s)]
    if settings.idle_timeout_s is not None:
        argv += ["--idle-timeout", repr(settings.idle_timeout_s)]
    return argv + _common_argv(
        settings.t0, settings.ssrc, settings.ids, settings.log, settings.feedback_log
    )


def sender_argv(settings: SenderSettings, python: str = sys.executable) -> list[str]:
    """The argv that runs a sender with ``settings`` (inside its node)."""
    argv = [python, "-m", _MODULE, "send", "--to", _host_port(settings.peer)]
    argv += ["--bind", _host_port(settings.bind), "--codec", settings.codec]
    argv += ["--ptime", repr(settings.ptime_s), "--start", repr(settings.start_s)]
    argv += ["--duration", repr(settings.duration_s), "--drain", repr(settings.drain_s)]
    argv += ["--feedback-interval", repr(settings.feedback_interval_s)]
    argv += ["--delay-filter", settings.delay_filter.value]
    for flag, value in (
        ("--start-bps", settings.start_bps),
        ("--min-bps", settings.min_bps),
        ("--max-bps", settings.max_bps),
    ):
        if value is not None:
            argv += [flag, repr(value)]
    argv += ["--hold-up", repr(settings.hold_up_s), "--step-up", settings.step_up.value]
    argv += ["--step-down", settings.step_down.value]
    argv += ["--min-change-interval", repr(settings.min_change_interval_s)]
    argv += ["--payload-type", str(settings.payload_type), "--dscp", str(settings.dscp)]
    if settings.ecn:
        argv.append("--ecn")
    if settings.ce_response:
        argv.append("--ce-response")
    if settings.abs_send_time:
        argv.append("--abs-send-time")
    return argv + _common_argv(
        settings.t0, settings.ssrc, settings.ids, settings.log, settings.feedback_log
    )


def _parse(argv: Sequence[str]) -> tuple[SenderSettings | ReceiverSettings, bool]:
    """The settings and the verbose flag of a command line; exits 2 on bad input (argparse's
    usage and the problem, naming the option)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = _settings(args)
    except ValidationError as error:  # a rate-control setting, as the scenario checks it
        parser.error("; ".join(f"{_key(e['loc'])}: {e['msg']}" for e in error.errors()))
    except ValueError as error:
        parser.error(str(error))
    for path in (settings.log, settings.feedback_log):
        if path is not None and not path.parent.is_dir():
            parser.error(f"no folder {path.parent} for the log {path}")
    return settings, bool(args.verbose)


def _key(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def parse_settings(argv: Sequence[str]) -> SenderSettings | ReceiverSettings:
    """The settings a command line (without the program) gives; exits 2 on bad input."""
    return _parse(argv)[0]


def _run(
    settings: SenderSettings | ReceiverSettings, stop: StopSignal
) -> SenderSummary | ReceiverSummary:
    def ready() -> None:
        print(READY_LINE, flush=True)

    if isinstance(settings, SenderSettings):
        return run_sender(settings, stop, on_ready=ready)
    return run_receiver(settings, stop, on_ready=ready)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m voipbed.emulation.gcc_endpoint send|receive ...``: run until done or
    SIGTERM/SIGINT, then print :data:`DONE_LINE` and the run's summary."""
    stop = StopSignal()
    with stop.installed():
        settings, verbose = _parse(sys.argv[1:] if argv is None else argv)
        configure(logging.DEBUG if verbose else logging.INFO, sys.stderr)
        summary = _run(settings, stop)
    print(f"{DONE_LINE} {json.dumps(asdict(summary))}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
