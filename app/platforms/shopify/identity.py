"""A Shopify store's own settings: read through GraphQL at install, reconnect and sync, kept fresh by shop/update.

Shopify knows the shop's name, the owner's email, its IANA timezone, currency, country and primary language; until
they are read a store runs on BackSoon's defaults (UTC, USD, no admin email, the myshopify handle as its name).
``read_after_commit`` queues the read (jobs.shopify.read_identity) once the caller's transaction commits: after an
install or reconnect, at a sync of a store never read, and when app/scopes_update grants the language scope;
``read_identity`` runs it; ``apply_shop_update`` applies a shop/update delivery. Both hand what Shopify said to
app.services.merchant.identity, where the merchant's own values keep winning.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import job_specs
from app.db import Database, utcnow
from app.models import Store, StoreStatus
from app.queue import JobQueue, enqueue_after_commit
from app.services.merchant import identity as store_identity
from integrations.base import StoreInfo
from integrations.shopify.graphql import GraphQLClient
from integrations.shopify.shop import can_read_locales, read_shop_identity

log = logging.getLogger(__name__)


def read_after_commit(session: Session, jobs: JobQueue, store_id: int) -> None:
    """Queue a read of the store's settings for when the caller's transaction commits."""
    enqueue_after_commit(session, jobs, job_specs.shopify_read_identity(store_id))


def read_identity(db: Database, store_id: int, graphql: GraphQLClient, *, now: datetime | None = None) -> str:
    """Read the shop's settings from Shopify and record them: 'applied:<changed fields>', or 'skipped'.

    No transaction is open during the call, and nothing is written unless the whole answer was read and mapped:
    a failed read raises and leaves the store as it was.
    """
    with db.session() as s:
        scopes = s.execute(select(Store.scopes).where(Store.id == store_id)).scalar_one_or_none()
    if scopes is None:
        return "skipped"
    info = read_shop_identity(graphql, with_locales=can_read_locales(scopes))
    with db.session() as s:
        store = _locked(s, store_id)
        # Uninstalled while Shopify answered: its settings no longer matter, and shop/redact will erase the row.
        if store is None or store.status != StoreStatus.ACTIVE:
            return "skipped"
        _check_domain(store, info)
        changed = store_identity.record_reported(store, info.identity(), now or utcnow())
    log.info("store %s: identity read from Shopify, changed %s", store_id, ",".join(changed) or "nothing")
    return "applied:" + (",".join(changed) or "unchanged")


def apply_shop_update(session: Session, store_id: int, info: StoreInfo, *, now: datetime | None = None) -> list[str]:
    """Record the settings a shop/update delivery carries; the fields whose effective value changed."""
    store = _locked(session, store_id)
    if store is None:
        raise LookupError(f"store {store_id} is gone")
    _check_domain(store, info)
    return store_identity.record_reported(store, info.identity(), now or utcnow())


def _locked(session: Session, store_id: int) -> Store | None:
    # reported_identity is read, merged and written back: a read and a delivery applied at once must not lose one.
    return session.execute(
        select(Store).where(Store.id == store_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one_or_none()


def _check_domain(store: Store, info: StoreInfo) -> None:
    # The delivery's shop header is not signed and a token could be misfiled: the shop that answered must be this one.
    if info.domain.lower() != store.domain.lower():
        raise ValueError(f"Shopify described {info.domain}, but store {store.id} is {store.domain}")
