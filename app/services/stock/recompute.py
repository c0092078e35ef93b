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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, bindparam, func, insert, or_, select, text
from sqlalchemy.orm import Session

from app.domain.settings import StockSettings, resolve_settings
from app.domain.stock import CampaignWindow, IncomingStock, Signal, Status, StockAssessment, VariantFacts, assess
from app.domain.velocity import WindowSales, blended_velocity
from app.infra.sql import PgArray, bind_ids, dialect, epoch, greatest, id_in, least
from app.models import (
    Campaign,
    CampaignStatus,
    FanoutStatus,
    Product,
    PurchaseOrderStatus,
    StockEvent,
    StockState,
    Store,
    StoreSetting,
    StoreStatus,
    SubscriptionState,
    Variant,
)
from app.services.stock import writer
from app.services.stock.storefront_state import PUBLISHED_FIELDS

log = logging.getLogger(__name__)

# Part of every input fingerprint: bump it when the engine's rules change, so every state is recomputed.
ENGINE_VERSION = 1
# Sold-out time counts in whole steps of this many hours (under a step short at most), so a variant's sold-out time
# (an open span, or a closed one the window's start slides across) moves its figures 24 / step times a day; in whole
# hours that rewrote a quarter of the sold-out variants' states every 15-minute run.
SOLD_OUT_STEP_HOURS = 6
_STEPS_PER_DAY = 24 // SOLD_OUT_STEP_HOURS
_STEP = SOLD_OUT_STEP_HOURS * 3600
# Each variant's steps begin at its own offset into the step (variant id × a prime coprime to the step's seconds,
# modulo the step): restocks arrive together (a morning delivery), and with one shared boundary every span the
# windows' start slides across stepped in the same 15-minute run (5,700 of 100,000 states at once, every six hours).
_PHASE_PRIME = 3607


def soldout_phase(variant_id: int) -> int:
    """Seconds into a sold-out step at which this variant's steps begin (what the inputs statement adds)."""
    return variant_id * _PHASE_PRIME % _STEP


# Subscriptions in these states still wait for stock and count as open demand.
OPEN_WAITLIST_STATES = (SubscriptionState.ACTIVE, SubscriptionState.PENDING_CONFIRMATION)
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


@dataclass(slots=True)
class Overrides:
    store: dict[str, Any] = field(default_factory=dict)
    product: dict[int, dict[str, Any]] = field(default_factory=dict)
    variant: dict[int, dict[str, Any]] = field(default_factory=dict)


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


