"""WooCommerce's freshness pass (jobs.woocommerce.fresh_pass), replaying REST answers (responses) on real PostgreSQL:
its cost for an unchanged store, a lost variation delivery caught through its parent, webhooks re-enabled or
re-created, failures counted, and the admin banners that follow."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app import job_specs
from app.config import Settings
from app.db import Database
from app.models import (
    DirtyVariant,
    InventoryLevel,
    Order,
    OrderLine,
    Product,
    Refund,
    RefundLine,
    Store,
    StoreFreshness,
    Variant,
)
from app.platforms import registry
from app.platforms.woocommerce import sync as woo_sync
from app.services.ingest import freshness, inbox
from app.services.stock import storefront_state
from app.web.admin.auth import session_fields
from integrations.woocommerce.client import WooClient
from jobs import woocommerce as woo_jobs
from tests.conftest import FIXTURES, AppFactory
from tests.factories import RecordingQueue
from tests.integration.test_woo_sync import API, SECRET, SETTINGS, FakeWoo, fixture, public_resolver, run_initial
from tests.integration.test_woo_sync import store_id as store_id  # the fixture, re-exported for this module

pytestmark = pytest.mark.integration

LIVE = FIXTURES / "woocommerce" / "live-9.4.3"
LAST_SYNC = datetime(2026, 11, 22, 2, 0, 0, tzinfo=UTC)
HOOK_URL = "https://backsoon.example/webhooks/woocommerce/{store_id}"


@dataclass
class Env:
    db: Database
    woo: FakeWoo
    jobs: RecordingQueue
    store_id: int
    admin: FlaskClient

    def row(self) -> StoreFreshness:
        with self.db.session() as s:
            row = s.get(StoreFreshness, self.store_id)
            assert row is not None
            s.expunge(row)
            return row

    def page(self) -> str:
        return self.admin.get("/admin/").get_data(as_text=True)

    def product_queries(self) -> list[dict[str, list[str]]]:
        return [q for q, _ in self.woo.calls("GET", "products")]


@pytest.fixture
def env(db: Database, store_id: int, make_app: AppFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    real_client_for = woo_sync.client_for

    def offline_client_for(settings: Settings, store: Store, **kw: Any) -> WooClient:
        client = real_client_for(settings, store, resolver=public_resolver)
        client._sleep = lambda _s: None  # the client's retry pauses, not worth waiting for here
        return client

    monkeypatch.setattr(woo_sync, "client_for", offline_client_for)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        woo = FakeWoo()
        for method in (responses.GET, responses.POST, responses.PUT):
            mock.add_callback(method, re.compile(re.escape(API) + ".*"), callback=woo)
        run_initial(db, store_id)  # the catalog as the initial sync left it, with our 7 webhooks active
        with db.session() as s:
            store = s.get(Store, store_id)
            assert store is not None
            store.last_synced_at = LAST_SYNC
            store.admin_email = "owner@shop.example"
        woo.requests.clear()
        woo.modified = []  # nothing changed since, unless a test says otherwise
        jobs = RecordingQueue()
        app = make_app(jobs=jobs, app_url=SETTINGS.app_url)
        admin = app.test_client()
        with admin.session_transaction() as sess:
            sess.update(session_fields(store_id, 0))
        yield Env(db, woo, jobs, store_id, admin)


def _level(db: Database, store_id: int, variation: str) -> int | None:
    with db.session() as s:
        return s.execute(
            select(InventoryLevel.available)
            .join(Variant, Variant.id == InventoryLevel.variant_id)
            .where(Variant.store_id == store_id, Variant.external_id == variation)
        ).scalar_one()


UNCHANGED = [("GET", "products"), ("GET", "orders"), ("GET", "products"), ("GET", "webhooks")]


def test_an_unchanged_store_costs_four_requests_and_changes_nothing(env: Env) -> None:
    clock = time.perf_counter()
    assert woo_jobs.fresh_pass(env.store_id) == "ok"
    elapsed_ms = (time.perf_counter() - clock) * 1000

    assert [(m, p) for m, p, _, _ in env.woo.requests] == UNCHANGED
    query, count = env.product_queries()
    # No pass yet: the last sync, minus the overlap, in GMT.
    assert query["modified_after"] == ["2026-11-22T01:58:00"]
    assert query["dates_are_gmt"] == ["true"]
    assert (query["per_page"], query["orderby"], query["order"], query["page"]) == (["100"], ["id"], ["asc"], ["1"])
    (orders,) = [q for q, _ in env.woo.calls("GET", "orders")]
    assert orders == {
        "modified_after": ["2026-11-22T01:58:00"],
        "dates_are_gmt": ["true"],
        "per_page": ["100"],
        "orderby": ["id"],
        "order": ["asc"],
        "page": ["1"],
    }
    # The product count: one id asked for, X-WP-Total read (5, as many as we hold), so no listing.
    assert count == {"per_page": ["1"], "_fields": ["id"]}
    row = env.row()
    assert (row.last_requests, row.failures_in_a_row, row.last_error, row.running_since) == (4, 0, None, None)
    assert (row.webhook_actions, row.webhooks_broken) == ([], [])
    assert row.checked_through == row.last_started_at
    assert row.last_duration_ms is not None and 0 <= row.last_duration_ms <= elapsed_ms + 1
    assert env.jobs.specs == []  # nothing to recompute or publish
    print(f"\nunchanged WooCommerce store: 4 requests, {elapsed_ms:.1f} ms against responses mocks")

    # The next pass asks from the start of this one (minus the overlap).
    env.woo.requests.clear()
    clock = time.perf_counter()
    assert woo_jobs.fresh_pass(env.store_id) == "ok"
    print(f"the next pass: {(time.perf_counter() - clock) * 1000:.1f} ms")
    assert len(env.woo.requests) == 4
    started = row.checked_through
    assert started is not None
    expected = (started - freshness.OVERLAP).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert env.product_queries()[0]["modified_after"] == [expected]


def test_a_lost_variation_delivery_is_caught_through_its_parent(env: Env) -> None:
    # Variation 16 (Hoodie M) went 3 -> 8; its delivery was lost. Saving it moved its parent's date_modified, so the
    # parent is what products?modified_after lists, and its variations are read in full.
    parent = copy.deepcopy(fixture("products-modified-after-gmt.json")["body"][0])
    assert (parent["id"], parent["type"]) == (14, "variable")
    parent["date_modified_gmt"] = "2026-11-22T02:03:11"
    variations = copy.deepcopy(fixture("product-variations-list.json")["body"])
    (m,) = [v for v in variations if v["id"] == 16]
    m.update(stock_quantity=8, date_modified_gmt="2026-11-22T02:03:11")
    env.woo.modified, env.woo.variations = [parent], variations
    assert _level(env.db, env.store_id, "16") == 3

    assert woo_jobs.fresh_pass(env.store_id) == "ok"

    assert [(m, p) for m, p, _, _ in env.woo.requests] == [
        ("GET", "products"),
        ("GET", "products/14/variations"),
        ("GET", "orders"),
        ("GET", "products"),
        ("GET", "webhooks"),
    ]
    assert _level(env.db, env.store_id, "16") == 8
    assert _level(env.db, env.store_id, "15") == 0  # the others as they were
    assert [spec.func for spec in env.jobs.specs] == [job_specs.RECOMPUTE_DIRTY]
    assert env.row().last_requests == 5


def test_a_disabled_webhook_is_re_enabled_and_a_missing_one_re_created(env: Env) -> None:
    hooks = env.woo.webhooks
    assert [h["topic"] for h in hooks][1] == "product.updated"
    hooks[1]["status"] = "disabled"  # WooCommerce disabled it after failed deliveries
    deleted = hooks.pop(6)  # the merchant deleted order.deleted
    assert deleted["topic"] == "order.deleted"
    # Someone else's disabled webhook (the live capture's webhook 12) is none of our business.
    foreign = json.loads((LIVE / "webhook-12-disabled.json").read_text())
    foreign["id"] = 40
    hooks.append(foreign)

    assert woo_jobs.fresh_pass(env.store_id) == "ok"

    assert env.woo.calls("PUT", "webhooks/2") == [({}, {"status": "active"})]
    assert env.woo.calls("PUT", "webhooks/40") == []
    created = [b for _, b in env.woo.calls("POST", "webhooks")]
    hook_url = HOOK_URL.format(store_id=env.store_id)
    assert [(b["topic"], b["delivery_url"], b["status"]) for b in created] == [("order.deleted", hook_url, "active")]
    assert foreign["status"] == "disabled"
    row = env.row()
    assert row.webhook_actions == ["re-enabled product.updated (#2)", "created order.deleted (#8)"]
    assert row.webhooks_broken == []
    assert row.last_requests == 6
    assert 'id="webhooks-broken"' not in env.page()

    # Put back, the next pass finds nothing to do.
    env.woo.requests.clear()
    assert woo_jobs.fresh_pass(env.store_id) == "ok"
    assert [(m, p) for m, p, _, _ in env.woo.requests] == UNCHANGED
    assert env.row().webhook_actions == []


BROKEN_TEXT = (
    "WooCommerce is not sending BackSoon updates for product.updated: the webhook is disabled or paused and could "
    "not be re-enabled. Changes still arrive within a few minutes through our regular checks."
)


def test_a_webhook_that_cannot_be_re_enabled_shows_a_banner_until_it_is_back(env: Env) -> None:
    hooks = env.woo.webhooks
    gone = hooks.pop(1)  # listed as disabled, deleted before our PUT: WooCommerce answers 404
    env.woo.listed_only = [{**gone, "status": "disabled"}]
    assert 'id="webhooks-broken"' not in env.page()

    assert woo_jobs.fresh_pass(env.store_id) == "ok"

    assert len(env.woo.calls("PUT", "webhooks/2")) == 1
    assert env.woo.calls("POST", "webhooks") == []
    row = env.row()
    assert row.webhook_actions == [
        "could not re-enable product.updated (#2): "
        "PUT webhooks/2: HTTP 404 woocommerce_rest_shop_webhook_invalid_id Invalid ID."
    ]
    assert row.webhooks_broken == ["product.updated"]
    assert row.failures_in_a_row == 0  # the pass itself got through: the sync is not failing
    page = env.page()
    assert f'<div class="flash flash--error" role="alert" id="webhooks-broken">{BROKEN_TEXT}</div>' in page
    assert 'id="sync-failing"' not in page

    # Back to a plain store whose webhook is active again: the banner goes.
    env.woo.listed_only = []
    hooks.insert(1, {**gone, "status": "active"})
    assert woo_jobs.fresh_pass(env.store_id) == "ok"
    assert env.row().webhooks_broken == []
    assert 'id="webhooks-broken"' not in env.page()


def test_a_paused_webhook_is_left_to_the_merchant_and_bannered(env: Env) -> None:
    env.woo.webhooks[1]["status"] = "paused"

    assert woo_jobs.fresh_pass(env.store_id) == "ok"

    assert env.woo.calls("PUT", "webhooks/2") == []
    assert env.woo.calls("POST", "webhooks") == []
    row = env.row()
    assert (row.webhook_actions, row.webhooks_broken) == (["left product.updated paused"], ["product.updated"])
    assert BROKEN_TEXT in env.page()


FAILING_TEXT = (
    "Syncing with WooCommerce is failing: the last 3 checks for changes failed, so stock shown on your storefront "
    "may be out of date. The last error: TransientError: GET products: HTTP 500 Internal Server Error"
)


def test_a_store_that_keeps_failing_gets_a_banner_that_clears_on_success(env: Env) -> None:
    env.woo.failing = {"products"}  # the store answers 500, as WordPress does while its database is down
    for n in (1, 2):
        assert woo_jobs.fresh_pass(env.store_id) == "failed"
        row = env.row()
        assert (row.failures_in_a_row, row.checked_through, row.running_since) == (n, None, None)
        assert row.last_requests == 3  # one GET and its two retries
        assert 'id="sync-failing"' not in env.page()
    assert woo_jobs.fresh_pass(env.store_id) == "failed"
    # Every failed pass asked again from the same point.
    assert {q["modified_after"][0] for q in env.product_queries()} == {"2026-11-22T01:58:00"}
    assert env.woo.calls("GET", "orders") == []
    assert env.woo.calls("GET", "webhooks") == []
    row = env.row()
    assert row.failures_in_a_row == 3
    assert row.last_error == "TransientError: GET products: HTTP 500 Internal Server Error"
    page = env.page()
    assert f'<div class="flash flash--error" role="alert" id="sync-failing">{FAILING_TEXT}</div>' in page
    assert env.jobs.specs == []

    env.woo.failing = set()
    assert woo_jobs.fresh_pass(env.store_id) == "ok"
    row = env.row()
    assert (row.failures_in_a_row, row.last_error) == (0, None)
    assert 'id="sync-failing"' not in env.page()


def test_a_rejected_key_disconnects_the_store_and_the_admin_says_so(env: Env) -> None:
    env.woo.unauthorized = True

    assert woo_jobs.fresh_pass(env.store_id) == "disconnected"

    with env.db.session() as s:
        store = s.get(Store, env.store_id)
        assert store is not None
        assert (store.status, store.status_reason) == ("disconnected", "WooCommerce rejected the API key")
    row = env.row()
    assert (row.running_since, row.failures_in_a_row, row.checked_through) == (None, 0, None)
    page = env.page()
    assert 'id="store-disconnected"' in page
    assert "WooCommerce rejected the API key. Syncing and storefront updates are paused." in page
    assert 'id="sync-failing"' not in page and 'id="webhooks-broken"' not in page
    # A disconnected store has no pass: nothing is asked of it any more.
    env.woo.requests.clear()
    assert woo_jobs.fresh_pass(env.store_id) == "inactive"
    assert env.woo.requests == []


def test_a_store_without_our_webhook_secret_is_checked_for_changes_but_bannered(env: Env) -> None:
    with env.db.session() as s:
        store = s.get(Store, env.store_id)
        assert store is not None
        store.webhook_secret_encrypted = None  # deliveries cannot be verified, so no webhook can be put back

    assert woo_jobs.fresh_pass(env.store_id) == "ok"

    assert [(m, p) for m, p, _, _ in env.woo.requests] == UNCHANGED[:3]
    row = env.row()
    assert (row.webhook_actions, row.webhooks_broken) == ([], list(woo_sync.WEBHOOK_TOPICS))
    assert 'id="webhooks-broken"' in env.page()


def test_a_healthy_store_shows_no_banner(env: Env) -> None:
    assert woo_jobs.fresh_pass(env.store_id) == "ok"
    page = env.page()
    for banner in ("store-disconnected", "sync-failing", "webhooks-broken"):
        assert f'id="{banner}"' not in page


def test_a_running_pass_is_not_started_twice_until_its_claim_is_stale(env: Env) -> None:
    now = datetime.now(UTC)
    assert freshness.claim(env.db, env.store_id, now) is not None
    assert woo_jobs.fresh_pass(env.store_id) == "running"
    assert env.woo.requests == []
    with env.db.session() as s:
        row = s.get(StoreFreshness, env.store_id)
        assert row is not None
        row.running_since = now - freshness.STALE_AFTER - timedelta(seconds=1)  # its worker died
    assert woo_jobs.fresh_pass(env.store_id) == "ok"
    assert env.row().running_since is None


# --- lost order deliveries ---------------------------------------------------------------------------------------

HOOKS = FIXTURES / "woocommerce" / "webhooks"


def hook_body(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json.loads((HOOKS / f"{name}.json").read_text())["body_text"])
    return body


def deliver(env: Env, name: str) -> list[str]:
    """Post a captured delivery (signed with this store's secret) and apply it: what arrived late after all."""
    captured = json.loads((HOOKS / f"{name}.json").read_text())
    raw = base64.b64decode(captured["body_base64"])
    headers = {k: v for k, v in captured["headers"].items() if k not in ("Host", "Content-Length", "Connection")}
    headers["X-WC-Webhook-Signature"] = base64.b64encode(
        hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()
    ).decode()
    assert env.admin.post(f"/webhooks/woocommerce/{env.store_id}", data=raw, headers=headers).status_code == 200
    with env.db.session() as s:
        pending = inbox.pending_events(s, env.store_id)
    outcomes = []
    for event_id in pending:
        with env.db.session() as s:
            outcomes.append(inbox.process_event(s, env.jobs, event_id, registry.handler_for))
    return outcomes


def orders(db: Database) -> list[tuple[str, str, str]]:
    with db.session() as s:
        rows = s.execute(select(Order.external_id, Order.status, Order.financial_status).order_by(Order.external_id))
        return [(str(a), str(b), str(c)) for a, b, c in rows]


def order_lines(db: Database, order: str) -> list[tuple[str, str | None, int, int]]:
    with db.session() as s:
        rows = s.execute(
            select(OrderLine.external_id, Variant.external_id, OrderLine.quantity, OrderLine.refunded_quantity)
            .join(Order, Order.id == OrderLine.order_id)
            .outerjoin(Variant, Variant.id == OrderLine.variant_id)
            .where(Order.external_id == order)
            .order_by(OrderLine.external_id)
        ).all()
    return [(str(a), b, int(c), int(d)) for a, b, c, d in rows]


def dirty(db: Database) -> list[str]:
    with db.session() as s:
        rows = s.execute(
            select(Variant.external_id).join(DirtyVariant, DirtyVariant.variant_id == Variant.id).order_by(Variant.id)
        )
        return list(rows.scalars())


def clear_dirty(db: Database) -> None:
    with db.session() as s:
        s.execute(DirtyVariant.__table__.delete())


BEFORE = [("18", "open", "processing"), ("19", "open", "completed"), ("20", "cancelled", "cancelled")]


def test_a_lost_order_creation_and_status_change_are_caught_and_count_once(env: Env) -> None:
    # Order 25 (Tee + Hoodie M, processing) was placed during an outage: order.created and order.updated were lost.
    assert [o for o in orders(env.db) if o[0] != "21"] == BEFORE
    clear_dirty(env.db)
    env.woo.orders_modified = [hook_body("06-order-created")]

    assert woo_jobs.fresh_pass(env.store_id) == "ok"

    assert [(m, p) for m, p, _, _ in env.woo.requests] == UNCHANGED
    assert orders(env.db)[-1] == ("25", "open", "processing")
    assert order_lines(env.db, "25") == [("14", "10", 1, 0), ("15", "16", 1, 0)]
    assert dirty(env.db) == ["10", "16"]  # their sales (velocity) change
    assert [spec.func for spec in env.jobs.specs] == [job_specs.RECOMPUTE_DIRTY]
    assert env.row().last_requests == 4
    clear_dirty(env.db)
    env.jobs.specs.clear()

    # The deliveries arrive after all (WooCommerce's scheduler was only late): nothing is counted twice.
    assert deliver(env, "06-order-created") == ["applied"]
    assert deliver(env, "07-order-updated-on-create") == ["applied"]
    assert order_lines(env.db, "25") == [("14", "10", 1, 0), ("15", "16", 1, 0)]
    assert len(orders(env.db)) == 5
    assert dirty(env.db) == []

    # Completed, and that delivery lost too: the next pass reads it.
    env.woo.orders_modified = [hook_body("10-order-updated-status-completed")]
    assert woo_jobs.fresh_pass(env.store_id) == "ok"
    assert orders(env.db)[-1] == ("25", "open", "completed")
    assert order_lines(env.db, "25") == [("14", "10", 1, 0), ("15", "16", 1, 0)]
    assert deliver(env, "10-order-updated-status-completed") == ["applied"]
    assert len(orders(env.db)) == 5


def test_a_lost_refund_is_caught_through_its_order_and_read_once(env: Env) -> None:
    # As if refund 22 (order 21, the Tee) had been made after the last sync and its order.updated lost: the order
    # as we hold it lists no refund.
    with env.db.session() as s:
        order_id = s.execute(select(Order.id).where(Order.external_id == "21")).scalar_one()
        refund_ids = select(Refund.id).where(Refund.order_id == order_id)
        s.execute(RefundLine.__table__.delete().where(RefundLine.refund_id.in_(refund_ids)))
        s.execute(Refund.__table__.delete().where(Refund.order_id == order_id))
        s.execute(OrderLine.__table__.update().where(OrderLine.order_id == order_id).values(refunded_quantity=0))
    assert order_lines(env.db, "21") == [("10", "10", 1, 0)]
    clear_dirty(env.db)
    order_21 = next(o for o in fixture("orders-list.json")["body"] if o["id"] == 21)
    assert order_21["refunds"] == [{"id": 22, "reason": "Customer returned the item", "total": "-24.99"}]
    env.woo.orders_modified = [order_21]

    assert woo_jobs.fresh_pass(env.store_id) == "ok"

    # The order lists a refund we do not hold: the same job order.updated queues reads it.
    refunds_job = job_specs.woo_read_refunds(env.store_id, "21")
    assert refunds_job in env.jobs.specs
    assert woo_jobs.read_refunds(env.store_id, "21") == "refunds:1,removed:0"
    assert order_lines(env.db, "21") == [("10", "10", 1, 1)]
    assert dirty(env.db) == ["10"]

    # The next pass lists the order again (the overlap): the refund ids now match, nothing more is read.
    env.jobs.specs.clear()
    assert woo_jobs.fresh_pass(env.store_id) == "ok"
    assert refunds_job not in env.jobs.specs
    with env.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Refund)) == 1
    assert order_lines(env.db, "21") == [("10", "10", 1, 1)]


