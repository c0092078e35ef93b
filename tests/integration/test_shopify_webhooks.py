"""POST /webhooks/shopify end to end: HMAC on the raw body, inbox, RQ worker, catalog and privacy effects."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from rq import SimpleWorker
from sqlalchemy import func, select

from app.config import Settings
from app.db import Database
from app.models import (
    ComplianceRequest,
    DirtyVariant,
    InventoryLevel,
    Order,
    OrderLine,
    Product,
    Refund,
    RefundLine,
    StockState,
    Store,
    Subscription,
    Variant,
    WebhookEvent,
)
from app.platforms import registry
from app.queue import RedisJobQueue
from app.runtime import Runtime, set_runtime
from app.services.ingest import sweeper
from tests.conftest import FIXTURES, TEST_REDIS_URL, AppFactory

pytestmark = pytest.mark.integration
FRONT = pytest.mark.truncating("the webhook front stores deliveries on its autocommit engine's own connections")

SECRET = "shpss_fixture_secret"
SHOP = "backsoon-demo.myshopify.com"
HOOKS = FIXTURES / "shopify" / "webhooks"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((HOOKS / f"{name}.json").read_text())
    return data


@dataclass
class Harness:
    app: Flask
    client: FlaskClient
    jobs: RedisJobQueue
    db: Database

    def post(self, name: str, **header_overrides: str) -> Any:
        hook = fixture(name)
        headers = {**hook["headers"], **header_overrides}
        return self.client.post("/webhooks/shopify", data=hook["body_text"].encode(), headers=headers)

    def work(self) -> None:
        SimpleWorker([self.jobs.queues["high"], self.jobs.queues["default"]], connection=self.jobs.connection).work(
            burst=True
        )

    def count(self, model: Any) -> int:
        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """The app's webhook secret and the one being rotated out."""
    return {"shopify_api_secret": SECRET, "shopify_api_secret_old": "shpss_previous"}


@pytest.fixture
def job_queue(redis_conn: Any) -> RedisJobQueue:
    """RQ on the test Redis; a test drains it with a SimpleWorker."""
    return RedisJobQueue(TEST_REDIS_URL)


@pytest.fixture
def harness(db: Database, app: Flask, job_queue: RedisJobQueue) -> Iterator[Harness]:
    with db.session() as s:
        s.add(Store(platform="shopify", domain=SHOP, name="BackSoon Demo", timezone="America/New_York"))
    yield Harness(app, app.test_client(), job_queue, db)


def store_id(h: Harness) -> int:
    with h.db.session() as s:
        return int(s.execute(select(Store.id).where(Store.domain == SHOP)).scalar_one())


@FRONT
def test_the_day_in_the_fixtures_builds_the_catalog_stock_and_orders(harness: Harness) -> None:
    h = harness
    for name in (
        "products-create",
        "products-update",
        "inventory_levels-update-available_0",
        "orders-create",
        "inventory_levels-update-available_7",
        "orders-paid",
        "orders-cancelled",
        "refunds-create",
        "inventory_items-update",
        "inventory_levels-update-available_null",
    ):
        resp = h.post(name)
        assert resp.status_code == 200, (name, resp.get_json())
        assert resp.get_json() == {"received": True, "duplicate": False, "processed": True}
    h.work()
    with h.db.session() as s:
        statuses = s.execute(select(WebhookEvent.topic, WebhookEvent.status, WebhookEvent.error)).all()
        assert {(t, st, e) for t, st, e in statuses} == {
            (t, "processed", None)
            for t in (
                "products/create",
                "products/update",
                "inventory_levels/update",
                "orders/create",
                "orders/paid",
                "orders/cancelled",
                "refunds/create",
                "inventory_items/update",
            )
        }
        variants = s.execute(
            select(Variant.sku, Variant.tracked, Variant.inventory_policy, Variant.price, Variant.sellable_quantity)
            .where(Variant.store_id == store_id(h))
            .order_by(Variant.sku)
        ).all()
        assert [tuple(v) for v in variants] == [
            ("LCA-NAT", True, "deny", Decimal("24.00"), 0),
            ("MCS-L", False, "continue", Decimal("94.00"), 0),
            ("MCS-M", True, "deny", Decimal("89.00"), 7),
            ("MCS-S", True, "deny", Decimal("89.00"), 0),
        ]
        levels = s.execute(
            select(Variant.sku, InventoryLevel.available)
            .join(Variant, Variant.id == InventoryLevel.variant_id)
            .order_by(Variant.sku)
        ).all()
        assert [tuple(r) for r in levels] == [("MCS-L", None), ("MCS-M", 7), ("MCS-S", 0)]
        orders = s.execute(
            select(Order.name, Order.financial_status, Order.cancelled_at.is_not(None)).order_by(Order.name)
        ).all()
        assert [tuple(o) for o in orders] == [("#1042", "paid", False), ("#1043", "voided", True)]
        lines = s.execute(
            select(Variant.sku, OrderLine.quantity, OrderLine.refunded_quantity, OrderLine.cancelled)
            .join(Variant, Variant.id == OrderLine.variant_id)
            .order_by(Variant.sku)
        ).all()
        assert [tuple(r) for r in lines] == [("LCA-NAT", 2, 1, False), ("MCS-L", 1, 0, True), ("MCS-M", 1, 1, False)]
        # The touched variants were recomputed by the collapsed per-store job.
        states = s.execute(
            select(Variant.sku, StockState.status, StockState.sellable_quantity)
            .join(Variant, Variant.id == StockState.variant_id)
            .order_by(Variant.sku)
        ).all()
        assert [tuple(r) for r in states] == [
            ("LCA-NAT", "out_of_stock", 0),
            ("MCS-L", "untracked", 0),
            ("MCS-M", "in_stock", 7),
            ("MCS-S", "out_of_stock", 0),
        ]


