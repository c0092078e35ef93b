"""What the merchant dashboard shows: headline figures and their 30-day trends, the at-risk and waitlist-demand
tables, the latest sync's progress, and one variant's 90 days of stock, sales and signups.

Every query is scoped by the store, and every daily figure is bucketed by the *store's* calendar day (its
timezone), in SQL: the days are a small derived table of [start, end) instants joined to the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    DateTime,
    Select,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import CTE

from app.domain.stock import Signal, Status
from app.models import (
    Delivery,
    DeliveryStatus,
    OrderLine,
    Product,
    StockStateHistory,
    Store,
    Subscription,
    SyncRun,
    Variant,
)
from app.services.notify import attribution
from app.services.stock.inputs import OPEN_WAITLIST_STATES
from app.services.stock.recompute import (
    AT_RISK_STATUSES,
    live_variant_filters,
    store_today,
    store_zone,
)

__all__ = [
    "SIGNAL_REASONS",
    "TREND_DAYS",
    "VARIANT_DAYS",
    "DailySeries",
    "Headline",
    "VariantSeries",
    "day_bounds",
    "headline",
    "latest_sync",
    "oldest_signups",
    "trends",
    "variant_series",
]

TREND_DAYS = 30
VARIANT_DAYS = 90

# The marketing signal's reason codes (app.domain.stock.SignalReason) in a merchant's words.
SIGNAL_REASONS: dict[str, str] = {
    "unpublished": "The product is not published, so ads would lead nowhere.",
    "untracked": "Stock is not tracked, so nothing limits the ads.",
    "out_of_stock": "Sold out: ads would send shoppers to a product they cannot buy.",
    "backorder": "Out of stock but still taking orders, which ship late.",
    "below_floor": "Days on hand at or below the store's floor: only a few days of stock are left.",
    "days_on_hand_below_lead_time": (
        "Days on hand below lead time + safety days: stock runs out before a reorder placed today could arrive."
    ),
    "covered_by_incoming": "Stock is low but incoming stock arrives in time to cover the lead time.",
    "no_recent_sales": "No recent sales, so there is no rate to run out at.",
    "healthy": "Enough stock for the lead time and safety days.",
}


@dataclass(frozen=True, slots=True)
class DailySeries:
    """One figure per store-local day, oldest first; None where the day has no figure."""

    days: list[date]
    values: list[float | None]

    @property
    def total(self) -> float:
        """The sum of the known values (for per-day counts: the period's total)."""
        return sum(v for v in self.values if v is not None)

    @property
    def last(self) -> float | None:
        """The latest known value."""
        return next((v for v in reversed(self.values) if v is not None), None)


@dataclass(frozen=True, slots=True)
class Headline:
    """The dashboard's headline figures: now for stock and waitlist, all time for restock emails."""

    variants: int
    at_risk: int
    sold_out: int
    low_stock: int
    waitlist_open: int
    emails_sent: int
    conversions: int
    conversion_rate: float
    revenue: Decimal
    currency: str


def day_bounds(store: Store, last_day: date, count: int) -> list[tuple[date, datetime, datetime]]:
    """The store's last ``count`` calendar days up to last_day, each with its [start, end) instants in UTC."""
    zone = store_zone(store)
    first = last_day - timedelta(days=count - 1)

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(), zone).astimezone(UTC)

    return [
        (first + timedelta(days=i), midnight(first + timedelta(days=i)), midnight(first + timedelta(days=i + 1)))
        for i in range(count)
    ]


def _days_cte(bounds: Sequence[tuple[date, datetime, datetime]], name: str = "days") -> CTE:
    # A UNION ALL of literal rows rather than VALUES: SQLite cannot name a VALUES table's columns.
    rows = [
        select(
            literal(day, Date).label("day"),
            literal(start, DateTime(timezone=True)).label("starts"),
            literal(end, DateTime(timezone=True)).label("ends"),
        )
        for day, start, end in bounds
    ]
    return union_all(*rows).cte(name)


def _series(
    session: Session, bounds: Sequence[tuple[date, datetime, datetime]], stmt: Select[Any, Any], *, gaps: bool = False
) -> DailySeries:
    found = {_as_date(day): value for day, value in session.execute(stmt)}
    days = [day for day, _s, _e in bounds]
    values: list[float | None] = []
    for day in days:
        value = found.get(day)
        values.append(None if value is None and gaps else float(value or 0))
    return DailySeries(days=days, values=values)


