"""The merchant JSON API under /api/v1: store summary, stock state per variant, recompute.

Handlers only read: every figure was computed by the stock service and stored in stock_states,
so nothing here decides anything. Every query is scoped by the store in the URL.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for
from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from app import job_specs
from app.domain.stock import BadgeKind, EtaSource, Signal, Status
from app.models import (
    Product,
    StockEvent,
    StockState,
    StockStateHistory,
    Store,
    StoreStatus,
    SyncRun,
    SyncRunStatus,
    Variant,
)
from app.platforms import registry
from app.services.stock.recompute import at_risk_condition, live_variant_filters, store_today
from app.web.deps import abort_json, db_session, runtime, store_for_request
from app.web.openapi import ApiDoc, error_response, json_response, schema_ref

bp = Blueprint("api", __name__, url_prefix="/api/v1")

STATUSES = tuple(s.value for s in Status)
SIGNALS = tuple(s.value for s in Signal)
BADGES = tuple(b.value for b in BadgeKind)
SORTS = ("priority", "days_on_hand", "stockout_on", "sku", "waitlist")
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
MAX_QUERY_LENGTH = 200
HISTORY_DAYS = 90
EVENTS_LIMIT = 20
# Ids are BIGINT: a larger number in the URL cannot name a row, and would make PostgreSQL fail.
MAX_ID = 2**63 - 1
_INTEGER = re.compile(r"-?[0-9]+")
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")

JsonDict = dict[str, Any]


# ---------------------------------------------------------------------------------------------
# Query parameters
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VariantQuery:
    """Validated filters, sort and page of a variant listing."""

    statuses: tuple[str, ...] = ()
    signals: tuple[str, ...] = ()
    badges: tuple[str, ...] = ()
    q: str | None = None
    at_risk: bool | None = None
    has_waitlist: bool | None = None
    sort: str = "priority"
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE


class _Params:
    """Reads query parameters, collecting every problem so one 400 names them all."""

    def __init__(self, args: MultiDict[str, str]) -> None:
        self.args = args
        self.errors: dict[str, str] = {}

    def integer(self, name: str, default: int, minimum: int, maximum: int | None = None) -> int:
        raw = self.args.get(name)
        if raw is None:
            return default
        # Plain ASCII digits only: int() would also take "1_000", "+5" and non-Latin digits.
        if not _INTEGER.fullmatch(raw.strip()):
            self.errors[name] = f"must be an integer, not {raw[:40]!r}"
            return default
        value = int(raw.strip())
        if value < minimum:
            self.errors[name] = f"must be at least {minimum}"
        elif maximum is not None and value > maximum:
            self.errors[name] = f"must be at most {maximum}"
        return value

    def choices(self, name: str, allowed: Sequence[str]) -> tuple[str, ...]:
        given = self.args.getlist(name)
        if not given:
            return ()
        # "status=a,b" and "status=a&status=b" mean the same.
        values = tuple(part.strip() for raw in given for part in raw.split(","))
        unknown = [v for v in values if v not in allowed]
        if unknown:
            self.errors[name] = f"unknown value {unknown[0][:40]!r}; expected one or more of {', '.join(allowed)}"
            return ()
        return tuple(dict.fromkeys(values))

    def choice(self, name: str, allowed: Sequence[str], default: str) -> str:
        raw = self.args.get(name)
        if raw is None:
            return default
        if raw not in allowed:
            self.errors[name] = f"unknown value {raw[:40]!r}; expected one of {', '.join(allowed)}"
            return default
        return raw

    def boolean(self, name: str) -> bool | None:
        raw = self.args.get(name)
        if raw is None:
            return None
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        self.errors[name] = f"must be true or false, not {raw[:40]!r}"
        return None

    def text(self, name: str, max_length: int) -> str | None:
        raw = self.args.get(name)
        if raw is None or raw.strip() == "":
            return None
        if len(raw) > max_length:
            self.errors[name] = f"must be at most {max_length} characters"
            return None
        # PostgreSQL rejects NUL in text; left through it would surface as a 500.
        if "\x00" in raw:
            self.errors[name] = "must not contain NUL characters"
            return None
        return raw.strip()

    def finish(self) -> None:
        if self.errors:
            names = ", ".join(sorted(self.errors))
            abort_json(400, "invalid_parameter", f"Invalid query parameter(s): {names}.", dict(self.errors))


def parse_variant_query(args: MultiDict[str, str]) -> VariantQuery:
    """Validate the listing's query string; any bad value is a 400 naming the parameter."""
    p = _Params(args)
    query = VariantQuery(
        statuses=p.choices("status", STATUSES),
        signals=p.choices("signal", SIGNALS),
        badges=p.choices("badge", BADGES),
        q=p.text("q", MAX_QUERY_LENGTH),
        at_risk=p.boolean("at_risk"),
        has_waitlist=p.boolean("has_waitlist"),
        sort=p.choice("sort", SORTS, "priority"),
        page=p.integer("page", 1, 1),
        per_page=p.integer("per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE),
    )
    p.finish()
    return query


def check_id(value: int, what: str) -> None:
    """404 for ids no row can have, before they reach the database."""
    if value > MAX_ID:
        abort_json(404, "not_found", f"No such {what}.")


# ---------------------------------------------------------------------------------------------
# Queries (shared with the demo pages)
# ---------------------------------------------------------------------------------------------


def _live(store_id: int) -> list[ColumnElement[bool]]:
    return [StockState.store_id == store_id, *live_variant_filters(store_id)]


def _variant_select(store_id: int) -> Select[Variant, Product, StockState]:
    return (
        select(Variant, Product, StockState)
        .join(Product, Product.id == Variant.product_id)
        .join(StockState, StockState.variant_id == Variant.id)
        .where(*_live(store_id))
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filters(query: VariantQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.statuses:
        conditions.append(StockState.status.in_(query.statuses))
    if query.signals:
        conditions.append(StockState.signal.in_(query.signals))
    if query.badges:
        conditions.append(StockState.badge_kind.in_(query.badges))
    if query.q:
        pattern = f"%{_escape_like(query.q)}%"
        conditions.append(
            or_(
                Variant.sku.ilike(pattern, escape="\\"),
                Variant.title.ilike(pattern, escape="\\"),
                Product.title.ilike(pattern, escape="\\"),
            )
        )
    if query.at_risk is not None:
        risk = at_risk_condition()
        conditions.append(risk if query.at_risk else ~risk)
    if query.has_waitlist is not None:
        conditions.append(StockState.waitlist_open > 0 if query.has_waitlist else StockState.waitlist_open <= 0)
    return conditions


def _order_by(sort: str) -> list[Any]:
    # Variant id last everywhere so pages are stable when the sort key ties.
    orders: dict[str, list[Any]] = {
        "priority": [StockState.priority.desc()],
        "days_on_hand": [StockState.days_on_hand.asc().nulls_last()],
        "stockout_on": [StockState.stockout_on.asc().nulls_last()],
        "sku": [Variant.sku.asc()],
        "waitlist": [StockState.waitlist_open.desc(), StockState.priority.desc()],
    }
    return [*orders[sort], Variant.id.asc()]


@dataclass(frozen=True, slots=True)
class VariantPage:
    """One page of variant items and the total behind it."""

    items: list[JsonDict]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """How many pages the total fills."""
        return math.ceil(self.total / self.per_page)


def list_variants(session: Session, store_id: int, query: VariantQuery) -> VariantPage:
    """The store's variants matching the query, one page of them, with their stock state."""
    conditions = _filters(query)
    base = _variant_select(store_id).where(*conditions)
    total = session.execute(select(func.count()).select_from(base.subquery())).scalar_one()
    offset = (query.page - 1) * query.per_page
    items: list[JsonDict] = []
    # Past the last page there is nothing to read; skipping also keeps a huge page number from
    # becoming an OFFSET the database refuses.
    if offset < total:
        rows = session.execute(base.order_by(*_order_by(query.sort)).offset(offset).limit(query.per_page))
        items = [variant_item(v, p, s) for v, p, s in rows]
    return VariantPage(items=items, total=total, page=query.page, per_page=query.per_page)


def get_variant(session: Session, store_id: int, variant_id: int) -> JsonDict | None:
    """One variant of the store with its stock state, or None (unknown, deleted, other store, not computed)."""
    row = session.execute(_variant_select(store_id).where(Variant.id == variant_id)).one_or_none()
    return None if row is None else variant_item(*row)


def variant_history(session: Session, store: Store, variant_id: int, now: datetime | None = None) -> list[JsonDict]:
    """The variant's daily figures over the last 90 days at the store, oldest first."""
    today = store_today(store, now or datetime.now(UTC))
    since = today - timedelta(days=HISTORY_DAYS - 1)
    rows = session.scalars(
        select(StockStateHistory)
        .where(
            StockStateHistory.store_id == store.id,
            StockStateHistory.variant_id == variant_id,
            StockStateHistory.day >= since,
        )
        .order_by(StockStateHistory.day)
    )
    return [
        {
            "day": iso(h.day),
            "sellable_quantity": h.sellable_quantity,
            "velocity": h.velocity,
            "days_on_hand": h.days_on_hand,
            "status": h.status,
            "signal": h.signal,
        }
        for h in rows
    ]


def variant_events(session: Session, store_id: int, variant_id: int) -> list[JsonDict]:
    """The variant's 20 latest restock and sell-out edges, newest first."""
    rows = session.scalars(
        select(StockEvent)
        .where(StockEvent.store_id == store_id, StockEvent.variant_id == variant_id)
        .order_by(StockEvent.occurred_at.desc(), StockEvent.id.desc())
        .limit(EVENTS_LIMIT)
    )
    return [
        {
            "id": e.id,
            "kind": e.kind,
            "before": e.quantity_before,
            "after": e.quantity_after,
            "occurred_at": iso(e.occurred_at),
            "source": e.source,
        }
        for e in rows
    ]


def store_counts(session: Session, store_id: int) -> JsonDict:
    """Variants per status and per signal, open waitlist total and variants at risk, in three aggregates."""
    live = _live(store_id)

    def grouped(column: Any, keys: Sequence[str]) -> dict[str, int]:
        stmt = (
            select(column, func.count())
            .select_from(StockState)
            .join(Variant, Variant.id == StockState.variant_id)
            .join(Product, Product.id == Variant.product_id)
            .where(*live)
            .group_by(column)
        )
        counts = dict.fromkeys(keys, 0)
        for key, n in session.execute(stmt):
            counts[str(key)] = int(n)
        return counts

    total, waitlist, at_risk = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(StockState.waitlist_open), 0),
            func.count().filter(at_risk_condition()),
        )
        .select_from(StockState)
        .join(Variant, Variant.id == StockState.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .where(*live)
    ).one()
    return {
        "variants": int(total),
        "by_status": grouped(StockState.status, STATUSES),
        "by_signal": grouped(StockState.signal, SIGNALS),
        "waitlist_open": int(waitlist),
        "at_risk": int(at_risk),
    }


def store_summary(session: Session, store: Store) -> JsonDict:
    """The store's identity and its headline counts."""
    return {
        "id": store.id,
        "name": store.name,
        "platform": store.platform,
        "domain": store.domain,
        "timezone": store.timezone,
        "currency": store.currency,
        "status": store.status,
        "last_recomputed_at": iso(store.last_recomputed_at),
        "counts": store_counts(session, store.id),
    }


# ---------------------------------------------------------------------------------------------
# Serialisation
# ---------------------------------------------------------------------------------------------


def iso(value: date | datetime | None) -> str | None:
    """ISO 8601; datetimes in UTC (SQLite hands back naive UTC, PostgreSQL the session's zone)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    return value.isoformat()


def badge_text(kind: str, quantity: int | None) -> str | None:
    """The words a storefront shows for a badge; None when there is no badge."""
    if kind == BadgeKind.ONLY_N_LEFT and quantity is not None:
        return f"Only {quantity} left"
    if kind == BadgeKind.SELLING_FAST:
        return "Selling fast"
    return None


def variant_item(variant: Variant, product: Product, state: StockState) -> JsonDict:
    """A variant with every computed figure of its stock state and the reasons behind them."""
    return {
        "id": variant.id,
        "external_id": variant.external_id,
        "sku": variant.sku,
        "title": variant.title,
        "product_id": product.id,
        "product_title": product.title,
        "price": float(variant.price),
        "tracked": variant.tracked,
        "policy": variant.inventory_policy,
        "sellable_quantity": state.sellable_quantity,
        "velocity": state.velocity,
        "velocity_windows": list(state.velocity_windows or []),
        "days_on_hand": state.days_on_hand,
        "stockout_on": iso(state.stockout_on),
        "reorder_by": iso(state.reorder_by),
        "suggested_reorder_qty": state.suggested_reorder_qty,
        "status": state.status,
        "badge": {
            "kind": state.badge_kind,
            "quantity": state.badge_quantity,
            "text": badge_text(state.badge_kind, state.badge_quantity),
        },
        "signal": {"value": state.signal, "reason": state.signal_reason},
        "restock_eta": {"date": iso(state.restock_eta), "source": state.eta_source},
        "priority": state.priority,
        "waitlist_open": state.waitlist_open,
        "incoming_quantity": state.incoming_quantity,
        "lead_time_days": state.lead_time_days,
        "campaign": (
            None
            if state.campaign_id is None
            else {"id": state.campaign_id, "stockout_on": iso(state.campaign_stockout_on)}
        ),
        "reasons": list(state.reasons or []),
        "computed_at": iso(state.computed_at),
    }


def _link_header(page: VariantPage) -> str | None:
    links: list[str] = []
    args: dict[str, Any] = request.args.to_dict(flat=False)
    view_args: Mapping[str, Any] = request.view_args or {}
    endpoint = request.endpoint or "api.list_variants_view"
    if page.page < page.pages:
        args["page"] = [str(page.page + 1)]
        links.append(f'<{url_for(endpoint, **view_args, **args, _external=True)}>; rel="next"')
    if page.page > 1 and page.pages > 0:
        # From past the end, "prev" leads back to the last page that has items.
        args["page"] = [str(min(page.page - 1, page.pages))]
        links.append(f'<{url_for(endpoint, **view_args, **args, _external=True)}>; rel="prev"')
    return ", ".join(links) or None


# ---------------------------------------------------------------------------------------------
# Handlers
# ---------------------------------------------------------------------------------------------


@bp.get("/stores/<int:store_id>")
def get_store(store_id: int) -> Response:
    """The store's identity and counts by status and signal, waitlist total and variants at risk."""
    check_id(store_id, "store")
    store = store_for_request(store_id)
    return jsonify(store_summary(db_session(), store))


@bp.get("/stores/<int:store_id>/variants")
def list_variants_view(store_id: int) -> Response:
    """One page of the store's variants with their stock state, filtered and sorted."""
    check_id(store_id, "store")
    store = store_for_request(store_id)
    query = parse_variant_query(request.args)
    page = list_variants(db_session(), store.id, query)
    response = jsonify(
        {"items": page.items, "page": page.page, "per_page": page.per_page, "total": page.total, "pages": page.pages}
    )
    link = _link_header(page)
    if link:
        response.headers["Link"] = link
    return response


@bp.get("/stores/<int:store_id>/variants/<int:variant_id>")
def get_variant_view(store_id: int, variant_id: int) -> Response:
    """One variant's stock state with 90 days of history and its latest stock events."""
    check_id(store_id, "store")
    store = store_for_request(store_id)
    check_id(variant_id, "variant")
    session = db_session()
    item = get_variant(session, store.id, variant_id)
    if item is None:
        abort_json(404, "not_found", "No such variant in this store, or its stock state is not computed yet.")
    item["history"] = variant_history(session, store, variant_id)
    item["events"] = variant_events(session, store.id, variant_id)
    return jsonify(item)


@bp.post("/stores/<int:store_id>/recompute")
def recompute_store(store_id: int) -> tuple[Response, int]:
    """Queue a full recompute of the store; a recompute already waiting absorbs this one."""
    check_id(store_id, "store")
    store = store_for_request(store_id)
    enqueued = runtime().jobs.enqueue(job_specs.recompute_store(store.id))
    return jsonify({"enqueued": enqueued}), 202


@bp.get("/stores/<int:store_id>/sync")
def sync_progress(store_id: int) -> Response:
    """The store's latest catalog sync: kind, status, phase, counts and percentage (the admin's progress bar)."""
    check_id(store_id, "store")
    store = store_for_request(store_id)
    run = (
        db_session()
        .execute(select(SyncRun).where(SyncRun.store_id == store.id).order_by(SyncRun.id.desc()).limit(1))
        .scalar_one_or_none()
    )
    if run is None:
        return jsonify({"run": None})
    return jsonify({"run": registry.of(store).sync_progress(run)})


# ---------------------------------------------------------------------------------------------
# OpenAPI description of the handlers above
# ---------------------------------------------------------------------------------------------

_NULLABLE_DATE: JsonDict = {"type": ["string", "null"], "format": "date"}
_ERRORS: JsonDict = {
    "401": error_response("No admin API key was sent"),
    "404": error_response("Unknown store, another store's key, or unknown variant"),
}


def _enum_list_param(name: str, values: Sequence[str], description: str) -> JsonDict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": f"{description}; comma-separated for several. One of: {', '.join(values)}.",
        "schema": {"type": "string"},
        "style": "form",
        "explode": False,
    }


