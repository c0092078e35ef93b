"""The catalog apply service on real PostgreSQL: upserts, stale payloads, replays, deletions, inventory,
orders with refunds, store isolation and a large product; one run on SQLite for the embedded default."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from app import job_specs
from app.db import Database
from app.infra import bulk
from app.models import (
    DirtyVariant,
    InventoryLevel,
    Location,
    Order,
    OrderLine,
    Product,
    Refund,
    RefundLine,
    Supplier,
    Variant,
)
from app.services import catalog
from app.services.catalog import ApplyResult, Counts
from app.services.catalog import products as catalog_products
from integrations.base import (
    InventoryRecord,
    LocationRecord,
    OrderLineRecord,
    OrderRecord,
    ProductRecord,
    RefundLineRecord,
    RefundRecord,
    VariantRecord,
)
from tests.factories import RecordingQueue, make_store

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(hours=2)
T3 = T0 + timedelta(hours=3)


def variant(ext: str, **kw: Any) -> VariantRecord:
    values: dict[str, Any] = {"sku": f"SKU-{ext}", "title": f"Variant {ext}", "price": Decimal("19.90")}
    values.update(kw)
    return VariantRecord(external_id=ext, **values)


def product(
    ext: str = "p1", variants: tuple[VariantRecord, ...] = (), at: datetime | None = T1, **kw: Any
) -> ProductRecord:
    values: dict[str, Any] = {"title": f"Product {ext}", "handle": f"product-{ext}"}
    values.update(kw)
    return ProductRecord(external_id=ext, updated_at=at, variants=variants, **values)


def new_store(db: Database) -> int:
    with db.session() as s:
        return make_store(s).id


def run(db: Database, fn: Callable[..., Any], *args: Any, **kw: Any) -> tuple[Any, RecordingQueue]:
    """Call a service function in its own committed session; the queue holds what was enqueued after commit."""
    queue = RecordingQueue()
    with db.session() as s:
        result = fn(s, queue, *args, **kw)
    return result, queue


def variants_by_ext(db: Database, store_id: int) -> dict[str, Variant]:
    with db.session() as s:
        return {v.external_id: v for v in s.scalars(select(Variant).where(Variant.store_id == store_id))}


def dirty(db: Database, store_id: int) -> set[str]:
    """External ids of the store's dirty variants."""
    with db.session() as s:
        rows = s.scalars(
            select(Variant.external_id)
            .join(DirtyVariant, DirtyVariant.variant_id == Variant.id)
            .where(DirtyVariant.store_id == store_id)
        )
        return set(rows)


def clear_dirty(db: Database) -> None:
    with db.session() as s:
        s.execute(delete(DirtyVariant))


def count(db: Database, model: Any, store_id: int) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(model.store_id == store_id)) or 0)


# --------------------------------------------------------------------------------------------------
# Products and variants


def test_create_then_update_products_and_variants(db: Database) -> None:
    sid = new_store(db)
    p = product(
        "p1",
        (
            variant("v1", inventory_item_id="ii1", options={"Size": "S"}, position=1),
            variant("v2", inventory_item_id="ii2", options={"Size": "M"}, position=2, tracked=False),
        ),
        vendor="Acme",
        collections=("summer",),
        tags=("new", "cotton"),
        supplier="Acme Mills",
    )
    result, queue = run(db, catalog.apply_products, sid, [p])
    assert result == ApplyResult(created=1, dirty=2, children=Counts(created=2))
    assert queue.specs == [job_specs.recompute_dirty(sid)]
    assert dirty(db, sid) == {"v1", "v2"}
    with db.session() as s:
        prod = s.scalars(select(Product).where(Product.store_id == sid)).one()
        supplier = s.scalars(select(Supplier).where(Supplier.store_id == sid)).one()
        assert (prod.title, prod.handle, prod.vendor, prod.collections, prod.tags) == (
            "Product p1",
            "product-p1",
            "Acme",
            ["summer"],
            ["new", "cotton"],
        )
        assert (supplier.name, supplier.lead_time_days, prod.supplier_id) == ("Acme Mills", 14, supplier.id)
        assert prod.external_updated_at == T1
        assert prod.deleted_at is None
    vs = variants_by_ext(db, sid)
    assert vs["v1"].inventory_item_external_id == "ii1"
    assert vs["v1"].price == Decimal("19.90")
    assert vs["v1"].options == {"Size": "S"}
    assert (vs["v2"].tracked, vs["v2"].position, vs["v2"].product_id) == (False, 2, vs["v1"].product_id)
    assert vs["v1"].external_updated_at == T1

    clear_dirty(db)
    # v1: price changes (stock input); v2: only its SKU changes (not a stock input).
    p2 = product(
        "p1",
        (
            variant("v1", inventory_item_id="ii1", options={"Size": "S"}, position=1, price=Decimal("24.5")),
            variant("v2", inventory_item_id="ii2", options={"Size": "M"}, position=2, tracked=False, sku="NEW-SKU"),
        ),
        at=T2,
        title="Renamed",
        vendor="Acme",
        collections=("summer",),
        tags=("new", "cotton"),
        supplier="Acme Mills",
    )
    result, queue = run(db, catalog.apply_products, sid, [p2])
    assert result == ApplyResult(updated=1, dirty=1, children=Counts(updated=2))
    assert dirty(db, sid) == {"v1"}
    vs = variants_by_ext(db, sid)
    assert (vs["v1"].price, vs["v2"].sku, vs["v1"].external_updated_at) == (Decimal("24.50"), "NEW-SKU", T2)
    with db.session() as s:
        assert s.scalars(select(Product.title).where(Product.store_id == sid)).one() == "Renamed"
        assert s.scalar(select(func.count()).select_from(Supplier)) == 1


