"""The chart model's limits and ticks, and its SVG drawing: valid, escaped, finite, bounded."""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from voipbed.columns import Columns
from voipbed.reports import plots
from voipbed.reports.chart import (
    Axis,
    Band,
    Bars,
    Chart,
    ColorScale,
    Line,
    Markers,
    Panel,
    RefLine,
    Spans,
    Text,
    categories,
    nice_ticks,
    no_data,
)
from voipbed.reports.svg import render

NASTY = "<b>a & \"b\" 'c'</b>"


def parse(markup: str) -> ET.Element:
    """The SVG as an XML tree (fails the test when it is not well-formed)."""
    return ET.fromstring(markup)


def texts(root: ET.Element) -> list[str]:
    """Every text the drawing shows, a ``<text>``'s lines joined by newlines."""
    out = []
    for node in root.iter("text"):
        spans = [span.text or "" for span in node.iter("tspan")]
        out.append("\n".join(spans) if spans else node.text or "")
    return out


def path_points(d: str) -> list[list[tuple[float, float]]]:
    """The subpaths of a path made of ``M x y x y ...`` runs, as lists of points."""
    runs = []
    for part in d.split("M")[1:]:
        numbers = [float(v) for v in part.split()]
        runs.append(list(zip(numbers[0::2], numbers[1::2], strict=True)))
    return runs


def line_chart(*series: Line | Band | Markers | Bars | RefLine | Spans | Text) -> Chart:
    panel = Panel(title="t", x=Axis("x"), y=Axis("y"))
    panel.add(*series)
    return Chart([panel], legend="bottom")


def test_drawing_is_valid_xml_with_a_title_and_a_viewbox() -> None:
    """Every kind of series draws into well-formed SVG with an accessible title and a viewBox."""
    x = np.linspace(0.0, 10.0, 50)
    panel = Panel(title="panel", x=Axis("time (s)", grid=True), y=Axis("value", grid=True))
    panel.legend = "upper right"
    panel.add(
        Line(x, np.sin(x), "#1f6fb4", label="sine", step="post"),
        Markers(x, np.cos(x), "#e07b00", "dot", label="dots"),
        Markers(x[:5], np.full(5, 0.04), "#d62728", "tick", 12.0, "ticks", y_in_axes=True),
        Markers(x[:3], np.zeros(3), "#d62728", "cross", 9.0, "crosses"),
        Bars(np.arange(3.0), np.ones(3), "#555555", texts=["1", "2", "3"], label="bars"),
        Band(x, np.sin(x) - 0.2, np.sin(x) + 0.2, "#d9d9d9", "post", "band"),
        RefLine(0.5, "#999999", dash="dotted", text="limit"),
        Spans([(1.0, 2.0), (4.0, 4.5)], "#8c564b", 0.25, label="spans"),
        Text(5.0, 0.0, "note", anchor="middle"),
    )
    root = parse(render(Chart([panel], title="chart", legend="bottom"), title="A figure"))
    assert root.tag == "svg"
    assert root.attrib["viewBox"].startswith("0 0 ")
    assert root.attrib["role"] == "img"
    title = root.find("title")
    assert title is not None and title.text == "A figure"
    shown = texts(root)
    for label in ("sine", "dots", "ticks", "crosses", "bars", "band", "spans", "limit", "note"):
        assert label in shown


def test_every_text_is_escaped() -> None:
    """Titles, labels, ticks, legend texts and notes from user input come back as the same text,
    never as markup."""
    panel = Panel(title=NASTY, x=Axis(NASTY), y=Axis(NASTY), legend="upper left")
    panel.x.ticks = categories([NASTY, "plain"])
    panel.add(
        Line(np.arange(2.0), np.arange(2.0), "#000000", label=NASTY),
        RefLine(0.5, "#999999", text=NASTY),
        Text(0.5, 0.5, NASTY),
    )
    markup = render(Chart([panel], title=NASTY, legend="top"), title=NASTY, id_prefix=NASTY)
    assert "<b>" not in markup
    root = parse(markup)
    assert root.findtext("title") == NASTY
    assert texts(root).count(NASTY) >= 6
    ids = [node.attrib["id"] for node in root.iter() if "id" in node.attrib]
    assert ids and all(re.fullmatch(r"[A-Za-z0-9_-]+", i) for i in ids)


def test_control_characters_in_text_are_dropped() -> None:
    """A control character (not allowed in XML) in a label is left out, the rest kept."""
    line = Line(np.arange(2.0), np.arange(2.0), "#000000", label="a\x01b")
    markup = render(line_chart(line), title="t\x07")
    root = parse(markup)
    assert "ab" in texts(root) and root.findtext("title") == "t"


def test_nan_breaks_a_line_and_is_never_written() -> None:
    """A NaN or infinite value splits a line into two pieces; no non-finite number is written."""
    y = np.array([1.0, 2.0, np.nan, 3.0, 4.0, np.inf, 5.0, 6.0])
    markup = render(line_chart(Line(np.arange(8.0), y, "#000000")), title="t")
    (path,) = [p for p in parse(markup).iter("path") if p.attrib.get("stroke") == "#000000"]
    runs = path_points(path.attrib["d"])
    assert [len(run) for run in runs] == [2, 2, 2]
    assert not re.search(r"nan|inf", markup, re.IGNORECASE)


