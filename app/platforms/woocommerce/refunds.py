"""WooCommerce refunds, read when an order changes.

An order.updated delivery names the order's refunds only as ``refunds: [{id, reason, total}]``: no lines, no
quantities, no date (live 9.4.3 capture, tests/fixtures/woocommerce/live-9.4.3/README.md, Surprise 7). So the
handler compares those ids with the refunds stored for the order, and when they differ a job reads the order and
``GET orders/<id>/refunds`` and applies both through the catalog service, like the sync does. Refunds are upserted
by id and ``refunded_quantity`` is recomputed from the refund lines, so reading the same refund twice counts it
once. A refund can be deleted in WooCommerce (``DELETE orders/<id>/refunds/<refund_id>``, or from the order
screen); one the order no longer lists is removed here.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from app import job_specs
from app.db import Database
from app.queue import JobQueue, enqueue_after_commit
from app.services import catalog
from integrations.base import NotFound
from integrations.woocommerce.client import WooClient
from integrations.woocommerce.payloads import OrderUpdate, parse_order


def read_after_commit(session: Session, jobs: JobQueue, store_id: int, update: OrderUpdate) -> bool:
    """Queue a read of the order's refunds when the ids it lists differ from the stored ones; True if queued."""
    stored = catalog.refund_ids(session, store_id, update.order.external_id)
    if stored is None or stored == set(update.refund_ids):
        return False
    enqueue_after_commit(session, jobs, job_specs.woo_read_refunds(store_id, update.order.external_id))
    return True


def read_refunds(db: Database, jobs: JobQueue, store_id: int, order_external_id: str, client: WooClient) -> str:
    """Read an order and every refund of it from the store and apply them, removing refunds it no longer lists."""
    # Both reads happen before any transaction opens: nothing is held while the store answers.
    try:
        data = client.get_order(order_external_id)
        refunds = list(client.iter_refunds(order_external_id))
    except NotFound:
        return "missing"  # deleted meanwhile: order.deleted (or the reconciliation) handles it
    update = parse_order(data, refunds)
    with db.session() as s:
        result = catalog.apply_orders(s, jobs, store_id, [update.order])
        if result.skipped_stale:
            return "stale"
        removed = catalog.remove_refunds(
            s, jobs, store_id, order_external_id, {r.external_id for r in update.order.refunds}
        )
    return f"refunds:{len(update.order.refunds)},removed:{removed}"
