"""The buyer's planning views: the at-risk table sorted, searched and filtered by supplier, the overstock and
dead-stock view, draft purchase orders from the suggestions and a supplier's suggestion CSV.

Every figure comes from stock_states (the recompute's output); this module adds only what a buyer needs around them:
the supplier, overdue flags, the real date a variant sold out, and the dead-stock verdict from known history.
Every query is scoped by the store it is given.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from app.domain.history import SoldOutSince
from app.domain.planning import DeadStock, DeadStockVerdict, dead_stock, is_overdue, overstock_units, sold_out_label
from app.domain.settings import resolve_settings
from app.domain.stock import Status
from app.models import (
    Order,
    OrderLine,
    Product,
    PurchaseOrder,
    PurchaseOrderStatus,
    StockEvent,
    StockState,
    Store,
    Supplier,
    Variant,
)
from app.queue import JobQueue
from app.services.merchant.exports import csv_lines
from app.services.merchant.stock_views import VariantPage, variant_item
from app.services.stock.dirty import mark_dirty
from app.services.stock.recompute import (
    FOUND_SOLD_OUT,
    at_risk_condition,
    live_variant_filters,
    store_values,
    store_zone,
)

NO_SUPPLIER = 0  # the supplier filter's value for variants without one
MAX_SELECTED = 500
JsonDict = dict[str, Any]

_SUPPLIER_ID = func.coalesce(Variant.supplier_id, Product.supplier_id)

# Sort key → column; each is sortable both ways, nulls last either way, variant id breaks ties for stable pages.
SORT_COLUMNS: dict[str, Any] = {
    "priority": StockState.priority,
    "sku": Variant.sku,
    "signal": StockState.signal,
    "status": StockState.status,
    "supplier": Supplier.name,
    "sellable": StockState.sellable_quantity,
    "incoming": StockState.incoming_quantity,
    "velocity": StockState.velocity,
    "days_on_hand": StockState.days_on_hand,
    "stockout_on": StockState.stockout_on,
    "reorder_by": StockState.reorder_by,
    "suggested": StockState.suggested_reorder_qty,
    "waitlist": StockState.waitlist_open,
}
# The direction a column sorts in when the buyer clicks it first: the most urgent end first.
DEFAULT_DESC = frozenset({"priority", "signal", "velocity", "suggested", "waitlist", "incoming"})


@dataclass(frozen=True, slots=True)
class PlanQuery:
    """Validated filters, search, sort and page of the at-risk planning table."""

    status: str = ""
    signal: str = ""
    supplier_id: int | None = None  # NO_SUPPLIER: variants without a supplier
    q: str = ""
    sort: str = "priority"
    desc: bool = True
    page: int = 1
    per_page: int = 25


@dataclass(frozen=True, slots=True)
class SupplierChoice:
    """A supplier the filter offers."""

    id: int
    name: str


def history_start(session: Session, store: Store) -> date:
    """The first day of the store's known order history, at the store.

    The platform's horizon when it hides older orders; else the first order BackSoon holds, when older than the
    install; else the install day (nothing before it is known).
    """
    at = store.orders_history_from
    if at is None:
        first = session.scalar(select(func.min(Order.ordered_at)).where(Order.store_id == store.id))
        at = store.installed_at if first is None or first > store.installed_at else first
    return _day(store, at)


def _day(store: Store, at: datetime) -> date:
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return aware.astimezone(store_zone(store)).date()


def suppliers(session: Session, store_id: int) -> list[SupplierChoice]:
    """The store's suppliers by name."""
    rows = session.execute(
        select(Supplier.id, Supplier.name).where(Supplier.store_id == store_id).order_by(Supplier.name, Supplier.id)
    )
    return [SupplierChoice(int(i), n) for i, n in rows]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _plan_select(store_id: int) -> Select[Variant, Product, StockState, Supplier]:
    return (
        select(Variant, Product, StockState, Supplier)
        .join(Product, Product.id == Variant.product_id)
        .join(StockState, StockState.variant_id == Variant.id)
        .outerjoin(Supplier, and_(Supplier.id == _SUPPLIER_ID, Supplier.store_id == store_id))
        .where(StockState.store_id == store_id, *live_variant_filters(store_id))
    )