# --- products deleted for good -----------------------------------------------------------------------------------


def products(db: Database) -> list[tuple[str, bool, list[tuple[str, bool]]]]:
    with db.session() as s:
        rows = s.execute(select(Product.id, Product.external_id, Product.deleted_at).order_by(Product.id)).all()
        out = []
        for pid, ext, deleted_at in rows:
            variants = s.execute(
                select(Variant.external_id, Variant.deleted_at).where(Variant.product_id == pid).order_by(Variant.id)
            ).all()
            out.append((str(ext), deleted_at is not None, [(str(v), d is not None) for v, d in variants]))
        return out


def unpublished(env: Env) -> list[str]:
    """The variants whose state the next storefront write-back would send."""
    with env.db.session() as s:
        return [u.external_id for u in storefront_state.unpublished_states(s, env.store_id, 100)]


LIVE_CATALOG = [
    ("10", False, [("10", False)]),
    ("11", False, [("11", False)]),
    ("12", False, [("12", False)]),
    ("13", False, [("13", False)]),
    ("14", False, [("15", False), ("16", False), ("17", False)]),
]


def test_a_product_deleted_for_good_without_a_delivery_is_deleted(env: Env) -> None:
    # The Wool Beanie (13) was deleted permanently while our product.deleted webhook was disabled.
    assert products(env.db) == LIVE_CATALOG
    assert unpublished(env) == ["10", "11", "12", "13", "15", "16", "17"]
    clear_dirty(env.db)
    env.woo.catalog_ids = [10, 11, 12, 14]

    assert woo_jobs.fresh_pass(env.store_id) == "ok"

    assert [(m, p) for m, p, _, _ in env.woo.requests] == [
        ("GET", "products"),
        ("GET", "orders"),
        ("GET", "products"),  # X-WP-Total 4, and we hold 5
        ("GET", "products"),  # every id, one page
        ("GET", "products/13"),  # 404: gone for good
        ("GET", "webhooks"),
    ]
    assert env.product_queries()[2] == {
        "per_page": ["100"],
        "orderby": ["id"],
        "order": ["asc"],
        "_fields": ["id"],
        "page": ["1"],
    }
    assert env.row().last_requests == 6
    catalog_now = products(env.db)
    assert catalog_now[3] == ("13", True, [("13", True)])
    assert [p for p in catalog_now if p[0] != "13"] == [p for p in LIVE_CATALOG if p[0] != "13"]
    assert dirty(env.db) == ["13"]
    with env.db.session() as s:
        assert s.execute(select(DirtyVariant.reason)).scalars().all() == ["product_deleted"]
    assert unpublished(env) == ["10", "11", "12", "15", "16", "17"]  # nothing is published for it any more

    # Counts agree now: the next pass lists nothing more.
    env.woo.requests.clear()
    assert woo_jobs.fresh_pass(env.store_id) == "ok"
    assert [(m, p) for m, p, _, _ in env.woo.requests] == UNCHANGED


