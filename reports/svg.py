"""Draw a ``reports.chart.Chart`` as SVG markup, for embedding inline in an HTML page.

The drawing has a ``viewBox`` (it scales with the page), a ``<title>``, system
sans-serif fonts, attributes rather than CSS (nothing leaks into the page),
and no namespace declaration: the HTML parser puts inline ``<svg>`` in the SVG
namespace itself. Every text is escaped; coordinates are pixels with one
decimal (markers on whole pixels), and points that land on the same place are
written once, so a series' size follows the drawing's resolution rather than
its data. Lines
break at non-finite values; no NaN or infinity is ever written.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .chart import (
    Band,
    Bars,
    Cells,
    Chart,
    ColorScale,
    Dash,
    FloatArray,
    LegendEntry,
    Line,
    Markers,
    Panel,
    RefLine,
    Series,
    Spans,
    Text,
    Tick,
    array,
    nice_ticks,
)

__all__ = ["escape", "render"]

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
INK = "#222222"
MUTED = "#555555"
FRAME = "#444444"
GRID = "#e3e3e3"
CHART_TITLE_SIZE = 15.0
TITLE_SIZE = 12.5
LABEL_SIZE = 12.0
LEGEND_SIZE = 11.0
PAD = 8.0
"""Space around the drawing, in pixels."""
ROW_GAP = 6.0
LEGEND_ROW = 18.0
SWATCH = 24.0
CHAR_WIDTH = 0.56
"""A sans-serif character's mean width in ems: for laying out, not for exact fitting."""
LIMIT_PX = 1e5
"""Pixel coordinates are clamped to this magnitude: far outside the view, still finite."""

_DASHES: dict[Dash, str] = {
    "solid": "",
    "dashed": "5 3",
    "dotted": "1.2 2.4",
    "dashdot": "6 2.5 1.5 2.5",
}
_LAYER = {RefLine: 0, Cells: 0, Spans: 1, Band: 1, Bars: 2, Line: 3, Markers: 4}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ID = re.compile(r"[^A-Za-z0-9_-]")


def escape(text: object) -> str:
    """``text`` safe in SVG text and attributes: control characters removed, markup escaped."""
    return html.escape(_CONTROL.sub("", str(text)), quote=True)


def text_width(text: str, size: float) -> float:
    """About how wide ``text``'s longest line is at ``size`` pixels."""
    return max((len(line) for line in text.split("\n")), default=0) * size * CHAR_WIDTH


def _n(value: float) -> str:
    """A coordinate with at most one decimal (never NaN: callers pass finite values)."""
    value = min(max(value, -LIMIT_PX), LIMIT_PX)
    return f"{round(value, 1) + 0.0:.1f}".removesuffix(".0")


def _numbers(values: FloatArray) -> list[str]:
    rounded = np.round(np.clip(values, -LIMIT_PX, LIMIT_PX), 1) + 0.0
    return [f"{v:.1f}".removesuffix(".0") for v in rounded.tolist()]


def _pairs(x: FloatArray, y: FloatArray) -> str:
    coords = np.empty(2 * x.size)
    coords[0::2], coords[1::2] = x, y
    return " ".join(_numbers(coords))


@dataclass(frozen=True)
class Frame:
    """Where a panel's plot area is, in pixels, and its data limits."""

    left: float
    top: float
    width: float
    height: float
    x_limits: tuple[float, float]
    y_limits: tuple[float, float]
    x_inverted: bool
    y_inverted: bool

    def px(self, x: FloatArray) -> FloatArray:
        lo, hi = self.x_limits
        share = (x - lo) / (hi - lo)
        return self.left + (1.0 - share if self.x_inverted else share) * self.width

    def py(self, y: FloatArray) -> FloatArray:
        lo, hi = self.y_limits
        share = (y - lo) / (hi - lo)
        return self.top + (share if self.y_inverted else 1.0 - share) * self.height

    def py_axes(self, fraction: FloatArray) -> FloatArray:
        return self.top + (1.0 - fraction) * self.height

    def x_at(self, x: float) -> float:
        return float(self.px(array([x]))[0])

    def y_at(self, y: float) -> float:
        return float(self.py(array([y]))[0])

    def y_at_axes(self, fraction: float) -> float:
        return self.top + (1.0 - fraction) * self.height


