"""WooCommerce's freshness pass (jobs.woocommerce.fresh_pass), replaying REST answers (responses) on real PostgreSQL:
its cost for an unchanged store, a lost variation delivery caught through its parent, webhooks re-enabled or
re-created, failures counted, and the admin banners that follow."""

from __future__ import annotations

import copy
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
from sqlalchemy import select

from app import job_specs
from app.config import Settings
from app.db import Database
from app.models import InventoryLevel, Store, StoreFreshness, Variant
from app.platforms.woocommerce import sync as woo_sync
from app.services.ingest import freshness
from app.web.admin.auth import SESSION_STORE_KEY
from integrations.woocommerce.client import WooClient
from jobs import woocommerce as woo_jobs
from tests.conftest import FIXTURES, AppFactory
from tests.factories import RecordingQueue
from tests.integration.test_woo_sync import API, SETTINGS, FakeWoo, fixture, public_resolver, run_initial
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
            sess[SESSION_STORE_KEY] = store_id
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
