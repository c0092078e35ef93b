"""WooCommerce's freshness pass: what changed since the last pass, and our webhooks put back.

WooCommerce never retries a failed delivery and disables a webhook after more than 5 failures in a row, so a change
whose delivery was lost is found here. For a store where nothing changed a pass costs two requests:
``GET products?modified_after=…`` (an empty page) and ``GET webhooks``.

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

from app.config import Settings
from app.db import Database
from app.platforms.woocommerce import sync as woo_sync
from app.queue import JobQueue
from app.services import catalog
from app.services.ingest.freshness import PassResult
from integrations.base import NotFound
from integrations.woocommerce.client import WooClient
from integrations.woocommerce.payloads import ProductUpdate, parse_product

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
    """Apply every product modified after ``since`` (with its variations), then check and repair our webhooks."""
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
