"""Read views of the stock states for the merchant: variant listings, one variant, its history and events, store counts.

Every figure was computed by the stock service and stored in stock_states; nothing here decides anything. The JSON
API, the admin and the demo pages render these views. Every query is scoped by the store it is given."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from app.domain.stock import BadgeKind, Signal, Status
from app.models import (
    Product,
    StockEvent,
    StockState,
    StockStateHistory,
    Store,
    Variant,
)
from app.services.stock.recompute import FOUND_SOLD_OUT, at_risk_condition, live_variant_filters, store_today

STATUSES = tuple(s.value for s in Status)
SIGNALS = tuple(s.value for s in Signal)
BADGES = tuple(b.value for b in BadgeKind)
SORTS = ("priority", "days_on_hand", "stockout_on", "sku", "waitlist")
DEFAULT_PER_PAGE = 50
HISTORY_DAYS = 90
EVENTS_LIMIT = 20
JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class VariantQuery:
    """Validated filters, sort and page of a variant listing."""

    statuses: tuple[str, ...] = ()
    signals: tuple[str, ...] = ()
    badges: tuple[str, ...] = ()
    q: str | None = None
    at_risk: bool | None = None
    has_waitlist: bool | None = None
    sort: str = "priority"
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE


def _live(store_id: int) -> list[ColumnElement[bool]]:
    return [StockState.store_id == store_id, *live_variant_filters(store_id)]


def _variant_select(store_id: int) -> Select[Variant, Product, StockState]:
    return (
        select(Variant, Product, StockState)
        .join(Product, Product.id == Variant.product_id)
        .join(StockState, StockState.variant_id == Variant.id)
        .where(*_live(store_id))
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filters(query: VariantQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.statuses:
        conditions.append(StockState.status.in_(query.statuses))
    if query.signals:
        conditions.append(StockState.signal.in_(query.signals))
    if query.badges:
        conditions.append(StockState.badge_kind.in_(query.badges))
    if query.q:
        pattern = f"%{_escape_like(query.q)}%"
        conditions.append(
            or_(
                Variant.sku.ilike(pattern, escape="\\"),
                Variant.title.ilike(pattern, escape="\\"),
                Product.title.ilike(pattern, escape="\\"),
            )
        )
    if query.at_risk is not None:
        risk = at_risk_condition()
        conditions.append(risk if query.at_risk else ~risk)
    if query.has_waitlist is not None:
        conditions.append(StockState.waitlist_open > 0 if query.has_waitlist else StockState.waitlist_open <= 0)
    return conditions


def _order_by(sort: str) -> list[Any]:
    # Variant id last everywhere so pages are stable when the sort key ties.
    orders: dict[str, list[Any]] = {
        "priority": [StockState.priority.desc()],
        "days_on_hand": [StockState.days_on_hand.asc().nulls_last()],
        "stockout_on": [StockState.stockout_on.asc().nulls_last()],
        "sku": [Variant.sku.asc()],
        "waitlist": [StockState.waitlist_open.desc(), StockState.priority.desc()],
    }
    return [*orders[sort], Variant.id.asc()]


@dataclass(frozen=True, slots=True)
class VariantPage:
    """One page of variant items and the total behind it."""

    items: list[JsonDict]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """How many pages the total fills."""
        return math.ceil(self.total / self.per_page)


def list_variants(session: Session, store_id: int, query: VariantQuery) -> VariantPage:
    """The store's variants matching the query, one page of them, with their stock state."""
    conditions = _filters(query)
    base = _variant_select(store_id).where(*conditions)
    total = session.execute(select(func.count()).select_from(base.subquery())).scalar_one()
    offset = (query.page - 1) * query.per_page
    items: list[JsonDict] = []
    # Past the last page there is nothing to read; skipping also keeps a huge page number from
    # becoming an OFFSET the database refuses.
    if offset < total:
        rows = session.execute(base.order_by(*_order_by(query.sort)).offset(offset).limit(query.per_page))
        items = [variant_item(v, p, s) for v, p, s in rows]
    return VariantPage(items=items, total=total, page=query.page, per_page=query.per_page)


def get_variant(session: Session, store_id: int, variant_id: int) -> JsonDict | None:
    """One variant of the store with its stock state, or None (unknown, deleted, other store, not computed)."""
    row = session.execute(_variant_select(store_id).where(Variant.id == variant_id)).one_or_none()
    return None if row is None else variant_item(*row)


def variant_history(session: Session, store: Store, variant_id: int, now: datetime | None = None) -> list[JsonDict]:
    """The variant's daily figures over the last 90 days at the store, oldest first."""
    today = store_today(store, now or datetime.now(UTC))
    since = today - timedelta(days=HISTORY_DAYS - 1)
    rows = session.scalars(
        select(StockStateHistory)
        .where(
            StockStateHistory.store_id == store.id,
            StockStateHistory.variant_id == variant_id,
            StockStateHistory.day >= since,
        )
        .order_by(StockStateHistory.day)
    )
    return [
        {
            "day": iso(h.day),
            "sellable_quantity": h.sellable_quantity,
            "velocity": h.velocity,
            "days_on_hand": h.days_on_hand,
            "status": h.status,
            "signal": h.signal,
        }
        for h in rows
    ]


