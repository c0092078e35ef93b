"""WooCommerce sync: the initial REST sync and the periodic reconciliation, as resumable sync runs.

Mirrors shopify_sync: a run is a sync_runs row whose phase and cursor say where it is, and every batch commits
its progress. Lists are read in id order, so the cursor is the last id applied and a resumed run skips up to it.
Records go through the same catalog service as webhooks, so both paths agree.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from app import job_specs
from app.config import Settings, get_settings
from app.db import Database
from app.domain import freshness as freshness_rules
from app.infra.crypto import cipher_for
from app.infra.prefetch import prefetched
from app.infra.sql import dialect
from app.models import Store, StoreStatus, SyncRun, SyncRunStatus
from app.queue import JobQueue
from app.services import catalog
from app.services.ingest import sync_runs
from app.services.stock.recompute import recompute
from integrations.base import AuthRevoked, InvalidRequest, NotFound, OrderRecord, PlatformError, TransientError
from integrations.woocommerce.client import MAX_PAGE_SIZE, Resolver, WooClient
from integrations.woocommerce.payloads import PayloadError, ProductUpdate, parse_order, parse_product

log = logging.getLogger(__name__)

PHASES = ("products", "orders", "webhooks", "finalize")
PRODUCT_BATCH = 100
ORDER_BATCH = 100
# Reconciliation re-reads a little before the last sync, so a change made during it is not missed.
RECONCILE_OVERLAP = timedelta(minutes=5)
SYNC_JOB_TIMEOUT = 60 * 60
WEBHOOK_TOPICS = (
    "product.created",
    "product.updated",
    "product.deleted",
    "product.restored",
    "order.created",
    "order.updated",
    "order.deleted",
)


def delivery_url(settings: Settings, store_id: int) -> str:
    """Where this store's WooCommerce webhooks deliver."""
    return f"{settings.app_url.rstrip('/')}/webhooks/woocommerce/{store_id}"


def client_for(
    settings: Settings,
    store: Store,
    *,
    session: requests.Session | None = None,
    page_size: int = MAX_PAGE_SIZE,
    resolver: Resolver = socket.getaddrinfo,
) -> WooClient:
    """A REST client for the store, with its consumer key and secret decrypted; AuthRevoked when none is stored."""
    if store.credentials_encrypted is None:
        raise AuthRevoked("no WooCommerce API key stored")
    creds = cipher_for(settings).decrypt_json(store.credentials_encrypted)
    key, secret = creds.get("consumer_key"), creds.get("consumer_secret")
    if not isinstance(key, str) or not isinstance(secret, str) or not key or not secret:
        raise AuthRevoked("stored WooCommerce credentials are incomplete")
    return WooClient(
        store.domain,
        key,
        secret,
        session=session,
        page_size=page_size,
        resolver=resolver,
        allow_private=settings.allow_private_stores,
    )


def webhook_secret_for(settings: Settings, store: Store) -> str | None:
    """Our webhook signing secret for the store, decrypted, or None when none is stored."""
    if store.webhook_secret_encrypted is None:
        return None
    return cipher_for(settings).decrypt(store.webhook_secret_encrypted).decode("utf-8")


def start_sync(session: Session, jobs: JobQueue, store_id: int, kind: str = "initial") -> SyncRun:
    """Create a sync run (or return the one already running for the store) and enqueue it after commit."""
    if kind not in ("initial", "reconcile"):
        raise ValueError(f"unknown sync kind {kind!r}")
    return sync_runs.open_run(session, jobs, store_id, kind, PHASES[0], job_specs.woo_sync)


def progress(run: SyncRun) -> dict[str, Any]:
    """What the admin API and the CLI show of a run."""
    return sync_runs.describe(run, PHASES)


@dataclass(frozen=True, slots=True)
class _Ctx:
    db: Database
    jobs: JobQueue
    run_id: int
    store_id: int
    kind: str
    client: WooClient
    settings: Settings


