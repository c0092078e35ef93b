"""Shopify's freshness pass: the products, inventory levels and orders updated since the last pass, each re-read,
and the products deleted since, soft-deleted.

Shopify retries a failed delivery 8 times over 4 hours, so a delivery lost for good is rare but a late one is not:
this pass finds either within minutes. One query (queries.FRESHNESS_CHECK, 948 requested points of the 1,000 a query
may ask) asks for the products whose ``updated_at`` is later (a lost products/update), per location the inventory
levels whose own ``updated_at`` is later (a lost inventory_levels/update: the level's time is the one its change sets
for certain, whatever it does to the product's), the orders whose ``updated_at`` is later (a lost orders/create,
orders/updated, orders/paid, orders/cancelled or refunds/create: each of those changes updates its order) and the
products' "destroy" events since (a lost products/delete). A level's inventory item leads to its product through the
variants the sync stored. For a store where nothing changed that is one request (stores with more than
queries.FRESHNESS_LOCATIONS locations: one more per further page of locations; more than a page of changed products,
orders or deletions: one more per further page of them).

Each changed product is then re-read in full by the same job a product webhook queues (shopify_refresh_product,
collapsed per product), each changed order by shopify_refresh_order (collapsed per order: the order with its lines,
cancellation and refunds, applied as the reconciliation applies it), and each deleted product is soft-deleted as
products/delete does (catalog.delete_product, at the event's time, so a later update still wins).

A store whose app Shopify has not approved for protected customer data is refused ``orders`` (ACCESS_DENIED on the
Order object): the pass then asks without the orders part (FRESHNESS_CHECK's ``withOrders``), so products, levels and
deletions are still found, and asks with it again once a day (app.platforms.shopify.order_access); the first answer
switches the store back and starts the order history's load.

Our webhooks are app-specific subscriptions in shopify.app.toml, which Shopify keeps up to date itself (and which
``webhookSubscriptions`` does not list), so this pass has none to check.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import job_specs
from app.db import Database
from app.models import Product, Variant
from app.platforms.shopify import order_access
from app.platforms.shopify import sync as shopify_sync
from app.platforms.shopify.records import product_gid
from app.queue import JobQueue, enqueue_after_commit
from app.services import catalog
from app.services.ingest.freshness import PassResult
from integrations.base import InvalidRequest
from integrations.shopify import queries
from integrations.shopify.graphql import GraphQLClient, ProtectedDataDenied

# Follow-up page sizes, within the 1,000-point ceiling (tests/unit/test_shopify_query_cost.py).
PRODUCTS_PAGE = 250  # 2 + 250 × 1 = 252 points
LEVELS_PAGE = 250  # location 1 + 2 + 250 × (level 1 + item 1) = 503 points
ORDERS_PAGE = 250  # 2 + 250 × 1 = 252 points
DELETIONS_PAGE = 250  # 2 + 250 × 1 = 252 points
_ITEM_GID = "gid://shopify/InventoryItem/"
_PRODUCT_GID = "gid://shopify/Product/"


@dataclass(slots=True)
class Changes:
    """What a store reported as changed: product and order GIDs, numeric ids of inventory items whose levels changed,
    and numeric ids of deleted products with the time of their deletion."""

    products: set[str] = field(default_factory=set)
    inventory_items: set[str] = field(default_factory=set)
    orders: set[str] = field(default_factory=set)
    deleted_products: dict[str, datetime] = field(default_factory=dict)


def _utc(since: datetime) -> str:
    return since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def updated_after(since: datetime) -> str:
    """The search query for records updated after an aware time, in UTC as Shopify's search syntax takes it."""
    return f"updated_at:>'{_utc(since)}'"


def deleted_after(since: datetime) -> str:
    """The events search query for products deleted after an aware time."""
    return f"subject_type:PRODUCT AND action:destroy AND created_at:>'{_utc(since)}'"


