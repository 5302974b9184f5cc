"""`voipbed fit` on emulated networks: the fitted scenario, simulated, reproduces them.

Bernoulli loss with exponential jitter and Gilbert-Elliott bursts with uniform jitter. A
trace-driven LTE link is not here yet: fitted from the emulation, its delay p95 comes out
about 5 ms above what the emulation saw (the simulator's own run of it is reproduced:
``tests/sim/test_fit.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.emulation.conftest import require
from voipbed.fit_run import fit_run
from voipbed.loader import parse_scenario
from voipbed.runner import run_scenario

pytestmark = [pytest.mark.emulation, pytest.mark.slow]

NETWORKS = {
    "bernoulli": "loss: 3%\n    jitter: {distribution: exponential, scale: 5ms}",
    "gilbert_elliott": (
        "loss: {model: gilbert_elliott, rate: 6%, burst: 3}\n"
        "    jitter: {distribution: uniform, scale: 8ms}"
    ),
}
SCENARIO = """
name: fit-{name}
seed: 5
duration: 30s
calls: {{count: 2, codec: PCMU, ptime: 20ms}}
path:
  - name: net
    one_way_delay: 20ms
    {segment}
jitter_buffer: {{kind: fixed, delay: 60ms}}
radio: {{rrc: null}}
"""


@pytest.mark.parametrize("network", list(NETWORKS))
def test_a_scenario_fitted_to_an_emulated_network_reproduces_it(
    network: str, tmp_path: Path
) -> None:
    """Loss within 1 point, burst ratio within 0.2, delay p50 and p95 within 5 ms, MOS within
    0.2 of what the emulation's real stacks saw."""
    require("mnexec", "ethtool", "kamailio", "baresip", "espeak-ng", "sox")
    text = SCENARIO.format(name=network, segment=NETWORKS[network])
    scenario = parse_scenario(text, f"fit-{network}.yaml")
    run_dir = run_scenario(scenario, tmp_path, engine="emulation").run_dir
    report = fit_run(run_dir, tmp_path / "fitted.yaml")
    seen, fitted = report.observed, report.fitted
    print(f"\n{network}: emulation {seen}\nfitted {fitted}")
    assert abs(seen["loss_percent"] - fitted["loss_percent"]) <= 1.0
    assert abs(seen["burst_ratio"] - fitted["burst_ratio"]) <= 0.2
    assert abs(seen["delay_p50_ms"] - fitted["delay_p50_ms"]) <= 5.0
    assert abs(seen["delay_p95_ms"] - fitted["delay_p95_ms"]) <= 5.0
    assert abs(seen["mos"] - fitted["mos"]) <= 0.2
