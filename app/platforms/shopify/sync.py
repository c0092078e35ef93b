"""Shopify sync: the initial bulk sync and the periodic reconciliation, as resumable sync runs.

A run is a row (sync_runs) whose phase and cursor say where it is; every step commits its progress,
so a killed worker loses at most one batch and the sweeper re-drives a run whose heartbeat stopped.
Records go through the same catalog service as webhooks, so both paths agree.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
from app.platforms.shopify import order_access
from app.platforms.shopify.records import (
    complete_order,
    complete_product,
)
from app.queue import JobQueue
from app.services import catalog
from app.services.ingest import sync_runs
from app.services.stock.recompute import recompute
from integrations.base import (
    AuthRevoked,
    InvalidRequest,
    InventoryRecord,
    LocationRecord,
    OrderRecord,
    ProductRecord,
)
from integrations.shopify import queries
from integrations.shopify.app_config import PROTECTED_FIELDS
from integrations.shopify.auth import visible_order_days
from integrations.shopify.bulk import (
    BulkRejected,
    ShopifyDataError,
    download_lines,
    iter_bulk_orders,
    iter_bulk_records,
    map_location_node,
    poll_bulk,
    start_bulk,
)
from integrations.shopify.graphql import GraphQLClient, ProtectedDataDenied

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
    """True when the store's orders stop at a horizon its scopes now read past (all orders granted, or orders just
    approved after a refusal) and its history run is due: never run, or failed and its back-off has passed (or
    ``after_failure``: a new grant is worth another try at once)."""
    store = session.get(Store, store_id)
    if store is None or store.orders_history_from is None or store.order_email_access == OrderEmailAccess.NO_ORDERS:
        return False
    days = visible_order_days(store.scopes)
    # Without read_all_orders a read sees `days` back: a horizon at or before that has nothing left to load.
    if days is not None and as_utc(store.orders_history_from) <= utcnow() - timedelta(days=days):
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
    if "orders_op" not in cursor and order_access.orders_denied(db, store_id) and not _orders_answered(db, store_id, c):
        return "next"  # still refused: one request, no bulk operation
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
    except (_BulkFailed, BulkRejected) as exc:
        if isinstance(exc, _BulkFailed) and exc.error_code != "ACCESS_DENIED":
            raise
        if not _orders_answered(db, store_id, c):
            # Refused the Order object itself: the run goes on without orders (order_access).
            _save(db, run_id, cursor={"orders_op": None})
            return "next"
        if isinstance(exc, BulkRejected) or not with_email:
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


def _orders_answered(db: Database, store_id: int, c: Clients) -> bool:
    """Ask Shopify with one paged order read whether it lets the app read orders at all, and record its answer.

    A bulk read refused with ACCESS_DENIED (or rejected at its start) says too little: Shopify's
    BulkOperationErrorCode.ACCESS_DENIED says to "execute the query as a normal non-bulk GraphQL request to see more
    details", and that request names the Order object when protected customer data is what is missing.
    """
    if order_access.probe(c.graphql):
        order_access.record_readable(db, store_id)
        return True
    order_access.record_denied(db, store_id)
    return False


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
    if not order_access.order_read_due(db, store_id):
        return "next"  # refused less than a day ago (order_access.ORDERS_RETRY_AFTER)
    was_denied = order_access.orders_denied(db, store_id)
    variables = {"first": ORDERS_PAGE_SIZE, "query": f"updated_at:>'{_since(db, store_id)}'"}

    def orders() -> Iterator[OrderRecord]:
        pages = c.graphql.paginate(queries.ORDERS_PAGE, variables, ("orders",), tolerate_denied=ORDER_PROTECTED_FIELDS)
        for node in pages:
            # An order with more lines, refunds or refund lines than the page holds is read to the end first.
            order = complete_order(c.graphql, node)
            if order is not None:  # deleted while being read: orders/delete or the next run handles it
                yield order

    watch = _EmailWatch()
    try:
        _apply_orders_stream(db, jobs, run_id, store_id, watch.orders(orders()), 0, "orders_changed")
    except ProtectedDataDenied as exc:
        if not order_access.orders_refused(exc):
            raise
        order_access.record_denied(db, store_id)
        return "next"
    if was_denied:
        order_access.record_readable(db, store_id)  # the next reconciliation loads the history (history_due)
    denied = bool(ORDER_PROTECTED_FIELDS & c.graphql.denied_fields)
    record_order_email_access(db, store_id, denied=denied, seen_email=watch.seen)
    return "next"


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
