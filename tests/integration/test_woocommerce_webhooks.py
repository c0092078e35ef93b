"""POST /webhooks/woocommerce/<store_id> end to end with the captured deliveries of a real WooCommerce 9.4 store."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from rq import SimpleWorker
from sqlalchemy import func, select, update

from app.config import Settings
from app.db import Database
from app.infra.crypto import cipher_for
from app.models import InventoryLevel, Order, OrderLine, Product, Store, Variant, WebhookEvent
from app.queue import RedisJobQueue
from app.services import catalog
from integrations.woocommerce.payloads import parse_product
from tests.conftest import FIXTURES, TEST_REDIS_URL
from tests.factories import RecordingQueue

pytestmark = pytest.mark.integration

WOO = FIXTURES / "woocommerce"
SETTINGS = Settings(env="test")


def hook(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((WOO / "webhooks" / f"{name}.json").read_text())
    return data


def rest(name: str) -> Any:
    return json.loads((WOO / "rest" / f"{name}.json").read_text())["body"]


@dataclass
class Harness:
    client: FlaskClient
    jobs: RedisJobQueue
    db: Database
    store_id: int

    def post(self, name: str, store_id: int | None = None, **override: str) -> Any:
        h = hook(name)
        headers = {k: v for k, v in h["headers"].items() if k not in ("Host", "Content-Length", "Connection")}
        headers.update(override)
        return self.client.post(
            f"/webhooks/woocommerce/{store_id or self.store_id}",
            data=base64.b64decode(h["body_base64"]),
            headers=headers,
        )

    def work(self) -> None:
        SimpleWorker([self.jobs.queues["high"], self.jobs.queues["default"]], connection=self.jobs.connection).work(
            burst=True
        )


@pytest.fixture
def job_queue(redis_conn: Any) -> RedisJobQueue:
    """RQ on the test Redis; a test drains it with a SimpleWorker."""
    return RedisJobQueue(TEST_REDIS_URL)


@pytest.fixture
def harness(db: Database, client: FlaskClient, job_queue: RedisJobQueue) -> Iterator[Harness]:
    with db.session() as s:
        store = Store(
            platform="woocommerce",
            domain="127.0.0.1:8091",
            name="Fixture store",
            timezone="America/New_York",
            webhook_secret_encrypted=cipher_for(SETTINGS).encrypt(b"wc-fixture-secret"),
        )
        s.add(store)
        s.flush()
        sid = store.id
        # What the initial REST sync would have stored: the Hoodie with its three variations.
        update = parse_product(rest("product-variable"), rest("product-variations-list"))
        catalog.apply_products(s, RecordingQueue(), sid, [update.product])
        catalog.apply_inventory(s, RecordingQueue(), sid, list(update.inventory))
    yield Harness(client, job_queue, db, sid)


def test_ping_is_answered_and_not_stored(harness: Harness) -> None:
    h = hook("ping-webhook-1")
    resp = harness.client.post(
        f"/webhooks/woocommerce/{harness.store_id}",
        data=base64.b64decode(h["body_base64"]),
        headers={"Content-Type": h["headers"]["Content-Type"]},
    )
    assert (resp.status_code, resp.get_json()) == (200, {"ping": True, "webhook_id": 1})
    with harness.db.session() as s:
        assert s.scalar(select(func.count()).select_from(WebhookEvent)) == 0


def test_the_captured_deliveries_build_stock_and_orders(harness: Harness) -> None:
    h = harness
    names = [
        "04-product-created",
        "01-product-updated-simple-stock-to-0",
        "02-product-updated-simple-stock-to-5",
        "03-product-updated-variation-stock",
        "06-order-created",
        "07-order-updated-on-create",
        "08-product-updated-simple-after-order",
        "09-product-updated-variation-after-order",
        "10-order-updated-status-completed",
        "11-product-updated-variable-parent-stock",
        "05-product-deleted-trash",
    ]
    for name in names:
        resp = h.post(name)
        assert resp.status_code == 200, (name, resp.get_json())
        assert resp.get_json()["duplicate"] is False, name
    h.work()
    with h.db.session() as s:
        events = s.execute(select(WebhookEvent.topic, WebhookEvent.status, WebhookEvent.error)).all()
        assert {(e.status, e.error) for e in events} == {("processed", None)}
        assert len(events) == 11
        stock = s.execute(
            select(Variant.sku, Variant.sellable_quantity, Variant.stock_from_parent, Variant.deleted_at.is_(None))
            .where(Variant.store_id == h.store_id)
            .order_by(Variant.sku)
        ).all()
        assert [tuple(r) for r in stock] == [
            ("WCF-HOODIE-L", 6, True, True),  # follows the parent's 6 with no delivery of its own
            ("WCF-HOODIE-M", 2, False, True),
            ("WCF-HOODIE-S", 4, False, True),
            ("WCF-STICKER", 50, False, False),  # created, then trashed
            ("WCF-TEE", 4, False, True),
        ]
        order = s.execute(select(Order.external_id, Order.status, Order.email)).one()
        assert tuple(order) == ("25", "open", "erin@example.test")
        lines = s.execute(
            select(Variant.sku, OrderLine.quantity)
            .join(Variant, Variant.id == OrderLine.variant_id)
            .order_by(Variant.sku)
        ).all()
        assert [tuple(r) for r in lines] == [("WCF-HOODIE-M", 1), ("WCF-TEE", 1)]
        assert s.execute(select(Product.title).where(Product.external_id == "24")).scalar_one() == "Sticker Pack"
        assert s.scalar(select(func.count()).select_from(InventoryLevel)) == 5


def test_identical_retry_collapses_but_created_and_updated_are_both_kept(harness: Harness) -> None:
    assert harness.post("06-order-created").get_json()["duplicate"] is False
    assert harness.post("06-order-created").get_json()["duplicate"] is True
    assert harness.post("07-order-updated-on-create").get_json()["duplicate"] is False
    # 08 and 09 share an X-WC-Webhook-Delivery-ID, yet are different deliveries.
    assert harness.post("08-product-updated-simple-after-order").get_json()["duplicate"] is False
    assert harness.post("09-product-updated-variation-after-order").get_json()["duplicate"] is False
    with harness.db.session() as s:
        assert s.scalar(select(func.count()).select_from(WebhookEvent)) == 4


def test_bad_signature_unknown_store_and_bad_headers_store_nothing(harness: Harness) -> None:
    resp = harness.post("01-product-updated-simple-stock-to-0", **{"X-WC-Webhook-Signature": "AAAA"})
    assert (resp.status_code, resp.get_json()["error"]["code"]) == (401, "invalid_signature")
    resp = harness.post("01-product-updated-simple-stock-to-0", store_id=987654)
    assert (resp.status_code, resp.get_json()["error"]["code"]) == (404, "not_found")
    resp = harness.post("01-product-updated-simple-stock-to-0", **{"X-WC-Webhook-Topic": "nonsense"})
    assert (resp.status_code, resp.get_json()["error"]["code"]) == (400, "invalid_headers")
    with harness.db.session() as s:
        assert s.scalar(select(func.count()).select_from(WebhookEvent)) == 0
        price = s.execute(select(Variant.price).where(Variant.sku == "WCF-HOODIE-S")).scalar_one()
    assert price == Decimal("45.00")


def _signed_order_deleted(order_id: int) -> tuple[bytes, dict[str, str]]:
    """An order.deleted delivery as WooCommerce builds it for a deleted resource: only ``{"id": N}``, signed."""
    import hashlib
    import hmac

    body = json.dumps({"id": order_id}, separators=(",", ":")).encode()
    headers = {k: v for k, v in hook("06-order-created")["headers"].items() if k.startswith("X-WC-Webhook-")}
    headers.update(
        {
            "Content-Type": "application/json",
            "X-WC-Webhook-Topic": "order.deleted",
            "X-WC-Webhook-Event": "deleted",
            "X-WC-Webhook-Delivery-ID": "d" * 32,
            "X-WC-Webhook-Signature": base64.b64encode(
                hmac.new(b"wc-fixture-secret", body, hashlib.sha256).digest()
            ).decode(),
        }
    )
    return body, headers


def test_order_deleted_cancels_the_order_and_marks_its_variants_dirty(harness: Harness) -> None:
    from app.models import DirtyVariant

    h = harness
    assert h.post("06-order-created").status_code == 200
    h.work()
    with h.db.session() as s:
        # The harness store has no REST keys, so the storefront publish that followed disconnected it.
        s.execute(update(Store).values(status="active", status_reason=None))
    body, headers = _signed_order_deleted(25)
    resp = h.client.post(f"/webhooks/woocommerce/{h.store_id}", data=body, headers=headers)
    assert resp.get_json() == {"received": True, "duplicate": False, "processed": True}
    with h.db.session() as s:
        # Before any worker runs: the delivery is only recorded.
        assert s.execute(select(Order.status)).scalar_one() == "open"
    # Only the inbox: the drain job runs the handler and enqueues the recompute, which is left queued.
    SimpleWorker([h.jobs.queues["high"]], connection=h.jobs.connection).work(burst=True, max_jobs=1)
    with h.db.session() as s:
        event = s.execute(select(WebhookEvent.status, WebhookEvent.error).where(WebhookEvent.topic == "order.deleted"))
        assert tuple(event.one()) == ("processed", None)
        order = s.execute(select(Order.status, Order.cancelled_at.is_not(None))).one()
        assert tuple(order) == ("deleted", True)
        assert s.execute(select(OrderLine.cancelled)).scalars().all() == [True, True]
        dirty = s.execute(
            select(Variant.sku, DirtyVariant.reason).join(DirtyVariant, DirtyVariant.variant_id == Variant.id)
        ).all()
        # Order 25 holds one hoodie (M) and one tee; the tee is not synced in this harness, so only M resolves.
        assert [tuple(r) for r in dirty] == [("WCF-HOODIE-M", "order_deleted")]


def test_order_deleted_for_an_unknown_order_changes_nothing(harness: Harness) -> None:
    body, headers = _signed_order_deleted(999)
    resp = harness.client.post(f"/webhooks/woocommerce/{harness.store_id}", data=body, headers=headers)
    assert resp.status_code == 200
    harness.work()
    with harness.db.session() as s:
        assert s.execute(select(WebhookEvent.status)).scalars().all() == ["processed"]
        assert s.scalar(select(func.count()).select_from(Order)) == 0


def test_a_restored_order_counts_again_but_an_older_update_cannot_revive_it(harness: Harness) -> None:
    import dataclasses
    from datetime import timedelta

    from integrations.woocommerce.payloads import parse_order

    h = harness
    order = parse_order(json.loads(base64.b64decode(hook("06-order-created")["body_base64"]))).order
    assert order.updated_at is not None
    deleted_at = order.updated_at + timedelta(hours=1)
    with h.db.session() as s:
        catalog.apply_orders(s, RecordingQueue(), h.store_id, [order])
        assert catalog.delete_order(s, RecordingQueue(), h.store_id, "25", deleted_at) is True
        # An update older than the deletion (a late retry of an earlier state) is stale.
        assert catalog.apply_orders(s, RecordingQueue(), h.store_id, [order]).skipped_stale == 1
        assert s.execute(select(Order.status)).scalar_one() == "deleted"
        # Restoring from the trash updates the order, so it arrives newer than the deletion.
        restored = dataclasses.replace(order, updated_at=deleted_at + timedelta(minutes=5))
        catalog.apply_orders(s, RecordingQueue(), h.store_id, [restored])
        assert s.execute(select(Order.status, Order.cancelled_at)).one() == ("open", None)
        assert s.execute(select(OrderLine.cancelled)).scalars().all() == [False, False]
        # A deletion older than what is stored is stale too, and changes nothing.
        assert catalog.delete_order(s, RecordingQueue(), h.store_id, "25", deleted_at) is False
        assert catalog.delete_order(s, RecordingQueue(), h.store_id, "404", deleted_at) is False
        assert s.execute(select(Order.status)).scalar_one() == "open"
