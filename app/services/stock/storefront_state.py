"""Which stock states still have to reach a store's storefront, and marking them published (every platform)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from app.models import Product, StockState, Variant

# The figures of a stock state that reach the storefront; its fingerprint covers exactly these.
PUBLISHED_FIELDS = ("status", "badge_kind", "badge_quantity", "restock_eta", "eta_source")


@dataclass(frozen=True, slots=True)
class UnpublishedState:
    """A variant's state whose fingerprint the storefront has not received yet."""

    variant_id: int
    external_id: str
    product_kind: str
    product_external_id: str
    fingerprint: str
    state: dict[str, Any]


def unpublished_states(session: Session, store_id: int, limit: int) -> list[UnpublishedState]:
    """States of the store's live variants whose fingerprint was not published yet, oldest variant first."""
    rows = session.execute(
        select(
            StockState.variant_id,
            Variant.external_id,
            Product.kind,
            Product.external_id,
            StockState.fingerprint,
            *(getattr(StockState, f) for f in PUBLISHED_FIELDS),
        )
        .join(Variant, Variant.id == StockState.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .where(
            StockState.store_id == store_id,
            Variant.store_id == store_id,
            Variant.deleted_at.is_(None),
            Product.deleted_at.is_(None),
            StockState.published_fingerprint.is_distinct_from(StockState.fingerprint),
        )
        .order_by(StockState.variant_id)
        .limit(limit)
    ).all()
    return [
        UnpublishedState(
            variant_id=int(vid),
            external_id=external_id,
            product_kind=kind,
            product_external_id=product_external_id,
            fingerprint=fp,
            state=dict(zip(PUBLISHED_FIELDS, published, strict=True)),
        )
        for vid, external_id, kind, product_external_id, fp, *published in rows
    ]


def mark_published(session: Session, sent: Iterable[tuple[int, str]]) -> int:
    """Set published_fingerprint to the (variant id, fingerprint) sent, where the state still has that fingerprint."""
    params = [{"b_vid": vid, "b_fp": fp} for vid, fp in sent]
    if not params:
        return 0
    stmt = (
        update(StockState)
        .where(StockState.variant_id == bindparam("b_vid"), StockState.fingerprint == bindparam("b_fp"))
        .values(published_fingerprint=bindparam("b_fp"))
    )
    # Core executemany: the compare-and-set stays in the WHERE, and no ORM bookkeeping for rows never loaded.
    return int(session.connection().execute(stmt, params).rowcount or 0)
