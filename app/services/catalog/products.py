"""Products, their variants and suppliers: upserts, soft deletes and the dirty marks they cause."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Table,
    select,
    update,
)
from sqlalchemy.orm import Session

from app.db import utcnow
from app.infra import bulk
from app.models import Product, Supplier, Variant
from app.queue import JobQueue
from app.services.catalog.common import (
    Acc,
    ApplyResult,
    count_row,
    mark,
    money,
)
from integrations.base import ProductRecord, VariantRecord

# ~1000 products per batch as the sync streams them, but a batch is also closed once it holds this
# many variants, so a few huge products cannot make one statement unbounded.
PRODUCT_BATCH = 1000
VARIANT_BATCH = 10_000

_PRODUCTS = cast(Table, Product.__table__)
_VARIANTS = cast(Table, Variant.__table__)
_SUPPLIERS = cast(Table, Supplier.__table__)

PRODUCT_FIELDS = (
    "title",
    "handle",
    "description",
    "vendor",
    "product_type",
    "kind",
    "image_url",
    "url",
    "status",
    "published",
    "collections",
    "tags",
    "supplier_id",
    "deleted_at",
)
# Product fields the recompute reads (publication, campaign collections, supplier lead time).
_PRODUCT_STOCK_FIELDS = ("published", "collections", "supplier_id", "deleted_at")
VARIANT_FIELDS = (
    "product_id",
    "inventory_item_external_id",
    "sku",
    "title",
    "options",
    "link_params",
    "price",
    "tracked",
    "inventory_policy",
    "backorder",
    "stock_from_parent",
    "published",
    "position",
    "image_url",
    "deleted_at",
)
# VariantRecord field names that differ from their column names.
_VARIANT_RECORD_COLUMNS = {"inventory_item_id": "inventory_item_external_id"}
_VARIANT_STOCK_FIELDS = ("product_id", "tracked", "inventory_policy", "backorder", "published", "price", "deleted_at")


def product_values(p: ProductRecord, supplier_id: int | None) -> dict[str, Any]:
    """The compared columns (``PRODUCT_FIELDS``) a product record sets."""
    return {
        "title": p.title,
        "handle": p.handle,
        "description": p.description,
        "vendor": p.vendor,
        "product_type": p.product_type,
        "kind": p.kind,
        "image_url": p.image_url,
        "url": p.url,
        "status": p.status,
        "published": p.published,
        "collections": list(p.collections),
        "tags": list(p.tags),
        "supplier_id": supplier_id,
        "deleted_at": None,
    }


def variant_values(v: VariantRecord, product_id: int) -> dict[str, Any]:
    """The compared columns (``VARIANT_FIELDS``) a variant record sets under its product."""
    return {
        "product_id": product_id,
        "inventory_item_external_id": v.inventory_item_id,
        "sku": v.sku,
        "title": v.title,
        "options": dict(v.options),
        "link_params": dict(v.link_params),
        "price": money(v.price),
        "tracked": v.tracked,
        "inventory_policy": v.inventory_policy,
        "backorder": v.backorder,
        "stock_from_parent": v.stock_from_parent,
        "published": v.published,
        "position": v.position,
        "image_url": v.image_url,
        "deleted_at": None,
    }


def _product_batches(products: Iterable[ProductRecord]) -> Iterator[list[ProductRecord]]:
    batch: list[ProductRecord] = []
    variants = 0
    for p in products:
        batch.append(p)
        variants += len(p.variants)
        if len(batch) >= PRODUCT_BATCH or variants >= VARIANT_BATCH:
            yield batch
            batch, variants = [], 0
    if batch:
        yield batch


def preserved_columns(preserve: Collection[str]) -> frozenset[str]:
    columns = frozenset(_VARIANT_RECORD_COLUMNS.get(name, name) for name in preserve)
    if not columns <= set(VARIANT_FIELDS) - {"product_id", "deleted_at"}:
        raise ValueError(f"cannot preserve variant fields {sorted(preserve)}")
    return columns


def apply_products(
    session: Session,
    jobs: JobQueue,
    store_id: int,
    products: Iterable[ProductRecord],
    *,
    preserve: Collection[str] = frozenset(),
) -> ApplyResult:
    """Upsert products and their variants; soft-delete variants missing from a product's full variant list."""
    # `preserve` names VariantRecord fields the payload does not really carry (Shopify product webhooks
    # have no tracking since API 2024-07): an existing variant keeps its stored value, a new one takes the record's.
    keep = preserved_columns(preserve)
    acc = Acc()
    for batch in _product_batches(products):
        _apply_product_batch(session, jobs, store_id, batch, acc, keep)
    return acc.result()


