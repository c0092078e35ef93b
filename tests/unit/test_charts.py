"""Inline SVG chart geometry: round axis tops, gaps for missing days, bars and titles."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from app.domain.charts import bar_chart, fmt_number, line_chart, line_segments, make_plot, nice_ceiling, sparkline

DAYS = [date(2026, 3, 1) + timedelta(days=i) for i in range(4)]


@pytest.mark.parametrize(
    ("value", "top"),
    [(0, 1.0), (-3, 1.0), (1, 1.0), (1.2, 2.0), (2.1, 2.5), (3, 5.0), (7, 10.0), (0.3, 0.5), (0.25, 0.25), (40, 50.0)],
)
def test_nice_ceiling_rounds_up_to_1_2_2_5_5(value: float, top: float) -> None:
    assert nice_ceiling(value) == pytest.approx(top)


def test_line_segments_break_at_missing_values() -> None:
    assert line_segments([(0, 1.0), (1, None), (2, 3.0), (3, 4.0), (4, None)]) == [[(0, 1.0)], [(2, 3.0), (3, 4.0)]]


def test_plot_maps_values_into_the_drawing_area() -> None:
    plot = make_plot([0, 5, 10, None], reference=14)
    assert (plot.low, plot.high, plot.count) == (0.0, 20.0, 4)
    # 480 wide, 52 left and 8 right padding: four slots of 105 units, points at their centres.
    assert [plot.x(i) for i in range(4)] == [104.5, 209.5, 314.5, 419.5]
    assert (plot.y(0), plot.y(20), plot.y(10), plot.y(99)) == (172.0, 22.0, 97.0, 22.0)


def test_line_chart_titles_each_point_and_draws_the_reference() -> None:
    svg = str(
        line_chart(DAYS, [2, None, 1, 0], title="Days <on> hand", unit="days", reference=3, reference_label="Lead")
    )
    assert svg.startswith('<svg class="chart"') and 'role="img"' in svg
    assert "<title>Days &lt;on&gt; hand</title>" in svg
    assert svg.count('class="chart-point"') == 3
    assert "<title>2026-03-01: 2 days</title>" in svg
    assert svg.count("<polyline") == 1  # the lone first point is a dot, the last two a line
    assert "<title>Lead</title>" in svg
    assert "2026-03-01" in svg and "2026-03-04" in svg


def test_empty_charts_say_so() -> None:
    assert "No sales" in str(bar_chart(DAYS, [0, 0, 0, 0], title="Sales", empty="No sales"))
    assert "No data" in str(line_chart(DAYS, [None] * 4, title="Stock", empty="No data"))
    assert "no history yet" in str(sparkline([], label="x"))


def test_bar_chart_draws_one_bar_per_non_zero_day() -> None:
    svg = str(bar_chart(DAYS, [3, 0, 1.5, 6], title="Sold", unit="units"))
    assert svg.count("<rect") == 3
    assert "<title>2026-03-03: 1.5 units</title>" in svg


def test_one_value_per_day_is_required() -> None:
    with pytest.raises(ValueError, match="one value per day"):
        bar_chart(DAYS, [1], title="x")


def test_fmt_number() -> None:
    assert (fmt_number(None), fmt_number(4.0), fmt_number(1234.56, 1), fmt_number(2.5, 2)) == (
        "\u2013",
        "4",
        "1,234.6",
        "2.50",
    )


def test_every_chart_label_is_at_least_11_px_at_the_narrowest_the_admin_draws_it() -> None:
    from pathlib import Path

    from app.domain import charts

    svgs = [
        str(line_chart(DAYS, [2, None, 1, 0], title="Stock", unit="units", reference=3)),
        str(bar_chart(DAYS, [3, 0, 1.5, 6], title="Sold", unit="units")),
        str(line_chart(DAYS, [None] * 4, title="Stock", unit="units", empty="No data")),
    ]
    sizes = {float(size) for svg in svgs for size in re.findall(r'font-size="([\d.]+)"', svg)}
    assert sizes == {14.0, 15.0}
    assert all(f'viewBox="0 0 {charts.CHART_WIDTH} ' in svg for svg in svgs)
    assert min(sizes) * charts.CHART_MIN_WIDTH / charts.CHART_WIDTH >= 11
    # The page really keeps charts at least that wide (a narrower column scrolls instead of shrinking the text).
    css = (Path(charts.__file__).parents[1] / "templates" / "admin" / "_charts.html").read_text()
    assert f"min-width: {charts.CHART_MIN_WIDTH}px; max-width: {charts.CHART_WIDTH}px;" in css
