"""Demo controls: simulate a sale and send the next restock wave now, each through the product's own paths.

A sale is an order record applied by the same intake as a store's order webhook (app.services.catalog.orders), then
matched by the attribution the periodic job runs. The next wave is pulled forward on the wave scheduler's own
terms: the events' next_wave_at becomes now and the due ones get their fan-out job, as the cron would queue it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app import job_specs
from app.models import Delivery, DeliveryStatus, StockEvent, Store, Subscription, Variant
from app.models.stock import FanoutStatus
from app.queue import JobQueue, enqueue_after_commit
from app.services.catalog.orders import apply_orders
from app.services.notify import attribution
from integrations.base import OrderLineRecord, OrderRecord

__all__ = ["SaleOutcome", "send_next_wave_now", "simulate_sale"]


@dataclass(frozen=True, slots=True)
class SaleOutcome:
    """The simulated order and whether it was attributed to a restock email."""

    order_external_id: str
    variant_id: int
    attributed: bool


def simulate_sale(session: Session, jobs: JobQueue, store: Store, email: str, now: datetime) -> SaleOutcome | None:
    """One unit of the variant last emailed to this address, ordered now; None when no email was sent to it."""
    address = email.strip().lower()
    row = session.execute(
        select(Delivery.id, Variant)
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .join(Variant, Variant.id == Subscription.variant_id)
        .where(
            Delivery.store_id == store.id,
            Subscription.store_id == store.id,
            Subscription.email == address,
            Delivery.status == DeliveryStatus.SENT,
        )
        .order_by(Delivery.sent_at.desc(), Delivery.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    delivery_id, variant = row
    external_id = f"demo-sale-{delivery_id}-{int(now.timestamp() * 1000)}"
    price = Decimal(str(variant.price or 0))
    record = OrderRecord(
        external_id=external_id,
        ordered_at=now,
        name=f"#D{delivery_id}",
        email=address,
        currency=store.currency,
        total=price,
        financial_status="paid",
        updated_at=now,
        lines=(OrderLineRecord(f"{external_id}-1", variant.external_id, 1, price, variant.sku or ""),),
    )
    apply_orders(session, jobs, store.id, [record])
    session.flush()
    attribution.attribute_orders(session, store.id, now)
    converted = session.scalar(select(Delivery.converted_at).where(Delivery.id == delivery_id))
    return SaleOutcome(external_id, variant.id, converted is not None)


def send_next_wave_now(session: Session, jobs: JobQueue, store_id: int, now: datetime) -> list[int]:
    """Make the store's waiting restock waves due now and queue their fan-out; returns the events' ids."""
    session.execute(
        update(StockEvent)
        .where(
            StockEvent.store_id == store_id,
            StockEvent.fanout_status == FanoutStatus.PENDING,
            StockEvent.next_wave_at > now,
        )
        .values(next_wave_at=now)
        .execution_options(synchronize_session=False)
    )
    # The scheduler's own test of "due" (app.services.notify.fanout.due_events), for this store only.
    due = list(
        session.scalars(
            select(StockEvent.id)
            .where(
                StockEvent.store_id == store_id,
                StockEvent.kind == "restock",
                StockEvent.fanout_status == FanoutStatus.PENDING,
                or_(StockEvent.next_wave_at.is_(None), StockEvent.next_wave_at <= now),
            )
            .order_by(StockEvent.id)
        )
    )
    for eid in due:
        enqueue_after_commit(session, jobs, job_specs.fanout_event(eid, f"now-{int(now.timestamp())}"))
    return due