def step(db: Database, jobs: JobQueue, run_id: int, client: WooClient, *, settings: Settings | None = None) -> str:
    """Run a sync to its end from where its cursor says; return its final status."""
    with db.session() as s:
        run = s.get(SyncRun, run_id)
        if run is None:
            return "missing"
        if run.status != SyncRunStatus.RUNNING:
            return run.status
        store_id, kind = run.store_id, run.kind
    ctx = _Ctx(db, jobs, run_id, store_id, kind, client, settings or get_settings())
    try:
        while True:
            with db.session() as s:
                run = s.get(SyncRun, run_id)
                assert run is not None
                run.heartbeat_at = datetime.now(UTC)
                if not sync_runs.begin_step(s, run):
                    return SyncRunStatus.FAILED
                phase, cursor = run.phase, dict(run.cursor or {})
            _PHASES[phase](ctx, cursor)
            if sync_runs.advance(db, run_id, store_id, PHASES, phase):
                return SyncRunStatus.DONE
    except (PayloadError, InvalidRequest) as exc:
        # Retrying cannot help: the run stops with its reason; transient errors propagate to be retried.
        fail_run(db, run_id, f"{exc.__class__.__name__}: {exc}")
        return SyncRunStatus.FAILED
    except AuthRevoked as exc:
        disconnect(db, store_id, f"access revoked: {exc}", run_id=run_id)
        return SyncRunStatus.FAILED


fail_run = sync_runs.fail_run


def disconnect(db: Database, store_id: int, error: str, *, run_id: int | None = None) -> None:
    """Mark the store disconnected (WooCommerce refused our key) and fail the run, if any."""
    with db.session() as s:
        if run_id is not None:
            sync_runs.mark_failed(s, run_id, error)
        s.execute(
            update(Store)
            .where(Store.id == store_id)
            .values(status=StoreStatus.DISCONNECTED, status_reason="WooCommerce rejected the API key")
        )


def _commit_batch(s: Session, run_id: int, cursor: dict[str, Any], done: int, counts: dict[str, int]) -> None:
    """Record a batch's cursor, progress and counts in the same transaction as its rows."""
    run = s.get(SyncRun, run_id)
    assert run is not None
    run.cursor = {**(run.cursor or {}), **cursor}
    run.done = done
    run.heartbeat_at = datetime.now(UTC)
    merged = dict(run.counts or {})
    for name, n in counts.items():
        merged[name] = int(merged.get(name, 0)) + int(n)
    run.counts = merged


def _modified_after(ctx: _Ctx) -> datetime | None:
    """None for an initial sync; the last sync minus the overlap for a reconciliation."""
    if ctx.kind == "initial":
        return None
    with ctx.db.session() as s:
        last = s.execute(select(Store.last_synced_at).where(Store.id == ctx.store_id)).scalar_one_or_none()
    moment = last or datetime.now(UTC) - timedelta(days=1)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment - RECONCILE_OVERLAP


def _raw_id(data: dict[str, Any]) -> int:
    """A list item's numeric id, read before parsing so items behind the cursor cost nothing."""
    value = data.get("id")
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise PayloadError(f"id: expected a numeric id, got {value!r}", field="id")
    return int(value)


def _product_updates(ctx: _Ctx, after_id: int) -> Iterator[tuple[int, ProductUpdate]]:
    """Products past the cursor, each with its variations fetched when it is variable."""
    # The next products page is on its way while this one is parsed and applied (one page request at a time).
    for data in ctx.client.iter_products(modified_after=_modified_after(ctx), read_ahead=True):
        product_id = _raw_id(data)
        if product_id <= after_id:
            continue
        variations: list[dict[str, Any]] = []
        if data.get("type") == "variable":
            try:
                variations = list(ctx.client.iter_variations(product_id))
            except NotFound:
                log.info("product %s disappeared during the sync; skipped", product_id)
                continue
        yield product_id, parse_product(data, variations)


_PREFETCH_ITEMS = 2 * MAX_PAGE_SIZE


