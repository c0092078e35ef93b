"""The merchant dashboard on a small hand-built store: headline figures, trends, tables, the variant page, and
that one store never sees another's rows."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.db import Database
from app.models import (
    Delivery,
    Order,
    OrderLine,
    Product,
    StockEvent,
    StockState,
    StockStateHistory,
    Store,
    Subscription,
    SyncRun,
    Variant,
)
from app.services.merchant import dashboard, identity
from app.services.stock.recompute import store_today
from app.web.admin import plan as admin_plan
from app.web.admin.auth import session_fields
from tests.unit.test_shopify_auth import API_KEY, API_SECRET, SHOP, make_session_token

pytestmark = pytest.mark.integration

ZONE = ZoneInfo("Europe/Amsterdam")
HOST = "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYmFja3Nvb24tZGVtbw"


@dataclass
class Shop:
    client: FlaskClient
    db: Database
    a: int
    b: int
    v: dict[str, int]
    today: date
    now: datetime

    def sign_in(self, store_id: int) -> None:
        with self.client.session_transaction() as sess:
            sess.update(session_fields(store_id, 0))


def _state(store_id: int, variant_id: int, **values: Any) -> StockState:
    defaults: dict[str, Any] = {
        "sellable_quantity": 0,
        "velocity": 0.0,
        "velocity_windows": [],
        "status": "in_stock",
        "badge_kind": "none",
        "signal": "ok",
        "signal_reason": "healthy",
        "priority": 0.0,
        "waitlist_open": 0,
        "incoming_quantity": 0,
        "lead_time_days": 14,
        "reasons": [],
    }
    return StockState(store_id=store_id, variant_id=variant_id, **{**defaults, **values})


def _local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), ZONE).astimezone(UTC)


def _build(db: Database) -> tuple[int, int, dict[str, int], date, datetime]:
    now = datetime.now(UTC)
    with db.session() as s:
        a = Store(platform="shopify", domain=SHOP, name="Alpha Shop", timezone="Europe/Amsterdam", currency="EUR")
        b = Store(platform="woocommerce", domain="beta.example", name="Beta Shop", admin_email="b@beta.example")
        s.add_all([a, b])
        s.flush()
        today = store_today(a, now)
        v: dict[str, int] = {}
        for store, sku in ((a, "A-OUT"), (a, "A-LOW"), (a, "A-WAIT"), (a, "A-IDLE"), (b, "B-SECRET")):
            product = Product(store_id=store.id, external_id=f"p-{sku}", title=f"Product {sku}")
            s.add(product)
            s.flush()
            variant = Variant(
                store_id=store.id, product_id=product.id, external_id=f"v-{sku}", sku=sku, title="Default Title"
            )
            s.add(variant)
            s.flush()
            v[sku] = variant.id
        s.add_all(
            [
                _state(
                    a.id,
                    v["A-OUT"],
                    status="out_of_stock",
                    signal="pause",
                    signal_reason="out_of_stock",
                    priority=50.0,
                    waitlist_open=3,
                    velocity=2.5,
                    stockout_on=today,
                    reasons=["Out of stock: 0 units"],
                ),
                _state(
                    a.id,
                    v["A-LOW"],
                    sellable_quantity=8,
                    velocity=2.0,
                    sales_days=41,
                    days_on_hand=4.0,
                    status="low_stock",
                    signal="throttle",
                    signal_reason="days_on_hand_below_lead_time",
                    priority=20.0,
                    waitlist_open=1,
                    stockout_on=today + timedelta(days=4),
                    reorder_by=today,
                    suggested_reorder_qty=36,
                ),
                _state(a.id, v["A-WAIT"], sellable_quantity=30, days_on_hand=60.0, priority=1.0, waitlist_open=2),
                _state(a.id, v["A-IDLE"], sellable_quantity=5, priority=0.0),
                _state(b.id, v["B-SECRET"], status="out_of_stock", signal="pause", priority=99.0, waitlist_open=1),
            ]
        )
        # Daily history: nothing before three days ago (a gap), then A-OUT sells down and A-LOW turns low today.
        for offset, out_status, out_signal, low_status, low_signal in (
            (2, "in_stock", "ok", "in_stock", "ok"),
            (1, "low_stock", "throttle", "in_stock", "ok"),
            (0, "out_of_stock", "pause", "low_stock", "throttle"),
        ):
            day = today - timedelta(days=offset)
            s.add_all(
                [
                    StockStateHistory(
                        store_id=a.id,
                        variant_id=v["A-OUT"],
                        day=day,
                        sellable_quantity=2 * offset,
                        velocity=2.5,
                        days_on_hand=None if offset == 0 else 0.8 * offset,
                        status=out_status,
                        signal=out_signal,
                    ),
                    StockStateHistory(
                        store_id=a.id,
                        variant_id=v["A-LOW"],
                        day=day,
                        sellable_quantity=8 + offset,
                        velocity=2.0,
                        days_on_hand=4.0 + offset,
                        status=low_status,
                        signal=low_signal,
                    ),
                ]
            )
        s.add(
            StockStateHistory(
                store_id=b.id,
                variant_id=v["B-SECRET"],
                day=today,
                sellable_quantity=0,
                velocity=1.0,
                days_on_hand=None,
                status="out_of_stock",
                signal="pause",
            )
        )

        def sub(variant: str, email: str, created: datetime, state: str = "active", **kw: Any) -> Subscription:
            row = Subscription(
                store_id=a.id if variant.startswith("A") else b.id,
                variant_id=v[variant],
                email=email,
                state=state,
                created_at=created,
                updated_at=created,
                **kw,
            )
            s.add(row)
            s.flush()
            return row

        sub("A-OUT", "s1@x.test", _local(today - timedelta(days=5), 10))
        sub("A-OUT", "s2@x.test", _local(today - timedelta(days=2), 10))
        # 00:30 in Amsterdam is still yesterday in UTC: it must count on the store's today.
        sub("A-OUT", "s3@x.test", _local(today, 0, 30), state="pending_confirmation")
        sub("A-LOW", "s4@x.test", _local(today - timedelta(days=1), 9))
        sub("A-WAIT", "s5@x.test", _local(today - timedelta(days=3), 9))
        sub("A-WAIT", "s6@x.test", _local(today - timedelta(days=1), 9))
        s7 = sub(
            "A-OUT",
            "s7@x.test",
            _local(today - timedelta(days=10), 9),
            state="converted",
            notified_at=_local(today - timedelta(days=4), 12),
            converted_at=_local(today - timedelta(days=3), 12),
        )
        s8 = sub(
            "A-LOW",
            "s8@x.test",
            _local(today - timedelta(days=6), 9),
            state="unsubscribed",
            unsubscribed_at=_local(today - timedelta(days=6), 23, 30),
        )
        sub("B-SECRET", "b@x.test", _local(today - timedelta(days=1), 9))

        e1 = StockEvent(
            store_id=a.id,
            variant_id=v["A-OUT"],
            kind="restock",
            quantity_before=0,
            quantity_after=5,
            occurred_at=_local(today - timedelta(days=4), 11),
        )
        e2 = StockEvent(
            store_id=a.id,
            variant_id=v["A-LOW"],
            kind="restock",
            quantity_before=0,
            quantity_after=3,
            occurred_at=_local(today - timedelta(days=6), 11),
        )
        s.add_all([e1, e2])
        s.flush()
        s.add_all(
            [
                Delivery(
                    store_id=a.id,
                    subscription_id=s7.id,
                    stock_event_id=e1.id,
                    status="sent",
                    claimed_at=_local(today - timedelta(days=4), 12),
                    sent_at=_local(today - timedelta(days=4), 12),
                    converted_at=_local(today - timedelta(days=3), 12),
                    conversion_kind="direct",
                    revenue=Decimal("40.00"),
                ),
                Delivery(
                    store_id=a.id,
                    subscription_id=s8.id,
                    stock_event_id=e2.id,
                    status="sent",
                    claimed_at=_local(today - timedelta(days=6), 12),
                    sent_at=_local(today - timedelta(days=6), 12),
                ),
            ]
        )

        def sale(days_ago: int, hour: int, qty: int, *, refunded: int = 0, cancelled: bool = False) -> None:
            at = _local(today - timedelta(days=days_ago), hour, 30)
            order = Order(store_id=a.id, external_id=f"o{days_ago}-{hour}-{qty}", ordered_at=at)
            s.add(order)
            s.flush()
            s.add(
                OrderLine(
                    store_id=a.id,
                    order_id=order.id,
                    variant_id=v["A-OUT"],
                    external_id="l1",
                    quantity=qty,
                    refunded_quantity=refunded,
                    ordered_at=at,
                    cancelled=cancelled,
                )
            )

        sale(2, 12, 3)
        sale(2, 13, 2, refunded=1)
        sale(1, 12, 5, cancelled=True)
        sale(0, 0, 4)
        s.add(SyncRun(store_id=a.id, kind="initial", status="running", phase="products", done=50, total=200, counts={}))
        return a.id, b.id, v, today, now


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Signed-in through the embedded Shopify app as well as the standalone admin."""
    return {"app_url": "http://backsoon.test", "shopify_api_key": API_KEY, "shopify_api_secret": API_SECRET}