def render(chart: Chart, *, title: str, id_prefix: str = "chart") -> str:
    """The SVG markup of ``chart``; ``title`` is its accessible name, ``id_prefix`` keeps the
    ids it defines (clip paths, gradients) unique among several charts in one page."""
    prefix = _ID.sub("-", id_prefix) or "chart"
    width = chart.width
    rows, columns = chart.rows, chart.columns
    grid = [chart.panels[r * columns : (r + 1) * columns] for r in range(rows)]
    lefts = [max(_left(row[c]) for row in grid if c < len(row)) for c in range(columns)]
    rights = [max(_right(row[c]) for row in grid if c < len(row)) for c in range(columns)]
    top = PAD + (CHART_TITLE_SIZE + 12.0 if chart.title else 0.0)
    legend_top = top
    entries = chart.entries() if chart.legend else []
    legend_rows = _flow(entries, width - 2 * PAD)
    legend_height = len(legend_rows) * LEGEND_ROW + 6.0 if legend_rows else 0.0
    if chart.legend == "top":
        legend_top, top = top, top + legend_height
    cell = (width - 2 * PAD) / columns
    body: list[str] = []
    for r, row in enumerate(grid):
        above = max(_top(p) for p in row)
        below = max(_bottom(p) for p in row)
        height = max(p.height for p in row)
        for c, panel in enumerate(row):
            left = PAD + c * cell + lefts[c]
            frame = Frame(
                left,
                top + above,
                max(cell - lefts[c] - rights[c], 10.0),
                height,
                panel.limits("x"),
                panel.limits("y"),
                panel.x.inverted,
                panel.y.inverted,
            )
            body.append(_panel(panel, frame, f"{prefix}-p{r * columns + c}"))
        top += above + height + below + ROW_GAP
    if chart.legend == "bottom":
        legend_top, top = top, top + legend_height
    if legend_rows:
        body.append(_chart_legend(legend_rows, legend_top, width))
    total = math.ceil(top + PAD - ROW_GAP)
    head = [
        f'<svg viewBox="0 0 {_n(width)} {total}" width="{_n(width)}" height="{total}" '
        f'role="img" aria-labelledby="{prefix}-title" font-family="{escape(FONT)}" '
        f'fill="{INK}">',
        f'<title id="{prefix}-title">{escape(title)}</title>',
        f'<rect width="{_n(width)}" height="{total}" fill="#ffffff"/>',
    ]
    if chart.title:
        head.append(
            _text(width / 2, PAD + CHART_TITLE_SIZE, chart.title, CHART_TITLE_SIZE, "middle")
        )
    return "\n".join([*head, *body, "</svg>"])


# --- layout -----------------------------------------------------------------------------


def _tick_texts(panel: Panel, axis: Literal["x", "y"]) -> list[str]:
    """The tick labels written along ``axis`` (none when the axis hides them)."""
    if not (panel.x if axis == "x" else panel.y).tick_labels:
        return []
    return [t.label for t in panel.ticks(axis)]


def _left(panel: Panel) -> float:
    labels = _tick_texts(panel, "y")
    width = max((text_width(t, panel.y.tick_size) for t in labels), default=0.0)
    return 6.0 + (width + 8.0 if labels else 0.0) + (LABEL_SIZE + 8.0 if panel.y.label else 0.0)


def _right(panel: Panel) -> float:
    notes = [s.text for s in panel.of(RefLine) if s.text and s.axis == "y"]
    width = 12.0 + max((text_width(t, 9.5) + 6.0 for t in notes), default=0.0)
    if panel.color_scale is not None:
        width += 16.0 + 14.0 + 6.0 + text_width("0.0", 10.0) + LABEL_SIZE + 10.0
    return width


def _top(panel: Panel) -> float:
    return TITLE_SIZE + 10.0 if panel.title else 6.0


def _bottom(panel: Panel) -> float:
    labels = _tick_texts(panel, "x")
    lines = max((t.count("\n") + 1 for t in labels), default=0)
    height = 4.0 + (lines * panel.x.tick_size * 1.2 + 6.0 if lines else 0.0)
    return height + (LABEL_SIZE + 8.0 if panel.x.label else 0.0)


def _entry_width(entry: LegendEntry) -> float:
    return SWATCH + 6.0 + text_width(entry.label, LEGEND_SIZE) + 16.0


