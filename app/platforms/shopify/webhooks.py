"""Shopify webhook topics: parse the stored body and apply it through the shared catalog and privacy services."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from app import job_specs
from app.models import Store, StoreStatus, WebhookEvent
from app.platforms.shopify import identity as shopify_identity
from app.platforms.shopify import records as shopify_records
from app.platforms.shopify import sync as shopify_sync
from app.queue import JobQueue, enqueue_after_commit
from app.services import catalog
from app.services.ingest.batch import BatchTopic, Part
from app.services.ingest.inbox import ECHO, Handler
from app.services.merchant import compliance
from integrations.base import InventoryRecord, OrderRecord, ProductRecord, StoreInfo
from integrations.shopify import payloads as p
from integrations.shopify.auth import visible_order_days
from integrations.shopify.shop import can_read_locales

log = logging.getLogger(__name__)

PARTIAL_VARIANTS_AT = 100
"""A product payload listing this many variants may not list them all. Shopify documents no cap on the variants of
product webhook payloads, but products had at most 100 variants until 2,048 became the limit (2025-10), and its other
product surfaces (REST, the Ajax API) stop at 100; so from 100 on the list is upserted without deleting anything, and
a follow-up job reads the product in full through GraphQL and applies that as the complete list."""


def _store(session: Session, event: WebhookEvent) -> Store:
    if event.store_id is None:
        raise LookupError(f"webhook {event.id} has no store")
    store = session.get(Store, event.store_id)
    if store is None:
        raise LookupError(f"store {event.store_id} is gone")
    return store


def _parse(event: WebhookEvent) -> p.ShopifyPayload:
    return p.parse_topic_payload(event.topic, event.body)


def on_product(session: Session, jobs: JobQueue, event: WebhookEvent) -> str:
    """Upsert a product and its variants (tracking is not in product payloads, so it is kept as stored).

    A payload with fewer than PARTIAL_VARIANTS_AT variants, all named in its ``variant_gids``, is the full list
    (missing variants are soft-deleted); any other deletes nothing and is followed by a full re-read of the product
    (jobs.shopify.refresh_product).
    """
    record = _parse(event)
    assert isinstance(record, ProductRecord)
    store_id = _store(session, event).id
    unknown = p.PRODUCT_WEBHOOK_UNKNOWN_VARIANT_FIELDS
    if _full_variant_list(event, record):
        # A metafield write (our storefront write-back) also sends products/update; one that changes nothing
        # we sync is skipped.
        if catalog.catalog_unchanged(session, store_id, products=[record], preserve=unknown):
            return ECHO
        result = catalog.apply_products(session, jobs, store_id, [record], preserve=unknown)
        return "stale" if result.skipped_stale else "applied"
    # Possibly partial: the product itself, then its listed variants with partial semantics (siblings untouched).
    result = catalog.apply_products(session, jobs, store_id, [replace(record, variants=())], preserve=unknown)
    if result.skipped_stale:
        return "stale"
    catalog.apply_variants(session, jobs, store_id, record.external_id, record.variants, preserve=unknown)
    enqueue_after_commit(
        session, jobs, job_specs.shopify_refresh_product(store_id, shopify_records.product_gid(record.external_id))
    )
    return "applied:partial"


def _full_variant_list(event: WebhookEvent, record: ProductRecord) -> bool:
    """Whether a product payload lists all its variants: fewer than PARTIAL_VARIANTS_AT, none left out."""
    return len(record.variants) < PARTIAL_VARIANTS_AT and not _lists_more_variants(event, record)


def _lists_more_variants(event: WebhookEvent, record: ProductRecord) -> bool:
    """True when the payload's ``variant_gids`` names a variant its ``variants`` list lacks (a cut list)."""
    try:
        gids = json.loads(event.body).get("variant_gids")
    except (ValueError, AttributeError):
        return False
    if not isinstance(gids, list):
        return False
    listed = {v.external_id for v in record.variants}
    for item in gids:
        gid = item.get("admin_graphql_api_id") if isinstance(item, dict) else None
        if isinstance(gid, str) and gid.rsplit("/", 1)[-1] not in listed:
            return True
    return False


def on_product_delete(session: Session, jobs: JobQueue, event: WebhookEvent) -> str:
    """Soft-delete a product and its variants."""
    record = _parse(event)
    assert isinstance(record, p.ProductDeleted)
    deleted = catalog.delete_product(session, jobs, _store(session, event).id, record.external_id, event.triggered_at)
    return "applied" if deleted else "unknown_product"


