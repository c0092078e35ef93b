"""Sales velocity: per-window rates over sellable time and the weighted blend."""

from __future__ import annotations

import pytest

from app.domain.velocity import Velocity, WindowSales, blended_velocity, exact, window_rate

WEIGHTS = (0.5, 0.3, 0.2)


def test_blend_of_three_windows_is_exact() -> None:
    windows = [WindowSales(7, 10, 7.0), WindowSales(28, 30, 28.0), WindowSales(90, 60, 90.0)]
    # 0.5 * 10/7 + 0.3 * 30/28 + 0.2 * 60/90 = 1.169047…
    assert blended_velocity(windows, WEIGHTS) == Velocity(1.169, (1.4286, 1.0714, 0.6667))


def test_no_sales_is_zero_velocity() -> None:
    windows = [WindowSales(7, 0, 7.0), WindowSales(28, 0, 28.0), WindowSales(90, 0, 90.0)]
    assert blended_velocity(windows, WEIGHTS) == Velocity(0.0, (0.0, 0.0, 0.0))


def test_sold_out_every_day_gives_zero_without_dividing_by_zero() -> None:
    windows = [WindowSales(7, 0, 0.0), WindowSales(28, 3, 0.0), WindowSales(90, 9, 0.0)]
    assert blended_velocity(windows, WEIGHTS) == Velocity(0.0, (None, None, None))


def test_zero_sellable_days_is_skipped_even_with_no_minimum() -> None:
    assert blended_velocity([WindowSales(7, 5, 0.0)], (1.0,), min_sellable_days=0.0) == Velocity(0.0, (None,))


def test_refunds_exceeding_sales_count_as_zero_demand() -> None:
    windows = [WindowSales(7, -4, 7.0), WindowSales(28, 14, 28.0)]
    assert blended_velocity(windows, (0.5, 0.5)) == Velocity(0.25, (0.0, 0.5))


def test_sold_out_time_is_excluded_from_the_rate() -> None:
    # 7 units in the 3.5 days the variant could be bought: 2/day, not 1/day.
    assert blended_velocity([WindowSales(7, 7, 3.5)], (1.0,)) == Velocity(2.0, (2.0,))


def test_window_below_min_sellable_days_is_dropped_and_weights_renormalised() -> None:
    windows = [WindowSales(7, 6, 0.5), WindowSales(28, 28, 28.0), WindowSales(90, 45, 90.0)]
    # (0.3 * 1.0 + 0.2 * 0.5) / (0.3 + 0.2) = 0.8
    assert blended_velocity(windows, WEIGHTS) == Velocity(0.8, (None, 1.0, 0.5))


def test_min_sellable_days_boundary_is_inclusive() -> None:
    assert blended_velocity([WindowSales(7, 3, 2.0)], (1.0,), min_sellable_days=2.0) == Velocity(1.5, (1.5,))
    assert blended_velocity([WindowSales(7, 3, 1.99)], (1.0,), min_sellable_days=2.0) == Velocity(0.0, (None,))


def test_zero_weight_on_every_qualifying_window_falls_back_to_the_plain_mean() -> None:
    windows = [WindowSales(7, 0, 0.0), WindowSales(28, 28, 28.0), WindowSales(90, 180, 90.0)]
    assert blended_velocity(windows, (1.0, 0.0, 0.0)) == Velocity(1.5, (None, 1.0, 2.0))


def test_sellable_days_beyond_the_window_are_clamped() -> None:
    assert window_rate(WindowSales(7, 14, 10.0)) == 2.0


def test_rounding_is_half_even_on_the_exact_value() -> None:
    # 1/32 = 0.03125 exactly: half-even keeps 0.0312; 3/32 = 0.09375 goes to 0.0938.
    assert blended_velocity([WindowSales(32, 1, 32.0)], (1.0,)).per_day == 0.0312
    assert blended_velocity([WindowSales(32, 3, 32.0)], (1.0,)).per_day == 0.0938


@pytest.mark.parametrize(
    ("window", "minimum", "expected"),
    [
        (WindowSales(7, 10, 7.0), 1.0, 1.4286),
        (WindowSales(7, 10, 0.9), 1.0, None),
        (WindowSales(7, -2, 7.0), 1.0, 0.0),
        (WindowSales(1, 3, 0.25), 0.25, 12.0),
    ],
)
def test_window_rate(window: WindowSales, minimum: float, expected: float | None) -> None:
    assert window_rate(window, minimum) == expected


def test_mismatched_weights_are_rejected() -> None:
    with pytest.raises(ValueError, match="2 windows but 3 weights"):
        blended_velocity([WindowSales(7, 1, 7.0), WindowSales(28, 1, 28.0)], WEIGHTS)


def test_negative_weight_is_rejected() -> None:
    with pytest.raises(ValueError, match="weights"):
        blended_velocity([WindowSales(7, 1, 7.0)], (-1.0,))


@pytest.mark.parametrize(("days", "sellable"), [(0, 0.0), (7, -1.0), (7, float("nan"))])
def test_invalid_window_is_rejected(days: int, sellable: float) -> None:
    with pytest.raises(ValueError):
        WindowSales(days, 1, sellable)


def test_exact_reads_floats_as_written() -> None:
    assert exact(0.1) * 10 == 1
    assert exact(3) == 3
    with pytest.raises(ValueError):
        exact(float("inf"))
