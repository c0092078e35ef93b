"""Set-based bulk writes on PostgreSQL and SQLite: chunked IN lists, INSERT … ON CONFLICT upserts that rewrite a
row only when a value differs (and never over newer platform state), unnest arrays on PostgreSQL.

The catalog's sync writes (app/services/catalog) go through here; bulk_sync and paged_sync_shopify benchmark them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import islice
from typing import Any, TypeAlias, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Integer,
    Numeric,
    String,
    Table,
    and_,
    any_,
    bindparam,
    or_,
    text,
)
from sqlalchemy import Row as SaRow
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.sql.elements import ColumnElement

from app.infra.sql import PgArray, dialect

T = TypeVar("T")
Row: TypeAlias = SaRow[*tuple[Any, ...]]

# Rows per INSERT … ON CONFLICT statement and ids per IN list: well under PostgreSQL's 65,535 and
# SQLite's 32,766 bound parameters.
WRITE_CHUNK = 1000
IN_CHUNK = 1000
# PostgreSQL lookups bind one array (= ANY) per query: fewer, larger queries, since each also walks the
# store_id index once when the planner combines it with the key index.
PG_IN_CHUNK = 10_000
# PostgreSQL takes each column as one array parameter, so a statement can carry many more rows.
PG_WRITE_CHUNK = 5000


def utc(value: datetime | None) -> datetime | None:
    """Aware UTC: SQLite hands back naive datetimes and stores no offset, so everything is UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def stale(incoming: datetime | None, stored: datetime | None) -> bool:
    """Whether an incoming record is older than what is stored (current-state payloads never go back)."""
    a, b = utc(incoming), utc(stored)
    # No timestamp on either side proves nothing, so the record applies (it is current state).
    return a is not None and b is not None and a < b


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of at most ``size`` items from any iterable, read lazily."""
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def latest(records: Iterable[T], key: Callable[[T], Any], ts: Callable[[T], datetime | None]) -> dict[Any, T]:
    """One record per key (the newest; the later one on a tie), so one statement never hits a row twice."""
    out: dict[Any, T] = {}
    for rec in records:
        k = key(rec)
        prev = out.get(k)
        if prev is None or not stale(ts(rec), ts(prev)):
            out[k] = rec
    return out


_LIMITS: dict[str, dict[str, int]] = {}


def fit(table: Table, row: dict[str, Any]) -> dict[str, Any]:
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


def select_in(
    session: Session, stmt: Any, column: QueryableAttribute[Any] | ColumnElement[Any], values: Iterable[Any]
) -> list[Row]:
    """Run a select once per chunk of an IN list (an array on PostgreSQL) and gather the rows."""
    vals = sorted(set(values))
    pg = dialect(session) == "postgresql"
    rows: list[Row] = []
    for chunk in chunks(vals, PG_IN_CHUNK if pg else IN_CHUNK):
        cond = column == any_(bindparam(None, PgArray(chunk), type_=ARRAY(column.type))) if pg else column.in_(chunk)
        rows.extend(session.execute(stmt.where(cond)).all())
    return rows


def insert_for(session: Session, table: Table) -> Any:
    """The dialect's INSERT (with ON CONFLICT) for the table."""
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


def upsert(
    session: Session,
    table: Table,
    rows: list[dict[str, Any]],
    *,
    keys: Sequence[str],
    compare: Sequence[str],
    returning: Sequence[str],
    watermark: bool = False,
) -> list[Row]:
    """INSERT … ON CONFLICT DO UPDATE that rewrites a row only when a compared value differs and, with
    `watermark`, only when the incoming external_updated_at is not older; returns the rows written."""
    if not rows:
        return []
    pg = dialect(session) == "postgresql"
    ins = insert_for(session, table)
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
    written: list[Row] = []
    for chunk in chunks(rows, PG_WRITE_CHUNK if pg else WRITE_CHUNK):
        source = ins.from_select(columns, _pg_unnest(table, columns, chunk)) if pg else ins
        stmt = source.on_conflict_do_update(index_elements=[table.c[k] for k in keys], set_=set_, where=cond).returning(
            *(table.c[c] for c in returning)
        )
        written.extend(session.execute(stmt).all() if pg else session.execute(stmt, list(chunk)).all())
    return written


def differs(old: Row, row: dict[str, Any], fields: Sequence[str]) -> bool:
    """Whether any of the fields differs between a stored row and a new one (datetimes compared in UTC)."""
    for f in fields:
        a, b = getattr(old, f), row[f]
        if isinstance(a, datetime) or isinstance(b, datetime):
            a, b = utc(a), utc(b)
        if a != b:
            return True
    return False