def _inputs_sql(
    session: Session, windows: Sequence[int], scoped: bool, product_keys: bool = False, variant_keys: bool = False
) -> str:
    """One statement for every input of every variant (or of :vids), with its input fingerprint, that returns
    only the variants whose fingerprint differs from the stored one (or that have no state yet).

    Net units per window (cancellations excluded), sold-out time per window (from the sell-out spans, in
    steps of SOLD_OUT_STEP_HOURS, see there), open incoming stock, open waitlist size, the resolved supplier
    lead time and the variant's context key (engine version, store day, effective settings, campaigns: see
    _context_keys) are hashed together in the database, so an unchanged variant never reaches Python.
    """
    pg = dialect(session) == "postgresql"
    vscope = f" AND {id_in(session, 'variant_id', 'vids')}" if scoped else ""
    sales = ", ".join(
        f"SUM(CASE WHEN ordered_at >= :w{w} THEN quantity - refunded_quantity ELSE 0 END) AS u{w}" for w in windows
    )
    hours = [f"{least(session, _soldout_steps_sql(session, w), str(w * _STEPS_PER_DAY))} AS o{w}" for w in windows]
    # The literal, not a parameter, as before: the planner sees the same statement (a hot path).
    open_po = (
        f"store_id = :sid AND status = '{PurchaseOrderStatus.OPEN.value}' AND quantity - received_quantity > 0{vscope}"
    )
    if pg:
        incoming = (
            "SELECT variant_id, string_agg(CAST(quantity - received_quantity AS TEXT) || '@' || "  # noqa: S608
            f"to_char(expected_on, 'YYYY-MM-DD'), ',' ORDER BY expected_on, id) AS items FROM purchase_orders "
            f"WHERE {open_po} GROUP BY variant_id"
        )
        # Integer keys: no text cast of every variant's ids to find the few with their own settings or campaigns.
        keyed = "unnest(CAST(:{0}_ids AS bigint[]), CAST(:{0}_keys AS text[])) AS {0}(id, value) ON {0}.id = {1}"
    else:
        incoming = (
            "SELECT variant_id, group_concat(item, ',') AS items FROM (SELECT variant_id, "  # noqa: S608
            "CAST(quantity - received_quantity AS TEXT) || '@' || CAST(expected_on AS TEXT) AS item "
            f"FROM purchase_orders WHERE {open_po} ORDER BY variant_id, expected_on, id) GROUP BY variant_id"
        )
        keyed = "json_each(:{0}) AS {0} ON {0}.key = CAST({1} AS TEXT)"
    own = [f"{k}.value" for k, on in (("vk", variant_keys), ("pk", product_keys)) if on]
    context = f"COALESCE({', '.join(own)}, CAST(:ctx AS TEXT))" if own else "CAST(:ctx AS TEXT)"
    # Absent aggregates read as zero/empty, as the engine reads them: a variant's first sell-out event, or first
    # sale, must not change its fingerprint by turning a NULL into a 0.
    parts = [
        context,
        "v.sellable_quantity", "v.tracked", "v.inventory_policy", "v.backorder", "v.published", "p.published",
        "v.price", "su.lead_time_days",
        *[f"COALESCE(s.u{w}, 0)" for w in windows], *[f"COALESCE(so.o{w}, 0)" for w in windows],
        "COALESCE(inc.items, '')", "COALESCE(wl.n, 0)",
    ]  # fmt: skip
    if pg:
        # A 64-bit hash of the typed values: a third of the cost of casting each to text for md5, on every variant.
        fingerprint = f"CAST(hash_record_extended(ROW({', '.join(parts)}), 0) AS TEXT)"
    else:
        fingerprint = "md5(" + " || '|' || ".join(f"COALESCE(CAST({x} AS TEXT), '~')" for x in parts) + ")"
    return (
        "WITH sales AS ("  # noqa: S608 - identifiers are fixed or built from ints; values are bound
        f" SELECT variant_id, {sales} FROM order_lines WHERE store_id = :sid AND ordered_at >= :since"
        f" AND ordered_at < :now AND cancelled = :false AND variant_id IS NOT NULL{vscope} GROUP BY variant_id"
        # Only the spans that reach into the longest window: older ones count for nothing.
        f"), soldout AS (SELECT variant_id, {', '.join(hours)} FROM stock_events"
        " WHERE store_id = :sid AND kind = :sellout AND (ended_at IS NULL OR ended_at > :since)"
        f"{vscope} GROUP BY variant_id"
        f"), inc AS ({incoming}"
        "), wl AS ("
        " SELECT variant_id, COUNT(*) AS n FROM subscriptions"
        f" WHERE store_id = :sid AND state IN :open_states{vscope} GROUP BY variant_id"
        "), x AS ("
        " SELECT v.id AS vid, v.product_id AS pid, v.sellable_quantity AS qty, v.tracked, v.inventory_policy,"
        " v.backorder, v.published AS v_pub, p.published AS p_pub, v.price, su.lead_time_days AS supplier_lead, "
        + ", ".join([*(f"s.u{w}" for w in windows), *(f"so.o{w}" for w in windows)])
        + ", inc.items, wl.n AS waitlist, st.sellable_quantity AS prev_qty, st.fingerprint AS prev_fp,"
        " st.published_fingerprint AS published_fp, st.input_fingerprint AS prev_input_fp,"
        f" {fingerprint} AS input_fp"
        " FROM variants v JOIN products p ON p.id = v.product_id"
        " LEFT JOIN suppliers su ON su.id = COALESCE(v.supplier_id, p.supplier_id) AND su.store_id = :sid"
        " LEFT JOIN stock_states st ON st.variant_id = v.id"
        " LEFT JOIN sales s ON s.variant_id = v.id"
        " LEFT JOIN soldout so ON so.variant_id = v.id"
        " LEFT JOIN inc ON inc.variant_id = v.id"
        " LEFT JOIN wl ON wl.variant_id = v.id"
        + (f" LEFT JOIN {keyed.format('pk', 'v.product_id')}" if product_keys else "")
        + (f" LEFT JOIN {keyed.format('vk', 'v.id')}" if variant_keys else "")
        + " WHERE v.store_id = :sid AND v.deleted_at IS NULL AND p.deleted_at IS NULL"
        + (f" AND {id_in(session, 'v.id', 'vids')}" if scoped else "")
        + ") SELECT * FROM x WHERE prev_fp IS NULL OR prev_input_fp IS NULL OR prev_input_fp <> input_fp ORDER BY vid"
    )