def test_product_level_publication_marks_every_variant_dirty(db: Database) -> None:
    sid = new_store(db)
    vs = (variant("v1"), variant("v2"))
    run(db, catalog.apply_products, sid, [product("p1", vs)])
    clear_dirty(db)
    result, _ = run(db, catalog.apply_products, sid, [product("p1", vs, at=T2, published=False)])
    # The variants' own values did not change (only their watermark moved): unchanged, yet dirty.
    assert result == ApplyResult(updated=1, dirty=2, children=Counts(unchanged=2))
    assert dirty(db, sid) == {"v1", "v2"}


def test_stale_update_is_skipped_and_marks_nothing(db: Database) -> None:
    sid = new_store(db)
    run(db, catalog.apply_products, sid, [product("p1", (variant("v1"),), at=T2)])
    clear_dirty(db)

    older = product("p1", (variant("v1", price=Decimal("1.00"), tracked=False),), at=T1, title="Old title")
    result, queue = run(db, catalog.apply_products, sid, [older])
    assert result == ApplyResult(skipped_stale=1)
    assert queue.specs == []
    assert dirty(db, sid) == set()
    v = variants_by_ext(db, sid)["v1"]
    assert (v.price, v.tracked, v.external_updated_at) == (Decimal("19.90"), True, T2)
    with db.session() as s:
        assert s.scalars(select(Product.title).where(Product.store_id == sid)).one() == "Product p1"

    # A variant carrying its own older timestamp is skipped even when its product applies.
    newer_product = product("p1", (variant("v1", price=Decimal("2.00"), updated_at=T1),), at=T3, title="New title")
    result, _ = run(db, catalog.apply_products, sid, [newer_product])
    assert result == ApplyResult(updated=1, children=Counts(skipped_stale=1))
    assert variants_by_ext(db, sid)["v1"].price == Decimal("19.90")

    # Equal timestamps apply: the same moment described twice is the same current state.
    same_time = product("p1", (variant("v1", price=Decimal("3.00"), updated_at=T2),), at=T3, title="New title")
    result, _ = run(db, catalog.apply_products, sid, [same_time])
    assert result == ApplyResult(unchanged=1, dirty=1, children=Counts(updated=1))
    assert variants_by_ext(db, sid)["v1"].price == Decimal("3.00")


def test_preserved_fields_keep_stored_values_on_existing_variants(db: Database) -> None:
    """Shopify product webhooks carry no tracking: the stored value stays, a new variant takes the default."""
    sid = new_store(db)
    run(db, catalog.apply_products, sid, [product("p1", (variant("v1", tracked=False),))])
    clear_dirty(db)
    webhook = product("p1", (variant("v1", price=Decimal("21.00")), variant("v2")), at=T2)
    result, _ = run(db, catalog.apply_products, sid, [webhook], preserve=frozenset({"tracked"}))
    assert result == ApplyResult(unchanged=1, dirty=2, children=Counts(created=1, updated=1))
    vs = variants_by_ext(db, sid)
    assert (vs["v1"].tracked, vs["v1"].price, vs["v2"].tracked) == (False, Decimal("21.00"), True)
    with db.session() as s, pytest.raises(ValueError):
        catalog.apply_products(s, RecordingQueue(), sid, [webhook], preserve={"deleted_at"})


def test_awkward_text_and_json_round_trip_and_long_text_is_clipped(db: Database) -> None:
    sid = new_store(db)
    options = {"Size": 'He said "hi", {x}', "Note": "back\\slash, é ☃", "Empty": ""}
    rec = product(
        "p1",
        (variant("v1", options=options, image_url=None, sku='a,"b"}{'),),
        title="T" * 600,
        tags=("a,b", '"q"', "NULL"),
        description="line1\nline2\ttab",
    )
    result, _ = run(db, catalog.apply_products, sid, [rec])
    assert result == ApplyResult(created=1, dirty=1, children=Counts(created=1))
    v = variants_by_ext(db, sid)["v1"]
    assert (v.options, v.sku, v.image_url) == (options, 'a,"b"}{', None)
    with db.session() as s:
        prod = s.scalars(select(Product).where(Product.store_id == sid)).one()
        assert (prod.title, prod.tags, prod.description) == ("T" * 500, ["a,b", '"q"', "NULL"], "line1\nline2\ttab")
    # The clipped title compares equal on replay: nothing rewritten.
    assert run(db, catalog.apply_products, sid, [rec])[0] == ApplyResult(unchanged=1, children=Counts(unchanged=1))


