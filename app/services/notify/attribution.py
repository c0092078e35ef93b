"""Restock attribution: buy-link clicks, orders matched to restock emails, and the figures behind them.

A restock email (a `sent` delivery) converts when the subscriber's email places an order of the same store
containing the email's variant, not cancelled, within the attribution window after the send. The conversion is
*direct* when the shopper clicked the email's buy link before ordering and *assisted* otherwise. The window is
``attribution_days`` resolved per variant (store → product → variant overrides, like the stock engine), and the
matching runs as a few set-based statements per store, on PostgreSQL and on SQLite alike.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased

from app.domain.settings import resolve_settings
from app.infra.sql import dialect
from app.models import (
    Delivery,
    DeliveryStatus,
    Order,
    OrderLine,
    Product,
    StockEvent,
    Store,
    Subscription,
    SubscriptionState,
    Variant,
)
from app.services.stock.inputs import load_overrides

__all__ = [
    "AttributionSummary",
    "ProductAttribution",
    "RestockAttribution",
    "attribute_orders",
    "attribution_days_by_variant",
    "record_click",
    "report_by_product",
    "report_by_restock",
    "totals",
]

# Subscriptions in these states are never touched by attribution: the shopper left, or their data is erased.
_FROZEN_STATES = (SubscriptionState.UNSUBSCRIBED, SubscriptionState.REDACTED)
_SECONDS_PER_DAY = 86_400


def _net_units() -> ColumnElement[Any]:
    # Refunded units are not revenue; a refund count above the quantity never makes a line negative.
    return case(
        (OrderLine.quantity > OrderLine.refunded_quantity, OrderLine.quantity - OrderLine.refunded_quantity),
        else_=0,
    )


# ---------------------------------------------------------------------------------------------
# Clicks
# ---------------------------------------------------------------------------------------------

# (store, product, variant, storefront root) → where the buy link leads; the platform registry provides it.
ProductUrl = Callable[[Store, Product, Variant, str | None], str]


def record_click(session: Session, delivery_id: int, now: datetime, product_url: ProductUrl) -> str | None:
    """Count a click on a delivery's buy link (first click time kept) and return the product URL; None if unknown."""
    row = session.execute(
        select(Store, Product, Variant, Subscription.storefront_root)
        .select_from(Delivery)
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .join(Variant, Variant.id == Subscription.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .join(Store, Store.id == Delivery.store_id)
        .where(
            Delivery.id == delivery_id,
            # Every hop stays inside the delivery's store, whatever the rows say.
            Subscription.store_id == Delivery.store_id,
            Variant.store_id == Delivery.store_id,
        )
    ).one_or_none()
    if row is None:
        return None
    store, product, variant, root = row
    # One UPDATE, so concurrent clicks never lose a count.
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id)
        .values(clicks=Delivery.clicks + 1, clicked_at=func.coalesce(Delivery.clicked_at, now))
        .execution_options(synchronize_session=False)
    )
    return product_url(store, product, variant, root)


# ---------------------------------------------------------------------------------------------
# Matching orders to deliveries
# ---------------------------------------------------------------------------------------------


def _epoch(dialect_name: str, column: Any) -> ColumnElement[Any]:
    if dialect_name == "postgresql":
        return func.extract("epoch", column)
    return (func.julianday(column) - literal(2440587.5)) * literal(float(_SECONDS_PER_DAY))


def attribution_days_by_variant(session: Session, store_id: int) -> tuple[int, dict[int, int]]:
    """The store's attribution window in days, and the variants whose product/variant overrides change it."""
    loaded = load_overrides(session, store_id)
    store_values, products, variants = loaded.store, loaded.product, loaded.variant
    default = resolve_settings(store_values, None, None).attribution_days
    overrides: dict[int, int] = {}
    if products or variants:
        # Only variants under an override need a lookup; everything else takes the store's window.
        conditions = []
        if products:
            conditions.append(Variant.product_id.in_(sorted(products)))
        if variants:
            conditions.append(Variant.id.in_(sorted(variants)))
        for vid, pid in session.execute(
            select(Variant.id, Variant.product_id).where(Variant.store_id == store_id, or_(*conditions))
        ):
            days = resolve_settings(store_values, products.get(pid), variants.get(vid)).attribution_days
            if days != default:
                overrides[vid] = days
    return default, overrides


