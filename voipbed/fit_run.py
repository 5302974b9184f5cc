"""``voipbed fit``: a scenario that reproduces a run's path, and how well it does.

:func:`fit_run` fits one path segment to a run folder's packets
(``path_fit.fit_path``; an imported capture's, an emulated or a simulated
run's), writes the run's own scenario with that path as the whole path (and no
RRC, handovers or set-up: what they did is in the delays and losses fitted),
then simulates it and compares the run with the fitted model on loss rate,
burst ratio, one-way delay p50 and p95, and mean MOS. The model's figures are
taken over ``FIT_SEEDS`` simulations of the fitted scenario (the run's seed and
the next ones) pooled: one simulation is one random draw of the model, whose
burst ratio and delay tail over a short run stray from the model's as much as
the run's own do (a 60 s call with 300 losses draws a burst ratio of 2 give or
take 0.13). The comparison and the fitted parameters go into a JSON file
beside the scenario.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from numpy.typing import NDArray

from voipbed.arrow_numpy import to_numpy
from voipbed.loader import parse_scenario
from voipbed.path_fit import PathFit, fit_path, loss_transitions
from voipbed.scenario import Scenario
from voipbed.scoring import score_trace
from voipbed.sim.engine import simulate

__all__ = ["FIGURES", "FitReport", "fit_run", "path_figures"]

FIGURES = ("loss_percent", "burst_ratio", "delay_p50_ms", "delay_p95_ms", "mos")
FIT_SEEDS = 4
"""Simulations of the fitted scenario its figures are pooled over (a modelling choice: half
the spread of one draw, at four times its cost)."""


@dataclass(frozen=True)
class FitReport:
    """What was fitted, and the run's figures against the fitted scenario's."""

    scenario_path: Path
    report_path: Path
    fit: PathFit
    observed: dict[str, float]
    fitted: dict[str, float]


def path_figures(packets: pa.Table, mos: float) -> dict[str, float]:
    """A run's loss rate (% of packets sent), the burst ratio of its losses (all flows),
    one-way delay p50 and p95 (ms, over received packets) and mean MOS (given)."""
    flow = to_numpy(packets.column("flow")).astype(np.int64)
    seq = to_numpy(packets.column("seq")).astype(np.int64)
    send = to_numpy(packets.column("send_s"))
    recv = to_numpy(packets.column("recv_s"))
    order = np.lexsort((seq, flow))
    flow, lost = flow[order], np.isnan(recv[order])
    delay = (recv - send)[~np.isnan(recv)] * 1e3
    return {
        "loss_percent": float(100.0 * lost.mean()),
        "burst_ratio": _burst_ratio(flow, lost),
        "delay_p50_ms": float(np.percentile(delay, 50)),
        "delay_p95_ms": float(np.percentile(delay, 95)),
        "mos": mos,
    }


def _burst_ratio(flow: NDArray[np.int64], lost: NDArray[np.bool_]) -> float:
    """The burst ratio of all flows' losses together: 1 / (p + r) of the loss chain
    (``path_fit.loss_transitions``; ITU-T G.113 Appendix I); 1 without loss."""
    p, r = loss_transitions(flow, lost)
    if p is None or r is None or p + r <= 0:
        return 1.0
    return float(1.0 / (p + r))


def fit_run(run_dir: Path, out: Path) -> FitReport:
    """Fit ``run_dir``'s path, write the scenario to ``out`` and the comparison beside it."""
    packets = pq.read_table(run_dir / "packets.parquet")
    fit = fit_path(packets)
    out.parent.mkdir(parents=True, exist_ok=True)
    traces = _write_schedules(fit, out)
    document = yaml.safe_load((run_dir / "scenario.yaml").read_text(encoding="utf-8"))
    scenario_doc = _fitted_scenario(document, fit, traces)
    text = _header(run_dir, fit) + yaml.safe_dump(scenario_doc, sort_keys=False)
    out.write_text(text, encoding="utf-8")
    scenario = parse_scenario(text, str(out), base_dir=out.parent)
    metrics = pq.read_table(run_dir / "metrics.parquet").column("mos").to_numpy()
    observed = path_figures(packets, float(np.nanmean(metrics)))
    fitted = _model_figures(scenario)
    report = out.with_suffix(".fit.json")
    record = {
        "run": str(run_dir),
        "scenario": str(out),
        "fit": {"delay": asdict(fit.delay), "loss": asdict(fit.loss), "packets": fit.packets},
        "burst_ratio_of_fitted_chain": fit.loss.burst_ratio,
        "observed": observed,
        "fitted": fitted,
    }
    report.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return FitReport(out, report, fit, observed, fitted)


