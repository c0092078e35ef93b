"""A 2,000-variant product (no truncation at 100): reconciliation, a partial products/update webhook and its
follow-up refresh, and a real removal, against a simulated Admin API (responses) on real PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import responses
from sqlalchemy import func, select, update

from app import job_specs
from app.db import Database
from app.models import InventoryLevel, Product, Store, SyncRun, Variant, WebhookEvent
from app.platforms import registry
from app.platforms.shopify import records as shopify_records
from app.platforms.shopify import sync as shopify_sync
from app.queue import resolve
from app.services.ingest import inbox
from integrations.shopify.graphql import GraphQLClient
from tests.conftest import FIXTURES
from tests.factories import RecordingQueue

pytestmark = pytest.mark.integration

SHOP = "backsoon-demo.myshopify.com"
GRAPHQL = f"https://{SHOP}/admin/api/2026-10/graphql.json"
PRODUCT_ID = 9587413999999
PRODUCT_GID = f"gid://shopify/Product/{PRODUCT_ID}"
VARIANT_BASE, ITEM_BASE = 50_000_000_000_000, 60_000_000_000_000
N = 2000
LOCATIONS = [79432187993, 79432220761, *range(79432300001, 79432300006)]  # 7: one variant is stocked at all
WIDE = 7  # the index of that variant
T0 = "2026-10-14T13:00:00Z"
T1 = "2026-10-14T14:00:00Z"
T2 = "2026-10-14T15:00:00Z"


def _cost(requested: int) -> dict[str, Any]:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": requested // 4,
            "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1900, "restoreRate": 100.0},
        }
    }


class BigProductAdmin:
    """Answers the GraphQL operations of a reconcile and a product refresh for one 2,000-variant product."""

    def __init__(self) -> None:
        self.updated_at = T0
        self.variants: list[dict[str, Any]] = [self._variant(i) for i in range(N)]
        self.calls: list[tuple[str, dict[str, Any]]] = []

    @staticmethod
    def _variant(i: int) -> dict[str, Any]:
        return {"i": i, "price": "10.00", "updatedAt": T0}

    def _level(self, i: int, location: int) -> dict[str, Any]:
        return {
            "id": f"gid://shopify/InventoryLevel/{location}?inventory_item_id={ITEM_BASE + i}",
            "updatedAt": T0,
            "location": {"id": f"gid://shopify/Location/{location}"},
            "quantities": [
                {"name": "available", "quantity": i % 5},
                {"name": "on_hand", "quantity": i % 5},
                {"name": "committed", "quantity": 0},
                {"name": "incoming", "quantity": 0},
            ],
        }

    def _levels(self, i: int, first: int, after: str | None) -> dict[str, Any]:
        locations = LOCATIONS if i == WIDE else LOCATIONS[:1]
        start = int(after) if after else 0
        chunk = locations[start : start + first]
        more = start + first < len(locations)
        return {
            "nodes": [self._level(i, loc) for loc in chunk],
            "pageInfo": {"hasNextPage": more, "endCursor": str(start + len(chunk)) if chunk else None},
        }

    def _variant_node(self, v: dict[str, Any]) -> dict[str, Any]:
        i = v["i"]
        return {
            "id": f"gid://shopify/ProductVariant/{VARIANT_BASE + i}",
            "title": f"Size {i}",
            "sku": f"BIG-{i:04d}",
            "price": v["price"],
            "position": i + 1,
            "inventoryPolicy": "DENY",
            "inventoryQuantity": i % 5,
            "updatedAt": v["updatedAt"],
            "selectedOptions": [{"name": "Size", "value": str(i)}],
            "inventoryItem": {
                "id": f"gid://shopify/InventoryItem/{ITEM_BASE + i}",
                "tracked": True,
                "inventoryLevels": self._levels(i, 5, None),  # the documents ask inventoryLevels(first: 5)
            },
        }

    def _product(self, first: int, after: str | None) -> dict[str, Any]:
        start = int(after) if after else 0
        chunk = self.variants[start : start + first]
        end = start + len(chunk)
        return {
            "id": PRODUCT_GID,
            "legacyResourceId": str(PRODUCT_ID),
            "title": "Big Sock",
            "handle": "big-sock",
            "status": "ACTIVE",
            "updatedAt": self.updated_at,
            "vendor": "",
            "productType": "",
            "tags": [],
            "descriptionHtml": "",
            "publishedAt": T0,
            "featuredMedia": None,
            "variants": {
                "nodes": [self._variant_node(v) for v in chunk],
                "pageInfo": {"hasNextPage": end < len(self.variants), "endCursor": str(end) if chunk else None},
            },
        }

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        payload = json.loads(request.body)
        query, variables = payload["query"], payload.get("variables", {})
        name = query.split("(")[0].split("{")[0].split()[-1]
        self.calls.append((name, variables))
        if name == "LocationsPage":
            nodes = [{"id": f"gid://shopify/Location/{loc}", "name": str(loc), "isActive": True} for loc in LOCATIONS]
            data: dict[str, Any] = {
                "locations": {"nodes": nodes, "pageInfo": {"hasNextPage": False, "endCursor": None}}
            }
        elif name == "ProductsPage":
            assert variables["first"] <= 250
            assert "variants(first: 10)" in query
            data = {"products": {"nodes": [self._product(10, None)], "pageInfo": {"hasNextPage": False}}}
        elif name == "ProductVariantsPage":
            assert variables["id"] == PRODUCT_GID
            assert variables["first"] <= 2000  # Shopify's single-product limit (2025-01)
            data = {"product": self._product(variables["first"], variables.get("after"))}
        elif name == "InventoryItemLevelsPage":
            i = int(variables["id"].rsplit("/", 1)[-1]) - ITEM_BASE
            levels = self._levels(i, variables["first"], variables.get("after"))
            data = {"inventoryItem": {"id": variables["id"], "tracked": True, "inventoryLevels": levels}}
        elif name == "OrdersPage":
            data = {"orders": {"nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}}
        else:
            raise AssertionError(f"unexpected operation {name}")
        return 200, {"Content-Type": "application/json"}, json.dumps({"data": data, "extensions": _cost(800)})

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def graphql() -> GraphQLClient:
    return GraphQLClient(SHOP, lambda: "shpat_test", sleep=lambda _s: None)


@pytest.fixture
def store_id(db: Database) -> int:
    with db.session() as s:
        store = Store(platform="shopify", domain=SHOP, name="Demo", timezone="America/New_York")
        s.add(store)
        s.flush()
        return store.id


def live_variants(db: Database, store_id: int) -> int:
    with db.session() as s:
        q = select(func.count()).select_from(Variant).where(Variant.store_id == store_id, Variant.deleted_at.is_(None))
        return int(s.scalar(q) or 0)


def deleted_variants(db: Database, store_id: int) -> list[str]:
    with db.session() as s:
        q = select(Variant.external_id).where(Variant.store_id == store_id, Variant.deleted_at.is_not(None))
        return list(s.scalars(q))


def price_of(db: Database, store_id: int, i: int) -> str:
    with db.session() as s:
        q = select(Variant.price).where(Variant.store_id == store_id, Variant.external_id == str(VARIANT_BASE + i))
        return str(s.scalar(q))


def reconcile(db: Database, store_id: int) -> SyncRun:
    jobs = RecordingQueue()
    with db.session() as s:
        run_id = shopify_sync.start_sync(s, jobs, store_id, kind="reconcile").id
    status = shopify_sync.step(db, jobs, run_id, shopify_sync.Clients(graphql=graphql(), http=requests.Session()))
    with db.session() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None
        s.expunge(run)
    assert status == "done", run.error
    return run


def webhook_body(variants: list[int], *, updated_at: str, price: str, variant_gids: list[int] | None = None) -> bytes:
    hook = json.loads((FIXTURES / "shopify" / "webhooks" / "products-update.json").read_text())
    body = json.loads(hook["body_text"])
    template = body["variants"][0]
    body.update(
        id=PRODUCT_ID,
        admin_graphql_api_id=PRODUCT_GID,
        title="Big Sock",
        handle="big-sock",
        updated_at=updated_at,
        options=[{"id": 1, "product_id": PRODUCT_ID, "name": "Size", "position": 1, "values": []}],
        images=[],
        image=None,
        media=[],
    )
    body["variants"] = [
        {
            **template,
            "admin_graphql_api_id": f"gid://shopify/ProductVariant/{VARIANT_BASE + i}",
            "id": VARIANT_BASE + i,
            "product_id": PRODUCT_ID,
            "sku": f"BIG-{i:04d}",
            "title": f"Size {i}",
            "option1": str(i),
            "position": i + 1,
            "price": price,
            "updated_at": updated_at,
            "inventory_item_id": ITEM_BASE + i,
            "inventory_quantity": i % 5,
            "old_inventory_quantity": i % 5,
        }
        for i in variants
    ]
    if variant_gids is None:
        body.pop("variant_gids", None)
    else:
        body["variant_gids"] = [
            {"admin_graphql_api_id": f"gid://shopify/ProductVariant/{VARIANT_BASE + i}", "updated_at": updated_at}
            for i in variant_gids
        ]
    return json.dumps(body, separators=(",", ":")).encode()


def deliver(db: Database, store_id: int, body: bytes, key: str) -> tuple[str, RecordingQueue]:
    jobs = RecordingQueue()
    with db.session() as s:
        event = WebhookEvent(
            store_id=store_id,
            platform="shopify",
            topic="products/update",
            dedupe_key=key,
            resource_id=str(PRODUCT_ID),
            triggered_at=datetime.now(UTC),
            headers={},
            body=body,
        )
        s.add(event)
        s.flush()
        event_id = event.id
    with db.session() as s:
        outcome = inbox.process_event(s, jobs, event_id, registry.handler_for)
    return outcome, jobs  # the session committed: after-commit jobs are in the queue


@responses.activate
def test_reconcile_applies_all_2000_variants_and_every_level(db: Database, store_id: int) -> None:
    admin = BigProductAdmin()
    responses.add_callback(responses.POST, GRAPHQL, callback=admin)

    run = reconcile(db, store_id)

    assert live_variants(db, store_id) == N
    assert deleted_variants(db, store_id) == []
    with db.session() as s:
        assert s.scalar(select(Product.kind).where(Product.external_id == str(PRODUCT_ID))) == "variable"
        levels = s.scalar(select(func.count()).select_from(InventoryLevel).where(InventoryLevel.store_id == store_id))
    assert levels == N - 1 + len(LOCATIONS)  # the wide variant's 6th and 7th locations came from a levels page
    assert (run.counts or {})["variants"] == N
    # the first 10 variants came with the products page, the other 1,990 in pages of VARIANT_PAGE_SIZE
    pages = [v for name, v in admin.calls if name == "ProductVariantsPage"]
    assert len(pages) == -(-(N - 10) // shopify_records.VARIANT_PAGE_SIZE)
    assert pages[0]["after"] == "10"
    assert admin.names().count("InventoryItemLevelsPage") == 1


@responses.activate
def test_a_webhook_listing_100_of_2000_deletes_none_and_the_refresh_applies_all(db: Database, store_id: int) -> None:
    admin = BigProductAdmin()
    responses.add_callback(responses.POST, GRAPHQL, callback=admin)
    reconcile(db, store_id)

    with db.session() as s:  # tracking turned off for variant 5 (inventory_items/update); payloads lack it
        s.execute(update(Variant).where(Variant.external_id == str(VARIANT_BASE + 5)).values(tracked=False))
    # Shopify changed every price; the webhook lists only the first 100 variants.
    for v in admin.variants:
        v.update(price="12.00", updatedAt=T1)
    admin.updated_at = T1
    outcome, jobs = deliver(db, store_id, webhook_body(list(range(100)), updated_at=T1, price="12.00"), "d-100")

    assert outcome == "applied:partial"
    assert live_variants(db, store_id) == N
    assert deleted_variants(db, store_id) == []
    assert price_of(db, store_id, 99) == "12.00"  # the listed ones are upserted at once
    assert price_of(db, store_id, 100) == "10.00"  # the others wait for the refresh
    with db.session() as s:
        assert s.scalar(select(Variant.tracked).where(Variant.external_id == str(VARIANT_BASE + 5))) is False
    refresh = [j for j in jobs.specs if j.func == job_specs.SHOPIFY_REFRESH_PRODUCT]
    assert [(j.args, j.job_id) for j in refresh] == [
        ((store_id, PRODUCT_GID), f"shopify-product-{store_id}-{PRODUCT_ID}")
    ]
    assert callable(resolve(refresh[0].func))

    result = shopify_records.refresh_product(db, RecordingQueue(), store_id, PRODUCT_GID, graphql())

    assert result == f"applied:{N}"
    assert live_variants(db, store_id) == N
    assert deleted_variants(db, store_id) == []
    assert price_of(db, store_id, N - 1) == "12.00"


@responses.activate
def test_a_short_list_that_variant_gids_shows_is_cut_deletes_nothing(db: Database, store_id: int) -> None:
    admin = BigProductAdmin()
    responses.add_callback(responses.POST, GRAPHQL, callback=admin)
    reconcile(db, store_id)

    body = webhook_body([0, 1, 2], updated_at=T1, price="11.00", variant_gids=list(range(N)))
    outcome, jobs = deliver(db, store_id, body, "d-gids")

    assert outcome == "applied:partial"
    assert live_variants(db, store_id) == N
    assert [j.func for j in jobs.specs].count(job_specs.SHOPIFY_REFRESH_PRODUCT) == 1


@responses.activate
def test_a_real_removal_soft_deletes_exactly_that_variant(db: Database, store_id: int) -> None:
    admin = BigProductAdmin()
    responses.add_callback(responses.POST, GRAPHQL, callback=admin)
    reconcile(db, store_id)

    # The merchant deletes variant 1234: the product changes, the full list no longer has it.
    del admin.variants[1234]
    admin.updated_at = T2
    outcome, _ = deliver(db, store_id, webhook_body(list(range(100)), updated_at=T2, price="10.00"), "d-rm")
    assert outcome == "applied:partial"
    assert deleted_variants(db, store_id) == []  # a cut list never deletes

    assert shopify_records.refresh_product(db, RecordingQueue(), store_id, PRODUCT_GID, graphql()) == f"applied:{N - 1}"

    assert deleted_variants(db, store_id) == [str(VARIANT_BASE + 1234)]
    assert live_variants(db, store_id) == N - 1

    # Reconciliation reads the same full list and agrees: nothing else is deleted, nothing comes back.
    reconcile(db, store_id)
    assert deleted_variants(db, store_id) == [str(VARIANT_BASE + 1234)]
    assert live_variants(db, store_id) == N - 1


@responses.activate
def test_a_product_gone_before_its_refresh_is_left_to_products_delete(db: Database, store_id: int) -> None:
    responses.add(responses.POST, GRAPHQL, json={"data": {"product": None}, "extensions": _cost(10)})

    assert shopify_records.refresh_product(db, RecordingQueue(), store_id, PRODUCT_GID, graphql()) == "missing"