def store_changes(db: Database, jobs: JobQueue, store_id: int, graphql: GraphQLClient, since: datetime) -> Changes:
    """find_changes for one store, with its orders only while Shopify lets the app read them (asked again daily).

    A refusal is recorded and the pass asks again without the orders part; an answer after a refusal is recorded
    and starts the store's history run (or lets the next reconciliation be one, when a run is going).
    """
    with_orders = order_access.order_read_due(db, store_id)
    was_denied = with_orders and order_access.orders_denied(db, store_id)
    try:
        changes = find_changes(graphql, since, with_orders=with_orders)
    except ProtectedDataDenied as exc:
        if not with_orders or not order_access.orders_refused(exc):
            raise
        order_access.record_denied(db, store_id)
        return find_changes(graphql, since, with_orders=False)
    if was_denied and order_access.record_readable(db, store_id):
        with db.session() as s:
            shopify_sync.start_sync(s, jobs, store_id, kind="reconcile")  # a history run: history_due
    return changes


def find_changes(graphql: GraphQLClient, since: datetime, *, with_orders: bool = True) -> Changes:
    """The products, orders and inventory items with a level updated after ``since``, and the products deleted since
    (no orders when ``with_orders`` is false)."""
    query, deleted = updated_after(since), deleted_after(since)
    variables: dict[str, Any] = {
        "query": query,
        "deleted": deleted,
        "products": queries.FRESHNESS_PRODUCTS,
        "locations": queries.FRESHNESS_LOCATIONS,
        "levels": queries.FRESHNESS_LEVELS,
        "orders": queries.FRESHNESS_ORDERS,
        "deletions": queries.FRESHNESS_DELETIONS,
        "withOrders": with_orders,
    }
    found = Changes()
    data = graphql.execute(queries.FRESHNESS_CHECK, variables)
    products = _connection(data, "products")
    found.products.update(_ids(products["nodes"]))
    if _has_next(products):
        more = {"query": query, "first": PRODUCTS_PAGE, "after": _cursor(products)}
        found.products.update(_ids(graphql.paginate(queries.CHANGED_PRODUCTS_PAGE, more, ("products",))))
    orders = _connection(data, "orders") if with_orders else {"nodes": []}
    found.orders.update(_ids(orders["nodes"]))
    if with_orders and _has_next(orders):
        more = {"query": query, "first": ORDERS_PAGE, "after": _cursor(orders)}
        found.orders.update(_ids(graphql.paginate(queries.CHANGED_ORDERS_PAGE, more, ("orders",))))
    events = _connection(data, "events")
    _add_deletions(found, events["nodes"])
    if _has_next(events):
        more = {"query": deleted, "first": DELETIONS_PAGE, "after": _cursor(events)}
        _add_deletions(found, graphql.paginate(queries.DELETED_PRODUCTS_PAGE, more, ("events",)))
    seen_cursors: set[str] = set()
    while True:
        locations = _connection(data, "locations")
        for location in locations["nodes"]:
            levels = _connection(location, "inventoryLevels")
            found.inventory_items.update(_level_items(levels["nodes"]))
            if _has_next(levels):
                found.inventory_items.update(_more_levels(graphql, str(location.get("id")), query, _cursor(levels)))
        if not _has_next(locations):
            return found
        cursor = _cursor(locations)
        if cursor in seen_cursors:  # a repeated cursor would loop forever on the same page
            raise InvalidRequest("FreshnessCheck locations returned no new endCursor")
        seen_cursors.add(cursor)
        # The products part is asked again with the next locations: its answer is already known and deduplicated.
        data = graphql.execute(queries.FRESHNESS_CHECK, {**variables, "after": cursor})