@pytest.mark.parametrize("name", sorted(p.stem for p in HOOKS.glob("*.json")))
def test_bad_or_missing_hmac_is_401_and_stores_nothing(harness: Harness, name: str) -> None:
    resp = harness.post(name, **{"X-Shopify-Hmac-Sha256": "bm90IHRoZSByaWdodCBobWFj"})
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "invalid_hmac"
    hook = fixture(name)
    headers = {k: v for k, v in hook["headers"].items() if k != "X-Shopify-Hmac-Sha256"}
    resp = harness.client.post("/webhooks/shopify", data=hook["body_text"].encode(), headers=headers)
    assert resp.status_code == 401
    assert harness.count(WebhookEvent) == 0
    assert harness.jobs.queues["high"].count == 0


@FRONT
def test_old_secret_still_verifies_during_rotation(make_app: AppFactory) -> None:
    app = make_app(shopify_api_secret="shpss_brand_new", shopify_api_secret_old=SECRET)
    hook = fixture("products-delete")
    resp = app.test_client().post("/webhooks/shopify", data=hook["body_text"].encode(), headers=hook["headers"])
    assert resp.status_code == 200


@FRONT
def test_duplicates_sequential_and_concurrent_are_stored_once(harness: Harness) -> None:
    assert harness.post("orders-create").get_json()["duplicate"] is False
    assert harness.post("orders-create").get_json()["duplicate"] is True
    results: list[int] = []

    def send() -> None:
        with harness.app.test_client() as c:
            hook = fixture("orders-paid")
            results.append(
                c.post("/webhooks/shopify", data=hook["body_text"].encode(), headers=hook["headers"]).status_code
            )

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 8
    with harness.db.session() as s:
        rows = s.execute(
            select(WebhookEvent.topic, func.count()).group_by(WebhookEvent.topic).order_by(WebhookEvent.topic)
        ).all()
    assert [tuple(r) for r in rows] == [("orders/create", 1), ("orders/paid", 1)]
    # One gated drain job for the whole burst, not one job per delivery.
    assert harness.jobs.queues["high"].count == 1


@FRONT
def test_same_event_with_a_new_webhook_id_is_a_new_delivery(harness: Harness) -> None:
    # Dedupe is on X-Shopify-Webhook-Id, never on the event id alone.
    harness.post("orders-paid")
    resp = harness.post("orders-paid", **{"X-Shopify-Webhook-Id": "0b1d7a7e-0000-4000-8000-000000000001"})
    assert resp.get_json()["duplicate"] is False
    assert harness.count(WebhookEvent) == 2


@FRONT
def test_out_of_order_older_update_never_overwrites_newer_state(harness: Harness) -> None:
    h = harness
    h.post("products-update")
    h.post("inventory_levels-update-available_7")
    h.work()
    # An older level for the same item and location (10:42 → 09:00), delivered late.
    late = fixture("inventory_levels-update-available_7")
    body = json.loads(late["body_text"])
    body["available"], body["updated_at"] = 99, "2026-10-14T09:00:00-04:00"
    raw = json.dumps(body).encode()
    sig = base64.b64encode(hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()).decode()
    headers = {**late["headers"], "X-Shopify-Hmac-Sha256": sig, "X-Shopify-Webhook-Id": "late-delivery-1"}
    assert h.client.post("/webhooks/shopify", data=raw, headers=headers).status_code == 200
    h.work()
    with h.db.session() as s:
        assert s.execute(select(InventoryLevel.available)).scalars().all() == [7]
        assert s.execute(select(Variant.sellable_quantity).where(Variant.sku == "MCS-M")).scalar_one() == 7
        late_event = s.execute(
            select(WebhookEvent.status).where(WebhookEvent.dedupe_key == "late-delivery-1")
        ).scalar_one()
    assert late_event == "processed"