def _soldout_steps_sql(session: Session, window: int) -> str:
    """SQL summing, over a variant's sell-out spans, the whole steps of SOLD_OUT_STEP_HOURS they overlap the last
    `window` days, each variant's steps offset by its soldout_phase."""
    phase = f"(variant_id * {_PHASE_PRIME} % {_STEP})"
    if dialect(session) == "postgresql":
        # Timestamp differences summed as an interval: one numeric EXTRACT per variant instead of two per span.
        overlap = f"LEAST(COALESCE(ended_at, :now), :now) - GREATEST(occurred_at, :w{window})"
        return f"FLOOR((EXTRACT(EPOCH FROM SUM(GREATEST(interval '0', {overlap}))) + {phase}) / {_STEP})"
    end = least(session, epoch(session, "COALESCE(ended_at, :now)"), ":now_s")
    start = greatest(session, epoch(session, "occurred_at"), f":ws{window}")
    seconds = f"SUM({greatest(session, '0', f'{end} - {start}')})"
    # An integer, as on PostgreSQL: a span that adds no step must leave the fingerprint as it was.
    return f"CAST(({seconds} + {phase}) / {_STEP}.0 AS INTEGER)"


def _changed_inputs(
    session: Session,
    store_id: int,
    windows: Sequence[int],
    now: datetime,
    variant_ids: Sequence[int] | None,
    contexts: tuple[str, dict[str, str], dict[str, str]],
) -> Sequence[Any]:
    """The rows of _inputs_sql: variants whose inputs changed since their state was computed."""
    default_ctx, product_ctx, variant_ctx = contexts
    now_s = now.timestamp()
    params: dict[str, Any] = {
        "sid": store_id,
        "since": now - timedelta(days=max(windows)),
        "now": now,
        "now_s": now_s,
        "false": False,
        "sellout": "sellout",
        "open_states": list(OPEN_WAITLIST_STATES),
        "ctx": default_ctx,
    }
    pg = dialect(session) == "postgresql"
    for name, keys in (("pk", product_ctx), ("vk", variant_ctx)):
        if keys and pg:
            params[f"{name}_ids"] = PgArray([int(k) for k in keys])
            params[f"{name}_keys"] = PgArray(list(keys.values()))
        elif keys:
            params[name] = json.dumps(keys)
    for w in windows:
        params[f"w{w}"] = now - timedelta(days=w)
        params[f"ws{w}"] = now_s - w * 86400.0
    sql = text(_inputs_sql(session, windows, variant_ids is not None, bool(product_ctx), bool(variant_ctx))).bindparams(
        _expanding("open_states")
    )
    if variant_ids is not None:
        sql, params["vids"] = bind_ids(session, sql, "vids", variant_ids)
    if not pg:
        raw = session.connection().connection.driver_connection
        raw.create_function("md5", 1, _md5, deterministic=True)  # type: ignore[union-attr]
        return session.execute(sql, params).all()
    # The statement's estimated cost is high enough for JIT, which only adds ~0.1 s of compiling to it. And the
    # default cost of passing a row from a parallel worker keeps everything after the sales scan (the joins and the
    # fingerprint of every variant) on one core: at a tenth of it the planner spreads them too (median 0.77 s to
    # 0.67 s on the 100,000-variant benchmark store). Both for this statement only.
    session.execute(text("SET LOCAL jit = off"))
    session.execute(text("SET LOCAL parallel_tuple_cost = 0.01"))
    try:
        return session.execute(sql, params).all()
    finally:
        session.execute(text("RESET parallel_tuple_cost"))


