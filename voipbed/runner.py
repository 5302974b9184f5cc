"""A run, end to end: scenario -> engine -> trace -> scores -> summary and report, in a run folder.

Each product is written as soon as it exists, so a failure in a later step
keeps the earlier ones; ``RunFailed`` says which step failed and what is kept.
"""

from __future__ import annotations

import json
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml

from voipbed import __version__
from voipbed.alerts import alert_counts, find_alerts
from voipbed.columns import Columns
from voipbed.emulation.network import Terminated
from voipbed.engines import ENGINES, STAGES
from voipbed.json_log import run_log
from voipbed.media_mix import media_mix
from voipbed.models.rrc import keepalive_energy
from voipbed.reports import write_report
from voipbed.rundir import create_run_dir
from voipbed.scenario import Scenario
from voipbed.scoring import bandwidth, score_run, summarize
from voipbed.signalling_figures import phone_figures, setup_figures
from voipbed.sim.engine import simulate
from voipbed.sim.unmodelled import unmodelled_settings
from voipbed.trace import Trace, with_events, write_events, write_trace

__all__ = [
    "ENGINES",
    "STAGES",
    "RunFailed",
    "RunInterrupted",
    "RunResult",
    "finish_run",
    "run_scenario",
]

log = logging.getLogger(__name__)

REPORT_COLUMNS = ("call", "flow", "direction", "send_s", "recv_s")
"""What the report draws from the packets (with each packet's playout time): a run holds
millions of rows, so the others are not converted to numpy."""


@dataclass(frozen=True)
class RunResult:
    """Where a finished run is and what it found."""

    run_dir: Path
    report: Path
    summary: dict[str, Any]


class RunFailed(Exception):
    """A run that stopped in ``stage``; the files in ``kept`` were written before it."""

    def __init__(self, stage: str, run_dir: Path, cause: BaseException) -> None:
        self.stage = stage
        self.run_dir = run_dir
        self.kept = sorted(path.name for path in run_dir.iterdir()) if run_dir.exists() else []
        kept = ", ".join(self.kept) if self.kept else "nothing"
        super().__init__(f"{stage} failed: {cause}; kept in {run_dir}: {kept}")


class RunInterrupted(Exception):
    """A run stopped by Ctrl-C or SIGTERM in ``stage``; everything it built was torn down."""

    def __init__(self, stage: str, run_dir: Path, signal_number: int) -> None:
        self.stage = stage
        self.run_dir = run_dir
        self.signal_number = signal_number
        super().__init__(f"interrupted in {stage}; what was written is in {run_dir}")


def run_scenario(
    scenario: Scenario,
    out_dir: Path,
    on_stage: Callable[[str], None] | None = None,
    *,
    engine: str = "sim",
) -> RunResult:
    """Run ``scenario`` in ``engine``, writing everything into a new folder under ``out_dir``.

    The emulation's first stage is called "emulate"; the others are the same.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    run_dir = create_run_dir(out_dir, scenario)
    resolved = yaml.safe_dump(scenario.to_yaml_dict(), sort_keys=False, allow_unicode=True)
    (run_dir / "scenario.yaml").write_text(resolved, encoding="utf-8")
    started = time.perf_counter()
    stage = STAGES[0]

    def enter(name: str) -> None:
        nonlocal stage
        stage = name
        log.info("%s: %s", run_dir.name, name)
        if on_stage is not None:
            on_stage(name)

    try:
        with run_log(run_dir, run_dir.name):
            report, summary = _run(scenario, run_dir, engine, started, enter)
    except KeyboardInterrupt as error:
        raise RunInterrupted(stage, run_dir, signal.SIGINT) from error
    except Terminated as error:
        raise RunInterrupted(stage, run_dir, error.signum) from error
    except Exception as error:
        raise RunFailed(stage, run_dir, error) from error
    return RunResult(run_dir, report, summary)


def _run(
    scenario: Scenario,
    run_dir: Path,
    engine: str,
    started: float,
    enter: Callable[[str], None],
) -> tuple[Path, dict[str, Any]]:
    """The engine's run of ``scenario``, then ``finish_run``."""
    pesq = None
    if engine == "sim":
        enter("simulate")
        trace = simulate(scenario)
    else:
        enter("emulate")
        from voipbed.emulation.engine import emulate  # its stacks and audio: not for sim runs

        emulated = emulate(scenario, run_dir)
        trace, pesq = emulated.trace, emulated.pesq
    report, summary = finish_run(
        trace, scenario, run_dir, engine=engine, started=started, enter=enter, pesq=pesq
    )
    return report, summary


