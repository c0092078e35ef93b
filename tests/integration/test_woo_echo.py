"""Our own storefront write-back comes back as product.updated deliveries: recognised and skipped, on PostgreSQL.

The deliveries are the live WooCommerce 9.4.3 captures (tests/fixtures/woocommerce/live-9.4.3), which already carry
a ``_backsoon_state`` meta entry because BackSoon was connected to that store. An echo is what WooCommerce sends
after our write: the same body with the meta value we wrote and a newer ``date_modified``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app import job_specs
from app.config import Settings
from app.db import Database
from app.infra.crypto import cipher_for
from app.models import DirtyVariant, InventoryLevel, Product, StockState, Store, StoreStatus, Variant, WebhookEvent
from app.platforms import registry
from app.platforms.woocommerce.storefront import publish_changed
from app.queue import JobQueue
from app.services import catalog
from app.services.ingest import inbox
from integrations.base import ProductRecord
from integrations.woocommerce.client import WooClient
from integrations.woocommerce.payloads import ProductUpdate, VariationUpdate, parse_topic_payload
from tests.factories import RecordingQueue
from tests.woo_live import LIVE

pytestmark = pytest.mark.integration

SETTINGS = Settings(env="test")
STORE_URL = "https://shop.example"
SECRET = "wc-fixture-secret"
# The captured product.updated deliveries: two simple products and two variations of the Merino Beanie (23). The
# deliveries for 15 and 25 share one X-WC-Webhook-Delivery-ID, as WooCommerce sent them: nothing here relies on it.
CAPTURES = (
    "webhook-delivery-product-updated-simple-15-to-0-outofstock",
    "webhook-delivery-product-updated-after-refund-no-restock",
    "webhook-delivery-product-updated-variation-25-0-to-7",
    "webhook-delivery-product-updated-variation-27-qty-3-to-8",
)
OUT = {"status": "out_of_stock", "badge_kind": "none", "badge_quantity": None, "restock_eta": date(2026, 12, 21)}
LOW = {"status": "low_stock", "badge_kind": "only_n_left", "badge_quantity": 3, "restock_eta": None}


@pytest.fixture
def job_queue() -> RecordingQueue:
    """The front's queue: it only records the drain jobs, so this test drains the inbox itself."""
    return RecordingQueue()


def capture(name: str) -> tuple[dict[str, str], dict[str, Any]]:
    """A captured delivery's request headers (those a proxy would pass on) and its JSON body."""
    head = (LIVE / f"{name}.headers.txt").read_bytes().decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
    kept = {k: v for k, v in headers.items() if k not in ("Host", "Content-Length", "Connection")}
    return kept, json.loads((LIVE / f"{name}.json").read_bytes())


def signed(headers: dict[str, str], body: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    raw = json.dumps(body, separators=(",", ":")).encode()
    digest = hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()
    return {**headers, "X-WC-Webhook-Signature": base64.b64encode(digest).decode()}, raw


def later(body: dict[str, Any], seconds: int) -> dict[str, Any]:
    """The body as WooCommerce renders it after a save `seconds` later (date_modified moves, in both forms)."""
    out = dict(body)
    for key in ("date_modified", "date_modified_gmt"):
        out[key] = (datetime.fromisoformat(body[key]) + timedelta(seconds=seconds)).isoformat()
    return out


def with_meta(body: dict[str, Any], value: str) -> dict[str, Any]:
    """The body with our meta entry holding `value` (the entry keeps its meta id, as WordPress updates in place)."""
    meta = [m if m["key"] != "_backsoon_state" else {**m, "value": value} for m in body["meta_data"]]
    return {**body, "meta_data": meta}


class FakeWoo:
    """Answers batch updates like WooCommerce does when every item is written, and records what was sent."""

    def __init__(self) -> None:
        self.sent: dict[int, str] = {}

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)
        for item in body["update"]:
            (meta,) = item["meta_data"]
            self.sent[item["id"]] = meta["value"]
        answer = {"update": [{"id": u["id"]} for u in body["update"]]}
        return 200, {"Content-Type": "application/json"}, json.dumps(answer)


def seed(db: Database) -> int:
    """The store as the captured deliveries left it, each variant with a state not yet published."""
    with db.session() as s:
        cipher = cipher_for(SETTINGS)
        store = Store(
            platform="woocommerce",
            domain=STORE_URL,
            name="Live Test Shop",
            timezone="Europe/Amsterdam",
            status=StoreStatus.ACTIVE,
            credentials_encrypted=cipher.encrypt_json({"consumer_key": "ck_fixture", "consumer_secret": "cs_fixture"}),
            webhook_secret_encrypted=cipher.encrypt(SECRET.encode()),
        )
        s.add(store)
        s.flush()
        jobs = RecordingQueue()
        catalog.apply_products(
            s, jobs, store.id, [ProductRecord(external_id="23", title="Merino Beanie", kind="variable")]
        )
        for name in CAPTURES:
            parsed = parse_topic_payload("product.updated", (LIVE / f"{name}.json").read_bytes())
            if isinstance(parsed, VariationUpdate):
                catalog.apply_variants(s, jobs, store.id, parsed.parent_external_id, [parsed.variant])
                catalog.apply_inventory(s, jobs, store.id, [parsed.inventory])
            else:
                assert isinstance(parsed, ProductUpdate)
                catalog.apply_products(s, jobs, store.id, [parsed.product])
                catalog.apply_inventory(s, jobs, store.id, list(parsed.inventory))
        variants = s.execute(select(Variant.id, Variant.external_id).where(Variant.store_id == store.id)).all()
        for vid, ext in variants:
            state = OUT if ext == "15" else LOW
            s.add(StockState(store_id=store.id, variant_id=vid, fingerprint=f"fp-{ext}", **state))
        s.execute(DirtyVariant.__table__.delete())
        return store.id


