"""Sim and emulation agree on call set-up time over UDP, TCP and TLS on a lossy radio.

The emulation's baresip dials through Kamailio over the impaired link; the
simulator sets the same calls up on the path (``signalling.setup``). The bound:
median set-up time within 20 % or 50 ms, whichever is larger. The path is a
slow one (UMTS-like, 300 ms round trip). Over TCP the emulation's far end
answers about 40 ms later than over UDP (baresip writes its 180 and 200 to
Kamailio back to back on the core side, where Nagle's algorithm meets the
proxy's delayed ACK); the simulator's far end answers at once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.emulation.conftest import require
from voipbed.loader import parse_scenario
from voipbed.runner import run_scenario

pytestmark = [pytest.mark.emulation, pytest.mark.slow]

SCENARIO = """
name: setup-agreement-{transport}
seed: 5
duration: 24s
calls: {{count: 8, start_spread: 10s, hold_time: 6s, codec: PCMU, ptime: 20ms}}
signalling: {{setup: true, transport: {transport}}}
path:
  - {{name: radio, one_way_delay: 120ms, loss: 5%}}
  - {{name: core, one_way_delay: 30ms}}
radio: {{rrc: null}}
"""


def median_setup_s(run_dir: Path) -> float:
    """The median of the calls' set-up times (metrics' ``setup_time_s``, one per call)."""
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    per_call = metrics.groupby("call")["setup_time_s"].first().dropna()
    assert len(per_call) >= 6  # most calls were set up
    return float(np.median(per_call))


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_median_setup_time_agrees(transport: str, tmp_path: Path) -> None:
    """Median set-up time, sim against emulation: within 20 % or 50 ms."""
    require("mnexec", "ethtool", "kamailio", "baresip", "espeak-ng", "sox")
    scenario = parse_scenario(SCENARIO.format(transport=transport), f"{transport}.yaml")
    sim = median_setup_s(run_scenario(scenario, tmp_path / "sim").run_dir)
    emulated = median_setup_s(run_scenario(scenario, tmp_path / "emu", engine="emulation").run_dir)
    print(f"\n{transport}: sim median {sim:.3f} s, emulation median {emulated:.3f} s")
    assert abs(sim - emulated) <= max(0.2 * emulated, 0.05)
