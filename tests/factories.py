"""Small builders for test rows; every row gets its store id like production rows do."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from app.models import Location, Order, OrderLine, Product, Store, Variant

_ids = itertools.count(1000)
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def make_store(session: Session, **kw: Any) -> Store:
    """A store row."""
    n = next(_ids)
    values: dict[str, Any] = {
        "platform": "demo",
        "domain": f"store-{n}.example.test",
        "name": f"Store {n}",
        "timezone": "UTC",
    }
    values.update(kw)
    store = Store(**values)
    session.add(store)
    session.flush()
    return store


def make_variant(
    session: Session, store: Store, *, qty: int = 10, product: Product | None = None, **kw: Any
) -> Variant:
    """A variant (with its own product unless one is given) holding `qty` sellable units."""
    n = next(_ids)
    if product is None:
        product = Product(store_id=store.id, external_id=f"p{n}", title=f"Product {n}")
        session.add(product)
        session.flush()
    values: dict[str, Any] = {
        "store_id": store.id,
        "product_id": product.id,
        "external_id": f"v{n}",
        "sku": f"SKU-{n}",
        "title": f"Variant {n}",
        "price": Decimal("20.00"),
        "sellable_quantity": qty,
    }
    values.update(kw)
    variant = Variant(**values)
    session.add(variant)
    session.flush()
    return variant


def make_location(session: Session, store: Store, **kw: Any) -> Location:
    """A stock location."""
    n = next(_ids)
    loc = Location(store_id=store.id, external_id=f"loc{n}", name=f"Location {n}", **kw)
    session.add(loc)
    session.flush()
    return loc


def add_sale(
    session: Session,
    variant: Variant,
    quantity: int,
    *,
    days_ago: float,
    now: datetime = NOW,
    refunded: int = 0,
    cancelled: bool = False,
) -> OrderLine:
    """One order with one line for the variant, placed `days_ago` days before `now`."""
    n = next(_ids)
    at = now - timedelta(days=days_ago)
    order = Order(
        store_id=variant.store_id,
        external_id=f"o{n}",
        name=f"#{n}",
        ordered_at=at,
        cancelled_at=at if cancelled else None,
    )
    session.add(order)
    session.flush()
    line = OrderLine(
        store_id=variant.store_id,
        order_id=order.id,
        variant_id=variant.id,
        external_id=f"l{n}",
        quantity=quantity,
        refunded_quantity=refunded,
        ordered_at=at,
        cancelled=cancelled,
    )
    session.add(line)
    session.flush()
    return line


class RecordingQueue:
    """A JobQueue that only remembers what was enqueued, for asserting on follow-up jobs."""

    def __init__(self) -> None:
        self.specs: list[Any] = []

    def enqueue(self, spec: Any) -> bool:
        """Remember the job."""
        self.specs.append(spec)
        return True

    def clear_gate(self, gate: str) -> None:
        """Nothing to clear."""