def queue_refreshes(session: Session, jobs: JobQueue, store_id: int, changes: Changes) -> PassResult:
    """Soft-delete the deleted products, and queue (after commit) the full re-read of each other changed product and
    of each changed order; a refresh already waiting absorbs its twin.

    A changed level's product is the one the sync stored for its inventory item. An item we do not know yet belongs
    to a product created since the last sync, and that product's own ``updated_at`` has brought it here already.
    """
    result = PassResult()
    for external_id, occurred_at in sorted(changes.deleted_products.items()):
        if catalog.delete_product(session, jobs, store_id, external_id, occurred_at):
            result.products_deleted += 1
    gids = set(changes.products)
    if changes.inventory_items:
        held = session.execute(
            select(Product.external_id)
            .join(Variant, Variant.product_id == Product.id)
            .where(
                Variant.store_id == store_id,
                Variant.inventory_item_external_id.in_(sorted(changes.inventory_items)),
            )
            .distinct()
        ).scalars()
        gids.update(product_gid(external_id) for external_id in held)
    # A product deleted since has nothing left to read.
    gids -= {product_gid(external_id) for external_id in changes.deleted_products}
    for gid in sorted(gids):
        enqueue_after_commit(session, jobs, job_specs.shopify_refresh_product(store_id, gid))
        result.products += 1
    for gid in sorted(changes.orders):
        enqueue_after_commit(session, jobs, job_specs.shopify_refresh_order(store_id, gid))
        result.orders += 1
    return result


def _add_deletions(found: Changes, nodes: Iterable[Any]) -> None:
    """Record each product "destroy" event's product (numeric id, as the sync stores it) and time."""
    for node in nodes:
        gid = node.get("subjectId") if isinstance(node, dict) else None
        if not isinstance(gid, str) or not gid.startswith(_PRODUCT_GID) or not gid[len(_PRODUCT_GID) :].isdigit():
            continue  # not a product's BasicEvent (the query asks for those only): nothing of ours was deleted
        raw = node.get("createdAt")
        try:
            when = datetime.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            when = None
        if when is None or when.tzinfo is None:
            raise InvalidRequest(f"FreshnessCheck: the deletion of {gid} has no time: {raw!r}")
        external_id = str(int(gid[len(_PRODUCT_GID) :]))
        found.deleted_products[external_id] = max(when, found.deleted_products.get(external_id, when))


def _more_levels(graphql: GraphQLClient, location_gid: str, query: str, after: str) -> set[str]:
    found: set[str] = set()
    seen: set[str] = set()
    cursor: str | None = after
    while cursor is not None:
        if cursor in seen:
            raise InvalidRequest(f"changed levels of {location_gid} returned no new endCursor")
        seen.add(cursor)
        variables = {"id": location_gid, "query": query, "first": LEVELS_PAGE, "after": cursor}
        location = graphql.execute(queries.CHANGED_LEVELS_PAGE, variables).get("location")
        if not isinstance(location, dict):  # the location was deleted meanwhile: its levels went with it
            break
        levels = _connection(location, "inventoryLevels")
        found.update(_level_items(levels["nodes"]))
        cursor = _cursor(levels) if _has_next(levels) else None
    return found


def _connection(parent: Any, name: str) -> dict[str, Any]:
    conn = parent.get(name) if isinstance(parent, dict) else None
    if not isinstance(conn, dict) or not isinstance(conn.get("nodes"), list):
        raise InvalidRequest(f"FreshnessCheck: {name} is not a connection with nodes")
    return conn


def _has_next(conn: dict[str, Any]) -> bool:
    info = conn.get("pageInfo")
    return isinstance(info, dict) and info.get("hasNextPage") is True


def _cursor(conn: dict[str, Any]) -> str:
    info = conn.get("pageInfo")
    cursor = info.get("endCursor") if isinstance(info, dict) else None
    if not isinstance(cursor, str) or not cursor:
        raise InvalidRequest("FreshnessCheck: a page says it has a next one but gives no endCursor")
    return cursor


def _ids(nodes: Iterable[Any]) -> set[str]:
    return {str(node["id"]) for node in nodes if isinstance(node, dict) and isinstance(node.get("id"), str)}


def _level_items(nodes: Iterable[Any]) -> set[str]:
    """Numeric inventory item ids (as the sync stores them) of level nodes."""
    found: set[str] = set()
    for node in nodes:
        item = node.get("item") if isinstance(node, dict) else None
        gid = item.get("id") if isinstance(item, dict) else None
        if not isinstance(gid, str) or not gid.startswith(_ITEM_GID) or not gid[len(_ITEM_GID) :].isdigit():
            raise InvalidRequest(f"FreshnessCheck: an inventory level's item is not an InventoryItem GID: {gid!r}")
        found.add(str(int(gid[len(_ITEM_GID) :])))
    return found