def test_stale_guard_is_enforced_in_sql(db: Database) -> None:
    """Even if a concurrent worker wrote newer state after our read, the upsert's WHERE refuses older rows."""
    sid = new_store(db)
    run(db, catalog.apply_products, sid, [product("p1", at=T2)])
    row = {
        "store_id": sid,
        "external_id": "p1",
        "title": "stale",
        "handle": "",
        "description": "",
        "vendor": "",
        "product_type": "",
        "kind": "simple",
        "image_url": None,
        "url": None,
        "status": "active",
        "published": True,
        "collections": [],
        "tags": [],
        "supplier_id": None,
        "external_updated_at": T1,
        "deleted_at": None,
        "created_at": T1,
        "updated_at": T1,
    }
    with db.session() as s:
        written = bulk.upsert(
            s,
            catalog_products._PRODUCTS,
            [row],
            keys=("store_id", "external_id"),
            compare=catalog_products.PRODUCT_FIELDS,
            returning=("id",),
            watermark=True,
        )
        assert written == []
        written = bulk.upsert(
            s,
            catalog_products._PRODUCTS,
            [{**row, "external_updated_at": T3}],
            keys=("store_id", "external_id"),
            compare=catalog_products.PRODUCT_FIELDS,
            returning=("id",),
            watermark=True,
        )
        assert len(written) == 1
    with db.session() as s:
        assert s.scalars(select(Product.title).where(Product.store_id == sid)).one() == "stale"


def test_replay_changes_nothing_and_marks_nothing_dirty(db: Database) -> None:
    sid = new_store(db)
    records = [
        product("p1", (variant("v1", inventory_item_id="ii1"), variant("v2")), supplier="Acme"),
        product("p2", (variant("v3"),), at=None),
    ]
    first, _ = run(db, catalog.apply_products, sid, records)
    assert first == ApplyResult(created=2, dirty=3, children=Counts(created=3))
    before = variants_by_ext(db, sid)
    clear_dirty(db)

    second, queue = run(db, catalog.apply_products, sid, records)
    assert second == ApplyResult(unchanged=2, children=Counts(unchanged=3))
    assert queue.specs == []
    assert dirty(db, sid) == set()
    after = variants_by_ext(db, sid)
    # Not even rewritten: the application's updated_at did not move.
    assert {k: v.updated_at for k, v in after.items()} == {k: v.updated_at for k, v in before.items()}


def test_variant_missing_from_full_record_is_soft_deleted_then_undeleted(db: Database) -> None:
    sid = new_store(db)
    run(db, catalog.apply_products, sid, [product("p1", (variant("v1"), variant("v2")))])
    clear_dirty(db)

    result, _ = run(db, catalog.apply_products, sid, [product("p1", (variant("v1"),), at=T2)])
    assert result == ApplyResult(unchanged=1, dirty=1, children=Counts(unchanged=1, deleted=1))
    vs = variants_by_ext(db, sid)
    assert vs["v1"].deleted_at is None
    assert vs["v2"].deleted_at is not None
    assert dirty(db, sid) == {"v2"}

    # A record without variants carries the product only: its variants are left alone.
    clear_dirty(db)
    result, _ = run(db, catalog.apply_products, sid, [product("p1", (), at=T2, title="Only the product")])
    assert result == ApplyResult(updated=1)
    assert variants_by_ext(db, sid)["v1"].deleted_at is None

    result, _ = run(db, catalog.apply_products, sid, [product("p1", (variant("v1"), variant("v2")), at=T3)])
    assert result == ApplyResult(updated=1, dirty=1, children=Counts(updated=1, unchanged=1))
    assert variants_by_ext(db, sid)["v2"].deleted_at is None
    assert dirty(db, sid) == {"v2"}


def test_delete_product(db: Database) -> None:
    sid = new_store(db)
    run(db, catalog.apply_products, sid, [product("p1", (variant("v1"), variant("v2")), at=T1)])
    clear_dirty(db)

    deleted, queue = run(db, catalog.delete_product, sid, "p1", T2)
    assert deleted is True
    assert queue.specs == [job_specs.recompute_dirty(sid)]
    assert dirty(db, sid) == {"v1", "v2"}
    with db.session() as s:
        prod = s.scalars(select(Product).where(Product.store_id == sid)).one()
        assert (prod.deleted_at, prod.external_updated_at) == (T2, T2)
    assert {v.deleted_at for v in variants_by_ext(db, sid).values()} == {T2}

    clear_dirty(db)
    again, queue = run(db, catalog.delete_product, sid, "p1", T2)
    assert again is True
    assert queue.specs == []
    assert dirty(db, sid) == set()

    # A products/update older than the deletion, delivered late, does not resurrect the product.
    result, _ = run(db, catalog.apply_products, sid, [product("p1", (variant("v1"),), at=T1)])
    assert result == ApplyResult(skipped_stale=1)
    with db.session() as s:
        assert s.scalars(select(Product.deleted_at).where(Product.store_id == sid)).one() == T2

    unknown, queue = run(db, catalog.delete_product, sid, "nope", None)
    assert unknown is False
    assert queue.specs == []


