"""Whether current-state catalog records would change anything stored, read without writing.

A platform sends a product delivery for every save of the product, including the saves our own storefront
write-back makes (WooCommerce product meta, Shopify metafields). Such a delivery carries exactly what is stored
already, with only a newer modification time. Applying it would rewrite rows for their watermark alone; a handler
asks here first and skips it. The comparison covers every column the apply functions compare, so a delivery found
unchanged is one whose apply would have marked nothing dirty and changed no figure.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Row, Table, select
from sqlalchemy.orm import Session

from app.infra import bulk
from app.models import InventoryLevel, Location, Product, Supplier, Variant
from app.services.catalog.products import (
    PRODUCT_FIELDS,
    VARIANT_FIELDS,
    preserved_columns,
    product_values,
    variant_values,
)
from integrations.base import InventoryRecord, ProductRecord, VariantRecord

_PRODUCTS = cast(Table, Product.__table__)
_VARIANTS = cast(Table, Variant.__table__)


def catalog_unchanged(
    session: Session,
    store_id: int,
    *,
    products: Sequence[ProductRecord] = (),
    variants: Sequence[tuple[str, VariantRecord]] = (),
    levels: Iterable[InventoryRecord] = (),
    preserve: Collection[str] = frozenset(),
) -> bool:
    """True when applying these records would change no stored value (only their modification time is newer).

    ``products`` are applied as apply_products would (a record listing variants is the full list), ``variants``
    as apply_variants would (``(parent external id, variant)``, a partial list), ``levels`` keyed by variant.
    Anything unknown (a new product, variant, location or level) counts as a change.
    """
    keep = preserved_columns(preserve)
    return (
        all(_product_unchanged(session, store_id, p, keep) for p in products)
        and all(_variant_unchanged(session, store_id, parent, v, keep) for parent, v in variants)
        and _levels_unchanged(session, store_id, list(levels))
    )


def same_product_state(a: ProductRecord, b: ProductRecord, preserve: Collection[str] = frozenset()) -> bool:
    """Whether applying ``b`` right after ``a`` would change no stored value: every compared column is equal as
    stored (cut to its column), a supplier ``b`` does not name keeps ``a``'s, and so do preserved variant fields."""
    keep = preserved_columns(preserve)

    def compared(p: ProductRecord, supplier: str | None) -> tuple[dict[str, Any], str | None, dict[str, Any]]:
        # Both rows would get the same ids, so the product's and the supplier's are left out (the name stands in).
        variants = {
            v.external_id: {k: val for k, val in bulk.fit(_VARIANTS, variant_values(v, 0)).items() if k not in keep}
            for v in p.variants
        }
        return bulk.fit(_PRODUCTS, product_values(p, None)), supplier, variants

    return compared(a, a.supplier) == compared(b, b.supplier or a.supplier)


def unchanged_products(
    session: Session, store_id: int, products: Sequence[ProductRecord], preserve: Collection[str] = frozenset()
) -> set[str]:
    """External ids of the products (distinct) whose apply would change nothing: catalog_unchanged for each, with the
    stored rows read in three queries instead of three per product (a webhook batch checks hundreds)."""
    keep = preserved_columns(preserve)
    olds = {
        str(r.external_id): r
        for r in bulk.select_in(
            session,
            select(Product.id, Product.external_id, *(getattr(Product, f) for f in PRODUCT_FIELDS)).where(
                Product.store_id == store_id
            ),
            Product.external_id,
            {p.external_id for p in products},
        )
    }
    names = {p.supplier[:255] for p in products if p.supplier}
    suppliers = {
        str(r[0]): int(r[1])
        for r in bulk.select_in(
            session, select(Supplier.name, Supplier.id).where(Supplier.store_id == store_id), Supplier.name, names
        )
    }
    stored: dict[int, dict[str, Row[Any]]] = {}
    for r in bulk.select_in(
        session,
        select(Variant.external_id, *(getattr(Variant, f) for f in VARIANT_FIELDS)).where(Variant.store_id == store_id),
        Variant.product_id,
        {int(o.id) for o in olds.values()},
    ):
        stored.setdefault(int(r.product_id), {})[str(r.external_id)] = r
    out: set[str] = set()
    for p in products:
        old = olds.get(p.external_id)
        if old is None:
            continue
        supplier_id = old.supplier_id
        if p.supplier:
            supplier_id = suppliers.get(p.supplier[:255])
            if supplier_id is None:
                continue
        if _product_same(old, p, supplier_id, stored.get(int(old.id), {}), keep):
            out.add(p.external_id)
    return out