def _model_figures(scenario: Scenario) -> dict[str, float]:
    """``path_figures`` of ``FIT_SEEDS`` simulations of ``scenario`` pooled (each run's flows
    kept apart), with the mean MOS of all their flows."""
    tables, mos, offset = [], [], 0
    for k in range(FIT_SEEDS):
        seeded = scenario.model_copy(update={"seed": scenario.seed + k})
        packets = simulate(seeded).packets
        mos.append(score_trace(packets, seeded)["mos"])
        flow = to_numpy(packets.column("flow")).astype(np.int64)
        columns = {name: packets.column(name) for name in ("seq", "send_s", "recv_s")}
        tables.append(pa.table({"flow": flow + offset, **columns}))
        offset += 2 * (int(flow.max()) // 2 + 1) if flow.size else 0  # even: directions kept
    return path_figures(pa.concat_tables(tables), float(np.nanmean(np.concatenate(mos))))


def _write_schedules(fit: PathFit, out: Path) -> dict[str, str] | None:
    """The fitted delivery schedules as Mahimahi traces beside ``out`` (their file names),
    or None when the delay was fitted without a queue."""
    schedules = fit.delay.schedules
    if schedules is None:
        return None
    names = {}
    for direction, suffix in (("uplink", "up"), ("downlink", "down")):
        path = out.with_suffix(f".{suffix}")
        path.write_text("\n".join(map(str, schedules[direction])) + "\n", encoding="utf-8")
        names[direction] = path.name
    return names


def _fitted_scenario(
    document: dict[str, Any], fit: PathFit, traces: dict[str, str] | None
) -> dict[str, Any]:
    """The run's scenario with the fitted segment as its path, and nothing that the fitted
    delays and losses already hold (RRC, handovers, set-up, sweeps, expectations)."""
    scenario = {k: v for k, v in document.items() if k not in ("sweep", "seeds", "expect")}
    scenario["name"] = f"{document.get('name', 'run')}-fitted"
    scenario["path"] = [fit.segment(traces=traces)]
    scenario["radio"] = {"rrc": None}
    signalling = dict(scenario.get("signalling") or {})
    for key in ("setup", "phones", "nat", "ice", "dns", "fallback"):
        signalling.pop(key, None)
    scenario["signalling"] = signalling
    return scenario


def _header(run_dir: Path, fit: PathFit) -> str:
    delay, loss = fit.delay, fit.loss
    ks = ", ".join(f"{name} {value:.3f}" for name, value in delay.ks.items())
    if delay.schedules is not None:
        how = (
            "the link's capacity, a delivery schedule per direction from the queueing seen "
            f"(consecutive excess delays' correlation {delay.correlation:.2f})"
        )
    else:
        how = f"jitter {delay.distribution}" + (
            f" (Kolmogorov-Smirnov distance: {ks})" if ks else ""
        )
    return (
        f"# Fitted by `voipbed fit` from {run_dir} ({fit.packets} packets).\n"
        f"# Delay: base {delay.base_s * 1e3:.2f} ms, {how}.\n"
        f"# Loss: {loss.model}, rate {loss.rate:.2%}, chain p {loss.p:.4f} r {loss.r:.4f}"
        f" (burst ratio {loss.burst_ratio:.2f}).\n"
    )