def _flow(entries: list[LegendEntry], width: float) -> list[list[LegendEntry]]:
    """Legend entries in rows that fit ``width``, left to right."""
    rows: list[list[LegendEntry]] = []
    used = width
    for entry in entries:
        if used + _entry_width(entry) > width and (used > 0 or not rows):
            rows.append([])
            used = 0.0
        rows[-1].append(entry)
        used += _entry_width(entry)
    return rows


# --- drawing ----------------------------------------------------------------------------


def _attrs(color: str, width: float, dash: Dash, opacity: float) -> str:
    parts = [f'fill="none" stroke="{escape(color)}" stroke-width="{width:g}"']
    if _DASHES[dash]:
        scale = max(1.0, width / 1.5)
        pattern = " ".join(f"{float(v) * scale:g}" for v in _DASHES[dash].split())
        parts.append(f'stroke-dasharray="{pattern}"')
    if opacity < 1.0:
        parts.append(f'stroke-opacity="{opacity:g}"')
    parts.append('stroke-linejoin="round"')
    return " ".join(parts)


def _text(
    x: float,
    y: float,
    text: str,
    size: float,
    anchor: str = "start",
    *,
    color: str = "",
    bold: bool = False,
    rotate: bool = False,
) -> str:
    """A ``<text>`` at baseline (x, y); lines after the first go below it."""
    attrs = f'x="{_n(x)}" y="{_n(y)}" font-size="{size:g}"'
    if anchor != "start":
        attrs += f' text-anchor="{anchor}"'
    if color:
        attrs += f' fill="{escape(color)}"'
    if bold:
        attrs += ' font-weight="bold"'
    if rotate:
        attrs += f' transform="rotate(-90 {_n(x)} {_n(y)})"'
    lines = text.split("\n")
    if len(lines) == 1:
        return f"<text {attrs}>{escape(text)}</text>"
    spans = "".join(
        f'<tspan x="{_n(x)}" dy="{0 if k == 0 else 1.2}em">{escape(line)}</tspan>'
        for k, line in enumerate(lines)
    )
    return f"<text {attrs}>{spans}</text>"


def _steps(
    x: FloatArray, ys: list[FloatArray], where: str | None
) -> tuple[FloatArray, list[FloatArray]]:
    """The vertices of a step drawing of each of ``ys`` over ``x``."""
    if where is None or x.size < 2:
        return x, ys
    if where == "post":
        sx = np.repeat(x, 2)[1:]
        return sx, [np.repeat(y, 2)[:-1] for y in ys]
    sx = np.repeat(x, 2)[:-1]
    return sx, [np.repeat(y, 2)[1:] for y in ys]


def _runs(ok: np.ndarray[tuple[int], np.dtype[np.bool_]]) -> Iterable[slice]:
    """Slices of consecutive True values of ``ok``."""
    edges = np.flatnonzero(np.diff(np.r_[0, ok.astype(np.int8), 0]))
    for start, stop in zip(edges[0::2], edges[1::2], strict=True):
        yield slice(int(start), int(stop))