def _conditions(query: PlanQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [at_risk_condition()]
    if query.status:
        conditions.append(StockState.status == query.status)
    if query.signal:
        conditions.append(StockState.signal == query.signal)
    if query.supplier_id == NO_SUPPLIER:
        conditions.append(Supplier.id.is_(None))
    elif query.supplier_id is not None:
        conditions.append(Supplier.id == query.supplier_id)
    if query.q:
        pattern = f"%{_escape_like(query.q)}%"
        conditions.append(
            or_(
                Variant.sku.ilike(pattern, escape="\\"),
                Variant.title.ilike(pattern, escape="\\"),
                Product.title.ilike(pattern, escape="\\"),
            )
        )
    return conditions


def list_plan(session: Session, store: Store, query: PlanQuery, today: date) -> VariantPage:
    """One page of the store's at-risk variants with supplier, overdue flag and the real sold-out date."""
    base = _plan_select(store.id).where(*_conditions(query))
    total = session.execute(select(func.count()).select_from(base.subquery())).scalar_one()
    offset = (query.page - 1) * query.per_page
    items: list[JsonDict] = []
    if offset < total:
        column = SORT_COLUMNS[query.sort]
        order = column.desc().nulls_last() if query.desc else column.asc().nulls_last()
        rows = session.execute(base.order_by(order, Variant.id.asc()).offset(offset).limit(query.per_page)).all()
        spans = _open_sellouts(session, store, [v.id for v, _, s, _ in rows if s.status == Status.OUT_OF_STOCK])
        for variant, product, state, supplier in rows:
            item = variant_item(variant, product, state)
            item["supplier"] = None if supplier is None else {"id": supplier.id, "name": supplier.name}
            item["overdue"] = is_overdue(state.reorder_by, today)
            item["sold_out"] = spans.get(variant.id) if state.status == Status.OUT_OF_STOCK else None
            items.append(item)
    return VariantPage(items=items, total=total, page=query.page, per_page=query.per_page)


def _open_sellouts(session: Session, store: Store, variant_ids: Sequence[int]) -> dict[int, str]:
    """Each sold-out variant's label from its open sell-out span (the edge that took it to zero)."""
    if not variant_ids:
        return {}
    rows = session.execute(
        select(StockEvent.variant_id, StockEvent.occurred_at, StockEvent.source, StockEvent.details)
        .where(
            StockEvent.store_id == store.id,
            StockEvent.variant_id.in_(variant_ids),
            StockEvent.kind == "sellout",
            StockEvent.ended_at.is_(None),
        )
        .order_by(StockEvent.variant_id, StockEvent.occurred_at.desc(), StockEvent.id.desc())
    )
    labels: dict[int, str] = {}
    for variant_id, occurred_at, source, details in rows:
        if variant_id in labels:
            continue
        since = _day(store, occurred_at)
        # A span recorded on finding the variant sold out, with no sale or stock update to date it, starts at
        # the connect: the variant was sold out before that, since when nobody knows.
        guessed = source == FOUND_SOLD_OUT and (details or {}).get("since") == SoldOutSince.CONNECT
        labels[int(variant_id)] = sold_out_label(since, not guessed, since)
    unrecorded = [vid for vid in variant_ids if vid not in labels]
    if unrecorded:
        # No span recorded (stock history starts later than the sell-out): bounded by the history start only.
        bound = sold_out_label(None, False, history_start(session, store))
        labels.update(dict.fromkeys(unrecorded, bound))
    return labels


@dataclass(frozen=True, slots=True)
class ExcessRow:
    """A variant with stock beyond its cover, or dead: the overstock view's row."""

    item: JsonDict
    supplier: str
    overstock: int
    dead: DeadStock


@dataclass(frozen=True, slots=True)
class ExcessPage:
    """The overstock and dead-stock view: one page of rows, the history start and how many are not yet judgeable."""

    rows: list[ExcessRow]
    total: int
    page: int
    per_page: int
    history_start: date
    cover_days: int
    safety_days: int
    unknown: int = 0
    kinds: dict[str, int] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        """How many pages the total fills."""
        return math.ceil(self.total / self.per_page)


def excess(session: Session, store: Store, today: date, page: int = 1, per_page: int = 50) -> ExcessPage:
    """Variants with stock on hand beyond cover + safety days of demand, or with no sale in 90 known sellable days."""
    settings = resolve_settings(store_values(session, store.id), None, None)
    start = history_start(session, store)
    rows = session.execute(
        _plan_select(store.id)
        .where(StockState.sellable_quantity > 0)
        .order_by(StockState.sellable_quantity.desc(), Variant.id.asc())
    ).all()
    ids = [v.id for v, _, _, _ in rows]
    last_sales = _last_sales(session, store, ids)
    out_days = _sold_out_days(session, store, ids, last_sales, start, today)
    found: list[ExcessRow] = []
    unknown = 0
    for variant, product, state, supplier in rows:
        verdict = dead_stock(
            state.sellable_quantity, last_sales.get(variant.id), start, today, out_days.get(variant.id, 0)
        )
        over = overstock_units(state.sellable_quantity, state.velocity, settings.cover_days, settings.safety_days)
        if verdict.verdict == DeadStockVerdict.UNKNOWN:
            unknown += 1
        if over > 0 or verdict.verdict == DeadStockVerdict.DEAD:
            found.append(
                ExcessRow(variant_item(variant, product, state), supplier.name if supplier else "", over, verdict)
            )
    offset = (page - 1) * per_page
    kinds = {
        "overstock": sum(1 for r in found if r.overstock > 0),
        "dead": sum(1 for r in found if r.dead.verdict == DeadStockVerdict.DEAD),
    }
    return ExcessPage(
        found[offset : offset + per_page],
        len(found),
        page,
        per_page,
        start,
        settings.cover_days,
        settings.safety_days,
        unknown,
        kinds,
    )


def _last_sales(session: Session, store: Store, variant_ids: Sequence[int]) -> dict[int, date]:
    if not variant_ids:
        return {}
    rows = session.execute(
        select(OrderLine.variant_id, func.max(OrderLine.ordered_at))
        .where(
            OrderLine.store_id == store.id,
            OrderLine.variant_id.in_(variant_ids),
            OrderLine.cancelled.is_(False),
            OrderLine.quantity - OrderLine.refunded_quantity > 0,
        )
        .group_by(OrderLine.variant_id)
    )
    return {int(v): _day(store, at) for v, at in rows if v is not None}


def _sold_out_days(
    session: Session, store: Store, variant_ids: Sequence[int], last_sales: dict[int, date], start: date, today: date
) -> dict[int, int]:
    """Whole days each variant spent sold out since its last sale (or the history start): it could not sell then."""
    if not variant_ids:
        return {}
    rows = session.execute(
        select(StockEvent.variant_id, StockEvent.occurred_at, StockEvent.ended_at).where(
            StockEvent.store_id == store.id, StockEvent.variant_id.in_(variant_ids), StockEvent.kind == "sellout"
        )
    )
    days: dict[int, int] = {}
    for variant_id, occurred_at, ended_at in rows:
        last = last_sales.get(int(variant_id))
        since = start if last is None or last < start else last
        begin = max(_day(store, occurred_at), since)
        end = min(_day(store, ended_at) if ended_at is not None else today, today)
        if end > begin:
            days[int(variant_id)] = days.get(int(variant_id), 0) + (end - begin).days
    return days


@dataclass(frozen=True, slots=True)
class DraftedOrder:
    """Purchase orders drafted for one supplier from the suggestions."""

    supplier: str
    reference: str
    lines: int
    units: int


def _suggestions(session: Session, store_id: int, variant_ids: Sequence[int] | None = None) -> list[Any]:
    stmt = (
        select(Variant, StockState, Supplier)
        .join(Product, Product.id == Variant.product_id)
        .join(StockState, StockState.variant_id == Variant.id)
        .outerjoin(Supplier, and_(Supplier.id == _SUPPLIER_ID, Supplier.store_id == store_id))
        .where(StockState.store_id == store_id, StockState.suggested_reorder_qty > 0, *live_variant_filters(store_id))
        .order_by(Supplier.name.asc().nulls_last(), Variant.sku, Variant.id)
    )
    if variant_ids is not None:
        stmt = stmt.where(Variant.id.in_(variant_ids))
    return list(session.execute(stmt).all())


def draft_orders(
    session: Session, jobs: JobQueue, store_id: int, variant_ids: Sequence[int], today: date
) -> list[DraftedOrder]:
    """Open purchase orders for the chosen variants' suggested quantities, one reference per supplier.

    Each is expected after the variant's lead time; variants of another store, deleted ones and those without a
    suggestion are skipped. The orders count as incoming stock at once: the buyer edits or cancels them on Incoming.
    """
    rows = _suggestions(session, store_id, variant_ids)
    drafted: dict[int | None, DraftedOrder] = {}
    for variant, state, supplier in rows:
        key = supplier.id if supplier is not None else None
        reference = f"DRAFT-{today:%Y%m%d}-{key if key is not None else 'NOSUP'}"
        session.add(
            PurchaseOrder(
                store_id=store_id,
                variant_id=variant.id,
                supplier_id=key,
                reference=reference,
                quantity=state.suggested_reorder_qty,
                expected_on=today + timedelta(days=max(state.lead_time_days, 0)),
                status=PurchaseOrderStatus.OPEN,
            )
        )
        prior = drafted.get(key)
        drafted[key] = DraftedOrder(
            supplier.name if supplier is not None else "",
            reference,
            (prior.lines if prior else 0) + 1,
            (prior.units if prior else 0) + state.suggested_reorder_qty,
        )
    if rows:
        session.flush()
        mark_dirty(session, jobs, store_id, [v.id for v, _, _ in rows], "purchase_order")
    return list(drafted.values())


SUPPLIER_CSV_HEADER = (
    "sku",
    "product",
    "variant",
    "quantity",
    "sellable",
    "incoming",
    "reorder_by",
    "lead_time_days",
    "supplier",
)


def supplier_csv(session: Session, store_id: int, supplier_id: int) -> Iterator[str]:
    """The suggestions of one supplier (NO_SUPPLIER: of variants without one) as CSV lines, by SKU."""
    rows = [
        (v, s, su)
        for v, s, su in _suggestions(session, store_id)
        if (su.id if su is not None else NO_SUPPLIER) == supplier_id
    ]
    products = dict(
        session.execute(
            select(Product.id, Product.title).where(
                Product.store_id == store_id, Product.id.in_({v.product_id for v, _, _ in rows})
            )
        ).all()
    )
    cells = (
        (
            v.sku,
            products.get(v.product_id, ""),
            v.title,
            s.suggested_reorder_qty,
            s.sellable_quantity,
            s.incoming_quantity,
            s.reorder_by.isoformat() if s.reorder_by else "",
            s.lead_time_days,
            su.name if su is not None else "",
        )
        for v, s, su in rows
    )
    return csv_lines(SUPPLIER_CSV_HEADER, cells)
