"""WooCommerce initial sync and reconciliation replaying captured REST responses (responses), on real PostgreSQL."""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from sqlalchemy import func, select

from app import job_specs
from app.config import Settings
from app.db import Database
from app.infra.crypto import cipher_for
from app.models import InventoryLevel, Order, OrderLine, Product, Store, SyncRun, Variant
from app.platforms.woocommerce import sync as woo_sync
from integrations.woocommerce.client import WooClient
from tests.conftest import FIXTURES
from tests.factories import RecordingQueue

pytestmark = pytest.mark.integration

STORE_URL = "https://shop.example"
API = f"{STORE_URL}/wp-json/wc/v3/"
REST = FIXTURES / "woocommerce" / "rest"
SETTINGS = Settings(env="test", app_url="https://backsoon.example")
SECRET = "our-webhook-secret"
KEY, CONSUMER_SECRET = "ck_test", "cs_test"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REST / name).read_text())
    return data


def public_resolver(*_args: Any, **_kwargs: Any) -> list[tuple[Any, ...]]:
    """Resolve every host to a public address, so the SSRF guard passes without DNS."""
    return [(2, 1, 6, "", ("93.184.216.34", 443))]


class FakeWoo:
    """Answers the REST calls of a sync from the captured fixtures, recording every request."""

    def __init__(self, *, webhooks: list[dict[str, Any]] | None = None, unauthorized: bool = False) -> None:
        self.webhooks = list(webhooks or [])
        self.unauthorized = unauthorized
        self.failing: set[str] = set()  # paths answered with a 500, as a store that is down answers
        self.hanging: set[str] = set()  # paths that never answer (the worker is killed while it waits)
        # What `products?modified_after=` lists (None: the captured answer) and variations to answer instead.
        self.modified: list[dict[str, Any]] | None = None
        self.variations: list[dict[str, Any]] | None = None
        self.listed_only: list[dict[str, Any]] = []  # webhooks listed, though gone by the time they are asked for
        self.trashed: list[dict[str, Any]] = []  # what `products?status=trash` lists
        # What `orders?modified_after=` lists (None: the captured answer).
        self.orders_modified: list[dict[str, Any]] | None = None
        # The ids of the products the store lists (`_fields=id`; the captured catalog's by default), and the pages of
        # that listing answered with a 500.
        self.catalog_ids: list[int] = [10, 11, 12, 13, 14]
        self.failing_id_pages: set[int] = set()
        self.requests: list[tuple[str, str, dict[str, list[str]], dict[str, Any]]] = []

    def install(self) -> None:
        """Register the callback for every method under the API root."""
        for method in (responses.GET, responses.POST, responses.PUT):
            responses.add_callback(method, re.compile(re.escape(API) + ".*"), callback=self)

    def calls(self, method: str, path: str) -> list[tuple[dict[str, list[str]], Any]]:
        """Query and body of the recorded requests to one endpoint."""
        return [(q, b) for m, p, q, b in self.requests if m == method and p == path]

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        url = urlsplit(request.url)
        path = url.path.removeprefix("/wp-json/wc/v3/")
        query = parse_qs(url.query)
        body: dict[str, Any] = json.loads(request.body) if request.body else {}
        # Basic auth over https, or (the client's retry after a 401) the key in the query string.
        basic = "Basic " + base64.b64encode(f"{KEY}:{CONSUMER_SECRET}".encode()).decode()
        if "Authorization" in request.headers:
            assert request.headers["Authorization"] == basic
        else:
            assert (query.pop("consumer_key"), query.pop("consumer_secret")) == ([KEY], [CONSUMER_SECRET])
        self.requests.append((request.method, path, query, body))
        if self.unauthorized:
            return self._reply(fixture("error-401-bad-signature.json"))
        if path in self.failing:
            return 500, {"Content-Type": "text/plain"}, ""
        if path in self.hanging:
            time.sleep(120)
        if request.method == "GET" and path == "products" and query.get("status") == ["trash"]:
            pages = {"X-WP-Total": str(len(self.trashed)), "X-WP-TotalPages": "1" if self.trashed else "0"}
            return 200, {**pages, "Content-Type": "application/json"}, json.dumps(self.trashed)
        if request.method == "GET" and path == "products" and query.get("_fields") == ["id"]:
            return self._ids_page(int(query["page"][0]) if "page" in query else 1, int(query["per_page"][0]))
        if request.method == "GET" and path.startswith("products/") and path.removeprefix("products/").isdigit():
            return self._product(int(path.removeprefix("products/")))
        if request.method == "GET" and path == "products":
            if "modified_after" in query and self.modified is not None:
                pages = {"X-WP-Total": str(len(self.modified)), "X-WP-TotalPages": "1" if self.modified else "0"}
                return 200, {**pages, "Content-Type": "application/json"}, json.dumps(self.modified)
            if "modified_after" in query:
                return self._reply(fixture("products-modified-after-gmt.json"))
            return self._reply(fixture(f"products-list-orderby-id-page{query['page'][0]}.json"))
        if request.method == "GET" and path == "products/14/variations" and self.variations is not None:
            return 200, {"X-WP-TotalPages": "1", "Content-Type": "application/json"}, json.dumps(self.variations)
        if request.method == "GET" and path == "products/14/variations":
            return self._reply(fixture("product-variations-list.json"))
        listed = self.orders_modified
        if request.method == "GET" and path == "orders" and "modified_after" in query and listed is not None:
            pages = {"X-WP-Total": str(len(listed)), "X-WP-TotalPages": "1" if listed else "0"}
            return 200, {**pages, "Content-Type": "application/json"}, json.dumps(listed)
        if request.method == "GET" and path == "orders":
            return self._reply(fixture("orders-list.json"))
        if request.method == "GET" and path == "orders/21":
            order = next(o for o in fixture("orders-list.json")["body"] if o["id"] == 21)
            return 200, {"Content-Type": "application/json"}, json.dumps(order)
        if request.method == "GET" and path == "orders/21/refunds":
            refund = fixture("order-refund-get.json")
            return self._reply({**refund, "body": [refund["body"]], "headers": {"X-WP-TotalPages": "1"}})
        if request.method == "GET" and path == "webhooks":
            listed = self.webhooks + self.listed_only
            return 200, {"X-WP-TotalPages": "1", "Content-Type": "application/json"}, json.dumps(listed)
        if request.method == "POST" and path == "webhooks":
            created = dict(fixture("webhook-create.json")["body"])
            created.update(
                id=len(self.webhooks) + 1, name=body["name"], topic=body["topic"], delivery_url=body["delivery_url"]
            )
            self.webhooks.append(created)
            return 201, {"Content-Type": "application/json"}, json.dumps(created)
        if request.method == "PUT" and path.startswith("webhooks/"):
            hook = next((h for h in self.webhooks if str(h["id"]) == path.removeprefix("webhooks/")), None)
            if hook is None:  # deleted meanwhile: WooCommerce's webhooks controller answers a 404 by this code
                missing = {
                    "code": "woocommerce_rest_shop_webhook_invalid_id",
                    "message": "Invalid ID.",
                    "data": {"status": 404},
                }
                return 404, {"Content-Type": "application/json"}, json.dumps(missing)
            hook.update(status=body["status"])
            return 200, {"Content-Type": "application/json"}, json.dumps(hook)
        raise AssertionError(f"unexpected {request.method} {path}")

    def _ids_page(self, page: int, per_page: int) -> tuple[int, dict[str, str], str]:
        """A page of `products?_fields=id`: WordPress trims each product to its id; the headers count them all."""
        if page in self.failing_id_pages:
            return 500, {"Content-Type": "text/plain"}, ""
        ids = sorted(self.catalog_ids)
        pages = -(-len(ids) // per_page)
        headers = {"X-WP-Total": str(len(ids)), "X-WP-TotalPages": str(pages), "Content-Type": "application/json"}
        return 200, headers, json.dumps([{"id": i} for i in ids[(page - 1) * per_page : page * per_page]])

    def _product(self, product_id: int) -> tuple[int, dict[str, str], str]:
        """`GET products/<id>`: a listed product, a trashed one (status trash), or the captured 404 of a deleted one."""
        trashed = next((p for p in self.trashed if p["id"] == product_id), None)
        if trashed is not None:
            return 200, {"Content-Type": "application/json"}, json.dumps(trashed)
        if product_id in self.catalog_ids:
            pages = [fixture(f"products-list-orderby-id-page{n}.json")["body"] for n in (1, 2)]
            body = next(p for page in pages for p in page if p["id"] == product_id)
            return 200, {"Content-Type": "application/json"}, json.dumps(body)
        return self._reply(fixture("error-404-unknown-product.json"))

    @staticmethod
    def _reply(captured: dict[str, Any]) -> tuple[int, dict[str, str], str]:
        headers = {k: v for k, v in captured.get("headers", {}).items() if k in ("X-WP-Total", "X-WP-TotalPages")}
        headers["Content-Type"] = "application/json"
        return int(captured.get("status", 200)), headers, json.dumps(captured["body"])


def client() -> WooClient:
    """A client paging by 3, like the captured lists."""
    return WooClient(STORE_URL, KEY, CONSUMER_SECRET, page_size=3, resolver=public_resolver, sleep=lambda _s: None)


@pytest.fixture
def store_id(db: Database) -> int:
    cipher = cipher_for(SETTINGS)
    with db.session() as s:
        store = Store(
            platform="woocommerce",
            domain=STORE_URL,
            name="Woo",
            timezone="America/New_York",
            credentials_encrypted=cipher.encrypt_json({"consumer_key": KEY, "consumer_secret": CONSUMER_SECRET}),
            webhook_secret_encrypted=cipher.encrypt(SECRET.encode()),
        )
        s.add(store)
        s.flush()
        return store.id


def run_initial(db: Database, store_id: int) -> int:
    jobs = RecordingQueue()
    with db.session() as s:
        run_id = woo_sync.start_sync(s, jobs, store_id).id
    assert woo_sync.step(db, jobs, run_id, client(), settings=SETTINGS) == "done"
    return run_id


@responses.activate
def test_initial_sync_loads_products_orders_refunds_and_creates_webhooks(db: Database, store_id: int) -> None:
    woo = FakeWoo()
    woo.install()
    jobs = RecordingQueue()
    with db.session() as s:
        run_id = woo_sync.start_sync(s, jobs, store_id).id
        assert woo_sync.start_sync(s, jobs, store_id).id == run_id  # one running sync per store
    assert [(sp.func, sp.job_id) for sp in jobs.specs] == [(job_specs.WOO_SYNC, f"woo-sync-{run_id}")]

    assert woo_sync.step(db, jobs, run_id, client(), settings=SETTINGS) == "done"

    product_pages = woo.calls("GET", "products")
    assert [q["page"] for q, _ in product_pages] == [["1"], ["2"]]
    assert all(q["orderby"] == ["id"] and q["order"] == ["asc"] and "modified_after" not in q for q, _ in product_pages)
    assert len(woo.calls("GET", "products/14/variations")) == 1  # only the variable product
    assert len(woo.calls("GET", "orders/21/refunds")) == 1  # only the order that lists a refund
    hook_url = f"https://backsoon.example/webhooks/woocommerce/{store_id}"
    created = [b for _, b in woo.calls("POST", "webhooks")]
    assert [b["topic"] for b in created] == list(woo_sync.WEBHOOK_TOPICS)
    assert len(created) == 7
    assert all(b["delivery_url"] == hook_url and b["secret"] == SECRET and b["status"] == "active" for b in created)

    with db.session() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None
        assert (run.status, run.phase, run.error) == ("done", "finalize", None)
        assert woo_sync.progress(run)["percent"] == 100.0
        assert run.counts == {
            "products": 5,
            "variants": 7,
            "inventory_levels": 7,
            "orders": 4,
            "refunds": 1,
            "webhooks_created": 7,
        }
        assert run.cursor["products_last_id"] == 14 and run.cursor["orders_last_id"] == 21
        products = s.scalars(select(Product.external_id).where(Product.store_id == store_id)).all()
        assert sorted(products, key=int) == ["10", "11", "12", "13", "14"]
        variants = {v.external_id: v for v in s.scalars(select(Variant).where(Variant.store_id == store_id))}
        assert sorted(variants, key=int) == ["10", "11", "12", "13", "15", "16", "17"]
        assert variants["17"].stock_from_parent is True
        # What a buy link needs to open the exact variation is stored at sync; a simple product needs nothing.
        assert [variants[v].link_params for v in ("15", "16", "17")] == [
            {"attribute_pa_size": "S"},
            {"attribute_pa_size": "M"},
            {"attribute_pa_size": "L"},
        ]
        assert variants["10"].link_params == {}
        levels = dict(
            s.execute(
                select(Variant.external_id, InventoryLevel.available).join(
                    InventoryLevel, InventoryLevel.variant_id == Variant.id
                )
            ).all()
        )
        assert levels == {"10": 12, "11": 0, "12": 2, "13": 0, "15": 0, "16": 3, "17": 4}
        orders = dict(s.execute(select(Order.external_id, Order.financial_status)).all())
        assert orders == {"18": "processing", "19": "completed", "20": "cancelled", "21": "refunded"}
        refunded = s.execute(
            select(OrderLine.quantity, OrderLine.refunded_quantity)
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.external_id == "21")
        ).all()
        assert [tuple(r) for r in refunded] == [(1, 1)]
        store = s.get(Store, store_id)
        assert store is not None and store.last_synced_at == run.started_at and store.status == "active"

    # The job again (a duplicate, or the sweeper) does nothing more.
    before = len(woo.requests)
    assert woo_sync.step(db, jobs, run_id, client(), settings=SETTINGS) == "done"
    assert len(woo.requests) == before


