"""Inline SVG charts drawn on the server: sparklines, daily line and bar charts, with accessible titles.

Pure functions of their numbers (no Flask, no database). Every chart is ``role="img"`` with a ``<title>``
naming what it shows; the pages that use them also print the numbers as a table, so the figures never
depend on seeing the picture. Colours are presentation attributes, so a chart draws without any stylesheet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

SPARK_WIDTH = 240
SPARK_HEIGHT = 56
SPARK_PAD = 4

CHART_WIDTH = 480
CHART_HEIGHT = 200
# The narrowest a page draws a chart (the CSS min-width of .chart, admin/_charts.html): text of LABEL_SIZE units is
# then still 11.2 px, and at most 14 px at the chart's natural width.
CHART_MIN_WIDTH = 384
LABEL_SIZE = 14
# Room for the y-axis labels on the left, the unit above and the first/last date under the plot.
PAD_LEFT = 52
PAD_RIGHT = 8
PAD_TOP = 22
PAD_BOTTOM = 28
LINE_COLOUR = "#2c6ecb"
BAR_COLOUR = "#2c6ecb"
REFERENCE_COLOUR = "#b26b00"
AXIS_COLOUR = "#8a93a0"


def fmt_number(value: float | None, digits: int = 1) -> str:
    """A figure for people: thousands separated, whole numbers shown whole, an en dash for "no figure"."""
    if value is None:
        return "\u2013"  # en dash: "no figure", not a minus
    text = f"{value:,.{digits}f}"
    # "4.0" reads as precision the figure does not have; whole numbers are shown whole.
    return text[: -(digits + 1)] if digits and text.endswith("." + "0" * digits) else text


def sparkline(
    values: Sequence[float | None],
    *,
    label: str,
    reference: float | None = None,
    reference_label: str = "",
    width: int = SPARK_WIDTH,
    height: int = SPARK_HEIGHT,
) -> Markup:
    """A small inline SVG line of the values (None leaves a gap), with an optional dashed reference line."""
    title = escape(label)
    head = (
        f'<svg class="spark" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{title}"><title>{title}</title>'
    )
    # Markup is safe here: every interpolated value is a formatted number or went through escape().
    known = [float(v) for v in values if v is not None]
    if not known:
        return Markup(  # noqa: S704
            head + f'<text x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle" '
            'dominant-baseline="middle" class="spark-empty">no history yet</text></svg>'
        )
    scale_values = [*known, *([reference] if reference is not None else [])]
    low, high = min(0.0, *scale_values), max(scale_values)
    span = (high - low) or 1.0
    steps = max(len(values) - 1, 1)

    def x(i: int) -> float:
        return SPARK_PAD + (width - 2 * SPARK_PAD) * (i / steps if len(values) > 1 else 0.5)

    def y(v: float) -> float:
        return height - SPARK_PAD - (height - 2 * SPARK_PAD) * ((v - low) / span)

    parts = [head]
    if reference is not None:
        ry = y(reference)
        parts.append(
            f'<line class="spark-ref" x1="{SPARK_PAD}" x2="{width - SPARK_PAD}" y1="{ry:.1f}" y2="{ry:.1f}">'
            f"<title>{escape(reference_label)}</title></line>"
        )
    # A None (e.g. days on hand with no sales) breaks the line rather than pretending a value.
    segments = line_segments([(x(i), None if v is None else y(float(v))) for i, v in enumerate(values)])
    for seg in segments:
        if len(seg) == 1:
            parts.append(f'<circle class="spark-dot" cx="{seg[0][0]:.1f}" cy="{seg[0][1]:.1f}" r="2"/>')
        else:
            points = " ".join(f"{px:.1f},{py:.1f}" for px, py in seg)
            parts.append(f'<polyline class="spark-line" points="{points}"/>')
    last_x, last_y = segments[-1][-1]
    parts.append(f'<circle class="spark-last" cx="{last_x:.1f}" cy="{last_y:.1f}" r="3"/>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704


def line_segments(points: Sequence[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    """Split points into runs without a missing value; empty runs are dropped."""
    runs: list[list[tuple[float, float]]] = [[]]
    for px, py in points:
        if py is None:
            runs.append([])
        else:
            runs[-1].append((px, py))
    return [run for run in runs if run]


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above value (1 for zero or less): a round axis top."""
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        top = step * magnitude
        # A hair of tolerance: 0.3 / 0.1 is 2.9999999999999996 in binary.
        if top >= value - magnitude * 1e-9:
            return top
    return 10.0 * magnitude  # pragma: no cover - the loop always returns


@dataclass(frozen=True, slots=True)
class Plot:
    """The drawing area of a chart and its value range (the y axis runs from low to high)."""

    width: int
    height: int
    count: int
    low: float
    high: float

    @property
    def left(self) -> float:
        """x of the plot's left edge."""
        return float(PAD_LEFT)

    @property
    def right(self) -> float:
        """x of the plot's right edge."""
        return float(self.width - PAD_RIGHT)

    @property
    def top(self) -> float:
        """y of the plot's top edge."""
        return float(PAD_TOP)

    @property
    def bottom(self) -> float:
        """y of the plot's bottom edge (the value low)."""
        return float(self.height - PAD_BOTTOM)

    def slot(self) -> float:
        """The width one day takes."""
        return (self.right - self.left) / max(self.count, 1)

    def x(self, index: int) -> float:
        """The centre of day index's slot."""
        return self.left + self.slot() * (index + 0.5)

    def y(self, value: float) -> float:
        """The y of a value, clamped into the plot."""
        span = (self.high - self.low) or 1.0
        share = min(max((value - self.low) / span, 0.0), 1.0)
        return self.bottom - (self.bottom - self.top) * share