def test_non_finite_values_never_reach_any_series() -> None:
    """Bands, markers, bars, reference lines, spans and texts skip non-finite values."""
    bad = np.array([np.nan, 1.0, np.inf, -np.inf, 2.0, 3.0])
    x = np.arange(6.0)
    chart = line_chart(
        Band(x, bad - 1.0, bad + 1.0, "#cccccc"),
        Markers(bad, bad, "#000000"),
        Bars(x, bad, "#111111", texts=[str(v) for v in range(6)]),
        RefLine(math.nan, "#222222"),
        Spans([(math.nan, 1.0), (2.0, 3.0)], "#333333"),
        Text(math.inf, 1.0, "lost"),
    )
    markup = render(chart, title="t")
    parse(markup)
    assert not re.search(r"nan|inf", markup, re.IGNORECASE)
    assert "lost" not in markup


def test_limits_follow_finite_data_with_margins_unless_fixed() -> None:
    """Free limits cover the finite data with 5 % margins; a fixed side stays as given."""
    panel = Panel()
    panel.add(Line(np.array([0.0, 10.0, np.nan]), np.array([2.0, np.inf, 4.0]), "#000000"))
    assert panel.limits("x") == pytest.approx((-0.5, 10.5))
    assert panel.limits("y") == pytest.approx((1.9, 4.1))
    panel.y.low = 0.0
    assert panel.limits("y") == pytest.approx((0.0, 4.1))
    assert Panel().limits("y") == (0.0, 1.0)


@given(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.floats(1e-3, 1e6, allow_nan=False),
    st.integers(2, 10),
)
def test_ticks_are_nice_numbers_covering_the_range(low: float, span: float, count: int) -> None:
    """Ticks are evenly spaced by 1, 2 or 5 times a power of ten, inside the range, at least two
    and at most about twice ``count``, and leave less than a step uncovered at either end."""
    assume(span >= abs(low) * 1e-4)  # finer than that, float spacing is no longer even
    high = low + span
    ticks = nice_ticks(low, high, count)
    positions = [t.position for t in ticks]
    assert len(positions) >= 2
    assert len(positions) <= 2 * count + 1
    steps = np.diff(positions)
    step = float(steps[0])
    np.testing.assert_allclose(steps, step, rtol=1e-6)
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert min(abs(mantissa - m) for m in (1.0, 2.0, 5.0, 10.0)) < 1e-6
    tolerance = step * 1e-6
    assert low - tolerance <= positions[0] < low + step
    assert high - step < positions[-1] <= high + tolerance
    assert all(float(t.label) == pytest.approx(t.position, abs=tolerance) for t in ticks)


def test_tick_labels_have_the_decimals_of_their_step() -> None:
    """Ticks of 0 to 1 read 0, 0.2, ... 1.0 alike; ticks of 0 to 4.7 are whole numbers."""
    assert [t.label for t in nice_ticks(0.0, 1.0, 5)] == ["0", "0.2", "0.4", "0.6", "0.8", "1.0"]
    assert [t.label for t in nice_ticks(0.0, 4.7, 6)] == ["0", "1", "2", "3", "4"]


def test_step_lines_draw_only_horizontal_and_vertical_segments() -> None:
    """A step line's vertices alternate along x and y: each segment is flat or upright."""
    rng = np.random.default_rng(3)
    line = Line(np.sort(rng.random(40)) * 10, rng.random(40), "#000000", step="post")
    markup = render(line_chart(line), title="t")
    (path,) = [p for p in parse(markup).iter("path") if p.attrib.get("stroke") == "#000000"]
    (run,) = path_points(path.attrib["d"])
    for (x0, y0), (x1, y1) in itertools.pairwise(run):
        assert x0 == x1 or y0 == y1


def test_multi_line_category_labels_are_drawn_line_by_line() -> None:
    """A category label with a newline is one text of two lines."""
    panel = Panel(x=Axis("reason"))
    panel.x.ticks = categories(["handover\n(radio)", "late\n(jitter buffer)"])
    panel.add(Bars(np.arange(2.0), np.ones(2), "#1f6fb4"))
    shown = texts(parse(render(Chart([panel]), title="t")))
    assert "handover\n(radio)" in shown and "late\n(jitter buffer)" in shown


def test_an_empty_chart_says_so() -> None:
    """A chart without data draws its message and no ticks."""
    root = parse(render(no_data("no packets"), title="t"))
    assert "no packets" in texts(root)
    assert plots.delay_cdf(Columns()).panels[0].message == "no packets"
    assert "no flow metrics" in texts(parse(render(plots.mos_per_flow(Columns()), title="t")))


def test_a_large_series_stays_small_after_reduction() -> None:
    """A flow of a million packets, reduced as the delay figure reduces it, draws in well under
    a megabyte, and no bigger than a flow of a tenth of them."""
    sizes = []
    for n in (100_000, 1_000_000):
        rng = np.random.default_rng(1)
        send = np.arange(n) * 0.02
        recv = np.where(rng.random(n) < 0.02, np.nan, send + 0.04 + rng.gamma(2.0, 0.005, n))
        packets = Columns(
            {"flow": 0, "call": 0, "direction": "uplink", "send_s": send, "recv_s": recv}
        )
        sizes.append(len(render(plots.delay_over_time(packets), title="t")))
    assert sizes[1] < 400_000
    assert sizes[1] <= sizes[0] * 1.2


def test_color_scale_runs_from_its_first_to_its_last_stop() -> None:
    """Values at or beyond the ends take the end colours; the middle mixes its neighbours."""
    scale = ColorScale("mos", 1.0, 3.0, ("#000000", "#808080", "#ffffff"))
    assert scale.color(0.0) == scale.color(1.0) == "#000000"
    assert scale.color(5.0) == "#ffffff"
    assert scale.color(2.0) == "#808080"
    assert scale.color(1.5) == "#404040"
