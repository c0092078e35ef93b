"""The recompute's inputs: one SQL statement reads every input of every variant and returns only the variants
whose input fingerprint changed, so an unchanged variant never reaches Python.

Net units per window, sold-out time per window (in whole steps, see SOLD_OUT_STEP_HOURS), open incoming stock,
open waitlist size, the resolved supplier lead time, the purchase orders closed while the variant was sold out and
a context key (engine version, store day, effective
settings, campaigns) are hashed together in the database.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from app.domain.history import known_days, known_horizon
from app.domain.settings import StockSettings, layer_settings, resolve_settings
from app.domain.stock import CampaignWindow, IncomingStock
from app.infra.sql import PgArray, bind_ids, dialect, epoch, greatest, id_in, least
from app.models import (
    Campaign,
    CampaignStatus,
    OrderEmailAccess,
    Product,
    PurchaseOrderStatus,
    Store,
    StoreSetting,
    SubscriptionState,
    Variant,
)

# Part of every input fingerprint: bump it when the engine's rules change, so every state is recomputed.
# 2: a restock date comes only from a dated open purchase order or an entered lead time the merchant shows, and
# no lead time follows a purchase order that closed while the variant was sold out.
# 3: each window counts only the days whose orders are known (the store's orders_history_from), and a variant found
# sold out has a sell-out span from its last sale, its stock level's last update or when it was found.
# 4: a backorder ship date counts the units already owed.
# 5: a sold-out variant without a date says whether the platform reports stock on its way (on_its_way).
# 6: a variant already short on a campaign's first day without that campaign's uplift is not its campaign risk.
ENGINE_VERSION = 6


# Sold-out time counts in whole steps of this many hours (under a step short at most), so a variant's sold-out time
# (an open span, or a closed one the window's start slides across) moves its figures 24 / step times a day; in whole
# hours that rewrote a quarter of the sold-out variants' states every 15-minute run.
SOLD_OUT_STEP_HOURS = 6


STEPS_PER_DAY = 24 // SOLD_OUT_STEP_HOURS


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


@dataclass(slots=True)
class Overrides:
    store: dict[str, Any] = field(default_factory=dict)
    product: dict[int, dict[str, Any]] = field(default_factory=dict)
    variant: dict[int, dict[str, Any]] = field(default_factory=dict)


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
    session: Session,
    windows: Sequence[int],
    scoped: bool,
    product_keys: bool = False,
    variant_keys: bool = False,
    known: Mapping[int, int] | None = None,
) -> str:
    """One statement for every input of every variant (or of :vids), with its input fingerprint, that returns
    only the variants whose fingerprint differs from the stored one (or that have no state yet).

    Net units per window (cancellations excluded), sold-out time per window (from the sell-out spans, in
    steps of SOLD_OUT_STEP_HOURS, see there), open incoming stock, open waitlist size, the resolved supplier
    lead time and the variant's context key (engine version, store day, effective settings, campaigns: see
    _context_keys) are hashed together in the database, so an unchanged variant never reaches Python.
    Window w starts at :w{w}, ``known[w]`` days back (its known days, see app.domain.history.known_days).
    """
    known = known or {w: w for w in windows}
    pg = dialect(session) == "postgresql"
    vscope = f" AND {id_in(session, 'variant_id', 'vids')}" if scoped else ""
    sales = ", ".join(
        f"SUM(CASE WHEN ordered_at >= :w{w} THEN quantity - refunded_quantity ELSE 0 END) AS u{w}" for w in windows
    )
    hours = [
        f"{least(session, _soldout_steps_sql(session, w), str(known[w] * STEPS_PER_DAY))} AS o{w}" for w in windows
    ]
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
    # Purchase orders received or cancelled (or open but fully received) since the variant's open sell-out span
    # began: they closed without restocking it, so no lead-time guess may follow them. Closed orders cannot be
    # edited, so updated_at is when they closed.
    shut = (
        "SELECT po.variant_id, COUNT(*) AS n FROM purchase_orders po JOIN stock_events se"  # noqa: S608
        " ON se.variant_id = po.variant_id AND se.store_id = :sid AND se.kind = :sellout AND se.ended_at IS NULL"
        f" WHERE po.store_id = :sid AND (po.status <> '{PurchaseOrderStatus.OPEN.value}'"
        " OR po.quantity - po.received_quantity <= 0) AND po.updated_at >= se.occurred_at"
        + (f" AND {id_in(session, 'po.variant_id', 'vids')}" if scoped else "")
        + " GROUP BY po.variant_id"
    )
    own = [f"{k}.value" for k, on in (("vk", variant_keys), ("pk", product_keys)) if on]
    context = f"COALESCE({', '.join(own)}, CAST(:ctx AS TEXT))" if own else "CAST(:ctx AS TEXT)"
    # Absent aggregates read as zero/empty, as the engine reads them: a variant's first sell-out event, or first
    # sale, must not change its fingerprint by turning a NULL into a 0.
    parts = [
        context,
        "v.sellable_quantity", "v.tracked", "v.inventory_policy", "v.backorder", "v.published", "p.published",
        "v.price", "su.lead_time_days",
        *[f"COALESCE(s.u{w}, 0)" for w in windows], *[f"COALESCE(so.o{w}, 0)" for w in windows],
        "COALESCE(inc.items, '')", "COALESCE(wl.n, 0)", "COALESCE(sh.n, 0)", "COALESCE(lin.n, 0)",
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
        f"), sh AS ({shut}"
        # The platform's undated incoming stock at the locations that sell online (as the sellable quantity counts).
        "), lin AS (SELECT l.variant_id, SUM(l.incoming) AS n FROM inventory_levels l"
        " JOIN locations loc ON loc.id = l.location_id"
        " WHERE l.store_id = :sid AND l.incoming > 0 AND loc.active = :true AND loc.fulfills_online = :true"
        + (f" AND {id_in(session, 'l.variant_id', 'vids')}" if scoped else "")
        + " GROUP BY l.variant_id"
        "), x AS ("
        " SELECT v.id AS vid, v.product_id AS pid, v.sellable_quantity AS qty, v.tracked, v.inventory_policy,"
        " v.backorder, v.published AS v_pub, p.published AS p_pub, v.price, su.lead_time_days AS supplier_lead, "
        + ", ".join([*(f"s.u{w}" for w in windows), *(f"so.o{w}" for w in windows)])
        + ", inc.items, wl.n AS waitlist, sh.n AS closed_pos, lin.n AS level_incoming,"
        " st.sellable_quantity AS prev_qty, st.fingerprint AS prev_fp,"
        " st.published_fingerprint AS published_fp, st.input_fingerprint AS prev_input_fp,"
        f" {fingerprint} AS input_fp"
        " FROM variants v JOIN products p ON p.id = v.product_id"
        " LEFT JOIN suppliers su ON su.id = COALESCE(v.supplier_id, p.supplier_id) AND su.store_id = :sid"
        " LEFT JOIN stock_states st ON st.variant_id = v.id"
        " LEFT JOIN sales s ON s.variant_id = v.id"
        " LEFT JOIN soldout so ON so.variant_id = v.id"
        " LEFT JOIN inc ON inc.variant_id = v.id"
        " LEFT JOIN wl ON wl.variant_id = v.id"
        " LEFT JOIN sh ON sh.variant_id = v.id"
        " LEFT JOIN lin ON lin.variant_id = v.id"
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


def changed_inputs(
    session: Session,
    store_id: int,
    windows: Sequence[int],
    now: datetime,
    variant_ids: Sequence[int] | None,
    contexts: tuple[str, dict[str, str], dict[str, str]],
    known: Mapping[int, int] | None = None,
) -> Sequence[Any]:
    """The rows of _inputs_sql: variants whose inputs changed since their state was computed.

    ``known`` gives each window's known days (all of it when absent): its start moves to that many days back, so
    the days before the store's order horizon are neither counted as sales-less nor as sold out.
    """
    default_ctx, product_ctx, variant_ctx = contexts
    known = known or {w: w for w in windows}
    now_s = now.timestamp()
    params: dict[str, Any] = {
        "sid": store_id,
        "since": now - timedelta(days=max(known[w] for w in windows)),
        "now": now,
        "now_s": now_s,
        "false": False,
        "true": True,
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
        # Bounds computed here, not joined in: the statement is the recompute's hot path.
        params[f"w{w}"] = now - timedelta(days=known[w])
        params[f"ws{w}"] = now_s - known[w] * 86400.0
    statement = _inputs_sql(session, windows, variant_ids is not None, bool(product_ctx), bool(variant_ctx), known)
    sql = text(statement).bindparams(_expanding("open_states"))
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


def parse_incoming(items: str | None) -> tuple[IncomingStock, ...]:
    """'qty@YYYY-MM-DD,…' from the inputs query, in expected order."""
    if not items:
        return ()
    out = []
    for item in items.split(","):
        qty, _, day = item.partition("@")
        out.append(IncomingStock(quantity=int(qty), expected_on=date.fromisoformat(day)))
    return tuple(out)


def _context_keys(
    session: Session,
    store_id: int,
    overrides: Overrides,
    campaigns: dict[int, list[CampaignWindow]],
    today: date,
    known: Mapping[int, int] | None = None,
) -> tuple[str, dict[str, str], dict[str, str]]:
    """The part of each variant's input fingerprint that is not a column: engine version, the store's day, the
    effective settings (and whether they override the supplier's lead time), the product's campaigns and the
    windows' known days (a moved order horizon changes the figures without changing any column).

    Returned as the store default plus the products and variants that differ from it, keyed by id as text.
    """
    history = tuple(sorted((known or {}).items()))

    def key(product: dict[str, Any] | None, variant: dict[str, Any] | None, pid: int | None) -> str:
        settings, sources = layer_settings(overrides.store, product, variant)
        own_lead_time = sources["lead_time_days"] in ("product", "variant")
        windows = tuple((c.campaign_id, c.starts_on, c.ends_on, c.uplift_pct) for c in campaigns.get(pid or 0, ()))
        return fingerprint((ENGINE_VERSION, today, repr(settings), own_lead_time, windows, history))

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


def campaigns_by_product(session: Session, store_id: int, today: date) -> dict[int, list[CampaignWindow]]:
    """The planned, not yet ended campaigns on each product (by id), as the recompute applies them."""
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


@dataclass(frozen=True, slots=True)
class Plan:
    """What a recompute of one store reads once before its variants: settings, windows, campaigns, context keys."""

    overrides: Overrides
    windows: list[int]
    campaigns: dict[int, list[CampaignWindow]]
    contexts: tuple[str, dict[str, str], dict[str, str]]
    # Each window's known days (app.domain.history.known_days): the whole window without an order horizon.
    known: dict[int, int] = field(default_factory=dict)


def plan_for(session: Session, store_id: int, today: date, now: datetime | None = None) -> Plan:
    """What a recompute at ``now`` reads once; without ``now`` every window's days are taken as known."""
    overrides = load_overrides(session, store_id)
    windows = sorted({w for st in _settings_variants(overrides) for w in st.velocity_windows})
    campaigns = campaigns_by_product(session, store_id, today)
    horizon = None
    if now is not None:
        row = session.execute(
            select(Store.orders_history_from, Store.order_email_access).where(Store.id == store_id)
        ).one_or_none()
        if row is not None:
            horizon = known_horizon(row[0], now, orders_readable=row[1] != OrderEmailAccess.NO_ORDERS)
    known = {w: w if now is None else known_days(w, now, horizon) for w in windows}
    contexts = _context_keys(session, store_id, overrides, campaigns, today, known)
    return Plan(overrides, windows, campaigns, contexts, known)


def fingerprint(values: Sequence[Any]) -> str:
    return hashlib.blake2b(repr(tuple(values)).encode(), digest_size=16).hexdigest()
