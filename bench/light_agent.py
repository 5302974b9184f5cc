"""CPU of the light calls' agents per 100 calls, and how late their packets leave.

Both agents (``voipbed.emulation.light_agent``) run as an emulation run starts them, but
on this machine's loopback, without namespaces or links: the callers on 127.0.1.x (one
address a call), the answerers on 127.0.0.2, and a stub registrar on 127.0.0.1 that
answers every REGISTER 200 and relays every other SIP message between the two agents
(no Kamailio: the bench measures the agents alone). Each call lasts ``--seconds``,
starting within its first second; each agent sends one G.711 stream a call and
receives the other.

Prints, per agent, its CPU seconds (user + system, from its log) over the calls' span
as a share of one core, that share per 100 calls (one stream sent and one received
each), and its packets' lateness after their planned instant (p50, p99, max). Needs
no root; the agents' real-time priority applies when permitted.

    python bench/light_agent.py [--calls 200] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from voipbed.emulation.g711_payload import g711_frames
from voipbed.emulation.light_plan import (
    FAR_FIRST_PORT,
    UE_MEDIA_PORT,
    LightAgentPlan,
    LightCall,
    Role,
)

REGISTRAR = ("127.0.0.1", 5060)
CALLERS = "127.0.1.1"
ANSWERERS = "127.0.0.2"
SETUP_S = 3.0  # both agents start and register before t0
ANSWERERS_ROLE: Role = "answerers"
CALLERS_ROLE: Role = "callers"


def _stub_registrar(stop: threading.Event) -> None:
    """200 to every REGISTER; anything else from one agent goes to the other."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(REGISTRAR)
    sock.settimeout(0.2)
    peers = {CALLERS: (ANSWERERS, 5200), ANSWERERS: (CALLERS, 5200)}
    while not stop.is_set():
        try:
            data, source = sock.recvfrom(65535)
        except TimeoutError:
            continue
        text = data.decode(errors="replace")
        if text.startswith("REGISTER"):
            head = text.split("\r\n\r\n")[0].split("\r\n")[1:]
            keep = [h for h in head if h.split(":")[0] in ("Via", "From", "To", "Call-ID", "CSeq")]
            reply = "\r\n".join(["SIP/2.0 200 OK", *keep, "Content-Length: 0"]) + "\r\n\r\n"
            sock.sendto(reply.encode(), source)
        elif source[0] in peers:
            sock.sendto(data, peers[source[0]])
    sock.close()


def _plans(calls: int, seconds: float, work: Path, t0: float) -> list[LightAgentPlan]:
    payload = work / "speech.g711"
    t = np.arange(8000 * 5) / 8000.0
    payload.write_bytes(b"".join(g711_frames(0.3 * np.sin(2 * np.pi * 300 * t), "PCMU", 0.02)))
    rng = np.random.default_rng(1)
    starts = np.sort(rng.uniform(0.0, 1.0, calls))
    specs = tuple(
        LightCall(
            call=c,
            caller_user=f"ue{c}",
            callee_user=f"lt{c}",
            ue_address=f"127.0.1.{c + 1}" if c < 254 else f"127.0.2.{c - 253}",
            ue_port=UE_MEDIA_PORT,
            far_port=FAR_FIRST_PORT + 2 * c,
            start_s=float(starts[c]),
            end_s=float(starts[c]) + seconds,
            ssrc_up=2 * c + 1,
            ssrc_down=2 * c + 2,
            seq_up=0,
            seq_down=0,
            ts_up=0,
            ts_down=0,
        )
        for c in range(calls)
    )
    common: dict[str, Any] = {
        "t0": t0,
        "stop_s": 1.0 + seconds + 8.0,
        "sip_port": 5200,
        "registrar": REGISTRAR,
        "domain": REGISTRAR[0],
        "t1_s": 0.5,
        "t2_s": 4.0,
        "expires_s": 3600,
        "media_address": ANSWERERS,
        "payload_type": 0,
        "encoding": "PCMU",
        "ptime_s": 0.02,
        "payload_bytes": 160,
        "ticks_per_packet": 160,
        "payload_path": str(payload),
        "calls": specs,
    }
    return [
        LightAgentPlan(
            role=role, sip_address=address, log_path=str(work / f"{role}.jsonl"), **common
        )
        for role, address in ((ANSWERERS_ROLE, ANSWERERS), (CALLERS_ROLE, CALLERS))
    ]


def run(calls: int, seconds: float) -> dict[str, Any]:
    """Run both agents for ``calls`` calls of ``seconds``; their figures."""
    stop = threading.Event()
    registrar = threading.Thread(target=_stub_registrar, args=(stop,), daemon=True)
    registrar.start()
    results: dict[str, Any] = {"calls": calls, "seconds": seconds}
    with tempfile.TemporaryDirectory(prefix="voipbed-light-bench-") as folder:
        work = Path(folder)
        plans = _plans(calls, seconds, work, time.monotonic() + SETUP_S)
        agents = []
        for plan in plans:
            plan_file = work / f"{plan.role}.json"
            plan_file.write_text(plan.to_json(), encoding="utf-8")
            argv = [sys.executable, "-m", "voipbed.emulation.light_agent", str(plan_file)]
            agents.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL))
        for agent in agents:
            agent.wait(timeout=SETUP_S + seconds + 30.0)
        stop.set()
        for plan in plans:
            lines = [json.loads(line) for line in Path(plan.log_path).read_text().splitlines()]
            cpu = next(line for line in lines if line["what"] == "cpu")
            pacing = next(line for line in lines if line["what"] == "pacing")
            answered = sum(1 for line in lines if line["what"] in ("answered", "acked"))
            core_share = (cpu["user_s"] + cpu["system_s"]) / seconds
            results[plan.role] = {
                "answered": answered,
                "cpu_s": round(cpu["user_s"] + cpu["system_s"], 2),
                "core_share": round(core_share, 3),
                "core_share_per_100_calls": round(100.0 * core_share / calls, 3),
                "late_p50_ms": pacing.get("late_p50_ms"),
                "late_p99_ms": pacing.get("late_p99_ms"),
                "late_max_ms": pacing.get("late_max_ms"),
                "realtime": not any(line["what"] == "realtime_refused" for line in lines),
            }
    registrar.join(timeout=1.0)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(json.dumps(run(args.calls, args.seconds), indent=2))


if __name__ == "__main__":
    main()