def snapshot(db: Database, store_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every catalog row of the store, all columns (timestamps included)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with db.session() as s:
        for model in (Product, Variant, InventoryLevel):
            table = model.__table__
            rows = s.execute(select(table).where(table.c.store_id == store_id).order_by(table.c.id)).all()
            out[table.name] = [tuple(r) for r in rows]
    return out


def publish(db: Database, store_id: int) -> FakeWoo:
    woo = FakeWoo()
    responses.add_callback(responses.POST, re.compile(re.escape(STORE_URL) + "/wp-json/wc/v3/.*"), callback=woo)
    client = WooClient(
        STORE_URL, "ck_fixture", "cs_fixture", resolver=lambda *_a, **_k: [(2, 1, 6, "", ("93.184.216.34", 443))]
    )
    with db.session() as s:
        result = publish_changed(s, client, store_id)
    assert (result.sent, result.failed, result.batches) == (4, 0, 2)
    return woo


def drain(db: Database, store_id: int, jobs: JobQueue) -> list[str]:
    outcomes = []
    with db.session() as s:
        ids = inbox.pending_events(s, store_id)
    for event_id in ids:
        with db.session() as s:
            outcomes.append(inbox.process_event(s, jobs, event_id, registry.handler_for))
    return outcomes


def post(client: FlaskClient, store_id: int, headers: dict[str, str], body: dict[str, Any]) -> Any:
    hdrs, raw = signed(headers, body)
    resp = client.post(f"/webhooks/woocommerce/{store_id}", data=raw, headers=hdrs)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


@responses.activate
def test_publishing_n_products_brings_back_n_deliveries_that_write_nothing(
    db: Database, client: FlaskClient, job_queue: RecordingQueue
) -> None:
    store_id = seed(db)
    woo = publish(db, store_id)
    assert sorted(woo.sent) == [11, 15, 25, 27]
    before = snapshot(db, store_id)
    for n, name in enumerate(CAPTURES):
        headers, body = capture(name)
        echo = with_meta(later(body, 20 + n), woo.sent[body["id"]])
        assert post(client, store_id, headers, echo) == {"received": True, "duplicate": False, "processed": True}
    assert job_queue.specs == [job_specs.drain_inbox(store_id)] * 4

    processing = RecordingQueue()
    assert drain(db, store_id, processing) == ["echo"] * 4
    assert processing.specs == []
    assert snapshot(db, store_id) == before
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(DirtyVariant)) == 0
        events = s.execute(select(WebhookEvent.topic, WebhookEvent.status, WebhookEvent.error)).all()
        assert [tuple(e) for e in events] == [("product.updated", "echo", None)] * 4
        # Published, and nothing made the states differ from what the storefront holds.
        states = s.execute(select(StockState.fingerprint, StockState.published_fingerprint)).all()
        assert sorted(tuple(r) for r in states) == [(f"fp-{x}", f"fp-{x}") for x in ("11", "15", "25", "27")]
    # A second drain finds nothing left to do.
    assert drain(db, store_id, processing) == []


@responses.activate
def test_the_same_meta_with_a_real_stock_change_is_applied(
    db: Database, client: FlaskClient, job_queue: RecordingQueue
) -> None:
    store_id = seed(db)
    woo = publish(db, store_id)
    headers, body = capture("webhook-delivery-product-updated-simple-15-to-0-outofstock")
    changed = with_meta(later(body, 20), woo.sent[15]) | {"stock_quantity": 3, "stock_status": "instock"}
    headers_27, body_27 = capture("webhook-delivery-product-updated-variation-27-qty-3-to-8")
    changed_27 = with_meta(later(body_27, 21), woo.sent[27]) | {"price": "30.00", "regular_price": "30.00"}
    post(client, store_id, headers, changed)
    post(client, store_id, headers_27, changed_27)

    processing = RecordingQueue()
    assert drain(db, store_id, processing) == ["applied", "applied_variation"]
    assert processing.specs == [job_specs.recompute_dirty(store_id)] * 2
    with db.session() as s:
        rows = s.execute(
            select(Variant.external_id, Variant.sellable_quantity, Variant.price, InventoryLevel.available)
            .join(InventoryLevel, InventoryLevel.variant_id == Variant.id)
            .where(Variant.external_id.in_(["15", "27"]))
            .order_by(Variant.external_id)
        ).all()
        assert [tuple(r) for r in rows] == [("15", 3, Decimal("22.00"), 3), ("27", 8, Decimal("30.00"), 8)]
        dirty = s.execute(
            select(Variant.external_id).join(DirtyVariant, DirtyVariant.variant_id == Variant.id).order_by(Variant.id)
        ).scalars()
        assert sorted(dirty) == ["15", "27"]
        statuses = s.execute(select(WebhookEvent.status).order_by(WebhookEvent.id)).scalars().all()
        assert statuses == ["processed", "processed"]