@pytest.fixture
def shop(db: Database, client: FlaskClient) -> Iterator[Shop]:
    a, b, v, today, now = _build(db)
    yield Shop(client, db, a, b, v, today, now)


def _skus(html: str, table_id: str) -> list[str]:
    match = re.search(rf'<table id="{table_id}">(.*?)</table>', html, re.S)
    assert match is not None, f"no table {table_id}"
    return re.findall(r"/admin/variants/\d+[^>]*>([A-Z-]+)</a>", match.group(1))


def _days(today: date, n: int) -> list[date]:
    return [today - timedelta(days=n - 1 - i) for i in range(n)]


# ---------------------------------------------------------------------------------------------
# Service figures
# ---------------------------------------------------------------------------------------------


def test_headline_figures_count_now_and_all_time_emails(shop: Shop) -> None:
    from app.services.merchant.stock_views import store_counts

    with shop.db.session() as s:
        store = s.get(Store, shop.a)
        assert store is not None
        figures = dashboard.headline(s, store, store_counts(s, shop.a))
    assert figures == dashboard.Headline(
        variants=4,
        at_risk=2,
        sold_out=1,
        low_stock=1,
        waitlist_open=6,
        emails_sent=2,
        conversions=1,
        conversion_rate=0.5,
        revenue=Decimal("40.00"),
        currency="EUR",
    )