def finish_run(
    trace: Trace,
    scenario: Scenario,
    run_dir: Path,
    *,
    engine: str,
    started: float,
    enter: Callable[[str], None],
    pesq: Columns | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Write ``trace`` into ``run_dir`` and score it with ``scenario``: metrics, summary
    and report, each as soon as it exists (``enter`` names each stage); the report's path
    and the summary."""
    resolved = yaml.safe_dump(scenario.to_yaml_dict(), sort_keys=False, allow_unicode=True)
    enter("write trace")
    manifest = {**trace.manifest, "run_id": run_dir.name, "voipbed": __version__}
    write_trace(type(trace)(trace.packets, trace.events, manifest), run_dir)
    enter("score")
    scores = score_run(trace.packets, scenario, trace.events)
    alerts = find_alerts(trace.packets, scores.windows, scenario)
    if alerts:  # they join the events, written again with them
        events = with_events(trace.events, [alert.event() for alert in alerts])
        trace = type(trace)(trace.packets, events, trace.manifest)
        write_events(events, run_dir)
    metrics = scores.metrics
    if pesq is not None and len(pesq):  # PESQ beside the E-model, per flow
        metrics = metrics.join(pesq, on="flow")
    pq.write_table(metrics.to_arrow(), run_dir / "metrics.parquet")
    facts = {
        "scenario": scenario.name,
        "engine": engine,
        "seed": scenario.seed,
        "run_id": run_dir.name,
        "duration_s": scenario.duration_s,
        "packets": trace.packets.num_rows,
        "wall_s": round(time.perf_counter() - started, 3),
    }
    summary = summarize(
        metrics,
        facts,
        losses=scores.losses,
        verdict=scores.verdict,
        r_scale_max=scores.r_scale_max,
    )
    summary["bandwidth"] = bandwidth(scenario)
    # What the scenario sets that this engine ignores, one sentence each.
    summary["warnings"] = unmodelled_settings(scenario) if engine == "sim" else []
    if scenario.radio.rrc is not None:
        summary["keepalive"] = _keepalive_cost(scenario)
    summary["alerts"] = alert_counts(alerts)
    setup = setup_figures(trace.events)
    if setup is not None:
        summary["setup"] = setup
    phones = phone_figures(trace.events, scenario.duration_s)
    if phones is not None:
        summary["phones"] = phones
    media = media_mix(metrics)
    if media is not None:
        summary["media"] = media
    text = json.dumps(summary, indent=2, allow_nan=False, default=_json_default)
    (run_dir / "summary.json").write_text(text + "\n", encoding="utf-8")
    enter("report")
    report = write_report(
        run_dir,
        scenario_yaml=resolved,
        summary=summary,
        metrics=metrics,
        packets=Columns.from_arrow(trace.packets.select(list(REPORT_COLUMNS))).with_columns(
            {"playout_s": scores.playout_s}
        ),
        events=Columns.from_arrow(trace.events),
        windows=scores.windows,
        rates=scores.rates,
        scenario=scenario,
    )
    return report, summary


def _keepalive_cost(scenario: Scenario) -> dict[str, float]:
    """Radio energy of the scenario's keep-alive period on an otherwise idle handset."""
    assert scenario.radio.rrc is not None  # checked by the caller
    cost = keepalive_energy(scenario.radio.keepalive_interval_s, scenario.radio.rrc.to_model())
    return {
        "interval_s": cost.interval_s,
        "energy_per_keepalive_j": cost.energy_j,
        "mean_power_mw": cost.mean_power_mw,
        "energy_per_hour_j": cost.energy_per_hour_j,
        "promotions_per_keepalive": cost.promotions,
    }


def _json_default(value: object) -> object:
    if hasattr(value, "item"):
        return value.item()  # numpy scalars
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
