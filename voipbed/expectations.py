"""Thresholds on a run's summary figures: the ``expect:`` list of a scenario, checked after a run.

An expectation is one line, ``METRIC OP VALUE``::

    mos.p5 >= 3.6                 # a per-flow metric and a statistic over flows
    downlink.delay_p95_s.mean <= 150ms
    setup_time_s.p95 <= 2.5       # a bare number is in the metric's own unit: seconds
    late_percent.mean < 1%
    loss_at.radio <= 2%           # packets lost at a segment, % of the packets sent
    loss_by.queue < 0.5%          # packets lost for a reason (queue, aqm, harq, ...)
    alerts.one_way_audio <= 0     # alerts of a kind over the run (``alerts.all``: any)

A direction (``uplink.`` or ``downlink.``) may begin any metric. Per-flow
metrics are the columns of ``metrics.parquet`` that ``summary.json``
aggregates (``voipbed.metric_names.METRIC_COLUMNS``) with one of ``STATS``; the
unit of a bare threshold is the one the metric's name ends with (``_s``
seconds, ``_percent`` percent, ``_j`` joules); a threshold with a unit
(``150ms``, ``2%``) is converted, as scenario values are. ``loss_at`` and
``loss_by`` name no unit, so their thresholds are written as percentages.
A figure the run has no value for (a p5 over fewer than 20 flows, PESQ in a
simulator run) fails its expectation, saying why: a check never passes on
what was not measured.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from voipbed.metric_names import ALERT_KINDS, DROP_REASONS, METRIC_COLUMNS
from voipbed.units import UnitError, parse_duration, parse_ratio, shown
from voipbed.verdict import UNKNOWN

__all__ = [
    "DIRECTIONS",
    "FLOW_METRICS",
    "LOSS_REASONS",
    "STATS",
    "Expectation",
    "Measured",
    "Metric",
    "Outcome",
    "check_summary",
    "measure",
    "parse_expectation",
    "parse_metric",
]

FLOW_METRICS = METRIC_COLUMNS
"""Per-flow metrics that ``summary.json`` aggregates over flows."""

STATS = ("mean", "p5", "p50", "p95", "min", "max")
"""Statistics over flows that an expectation can name."""

DIRECTIONS = ("uplink", "downlink")
LOSS_REASONS = (*DROP_REASONS, UNKNOWN)
"""Network loss reasons of the trace, and ``unattributed`` for losses without one."""

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_LINE = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(<=|>=|<|>)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Metric:
    """A figure of a run's summary, named as in ``expect:`` (``downlink.mos.p5``)."""

    name: str
    """As written."""
    direction: str | None
    family: str
    """``flow`` (a per-flow metric and a statistic), ``loss_at``, ``loss_by`` or ``alerts``."""
    base: str
    """The per-flow metric, the segment or the reason."""
    stat: str | None
    unit: str
    """What the metric's values are in: ``s``, ``%``, ``J`` or empty."""

    def shown(self, value: float) -> str:
        """``value`` in the metric's unit, as a person reads it."""
        if self.unit == "s":
            return f"{value * 1e3:.4g} ms" if abs(value) < 1.0 else f"{value:.4g} s"
        if self.unit == "%":
            return f"{value:.4g} %"
        return f"{value:.4g}" + (f" {self.unit}" if self.unit else "")


@dataclass(frozen=True)
class Expectation:
    """One threshold: ``metric`` compared by ``op`` with ``threshold`` (in the metric's unit)."""

    text: str
    """As written in the scenario."""
    metric: Metric
    op: str
    threshold: float

    def holds(self, value: float) -> bool:
        return _OPERATORS[self.op](value, self.threshold)


