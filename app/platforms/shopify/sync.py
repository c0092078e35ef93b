"""Shopify sync: the initial bulk sync and the periodic reconciliation, as resumable sync runs.

A run is a row (sync_runs) whose phase and cursor say where it is; every step commits its progress,
so a killed worker loses at most one batch and the sweeper re-drives a run whose heartbeat stopped.
Records go through the same catalog service as webhooks, so both paths agree.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from app import job_specs
from app.db import Database, as_utc, utcnow
from app.domain.history import earliest_horizon, order_horizon
from app.infra.sql import dialect
from app.models import OrderEmailAccess, Store, StoreStatus, SyncRun, SyncRunStatus
from app.platforms.shopify import identity as shopify_identity
from app.queue import JobQueue
from app.services import catalog
from app.services.ingest import sync_runs
from app.services.stock.recompute import recompute
from integrations.base import (
    AuthRevoked,
    InvalidRequest,
    InventoryRecord,
    LocationRecord,
    OrderLineRecord,
    OrderRecord,
    ProductRecord,
    RefundLineRecord,
    RefundRecord,
    VariantRecord,
)
from integrations.shopify import queries
from integrations.shopify.app_config import PROTECTED_FIELDS
from integrations.shopify.auth import visible_order_days
from integrations.shopify.bulk import (
    IncompleteConnection,
    LevelsContinuation,
    RefundPage,
    ShopifyDataError,
    VariantsPage,
    download_lines,
    iter_bulk_orders,
    iter_bulk_records,
    map_levels_page,
    map_line_items_page,
    map_location_node,
    map_order_node,
    map_order_page,
    map_product,
    map_refund_header,
    map_refund_page,
    map_variants_page,
    poll_bulk,
    start_bulk,
)
from integrations.shopify.graphql import GraphQLClient

log = logging.getLogger(__name__)

INITIAL_PHASES = ("locations", "products", "orders", "finalize")
RECONCILE_PHASES = ("locations", "products_changed", "orders_changed", "finalize")
# A history run reads every order the granted scopes show (once read_all_orders is granted: the older ones too).
HISTORY_PHASES = ("orders", "finalize")
HISTORY = "history"
# A failed history run is retried by a reconciliation after 6 hours, then 12, then 24; then it waits for a new grant.
HISTORY_RETRY_AFTER = timedelta(hours=6)
HISTORY_ATTEMPTS = 4
# The orders phase records in its cursor how far back its bulk read could see: this, or an ISO moment.
_ALL_ORDERS = "all"
PRODUCT_BATCH = 200
ORDER_BATCH = 500
# Page sizes of the paged documents. Shopify refuses a query whose requested cost exceeds 1,000 points and nested
# connections multiply (costs in integrations.shopify.queries; tests/unit/test_shopify_query_cost.py checks them).
PAGE_SIZE = 50  # locations: 2 + 50 × 1 = 52 points
# Products with variants(first: 10) × inventoryLevels(first: 5): 206 points each, so 4 a page (826 points).
PRODUCTS_PAGE_SIZE = 4
# Orders with lineItems(first: 10), refunds(first: 2) × refundLineItems(first: 10): 93 points each, so 10 (932).
ORDERS_PAGE_SIZE = 10
# Follow-ups of one order whose lines or refunds continue past its ORDERS_PAGE node (see complete_order).
ORDER_LINE_PAGE_SIZE = 200  # 3 + 4 × 200 = 803 points
ORDER_REFUNDS_LIMIT = 250  # 3 + 250 = 253 points; Order.refunds is a list without a cursor
REFUND_LINE_PAGE_SIZE = 250  # 3 + 2 × 250 = 503 points
# Follow-up pages of one product's variants (PRODUCT_VARIANTS_PAGE). Shopify would allow 2,000 per page for a
# single product, but a query may cost at most 1,000 points and each variant with its 5 levels costs 20 (806 at 40).
VARIANT_PAGE_SIZE = 40
# Follow-up pages of one variant's levels, for items stocked at more locations than a variant page asks for (5).
LEVEL_PAGE_SIZE = 100
# Reconciliation re-reads a little before the last sync, so a change made during it is not missed.
RECONCILE_OVERLAP = timedelta(minutes=5)
# Protected customer data the order documents select (the order email): a store whose app Shopify has not approved
# for it answers null with ACCESS_DENIED, and the orders are read without it.
ORDER_PROTECTED_FIELDS = frozenset(field for type_name, field in PROTECTED_FIELDS if type_name == "Order")


@dataclass(frozen=True, slots=True)
class Clients:
    """What a sync talks to: the store's GraphQL client and a plain HTTP session for bulk files."""

    graphql: GraphQLClient
    http: requests.Session