# --------------------------------------------------------------------------------------------------
# Locations and inventory


def _catalog_with_items(db: Database, sid: int) -> None:
    run(
        db,
        catalog.apply_products,
        sid,
        [product("p1", (variant("v1", inventory_item_id="ii1"), variant("v2", inventory_item_id="ii2")))],
    )
    clear_dirty(db)


def test_inventory_by_variant_sums_two_locations(db: Database) -> None:
    sid = new_store(db)
    _catalog_with_items(db, sid)
    loc_result, _ = run(db, catalog.apply_locations, sid, [LocationRecord("L1", "Warehouse")])
    assert loc_result == ApplyResult(created=1)

    levels = [
        InventoryRecord("v1", "L1", 3, on_hand=5, updated_at=T1),
        InventoryRecord("v1", "L2", 4, updated_at=T1),  # L2 is unknown: created, unnamed
        InventoryRecord("v2", "L1", 0, updated_at=T1),
    ]
    result, queue = run(db, catalog.apply_inventory, sid, levels)
    assert result == ApplyResult(created=3, dirty=1)
    assert queue.specs == [job_specs.recompute_dirty(sid)]
    vs = variants_by_ext(db, sid)
    assert (vs["v1"].sellable_quantity, vs["v2"].sellable_quantity) == (7, 0)
    assert dirty(db, sid) == {"v1"}
    with db.session() as s:
        names = dict(s.execute(select(Location.external_id, Location.name).where(Location.store_id == sid)).all())
        assert names == {"L1": "Warehouse", "L2": ""}

    clear_dirty(db)
    replay, queue = run(db, catalog.apply_inventory, sid, levels)
    assert replay == ApplyResult(unchanged=3)
    assert queue.specs == []

    # Older level skipped; a newer one without on_hand keeps the stored on_hand.
    result, _ = run(
        db,
        catalog.apply_inventory,
        sid,
        [InventoryRecord("v1", "L1", 100, updated_at=T0), InventoryRecord("v1", "L1", 1, updated_at=T2)],
    )
    assert result == ApplyResult(updated=1, dirty=1)
    result, _ = run(db, catalog.apply_inventory, sid, [InventoryRecord("v1", "L1", 100, updated_at=T0)])
    assert result == ApplyResult(skipped_stale=1)
    assert variants_by_ext(db, sid)["v1"].sellable_quantity == 5
    with db.session() as s:
        level = s.execute(
            select(InventoryLevel.available, InventoryLevel.on_hand, InventoryLevel.external_updated_at)
            .join(Location, Location.id == InventoryLevel.location_id)
            .join(Variant, Variant.id == InventoryLevel.variant_id)
            .where(Variant.external_id == "v1", Location.external_id == "L1", Variant.store_id == sid)
        ).one()
        assert tuple(level) == (1, 5, T2)

    # Turning a location inactive takes its stock out of the sellable sum.
    clear_dirty(db)
    result, _ = run(db, catalog.apply_locations, sid, [LocationRecord("L2", "", active=False)])
    assert result == ApplyResult(updated=1, dirty=1)
    assert variants_by_ext(db, sid)["v1"].sellable_quantity == 1
    assert dirty(db, sid) == {"v1"}


def _incoming(db: Database, sid: int) -> dict[tuple[str, str], int | None]:
    with db.session() as s:
        rows = s.execute(
            select(Variant.external_id, Location.external_id, InventoryLevel.incoming)
            .join(Variant, Variant.id == InventoryLevel.variant_id)
            .join(Location, Location.id == InventoryLevel.location_id)
            .where(InventoryLevel.store_id == sid)
        ).all()
    return {(v, loc): n for v, loc, n in rows}