def test_trends_are_per_store_day_with_gaps_where_nothing_was_computed(shop: Shop) -> None:
    with shop.db.session() as s:
        store = s.get(Store, shop.a)
        assert store is not None
        trends = dashboard.trends(s, store, shop.now)
    days = _days(shop.today, 30)
    assert trends["at_risk"].days == days
    assert trends["at_risk"].values == [None] * 27 + [0.0, 1.0, 2.0]
    assert trends["sold_out"].values == [None] * 27 + [0.0, 0.0, 1.0]
    # End-of-day waitlist: s7 from day -10 until its email on day -4; s8 joined and left on day -6.
    assert trends["waitlist_open"].values == [0.0] * 19 + [1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 1.0, 2.0, 3.0, 5.0, 6.0]
    assert trends["waitlist_open"].last == 6.0
    sent = [0.0] * 30
    sent[-7] = 1.0  # day -6
    sent[-5] = 1.0  # day -4
    assert trends["emails_sent"].values == sent
    assert trends["emails_sent"].total == 2.0
    converted = [0.0] * 30
    converted[-4] = 1.0  # day -3
    assert trends["conversions"].values == converted
    revenue = [0.0] * 30
    revenue[-4] = 40.0
    assert trends["revenue"].values == revenue


def test_variant_series_nets_refunds_drops_cancellations_and_buckets_by_store_day(shop: Shop) -> None:
    with shop.db.session() as s:
        store = s.get(Store, shop.a)
        assert store is not None
        series = dashboard.variant_series(s, store, shop.v["A-OUT"], shop.now)
    assert series.sales.days == _days(shop.today, 90)
    assert series.sales.values[-3:] == [4.0, 0.0, 4.0]  # 3 + (2 − 1 refunded); cancelled 5; 4 at 00:30 today
    assert series.sales.total == 8.0
    assert series.signups.values[-11:] == [1.0, 0, 0, 0, 0, 1.0, 0, 0, 1.0, 0, 1.0]
    assert series.signups.total == 4.0
    assert series.stock.values[-4:] == [None, 4.0, 2.0, 0.0]
    assert series.days_on_hand.values[-4:] == [None, 1.6, 0.8, None]


# ---------------------------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------------------------


def test_the_dashboard_writes_money_as_the_store_does_and_times_on_the_stores_clock(shop: Shop) -> None:
    with shop.db.session() as s:
        store = s.get(Store, shop.a)
        assert store is not None
        # What the Shopify read reports for a Dutch shop (moneyInEmailsFormat "€{{amount_with_comma_separator}}").
        identity.record_reported(
            store,
            {
                "name": "Alpha Shop",
                "timezone": "Europe/Amsterdam",
                "currency": "EUR",
                "money_format": {"pattern": "€{amount}", "thousands": ".", "decimal": ",", "decimals": 2},
            },
            shop.now,
        )
        store.last_recomputed_at = datetime(2026, 7, 1, 12, 5, tzinfo=UTC)
        s.commit()
    shop.sign_in(shop.a)
    html = shop.client.get("/admin/").get_data(as_text=True)
    assert 'id="stat-revenue">€40,00<' in html
    assert "Figures computed 2026-07-01 14:05 CEST." in html
    assert "EUR" not in html.split('id="stat-revenue">', 1)[1].split("</dd>", 1)[0]
    # A currency set here that is not the one the store reported: the store's format does not apply to it.
    with shop.db.session() as s:
        store = s.get(Store, shop.a)
        assert store is not None
        identity.set_overrides(store, {"currency": "USD"})
        s.commit()
    assert 'id="stat-revenue">40.00 USD<' in shop.client.get("/admin/").get_data(as_text=True)


