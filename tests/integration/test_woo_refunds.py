"""WooCommerce refunds read when an order changes, on PostgreSQL, against the live 9.4.3 captures.

Order 37 before its refund is the one in ``orders-list-orderby-id-asc`` (captured first); the order.updated delivery
for refund 46 and ``GET orders/37`` after it are the captured bytes. ``GET orders/37/refunds`` was not captured: it
is served as the list of the one refund object ``POST orders/37/refunds`` answered (the same object shape).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app import job_specs
from app.config import Settings
from app.db import Database
from app.infra.crypto import cipher_for
from app.models import DirtyVariant, Order, OrderLine, Refund, RefundLine, Store, StoreStatus, Variant, WebhookEvent
from app.platforms import registry
from app.platforms.woocommerce import sync as woo_sync
from app.runtime import Runtime, set_runtime
from app.services import catalog
from app.services.ingest import inbox
from integrations.woocommerce.client import WooClient
from integrations.woocommerce.payloads import ProductUpdate, parse_order, parse_topic_payload
from jobs import woocommerce as woo_jobs
from tests.factories import RecordingQueue
from tests.woo_live import LIVE, serve

pytestmark = pytest.mark.integration

SETTINGS = Settings(env="test")
STORE_URL = "https://shop.example.com"
KEY, SECRET = "ck_fixture", "cs_fixture"
HOOK_SECRET = "wc-fixture-secret"
REFUNDS_QUERY = {"per_page": "100", "orderby": "id", "order": "asc", "page": "1"}


def load(name: str) -> Any:
    return json.loads((LIVE / f"{name}.json").read_bytes())


def public_resolver(host: str, port: int | None, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
    return [(2, 1, 6, "", ("93.184.216.34", port or 443))]


@pytest.fixture
def job_queue() -> RecordingQueue:
    """The front's queue: it only records the drain jobs, so the test drains the inbox itself."""
    return RecordingQueue()


