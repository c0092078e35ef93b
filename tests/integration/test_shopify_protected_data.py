"""Order email, protected customer data: a store whose app Shopify has not approved for it still syncs its orders.

Shopify answers a paged read with the email null and an ACCESS_DENIED error per order (the data still there), and
refuses a bulk read as a whole (errorCode ACCESS_DENIED). BackSoon records the answer on the store and carries on.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import requests
import responses
from sqlalchemy import func, select

from app.db import Database
from app.models import Order, OrderLine, Store, SyncRun
from app.platforms.shopify import sync as shopify_sync
from integrations.shopify import queries
from integrations.shopify.graphql import GraphQLClient
from tests.conftest import FIXTURES
from tests.factories import RecordingQueue

pytestmark = pytest.mark.integration

SHOP = "backsoon-demo.myshopify.com"
GRAPHQL = f"https://{SHOP}/admin/api/2026-10/graphql.json"
GQL = FIXTURES / "shopify" / "graphql"
FILE_URL = "https://storage.example.test/bulk-orders-5278203822999.jsonl"
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


def _name(request: Any) -> str:
    query = json.loads(request.body)["query"]
    return str(query.split("(")[0].split("{")[0].split()[-1])


class ReconcileAdmin:
    """Answers a reconciliation: no locations or changed products, one page of orders as given."""

    def __init__(self, orders_page: dict[str, Any]) -> None:
        self.orders_page = orders_page
        self.calls: list[str] = []

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        name = _name(request)
        self.calls.append(name)
        empty = {"nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}
        if name == "LocationsPage":
            body: dict[str, Any] = {"data": {"locations": empty}, "extensions": COST}
        elif name == "ProductsPage":
            body = {"data": {"products": empty}, "extensions": COST}
        elif name == "OrdersPage":
            body = self.orders_page
        else:
            raise AssertionError(f"unexpected operation {name}")
        return 200, {"Content-Type": "application/json"}, json.dumps(body)


class HistoryAdmin:
    """Answers an order-history run's bulk read: the email query is refused (ACCESS_DENIED), the other one runs."""

    def __init__(self, lines: list[dict[str, Any]], *, email_allowed: bool = False) -> None:
        self.file = "".join(json.dumps(line) + "\n" for line in lines).encode()
        responses.add(responses.GET, FILE_URL, body=self.file)
        self.email_allowed = email_allowed
        self.calls: list[str] = []
        self.bulk_queries: list[str] = []

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        name = _name(request)
        self.calls.append(name)
        variables = json.loads(request.body).get("variables", {})
        if name == "BulkOperationRunQuery":
            self.bulk_queries.append(variables["query"])
            body = load("bulk_operation_run_query.success.json")
            op_id = f"gid://shopify/BulkOperation/{5278203822990 + len(self.bulk_queries)}"
            body["data"]["bulkOperationRunQuery"]["bulkOperation"]["id"] = op_id
        elif name == "BulkOperationById":
            body = load("bulk_operation.completed.json")
            op = body["data"]["bulkOperation"]
            op.update(
                id=variables["id"], url=FILE_URL, objectCount="2", rootObjectCount="1", fileSize=str(len(self.file))
            )
            refused = "email" in self.bulk_queries[-1] and not self.email_allowed
            if refused:
                # Shopify's BulkOperationErrorCode for a query the app lacks access for; no file, no partial data.
                op.update(status="FAILED", errorCode="ACCESS_DENIED", url=None, objectCount="0", fileSize=None)
        elif name == "OrderAccessProbe":
            body = load("order_access_probe.json")  # the Order object itself is approved: only the email is not
        else:
            raise AssertionError(f"unexpected operation {name}")
        return 200, {"Content-Type": "application/json"}, json.dumps(body)


def clients() -> shopify_sync.Clients:
    graphql = GraphQLClient(SHOP, lambda: "shpat_test", sleep=lambda _s: None)
    return shopify_sync.Clients(graphql=graphql, http=requests.Session())


