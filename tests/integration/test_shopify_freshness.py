"""Shopify's freshness pass (jobs.shopify.fresh_pass) against a simulated Admin API (responses), on real PostgreSQL:
one request for an unchanged shop, a lost inventory_levels/update found through the level's own updated_at, paging,
and a revoked token."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import responses
from sqlalchemy import func, select

from app import job_specs
from app.config import Settings
from app.db import Database
from app.models import (
    DirtyVariant,
    Order,
    OrderLine,
    Product,
    Refund,
    RefundLine,
    Store,
    StoreFreshness,
    Variant,
    WebhookEvent,
)
from app.platforms import registry
from app.platforms.shopify import sync as shopify_sync
from app.runtime import Runtime, set_runtime
from app.services.ingest import freshness, inbox
from integrations.shopify.graphql import GraphQLClient
from jobs import shopify as shopify_jobs
from tests.conftest import FIXTURES
from tests.factories import RecordingQueue

pytestmark = pytest.mark.integration

SHOP = "backsoon-demo.myshopify.com"
GRAPHQL = f"https://{SHOP}/admin/api/2026-10/graphql.json"
LAST_SYNC = datetime(2026, 10, 14, 14, 0, 0, tzinfo=UTC)
HQ = "gid://shopify/Location/79432187993"
OVERFLOW = "gid://shopify/Location/79432220761"
# The sweater of tests/fixtures/shopify (graphql/products_page.json): size M's inventory item is the one whose
# inventory_levels/update is in webhooks/inventory_levels-update-available_7.json.
SWEATER = "gid://shopify/Product/9587413528877"
SWEATER_M_ITEM = "gid://shopify/InventoryItem/51823456822069"
COST = {
    "cost": {
        "requestedQueryCost": 948,
        "actualQueryCost": 6,
        "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1994, "restoreRate": 100.0},
    }
}


def connection(nodes: list[dict[str, Any]], cursor: str | None = None) -> dict[str, Any]:
    return {"nodes": nodes, "pageInfo": {"hasNextPage": cursor is not None, "endCursor": cursor}}


def level(item_gid: str) -> dict[str, Any]:
    return {"item": {"id": item_gid}}


class FakeAdmin:
    """Answers the pass's documents from what a test sets; records each operation and its variables."""

    def __init__(self) -> None:
        self.answers: dict[str, list[Any]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.status = 200

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        payload = json.loads(request.body)
        name = payload["query"].split("(")[0].split("{")[0].split()[-1]
        self.calls.append((name, payload.get("variables", {})))
        if self.status == 401:
            return 401, {"Content-Type": "application/json"}, json.dumps({"errors": "[API] Invalid API key"})
        data = self.answers[name].pop(0)
        if isinstance(data, int):  # the shop answering an error status
            return data, {"Content-Type": "text/html"}, "<html>Service Unavailable</html>"
        return 200, {"Content-Type": "application/json"}, json.dumps({"data": data, "extensions": COST})


@dataclass
class Env:
    db: Database
    admin: FakeAdmin
    jobs: RecordingQueue
    store_id: int

    def row(self) -> StoreFreshness:
        with self.db.session() as s:
            row = s.get(StoreFreshness, self.store_id)
            assert row is not None
            s.expunge(row)
            return row


@pytest.fixture
def env(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    with db.session() as s:
        store = Store(platform="shopify", domain=SHOP, name="Demo", timezone="UTC", last_synced_at=LAST_SYNC)
        s.add(store)
        s.flush()
        product = Product(store_id=store.id, external_id="9587413528877", title="Merino Crew Sweater")
        s.add(product)
        s.flush()
        s.add(
            Variant(
                store_id=store.id,
                product_id=product.id,
                external_id="49712345710893",
                inventory_item_external_id="51823456822069",
                sku="MCS-M",
                title="M",
            )
        )
        store_id = store.id

    def offline_clients(_rt: Runtime, _store_id: int) -> shopify_sync.Clients:
        graphql = GraphQLClient(SHOP, lambda: "shpat_test", sleep=lambda _s: None)
        return shopify_sync.Clients(graphql=graphql, http=requests.Session())

    monkeypatch.setattr(shopify_jobs, "clients_for", offline_clients)
    jobs = RecordingQueue()
    set_runtime(Runtime(Settings(env="test"), db, jobs))
    admin = FakeAdmin()
    try:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            mock.add_callback(responses.POST, GRAPHQL, callback=admin)
            yield Env(db, admin, jobs, store_id)
    finally:
        set_runtime(None)


def check(
    products: dict[str, Any],
    locations: dict[str, Any],
    orders: dict[str, Any] | None = None,
    events: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "products": products,
        "orders": orders or connection([]),
        "events": events or connection([]),
        "locations": locations,
    }


SINCE = "updated_at:>'2026-10-14T13:58:00Z'"
DELETED = "subject_type:PRODUCT AND action:destroy AND created_at:>'2026-10-14T13:58:00Z'"
CHECK_VARIABLES = {
    "query": SINCE,
    "deleted": DELETED,
    "products": 50,
    "locations": 10,
    "levels": 40,
    "orders": 50,
    "deletions": 10,
    "withOrders": True,
}


def test_an_unchanged_shop_costs_one_request(env: Env) -> None:
    env.admin.answers["FreshnessCheck"] = [
        check(connection([]), connection([{"id": HQ, "inventoryLevels": connection([])}]))
    ]

    clock = time.perf_counter()
    assert shopify_jobs.fresh_pass(env.store_id) == "ok"
    elapsed_ms = (time.perf_counter() - clock) * 1000
    print(f"\nunchanged Shopify store: 1 request, {elapsed_ms:.1f} ms against responses mocks")

    assert env.admin.calls == [("FreshnessCheck", CHECK_VARIABLES)]
    assert env.jobs.specs == []
    row = env.row()
    assert (row.last_requests, row.failures_in_a_row, row.webhook_actions, row.webhooks_broken) == (1, 0, [], [])


def test_a_lost_inventory_level_update_re_reads_its_product(env: Env) -> None:
    # Size M at HQ went to 7 (an order); the delivery never came. Its level's updated_at moved, the product's need not.
    unknown_item = "gid://shopify/InventoryItem/51823456999999"  # a product created since the sync: not ours yet
    env.admin.answers["FreshnessCheck"] = [
        check(
            connection([]),
            connection(
                [
                    {"id": HQ, "inventoryLevels": connection([level(SWEATER_M_ITEM)])},
                    {"id": OVERFLOW, "inventoryLevels": connection([level(unknown_item)])},
                ]
            ),
        )
    ]

    assert shopify_jobs.fresh_pass(env.store_id) == "ok"

    assert [name for name, _ in env.admin.calls] == ["FreshnessCheck"]
    assert [(spec.func, spec.args, spec.job_id) for spec in env.jobs.specs] == [
        (job_specs.SHOPIFY_REFRESH_PRODUCT, (env.store_id, SWEATER), f"shopify-product-{env.store_id}-9587413528877")
    ]


def test_every_page_of_changes_is_read(env: Env) -> None:
    other = "gid://shopify/Product/9587413594413"
    env.admin.answers["FreshnessCheck"] = [
        check(
            connection([{"id": other}], cursor="products-1"),
            connection([{"id": HQ, "inventoryLevels": connection([], cursor="levels-1")}], cursor="locations-1"),
        ),
        check(
            connection([{"id": other}], cursor="products-1"),
            connection([{"id": OVERFLOW, "inventoryLevels": connection([])}]),
        ),
    ]
    env.admin.answers["ChangedProductsPage"] = [{"products": connection([{"id": SWEATER}])}]
    env.admin.answers["ChangedLevelsPage"] = [{"location": {"inventoryLevels": connection([level(SWEATER_M_ITEM)])}}]

    assert shopify_jobs.fresh_pass(env.store_id) == "ok"

    assert env.admin.calls == [
        ("FreshnessCheck", CHECK_VARIABLES),
        ("ChangedProductsPage", {"query": SINCE, "first": 250, "after": "products-1"}),
        ("ChangedLevelsPage", {"id": HQ, "query": SINCE, "first": 250, "after": "levels-1"}),
        ("FreshnessCheck", {**CHECK_VARIABLES, "after": "locations-1"}),
    ]
    assert sorted(spec.args[1] for spec in env.jobs.specs) == [SWEATER, other]
    assert env.row().last_requests == 4


def test_a_revoked_token_disconnects_the_shop_and_queues_nothing(env: Env) -> None:
    env.admin.status = 401

    assert shopify_jobs.fresh_pass(env.store_id) == "disconnected"

    with env.db.session() as s:
        store = s.get(Store, env.store_id)
        assert store is not None
        assert (store.status, store.status_reason) == ("disconnected", "Shopify rejected the access token")
    row = env.row()
    assert (row.running_since, row.failures_in_a_row, row.checked_through) == (None, 0, None)
    assert env.jobs.specs == []


def test_a_pass_for_an_erased_or_uninstalled_shop_does_nothing(env: Env) -> None:
    with env.db.session() as s:
        store = s.get(Store, env.store_id)
        assert store is not None
        store.status = "uninstalled"
    assert shopify_jobs.fresh_pass(env.store_id) == "inactive"
    assert shopify_jobs.fresh_pass(env.store_id + 1000) == "inactive"  # erased by shop/redact, a pass still queued
    assert env.admin.calls == []
    # Claimed directly, an erased store's pass is refused rather than failing on its missing row.
    assert freshness.claim(env.db, env.store_id + 1000, datetime.now(UTC)) is None
    with env.db.session() as s:
        assert s.get(StoreFreshness, env.store_id) is None
        assert s.get(StoreFreshness, env.store_id + 1000) is None


# --- lost order deliveries and deletions ---------------------------------------------------------------------------

GRAPHQL_FIXTURES = FIXTURES / "shopify" / "graphql"
HOOKS = FIXTURES / "shopify" / "webhooks"
ORDER = "gid://shopify/Order/6104827363421"  # #1042: Merino Crew Sweater M × 1 and an apron (not ours) × 2


def order_node(**changes: Any) -> dict[str, Any]:
    """Order #1042 as OrderById answers it (graphql/orders_page.json's node, which has no refund yet)."""
    page = json.loads((GRAPHQL_FIXTURES / "orders_page.json").read_text())
    node: dict[str, Any] = {**page["data"]["orders"]["nodes"][0], "refunds": []}
    node.update(changes)
    return node


def refund_node() -> dict[str, Any]:
    """The refund of webhooks/refunds-create.json (the sweater cancelled, one apron not restocked) as a node."""
    body = json.loads(json.loads((HOOKS / "refunds-create.json").read_text())["body_text"])
    lines = [
        {
            "lineItem": {"id": f"gid://shopify/LineItem/{line['line_item_id']}"},
            "quantity": line["quantity"],
            "restockType": line["restock_type"].upper(),
        }
        for line in body["refund_line_items"]
    ]
    return {
        "id": f"gid://shopify/Refund/{body['id']}",
        "createdAt": "2026-10-14T16:02:37Z",
        "note": body["note"],
        "refundLineItems": connection(lines),
    }


def deliver(env: Env, name: str, body: bytes | None = None) -> str:
    """Apply a captured delivery that arrived late after all, as the inbox drain applies it."""
    captured = json.loads((HOOKS / f"{name}.json").read_text())
    headers = captured["headers"]
    with env.db.session() as s:
        event = WebhookEvent(
            store_id=env.store_id,
            platform="shopify",
            topic=captured["topic"],
            dedupe_key=headers["X-Shopify-Event-Id"],
            triggered_at=datetime.fromisoformat(headers["X-Shopify-Triggered-At"]),
            headers=headers,
            body=body if body is not None else captured["body_text"].encode(),
        )
        s.add(event)
        s.flush()
        event_id = event.id
    with env.db.session() as s:
        return inbox.process_event(s, env.jobs, event_id, registry.handler_for)


def order_rows(db: Database) -> list[tuple[str, str, str]]:
    with db.session() as s:
        rows = s.execute(select(Order.external_id, Order.status, Order.financial_status)).all()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def line_rows(db: Database) -> list[tuple[str, str | None, int, int]]:
    with db.session() as s:
        rows = s.execute(
            select(OrderLine.external_id, Variant.external_id, OrderLine.quantity, OrderLine.refunded_quantity)
            .outerjoin(Variant, Variant.id == OrderLine.variant_id)
            .order_by(OrderLine.external_id)
        ).all()
    return [(str(a), b, int(c), int(d)) for a, b, c, d in rows]


def dirty_reasons(db: Database) -> list[tuple[str, str]]:
    with db.session() as s:
        rows = s.execute(
            select(Variant.external_id, DirtyVariant.reason).join(DirtyVariant, DirtyVariant.variant_id == Variant.id)
        ).all()
        s.execute(DirtyVariant.__table__.delete())
    return [(str(a), str(b)) for a, b in rows]


def test_a_lost_order_and_its_lost_refund_are_read_and_count_once(env: Env) -> None:
    # Order #1042 was placed and paid while our orders/create and orders/paid deliveries were failing.
    hq = connection([{"id": HQ, "inventoryLevels": connection([])}])
    env.admin.answers["FreshnessCheck"] = [check(connection([]), hq, orders=connection([{"id": ORDER}]))]

    assert shopify_jobs.fresh_pass(env.store_id) == "ok"

    assert [name for name, _ in env.admin.calls] == ["FreshnessCheck"]
    assert [(spec.func, spec.args, spec.job_id) for spec in env.jobs.specs] == [
        (job_specs.SHOPIFY_REFRESH_ORDER, (env.store_id, ORDER), f"shopify-order-{env.store_id}-6104827363421")
    ]
    assert env.row().last_requests == 1
    env.jobs.specs.clear()

    # The job reads the order as the reconciliation would, with its lines.
    env.admin.answers["OrderById"] = [{"order": order_node()}]
    assert shopify_jobs.refresh_order(env.store_id, ORDER) == "applied:2"
    assert env.admin.calls[-1] == ("OrderById", {"id": ORDER})
    assert order_rows(env.db) == [("6104827363421", "open", "paid")]
    assert line_rows(env.db) == [("15234567890125", "49712345710893", 1, 0), ("15234567922893", None, 2, 0)]
    assert dirty_reasons(env.db) == [("49712345710893", "orders")]

    # The delayed orders/create arrives after all: older than what we read, it changes nothing.
    assert deliver(env, "orders-create") == "stale"
    assert order_rows(env.db) == [("6104827363421", "open", "paid")]
    assert line_rows(env.db) == [("15234567890125", "49712345710893", 1, 0), ("15234567922893", None, 2, 0)]
    assert dirty_reasons(env.db) == []

    # A refund (the sweater cancelled, one apron kept) whose refunds/create was lost: it updated its order.
    env.admin.answers["FreshnessCheck"] = [check(connection([]), hq, orders=connection([{"id": ORDER}]))]
    env.jobs.specs.clear()
    assert shopify_jobs.fresh_pass(env.store_id) == "ok"
    assert [spec.args for spec in env.jobs.specs] == [(env.store_id, ORDER)]
    refunded = order_node(
        updatedAt="2026-10-14T16:02:38Z", displayFinancialStatus="PARTIALLY_REFUNDED", refunds=[refund_node()]
    )
    env.admin.answers["OrderById"] = [{"order": refunded}]
    assert shopify_jobs.refresh_order(env.store_id, ORDER) == "applied:2"
    expected = [("15234567890125", "49712345710893", 1, 1), ("15234567922893", None, 2, 1)]
    assert line_rows(env.db) == expected
    assert dirty_reasons(env.db) == [("49712345710893", "orders")]

    # The delayed refunds/create: the same refund, counted once.
    assert deliver(env, "refunds-create") == "applied"
    assert line_rows(env.db) == expected
    with env.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Refund)) == 1
        assert s.scalar(select(func.count()).select_from(RefundLine)) == 2
        assert s.scalar(select(func.count()).select_from(Order)) == 1


