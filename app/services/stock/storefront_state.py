"""Which stock states still have to reach a store's storefront, and marking them published (every platform)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from app.domain.settings import resolve_settings
from app.domain.stock import Badge, ListingVariant, Status, is_oversellable, product_listing
from app.infra.sql import bind_ids, id_in
from app.models import Product, ProductListing, StockState, Variant
from app.services.stock.inputs import Overrides, fingerprint, load_overrides

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


# Status by its stored value: a dict lookup, not the enum's constructor, for every variant a listing sums.
_STATUS_OF = {str(status): status for status in Status}


def _listing_variant(
    tracked: bool,
    qty: int,
    policy: str,
    backorder: bool,
    status: str | None,
    state_qty: int | None,
    velocity: float | None,
) -> ListingVariant:
    # bool(): SQLite hands back booleans of a text() statement as 0 and 1.
    oversellable = is_oversellable(policy, bool(backorder))
    if status is not None:
        return ListingVariant(_STATUS_OF[status], int(state_qty or 0), float(velocity or 0), oversellable)
    # Not computed yet: only what the row itself supports (as the variant's own storefront state does).
    if not tracked:
        listed = Status.UNTRACKED
    elif qty <= 0:
        listed = Status.BACKORDER if oversellable else Status.OUT_OF_STOCK
    else:
        listed = Status.IN_STOCK
    return ListingVariant(listed, qty, 0.0, oversellable)


# The live published variants of some products with their states, in variant order within each product (a listing's
# velocity is a float sum). One array of product ids, not an IN list of one parameter each, and no ORM statement to
# compile: this runs after every recompute that changed a state (benchmarks/recompute.py, periodic).
_LISTING_VARIANTS_SQL = (
    "SELECT v.product_id, v.tracked, v.sellable_quantity, v.inventory_policy, v.backorder,"
    " st.status, st.sellable_quantity, st.velocity"
    " FROM variants v LEFT JOIN stock_states st ON st.variant_id = v.id"
    " WHERE v.store_id = :sid AND {scope} AND v.deleted_at IS NULL AND v.published = :true"
    " ORDER BY v.product_id, v.id"
)


def product_listings(
    session: Session, store_id: int, product_ids: Iterable[int], overrides: Overrides | None = None
) -> dict[int, tuple[Status, Badge]]:
    """The listing status and badge of each given product, over its live published variants (see product_listing).

    ``overrides`` are the store's settings overrides when the caller has them loaded already.
    """
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    by_product: dict[int, list[ListingVariant]] = {pid: [] for pid in ids}
    # Columns, not entities: a store's first run lists every product, and loading 100,000 variants and their
    # states as ORM objects took most of the recompute (benchmarks/recompute.py).
    for chunk in range(0, len(ids), _LISTING_CHUNK):
        sql = text(_LISTING_VARIANTS_SQL.format(scope=id_in(session, "v.product_id", "pids")))
        sql, bound = bind_ids(session, sql, "pids", ids[chunk : chunk + _LISTING_CHUNK])
        rows = session.execute(sql, {"sid": store_id, "pids": bound, "true": True})
        for pid, tracked, qty, policy, backorder, status, state_qty, velocity in rows:
            by_product[pid].append(_listing_variant(tracked, qty, policy, backorder, status, state_qty, velocity))
    if overrides is None:
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


def refresh_listings(
    session: Session, store_id: int, product_ids: Iterable[int], now: datetime, overrides: Overrides | None = None
) -> int:
    """Recompute these products' listing rows; the number whose status or badge changed (to be published)."""
    listings = product_listings(session, store_id, product_ids, overrides)
    if not listings:
        return 0
    pids = list(listings)
    stored: dict[int, str] = {}
    for chunk in range(0, len(pids), _LISTING_CHUNK):
        scope = id_in(session, "product_id", "pids")
        sql = text(f"SELECT product_id, fingerprint FROM product_listings WHERE {scope}")  # noqa: S608 - ids bound
        sql, bound = bind_ids(session, sql, "pids", pids[chunk : chunk + _LISTING_CHUNK])
        stored.update((pid, fp) for pid, fp in session.execute(sql, {"pids": bound}))
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