def _level_record(event: WebhookEvent) -> InventoryRecord:
    """The inventory level an inventory_levels/update delivery sets, keyed by its inventory item."""
    level = _parse(event)
    assert isinstance(level, p.InventoryLevelUpdate)
    return InventoryRecord(
        variant_external_id=level.inventory_item_id,
        location_external_id=level.location_id,
        available=level.available,
        updated_at=level.updated_at,
    )


def on_inventory_level(session: Session, jobs: JobQueue, event: WebhookEvent) -> str:
    """Set one item's available quantity at one location (null when tracking was turned off)."""
    record = _level_record(event)
    result = catalog.apply_inventory(session, jobs, _store(session, event).id, [record], key="inventory_item")
    return "stale" if result.skipped_stale else "applied"


def on_inventory_item(session: Session, jobs: JobQueue, event: WebhookEvent) -> str:
    """Follow an inventory item's tracking switch."""
    item = _parse(event)
    assert isinstance(item, p.InventoryItemUpdate)
    changed = catalog.set_tracking(
        session, jobs, _store(session, event).id, item.inventory_item_id, item.tracked, item.updated_at
    )
    return f"applied:{changed}"


def on_order(session: Session, jobs: JobQueue, event: WebhookEvent) -> str:
    """Upsert an order (current state: lines, cancellation, refunds)."""
    order = _parse(event)
    assert isinstance(order, OrderRecord)
    result = catalog.apply_orders(session, jobs, _store(session, event).id, [order])
    return "stale" if result.skipped_stale else "applied"


def on_refund(session: Session, jobs: JobQueue, event: WebhookEvent) -> str:
    """Record a refund on a known order."""
    created = _parse(event)
    assert isinstance(created, p.RefundCreated)
    applied = catalog.apply_refund(session, jobs, _store(session, event).id, created.order_external_id, created.refund)
    return "applied" if applied else "unknown_order"


def on_uninstalled(session: Session, jobs: JobQueue, event: WebhookEvent) -> str:
    """Mark the store uninstalled and forget its credentials; its data waits for shop/redact."""
    store = _store(session, event)
    store.status = StoreStatus.UNINSTALLED
    store.status_reason = "app/uninstalled webhook"
    store.uninstalled_at = event.triggered_at or datetime.now(UTC)
    store.credentials_encrypted = None
    store.access_token_expires_at = None
    return "applied"


def on_scopes_update(session: Session, jobs: JobQueue, event: WebhookEvent) -> str:
    """Remember the scopes the merchant granted now; read the shop's language once they allow it, and its older
    orders once read_all_orders lets them be read (a history run, which lifts the store's order horizon)."""
    update = _parse(event)
    assert isinstance(update, p.AppScopesUpdate)
    store = _store(session, event)
    could_read_locales = can_read_locales(store.scopes)
    store.scopes = ",".join(update.current)
    if visible_order_days(store.scopes) is None:
        store.all_orders_declined_at = None  # granted after all: a later revoke starts the prompt afresh
    done = []
    if can_read_locales(store.scopes) and not could_read_locales:
        # A store installed before read_locales was asked for had its settings read without the language.
        shopify_identity.read_after_commit(session, jobs, store.id)
        done.append("read_identity")
    if shopify_sync.history_due(session, store.id, after_failure=True):
        # One run per store at a time (open_run): a repeated delivery finds this one running and starts nothing.
        shopify_sync.start_sync(session, jobs, store.id, shopify_sync.HISTORY)
        done.append("read_history")
    return ":".join(["applied", *done])


def on_shop_update(session: Session, jobs: JobQueue, event: WebhookEvent) -> str:
    """Record the shop's settings as Shopify now reports them (the merchant's own values here still win)."""
    info = _parse(event)
    assert isinstance(info, StoreInfo)
    changed = shopify_identity.apply_shop_update(session, _store(session, event).id, info)
    return "applied:" + (",".join(changed) or "unchanged")


def on_customer_data_request(session: Session, jobs: JobQueue, event: WebhookEvent) -> str:
    """Produce everything stored about one shopper for the merchant: kept on the compliance request row (listed in
    the admin), and the store's admin is emailed a signed link to it after commit."""
    req = _parse(event)
    assert isinstance(req, p.CustomersDataRequest)
    store = _store(session, event)
    export = compliance.export_customer(session, store.id, req.email, req.customer_id)
    row = compliance.record_request(
        session,
        store_id=store.id,
        platform="shopify",
        shop_domain=store.domain,
        kind=compliance.DATA_REQUEST,
        external_id=req.data_request_id or event.dedupe_key,
        email=req.email,
        customer_id=req.customer_id,
        export=export,
        counts={k: len(v) for k, v in export.items()},
    )
    compliance.forget_body(event)
    enqueue_after_commit(session, jobs, job_specs.send_data_request(row.id))
    return "applied"


