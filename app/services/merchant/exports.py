"""Streamed CSV exports of one store: subscribers with their consent records, at-risk variants, waitlist demand.

Rows are read through a server-side cursor (``yield_per``) and written one CSV line at a time, so a store with a
million subscribers costs the same memory as one with ten. Every query is scoped by the store. Cells that a
spreadsheet would run as a formula (starting with = + - @, or a tab/CR that some spreadsheets strip before them)
are prefixed with a single quote: a shopper's email or a product title must never execute in the merchant's Excel.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.models import ConsentRecord, Product, StockState, Subscription, Variant
from app.services.stock.recompute import at_risk_condition, live_variant_filters

__all__ = ["EXPORTS", "Export", "csv_lines", "rows_for", "safe_cell"]

# Rows fetched per round trip from the server-side cursor.
YIELD_PER = 500
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """One cell as text, neutralised against CSV formula injection (OWASP's leading-quote rule)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        # SQLite hands back naive UTC, PostgreSQL the session's zone: always write UTC.
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(round(value, 4))
    if isinstance(value, int | Decimal):
        return str(value)  # numbers, negative ones included, are data, not formulas
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    """The header, then one properly quoted CSV line per row (RFC 4180, CRLF), produced lazily."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)

    def line(cells: Iterable[object]) -> str:
        writer.writerow(cells)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield line(header)
    for row in rows:
        yield line(safe_cell(cell) for cell in row)


def _stream(session: Session, query: Select[*tuple[Any, ...]]) -> Iterator[Sequence[object]]:
    # stream_results + yield_per: psycopg opens a named (server-side) cursor and fetches YIELD_PER rows at a time.
    result = session.execute(query.execution_options(yield_per=YIELD_PER))
    for row in result:
        yield tuple(row)


SUBSCRIBER_HEADER = (
    "subscription_id",
    "email",
    "state",
    "skip_reason",
    "source",
    "locale",
    "variant_id",
    "sku",
    "product_title",
    "variant_title",
    "subscribed_at",
    "confirmed_at",
    "notified_at",
    "unsubscribed_at",
    "converted_at",
    "consent_kind",
    "consent_text_version",
    "consent_text",
    "consent_given_at",
    "consent_ip_hash",
)


def subscriber_rows(session: Session, store_id: int) -> Iterator[Sequence[object]]:
    """One row per subscription and consent record (a subscription without a record gets one row, blank consent)."""
    query = (
        select(
            Subscription.id,
            Subscription.email,
            Subscription.state,
            Subscription.skip_reason,
            Subscription.source,
            Subscription.locale,
            Subscription.variant_id,
            Variant.sku,
            Product.title,
            Variant.title,
            Subscription.created_at,
            Subscription.confirmed_at,
            Subscription.notified_at,
            Subscription.unsubscribed_at,
            Subscription.converted_at,
            ConsentRecord.kind,
            ConsentRecord.text_version,
            ConsentRecord.text,
            ConsentRecord.given_at,
            ConsentRecord.ip_hash,
        )
        .join(Variant, (Variant.id == Subscription.variant_id) & (Variant.store_id == store_id))
        .join(Product, (Product.id == Variant.product_id) & (Product.store_id == store_id))
        .outerjoin(
            ConsentRecord,
            (ConsentRecord.subscription_id == Subscription.id) & (ConsentRecord.store_id == store_id),
        )
        .where(Subscription.store_id == store_id)
        .order_by(Subscription.id, ConsentRecord.id)
    )
    return _stream(session, query)


AT_RISK_HEADER = (
    "variant_id",
    "sku",
    "product_title",
    "variant_title",
    "status",
    "sellable_quantity",
    "velocity_per_day",
    "days_on_hand",
    "lead_time_days",
    "stockout_on",
    "reorder_by",
    "suggested_reorder_qty",
    "incoming_quantity",
    "restock_eta",
    "signal",
    "signal_reason",
    "waitlist_open",
)


def at_risk_rows(session: Session, store_id: int) -> Iterator[Sequence[object]]:
    """Variants low or sold out, or whose ads should throttle or pause; soonest stockout first."""
    query = (
        select(
            Variant.id,
            Variant.sku,
            Product.title,
            Variant.title,
            StockState.status,
            StockState.sellable_quantity,
            StockState.velocity,
            StockState.days_on_hand,
            StockState.lead_time_days,
            StockState.stockout_on,
            StockState.reorder_by,
            StockState.suggested_reorder_qty,
            StockState.incoming_quantity,
            StockState.restock_eta,
            StockState.signal,
            StockState.signal_reason,
            StockState.waitlist_open,
        )
        .join(Product, Product.id == Variant.product_id)
        .join(StockState, StockState.variant_id == Variant.id)
        .where(StockState.store_id == store_id, *live_variant_filters(store_id), at_risk_condition())
        .order_by(StockState.stockout_on.asc().nulls_first(), StockState.days_on_hand.asc().nulls_last(), Variant.id)
    )
    return _stream(session, query)


DEMAND_HEADER = (
    "variant_id",
    "sku",
    "product_title",
    "variant_title",
    "waitlist_open",
    "status",
    "sellable_quantity",
    "incoming_quantity",
    "restock_eta",
    "reorder_by",
    "suggested_reorder_qty",
    "priority",
)


def demand_rows(session: Session, store_id: int) -> Iterator[Sequence[object]]:
    """Variants with shoppers waiting, ranked by reorder priority (as the dashboard's demand table)."""
    query = (
        select(
            Variant.id,
            Variant.sku,
            Product.title,
            Variant.title,
            StockState.waitlist_open,
            StockState.status,
            StockState.sellable_quantity,
            StockState.incoming_quantity,
            StockState.restock_eta,
            StockState.reorder_by,
            StockState.suggested_reorder_qty,
            StockState.priority,
        )
        .join(Product, Product.id == Variant.product_id)
        .join(StockState, StockState.variant_id == Variant.id)
        .where(StockState.store_id == store_id, *live_variant_filters(store_id), StockState.waitlist_open > 0)
        .order_by(StockState.priority.desc(), StockState.waitlist_open.desc(), Variant.id)
    )
    return _stream(session, query)


@dataclass(frozen=True, slots=True)
class Export:
    """One downloadable export: its label, what it holds, its columns and its row source."""

    kind: str
    label: str
    description: str
    header: tuple[str, ...]
    rows: Callable[[Session, int], Iterator[Sequence[object]]]


EXPORTS: dict[str, Export] = {
    e.kind: e
    for e in (
        Export(
            "subscribers",
            "Subscribers",
            "Every waitlist subscription with its state and each consent record (what was agreed to, and when).",
            SUBSCRIBER_HEADER,
            subscriber_rows,
        ),
        Export(
            "at-risk",
            "At-risk variants",
            "Variants low or sold out, or whose ads should slow down, with stockout and reorder dates.",
            AT_RISK_HEADER,
            at_risk_rows,
        ),
        Export(
            "demand",
            "Waitlist demand",
            "Variants with shoppers waiting, ranked by reorder priority.",
            DEMAND_HEADER,
            demand_rows,
        ),
    )
}


def rows_for(session: Session, store_id: int, kind: str) -> Iterator[str]:
    """The CSV lines of one export of one store (KeyError for an unknown kind)."""
    export = EXPORTS[kind]
    return csv_lines(export.header, export.rows(session, store_id))