def variant_events(session: Session, store_id: int, variant_id: int) -> list[JsonDict]:
    """The variant's 20 latest restock and sell-out edges, newest first."""
    rows = session.scalars(
        select(StockEvent)
        .where(StockEvent.store_id == store_id, StockEvent.variant_id == variant_id)
        .order_by(StockEvent.occurred_at.desc(), StockEvent.id.desc())
        .limit(EVENTS_LIMIT)
    )
    return [
        {
            "id": e.id,
            "kind": e.kind,
            "before": e.quantity_before,
            "after": e.quantity_after,
            "occurred_at": iso(e.occurred_at),
            "source": e.source,
            # A span recorded for a variant found sold out: which fact it starts from (app.domain.history).
            "since": (e.details or {}).get("since") if e.source == FOUND_SOLD_OUT else None,
        }
        for e in rows
    ]


def store_counts(session: Session, store_id: int) -> JsonDict:
    """Variants per status and per signal, open waitlist total and variants at risk, in three aggregates."""
    live = _live(store_id)

    def grouped(column: Any, keys: Sequence[str]) -> dict[str, int]:
        stmt = (
            select(column, func.count())
            .select_from(StockState)
            .join(Variant, Variant.id == StockState.variant_id)
            .join(Product, Product.id == Variant.product_id)
            .where(*live)
            .group_by(column)
        )
        counts = dict.fromkeys(keys, 0)
        for key, n in session.execute(stmt):
            counts[str(key)] = int(n)
        return counts

    total, waitlist, at_risk = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(StockState.waitlist_open), 0),
            func.count().filter(at_risk_condition()),
        )
        .select_from(StockState)
        .join(Variant, Variant.id == StockState.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .where(*live)
    ).one()
    return {
        "variants": int(total),
        "by_status": grouped(StockState.status, STATUSES),
        "by_signal": grouped(StockState.signal, SIGNALS),
        "waitlist_open": int(waitlist),
        "at_risk": int(at_risk),
    }


def store_summary(session: Session, store: Store) -> JsonDict:
    """The store's identity and its headline counts."""
    return {
        "id": store.id,
        "name": store.name,
        "platform": store.platform,
        "domain": store.domain,
        "timezone": store.timezone,
        "currency": store.currency,
        "status": store.status,
        "last_recomputed_at": iso(store.last_recomputed_at),
        "counts": store_counts(session, store.id),
    }


def iso(value: date | datetime | None) -> str | None:
    """ISO 8601; datetimes in UTC (SQLite hands back naive UTC, PostgreSQL the session's zone)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    return value.isoformat()


def badge_text(kind: str, quantity: int | None) -> str | None:
    """The words a storefront shows for a badge; None when there is no badge."""
    if kind == BadgeKind.ONLY_N_LEFT and quantity is not None:
        return f"Only {quantity} left"
    if kind == BadgeKind.SELLING_FAST:
        return "Selling fast"
    return None


def sales_basis(sales_days: int | None) -> str:
    """What a velocity is based on, as the admin says it: "from 41 days of sales", or that there are none yet."""
    if sales_days is None:
        return "no days of sales yet"
    return f"from {sales_days} day{'' if sales_days == 1 else 's'} of sales"


def variant_item(variant: Variant, product: Product, state: StockState) -> JsonDict:
    """A variant with every computed figure of its stock state and the reasons behind them."""
    return {
        "id": variant.id,
        "external_id": variant.external_id,
        "sku": variant.sku,
        "title": variant.title,
        "product_id": product.id,
        "product_title": product.title,
        "price": float(variant.price),
        "tracked": variant.tracked,
        "policy": variant.inventory_policy,
        "sellable_quantity": state.sellable_quantity,
        "velocity": state.velocity,
        "velocity_windows": list(state.velocity_windows or []),
        "sales_days": state.sales_days,
        "days_on_hand": state.days_on_hand,
        "stockout_on": iso(state.stockout_on),
        "reorder_by": iso(state.reorder_by),
        "suggested_reorder_qty": state.suggested_reorder_qty,
        "status": state.status,
        "badge": {
            "kind": state.badge_kind,
            "quantity": state.badge_quantity,
            "text": badge_text(state.badge_kind, state.badge_quantity),
        },
        "signal": {"value": state.signal, "reason": state.signal_reason},
        "restock_eta": {"date": iso(state.restock_eta), "source": state.eta_source},
        "priority": state.priority,
        "waitlist_open": state.waitlist_open,
        "incoming_quantity": state.incoming_quantity,
        "lead_time_days": state.lead_time_days,
        "campaign": (
            None
            if state.campaign_id is None
            else {"id": state.campaign_id, "stockout_on": iso(state.campaign_stockout_on)}
        ),
        "reasons": list(state.reasons or []),
        "computed_at": iso(state.computed_at),
    }
