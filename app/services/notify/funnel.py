"""The restock funnel per product and per restock event, read from a store's real rows.

Subscriptions, sent deliveries (with their clicks and attributed conversions) and restock events are loaded as plain
rows; app.domain.funnel does the counting. Conversions and their revenue are the ones the attribution job recorded
(app.services.notify.attribution), in the store's currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from app.domain import funnel as fn
from app.models import (
    Delivery,
    DeliveryStatus,
    Product,
    StockEvent,
    Store,
    Subscription,
    SubscriptionState,
    Variant,
)
from app.services.stock.recompute import store_zone

__all__ = ["ProductFunnel", "RestockFunnel", "StoreFunnels", "store_funnels", "variant_funnel"]

RESTOCK_ROWS = 50


@dataclass(frozen=True, slots=True)
class ProductFunnel:
    """One product's funnel."""

    product_id: int
    title: str
    funnel: fn.Funnel


@dataclass(frozen=True, slots=True)
class RestockFunnel:
    """One restock event's funnel."""

    stock_event_id: int
    occurred_at: datetime
    variant_id: int
    product_title: str
    variant_title: str
    sku: str
    funnel: fn.Funnel


@dataclass(frozen=True, slots=True)
class StoreFunnels:
    """The store's funnel in total, per product (most revenue first) and per restock (newest first)."""

    total: fn.Funnel
    products: list[ProductFunnel]
    restocks: list[RestockFunnel]
    history_starts: date


def _naive(value: datetime) -> datetime:
    # PostgreSQL hands back aware datetimes, SQLite naive ones; all are UTC.
    return value.replace(tzinfo=None) if value.tzinfo is not None else value


def _confirmed() -> ColumnElement[bool]:
    # Confirmed: the double opt-in click came, or no confirmation was ever asked for (single opt-in).
    return or_(
        Subscription.confirmed_at.is_not(None),
        and_(
            Subscription.state != SubscriptionState.PENDING_CONFIRMATION,
            Subscription.confirm_sent_at.is_(None),
            Subscription.confirm_token_hash.is_(None),
        ),
    )


def _subscriptions(session: Session, store_id: int, variant_id: int | None = None) -> list[fn.SubscriptionRow]:
    stmt = (
        select(Subscription.id, Subscription.variant_id, Variant.product_id, Subscription.created_at, _confirmed())
        .join(Variant, Variant.id == Subscription.variant_id)
        .where(Subscription.store_id == store_id, Variant.store_id == store_id)
    )
    if variant_id is not None:
        stmt = stmt.where(Subscription.variant_id == variant_id)
    return [fn.SubscriptionRow(r[0], r[1], r[2], _naive(r[3]), bool(r[4])) for r in session.execute(stmt)]


def _deliveries(session: Session, store_id: int, variant_id: int | None = None) -> list[fn.DeliveryRow]:
    stmt = (
        select(
            Delivery.subscription_id,
            Delivery.stock_event_id,
            Delivery.sent_at,
            Delivery.clicked_at.is_not(None),
            Delivery.converted_at.is_not(None),
            Delivery.revenue,
        )
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .where(
            Delivery.store_id == store_id,
            Subscription.store_id == store_id,
            Delivery.status == DeliveryStatus.SENT,
            Delivery.sent_at.is_not(None),
        )
    )
    if variant_id is not None:
        stmt = stmt.where(Subscription.variant_id == variant_id)
    return [
        fn.DeliveryRow(r[0], r[1], _naive(r[2]), bool(r[3]), bool(r[4]), Decimal(str(r[5] or 0)))
        for r in session.execute(stmt)
        if r[2] is not None
    ]


def _history_starts(session: Session, store: Store) -> date:
    first_signup = session.scalar(select(func.min(Subscription.created_at)).where(Subscription.store_id == store.id))
    first_sent = session.scalar(
        select(func.min(Delivery.sent_at)).where(Delivery.store_id == store.id, Delivery.sent_at.is_not(None))
    )
    zone = store_zone(store)

    def local(value: datetime | None) -> date | None:
        if value is None:
            return None
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(zone).date()

    installed = local(store.installed_at) or datetime.now(UTC).date()
    return fn.history_start([local(first_signup), local(first_sent)], installed)


def store_funnels(session: Session, store: Store, restock_rows: int = RESTOCK_ROWS) -> StoreFunnels:
    """The store's funnels: total, per product with a signup, and the newest restock events that sent email."""
    subs = _subscriptions(session, store.id)
    sent = _deliveries(session, store.id)
    per_product = fn.by_product(subs, sent)
    titles = dict(
        session.execute(
            select(Product.id, Product.title).where(Product.store_id == store.id, Product.id.in_(sorted(per_product)))
        ).all()
    )
    products = sorted(
        (ProductFunnel(pid, titles.get(pid, f"Product {pid}"), f) for pid, f in per_product.items()),
        key=lambda p: (-p.funnel.revenue, -p.funnel.bought, -p.funnel.signups, p.product_id),
    )
    event_ids = sorted({d.stock_event_id for d in sent})
    rows = session.execute(
        select(
            StockEvent.id,
            StockEvent.occurred_at,
            StockEvent.variant_id,
            Variant.product_id,
            Product.title,
            Variant.title,
            Variant.sku,
        )
        .join(Variant, Variant.id == StockEvent.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .where(StockEvent.store_id == store.id, StockEvent.id.in_(event_ids))
        .order_by(StockEvent.occurred_at.desc(), StockEvent.id.desc())
        .limit(restock_rows)
    ).all()
    events = [fn.EventRow(r[0], r[2], r[3], _naive(r[1])) for r in rows]
    per_event = fn.by_restock(events, subs, sent)
    restocks = [RestockFunnel(r[0], _naive(r[1]), r[2], r[4], r[5], r[6], per_event[r[0]]) for r in rows]
    return StoreFunnels(
        total=fn.total(per_product.values()),
        products=products,
        restocks=restocks,
        history_starts=_history_starts(session, store),
    )


def variant_funnel(session: Session, store: Store, variant_id: int) -> fn.Funnel:
    """One variant's funnel: its signups and every restock email sent to them."""
    subs = _subscriptions(session, store.id, variant_id)
    return fn.total(fn.by_product(subs, _deliveries(session, store.id, variant_id)).values())