def _phases(kind: str) -> tuple[str, ...]:
    return {"initial": INITIAL_PHASES, HISTORY: HISTORY_PHASES}.get(kind, RECONCILE_PHASES)


def start_sync(session: Session, jobs: JobQueue, store_id: int, kind: str = "initial") -> SyncRun:
    """Create a sync run (or return the one already running for the store) and enqueue it after commit.

    A store whose own settings were never read also has them read: those installed before BackSoon read them at
    install get them with their next sync (the periodic reconciliation included), instead of UTC and USD forever.
    A reconciliation of a store whose order history stops at a horizon its scopes now read past is a history run
    instead (app/scopes_update starts one, but not while another run was going), unless its last one failed.
    """
    if kind == "reconcile" and history_due(session, store_id):
        kind = HISTORY
    run = sync_runs.open_run(session, jobs, store_id, kind, _phases(kind)[0], job_specs.shopify_sync)
    if session.execute(select(Store.identity_read_at).where(Store.id == store_id)).scalar_one_or_none() is None:
        shopify_identity.read_after_commit(session, jobs, store_id)
    return run


def history_due(session: Session, store_id: int, *, after_failure: bool = False) -> bool:
    """True when the store's orders stop at a horizon, its scopes read all orders and its history run is due: never
    run, or failed and its back-off has passed (or ``after_failure``: a new grant is worth another try at once)."""
    store = session.get(Store, store_id)
    if store is None or store.orders_history_from is None or visible_order_days(store.scopes) is not None:
        return False
    if after_failure:
        return True
    recent = session.execute(
        select(SyncRun.status, SyncRun.finished_at, SyncRun.heartbeat_at, SyncRun.started_at)
        .where(SyncRun.store_id == store_id, SyncRun.kind == HISTORY)
        .order_by(SyncRun.id.desc())
        .limit(HISTORY_ATTEMPTS)
    ).all()
    failures = 0
    for status, *_ in recent:
        if status != SyncRunStatus.FAILED:
            break
        failures += 1
    if failures == 0:
        return True
    # A failed history run is not retried at every reconciliation (reconciling must go on), nor for ever: after
    # HISTORY_ATTEMPTS failures in a row only a new grant of read_all_orders tries again.
    if failures >= HISTORY_ATTEMPTS:
        return False
    _, finished, heartbeat, started = recent[0]
    ended = finished or heartbeat or started
    return ended is None or utcnow() >= as_utc(ended) + HISTORY_RETRY_AFTER * 2 ** (failures - 1)


def progress(run: SyncRun) -> dict[str, Any]:
    """What the admin API and the CLI show of a run."""
    return sync_runs.describe(run, _phases(run.kind))


