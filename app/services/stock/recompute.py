"""Stock recompute: set-based aggregates in SQL, every decision in app.domain, bulk writes.

A recompute reads the variants whose inputs changed with one statement (app.services.stock.inputs),
assesses each with the pure stock engine, writes only the states whose figures changed (writer.py),
records one row per variant per day of history, and turns edges in sellable quantity into stock events
(restock: ≤ 0 → > 0; sell-out: > 0 → ≤ 0).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, func, insert, or_, select, text
from sqlalchemy.orm import Session

from app.domain.history import sales_days, sold_out_start
from app.domain.settings import StockSettings, layer_settings, planned_lead_time
from app.domain.stock import CampaignWindow, Signal, Status, StockAssessment, VariantFacts, assess, on_its_way
from app.domain.velocity import WindowSales, blended_velocity
from app.infra.sql import bind_ids, dialect, id_in
from app.models import (
    FanoutStatus,
    Product,
    StockEvent,
    StockState,
    Store,
    StoreSetting,
    StoreStatus,
    Variant,
)
from app.services.stock import storefront_state, writer
from app.services.stock.inputs import (
    STEPS_PER_DAY,
    Overrides,
    changed_inputs,
    fingerprint,
    parse_incoming,
    plan_for,
)
from app.services.stock.storefront_state import PUBLISHED_FIELDS

log = logging.getLogger(__name__)


# The stock statuses that put a variant at risk (so does any ads signal but ok); one rule for the admin API,
# the dashboard, the exports and the digest.
AT_RISK_STATUSES = (Status.LOW_STOCK, Status.OUT_OF_STOCK)


def at_risk_condition() -> ColumnElement[bool]:
    """Low or sold out, or ads advised to throttle or pause: the stock states a merchant should look at."""
    return or_(StockState.status.in_(AT_RISK_STATUSES), StockState.signal != Signal.OK)


def live_variant_filters(store_id: int) -> list[ColumnElement[bool]]:
    """A store's variants still for sale (query joined to Product): deleted ones keep their rows but are not shown."""
    return [
        Variant.store_id == store_id,
        Product.store_id == store_id,
        Variant.deleted_at.is_(None),
        Product.deleted_at.is_(None),
    ]


@dataclass(frozen=True, slots=True)
class RecomputeResult:
    """What one recompute did."""

    store_id: int
    variants: int
    changed: int
    restocks: int
    sellouts: int
    restock_event_ids: tuple[int, ...] = ()


def zone_named(name: str | None) -> ZoneInfo:
    """The timezone of this IANA name; UTC when there is none or it is unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def store_zone(store: Store) -> ZoneInfo:
    """The store's own timezone; UTC when it has none or an unknown one."""
    return zone_named(store.timezone)


def store_today(store: Store, now: datetime) -> date:
    """The calendar date at the store, in its own timezone."""
    return now.astimezone(store_zone(store)).date()


def store_values(session: Session, store_id: int) -> dict[str, Any]:
    """The store-level settings values only (engine settings, texts, sender, alerts), {} when none are saved."""
    values = session.execute(
        select(StoreSetting.values).where(StoreSetting.store_id == store_id, StoreSetting.scope == "store").limit(1)
    ).scalar_one_or_none()
    return dict(values) if isinstance(values, dict) else {}


# stock_events.source of a sell-out span recorded for a variant first seen sold out (not an edge BackSoon saw).
FOUND_SOLD_OUT = "found"