@FRONT
def test_unknown_shop_is_acknowledged_and_ignored(harness: Harness) -> None:
    resp = harness.post("products-update", **{"X-Shopify-Shop-Domain": "someone-else.myshopify.com"})
    assert resp.status_code == 200
    assert resp.get_json() == {"received": True, "duplicate": False, "processed": False}
    assert harness.jobs.queues["high"].count == 0
    with harness.db.session() as s:
        ev = s.execute(select(WebhookEvent.store_id, WebhookEvent.status)).one()
    assert tuple(ev) == (None, "ignored")
    assert harness.count(Variant) == 0


def test_bad_headers_are_400_and_store_nothing(harness: Harness) -> None:
    resp = harness.post("products-update", **{"X-Shopify-Shop-Domain": "evil.example.com"})
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == "invalid_headers"
    assert harness.count(WebhookEvent) == 0


@FRONT
def test_redis_down_at_ingest_still_answers_200_and_sweeper_delivers(
    db: Database, redis_conn: Any, make_app: AppFactory
) -> None:
    settings = Settings(env="test", shopify_api_secret=SECRET)
    app = make_app(jobs=RedisJobQueue("redis://127.0.0.1:1/0"), shopify_api_secret_old=None)
    with db.session() as s:
        s.add(Store(platform="shopify", domain=SHOP, name="Demo"))
    hook = fixture("products-create")
    resp = app.test_client().post("/webhooks/shopify", data=hook["body_text"].encode(), headers=hook["headers"])
    assert resp.status_code == 200
    with db.session() as s:
        assert s.execute(select(WebhookEvent.status)).scalar_one() == "received"
    up = RedisJobQueue(TEST_REDIS_URL)
    set_runtime(Runtime(settings, db, up))
    with db.session() as s:
        sweeper.sweep(
            s, up, datetime.now(UTC) + timedelta(seconds=61), timedelta(seconds=60), sync_job=registry.sync_job_for
        )
    SimpleWorker([up.queues["high"]], connection=up.connection).work(burst=True)
    with db.session() as s:
        assert s.execute(select(WebhookEvent.status)).scalar_one() == "processed"
        assert s.execute(select(Variant.sku)).scalars().all() == ["LCA-NAT"]


