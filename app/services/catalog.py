"""Apply platform data (catalog, locations, inventory, orders, refunds): the one write path for every sync.

Webhooks, bulk and paged syncs and periodic reconciliation of both platforms hand plain records to
these functions. Writes are set-based upserts in batches (INSERT … ON CONFLICT on PostgreSQL and
SQLite). Payloads are current state: a record older than the stored platform `updated_at` is
skipped inside the upsert's WHERE, so concurrent workers cannot overwrite newer state, and a row
is only rewritten when one of its values differs, so a replay writes nothing and marks nothing
dirty. Variants whose stock inputs changed are marked for the collapsed recompute job.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from itertools import islice
from typing import Any, Literal, TypeAlias, TypeVar, cast

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Integer,
    Numeric,
    Row,
    String,
    Table,
    and_,
    any_,
    bindparam,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.sql.elements import ColumnElement

from app.db import utcnow
from app.models import (
    InventoryLevel,
    Location,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    Refund,
    RefundLine,
    Supplier,
    Variant,
)
from app.queue import JobQueue
from app.services.sqlfn import PgArray, dialect
from app.services.stock import mark_dirty, set_sellable_from_levels
from integrations.base import InventoryRecord, LocationRecord, OrderRecord, ProductRecord, RefundRecord, VariantRecord

T = TypeVar("T")
_Row: TypeAlias = Row[*tuple[Any, ...]]

# ~1000 products per batch as the sync streams them, but a batch is also closed once it holds this
# many variants, so a few huge products cannot make one statement unbounded.
PRODUCT_BATCH = 1000
VARIANT_BATCH = 10_000
LEVEL_BATCH = 5000
ORDER_BATCH = 1000
# Rows per INSERT … ON CONFLICT statement and ids per IN list: well under PostgreSQL's 65,535 and
# SQLite's 32,766 bound parameters.
WRITE_CHUNK = 1000
IN_CHUNK = 1000
# PostgreSQL lookups bind one array (= ANY) per query: fewer, larger queries, since each also walks the
# store_id index once when the planner combines it with the key index.
PG_IN_CHUNK = 10_000
SELLABLE_CHUNK = 5000
# PostgreSQL takes each column as one array parameter, so a statement can carry many more rows.
PG_WRITE_CHUNK = 5000
CENT = Decimal("0.01")

_PRODUCTS = cast(Table, Product.__table__)
_VARIANTS = cast(Table, Variant.__table__)
_LOCATIONS = cast(Table, Location.__table__)
_LEVELS = cast(Table, InventoryLevel.__table__)
_SUPPLIERS = cast(Table, Supplier.__table__)
_ORDERS = cast(Table, Order.__table__)
_LINES = cast(Table, OrderLine.__table__)
_REFUNDS = cast(Table, Refund.__table__)
_REFUND_LINES = cast(Table, RefundLine.__table__)

_PRODUCT_FIELDS = (
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
_VARIANT_FIELDS = (
    "product_id",
    "inventory_item_external_id",
    "sku",
    "title",
    "options",
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


@dataclass(frozen=True, slots=True)
class Counts:
    """What happened to the rows of one kind."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_stale: int = 0
    skipped_unknown: int = 0
    deleted: int = 0


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What one apply did: counts for the records passed in (products, locations, levels, orders),
    `children` for their nested rows (variants of products, lines of orders), refunds written, and
    how many variants were marked dirty."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_stale: int = 0
    skipped_unknown: int = 0
    deleted: int = 0
    dirty: int = 0
    children: Counts = Counts()
    refunds: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The counts as plain JSON-able values (for sync run progress)."""
        out: dict[str, Any] = {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped_stale": self.skipped_stale,
            "skipped_unknown": self.skipped_unknown,
            "deleted": self.deleted,
            "dirty": self.dirty,
            "refunds": self.refunds,
        }
        c = self.children
        out["children"] = {
            "created": c.created,
            "updated": c.updated,
            "unchanged": c.unchanged,
            "skipped_stale": c.skipped_stale,
            "skipped_unknown": c.skipped_unknown,
            "deleted": c.deleted,
        }
        return out


@dataclass(slots=True)
class _Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_stale: int = 0
    skipped_unknown: int = 0
    deleted: int = 0

    def freeze(self) -> Counts:
        return Counts(
            self.created, self.updated, self.unchanged, self.skipped_stale, self.skipped_unknown, self.deleted
        )


@dataclass(slots=True)
class _Acc:
    top: _Tally = field(default_factory=_Tally)
    children: _Tally = field(default_factory=_Tally)
    dirty: set[int] = field(default_factory=set)
    refunds: int = 0

    def result(self) -> ApplyResult:
        t = self.top
        return ApplyResult(
            created=t.created,
            updated=t.updated,
            unchanged=t.unchanged,
            skipped_stale=t.skipped_stale,
            skipped_unknown=t.skipped_unknown,
            deleted=t.deleted,
            dirty=len(self.dirty),
            children=self.children.freeze(),
            refunds=self.refunds,
        )


# --------------------------------------------------------------------------------------------------
# Small helpers


def _utc(value: datetime | None) -> datetime | None:
    """Aware UTC: SQLite hands back naive datetimes and stores no offset, so everything is UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _stale(incoming: datetime | None, stored: datetime | None) -> bool:
    a, b = _utc(incoming), _utc(stored)
    # No timestamp on either side proves nothing, so the record applies (it is current state).
    return a is not None and b is not None and a < b