def _state_values(
    variant_id: int,
    store_id: int,
    facts: VariantFacts,
    a: StockAssessment,
    windows: Sequence[float | None],
    based_on_days: int | None = None,
    level_incoming: int = 0,
) -> dict[str, Any]:
    incoming_total = sum(i.quantity for i in facts.incoming)
    values: dict[str, Any] = {
        "variant_id": variant_id,
        "store_id": store_id,
        "sellable_quantity": facts.sellable_quantity,
        "velocity": facts.velocity,
        "velocity_windows": list(windows),
        "sales_days": based_on_days,
        "days_on_hand": a.days_on_hand,
        "stockout_on": a.stockout_on,
        "reorder_by": a.reorder_by,
        "suggested_reorder_qty": a.suggested_reorder_qty,
        "status": str(a.status),
        "badge_kind": str(a.badge.kind),
        "badge_quantity": a.badge.quantity,
        "signal": str(a.signal),
        "signal_reason": a.signal_reason,
        "restock_eta": a.restock_eta,
        "eta_source": a.eta_source,
        "priority": a.priority,
        "waitlist_open": facts.waitlist_open,
        "incoming_quantity": incoming_total,
        "on_its_way": on_its_way(a.status, a.restock_eta, level_incoming),
        "lead_time_days": facts.lead_time_days,
        "campaign_id": a.campaign_stockout.campaign_id if a.campaign_stockout else None,
        "campaign_stockout_on": a.campaign_stockout.stockout_on if a.campaign_stockout else None,
        "reasons": list(a.reasons),
    }
    # Only what the storefront shows: a velocity or priority that moves must not rewrite a product page.
    values["fingerprint"] = fingerprint([values[k] for k in PUBLISHED_FIELDS])
    return values


class StateAssessor:
    """Turns rows of the inputs statement into state values with the pure stock engine."""

    def __init__(
        self,
        store_id: int,
        overrides: Overrides,
        campaigns: dict[int, list[CampaignWindow]],
        windows: Sequence[int],
        today: date,
        known: Mapping[int, int] | None = None,
    ) -> None:
        self.store_id, self.overrides, self.campaigns, self.today = store_id, overrides, campaigns, today
        # Each window's known days (Plan.known); the whole window when there is no order horizon.
        self.known = {w: (known or {}).get(w, w) for w in windows}
        n = len(windows)
        self.u_at = {w: 10 + i for i, w in enumerate(windows)}
        self.o_at = {w: 10 + n + i for i, w in enumerate(windows)}
        self.tail = 10 + 2 * n
        # After the tail's inputs (items, waitlist, closed_pos, level_incoming): the stored state's columns.
        self.stored = self.tail + 4
        self.settings_cache: dict[tuple[int | None, int | None], tuple[StockSettings, dict[str, str]]] = {}

    def state(self, row: Sequence[Any]) -> dict[str, Any]:
        """The state values of one variant (without its fingerprints and timestamps)."""
        overrides = self.overrides
        vid, pid, qty, tracked, policy, backorder, v_pub, p_pub, price, supplier_lead = row[:10]
        items, waitlist, closed_pos, level_incoming = row[self.tail : self.stored]
        key = (pid if pid in overrides.product else None, vid if vid in overrides.variant else None)
        layered = self.settings_cache.get(key)
        if layered is None:
            layered = layer_settings(overrides.store, overrides.product.get(pid), overrides.variant.get(vid))
            self.settings_cache[key] = layered
        settings, sources = layered
        # An override beats the supplier's lead time; only the store's (or the default) counts as not entered.
        lead_time, lead_source = planned_lead_time(
            settings, sources["lead_time_days"], None if supplier_lead is None else int(supplier_lead)
        )
        known = self.known
        # A window with no known day keeps one day of length (its minimum) and no sellable time: it gets no rate.
        window_sales = [
            WindowSales(
                days=known[w] or 1,
                units_net=int(row[self.u_at[w]] or 0),
                sellable_days=max(0.0, known[w] - int(row[self.o_at[w]] or 0) / STEPS_PER_DAY),
            )
            for w in settings.velocity_windows
        ]
        vel = blended_velocity(window_sales, settings.velocity_weights, settings.min_sellable_days)
        facts = VariantFacts(
            variant_id=vid,
            sellable_quantity=int(qty),
            tracked=bool(tracked),
            policy=policy,
            backorder=bool(backorder),
            price=float(price or 0),
            velocity=vel.per_day,
            lead_time_days=lead_time,
            incoming=parse_incoming(items),
            waitlist_open=int(waitlist or 0),
            published=bool(v_pub and p_pub),
            campaigns=tuple(self.campaigns.get(pid, ())),
            lead_time_entered=lead_source in ("supplier", "product", "variant"),
            po_closed_while_sold_out=bool(closed_pos),
        )
        assessment = assess(facts, settings, self.today)
        return _state_values(
            vid,
            self.store_id,
            facts,
            assessment,
            vel.by_window,
            sales_days(window_sales, vel.by_window),
            int(level_incoming or 0),
        )