def test_the_dashboard_shows_the_figures_sync_progress_and_both_tables(shop: Shop) -> None:
    shop.sign_in(shop.a)
    resp = shop.client.get("/admin/")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert re.search(r'id="stat-at-risk">2<', html)
    assert re.search(r'id="stat-sold-out">1<', html)
    assert re.search(r'id="stat-waitlist">6<', html)
    assert re.search(r'id="stat-emails">2<', html)
    assert re.search(r'id="stat-conversions">1<', html)
    assert 'id="stat-revenue">40.00 EUR<' in html
    assert "(50% of emails)" in html
    # Initial sync: phase 2 of 4 (products), 50 of 200 done → (1 + 0.25) / 4 = 31.25 → 31.2 %.
    assert '<progress id="sync-progress" max="100" value="31.2">' in html
    assert "products (50 of 200)" in html
    assert _skus(html, "at-risk-table") == ["A-OUT", "A-LOW"]
    assert _skus(html, "demand-table") == ["A-OUT", "A-LOW", "A-WAIT"]
    assert html.count('<svg class="spark"') == 6
    assert "B-SECRET" not in html and "Beta Shop" not in html


def test_a_sync_being_retried_shows_why_and_a_stopped_one_its_reason(shop: Shop) -> None:
    shop.sign_in(shop.a)
    assert 'id="sync-retrying"' not in shop.client.get("/admin/").get_data(as_text=True)
    with shop.db.session() as s:
        run = s.execute(select(SyncRun).where(SyncRun.store_id == shop.a)).scalar_one()
        # Failed twice where it stands (products, 50 done): shown while the sweeper retries it.
        run.cursor = {"failed_steps": 2, "failed_at": ["products", 50]}
        run.error = "attempt 2 failed: TransientError: GET products: HTTP 503 Service Unavailable"
    html = shop.client.get("/admin/").get_data(as_text=True)
    assert (
        '<p class="sync-retrying" id="sync-retrying">Retrying every minute: attempt 2 failed: TransientError: '
        "GET products: HTTP 503 Service Unavailable. It stops with this reason if it cannot get past this point.</p>"
    ) in html
    assert '<progress id="sync-progress" max="100" value="31.2">' in html
    with shop.db.session() as s:
        run = s.execute(select(SyncRun).where(SyncRun.store_id == shop.a)).scalar_one()
        run.done = 60  # it got further since: an older failure is not news
    assert 'id="sync-retrying"' not in shop.client.get("/admin/").get_data(as_text=True)


def test_the_at_risk_table_explains_days_on_hand_and_the_signal(shop: Shop) -> None:
    shop.sign_in(shop.a)
    html = shop.client.get("/admin/at-risk").get_data(as_text=True)
    assert _skus(html, "at-risk-table") == ["A-OUT", "A-LOW"]
    row = re.search(r">A-LOW</a>.*?</tr>", html, re.S)
    assert row is not None
    cells = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row.group(0)))
    stockout = (shop.today + timedelta(days=4)).isoformat()
    # The ads signal comes right after the SKU; the velocity says what it is based on; reorder-by today is not overdue.
    assert cells.startswith(">A-LOW throttle Days on hand below lead time + safety days")
    assert (
        f"low stock Settings 8 0 36 {shop.today.isoformat()} 4 / 14 below lead time {stockout} 2 from 41 days of sales"
        in cells
    )
    assert "overdue" not in cells
    assert "stock runs out before a reorder placed today could arrive" in cells
    assert "B-SECRET" not in html