_Overrides = tuple[tuple[int, tuple[int, ...]], ...]


def _grouped(overrides: dict[int, int]) -> _Overrides:
    by_days: dict[int, list[int]] = {}
    for vid, days in overrides.items():
        by_days.setdefault(days, []).append(vid)
    return tuple((days, tuple(sorted(vids))) for days, vids in sorted(by_days.items()))


def _window_days(variant_id: Any, overrides: _Overrides) -> ColumnElement[Any]:
    default = bindparam("default_days", type_=Integer)
    if not overrides:
        return default
    whens = [(variant_id.in_(vids), literal(days, Integer)) for days, vids in overrides]
    return case(*whens, else_=default)


@functools.lru_cache(maxsize=64)
def _winners_statement(dialect_name: str, overrides: _Overrides) -> Select[Any]:
    """The matching statement, built once per dialect and set of window overrides: building it cost more per store
    than running it (the fleet benchmark's attribution is thousands of small stores); store and window are bound."""
    store_id = bindparam("store_id", type_=BigInteger)
    sent_epoch = _epoch(dialect_name, Delivery.sent_at)
    ordered_epoch = _epoch(dialect_name, Order.ordered_at)
    window = _window_days(Subscription.variant_id, overrides) * _SECONDS_PER_DAY
    earlier = aliased(Delivery)

    # The order's live lines of the email's variant, looked up per matched (delivery, order) pair: aggregating every
    # line of the store first cost a large store its whole order history every 15 minutes.
    live_line = and_(
        OrderLine.order_id == Order.id,
        OrderLine.variant_id == Subscription.variant_id,
        OrderLine.cancelled.is_(False),
    )
    revenue = (
        select(
            func.sum(
                OrderLine.price
                * case(
                    (
                        OrderLine.quantity > OrderLine.refunded_quantity,
                        OrderLine.quantity - OrderLine.refunded_quantity,
                    ),
                    else_=0,
                )
            )
        )
        .where(live_line)
        .scalar_subquery()
    )
    candidates = (
        select(
            Delivery.id.label("delivery_id"),
            Delivery.subscription_id.label("subscription_id"),
            Delivery.sent_at.label("sent_at"),
            Delivery.clicked_at.label("clicked_at"),
            Order.id.label("order_id"),
            Order.ordered_at.label("ordered_at"),
            revenue.label("revenue"),
            # First order wins for a delivery.
            func.row_number().over(partition_by=Delivery.id, order_by=(Order.ordered_at, Order.id)).label("order_rank"),
        )
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .join(
            Order,
            and_(
                Order.store_id == Delivery.store_id,
                func.lower(Order.email) == Subscription.email,
                Order.cancelled_at.is_(None),
            ),
        )
        .where(
            Delivery.store_id == store_id,
            Subscription.store_id == store_id,
            Delivery.status == DeliveryStatus.SENT,
            Delivery.sent_at.is_not(None),
            Delivery.converted_at.is_(None),
            Subscription.state.not_in(_FROZEN_STATES),
            ordered_epoch >= sent_epoch,
            ordered_epoch <= sent_epoch + window,
            exists().where(live_line),
            # An order already credited to another email of the same subscription is not counted twice.
            ~exists().where(
                earlier.subscription_id == Delivery.subscription_id,
                earlier.converted_order_id == Order.id,
            ),
        )
        .subquery("candidates")
    )
    firsts = select(candidates).where(candidates.c.order_rank == 1).subquery("firsts")
    # Two emails of one subscription may both precede the same order: the latest email before it gets the credit.
    ranked = select(
        firsts,
        func.row_number()
        .over(
            partition_by=(firsts.c.subscription_id, firsts.c.order_id),
            order_by=(firsts.c.sent_at.desc(), firsts.c.delivery_id.desc()),
        )
        .label("email_rank"),
    ).subquery("ranked")
    return (
        select(
            ranked.c.delivery_id,
            ranked.c.subscription_id,
            ranked.c.order_id,
            ranked.c.ordered_at,
            ranked.c.clicked_at,
            ranked.c.revenue,
        )
        .where(ranked.c.email_rank == 1)
        .order_by(ranked.c.delivery_id)
    )