# Variant ids per statement when finding the products of a scoped recompute (well under any bind-parameter limit).
_LISTING_CHUNK = 10_000


def _lock_store(session: Session, store_id: int) -> None:
    # Two recomputes of one store must not both see the same edge and record it twice.
    if dialect(session) == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": 7_300_000_000 + store_id})


def recompute(
    session: Session,
    store_id: int,
    variant_ids: Sequence[int] | None = None,
    *,
    now: datetime | None = None,
) -> RecomputeResult:
    """Recompute the stock state of a store's variants (all, or the given ids) and record edges."""
    now = now or datetime.now(UTC)
    store = session.get(Store, store_id)
    if store is None:
        raise LookupError(f"store {store_id} not found")
    _lock_store(session, store_id)
    today = store_today(store, now)
    ids = None if variant_ids is None else sorted(set(variant_ids))
    if ids is not None and not ids:
        return RecomputeResult(store_id, 0, 0, 0, 0)

    plan = plan_for(session, store_id, today, now)
    counted = (
        select(func.count())
        .select_from(Variant)
        .join(Product, Product.id == Variant.product_id)
        .where(Variant.store_id == store_id, Variant.deleted_at.is_(None), Product.deleted_at.is_(None))
    )
    if ids is not None:
        counted = counted.where(Variant.id.in_(ids))
    n_variants = int(session.execute(counted).scalar_one())
    rows = changed_inputs(session, store_id, plan.windows, now, ids, plan.contexts, plan.known)

    assessor = StateAssessor(store_id, plan.overrides, plan.campaigns, plan.windows, today, plan.known)
    # More than one batch on PostgreSQL: the database writes each batch while the engine assesses the next.
    threaded = dialect(session) == "postgresql" and len(rows) > writer.WRITE_BATCH
    out = writer.BatchWriter(session, store_id, today, threaded=threaded)
    upserts: list[dict[str, Any]] = []
    changed_ids: list[int] = []
    events: list[dict[str, Any]] = []
    found_sold_out: list[int] = []
    try:
        for row in rows:
            vid, qty, tracked = row[0], row[2], row[3]
            prev_qty, _prev_fp, published_fp, _prev_input_fp, input_fp = row[assessor.stored :]
            values = assessor.state(row)
            # Only variants whose inputs changed come back from the database: each gets its new state written.
            values["input_fingerprint"] = input_fp
            values["published_fingerprint"] = published_fp
            values["computed_at"] = now
            values["changed_at"] = now
            upserts.append(values)
            changed_ids.append(vid)
            if len(upserts) >= writer.WRITE_BATCH:
                # Written in batches so memory stays flat however large the store is.
                out.write(upserts)
                upserts = []
            if tracked and prev_qty is None and qty <= 0:
                found_sold_out.append(vid)
            elif tracked and prev_qty is not None:
                if prev_qty <= 0 < qty:
                    events.append(_event(store_id, vid, "restock", int(prev_qty), int(qty), now))
                elif prev_qty > 0 >= qty:
                    events.append(_event(store_id, vid, "sellout", int(prev_qty), int(qty), now))
    except BaseException:
        # The writer must be done with the session before the caller rolls it back.
        out.close(raise_error=False)
        raise
    out.write(upserts)
    out.close()
    if found_sold_out and _record_found_sold_out(session, store_id, found_sold_out, now):
        # Their states were assessed without the span just recorded: assessed again with it, in this run.
        again = changed_inputs(session, store_id, plan.windows, now, found_sold_out, plan.contexts, plan.known)
        inline = writer.BatchWriter(session, store_id, today, threaded=False)
        for start in range(0, len(again), writer.WRITE_BATCH):
            batch = again[start : start + writer.WRITE_BATCH]
            inline.write([{**assessor.state(row), **_written(row, assessor.stored, now)} for row in batch])
    # A variant's new state can change what its product's card says: those products' listings are redone, and so
    # are those of the variants asked for that have no state to compute any more (deleted since).
    touched = {int(row[1]) for row in rows}
    for chunk in range(0, len(ids or ()), _LISTING_CHUNK):
        part = (ids or [])[chunk : chunk + _LISTING_CHUNK]
        touched.update(
            session.scalars(select(Variant.product_id).where(Variant.store_id == store_id, Variant.id.in_(part)))
        )
    storefront_state.refresh_listings(session, store_id, touched, now, plan.overrides)
    restock_ids: list[int] = []
    if events:
        _end_sellout_spans(session, store_id, [ev["variant_id"] for ev in events], now)
        for ev in events:
            row_id = session.execute(insert(StockEvent).values(**ev).returning(StockEvent.id)).scalar_one()
            if ev["kind"] == "restock":
                restock_ids.append(row_id)
    first_today = store.last_recomputed_at is None or store_today(store, store.last_recomputed_at) != today
    if ids is None and first_today and len(changed_ids) < n_variants:
        # The changed states' history rows went with them; the day's first full run records the others too.
        writer.fill_history(session, store_id, today)
    if ids is None:
        store.last_recomputed_at = now
    session.flush()
    result = RecomputeResult(
        store_id=store_id,
        variants=n_variants,
        changed=len(changed_ids),
        restocks=sum(1 for e in events if e["kind"] == "restock"),
        sellouts=sum(1 for e in events if e["kind"] == "sellout"),
        restock_event_ids=tuple(restock_ids),
    )
    log.info(
        "recomputed %d variants: %d changed, %d restocks, %d sell-outs",
        result.variants,
        result.changed,
        result.restocks,
        result.sellouts,
        extra={"data": {"store_id": store_id}},
    )
    return result