def apply_variants(
    session: Session,
    jobs: JobQueue,
    store_id: int,
    product_external_id: str,
    variants: Sequence[VariantRecord],
    *,
    preserve: Collection[str] = frozenset(),
) -> ApplyResult:
    """Upsert some variants of a known product without touching the product or its other variants."""
    keep = preserved_columns(preserve)  # as in apply_products
    product_id = session.execute(
        select(Product.id).where(Product.store_id == store_id, Product.external_id == product_external_id)
    ).scalar_one_or_none()
    acc = Acc()
    if product_id is None:
        acc.children.skipped_unknown += len(variants)
        return acc.result()
    carrier = ProductRecord(external_id=product_external_id, title="", variants=tuple(variants))
    _apply_variants(
        session,
        jobs,
        store_id,
        {product_external_id: carrier},
        {product_external_id: int(product_id)},
        set(),
        acc,
        utcnow(),
        keep,
        partial=True,
    )
    return acc.result()


def _supplier_ids(session: Session, store_id: int, names: set[str], now: datetime) -> dict[str, int]:
    names = {n[:255] for n in names if n}
    if not names:
        return {}
    rows = [
        {"store_id": store_id, "name": n, "lead_time_days": 14, "email": None, "created_at": now, "updated_at": now}
        for n in sorted(names)
    ]
    # A merchant's lead time on an existing supplier is theirs: only missing names are inserted.
    stmt = bulk.insert_for(session, _SUPPLIERS).on_conflict_do_nothing(index_elements=["store_id", "name"])
    session.execute(stmt, rows)
    found = bulk.select_in(
        session, select(Supplier.name, Supplier.id).where(Supplier.store_id == store_id), Supplier.name, names
    )
    return {str(r[0]): int(r[1]) for r in found}


def _apply_product_batch(
    session: Session, jobs: JobQueue, store_id: int, batch: list[ProductRecord], acc: Acc, keep: frozenset[str]
) -> None:
    now = utcnow()
    products = bulk.latest(batch, lambda p: p.external_id, lambda p: p.updated_at)
    suppliers = _supplier_ids(session, store_id, {p.supplier for p in products.values() if p.supplier}, now)
    old_products = {
        r.external_id: r
        for r in bulk.select_in(
            session,
            select(
                Product.id,
                Product.external_id,
                Product.external_updated_at,
                *(getattr(Product, f) for f in PRODUCT_FIELDS),
            ).where(Product.store_id == store_id),
            Product.external_id,
            products,
        )
    }

    rows: list[dict[str, Any]] = []
    applied: dict[str, ProductRecord] = {}
    for ext, p in products.items():
        old = old_products.get(ext)
        ts = bulk.utc(p.updated_at)
        if old is not None and bulk.stale(ts, old.external_updated_at):
            acc.top.skipped_stale += 1
            continue
        supplier_id = suppliers.get(p.supplier[:255]) if p.supplier else (old.supplier_id if old else None)
        row = {
            "store_id": store_id,
            "external_id": ext,
            **product_values(p, supplier_id),
            # No timestamp: keep the stored one so later stale checks still have a reference.
            "external_updated_at": ts if ts is not None else (old.external_updated_at if old else None),
            "created_at": now,
            "updated_at": now,
        }
        rows.append(bulk.fit(_PRODUCTS, row))
        applied[ext] = p
    written = {
        r.external_id: int(r.id)
        for r in bulk.upsert(
            session,
            _PRODUCTS,
            rows,
            keys=("store_id", "external_id"),
            compare=PRODUCT_FIELDS,
            returning=("id", "external_id"),
            watermark=True,
        )
    }
    product_ids: dict[str, int] = {}
    stock_changed: set[int] = set()
    for row in rows:
        ext = row["external_id"]
        old = old_products.get(ext)
        outcome = count_row(acc.top, old, row, ext in written, PRODUCT_FIELDS)
        if outcome == "skipped_stale":
            del applied[ext]
            continue
        product_ids[ext] = written[ext] if old is None else int(old.id)
        if old is not None and outcome == "updated" and bulk.differs(old, row, _PRODUCT_STOCK_FIELDS):
            stock_changed.add(int(old.id))

    _apply_variants(session, jobs, store_id, applied, product_ids, stock_changed, acc, now, keep)


_VARIANT_COLUMNS = (
    Variant.id,
    Variant.external_id,
    Variant.external_updated_at,
    *(getattr(Variant, f) for f in VARIANT_FIELDS),
)