@pytest.fixture
def store_id(db: Database) -> int:
    with db.session() as s:
        store = Store(
            platform="shopify",
            domain=SHOP,
            name="Demo",
            timezone="America/New_York",
            identity_read_at=datetime(2026, 10, 14, tzinfo=UTC),
            last_synced_at=datetime(2026, 10, 14, 13, 0, tzinfo=UTC),
        )
        s.add(store)
        s.flush()
        return store.id


def run(db: Database, store_id: int, kind: str) -> SyncRun:
    jobs = RecordingQueue()
    with db.session() as s:
        run_id = shopify_sync.start_sync(s, jobs, store_id, kind=kind).id
    status = shopify_sync.step(db, jobs, run_id, clients())
    with db.session() as s:
        sync_run = s.get(SyncRun, run_id)
        assert sync_run is not None
        s.expunge(sync_run)
    assert (status, sync_run.error) == ("done", None)
    return sync_run


def store_access(db: Database, store_id: int) -> tuple[str | None, bool]:
    with db.session() as s:
        store = s.get(Store, store_id)
        assert store is not None
        return store.order_email_access, store.order_email_checked_at is not None


def orders(db: Database) -> list[tuple[str, str, str | None, str]]:
    with db.session() as s:
        rows = s.execute(select(Order.external_id, Order.name, Order.email, Order.status).order_by(Order.name))
        return [tuple(r) for r in rows]  # type: ignore[misc]


@responses.activate
def test_an_access_denied_email_still_syncs_the_orders_and_is_recorded(db: Database, store_id: int) -> None:
    denied = load("orders_page.email_access_denied.json")
    assert [e["path"] for e in denied["errors"]] == [["orders", "nodes", 0, "email"], ["orders", "nodes", 1, "email"]]
    admin = ReconcileAdmin(denied)
    responses.add_callback(responses.POST, GRAPHQL, callback=admin)

    sync_run = run(db, store_id, "reconcile")

    assert admin.calls == ["LocationsPage", "ProductsPage", "OrdersPage"]
    assert sync_run.counts == {"locations": 0, "orders": 2}
    assert orders(db) == [
        ("6104827363421", "#1042", None, "open"),
        ("6104827396189", "#1043", None, "cancelled"),
    ]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(OrderLine)) == 3
    assert store_access(db, store_id) == ("denied", True)


@responses.activate
def test_an_order_with_its_email_records_that_the_store_shows_emails(db: Database, store_id: int) -> None:
    with db.session() as s:
        store = s.get(Store, store_id)
        assert store is not None
        store.order_email_access = "denied"  # an earlier read was refused; Shopify has approved the app since
    page = load("orders_page.json")
    page["data"]["orders"]["nodes"][0]["email"] = "Maya.Chen@example.com"
    page["data"]["orders"]["nodes"][1]["email"] = None  # an order without an email (POS) says nothing either way
    responses.add_callback(responses.POST, GRAPHQL, callback=ReconcileAdmin(page))

    run(db, store_id, "reconcile")

    assert orders(db) == [
        ("6104827363421", "#1042", "maya.chen@example.com", "open"),
        ("6104827396189", "#1043", None, "cancelled"),
    ]
    assert store_access(db, store_id) == ("granted", True)


@responses.activate
def test_orders_without_any_email_leave_the_access_unknown(db: Database, store_id: int) -> None:
    responses.add_callback(responses.POST, GRAPHQL, callback=ReconcileAdmin(load("orders_page.json")))
    run(db, store_id, "reconcile")
    assert [o[2] for o in orders(db)] == [None, None]
    assert store_access(db, store_id) == (None, False)