def test_incoming_is_stored_kept_when_absent_and_marks_its_variant(db: Database) -> None:
    sid = new_store(db)
    _catalog_with_items(db, sid)
    # A sync reads Shopify's "incoming" quantity: 12 on their way to L1, none to L2.
    result, _ = run(
        db,
        catalog.apply_inventory,
        sid,
        [InventoryRecord("v1", "L1", 0, on_hand=0, updated_at=T1, incoming=12), InventoryRecord("v1", "L2", 0)],
    )
    assert result == ApplyResult(created=2, dirty=1)
    assert _incoming(db, sid) == {("v1", "L1"): 12, ("v1", "L2"): None}
    clear_dirty(db)
    # A level webhook carries `available` only: the stored incoming stays, and nothing is marked.
    result, _ = run(db, catalog.apply_inventory, sid, [InventoryRecord("v1", "L1", 0, updated_at=T2)])
    assert result == ApplyResult(unchanged=1)
    assert _incoming(db, sid)[("v1", "L1")] == 12
    assert dirty(db, sid) == set()
    # Only the incoming quantity changes (the stock arrived elsewhere, sellable stays 0): the variant is recomputed.
    result, _ = run(
        db,
        catalog.apply_inventory,
        sid,
        [InventoryRecord("v1", "L1", 0, updated_at=T2 + timedelta(hours=1), incoming=0)],
    )
    assert result == ApplyResult(updated=1, dirty=1)
    assert dirty(db, sid) == {"v1"}
    assert variants_by_ext(db, sid)["v1"].sellable_quantity == 0


def test_inventory_by_inventory_item_with_null_available(db: Database) -> None:
    sid = new_store(db)
    _catalog_with_items(db, sid)
    result, _ = run(
        db,
        catalog.apply_inventory,
        sid,
        [
            InventoryRecord("ii1", "L1", 6, updated_at=T1),
            InventoryRecord("ii2", "L1", None, updated_at=T1),  # tracking off: Shopify sends null
            InventoryRecord("ii-unknown", "L1", 9, updated_at=T1),
            InventoryRecord("v1", "L1", 9, updated_at=T1),  # a variant id is not an inventory item id
        ],
        key="inventory_item",
    )
    assert result == ApplyResult(created=2, skipped_unknown=2, dirty=1)
    vs = variants_by_ext(db, sid)
    assert (vs["v1"].sellable_quantity, vs["v2"].sellable_quantity) == (6, 0)
    with db.session() as s:
        levels = dict(
            s.execute(
                select(Variant.external_id, InventoryLevel.available)
                .join(Variant, Variant.id == InventoryLevel.variant_id)
                .where(InventoryLevel.store_id == sid)
            ).all()
        )
        assert levels == {"v1": 6, "v2": None}

    clear_dirty(db)
    result, _ = run(
        db, catalog.apply_inventory, sid, [InventoryRecord("ii1", "L1", None, updated_at=T2)], key="inventory_item"
    )
    assert result == ApplyResult(updated=1, dirty=1)
    assert variants_by_ext(db, sid)["v1"].sellable_quantity == 0


def test_set_tracking(db: Database) -> None:
    sid = new_store(db)
    _catalog_with_items(db, sid)
    changed, queue = run(db, catalog.set_tracking, sid, "ii1", False, T2)
    assert changed == 1
    assert queue.specs == [job_specs.recompute_dirty(sid)]
    assert dirty(db, sid) == {"v1"}
    vs = variants_by_ext(db, sid)
    assert (vs["v1"].tracked, vs["v2"].tracked) == (False, True)

    clear_dirty(db)
    again, queue = run(db, catalog.set_tracking, sid, "ii1", False, T2)
    assert (again, queue.specs) == (0, [])
    # Older than the variant's own payload: ignored.
    stale, _ = run(db, catalog.set_tracking, sid, "ii1", True, T0)
    assert stale == 0
    assert variants_by_ext(db, sid)["v1"].tracked is False


# --------------------------------------------------------------------------------------------------
# Orders and refunds


def _order(at: datetime = T1, ext: str = "o1", **kw: Any) -> OrderRecord:
    values: dict[str, Any] = {
        "name": "#1001",
        "email": "  Ann@Example.COM ",
        "total": Decimal("59.7"),
        "financial_status": "paid",
        "lines": (
            OrderLineRecord("l1", "v1", 3, price=Decimal("19.90"), sku="SKU-v1"),
            OrderLineRecord("l2", "v2", 2, price=Decimal("19.90"), sku="SKU-v2"),
            OrderLineRecord("l3", "gone", 1, sku="OLD"),
        ),
        "refunds": (RefundRecord("r1", T1, (RefundLineRecord("l1", 1, restock=True),), note="damaged"),),
    }
    values.update(kw)
    return OrderRecord(external_id=ext, ordered_at=T0, updated_at=at, **values)


def lines(db: Database, store_id: int) -> dict[str, tuple[Any, ...]]:
    """external id → (variant external id, quantity, refunded_quantity, cancelled, ordered_at)."""
    with db.session() as s:
        rows = s.execute(
            select(
                OrderLine.external_id,
                Variant.external_id,
                OrderLine.quantity,
                OrderLine.refunded_quantity,
                OrderLine.cancelled,
                OrderLine.ordered_at,
            )
            .outerjoin(Variant, Variant.id == OrderLine.variant_id)
            .where(OrderLine.store_id == store_id)
        )
        return {r[0]: tuple(r[1:]) for r in rows}


