"""The merchant's subscriber list: filtered by variant, state, address and SKU or product, one keyset page at a time.

A page costs two queries whatever its size: one aggregate (the per-state counts, how many rows match, how many of
them come before the page) and one for the rows with their variant, latest signup consent and latest delivery.
Pages are cut by (created_at, id), newest first, so a row added or removed meanwhile never shifts another page's
rows into a duplicate or a gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select, true, tuple_
from sqlalchemy.orm import Session

from app.db import as_utc
from app.models import ConsentRecord, Delivery, Product, Subscription, Variant
from app.services.notify.subscribers import STATES, SubscriberRow

__all__ = ["MAX_SKU_SEARCH", "PAGE_SIZE", "Cursor", "Filters", "SubscriberPage", "parse_cursor", "subscriber_page"]

PAGE_SIZE = 50
MAX_SKU_SEARCH = 255
_MAX_ID = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Cursor:
    """A position in the newest-first order: the (created_at, id) of a row, exclusive."""

    created_at: datetime
    id: int

    def token(self) -> str:
        """The cursor as a URL parameter: microseconds since the epoch, a dot, the subscription id."""
        moment = as_utc(self.created_at)
        micros = (moment - _EPOCH) // timedelta(microseconds=1)
        return f"{micros}.{self.id}"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_MICROS = 253402300799999999  # 9999-12-31T23:59:59.999999Z


def parse_cursor(raw: str) -> Cursor | None:
    """A cursor from its URL form, or None when it is not one (never raises)."""
    micros, dot, sid = raw.partition(".")
    if not dot or not micros.isascii() or not sid.isascii() or not micros.isdigit() or not sid.isdigit():
        return None
    if len(micros) > 18 or len(sid) > 19 or int(micros) > _MAX_MICROS or not 0 < int(sid) <= _MAX_ID:
        return None
    return Cursor(_EPOCH + timedelta(microseconds=int(micros)), int(sid))


@dataclass(frozen=True, slots=True)
class Filters:
    """What the merchant narrowed the list to; every part optional."""

    variant_id: int | None = None
    state: str | None = None
    email: str | None = None  # a part of the address, any case
    sku: str | None = None  # the start of a SKU, or a part of the product's title, any case


@dataclass(frozen=True, slots=True)
class SubscriberPage:
    """One page of the list, where it sits among the matches, and the per-state counts of the store or variant."""

    rows: list[SubscriberRow]
    total: int  # rows matching every filter
    start: int  # how many matching rows come before this page
    counts: dict[str, int]  # per state, for the store (or the variant), search and state filters ignored
    next: Cursor | None
    previous: Cursor | None


def _escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _search_conditions(filters: Filters) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if filters.email:
        conds.append(Subscription.email.ilike(f"%{_escape(filters.email.strip().lower())}%", escape="\\"))
    if filters.sku:
        term = _escape(filters.sku.strip())
        conds.append(or_(Variant.sku.ilike(f"{term}%", escape="\\"), Product.title.ilike(f"%{term}%", escape="\\")))
    return conds


def _key() -> Any:
    return tuple_(Subscription.created_at, Subscription.id)


def subscriber_page(
    session: Session,
    store_id: int,
    filters: Filters,
    *,
    after: Cursor | None = None,
    before: Cursor | None = None,
    page_size: int = PAGE_SIZE,
) -> SubscriberPage:
    """One page of the store's subscriptions, newest first, by keyset: two queries whatever the page size.

    ``after`` is the last row of the page before (the "Next" link), ``before`` the first row of the page after
    (the "Previous" link); with neither, the first page.
    """
    base = [Subscription.store_id == store_id]
    if filters.variant_id is not None:
        base.append(Subscription.variant_id == filters.variant_id)
    search = _search_conditions(filters)
    matched = and_(true(), *search)
    if filters.state is not None:
        matched = and_(matched, Subscription.state == filters.state)
    if after is not None:
        ahead = _key() >= tuple_(after.created_at, after.id)
    elif before is not None:
        ahead = _key() > tuple_(before.created_at, before.id)
    else:
        ahead = false()  # nothing comes before the first page
    # One aggregate: the per-state counts (the stats), how many match, and how many of those come before the page.
    agg = session.execute(
        select(
            Subscription.state,
            func.count(),
            func.count().filter(matched),
            func.count().filter(and_(matched, ahead)),
        )
        .select_from(Subscription)
        .join(Variant, Variant.id == Subscription.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .where(*base)
        .group_by(Subscription.state)
    ).all()
    counts: dict[str, int] = {s.value: 0 for s in STATES}
    total = ahead_n = 0
    for st, n, m, a in agg:
        counts[str(st)] = int(n)
        total += int(m)
        ahead_n += int(a)
    if page_size <= 0:
        return SubscriberPage([], total, 0, counts, None, None)

    consent = (
        select(ConsentRecord.text_version, ConsentRecord.given_at)
        .where(ConsentRecord.subscription_id == Subscription.id, ConsentRecord.kind == "signup")
        .order_by(ConsentRecord.id.desc())
        .limit(1)
        .lateral()
    )
    last = (
        select(Delivery.status, Delivery.skip_reason)
        .where(Delivery.subscription_id == Subscription.id)
        .order_by(Delivery.stock_event_id.desc(), Delivery.id.desc())
        .limit(1)
        .lateral()
    )
    q = (
        select(
            Subscription,
            Variant.sku,
            Variant.title,
            Product.title,
            consent.c.text_version,
            consent.c.given_at,
            last.c.status,
            last.c.skip_reason,
        )
        .join(Variant, Variant.id == Subscription.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .outerjoin(consent, true())
        .outerjoin(last, true())
        .where(*base, matched)
    )
    if after is not None:
        q = q.where(_key() < tuple_(after.created_at, after.id)).order_by(
            Subscription.created_at.desc(), Subscription.id.desc()
        )
    elif before is not None:
        q = q.where(_key() > tuple_(before.created_at, before.id)).order_by(
            Subscription.created_at.asc(), Subscription.id.asc()
        )
    else:
        q = q.order_by(Subscription.created_at.desc(), Subscription.id.desc())
    found = list(session.execute(q.limit(page_size)).all())
    if before is not None:
        found.reverse()
    start = max(ahead_n - len(found), 0) if before is not None else ahead_n
    if before is not None and start == 0 and len(found) < page_size and total > len(found):
        # Rows were added or removed since the link was made: show the true first page rather than a short one.
        return subscriber_page(session, store_id, filters, page_size=page_size)
    rows = [_row(*r) for r in found]
    keys = [Cursor(r.created_at, r.id) for r in rows]
    nxt = keys[-1] if keys and start + len(rows) < total else None
    prev = keys[0] if keys and start > 0 else None
    return SubscriberPage(rows, total, start, counts, nxt, prev)


def _row(
    sub: Subscription,
    sku: str | None,
    v_title: str,
    p_title: str,
    consent_version: str | None,
    consent_at: datetime | None,
    last_status: str | None,
    last_reason: str | None,
) -> SubscriberRow:
    return SubscriberRow(
        id=sub.id,
        email=sub.email,
        state=sub.state,
        skip_reason=sub.skip_reason,
        locale=sub.locale,
        source=sub.source,
        created_at=sub.created_at,
        confirmed_at=sub.confirmed_at,
        notified_at=sub.notified_at,
        variant_id=sub.variant_id,
        sku=sku,
        variant_title=v_title,
        product_title=p_title,
        consent_version=consent_version,
        consent_at=consent_at,
        last_status=last_status,
        last_reason=last_reason,
    )