def _products(ctx: _Ctx, cursor: dict[str, Any]) -> None:
    after_id = int(cursor.get("products_last_id", 0))
    done = int(cursor.get("products_done", 0))
    batch: list[ProductUpdate] = []
    last_id = after_id

    def flush() -> None:
        nonlocal done
        if not batch:
            return
        with ctx.db.session() as s:
            p = catalog.apply_products(s, ctx.jobs, ctx.store_id, [u.product for u in batch])
            i = catalog.apply_inventory(s, ctx.jobs, ctx.store_id, [lvl for u in batch for lvl in u.inventory])
            done += len(batch)
            counts = {
                "products": len(batch),
                "variants": p.children.created + p.children.updated,
                "inventory_levels": i.created + i.updated,
            }
            _commit_batch(s, ctx.run_id, {"products_last_id": last_id, "products_done": done}, done, counts)
        sync_runs.analyze_if_due(ctx.db, done - len(batch), done)
        batch.clear()

    for product_id, update_ in prefetched(_product_updates(ctx, after_id), _PREFETCH_ITEMS):
        batch.append(update_)
        last_id = max(last_id, product_id)
        if len(batch) >= PRODUCT_BATCH:
            flush()
    flush()
    if ctx.kind == "reconcile":
        _trashed_products(ctx)


def _trashed_products(ctx: _Ctx) -> None:
    """Soft-delete the products trashed since the last sync, as their product.deleted delivery would have.

    The products list leaves trashed ones out unless asked for ``status=trash`` (its default, ``any``, excludes
    them), and trashing saves the post, so ``modified_after`` finds those trashed since. A product deleted for good
    leaves nothing to list.
    """
    deleted = 0
    for data in ctx.client.iter_products(modified_after=_modified_after(ctx), status="trash"):
        product = parse_product(data).product
        with ctx.db.session() as s:
            if catalog.delete_product(s, ctx.jobs, ctx.store_id, product.external_id, product.updated_at):
                deleted += 1
    if deleted:
        with ctx.db.session() as s:
            run = s.get(SyncRun, ctx.run_id)
            assert run is not None
            counts = dict(run.counts or {})
            counts["products_trashed"] = int(counts.get("products_trashed", 0)) + deleted
            run.counts = counts


def _order_records(ctx: _Ctx, after_id: int) -> Iterator[tuple[int, OrderRecord]]:
    """Orders past the cursor, with their refunds fetched when the order lists any."""
    for data in ctx.client.iter_orders(modified_after=_modified_after(ctx)):
        order_id = _raw_id(data)
        if order_id <= after_id:
            continue
        parsed = parse_order(data)
        if parsed.refund_ids:
            parsed = parse_order(data, list(ctx.client.iter_refunds(order_id)))
        yield order_id, parsed.order


def _orders(ctx: _Ctx, cursor: dict[str, Any]) -> None:
    after_id = int(cursor.get("orders_last_id", 0))
    done = int(cursor.get("orders_done", 0))
    batch: list[OrderRecord] = []
    last_id = after_id

    def flush() -> None:
        nonlocal done
        if not batch:
            return
        with ctx.db.session() as s:
            result = catalog.apply_orders(s, ctx.jobs, ctx.store_id, batch)
            done += len(batch)
            counts = {"orders": result.created + result.updated, "refunds": result.refunds}
            _commit_batch(s, ctx.run_id, {"orders_last_id": last_id, "orders_done": done}, done, counts)
        batch.clear()

    for order_id, order in _order_records(ctx, after_id):
        batch.append(order)
        last_id = max(last_id, order_id)
        if len(batch) >= ORDER_BATCH:
            flush()
    flush()


@dataclass(slots=True)
class WebhookRepair:
    """What a webhook check did (``actions``, for the log and the admin), and the topics still not delivered."""

    actions: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    changed: int = 0  # webhooks re-enabled or created