def test_orders_lines_cancellation_and_refunds(db: Database) -> None:
    sid = new_store(db)
    _catalog_with_items(db, sid)

    result, queue = run(db, catalog.apply_orders, sid, [_order()])
    assert result == ApplyResult(created=1, dirty=2, children=Counts(created=3), refunds=1)
    assert queue.specs == [job_specs.recompute_dirty(sid)]
    assert dirty(db, sid) == {"v1", "v2"}
    assert lines(db, sid) == {
        "l1": ("v1", 3, 1, False, T0),
        "l2": ("v2", 2, 0, False, T0),
        "l3": (None, 1, 0, False, T0),
    }
    with db.session() as s:
        order = s.scalars(select(Order).where(Order.store_id == sid)).one()
        assert (order.email, order.total, order.status, order.external_updated_at) == (
            "ann@example.com",
            Decimal("59.70"),
            "open",
            T1,
        )
        refund = s.scalars(select(Refund).where(Refund.store_id == sid)).one()
        assert (refund.note, refund.refunded_at) == ("damaged", T1)
        assert s.execute(select(RefundLine.quantity, RefundLine.restock)).one() == (1, True)

    clear_dirty(db)
    replay, queue = run(db, catalog.apply_orders, sid, [_order()])
    assert replay == ApplyResult(unchanged=1, children=Counts(unchanged=3))
    assert queue.specs == []
    assert lines(db, sid)["l1"][2] == 1

    # Later: a second refund (the same line split over two entries) and a cancellation.
    cancelled = _order(
        at=T2,
        cancelled_at=T2,
        financial_status="refunded",
        refunds=(
            RefundRecord("r1", T1, (RefundLineRecord("l1", 1, restock=True),), note="damaged"),
            RefundRecord("r2", T2, (RefundLineRecord("l1", 1), RefundLineRecord("l1", 1))),
        ),
    )
    result, _ = run(db, catalog.apply_orders, sid, [cancelled])
    assert result == ApplyResult(updated=1, dirty=2, children=Counts(updated=3), refunds=1)
    assert lines(db, sid) == {
        "l1": ("v1", 3, 3, True, T0),
        "l2": ("v2", 2, 0, True, T0),
        "l3": (None, 1, 0, True, T0),
    }
    with db.session() as s:
        assert s.scalars(select(Order.status).where(Order.store_id == sid)).one() == "cancelled"

    # refunds/create for an existing order; its replay does not double count.
    clear_dirty(db)
    r3 = RefundRecord("r3", T3, (RefundLineRecord("l2", 2),))
    applied, queue = run(db, catalog.apply_refund, sid, "o1", r3)
    assert applied is True
    assert queue.specs == [job_specs.recompute_dirty(sid)]
    assert dirty(db, sid) == {"v2"}
    clear_dirty(db)
    applied, queue = run(db, catalog.apply_refund, sid, "o1", r3)
    assert (applied, queue.specs) == (True, [])
    assert lines(db, sid)["l2"][2] == 2
    assert count(db, Refund, sid) == 3

    # The original payload delivered late is stale: no un-cancel, refunds stay.
    result, _ = run(db, catalog.apply_orders, sid, [_order()])
    assert result == ApplyResult(skipped_stale=1)
    assert lines(db, sid)["l1"] == ("v1", 3, 3, True, T0)


def test_order_line_resolves_variant_synced_later(db: Database) -> None:
    sid = new_store(db)
    order = _order(refunds=())
    run(db, catalog.apply_orders, sid, [order])
    assert lines(db, sid)["l1"][0] is None
    _catalog_with_items(db, sid)
    result, _ = run(db, catalog.apply_orders, sid, [order])
    assert result == ApplyResult(unchanged=1, dirty=2, children=Counts(updated=2, unchanged=1))
    assert lines(db, sid)["l1"][0] == "v1"


def test_apply_refund_for_unknown_order_writes_nothing(db: Database) -> None:
    sid = new_store(db)
    applied, queue = run(db, catalog.apply_refund, sid, "o-missing", RefundRecord("r9", T1))
    assert applied is False
    assert queue.specs == []
    assert count(db, Refund, sid) == 0
    assert count(db, RefundLine, sid) == 0


# --------------------------------------------------------------------------------------------------
# Isolation and scale