def parse_metric(name: str, segments: Sequence[str] | None = None) -> Metric:
    """Read a metric name; ``ValueError`` says what is wrong and what is allowed.

    With ``segments`` (the path's segment names), ``loss_at.NAME`` must name one of them.
    """
    parts = name.split(".")
    direction = parts.pop(0) if parts[0] in DIRECTIONS else None
    if len(parts) != 2:
        raise ValueError(f"{name!r}: {_METRIC_FORMS}")
    head, tail = parts
    if head == "alerts":
        if tail not in (*ALERT_KINDS, "all"):
            raise ValueError(
                f"{name!r}: unknown alert {tail!r}{_suggest(tail, (*ALERT_KINDS, 'all'))}"
            )
        if direction is not None:
            raise ValueError(f"{name!r}: alerts are counted over the run, without a direction")
        return Metric(name, None, "alerts", tail, None, "")
    if head in ("loss_at", "loss_by"):
        _check_loss_name(name, head, tail, segments)
        return Metric(name, direction, head, tail, None, "%")
    if head not in FLOW_METRICS:
        raise ValueError(f"{name!r}: unknown metric {head!r}{_suggest(head, FLOW_METRICS)}")
    if tail not in STATS:
        raise ValueError(f"{name!r}: unknown statistic {tail!r} (one of {', '.join(STATS)})")
    return Metric(name, direction, "flow", head, tail, _unit_of(head))


def parse_expectation(text: object, segments: Sequence[str] | None = None) -> Expectation:
    """Read one ``METRIC OP VALUE`` line; ``ValueError`` says what is wrong and what is allowed.

    With ``segments`` (the path's segment names), ``loss_at.NAME`` must name one of them.
    """
    if not isinstance(text, str):
        raise ValueError(f"an expectation is a line like 'mos.p5 >= 3.6', got {shown(text)}")
    match = _LINE.match(text)
    if match is None:
        raise ValueError(
            f"{shown(text)} is not METRIC OP VALUE (e.g. 'mos.p5 >= 3.6'; OP is <, <=, > or >=)"
        )
    name, op, value = match.groups()
    metric = parse_metric(name, segments)
    if metric.family in ("flow", "alerts"):
        threshold = _threshold(value, name, metric.unit)
    else:
        threshold = _percent_threshold(value, name, bare_allowed=False)
    return Expectation(text, metric, op, threshold)


_METRIC_FORMS = (
    "a metric is [uplink.|downlink.]NAME.STAT (e.g. mos.p5), loss_at.SEGMENT, loss_by.REASON "
    "or alerts.KIND (e.g. alerts.one_way_audio, alerts.all)"
)


def _check_loss_name(metric: str, head: str, tail: str, segments: Sequence[str] | None) -> None:
    if head == "loss_by" and tail not in LOSS_REASONS:
        known = ", ".join(LOSS_REASONS)
        raise ValueError(f"{metric!r}: unknown loss reason {tail!r} (one of {known})")
    if head == "loss_at" and segments is not None and tail not in segments:
        raise ValueError(
            f"{metric!r}: no segment {tail!r} in the path{_suggest(tail, tuple(segments))}"
        )