@responses.activate
def test_resume_skips_products_a_killed_worker_already_applied(db: Database, store_id: int) -> None:
    woo = FakeWoo()
    woo.install()
    jobs = RecordingQueue()
    with db.session() as s:
        started = woo_sync.start_sync(s, jobs, store_id)
        # A worker died after committing the batch that ended with product 13.
        started.cursor = {"products_last_id": 13, "products_done": 4}
        started.counts = {"products": 4, "variants": 4, "inventory_levels": 4}
        run_id = started.id

    assert woo_sync.step(db, jobs, run_id, client(), settings=SETTINGS) == "done"

    with db.session() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None
        assert run.status == "done"
        assert run.counts["products"] == 5 and run.counts["variants"] == 7
        # Only the product past the cursor was applied in this run.
        assert s.scalars(select(Product.external_id).where(Product.store_id == store_id)).all() == ["14"]
        assert s.scalar(select(func.count()).select_from(Variant)) == 3


@responses.activate
def test_unauthorized_fails_the_run_and_disconnects_the_store(db: Database, store_id: int) -> None:
    FakeWoo(unauthorized=True).install()
    jobs = RecordingQueue()
    with db.session() as s:
        run_id = woo_sync.start_sync(s, jobs, store_id).id

    assert woo_sync.step(db, jobs, run_id, client(), settings=SETTINGS) == "failed"

    with db.session() as s:
        run = s.get(SyncRun, run_id)
        store = s.get(Store, store_id)
        assert run is not None and store is not None
        assert run.status == "failed" and run.error is not None and "access revoked" in run.error
        assert (store.status, store.status_reason) == ("disconnected", "WooCommerce rejected the API key")
        assert s.scalar(select(func.count()).select_from(Product)) == 0