def step(db: Database, jobs: JobQueue, run_id: int, clients: Clients) -> str:
    """Advance a run as far as it can go now: 'waiting' while a bulk operation runs, else its final status."""
    with db.session() as s:
        run = s.get(SyncRun, run_id)
        if run is None:
            return "missing"
        if run.status != SyncRunStatus.RUNNING:
            return run.status
        store_id, kind = run.store_id, run.kind
    phases = _phases(kind)
    try:
        while True:
            with db.session() as s:
                run = s.get(SyncRun, run_id)
                assert run is not None
                run.heartbeat_at = datetime.now(UTC)
                if not sync_runs.begin_step(s, run):
                    return SyncRunStatus.FAILED
                phase, cursor = run.phase, dict(run.cursor or {})
            outcome = _PHASES[phase](db, jobs, run_id, store_id, cursor, clients)
            if outcome == "waiting":
                sync_runs.end_step(db, run_id)
                return "waiting"
            if sync_runs.advance(db, run_id, store_id, phases, phase):
                return SyncRunStatus.DONE
    except (_BulkFailed, ShopifyDataError, InvalidRequest) as exc:
        # Retrying cannot help: the run stops with its reason; transient errors propagate to be retried.
        sync_runs.fail_run(db, run_id, f"{exc.__class__.__name__}: {exc}")
        return SyncRunStatus.FAILED
    except AuthRevoked as exc:
        disconnect(db, store_id, run_id=run_id, error=f"access revoked: {exc}")
        return SyncRunStatus.FAILED


def disconnect(db: Database, store_id: int, *, run_id: int | None = None, error: str = "") -> None:
    """Mark the store disconnected (Shopify refused our token) and fail the run, if any."""
    with db.session() as s:
        if run_id is not None:
            sync_runs.mark_failed(s, run_id, error)
        s.execute(
            update(Store)
            .where(Store.id == store_id)
            .values(status=StoreStatus.DISCONNECTED, status_reason="Shopify rejected the access token")
        )


def _save(db: Database, run_id: int, **changes: Any) -> None:
    with db.session() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None
        for key, value in changes.items():
            if key == "cursor":
                run.cursor = {**(run.cursor or {}), **value}
            elif key == "counts":
                merged = dict(run.counts or {})
                for name, n in value.items():
                    merged[name] = int(merged.get(name, 0)) + int(n)
                run.counts = merged
            else:
                setattr(run, key, value)
        run.heartbeat_at = datetime.now(UTC)


def _locations(db: Database, jobs: JobQueue, run_id: int, store_id: int, cursor: dict[str, Any], c: Clients) -> str:
    records: list[LocationRecord] = [
        map_location_node(node)
        for node in c.graphql.paginate(queries.LOCATIONS_PAGE, {"first": PAGE_SIZE}, ("locations",))
    ]
    with db.session() as s:
        result = catalog.apply_locations(s, jobs, store_id, records)
    _save(db, run_id, counts={"locations": result.created + result.updated}, done=len(records), total=len(records))
    return "next"


def _bulk_lines(
    db: Database, run_id: int, cursor: dict[str, Any], key: str, query: str, c: Clients
) -> tuple[str, Iterator[bytes] | None, int]:
    """Start or poll this phase's bulk operation; when it has finished, its lines and how many records to skip."""
    op_id = cursor.get(f"{key}_op")
    if op_id is None:
        op = start_bulk(c.graphql, query)
        _save(db, run_id, cursor={f"{key}_op": op.id, f"{key}_applied": 0})
        op_id = op.id
    op = poll_bulk(c.graphql, str(op_id))
    if not op.finished:
        _save(db, run_id, total=op.object_count)
        return "waiting", None, 0
    if not op.succeeded:
        raise _BulkFailed(
            f"bulk operation {op.id} ended {op.status} ({op.error_code or 'no error code'})", op.error_code
        )
    _save(db, run_id, total=op.object_count)
    if op.url is None:  # the query matched nothing
        return "ready", None, 0
    lines = download_lines(c.http, op.url, expected_size=op.file_size)
    return "ready", lines, int(cursor.get(f"{key}_applied", 0))


class _BulkFailed(RuntimeError):
    def __init__(self, message: str, error_code: str | None = None) -> None:
        super().__init__(message)
        self.error_code = error_code


def _products(db: Database, jobs: JobQueue, run_id: int, store_id: int, cursor: dict[str, Any], c: Clients) -> str:
    state, lines, skip = _bulk_lines(db, run_id, cursor, "products", queries.BULK_PRODUCTS_QUERY, c)
    if state == "waiting" or lines is None:
        return state
    _apply_catalog_stream(db, jobs, run_id, store_id, iter_bulk_records(lines), skip, "products")
    return "next"


