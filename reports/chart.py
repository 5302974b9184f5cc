"""A small chart model: panels in a grid, each with its axes, series and legend.

The report's figure functions build a ``Chart`` and ``reports.svg`` draws it.
Everything a figure shows is in the model (titles, axis labels and limits,
ticks, series and their legend texts), so tests inspect the model rather than
pixels. Limits and ticks are computed from the series' finite values when an
axis does not fix them; ticks step by 1, 2 or 5 times a power of ten.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt

__all__ = [
    "Axis",
    "Band",
    "Bars",
    "Cells",
    "Chart",
    "ColorScale",
    "Dash",
    "LegendEntry",
    "Line",
    "Markers",
    "Panel",
    "RefLine",
    "Series",
    "Spans",
    "Text",
    "Tick",
    "array",
    "categories",
    "legend_entry",
    "nice_ticks",
    "no_data",
    "padded",
]

FloatArray = npt.NDArray[np.float64]
Dash = Literal["solid", "dashed", "dotted", "dashdot"]
Marker = Literal["dot", "cross", "tick"]


def array(values: object) -> FloatArray:
    """``values`` as a one-dimensional float64 array (a copy only when needed)."""
    return np.asarray(values, dtype=np.float64).reshape(-1)


@dataclass(frozen=True)
class Tick:
    """A tick at ``position`` (data units) with its label; ``\\n`` splits the label into lines."""

    position: float
    label: str


@dataclass
class Axis:
    """One axis of a panel.

    ``low`` and ``high`` fix the limits; a side left ``None`` follows the data,
    widened by ``margin`` times the data's range. ``ticks`` fixes the ticks
    (categories); ``None`` gives about ``tick_count`` 1-2-5 ticks over the limits.
    """

    label: str = ""
    low: float | None = None
    high: float | None = None
    margin: float = 0.05
    ticks: list[Tick] | None = None
    tick_count: int = 6
    tick_labels: bool = True
    tick_size: float = 11.0
    grid: bool = False
    inverted: bool = False


@dataclass
class Line:
    """A polyline through (x, y); ``step`` draws it as steps (``post``: y holds until next x)."""

    x: FloatArray
    y: FloatArray
    color: str
    width: float = 1.5
    dash: Dash = "solid"
    step: Literal["post", "pre"] | None = None
    label: str = ""
    opacity: float = 1.0


@dataclass
class Markers:
    """A marker at each (x, y); with ``y_in_axes`` y is a fraction of the panel's height."""

    x: FloatArray
    y: FloatArray
    color: str
    marker: Marker = "dot"
    size: float = 3.0
    label: str = ""
    y_in_axes: bool = False


@dataclass
class Bars:
    """Bars centred on ``position``, ``length`` long from ``base``, ``width`` wide (data units).

    Vertical unless ``horizontal``; ``texts`` (one per bar) are written at each bar's end.
    """

    position: FloatArray
    length: FloatArray
    color: str
    width: float = 0.8
    base: float = 0.0
    horizontal: bool = False
    label: str = ""
    texts: list[str] | None = None


@dataclass
class Band:
    """The area between ``low`` and ``high`` over ``x`` (fill between two curves)."""

    x: FloatArray
    low: FloatArray
    high: FloatArray
    color: str
    step: Literal["post", "pre"] | None = None
    label: str = ""
    opacity: float = 1.0


@dataclass
class RefLine:
    """A line across the panel at ``value`` on ``axis``; ``text`` is written right of the panel."""

    value: float
    color: str
    axis: Literal["x", "y"] = "y"
    width: float = 1.0
    dash: Dash = "solid"
    opacity: float = 1.0
    text: str = ""
    text_color: str = "#666666"


@dataclass
class Spans:
    """Shaded x intervals from ``bottom`` to ``top`` (fractions of the panel's height)."""

    intervals: list[tuple[float, float]]
    color: str
    opacity: float = 1.0
    bottom: float = 0.0
    top: float = 1.0
    label: str = ""


@dataclass
class Text:
    """Text at (x, y), in data units or, with ``in_axes``, as fractions of the panel."""

    x: float
    y: float
    text: str
    color: str = "#222222"
    size: float = 11.0
    anchor: Literal["start", "middle", "end"] = "start"
    baseline: Literal["top", "middle", "bottom"] = "bottom"
    bold: bool = False
    in_axes: bool = False