def _suggest(word: str, choices: Sequence[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, choices, n=1)
    return f"; did you mean {close[0]!r}?" if close else f" (one of {', '.join(choices)})"


def _unit_of(metric: str) -> str:
    if metric.endswith("_s"):
        return "s"
    if metric.endswith("_percent"):
        return "%"
    if metric.endswith("_j"):
        return "J"
    return ""


def _threshold(value: str, metric: str, unit: str) -> float:
    """The threshold in the metric's unit: a bare number is already in it."""
    number = _bare_number(value)
    if unit == "%":
        return _percent_threshold(value, metric, bare_allowed=True)
    if number is not None:
        return number
    if unit == "s":
        try:
            return parse_duration(value)
        except UnitError as error:
            raise ValueError(f"{metric!r}: {error}") from None
    if unit == "J" and value.endswith("J") and _bare_number(value[:-1]) is not None:
        return float(value[:-1])
    what = "joules (e.g. 12 or 12J)" if unit == "J" else "a plain number"
    raise ValueError(f"{metric!r}: threshold {value!r} is not {what}")


def _percent_threshold(value: str, metric: str, *, bare_allowed: bool) -> float:
    number = _bare_number(value)
    if number is not None:
        if bare_allowed:
            return number
        raise ValueError(f"{metric!r}: write the threshold as a percentage, e.g. 2%")
    try:
        return parse_ratio(value) * 100.0
    except UnitError as error:
        raise ValueError(f"{metric!r}: {error}") from None


def _bare_number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    if not math.isfinite(number):
        raise ValueError(f"threshold {value!r} is not a finite number")
    return number


@dataclass(frozen=True)
class Measured:
    """A figure from a run's summary, or why there is none."""

    value: float | None
    missing: str = ""


@dataclass(frozen=True)
class Outcome:
    """One expectation against one run (or sweep point)."""

    expectation: Expectation
    measured: Measured

    @property
    def text(self) -> str:
        return self.expectation.text

    @property
    def passed(self) -> bool:
        value = self.measured.value
        return value is not None and self.expectation.holds(value)

    @property
    def measured_text(self) -> str:
        value = self.measured.value
        return self.expectation.metric.shown(value) if value is not None else "no value"

    def message(self, where: str = "") -> str:
        """What failed, naming the metric, value, threshold and ``where`` (the point)."""
        exp = self.expectation
        metric = exp.metric
        wanted = f"{exp.op} {metric.shown(exp.threshold)}"
        place = f" ({where})" if where else ""
        if self.measured.value is None:
            return f"{metric.name} has no value{place}: {self.measured.missing}; expected {wanted}"
        verdict = "holds" if self.passed else "expected"
        return f"{metric.name} = {self.measured_text}{place}; {verdict} {wanted}"


def measure(metric: Metric, summary: Mapping[str, Any]) -> Measured:
    """The figure ``metric`` names, from a run's ``summary.json``."""
    if metric.family == "flow":
        return _flow_figure(metric, summary)
    if metric.family == "alerts":
        counts = summary.get("alerts")
        if counts is None:
            return Measured(None, "the summary has no alerts")
        return Measured(
            float(sum(counts.values()) if metric.base == "all" else counts[metric.base])
        )
    return _loss_figure(metric, summary)


def _flow_figure(metric: Metric, summary: Mapping[str, Any]) -> Measured:
    direction = metric.direction
    if direction is None:
        table = summary.get("metrics", {})
    else:
        table = summary.get("by_direction", {}).get(direction)
        if table is None:
            return Measured(None, f"the run has no {direction} flows")
    stats = table.get(metric.base)
    if stats is None:
        return Measured(None, f"this run does not measure {metric.base}")
    value = stats.get(metric.stat)
    if value is None:
        flows = stats.get("n", 0)
        return Measured(None, f"{metric.stat} needs more flows than the {flows} with a value")
    return Measured(float(value))


def _loss_figure(metric: Metric, summary: Mapping[str, Any]) -> Measured:
    key = "segment" if metric.family == "loss_at" else "reason"
    records = summary.get("losses")
    if records is None:
        return Measured(None, "the summary has no loss breakdown")
    direction = metric.direction
    mine = [r for r in records if direction is None or r["direction"] == direction]
    lost = sum(int(r["packets"]) for r in mine if r[key] == metric.base)
    if direction is not None:
        sent = _sent_in(summary, direction)
    else:
        sent = int(summary.get("totals", {}).get("sent", 0))
    if not sent:
        return Measured(None, "no packets were sent")
    return Measured(100.0 * lost / sent)


def _sent_in(summary: Mapping[str, Any], direction: str) -> int:
    sent: int = summary.get("sent_by_direction", {}).get(direction, 0)
    return sent


def check_summary(expectations: Sequence[Expectation], summary: Mapping[str, Any]) -> list[Outcome]:
    """Every expectation against one run's summary, in the order written."""
    return [Outcome(e, measure(e.metric, summary)) for e in expectations]