OPENAPI = ApiDoc(
    {
        "/api/v1/stores/{store_id}": {
            "parameters": [{"$ref": "#/components/parameters/StoreId"}],
            "get": {
                "operationId": "getStore",
                "summary": "Store summary and headline counts",
                "tags": ["stores"],
                "security": [{"adminKey": []}],
                "responses": {"200": json_response("The store", schema_ref("StoreSummary")), **_ERRORS},
            },
        },
        "/api/v1/stores/{store_id}/sync": {
            "parameters": [{"$ref": "#/components/parameters/StoreId"}],
            "get": {
                "operationId": "getSyncProgress",
                "summary": "The latest catalog sync of the store and its progress",
                "tags": ["stores"],
                "security": [{"adminKey": []}],
                "responses": {
                    "200": json_response(
                        "The latest sync run, or null before the first",
                        {
                            "type": "object",
                            "required": ["run"],
                            "properties": {
                                "run": {
                                    "type": ["object", "null"],
                                    "properties": {
                                        "id": {"type": "integer"},
                                        "kind": {"type": "string", "enum": ["initial", "reconcile"]},
                                        "status": {
                                            "type": "string",
                                            "enum": [
                                                s.value
                                                for s in (
                                                    SyncRunStatus.RUNNING,
                                                    SyncRunStatus.DONE,
                                                    SyncRunStatus.FAILED,
                                                )
                                            ],
                                        },
                                        "phase": {"type": "string"},
                                        "done": {"type": "integer"},
                                        "total": {"type": ["integer", "null"]},
                                        "percent": {"type": "number"},
                                        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
                                        "error": {"type": ["string", "null"]},
                                        "retrying": {
                                            "type": ["string", "null"],
                                            "description": "A running run's last failure at the point where it "
                                            "stands, while the sweeper retries it",
                                        },
                                        "started_at": {"type": ["string", "null"], "format": "date-time"},
                                        "finished_at": {"type": ["string", "null"], "format": "date-time"},
                                    },
                                }
                            },
                        },
                    ),
                    **_ERRORS,
                },
            },
        },
        "/api/v1/stores/{store_id}/variants": {
            "parameters": [{"$ref": "#/components/parameters/StoreId"}],
            "get": {
                "operationId": "listVariants",
                "summary": "Stock state per variant, filtered, sorted and paginated",
                "tags": ["stock"],
                "security": [{"adminKey": []}],
                "parameters": [
                    _enum_list_param("status", STATUSES, "Only these stock statuses"),
                    _enum_list_param("signal", SIGNALS, "Only these ad signals"),
                    _enum_list_param("badge", BADGES, "Only these badge kinds"),
                    {
                        "name": "q",
                        "in": "query",
                        "description": "Case-insensitive substring of the SKU, variant title or product title",
                        "schema": {"type": "string", "maxLength": MAX_QUERY_LENGTH},
                    },
                    {
                        "name": "at_risk",
                        "in": "query",
                        "description": "true: low or out of stock, or signal not ok; false: the others",
                        "schema": {"type": "boolean"},
                    },
                    {
                        "name": "has_waitlist",
                        "in": "query",
                        "description": "true: at least one shopper waiting; false: nobody waiting",
                        "schema": {"type": "boolean"},
                    },
                    {
                        "name": "sort",
                        "in": "query",
                        "description": (
                            "priority (highest first), days_on_hand and stockout_on (soonest first, unknown last), "
                            "sku (A-Z), waitlist (longest first)"
                        ),
                        "schema": {"type": "string", "enum": list(SORTS), "default": "priority"},
                    },
                    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
                    {
                        "name": "per_page",
                        "in": "query",
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_PER_PAGE,
                            "default": DEFAULT_PER_PAGE,
                        },
                    },
                ],
                "responses": {
                    "200": json_response(
                        "One page of variants",
                        schema_ref("VariantPage"),
                        headers={
                            "Link": {
                                "description": 'RFC 8288 links to the neighbouring pages (rel="next", rel="prev")',
                                "schema": {"type": "string"},
                            }
                        },
                    ),
                    "400": error_response("A query parameter is invalid; details names each one"),
                    **_ERRORS,
                },
            },
        },
        "/api/v1/stores/{store_id}/variants/{variant_id}": {
            "parameters": [
                {"$ref": "#/components/parameters/StoreId"},
                {"name": "variant_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}},
            ],
            "get": {
                "operationId": "getVariant",
                "summary": "One variant's stock state, 90 days of history and its latest stock events",
                "tags": ["stock"],
                "security": [{"adminKey": []}],
                "responses": {"200": json_response("The variant", schema_ref("VariantDetail")), **_ERRORS},
            },
        },
        "/api/v1/stores/{store_id}/recompute": {
            "parameters": [{"$ref": "#/components/parameters/StoreId"}],
            "post": {
                "operationId": "recomputeStore",
                "summary": "Queue a full stock recompute of the store",
                "description": "enqueued is false when a recompute of this store is already waiting.",
                "tags": ["stock"],
                "security": [{"adminKey": []}],
                "responses": {
                    "202": json_response(
                        "Accepted",
                        {"type": "object", "required": ["enqueued"], "properties": {"enqueued": {"type": "boolean"}}},
                    ),
                    **_ERRORS,
                },
            },
        },
    },
    components={
        "parameters": {
            "StoreId": {
                "name": "store_id",
                "in": "path",
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
            },
        },
        "schemas": {
            "StoreSummary": {
                "type": "object",
                "required": [
                    "id",
                    "name",
                    "platform",
                    "domain",
                    "timezone",
                    "currency",
                    "status",
                    "last_recomputed_at",
                    "counts",
                ],
                "properties": {
                    "id": {"type": "integer"},
                    "name": {"type": "string"},
                    "platform": {"type": "string", "enum": list(registry.PLATFORMS)},
                    "domain": {"type": "string"},
                    "timezone": {"type": "string"},
                    "currency": {"type": "string"},
                    "status": {
                        "type": "string",
                        "enum": [
                            s.value for s in (StoreStatus.ACTIVE, StoreStatus.DISCONNECTED, StoreStatus.UNINSTALLED)
                        ],
                    },
                    "last_recomputed_at": {"type": ["string", "null"], "format": "date-time"},
                    "counts": {
                        "type": "object",
                        "required": ["variants", "by_status", "by_signal", "waitlist_open", "at_risk"],
                        "properties": {
                            "variants": {"type": "integer"},
                            "by_status": {
                                "type": "object",
                                "properties": {s: {"type": "integer"} for s in STATUSES},
                            },
                            "by_signal": {
                                "type": "object",
                                "properties": {s: {"type": "integer"} for s in SIGNALS},
                            },
                            "waitlist_open": {"type": "integer"},
                            "at_risk": {
                                "type": "integer",
                                "description": "Variants low or out of stock, or with a signal other than ok",
                            },
                        },
                    },
                },
            },
            "VariantItem": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "external_id": {"type": "string"},
                    "sku": {"type": "string"},
                    "title": {"type": "string"},
                    "product_id": {"type": "integer"},
                    "product_title": {"type": "string"},
                    "price": {"type": "number"},
                    "tracked": {"type": "boolean"},
                    "policy": {"type": "string", "enum": ["deny", "continue"]},
                    "sellable_quantity": {"type": "integer"},
                    "velocity": {"type": "number", "description": "Units per day, blended over the windows"},
                    "velocity_windows": {"type": "array", "items": {"type": ["number", "null"]}},
                    "days_on_hand": {"type": ["number", "null"]},
                    "stockout_on": _NULLABLE_DATE,
                    "reorder_by": _NULLABLE_DATE,
                    "suggested_reorder_qty": {"type": "integer"},
                    "status": {"type": "string", "enum": list(STATUSES)},
                    "badge": {
                        "type": "object",
                        "properties": {
                            "kind": {"type": "string", "enum": list(BADGES)},
                            "quantity": {"type": ["integer", "null"]},
                            "text": {"type": ["string", "null"], "examples": ["Only 3 left", "Selling fast"]},
                        },
                    },
                    "signal": {
                        "type": "object",
                        "properties": {
                            "value": {"type": "string", "enum": list(SIGNALS)},
                            "reason": {"type": "string"},
                        },
                    },
                    "restock_eta": {
                        "type": "object",
                        "properties": {
                            "date": _NULLABLE_DATE,
                            "source": {
                                "type": ["string", "null"],
                                "enum": [*(s.value for s in EtaSource), None],
                            },
                        },
                    },
                    "priority": {"type": "number"},
                    "waitlist_open": {"type": "integer"},
                    "incoming_quantity": {"type": "integer"},
                    "lead_time_days": {"type": "integer"},
                    "campaign": {
                        "oneOf": [
                            {"type": "null"},
                            {
                                "type": "object",
                                "properties": {"id": {"type": "integer"}, "stockout_on": _NULLABLE_DATE},
                            },
                        ]
                    },
                    "reasons": {"type": "array", "items": {"type": "string"}},
                    "computed_at": {"type": "string", "format": "date-time"},
                },
            },
            "VariantPage": {
                "allOf": [
                    schema_ref("Pagination"),
                    {
                        "type": "object",
                        "required": ["items"],
                        "properties": {"items": {"type": "array", "items": schema_ref("VariantItem")}},
                    },
                ]
            },
            "VariantDetail": {
                "allOf": [
                    schema_ref("VariantItem"),
                    {
                        "type": "object",
                        "required": ["history", "events"],
                        "properties": {
                            "history": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "day": {"type": "string", "format": "date"},
                                        "sellable_quantity": {"type": "integer"},
                                        "velocity": {"type": "number"},
                                        "days_on_hand": {"type": ["number", "null"]},
                                        "status": {"type": "string"},
                                        "signal": {"type": "string"},
                                    },
                                },
                            },
                            "events": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "id": {"type": "integer"},
                                        "kind": {"type": "string", "enum": ["restock", "sellout"]},
                                        "before": {"type": "integer"},
                                        "after": {"type": "integer"},
                                        "occurred_at": {"type": "string", "format": "date-time"},
                                        "source": {"type": "string"},
                                    },
                                },
                            },
                        },
                    },
                ]
            },
        },
    },
)
