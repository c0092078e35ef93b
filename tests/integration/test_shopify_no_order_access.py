"""A Shopify store whose app has no protected customer data approval at all: Shopify refuses it the Order object.

The answers are the fixtures' (tests/fixtures/shopify/README.md): a paged read of ``orders`` answers ``data: null``
with one ACCESS_DENIED error on ``path ["orders"]``, a bulk order read ends FAILED with errorCode ACCESS_DENIED. The
sync loads the catalog and finishes without orders, the store is marked and its figures know no day of sales, the
freshness pass still finds product changes, and an approval granted later is picked up by the daily retry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests
import responses
from sqlalchemy import func, select

from app import job_specs
from app.config import Settings
from app.db import Database, as_utc
from app.models import InventoryLevel, Order, Product, Store, StoreFreshness, SyncRun, Variant
from app.platforms.shopify import access as shopify_access
from app.platforms.shopify import order_access
from app.platforms.shopify import sync as shopify_sync
from app.runtime import Runtime, set_runtime
from app.services.stock.inputs import plan_for
from integrations.shopify import queries
from integrations.shopify.graphql import GraphQLClient
from jobs import shopify as shopify_jobs
from tests.conftest import FIXTURES
from tests.factories import RecordingQueue

pytestmark = pytest.mark.integration

SHOP = "backsoon-demo.myshopify.com"
GRAPHQL = f"https://{SHOP}/admin/api/2026-10/graphql.json"
GQL = FIXTURES / "shopify" / "graphql"
PRODUCTS_FILE = "https://storage.example.test/bulk-5278203822381.jsonl"
ORDERS_FILE = "https://storage.example.test/bulk-orders-5278203822999.jsonl"
PRODUCTS_OP = "gid://shopify/BulkOperation/5278203822381"
ORDERS_OP = "gid://shopify/BulkOperation/5278203822999"
SWEATER = "gid://shopify/Product/9587413528877"
COST = {
    "cost": {
        "requestedQueryCost": 1,
        "actualQueryCost": 1,
        "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1999, "restoreRate": 100.0},
    }
}
ORDER_1042 = {
    "id": "gid://shopify/Order/6104827363421",
    "legacyResourceId": "6104827363421",
    "name": "#1042",
    "email": "maya.chen@example.com",
    "createdAt": "2026-10-14T14:42:17Z",
    "processedAt": "2026-10-14T14:42:17Z",
    "updatedAt": "2026-10-14T15:05:09Z",
    "cancelledAt": None,
    "currencyCode": "USD",
    "totalPriceSet": {"shopMoney": {"amount": "137.00"}},
    "displayFinancialStatus": "PAID",
    "displayFulfillmentStatus": "UNFULFILLED",
}
LINE_1042 = {
    "id": "gid://shopify/LineItem/15234567890125",
    "quantity": 1,
    "currentQuantity": 1,
    "sku": "MCS-M",
    "variant": {"id": "gid://shopify/ProductVariant/49712345710893"},
    "originalUnitPriceSet": {"shopMoney": {"amount": "89.00"}},
    "__parentId": "gid://shopify/Order/6104827363421",
}


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GQL / name).read_text())
    return data


def empty() -> dict[str, Any]:
    return {"nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}


class Admin:
    """Answers every document a sync or a freshness pass sends, as Shopify does for an app it has not approved for
    protected customer data (``approved=False``) or has approved since; ``broken`` names a document answered with
    another failure instead."""

    def __init__(self, *, approved: bool = False) -> None:
        self.approved = approved
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.bulk_queries: list[str] = []
        self.broken: dict[str, tuple[int, dict[str, Any] | str]] = {}
        self.product_title = "Merino Crew Sweater"
        self.orders_file = "".join(json.dumps(line) + "\n" for line in (ORDER_1042, LINE_1042)).encode()
        responses.add(responses.GET, PRODUCTS_FILE, body=(GQL / "bulk_products.jsonl").read_bytes())
        responses.add(responses.GET, ORDERS_FILE, body=self.orders_file)
        responses.add_callback(responses.POST, GRAPHQL, callback=self)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        payload = json.loads(request.body)
        name = payload["query"].split("(")[0].split("{")[0].split()[-1]
        variables = payload.get("variables", {})
        self.calls.append((name, variables))
        if name in self.broken:
            status, broken = self.broken[name]
            return (
                status,
                {"Content-Type": "application/json"},
                broken if isinstance(broken, str) else json.dumps(broken),
            )
        body = self.answer(name, variables)
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def answer(self, name: str, variables: dict[str, Any]) -> dict[str, Any]:
        denied = load("order_access_probe.order_object_denied.json")
        if name == "LocationsPage":
            node = {"id": "gid://shopify/Location/79432187993", "name": "HQ", "isActive": True}
            return {"data": {"locations": {**empty(), "nodes": [node]}}, "extensions": COST}
        if name == "BulkOperationRunQuery":
            self.bulk_queries.append(variables["query"])
            body = load("bulk_operation_run_query.success.json")
            if "orders" in variables["query"]:
                body["data"]["bulkOperationRunQuery"]["bulkOperation"]["id"] = ORDERS_OP
            return body
        if name == "BulkOperationById":
            if variables["id"] == PRODUCTS_OP:
                body = load("bulk_operation.completed.json")
                body["data"]["bulkOperation"]["url"] = PRODUCTS_FILE
                return body
            if not self.approved:
                return load("bulk_operation.failed_access_denied.json")
            body = load("bulk_operation.completed.json")
            body["data"]["bulkOperation"].update(
                id=ORDERS_OP, url=ORDERS_FILE, objectCount="2", rootObjectCount="1", fileSize=str(len(self.orders_file))
            )
            return body
        if name == "OrderAccessProbe":
            return load("order_access_probe.json") if self.approved else denied
        if name == "ProductsPage":
            return {"data": {"products": empty()}, "extensions": COST}
        if name == "OrdersPage":
            return {"data": {"orders": empty()}, "extensions": COST} if self.approved else denied
        if name == "FreshnessCheck":
            if variables["withOrders"] and not self.approved:
                return denied  # `orders` is non-null: its error nulls the whole answer
            data: dict[str, Any] = {
                "products": {**empty(), "nodes": [{"id": SWEATER}]},
                "events": empty(),
                "locations": {
                    **empty(),
                    "nodes": [{"id": "gid://shopify/Location/79432187993", "inventoryLevels": empty()}],
                },
            }
            if variables["withOrders"]:
                data["orders"] = empty()
            return {"data": data, "extensions": COST}
        if name == "ProductVariantsPage":
            node = load("products_page.json")["data"]["products"]["nodes"][0]
            node["title"] = self.product_title
            return {"data": {"product": node}, "extensions": COST}
        raise AssertionError(f"unexpected operation {name}")


def clients() -> shopify_sync.Clients:
    graphql = GraphQLClient(SHOP, lambda: "shpat_test", sleep=lambda _s: None)
    return shopify_sync.Clients(graphql=graphql, http=requests.Session())


@dataclass(frozen=True)
class StoreAccess:
    access: str | None
    checked_at: datetime | None
    history_from: datetime | None
    last_synced_at: datetime | None


def store_access(db: Database, store_id: int) -> StoreAccess:
    with db.session() as s:
        store = s.get(Store, store_id)
        assert store is not None
        return StoreAccess(
            store.order_email_access,
            store.order_email_checked_at and as_utc(store.order_email_checked_at),
            store.orders_history_from and as_utc(store.orders_history_from),
            store.last_synced_at and as_utc(store.last_synced_at),
        )


def make_store(db: Database, **kw: Any) -> int:
    with db.session() as s:
        store = Store(
            platform="shopify",
            domain=SHOP,
            name="Demo",
            timezone="America/New_York",
            identity_read_at=datetime(2026, 10, 14, tzinfo=UTC),
            **kw,
        )
        s.add(store)
        s.flush()
        return store.id


def run_sync(db: Database, store_id: int, kind: str) -> tuple[str, SyncRun]:
    jobs = RecordingQueue()
    with db.session() as s:
        run_id = shopify_sync.start_sync(s, jobs, store_id, kind=kind).id
    status = shopify_sync.step(db, jobs, run_id, clients())
    with db.session() as s:
        sync_run = s.get(SyncRun, run_id)
        assert sync_run is not None
        s.expunge(sync_run)
    return status, sync_run


def counts(db: Database) -> tuple[int, int, int, int]:
    with db.session() as s:
        return (
            s.scalar(select(func.count()).select_from(Product)) or 0,
            s.scalar(select(func.count()).select_from(Variant)) or 0,
            s.scalar(select(func.count()).select_from(InventoryLevel)) or 0,
            s.scalar(select(func.count()).select_from(Order)) or 0,
        )


# --- the first sync -----------------------------------------------------------------------------------------------


@responses.activate
def test_the_first_bulk_sync_of_a_store_without_approval_loads_the_catalog_and_finishes_without_orders(
    db: Database,
) -> None:
    store_id = make_store(db)
    admin = Admin(approved=False)
    before = datetime.now(UTC)

    status, sync_run = run_sync(db, store_id, "initial")

    assert (status, sync_run.status, sync_run.error) == ("done", "done", None)
    # One order bulk read, refused; one paged read says why (the Order object); no second bulk read.
    assert admin.names() == [
        "LocationsPage",
        "BulkOperationRunQuery",
        "BulkOperationById",
        "BulkOperationRunQuery",
        "BulkOperationById",
        "OrderAccessProbe",
    ]
    assert admin.bulk_queries == [queries.BULK_PRODUCTS_QUERY, queries.BULK_ORDERS_QUERY]
    assert sync_run.counts == {"locations": 1, "products": 4, "variants": 7, "inventory_levels": 9}
    assert counts(db) == (4, 7, 9, 0)
    state = store_access(db, store_id)
    assert state.access == "no_orders"
    assert state.checked_at is not None and before <= state.checked_at <= datetime.now(UTC)
    # No order history: the horizon is when Shopify said so, and the sync itself is done.
    assert state.history_from == state.checked_at
    assert state.last_synced_at is not None and as_utc(sync_run.started_at) == state.last_synced_at
    # The figures know no day of sales while orders are refused, however long that lasts.
    with db.session() as s:
        later = datetime.now(UTC) + timedelta(days=45)
        plan = plan_for(s, store_id, date.today(), later)
        assert plan.known and set(plan.known.values()) == {0}
        store = s.get(Store, store_id)
        assert store is not None
        assert shopify_access.attribution_notice(store) == shopify_access.ORDERS_DENIED_NOTICE
        assert shopify_access.all_orders_prompt(store) is None


@responses.activate
def test_a_bulk_read_rejected_at_its_start_is_checked_the_same_way(db: Database) -> None:
    store_id = make_store(db)
    admin = Admin(approved=False)
    rejected = load("bulk_operation_run_query.user_errors.json")
    rejected["data"]["bulkOperationRunQuery"]["userErrors"][0].update(code="INVALID", message="Access denied")
    status, sync_run = run_sync(db, store_id, "initial")  # products first: the catalog is in before orders
    assert status == "done"
    admin.broken["BulkOperationRunQuery"] = (200, rejected)
    with db.session() as s:
        s.execute(Store.__table__.update().values(order_email_access=None, last_synced_at=None))
    admin.calls.clear()

    status, sync_run = run_sync(db, store_id, shopify_sync.HISTORY)

    assert (status, sync_run.error) == ("done", None)
    assert admin.names() == ["BulkOperationRunQuery", "OrderAccessProbe"]
    assert store_access(db, store_id).access == "no_orders"


@responses.activate
def test_the_paged_reconciliation_of_a_store_without_approval_finishes_and_asks_again_only_a_day_later(
    db: Database,
) -> None:
    synced = datetime(2026, 10, 14, 13, 0, tzinfo=UTC)
    store_id = make_store(db, last_synced_at=synced)
    admin = Admin(approved=False)

    status, sync_run = run_sync(db, store_id, "reconcile")

    assert (status, sync_run.error) == ("done", None)
    assert admin.names() == ["LocationsPage", "ProductsPage", "OrdersPage"]
    state = store_access(db, store_id)
    assert state.access == "no_orders" and state.checked_at is not None
    assert state.history_from is None  # not a first sync: the stored horizon stays; the figures ignore it meanwhile
    checked = state.checked_at

    admin.calls.clear()
    status, _ = run_sync(db, store_id, "reconcile")
    assert status == "done"
    assert admin.names() == ["LocationsPage", "ProductsPage"]  # refused minutes ago: not asked again
    assert store_access(db, store_id).checked_at == checked
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(SyncRun).where(SyncRun.status == "failed")) == 0


# --- other failures still fail -------------------------------------------------------------------------------------


@responses.activate
def test_a_missing_read_orders_scope_is_not_taken_for_a_refused_approval(db: Database) -> None:
    store_id = make_store(db, last_synced_at=datetime(2026, 10, 14, 13, 0, tzinfo=UTC))
    admin = Admin(approved=False)
    admin.broken["OrdersPage"] = (200, load("order_access_probe.scope_denied.json"))

    status, sync_run = run_sync(db, store_id, "reconcile")

    assert status == "failed"
    assert sync_run.error is not None
    assert sync_run.error.startswith("InvalidRequest: GraphQL errors: Access denied for orders field.")
    assert store_access(db, store_id) == StoreAccess(None, None, None, datetime(2026, 10, 14, 13, 0, tzinfo=UTC))


@responses.activate
def test_a_server_error_on_the_probe_is_retried_as_before_and_marks_nothing(db: Database) -> None:
    store_id = make_store(db)
    admin = Admin(approved=False)
    admin.broken["OrderAccessProbe"] = (500, "<html>Internal Server Error</html>")
    jobs = RecordingQueue()
    with db.session() as s:
        run_id = shopify_sync.start_sync(s, jobs, store_id).id

    with pytest.raises(Exception, match="HTTP 500") as caught:
        shopify_sync.step(db, jobs, run_id, clients())

    assert caught.type.__name__ == "TransientError"
    assert admin.names().count("OrderAccessProbe") == 5  # the client's bounded retries, then the job's retry
    with db.session() as s:
        sync_run = s.get(SyncRun, run_id)
        assert sync_run is not None and (sync_run.status, sync_run.phase) == ("running", "orders")
    assert store_access(db, store_id).access is None
    assert counts(db)[3] == 0


# --- the freshness pass --------------------------------------------------------------------------------------------


@pytest.fixture
def runtime(db: Database, monkeypatch: pytest.MonkeyPatch) -> RecordingQueue:
    def offline_clients(_rt: Runtime, _store_id: int) -> shopify_sync.Clients:
        return clients()

    monkeypatch.setattr(shopify_jobs, "clients_for", offline_clients)
    jobs = RecordingQueue()
    set_runtime(Runtime(Settings(env="test"), db, jobs))
    yield jobs
    set_runtime(None)


def seed_catalog(db: Database, **store: Any) -> int:
    store_id = make_store(db, last_synced_at=datetime(2026, 10, 14, 14, 0, tzinfo=UTC), **store)
    with db.session() as s:
        product = Product(store_id=store_id, external_id="9587413528877", title="Merino Crew Sweater")
        s.add(product)
    return store_id


def product_title(db: Database) -> str:
    with db.session() as s:
        return str(s.execute(select(Product.title).where(Product.external_id == "9587413528877")).scalar_one())


def freshness_variables(with_orders: bool) -> dict[str, Any]:
    since = "2026-10-14T13:58:00Z"  # the last sync, less the pass's overlap
    return {
        "query": f"updated_at:>'{since}'",
        "deleted": f"subject_type:PRODUCT AND action:destroy AND created_at:>'{since}'",
        "products": 50,
        "locations": 10,
        "levels": 40,
        "orders": 50,
        "deletions": 10,
        "withOrders": with_orders,
    }


@responses.activate
def test_the_freshness_pass_of_a_refused_store_asks_without_orders_and_still_applies_a_product_change(
    db: Database, runtime: RecordingQueue
) -> None:
    checked = datetime.now(UTC) - timedelta(hours=3)
    store_id = seed_catalog(db, order_email_access="no_orders", order_email_checked_at=checked)
    admin = Admin(approved=False)
    admin.product_title = "Merino Crew Sweater (new season)"

    assert shopify_jobs.fresh_pass(store_id) == "ok"

    assert admin.calls == [("FreshnessCheck", freshness_variables(False))]
    assert [(spec.func, spec.args) for spec in runtime.specs] == [
        (job_specs.SHOPIFY_REFRESH_PRODUCT, (store_id, SWEATER))
    ]
    assert shopify_jobs.refresh_product(store_id, SWEATER) == "applied:3"
    assert product_title(db) == "Merino Crew Sweater (new season)"
    assert store_access(db, store_id).checked_at == checked  # not asked: nothing to record
    with db.session() as s:
        row = s.get(StoreFreshness, store_id)
        assert row is not None and (row.last_error, row.last_requests) == (None, 1)


@responses.activate
def test_a_pass_refused_the_orders_records_it_and_asks_again_without_them(
    db: Database, runtime: RecordingQueue
) -> None:
    store_id = seed_catalog(db)
    admin = Admin(approved=False)

    assert shopify_jobs.fresh_pass(store_id) == "ok"

    assert admin.calls == [
        ("FreshnessCheck", freshness_variables(True)),
        ("FreshnessCheck", freshness_variables(False)),
    ]
    assert [spec.args for spec in runtime.specs] == [(store_id, SWEATER)]
    state = store_access(db, store_id)
    assert state.access == "no_orders" and state.checked_at is not None
    assert state.history_from is None  # the store synced before: its horizon is kept (and ignored while refused)


@responses.activate
def test_an_approval_granted_later_is_picked_up_and_the_order_history_loaded(
    db: Database, runtime: RecordingQueue
) -> None:
    # Refused for 100 days: more than the 60 days of orders Shopify shows without read_all_orders.
    first_sync = datetime.now(UTC) - timedelta(days=100)
    store_id = seed_catalog(
        db,
        order_email_access="no_orders",
        order_email_checked_at=datetime.now(UTC) - order_access.ORDERS_RETRY_AFTER - timedelta(minutes=1),
        orders_history_from=first_sync,
    )
    admin = Admin(approved=True)
    before = datetime.now(UTC)

    assert shopify_jobs.fresh_pass(store_id) == "ok"

    assert admin.calls == [("FreshnessCheck", freshness_variables(True))]
    state = store_access(db, store_id)
    assert state.access is None  # the email is unknown until an order read tells
    assert state.history_from is not None and before <= state.history_from <= datetime.now(UTC)
    with db.session() as s:
        run = s.execute(select(SyncRun).where(SyncRun.store_id == store_id)).scalar_one()
        run_id, kind, status = run.id, run.kind, run.status
    assert (kind, status) == (shopify_sync.HISTORY, "running")
    assert sorted(spec.func for spec in runtime.specs) == sorted(
        [job_specs.SHOPIFY_REFRESH_PRODUCT, job_specs.shopify_sync(run_id).func]
    )

    admin.calls.clear()
    assert shopify_sync.step(db, runtime, run_id, clients()) == "done"

    assert admin.names() == ["BulkOperationRunQuery", "BulkOperationById"]
    assert admin.bulk_queries == [queries.BULK_ORDERS_QUERY]
    assert counts(db)[3] == 1
    state = store_access(db, store_id)
    assert state.access == "granted"
    with db.session() as s:
        finished = s.get(SyncRun, run_id)
        assert finished is not None and finished.cursor is not None
        seen_from = datetime.fromisoformat(finished.cursor["orders_seen_from"])
    # The last 60 days (no read_all_orders), read after the approval: the 40 days of the refusal before them are
    # not taken for days without sales (the old horizon would have made them so).
    assert state.history_from == seen_from
    assert before - timedelta(days=60) <= seen_from <= datetime.now(UTC) - timedelta(days=60)
    with db.session() as s:
        assert shopify_sync.history_due(s, store_id) is False


@responses.activate
def test_a_throttled_freshness_pass_fails_as_before_and_marks_nothing(db: Database, runtime: RecordingQueue) -> None:
    store_id = seed_catalog(db)
    admin = Admin(approved=False)
    admin.broken["FreshnessCheck"] = (200, load("throttled.json"))

    assert shopify_jobs.fresh_pass(store_id) == "failed"

    assert set(admin.names()) == {"FreshnessCheck"} and len(admin.calls) == 9  # 8 waits, then RateLimited
    assert runtime.specs == []
    assert store_access(db, store_id).access is None
    with db.session() as s:
        row = s.get(StoreFreshness, store_id)
        assert row is not None and row.last_error is not None and row.last_error.startswith("RateLimited")