def _apply_catalog_stream(
    db: Database,
    jobs: JobQueue,
    run_id: int,
    store_id: int,
    records: Iterator[ProductRecord | InventoryRecord | LocationRecord],
    skip: int,
    key: str,
) -> None:
    """Apply products then their levels in batches, committing progress after each; resume skips what was applied."""
    seen = 0
    applied_products = 0
    products: list[ProductRecord] = []
    levels: list[InventoryRecord] = []

    def flush() -> None:
        nonlocal applied_products
        if not products and not levels:
            return
        with db.session() as s:
            p = catalog.apply_products(s, jobs, store_id, products)
            i = catalog.apply_inventory(s, jobs, store_id, levels)
            run = s.get(SyncRun, run_id)
            assert run is not None
            run.cursor = {**(run.cursor or {}), f"{key}_applied": seen}
            run.done = seen
            run.heartbeat_at = datetime.now(UTC)
            counts = dict(run.counts or {})
            counts["products"] = int(counts.get("products", 0)) + len(products)
            counts["variants"] = int(counts.get("variants", 0)) + p.children.created + p.children.updated
            counts["inventory_levels"] = int(counts.get("inventory_levels", 0)) + i.created + i.updated
            run.counts = counts
        sync_runs.analyze_if_due(db, applied_products, applied_products + len(products))
        applied_products += len(products)
        products.clear()
        levels.clear()

    for record in records:
        seen += 1
        if seen <= skip:
            continue
        if isinstance(record, ProductRecord):
            # A product's levels follow it in the stream, so a batch boundary falls before a product.
            if len(products) >= PRODUCT_BATCH:
                flush()
            products.append(record)
        elif isinstance(record, InventoryRecord):
            levels.append(record)
    flush()


def _orders(db: Database, jobs: JobQueue, run_id: int, store_id: int, cursor: dict[str, Any], c: Clients) -> str:
    if "orders_op" not in cursor:
        # How far back the bulk read about to start can see, decided before it starts: Shopify counts its 60 days
        # back from the read, so a horizon taken earlier is on the safe side of it.
        seen_from = _seen_from(db, store_id)
        start = {"orders_seen_from": seen_from, "orders_email": _order_email_readable(db, store_id)}
        _save(db, run_id, cursor=start)
        cursor = {**cursor, **start}
    with_email = cursor.get("orders_email", True) is not False
    query = queries.BULK_ORDERS_QUERY if with_email else queries.BULK_ORDERS_QUERY_WITHOUT_EMAIL
    try:
        state, lines, skip = _bulk_lines(db, run_id, cursor, "orders", query, c)
    except _BulkFailed as exc:
        if exc.error_code != "ACCESS_DENIED" or not with_email:
            raise
        # A bulk read is refused as a whole where a paged one answers null for the one field: the order email is
        # the protected customer data it asks for, so remember that and read the orders again without it.
        record_order_email_access(db, store_id, denied=True, seen_email=False)
        retry = {"orders_op": None, "orders_applied": 0, "orders_email": False}
        _save(db, run_id, cursor=retry)
        return _orders(db, jobs, run_id, store_id, {**cursor, **retry}, c)
    if state == "waiting":
        return state
    watch = _EmailWatch()
    if lines is not None:
        _apply_orders_stream(db, jobs, run_id, store_id, watch.orders(iter_bulk_orders(lines)), skip, "orders")
    if with_email:
        record_order_email_access(db, store_id, denied=False, seen_email=watch.seen)
    _record_horizon(db, store_id, cursor.get("orders_seen_from"))
    return "next"


class _EmailWatch:
    """Notes whether any order of a stream came with its email: proof Shopify lets the app read it."""

    def __init__(self) -> None:
        self.seen = False

    def orders(self, records: Iterator[OrderRecord]) -> Iterator[OrderRecord]:
        for record in records:
            self.seen = self.seen or bool(record.email)
            yield record


