"""Which stock states still have to reach a store's storefront, and marking them published (every platform)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from app.domain.settings import resolve_settings
from app.domain.stock import Badge, ListingVariant, Status, is_oversellable, product_listing
from app.models import Product, ProductListing, StockState, Variant
from app.services.stock.inputs import fingerprint, load_overrides

# The figures of a stock state that reach the storefront; its fingerprint covers exactly these.
PUBLISHED_FIELDS = ("status", "badge_kind", "badge_quantity", "restock_eta", "eta_source", "on_its_way")


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


def _listing_variant(
    tracked: bool,
    qty: int,
    policy: str,
    backorder: bool,
    status: str | None,
    state_qty: int | None,
    velocity: float | None,
) -> ListingVariant:
    oversellable = is_oversellable(policy, backorder)
    if status is not None:
        return ListingVariant(Status(status), int(state_qty or 0), float(velocity or 0), oversellable)
    # Not computed yet: only what the row itself supports (as the variant's own storefront state does).
    if not tracked:
        listed = Status.UNTRACKED
    elif qty <= 0:
        listed = Status.BACKORDER if oversellable else Status.OUT_OF_STOCK
    else:
        listed = Status.IN_STOCK
    return ListingVariant(listed, qty, 0.0, oversellable)


def product_listings(session: Session, store_id: int, product_ids: Iterable[int]) -> dict[int, tuple[Status, Badge]]:
    """The listing status and badge of each given product, over its live published variants (see product_listing)."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    by_product: dict[int, list[ListingVariant]] = {pid: [] for pid in ids}
    # Columns, not entities: a store's first run lists every product, and loading 100,000 variants and their
    # states as ORM objects took most of the recompute (benchmarks/recompute.py).
    for chunk in range(0, len(ids), _LISTING_CHUNK):
        rows = session.execute(
            select(
                Variant.product_id,
                Variant.tracked,
                Variant.sellable_quantity,
                Variant.inventory_policy,
                Variant.backorder,
                StockState.status,
                StockState.sellable_quantity,
                StockState.velocity,
            )
            .outerjoin(StockState, StockState.variant_id == Variant.id)
            .where(
                Variant.store_id == store_id,
                Variant.product_id.in_(ids[chunk : chunk + _LISTING_CHUNK]),
                Variant.deleted_at.is_(None),
                Variant.published.is_(True),
            )
            .order_by(Variant.product_id, Variant.id)
        )
        for pid, tracked, qty, policy, backorder, status, state_qty, velocity in rows:
            by_product[pid].append(_listing_variant(tracked, qty, policy, backorder, status, state_qty, velocity))
    overrides = load_overrides(session, store_id)
    store_settings = resolve_settings(overrides.store, None, None)
    return {
        pid: product_listing(
            variants,
            resolve_settings(overrides.store, overrides.product[pid], None)
            if pid in overrides.product
            else store_settings,
        )
        for pid, variants in by_product.items()
    }


def listing_value(status: Status, badge: Badge) -> dict[str, Any]:
    """The listing document of a product: its status and badge, as a card shows them."""
    quantity = badge.quantity if badge.kind == "only_n_left" else None
    return {"status": str(status), "badge": {"kind": str(badge.kind), "quantity": quantity}}


def refresh_listings(session: Session, store_id: int, product_ids: Iterable[int], now: datetime) -> int:
    """Recompute these products' listing rows; the number whose status or badge changed (to be published)."""
    listings = product_listings(session, store_id, product_ids)
    if not listings:
        return 0
    pids = list(listings)
    stored: dict[int, str] = {}
    for chunk in range(0, len(pids), _LISTING_CHUNK):
        rows = session.execute(
            select(ProductListing.product_id, ProductListing.fingerprint).where(
                ProductListing.product_id.in_(pids[chunk : chunk + _LISTING_CHUNK])
            )
        )
        stored.update((pid, fp) for pid, fp in rows)
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for pid, (status, badge) in listings.items():
        value = listing_value(status, badge)
        fp = fingerprint([value["status"], value["badge"]["kind"], value["badge"]["quantity"]])
        if stored.get(pid) == fp:
            continue
        row = {
            "product_id": pid,
            "status": value["status"],
            "badge_kind": value["badge"]["kind"],
            "badge_quantity": value["badge"]["quantity"],
            "fingerprint": fp,
            "computed_at": now,
        }
        (changed if pid in stored else new).append(row)
    # Bulk statements (executemany), not one ORM object per product: a first run writes every product's row.
    if new:
        session.execute(insert(ProductListing), [{**row, "store_id": store_id} for row in new])
    if changed:
        session.execute(update(ProductListing), changed)
    return len(new) + len(changed)


# Product ids per statement (well under any bind-parameter limit).
_LISTING_CHUNK = 10_000


@dataclass(frozen=True, slots=True)
class UnpublishedListing:
    """A product's listing whose fingerprint the storefront has not received yet."""

    product_id: int
    external_id: str
    kind: str
    fingerprint: str
    value: dict[str, Any]


def unpublished_listings(session: Session, store_id: int, limit: int) -> list[UnpublishedListing]:
    """Listings of the store's live products whose fingerprint was not published yet, oldest product first."""
    rows = session.execute(
        select(ProductListing, Product.external_id, Product.kind)
        .join(Product, Product.id == ProductListing.product_id)
        .where(
            ProductListing.store_id == store_id,
            Product.store_id == store_id,
            Product.deleted_at.is_(None),
            ProductListing.published_fingerprint.is_distinct_from(ProductListing.fingerprint),
        )
        .order_by(ProductListing.product_id)
        .limit(limit)
    ).all()
    return [
        UnpublishedListing(
            product_id=row.product_id,
            external_id=external_id,
            kind=kind,
            fingerprint=row.fingerprint,
            value={"status": row.status, "badge": {"kind": row.badge_kind, "quantity": row.badge_quantity}},
        )
        for row, external_id, kind in rows
    ]


def mark_listings_published(session: Session, sent: Iterable[tuple[int, str]]) -> int:
    """Set published_fingerprint to the (product id, fingerprint) sent, where the listing still has that fingerprint."""
    params = [{"b_pid": pid, "b_fp": fp} for pid, fp in sent]
    if not params:
        return 0
    stmt = (
        update(ProductListing)
        .where(ProductListing.product_id == bindparam("b_pid"), ProductListing.fingerprint == bindparam("b_fp"))
        .values(published_fingerprint=bindparam("b_fp"))
    )
    return int(session.connection().execute(stmt, params).rowcount or 0)