def repair_webhooks(client: WooClient, url: str, secret: str) -> WebhookRepair:
    """Re-enable our webhooks WooCommerce disabled and create missing ones, one per topic, for our delivery URL."""
    repair = WebhookRepair()
    plan = freshness_rules.plan_webhooks(client.list_webhooks(), url, WEBHOOK_TOPICS)
    for hook_id, topic in plan.enable:
        # Re-enabled rather than replaced, so disabled copies do not pile up in the merchant's webhook list. Setting
        # the status keeps WooCommerce's failure count (6, hidden from REST) until a delivery is answered 2xx-302,
        # so one more failed delivery before that disables it again (WC_Webhook::failed_delivery: count > 5); the
        # next pass then re-enables it again, and reads what that delivery carried meanwhile.
        try:
            hook = client.set_webhook_status(hook_id, "active")
        except (AuthRevoked, TransientError):
            raise  # the key was revoked or the store is down: the caller fails as a whole
        except PlatformError as exc:  # refused (deleted meanwhile, say): the admin hears of it
            repair.actions.append(f"could not re-enable {topic} (#{hook_id}): {exc}")
            repair.broken.append(topic)
            continue
        if hook.get("status") == "active":
            repair.actions.append(f"re-enabled {topic} (#{hook_id})")
            repair.changed += 1
        else:
            repair.actions.append(f"could not re-enable {topic} (#{hook_id}): still {hook.get('status')}")
            repair.broken.append(topic)
    for topic in plan.create:
        try:
            created = client.create_webhook(topic, url, secret)
        except (AuthRevoked, TransientError):
            raise
        except PlatformError as exc:
            repair.actions.append(f"could not create {topic}: {exc}")
            repair.broken.append(topic)
            continue
        repair.actions.append(f"created {topic} (#{created.get('id')})")
        repair.changed += 1
    for topic in plan.paused:
        # Only the merchant pauses a webhook: theirs to resume (the admin asks them to).
        repair.actions.append(f"left {topic} paused")
        repair.broken.append(topic)
    if repair.actions:
        log.info("webhooks of %s: %s", url, "; ".join(repair.actions))
    return repair


def ensure_webhooks(client: WooClient, url: str, secret: str) -> int:
    """Put back every topic's webhook for our delivery URL (see repair_webhooks); return how many were changed."""
    return repair_webhooks(client, url, secret).changed


def _created_gmt(hook: dict[str, Any]) -> datetime | None:
    raw = hook.get("date_created_gmt")
    try:
        value = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def replace_webhooks(client: WooClient, url: str, secret: str, replaced_at: datetime) -> tuple[int, int]:
    """Delete our webhooks created before new keys replaced the old ones, then create fresh ones; both counts.

    WooCommerce's REST API cannot say which key created a webhook, but every webhook BackSoon created with the old
    key is older than the new key: those at our delivery URL created before ``replaced_at`` go (disabled ones
    included, which would otherwise stay behind for good).
    """
    deleted = 0
    for hook in client.list_webhooks():
        created = _created_gmt(hook)
        if hook.get("delivery_url") != url or created is None or created >= replaced_at:
            continue
        client.delete_webhook(str(hook.get("id")))
        deleted += 1
    return deleted, ensure_webhooks(client, url, secret)


def _webhooks(ctx: _Ctx, cursor: dict[str, Any]) -> None:
    with ctx.db.session() as s:
        store = s.get(Store, ctx.store_id)
        secret = webhook_secret_for(ctx.settings, store) if store is not None else None
    repaired = 0
    if secret:
        repaired = ensure_webhooks(ctx.client, delivery_url(ctx.settings, ctx.store_id), secret)
    else:
        log.warning("store %s has no webhook secret; webhooks not checked", ctx.store_id)
    with ctx.db.session() as s:
        # An initial sync sets our webhooks up; a later one puts back what was disabled or deleted.
        key = "webhooks_created" if ctx.kind == "initial" else "webhooks_repaired"
        _commit_batch(s, ctx.run_id, {}, len(WEBHOOK_TOPICS), {key: repaired})


def _finalize(ctx: _Ctx, cursor: dict[str, Any]) -> None:
    with ctx.db.session() as s:
        if dialect(s) == "postgresql":
            # Fresh statistics first: a large load planned with empty-table estimates can take minutes.
            for table in ("variants", "inventory_levels", "order_lines", "orders"):
                s.execute(text(f"ANALYZE {table}"))
    with ctx.db.session() as s:
        recompute(s, ctx.store_id)


_PHASES: dict[str, Callable[[_Ctx, dict[str, Any]], None]] = {
    "products": _products,
    "orders": _orders,
    "webhooks": _webhooks,
    "finalize": _finalize,
}