def test_at_risk_filters_and_pages(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    shop.sign_in(shop.a)
    assert _skus(shop.client.get("/admin/at-risk?status=out_of_stock").get_data(as_text=True), "at-risk-table") == [
        "A-OUT"
    ]
    assert _skus(shop.client.get("/admin/at-risk?signal=throttle").get_data(as_text=True), "at-risk-table") == ["A-LOW"]
    assert "No variant at risk matches this filter" in shop.client.get("/admin/at-risk?status=in_stock").get_data(
        as_text=True
    )
    monkeypatch.setattr(admin_plan, "PER_PAGE", 1)
    first = shop.client.get("/admin/at-risk").get_data(as_text=True)
    assert _skus(first, "at-risk-table") == ["A-OUT"]
    assert 'rel="next" href="/admin/at-risk?page=2"' in first
    second = shop.client.get("/admin/at-risk?page=2").get_data(as_text=True)
    assert _skus(second, "at-risk-table") == ["A-LOW"]
    assert 'rel="prev" href="/admin/at-risk?page=1"' in second
    assert "Page 3 is past the end" in shop.client.get("/admin/at-risk?page=3").get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "field"),
    [("status=sold", "status"), ("signal=stop", "signal"), ("page=0", "page"), ("page=x", "page")],
)
def test_bad_filters_are_a_400_naming_the_field(shop: Shop, query: str, field: str) -> None:
    shop.sign_in(shop.a)
    resp = shop.client.get(f"/admin/at-risk?{query}")
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert f'<p class="field-error" id="{field}-error">' in html
    assert 'id="at-risk-table"' not in html


def test_the_demand_table_ranks_by_priority_with_the_oldest_signup(shop: Shop) -> None:
    shop.sign_in(shop.a)
    html = shop.client.get("/admin/demand").get_data(as_text=True)
    assert _skus(html, "demand-table") == ["A-OUT", "A-LOW", "A-WAIT"]
    row = re.search(r"<tr>\s*<td class=\"num\">1</td>.*?</tr>", html, re.S)
    assert row is not None
    cells = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row.group(0))).strip()
    oldest = (shop.today - timedelta(days=5)).isoformat()
    assert cells.startswith(f"1 A-OUT Product A-OUT out of stock 3 {oldest}")
    assert "50 0 0" in cells  # priority, sellable, incoming
    assert shop.client.get("/admin/demand?page=-1").status_code == 400


def test_the_variant_page_draws_four_charts_with_their_figures(shop: Shop) -> None:
    shop.sign_in(shop.a)
    resp = shop.client.get(f"/admin/variants/{shop.v['A-OUT']}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert html.count('<svg class="chart"') == 4
    for chart in ("chart-stock", "chart-days-on-hand", "chart-sales", "chart-signups"):
        assert f'<figure id="{chart}">' in html
    assert "<title>Units sold per day, net of cancellations and refunds, last 90 days</title>" in html
    assert f"<title>{shop.today.isoformat()}: 4 units</title>" in html
    assert "Units sold per day (8 in total)" in html
    assert "Waitlist signups per day (4 in total)" in html
    assert "<title>Lead time: 14 days</title>" in html
    assert html.count('class="chart-bar"') == 2 + 4  # two sale days, four signup days


def test_another_stores_variant_is_a_404_and_never_shown(shop: Shop) -> None:
    shop.sign_in(shop.a)
    for path in (f"/admin/variants/{shop.v['B-SECRET']}", "/admin/variants/999999999", f"/admin/variants/{2**63}"):
        resp = shop.client.get(path)
        assert resp.status_code == 404, path
        assert "B-SECRET" not in resp.get_data(as_text=True)
    # Store B signed in sees only its own rows.
    shop.sign_in(shop.b)
    html = shop.client.get("/admin/").get_data(as_text=True)
    assert _skus(html, "at-risk-table") == ["B-SECRET"]
    assert re.search(r'id="stat-waitlist">1<', html)
    assert "A-OUT" not in html and "Alpha Shop" not in html
    assert shop.client.get(f"/admin/variants/{shop.v['A-OUT']}").status_code == 404
    assert shop.client.get(f"/admin/variants/{shop.v['B-SECRET']}").status_code == 200


def test_embedded_links_keep_shop_and_host(shop: Shop) -> None:
    token = make_session_token()
    resp = shop.client.get(f"/admin/?shop={SHOP}&host={HOST}&embedded=1&id_token={token}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert f'href="/admin/variants/{shop.v["A-OUT"]}?shop={SHOP}&amp;host={HOST}&amp;embedded=1"' in html
    assert f'href="/admin/at-risk?shop={SHOP}&amp;host={HOST}&amp;embedded=1"' in html


def test_signed_out_dashboard_pages_redirect_to_sign_in(shop: Shop) -> None:
    for path in ("/admin/", "/admin/at-risk", "/admin/demand", f"/admin/variants/{shop.v['A-OUT']}"):
        assert shop.client.get(path).status_code == 302
