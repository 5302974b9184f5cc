"""``voipbed compare``: two or more run folders side by side.

Each run folder (a run, or a sweep point under ``points/``) gives its
summary's headline figures, its resolved scenario, its per-flow MOS
(``metrics.parquet``) and the one-way delay of its received packets
(``packets.parquet``, read as quantiles so that a run of millions of packets
costs little). The first run is the baseline: every other run's figures are
shown with their difference from it, and its scenario as the YAML lines that
differ. The result is a table for the terminal and an HTML report
(``reports.compare``) in a new folder.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow.parquet as pq

from voipbed.expectations import Metric, measure, parse_metric
from voipbed.reports.plots import direction_order

__all__ = [
    "FIGURES",
    "CompareError",
    "ComparedRun",
    "Figure",
    "compare_lines",
    "figure_rows",
    "load_run",
    "scenario_diff",
    "write_comparison",
]

FloatArray = npt.NDArray[np.float64]

QUANTILES = np.linspace(0.0, 1.0, 1001)
"""Delay quantiles kept per run and direction: what a CDF plot can show."""


@dataclass(frozen=True)
class Figure:
    """A headline figure: its label, the summary metric it reads, and how it is shown."""

    label: str
    metric: Metric
    scale: float = 1.0
    decimals: int = 2
    higher_is_better: bool = False

    def shown(self, value: float | None) -> str:
        if value is None or not math.isfinite(value):
            return "—"
        return f"{value * self.scale:,.{self.decimals}f}"

    def difference(self, value: float | None, baseline: float | None) -> str:
        if value is None or baseline is None:
            return ""
        return f"{(value - baseline) * self.scale:+,.{self.decimals}f}"


FIGURES = (
    Figure("MOS mean", parse_metric("mos.mean"), higher_is_better=True),
    Figure("MOS p5", parse_metric("mos.p5"), higher_is_better=True),
    Figure("MOS min", parse_metric("mos.min"), higher_is_better=True),
    Figure("R mean", parse_metric("r_factor.mean"), decimals=1, higher_is_better=True),
    Figure("Ppl mean (%)", parse_metric("ppl_percent.mean")),
    Figure("network loss mean (%)", parse_metric("loss_percent.mean")),
    Figure("late discards mean (%)", parse_metric("late_percent.mean")),
    Figure("delay mean (ms)", parse_metric("delay_mean_s.mean"), 1e3, 1),
    Figure("delay p95 (ms, mean over flows)", parse_metric("delay_p95_s.mean"), 1e3, 1),
    Figure("jitter (ms)", parse_metric("jitter_s.mean"), 1e3, 2),
    Figure("mouth-to-ear (ms)", parse_metric("ta_s.mean"), 1e3, 1),
)
"""What the comparison puts side by side, from each run's ``summary.json``."""


class CompareError(Exception):
    """A folder that is not a run (the command exits 2)."""


@dataclass(frozen=True)
class ComparedRun:
    """What the comparison reads of one run folder."""

    letter: str
    folder: Path
    scenario: str
    run_id: str
    summary: dict[str, Any]
    scenario_yaml: str
    mos: dict[str, FloatArray]
    """Per direction, every flow's MOS, sorted."""
    delay_quantiles_ms: dict[str, FloatArray]
    """Per direction and ``all``, one-way delay quantiles (``QUANTILES``) of received packets."""
    received: dict[str, int]

    @property
    def label(self) -> str:
        return f"{self.letter}: {self.scenario}"

    def value(self, figure: Figure) -> float | None:
        return measure(figure.metric, self.summary).value


def load_run(folder: Path, letter: str) -> ComparedRun:
    """Read a run folder; ``CompareError`` if it is not one."""
    folder = Path(folder)
    needed = ["summary.json", "scenario.yaml", "metrics.parquet", "packets.parquet"]
    missing = [name for name in needed if not (folder / name).is_file()]
    if missing:
        hint = (
            " (a sweep: compare its points/ folders)" if (folder / "sweep.json").is_file() else ""
        )
        raise CompareError(f"{folder}: not a run folder, no {', '.join(missing)}{hint}")
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        scenario_yaml = (folder / "scenario.yaml").read_text(encoding="utf-8")
        mos = _mos_by_direction(folder / "metrics.parquet")
        quantiles, received = _delay_quantiles(folder / "packets.parquet")
    except (OSError, UnicodeDecodeError, ValueError, KeyError) as error:
        raise CompareError(f"{folder}: cannot read: {error}") from None
    return ComparedRun(
        letter,
        folder,
        str(summary.get("scenario", folder.name)),
        str(summary.get("run_id", folder.name)),
        summary,
        scenario_yaml,
        mos,
        quantiles,
        received,
    )