def _md5(value: str | None) -> str | None:
    return None if value is None else hashlib.md5(value.encode(), usedforsecurity=False).hexdigest()


def _parse_incoming(items: str | None) -> tuple[IncomingStock, ...]:
    """'qty@YYYY-MM-DD,…' from the inputs query, in expected order."""
    if not items:
        return ()
    out = []
    for item in items.split(","):
        qty, _, day = item.partition("@")
        out.append(IncomingStock(quantity=int(qty), expected_on=date.fromisoformat(day)))
    return tuple(out)


def _context_keys(
    session: Session, store_id: int, overrides: Overrides, campaigns: dict[int, list[CampaignWindow]], today: date
) -> tuple[str, dict[str, str], dict[str, str]]:
    """The part of each variant's input fingerprint that is not a column: engine version, the store's day, the
    effective settings (and whether they override the supplier's lead time) and the product's campaigns.

    Returned as the store default plus the products and variants that differ from it, keyed by id as text.
    """

    def key(product: dict[str, Any] | None, variant: dict[str, Any] | None, pid: int | None) -> str:
        settings = resolve_settings(overrides.store, product, variant)
        own_lead_time = "lead_time_days" in (variant or {}) or "lead_time_days" in (product or {})
        windows = tuple((c.campaign_id, c.starts_on, c.ends_on, c.uplift_pct) for c in campaigns.get(pid or 0, ()))
        return _fingerprint((ENGINE_VERSION, today, repr(settings), own_lead_time, windows))

    default = key(None, None, None)
    products = {str(pid): key(overrides.product.get(pid), None, pid) for pid in {*overrides.product, *campaigns}}
    variants: dict[str, str] = {}
    if overrides.variant:
        owned = select(Variant.id, Variant.product_id).where(
            Variant.store_id == store_id, Variant.id.in_(list(overrides.variant))
        )
        owners: dict[int, int] = {int(vid): int(pid) for vid, pid in session.execute(owned)}
        for vid, values in overrides.variant.items():
            if vid in owners:
                pid = owners[vid]
                variants[str(vid)] = key(overrides.product.get(pid), values, pid)
    return default, products, variants


def _expanding(name: str) -> Any:
    return bindparam(name, expanding=True)