def _product_same(
    old: Row[Any], p: ProductRecord, supplier_id: int | None, stored: dict[str, Row[Any]], keep: frozenset[str]
) -> bool:
    row = bulk.fit(_PRODUCTS, product_values(p, supplier_id))
    if bulk.differs(old, row, PRODUCT_FIELDS):
        return False
    if p.variants:
        # The full list: a live variant it no longer names would be deleted.
        named = {v.external_id for v in p.variants}
        if any(ext not in named and r.deleted_at is None for ext, r in stored.items()):
            return False
    return all(_same_variant(stored.get(v.external_id), v, int(old.id), keep) for v in p.variants)


def _product_unchanged(session: Session, store_id: int, p: ProductRecord, keep: frozenset[str]) -> bool:
    old = session.execute(
        select(Product.id, *(getattr(Product, f) for f in PRODUCT_FIELDS)).where(
            Product.store_id == store_id, Product.external_id == p.external_id
        )
    ).one_or_none()
    if old is None:
        return False
    supplier_id = old.supplier_id
    if p.supplier:
        supplier_id = session.execute(
            select(Supplier.id).where(Supplier.store_id == store_id, Supplier.name == p.supplier[:255])
        ).scalar_one_or_none()
        if supplier_id is None:
            return False
    stored = {
        r.external_id: r
        for r in session.execute(
            select(Variant.external_id, *(getattr(Variant, f) for f in VARIANT_FIELDS)).where(
                Variant.store_id == store_id, Variant.product_id == old.id
            )
        )
    }
    return _product_same(old, p, supplier_id, stored, keep)


def _variant_unchanged(session: Session, store_id: int, parent: str, v: VariantRecord, keep: frozenset[str]) -> bool:
    old = session.execute(
        select(Variant.external_id, *(getattr(Variant, f) for f in VARIANT_FIELDS))
        .join(Product, Product.id == Variant.product_id)
        .where(Variant.store_id == store_id, Variant.external_id == v.external_id, Product.external_id == parent)
    ).one_or_none()
    return old is not None and _same_variant(old, v, int(old.product_id), keep)


def _same_variant(old: Row[Any] | None, v: VariantRecord, product_id: int, keep: frozenset[str]) -> bool:
    if old is None:
        return False
    row = bulk.fit(_VARIANTS, variant_values(v, product_id))
    # Fields the payload does not really carry keep their stored value when applied: not a change.
    return not bulk.differs(old, row, [f for f in VARIANT_FIELDS if f not in keep])


def _levels_unchanged(session: Session, store_id: int, levels: list[InventoryRecord]) -> bool:
    if not levels:
        return True
    stored = {
        (str(r.external_id), str(r.location)): (r.available, r.on_hand)
        for r in bulk.select_in(
            session,
            select(
                Variant.external_id,
                Location.external_id.label("location"),
                InventoryLevel.available,
                InventoryLevel.on_hand,
            )
            .join(InventoryLevel, InventoryLevel.variant_id == Variant.id)
            .join(Location, Location.id == InventoryLevel.location_id)
            .where(Variant.store_id == store_id),
            Variant.external_id,
            {lv.variant_external_id for lv in levels},
        )
    }
    for lv in levels:
        found = stored.get((lv.variant_external_id, lv.location_external_id))
        # An absent on_hand keeps the stored one when applied (Shopify level webhooks carry `available` only).
        if found is None or found[0] != lv.available or (lv.on_hand is not None and found[1] != lv.on_hand):
            return False
    return True
