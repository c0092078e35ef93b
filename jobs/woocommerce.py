"""WooCommerce jobs: sync runs, the periodic reconciliation, the store's settings, webhook upkeep, write-back."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from app.db import utcnow
from app.infra.crypto import DecryptionError
from app.models import Store, SyncRun, SyncRunStatus
from app.platforms.base import active_store, active_store_ids
from app.platforms.woocommerce import freshness as woo_freshness
from app.platforms.woocommerce import identity as woo_identity
from app.platforms.woocommerce import refunds as woo_refunds
from app.platforms.woocommerce import storefront as woo_storefront
from app.platforms.woocommerce import sync as woo_sync
from app.platforms.woocommerce.platform import WOOCOMMERCE
from app.services.ingest import sync_runs
from app.services.ingest.freshness import PassResult
from integrations.base import AuthRevoked, InvalidRequest, PlatformError
from integrations.woocommerce.payloads import PayloadError
from jobs._base import job_context
from jobs._freshness import Meter, StoreGone, run_pass

log = logging.getLogger(__name__)


def run_sync(run_id: int) -> str:
    """Advance one WooCommerce sync run to its end (a killed worker's run is resumed from its cursor)."""
    with job_context() as rt:
        with rt.db.session() as session:
            store_id = session.execute(select(SyncRun.store_id).where(SyncRun.id == run_id)).scalar_one_or_none()
            store = session.get(Store, store_id) if store_id is not None else None
            if store is None:
                return "missing"
            try:
                client = woo_sync.client_for(rt.settings, store)
            except (AuthRevoked, DecryptionError) as exc:
                error: tuple[str, bool] | None = (f"access revoked: {exc}", True)
            except InvalidRequest as exc:  # the store URL is not a public http(s) address
                error = (f"InvalidRequest: {exc}", False)
            else:
                error = None
            store_id = store.id
        if error is not None:
            message, revoked = error
            if revoked:
                woo_sync.disconnect(rt.db, store_id, message, run_id=run_id)
            else:
                woo_sync.fail_run(rt.db, run_id, message)
            return SyncRunStatus.FAILED
        try:
            return woo_sync.step(rt.db, rt.jobs, run_id, client, settings=rt.settings)
        except Exception as exc:
            # As for Shopify: shown while retried, stopped after too many failures at the same point.
            if sync_runs.failed_step(rt.db, run_id, exc):
                return SyncRunStatus.FAILED
            raise


def reconcile_all() -> int:
    """Start a reconciliation for every active WooCommerce store that finished its initial sync; return how many.

    Also queues a re-read of the settings of every active store last read a day ago or more (or never).
    """
    started = 0
    with job_context() as rt, rt.db.session() as session:
        for store_id in active_store_ids(session, WOOCOMMERCE.name, synced=True):
            woo_sync.start_sync(session, rt.jobs, store_id, kind="reconcile")
            started += 1
        for store_id in woo_identity.due_for_refresh(session, utcnow()):
            woo_identity.schedule_refresh(session, rt.jobs, store_id)
    return started


def refresh_identity(store_id: int) -> list[str]:
    """Read an active WooCommerce store's name, timezone, currency, country, language and admin email; the changes."""
    with job_context(store_id=store_id) as rt:
        with rt.db.session() as session:
            store = active_store(session, store_id, WOOCOMMERCE.name)
            if store is None:
                return []
            try:
                client = woo_sync.client_for(rt.settings, store)
            except (AuthRevoked, DecryptionError):
                client = None
            except InvalidRequest:  # the store URL is not a public http(s) address: nothing can be read
                return []
        if client is None:
            woo_sync.disconnect(rt.db, store_id, "no usable WooCommerce API key")
            return []
        # A store that answers nothing (TransientError) fails the job and keeps its identity_read_at, so the next
        # reconciliation queues the read again.
        try:
            with rt.db.session() as session:
                changed = woo_identity.refresh_identity(session, store_id, client, utcnow())
        except AuthRevoked:
            woo_sync.disconnect(rt.db, store_id, "WooCommerce rejected the API key")
            return []
    return changed or []


def fresh_pass(store_id: int) -> str:
    """Apply what changed in an active WooCommerce store since its last pass and put our webhooks back; the outcome."""
    with job_context(store_id=store_id) as rt:

        def read(since: datetime, meter: Meter) -> PassResult:
            with rt.db.session() as session:
                store = active_store(session, store_id, WOOCOMMERCE.name)
                if store is None:
                    raise StoreGone
                meter.client = client = woo_sync.client_for(rt.settings, store)
                secret = woo_sync.webhook_secret_for(rt.settings, store)
            return woo_freshness.run_pass(rt.db, rt.jobs, store_id, client, since, settings=rt.settings, secret=secret)

        def disconnect(meter: Meter, exc: Exception) -> None:
            reason = "no usable WooCommerce API key" if meter.client is None else "WooCommerce rejected the API key"
            log.warning("freshness pass of store %s: %s (%s)", store_id, reason, exc)
            woo_sync.disconnect(rt.db, store_id, reason)

        return run_pass(
            rt,
            store_id,
            WOOCOMMERCE.name,
            read,
            revoked=(AuthRevoked, DecryptionError),
            disconnect=disconnect,
            expected=(PlatformError, PayloadError),
        )


def replace_webhooks(store_id: int, replaced_at: str) -> dict[str, int]:
    """After a reconnect: delete the webhooks created with the old key (using the new one) and create fresh ones."""
    with job_context(store_id=store_id) as rt:
        with rt.db.session() as session:
            store = active_store(session, store_id, WOOCOMMERCE.name)
            if store is None:
                return {"deleted": 0, "created": 0}
            secret = woo_sync.webhook_secret_for(rt.settings, store)
            try:
                client = woo_sync.client_for(rt.settings, store)
            except (AuthRevoked, DecryptionError):
                client = None
            except InvalidRequest:  # the store URL is not a public http(s) address: nothing can be reached
                return {"deleted": 0, "created": 0}
        if client is None:
            woo_sync.disconnect(rt.db, store_id, "no usable WooCommerce API key")
            return {"deleted": 0, "created": 0}
        if not secret:
            return {"deleted": 0, "created": 0}
        try:
            deleted, created = woo_sync.replace_webhooks(
                client, woo_sync.delivery_url(rt.settings, store_id), secret, datetime.fromisoformat(replaced_at)
            )
        except AuthRevoked:
            woo_sync.disconnect(rt.db, store_id, "WooCommerce rejected the API key")
            return {"deleted": 0, "created": 0}
    return {"deleted": deleted, "created": created}


def publish_storefront(store_id: int) -> dict[str, int]:
    """Write a WooCommerce store's changed stock states to its products' and variations' ``_backsoon_state`` meta."""
    with job_context(store_id=store_id) as rt:
        with rt.db.session() as session:
            store = active_store(session, store_id, WOOCOMMERCE.name)
            # A store that left WooCommerce or was disconnected has no key to write with; nothing to retry.
            if store is None:
                return {"sent": 0, "failed": 0, "batches": 0}
            try:
                client = woo_sync.client_for(rt.settings, store)
            except (AuthRevoked, DecryptionError):
                client = None
            except InvalidRequest:  # the store URL is not a public http(s) address: nothing can be sent
                return {"sent": 0, "failed": 0, "batches": 0}
        if client is None:
            woo_sync.disconnect(rt.db, store_id, "no usable WooCommerce API key")
            return {"sent": 0, "failed": 0, "batches": 0}
        with rt.db.session() as session:
            result = woo_storefront.publish_changed(session, client, store_id)
        if result.auth_revoked:
            woo_sync.disconnect(rt.db, store_id, "WooCommerce rejected the API key")
    return {"sent": result.sent, "failed": result.failed, "batches": result.batches}


def read_refunds(store_id: int, order_external_id: str) -> str:
    """Read an order's refunds from the store (its order.updated listed refunds we do not hold) and apply them."""
    with job_context(store_id=store_id) as rt:
        with rt.db.session() as session:
            store = active_store(session, store_id, WOOCOMMERCE.name)
            if store is None:
                return "skipped"
            try:
                client = woo_sync.client_for(rt.settings, store)
            except (AuthRevoked, DecryptionError):
                client = None
            except InvalidRequest:  # the store URL is not a public http(s) address: nothing can be read
                return "skipped"
        if client is None:
            woo_sync.disconnect(rt.db, store_id, "no usable WooCommerce API key")
            return "skipped"
        # A store that answers nothing (TransientError) fails the job; the reconciliation reads the refunds too.
        try:
            return woo_refunds.read_refunds(rt.db, rt.jobs, store_id, order_external_id, client)
        except AuthRevoked:
            woo_sync.disconnect(rt.db, store_id, "WooCommerce rejected the API key")
            return "skipped"