def test_database_down_is_a_fast_503(make_app: AppFactory) -> None:
    dead = Database("postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    app = make_app(database=dead, shopify_api_secret_old=None)
    hook = fixture("products-create")
    resp = app.test_client().post("/webhooks/shopify", data=hook["body_text"].encode(), headers=hook["headers"])
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "30"
    assert resp.get_json()["error"]["code"] == "unavailable"


@FRONT
def test_compliance_topics_export_redact_and_erase(harness: Harness) -> None:
    h = harness
    for name in ("products-update", "orders-create", "orders-cancelled"):
        h.post(name)
    h.work()
    sid = store_id(h)
    with h.db.session() as s:
        v = s.execute(select(Variant).where(Variant.sku == "MCS-S")).scalar_one()
        s.add(Subscription(store_id=sid, variant_id=v.id, email="maya.chen@example.com"))
        s.add(Subscription(store_id=sid, variant_id=v.id, email="sam.ortiz@example.com"))
    h.post("customers-data_request")
    h.post("customers-redact")
    h.work()
    with h.db.session() as s:
        req = s.execute(
            select(ComplianceRequest).where(ComplianceRequest.kind == "customers/data_request")
        ).scalar_one()
        assert req.external_id == "2518237"
        assert [x["sku"] for x in (req.export or {})["waitlist_subscriptions"]] == ["MCS-S"]
        assert [o["order"] for o in (req.export or {})["orders"]] == ["#1042"]
        assert s.execute(select(Subscription.email)).scalars().all() == ["maya.chen@example.com"]
        emails = s.execute(select(Order.name, Order.email).order_by(Order.name)).all()
        assert [tuple(e) for e in emails] == [("#1042", "maya.chen@example.com"), ("#1043", None)]

    h.post("app-uninstalled")
    h.work()
    with h.db.session() as s:
        assert s.execute(select(Store.status)).scalar_one() == "uninstalled"
    # After uninstall ordinary topics are acknowledged and ignored; shop/redact is still honoured.
    assert h.post("products-create").get_json()["processed"] is False
    assert h.post("shop-redact").get_json()["processed"] is True
    h.work()
    assert h.count(Store) == 0
    assert h.count(Variant) == 0
    with h.db.session() as s:
        kinds = s.execute(
            select(ComplianceRequest.kind, ComplianceRequest.store_id).order_by(ComplianceRequest.id)
        ).all()
    assert [tuple(k) for k in kinds] == [
        ("customers/data_request", None),
        ("customers/redact", None),
        ("shop/redact", None),
    ]


def _resent(body: dict[str, Any], webhook_id: str) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    sig = base64.b64encode(hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()).decode()
    return raw, {
        **fixture("products-update")["headers"],
        "X-Shopify-Hmac-Sha256": sig,
        "X-Shopify-Webhook-Id": webhook_id,
    }


@FRONT
def test_a_products_update_that_changes_nothing_we_sync_is_an_echo(harness: Harness) -> None:
    # A metafield write (our storefront write-back) sends products/update with only updated_at new.
    h = harness
    h.post("products-update")
    h.work()
    snapshot = select(Product.__table__).order_by(Product.id), select(Variant.__table__).order_by(Variant.id)
    with h.db.session() as s:
        before = [[tuple(r) for r in s.execute(q)] for q in snapshot]
        s.execute(DirtyVariant.__table__.delete())
    body = json.loads(fixture("products-update")["body_text"])
    echo = {**body, "updated_at": "2026-10-14T10:43:05-04:00"}
    raw, headers = _resent(echo, "echo-delivery-1")
    assert h.client.post("/webhooks/shopify", data=raw, headers=headers).status_code == 200
    h.work()
    with h.db.session() as s:
        assert [[tuple(r) for r in s.execute(q)] for q in snapshot] == before
        assert s.scalar(select(func.count()).select_from(DirtyVariant)) == 0
        statuses = s.execute(select(WebhookEvent.dedupe_key, WebhookEvent.status).order_by(WebhookEvent.id)).all()
        assert [tuple(r) for r in statuses] == [
            (fixture("products-update")["headers"]["X-Shopify-Webhook-Id"], "processed"),
            ("echo-delivery-1", "echo"),
        ]
    # The same save with a real price change is applied.
    variants = [{**v, "price": "79.00"} if i == 0 else v for i, v in enumerate(body["variants"])]
    raw, headers = _resent({**echo, "updated_at": "2026-10-14T10:44:00-04:00", "variants": variants}, "real-change-1")
    assert h.client.post("/webhooks/shopify", data=raw, headers=headers).status_code == 200
    h.work()
    with h.db.session() as s:
        status = s.execute(select(WebhookEvent.status).where(WebhookEvent.dedupe_key == "real-change-1")).scalar_one()
        assert status == "processed"
        price = s.execute(
            select(Variant.price).where(Variant.external_id == str(body["variants"][0]["id"]))
        ).scalar_one()
        assert price == Decimal("79.00")


@FRONT
def test_a_refund_from_refunds_create_and_again_in_orders_updated_counts_once(harness: Harness) -> None:
    # Shopify sends refunds/create and an orders/updated whose `refunds` embeds the same refund object.
    h = harness
    for name in ("products-create", "orders-create", "orders-paid", "refunds-create"):
        assert h.post(name).status_code == 200
    h.work()
    order = json.loads(fixture("orders-paid")["body_text"])
    order["refunds"] = [json.loads(fixture("refunds-create")["body_text"])]
    order["updated_at"] = "2026-10-14T11:20:00-04:00"
    raw = json.dumps(order).encode()
    sig = base64.b64encode(hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()).decode()
    headers = {
        **fixture("orders-paid")["headers"],
        "X-Shopify-Topic": "orders/updated",
        "X-Shopify-Hmac-Sha256": sig,
        "X-Shopify-Webhook-Id": "orders-updated-with-refund-1",
    }
    assert h.client.post("/webhooks/shopify", data=raw, headers=headers).status_code == 200
    h.work()
    with h.db.session() as s:
        status = s.execute(
            select(WebhookEvent.status).where(WebhookEvent.dedupe_key == "orders-updated-with-refund-1")
        ).scalar_one()
        assert status == "processed"
        lines = s.execute(
            select(OrderLine.external_id, OrderLine.quantity, OrderLine.refunded_quantity).order_by(OrderLine.id)
        ).all()
        assert [tuple(r) for r in lines] == [("15234567890125", 1, 1), ("15234567922893", 2, 1)]
        assert s.scalar(select(func.count()).select_from(Refund)) == 1
        assert s.scalar(select(func.count()).select_from(RefundLine)) == 2
