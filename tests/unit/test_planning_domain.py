"""The buyer's planning verdicts: overdue, overstock, dead stock from known history only, the sold-out label."""

from __future__ import annotations

from datetime import date

from app.domain.planning import (
    DeadStock,
    DeadStockVerdict,
    dead_stock,
    is_overdue,
    overstock_units,
    sold_out_label,
)

TODAY = date(2026, 12, 7)


def test_overdue_only_when_the_reorder_by_day_is_past() -> None:
    assert is_overdue(date(2026, 12, 6), TODAY) is True
    assert is_overdue(TODAY, TODAY) is False
    assert is_overdue(date(2026, 12, 8), TODAY) is False
    assert is_overdue(None, TODAY) is False


def test_overstock_is_what_lies_beyond_cover_plus_safety_days() -> None:
    # 0.69/day over 60 + 7 days needs ceil(46.23) = 47 units: 100 on hand is 53 over.
    assert overstock_units(100, 0.69, 60, 7) == 53
    assert overstock_units(47, 0.69, 60, 7) == 0
    assert overstock_units(48, 0.69, 60, 7) == 1
    # Exactly 2/day × 10 days: 20 needed (no float rounding up to 21).
    assert overstock_units(21, 2.0, 7, 3) == 1
    assert overstock_units(20, 2.0, 7, 3) == 0


def test_no_rate_or_no_stock_is_never_overstock() -> None:
    assert overstock_units(500, 0.0, 60, 7) == 0
    assert overstock_units(0, 3.0, 60, 7) == 0
    assert overstock_units(-4, 3.0, 60, 7) == 0


def test_dead_stock_needs_90_known_quiet_days() -> None:
    start = date(2026, 1, 1)
    assert dead_stock(5, date(2026, 9, 8), start, TODAY) == DeadStock(DeadStockVerdict.DEAD, 90)
    assert dead_stock(5, date(2026, 9, 9), start, TODAY) == DeadStock(DeadStockVerdict.SELLING, 89)
    assert dead_stock(5, None, start, TODAY) == DeadStock(DeadStockVerdict.DEAD, 340)


def test_days_sold_out_do_not_count_as_quiet() -> None:
    start = date(2026, 1, 1)
    assert dead_stock(5, date(2026, 8, 1), start, TODAY, sold_out_days=40) == DeadStock(DeadStockVerdict.SELLING, 88)
    assert dead_stock(5, date(2026, 8, 1), start, TODAY, sold_out_days=38) == DeadStock(DeadStockVerdict.DEAD, 90)


def test_a_short_history_cannot_call_anything_dead() -> None:
    # 20 days of history and no sale in them: unknown, not dead.
    start = date(2026, 11, 17)
    assert dead_stock(30, None, start, TODAY) == DeadStock(DeadStockVerdict.UNKNOWN, 20)
    # A sale before the history start cannot be seen: the quiet span starts at the history start.
    assert dead_stock(30, date(2026, 1, 5), start, TODAY) == DeadStock(DeadStockVerdict.UNKNOWN, 20)
    assert dead_stock(30, date(2026, 12, 1), start, TODAY) == DeadStock(DeadStockVerdict.SELLING, 6)


def test_nothing_on_hand_is_not_dead_stock() -> None:
    assert dead_stock(0, None, date(2025, 1, 1), TODAY) == DeadStock(DeadStockVerdict.NO_STOCK, 0)


def test_sold_out_label_says_the_real_day_or_an_upper_bound() -> None:
    assert sold_out_label(date(2026, 11, 2), True, None) == "Sold out since 2026-11-02"
    assert sold_out_label(date(2026, 11, 20), False, date(2026, 11, 20)) == "Sold out (since before 2026-11-20)"
    assert sold_out_label(None, False, date(2026, 10, 1)) == "Sold out (since before 2026-10-01)"
    assert sold_out_label(None, False, None) == "Sold out (since unknown)"