def _campaigns_by_product(session: Session, store_id: int, today: date) -> dict[int, list[CampaignWindow]]:
    campaigns = session.scalars(
        select(Campaign).where(
            Campaign.store_id == store_id, Campaign.status == CampaignStatus.PLANNED, Campaign.ends_on >= today
        )
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
    # Only what the storefront shows: a velocity or priority that moves must not rewrite a product page.
    values["fingerprint"] = _fingerprint([values[k] for k in PUBLISHED_FIELDS])
    return values


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a recompute of one store reads once before its variants: settings, windows, campaigns, context keys."""

    overrides: Overrides
    windows: list[int]
    campaigns: dict[int, list[CampaignWindow]]
    contexts: tuple[str, dict[str, str], dict[str, str]]


def _plan(session: Session, store_id: int, today: date) -> _Plan:
    overrides = load_overrides(session, store_id)
    windows = sorted({w for st in _settings_variants(overrides) for w in st.velocity_windows})
    campaigns = _campaigns_by_product(session, store_id, today)
    return _Plan(overrides, windows, campaigns, _context_keys(session, store_id, overrides, campaigns, today))


class StateAssessor:
    """Turns rows of the inputs statement into state values with the pure stock engine."""

    def __init__(
        self,
        store_id: int,
        overrides: Overrides,
        campaigns: dict[int, list[CampaignWindow]],
        windows: Sequence[int],
        today: date,
    ) -> None:
        self.store_id, self.overrides, self.campaigns, self.today = store_id, overrides, campaigns, today
        n = len(windows)
        self.u_at = {w: 10 + i for i, w in enumerate(windows)}
        self.o_at = {w: 10 + n + i for i, w in enumerate(windows)}
        self.tail = 10 + 2 * n
        self.settings_cache: dict[tuple[int | None, int | None], StockSettings] = {}

    def state(self, row: Sequence[Any]) -> dict[str, Any]:
        """The state values of one variant (without its fingerprints and timestamps)."""
        overrides = self.overrides
        vid, pid, qty, tracked, policy, backorder, v_pub, p_pub, price, supplier_lead = row[:10]
        items, waitlist = row[self.tail : self.tail + 2]
        key = (pid if pid in overrides.product else None, vid if vid in overrides.variant else None)
        settings = self.settings_cache.get(key)
        if settings is None:
            settings = resolve_settings(overrides.store, overrides.product.get(pid), overrides.variant.get(vid))
            self.settings_cache[key] = settings
        if (
            supplier_lead is not None
            and "lead_time_days" not in overrides.variant.get(vid, {})
            and "lead_time_days" not in overrides.product.get(pid, {})
        ):
            lead_time = int(supplier_lead)
        else:
            lead_time = settings.lead_time_days
        window_sales = [
            WindowSales(
                days=w,
                units_net=int(row[self.u_at[w]] or 0),
                sellable_days=max(0.0, w - int(row[self.o_at[w]] or 0) / _STEPS_PER_DAY),
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
            incoming=_parse_incoming(items),
            waitlist_open=int(waitlist or 0),
            published=bool(v_pub and p_pub),
            campaigns=tuple(self.campaigns.get(pid, ())),
        )
        return _state_values(vid, self.store_id, facts, assess(facts, settings, self.today), vel.by_window)


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

    plan = _plan(session, store_id, today)
    counted = (
        select(func.count())
        .select_from(Variant)
        .join(Product, Product.id == Variant.product_id)
        .where(Variant.store_id == store_id, Variant.deleted_at.is_(None), Product.deleted_at.is_(None))
    )
    if ids is not None:
        counted = counted.where(Variant.id.in_(ids))
    n_variants = int(session.execute(counted).scalar_one())
    rows = _changed_inputs(session, store_id, plan.windows, now, ids, plan.contexts)

    assessor = StateAssessor(store_id, plan.overrides, plan.campaigns, plan.windows, today)
    # More than one batch on PostgreSQL: the database writes each batch while the engine assesses the next.
    threaded = dialect(session) == "postgresql" and len(rows) > writer.WRITE_BATCH
    out = writer.BatchWriter(session, store_id, today, threaded=threaded)
    upserts: list[dict[str, Any]] = []
    changed_ids: list[int] = []
    events: list[dict[str, Any]] = []
    try:
        for row in rows:
            vid, qty, tracked = row[0], row[2], row[3]
            prev_qty, _prev_fp, published_fp, _prev_input_fp, input_fp = row[assessor.tail + 2 :]
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
            if tracked and prev_qty is not None:
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
    "soldout_phase",
    "store_today",
    "store_zone",
    "zone_named",
]