def _money(value: Decimal | float | int | None) -> Decimal:
    # Rounded as the Numeric(12, 2) column will store it, so comparisons with stored values hold.
    return Decimal(str(value if value is not None else 0)).quantize(CENT)


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def _latest(records: Iterable[T], key: Callable[[T], Any], ts: Callable[[T], datetime | None]) -> dict[Any, T]:
    """One record per key (the newest; the later one on a tie), so one statement never hits a row twice."""
    out: dict[Any, T] = {}
    for rec in records:
        k = key(rec)
        prev = out.get(k)
        if prev is None or not _stale(ts(rec), ts(prev)):
            out[k] = rec
    return out


_LIMITS: dict[str, dict[str, int]] = {}


def _fit(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """Clip free text to its column so one long platform value cannot fail a whole batch (ids are never clipped)."""
    limits = _LIMITS.get(table.name)
    if limits is None:
        limits = {
            c.name: int(c.type.length)
            for c in table.columns
            if isinstance(c.type, String) and c.type.length and not c.name.endswith("external_id")
        }
        _LIMITS[table.name] = limits
    for col, n in limits.items():
        value = row.get(col)
        if isinstance(value, str) and len(value) > n:
            row[col] = value[:n]
    return row


def _select_in(
    session: Session, stmt: Any, column: QueryableAttribute[Any] | ColumnElement[Any], values: Iterable[Any]
) -> list[_Row]:
    """Run a select once per chunk of an IN list (an array on PostgreSQL) and gather the rows."""
    vals = sorted(set(values))
    pg = dialect(session) == "postgresql"
    rows: list[_Row] = []
    for chunk in _chunks(vals, PG_IN_CHUNK if pg else IN_CHUNK):
        cond = column == any_(bindparam(None, PgArray(chunk), type_=ARRAY(column.type))) if pg else column.in_(chunk)
        rows.extend(session.execute(stmt.where(cond)).all())
    return rows


def _insert(session: Session, table: Table) -> Any:
    return pg_insert(table) if dialect(session) == "postgresql" else sqlite_insert(table)


def _pg_array_type(column: Column[Any]) -> str:
    t = column.type
    if isinstance(t, JSON):
        return "jsonb"
    if isinstance(t, Boolean):
        return "boolean"
    if isinstance(t, Integer):
        return "bigint"
    if isinstance(t, Numeric):
        return "numeric"
    if isinstance(t, DateTime):
        return "timestamptz"
    if isinstance(t, String):
        # Plain text: a cast to varchar(n) would silently truncate an over-long id instead of failing.
        return "text"
    raise TypeError(f"no array type for {column}")


def _pg_unnest(table: Table, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> Any:
    """SELECT * FROM unnest(one array per column): a short, constant statement text however many rows,
    where a multi-row VALUES list would cost the driver ~100 µs per row just to rewrite placeholders."""
    exprs, params = [], {}
    for i, name in enumerate(columns):
        col = table.c[name]
        values = [row[name] for row in rows]
        if isinstance(col.type, JSON):
            values = [None if v is None else json.dumps(v, separators=(",", ":")) for v in values]
        exprs.append(f"CAST(:a{i} AS {_pg_array_type(col)}[])")
        params[f"a{i}"] = PgArray(values)
    sql = text(f"SELECT * FROM unnest({', '.join(exprs)})")  # noqa: S608 - fixed column types, values bound
    return sql.bindparams(**params).columns(*(table.c[name] for name in columns))


def _upsert(
    session: Session,
    table: Table,
    rows: list[dict[str, Any]],
    *,
    keys: Sequence[str],
    compare: Sequence[str],
    returning: Sequence[str],
    watermark: bool = False,
) -> list[_Row]:
    """INSERT … ON CONFLICT DO UPDATE that rewrites a row only when a compared value differs and, with
    `watermark`, only when the incoming external_updated_at is not older; returns the rows written."""
    if not rows:
        return []
    pg = dialect(session) == "postgresql"
    ins = _insert(session, table)
    exc = ins.excluded
    set_: dict[str, Any] = {c: exc[c] for c in compare}
    cond: ColumnElement[bool] = or_(*(table.c[c].is_distinct_from(exc[c]) for c in compare))
    if watermark:
        set_["external_updated_at"] = exc.external_updated_at
        stored = table.c.external_updated_at
        cond = and_(
            or_(cond, stored.is_distinct_from(exc.external_updated_at)),
            or_(stored.is_(None), exc.external_updated_at.is_(None), exc.external_updated_at >= stored),
        )
    if "updated_at" in table.c:
        set_["updated_at"] = exc.updated_at
    # Rows in key order: concurrent writers then lock rows in the same order and cannot deadlock.
    rows = sorted(rows, key=lambda r: tuple(r[k] for k in keys))
    columns = list(rows[0])
    written: list[_Row] = []
    for chunk in _chunks(rows, PG_WRITE_CHUNK if pg else WRITE_CHUNK):
        source = ins.from_select(columns, _pg_unnest(table, columns, chunk)) if pg else ins
        stmt = source.on_conflict_do_update(index_elements=[table.c[k] for k in keys], set_=set_, where=cond).returning(
            *(table.c[c] for c in returning)
        )
        written.extend(session.execute(stmt).all() if pg else session.execute(stmt, list(chunk)).all())
    return written


def _differs(old: _Row, row: dict[str, Any], fields: Sequence[str]) -> bool:
    for f in fields:
        a, b = getattr(old, f), row[f]
        if isinstance(a, datetime) or isinstance(b, datetime):
            a, b = _utc(a), _utc(b)
        if a != b:
            return True
    return False


_Outcome = Literal["created", "updated", "unchanged", "skipped_stale"]


def _count(tally: _Tally, old: _Row | None, row: dict[str, Any], written: bool, fields: Sequence[str]) -> _Outcome:
    """Count one upserted row by its content: a rewrite that only advanced the watermark is `unchanged`,
    and a change the upsert refused (a concurrent worker stored newer state after our read) is stale."""
    outcome: _Outcome
    if old is None:
        outcome = "created" if written else "skipped_stale"
    elif not _differs(old, row, fields):
        outcome = "unchanged"
    else:
        outcome = "updated" if written else "skipped_stale"
    setattr(tally, outcome, getattr(tally, outcome) + 1)
    return outcome


def _sellable(session: Session, store_id: int, variant_ids: Iterable[int]) -> dict[int, int]:
    stmt = select(Variant.id, Variant.sellable_quantity).where(Variant.store_id == store_id)
    return {int(r[0]): int(r[1]) for r in _select_in(session, stmt, Variant.id, variant_ids)}


def _refresh_sellable(session: Session, store_id: int, variant_ids: Iterable[int]) -> set[int]:
    """Re-sum sellable quantity from levels; the variants whose quantity changed."""
    ids = sorted(set(variant_ids))
    if not ids:
        return set()
    before = _sellable(session, store_id, ids)
    for chunk in _chunks(ids, SELLABLE_CHUNK):
        set_sellable_from_levels(session, store_id, list(chunk))
    after = _sellable(session, store_id, ids)
    return {vid for vid, qty in after.items() if before.get(vid) != qty}


def _mark(session: Session, jobs: JobQueue, store_id: int, acc: _Acc, ids: set[int], reason: str) -> None:
    if ids:
        mark_dirty(session, jobs, store_id, ids, reason)
        acc.dirty |= ids


# --------------------------------------------------------------------------------------------------
# Products and variants


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


def _preserved_columns(preserve: Collection[str]) -> frozenset[str]:
    columns = frozenset(_VARIANT_RECORD_COLUMNS.get(name, name) for name in preserve)
    if not columns <= set(_VARIANT_FIELDS) - {"product_id", "deleted_at"}:
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
    keep = _preserved_columns(preserve)
    acc = _Acc()
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
    keep = _preserved_columns(preserve)  # as in apply_products
    product_id = session.execute(
        select(Product.id).where(Product.store_id == store_id, Product.external_id == product_external_id)
    ).scalar_one_or_none()
    acc = _Acc()
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
    stmt = _insert(session, _SUPPLIERS).on_conflict_do_nothing(index_elements=["store_id", "name"])
    session.execute(stmt, rows)
    found = _select_in(
        session, select(Supplier.name, Supplier.id).where(Supplier.store_id == store_id), Supplier.name, names
    )
    return {str(r[0]): int(r[1]) for r in found}


def _apply_product_batch(
    session: Session, jobs: JobQueue, store_id: int, batch: list[ProductRecord], acc: _Acc, keep: frozenset[str]
) -> None:
    now = utcnow()
    products = _latest(batch, lambda p: p.external_id, lambda p: p.updated_at)
    suppliers = _supplier_ids(session, store_id, {p.supplier for p in products.values() if p.supplier}, now)
    old_products = {
        r.external_id: r
        for r in _select_in(
            session,
            select(
                Product.id,
                Product.external_id,
                Product.external_updated_at,
                *(getattr(Product, f) for f in _PRODUCT_FIELDS),
            ).where(Product.store_id == store_id),
            Product.external_id,
            products,
        )
    }

    rows: list[dict[str, Any]] = []
    applied: dict[str, ProductRecord] = {}
    for ext, p in products.items():
        old = old_products.get(ext)
        ts = _utc(p.updated_at)
        if old is not None and _stale(ts, old.external_updated_at):
            acc.top.skipped_stale += 1
            continue
        supplier_id = suppliers.get(p.supplier[:255]) if p.supplier else (old.supplier_id if old else None)
        row = {
            "store_id": store_id,
            "external_id": ext,
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
            # No timestamp: keep the stored one so later stale checks still have a reference.
            "external_updated_at": ts if ts is not None else (old.external_updated_at if old else None),
            "deleted_at": None,
            "created_at": now,
            "updated_at": now,
        }
        rows.append(_fit(_PRODUCTS, row))
        applied[ext] = p
    written = {
        r.external_id: int(r.id)
        for r in _upsert(
            session,
            _PRODUCTS,
            rows,
            keys=("store_id", "external_id"),
            compare=_PRODUCT_FIELDS,
            returning=("id", "external_id"),
            watermark=True,
        )
    }
    product_ids: dict[str, int] = {}
    stock_changed: set[int] = set()
    for row in rows:
        ext = row["external_id"]
        old = old_products.get(ext)
        outcome = _count(acc.top, old, row, ext in written, _PRODUCT_FIELDS)
        if outcome == "skipped_stale":
            del applied[ext]
            continue
        product_ids[ext] = written[ext] if old is None else int(old.id)
        if old is not None and outcome == "updated" and _differs(old, row, _PRODUCT_STOCK_FIELDS):
            stock_changed.add(int(old.id))

    _apply_variants(session, jobs, store_id, applied, product_ids, stock_changed, acc, now, keep)


_VARIANT_COLUMNS = (
    Variant.id,
    Variant.external_id,
    Variant.external_updated_at,
    *(getattr(Variant, f) for f in _VARIANT_FIELDS),
)


def _apply_variants(
    session: Session,
    jobs: JobQueue,
    store_id: int,
    applied: dict[str, ProductRecord],
    product_ids: dict[str, int],
    stock_changed: set[int],
    acc: _Acc,
    now: datetime,
    keep: frozenset[str],
    *,
    partial: bool = False,
) -> None:
    records = _latest(
        ((v, p) for p in applied.values() for v in p.variants),
        lambda vp: vp[0].external_id,
        lambda vp: vp[0].updated_at or vp[1].updated_at,
    )
    base = select(*_VARIANT_COLUMNS).where(Variant.store_id == store_id)
    old_by_id = {int(r.id): r for r in _select_in(session, base, Variant.external_id, records)}
    # The products' current variants too: to find those missing from the payload, and to mark a
    # product's variants dirty when a product-level stock input changed.
    old_by_id.update({int(r.id): r for r in _select_in(session, base, Variant.product_id, product_ids.values())})
    old_by_ext = {r.external_id: r for r in old_by_id.values()}

    rows: list[dict[str, Any]] = []
    for ext, (v, p) in records.items():
        old = old_by_ext.get(ext)
        ts = _utc(v.updated_at or p.updated_at)
        if old is not None and _stale(ts, old.external_updated_at):
            acc.children.skipped_stale += 1
            continue
        row = {
            "store_id": store_id,
            "product_id": product_ids[p.external_id],
            "external_id": ext,
            "inventory_item_external_id": v.inventory_item_id,
            "sku": v.sku,
            "title": v.title,
            "options": dict(v.options),
            "price": _money(v.price),
            "tracked": v.tracked,
            "inventory_policy": v.inventory_policy,
            "backorder": v.backorder,
            "stock_from_parent": v.stock_from_parent,
            "published": v.published,
            "position": v.position,
            "image_url": v.image_url,
            "sellable_quantity": 0,
            "external_updated_at": ts if ts is not None else (old.external_updated_at if old else None),
            "deleted_at": None,
            "created_at": now,
            "updated_at": now,
        }
        if old is not None:
            row.update({c: getattr(old, c) for c in keep})
        rows.append(_fit(_VARIANTS, row))
    written = {
        r.external_id: int(r.id)
        for r in _upsert(
            session,
            _VARIANTS,
            rows,
            keys=("store_id", "external_id"),
            # Preserved columns are left out of the update so they are never rewritten, even concurrently.
            compare=[f for f in _VARIANT_FIELDS if f not in keep],
            returning=("id", "external_id"),
            watermark=True,
        )
    }
    dirty: set[int] = set()
    for row in rows:
        ext = row["external_id"]
        old = old_by_ext.get(ext)
        outcome = _count(acc.children, old, row, ext in written, _VARIANT_FIELDS)
        if outcome == "created" or (
            old is not None and outcome == "updated" and _differs(old, row, _VARIANT_STOCK_FIELDS)
        ):
            dirty.add(written[ext])

    # A record listing variants is the product's full list; one with none carries only the product.
    # A partial list (one variation's own delivery) never says anything about its siblings.
    full = {} if partial else {product_ids[ext]: _utc(p.updated_at) for ext, p in applied.items() if p.variants}
    missing = [
        int(old.id)
        for old in old_by_id.values()
        if old.product_id in full
        and old.deleted_at is None
        and old.external_id not in records
        and not _stale(full[old.product_id], old.external_updated_at)
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
    _mark(session, jobs, store_id, acc, dirty, "catalog")


def _soft_delete_variants(session: Session, store_id: int, ids: Sequence[int], at: datetime) -> set[int]:
    out: set[int] = set()
    for chunk in _chunks(sorted(ids), IN_CHUNK):
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
    when = _utc(at) or utcnow()
    if _stale(when, row.external_updated_at):
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
    _mark(session, jobs, store_id, _Acc(), ids, "product_deleted")
    return True


# --------------------------------------------------------------------------------------------------
# Locations and inventory


def apply_locations(
    session: Session, jobs: JobQueue, store_id: int, locations: Iterable[LocationRecord]
) -> ApplyResult:
    """Upsert stock locations; a location turning (in)active re-sums its variants' sellable quantity."""
    acc = _Acc()
    now = utcnow()
    for batch in _batches(locations, WRITE_CHUNK):
        records = {loc.external_id: loc for loc in batch}
        old = {
            r.external_id: r
            for r in _select_in(
                session,
                select(Location.id, Location.external_id, Location.name, Location.active).where(
                    Location.store_id == store_id
                ),
                Location.external_id,
                records,
            )
        }
        rows = [
            _fit(
                _LOCATIONS,
                {
                    "store_id": store_id,
                    "external_id": ext,
                    "name": loc.name,
                    "active": loc.active,
                    "fulfills_online": True,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            for ext, loc in records.items()
        ]
        # fulfills_online is the merchant's setting, never the platform's: not compared or overwritten.
        written = {
            r.external_id
            for r in _upsert(
                session,
                _LOCATIONS,
                rows,
                keys=("store_id", "external_id"),
                compare=("name", "active"),
                returning=("external_id",),
            )
        }
        toggled: list[int] = []
        for row in rows:
            prev = old.get(row["external_id"])
            outcome = _count(acc.top, prev, row, row["external_id"] in written, ("name", "active"))
            if outcome == "updated" and prev is not None and bool(prev.active) != row["active"]:
                toggled.append(int(prev.id))
        if toggled:
            variant_ids = {
                int(r[0])
                for r in _select_in(
                    session,
                    select(InventoryLevel.variant_id).where(InventoryLevel.store_id == store_id).distinct(),
                    InventoryLevel.location_id,
                    toggled,
                )
            }
            _mark(session, jobs, store_id, acc, _refresh_sellable(session, store_id, variant_ids), "location")
    return acc.result()


def _location_ids(session: Session, store_id: int, externals: set[str], now: datetime) -> dict[str, int]:
    """Location ids by external id; locations first seen in inventory data are created, unnamed."""
    stmt = select(Location.external_id, Location.id).where(Location.store_id == store_id)
    found = {str(r[0]): int(r[1]) for r in _select_in(session, stmt, Location.external_id, externals)}
    missing = sorted(externals - found.keys())
    if missing:
        rows = [
            {
                "store_id": store_id,
                "external_id": ext,
                "name": "",
                "active": True,
                "fulfills_online": True,
                "created_at": now,
                "updated_at": now,
            }
            for ext in missing
        ]
        session.execute(
            _insert(session, _LOCATIONS).on_conflict_do_nothing(index_elements=["store_id", "external_id"]), rows
        )
        found.update({str(r[0]): int(r[1]) for r in _select_in(session, stmt, Location.external_id, missing)})
    return found


def apply_inventory(
    session: Session,
    jobs: JobQueue,
    store_id: int,
    levels: Iterable[InventoryRecord],
    *,
    key: Literal["variant", "inventory_item"] = "variant",
) -> ApplyResult:
    """Upsert inventory levels per (variant, location), keyed by variant or inventory item id; re-sum sellable."""
    acc = _Acc()
    for batch in _batches(levels, LEVEL_BATCH):
        _apply_level_batch(session, jobs, store_id, batch, key, acc)
    return acc.result()


def _apply_level_batch(
    session: Session,
    jobs: JobQueue,
    store_id: int,
    batch: list[InventoryRecord],
    key: Literal["variant", "inventory_item"],
    acc: _Acc,
) -> None:
    now = utcnow()
    column = Variant.external_id if key == "variant" else Variant.inventory_item_external_id
    variants: dict[str, list[int]] = {}
    for ext, vid in _select_in(
        session,
        select(column, Variant.id).where(Variant.store_id == store_id),
        column,
        {r.variant_external_id for r in batch},
    ):
        variants.setdefault(str(ext), []).append(int(vid))
    known = [r for r in batch if r.variant_external_id in variants]
    acc.top.skipped_unknown += len(batch) - len(known)
    if not known:
        return
    locations = _location_ids(session, store_id, {r.location_external_id for r in known}, now)
    records = _latest(
        ((vid, locations[r.location_external_id], r) for r in known for vid in variants[r.variant_external_id]),
        lambda t: (t[0], t[1]),
        lambda t: t[2].updated_at,
    )
    old = {
        (int(r.variant_id), int(r.location_id)): r
        for r in _select_in(
            session,
            select(
                InventoryLevel.variant_id,
                InventoryLevel.location_id,
                InventoryLevel.available,
                InventoryLevel.on_hand,
                InventoryLevel.external_updated_at,
            ).where(InventoryLevel.store_id == store_id),
            InventoryLevel.variant_id,
            {k[0] for k in records},
        )
    }
    rows: list[dict[str, Any]] = []
    for (vid, lid), (_, _, rec) in records.items():
        prev = old.get((vid, lid))
        ts = _utc(rec.updated_at)
        if prev is not None and _stale(ts, prev.external_updated_at):
            acc.top.skipped_stale += 1
            continue
        rows.append(
            {
                "store_id": store_id,
                "variant_id": vid,
                "location_id": lid,
                "available": rec.available,
                # Shopify's level webhooks carry `available` only: an absent on_hand keeps the stored one.
                "on_hand": rec.on_hand if rec.on_hand is not None or prev is None else prev.on_hand,
                "external_updated_at": ts if ts is not None else (prev.external_updated_at if prev else None),
                "updated_at": now,
            }
        )
    written = {
        (int(r.variant_id), int(r.location_id))
        for r in _upsert(
            session,
            _LEVELS,
            rows,
            keys=("variant_id", "location_id"),
            compare=("available", "on_hand"),
            returning=("variant_id", "location_id"),
            watermark=True,
        )
    }
    for row in rows:
        k = (row["variant_id"], row["location_id"])
        _count(acc.top, old.get(k), row, k in written, ("available", "on_hand"))
    changed = _refresh_sellable(session, store_id, {k[0] for k in written})
    _mark(session, jobs, store_id, acc, changed, "inventory")


def set_tracking(
    session: Session, jobs: JobQueue, store_id: int, inventory_item_id: str, tracked: bool, at: datetime | None
) -> int:
    """Set `tracked` on the variants of one inventory item; the number of variants changed."""
    when = _utc(at)
    t = _VARIANTS
    stmt = update(t).where(
        t.c.store_id == store_id, t.c.inventory_item_external_id == inventory_item_id, t.c.tracked.is_not(tracked)
    )
    if when is not None:
        # The variant's watermark is not advanced: it dates the variant payload, not the inventory item.
        stmt = stmt.where(or_(t.c.external_updated_at.is_(None), t.c.external_updated_at <= when))
    ids = {
        int(v) for v in session.execute(stmt.values(tracked=tracked, updated_at=utcnow()).returning(t.c.id)).scalars()
    }
    _mark(session, jobs, store_id, _Acc(), ids, "tracking")
    return len(ids)


# --------------------------------------------------------------------------------------------------
# Orders and refunds

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
        int(r[0]): (r[1], r[2], r[3], bool(r[4]), _utc(r[5]))
        for r in _select_in(session, stmt, OrderLine.order_id, order_ids)
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
    acc = _Acc()
    for batch in _batches(orders, ORDER_BATCH):
        _apply_order_batch(session, jobs, store_id, batch, acc)
    return acc.result()


def _apply_order_batch(session: Session, jobs: JobQueue, store_id: int, batch: list[OrderRecord], acc: _Acc) -> None:
    now = utcnow()
    orders = _latest(batch, lambda o: o.external_id, lambda o: o.updated_at)
    old_orders = {
        r.external_id: r
        for r in _select_in(
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
        ts = _utc(o.updated_at)
        if old is not None and _stale(ts, old.external_updated_at):
            acc.top.skipped_stale += 1
            continue
        email = o.email.strip().lower() if o.email else None
        rows.append(
            _fit(
                _ORDERS,
                {
                    "store_id": store_id,
                    "external_id": ext,
                    "name": o.name,
                    "email": email or None,
                    "customer_external_id": o.customer_external_id,
                    "currency": o.currency,
                    "total": _money(o.total),
                    "financial_status": o.financial_status,
                    "status": OrderStatus.CANCELLED if o.cancelled_at is not None else OrderStatus.OPEN,
                    "ordered_at": _utc(o.ordered_at),
                    "cancelled_at": _utc(o.cancelled_at),
                    "external_updated_at": ts if ts is not None else (old.external_updated_at if old else None),
                    "created_at": now,
                    "updated_at": now,
                },
            )
        )
    written = {
        r.external_id: int(r.id)
        for r in _upsert(
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
        if _count(acc.top, old, row, ext in written, _ORDER_FIELDS) == "skipped_stale":
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
        for chunk in _chunks(sorted(ids), IN_CHUNK):
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
    _mark(session, jobs, store_id, acc, _velocity_dirty(before, after), "orders")


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
    when = _utc(at) or utcnow()
    if _stale(when, row.external_updated_at):
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
    _mark(session, jobs, store_id, _Acc(), {int(v) for v in variant_ids if v is not None}, "order_deleted")
    return True


def _apply_lines(
    session: Session,
    store_id: int,
    applied: dict[int, OrderRecord],
    acc: _Acc,
) -> None:
    wanted = {ln.variant_external_id for o in applied.values() for ln in o.lines if ln.variant_external_id}
    # Deleted variants resolve too: their past sales are still history.
    variant_ids = {
        str(r[0]): int(r[1])
        for r in _select_in(
            session,
            select(Variant.external_id, Variant.id).where(Variant.store_id == store_id),
            Variant.external_id,
            wanted,
        )
    }
    existing = {
        (int(r[0]), str(r[1]))
        for r in _select_in(
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
                _fit(
                    _LINES,
                    {
                        "store_id": store_id,
                        "order_id": oid,
                        "external_id": ext,
                        "variant_id": variant_ids.get(vext) if vext else None,
                        "sku": ln.sku,
                        "quantity": ln.quantity,
                        "refunded_quantity": 0,
                        "price": _money(ln.price),
                        "ordered_at": _utc(o.ordered_at),
                        "cancelled": o.cancelled_at is not None,
                    },
                )
            )
    # refunded_quantity is never set from the payload: it is recomputed from refund lines.
    written = {
        (int(r.order_id), str(r.external_id))
        for r in _upsert(
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
        _fit(
            _REFUNDS,
            {
                "store_id": store_id,
                "order_id": oid,
                "external_id": ext,
                "refunded_at": _utc(r.refunded_at),
                "note": r.note,
                "created_at": now,
                "updated_at": now,
            },
        )
        for ext, (oid, r) in refunds.items()
    ]
    written = _upsert(
        session,
        _REFUNDS,
        rows,
        keys=("store_id", "external_id"),
        compare=("order_id", "refunded_at", "note"),
        returning=("id",),
    )
    refund_ids = {
        str(r[0]): int(r[1])
        for r in _select_in(
            session,
            select(Refund.external_id, Refund.id).where(Refund.store_id == store_id),
            Refund.external_id,
            refunds,
        )
    }
    line_ids = {
        (int(r[0]), str(r[1])): int(r[2])
        for r in _select_in(
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
    _upsert(
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
    for chunk in _chunks(sorted(set(order_ids)), IN_CHUNK):
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
    _mark(session, jobs, store_id, _Acc(), _velocity_dirty(before, after), "refund")
    return True


__all__ = [
    "ApplyResult",
    "Counts",
    "apply_inventory",
    "apply_locations",
    "apply_orders",
    "apply_products",
    "apply_refund",
    "delete_product",
    "set_tracking",
]