def test_same_external_ids_in_two_stores_never_touch_each_other(db: Database) -> None:
    a, b = new_store(db), new_store(db)
    run(db, catalog.apply_products, a, [product("p1", (variant("v1", inventory_item_id="ii1"),), at=T3)])
    run(db, catalog.apply_inventory, a, [InventoryRecord("v1", "L1", 5, updated_at=T3)])
    run(db, catalog.apply_orders, a, [_order(at=T3), _order(ext="o-only-in-a", refunds=())])

    # Older timestamps in B must not be judged against A's rows, and B's writes must not reach A.
    result, _ = run(
        db,
        catalog.apply_products,
        b,
        [product("p1", (variant("v1", inventory_item_id="ii1", price=Decimal("1.00")),), at=T1, title="B")],
    )
    assert result == ApplyResult(created=1, dirty=1, children=Counts(created=1))
    result, _ = run(
        db, catalog.apply_inventory, b, [InventoryRecord("ii1", "L1", 2, updated_at=T1)], key="inventory_item"
    )
    assert result == ApplyResult(created=1, dirty=1)
    result, _ = run(db, catalog.apply_orders, b, [_order(at=T1, cancelled_at=T1)])
    assert result.created == 1
    assert run(db, catalog.set_tracking, b, "ii1", False, T2)[0] == 1
    assert run(db, catalog.delete_product, b, "p1", T3)[0] is True

    va, vb = variants_by_ext(db, a)["v1"], variants_by_ext(db, b)["v1"]
    assert (va.price, va.sellable_quantity, va.tracked, va.deleted_at) == (Decimal("19.90"), 5, True, None)
    assert (vb.price, vb.sellable_quantity, vb.tracked, vb.deleted_at) == (Decimal("1.00"), 2, False, T3)
    assert lines(db, a)["l1"] == ("v1", 3, 1, False, T0)
    assert lines(db, b)["l1"] == ("v1", 3, 1, True, T0)
    with db.session() as s:
        titles = dict(s.execute(select(Product.store_id, Product.title)).all())
        assert titles == {a: "Product p1", b: "B"}
        assert s.scalar(select(func.count()).select_from(Location)) == 2
    assert run(db, catalog.apply_refund, b, "o-only-in-a", RefundRecord("r1", T1))[0] is False


def test_a_2000_variant_product_is_applied_whole(db: Database) -> None:
    sid = new_store(db)
    big = product("big", tuple(variant(f"v{i}", position=i) for i in range(2000)))
    result, _ = run(db, catalog.apply_products, sid, [big])
    assert result == ApplyResult(created=1, dirty=2000, children=Counts(created=2000))
    assert count(db, Variant, sid) == 2000
    assert count(db, DirtyVariant, sid) == 2000
    with db.session() as s:
        assert s.scalar(select(func.max(Variant.position)).where(Variant.store_id == sid)) == 1999

    clear_dirty(db)
    smaller = product("big", big.variants[:-1], at=T2)
    result, _ = run(db, catalog.apply_products, sid, [smaller])
    assert result == ApplyResult(unchanged=1, dirty=1, children=Counts(unchanged=1999, deleted=1))
    assert dirty(db, sid) == {"v1999"}


def test_many_products_stream_in_batches(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog_products, "PRODUCT_BATCH", 7)
    monkeypatch.setattr(bulk, "WRITE_CHUNK", 5)
    monkeypatch.setattr(bulk, "IN_CHUNK", 4)
    sid = new_store(db)
    records = [product(f"p{i}", (variant(f"v{i}a"), variant(f"v{i}b"))) for i in range(30)]
    result, queue = run(db, catalog.apply_products, sid, iter(records))
    assert result == ApplyResult(created=30, dirty=60, children=Counts(created=60))
    assert queue.specs == [job_specs.recompute_dirty(sid)]
    clear_dirty(db)
    result, _ = run(db, catalog.apply_products, sid, iter(records))
    assert result == ApplyResult(unchanged=30, children=Counts(unchanged=60))


# --------------------------------------------------------------------------------------------------
# SQLite, the embedded default


def test_sqlite_path_applies_products_inventory_and_orders(sqlite_db: Database) -> None:
    db = sqlite_db
    sid = new_store(db)
    records = [product("p1", (variant("v1", inventory_item_id="ii1"), variant("v2")), at=T2, supplier="Acme")]
    result, queue = run(db, catalog.apply_products, sid, records)
    assert result == ApplyResult(created=1, dirty=2, children=Counts(created=2))
    assert queue.specs == [job_specs.recompute_dirty(sid)]
    clear_dirty(db)
    assert run(db, catalog.apply_products, sid, records)[0] == ApplyResult(unchanged=1, children=Counts(unchanged=2))
    stale = [product("p1", (variant("v1", price=Decimal("5")),), at=T1)]
    assert run(db, catalog.apply_products, sid, stale)[0] == ApplyResult(skipped_stale=1)

    levels = [InventoryRecord("ii1", "L1", 4, updated_at=T1), InventoryRecord("ii1", "L2", None, updated_at=T1)]
    result, _ = run(db, catalog.apply_inventory, sid, levels, key="inventory_item")
    assert result == ApplyResult(created=2, dirty=1)
    assert run(db, catalog.apply_inventory, sid, levels, key="inventory_item")[0] == ApplyResult(unchanged=2)
    assert variants_by_ext(db, sid)["v1"].sellable_quantity == 4

    result, _ = run(db, catalog.apply_orders, sid, [_order(at=T2, cancelled_at=T2)])
    assert result == ApplyResult(created=1, dirty=2, children=Counts(created=3), refunds=1)
    clear_dirty(db)
    assert run(db, catalog.apply_orders, sid, [_order(at=T2, cancelled_at=T2)])[0] == ApplyResult(
        unchanged=1, children=Counts(unchanged=3)
    )
    assert run(db, catalog.apply_orders, sid, [_order(at=T1)])[0] == ApplyResult(skipped_stale=1)
    assert lines(db, sid)["l1"] == ("v1", 3, 1, True, T0.replace(tzinfo=None))
    assert run(db, catalog.delete_product, sid, "p1", T3)[0] is True
    assert dirty(db, sid) == {"v1", "v2"}