def _order_email_readable(db: Database, store_id: int) -> bool:
    """False once Shopify answered that the app may not read this store's order emails (until it says otherwise)."""
    with db.session() as s:
        access = s.execute(select(Store.order_email_access).where(Store.id == store_id)).scalar_one_or_none()
    return access != OrderEmailAccess.DENIED


def record_order_email_access(db: Database, store_id: int, *, denied: bool, seen_email: bool) -> None:
    """Record what an order read showed of the order email: denied by Shopify, or read; nothing when it cannot tell
    (no order had an email, which guest and POS orders may lack anyway)."""
    if denied:
        access = OrderEmailAccess.DENIED
    elif seen_email:
        access = OrderEmailAccess.GRANTED
    else:
        return
    with db.session() as s:
        s.execute(
            update(Store)
            .where(Store.id == store_id)
            .values(order_email_access=access.value, order_email_checked_at=datetime.now(UTC))
        )


def _seen_from(db: Database, store_id: int) -> str:
    with db.session() as s:
        scopes = s.execute(select(Store.scopes).where(Store.id == store_id)).scalar_one_or_none() or ""
    horizon = order_horizon(datetime.now(UTC), visible_order_days(scopes))
    return _ALL_ORDERS if horizon is None else horizon.isoformat()


def _record_horizon(db: Database, store_id: int, seen_from: str | None) -> None:
    """Set the store's order horizon from what a finished orders read could see.

    A read of every order leaves none. A read of the last 60 days sets one at a store's first sync, or moves an
    existing one back if it reaches further; a store that once read every order keeps them all.
    """
    if seen_from is None:  # a run started before its cursor recorded this: nothing known
        return
    with db.session() as s:
        store = s.execute(select(Store).where(Store.id == store_id).with_for_update()).scalar_one_or_none()
        if store is None:
            return
        if seen_from == _ALL_ORDERS:
            store.orders_history_from = None
        elif store.orders_history_from is not None or store.last_synced_at is None:
            seen = datetime.fromisoformat(seen_from)
            store.orders_history_from = earliest_horizon(store.orders_history_from, seen)


def _apply_orders_stream(
    db: Database, jobs: JobQueue, run_id: int, store_id: int, orders: Iterator[OrderRecord], skip: int, key: str
) -> None:
    seen = 0
    batch: list[OrderRecord] = []

    def flush() -> None:
        if not batch:
            return
        with db.session() as s:
            result = catalog.apply_orders(s, jobs, store_id, batch)
            run = s.get(SyncRun, run_id)
            assert run is not None
            run.cursor = {**(run.cursor or {}), f"{key}_applied": seen}
            run.done = seen
            run.heartbeat_at = datetime.now(UTC)
            counts = dict(run.counts or {})
            counts["orders"] = int(counts.get("orders", 0)) + result.created + result.updated
            run.counts = counts
        batch.clear()

    for order in orders:
        seen += 1
        if seen <= skip:
            continue
        batch.append(order)
        if len(batch) >= ORDER_BATCH:
            flush()
    flush()


def _since(db: Database, store_id: int) -> str:
    with db.session() as s:
        last = s.execute(select(Store.last_synced_at).where(Store.id == store_id)).scalar_one_or_none()
    moment = (last or datetime.now(UTC) - timedelta(days=1)) - RECONCILE_OVERLAP
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def product_gid(external_id: str) -> str:
    """The Product GID of a numeric product id (a GID is returned as it is)."""
    return external_id if external_id.startswith("gid://") else f"gid://shopify/Product/{int(external_id)}"