def on_customer_redact(session: Session, jobs: JobQueue, event: WebhookEvent) -> str:
    """Erase one shopper's subscriptions, deliveries and personal order fields."""
    req = _parse(event)
    assert isinstance(req, p.CustomersRedact)
    store = _store(session, event)
    result = compliance.redact_customer(
        session, store.id, req.email, req.customer_id, req.orders_to_redact, keep_event_id=event.id
    )
    compliance.forget_body(event)
    compliance.record_request(
        session,
        store_id=store.id,
        platform="shopify",
        shop_domain=store.domain,
        kind="customers/redact",
        external_id=event.dedupe_key,
        email=req.email,
        customer_id=req.customer_id,
        counts={"subscriptions": result.subscriptions, "orders": result.orders, "exports": result.exports},
    )
    return "applied"


def on_shop_redact(session: Session, jobs: JobQueue, event: WebhookEvent) -> str:
    """Erase the store and all its data; the audit row keeps only the domain."""
    req = _parse(event)
    assert isinstance(req, p.ShopRedact)
    store = _store(session, event)
    if req.shop_domain.lower() != store.domain.lower():
        # The header is not signed; the body's shop must be the store we are about to erase.
        raise ValueError(f"shop/redact body names {req.shop_domain}, delivery was for {store.domain}")
    domain = store.domain
    compliance.redact_shop(session, store.id, keep_event_id=event.id)
    compliance.record_request(
        session,
        store_id=None,
        platform="shopify",
        shop_domain=domain,
        kind="shop/redact",
        external_id=event.dedupe_key,
    )
    return "applied"


def on_bulk_finished(session: Session, jobs: JobQueue, event: WebhookEvent) -> str:
    """Wake the sync run waiting for this bulk operation instead of waiting for its next poll."""
    done = _parse(event)
    assert isinstance(done, p.BulkOperationFinished)
    run_ids = shopify_sync.runs_waiting_for(session, _store(session, event).id, done.bulk_operation_id)
    for run_id in run_ids:
        enqueue_after_commit(session, jobs, job_specs.shopify_sync(run_id, suffix=f"w{event.id}"))
    return f"woke:{len(run_ids)}"


# Every topic BackSoon subscribes to on this platform, and the function that applies it.
TOPICS: dict[str, Handler] = {
    "products/create": on_product,
    "products/update": on_product,
    "products/delete": on_product_delete,
    "inventory_levels/update": on_inventory_level,
    "inventory_items/update": on_inventory_item,
    "orders/create": on_order,
    "orders/updated": on_order,
    "orders/paid": on_order,
    "orders/cancelled": on_order,
    "refunds/create": on_refund,
    "app/uninstalled": on_uninstalled,
    "app/scopes_update": on_scopes_update,
    "shop/update": on_shop_update,
    "customers/data_request": on_customer_data_request,
    "customers/redact": on_customer_redact,
    "shop/redact": on_shop_redact,
    "bulk_operations/finish": on_bulk_finished,
}


def _read_product(event: WebhookEvent) -> Part | None:
    """A product delivery as on_product applies a full variant list; a possibly partial one is processed alone."""
    record = _parse(event)
    assert isinstance(record, ProductRecord)
    if not _full_variant_list(event, record):
        return None
    return Part(record, preserve=frozenset(p.PRODUCT_WEBHOOK_UNKNOWN_VARIANT_FIELDS))


def _read_inventory_level(event: WebhookEvent) -> Part | None:
    """An inventory level delivery as on_inventory_level applies it (keyed by inventory item)."""
    return Part(_level_record(event), level_key="inventory_item")


def _read_order(event: WebhookEvent) -> Part | None:
    """An order delivery as on_order applies it."""
    order = _parse(event)
    assert isinstance(order, OrderRecord)
    return Part(order)


# Topics whose deliveries a drain may apply together (app.services.ingest.batch): current-state upserts only.
BATCHED: dict[str, BatchTopic] = {
    "products/create": BatchTopic(on_product, _read_product),
    "products/update": BatchTopic(on_product, _read_product),
    "inventory_levels/update": BatchTopic(on_inventory_level, _read_inventory_level),
    "orders/create": BatchTopic(on_order, _read_order),
    "orders/updated": BatchTopic(on_order, _read_order),
    "orders/paid": BatchTopic(on_order, _read_order),
    "orders/cancelled": BatchTopic(on_order, _read_order),
}
