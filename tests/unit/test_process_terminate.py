"""terminate(): one SIGTERM ahead of stop(), so that many programs exit together."""

from __future__ import annotations

import sys
from pathlib import Path

from voipbed.emulation.process import LogLine, ManagedProcess

# Notes when SIGTERM came and how many came, takes 0.3 s to exit, then notes its exit time.
SLOW_EXIT = """
import signal, sys, time
out = sys.argv[1]
count = 0
def on_term(signum, frame):
    global count
    count += 1
    if count == 1:
        with open(out, "a") as f:
            f.write(f"term {time.monotonic()}\\n")
        time.sleep(0.3)
        with open(out, "a") as f:
            f.write(f"exit {time.monotonic()} {count}\\n")
        sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
print("armed", flush=True)
time.sleep(60)
"""


def _notes(path: Path) -> dict[str, list[float]]:
    notes: dict[str, list[float]] = {}
    for line in path.read_text().splitlines():
        word, *values = line.split()
        notes[word] = [float(value) for value in values]
    return notes


def test_terminating_all_then_stopping_each_overlaps_their_exits(tmp_path: Path) -> None:
    """terminate() on each, then stop() on each: the second gets its SIGTERM before the
    first has finished exiting."""
    outs = [tmp_path / "a.txt", tmp_path / "b.txt"]
    processes = [
        ManagedProcess([sys.executable, "-c", SLOW_EXIT, str(out)], name=out.stem, log_dir=tmp_path)
        for out in outs
    ]
    for process in processes:
        process.start(LogLine("armed"), timeout_s=10.0)
    for process in processes:
        process.terminate()
    for process in processes:
        process.stop(grace_s=5.0)
    first, second = (_notes(out) for out in outs)
    assert second["term"][0] < first["exit"][0]
    assert [process.returncode for process in processes] == [0, 0]


def test_terminate_sends_sigterm_once(tmp_path: Path) -> None:
    """terminate() then stop() deliver one SIGTERM, so an orderly exit is not cut short."""
    out = tmp_path / "once.txt"
    process = ManagedProcess(
        [sys.executable, "-c", SLOW_EXIT, str(out)], name="once", log_dir=tmp_path
    )
    process.start(LogLine("armed"), timeout_s=10.0)
    process.terminate()
    process.terminate()
    assert process.stop(grace_s=5.0) == 0
    assert process.stop() == 0
    assert _notes(out)["exit"][1] == 1
