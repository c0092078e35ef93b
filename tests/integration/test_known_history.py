"""Unknown history is unknown, not zero: a variant found sold out gets a sell-out span from a defensible start,
days before a store's order horizon are left out of the velocity windows, and the admin says what a figure is
based on. Recompute on real PostgreSQL with exact figures."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.db import Database
from app.models import InventoryLevel, StockEvent, StockState, Store, Variant
from app.services.stock import recompute as stock
from app.web.admin.auth import session_fields
from tests.factories import NOW, add_sale, make_location, make_store, make_variant

pytestmark = pytest.mark.integration

# Default settings: windows (7, 28, 90) weighted (0.5, 0.3, 0.2), at least 1 sellable day for a rate.


def state(db: Database, variant_id: int) -> StockState:
    with db.session() as s:
        st = s.get(StockState, variant_id)
        assert st is not None
        return st


def spans(db: Database, variant_id: int) -> list[tuple[str, str, dict[str, Any], datetime, datetime | None]]:
    with db.session() as s:
        rows = s.execute(
            select(StockEvent.kind, StockEvent.source, StockEvent.details, StockEvent.occurred_at, StockEvent.ended_at)
            .where(StockEvent.variant_id == variant_id)
            .order_by(StockEvent.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def found_sold_out(db: Database, *, sales: tuple[tuple[int, float], ...], level_days_ago: float | None) -> int:
    """A store with one tracked variant at 0 units, first seen at NOW, with these sales and its level's last update."""
    with db.session() as s:
        store = make_store(s, platform="woocommerce")
        variant = make_variant(s, store, qty=0, created_at=NOW)
        location = make_location(s, store)
        updated = None if level_days_ago is None else NOW - timedelta(days=level_days_ago)
        s.add(
            InventoryLevel(
                store_id=store.id,
                variant_id=variant.id,
                location_id=location.id,
                available=0,
                external_updated_at=updated,
            )
        )
        for units, days_ago in sales:
            add_sale(s, variant, units, days_ago=days_ago)
        sid, vid = store.id, variant.id
    with db.session() as s:
        result = stock.recompute(s, sid, now=NOW)
    # An edge is a change BackSoon saw; a variant found sold out is not one.
    assert (result.changed, result.sellouts) == (1, 0)
    return vid


def test_a_variant_found_sold_out_is_sold_out_since_its_last_sale(db: Database) -> None:
    vid = found_sold_out(db, sales=((6, 60), (4, 30)), level_days_ago=12)
    assert spans(db, vid) == [("sellout", "found", {"since": "last_sale"}, NOW - timedelta(days=30), None)]
    st = state(db, vid)
    # 7 and 28 days: sold out throughout, no rate. 90 days: 10 units over the 60 sellable days before the last sale
    # (counted as sales-less days without the span: 10 / 90 = 0.1111).
    assert st.velocity_windows == [None, None, 0.1667]
    assert (st.velocity, st.sales_days) == (0.1667, 60)


def test_without_a_sale_it_is_sold_out_since_its_stock_levels_last_update(db: Database) -> None:
    vid = found_sold_out(db, sales=(), level_days_ago=12)
    assert spans(db, vid) == [("sellout", "found", {"since": "inventory_update"}, NOW - timedelta(days=12), None)]
    st = state(db, vid)
    assert st.velocity_windows == [None, 0.0, 0.0]  # 16 and 78 sellable days without a sale
    assert (st.velocity, st.sales_days) == (0.0, 78)


def test_with_neither_it_is_sold_out_since_it_was_found(db: Database) -> None:
    vid = found_sold_out(db, sales=(), level_days_ago=None)
    assert spans(db, vid) == [("sellout", "found", {"since": "connect"}, NOW, None)]
    st = state(db, vid)
    assert st.velocity_windows == [0.0, 0.0, 0.0]
    assert (st.velocity, st.sales_days) == (0.0, 90)


def test_a_span_is_recorded_once_and_later_runs_change_nothing(db: Database) -> None:
    vid = found_sold_out(db, sales=((6, 60), (4, 30)), level_days_ago=12)
    with db.session() as s:
        sid = s.get(Variant, vid).store_id  # type: ignore[union-attr]
        again = stock.recompute(s, sid, now=NOW + timedelta(minutes=15))
    assert (again.changed, again.sellouts) == (0, 0)
    assert len(spans(db, vid)) == 1


def shop_with_sales(db: Database, platform: str, horizon: datetime | None) -> tuple[int, int]:
    with db.session() as s:
        store = make_store(s, platform=platform, orders_history_from=horizon)
        variant = make_variant(s, store, qty=50)
        add_sale(s, variant, 12, days_ago=10)
        add_sale(s, variant, 18, days_ago=45)
        return store.id, variant.id


def test_shopify_days_before_the_order_horizon_are_left_out_of_the_90_day_window(db: Database) -> None:
    sid, vid = shop_with_sales(db, "shopify", NOW - timedelta(days=60))
    with db.session() as s:
        stock.recompute(s, sid, now=NOW)
    st = state(db, vid)
    # 7 days: 0. 28 days: 12 / 28. 90 days, of which 60 are known: 30 / 60 (not 30 / 90).
    assert st.velocity_windows == [0.0, 0.4286, 0.5]
    # 0.5 × 0 + 0.3 × 12/28 + 0.2 × 30/60
    assert (st.velocity, st.sales_days) == (0.2286, 60)

    # A day later one more day is known.
    with db.session() as s:
        stock.recompute(s, sid, now=NOW + timedelta(days=1))
    st = state(db, vid)
    assert (st.velocity_windows, st.sales_days) == ([0.0, 0.4286, 0.4918], 61)  # 30 / 61

    # The horizon lifted (older orders loaded, none for this variant): no column changed, yet the state is
    # recomputed, because the known days are in every input fingerprint.
    with db.session() as s:
        store = s.get(Store, sid)
        assert store is not None
        store.orders_history_from = None
    with db.session() as s:
        result = stock.recompute(s, sid, now=NOW + timedelta(days=1, minutes=15))
    assert result.changed == 1
    st = state(db, vid)
    assert (st.velocity_windows, st.velocity, st.sales_days) == ([0.0, 0.4286, 0.3333], 0.1952, 90)


