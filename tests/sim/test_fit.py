"""`voipbed fit`: scenarios fitted to runs reproduce their loss, bursts, delay and MOS."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from voipbed.cli import main
from voipbed.fit_run import fit_run, path_figures
from voipbed.loader import load_scenario, parse_scenario
from voipbed.path_fit import fit_path
from voipbed.runner import run_scenario
from voipbed.sim.engine import simulate

TRACES = Path(__file__).resolve().parents[2] / "traces"
NETWORKS = {
    "bernoulli": "loss: 3%\n    jitter: {distribution: exponential, scale: 5ms}",
    "gilbert_elliott": (
        "loss: {model: gilbert_elliott, rate: 5%, burst: 3}\n"
        "    jitter: {distribution: uniform, scale: 10ms}"
    ),
    "lte_trace": (
        f"uplink_trace: {TRACES / 'TMobile-LTE-short.up'}\n"
        f"    downlink_trace: {TRACES / 'TMobile-LTE-short.down'}\n"
        "    queue: {packets: 1000}\n"
        "    loss: {model: gilbert_elliott, rate: 2%, burst: 2}"
    ),
}
SCENARIO = """
name: {name}
seed: 3
duration: 60s
calls: {{count: 10, codec: AMR-WB-12.65}}
path:
  - name: net
    one_way_delay: 25ms
    {segment}
"""


@pytest.mark.parametrize("network", list(NETWORKS))
def test_a_fitted_scenario_reproduces_its_run(network: str, tmp_path: Path) -> None:
    """Bernoulli loss with exponential jitter, Gilbert-Elliott bursts with uniform jitter,
    and an LTE trace-driven link: the fitted scenario, simulated, is within 1 point of loss,
    0.2 of burst ratio, 5 ms of delay p50 and p95 and 0.2 of MOS of the run."""
    text = SCENARIO.format(name=network, segment=NETWORKS[network])
    run_dir = run_scenario(parse_scenario(text, f"{network}.yaml"), tmp_path).run_dir
    report = fit_run(run_dir, tmp_path / "fitted.yaml")
    seen, fitted = report.observed, report.fitted
    assert abs(seen["loss_percent"] - fitted["loss_percent"]) <= 1.0
    assert abs(seen["burst_ratio"] - fitted["burst_ratio"]) <= 0.2
    assert abs(seen["delay_p50_ms"] - fitted["delay_p50_ms"]) <= 5.0
    assert abs(seen["delay_p95_ms"] - fitted["delay_p95_ms"]) <= 5.0
    assert abs(seen["mos"] - fitted["mos"]) <= 0.2


def test_the_fit_names_what_it_chose() -> None:
    """Independent loss is fitted as Bernoulli, bursts as a chain, a queue as a schedule."""
    fits = {}
    for network in NETWORKS:
        text = SCENARIO.format(name=network, segment=NETWORKS[network])
        fits[network] = fit_path(simulate(parse_scenario(text, f"{network}.yaml")).packets)
    assert fits["bernoulli"].loss.model == "bernoulli"
    assert fits["bernoulli"].delay.distribution == "exponential"
    assert fits["gilbert_elliott"].loss.model == "gilbert_elliott"
    assert fits["gilbert_elliott"].delay.distribution == "uniform"
    assert fits["gilbert_elliott"].loss.burst_ratio == pytest.approx(3.0, abs=0.3)
    assert fits["lte_trace"].delay.schedules is not None


def test_fitting_a_missing_run_is_a_clear_error(tmp_path: Path) -> None:
    """A folder that is no run: exit 2, no traceback."""
    result = CliRunner().invoke(
        main, ["fit", str(tmp_path / "nope"), "--out", str(tmp_path / "s.yaml")]
    )
    assert result.exit_code == 2 and "Traceback" not in result.output


@pytest.mark.parametrize("seed", [7, 8])
def test_a_fitted_schedule_holds_for_packets_sent_at_other_instants(
    seed: int, tmp_path: Path
) -> None:
    """The LTE trace link's fitted scenario, simulated with another seed (calls starting
    at other instants, other losses), is still within 5 ms of the run's delay p50 and p95:
    the schedule models the link, not the packets it was fitted on."""
    text = SCENARIO.format(name="lte", segment=NETWORKS["lte_trace"])
    run_dir = run_scenario(parse_scenario(text, "lte.yaml"), tmp_path).run_dir
    report = fit_run(run_dir, tmp_path / "fitted.yaml")
    other = simulate(load_scenario(report.scenario_path, [f"seed={seed}"]))
    elsewhere = path_figures(other.packets, mos=math.nan)
    for figure in ("delay_p50_ms", "delay_p95_ms"):
        assert abs(report.observed[figure] - elsewhere[figure]) <= 5.0, figure