def complete_product(
    graphql: GraphQLClient, node: dict[str, Any], where: str = "product"
) -> tuple[ProductRecord, list[InventoryRecord]] | None:
    """Map a Product node whose variants or levels may continue past the page it came in, fetching the rest.

    The record then carries the product's full variant list, as the catalog service reads it (variants missing
    from it are soft-deleted). None when the product disappeared while its pages were read.
    """
    first = map_variants_page(node, where)
    pages = [first]
    if first.after is not None:
        rest = _variant_pages(graphql, str(node.get("id")), first.after)
        if rest is None:
            return None
        pages.extend(rest)
    variants: dict[str, VariantRecord] = {}
    levels: list[InventoryRecord] = []
    for page in pages:
        for variant in page.variants:
            variants.setdefault(variant.external_id, variant)
        levels.extend(page.levels)
        for more in page.more_levels:
            levels.extend(_level_pages(graphql, more))
    return map_product(node, list(variants.values()), where), levels


def fetch_product(graphql: GraphQLClient, gid: str) -> tuple[ProductRecord, list[InventoryRecord]] | None:
    """One product with all its variants and levels, read page by page; None when Shopify has no such product."""
    data = graphql.execute(queries.PRODUCT_VARIANTS_PAGE, {"id": product_gid(gid), "first": VARIANT_PAGE_SIZE})
    node = data.get("product")
    if not isinstance(node, dict):
        return None
    return complete_product(graphql, node)


def _variant_pages(graphql: GraphQLClient, gid: str, after: str) -> list[VariantsPage] | None:
    # Not GraphQLClient.paginate: a product deleted meanwhile answers `product: null`, which is "gone", not an error.
    pages: list[VariantsPage] = []
    seen: set[str] = set()
    cursor: str | None = after
    while cursor is not None:
        if cursor in seen:  # a repeated cursor would loop forever on the same page
            raise InvalidRequest(f"variant pages of {gid} returned no new endCursor")
        seen.add(cursor)
        data = graphql.execute(queries.PRODUCT_VARIANTS_PAGE, {"id": gid, "first": VARIANT_PAGE_SIZE, "after": cursor})
        node = data.get("product")
        if not isinstance(node, dict):
            return None
        page = map_variants_page(node, "product")
        pages.append(page)
        cursor = page.after
    return pages


def _level_pages(graphql: GraphQLClient, more: LevelsContinuation) -> list[InventoryRecord]:
    levels: list[InventoryRecord] = []
    seen: set[str] = set()
    cursor: str | None = more.after
    while cursor is not None:
        if cursor in seen:
            raise InvalidRequest(f"level pages of {more.inventory_item_gid} returned no new endCursor")
        seen.add(cursor)
        variables = {"id": more.inventory_item_gid, "first": LEVEL_PAGE_SIZE, "after": cursor}
        item = graphql.execute(queries.INVENTORY_ITEM_LEVELS_PAGE, variables).get("inventoryItem")
        if not isinstance(item, dict):  # the variant went away meanwhile: the next sync deletes it
            break
        page, cursor = map_levels_page(item, more.variant_external_id, tracked=more.tracked)
        levels.extend(page)
    return levels


def refresh_product(db: Database, jobs: JobQueue, store_id: int, gid: str, graphql: GraphQLClient) -> str:
    """Read one product with every variant and level from Shopify and apply it as the full list.

    Used after a product webhook whose variant list may be cut short: variants missing from the fetched list are
    soft-deleted, which is right only because this list is complete. A product Shopify no longer has is left to
    products/delete (and to reconciliation).
    """
    fetched = fetch_product(graphql, gid)  # no transaction is held open during the calls
    if fetched is None:
        return "missing"
    product, levels = fetched
    with db.session() as s:
        result = catalog.apply_products(s, jobs, store_id, [product])
        catalog.apply_inventory(s, jobs, store_id, levels)
    if result.skipped_stale:
        return "stale"
    return f"applied:{len(product.variants)}"