def _simplify(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Drop vertices in the same half-pixel cell as the vertex before them (the last vertex
    stays), and middles of straight runs along x or y."""
    cell_x, cell_y = np.floor(x * 2.0), np.floor(y * 2.0)
    keep = np.r_[True, (cell_x[1:] != cell_x[:-1]) | (cell_y[1:] != cell_y[:-1])]
    keep[-1] = True
    x, y = np.round(x[keep], 1), np.round(y[keep], 1)
    if x.size < 3:
        return x, y
    flat = (y[1:-1] == y[:-2]) & (y[1:-1] == y[2:]) & ((x[1:-1] - x[:-2]) * (x[2:] - x[1:-1]) > 0)
    upright = (
        (x[1:-1] == x[:-2]) & (x[1:-1] == x[2:]) & ((y[1:-1] - y[:-2]) * (y[2:] - y[1:-1]) > 0)
    )
    keep = np.r_[True, ~(flat | upright), True]
    return x[keep], y[keep]


def _polyline(px: FloatArray, py: FloatArray) -> str:
    """Path data through the finite points, broken where either coordinate is not finite."""
    parts = []
    for run in _runs(np.isfinite(px) & np.isfinite(py)):
        if run.stop - run.start >= 2:
            x, y = _simplify(px[run], py[run])
            parts.append("M" + _pairs(x, y))
    return "".join(parts)


def _line(series: Line, frame: Frame) -> str:
    x, (y,) = _steps(array(series.x), [array(series.y)], series.step)
    data = _polyline(frame.px(x), frame.py(y))
    if not data:
        return ""
    attrs = _attrs(series.color, series.width, series.dash, series.opacity)
    return f'<path d="{data}" {attrs} stroke-linecap="butt"/>'


def _band(series: Band, frame: Frame) -> str:
    x, (low, high) = _steps(array(series.x), [array(series.low), array(series.high)], series.step)
    px, plow, phigh = frame.px(x), frame.py(low), frame.py(high)
    parts = []
    for run in _runs(np.isfinite(px) & np.isfinite(plow) & np.isfinite(phigh)):
        if run.stop - run.start >= 2:
            xs = np.r_[px[run], px[run][::-1]]
            ys = np.r_[phigh[run], plow[run][::-1]]
            parts.append("M" + _pairs(xs, ys) + "Z")
    if not parts:
        return ""
    opacity = f' fill-opacity="{series.opacity:g}"' if series.opacity < 1.0 else ""
    return f'<path d="{"".join(parts)}" fill="{escape(series.color)}"{opacity} stroke="none"/>'


def _markers(series: Markers, frame: Frame) -> str:
    px = frame.px(array(series.x))
    y = array(series.y)
    py = frame.py_axes(y) if series.y_in_axes else frame.py(y)
    ok = np.isfinite(px) & np.isfinite(py)
    if not ok.any():
        return ""
    # Markers are placed on whole pixels, and drawn once per pixel.
    grid = np.unique(np.round(np.stack([px[ok], py[ok]], axis=1)), axis=0)
    xs, ys = _numbers(array(grid[:, 0])), _numbers(array(grid[:, 1]))
    color, s = escape(series.color), series.size
    if series.marker == "dot":
        data = "".join(f"M{a} {b}h0" for a, b in zip(xs, ys, strict=True))
        return (
            f'<path d="{data}" stroke="{color}" stroke-width="{s:g}" stroke-linecap="round" '
            'fill="none"/>'
        )
    if series.marker == "tick":
        data = "".join(f"M{a} {_n(float(b) + s / 2)}v{-s:g}" for a, b in zip(xs, ys, strict=True))
        return f'<path d="{data}" stroke="{color}" stroke-width="1.3" fill="none"/>'
    h = s / 2
    data = "".join(
        f"M{_n(float(a) - h)} {_n(float(b) - h)}l{s:g} {s:g}m0 {-s:g}l{-s:g} {s:g}"
        for a, b in zip(xs, ys, strict=True)
    )
    return f'<path d="{data}" stroke="{color}" stroke-width="2" fill="none"/>'


def _rects(boxes: Iterable[tuple[float, float, float, float]]) -> str:
    """Path data of rectangles given as (x0, y0, x1, y1), finite ones only."""
    parts = []
    for x0, y0, x1, y1 in boxes:
        if all(map(math.isfinite, (x0, y0, x1, y1))):
            left, top = min(x0, x1), min(y0, y1)
            parts.append(
                f"M{_n(left)} {_n(top)}h{_n(abs(x1 - x0))}v{_n(abs(y1 - y0))}h{_n(-abs(x1 - x0))}z"
            )
    return "".join(parts)


def _bars(series: Bars, frame: Frame) -> list[str]:
    position, length = array(series.position), array(series.length)
    half = series.width / 2.0
    lo, hi = position - half, position + half
    start, end = np.full_like(length, series.base), series.base + length
    if series.horizontal:
        x0, x1, y0, y1 = frame.px(start), frame.px(end), frame.py(lo), frame.py(hi)
    else:
        x0, x1, y0, y1 = frame.px(lo), frame.px(hi), frame.py(start), frame.py(end)
    data = _rects(zip(x0.tolist(), y0.tolist(), x1.tolist(), y1.tolist(), strict=True))
    out = [f'<path d="{data}" fill="{escape(series.color)}"/>'] if data else []
    for k, text in enumerate(series.texts or []):
        if k >= length.size or not np.isfinite(length[k]) or not np.isfinite(position[k]):
            continue
        if series.horizontal:
            x, y = float(x1[k]) + 3.0, float(y0[k] + y1[k]) / 2.0 + 3.5
            out.append(_text(x, y, text, 10.0, color=INK))
        else:
            out.append(_text(float(x0[k] + x1[k]) / 2.0, float(y1[k]) - 3.0, text, 10.0, "middle"))
    return out


def _spans(series: Spans, frame: Frame) -> str:
    top = frame.y_at_axes(series.top)
    bottom = frame.y_at_axes(series.bottom)
    begins = frame.px(array([a for a, _ in series.intervals]))
    ends = frame.px(array([b for _, b in series.intervals]))
    data = _rects((a, top, b, bottom) for a, b in zip(begins.tolist(), ends.tolist(), strict=True))
    if not data:
        return ""
    opacity = f' fill-opacity="{series.opacity:g}"' if series.opacity < 1.0 else ""
    return f'<path d="{data}" fill="{escape(series.color)}"{opacity}/>'


def _cells(series: Cells, frame: Frame) -> str:
    out = []
    for i, row in enumerate(series.colors):
        for j, color in enumerate(row):
            x0, x1 = frame.px(array([j - 0.5, j + 0.5])).tolist()
            y0, y1 = frame.py(array([i - 0.5, i + 0.5])).tolist()
            data = _rects([(x0, y0, x1, y1)])
            if data:
                out.append(f'<path d="{data}" fill="{escape(color)}"/>')
    return "\n".join(out)


def _ref_line(series: RefLine, frame: Frame) -> list[str]:
    if not math.isfinite(series.value):
        return []
    attrs = _attrs(series.color, series.width, series.dash, series.opacity)
    if series.axis == "x":
        x = frame.x_at(series.value)
        return [f'<path d="M{_n(x)} {_n(frame.top)}V{_n(frame.top + frame.height)}" {attrs}/>']
    y = frame.y_at(series.value)
    return [f'<path d="M{_n(frame.left)} {_n(y)}H{_n(frame.left + frame.width)}" {attrs}/>']


def _ref_text(series: RefLine, frame: Frame) -> str:
    y = frame.y_at(series.value)
    if series.axis != "y" or not series.text or not math.isfinite(y):
        return ""
    if not frame.top - 1.0 <= y <= frame.top + frame.height + 1.0:
        return ""
    x = frame.left + frame.width + 4.0
    return _text(x, y - 2.0, series.text, 9.5, color=series.text_color)


def _free_text(series: Text, frame: Frame) -> str:
    if not (math.isfinite(series.x) and math.isfinite(series.y)):
        return ""
    if series.in_axes:
        x = frame.left + series.x * frame.width
        y = frame.y_at_axes(series.y)
    else:
        x, y = frame.x_at(series.x), frame.y_at(series.y)
    if not (math.isfinite(x) and math.isfinite(y)):
        return ""
    y += {"top": series.size * 0.8, "middle": series.size * 0.35, "bottom": 0.0}[series.baseline]
    return _text(
        x, y, series.text, series.size, series.anchor, color=series.color, bold=series.bold
    )


def _draw(series: Series, frame: Frame) -> list[str]:
    if isinstance(series, Line):
        return [_line(series, frame)]
    if isinstance(series, Markers):
        return [_markers(series, frame)]
    if isinstance(series, Bars):
        return _bars(series, frame)
    if isinstance(series, Band):
        return [_band(series, frame)]
    if isinstance(series, Spans):
        return [_spans(series, frame)]
    if isinstance(series, Cells):
        return [_cells(series, frame)]
    if isinstance(series, RefLine):
        return _ref_line(series, frame)
    return []


def _panel(panel: Panel, frame: Frame, ident: str) -> str:
    x0, y0, w, h = frame.left, frame.top, frame.width, frame.height
    out = [f'<g id="{ident}">']
    out += _grid(panel, frame)
    clip = f"{ident}-clip"
    out.append(
        f'<clipPath id="{clip}"><rect x="{_n(x0)}" y="{_n(y0)}" width="{_n(w)}" '
        f'height="{_n(h)}"/></clipPath>'
    )
    out.append(f'<g clip-path="url(#{clip})">')
    drawn = sorted(
        (s for s in panel.series if not isinstance(s, Text)),
        key=lambda s: _LAYER.get(type(s), 5),
    )
    out += [part for s in drawn for part in _draw(s, frame) if part]
    out.append("</g>")
    out += [_free_text(s, frame) for s in panel.of(Text)]
    out += [_ref_text(s, frame) for s in panel.of(RefLine)]
    out.append(
        f'<rect x="{_n(x0)}" y="{_n(y0)}" width="{_n(w)}" height="{_n(h)}" fill="none" '
        f'stroke="{FRAME}" stroke-width="0.8"/>'
    )
    out += _axes(panel, frame)
    if panel.message:
        out.append(
            _text(x0 + w / 2, y0 + h / 2 + 4.5, panel.message, 13.0, "middle", color="#666666")
        )
    if panel.legend and panel.legend_entries():
        out.append(_panel_legend(panel, frame))
    if panel.color_scale is not None:
        out += _color_scale(panel.color_scale, frame, ident)
    out.append("</g>")
    return "\n".join(part for part in out if part)


def _visible(
    ticks_at: FloatArray, lo: float, hi: float
) -> np.ndarray[tuple[int], np.dtype[np.bool_]]:
    span = (hi - lo) * 1e-6
    return np.isfinite(ticks_at) & (ticks_at >= lo - span) & (ticks_at <= hi + span)


def _grid(panel: Panel, frame: Frame) -> list[str]:
    out = []
    names: tuple[Literal["x", "y"], ...] = ("x", "y")
    for name in names:
        if not (panel.x if name == "x" else panel.y).grid:
            continue
        at = array([t.position for t in panel.ticks(name)])
        limits = frame.x_limits if name == "x" else frame.y_limits
        at = at[_visible(at, *limits)]
        if name == "x":
            bottom = _n(frame.top + frame.height)
            data = "".join(f"M{p} {_n(frame.top)}V{bottom}" for p in _numbers(frame.px(at)))
        else:
            right = _n(frame.left + frame.width)
            data = "".join(f"M{_n(frame.left)} {p}H{right}" for p in _numbers(frame.py(at)))
        if data:
            out.append(f'<path d="{data}" stroke="{GRID}" stroke-width="0.8" fill="none"/>')
    return out


def _axes(panel: Panel, frame: Frame) -> list[str]:
    """Ticks, tick labels, axis labels and the panel's title."""
    x0, y0, w, h = frame.left, frame.top, frame.width, frame.height
    out = []
    marks = []
    ticks = [t for t in panel.ticks("x") if _visible(array([t.position]), *frame.x_limits)[0]]
    bottom = y0 + h
    for tick in ticks:
        x = frame.x_at(tick.position)
        marks.append(f"M{_n(x)} {_n(bottom)}v4")
        if panel.x.tick_labels:
            size = panel.x.tick_size
            out.append(_text(x, bottom + 6.0 + size, tick.label, size, "middle", color=MUTED))
    ticks = [t for t in panel.ticks("y") if _visible(array([t.position]), *frame.y_limits)[0]]
    for tick in ticks:
        y = frame.y_at(tick.position)
        marks.append(f"M{_n(x0)} {_n(y)}h-4")
        if panel.y.tick_labels:
            size = panel.y.tick_size
            lines = tick.label.count("\n")
            top = y + size * 0.35 - lines * size * 0.6
            out.append(_text(x0 - 7.0, top, tick.label, size, "end", color=MUTED))
    if marks:
        out.append(f'<path d="{"".join(marks)}" stroke="{FRAME}" stroke-width="0.8"/>')
    if panel.x.label:
        lines = max((t.label.count("\n") + 1 for t in panel.ticks("x")), default=0)
        extra = lines * panel.x.tick_size * 1.2 + 6.0 if panel.x.tick_labels and lines else 0.0
        out.append(
            _text(
                x0 + w / 2,
                bottom + 4.0 + extra + LABEL_SIZE + 2.0,
                panel.x.label,
                LABEL_SIZE,
                "middle",
            )
        )
    if panel.y.label:
        labels = [t.label for t in panel.ticks("y")] if panel.y.tick_labels else []
        width = max((text_width(t, panel.y.tick_size) for t in labels), default=0.0)
        x = x0 - (width + 8.0 if labels else 0.0) - 8.0
        out.append(_text(x, y0 + h / 2, panel.y.label, LABEL_SIZE, "middle", rotate=True))
    if panel.title:
        if panel.title_align == "left":
            out.append(_text(x0, y0 - 6.0, panel.title, TITLE_SIZE))
        else:
            out.append(_text(x0 + w / 2, y0 - 6.0, panel.title, TITLE_SIZE, "middle"))
    return out


def _swatch(entry: LegendEntry, x: float, y: float) -> str:
    """The legend symbol of ``entry``, ``SWATCH`` wide, centred vertically on ``y``."""
    color = escape(entry.color)
    if entry.kind == "patch":
        opacity = f' fill-opacity="{entry.opacity:g}"' if entry.opacity < 1.0 else ""
        return (
            f'<rect x="{_n(x + 4)}" y="{_n(y - 5)}" width="16" height="10" '
            f'fill="{color}"{opacity}/>'
        )
    if entry.kind == "marker":
        mid = x + SWATCH / 2
        if entry.marker == "tick":
            return f'<path d="M{_n(mid)} {_n(y - 6)}v12" stroke="{color}" stroke-width="1.5"/>'
        if entry.marker == "cross":
            return (
                f'<path d="M{_n(mid - 4)} {_n(y - 4)}l8 8m0 -8l-8 8" stroke="{color}" '
                'stroke-width="2"/>'
            )
        return f'<circle cx="{_n(mid)}" cy="{_n(y)}" r="3.5" fill="{color}"/>'
    attrs = _attrs(entry.color, min(entry.width, 3.0), entry.dash, 1.0)
    return f'<path d="M{_n(x)} {_n(y)}h{SWATCH:g}" {attrs}/>'


def _entry(entry: LegendEntry, x: float, y: float) -> str:
    label = _text(x + SWATCH + 6.0, y + LEGEND_SIZE * 0.35, entry.label, LEGEND_SIZE)
    return _swatch(entry, x, y) + label


def _chart_legend(rows: list[list[LegendEntry]], top: float, width: float) -> str:
    out = []
    for k, row in enumerate(rows):
        used = sum(_entry_width(e) for e in row) - 16.0
        x = max(PAD, (width - used) / 2)
        y = top + k * LEGEND_ROW + LEGEND_ROW / 2 + 2.0
        for entry in row:
            out.append(_entry(entry, x, y))
            x += _entry_width(entry)
    return "\n".join(out)


def _panel_legend(panel: Panel, frame: Frame) -> str:
    entries = panel.legend_entries()
    box_w = max(_entry_width(e) for e in entries) - 6.0
    box_h = len(entries) * 17.0 + 8.0
    right = panel.legend in ("upper right", "lower right")
    x = frame.left + frame.width - box_w - 6.0 if right else frame.left + 6.0
    y = (
        frame.top + 6.0
        if panel.legend in ("upper right", "upper left")
        else (frame.top + frame.height - box_h - 6.0)
    )
    out = [
        f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(box_w)}" height="{_n(box_h)}" rx="3" '
        'fill="#ffffff" fill-opacity="0.85" stroke="#cccccc" stroke-width="0.8"/>'
    ]
    for k, entry in enumerate(entries):
        out.append(_entry(entry, x + 6.0, y + 4.0 + 17.0 * k + 8.5))
    return "\n".join(out)