@responses.activate
def test_reconcile_reads_changes_since_the_last_sync_in_gmt_and_re_enables_a_disabled_webhook(
    db: Database, store_id: int
) -> None:
    woo = FakeWoo()
    woo.install()
    run_initial(db, store_id)
    last_synced = datetime(2026, 11, 22, 1, 55, 23, tzinfo=UTC)
    with db.session() as s:
        store = s.get(Store, store_id)
        assert store is not None
        store.last_synced_at = last_synced
    # WooCommerce disabled one webhook after failed deliveries.
    woo.webhooks[1]["status"] = "disabled"
    # The Wool Beanie (13) was trashed meanwhile, and its product.deleted delivery lost.
    beanie = next(p for p in fixture("products-modified-after-gmt.json")["body"] if p["id"] == 13)
    woo.trashed = [{**beanie, "status": "trash", "date_modified_gmt": "2026-11-22T02:04:10"}]
    woo.requests.clear()

    jobs = RecordingQueue()
    with db.session() as s:
        run_id = woo_sync.start_sync(s, jobs, store_id, kind="reconcile").id
    assert woo_sync.step(db, jobs, run_id, client(), settings=SETTINGS) == "done"

    (changed, _), (trashed, _) = woo.calls("GET", "products")
    (orders, _), *more = woo.calls("GET", "orders")
    assert not more
    for query in (changed, trashed, orders):
        assert query["modified_after"] == ["2026-11-22T01:50:23"]  # last sync minus the 5 minute overlap, in UTC
        assert query["dates_are_gmt"] == ["true"]
    assert ("status" not in changed, trashed["status"]) == (True, ["trash"])
    # Re-enabled in place (a fresh copy would leave the disabled one behind in the merchant's list).
    assert woo.calls("POST", "webhooks") == []
    assert woo.calls("PUT", "webhooks/2") == [({}, {"status": "active"})]
    assert woo.webhooks[1]["status"] == "active"
    with db.session() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None
        assert run.status == "done" and run.kind == "reconcile"
        assert run.counts["products"] == 4 and run.counts["webhooks_repaired"] == 1
        assert run.counts["products_trashed"] == 1
        store = s.get(Store, store_id)
        assert store is not None and store.last_synced_at == run.started_at
        deleted = {v.external_id: v.deleted_at for v in s.scalars(select(Variant).where(Variant.store_id == store_id))}
        assert deleted["13"] == datetime(2026, 11, 22, 2, 4, 10, tzinfo=UTC)
        assert [v for v, at in deleted.items() if at is not None] == ["13"]


