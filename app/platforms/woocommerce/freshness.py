"""WooCommerce's freshness pass: what changed since the last pass, products deleted for good, and our webhooks put
back.

WooCommerce never retries a failed delivery and disables a webhook after more than 5 failures in a row, so a change
whose delivery was lost is found here. For a store where nothing changed a pass costs four requests:
``GET products?modified_after=…`` and ``GET orders?modified_after=…`` (both an empty page, ``dates_are_gmt=true``),
``GET products?per_page=1&_fields=id`` (the product count, X-WP-Total) and ``GET webhooks``.

Orders: ``orders?modified_after`` lists every order saved since (created, paid, cancelled, refunded: a refund saves
its order, and order.updated is the delivery it would have sent). Each is applied as order.updated applies it, and
when the refunds it lists differ from the stored ones the same job reads them (woo_read_refunds, collapsed per
order). Orders are upserted by id, a state older than the stored one is skipped, so a delivery arriving after the
pass (or twice) counts nothing twice.

Deletions: a trashed product moves its ``date_modified`` and drops out of the products list (whose default
``status=any`` leaves trash out), but a product deleted for good leaves nothing to list and WooCommerce keeps no
deletion log. So the pass compares the list's X-WP-Total with the products we hold live (not deleted, not archived,
i.e. not trashed); only when they differ does it list every id (``_fields=id``, 100 a page) and ask for each held
product the list lacks (``GET products/<id>``): a 404 or a trashed product is soft-deleted exactly as product.deleted
does it, anything else was only missed by the paging (a product deleted mid-listing shifts the pages). A listing
that fails part-way fails the pass before anything is deleted. Products created since the last pass are applied by
then, so a deletion cannot hide behind a creation for more than the pass in which both happen.

A variation's stock change is delivered for the variation only, but it moves its parent's ``date_modified``: saving a
variation queues its parent (``WC_Product::maybe_defer_product_sync``), which is synced and saved at the end of the
request (``WC_Post_Data::do_deferred_product_sync`` → ``WC_Product_Variable::sync($product, true)`` → ``save()``), and
a save without changed post fields still sets the parent's ``post_modified_gmt`` ("Only update post modified time to
record this save event", ``WC_Product_Data_Store_CPT::update``). So ``products?modified_after`` lists the parent, and
its variations are read in full, as the sync does; no request per variation is needed. A stock change by an order
(``wc_update_product_stock``) saves the product or variation as well, so it moves the same dates.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import Database, utcnow
from app.models import Product, ProductStatus
from app.platforms.woocommerce import refunds as woo_refunds
from app.platforms.woocommerce import sync as woo_sync
from app.queue import JobQueue
from app.services import catalog
from app.services.ingest.freshness import PassResult
from integrations.base import NotFound
from integrations.woocommerce.client import WooClient
from integrations.woocommerce.payloads import OrderUpdate, ProductUpdate, parse_order, parse_product

log = logging.getLogger(__name__)

# Products applied per transaction.
BATCH = 100


def run_pass(
    db: Database,
    jobs: JobQueue,
    store_id: int,
    client: WooClient,
    since: datetime,
    *,
    settings: Settings,
    secret: str | None,
) -> PassResult:
    """Apply every product and order modified after ``since``, soft-delete the products deleted for good, then check
    and repair our webhooks."""
    result = PassResult()
    batch: list[ProductUpdate] = []

    def flush() -> None:
        if not batch:
            return
        with db.session() as s:
            applied = catalog.apply_products(s, jobs, store_id, [u.product for u in batch])
            levels = catalog.apply_inventory(s, jobs, store_id, [lvl for u in batch for lvl in u.inventory])
        result.products += len(batch)
        result.variants += applied.children.created + applied.children.updated
        result.inventory_levels += levels.created + levels.updated
        batch.clear()

    for data in client.iter_products(modified_after=since):
        update = _with_variations(client, data)
        if update is not None:
            batch.append(update)
        if len(batch) >= BATCH:
            flush()
    flush()
    result.orders = _apply_orders(db, jobs, store_id, client, since)
    result.products_deleted = _delete_vanished(db, jobs, store_id, client)
    if secret:
        repair = woo_sync.repair_webhooks(client, woo_sync.delivery_url(settings, store_id), secret)
        result.webhook_actions.extend(repair.actions)
        result.webhooks_broken.extend(repair.broken)
    else:
        log.warning("store %s has no webhook secret; its webhooks were not checked", store_id)
        result.webhooks_broken.extend(woo_sync.WEBHOOK_TOPICS)
    return result


def _with_variations(client: WooClient, data: dict[str, Any]) -> ProductUpdate | None:
    if data.get("type") != "variable":
        return parse_product(data)
    product_id = data.get("id")
    try:
        variations = list(client.iter_variations(str(product_id)))
    except NotFound:  # deleted since it was listed: product.deleted or the next pass says so
        log.info("product %s disappeared during the freshness pass; skipped", product_id)
        return None
    return parse_product(data, variations)


def _apply_orders(db: Database, jobs: JobQueue, store_id: int, client: WooClient, since: datetime) -> int:
    """Apply each order modified after ``since`` as order.updated does; how many were listed."""
    batch: list[OrderUpdate] = []
    listed = 0

    def flush() -> None:
        if not batch:
            return
        with db.session() as s:
            catalog.apply_orders(s, jobs, store_id, [u.order for u in batch])
            for update in batch:
                woo_refunds.read_after_commit(s, jobs, store_id, update)
        batch.clear()

    for data in client.iter_orders(modified_after=since):
        batch.append(parse_order(data))
        listed += 1
        if len(batch) >= BATCH:
            flush()
    flush()
    return listed


def live_product_ids(session: Session, store_id: int) -> set[str]:
    """The products we hold that the store's products list should hold too: not deleted, not trashed."""
    return set(
        session.execute(
            select(Product.external_id).where(
                Product.store_id == store_id,
                Product.deleted_at.is_(None),
                Product.status != ProductStatus.ARCHIVED,
            )
        ).scalars()
    )


def _delete_vanished(db: Database, jobs: JobQueue, store_id: int, client: WooClient) -> int:
    """Soft-delete the products deleted for good (or trashed) that we still hold live; how many."""
    total = client.count_products()
    with db.session() as s:
        held = live_product_ids(s, store_id)
    if total == len(held):
        return 0
    # Every page is read, and every missing product asked for, before anything is deleted.
    listed = set(client.iter_product_ids())
    gone: list[str] = []
    for external_id in sorted(held - listed, key=lambda ext: (len(ext), ext)):
        try:
            data: dict[str, Any] | None = client.get_product(external_id)
        except NotFound:
            data = None
        if data is None or data.get("status") == "trash":
            gone.append(external_id)
        # Otherwise it is still there: the paging missed it (a product deleted meanwhile shifts the pages).
    deleted = 0
    with db.session() as s:
        now = utcnow()
        for external_id in gone:
            if catalog.delete_product(s, jobs, store_id, external_id, now):
                deleted += 1
    if deleted:
        log.info("store %s: %s products deleted in WooCommerce without a delivery", store_id, deleted)
    return deleted