def attribute_orders(session: Session, store_id: int, now: datetime) -> int:
    """Record conversions for the store's sent, unconverted deliveries; returns how many converted now.

    Idempotent: converted deliveries are never re-matched, and their revenue is refreshed from the order's lines
    so a later refund or cancellation shows in the figures.
    """
    default_days, overrides = attribution_days_by_variant(session, store_id)
    winners = session.execute(
        _winners_statement(dialect(session), _grouped(overrides)), {"store_id": store_id, "default_days": default_days}
    ).all()

    if winners:
        session.execute(
            update(Delivery).execution_options(synchronize_session=False),
            [
                {
                    "id": w.delivery_id,
                    "converted_at": w.ordered_at,
                    "converted_order_id": w.order_id,
                    "conversion_kind": "direct"
                    if w.clicked_at is not None and _as_naive(w.clicked_at) <= _as_naive(w.ordered_at)
                    else "assisted",
                    "revenue": _money(w.revenue),
                }
                for w in winners
            ],
        )
        # A subscription converts on its earliest attributed order.
        first_by_subscription: dict[int, Any] = {}
        for w in sorted(winners, key=lambda w: (_as_naive(w.ordered_at), w.order_id)):
            first_by_subscription.setdefault(w.subscription_id, w)
        for sid, w in first_by_subscription.items():
            session.execute(
                update(Subscription)
                .where(
                    Subscription.id == sid,
                    Subscription.store_id == store_id,
                    Subscription.converted_at.is_(None),
                    Subscription.state.not_in(_FROZEN_STATES),
                )
                .values(
                    state=SubscriptionState.CONVERTED,
                    converted_at=w.ordered_at,
                    converted_order_id=w.order_id,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            session.execute(
                update(Order)
                .where(Order.id == w.order_id, Order.store_id == store_id, Order.attributed_subscription_id.is_(None))
                .values(attributed_subscription_id=sid)
                .execution_options(synchronize_session=False)
            )
    _refresh_revenue(session, store_id)
    return len(winners)


def _refresh_revenue(session: Session, store_id: int) -> None:
    """Recompute converted deliveries' revenue from their order's lines (refunds and cancellations since)."""
    current = (
        select(func.coalesce(func.sum(OrderLine.price * _net_units()), 0))
        .join(Order, Order.id == OrderLine.order_id)
        .join(Subscription, Subscription.variant_id == OrderLine.variant_id)
        .where(
            OrderLine.order_id == Delivery.converted_order_id,
            Subscription.id == Delivery.subscription_id,
            OrderLine.cancelled.is_(False),
            Order.cancelled_at.is_(None),
        )
        .scalar_subquery()
    )
    stmt = (
        update(Delivery)
        .where(Delivery.store_id == store_id, Delivery.converted_order_id.is_not(None))
        .values(revenue=cast(current, Delivery.revenue.type))
        .execution_options(synchronize_session=False)
    )
    # Only rows whose figure moved are rewritten, so a rerun with nothing new writes nothing.
    stmt = stmt.where(or_(Delivery.revenue.is_(None), Delivery.revenue != current))
    session.execute(stmt)


def _as_naive(value: datetime) -> datetime:
    # SQLite hands back naive datetimes, PostgreSQL aware ones; all are UTC.
    return value.replace(tzinfo=None) if value.tzinfo is not None else value


def _money(value: Any) -> Decimal:
    return Decimal(str(value if value is not None else 0)).quantize(Decimal("0.01"))


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttributionSummary:
    """Counts and revenue shared by every report row."""

    sent: int
    clicked: int
    converted: int
    direct: int
    assisted: int
    revenue: Decimal

    @property
    def conversion_rate(self) -> float:
        """Converted deliveries per sent delivery (0 when nothing was sent)."""
        return round(self.converted / self.sent, 4) if self.sent else 0.0


@dataclass(frozen=True, slots=True)
class ProductAttribution:
    """Restock email results for one product."""

    product_id: int
    product_external_id: str
    title: str
    figures: AttributionSummary


@dataclass(frozen=True, slots=True)
class RestockAttribution:
    """Restock email results for one restock event."""

    stock_event_id: int
    occurred_at: datetime
    variant_id: int
    variant_title: str
    sku: str
    product_id: int
    product_title: str
    figures: AttributionSummary


def _figure_columns() -> list[Any]:
    return [
        func.count(Delivery.id).label("sent"),
        func.count(Delivery.clicked_at).label("clicked"),
        func.count(Delivery.converted_at).label("converted"),
        func.sum(case((Delivery.conversion_kind == "direct", 1), else_=0)).label("direct"),
        func.sum(case((Delivery.conversion_kind == "assisted", 1), else_=0)).label("assisted"),
        func.coalesce(func.sum(Delivery.revenue), 0).label("revenue"),
    ]


def _figures(row: Any) -> AttributionSummary:
    return AttributionSummary(
        sent=int(row.sent),
        clicked=int(row.clicked),
        converted=int(row.converted),
        direct=int(row.direct or 0),
        assisted=int(row.assisted or 0),
        revenue=_money(row.revenue),
    )


def report_by_product(session: Session, store_id: int) -> list[ProductAttribution]:
    """Per product with at least one sent restock email: sent, clicked, converted, revenue; most revenue first."""
    rows = session.execute(
        select(Product.id, Product.external_id, Product.title, *_figure_columns())
        .select_from(Delivery)
        .join(StockEvent, StockEvent.id == Delivery.stock_event_id)
        .join(Variant, Variant.id == StockEvent.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .where(
            Delivery.store_id == store_id,
            StockEvent.store_id == store_id,
            Product.store_id == store_id,
            Delivery.status == DeliveryStatus.SENT,
        )
        .group_by(Product.id, Product.external_id, Product.title)
        .order_by(func.coalesce(func.sum(Delivery.revenue), 0).desc(), Product.id)
    ).all()
    return [ProductAttribution(r.id, r.external_id, r.title, _figures(r)) for r in rows]


def report_by_restock(session: Session, store_id: int) -> list[RestockAttribution]:
    """Per restock event with at least one sent email: the same figures; newest restock first."""
    rows = session.execute(
        select(
            StockEvent.id,
            StockEvent.occurred_at,
            Variant.id.label("variant_id"),
            Variant.title.label("variant_title"),
            Variant.sku,
            Product.id.label("product_id"),
            Product.title.label("product_title"),
            *_figure_columns(),
        )
        .select_from(Delivery)
        .join(StockEvent, StockEvent.id == Delivery.stock_event_id)
        .join(Variant, Variant.id == StockEvent.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .where(
            Delivery.store_id == store_id,
            StockEvent.store_id == store_id,
            Product.store_id == store_id,
            Delivery.status == DeliveryStatus.SENT,
        )
        .group_by(
            StockEvent.id, StockEvent.occurred_at, Variant.id, Variant.title, Variant.sku, Product.id, Product.title
        )
        .order_by(StockEvent.occurred_at.desc(), StockEvent.id.desc())
    ).all()
    return [
        RestockAttribution(
            stock_event_id=r.id,
            occurred_at=r.occurred_at,
            variant_id=r.variant_id,
            variant_title=r.variant_title,
            sku=r.sku,
            product_id=r.product_id,
            product_title=r.product_title,
            figures=_figures(r),
        )
        for r in rows
    ]


def totals(rows: Sequence[ProductAttribution] | Sequence[RestockAttribution]) -> AttributionSummary:
    """The figures of several report rows added up."""
    figures = [r.figures for r in rows]
    return AttributionSummary(
        sent=sum(f.sent for f in figures),
        clicked=sum(f.clicked for f in figures),
        converted=sum(f.converted for f in figures),
        direct=sum(f.direct for f in figures),
        assisted=sum(f.assisted for f in figures),
        revenue=sum((f.revenue for f in figures), Decimal("0.00")),
    )