def _as_date(value: Any) -> date:
    # SQLite hands a literal date back as its ISO text.
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


# ---------------------------------------------------------------------------------------------
# Headline figures and trends
# ---------------------------------------------------------------------------------------------


def headline(session: Session, store: Store, counts: Mapping[str, Any]) -> Headline:
    """The store's counts now (app.web.api.store_counts) with the restock emails' all-time results."""
    emails = attribution.totals(attribution.report_by_product(session, store.id))
    return Headline(
        variants=counts["variants"],
        at_risk=counts["at_risk"],
        sold_out=counts["by_status"][Status.OUT_OF_STOCK],
        low_stock=counts["by_status"][Status.LOW_STOCK],
        waitlist_open=counts["waitlist_open"],
        emails_sent=emails.sent,
        conversions=emails.converted,
        conversion_rate=emails.conversion_rate,
        revenue=emails.revenue,
        currency=store.currency,
    )


def trends(
    session: Session, store: Store, now: datetime | None = None, days: int = TREND_DAYS
) -> dict[str, DailySeries]:
    """The headline figures per store-local day over the last ``days`` days, today included."""
    today = store_today(store, now or datetime.now(UTC))
    bounds = day_bounds(store, today, days)
    return {
        "at_risk": _history_counts(session, store.id, bounds, risk=True),
        "sold_out": _history_counts(session, store.id, bounds, risk=False),
        "waitlist_open": _waitlist_size(session, store.id, bounds),
        "emails_sent": _delivery_series(session, store.id, bounds, Delivery.sent_at, func.count(Delivery.id)),
        "conversions": _delivery_series(session, store.id, bounds, Delivery.converted_at, func.count(Delivery.id)),
        "revenue": _delivery_series(
            session, store.id, bounds, Delivery.converted_at, func.coalesce(func.sum(Delivery.revenue), 0)
        ),
    }