def _color_scale(scale: ColorScale, frame: Frame, ident: str) -> list[str]:
    gradient = f"{ident}-scale"
    count = len(scale.stops) - 1
    stops = "".join(
        f'<stop offset="{k / count:.3g}" stop-color="{escape(c)}"/>'
        for k, c in enumerate(scale.stops)
    )
    x = frame.left + frame.width + 16.0
    out = [
        f'<defs><linearGradient id="{gradient}" x1="0" y1="1" x2="0" y2="0">{stops}'
        "</linearGradient></defs>",
        f'<rect x="{_n(x)}" y="{_n(frame.top)}" width="14" height="{_n(frame.height)}" '
        f'fill="url(#{gradient})" stroke="{FRAME}" stroke-width="0.8"/>',
    ]
    ticks: list[Tick] = nice_ticks(scale.low, scale.high, 5)
    for tick in ticks:
        y = frame.top + (1.0 - (tick.position - scale.low) / (scale.high - scale.low)) * (
            frame.height
        )
        out.append(f'<path d="M{_n(x + 14)} {_n(y)}h4" stroke="{FRAME}" stroke-width="0.8"/>')
        out.append(_text(x + 20.0, y + 3.5, tick.label, 10.0, color=MUTED))
    label_x = x + 20.0 + text_width("0.0", 10.0) + 14.0
    out.append(
        _text(label_x, frame.top + frame.height / 2, scale.label, LABEL_SIZE, "middle", rotate=True)
    )
    return out
