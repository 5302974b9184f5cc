"""``voipbed import``: captures of real calls as a run folder, scored like a simulated run.

:func:`import_captures` reads one capture (taken where the media were
received) or two (one at each end, the phones' first), finds their RTP
streams (``rtp_import``) and writes a run folder as ``voipbed run`` does:
``packets.parquet``, ``events.parquet`` (every SIP message, and each call's
set-up: ``sip_import``), ``metrics.parquet``, ``summary.json`` and the report,
with a ``manifest.json`` that names the captures and what was skipped in them.

Each stream's codec is told by ``sdp_codecs.CodecChooser``: its static payload
type; for a dynamic one ``--codec``, else the SDP of the captures' SIP (the
receiver's, else any that agree) with the mode read from the payloads where the
codec has modes, else the scenario's codec. ``manifest.json`` records, per flow
and stream, the codec it got and from where (``stream_codecs``).

The streams are scored with a scenario: the one given (its jitter buffer,
device, codec settings), or the defaults, with the codec most flows carry
and the packet time their RTP timestamps advance by. Either way the
scenario's path becomes one segment, ``network``, where every packet lost
between the captures was lost (reason ``unseen``): a capture tells that a
packet did not arrive, not where it was lost.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import yaml

from voipbed import __version__
from voipbed.frame_fields import udp_fields
from voipbed.loader import load_scenario, parse_scenario
from voipbed.models.codecs import CODECS
from voipbed.pcap_file import read_capture
from voipbed.rtp_import import PLACE, ImportedStreams, capture_origin, rtp_packets
from voipbed.rundir import create_run_dir
from voipbed.runner import finish_run
from voipbed.scenario import Scenario
from voipbed.sdp_codecs import CodecChooser
from voipbed.sip_import import find_sip, sip_events
from voipbed.trace import Trace, events_table

__all__ = ["CaptureImportError", "ImportResult", "import_captures"]

_log = logging.getLogger(__name__)


class CaptureImportError(ValueError):
    """Captures that hold nothing to import, or a codec that cannot be told."""


@dataclass(frozen=True)
class ImportResult:
    """Where the imported run went, and what was found and skipped."""

    run_dir: Path
    report: Path
    summary: dict[str, Any]
    streams: ImportedStreams


def import_captures(
    captures: Sequence[Path],
    out_dir: Path,
    *,
    scenario_file: Path | None = None,
    codec: str | None = None,
    enter: Callable[[str], None] | None = None,
) -> ImportResult:
    """Import ``captures`` (one, or two: the phones' end first) into a run folder under
    ``out_dir``; ``codec`` names the codec of dynamic payload types (96-127) over what the
    SDP says, the scenario's codec those no SDP binds."""
    if not 1 <= len(captures) <= 2:
        raise CaptureImportError("import takes one capture, or two (one at each end)")
    if codec is not None and codec not in CODECS:
        raise CaptureImportError(f"--codec {codec!r} is not a codec voipbed knows")
    started = time.perf_counter()
    on_stage = enter or (lambda _: None)
    on_stage("read")
    read = []
    for path in captures:
        capture = read_capture(path)
        read.append((capture, udp_fields(capture)))
    fallback = None
    if codec is None and scenario_file is not None:
        fallback = load_scenario(scenario_file).calls.codec  # for types no SDP binds
    messages = find_sip(read, capture_origin(read))
    chooser = CodecChooser((m.sdp for m in messages), option=codec, scenario=fallback)
    try:
        streams = rtp_packets(read, choose=chooser)
    except ValueError as error:
        raise CaptureImportError(str(error)) from error
    if streams.packets.num_rows == 0:
        skipped = ", ".join(f"{n} {why}" for why, n in streams.skipped.items()) or "nothing"
        raise CaptureImportError(
            f"no RTP stream found in {', '.join(map(str, captures))} (skipped: {skipped})"
        )
    scenario = _scenario(streams, scenario_file, captures)
    run_dir = create_run_dir(out_dir, scenario)
    resolved = yaml.safe_dump(scenario.to_yaml_dict(), sort_keys=False, allow_unicode=True)
    (run_dir / "scenario.yaml").write_text(resolved, encoding="utf-8")
    manifest = {
        "engine": "capture",
        "captures": [str(path) for path in captures],
        "capture_origin_ns": streams.origin_ns,
        "streams": streams.streams,
        "stream_codecs": streams.codec_choices,
        "skipped": streams.skipped,
        "voipbed": __version__,
    }
    _log_choices(streams)
    events = sip_events(messages, streams.endpoints, streams.calls)
    manifest["sip_messages"] = len(messages)
    trace = Trace(streams.packets, events_table(events), manifest)
    report, summary = finish_run(
        trace, scenario, run_dir, engine="capture", started=started, enter=on_stage
    )
    return ImportResult(run_dir, report, summary, streams)


def _log_choices(streams: ImportedStreams) -> None:
    """Each codec the streams were given and why, once; a guessed mode as a warning."""
    said: set[tuple[str, str]] = set()
    for choice in streams.codec_choices:
        codec, detail = str(choice["codec"]), str(choice["detail"])
        if (codec, detail) in said:
            continue
        said.add((codec, detail))
        level = logging.WARNING if choice["guessed"] else logging.INFO
        _log.log(level, "flow %d: %s from %s: %s", choice["flow"], codec, choice["source"], detail)


def _scenario(
    streams: ImportedStreams, scenario_file: Path | None, captures: Sequence[Path]
) -> Scenario:
    """The scenario the streams are scored with (see the module docstring)."""
    packets = streams.packets
    send = packets.column("send_s").to_numpy()
    duration_s = max(math.ceil(float(np.nanmax(send)) + 1.0), 1)
    name = Path(captures[0]).stem
    sets = [
        f"calls.count={streams.calls}",
        f"duration={duration_s}s",
        f"path=[{{name: {PLACE}}}]",
        "calls.start_spread=0s",
    ]
    if scenario_file is not None:
        return load_scenario(scenario_file, sets)
    flows = Counter(str(c["codec"]) for c in streams.codec_choices)
    codec = min(flows, key=lambda name: (-flows[name], name))  # most flows', then by name
    flow = next(c["flow"] for c in streams.codec_choices if c["codec"] == codec)
    ptime_ms = _ptime_ms(packets, codec, flow)
    text = yaml.safe_dump(
        {
            "name": f"import-{name}",
            "description": f"Imported from {', '.join(Path(c).name for c in captures)}.",
            "duration": f"{duration_s}s",
            "calls": {"count": streams.calls, "codec": codec, "ptime": f"{ptime_ms}ms"},
            "path": [{"name": PLACE}],
        }
    )
    return parse_scenario(text, "imported captures")


def _ptime_ms(packets: pa.Table, codec: str, flow: int) -> int:
    """The packet time ``flow``'s RTP timestamps advance by, in whole ms of ``codec``."""
    flows = packets.column("flow").to_numpy()
    ts = packets.column("rtp_ts").to_numpy()[flows == flow]
    step = np.diff(np.sort(ts))
    step = step[step > 0]
    if not step.size:
        return 20
    return max(round(float(np.median(step)) / CODECS[codec].rtp_clock_hz * 1000), 1)