def _written(row: Sequence[Any], stored: int, now: datetime) -> dict[str, Any]:
    _prev_qty, _prev_fp, published_fp, _prev_input_fp, input_fp = row[stored:]
    return {"input_fingerprint": input_fp, "published_fingerprint": published_fp, "computed_at": now, "changed_at": now}


def _record_found_sold_out(session: Session, store_id: int, variant_ids: Sequence[int], now: datetime) -> int:
    """Record a sell-out span for each variant first seen sold out (none yet open), from app.domain.history's
    start: its last sale, else its stock level's last update, else when it was first seen (its row's creation: the
    connect for every variant there then, and no later than this run). How many were recorded.
    """
    scope = id_in(session, "v.id", "vids")
    sql, ids = bind_ids(
        session,
        text(
            "SELECT v.id, v.sellable_quantity, v.created_at,"  # noqa: S608 - ids bound
            " (SELECT MAX(ol.ordered_at) FROM order_lines ol WHERE ol.store_id = :sid AND ol.variant_id = v.id"
            "  AND ol.cancelled = :false AND ol.quantity > 0),"
            " (SELECT MAX(l.external_updated_at) FROM inventory_levels l JOIN locations loc ON loc.id = l.location_id"
            "  WHERE l.variant_id = v.id AND loc.active = :true AND loc.fulfills_online = :true)"
            f" FROM variants v WHERE v.store_id = :sid AND {scope} AND NOT EXISTS (SELECT 1 FROM stock_events se"
            "  WHERE se.store_id = :sid AND se.variant_id = v.id AND se.kind = :sellout AND se.ended_at IS NULL)"
        ),
        "vids",
        sorted(set(variant_ids)),
    )
    params = {"sid": store_id, "vids": ids, "false": False, "true": True, "sellout": "sellout"}
    spans = []
    for vid, qty, first_seen, last_sale, level_updated in session.execute(sql, params):
        start = sold_out_start(min(_utc(first_seen), now), _utc(last_sale), _utc(level_updated))
        span = _event(store_id, vid, "sellout", int(qty), int(qty), start.at)
        spans.append({**span, "source": FOUND_SOLD_OUT, "details": {"since": str(start.since)}})
    if spans:
        session.execute(insert(StockEvent), spans)
    return len(spans)


