"""Known sales history: the sold-out-at-connect start, the order horizon, known days and the days of sales."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.history import (
    SoldOutSince,
    SoldOutStart,
    earliest_horizon,
    known_days,
    known_horizon,
    order_horizon,
    sales_days,
    sold_out_start,
)
from app.domain.velocity import WindowSales, blended_velocity
from integrations.shopify.auth import visible_order_days

FOUND = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SALE = FOUND - timedelta(days=30)
LEVEL = FOUND - timedelta(days=12)


def test_a_last_sale_is_where_the_sold_out_span_starts() -> None:
    assert sold_out_start(FOUND, SALE, LEVEL) == SoldOutStart(SALE, SoldOutSince.LAST_SALE)


def test_without_a_sale_the_stock_levels_last_update_is() -> None:
    assert sold_out_start(FOUND, None, LEVEL) == SoldOutStart(LEVEL, SoldOutSince.INVENTORY_UPDATE)


def test_with_neither_the_span_starts_when_the_variant_was_found() -> None:
    assert sold_out_start(FOUND, None, None) == SoldOutStart(FOUND, SoldOutSince.CONNECT)


def test_a_candidate_after_the_variant_was_found_is_not_evidence_of_the_past() -> None:
    later = FOUND + timedelta(hours=1)
    assert sold_out_start(FOUND, later, LEVEL) == SoldOutStart(LEVEL, SoldOutSince.INVENTORY_UPDATE)
    assert sold_out_start(FOUND, later, later) == SoldOutStart(FOUND, SoldOutSince.CONNECT)


def test_shopify_without_read_all_orders_sees_60_days_and_with_it_every_order() -> None:
    assert visible_order_days("read_orders,read_products") == 60
    assert visible_order_days("read_orders,read_all_orders") is None
    assert order_horizon(FOUND, 60) == datetime(2026, 9, 21, 12, 0, tzinfo=UTC)
    assert order_horizon(FOUND, None) is None


def test_a_horizon_only_moves_back() -> None:
    older, newer = FOUND - timedelta(days=90), FOUND - timedelta(days=60)
    assert earliest_horizon(None, newer) == newer
    assert earliest_horizon(newer, older) == older
    assert earliest_horizon(older, newer) == older


@pytest.mark.parametrize(
    ("window", "horizon", "expected"),
    [
        (90, None, 90),  # no horizon (WooCommerce, or read_all_orders): the whole window
        (90, FOUND - timedelta(days=60), 60),
        (28, FOUND - timedelta(days=60), 28),  # the horizon is further back than the window
        (90, FOUND - timedelta(days=60, hours=23), 60),  # the part-day next to the horizon is left out
        (90, FOUND - timedelta(days=61), 61),
        (90, FOUND + timedelta(days=1), 0),  # a horizon ahead of now: nothing is known
    ],
)
def test_known_days_are_whole_days_since_the_horizon_at_most_the_window(
    window: int, horizon: datetime | None, expected: int
) -> None:
    assert known_days(window, FOUND, horizon) == expected


def test_sales_days_are_the_sellable_days_of_the_longest_window_with_a_rate() -> None:
    windows = [WindowSales(7, 0, 0.0), WindowSales(28, 0, 0.0), WindowSales(60, 10, 41.75)]
    velocity = blended_velocity(windows, (0.5, 0.3, 0.2))
    assert velocity.by_window == (None, None, 0.2395)
    assert sales_days(windows, velocity.by_window) == 41
    # The longest window left out (under the minimum sellable days): the next longest is what the figure used.
    short = [WindowSales(7, 3, 7.0), WindowSales(90, 0, 0.5)]
    assert sales_days(short, blended_velocity(short, (0.5, 0.5)).by_window) == 7
    assert sales_days(windows[:2], (None, None)) is None


def test_while_orders_are_refused_no_day_is_known_however_old_the_stored_horizon() -> None:
    now = datetime(2026, 12, 7, 22, 0, tzinfo=UTC)
    stored = now - timedelta(days=100)
    assert known_horizon(stored, now, orders_readable=True) == stored
    assert known_horizon(None, now, orders_readable=True) is None
    assert known_horizon(stored, now, orders_readable=False) == now
    assert known_horizon(None, now, orders_readable=False) == now
    assert known_days(28, now, known_horizon(stored, now, orders_readable=False)) == 0
