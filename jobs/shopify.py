"""Shopify jobs: advance a sync run, start the periodic reconciliation, re-read a big product or a changed order,
publish state, read the shop's own settings, the freshness pass."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from app.db import Database
from app.models import Store, SyncRun, SyncRunStatus
from app.platforms.base import active_store, active_store_ids
from app.platforms.shopify import auth as shopify_auth
from app.platforms.shopify import freshness as shopify_freshness
from app.platforms.shopify import identity as shopify_identity
from app.platforms.shopify import records as shopify_records
from app.platforms.shopify import storefront as shopify_storefront
from app.platforms.shopify import sync as shopify_sync
from app.platforms.shopify.platform import SHOPIFY
from app.queue import JobQueue
from app.runtime import Runtime
from app.services.ingest import sync_runs
from app.services.ingest.freshness import PassResult
from integrations.base import AuthRevoked, PlatformError
from integrations.http import make_session
from integrations.shopify.graphql import GraphQLClient
from jobs._base import job_context
from jobs._freshness import Meter, run_pass

log = logging.getLogger(__name__)


def clients_for(rt: Runtime, store_id: int) -> shopify_sync.Clients:
    """A GraphQL client whose token is fetched (and refreshed under the store's lock) per request."""
    redis = getattr(rt.jobs, "connection", None)
    with rt.db.session() as session:
        domain = session.execute(select(Store.domain).where(Store.id == store_id)).scalar_one()

    def token() -> str:
        with rt.db.session() as session:
            return shopify_auth.access_token_for(session, store_id, redis=redis, settings=rt.settings)

    http = make_session()
    return shopify_sync.Clients(graphql=GraphQLClient(domain, token, session=http), http=make_session())


def run_sync(run_id: int) -> str:
    """Advance one sync run; a run waiting on a bulk operation is woken by its webhook or the sweeper."""
    with job_context() as rt:
        with rt.db.session() as session:
            store_id = session.execute(select(SyncRun.store_id).where(SyncRun.id == run_id)).scalar_one_or_none()
        if store_id is None:
            return "missing"
        try:
            return shopify_sync.step(rt.db, rt.jobs, run_id, clients_for(rt, store_id))
        except Exception as exc:
            # Recorded on the run (the admin shows it while the sweeper retries); raised again unless it was the
            # failure that stopped the run.
            if sync_runs.failed_step(rt.db, run_id, exc):
                return SyncRunStatus.FAILED
            raise


def refresh_product(store_id: int, product_gid: str) -> str:
    """Re-read one product with all its variants (after a webhook whose variant list may be partial) and apply it."""
    return _refresh(store_id, product_gid, shopify_records.refresh_product)


def refresh_order(store_id: int, order_gid: str) -> str:
    """Re-read one order with its lines and refunds (the freshness pass found it changed) and apply it."""
    return _refresh(store_id, order_gid, shopify_records.refresh_order)


def _refresh(store_id: int, gid: str, read: Callable[[Database, JobQueue, int, str, GraphQLClient], str]) -> str:
    with job_context(store_id=store_id) as rt:
        with rt.db.session() as session:
            active = active_store(session, store_id, SHOPIFY.name) is not None
        if not active:
            return "skipped"
        return read(rt.db, rt.jobs, store_id, gid, clients_for(rt, store_id).graphql)


def reconcile_all() -> int:
    """Start a reconciliation for every active Shopify store that finished its initial sync."""
    started = 0
    with job_context() as rt, rt.db.session() as session:
        for store_id in active_store_ids(session, SHOPIFY.name, synced=True):
            shopify_sync.start_sync(session, rt.jobs, store_id, kind="reconcile")
            started += 1
    return started


def publish_storefront(store_id: int) -> dict[str, int]:
    """Write a Shopify store's changed stock states to its variants' app-owned metafields."""
    with job_context(store_id=store_id) as rt:
        with rt.db.session() as session:
            active = active_store(session, store_id, SHOPIFY.name) is not None
        # A store that left Shopify or was uninstalled has no token to write with; nothing to retry.
        if not active:
            return {"sent": 0, "failed": 0, "batches": 0}
        graphql = clients_for(rt, store_id).graphql
        with rt.db.session() as session:
            result = shopify_storefront.publish_changed(session, graphql, store_id)
    return {"sent": result.sent, "failed": result.failed, "batches": result.batches}


def read_identity(store_id: int) -> str:
    """Read a Shopify store's own settings (name, email, timezone, currency, country, language) and record them."""
    with job_context(store_id=store_id) as rt:
        with rt.db.session() as session:
            active = active_store(session, store_id, SHOPIFY.name) is not None
        # An uninstalled or disconnected store has no token to read with; reconnecting queues the read again.
        if not active:
            return "skipped"
        graphql = clients_for(rt, store_id).graphql
        return shopify_identity.read_identity(rt.db, store_id, graphql)


def fresh_pass(store_id: int) -> str:
    """Queue a re-read of each product and order of an active Shopify store updated (or restocked) since its last
    pass, and soft-delete the products deleted since."""
    with job_context(store_id=store_id) as rt:

        def read(since: datetime, meter: Meter) -> PassResult:
            meter.client = graphql = clients_for(rt, store_id).graphql
            changed = shopify_freshness.store_changes(rt.db, rt.jobs, store_id, graphql, since)
            with rt.db.session() as session:
                return shopify_freshness.queue_refreshes(session, rt.jobs, store_id, changed)

        def disconnect(meter: Meter, exc: Exception) -> None:
            log.warning("freshness pass of store %s: Shopify rejected the access token (%s)", store_id, exc)
            shopify_sync.disconnect(rt.db, store_id)

        return run_pass(
            rt, store_id, SHOPIFY.name, read, revoked=(AuthRevoked,), disconnect=disconnect, expected=(PlatformError,)
        )