def _mos_by_direction(path: Path) -> dict[str, FloatArray]:
    table = pq.read_table(path, columns=["direction", "mos"])
    directions = np.asarray(table.column("direction").to_pylist(), dtype=object)
    mos = table.column("mos").to_numpy(zero_copy_only=False).astype(np.float64)
    return {
        str(d): np.sort(mos[(directions == d) & np.isfinite(mos)])
        for d in direction_order(list(directions))
    }


def _delay_quantiles(path: Path) -> tuple[dict[str, FloatArray], dict[str, int]]:
    table = pq.read_table(path, columns=["direction", "send_s", "recv_s"])
    send = table.column("send_s").to_numpy(zero_copy_only=False)
    recv = table.column("recv_s").to_numpy(zero_copy_only=False)
    delay_ms = (recv - send) * 1e3
    received = np.isfinite(delay_ms)
    direction = table.column("direction").combine_chunks()
    names = [str(name) for name in direction.dictionary.to_pylist()]
    codes = direction.indices.to_numpy(zero_copy_only=False)
    quantiles: dict[str, FloatArray] = {}
    counts: dict[str, int] = {}
    groups = [(name, received & (codes == names.index(name))) for name in direction_order(names)]
    for name, mask in [*groups, ("all", received)]:
        values = delay_ms[mask]
        counts[name] = int(values.size)
        if values.size:
            quantiles[name] = np.quantile(values, QUANTILES)
    return quantiles, counts


def figure_rows(runs: list[ComparedRun]) -> list[list[str]]:
    """One row per figure: its label, then each run's value (with its difference from the first)."""
    rows = []
    for figure in FIGURES:
        baseline = runs[0].value(figure)
        row = [figure.label, figure.shown(baseline)]
        for run in runs[1:]:
            value = run.value(figure)
            change = figure.difference(value, baseline)
            row.append(figure.shown(value) + (f" ({change})" if change else ""))
        rows.append(row)
    return rows


def compare_lines(runs: list[ComparedRun]) -> list[str]:
    """The comparison as aligned text for a terminal: runs as columns, differences from A."""
    header = ["", *(run.label for run in runs)]
    rows = [header, *figure_rows(runs)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.rjust(w) if i else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    lines += [f"{run.letter}: {run.folder}" for run in runs]
    return lines


def scenario_diff(baseline: ComparedRun, other: ComparedRun) -> list[str]:
    """The YAML lines of ``other``'s resolved scenario that differ from the baseline's."""
    return list(
        difflib.unified_diff(
            baseline.scenario_yaml.splitlines(),
            other.scenario_yaml.splitlines(),
            fromfile=f"{baseline.letter}: {baseline.run_id}",
            tofile=f"{other.letter}: {other.run_id}",
            lineterm="",
            n=2,
        )
    )


def write_comparison(runs: list[ComparedRun], out_dir: Path) -> Path:
    """Write ``report.html`` and ``compare.json`` into a new folder under ``out_dir``; return
    the report's path."""
    from voipbed.reports.compare import render_comparison

    ids = "\n".join(run.run_id for run in runs)
    digest = hashlib.sha256(ids.encode("utf-8")).hexdigest()[:8]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = out_dir / f"compare-{stamp}-{digest}"
    folder.mkdir(parents=True, exist_ok=False)
    record = {
        "runs": [{"letter": r.letter, "folder": str(r.folder), "run_id": r.run_id} for r in runs],
        "figures": {figure.label: [run.value(figure) for run in runs] for figure in FIGURES},
    }
    (folder / "compare.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    report = folder / "report.html"
    report.write_text(render_comparison(runs), encoding="utf-8")
    return report