def test_a_trashed_product_is_deleted_and_one_the_paging_missed_is_kept(env: Env) -> None:
    # 12 was trashed (its delivery lost, and before the last pass's modified_after window); 11 is only missing from
    # the listing (deleted mid-listing shifts the pages): asked for, it is still there.
    canvas = next(p for p in fixture("products-list-orderby-id-page1.json")["body"] if p["id"] == 12)
    env.woo.trashed = [{**canvas, "status": "trash"}]
    env.woo.catalog_ids = [10, 11, 13, 14]
    listed_ids = [10, 13, 14]
    real_ids_page = env.woo._ids_page

    def shifted(page: int, per_page: int) -> tuple[int, dict[str, str], str]:
        status, headers, _ = real_ids_page(page, per_page)
        return status, headers, json.dumps([{"id": i} for i in listed_ids])

    env.woo._ids_page = shifted  # type: ignore[method-assign]

    assert woo_jobs.fresh_pass(env.store_id) == "ok"

    assert [p for m, p, _, _ in env.woo.requests if p.startswith("products/")] == ["products/11", "products/12"]
    assert [(p[0], p[1]) for p in products(env.db)] == [
        ("10", False),
        ("11", False),
        ("12", True),
        ("13", False),
        ("14", False),
    ]


def test_nothing_is_deleted_when_the_counts_match(env: Env) -> None:
    # 13 deleted and 99 created since, 99 not applied yet: as many products as we hold, so nothing is listed. (Once
    # 99 is applied, by its own date_modified, the counts differ and that pass finds 13.)
    env.woo.catalog_ids = [10, 11, 12, 14, 99]
    clear_dirty(env.db)
    assert woo_jobs.fresh_pass(env.store_id) == "ok"
    assert [(m, p) for m, p, _, _ in env.woo.requests] == UNCHANGED
    assert products(env.db) == LIVE_CATALOG
    assert dirty(env.db) == []


def test_a_listing_that_fails_part_way_deletes_nothing(env: Env) -> None:
    env.woo.catalog_ids = [10, 11, 12, 14, *range(1000, 1100)]  # 104 products: two pages of ids
    env.woo.failing_id_pages = {2}
    clear_dirty(env.db)

    assert woo_jobs.fresh_pass(env.store_id) == "failed"

    ids_pages = [q.get("page") for q, _ in env.woo.calls("GET", "products") if q.get("_fields") == ["id"]]
    assert ids_pages == [None, ["1"], ["2"], ["2"], ["2"]]  # the count, page 1, page 2 and its two retries
    assert env.woo.calls("GET", "webhooks") == []
    assert [p for m, p, _, _ in env.woo.requests if p.startswith("products/")] == []
    assert products(env.db) == LIVE_CATALOG
    assert dirty(env.db) == []
    row = env.row()
    assert (row.failures_in_a_row, row.checked_through) == (1, None)
    assert row.last_error == "TransientError: GET products: HTTP 500 Internal Server Error"