def test_apply_variants_upserts_one_variant_and_leaves_its_siblings(db: Database) -> None:
    from app.services.catalog import apply_variants
    from integrations.base import ProductRecord, VariantRecord

    queue = RecordingQueue()
    with db.session() as s:
        store = make_store(s)
        sid = store.id
        catalog.apply_products(
            s,
            queue,
            sid,
            [
                ProductRecord(
                    external_id="14",
                    title="Hoodie",
                    kind="variable",
                    variants=(VariantRecord(external_id="15", sku="H-S"), VariantRecord(external_id="16", sku="H-M")),
                )
            ],
        )
    with db.session() as s:
        result = apply_variants(
            s, queue, sid, "14", [VariantRecord(external_id="15", sku="H-S", price=Decimal("45.00"))]
        )
        assert (result.children.updated, result.children.deleted) == (1, 0)
        missing = apply_variants(s, queue, sid, "999", [VariantRecord(external_id="77")])
        assert missing.children.skipped_unknown == 1
    with db.session() as s:
        rows = s.execute(
            select(Variant.external_id, Variant.price, Variant.deleted_at.is_(None))
            .where(Variant.store_id == sid)
            .order_by(Variant.external_id)
        ).all()
        title = s.execute(select(Product.title).where(Product.store_id == sid)).scalar_one()
    assert [tuple(r) for r in rows] == [("15", Decimal("45.00"), True), ("16", Decimal("0.00"), True)]
    assert title == "Hoodie"


# --------------------------------------------------------------------------------------------------
# catalog_unchanged: what a product delivery would change, read without writing


def test_catalog_unchanged_sees_every_compared_field_and_writes_nothing(db: Database) -> None:
    sid = new_store(db)
    stored = product("p1", (variant("v1", inventory_item_id="ii1"), variant("v2")), supplier="Acme Mills")
    run(db, catalog.apply_products, sid, [stored])
    level = InventoryRecord(
        variant_external_id="v1", location_external_id="loc1", available=4, on_hand=5, updated_at=T1
    )
    run(db, catalog.apply_inventory, sid, [level])
    clear_dirty(db)

    def unchanged(**kw: Any) -> bool:
        with db.session() as s:
            return catalog.catalog_unchanged(s, sid, **kw)

    later = T2
    assert unchanged(products=[product("p1", stored.variants, at=later, supplier="Acme Mills")]) is True
    assert unchanged(variants=[("p1", variant("v1", inventory_item_id="ii1", updated_at=later))]) is True
    assert unchanged(levels=[InventoryRecord("v1", "loc1", available=4, on_hand=None, updated_at=later)]) is True
    # Any compared value, a dropped variant, a new supplier, product or level, a level's quantity: a change.
    assert unchanged(products=[product("p1", stored.variants, supplier="Acme Mills", title="New")]) is False
    assert (
        unchanged(products=[product("p1", (variant("v1", inventory_item_id="ii1"),), supplier="Acme Mills")]) is False
    )
    assert unchanged(products=[product("p1", stored.variants, supplier="Other Mills")]) is False
    assert unchanged(products=[product("p2")]) is False
    assert unchanged(variants=[("p1", variant("v2", price=Decimal("21.00")))]) is False
    assert unchanged(variants=[("p9", variant("v2"))]) is False  # not under that product
    assert unchanged(levels=[InventoryRecord("v1", "loc1", available=3, updated_at=later)]) is False
    assert unchanged(levels=[InventoryRecord("v1", "loc1", available=4, on_hand=6, updated_at=later)]) is False
    assert unchanged(levels=[InventoryRecord("v2", "loc1", available=4, updated_at=later)]) is False
    # Fields a payload does not carry (kept as stored when applied) are not compared.
    untracked = variant("v1", inventory_item_id="ii1", tracked=False)
    assert unchanged(variants=[("p1", untracked)]) is False
    assert unchanged(variants=[("p1", untracked)], preserve={"tracked"}) is True
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Supplier).where(Supplier.store_id == sid)) == 1
        watermarks = s.execute(select(Product.external_updated_at).where(Product.store_id == sid)).scalars().all()
    assert watermarks == [T1]
    assert dirty(db, sid) == set()
