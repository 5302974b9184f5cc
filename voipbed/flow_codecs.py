"""The codec modes each flow was coded with, and the E-model Ie and Bpl they give the flow.

The packets table's ``codec`` column names, for each packet, the codec-table
entry (``models.codecs.CODECS``) of the mode it was coded with: one name at a
fixed rate, the modes the sender moved between under ``calls.rate_control``.
Every packet carries ``calls.ptime`` of audio (no silence suppression), so a
flow's time in a mode is its packets in that mode times the ptime.

- Scale. One E-model scale rates every flow of a run: that of the widest
  bandwidth class among ``calls.codec``, the modes of its adaptive family
  (``voipbed.scenario_rate.adaptive_family``) when rate control is on, and
  the modes the packets carry. A flow of an adaptive wideband call that
  spent the whole call in a narrowband mode is rated as a narrowband codec
  on the wideband scale (G.107.1), as the listener of a wideband call hears
  it, and runs of one scenario stay comparable whatever modes they used.
- Ie. The time-weighted mean of the modes' Ie, on the run's scale: the rule
  of ``models.codec_adaptation.effective_ie`` (its docstring gives the rule
  and its sources), then ``ie_on_scale`` from the flow's widest class to the
  run's.
- Bpl. The time-weighted mean of the modes' Bpl under the receiver's
  concealment (``models.plc.bpl_for``), each as its table gives it (G.113
  gives no rule to move a Bpl between scales). No ITU-T text rates a codec
  whose mode changes within a call, and Bpl enters Ie,eff non-linearly
  (G.107 eq. 7-29, G.107.1 eq. 7-15), so the mean is a modelling choice: exact
  where the modes share a Bpl (AMR's modes, EVS-WB's), close where they
  differ little (AMR-WB, 4.3 to 4.9), and a blend of two borrowed values for
  Opus (10.0 for its narrowband modes, 4.3 for its wideband ones).
- A flow that used one mode takes that mode's Ie and Bpl as they are, so a
  fixed-rate run is scored exactly as ``calls.codec`` alone would score it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from voipbed.models.codec_adaptation import IeInterval, effective_ie, ie_on_scale
from voipbed.models.codecs import CODECS, Bandwidth
from voipbed.models.plc import Plc, bpl_for
from voipbed.scenario import Scenario
from voipbed.scenario_rate import Algorithm

__all__ = ["FlowCodecs", "flow_codecs", "mode_inputs", "run_scale"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# Order of the E-model scales: G.107, G.107.1, then G.107.2 (super-wideband and
# fullband share it; fullband ranks last only so that one of the two is chosen).
_SCALE_ORDER = (Bandwidth.NARROW, Bandwidth.WIDE, Bandwidth.SUPER_WIDE, Bandwidth.FULL)


@dataclass(frozen=True)
class FlowCodecs:
    """Per flow (in the flows' order): the modes used and the E-model inputs they give."""

    scale: Bandwidth
    """The class whose E-model scale rates every flow of the run (``run_scale``)."""
    ie: FloatArray
    """Each flow's Ie on ``scale``: the time-weighted mean over the modes it used."""
    bpl: FloatArray
    """Each flow's Bpl: the time-weighted mean of its modes' Bpl."""
    modes: IntArray
    """How many distinct modes (codec-table names) each flow used."""
    used: tuple[str, ...]
    """The modes the run used, lowest bit rate first."""
    adaptive: bool
    """Rate control is on, or the packets carry more than one mode."""

    def describe(self, start: str) -> str:
        """The codec in words for the verdict; ``start`` is ``calls.codec``."""
        if not self.adaptive:
            return self.used[0] if len(self.used) == 1 else start
        if len(self.used) <= 1:
            only = f"only {self.used[0]} used" if self.used else "no packet sent"
            return f"adaptive {start} ({only})"
        return f"adaptive {start} ({self.used[0]} to {self.used[-1]} as used, weighted by time)"


def run_scale(scenario: Scenario, modes: Sequence[str] = ()) -> Bandwidth:
    """The widest class among ``calls.codec``, its adaptive family under rate control, and
    ``modes`` (the codec-table names the packets carry)."""
    names = [scenario.calls.codec, *modes]
    if _rate_controlled(scenario):
        family = scenario.calls.rate_control.family(scenario.calls.codec)
        names += [point.codec for point in family.points]
    return max((CODECS[name].bandwidth for name in names), key=_SCALE_ORDER.index)


def mode_inputs(name: str, scale: Bandwidth, plc: Plc) -> tuple[float, float]:
    """Ie of mode ``name`` on ``scale``'s E-model scale, and its Bpl under ``plc``."""
    used = CODECS[name]
    ie = ie_on_scale(used.ie, used.bandwidth, scale)
    return ie, bpl_for(used.bpl_without_plc, used.bpl_with_plc, plc)


def flow_codecs(
    names: Sequence[str], codes: npt.NDArray[Any], bounds: IntArray, scenario: Scenario
) -> FlowCodecs:
    """The modes of each flow and their Ie and Bpl (rules in the module docstring).

    ``names`` is the ``codec`` column's dictionary (a name may repeat: one
    entry per operating point), ``codes`` each packet's index into it, the
    packets grouped by flow: flow i is packets ``bounds[i]:bounds[i + 1]``.
    """
    distinct = sorted(set(names), key=lambda name: (CODECS[name].bitrate_bps, name))
    to_mode = np.array([distinct.index(name) for name in names], dtype=np.int64)
    sizes = np.diff(bounds)
    flows, width = sizes.size, len(distinct)
    if width == 1:  # one mode (a fixed rate): no need to look at each packet
        counts = sizes.reshape(flows, 1).astype(np.int64)
    else:
        row = np.repeat(np.arange(flows, dtype=np.int64), sizes)
        keys = row * width + to_mode[np.asarray(codes, dtype=np.int64)] if width else row
        counts = np.bincount(keys, minlength=flows * width).reshape(flows, width)
    in_run = counts.sum(axis=0) > 0
    used = tuple(name for name, kept in zip(distinct, in_run.tolist(), strict=True) if kept)
    scale = run_scale(scenario, used)
    plc = Plc(scenario.calls.plc.value)
    ie_mode, bpl_mode = np.full(width, np.nan), np.full(width, np.nan)
    for index in np.flatnonzero(in_run).tolist():
        ie_mode[index], bpl_mode[index] = mode_inputs(distinct[index], scale, plc)
    ie, bpl = _flow_inputs(counts, distinct, ie_mode, bpl_mode, scenario.calls.ptime_s, scale)
    return FlowCodecs(
        scale=scale,
        ie=ie,
        bpl=bpl,
        modes=(counts > 0).sum(axis=1).astype(np.int64),
        used=used,
        adaptive=_rate_controlled(scenario) or len(used) > 1,
    )


def _flow_inputs(
    counts: IntArray,
    distinct: Sequence[str],
    ie_mode: FloatArray,
    bpl_mode: FloatArray,
    ptime_s: float,
    scale: Bandwidth,
) -> tuple[FloatArray, FloatArray]:
    """Each flow's Ie and Bpl from its packets per mode (``counts``, flows x modes)."""
    flows = counts.shape[0]
    ie, bpl = np.empty(flows), np.empty(flows)
    present = counts > 0
    single = present.sum(axis=1) == 1
    only = present[single].argmax(axis=1)
    ie[single], bpl[single] = ie_mode[only], bpl_mode[only]  # as the mode is: no rounding
    for flow in np.flatnonzero(~single).tolist():
        modes = np.flatnonzero(present[flow]).tolist()
        intervals = [
            IeInterval(
                float(counts[flow, m]) * ptime_s,
                CODECS[distinct[m]].ie,
                CODECS[distinct[m]].bandwidth,
            )
            for m in modes
        ]
        mean = effective_ie(intervals)
        ie[flow] = ie_on_scale(mean.ie, mean.bandwidth, scale)
        weights = counts[flow, modes].astype(np.float64)
        bpl[flow] = float(weights @ bpl_mode[modes]) / float(weights.sum())
    return ie, bpl


def _rate_controlled(scenario: Scenario) -> bool:
    return scenario.calls.rate_control.algorithm is not Algorithm.NONE