@pytest.fixture
def store_id(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The live store with products 11 and 15 and order 37 as they were before refund 46."""
    real_client_for = woo_sync.client_for

    def offline_client_for(settings: Settings, store: Store, **kw: Any) -> WooClient:
        return real_client_for(settings, store, resolver=public_resolver)

    monkeypatch.setattr(woo_sync, "client_for", offline_client_for)
    with db.session() as s:
        cipher = cipher_for(SETTINGS)
        store = Store(
            platform="woocommerce",
            domain=STORE_URL,
            name="Live Test Shop",
            timezone="Europe/Amsterdam",
            status=StoreStatus.ACTIVE,
            credentials_encrypted=cipher.encrypt_json({"consumer_key": KEY, "consumer_secret": SECRET}),
            webhook_secret_encrypted=cipher.encrypt(HOOK_SECRET.encode()),
        )
        s.add(store)
        s.flush()
        jobs = RecordingQueue()
        for name in (
            "webhook-delivery-product-updated-after-refund-no-restock",
            "webhook-delivery-product-updated-simple-15-to-0-outofstock",
        ):
            parsed = parse_topic_payload("product.updated", (LIVE / f"{name}.json").read_bytes())
            assert isinstance(parsed, ProductUpdate)
            catalog.apply_products(s, jobs, store.id, [parsed.product])
        before = next(o for o in load("orders-list-orderby-id-asc") if o["id"] == 37)
        catalog.apply_orders(s, jobs, store.id, [parse_order(before).order])
        s.execute(DirtyVariant.__table__.delete())
        sid = store.id
    set_runtime(Runtime(SETTINGS, db, RecordingQueue()))
    yield sid
    set_runtime(None)


def post(client: FlaskClient, store_id: int, body: bytes) -> None:
    head = (LIVE / "webhook-delivery-order-updated-refund-created.headers.txt").read_bytes().decode("latin-1")
    headers = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
    headers = {k: v for k, v in headers.items() if k not in ("Host", "Content-Length", "Connection")}
    digest = hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).digest()
    headers["X-WC-Webhook-Signature"] = base64.b64encode(digest).decode()
    resp = client.post(f"/webhooks/woocommerce/{store_id}", data=body, headers=headers)
    assert resp.status_code == 200, resp.get_json()


def drain(db: Database, store_id: int, jobs: RecordingQueue) -> list[str]:
    with db.session() as s:
        ids = inbox.pending_events(s, store_id)
    outcomes = []
    for event_id in ids:
        with db.session() as s:
            outcomes.append(inbox.process_event(s, jobs, event_id, registry.handler_for))
    return outcomes


def serve_order(order: bytes, refunds: bytes) -> None:
    serve(STORE_URL, "/wp-json/wc/v3/orders/37", "order-37-after-refund", {}, key=KEY, secret=SECRET, body=order)
    serve(
        STORE_URL,
        "/wp-json/wc/v3/orders/37/refunds",
        "order-34-refunds-list",  # a refunds list capture: its status, Content-Type and paging headers
        REFUNDS_QUERY,
        key=KEY,
        secret=SECRET,
        body=refunds,
    )


def refund_46_list() -> bytes:
    return b"[" + (LIVE / "order-37-refund-create.json").read_bytes() + b"]"


def lines(db: Database) -> list[tuple[str, int, int]]:
    with db.session() as s:
        rows = s.execute(
            select(OrderLine.external_id, OrderLine.quantity, OrderLine.refunded_quantity).order_by(OrderLine.id)
        ).all()
    return [(str(ext), int(qty), int(refunded)) for ext, qty, refunded in rows]


def later(body: dict[str, Any], seconds: int) -> bytes:
    out = dict(body)
    for key in ("date_modified", "date_modified_gmt"):
        out[key] = (datetime.fromisoformat(body[key]) + timedelta(seconds=seconds)).isoformat()
    return json.dumps(out, separators=(",", ":")).encode()


@responses.activate
def test_a_refund_listed_by_order_updated_is_read_and_counted_once(
    db: Database, client: FlaskClient, job_queue: RecordingQueue, store_id: int
) -> None:
    post(client, store_id, (LIVE / "webhook-delivery-order-updated-refund-created.json").read_bytes())
    processing = RecordingQueue()
    assert drain(db, store_id, processing) == ["applied:read_refunds"]
    # The order body has no refund lines: nothing is counted until the refunds are read.
    assert processing.specs == [job_specs.woo_read_refunds(store_id, "37")]
    assert lines(db) == [("10", 4, 0), ("11", 2, 0)]

    serve_order((LIVE / "order-37-after-refund.json").read_bytes(), refund_46_list())
    with db.session() as s:
        before_read = s.scalar(select(func.count()).select_from(DirtyVariant))
    assert before_read == 0
    assert woo_jobs.read_refunds(store_id, "37") == "refunds:1,removed:0"
    assert lines(db) == [("10", 4, 1), ("11", 2, 0)]
    with db.session() as s:
        refund = s.execute(select(Refund.external_id, Refund.note, Refund.refunded_at)).one()
        assert tuple(refund) == ("46", "fixture: one apron returned", datetime(2026, 12, 7, 5, 3, 43, tzinfo=UTC))
        assert s.execute(select(RefundLine.quantity, RefundLine.restock)).all() == [(1, True)]
        dirty = s.execute(select(Variant.external_id).join(DirtyVariant, DirtyVariant.variant_id == Variant.id))
        assert dirty.scalars().all() == ["11"]  # the Linen Apron: one unit less sold
        s.execute(DirtyVariant.__table__.delete())

    # Read again (a second job, a retry): the same refund counts once and nothing is marked.
    assert woo_jobs.read_refunds(store_id, "37") == "refunds:1,removed:0"
    assert lines(db) == [("10", 4, 1), ("11", 2, 0)]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Refund)) == 1
        assert s.scalar(select(func.count()).select_from(RefundLine)) == 1
        assert s.scalar(select(func.count()).select_from(DirtyVariant)) == 0

    # A later order.updated listing the same refund asks for no read.
    post(client, store_id, later(load("webhook-delivery-order-updated-refund-created"), 60))
    assert drain(db, store_id, processing) == ["applied"]
    assert processing.specs == [job_specs.woo_read_refunds(store_id, "37")]
    with db.session() as s:
        statuses = s.execute(select(WebhookEvent.status)).scalars().all()
    assert statuses == ["processed", "processed"]


@responses.activate
def test_a_refund_the_order_no_longer_lists_is_removed(
    db: Database, client: FlaskClient, job_queue: RecordingQueue, store_id: int
) -> None:
    serve_order((LIVE / "order-37-after-refund.json").read_bytes(), refund_46_list())
    assert woo_jobs.read_refunds(store_id, "37") == "refunds:1,removed:0"
    assert lines(db) == [("10", 4, 1), ("11", 2, 0)]
    with db.session() as s:
        s.execute(DirtyVariant.__table__.delete())

    # Refund 46 deleted in WooCommerce: the order's next save lists no refund.
    responses.reset()
    without = {**load("order-37-after-refund"), "refunds": []}
    body = later(without, 90)
    post(client, store_id, body)
    processing = RecordingQueue()
    assert drain(db, store_id, processing) == ["applied:read_refunds"]
    assert processing.specs == [job_specs.woo_read_refunds(store_id, "37")]
    serve_order(body, b"[]")
    assert woo_jobs.read_refunds(store_id, "37") == "refunds:0,removed:1"
    assert lines(db) == [("10", 4, 0), ("11", 2, 0)]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Refund)) == 0
        assert s.scalar(select(func.count()).select_from(RefundLine)) == 0
        dirty = s.execute(select(Variant.external_id).join(DirtyVariant, DirtyVariant.variant_id == Variant.id))
        assert dirty.scalars().all() == ["11"]
        assert s.execute(select(Order.external_id, Order.status)).all() == [("37", "open")]


@responses.activate
def test_an_order_gone_from_the_store_reads_nothing(db: Database, store_id: int) -> None:
    # The captured 404 of an unknown id (a product's; the client goes by the status, not the code).
    captured = json.loads((LIVE.parent / "rest" / "error-404-unknown-product.json").read_bytes())
    responses.add(responses.GET, f"{STORE_URL}/wp-json/wc/v3/orders/37", json=captured["body"], status=404)
    assert woo_jobs.read_refunds(store_id, "37") == "missing"
    assert lines(db) == [("10", 4, 0), ("11", 2, 0)]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Refund)) == 0
        assert s.scalar(select(func.count()).select_from(DirtyVariant)) == 0