@dataclass
class Cells:
    """A grid of unit cells, ``colors[i][j]`` centred on (x=j, y=i)."""

    colors: list[list[str]]


@dataclass(frozen=True)
class ColorScale:
    """A colour bar beside the panel: ``stops`` spread evenly from ``low`` to ``high``."""

    label: str
    low: float
    high: float
    stops: tuple[str, ...]

    def color(self, value: float) -> str:
        """The colour of ``value`` (clipped to the scale), interpolated between stops."""
        if not math.isfinite(value):
            return "#f0f0f0"
        share = min(max((value - self.low) / (self.high - self.low), 0.0), 1.0)
        place = share * (len(self.stops) - 1)
        k = min(int(place), len(self.stops) - 2)
        a, b = _rgb(self.stops[k]), _rgb(self.stops[k + 1])
        mixed = [round(u + (v - u) * (place - k)) for u, v in zip(a, b, strict=True)]
        return "#" + "".join(f"{c:02x}" for c in mixed)


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


Series = Line | Markers | Bars | Band | RefLine | Spans | Text | Cells
S = TypeVar("S", bound=Series)


@dataclass(frozen=True)
class LegendEntry:
    """What a legend shows for one series: a line, a marker or a filled patch, and its text."""

    label: str
    color: str
    kind: Literal["line", "marker", "patch"] = "line"
    width: float = 1.5
    dash: Dash = "solid"
    marker: Marker = "dot"
    opacity: float = 1.0


def legend_entry(series: Series) -> LegendEntry | None:
    """The legend entry of a labelled series, or None."""
    if isinstance(series, Line) and series.label:
        return LegendEntry(series.label, series.color, "line", series.width, series.dash)
    if isinstance(series, Markers) and series.label:
        return LegendEntry(series.label, series.color, "marker", marker=series.marker)
    if isinstance(series, Bars | Spans | Band) and series.label:
        opacity = 1.0 if isinstance(series, Bars) else series.opacity
        return LegendEntry(series.label, series.color, "patch", opacity=opacity)
    return None


@dataclass
class Panel:
    """One plot area: a title, two axes, the series drawn in it and where its legend goes.

    ``message`` is written in the middle (e.g. "no packets"); ``height`` is the
    plot area's height in pixels.
    """

    title: str = ""
    title_align: Literal["left", "center"] = "center"
    x: Axis = field(default_factory=Axis)
    y: Axis = field(default_factory=Axis)
    series: list[Series] = field(default_factory=list)
    legend: Literal["upper right", "lower right", "upper left"] | None = None
    message: str = ""
    height: float = 260.0
    color_scale: ColorScale | None = None

    def add(self, *series: Series) -> None:
        """Append ``series`` (drawn patches first, then lines, markers and text)."""
        self.series.extend(series)

    def of(self, kind: type[S]) -> list[S]:
        """The series of one kind, in the order they were added."""
        return [s for s in self.series if isinstance(s, kind)]

    def legend_entries(self) -> list[LegendEntry]:
        """An entry per labelled series, in the order they were added."""
        return [e for e in map(legend_entry, self.series) if e is not None]

    def limits(self, axis: Literal["x", "y"]) -> tuple[float, float]:
        """The axis' limits (low < high): fixed ones, else the data's range with margins
        (0 to 1 without data)."""
        spec = self.x if axis == "x" else self.y
        values = np.concatenate([array([]), *(_extent(s, axis) for s in self.series)])
        values = values[np.isfinite(values)]
        if values.size:
            lo, hi = float(values.min()), float(values.max())
            pad = (hi - lo) * spec.margin if hi > lo else max(abs(lo) * 0.05, 0.5)
        else:
            lo, hi, pad = 0.0, 1.0, 0.0
        low = spec.low if spec.low is not None else lo - pad
        high = spec.high if spec.high is not None else hi + pad
        if not high > low:
            high = low + 1.0
        return low, high

    def ticks(self, axis: Literal["x", "y"]) -> list[Tick]:
        """The axis' fixed ticks, else 1-2-5 ticks within its limits."""
        spec = self.x if axis == "x" else self.y
        if spec.ticks is not None:
            return spec.ticks
        return nice_ticks(*self.limits(axis), spec.tick_count)


