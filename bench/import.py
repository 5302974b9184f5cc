"""Captures imported and scored per wall second: ``voipbed import`` on a 1 M-packet capture.

Simulates ``--calls`` AMR-WB calls of 60 s on a lossy, jittery path (about 6 000
packets per call, both ways), writes the far end's capture of it
(``voipbed export-pcap``: every downlink packet sent, every uplink packet
received), then times ``voipbed import`` of that one capture: reading the pcap,
finding the RTP streams, scoring them with the E-model and jitter buffer, and
writing the run folder with its report. Best of ``--repeat`` runs; prints the
frames per wall second.

    python bench/import.py [--calls 170] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from voipbed.capture_import import import_captures
from voipbed.loader import parse_scenario
from voipbed.pcap_export import export_pcaps
from voipbed.pcap_file import read_capture
from voipbed.runner import run_scenario

SCENARIO = """
name: import-bench
seed: 1
duration: 60s
calls: {{count: {calls}, start_spread: 0s, codec: AMR-WB-12.65, ptime: 20ms}}
path:
  - {{name: radio, one_way_delay: 30ms, jitter: {{distribution: exponential, scale: 5ms}},
     loss: 1%}}
  - {{name: core, one_way_delay: 20ms}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=170)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; {args.calls} calls of 60 s"
    )
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        scenario = parse_scenario(SCENARIO.format(calls=args.calls), "import-bench.yaml")
        run_dir = run_scenario(scenario, root / "sim").run_dir
        _, capture = export_pcaps(run_dir, root / "captures")
        frames = len(read_capture(capture))
        size_mb = capture.stat().st_size / 1e6
        best = float("inf")
        for k in range(args.repeat):
            started = time.perf_counter()
            import_captures([capture], root / f"imported{k}", codec="AMR-WB-12.65")
            best = min(best, time.perf_counter() - started)
    print(f"capture: {frames:,} frames ({size_mb:.0f} MB)")
    print(f"import and score: {best:.2f} s, {frames / best:,.0f} frames/s")


if __name__ == "__main__":
    main()