def make_plot(
    values: Sequence[float | None],
    *,
    reference: float | None = None,
    width: int = CHART_WIDTH,
    height: int = CHART_HEIGHT,
) -> Plot:
    """A plot from zero (or the lowest negative value) to a round number above the values and the reference."""
    known = [float(v) for v in values if v is not None]
    if reference is not None:
        known.append(reference)
    low = min(0.0, *known) if known else 0.0
    high = nice_ceiling(max(known)) if known else 1.0
    return Plot(width=width, height=height, count=len(values), low=low, high=max(high, low + 1.0))


def _fmt(value: float) -> str:
    text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _frame(plot: Plot, days: Sequence[date], title: str, unit: str) -> list[str]:
    head = escape(title)
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {plot.width} {plot.height}" '
        f'width="{plot.width}" height="{plot.height}" role="img" aria-label="{head}"><title>{head}</title>',
    ]
    for value in (plot.low, plot.high):
        gy = plot.y(value)
        parts.append(
            f'<line x1="{plot.left:.1f}" x2="{plot.right:.1f}" y1="{gy:.1f}" y2="{gy:.1f}" '
            f'stroke="{AXIS_COLOUR}" stroke-width="0.5"/>'
            f'<text x="{plot.left - 4:.1f}" y="{gy:.1f}" text-anchor="end" dominant-baseline="middle" '
            f'font-size="{LABEL_SIZE}" fill="{AXIS_COLOUR}">{escape(_fmt(value))}</text>'
        )
    if unit:
        parts.append(
            f'<text x="2" y="2" font-size="{LABEL_SIZE}" fill="{AXIS_COLOUR}" '
            f'dominant-baseline="hanging">{escape(unit)}</text>'
        )
    if days:
        label_y = plot.height - 6
        parts.append(
            f'<text x="{plot.left:.1f}" y="{label_y}" font-size="{LABEL_SIZE}" fill="{AXIS_COLOUR}">'
            f"{days[0].isoformat()}</text>"
            f'<text x="{plot.right:.1f}" y="{label_y}" text-anchor="end" font-size="{LABEL_SIZE}" '
            f'fill="{AXIS_COLOUR}">{days[-1].isoformat()}</text>'
        )
    return parts


def _empty(plot: Plot, parts: list[str], message: str) -> Markup:
    parts.append(
        f'<text x="{(plot.left + plot.right) / 2:.1f}" y="{(plot.top + plot.bottom) / 2:.1f}" text-anchor="middle" '
        f'dominant-baseline="middle" font-size="15" fill="{AXIS_COLOUR}">{escape(message)}</text></svg>'
    )
    return Markup("".join(parts))  # noqa: S704 - numbers and escaped text only


def line_chart(
    days: Sequence[date],
    values: Sequence[float | None],
    *,
    title: str,
    unit: str = "",
    reference: float | None = None,
    reference_label: str = "",
    empty: str = "No data yet",
) -> Markup:
    """One value per day as a line (None leaves a gap), each point titled with its day and value."""
    if len(days) != len(values):
        raise ValueError("one value per day")
    plot = make_plot(values, reference=reference)
    parts = _frame(plot, days, title, unit)
    if all(v is None for v in values):
        return _empty(plot, parts, empty)
    if reference is not None:
        ry = plot.y(reference)
        parts.append(
            f'<line class="chart-ref" x1="{plot.left:.1f}" x2="{plot.right:.1f}" y1="{ry:.1f}" y2="{ry:.1f}" '
            f'stroke="{REFERENCE_COLOUR}" stroke-width="1.5" stroke-dasharray="6 4">'
            f"<title>{escape(reference_label)}</title></line>"
        )
    points = [(plot.x(i), None if v is None else plot.y(float(v))) for i, v in enumerate(values)]
    for run in line_segments(points):
        if len(run) > 1:
            coords = " ".join(f"{px:.1f},{py:.1f}" for px, py in run)
            parts.append(
                f'<polyline class="chart-line" points="{coords}" fill="none" stroke="{LINE_COLOUR}" '
                'stroke-width="2" stroke-linejoin="round"/>'
            )
    for i, v in enumerate(values):
        if v is not None:
            parts.append(
                f'<circle class="chart-point" cx="{plot.x(i):.1f}" cy="{plot.y(float(v)):.1f}" r="2.5" '
                f'fill="{LINE_COLOUR}"><title>{days[i].isoformat()}: {escape(_fmt(float(v)))} '
                f"{escape(unit)}</title></circle>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - numbers and escaped text only


def bar_chart(
    days: Sequence[date],
    values: Sequence[float],
    *,
    title: str,
    unit: str = "",
    empty: str = "Nothing in this period",
) -> Markup:
    """One bar per day, each titled with its day and value; zero days draw no bar."""
    if len(days) != len(values):
        raise ValueError("one value per day")
    plot = make_plot(values)
    parts = _frame(plot, days, title, unit)
    if not any(values):
        return _empty(plot, parts, empty)
    slot = plot.slot()
    bar = max(slot * 0.8, 1.0)
    base = plot.y(0.0)
    for i, v in enumerate(values):
        if not v:
            continue
        top = plot.y(float(v))
        x0 = plot.x(i) - bar / 2
        y0, h = (top, base - top) if top <= base else (base, top - base)
        parts.append(
            f'<rect class="chart-bar" x="{x0:.1f}" y="{y0:.1f}" width="{bar:.1f}" height="{h:.1f}" '
            f'fill="{BAR_COLOUR}"><title>{days[i].isoformat()}: {escape(_fmt(float(v)))} {escape(unit)}</title></rect>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - numbers and escaped text only