def test_a_product_deleted_without_a_delivery_is_deleted(env: Env) -> None:
    # The sweater was updated, then deleted, while products/delete was failing: no re-read for it, a deletion.
    env.admin.answers["FreshnessCheck"] = [
        check(
            connection([{"id": SWEATER}]),
            connection([{"id": HQ, "inventoryLevels": connection([level(SWEATER_M_ITEM)])}]),
            events=connection([{"subjectId": SWEATER, "createdAt": "2026-10-14T15:02:51Z"}]),
        )
    ]

    assert shopify_jobs.fresh_pass(env.store_id) == "ok"

    assert [name for name, _ in env.admin.calls] == ["FreshnessCheck"]
    deleted_at = datetime(2026, 10, 14, 15, 2, 51, tzinfo=UTC)
    with env.db.session() as s:
        assert s.execute(select(Product.external_id, Product.deleted_at)).all() == [("9587413528877", deleted_at)]
        assert s.execute(select(Variant.external_id, Variant.deleted_at)).all() == [("49712345710893", deleted_at)]
    assert dirty_reasons(env.db) == [("49712345710893", "product_deleted")]
    assert [spec.func for spec in env.jobs.specs] == [job_specs.RECOMPUTE_DIRTY]

    # Its delivery arrives late: the same deletion, nothing new.
    captured = json.loads((HOOKS / "products-delete.json").read_text())
    body = json.dumps({**json.loads(captured["body_text"]), "id": 9587413528877}).encode()
    assert deliver(env, "products-delete", body) == "applied"
    with env.db.session() as s:
        assert s.execute(select(Product.deleted_at)).scalar_one() == deleted_at
    assert dirty_reasons(env.db) == []


def test_a_pass_that_fails_part_way_deletes_and_queues_nothing(env: Env) -> None:
    env.admin.answers["FreshnessCheck"] = [
        check(
            connection([]),
            connection([{"id": HQ, "inventoryLevels": connection([])}], cursor="locations-1"),
            orders=connection([{"id": ORDER}]),
            events=connection([{"subjectId": SWEATER, "createdAt": "2026-10-14T15:02:51Z"}]),
        ),
        *[503] * 5,  # the next page of locations: Shopify unavailable through every retry
    ]

    assert shopify_jobs.fresh_pass(env.store_id) == "failed"

    assert [name for name, _ in env.admin.calls] == ["FreshnessCheck"] * 6
    with env.db.session() as s:
        assert s.execute(select(Product.deleted_at)).scalar_one() is None
        assert s.execute(select(Variant.deleted_at)).scalar_one() is None
        assert s.scalar(select(func.count()).select_from(DirtyVariant)) == 0
    assert env.jobs.specs == []
    row = env.row()
    assert (row.failures_in_a_row, row.checked_through, row.last_requests) == (1, None, 6)