def refresh_order(db: Database, jobs: JobQueue, store_id: int, gid: str, graphql: GraphQLClient) -> str:
    """Read one order with all its lines and refunds from Shopify and apply it, as the reconciliation does.

    Used by the freshness pass for an order updated since its last run (an orders/* or refunds/create delivery may
    have been lost). The catalog upserts by id and skips a state older than the stored one, so a late webhook for the
    same order, before or after, changes nothing twice. An order Shopify no longer has is left to the reconciliation.
    """
    node = graphql.execute(queries.ORDER_BY_ID, {"id": gid}).get("order")
    if not isinstance(node, dict):
        return "missing"
    order = complete_order(graphql, node)  # no transaction is held open during the calls
    if order is None:
        return "missing"
    with db.session() as s:
        result = catalog.apply_orders(s, jobs, store_id, [order])
    if result.skipped_stale:
        return "stale"
    return f"applied:{len(order.lines)}"


def _products_changed(
    db: Database, jobs: JobQueue, run_id: int, store_id: int, cursor: dict[str, Any], c: Clients
) -> str:
    variables = {"first": PRODUCTS_PAGE_SIZE, "query": f"updated_at:>'{_since(db, store_id)}'"}

    def records() -> Iterator[ProductRecord | InventoryRecord | LocationRecord]:
        for node in c.graphql.paginate(queries.PRODUCTS_PAGE, variables, ("products",)):
            # A product with more variants (or a variant at more locations) than the page holds is read to the end
            # before it is applied: a cut list would soft-delete the variants left out.
            complete = complete_product(c.graphql, node)
            if complete is None:  # deleted while being read: products/delete or the next run handles it
                continue
            product, levels = complete
            yield product
            yield from levels

    _apply_catalog_stream(db, jobs, run_id, store_id, records(), 0, "products_changed")
    return "next"


def _orders_changed(
    db: Database, jobs: JobQueue, run_id: int, store_id: int, cursor: dict[str, Any], c: Clients
) -> str:
    variables = {"first": ORDERS_PAGE_SIZE, "query": f"updated_at:>'{_since(db, store_id)}'"}

    def orders() -> Iterator[OrderRecord]:
        pages = c.graphql.paginate(queries.ORDERS_PAGE, variables, ("orders",), tolerate_denied=ORDER_PROTECTED_FIELDS)
        for node in pages:
            # An order with more lines, refunds or refund lines than the page holds is read to the end first.
            order = complete_order(c.graphql, node)
            if order is not None:  # deleted while being read: orders/delete or the next run handles it
                yield order

    watch = _EmailWatch()
    _apply_orders_stream(db, jobs, run_id, store_id, watch.orders(orders()), 0, "orders_changed")
    denied = bool(ORDER_PROTECTED_FIELDS & c.graphql.denied_fields)
    record_order_email_access(db, store_id, denied=denied, seen_email=watch.seen)
    return "next"


def complete_order(graphql: GraphQLClient, node: dict[str, Any], where: str = "order") -> OrderRecord | None:
    """Map an ORDERS_PAGE Order node whose lines, refunds or refund lines may continue past it, fetching the rest.

    The record is the one map_order_node makes of a node holding every list in full (same lines and refunds, in
    Shopify's order). None when the order disappeared while its pages were read.
    """
    page = map_order_page(node, where)
    lines: list[OrderLineRecord] = list(page.lines)
    if page.lines_after is not None:
        rest = _line_pages(graphql, page.gid, page.lines_after)
        if rest is None:
            return None
        lines.extend(rest)
    partial: list[RefundPage] = list(page.refunds)
    if len(partial) >= queries.ORDERS_PAGE_REFUNDS:  # a full list may have been cut: list every refund
        listed = _all_refunds(graphql, page.gid, {r.gid: r for r in partial})
        if listed is None:
            return None
        partial = listed
    refunds = [_complete_refund(graphql, r) for r in partial]
    return map_order_node(node, where, lines=lines, refunds=refunds)


