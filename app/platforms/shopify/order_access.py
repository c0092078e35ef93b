"""Whether Shopify lets BackSoon read a store's orders at all (protected customer data, level 1).

Since API 2022-10 a public app reads the Order object only once Shopify has approved its request for protected
customer data (https://shopify.dev/docs/apps/launch/protected-customer-data). Before that Shopify refuses ``orders``
with ACCESS_DENIED ("This app is not approved to access the Order object"), fails a bulk order read with errorCode
ACCESS_DENIED, and delivers no orders/* webhooks. Such a store still syncs its catalog and stock: the orders are
skipped, the store is marked (stores.order_email_access = "no_orders"), its figures count no day of sales as known,
and the order read is tried again once a day (ORDERS_RETRY_AFTER) by the freshness pass and the reconciliation. The
first read Shopify answers again switches the store back and lets the next reconciliation load the order history.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.db import Database, as_utc
from app.models import OrderEmailAccess, Store
from integrations.shopify import queries
from integrations.shopify.graphql import GraphQLClient, ProtectedDataDenied

log = logging.getLogger(__name__)

# A refused store is asked again this often: an approval is granted by hand in Shopify's Partner Dashboard, so a day's
# delay is nothing, and a refusal costs one request (the freshness pass runs every few minutes).
ORDERS_RETRY_AFTER = timedelta(days=1)


def orders_refused(err: ProtectedDataDenied) -> bool:
    """True when Shopify refused the ``orders`` (or ``order``) root field itself."""
    return bool(err.roots & {"orders", "order"})


def orders_denied(db: Database, store_id: int) -> bool:
    """True while the store is recorded as refused the Order object."""
    with db.session() as s:
        access = s.execute(select(Store.order_email_access).where(Store.id == store_id)).scalar_one_or_none()
    return access == OrderEmailAccess.NO_ORDERS


def order_read_due(db: Database, store_id: int, now: datetime | None = None) -> bool:
    """True unless the store was refused the Order object less than ORDERS_RETRY_AFTER ago."""
    with db.session() as s:
        row = s.execute(
            select(Store.order_email_access, Store.order_email_checked_at).where(Store.id == store_id)
        ).one_or_none()
    if row is None or row[0] != OrderEmailAccess.NO_ORDERS or row[1] is None:
        return True
    return (now or datetime.now(UTC)) >= as_utc(row[1]) + ORDERS_RETRY_AFTER


def probe(graphql: GraphQLClient) -> bool:
    """Ask Shopify for one order: False when it refuses the Order object (other errors propagate)."""
    try:
        graphql.execute(queries.ORDER_ACCESS_PROBE)
    except ProtectedDataDenied as exc:
        if not orders_refused(exc):
            raise
        return False
    return True


def record_denied(db: Database, store_id: int, now: datetime | None = None) -> None:
    """Record that Shopify refused the store's orders. At a first sync that makes the order horizon now: no order
    history is known, and none is until Shopify approves (app.domain.history.known_horizon)."""
    moment = now or datetime.now(UTC)
    with db.session() as s:
        store = s.execute(select(Store).where(Store.id == store_id).with_for_update()).scalar_one_or_none()
        if store is None:
            return
        if store.order_email_access != OrderEmailAccess.NO_ORDERS:
            log.warning("store %s: Shopify refuses its orders (protected customer data not approved)", store_id)
        store.order_email_access = OrderEmailAccess.NO_ORDERS.value
        store.order_email_checked_at = moment
        if store.last_synced_at is None and store.orders_history_from is None:
            store.orders_history_from = moment


def record_readable(db: Database, store_id: int, now: datetime | None = None) -> bool:
    """Record that Shopify answered an order read; True when that ends a refusal.

    Ending one moves the order horizon to now: the days of the refusal were never read, and the history run it
    makes due (app.platforms.shopify.sync.history_due) moves it back as far as the store's scopes show orders. The
    order email is unknown again until an order read tells.
    """
    moment = now or datetime.now(UTC)
    with db.session() as s:
        store = s.execute(select(Store).where(Store.id == store_id).with_for_update()).scalar_one_or_none()
        if store is None or store.order_email_access != OrderEmailAccess.NO_ORDERS:
            return False
        log.info("store %s: Shopify now answers its orders; the order history is loaded next", store_id)
        store.order_email_access = None
        store.order_email_checked_at = moment
        store.orders_history_from = moment
        return True