def _extent(series: Series, axis: Literal["x", "y"]) -> FloatArray:
    """The values of ``series`` along ``axis`` that should be in view."""
    if isinstance(series, Line):
        return series.x if axis == "x" else series.y
    if isinstance(series, Markers):
        return series.x if axis == "x" else array([]) if series.y_in_axes else series.y
    if isinstance(series, Band):
        return series.x if axis == "x" else np.concatenate([series.low, series.high])
    if isinstance(series, Bars):
        if (axis == "x") != series.horizontal:
            half = series.width / 2.0
            return np.concatenate([series.position - half, series.position + half])
        return np.concatenate([array([series.base]), series.base + series.length])
    if isinstance(series, RefLine):
        return array([series.value]) if series.axis == axis else array([])
    if isinstance(series, Spans):
        return array(series.intervals) if axis == "x" else array([])
    if isinstance(series, Cells):
        count = max((len(row) for row in series.colors), default=0)
        count = count if axis == "x" else len(series.colors)
        return array([-0.5, count - 0.5]) if count else array([])
    return array([])  # text does not move the limits


def nice_ticks(low: float, high: float, count: int = 6) -> list[Tick]:
    """Ticks within [low, high], 1, 2 or 5 times a power of ten apart: of those steps that give
    at least two ticks, the one whose number of ticks is nearest ``count`` (the wider on a tie).
    """
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return []
    power = math.floor(math.log10((high - low) / max(count, 1)))
    best: tuple[int, float, int, int] | None = None
    for exponent in (power - 1, power, power + 1):
        for mantissa in (1.0, 2.0, 5.0):
            step = mantissa * 10.0**exponent
            first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
            n = last - first + 1
            if n >= 2 and (best is None or (abs(n - count), -step) < (best[0], -best[1])):
                best = (abs(n - count), step, first, last)
    if best is None:  # a range too narrow for two ticks of any step: its ends
        return [Tick(low, f"{low:g}"), Tick(high, f"{high:g}")]
    _, step, first, last = best
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    ticks = []
    for k in range(first, last + 1):
        value = round(k * step, decimals)
        text = f"{value:.{decimals}f}"
        ticks.append(Tick(value, "0" if float(text) == 0 else text))
    return ticks


@dataclass
class Chart:
    """Panels laid out row by row in ``columns`` columns, under an optional title.

    ``legend`` places one legend for the whole chart above or below the panels,
    holding ``legend_entries`` or, when those are None, the panels' labelled
    series. ``width`` is the drawing's width in pixels.
    """

    panels: list[Panel]
    columns: int = 1
    title: str = ""
    legend: Literal["top", "bottom"] | None = None
    legend_entries: list[LegendEntry] | None = None
    width: float = 1060.0

    def entries(self) -> list[LegendEntry]:
        """The chart legend's entries, each label once."""
        if self.legend_entries is not None:
            return self.legend_entries
        seen: dict[str, LegendEntry] = {}
        for panel in self.panels:
            for entry in panel.legend_entries():
                seen.setdefault(entry.label, entry)
        return list(seen.values())

    @property
    def rows(self) -> int:
        """How many rows of panels the chart has."""
        return math.ceil(len(self.panels) / self.columns)


def no_data(message: str, *, title: str = "", height: float = 200.0) -> Chart:
    """A chart of one empty panel (no ticks) saying ``message``."""
    panel = Panel(title=title, message=message, height=height)
    panel.x.ticks = []
    panel.y.ticks = []
    return Chart([panel])


def categories(labels: Iterable[str]) -> list[Tick]:
    """Ticks at 0, 1, 2, ... labelled ``labels``."""
    return [Tick(float(k), str(label)) for k, label in enumerate(labels)]


def padded(values: Sequence[FloatArray], margin: float = 0.05) -> tuple[float, float] | None:
    """The finite range of ``values`` widened by ``margin`` of it on each side, or None."""
    finite = np.concatenate([array([]), *(array(v) for v in values)])
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return None
    lo, hi = float(finite.min()), float(finite.max())
    pad = (hi - lo) * margin if hi > lo else max(abs(lo) * 0.05, 0.5)
    return lo - pad, hi + pad
