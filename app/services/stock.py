"""Stock recompute: set-based aggregates in SQL, every decision in app.domain, bulk writes.

A recompute reads each variant's net sales per window and its sold-out time per window with
one aggregate query each, assesses every variant with the pure stock engine, writes only the
states whose figures changed, records one row per variant per day of history, and turns
edges in sellable quantity into stock events (restock: ≤ 0 → > 0; sell-out: > 0 → ≤ 0).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, Connection, bindparam, delete, func, insert, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.domain.settings import StockSettings, resolve_settings
from app.domain.stock import CampaignWindow, IncomingStock, StockAssessment, VariantFacts, assess
from app.domain.velocity import WindowSales, blended_velocity
from app.models import (
    Campaign,
    DirtyVariant,
    Product,
    PurchaseOrder,
    StockEvent,
    StockState,
    Store,
    StoreSetting,
    Subscription,
    Supplier,
    Variant,
)
from app.queue import JobQueue, JobSpec, enqueue_after_commit
from app.services.sqlfn import dialect, epoch, greatest, least

log = logging.getLogger(__name__)

WRITE_BATCH = 10_000
# Part of every input fingerprint: bump it when the engine's rules change, so every state is recomputed.
ENGINE_VERSION = 1
HISTORY_IN_LIST_MAX = 5000
DIRTY_BATCH = 500
# Subscriptions in these states still wait for stock and count as open demand.
OPEN_WAITLIST_STATES = ("active", "pending_confirmation")
# The stock statuses that put a variant at risk (so does any ads signal but ok); one rule for the admin API,
# the dashboard, the exports and the digest.
AT_RISK_STATUSES = ("low_stock", "out_of_stock")


def at_risk_condition() -> ColumnElement[bool]:
    """Low or sold out, or ads advised to throttle or pause: the stock states a merchant should look at."""
    return or_(StockState.status.in_(AT_RISK_STATUSES), StockState.signal != "ok")


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


@dataclass(slots=True)
class Overrides:
    store: dict[str, Any] = field(default_factory=dict)
    product: dict[int, dict[str, Any]] = field(default_factory=dict)
    variant: dict[int, dict[str, Any]] = field(default_factory=dict)


def store_zone(store: Store) -> ZoneInfo:
    """The store's own timezone; UTC when it has none or an unknown one."""
    try:
        return ZoneInfo(store.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def store_today(store: Store, now: datetime) -> date:
    """The calendar date at the store, in its own timezone."""
    return now.astimezone(store_zone(store)).date()


def store_values(session: Session, store_id: int) -> dict[str, Any]:
    """The store-level settings values only (engine settings, texts, sender, alerts), {} when none are saved."""
    values = session.execute(
        select(StoreSetting.values).where(StoreSetting.store_id == store_id, StoreSetting.scope == "store").limit(1)
    ).scalar_one_or_none()
    return dict(values) if isinstance(values, dict) else {}


def load_overrides(session: Session, store_id: int) -> Overrides:
    """A store's settings overrides: its store-level values and those of each product and variant."""
    out = Overrides()
    rows = session.execute(
        select(StoreSetting.scope, StoreSetting.product_id, StoreSetting.variant_id, StoreSetting.values).where(
            StoreSetting.store_id == store_id
        )
    )
    for scope, product_id, variant_id, values in rows:
        if scope == "store":
            out.store = dict(values or {})
        elif scope == "product" and product_id is not None:
            out.product[product_id] = dict(values or {})
        elif scope == "variant" and variant_id is not None:
            out.variant[variant_id] = dict(values or {})
    return out


def _sales_by_window(
    session: Session | Connection,
    store_id: int,
    windows: Sequence[int],
    now: datetime,
    variant_ids: Sequence[int] | None,
) -> dict[int, dict[int, int]]:
    """Net units per variant per window: one aggregate over order lines, cancellations excluded."""
    params: dict[str, Any] = {"sid": store_id, "since": now - timedelta(days=max(windows)), "now": now}
    cols = []
    for w in windows:
        params[f"w{w}"] = now - timedelta(days=w)
        cols.append(f"SUM(CASE WHEN ordered_at >= :w{w} THEN quantity - refunded_quantity ELSE 0 END) AS u{w}")
    scope = ""
    if variant_ids is not None:
        scope = " AND variant_id IN :vids"
    sql = text(
        f"SELECT variant_id, {', '.join(cols)} FROM order_lines "  # noqa: S608 - columns built from ints
        f"WHERE store_id = :sid AND ordered_at >= :since AND ordered_at < :now "
        f"AND cancelled = :false AND variant_id IS NOT NULL{scope} GROUP BY variant_id"
    )
    params["false"] = False
    if variant_ids is not None:
        sql = sql.bindparams(_expanding("vids"))
        params["vids"] = list(variant_ids)
    result: dict[int, dict[int, int]] = {}
    for row in session.execute(sql, params):
        result[int(row[0])] = {w: int(row[i + 1] or 0) for i, w in enumerate(windows)}
    return result


def _soldout_seconds(
    session: Session | Connection,
    store_id: int,
    windows: Sequence[int],
    now: datetime,
    variant_ids: Sequence[int] | None,
) -> dict[int, dict[int, float]]:
    """Seconds each variant spent sold out inside each window, from its sell-out/restock edges."""
    now_s = now.timestamp()
    params: dict[str, Any] = {"sid": store_id, "now": now, "now_s": now_s, "sellout": "sellout"}
    cols = []
    e_end = least(session, epoch(session, "e"), ":now_s")
    for w in windows:
        params[f"ws{w}"] = now_s - w * 86400.0
        start = greatest(session, epoch(session, "s"), f":ws{w}")
        cols.append(f"SUM({greatest(session, '0', f'{e_end} - {start}')}) AS o{w}")
    scope = " AND variant_id IN :vids" if variant_ids is not None else ""
    sql = text(
        "WITH ev AS ("  # noqa: S608 - identifiers are fixed, values are bound
        " SELECT variant_id, kind, occurred_at,"
        " LEAD(occurred_at) OVER (PARTITION BY variant_id ORDER BY occurred_at, id) AS next_at"
        f" FROM stock_events WHERE store_id = :sid{scope}"
        "), spans AS ("
        " SELECT variant_id, occurred_at AS s, COALESCE(next_at, :now) AS e FROM ev WHERE kind = :sellout"
        f") SELECT variant_id, {', '.join(cols)} FROM spans GROUP BY variant_id"
    )
    if variant_ids is not None:
        sql = sql.bindparams(_expanding("vids"))
        params["vids"] = list(variant_ids)
    result: dict[int, dict[int, float]] = {}
    for row in session.execute(sql, params):
        result[int(row[0])] = {w: float(row[i + 1] or 0.0) for i, w in enumerate(windows)}
    return result


def _expanding(name: str) -> Any:
    return bindparam(name, expanding=True)


def _incoming(session: Session, store_id: int, variant_ids: Sequence[int] | None) -> dict[int, list[IncomingStock]]:
    q = select(
        PurchaseOrder.variant_id, PurchaseOrder.quantity, PurchaseOrder.received_quantity, PurchaseOrder.expected_on
    ).where(PurchaseOrder.store_id == store_id, PurchaseOrder.status == "open")
    if variant_ids is not None:
        q = q.where(PurchaseOrder.variant_id.in_(variant_ids))
    out: dict[int, list[IncomingStock]] = defaultdict(list)
    for vid, qty, received, expected in session.execute(q):
        remaining = int(qty) - int(received or 0)
        if remaining > 0:
            out[vid].append(IncomingStock(quantity=remaining, expected_on=expected))
    for items in out.values():
        items.sort(key=lambda i: i.expected_on)
    return out


def _waitlists(session: Session, store_id: int, variant_ids: Sequence[int] | None) -> dict[int, int]:
    q = (
        select(Subscription.variant_id, func.count())
        .where(Subscription.store_id == store_id, Subscription.state.in_(OPEN_WAITLIST_STATES))
        .group_by(Subscription.variant_id)
    )
    if variant_ids is not None:
        q = q.where(Subscription.variant_id.in_(variant_ids))
    return {int(vid): int(n) for vid, n in session.execute(q)}


def _campaigns_by_product(session: Session, store_id: int, today: date) -> dict[int, list[CampaignWindow]]:
    campaigns = session.scalars(
        select(Campaign).where(Campaign.store_id == store_id, Campaign.status == "planned", Campaign.ends_on >= today)
    ).all()
    if not campaigns:
        return {}
    by_product: dict[int, list[CampaignWindow]] = defaultdict(list)
    wanted_collections = {c for camp in campaigns for c in (camp.collections or [])}
    product_collections: dict[int, set[str]] = {}
    if wanted_collections:
        for pid, cols in session.execute(select(Product.id, Product.collections).where(Product.store_id == store_id)):
            product_collections[pid] = set(cols or [])
    for camp in campaigns:
        window = CampaignWindow(
            campaign_id=camp.id, starts_on=camp.starts_on, ends_on=camp.ends_on, uplift_pct=float(camp.uplift_pct)
        )
        targets = {int(p) for p in (camp.product_ids or [])}
        if camp.collections:
            wanted = set(camp.collections)
            targets |= {pid for pid, cols in product_collections.items() if cols & wanted}
        for pid in targets:
            by_product[pid].append(window)
    return by_product


def _settings_variants(overrides: Overrides) -> list[StockSettings]:
    """Every distinct effective settings object in the store, to know which windows to aggregate."""
    out = [resolve_settings(overrides.store, None, None)]
    out += [resolve_settings(overrides.store, p, None) for p in overrides.product.values()]
    out += [resolve_settings(overrides.store, None, v) for v in overrides.variant.values()]
    return out


def _fingerprint(values: Sequence[Any]) -> str:
    return hashlib.blake2b(repr(tuple(values)).encode(), digest_size=16).hexdigest()


def _state_values(
    variant_id: int, store_id: int, facts: VariantFacts, a: StockAssessment, windows: Sequence[float | None]
) -> dict[str, Any]:
    incoming_total = sum(i.quantity for i in facts.incoming)
    values: dict[str, Any] = {
        "variant_id": variant_id,
        "store_id": store_id,
        "sellable_quantity": facts.sellable_quantity,
        "velocity": facts.velocity,
        "velocity_windows": list(windows),
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
        "lead_time_days": facts.lead_time_days,
        "campaign_id": a.campaign_stockout.campaign_id if a.campaign_stockout else None,
        "campaign_stockout_on": a.campaign_stockout.stockout_on if a.campaign_stockout else None,
        "reasons": list(a.reasons),
    }
    values["fingerprint"] = _fingerprint([values[k] for k in sorted(values)])
    return values


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

    overrides = load_overrides(session, store_id)
    windows = sorted({w for st in _settings_variants(overrides) for w in st.velocity_windows})
    lead_times: dict[int, int] = {
        sid: lt
        for sid, lt in session.execute(
            select(Supplier.id, Supplier.lead_time_days).where(Supplier.store_id == store_id)
        )
    }

    vq = (
        select(
            Variant.id,
            Variant.product_id,
            Variant.sellable_quantity,
            Variant.tracked,
            Variant.inventory_policy,
            Variant.backorder,
            Variant.published,
            Product.published,
            Variant.price,
            func.coalesce(Variant.supplier_id, Product.supplier_id),
            StockState.sellable_quantity,
            StockState.fingerprint,
            StockState.published_fingerprint,
            StockState.input_fingerprint,
        )
        .join(Product, Product.id == Variant.product_id)
        .outerjoin(StockState, StockState.variant_id == Variant.id)
        .where(Variant.store_id == store_id, Variant.deleted_at.is_(None), Product.deleted_at.is_(None))
        .order_by(Variant.id)
    )
    if ids is not None:
        vq = vq.where(Variant.id.in_(ids))
    variants = session.execute(vq).all()
    sales = _sales_by_window(session, store_id, windows, now, ids)
    soldout = _soldout_seconds(session, store_id, windows, now, ids)
    incoming = _incoming(session, store_id, ids)
    waitlists = _waitlists(session, store_id, ids)
    campaigns = _campaigns_by_product(session, store_id, today)

    settings_cache: dict[tuple[int | None, int | None], StockSettings] = {}
    settings_keys: dict[int, str] = {}
    upserts: list[dict[str, Any]] = []
    changed_ids: list[int] = []
    events: list[dict[str, Any]] = []
    for (
        vid,
        pid,
        qty,
        tracked,
        policy,
        backorder,
        v_pub,
        p_pub,
        price,
        supplier_id,
        prev_qty,
        prev_fp,
        published_fp,
        prev_input_fp,
    ) in variants:
        key = (pid if pid in overrides.product else None, vid if vid in overrides.variant else None)
        settings = settings_cache.get(key)
        if settings is None:
            settings = resolve_settings(overrides.store, overrides.product.get(pid), overrides.variant.get(vid))
            settings_cache[key] = settings
        if (
            supplier_id is not None
            and supplier_id in lead_times
            and "lead_time_days" not in overrides.variant.get(vid, {})
            and "lead_time_days" not in overrides.product.get(pid, {})
        ):
            lead_time = int(lead_times[supplier_id])
        else:
            lead_time = settings.lead_time_days
        v_sales = sales.get(vid, {})
        v_out = soldout.get(vid, {})
        # Sold-out time counts in whole hours, so a sold-out variant's inputs change hourly, not every run.
        # Rounded, not floored: a window sold out throughout comes back from SQL as 604799.9999… seconds.
        out_hours = {w: min(round(v_out.get(w, 0.0) / 3600), w * 24) for w in settings.velocity_windows}
        v_incoming = incoming.get(vid, ())
        v_campaigns = campaigns.get(pid, ())
        waitlist = waitlists.get(vid, 0)
        settings_key = settings_keys.get(id(settings))
        if settings_key is None:
            settings_key = settings_keys[id(settings)] = repr(settings)
        input_fp = _fingerprint(
            (
                ENGINE_VERSION,
                today,
                settings_key,
                qty,
                tracked,
                policy,
                backorder,
                v_pub and p_pub,
                str(price),
                lead_time,
                tuple(v_sales.get(w, 0) for w in settings.velocity_windows),
                tuple(out_hours.values()),
                tuple((i.quantity, i.expected_on) for i in v_incoming),
                waitlist,
                tuple((c.campaign_id, c.starts_on, c.ends_on, c.uplift_pct) for c in v_campaigns),
            )
        )
        if prev_fp and input_fp == prev_input_fp:
            continue
        window_sales = [
            WindowSales(days=w, units_net=v_sales.get(w, 0), sellable_days=max(0.0, w - out_hours[w] / 24.0))
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
            incoming=tuple(v_incoming),
            waitlist_open=waitlist,
            published=bool(v_pub and p_pub),
            campaigns=tuple(v_campaigns),
        )
        assessment = assess(facts, settings, today)
        values = _state_values(vid, store_id, facts, assessment, vel.by_window)
        values["input_fingerprint"] = input_fp
        if values["fingerprint"] != prev_fp or input_fp != prev_input_fp:
            values["published_fingerprint"] = published_fp
            values["computed_at"] = now
            values["changed_at"] = now
            upserts.append(values)
            changed_ids.append(vid)
            if len(upserts) >= WRITE_BATCH:
                # Written in batches so memory stays flat however large the store is.
                _write_states(session, upserts)
                upserts = []
        if tracked and prev_qty is not None:
            if prev_qty <= 0 < qty:
                events.append(_event(store_id, vid, "restock", int(prev_qty), int(qty), now))
            elif prev_qty > 0 >= qty:
                events.append(_event(store_id, vid, "sellout", int(prev_qty), int(qty), now))

    _write_states(session, upserts)
    restock_ids: list[int] = []
    if events:
        for ev in events:
            row_id = session.execute(insert(StockEvent).values(**ev).returning(StockEvent.id)).scalar_one()
            if ev["kind"] == "restock":
                restock_ids.append(row_id)
    first_today = store.last_recomputed_at is None or store_today(store, store.last_recomputed_at) != today
    _write_history(session, store_id, today, changed_ids, fill_missing=ids is None and first_today)
    if ids is None:
        store.last_recomputed_at = now
    session.flush()
    result = RecomputeResult(
        store_id=store_id,
        variants=len(variants),
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
        "fanout_status": "pending" if kind == "restock" else None,
        "details": {},
    }


STATE_COLUMNS = (
    "variant_id",
    "store_id",
    "sellable_quantity",
    "velocity",
    "velocity_windows",
    "days_on_hand",
    "stockout_on",
    "reorder_by",
    "suggested_reorder_qty",
    "status",
    "badge_kind",
    "badge_quantity",
    "signal",
    "signal_reason",
    "restock_eta",
    "eta_source",
    "priority",
    "waitlist_open",
    "incoming_quantity",
    "lead_time_days",
    "campaign_id",
    "campaign_stockout_on",
    "reasons",
    "fingerprint",
    "input_fingerprint",
    "published_fingerprint",
    "computed_at",
    "changed_at",
)
_JSON_COLUMNS = frozenset({"velocity_windows", "reasons"})


def _write_states(session: Session, rows: list[dict[str, Any]]) -> None:
    """Upsert changed states: COPY into a temp table and one INSERT … ON CONFLICT on PostgreSQL."""
    if not rows:
        return
    if dialect(session) != "postgresql":
        ins = sqlite_insert(StockState)
        stmt = ins.on_conflict_do_update(
            index_elements=[StockState.variant_id],
            set_={c: getattr(ins.excluded, c) for c in STATE_COLUMNS if c not in ("variant_id", "store_id")},
        )
        for start in range(0, len(rows), WRITE_BATCH):
            session.execute(stmt, rows[start : start + WRITE_BATCH])
        return
    # Delete-and-COPY: one pass of row versions with no temp table and no per-row conflict check;
    # readers keep seeing the old rows until commit, and published_fingerprint is carried over.
    ids = [row["variant_id"] for row in rows]
    session.execute(
        text("DELETE FROM stock_states WHERE variant_id = ANY(:ids)"),
        {"ids": ids},
    )
    raw = session.connection().connection.driver_connection
    assert raw is not None
    json_idx = [i for i, c in enumerate(STATE_COLUMNS) if c in _JSON_COLUMNS]
    with raw.cursor() as cur, cur.copy(f"COPY stock_states ({', '.join(STATE_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            values = [row[c] for c in STATE_COLUMNS]
            for i in json_idx:
                values[i] = json.dumps(values[i])
            copy.write_row(values)


_HISTORY_SQL = (
    "INSERT INTO stock_state_history"
    " (store_id, variant_id, day, sellable_quantity, velocity, days_on_hand, status, signal)"
    " SELECT store_id, variant_id, :day, sellable_quantity, velocity, days_on_hand, status, signal"
    " FROM stock_states WHERE store_id = :sid{scope}"
    " ON CONFLICT (variant_id, day) DO {action}"
)
_HISTORY_UPDATE = (
    "UPDATE SET sellable_quantity = excluded.sellable_quantity, velocity = excluded.velocity,"
    " days_on_hand = excluded.days_on_hand, status = excluded.status, signal = excluded.signal"
)


def _write_history(
    session: Session, store_id: int, today: date, changed_ids: Sequence[int], *, fill_missing: bool
) -> None:
    """Keep one history row per variant per store-local day: changed states overwrite today's row,
    and the day's first full recompute fills in the variants that did not change."""
    params: dict[str, Any] = {"sid": store_id, "day": today}
    if len(changed_ids) > HISTORY_IN_LIST_MAX:
        # Rewriting the whole store's day server-side beats shipping a huge id list.
        session.execute(text(_HISTORY_SQL.format(scope="", action=_HISTORY_UPDATE)), params)
        return
    if changed_ids:
        sql = text(_HISTORY_SQL.format(scope=" AND variant_id IN :vids", action=_HISTORY_UPDATE))
        session.execute(sql.bindparams(_expanding("vids")), {**params, "vids": list(changed_ids)})
    if fill_missing:
        session.execute(text(_HISTORY_SQL.format(scope="", action="NOTHING")), params)


def mark_dirty(session: Session, jobs: JobQueue, store_id: int, variant_ids: Iterable[int], reason: str) -> int:
    """Record variants whose inputs changed and enqueue one collapsed recompute for the store after commit."""
    ids = sorted(set(variant_ids))
    if not ids:
        return 0
    now = datetime.now(UTC)
    rows = [{"store_id": store_id, "variant_id": vid, "marked_at": now, "reason": reason[:32]} for vid in ids]
    ins = pg_insert(DirtyVariant) if dialect(session) == "postgresql" else sqlite_insert(DirtyVariant)
    stmt = ins.on_conflict_do_update(
        index_elements=[DirtyVariant.variant_id],
        set_={"marked_at": ins.excluded.marked_at, "reason": ins.excluded.reason},
    )
    session.execute(stmt, rows)
    enqueue_after_commit(session, jobs, recompute_dirty_job(store_id))
    return len(ids)


def recompute_dirty_job(store_id: int, suffix: str = "") -> JobSpec:
    """The collapsed per-store job that recomputes dirty variants."""
    job_id = f"recompute-dirty-{store_id}" + (f"-{suffix}" if suffix else "")
    return JobSpec("jobs.stock.recompute_dirty", (store_id,), job_id=job_id, queue="high")


def take_dirty_batch(session: Session, store_id: int, limit: int = DIRTY_BATCH) -> list[tuple[int, datetime]]:
    """The oldest dirty variants of a store, locked so a parallel run skips them."""
    q = (
        select(DirtyVariant.variant_id, DirtyVariant.marked_at)
        .where(DirtyVariant.store_id == store_id)
        .order_by(DirtyVariant.marked_at)
        .limit(limit)
    )
    if dialect(session) == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return [(int(v), m) for v, m in session.execute(q)]


def clear_dirty(session: Session, batch: Sequence[tuple[int, datetime]]) -> None:
    """Forget dirty marks that were handled, keeping any re-marked since the batch was read."""
    for vid, marked in batch:
        session.execute(delete(DirtyVariant).where(DirtyVariant.variant_id == vid, DirtyVariant.marked_at <= marked))


def active_store_ids(session: Session) -> list[int]:
    """Stores whose stock is kept up to date."""
    return list(session.scalars(select(Store.id).where(Store.status == "active").order_by(Store.id)))


def set_sellable_from_levels(session: Session, store_id: int, variant_ids: Sequence[int] | None = None) -> None:
    """Set each variant's sellable quantity to the sum of `available` over active, online locations."""
    scope = " AND v.id IN :vids" if variant_ids is not None else ""
    sql = text(
        "UPDATE variants AS v SET sellable_quantity = COALESCE(("  # noqa: S608
        " SELECT SUM(COALESCE(l.available, 0)) FROM inventory_levels l JOIN locations loc ON loc.id = l.location_id"
        " WHERE l.variant_id = v.id AND loc.active = :true AND loc.fulfills_online = :true), 0)"
        f" WHERE v.store_id = :sid{scope}"
    )
    params: dict[str, Any] = {"sid": store_id, "true": True}
    if variant_ids is not None:
        sql = sql.bindparams(_expanding("vids"))
        params["vids"] = list(variant_ids)
    session.execute(sql, params)


__all__ = [
    "RecomputeResult",
    "active_store_ids",
    "clear_dirty",
    "mark_dirty",
    "recompute",
    "recompute_dirty_job",
    "set_sellable_from_levels",
    "store_today",
    "store_zone",
    "take_dirty_batch",
]