def _history_counts(
    session: Session, store_id: int, bounds: Sequence[tuple[date, datetime, datetime]], *, risk: bool
) -> DailySeries:
    """Variants at risk (or sold out) on each day, from the daily stock history; a day never computed is a gap."""
    condition = (
        or_(StockStateHistory.status.in_(AT_RISK_STATUSES), StockStateHistory.signal != Signal.OK)
        if risk
        else StockStateHistory.status == Status.OUT_OF_STOCK
    )
    stmt = (
        select(StockStateHistory.day, func.count().filter(condition))
        .join(Variant, Variant.id == StockStateHistory.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .where(
            StockStateHistory.store_id == store_id,
            StockStateHistory.day >= bounds[0][0],
            StockStateHistory.day <= bounds[-1][0],
            # The same variants the headline counts: deleted ones are no longer sold.
            *live_variant_filters(store_id),
        )
        .group_by(StockStateHistory.day)
    )
    return _series(session, bounds, stmt, gaps=True)


def _left_at() -> ColumnElement[Any]:
    # When a subscription stopped waiting: emailed, unsubscribed, bought, or (erased) its last change.
    return case(
        (Subscription.state.in_(OPEN_WAITLIST_STATES), None),
        else_=func.coalesce(
            Subscription.notified_at, Subscription.unsubscribed_at, Subscription.converted_at, Subscription.updated_at
        ),
    )


def _waitlist_size(session: Session, store_id: int, bounds: Sequence[tuple[date, datetime, datetime]]) -> DailySeries:
    """Shoppers waiting at the end of each day: joined (or re-joined) by then, not yet emailed, gone or buying."""
    days = _days_cte(bounds)
    left = _left_at()
    stmt = (
        select(days.c.day, func.count(Subscription.id))
        .select_from(days)
        .outerjoin(
            Subscription,
            and_(
                Subscription.store_id == store_id,
                Subscription.created_at < days.c.ends,
                or_(left.is_(None), left >= days.c.ends),
            ),
        )
        .group_by(days.c.day)
    )
    return _series(session, bounds, stmt)


def _delivery_series(
    session: Session,
    store_id: int,
    bounds: Sequence[tuple[date, datetime, datetime]],
    at: Any,
    figure: ColumnElement[Any],
) -> DailySeries:
    """A figure of the store's sent restock emails, per day of the given timestamp."""
    days = _days_cte(bounds)
    stmt = (
        select(days.c.day, figure)
        .select_from(days)
        .join(Delivery, and_(at >= days.c.starts, at < days.c.ends))
        .where(Delivery.store_id == store_id, Delivery.status == DeliveryStatus.SENT)
        .group_by(days.c.day)
    )
    return _series(session, bounds, stmt)


# ---------------------------------------------------------------------------------------------
# Sync state
# ---------------------------------------------------------------------------------------------


def latest_sync(session: Session, store: Store, progress: Callable[[SyncRun], dict[str, Any]]) -> dict[str, Any] | None:
    """The store's latest sync run described by its platform's ``progress`` (None before the first)."""
    run = session.scalars(
        select(SyncRun).where(SyncRun.store_id == store.id).order_by(SyncRun.id.desc()).limit(1)
    ).first()
    if run is None:
        return None
    return progress(run)


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------


def oldest_signups(session: Session, store_id: int, variant_ids: Sequence[int]) -> dict[int, datetime]:
    """When each variant's longest-waiting open subscription signed up (UTC)."""
    if not variant_ids:
        return {}
    rows = session.execute(
        select(Subscription.variant_id, func.min(Subscription.created_at))
        .where(
            Subscription.store_id == store_id,
            Subscription.variant_id.in_(sorted(set(variant_ids))),
            Subscription.state.in_(OPEN_WAITLIST_STATES),
        )
        .group_by(Subscription.variant_id)
    )
    return {int(vid): at if at.tzinfo else at.replace(tzinfo=UTC) for vid, at in rows}


# ---------------------------------------------------------------------------------------------
# One variant
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VariantSeries:
    """A variant's daily series over the last 90 days."""

    stock: DailySeries
    days_on_hand: DailySeries
    sales: DailySeries
    signups: DailySeries


def variant_series(
    session: Session, store: Store, variant_id: int, now: datetime | None = None, days: int = VARIANT_DAYS
) -> VariantSeries:
    """Sellable quantity and days on hand (from the daily history), net units sold and signups, per day."""
    today = store_today(store, now or datetime.now(UTC))
    bounds = day_bounds(store, today, days)
    history = {
        h.day: h
        for h in session.scalars(
            select(StockStateHistory).where(
                StockStateHistory.store_id == store.id,
                StockStateHistory.variant_id == variant_id,
                StockStateHistory.day >= bounds[0][0],
                StockStateHistory.day <= today,
            )
        )
    }
    day_list = [day for day, _s, _e in bounds]
    return VariantSeries(
        stock=DailySeries(day_list, [float(history[d].sellable_quantity) if d in history else None for d in day_list]),
        days_on_hand=DailySeries(day_list, [history[d].days_on_hand if d in history else None for d in day_list]),
        sales=_daily_sales(session, store.id, variant_id, bounds),
        signups=_daily_signups(session, store.id, variant_id, bounds),
    )


def _daily_sales(
    session: Session, store_id: int, variant_id: int, bounds: Sequence[tuple[date, datetime, datetime]]
) -> DailySeries:
    """Units sold per day: order lines of the variant, cancelled lines left out, refunded units taken off."""
    days = _days_cte(bounds)
    net = case(
        (OrderLine.quantity > OrderLine.refunded_quantity, OrderLine.quantity - OrderLine.refunded_quantity),
        else_=0,
    )
    stmt = (
        select(days.c.day, func.coalesce(func.sum(net), 0))
        .select_from(days)
        .join(OrderLine, and_(OrderLine.ordered_at >= days.c.starts, OrderLine.ordered_at < days.c.ends))
        .where(
            OrderLine.store_id == store_id,
            OrderLine.variant_id == variant_id,
            OrderLine.cancelled.is_(False),
        )
        .group_by(days.c.day)
    )
    return _series(session, bounds, stmt)


def _daily_signups(
    session: Session, store_id: int, variant_id: int, bounds: Sequence[tuple[date, datetime, datetime]]
) -> DailySeries:
    """Waitlist signups per day (a re-signup counts on the day it was made), whatever the subscription's state now."""
    days = _days_cte(bounds)
    stmt = (
        select(days.c.day, func.count(Subscription.id))
        .select_from(days)
        .join(Subscription, and_(Subscription.created_at >= days.c.starts, Subscription.created_at < days.c.ends))
        .where(Subscription.store_id == store_id, Subscription.variant_id == variant_id)
        .group_by(days.c.day)
    )
    return _series(session, bounds, stmt)
