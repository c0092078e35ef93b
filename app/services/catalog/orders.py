"""Orders, their lines and refunds: upserts, cancellations, and the velocity changes they mark dirty."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Table,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.orm import Session

from app.db import utcnow
from app.infra import bulk
from app.models import Order, OrderLine, OrderStatus, Refund, RefundLine, Variant
from app.queue import JobQueue
from app.services.catalog.common import Acc, ApplyResult, count_row, mark, money
from integrations.base import OrderRecord, RefundRecord

ORDER_BATCH = 1000

_ORDERS = cast(Table, Order.__table__)
_LINES = cast(Table, OrderLine.__table__)
_REFUNDS = cast(Table, Refund.__table__)
_REFUND_LINES = cast(Table, RefundLine.__table__)
_ORDER_FIELDS = (
    "name",
    "email",
    "customer_external_id",
    "currency",
    "total",
    "financial_status",
    "status",
    "ordered_at",
    "cancelled_at",
)
_LINE_FIELDS = ("variant_id", "sku", "quantity", "price", "ordered_at", "cancelled")

_Snapshot = dict[int, tuple[Any, ...]]


def _line_snapshot(session: Session, store_id: int, order_ids: Iterable[int]) -> _Snapshot:
    """What velocity reads from each line of the given orders."""
    stmt = select(
        OrderLine.id,
        OrderLine.variant_id,
        OrderLine.quantity,
        OrderLine.refunded_quantity,
        OrderLine.cancelled,
        OrderLine.ordered_at,
    ).where(OrderLine.store_id == store_id)
    return {
        int(r[0]): (r[1], r[2], r[3], bool(r[4]), bulk.utc(r[5]))
        for r in bulk.select_in(session, stmt, OrderLine.order_id, order_ids)
    }


def _velocity_dirty(before: _Snapshot, after: _Snapshot) -> set[int]:
    out: set[int] = set()
    for line_id, current in after.items():
        was = before.get(line_id)
        if was != current:
            out |= {v for v in (current[0], was[0] if was else None) if v is not None}
    return out


def apply_orders(session: Session, jobs: JobQueue, store_id: int, orders: Iterable[OrderRecord]) -> ApplyResult:
    """Upsert orders with their lines, cancellation and refunds; variants of changed lines are marked dirty."""
    acc = Acc()
    for batch in bulk.batches(orders, ORDER_BATCH):
        _apply_order_batch(session, jobs, store_id, batch, acc)
    return acc.result()


def _apply_order_batch(session: Session, jobs: JobQueue, store_id: int, batch: list[OrderRecord], acc: Acc) -> None:
    now = utcnow()
    orders = bulk.latest(batch, lambda o: o.external_id, lambda o: o.updated_at)
    old_orders = {
        r.external_id: r
        for r in bulk.select_in(
            session,
            select(
                Order.id, Order.external_id, Order.external_updated_at, *(getattr(Order, f) for f in _ORDER_FIELDS)
            ).where(Order.store_id == store_id),
            Order.external_id,
            orders,
        )
    }
    rows: list[dict[str, Any]] = []
    for ext, o in orders.items():
        old = old_orders.get(ext)
        ts = bulk.utc(o.updated_at)
        if old is not None and bulk.stale(ts, old.external_updated_at):
            acc.top.skipped_stale += 1
            continue
        email = o.email.strip().lower() if o.email else None
        rows.append(
            bulk.fit(
                _ORDERS,
                {
                    "store_id": store_id,
                    "external_id": ext,
                    "name": o.name,
                    "email": email or None,
                    # Shopify's GraphQL reads carry no customer (it needs read_customers): keep what a webhook gave.
                    "customer_external_id": o.customer_external_id
                    or (old.customer_external_id if old is not None else None),
                    "currency": o.currency,
                    "total": money(o.total),
                    "financial_status": o.financial_status,
                    "status": OrderStatus.CANCELLED if o.cancelled_at is not None else OrderStatus.OPEN,
                    "ordered_at": bulk.utc(o.ordered_at),
                    "cancelled_at": bulk.utc(o.cancelled_at),
                    "external_updated_at": ts if ts is not None else (old.external_updated_at if old else None),
                    "created_at": now,
                    "updated_at": now,
                },
            )
        )
    written = {
        r.external_id: int(r.id)
        for r in bulk.upsert(
            session,
            _ORDERS,
            rows,
            keys=("store_id", "external_id"),
            compare=_ORDER_FIELDS,
            returning=("id", "external_id"),
            watermark=True,
        )
    }
    applied: dict[int, OrderRecord] = {}
    for row in rows:
        ext = row["external_id"]
        old = old_orders.get(ext)
        if count_row(acc.top, old, row, ext in written, _ORDER_FIELDS) == "skipped_stale":
            continue
        # Lines and refunds still apply to an unchanged order: a replay after the catalog sync
        # resolves lines whose variant was unknown the first time.
        applied[written[ext] if old is None else int(old.id)] = orders[ext]
    if not applied:
        return

    before = _line_snapshot(session, store_id, applied)
    _apply_lines(session, store_id, applied, acc)
    cancelled = [oid for oid, o in applied.items() if o.cancelled_at is not None]
    active = [oid for oid, o in applied.items() if o.cancelled_at is None]
    # Also lines the payload no longer lists: cancellation is a property of the whole order.
    for ids, flag in ((cancelled, True), (active, False)):
        for chunk in bulk.chunks(sorted(ids), bulk.IN_CHUNK):
            session.execute(
                update(_LINES)
                .where(_LINES.c.store_id == store_id, _LINES.c.order_id.in_(chunk), _LINES.c.cancelled.is_not(flag))
                .values(cancelled=flag)
            )
    acc.refunds += _apply_refunds(
        session, store_id, [(oid, refund) for oid, o in applied.items() for refund in o.refunds], now
    )
    _recompute_refunded(session, store_id, applied)
    after = _line_snapshot(session, store_id, applied)
    mark(session, jobs, store_id, acc, _velocity_dirty(before, after), "orders")


def delete_order(session: Session, jobs: JobQueue, store_id: int, external_id: str, at: datetime | None) -> bool:
    """Count a trashed or deleted order as cancelled; False when it is unknown or the deletion is stale.

    WooCommerce sends ``order.deleted`` with only ``{"id": N}`` for both trashing and deleting, and a trashed order
    can be restored. So the row is kept and cancelled rather than removed: its sales stop counting towards
    velocity, and a restore (which updates the order, so a newer ``date_modified``) brings it back through the
    normal upsert. The deletion time becomes the watermark, so an older update delivered late cannot revive it.
    """
    row = session.execute(
        select(Order.id, Order.external_updated_at).where(Order.store_id == store_id, Order.external_id == external_id)
    ).one_or_none()
    if row is None:
        return False
    when = bulk.utc(at) or utcnow()
    if bulk.stale(when, row.external_updated_at):
        return False
    session.execute(
        update(_ORDERS)
        .where(_ORDERS.c.store_id == store_id, _ORDERS.c.id == row.id)
        .values(
            status=OrderStatus.DELETED,
            cancelled_at=func.coalesce(_ORDERS.c.cancelled_at, when),
            external_updated_at=when,
            updated_at=utcnow(),
        )
    )
    variant_ids = session.execute(
        update(_LINES)
        .where(_LINES.c.store_id == store_id, _LINES.c.order_id == row.id, _LINES.c.cancelled.is_(False))
        .values(cancelled=True)
        .returning(_LINES.c.variant_id)
    ).scalars()
    mark(session, jobs, store_id, Acc(), {int(v) for v in variant_ids if v is not None}, "order_deleted")
    return True


def _apply_lines(
    session: Session,
    store_id: int,
    applied: dict[int, OrderRecord],
    acc: Acc,
) -> None:
    wanted = {ln.variant_external_id for o in applied.values() for ln in o.lines if ln.variant_external_id}
    # Deleted variants resolve too: their past sales are still history.
    variant_ids = {
        str(r[0]): int(r[1])
        for r in bulk.select_in(
            session,
            select(Variant.external_id, Variant.id).where(Variant.store_id == store_id),
            Variant.external_id,
            wanted,
        )
    }
    existing = {
        (int(r[0]), str(r[1]))
        for r in bulk.select_in(
            session,
            select(OrderLine.order_id, OrderLine.external_id).where(OrderLine.store_id == store_id),
            OrderLine.order_id,
            applied,
        )
    }
    rows: list[dict[str, Any]] = []
    for oid, o in applied.items():
        lines = {ln.external_id: ln for ln in o.lines}
        for ext, ln in lines.items():
            vext = ln.variant_external_id
            rows.append(
                bulk.fit(
                    _LINES,
                    {
                        "store_id": store_id,
                        "order_id": oid,
                        "external_id": ext,
                        "variant_id": variant_ids.get(vext) if vext else None,
                        "sku": ln.sku,
                        "quantity": ln.quantity,
                        "refunded_quantity": 0,
                        "price": money(ln.price),
                        "ordered_at": bulk.utc(o.ordered_at),
                        "cancelled": o.cancelled_at is not None,
                    },
                )
            )
    # refunded_quantity is never set from the payload: it is recomputed from refund lines.
    written = {
        (int(r.order_id), str(r.external_id))
        for r in bulk.upsert(
            session,
            _LINES,
            rows,
            keys=("order_id", "external_id"),
            compare=_LINE_FIELDS,
            returning=("order_id", "external_id"),
        )
    }
    for row in rows:
        k = (row["order_id"], row["external_id"])
        if k not in written:
            acc.children.unchanged += 1
        elif k in existing:
            acc.children.updated += 1
        else:
            acc.children.created += 1


def _apply_refunds(session: Session, store_id: int, items: Sequence[tuple[int, RefundRecord]], now: datetime) -> int:
    """Upsert refunds and their lines (lines matched within the refund's own order); refunds written."""
    if not items:
        return 0
    refunds = {r.external_id: (oid, r) for oid, r in items}
    rows = [
        bulk.fit(
            _REFUNDS,
            {
                "store_id": store_id,
                "order_id": oid,
                "external_id": ext,
                "refunded_at": bulk.utc(r.refunded_at),
                "note": r.note,
                "created_at": now,
                "updated_at": now,
            },
        )
        for ext, (oid, r) in refunds.items()
    ]
    written = bulk.upsert(
        session,
        _REFUNDS,
        rows,
        keys=("store_id", "external_id"),
        compare=("order_id", "refunded_at", "note"),
        returning=("id",),
    )
    refund_ids = {
        str(r[0]): int(r[1])
        for r in bulk.select_in(
            session,
            select(Refund.external_id, Refund.id).where(Refund.store_id == store_id),
            Refund.external_id,
            refunds,
        )
    }
    line_ids = {
        (int(r[0]), str(r[1])): int(r[2])
        for r in bulk.select_in(
            session,
            select(OrderLine.order_id, OrderLine.external_id, OrderLine.id).where(OrderLine.store_id == store_id),
            OrderLine.order_id,
            {oid for oid, _ in refunds.values()},
        )
    }
    # One row per (refund, line): a platform may split one line's refund over several entries.
    totals: dict[tuple[int, int], list[Any]] = {}
    for ext, (oid, r) in refunds.items():
        rid = refund_ids.get(ext)
        if rid is None:
            continue
        for rl in r.lines:
            lid = line_ids.get((oid, rl.line_external_id))
            if lid is None:
                continue
            entry = totals.setdefault((rid, lid), [0, False])
            entry[0] += rl.quantity
            entry[1] = entry[1] or rl.restock
    line_rows = [
        {"store_id": store_id, "refund_id": rid, "order_line_id": lid, "quantity": q, "restock": restock}
        for (rid, lid), (q, restock) in totals.items()
    ]
    bulk.upsert(
        session,
        _REFUND_LINES,
        line_rows,
        keys=("refund_id", "order_line_id"),
        compare=("quantity", "restock"),
        returning=("id",),
    )
    return len(written)


def _recompute_refunded(session: Session, store_id: int, order_ids: Iterable[int]) -> None:
    """Set refunded_quantity to the sum of its refund lines: recomputed, never incremented, so replays are exact."""
    lines, refund_lines = _LINES, _REFUND_LINES
    total = (
        select(func.coalesce(func.sum(refund_lines.c.quantity), 0))
        .where(refund_lines.c.order_line_id == lines.c.id, refund_lines.c.store_id == store_id)
        .scalar_subquery()
    )
    for chunk in bulk.chunks(sorted(set(order_ids)), bulk.IN_CHUNK):
        session.execute(
            update(lines)
            .where(lines.c.store_id == store_id, lines.c.order_id.in_(chunk), lines.c.refunded_quantity != total)
            .values(refunded_quantity=total)
        )


def apply_refund(session: Session, jobs: JobQueue, store_id: int, order_external_id: str, refund: RefundRecord) -> bool:
    """Apply one refund to a known order (refunds/create); False when the order is unknown."""
    order_id = session.execute(
        select(Order.id).where(Order.store_id == store_id, Order.external_id == order_external_id)
    ).scalar_one_or_none()
    if order_id is None:
        return False
    before = _line_snapshot(session, store_id, [order_id])
    _apply_refunds(session, store_id, [(int(order_id), refund)], utcnow())
    _recompute_refunded(session, store_id, [order_id])
    after = _line_snapshot(session, store_id, [order_id])
    mark(session, jobs, store_id, Acc(), _velocity_dirty(before, after), "refund")
    return True


def refund_ids(session: Session, store_id: int, order_external_id: str) -> set[str] | None:
    """External ids of the refunds stored for an order; None when the order is unknown."""
    order_id = session.execute(
        select(Order.id).where(Order.store_id == store_id, Order.external_id == order_external_id)
    ).scalar_one_or_none()
    if order_id is None:
        return None
    return set(session.execute(select(Refund.external_id).where(Refund.order_id == order_id)).scalars())


def remove_refunds(
    session: Session, jobs: JobQueue, store_id: int, order_external_id: str, keep: Collection[str]
) -> int:
    """Delete an order's stored refunds the platform no longer lists (a deleted refund); returns how many."""
    order_id = session.execute(
        select(Order.id).where(Order.store_id == store_id, Order.external_id == order_external_id)
    ).scalar_one_or_none()
    if order_id is None:
        return 0
    before = _line_snapshot(session, store_id, [order_id])
    gone = list(
        session.execute(
            select(Refund.id).where(
                Refund.store_id == store_id, Refund.order_id == order_id, Refund.external_id.not_in(list(keep))
            )
        ).scalars()
    )
    if not gone:
        return 0
    # Lines first: the foreign key's cascade is not enforced on every database (SQLite without its pragma).
    session.execute(delete(_REFUND_LINES).where(_REFUND_LINES.c.refund_id.in_(gone)))
    session.execute(delete(_REFUNDS).where(_REFUNDS.c.id.in_(gone)))
    _recompute_refunded(session, store_id, [order_id])
    after = _line_snapshot(session, store_id, [order_id])
    mark(session, jobs, store_id, Acc(), _velocity_dirty(before, after), "refund_deleted")
    return len(gone)