def test_woocommerce_has_no_horizon_and_counts_the_whole_90_days(db: Database) -> None:
    sid, vid = shop_with_sales(db, "woocommerce", None)
    with db.session() as s:
        stock.recompute(s, sid, now=NOW)
    st = state(db, vid)
    # 0.5 × 0 + 0.3 × 12/28 + 0.2 × 30/90
    assert (st.velocity_windows, st.velocity, st.sales_days) == ([0.0, 0.4286, 0.3333], 0.1952, 90)


def test_a_horizon_sold_out_span_overlapping_it_counts_only_its_known_part(db: Database) -> None:
    # Found sold out on Shopify with its last sale 50 days ago and the horizon 60 days back: of the 60 known days
    # of the 90-day window, 10 were sellable.
    with db.session() as s:
        store = make_store(s, platform="shopify", orders_history_from=NOW - timedelta(days=60))
        variant = make_variant(s, store, qty=0, created_at=NOW)
        add_sale(s, variant, 4, days_ago=50)
        sid, vid = store.id, variant.id
    with db.session() as s:
        stock.recompute(s, sid, now=NOW)
    assert spans(db, vid) == [("sellout", "found", {"since": "last_sale"}, NOW - timedelta(days=50), None)]
    st = state(db, vid)
    assert (st.velocity_windows, st.velocity, st.sales_days) == ([None, None, 0.4], 0.4, 10)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """A standalone admin."""
    return {"app_url": "http://backsoon.test"}


def test_the_admin_says_how_many_days_of_sales_a_figure_is_based_on(db: Database, client: FlaskClient) -> None:
    vid = found_sold_out(db, sales=((6, 60), (4, 30)), level_days_ago=12)
    with db.session() as s:
        sid = s.get(Variant, vid).store_id  # type: ignore[union-attr]
        fresh = make_variant(s, s.get(Store, sid), qty=5)  # type: ignore[arg-type]
        fresh_id = fresh.id
    with db.session() as s:
        stock.recompute(s, sid, [fresh_id], now=NOW)
        st = s.get(StockState, fresh_id)
        assert st is not None
        st.sales_days = None  # no window had a rate
    with client.session_transaction() as sess:
        sess.update(session_fields(sid, 0))
    page = client.get(f"/admin/variants/{vid}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '0.17 units <span class="reason" id="sales-basis">from 60 days of sales</span>' in html
    # The span it relies on says where it starts.
    assert 'sell-out <span class="reason">found sold out, counted from its last sale</span>' in html
    at_risk = client.get("/admin/at-risk").get_data(as_text=True)
    assert '<span class="reason">from 60 days of sales</span>' in at_risk
    none_yet = client.get(f"/admin/variants/{fresh_id}").get_data(as_text=True)
    assert '<span class="reason" id="sales-basis">no days of sales yet</span>' in none_yet
    assert "days of sales</span>" not in none_yet.replace("no days of sales yet</span>", "")
    # An in-stock variant has no found span, and the API says where a found one starts.
    assert "found sold out" not in none_yet


def test_variant_events_say_which_fact_a_found_span_starts_from(db: Database) -> None:
    from app.services.merchant.stock_views import variant_events

    vid = found_sold_out(db, sales=(), level_days_ago=12)
    with db.session() as s:
        sid = s.get(Variant, vid).store_id  # type: ignore[union-attr]
        s.execute(Variant.__table__.update().where(Variant.id == vid).values(sellable_quantity=4))
    with db.session() as s:
        stock.recompute(s, sid, now=NOW + timedelta(hours=1))
    with db.session() as s:
        events = variant_events(s, sid, vid)
    assert [(e["kind"], e["source"], e["since"]) for e in events] == [
        ("restock", "recompute", None),
        ("sellout", "found", "inventory_update"),
    ]


def test_an_instant_alert_leaves_found_spans_out_but_tells_a_real_sell_out(db: Database) -> None:
    from app.services.notify.alerts import build_instant_alert

    found = found_sold_out(db, sales=(), level_days_ago=None)
    with db.session() as s:
        store = s.get(Store, s.get(Variant, found).store_id)  # type: ignore[union-attr]
        assert store is not None
        selling = make_variant(s, store, qty=2)
        sid, sold_id = store.id, selling.id
    with db.session() as s:
        stock.recompute(s, sid, now=NOW + timedelta(minutes=1))
        s.execute(Variant.__table__.update().where(Variant.id == sold_id).values(sellable_quantity=0))
    with db.session() as s:
        stock.recompute(s, sid, now=NOW + timedelta(minutes=2))
    with db.session() as s:
        store = s.get(Store, sid)
        assert store is not None
        alert = build_instant_alert(s, store, NOW + timedelta(minutes=3))
    assert [item.variant_id for item in alert.sold_out] == [sold_id]