def _utc(value: Any) -> Any:
    # SQLite hands back naive datetimes for what was written in UTC.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _end_sellout_spans(session: Session, store_id: int, variant_ids: Sequence[int], now: datetime) -> None:
    # A variant's next event, whichever its kind, ends its open sell-out span.
    sql, ids = bind_ids(
        session,
        text(
            "UPDATE stock_events SET ended_at = :now WHERE store_id = :sid AND kind = :sellout"  # noqa: S608 - ids bound
            f" AND ended_at IS NULL AND {id_in(session, 'variant_id', 'vids')}"
        ),
        "vids",
        sorted(set(variant_ids)),
    )
    session.execute(sql, {"now": now, "sid": store_id, "sellout": "sellout", "vids": ids})


def _event(store_id: int, variant_id: int, kind: str, before: int, after: int, now: datetime) -> dict[str, Any]:
    return {
        "store_id": store_id,
        "variant_id": variant_id,
        "kind": kind,
        "quantity_before": before,
        "quantity_after": after,
        "occurred_at": now,
        "source": "recompute",
        # A restock waits for the notification fan-out; a sell-out is only history.
        "fanout_status": FanoutStatus.PENDING if kind == "restock" else None,
        "details": {},
    }


def active_store_ids(session: Session) -> list[int]:
    """Stores whose stock is kept up to date."""
    return list(session.scalars(select(Store.id).where(Store.status == StoreStatus.ACTIVE).order_by(Store.id)))


# A periodic job recomputes stores one after another up to about this many variants (a larger store runs alone):
# a fleet of small stores costs a few jobs, not one forked work horse, connection and set of follow-ups per store.
BATCH_VARIANTS = 20_000
# ... and no more stores than this, so one job's run (and the stores a failure delays) stays short.
BATCH_STORES = 200


def store_batches(session: Session, store_ids: Sequence[int]) -> list[tuple[int, ...]]:
    """These stores in id order, cut into batches of at most BATCH_STORES stores and, past the first store of a
    batch, at most BATCH_VARIANTS variants (deleted ones not counted)."""
    rows = session.execute(
        select(Variant.store_id, func.count())
        .where(Variant.store_id.in_(store_ids), Variant.deleted_at.is_(None))
        .group_by(Variant.store_id)
    )
    counts = {int(sid): int(n) for sid, n in rows}
    batches: list[tuple[int, ...]] = []
    batch: list[int] = []
    size = 0
    for sid in sorted(store_ids):
        n = counts.get(sid, 0)
        if batch and (size + n > BATCH_VARIANTS or len(batch) >= BATCH_STORES):
            batches.append(tuple(batch))
            batch, size = [], 0
        batch.append(sid)
        size += n
    if batch:
        batches.append(tuple(batch))
    return batches


def set_sellable_from_levels(session: Session, store_id: int, variant_ids: Sequence[int] | None = None) -> None:
    """Set each variant's sellable quantity to the sum of `available` over active, online locations."""
    scope = "" if variant_ids is None else f" AND {id_in(session, 'v.id', 'vids')}"
    sql = text(
        "UPDATE variants AS v SET sellable_quantity = COALESCE(("  # noqa: S608
        " SELECT SUM(COALESCE(l.available, 0)) FROM inventory_levels l JOIN locations loc ON loc.id = l.location_id"
        " WHERE l.variant_id = v.id AND loc.active = :true AND loc.fulfills_online = :true), 0)"
        f" WHERE v.store_id = :sid{scope}"
    )
    params: dict[str, Any] = {"sid": store_id, "true": True}
    if variant_ids is not None:
        sql, params["vids"] = bind_ids(session, sql, "vids", variant_ids)
    session.execute(sql, params)


__all__ = [
    "RecomputeResult",
    "StateAssessor",
    "active_store_ids",
    "recompute",
    "set_sellable_from_levels",
    "store_today",
    "store_zone",
    "zone_named",
]