def _line_pages(graphql: GraphQLClient, gid: str, after: str) -> list[OrderLineRecord] | None:
    lines: list[OrderLineRecord] = []
    seen: set[str] = set()
    cursor: str | None = after
    while cursor is not None:
        if cursor in seen:  # a repeated cursor would loop forever on the same page
            raise InvalidRequest(f"line item pages of {gid} returned no new endCursor")
        seen.add(cursor)
        data = graphql.execute(
            queries.ORDER_LINE_ITEMS_PAGE, {"id": gid, "first": ORDER_LINE_PAGE_SIZE, "after": cursor}
        )
        node = data.get("order")
        if not isinstance(node, dict):
            return None
        page, cursor = map_line_items_page(node)
        lines.extend(page)
    return lines


def _all_refunds(graphql: GraphQLClient, gid: str, known: dict[str, RefundPage]) -> list[RefundPage] | None:
    """Every refund of an order in Shopify's order: those the page held as they were, the others read afresh."""
    node = graphql.execute(queries.ORDER_REFUNDS, {"id": gid, "first": ORDER_REFUNDS_LIMIT}).get("order")
    if not isinstance(node, dict):
        return None
    headers = node.get("refunds")
    if not isinstance(headers, list):
        raise ShopifyDataError(f"order {gid}: refunds is not a list")
    if len(headers) >= ORDER_REFUNDS_LIMIT:  # `refunds` has no cursor to read further with
        raise IncompleteConnection(f"order {gid} has {ORDER_REFUNDS_LIMIT} refunds or more; more cannot be read")
    refunds: list[RefundPage] = []
    for i, header in enumerate(headers):
        refund_gid, _ = map_refund_header(header if isinstance(header, dict) else {}, f"order.refunds[{i}]")
        page = known.get(refund_gid)
        refunds.append(page if page is not None else _refund_page(graphql, refund_gid, None))
    return refunds


def _refund_page(graphql: GraphQLClient, gid: str, after: str | None) -> RefundPage:
    variables = {"id": gid, "first": REFUND_LINE_PAGE_SIZE, "after": after}
    node = graphql.execute(queries.REFUND_LINES_PAGE, variables).get("refund")
    if not isinstance(node, dict):  # refunds are never deleted, and its order was just read
        raise ShopifyDataError(f"refund {gid} of a listed order is missing")
    return map_refund_page(node)


def _complete_refund(graphql: GraphQLClient, refund: RefundPage) -> RefundRecord:
    """A refund with every refund line, reading the pages after the one it came with."""
    lines: list[RefundLineRecord] = list(refund.refund.lines)
    seen: set[str] = set()
    cursor = refund.after
    while cursor is not None:
        if cursor in seen:  # a repeated cursor would loop forever on the same page
            raise InvalidRequest(f"refund line pages of {refund.gid} returned no new endCursor")
        seen.add(cursor)
        page = _refund_page(graphql, refund.gid, cursor)
        lines.extend(page.refund.lines)
        cursor = page.after
    return replace(refund.refund, lines=tuple(lines))


def _finalize(db: Database, jobs: JobQueue, run_id: int, store_id: int, cursor: dict[str, Any], c: Clients) -> str:
    with db.session() as s:
        if dialect(s) == "postgresql":
            # Fresh statistics first: a large load planned with empty-table estimates can take minutes.
            for table in ("variants", "inventory_levels", "order_lines", "orders"):
                s.execute(text(f"ANALYZE {table}"))
    with db.session() as s:
        recompute(s, store_id)
    return "next"


_PHASES: dict[str, Callable[[Database, JobQueue, int, int, dict[str, Any], Clients], str]] = {
    "locations": _locations,
    "products": _products,
    "orders": _orders,
    "products_changed": _products_changed,
    "orders_changed": _orders_changed,
    "finalize": _finalize,
}


def runs_waiting_for(session: Session, store_id: int, bulk_operation_id: str) -> list[int]:
    """Running syncs of a store that wait for this bulk operation (from bulk_operations/finish)."""
    runs = session.execute(
        select(SyncRun.id, SyncRun.cursor).where(SyncRun.store_id == store_id, SyncRun.status == SyncRunStatus.RUNNING)
    ).all()
    return [
        rid for rid, cur in runs if bulk_operation_id in {(cur or {}).get("products_op"), (cur or {}).get("orders_op")}
    ]
