"""WooCommerce webhook topics: current-state payloads applied through the shared catalog service."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Product, Store, Variant, WebhookEvent
from app.platforms.woocommerce import refunds as woo_refunds
from app.queue import JobQueue
from app.services import catalog
from app.services.ingest.inbox import ECHO, Handler
from integrations.base import InventoryRecord
from integrations.woocommerce import payloads as w


def _store_id(session: Session, event: WebhookEvent) -> int:
    if event.store_id is None or session.get(Store, event.store_id) is None:
        raise LookupError(f"webhook {event.id} has no store")
    return event.store_id


def _parse(event: WebhookEvent) -> w.WooPayload:
    return w.parse_topic_payload(event.topic, event.body)


def _parent_stock_levels(session: Session, store_id: int, update: w.ProductUpdate) -> list[InventoryRecord]:
    """Levels for `manage_stock: "parent"` variations: WooCommerce sends no delivery of their own for this."""
    if update.parent_stock is None:
        return []
    externals = session.execute(
        select(Variant.external_id)
        .join(Product, Product.id == Variant.product_id)
        .where(
            Variant.store_id == store_id,
            Product.external_id == update.product.external_id,
            Variant.stock_from_parent.is_(True),
            Variant.deleted_at.is_(None),
        )
    ).scalars()
    return [
        InventoryRecord(
            variant_external_id=ext,
            location_external_id=w.DEFAULT_LOCATION_ID,
            available=update.parent_stock,
            updated_at=update.product.updated_at,
        )
        for ext in externals
    ]


def on_product(session: Session, jobs: JobQueue, event: WebhookEvent) -> str:
    """Upsert a product (or one variation) and its stock; a delivery that changes nothing we sync is an echo.

    Every storefront write-back (``_backsoon_state`` meta) makes WooCommerce send product.updated for the item
    written, with only its meta and ``date_modified`` new. X-WC-Webhook-Delivery-ID cannot tell such a delivery
    apart (it repeats across deliveries), so the payload is compared with what is stored instead.
    """
    store_id = _store_id(session, event)
    payload = _parse(event)
    if isinstance(payload, w.VariationUpdate):
        variant = [(payload.parent_external_id, payload.variant)]
        if catalog.catalog_unchanged(session, store_id, variants=variant, levels=[payload.inventory]):
            return ECHO
        result = catalog.apply_variants(session, jobs, store_id, payload.parent_external_id, [payload.variant])
        if result.children.skipped_unknown:
            # The parent is not synced yet; reconciliation brings it with all its variations.
            return "unknown_parent"
        catalog.apply_inventory(session, jobs, store_id, [payload.inventory])
        return "applied_variation"
    assert isinstance(payload, w.ProductUpdate)
    levels = list(payload.inventory) + _parent_stock_levels(session, store_id, payload)
    if catalog.catalog_unchanged(session, store_id, products=[payload.product], levels=levels):
        return ECHO
    result = catalog.apply_products(session, jobs, store_id, [payload.product])
    if levels:
        catalog.apply_inventory(session, jobs, store_id, levels)
    return "stale" if result.skipped_stale else "applied"


def on_product_deleted(session: Session, jobs: JobQueue, event: WebhookEvent) -> str:
    """Soft-delete a trashed or deleted product and its variants."""
    payload = _parse(event)
    assert isinstance(payload, w.ProductDeleted)
    deleted = catalog.delete_product(session, jobs, _store_id(session, event), payload.external_id, event.received_at)
    return "applied" if deleted else "unknown_product"


def on_order(session: Session, jobs: JobQueue, event: WebhookEvent) -> str:
    """Upsert an order's current state (order.created and order.updated may carry identical bodies).

    The body lists refunds by id only; when those differ from the stored ones, a job reads them in full.
    """
    payload = _parse(event)
    assert isinstance(payload, w.OrderUpdate)
    store_id = _store_id(session, event)
    result = catalog.apply_orders(session, jobs, store_id, [payload.order])
    if result.skipped_stale:
        return "stale"
    return "applied:read_refunds" if woo_refunds.read_after_commit(session, jobs, store_id, payload) else "applied"


def on_order_deleted(session: Session, jobs: JobQueue, event: WebhookEvent) -> str:
    """A trashed or deleted order stops counting as sales (kept as cancelled, so a restore brings it back)."""
    payload = _parse(event)
    assert isinstance(payload, w.OrderDeleted)
    deleted = catalog.delete_order(session, jobs, _store_id(session, event), payload.external_id, event.received_at)
    return "applied" if deleted else "unknown_order"


# Every topic BackSoon subscribes to on this platform, and the function that applies it.
TOPICS: dict[str, Handler] = {
    "product.created": on_product,
    "product.updated": on_product,
    "product.restored": on_product,
    "product.deleted": on_product_deleted,
    "order.created": on_order,
    "order.updated": on_order,
    "order.deleted": on_order_deleted,
}
