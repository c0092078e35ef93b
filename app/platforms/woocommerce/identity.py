"""A WooCommerce store's own settings as its BackSoon identity: read at connect, then again once a day.

Pasted keys are checked and the identity read while the merchant waits on the form, so the page that follows
shows the store's real name. The wc-auth callback must not call the store (connect.py says why), so it queues
``woo_refresh_identity`` after its commit instead. WooCommerce sends no webhook when the merchant changes the
store's name, timezone, currency or country, so the periodic reconciliation queues a re-read for every store whose
last one (``identity_read_at``) is a day old, or that was never read.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app import job_specs
from app.models import Store, StoreStatus
from app.platforms.woocommerce.platform import WOOCOMMERCE
from app.queue import JobQueue, enqueue_after_commit
from app.services.merchant.identity import record_reported
from integrations.woocommerce.client import WooClient
from integrations.woocommerce.identity import read_store_info

__all__ = ["REFRESH_EVERY", "due_for_refresh", "refresh_identity", "schedule_refresh"]

log = logging.getLogger(__name__)

REFRESH_EVERY = timedelta(days=1)
"""How old the last read of a store's settings may get before the reconciliation reads them again."""


def refresh_identity(session: Session, store_id: int, client: WooClient, now: datetime) -> list[str] | None:
    """Read the store's settings from WooCommerce and record them; the changed fields, None for no such store.

    Raises the client's error when nothing could be read (AuthRevoked when WooCommerce refused the key); the store
    is then left exactly as it was.
    """
    # Read before loading the row, so no transaction waits on the merchant's host.
    info = read_store_info(client)
    store = session.get(Store, store_id)
    if store is None or store.platform != WOOCOMMERCE.name:
        return None
    changed = record_reported(store, info.identity(), now)
    session.flush()
    if changed:
        log.info("WooCommerce store %s: identity changed: %s", store_id, ", ".join(changed))
    return changed


def schedule_refresh(session: Session, jobs: JobQueue, store_id: int) -> None:
    """Queue a read of the store's settings once this transaction commits."""
    enqueue_after_commit(session, jobs, job_specs.woo_refresh_identity(store_id))


def due_for_refresh(session: Session, now: datetime) -> list[int]:
    """Active WooCommerce stores whose settings were never read, or last read REFRESH_EVERY ago or more."""
    query = (
        select(Store.id)
        .where(
            Store.platform == WOOCOMMERCE.name,
            Store.status == StoreStatus.ACTIVE,
            or_(Store.identity_read_at.is_(None), Store.identity_read_at <= now - REFRESH_EVERY),
        )
        .order_by(Store.id)
    )
    return list(session.execute(query).scalars())