def test_client_for_decrypts_the_stored_key(db: Database, store_id: int) -> None:
    with db.session() as s:
        store = s.get(Store, store_id)
        assert store is not None
        woo = woo_sync.client_for(SETTINGS, store, resolver=public_resolver)
        assert woo.store_url == STORE_URL
        assert (woo._api.consumer_key, woo._api.consumer_secret) == (KEY, CONSUMER_SECRET)
        assert woo_sync.webhook_secret_for(SETTINGS, store) == SECRET


@responses.activate
def test_jobs_start_reconciliations_and_identity_reads(
    db: Database, store_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.runtime import Runtime, set_runtime
    from jobs import woocommerce as woo_jobs

    real_client_for = woo_sync.client_for

    def offline_client_for(settings: Settings, store: Store, **kw: Any) -> WooClient:
        return real_client_for(settings, store, resolver=public_resolver)

    monkeypatch.setattr(woo_sync, "client_for", offline_client_for)
    woo = FakeWoo()
    woo.install()
    jobs = RecordingQueue()
    set_runtime(Runtime(SETTINGS, db, jobs))
    try:
        assert woo_jobs.reconcile_all() == 0  # no initial sync finished yet
        # The store's settings were never read: the pass queues that read, with or without a sync.
        assert [spec.func for spec in jobs.specs] == [job_specs.WOO_REFRESH_IDENTITY]
        with db.session() as s:
            run_id = woo_sync.start_sync(s, jobs, store_id).id
        assert woo_jobs.run_sync(run_id) == "done"
        jobs.specs.clear()
        assert woo_jobs.reconcile_all() == 1
        assert [spec.func for spec in jobs.specs] == [job_specs.WOO_SYNC, job_specs.WOO_REFRESH_IDENTITY]
    finally:
        set_runtime(None)


@responses.activate
def test_a_step_that_keeps_failing_is_shown_while_retried_then_stopped(
    db: Database, store_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.runtime import Runtime, set_runtime
    from app.services.ingest import sync_runs
    from integrations.base import TransientError
    from jobs import woocommerce as woo_jobs

    monkeypatch.setattr(woo_sync, "client_for", lambda _settings, _store, **_kw: client())
    monkeypatch.setattr(sync_runs, "MAX_FAILED_STEPS", 3)
    woo = FakeWoo()
    woo.failing = {"orders"}
    woo.install()
    jobs = RecordingQueue()
    set_runtime(Runtime(SETTINGS, db, jobs))

    def shown(run_id: int) -> dict[str, Any]:
        with db.session() as s:
            run = s.get(SyncRun, run_id)
            assert run is not None
            return woo_sync.progress(run)

    try:
        with db.session() as s:
            run_id = woo_sync.start_sync(s, jobs, store_id).id
        down = "TransientError: GET orders: HTTP 500 Internal Server Error"
        # The store's orders endpoint is down: each attempt (the job, then the sweeper's re-drives) fails at the
        # same point, is raised for RQ, and is shown on the run while it is retried.
        for attempt in (1, 2):
            with pytest.raises(TransientError):
                woo_jobs.run_sync(run_id)
            now = shown(run_id)
            assert (now["status"], now["phase"]) == ("running", "orders")
            assert now["retrying"] == f"attempt {attempt} failed: {down}"
        # The third failure in a row at that point stops the run with its reason; nothing is raised.
        assert woo_jobs.run_sync(run_id) == "failed"
        stopped = shown(run_id)
        assert (stopped["status"], stopped["retrying"]) == ("failed", None)
        assert stopped["error"] == f"stopped after 3 failed attempts in a row; the last: {down}"
        # A stopped run stays stopped; the store's products were kept.
        assert woo_jobs.run_sync(run_id) == "failed"
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(Product).where(Product.store_id == store_id)) > 0
    finally:
        set_runtime(None)


@responses.activate
def test_a_failure_that_clears_lets_the_run_finish_and_progress_restarts_the_count(
    db: Database, store_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.runtime import Runtime, set_runtime
    from app.services.ingest import sync_runs
    from integrations.base import TransientError
    from jobs import woocommerce as woo_jobs

    monkeypatch.setattr(woo_sync, "client_for", lambda _settings, _store, **_kw: client())
    woo = FakeWoo()
    woo.failing = {"orders"}
    woo.install()
    jobs = RecordingQueue()
    set_runtime(Runtime(SETTINGS, db, jobs))
    try:
        with db.session() as s:
            run_id = woo_sync.start_sync(s, jobs, store_id).id
        with pytest.raises(TransientError):
            woo_jobs.run_sync(run_id)
        # Progress since the last failure: the next failure counts from one again.
        with db.session() as s:
            run = s.get(SyncRun, run_id)
            assert run is not None and run.cursor["failed_steps"] == 1
            run.done += 1
        assert sync_runs.failed_step(db, run_id, TransientError("GET orders: timed out")) is False
        with db.session() as s:
            run = s.get(SyncRun, run_id)
            assert run is not None
            assert (run.cursor["failed_steps"], run.error) == (
                1,
                "attempt 1 failed: TransientError: GET orders: timed out",
            )
            run.done -= 1
        # The store is back: the run finishes, and what it shows is no longer a retry.
        woo.failing = set()
        assert woo_jobs.run_sync(run_id) == "done"
        with db.session() as s:
            run = s.get(SyncRun, run_id)
            assert run is not None
            assert (run.status, woo_sync.progress(run)["retrying"]) == ("done", None)
    finally:
        set_runtime(None)


@responses.activate
@pytest.mark.truncating("forks worker processes that are SIGKILLed mid-run")
def test_a_worker_killed_at_the_same_point_again_and_again_stops_the_run(
    db: Database, store_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal

    from app.runtime import Runtime, set_runtime
    from app.services.ingest import sync_runs
    from jobs import woocommerce as woo_jobs

    monkeypatch.setattr(woo_sync, "client_for", lambda _settings, _store, **_kw: client())
    woo = FakeWoo()
    woo.hanging = {"orders"}
    woo.install()
    jobs = RecordingQueue()
    set_runtime(Runtime(SETTINGS, db, jobs))

    def cursor(run_id: int) -> dict[str, Any]:
        with db.session() as s:
            run = s.get(SyncRun, run_id)
            assert run is not None
            return dict(run.cursor or {})

    def killed_run(run_id: int, start: int) -> None:
        # The job in a worker process of its own, SIGKILLed while it waits on the orders endpoint.
        pid = os.fork()
        if pid == 0:
            db.engine.dispose(close=False)
            db.autocommit_engine.dispose(close=False)
            try:
                woo_jobs.run_sync(run_id)
            finally:
                os._exit(0)
        deadline = time.monotonic() + 20
        seen: tuple[Any, Any] = (None, None)
        while time.monotonic() < deadline and seen != (["orders", 0], start):
            time.sleep(0.02)
            seen = (cursor(run_id).get("step_open"), cursor(run_id).get("step_starts"))
        time.sleep(0.2)  # well inside the orders request, which never answers
        assert (cursor(run_id)["step_open"], cursor(run_id)["step_starts"]) == (["orders", 0], start)
        os.kill(pid, signal.SIGKILL)
        assert os.waitpid(pid, 0)[1] == signal.SIGKILL

    try:
        with db.session() as s:
            run_id = woo_sync.start_sync(s, jobs, store_id).id
        # Products synced; the worker dies on the orders page every time (the sweeper re-drives it each time).
        for start in range(1, sync_runs.MAX_INTERRUPTED_STEPS + 1):
            killed_run(run_id, start)
            with db.session() as s:
                run = s.get(SyncRun, run_id)
                assert run is not None
                assert (run.status, run.phase, run.error) == ("running", "orders", None)
        # The next re-drive does not start the step again: the run stops with what happened.
        assert woo_jobs.run_sync(run_id) == "failed"
        with db.session() as s:
            run = s.get(SyncRun, run_id)
            assert run is not None
            assert (run.status, run.error) == (
                "failed",
                "stopped: its worker stopped without finishing 5 times in a row at orders, 0 done "
                "(killed? out of memory?)",
            )
            assert s.scalar(select(func.count()).select_from(Product).where(Product.store_id == store_id)) > 0
        # Nothing was asked of the store by that last re-drive (the killed attempts ran in their own processes).
        assert woo.calls("GET", "orders") == []
    finally:
        set_runtime(None)


@responses.activate
def test_progress_or_a_normal_end_between_interruptions_restarts_the_count(
    db: Database, store_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.services.ingest import sync_runs

    jobs = RecordingQueue()
    with db.session() as s:
        run_id = woo_sync.start_sync(s, jobs, store_id).id

    def begin() -> tuple[bool, Any, Any]:
        with db.session() as s:
            run = s.get(SyncRun, run_id)
            assert run is not None
            ok = sync_runs.begin_step(s, run)
            return ok, (run.cursor or {}).get("step_open"), (run.cursor or {}).get("step_starts")

    assert begin() == (True, ["products", 0], 1)
    assert begin() == (True, ["products", 0], 2)
    with db.session() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None
        run.done = 100  # the killed step had saved a page before it died
    assert begin() == (True, ["products", 100], 1)
    sync_runs.end_step(db, run_id)
    assert begin() == (True, ["products", 100], 1)
    # A step that raised is counted as a failure, not as an interruption.
    assert sync_runs.failed_step(db, run_id, RuntimeError("boom")) is False
    assert begin() == (True, ["products", 100], 1)
    for n in range(2, sync_runs.MAX_INTERRUPTED_STEPS + 1):
        assert begin() == (True, ["products", 100], n)
    assert begin() == (False, ["products", 100], sync_runs.MAX_INTERRUPTED_STEPS)
    with db.session() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None and run.status == "failed"