def _apply_variants(
    session: Session,
    jobs: JobQueue,
    store_id: int,
    applied: dict[str, ProductRecord],
    product_ids: dict[str, int],
    stock_changed: set[int],
    acc: Acc,
    now: datetime,
    keep: frozenset[str],
    *,
    partial: bool = False,
) -> None:
    records = bulk.latest(
        ((v, p) for p in applied.values() for v in p.variants),
        lambda vp: vp[0].external_id,
        lambda vp: vp[0].updated_at or vp[1].updated_at,
    )
    base = select(*_VARIANT_COLUMNS).where(Variant.store_id == store_id)
    old_by_id = {int(r.id): r for r in bulk.select_in(session, base, Variant.external_id, records)}
    # The products' current variants too: to find those missing from the payload, and to mark a
    # product's variants dirty when a product-level stock input changed.
    old_by_id.update({int(r.id): r for r in bulk.select_in(session, base, Variant.product_id, product_ids.values())})
    old_by_ext = {r.external_id: r for r in old_by_id.values()}

    rows: list[dict[str, Any]] = []
    for ext, (v, p) in records.items():
        old = old_by_ext.get(ext)
        ts = bulk.utc(v.updated_at or p.updated_at)
        if old is not None and bulk.stale(ts, old.external_updated_at):
            acc.children.skipped_stale += 1
            continue
        row = {
            "store_id": store_id,
            "external_id": ext,
            **variant_values(v, product_ids[p.external_id]),
            "sellable_quantity": 0,
            "external_updated_at": ts if ts is not None else (old.external_updated_at if old else None),
            "created_at": now,
            "updated_at": now,
        }
        if old is not None:
            row.update({c: getattr(old, c) for c in keep})
        rows.append(bulk.fit(_VARIANTS, row))
    written = {
        r.external_id: int(r.id)
        for r in bulk.upsert(
            session,
            _VARIANTS,
            rows,
            keys=("store_id", "external_id"),
            # Preserved columns are left out of the update so they are never rewritten, even concurrently.
            compare=[f for f in VARIANT_FIELDS if f not in keep],
            returning=("id", "external_id"),
            watermark=True,
        )
    }
    dirty: set[int] = set()
    for row in rows:
        ext = row["external_id"]
        old = old_by_ext.get(ext)
        outcome = count_row(acc.children, old, row, ext in written, VARIANT_FIELDS)
        if outcome == "created" or (
            old is not None and outcome == "updated" and bulk.differs(old, row, _VARIANT_STOCK_FIELDS)
        ):
            dirty.add(written[ext])

    # A record listing variants is the product's full list; one with none carries only the product.
    # A partial list (one variation's own delivery) never says anything about its siblings.
    full = {} if partial else {product_ids[ext]: bulk.utc(p.updated_at) for ext, p in applied.items() if p.variants}
    missing = [
        int(old.id)
        for old in old_by_id.values()
        if old.product_id in full
        and old.deleted_at is None
        and old.external_id not in records
        and not bulk.stale(full[old.product_id], old.external_updated_at)
    ]
    deleted = _soft_delete_variants(session, store_id, missing, now)
    acc.children.deleted += len(deleted)
    dirty |= deleted

    if stock_changed:
        # Publication, collections or supplier of the product changed: every live variant is affected.
        dirty |= {int(o.id) for o in old_by_id.values() if o.product_id in stock_changed and o.deleted_at is None}
        dirty |= {
            written[r["external_id"]] for r in rows if r["product_id"] in stock_changed and r["external_id"] in written
        }
    mark(session, jobs, store_id, acc, dirty, "catalog")


def _soft_delete_variants(session: Session, store_id: int, ids: Sequence[int], at: datetime) -> set[int]:
    out: set[int] = set()
    for chunk in bulk.chunks(sorted(ids), bulk.IN_CHUNK):
        stmt = (
            update(_VARIANTS)
            .where(_VARIANTS.c.store_id == store_id, _VARIANTS.c.id.in_(chunk), _VARIANTS.c.deleted_at.is_(None))
            .values(deleted_at=at, updated_at=utcnow())
            .returning(_VARIANTS.c.id)
        )
        out |= {int(v) for v in session.execute(stmt).scalars()}
    return out


def delete_product(session: Session, jobs: JobQueue, store_id: int, external_id: str, at: datetime | None) -> bool:
    """Soft-delete a product and its variants; False when the product is unknown or the deletion is stale."""
    row = session.execute(
        select(Product.id, Product.deleted_at, Product.external_updated_at).where(
            Product.store_id == store_id, Product.external_id == external_id
        )
    ).one_or_none()
    if row is None:
        return False
    when = bulk.utc(at) or utcnow()
    if bulk.stale(when, row.external_updated_at):
        return False
    if row.deleted_at is None:
        # The deletion time becomes the watermark, so a late products/update cannot resurrect it.
        session.execute(
            update(_PRODUCTS)
            .where(_PRODUCTS.c.store_id == store_id, _PRODUCTS.c.id == row.id, _PRODUCTS.c.deleted_at.is_(None))
            .values(deleted_at=when, external_updated_at=when, updated_at=utcnow())
        )
    stmt = (
        update(_VARIANTS)
        .where(_VARIANTS.c.store_id == store_id, _VARIANTS.c.product_id == row.id, _VARIANTS.c.deleted_at.is_(None))
        .values(deleted_at=when, updated_at=utcnow())
        .returning(_VARIANTS.c.id)
    )
    ids = {int(v) for v in session.execute(stmt).scalars()}
    mark(session, jobs, store_id, Acc(), ids, "product_deleted")
    return True
