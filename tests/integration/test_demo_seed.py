"""Seeding the demo store: bulk-loaded rows match the generator exactly, and reseeding replaces them."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from app.db import Database
from app.models import Order, Product, Store, Variant
from app.platforms.demo.past_results import PastResults
from app.platforms.demo.seed import TABLES, seed_demo
from app.services.notify import attribution, funnel
from integrations.demo import generate

pytestmark = pytest.mark.integration
SEEDS = pytest.mark.truncating("seed_demo COPYs on connections of its own (a copy thread, an autocommit id connection)")

TODAY = date(2026, 11, 22)
# The seed's past waves for seed 7, 500 variants, 180 days up to TODAY (deterministic).
PAST_SUBS = 343
PAST_CLICKS = 129
PAST_CONVERSIONS = 23
PAST_REVENUE = Decimal("2078.20")


def _expected(variants: int, days: int = 180, past_subscriptions: int = 0) -> dict[str, int]:
    s = generate(7, variants, days, today=TODAY).summary()
    return {
        "locations": s.locations,
        "suppliers": s.suppliers,
        "products": s.products,
        "variants": s.variants,
        "orders": s.orders,
        "order_lines": s.order_lines,
        "refunds": s.refunds,
        "refund_lines": s.refund_lines,
        "purchase_orders": s.open_purchase_orders,
        "inventory_levels": s.inventory_levels,
        "stock_events": s.stock_changes,
        "subscriptions": s.signups + past_subscriptions,
        "consent_records": s.signups + past_subscriptions,
        # End-of-day stock of every tracked variant over the last 90 days (or the whole history when shorter).
        "stock_state_history": (s.variants - s.untracked) * min(days, 90),
    }


def _table_counts(db: Database, store_id: int) -> tuple[dict[str, int], dict[str, int]]:
    mine, everyone = {}, {}
    with db.engine.connect() as conn:
        for table in TABLES:
            mine[table] = conn.execute(
                text(f"SELECT COUNT(*) FROM {table} WHERE store_id = :s"),  # noqa: S608 - fixed table names
                {"s": store_id},
            ).scalar_one()
            everyone[table] = conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()  # noqa: S608
    return mine, everyone


SELLABLE_MISMATCHES = text(
    "SELECT COUNT(*) FROM variants v"
    " LEFT JOIN (SELECT il.variant_id, SUM(COALESCE(il.available, 0)) AS q"
    "            FROM inventory_levels il JOIN locations l ON l.id = il.location_id AND l.active"
    "            GROUP BY il.variant_id) s ON s.variant_id = v.id"
    " WHERE v.store_id = :s AND v.sellable_quantity <> COALESCE(s.q, 0)"
)
REFUNDED_MISMATCHES = text(
    "SELECT COUNT(*) FROM order_lines ol"
    " LEFT JOIN (SELECT order_line_id, SUM(quantity) AS q FROM refund_lines GROUP BY order_line_id) r"
    "   ON r.order_line_id = ol.id"
    " JOIN orders o ON o.id = ol.order_id"
    " WHERE ol.store_id = :s AND (ol.refunded_quantity <> COALESCE(r.q, 0) OR ol.ordered_at <> o.ordered_at"
    "   OR ol.cancelled <> (o.cancelled_at IS NOT NULL))"
)
SOLD_OUT = text(
    "SELECT COUNT(*) FROM variants WHERE store_id = :s AND tracked AND inventory_policy = 'deny'"
    " AND published AND sellable_quantity <= 0"
)


@SEEDS
def test_seed_loads_exactly_what_the_generator_produces(db: Database) -> None:
    phases: list[str] = []
    result = seed_demo(db, variants=500, today=TODAY, progress=lambda phase, done, total: phases.append(phase))
    assert result.past == PastResults(restocks=40, subscriptions=PAST_SUBS, emails=PAST_SUBS, clicks=PAST_CLICKS)
    expected = _expected(500, past_subscriptions=PAST_SUBS)
    assert result.counts == expected
    assert expected["order_lines"] == 10677
    mine, everyone = _table_counts(db, result.store_id)
    assert mine == expected
    assert everyone == expected  # every row carries the demo store's id
    assert list(dict.fromkeys(phases)) == [
        "store", "locations", "suppliers", "products", "orders", "purchase_orders", "inventory", "stock_events",
        "subscriptions", "stock_history", "analyze", "sellable",
    ]  # fmt: skip
    with db.engine.connect() as conn:
        store = conn.execute(
            text("SELECT platform, domain, name, timezone, currency FROM stores WHERE id = :s"), {"s": result.store_id}
        ).one()
        assert tuple(store) == ("demo", "demo.backsoon.localhost", "Northwind Goods (demo)", "Europe/Amsterdam", "EUR")
        assert conn.execute(SELLABLE_MISMATCHES, {"s": result.store_id}).scalar_one() == 0
        assert conn.execute(REFUNDED_MISMATCHES, {"s": result.store_id}).scalar_one() == 0
        assert conn.execute(SOLD_OUT, {"s": result.store_id}).scalar_one() == 30
        events = conn.execute(
            text(
                "SELECT kind, source, COUNT(*), COUNT(fanout_status) FROM stock_events WHERE store_id = :s"
                " GROUP BY kind, source ORDER BY kind"
            ),
            {"s": result.store_id},
        ).all()
        # The 40 latest restocks before yesterday sent a past wave.
        assert [tuple(e) for e in events] == [("restock", "demo", 152, 40), ("sellout", "demo", 182, 0)]
        # Each sell-out span ends at its variant's next event; the 30 still sold out are open.
        spans = conn.execute(
            text(
                "SELECT COUNT(*) FILTER (WHERE ended_at IS DISTINCT FROM next_at),"
                " COUNT(*) FILTER (WHERE ended_at IS NULL) FROM (SELECT kind, ended_at,"
                " LEAD(occurred_at) OVER (PARTITION BY variant_id ORDER BY occurred_at, id) AS next_at"
                " FROM stock_events WHERE store_id = :s) e WHERE kind = 'sellout'"
            ),
            {"s": result.store_id},
        ).one()
        assert tuple(spans) == (0, 30)
        subs = conn.execute(
            text(
                "SELECT s.state, s.source, c.kind, c.text_version, COUNT(*) FROM subscriptions s"
                " JOIN consent_records c ON c.subscription_id = s.id AND c.given_at = s.created_at"
                " GROUP BY s.state, s.source, c.kind, c.text_version"
            )
        ).all()
        assert [tuple(s) for s in subs] == [
            ("active", "widget", "signup", "demo-v1", 96),
            ("notified", "widget", "signup", "demo-v1", PAST_SUBS),
        ]
        incoming = conn.execute(
            text("SELECT SUM(incoming) FROM inventory_levels WHERE store_id = :s"), {"s": result.store_id}
        ).scalar_one()
        open_po = conn.execute(
            text("SELECT SUM(quantity) FROM purchase_orders WHERE store_id = :s AND status = 'open'"),
            {"s": result.store_id},
        ).scalar_one()
        assert incoming == open_po > 0


@SEEDS
def test_the_seeded_past_waves_convert_through_attribution_and_chart_90_days(db: Database) -> None:
    result = seed_demo(db, variants=500, today=TODAY)
    now = datetime.combine(TODAY, time(9), tzinfo=UTC)
    with db.session() as session:
        converted = attribution.attribute_orders(session, result.store_id, now)
        store = session.get(Store, result.store_id)
        assert store is not None
        figures = funnel.store_funnels(session, store)
    assert converted == PAST_CONVERSIONS
    total = figures.total
    assert (total.emailed, total.clicked, total.bought) == (PAST_SUBS, PAST_CLICKS, PAST_CONVERSIONS)
    assert (total.signups, total.confirmed) == (PAST_SUBS + 96, PAST_SUBS + 96)
    assert total.revenue == PAST_REVENUE
    assert total.conversion_rate is not None and total.conversion_rate > 0
    assert len(figures.restocks) == 40
    assert figures.history_starts < TODAY - timedelta(days=30)
    with db.engine.connect() as conn:
        days = conn.execute(
            text("SELECT MIN(day), MAX(day), COUNT(DISTINCT day) FROM stock_state_history WHERE store_id = :s"),
            {"s": result.store_id},
        ).one()
        assert tuple(days) == (TODAY - timedelta(days=90), TODAY - timedelta(days=1), 90)
        # Every seeded day agrees with its status: sold out exactly when no stock was left.
        assert (
            conn.execute(
                text(
                    "SELECT COUNT(*) FROM stock_state_history WHERE store_id = :s"
                    " AND (sellable_quantity <= 0) <> (status = 'out_of_stock')"
                ),
                {"s": result.store_id},
            ).scalar_one()
            == 0
        )


@SEEDS
def test_reseeding_replaces_the_demo_store(db: Database) -> None:
    first = seed_demo(db, variants=500, today=TODAY)
    second = seed_demo(db, variants=500, today=TODAY)
    assert second.store_id != first.store_id
    assert second.counts == first.counts
    mine, everyone = _table_counts(db, second.store_id)
    assert mine == everyone == first.counts
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM stores WHERE platform = 'demo'")).scalar_one() == 1


def test_seed_into_sqlite(sqlite_db: Database) -> None:
    result = seed_demo(sqlite_db, variants=60, days=30, today=TODAY)
    assert result.past is not None
    expected = _expected(60, 30, result.past.subscriptions)
    assert result.counts == expected
    assert expected["orders"] == 194
    mine, everyone = _table_counts(sqlite_db, result.store_id)
    assert mine == everyone == expected
    with sqlite_db.engine.connect() as conn:
        assert conn.execute(SELLABLE_MISMATCHES, {"s": result.store_id}).scalar_one() == 0
        assert conn.execute(REFUNDED_MISMATCHES, {"s": result.store_id}).scalar_one() == 0
    with sqlite_db.session() as session:
        # Rows written in bulk read back through the ORM like any other.
        order = session.scalars(select(Order).order_by(Order.id).limit(1)).one()
        assert (order.name, order.currency, order.ordered_at.date()) == ("#1001", "EUR", date(2026, 10, 23))
        gift = session.scalars(select(Variant).order_by(Variant.id).limit(1)).one()
        assert (gift.options, gift.price, gift.tracked) == ({"Amount": "€25"}, Decimal("25.00"), False)
        product = session.scalars(select(Product).where(Product.published.is_(False))).one()
        assert (product.status, product.tags) == ("draft", ["basket", "coming-soon"])
    again = seed_demo(sqlite_db, variants=60, days=30, today=TODAY)
    assert _table_counts(sqlite_db, again.store_id)[1] == expected