@responses.activate
def test_a_refused_order_object_is_not_taken_for_a_refused_email(db: Database, store_id: int) -> None:
    """A denied Order object (no level-1 approval) is not read as "no orders" of a store that hides emails: nothing is
    written and the store is marked as refused its orders (tests/integration/test_shopify_no_order_access.py)."""
    refused = load("order_access_probe.order_object_denied.json")
    assert refused["data"] is None and [e["path"] for e in refused["errors"]] == [["orders"]]
    responses.add_callback(responses.POST, GRAPHQL, callback=ReconcileAdmin(refused))
    run(db, store_id, "reconcile")
    assert orders(db) == []
    assert store_access(db, store_id) == ("no_orders", True)


@responses.activate
def test_any_other_error_on_the_orders_page_still_fails_the_run(db: Database, store_id: int) -> None:
    """Only protected customer data refusals are tolerated: a missing read_orders scope fails the run as before."""
    responses.add_callback(
        responses.POST, GRAPHQL, callback=ReconcileAdmin(load("order_access_probe.scope_denied.json"))
    )
    jobs = RecordingQueue()
    with db.session() as s:
        run_id = shopify_sync.start_sync(s, jobs, store_id, kind="reconcile").id
    assert shopify_sync.step(db, jobs, run_id, clients()) == "failed"
    with db.session() as s:
        sync_run = s.get(SyncRun, run_id)
        assert sync_run is not None and sync_run.error is not None
        assert sync_run.error.startswith("InvalidRequest: GraphQL errors: Access denied for orders field.")
    assert orders(db) == []
    assert store_access(db, store_id) == (None, False)


@responses.activate
def test_a_refused_bulk_read_is_read_again_without_the_email(db: Database, store_id: int) -> None:
    admin = HistoryAdmin([ORDER_1042, LINE_1042])
    responses.add_callback(responses.POST, GRAPHQL, callback=admin)

    sync_run = run(db, store_id, shopify_sync.HISTORY)

    assert admin.bulk_queries == [queries.BULK_ORDERS_QUERY, queries.BULK_ORDERS_QUERY_WITHOUT_EMAIL]
    # The refusal is checked with one paged read: Shopify answers orders, so it is the email it refuses.
    assert admin.calls == [
        "BulkOperationRunQuery",
        "BulkOperationById",
        "OrderAccessProbe",
        "BulkOperationRunQuery",
        "BulkOperationById",
    ]
    assert sync_run.counts == {"orders": 1}
    assert sync_run.cursor is not None and sync_run.cursor["orders_email"] is False
    assert orders(db) == [("6104827363421", "#1042", None, "open")]
    with db.session() as s:
        assert s.execute(select(Order.total, Order.currency)).one() == (Decimal("137.00"), "USD")
    assert store_access(db, store_id) == ("denied", True)


@responses.activate
def test_a_store_known_to_refuse_the_email_is_read_without_it_at_once(db: Database, store_id: int) -> None:
    with db.session() as s:
        store = s.get(Store, store_id)
        assert store is not None
        store.order_email_access = "denied"
    admin = HistoryAdmin([ORDER_1042, LINE_1042])
    responses.add_callback(responses.POST, GRAPHQL, callback=admin)

    run(db, store_id, shopify_sync.HISTORY)

    assert admin.bulk_queries == [queries.BULK_ORDERS_QUERY_WITHOUT_EMAIL]
    assert orders(db) == [("6104827363421", "#1042", None, "open")]
    assert store_access(db, store_id) == ("denied", False)  # nothing new learnt, nothing rewritten


@responses.activate
def test_an_approved_store_reads_its_history_with_the_email(db: Database, store_id: int) -> None:
    admin = HistoryAdmin([{**ORDER_1042, "email": "maya.chen@example.com"}, LINE_1042], email_allowed=True)
    responses.add_callback(responses.POST, GRAPHQL, callback=admin)

    run(db, store_id, shopify_sync.HISTORY)

    assert admin.bulk_queries == [queries.BULK_ORDERS_QUERY]
    assert orders(db) == [("6104827363421", "#1042", "maya.chen@example.com", "open")]
    assert store_access(db, store_id) == ("granted", True)
